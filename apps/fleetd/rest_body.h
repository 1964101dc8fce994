/*
 * fleetd: the JSON bodies the REST API accepts (docs/API.md), decoded apart
 * from the gateway so that each decoder is a pure function of the body:
 *   POST /api/auth/login    {"username": "...", "password": "..."}
 *   POST /api/auth/refresh  {"refresh_token": "..."}
 *   POST /api/zones         a GeoJSON Feature (fleet_zone_parse())
 *   PUT  /api/zones/{id}    the same, whose id must be the URL's
 *   PUT  /api/rules         a rule set (fleet_ruleset_load_json())
 * A refusal says what the gateway answers, through fleet_ws_response_error():
 * an HTTP status, a short error and a detail. tests/fuzz/fuzz_rest_body.c
 * drives these functions directly.
 */
#ifndef FLEETD_REST_BODY_H
#define FLEETD_REST_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include <fleet/fleet.h>

/** Why a body was refused: answered as {"error": error, "detail": detail} with `status`. */
typedef struct fleetd_body_error {
  int status;         /**< 400 for a bad body, 500 when out of memory */
  const char *error;  /**< short and static ("bad request", "invalid zone", ...) */
  const char *detail; /**< static, or fleet_error_last() (valid until the thread's next
                           libfleet call), or NULL for none */
} fleetd_body_error_t;

/** Credentials from a login or refresh body. Free with fleetd_credentials_dispose(). */
typedef struct fleetd_credentials {
  char *username; /**< login: the user name; refresh: "" */
  char *secret;   /**< the password, or the refresh token */
} fleetd_credentials_t;

/**
 * Decode a login body ({"username","password"}, both strings) or, with
 * `refresh`, a refresh body ({"refresh_token"}, a string). Other members are
 * ignored; a string holding "\u0000" ends there.
 *
 * @param out     receives malloc'ed copies (caller owns them) on success;
 *                zeroed on failure.
 * @param err     filled on failure: 400 "bad request" with the expected
 *                shape, or 500 "out of memory".
 * @param body    `len` bytes, borrowed (NULL with 0 for no body).
 * @return 0, or -1 with `err` set.
 */
int fleetd_body_credentials(fleetd_credentials_t *out, fleetd_body_error_t *err,
                            const char *body, size_t len, bool refresh);

/** Free the copies, wiping the secret first. NULL-safe; leaves `c` zeroed. */
void fleetd_credentials_dispose(fleetd_credentials_t *c);

/**
 * Decode a zone body: one GeoJSON Feature (see fleet_zone_parse()). With
 * `url_id` (PUT /api/zones/{id}), the Feature's id must equal it.
 *
 * @param out     receives the zone (caller owns it) on success; NULL on failure.
 * @param err     filled on failure: 400 "invalid zone" with the parser's
 *                message, or with "the Feature's id differs from the URL's".
 * @param url_id  the id from the URL, or NULL (POST); borrowed.
 * @return 0, or -1 with `err` set.
 */
int fleetd_body_zone(fleet_zone_t **out, fleetd_body_error_t *err, const char *body, size_t len,
                     const char *url_id);

/**
 * Decode a rules body (see fleet_ruleset_load_json()).
 *
 * @param out  receives the rule set (caller owns it) on success; NULL on failure.
 * @param err  filled on failure: 400 "invalid rules" with the loader's message.
 * @return 0, or -1 with `err` set.
 */
int fleetd_body_rules(fleet_ruleset_t **out, fleetd_body_error_t *err, const char *body,
                      size_t len);

#endif /* FLEETD_REST_BODY_H */
