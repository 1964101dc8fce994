/*
 * fleetd: decoders of the REST API's JSON bodies (see rest_body.h). No state,
 * no I/O: the gateway answers what they return.
 */
#include "rest_body.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void refuse(fleetd_body_error_t *err, int status, const char *error, const char *detail)
{
  err->status = status;
  err->error = error;
  err->detail = detail;
}

static char *copy(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

int fleetd_body_credentials(fleetd_credentials_t *out, fleetd_body_error_t *err,
                            const char *body, size_t len, bool refresh)
{
  out->username = out->secret = NULL;
  json_t *doc = json_loadb(body, len, 0, NULL);
  const char *u = json_string_value(json_object_get(doc, "username"));
  const char *p = json_string_value(json_object_get(doc, "password"));
  const char *t = json_string_value(json_object_get(doc, "refresh_token"));
  if (refresh ? !t : (!u || !p)) {
    json_decref(doc);
    refuse(err, 400, "bad request",
           refresh ? "expected {\"refresh_token\": \"...\"}"
                   : "expected {\"username\": ..., \"password\": ...}");
    return -1;
  }
  out->username = copy(refresh ? "" : u);
  out->secret = copy(refresh ? t : p);
  json_decref(doc);
  if (!out->username || !out->secret) {
    fleetd_credentials_dispose(out);
    refuse(err, 500, "out of memory", NULL);
    return -1;
  }
  return 0;
}

void fleetd_credentials_dispose(fleetd_credentials_t *c)
{
  if (!c)
    return;
  if (c->secret) {
    /* A password or a refresh token: do not leave it in freed memory. */
    memset(c->secret, 0, strlen(c->secret));
    free(c->secret);
  }
  free(c->username);
  c->username = c->secret = NULL;
}

int fleetd_body_zone(fleet_zone_t **out, fleetd_body_error_t *err, const char *body, size_t len,
                     const char *url_id)
{
  *out = NULL;
  fleet_zone_t *z = NULL;
  if (fleet_zone_parse(&z, body, len)) {
    refuse(err, 400, "invalid zone", fleet_error_last());
    return -1;
  }
  if (url_id && strcmp(fleet_zone_id(z), url_id) != 0) {
    fleet_zone_free(z);
    refuse(err, 400, "invalid zone", "the Feature's id differs from the URL's");
    return -1;
  }
  *out = z;
  return 0;
}

int fleetd_body_rules(fleet_ruleset_t **out, fleetd_body_error_t *err, const char *body,
                      size_t len)
{
  *out = NULL;
  if (fleet_ruleset_load_json(out, body, len)) {
    refuse(err, 400, "invalid rules", fleet_error_last());
    return -1;
  }
  return 0;
}
