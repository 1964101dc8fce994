/* fleetd's request policy. Tokens: the state directory's users and HS256
 * secret (what the login endpoint signs with) plus the configuration's issuer,
 * audience, leeway, access token lifetime and extra verification keys
 * (auth.keys), e.g. the RS256/ES256 public keys of an identity provider or of a
 * service that mints its own tokens. Bodies: JSON only, never a form's. */
#include "fleetd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One "ALG:KID:FILE" entry of auth.keys, split in place. */
typedef struct key_spec {
  fleet_auth_alg_t alg;
  const char *kid; /* "" : none */
  const char *file;
} key_spec_t;

static int parse_entry(key_spec_t *out, char *entry, char *err, size_t errlen)
{
  char *c1 = strchr(entry, ':');
  char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2 || !c2[1]) {
    snprintf(err, errlen, "auth.keys: '%s' is not ALG:KID:FILE (KID may be empty)", entry);
    return -1;
  }
  *c1 = *c2 = '\0';
  if (fleet_auth_alg_parse(&out->alg, entry)) {
    snprintf(err, errlen, "auth.keys: '%s' is not HS256, RS256 or ES256", entry);
    return -1;
  }
  out->kid = c1 + 1;
  out->file = c2 + 1;
  return 0;
}

/* Checks each entry of `spec` (comma-separated) and, with a verifier, adds its key;
 * stops at the first failure. */
static int each_key(const char *spec, fleet_auth_verifier_t *v, char *err, size_t errlen)
{
  char buf[sizeof ((fleetd_config_t *)0)->auth_keys];
  if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) {
    snprintf(err, errlen, "auth.keys: too long");
    return -1;
  }
  char *save = NULL;
  for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    while (*e == ' ')
      e++;
    if (!*e)
      continue;
    key_spec_t k;
    if (parse_entry(&k, e, err, errlen))
      return -1;
    if (v && fleet_auth_verifier_add_key_file(v, k.alg, k.kid, k.file)) {
      snprintf(err, errlen, "auth.keys: %s key '%s' from %s: %s", fleet_auth_alg_name(k.alg),
               k.kid, k.file, fleet_error_last());
      return -1;
    }
  }
  return 0;
}

int fleetd_auth_keys_check(const char *spec, bool load, char *err, size_t errlen)
{
  if (!load)
    return each_key(spec, NULL, err, errlen);
  fleet_auth_verifier_t *v = NULL;
  if (fleet_auth_verifier_new(&v, NULL)) {
    snprintf(err, errlen, "auth.keys: %s", fleet_error_last());
    return -1;
  }
  int rc = each_key(spec, v, err, errlen);
  fleet_auth_verifier_free(v);
  return rc;
}

int fleetd_auth_open(fleet_auth_t **out, const fleetd_config_t *cfg, char *err, size_t errlen)
{
  *out = NULL;
  fleet_auth_options_t o = FLEET_AUTH_OPTIONS_INIT;
  o.leeway_s = cfg->auth_leeway_s;
  o.issuer = cfg->auth_issuer[0] ? cfg->auth_issuer : NULL;
  o.audience = cfg->auth_audience[0] ? cfg->auth_audience : NULL;
  o.access_ttl_s = cfg->auth_access_ttl_s;
  fleet_auth_t *a = NULL;
  if (fleet_auth_open(&a, cfg->state_dir, &o)) {
    snprintf(err, errlen, "users and token keys in %s: %s", cfg->state_dir, fleet_error_last());
    return -1;
  }
  if (each_key(cfg->auth_keys, fleet_auth_verifier(a), err, errlen)) {
    fleet_auth_free(a);
    return -1;
  }
  *out = a;
  return 0;
}

bool fleetd_form_body(const fleet_ws_request_t *req)
{
  static const char *const forms[] = {"application/x-www-form-urlencoded",
                                      "multipart/form-data", "text/plain"};
  const char *ct = fleet_ws_request_header(req, "Content-Type");
  if (!ct)
    return false;
  ct += strspn(ct, " \t");
  size_t n = strcspn(ct, "; \t");
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    if (strlen(forms[i]) == n && strncasecmp(ct, forms[i], n) == 0)
      return true;
  return false;
}
