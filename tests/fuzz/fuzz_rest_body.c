/*
 * libFuzzer target for the JSON bodies fleetd's REST API accepts
 * (apps/fleetd/rest_body.c, the decoders the gateway answers with). The
 * input's first byte picks the route, the rest is the body:
 *   'l' POST /api/auth/login      'r' POST /api/auth/refresh
 *   'z' POST /api/zones           'u' PUT /api/zones/depot
 *   'R' PUT /api/rules            anything else: by its value modulo 5.
 * Checked (a failure aborts, which libFuzzer reports as a crash):
 *   - a refusal is a 4xx with a non-empty error and detail, and leaves
 *     nothing allocated behind (LeakSanitizer);
 *   - accepted credentials are non-NULL strings that re-encode to a body
 *     decoding to the same strings;
 *   - an accepted zone encodes to a Feature that the PUT of its own id
 *     accepts with the same id, name and kind, and that the PUT of another id
 *     refuses with the documented detail; a PUT accepted only its URL's id;
 *   - an accepted rule set encodes to a body accepted again that encodes to
 *     the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common_int.h"
#include "rest_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_rest_body: %s: %s\n", what, detail ? detail : "(null)");
  abort();
}

static void check_refusal(const fleetd_body_error_t *e, const char *what)
{
  if (e->status < 400 || e->status > 499)
    die(what, "a refusal without a 4xx status");
  if (!e->error || !*e->error || !e->detail || !*e->detail)
    die(what, "a refusal without an error and a detail");
}

static void credentials(const char *body, size_t len, bool refresh)
{
  fleetd_credentials_t c;
  fleetd_body_error_t e;
  if (fleetd_body_credentials(&c, &e, body, len, refresh)) {
    check_refusal(&e, refresh ? "refresh" : "login");
    if (e.status != 400 || strcmp(e.error, "bad request") != 0 || c.username || c.secret)
      die("credentials", "not the documented refusal, or copies left behind");
    return;
  }
  if (!c.username || !c.secret || (refresh && *c.username))
    die("credentials", "accepted without both strings");
  json_t *j = refresh ? json_pack("{ss}", "refresh_token", c.secret)
                      : json_pack("{ssss}", "username", c.username, "password", c.secret);
  char *again = j ? json_dumps(j, 0) : NULL;
  if (!again)
    die("credentials", "cannot re-encode the accepted strings");
  fleetd_credentials_t d;
  if (fleetd_body_credentials(&d, &e, again, strlen(again), refresh) != 0)
    die("credentials: the re-encoded body is refused", again);
  if (strcmp(c.username, d.username) != 0 || strcmp(c.secret, d.secret) != 0)
    die("credentials: the strings changed in a round trip", again);
  free(again);
  json_decref(j);
  fleetd_credentials_dispose(&d);
  fleetd_credentials_dispose(&c);
  if (c.username || c.secret)
    die("credentials", "dispose left pointers");
}

static void zone(const char *body, size_t len, const char *url_id)
{
  fleet_zone_t *z = NULL;
  fleetd_body_error_t e;
  if (fleetd_body_zone(&z, &e, body, len, url_id)) {
    check_refusal(&e, "zone");
    if (z || strcmp(e.error, "invalid zone") != 0)
      die("zone", "not the documented refusal, or a zone left behind");
    return;
  }
  if (!z || (url_id && strcmp(fleet_zone_id(z), url_id) != 0))
    die("zone", "accepted without a zone, or with another id than the URL's");
  fleet_buf_t b = FLEET_BUF_INIT;
  if (fleet_zone_encode_geojson(&b, z) != 0)
    die("zone: encode", fleet_error_last());
  fleet_zone_t *z2 = NULL;
  if (fleetd_body_zone(&z2, &e, b.ptr, b.len, fleet_zone_id(z)) != 0)
    die("zone: the encoded Feature is refused by the PUT of its id", e.detail);
  if (strcmp(fleet_zone_id(z), fleet_zone_id(z2)) != 0 ||
      strcmp(fleet_zone_name(z), fleet_zone_name(z2)) != 0 ||
      fleet_zone_kind(z) != fleet_zone_kind(z2))
    die("zone", "id, name or kind changed in a round trip");
  fleet_zone_free(z2);
  char other[FLEET_ZONE_ID_MAX + 2];
  snprintf(other, sizeof other, "%s~", fleet_zone_id(z));
  z2 = NULL;
  if (fleetd_body_zone(&z2, &e, b.ptr, b.len, other) == 0 || z2 ||
      strcmp(e.detail, "the Feature's id differs from the URL's") != 0)
    die("zone", "the PUT of another id accepted the Feature");
  fleet_buf_dispose(&b);
  fleet_zone_free(z);
}

static void rules(const char *body, size_t len)
{
  fleet_ruleset_t *rs = NULL;
  fleetd_body_error_t e;
  if (fleetd_body_rules(&rs, &e, body, len)) {
    check_refusal(&e, "rules");
    if (rs || strcmp(e.error, "invalid rules") != 0)
      die("rules", "not the documented refusal, or a set left behind");
    return;
  }
  if (!rs)
    die("rules", "accepted without a set");
  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  if (fleet_ruleset_encode_json(&a, rs) != 0)
    die("rules: encode", fleet_error_last());
  fleet_ruleset_t *back = NULL;
  if (fleetd_body_rules(&back, &e, a.ptr, a.len) != 0)
    die("rules: the encoded set is refused", e.detail);
  if (fleet_ruleset_encode_json(&b, back) != 0)
    die("rules: re-encode", fleet_error_last());
  if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
    die("rules: the encoding changed in a round trip", a.ptr);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);
  fleet_ruleset_free(back);
  fleet_ruleset_free(rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0 || size > 65536)
    return 0;
  const char *body = (const char *)data + 1;
  size_t len = size - 1;
  switch (data[0]) {
  case 'l': credentials(body, len, false); break;
  case 'r': credentials(body, len, true); break;
  case 'z': zone(body, len, NULL); break;
  case 'u': zone(body, len, "depot"); break;
  case 'R': rules(body, len); break;
  default:
    switch (data[0] % 5) {
    case 0: credentials(body, len, false); break;
    case 1: credentials(body, len, true); break;
    case 2: zone(body, len, NULL); break;
    case 3: zone(body, len, "depot"); break;
    default: rules(body, len); break;
    }
  }
  return 0;
}
