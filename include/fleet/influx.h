/*
 * influx: the InfluxDB connection configuration and the asynchronous batched
 * writer.
 *
 * Connection configuration (fleet_influx_config_t) is shared by the writer
 * here and by the history reader (history.h). Timestamps always travel in
 * nanoseconds: the precision is not configurable.
 *
 * Which API to pick:
 *
 *   Server                      api                   database field  auth
 *   InfluxDB 1.x (1.6 - 1.11)   FLEET_INFLUX_API_V1   database        username + password (Basic),
 *                                                                     or token (see below)
 *   InfluxDB 2.x / Cloud 2      FLEET_INFLUX_API_V2   bucket (in      token (`Authorization: Token T`)
 *                                                     `database`),
 *                                                     org required
 *   InfluxDB 3 Core/Enterprise  FLEET_INFLUX_API_V3   database        token (`Authorization: Bearer T`)
 *
 * Endpoints and headers used for each API (auth FLEET_INFLUX_AUTH_AUTO):
 *   v1  POST /write?db=D[&rp=R]&precision=ns
 *       Basic auth when a username is set (the password never goes into the URL,
 *       so it cannot end up in a proxy log); otherwise `Authorization: Token T`
 *       when a token is set (InfluxDB 1.8+ reads T as "user:password"; the
 *       v1-compatibility endpoint of InfluxDB 2 reads an API token).
 *   v2  POST /api/v2/write?org=O&bucket=B&precision=ns, `Authorization: Token T`.
 *   v3  POST /api/v3/write_lp?db=D&precision=nanosecond&accept_partial=true,
 *       `Authorization: Bearer T`.
 *   Queries (history.h) use GET/POST /query (InfluxQL), served by v1 and v3;
 *   on v2 /query needs a DBRP mapping for the bucket.
 * FLEET_INFLUX_AUTH_TOKEN / _BEARER / _BASIC force a header form, e.g. Bearer
 * for an InfluxDB 1.x JWT (shared-secret) setup.
 *
 * Thread safety: configuration functions are reentrant on distinct structs.
 * The writer's thread rules are documented with fleet_influx_writer_t.
 */
#ifndef FLEET_INFLUX_H
#define FLEET_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which InfluxDB HTTP API to speak. Values are part of the ABI. */
typedef enum fleet_influx_api {
  FLEET_INFLUX_API_V1 = 1, /**< InfluxDB 1.x: /write, /query */
  FLEET_INFLUX_API_V2 = 2, /**< InfluxDB 2.x: /api/v2/write (org + bucket) */
  FLEET_INFLUX_API_V3 = 3  /**< InfluxDB 3: /api/v3/write_lp, /query */
} fleet_influx_api_t;

/** Which Authorization header to send. Values are part of the ABI. */
typedef enum fleet_influx_auth {
  FLEET_INFLUX_AUTH_AUTO = 0,   /**< per API, as described at the top of this header */
  FLEET_INFLUX_AUTH_NONE = 1,   /**< never send credentials */
  FLEET_INFLUX_AUTH_TOKEN = 2,  /**< `Authorization: Token <token>` */
  FLEET_INFLUX_AUTH_BEARER = 3, /**< `Authorization: Bearer <token>` */
  FLEET_INFLUX_AUTH_BASIC = 4   /**< `Authorization: Basic` of username:password; with
                                     no username, of ":" + token (InfluxDB 3 style) */
} fleet_influx_auth_t;

/** Sizes of the string fields of fleet_influx_config_t, terminator included. */
#define FLEET_INFLUX_URL_MAX 1024
#define FLEET_INFLUX_NAME_MAX 256
#define FLEET_INFLUX_SECRET_MAX 1024
#define FLEET_INFLUX_PATH_MAX 1024

/** Version of fleet_influx_config_t this header describes. */
#define FLEET_INFLUX_CONFIG_VERSION 1

/**
 * How to reach one InfluxDB database/bucket. Plain data: fixed-size,
 * NUL-terminated strings, no pointers, safe to copy by value; an empty string
 * means "not set". Initialise with FLEET_INFLUX_CONFIG_INIT or
 * fleet_influx_config_init(), then set fields (snprintf into them) or call
 * fleet_influx_config_from_env().
 */
typedef struct fleet_influx_config {
  unsigned int version;           /**< FLEET_INFLUX_CONFIG_VERSION */
  char url[FLEET_INFLUX_URL_MAX]; /**< base URL, http:// or https://, optionally with a
                                       path prefix; default http://127.0.0.1:8086 */
  fleet_influx_api_t api;         /**< default FLEET_INFLUX_API_V1 */
  char database[FLEET_INFLUX_NAME_MAX];         /**< v1/v3 database, v2 bucket (required) */
  char retention_policy[FLEET_INFLUX_NAME_MAX]; /**< v1 only, optional */
  char org[FLEET_INFLUX_NAME_MAX];              /**< v2 organisation name (required for v2) */
  char token[FLEET_INFLUX_SECRET_MAX];          /**< API token, optional */
  char username[FLEET_INFLUX_NAME_MAX];         /**< v1 user, optional */
  char password[FLEET_INFLUX_SECRET_MAX];       /**< v1 password, optional */
  fleet_influx_auth_t auth;                     /**< default FLEET_INFLUX_AUTH_AUTO */
  char ca_file[FLEET_INFLUX_PATH_MAX]; /**< PEM CA bundle for https, "" for the system's */
  int insecure;               /**< non-zero: skip TLS certificate and host checks */
  unsigned int timeout_ms;    /**< whole-request timeout, default 10000 */
  unsigned int connect_timeout_ms; /**< TCP+TLS connect timeout, default 3000 */
} fleet_influx_config_t;

/** Static initialiser with the defaults (url, api V1, auth AUTO, timeouts). */
#define FLEET_INFLUX_CONFIG_INIT                                                     \
  {FLEET_INFLUX_CONFIG_VERSION, "http://127.0.0.1:8086", FLEET_INFLUX_API_V1, "", "", \
   "", "", "", "", FLEET_INFLUX_AUTH_AUTO, "", 0, 10000, 3000}

/**
 * Initialise a configuration to the defaults of FLEET_INFLUX_CONFIG_INIT.
 * Returns 0, or FLEET_EINVAL for NULL / FLEET_EVERSION for an unknown version.
 */
FLEET_API int fleet_influx_config_init(fleet_influx_config_t *cfg, unsigned int version);

/**
 * Override fields of an initialised configuration from environment variables.
 * Only variables that are set (and non-empty) change anything. With `prefix`
 * NULL the names are:
 *   FLEET_INFLUX_URL            base URL
 *   FLEET_INFLUX_API            v1 | v2 | v3 (or 1 | 2 | 3)
 *   FLEET_INFLUX_DB             database (v1/v3) or bucket (v2);
 *   FLEET_INFLUX_BUCKET         alias of FLEET_INFLUX_DB (setting both is an error)
 *   FLEET_INFLUX_RP             v1 retention policy
 *   FLEET_INFLUX_ORG            v2 organisation
 *   FLEET_INFLUX_TOKEN          token
 *   FLEET_INFLUX_TOKEN_FILE     file holding the token (trailing whitespace
 *                               stripped); setting both is an error
 *   FLEET_INFLUX_USERNAME, FLEET_INFLUX_PASSWORD, FLEET_INFLUX_PASSWORD_FILE
 *   FLEET_INFLUX_AUTH           auto | none | token | bearer | basic
 *   FLEET_INFLUX_CA_FILE        CA bundle path
 *   FLEET_INFLUX_INSECURE       1/true/yes or 0/false/no
 *   FLEET_INFLUX_TIMEOUT_MS, FLEET_INFLUX_CONNECT_TIMEOUT_MS
 * A non-NULL `prefix` (e.g. "FLEETD_INFLUX_") replaces "FLEET_INFLUX_".
 *
 * Returns 0; FLEET_EINVAL (a value is malformed or too long for its field;
 * the message names the variable, never a secret's value), FLEET_EIO (a
 * *_FILE cannot be read). On failure `cfg` may be partly updated.
 * Thread safety: reads the environment; do not call setenv() concurrently.
 */
FLEET_API int fleet_influx_config_from_env(fleet_influx_config_t *cfg, const char *prefix);

/**
 * Check a configuration: URL scheme http/https and host present, api known,
 * database set, org set for v2, auth form usable with the credentials given
 * (e.g. BEARER needs a token), timeouts non-zero.
 * Returns 0 or FLEET_EINVAL / FLEET_EMISSING / FLEET_EVERSION with a message
 * naming the field.
 */
FLEET_API int fleet_influx_config_validate(const fleet_influx_config_t *cfg);

/** Name of an API value ("v1", "v2", "v3"), or NULL when unknown. */
FLEET_API const char *fleet_influx_api_name(fleet_influx_api_t api);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_INFLUX_H */
