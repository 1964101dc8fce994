/*
 * auth: JSON Web Tokens on top of libjwt 1.10.2 (claims, verifier, signer) and
 * the state-directory bundle. Passwords and the users file are in auth_users.c.
 *
 * libjwt 1.10.2 takes the algorithm from the token header, skips the signature
 * when given no key, checks no claim, and base64-decodes each segment into an
 * alloca() buffer as long as the token. So libfleet does everything but the
 * signature arithmetic itself: it caps the length, checks the shape and the
 * base64url alphabet, decodes and judges the header (alg, typ, kid, crit),
 * picks the key whose pinned algorithm equals the header's, calls jwt_decode()
 * only with that key, re-checks jwt_get_alg(), and then parses the payload it
 * decoded itself (jansson, duplicate names refused) to check every claim.
 */
#include "common_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>

#include "auth_int.h"
#include "fleet/telemetry.h"

/* NumericDate values accepted in tokens: 1970-01-01 to 9999-12-31T23:59:59Z. */
#define TIME_LIMIT INT64_C(253402300799)
/* Longest string claim (iss, aud, jti) accepted from a token or option. */
#define STRING_CLAIM_MAX 256u
#define JTI_BYTES 16u

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

const char *fleet_auth__quote(char out[FLEET_AUTH_QUOTE_MAX], const char *s, size_t len)
{
  if (!s) {
    snprintf(out, FLEET_AUTH_QUOTE_MAX, "(null)");
    return out;
  }
  size_t o = 0, i;
  out[o++] = '\'';
  for (i = 0; i < len && i < 64; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out[o++] = (char)c;
    } else {
      snprintf(out + o, 5, "\\x%02x", c);
      o += 4;
    }
  }
  out[o++] = '\'';
  if (i < len) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return out;
}

const char *fleet_auth__time(char out[FLEET_AUTH_TIME_MAX], int64_t s)
{
  if (s > -INT64_C(9200000000) && s < INT64_C(9200000000)) {
    char t[FLEET_TIME_STRLEN];
    fleet_time_format(t, s * INT64_C(1000000000));
    snprintf(out, FLEET_AUTH_TIME_MAX, "%s", t);
  } else {
    snprintf(out, FLEET_AUTH_TIME_MAX, "%" PRId64 " s", s);
  }
  return out;
}

int fleet_auth__random(void *buf, size_t len)
{
  unsigned char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t r = getrandom(p + got, len - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return fleet_error__set(FLEET_EIO, "getrandom: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  return 0;
}

void fleet_auth__wipe(void *p, size_t len)
{
  if (p && len)
    explicit_bzero(p, len);
}

int fleet_auth__read_fd(fleet_buf_t *out, int fd, size_t max, const char *what,
                        const char *path)
{
  fleet_buf_clear(out);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return fleet_error__set(FLEET_EIO, "%s: %s is not a regular file", what, path);
  if ((uint64_t)st.st_size > max)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %s is %jd bytes, over the %zu-byte limit",
                            what, path, (intmax_t)st.st_size, max);
  int rc = fleet_buf_reserve(out, (size_t)st.st_size + 1);
  while (rc == 0) {
    if (out->len > max) {
      rc = fleet_error__set(FLEET_ETOOBIG, "%s: %s grew over the %zu-byte limit", what, path,
                            max);
      break;
    }
    if ((rc = fleet_buf_reserve(out, 4096)) != 0)
      break;
    ssize_t r = read(fd, out->ptr + out->len, out->cap - out->len - 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = fleet_error__set(FLEET_EIO, "%s: cannot read %s: %s", what, path, strerror(errno));
      break;
    }
    if (r == 0)
      break;
    out->len += (size_t)r;
    out->ptr[out->len] = '\0';
  }
  return rc;
}

int fleet_auth__read_file(fleet_buf_t *out, const char *path, size_t max, const char *what)
{
  fleet_buf_clear(out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fleet_error__set(FLEET_EIO, "%s: cannot open %s: %s", what, path, strerror(errno));
  int rc = fleet_auth__read_fd(out, fd, max, what, path);
  close(fd);
  return rc;
}

/* Printable ASCII without quote and backslash: kids, subjects, issuers. */
static int printable(const char *s, size_t len, int allow_space)
{
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || (c == ' ' && !allow_space))
      return 0;
  }
  return 1;
}

static int kid_valid(const char *kid)
{
  size_t n = strlen(kid);
  return n >= 1 && n <= FLEET_AUTH_KID_MAX && printable(kid, n, 0);
}

static int subject_valid(const char *s, size_t n)
{
  return n >= 1 && n <= FLEET_AUTH_SUBJECT_MAX && printable(s, n, 1);
}

/* ------------------------------------------------------------------------ */
/* Names                                                                    */
/* ------------------------------------------------------------------------ */

const char *fleet_auth_alg_name(fleet_auth_alg_t alg)
{
  switch (alg) {
  case FLEET_AUTH_ALG_HS256:
    return "HS256";
  case FLEET_AUTH_ALG_RS256:
    return "RS256";
  case FLEET_AUTH_ALG_ES256:
    return "ES256";
  }
  return NULL;
}

int fleet_auth_alg_parse(fleet_auth_alg_t *out, const char *name)
{
  static const fleet_auth_alg_t all[] = {FLEET_AUTH_ALG_HS256, FLEET_AUTH_ALG_RS256,
                                         FLEET_AUTH_ALG_ES256};
  if (!out || !name)
    return fleet_error__set(FLEET_EINVAL, "alg: NULL argument");
  for (size_t i = 0; i < FLEET_ARRAY_LEN(all); i++)
    if (!strcmp(name, fleet_auth_alg_name(all[i]))) {
      *out = all[i];
      return 0;
    }
  char q[FLEET_AUTH_QUOTE_MAX];
  return fleet_error__set(FLEET_EINVAL, "alg: %s is not HS256, RS256 or ES256",
                          fleet_auth__quote(q, name, strlen(name)));
}

const char *fleet_auth_role_name(fleet_auth_role_t role)
{
  switch (role) {
  case FLEET_AUTH_ROLE_VIEWER:
    return "viewer";
  case FLEET_AUTH_ROLE_ADMIN:
    return "admin";
  }
  return NULL;
}

int fleet_auth_role_parse(fleet_auth_role_t *out, const char *name)
{
  if (!out || !name)
    return fleet_error__set(FLEET_EINVAL, "role: NULL argument");
  if (!strcmp(name, "viewer")) {
    *out = FLEET_AUTH_ROLE_VIEWER;
    return 0;
  }
  if (!strcmp(name, "admin")) {
    *out = FLEET_AUTH_ROLE_ADMIN;
    return 0;
  }
  char q[FLEET_AUTH_QUOTE_MAX];
  return fleet_error__set(FLEET_EINVAL, "role: %s is not viewer or admin",
                          fleet_auth__quote(q, name, strlen(name)));
}

const char *fleet_auth_token_type_name(fleet_auth_token_type_t type)
{
  switch (type) {
  case FLEET_AUTH_TOKEN_ACCESS:
    return "access";
  case FLEET_AUTH_TOKEN_REFRESH:
    return "refresh";
  }
  return NULL;
}

int fleet_auth_username_valid(const char *name)
{
  if (!name)
    return 0;
  size_t n = strlen(name);
  if (n < 1 || n > FLEET_AUTH_USERNAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '@' || c == '-'))
      return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Vehicle lists                                                            */
/* ------------------------------------------------------------------------ */

static void free_strings(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int cmp_strp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Validate `n` ids (pointer + length each) and return them copied, sorted and
 * without duplicates.
 */
static int vehicles_build(char ***out, size_t *out_n, const char *const *ids, const size_t *lens,
                          size_t n, const char *what)
{
  *out = NULL;
  *out_n = 0;
  if (n > FLEET_AUTH_VEHICLES_MAX)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %zu vehicle ids, more than the %u allowed",
                            what, n, FLEET_AUTH_VEHICLES_MAX);
  if (n == 0)
    return 0;
  char **v = calloc(n, sizeof *v);
  if (!v)
    return fleet_error__oom();
  for (size_t i = 0; i < n; i++) {
    if (fleet_vehicle_id_validate(ids[i], lens[i]) != 0) {
      char detail[FLEET_ERROR_MAX], q[FLEET_AUTH_QUOTE_MAX];
      snprintf(detail, sizeof detail, "%s", fleet_error_last());
      free_strings(v, i);
      return fleet_error__set(FLEET_EINVAL, "%s: %s is not a vehicle id (%s)", what,
                              fleet_auth__quote(q, ids[i], lens[i]), detail);
    }
    v[i] = strndup(ids[i], lens[i]);
    if (!v[i]) {
      free_strings(v, i);
      return fleet_error__oom();
    }
  }
  qsort(v, n, sizeof *v, cmp_strp);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k && !strcmp(v[k - 1], v[i]))
      free(v[i]);
    else
      v[k++] = v[i];
  }
  *out = v;
  *out_n = k;
  return 0;
}

/* Parse "*", "" or "a,b,c". */
static int vehicles_parse_csv(char ***out, size_t *out_n, int *out_all, const char *csv,
                              const char *what)
{
  *out = NULL;
  *out_n = 0;
  *out_all = 0;
  if (!strcmp(csv, "*")) {
    *out_all = 1;
    return 0;
  }
  if (!*csv)
    return 0;
  size_t n = 1;
  for (const char *p = csv; *p; p++)
    n += *p == ',';
  if (n > FLEET_AUTH_VEHICLES_MAX)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %zu vehicle ids, more than the %u allowed",
                            what, n, FLEET_AUTH_VEHICLES_MAX);
  const char **ids = calloc(n, sizeof *ids);
  size_t *lens = calloc(n, sizeof *lens);
  if (!ids || !lens) {
    free(ids);
    free(lens);
    return fleet_error__oom();
  }
  const char *p = csv;
  for (size_t i = 0; i < n; i++) {
    const char *c = strchr(p, ',');
    ids[i] = p;
    lens[i] = c ? (size_t)(c - p) : strlen(p);
    p = c ? c + 1 : p + lens[i];
  }
  int rc = vehicles_build(out, out_n, ids, lens, n, what);
  free(ids);
  free(lens);
  return rc;
}

static int vehicles_join(char **out, int all, char *const *v, size_t n)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = 0;
  if (all)
    rc = fleet_buf__puts(&b, "*");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (i)
      rc = fleet_buf__putc(&b, ',');
    if (rc == 0)
      rc = fleet_buf__puts(&b, v[i]);
  }
  if (rc == 0)
    rc = fleet_buf__detach(out, NULL, &b);
  fleet_buf_dispose(&b);
  return rc;
}

int fleet_auth__vehicles_canonical(char **out, const char *vehicles, const char *what)
{
  char **v;
  size_t n;
  int all;
  int rc = vehicles_parse_csv(&v, &n, &all, vehicles, what);
  if (rc)
    return rc;
  rc = vehicles_join(out, all, v, n);
  free_strings(v, n);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Claims                                                                   */
/* ------------------------------------------------------------------------ */

struct fleet_auth_claims {
  char *subject;
  fleet_auth_role_t role;
  fleet_auth_token_type_t type;
  int64_t exp;
  int64_t iat;
  char *jti;
  char *issuer;
  char *kid;
  int all_vehicles;
  char **vehicles; /* sorted, unique */
  size_t nvehicles;
};

static int claims_alloc(fleet_auth_claims_t **out, const char *subject, size_t len,
                        fleet_auth_role_t role)
{
  fleet_auth_claims_t *c = calloc(1, sizeof *c);
  if (!c)
    return fleet_error__oom();
  c->subject = strndup(subject, len);
  c->jti = strdup("");
  c->issuer = strdup("");
  c->kid = strdup("");
  if (!c->subject || !c->jti || !c->issuer || !c->kid) {
    fleet_auth_claims_free(c);
    return fleet_error__oom();
  }
  c->role = role;
  c->type = FLEET_AUTH_TOKEN_ACCESS;
  *out = c;
  return 0;
}

static int replace_string(char **slot, const char *s, size_t len)
{
  char *copy = strndup(s, len);
  if (!copy)
    return fleet_error__oom();
  free(*slot);
  *slot = copy;
  return 0;
}

int fleet_auth_claims_new(fleet_auth_claims_t **out, const char *subject, fleet_auth_role_t role)
{
  if (!out || !subject)
    return fleet_error__set(FLEET_EINVAL, "claims: NULL argument");
  *out = NULL;
  char q[FLEET_AUTH_QUOTE_MAX];
  size_t n = strlen(subject);
  if (!subject_valid(subject, n))
    return fleet_error__set(FLEET_EINVAL,
                            "subject: %s is not 1-%u printable ASCII characters without "
                            "'\"' or '\\'",
                            fleet_auth__quote(q, subject, n), FLEET_AUTH_SUBJECT_MAX);
  if (!fleet_auth_role_name(role))
    return fleet_error__set(FLEET_EINVAL, "role: %d is not a role", (int)role);
  return claims_alloc(out, subject, n, role);
}

void fleet_auth_claims_free(fleet_auth_claims_t *c)
{
  if (!c)
    return;
  free(c->subject);
  free(c->jti);
  free(c->issuer);
  free(c->kid);
  free_strings(c->vehicles, c->nvehicles);
  free(c);
}

int fleet_auth_claims_set_vehicles(fleet_auth_claims_t *c, const char *vehicles)
{
  if (!c || !vehicles)
    return fleet_error__set(FLEET_EINVAL, "vehicles: NULL argument");
  char **v;
  size_t n;
  int all;
  int rc = vehicles_parse_csv(&v, &n, &all, vehicles, "vehicles");
  if (rc)
    return rc;
  free_strings(c->vehicles, c->nvehicles);
  c->vehicles = v;
  c->nvehicles = n;
  c->all_vehicles = all;
  return 0;
}

const char *fleet_auth_claims_subject(const fleet_auth_claims_t *c)
{
  return c ? c->subject : "";
}

fleet_auth_role_t fleet_auth_claims_role(const fleet_auth_claims_t *c)
{
  return c ? c->role : FLEET_AUTH_ROLE_VIEWER;
}

fleet_auth_token_type_t fleet_auth_claims_type(const fleet_auth_claims_t *c)
{
  return c ? c->type : FLEET_AUTH_TOKEN_ACCESS;
}

int64_t fleet_auth_claims_expires(const fleet_auth_claims_t *c)
{
  return c ? c->exp : 0;
}

int64_t fleet_auth_claims_issued_at(const fleet_auth_claims_t *c)
{
  return c ? c->iat : 0;
}

const char *fleet_auth_claims_token_id(const fleet_auth_claims_t *c)
{
  return c ? c->jti : "";
}

const char *fleet_auth_claims_issuer(const fleet_auth_claims_t *c)
{
  return c ? c->issuer : "";
}

const char *fleet_auth_claims_key_id(const fleet_auth_claims_t *c)
{
  return c ? c->kid : "";
}

int fleet_auth_claims_all_vehicles(const fleet_auth_claims_t *c)
{
  return c ? c->all_vehicles : 0;
}

size_t fleet_auth_claims_vehicle_count(const fleet_auth_claims_t *c)
{
  return c ? c->nvehicles : 0;
}

const char *fleet_auth_claims_vehicle_at(const fleet_auth_claims_t *c, size_t index)
{
  return c && index < c->nvehicles ? c->vehicles[index] : NULL;
}

int fleet_auth_claims_allows(const fleet_auth_claims_t *c, const char *vehicle_id)
{
  if (!c || !vehicle_id)
    return 0;
  if (c->all_vehicles)
    return 1;
  return c->nvehicles &&
         bsearch(&vehicle_id, c->vehicles, c->nvehicles, sizeof *c->vehicles, cmp_strp) != NULL;
}

static json_t *vehicles_json(const fleet_auth_claims_t *c)
{
  if (c->all_vehicles)
    return json_string("*");
  json_t *a = json_array();
  for (size_t i = 0; a && i < c->nvehicles; i++)
    if (json_array_append_new(a, json_string(c->vehicles[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

int fleet_auth_claims_to_json(fleet_buf_t *buf, const fleet_auth_claims_t *c)
{
  if (!buf || !c)
    return fleet_error__set(FLEET_EINVAL, "claims: NULL argument");
  json_t *o = json_object();
  int bad = !o;
  if (!bad) {
    bad |= json_object_set_new(o, "sub", json_string(c->subject));
    bad |= json_object_set_new(o, "role", json_string(fleet_auth_role_name(c->role)));
    bad |= json_object_set_new(o, "vehicles", vehicles_json(c));
    bad |= json_object_set_new(o, "tt", json_string(fleet_auth_token_type_name(c->type)));
    if (*c->jti)
      bad |= json_object_set_new(o, "jti", json_string(c->jti));
    if (c->iat)
      bad |= json_object_set_new(o, "iat", json_integer(c->iat));
    if (c->exp)
      bad |= json_object_set_new(o, "exp", json_integer(c->exp));
    if (*c->issuer)
      bad |= json_object_set_new(o, "iss", json_string(c->issuer));
    if (*c->kid)
      bad |= json_object_set_new(o, "kid", json_string(c->kid));
  }
  char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!s)
    return fleet_error__oom();
  int rc = fleet_buf__puts(buf, s);
  free(s);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Base64                                                                   */
/* ------------------------------------------------------------------------ */

static int b64url_value(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/*
 * Strict base64url (RFC 7515 section 2): no padding, no other characters, and
 * the unused low bits of the last character must be zero, so each byte string
 * has exactly one encoding. `out` holds at least len * 3 / 4 bytes.
 */
static int b64url_decode(unsigned char *out, size_t *out_len, const char *in, size_t len)
{
  if (len % 4 == 1)
    return -1;
  uint32_t acc = 0;
  unsigned int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value((unsigned char)in[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1u;
    }
  }
  if (acc != 0)
    return -1;
  *out_len = o;
  return 0;
}

static void b64url_encode(char *out, const unsigned char *in, size_t len)
{
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint32_t acc = 0;
  unsigned int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out[o++] = abc[(acc >> bits) & 63u];
    }
  }
  if (bits)
    out[o++] = abc[(acc << (6 - bits)) & 63u];
  out[o] = '\0';
}

/* Standard base64 of a PEM body: whitespace skipped, '=' only at the end. */
static int b64_pem_decode(unsigned char *out, size_t *out_len, const char *in, size_t len)
{
  uint32_t acc = 0;
  unsigned int bits = 0;
  size_t o = 0, pad = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    int v;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    if (pad)
      return -1;
    if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if ((v = b64url_value(c)) < 0 || c == '-' || c == '_')
      return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1u;
    }
  }
  if (pad > 2)
    return -1;
  *out_len = o;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* PEM public keys: what is inside, checked without a crypto library        */
/* ------------------------------------------------------------------------ */

typedef struct der {
  const unsigned char *p;
  size_t n;
} der_t;

static int der_get(der_t *in, unsigned char tag, der_t *val)
{
  if (in->n < 2 || in->p[0] != tag)
    return -1;
  size_t len = in->p[1], hdr = 2;
  if (len & 0x80u) {
    size_t k = len & 0x7fu;
    if (k == 0 || k > 3 || in->n < 2 + k)
      return -1;
    len = 0;
    for (size_t j = 0; j < k; j++)
      len = (len << 8) | in->p[2 + j];
    hdr += k;
  }
  if (in->n - hdr < len)
    return -1;
  val->p = in->p + hdr;
  val->n = len;
  in->p += hdr + len;
  in->n -= hdr + len;
  return 0;
}

static int der_is(const der_t *d, const unsigned char *want, size_t n)
{
  return d->n == n && !memcmp(d->p, want, n);
}

static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char OID_EC[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* SubjectPublicKeyInfo of the right type and strength for `alg`. */
static int spki_check(fleet_auth_alg_t alg, const unsigned char *p, size_t n, const char *who)
{
  der_t all = {p, n}, spki, algid, oid, bits;
  if (der_get(&all, 0x30, &spki) || all.n || der_get(&spki, 0x30, &algid) ||
      der_get(&algid, 0x06, &oid) || der_get(&spki, 0x03, &bits) || spki.n || bits.n < 2 ||
      bits.p[0] != 0)
    return fleet_error__set(FLEET_EINVAL, "%s: the PEM block is not a SubjectPublicKeyInfo",
                            who);
  der_t key = {bits.p + 1, bits.n - 1};
  if (der_is(&oid, OID_RSA, sizeof OID_RSA)) {
    if (alg != FLEET_AUTH_ALG_RS256)
      return fleet_error__set(FLEET_EINVAL, "%s: the PEM holds an RSA key, not a key for %s",
                              who, fleet_auth_alg_name(alg));
    der_t seq, mod;
    if (der_get(&key, 0x30, &seq) || der_get(&seq, 0x02, &mod) || mod.n == 0)
      return fleet_error__set(FLEET_EINVAL, "%s: malformed RSA public key", who);
    while (mod.n && mod.p[0] == 0) {
      mod.p++;
      mod.n--;
    }
    size_t nbits = mod.n * 8;
    for (unsigned int top = mod.n ? mod.p[0] : 0u; nbits && !(top & 0x80u); top = (top << 1) & 0xffu)
      nbits--;
    if (nbits < 2048)
      return fleet_error__set(FLEET_EINVAL,
                              "%s: RSA key of %zu bits; at least 2048 bits are required", who,
                              nbits);
    return 0;
  }
  if (der_is(&oid, OID_EC, sizeof OID_EC)) {
    if (alg != FLEET_AUTH_ALG_ES256)
      return fleet_error__set(FLEET_EINVAL, "%s: the PEM holds an EC key, not a key for %s",
                              who, fleet_auth_alg_name(alg));
    der_t curve;
    if (der_get(&algid, 0x06, &curve) || !der_is(&curve, OID_P256, sizeof OID_P256))
      return fleet_error__set(FLEET_EINVAL, "%s: EC key on another curve than P-256", who);
    if (!((key.n == 65 && key.p[0] == 4) || (key.n == 33 && (key.p[0] == 2 || key.p[0] == 3))))
      return fleet_error__set(FLEET_EINVAL, "%s: malformed P-256 point", who);
    return 0;
  }
  return fleet_error__set(FLEET_EINVAL, "%s: the PEM holds neither an RSA nor an EC key", who);
}

static int pem_public_check(fleet_auth_alg_t alg, const char *pem, size_t len, const char *who)
{
  static const char begin[] = "-----BEGIN PUBLIC KEY-----";
  static const char end[] = "-----END PUBLIC KEY-----";
  if (memmem(pem, len, "PRIVATE KEY-----", 16))
    return fleet_error__set(FLEET_EINVAL,
                            "%s: this is a private key; give the public key "
                            "(openssl pkey -in KEY -pubout)",
                            who);
  const char *b = memmem(pem, len, begin, sizeof begin - 1);
  if (!b) {
    if (memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27))
      return fleet_error__set(FLEET_EINVAL,
                              "%s: this is a certificate; extract its key "
                              "(openssl x509 -in CERT -pubkey -noout)",
                              who);
    if (memmem(pem, len, "-----BEGIN RSA PUBLIC KEY-----", 30))
      return fleet_error__set(FLEET_EINVAL,
                              "%s: PKCS#1 RSA key; convert it "
                              "(openssl rsa -RSAPublicKey_in -in KEY -pubout)",
                              who);
    return fleet_error__set(FLEET_EINVAL, "%s: no '%s' block in the PEM text", who, begin);
  }
  b += sizeof begin - 1;
  const char *e = memmem(b, len - (size_t)(b - pem), end, sizeof end - 1);
  if (!e)
    return fleet_error__set(FLEET_EINVAL, "%s: PEM block without '%s'", who, end);
  size_t blen = (size_t)(e - b);
  unsigned char *der = malloc(blen / 4 * 3 + 3);
  if (!der)
    return fleet_error__oom();
  size_t dn;
  int rc;
  if (b64_pem_decode(der, &dn, b, blen) != 0)
    rc = fleet_error__set(FLEET_EINVAL, "%s: bad base64 in the PEM block", who);
  else
    rc = spki_check(alg, der, dn, who);
  free(der);
  return rc;
}

static jwt_alg_t jwt_alg_of(fleet_auth_alg_t alg)
{
  switch (alg) {
  case FLEET_AUTH_ALG_HS256:
    return JWT_ALG_HS256;
  case FLEET_AUTH_ALG_RS256:
    return JWT_ALG_RS256;
  case FLEET_AUTH_ALG_ES256:
    return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

/* ------------------------------------------------------------------------ */
/* Verifier                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct auth_key {
  fleet_auth_alg_t alg;
  char *kid; /* NULL: none */
  unsigned char *key;
  size_t len;
} auth_key_t;

struct fleet_auth_verifier {
  unsigned int leeway_s;
  char *issuer;
  char *audience;
  auth_key_t *keys;
  size_t nkeys;
};

int fleet_auth_verifier_options_init(fleet_auth_verifier_options_t *opts, unsigned int version)
{
  if (!opts || version != FLEET_AUTH_VERIFIER_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "verifier options: NULL or unknown version %u",
                            version);
  fleet_auth_verifier_options_t d = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  *opts = d;
  return 0;
}

/* iss/aud: 1-256 printable ASCII characters. */
static int check_string_option(const char *s, const char *what)
{
  if (!s)
    return 0;
  size_t n = strlen(s);
  char q[FLEET_AUTH_QUOTE_MAX];
  if (n < 1 || n > STRING_CLAIM_MAX || !printable(s, n, 1))
    return fleet_error__set(FLEET_EINVAL,
                            "%s: %s is not 1-%u printable ASCII characters without '\"' or '\\'",
                            what, fleet_auth__quote(q, s, n), STRING_CLAIM_MAX);
  return 0;
}

int fleet_auth_verifier_new(fleet_auth_verifier_t **out, const fleet_auth_verifier_options_t *opts)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "verifier: NULL argument");
  *out = NULL;
  fleet_auth_verifier_options_t d = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  if (!opts)
    opts = &d;
  if (opts->version != FLEET_AUTH_VERIFIER_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "verifier options: unknown version %u",
                            opts->version);
  if (opts->leeway_s > FLEET_AUTH_LEEWAY_MAX)
    return fleet_error__set(FLEET_EINVAL, "leeway_s: %u is over the %u s limit", opts->leeway_s,
                            FLEET_AUTH_LEEWAY_MAX);
  int rc;
  if ((rc = check_string_option(opts->issuer, "issuer")) ||
      (rc = check_string_option(opts->audience, "audience")))
    return rc;
  fleet_auth_verifier_t *v = calloc(1, sizeof *v);
  if (!v)
    return fleet_error__oom();
  v->leeway_s = opts->leeway_s;
  if ((opts->issuer && !(v->issuer = strdup(opts->issuer))) ||
      (opts->audience && !(v->audience = strdup(opts->audience)))) {
    fleet_auth_verifier_free(v);
    return fleet_error__oom();
  }
  *out = v;
  return 0;
}

void fleet_auth_verifier_free(fleet_auth_verifier_t *v)
{
  if (!v)
    return;
  for (size_t i = 0; i < v->nkeys; i++) {
    fleet_auth__wipe(v->keys[i].key, v->keys[i].len);
    free(v->keys[i].key);
    free(v->keys[i].kid);
  }
  free(v->keys);
  free(v->issuer);
  free(v->audience);
  free(v);
}

size_t fleet_auth_verifier_key_count(const fleet_auth_verifier_t *v)
{
  return v ? v->nkeys : 0;
}

int fleet_auth_verifier_add_key(fleet_auth_verifier_t *v, fleet_auth_alg_t alg, const char *kid,
                                const void *key, size_t key_len)
{
  if (!v || !key)
    return fleet_error__set(FLEET_EINVAL, "verifier key: NULL argument");
  char who[FLEET_AUTH_KID_MAX + 32];
  if (kid && *kid) {
    char q[FLEET_AUTH_QUOTE_MAX];
    if (!kid_valid(kid))
      return fleet_error__set(FLEET_EINVAL,
                              "kid: %s is not 1-%u printable ASCII characters without spaces, "
                              "'\"' or '\\'",
                              fleet_auth__quote(q, kid, strlen(kid)), FLEET_AUTH_KID_MAX);
    snprintf(who, sizeof who, "key kid=%s", kid);
  } else {
    kid = NULL;
    snprintf(who, sizeof who, "key without kid");
  }
  if (!fleet_auth_alg_name(alg))
    return fleet_error__set(FLEET_EINVAL, "%s: alg %d is not HS256, RS256 or ES256", who,
                            (int)alg);
  if (key_len > FLEET_AUTH_KEY_MAX)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %zu bytes, over the %u-byte limit", who, key_len,
                            FLEET_AUTH_KEY_MAX);
  int rc;
  if (alg == FLEET_AUTH_ALG_HS256) {
    if (key_len < FLEET_AUTH_SECRET_MIN)
      return fleet_error__set(FLEET_EINVAL,
                              "%s: an HS256 secret of %zu bytes is too weak; at least %u "
                              "random bytes are required",
                              who, key_len, FLEET_AUTH_SECRET_MIN);
    /* A public key PEM as a shared secret is the classic confusion attack's key. */
    if (memmem(key, key_len, "-----BEGIN", 10))
      return fleet_error__set(FLEET_EINVAL,
                              "%s: this HS256 secret is a PEM key; register the key as RS256 "
                              "or ES256 instead",
                              who);
  } else if ((rc = pem_public_check(alg, key, key_len, who)) != 0) {
    return rc;
  }
  for (size_t i = 0; kid && i < v->nkeys; i++)
    if (v->keys[i].kid && !strcmp(v->keys[i].kid, kid))
      return fleet_error__set(FLEET_EEXISTS, "%s: the kid is already in the key set", who);
  auth_key_t *keys = realloc(v->keys, (v->nkeys + 1) * sizeof *keys);
  if (!keys)
    return fleet_error__oom();
  v->keys = keys;
  auth_key_t *k = &keys[v->nkeys];
  memset(k, 0, sizeof *k);
  k->alg = alg;
  /* PEM text is handed to OpenSSL as a counted buffer, but keep a terminator anyway. */
  k->key = malloc(key_len + 1);
  if (!k->key || (kid && !(k->kid = strdup(kid)))) {
    free(k->key);
    return fleet_error__oom();
  }
  memcpy(k->key, key, key_len);
  k->key[key_len] = 0;
  k->len = key_len;
  v->nkeys++;
  return 0;
}

int fleet_auth_verifier_add_key_file(fleet_auth_verifier_t *v, fleet_auth_alg_t alg,
                                     const char *kid, const char *path)
{
  if (!v || !path)
    return fleet_error__set(FLEET_EINVAL, "verifier key file: NULL argument");
  fleet_buf_t b = FLEET_BUF_INIT;
  int rc = fleet_auth__read_file(&b, path, FLEET_AUTH_KEY_MAX, "key file");
  if (rc == 0)
    rc = fleet_auth_verifier_add_key(v, alg, kid, b.ptr ? b.ptr : "", b.len);
  fleet_auth__wipe(b.ptr, b.cap);
  fleet_buf_dispose(&b);
  return rc;
}

/* A decoded JSON segment of a token. */
static json_t *decode_segment(const char *seg, size_t len, const char *what)
{
  unsigned char raw[FLEET_AUTH_TOKEN_MAX];
  size_t n;
  if (b64url_decode(raw, &n, seg, len) != 0) {
    fleet_error__set(FLEET_EAUTH, "malformed token: the %s is not valid base64url", what);
    return NULL;
  }
  json_error_t err;
  json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    fleet_error__set(FLEET_EAUTH, "malformed token: the %s is not a JSON object (%s)", what,
                     err.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    fleet_error__set(FLEET_EAUTH, "malformed token: the %s is not a JSON object", what);
    return NULL;
  }
  return j;
}

/* A NumericDate claim; `up` rounds fractions up (the stricter side for nbf/iat). */
static int get_time(int64_t *out, int *present, const json_t *obj, const char *name, int up)
{
  json_t *v = json_object_get(obj, name);
  *present = v != NULL;
  if (!v)
    return 0;
  double d;
  if (json_is_integer(v))
    d = (double)json_integer_value(v);
  else if (json_is_real(v))
    d = up ? ceil(json_real_value(v)) : floor(json_real_value(v));
  else
    return fleet_error__set(FLEET_EAUTH, "%s: not a number", name);
  if (!(d >= 0 && d <= (double)TIME_LIMIT))
    return fleet_error__set(FLEET_EAUTH, "%s: %.17g is out of range", name, d);
  *out = (int64_t)d;
  return 0;
}

/* A string claim that must be present; its value is checked by the caller. */
static const char *get_string(size_t *len, const json_t *obj, const char *name, int *rc)
{
  json_t *v = json_object_get(obj, name);
  if (!v) {
    *rc = fleet_error__set(FLEET_EAUTH, "%s: missing", name);
    return NULL;
  }
  if (!json_is_string(v)) {
    *rc = fleet_error__set(FLEET_EAUTH, "%s: not a string", name);
    return NULL;
  }
  *len = json_string_length(v);
  return json_string_value(v);
}

static int check_audience(const fleet_auth_verifier_t *v, const json_t *payload)
{
  json_t *aud = json_object_get(payload, "aud");
  if (!aud)
    return fleet_error__set(FLEET_EAUTH, "aud: missing (expected '%s')", v->audience);
  if (json_is_string(aud)) {
    if (!strcmp(json_string_value(aud), v->audience) &&
        json_string_length(aud) == strlen(v->audience))
      return 0;
    char q[FLEET_AUTH_QUOTE_MAX];
    return fleet_error__set(FLEET_EAUTH, "aud: token is for %s, not '%s'",
                            fleet_auth__quote(q, json_string_value(aud), json_string_length(aud)),
                            v->audience);
  }
  if (!json_is_array(aud))
    return fleet_error__set(FLEET_EAUTH, "aud: neither a string nor an array");
  size_t i;
  json_t *a;
  json_array_foreach(aud, i, a)
  {
    if (!json_is_string(a))
      return fleet_error__set(FLEET_EAUTH, "aud[%zu]: not a string", i);
    if (!strcmp(json_string_value(a), v->audience) &&
        json_string_length(a) == strlen(v->audience))
      return 0;
  }
  return fleet_error__set(FLEET_EAUTH, "aud: '%s' is not among the token's %zu audiences",
                          v->audience, json_array_size(aud));
}

static int parse_vehicles(fleet_auth_claims_t *c, const json_t *payload)
{
  json_t *veh = json_object_get(payload, "vehicles");
  if (!veh)
    return 0; /* fail closed: no vehicle */
  if (json_is_string(veh)) {
    if (!strcmp(json_string_value(veh), "*") && json_string_length(veh) == 1) {
      c->all_vehicles = 1;
      return 0;
    }
    return fleet_error__set(FLEET_EAUTH, "vehicles: a string other than \"*\"");
  }
  if (!json_is_array(veh))
    return fleet_error__set(FLEET_EAUTH, "vehicles: neither \"*\" nor an array");
  size_t n = json_array_size(veh);
  if (n > FLEET_AUTH_VEHICLES_MAX)
    return fleet_error__set(FLEET_EAUTH, "vehicles: %zu ids, more than the %u allowed", n,
                            FLEET_AUTH_VEHICLES_MAX);
  if (n == 0)
    return 0;
  const char **ids = calloc(n, sizeof *ids);
  size_t *lens = calloc(n, sizeof *lens);
  if (!ids || !lens) {
    free(ids);
    free(lens);
    return fleet_error__oom();
  }
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(veh, i);
    if (!json_is_string(e)) {
      rc = fleet_error__set(FLEET_EAUTH, "vehicles[%zu]: not a string", i);
      break;
    }
    ids[i] = json_string_value(e);
    lens[i] = json_string_length(e);
  }
  if (rc == 0) {
    rc = vehicles_build(&c->vehicles, &c->nvehicles, ids, lens, n, "vehicles");
    if (rc == FLEET_EINVAL || rc == FLEET_ETOOBIG) {
      char detail[FLEET_ERROR_MAX];
      snprintf(detail, sizeof detail, "%s", fleet_error_last());
      rc = fleet_error__set(FLEET_EAUTH, "%s", detail);
    }
  }
  free(ids);
  free(lens);
  return rc;
}

/* Every claim of a token whose signature checked out. */
static int check_claims(fleet_auth_claims_t **out, const fleet_auth_verifier_t *v,
                        const json_t *payload, const auth_key_t *key,
                        fleet_auth_token_type_t expected, int64_t now)
{
  char t1[FLEET_AUTH_TIME_MAX], t2[FLEET_AUTH_TIME_MAX], q[FLEET_AUTH_QUOTE_MAX];
  int64_t exp = 0, nbf = 0, iat = 0, lw = v->leeway_s;
  int has_exp, has_nbf, has_iat, rc = 0;
  if ((rc = get_time(&exp, &has_exp, payload, "exp", 0)) ||
      (rc = get_time(&nbf, &has_nbf, payload, "nbf", 1)) ||
      (rc = get_time(&iat, &has_iat, payload, "iat", 1)))
    return rc;
  if (!has_exp)
    return fleet_error__set(FLEET_EAUTH, "exp: missing (tokens without an expiry are refused)");
  if (now >= exp + lw)
    return fleet_error__set(FLEET_EAUTH, "token expired at %s (now %s, leeway %u s)",
                            fleet_auth__time(t1, exp), fleet_auth__time(t2, now), v->leeway_s);
  if (has_nbf && now < nbf - lw)
    return fleet_error__set(FLEET_EAUTH, "token not valid before %s (now %s, leeway %u s)",
                            fleet_auth__time(t1, nbf), fleet_auth__time(t2, now), v->leeway_s);
  if (has_iat && iat > now + lw)
    return fleet_error__set(FLEET_EAUTH, "token issued in the future, at %s (now %s, leeway %u s)",
                            fleet_auth__time(t1, iat), fleet_auth__time(t2, now), v->leeway_s);

  size_t n = 0;
  const char *s;
  if (v->issuer) {
    if (!(s = get_string(&n, payload, "iss", &rc)))
      return rc;
    if (strcmp(s, v->issuer) || n != strlen(v->issuer))
      return fleet_error__set(FLEET_EAUTH, "iss: %s is not the expected issuer '%s'",
                              fleet_auth__quote(q, s, n), v->issuer);
  }
  if (v->audience && (rc = check_audience(v, payload)) != 0)
    return rc;

  fleet_auth_token_type_t type = FLEET_AUTH_TOKEN_ACCESS;
  json_t *tt = json_object_get(payload, "tt");
  if (tt) {
    if (!json_is_string(tt))
      return fleet_error__set(FLEET_EAUTH, "tt: not a string");
    if (!strcmp(json_string_value(tt), "refresh"))
      type = FLEET_AUTH_TOKEN_REFRESH;
    else if (strcmp(json_string_value(tt), "access"))
      return fleet_error__set(FLEET_EAUTH, "tt: %s is not access or refresh",
                              fleet_auth__quote(q, json_string_value(tt),
                                                json_string_length(tt)));
  }
  if (type != expected)
    return fleet_error__set(FLEET_EAUTH, "%s token presented where %s token is required",
                            fleet_auth_token_type_name(type),
                            expected == FLEET_AUTH_TOKEN_ACCESS ? "an access" : "a refresh");

  if (!(s = get_string(&n, payload, "sub", &rc)))
    return rc;
  if (!subject_valid(s, n))
    return fleet_error__set(FLEET_EAUTH,
                            "sub: %s is not 1-%u printable ASCII characters without '\"' or '\\'",
                            fleet_auth__quote(q, s, n), FLEET_AUTH_SUBJECT_MAX);
  const char *sub = s;
  size_t sub_len = n;
  if (!(s = get_string(&n, payload, "role", &rc)))
    return rc;
  fleet_auth_role_t role;
  if (!strcmp(s, "admin") && n == 5)
    role = FLEET_AUTH_ROLE_ADMIN;
  else if (!strcmp(s, "viewer") && n == 6)
    role = FLEET_AUTH_ROLE_VIEWER;
  else
    return fleet_error__set(FLEET_EAUTH, "role: %s is not viewer or admin",
                            fleet_auth__quote(q, s, n));

  const char *jti = "";
  size_t jti_len = 0;
  json_t *j = json_object_get(payload, "jti");
  if (j) {
    if (!json_is_string(j))
      return fleet_error__set(FLEET_EAUTH, "jti: not a string");
    jti = json_string_value(j);
    jti_len = json_string_length(j);
    if (jti_len < 1 || jti_len > STRING_CLAIM_MAX || !printable(jti, jti_len, 0))
      return fleet_error__set(FLEET_EAUTH, "jti: %s is not 1-%u printable characters",
                              fleet_auth__quote(q, jti, jti_len), STRING_CLAIM_MAX);
  }
  const char *iss = "";
  size_t iss_len = 0;
  j = json_object_get(payload, "iss");
  if (j && json_is_string(j) && printable(json_string_value(j), json_string_length(j), 1) &&
      json_string_length(j) <= STRING_CLAIM_MAX) {
    iss = json_string_value(j);
    iss_len = json_string_length(j);
  }

  fleet_auth_claims_t *c;
  if ((rc = claims_alloc(&c, sub, sub_len, role)) != 0)
    return rc;
  c->type = type;
  c->exp = exp;
  c->iat = has_iat ? iat : 0;
  if ((rc = replace_string(&c->jti, jti, jti_len)) ||
      (rc = replace_string(&c->issuer, iss, iss_len)) ||
      (key->kid && (rc = replace_string(&c->kid, key->kid, strlen(key->kid)))) ||
      (rc = parse_vehicles(c, payload))) {
    fleet_auth_claims_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* libjwt checks the signature with exactly this key and this algorithm. */
static int signature_ok(const char *token, const auth_key_t *k)
{
  jwt_t *j = NULL;
  if (jwt_decode(&j, token, k->key, (int)k->len) != 0 || !j) {
    jwt_free(j);
    return 0;
  }
  int ok = jwt_get_alg(j) == jwt_alg_of(k->alg);
  jwt_free(j);
  return ok;
}

int fleet_auth_verify_at(fleet_auth_claims_t **out, const fleet_auth_verifier_t *v,
                         const char *token, size_t len, fleet_auth_token_type_t expected,
                         int64_t now)
{
  if (!out || !v)
    return fleet_error__set(FLEET_EINVAL, "verify: NULL argument");
  *out = NULL;
  if (!fleet_auth_token_type_name(expected))
    return fleet_error__set(FLEET_EINVAL, "verify: %d is not a token type", (int)expected);
  if (now < 0 || now > TIME_LIMIT)
    return fleet_error__set(FLEET_EINVAL, "verify: now %" PRId64 " is out of range", now);
  if (!token || len == 0)
    return fleet_error__set(FLEET_EAUTH, "no token");
  /* Before anything else: libjwt's decoder puts each segment on the stack. */
  if (len > FLEET_AUTH_TOKEN_MAX)
    return fleet_error__set(FLEET_EAUTH, "token is %zu bytes, over the %u-byte limit", len,
                            FLEET_AUTH_TOKEN_MAX);
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
  size_t segments = 1;
  for (size_t i = 0; i < len; i++)
    segments += token[i] == '.';
  if (segments != 3)
    return fleet_error__set(FLEET_EAUTH,
                            "malformed token: %zu segment%s, a JWS compact token has 3", segments,
                            segments == 1 ? "" : "s");
  size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
  size_t slen = len - (size_t)(dot2 + 1 - token);
  if (hlen == 0 || plen == 0)
    return fleet_error__set(FLEET_EAUTH, "malformed token: empty %s",
                            hlen == 0 ? "header" : "payload");
  for (size_t i = 0; i < len; i++)
    if (token[i] != '.' && b64url_value((unsigned char)token[i]) < 0)
      return fleet_error__set(FLEET_EAUTH,
                              "malformed token: byte 0x%02x at offset %zu is not base64url",
                              (unsigned char)token[i], i);

  char q[FLEET_AUTH_QUOTE_MAX];
  int rc = 0;
  json_t *header = decode_segment(token, hlen, "header");
  if (!header)
    return fleet_error_last_code();
  json_t *payload = NULL;
  const char *kid = NULL;
  fleet_auth_alg_t alg = FLEET_AUTH_ALG_HS256;
  json_t *a = json_object_get(header, "alg");
  if (!a || !json_is_string(a)) {
    rc = fleet_error__set(FLEET_EAUTH, "header: alg %s", a ? "is not a string" : "is missing");
    goto done;
  }
  if (!strcasecmp(json_string_value(a), "none")) {
    rc = fleet_error__set(FLEET_EAUTH, "alg 'none' is never accepted");
    goto done;
  }
  if (json_string_length(a) != 5 || fleet_auth_alg_parse(&alg, json_string_value(a)) != 0) {
    rc = fleet_error__set(FLEET_EAUTH, "algorithm %s is not accepted (HS256, RS256, ES256)",
                          fleet_auth__quote(q, json_string_value(a), json_string_length(a)));
    goto done;
  }
  json_t *typ = json_object_get(header, "typ");
  if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") ||
              json_string_length(typ) != 3)) {
    rc = fleet_error__set(FLEET_EAUTH, "header: typ %s is not \"JWT\"",
                          json_is_string(typ) ? fleet_auth__quote(q, json_string_value(typ),
                                                                  json_string_length(typ))
                                              : "(not a string)");
    goto done;
  }
  /* RFC 7515 4.1.11: an extension we do not understand must not be ignored. */
  if (json_object_get(header, "crit")) {
    rc = fleet_error__set(FLEET_EAUTH, "header: crit extensions are not supported");
    goto done;
  }
  json_t *k = json_object_get(header, "kid");
  if (k) {
    if (!json_is_string(k)) {
      rc = fleet_error__set(FLEET_EAUTH, "header: kid is not a string");
      goto done;
    }
    kid = json_string_value(k);
    if (strlen(kid) != json_string_length(k)) {
      rc = fleet_error__set(FLEET_EAUTH, "unknown kid %s",
                            fleet_auth__quote(q, kid, json_string_length(k)));
      goto done;
    }
  }
  /* Parse the payload before the signature check only to report bad JSON precisely;
   * nothing in it is believed until the signature checks out. */
  if (!(payload = decode_segment(dot1 + 1, plen, "payload"))) {
    rc = fleet_error_last_code();
    goto done;
  }
  if (slen == 0) {
    rc = fleet_error__set(FLEET_EAUTH, "signature missing");
    goto done;
  }

  const auth_key_t *cand[64];
  const auth_key_t **list = cand;
  size_t ncand = 0;
  if (v->nkeys > FLEET_ARRAY_LEN(cand) && !(list = malloc(v->nkeys * sizeof *list))) {
    rc = fleet_error__oom();
    goto done;
  }
  if (kid) {
    for (size_t i = 0; i < v->nkeys; i++)
      if (v->keys[i].kid && !strcmp(v->keys[i].kid, kid)) {
        if (v->keys[i].alg != alg) {
          rc = fleet_error__set(FLEET_EAUTH,
                                "algorithm %s not allowed for key kid=%s (pinned to %s)",
                                fleet_auth_alg_name(alg), v->keys[i].kid,
                                fleet_auth_alg_name(v->keys[i].alg));
          goto free_list;
        }
        list[ncand++] = &v->keys[i];
        break;
      }
    if (!ncand) {
      rc = fleet_error__set(FLEET_EAUTH, "unknown kid %s", fleet_auth__quote(q, kid, strlen(kid)));
      goto free_list;
    }
  } else {
    for (size_t i = 0; i < v->nkeys; i++)
      if (v->keys[i].alg == alg)
        list[ncand++] = &v->keys[i];
    if (!ncand) {
      rc = fleet_error__set(FLEET_EAUTH, "no %s key in the key set (token without kid)",
                            fleet_auth_alg_name(alg));
      goto free_list;
    }
  }
  char *copy = strndup(token, len);
  if (!copy) {
    rc = fleet_error__oom();
    goto free_list;
  }
  const auth_key_t *good = NULL;
  for (size_t i = 0; i < ncand && !good; i++)
    if (signature_ok(copy, list[i]))
      good = list[i];
  free(copy);
  if (!good) {
    if (kid)
      rc = fleet_error__set(FLEET_EAUTH, "signature invalid (%s key kid=%s)",
                            fleet_auth_alg_name(alg), kid);
    else
      rc = fleet_error__set(FLEET_EAUTH, "signature invalid (tried %zu %s key%s)", ncand,
                            fleet_auth_alg_name(alg), ncand == 1 ? "" : "s");
    goto free_list;
  }
  rc = check_claims(out, v, payload, good, expected, now);
free_list:
  if (list != cand)
    free(list);
done:
  json_decref(header);
  json_decref(payload);
  return rc;
}

int fleet_auth_verify(fleet_auth_claims_t **out, const fleet_auth_verifier_t *v,
                      const char *token, size_t len, fleet_auth_token_type_t expected)
{
  return fleet_auth_verify_at(out, v, token, len, expected, (int64_t)time(NULL));
}

/* ------------------------------------------------------------------------ */
/* Signer                                                                   */
/* ------------------------------------------------------------------------ */

struct fleet_auth_signer {
  fleet_auth_alg_t alg;
  unsigned char *key;
  size_t len;
  char *kid;
  char *issuer;
  char *audience;
  int64_t access_ttl;
  int64_t refresh_ttl;
};

int fleet_auth_signer_options_init(fleet_auth_signer_options_t *opts, unsigned int version)
{
  if (!opts || version != FLEET_AUTH_SIGNER_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "signer options: NULL or unknown version %u", version);
  fleet_auth_signer_options_t d = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  *opts = d;
  return 0;
}

void fleet_auth_signer_free(fleet_auth_signer_t *s)
{
  if (!s)
    return;
  fleet_auth__wipe(s->key, s->len);
  free(s->key);
  free(s->kid);
  free(s->issuer);
  free(s->audience);
  free(s);
}

int64_t fleet_auth_signer_ttl(const fleet_auth_signer_t *s, fleet_auth_token_type_t type)
{
  if (!s)
    return 0;
  return type == FLEET_AUTH_TOKEN_ACCESS ? s->access_ttl
         : type == FLEET_AUTH_TOKEN_REFRESH ? s->refresh_ttl
                                            : 0;
}

/* Sign a payload (JSON text) with libjwt; the caller frees the token. */
static int sign_payload(char **out, const fleet_auth_signer_t *s, const char *payload)
{
  *out = NULL;
  jwt_t *j = NULL;
  if (jwt_new(&j) != 0 || !j)
    return fleet_error__oom();
  int rc = 0;
  char *tok = NULL;
  if (jwt_set_alg(j, jwt_alg_of(s->alg), s->key, (int)s->len) != 0 ||
      (s->kid && jwt_add_header(j, "kid", s->kid) != 0) || jwt_add_grants_json(j, payload) != 0)
    rc = fleet_error__set(FLEET_EINTERNAL, "libjwt refused the token's fields");
  else if (!(tok = jwt_encode_str(j)))
    rc = fleet_error__set(FLEET_EINVAL,
                          "libjwt could not sign with this %s key (is it a PEM private key of "
                          "that type?)",
                          fleet_auth_alg_name(s->alg));
  jwt_free(j);
  if (rc)
    return rc;
  *out = strdup(tok);
  free(tok);
  return *out ? 0 : fleet_error__oom();
}

int fleet_auth_signer_new(fleet_auth_signer_t **out, const fleet_auth_signer_options_t *o)
{
  if (!out || !o)
    return fleet_error__set(FLEET_EINVAL, "signer: NULL argument");
  *out = NULL;
  if (o->version != FLEET_AUTH_SIGNER_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "signer options: unknown version %u", o->version);
  const char *an = fleet_auth_alg_name(o->alg);
  if (!an)
    return fleet_error__set(FLEET_EINVAL, "signer: alg %d is not HS256, RS256 or ES256",
                            (int)o->alg);
  if (!o->key || o->key_len == 0)
    return fleet_error__set(FLEET_EINVAL, "signer: no key");
  if (o->key_len > FLEET_AUTH_KEY_MAX)
    return fleet_error__set(FLEET_ETOOBIG, "signer: key of %zu bytes, over the %u-byte limit",
                            o->key_len, FLEET_AUTH_KEY_MAX);
  if (o->alg == FLEET_AUTH_ALG_HS256) {
    if (o->key_len < FLEET_AUTH_SECRET_MIN)
      return fleet_error__set(FLEET_EINVAL,
                              "signer: an HS256 secret of %zu bytes is too weak; at least %u "
                              "random bytes are required",
                              o->key_len, FLEET_AUTH_SECRET_MIN);
    if (memmem(o->key, o->key_len, "-----BEGIN", 10))
      return fleet_error__set(FLEET_EINVAL, "signer: this HS256 secret is a PEM key");
  } else if (!memmem(o->key, o->key_len, "PRIVATE KEY-----", 16)) {
    return fleet_error__set(FLEET_EINVAL, "signer: %s needs a PEM private key", an);
  }
  char q[FLEET_AUTH_QUOTE_MAX];
  if (o->kid && *o->kid && !kid_valid(o->kid))
    return fleet_error__set(FLEET_EINVAL,
                            "signer: kid %s is not 1-%u printable ASCII characters without "
                            "spaces, '\"' or '\\'",
                            fleet_auth__quote(q, o->kid, strlen(o->kid)), FLEET_AUTH_KID_MAX);
  int rc;
  if ((rc = check_string_option(o->issuer, "issuer")) ||
      (rc = check_string_option(o->audience, "audience")))
    return rc;
  if (o->access_ttl_s < 1 || o->access_ttl_s > FLEET_AUTH_TTL_MAX || o->refresh_ttl_s < 1 ||
      o->refresh_ttl_s > FLEET_AUTH_TTL_MAX)
    return fleet_error__set(FLEET_EINVAL,
                            "signer: lifetimes %" PRId64 " s and %" PRId64
                            " s must lie in 1 s - %d s",
                            o->access_ttl_s, o->refresh_ttl_s, FLEET_AUTH_TTL_MAX);
  fleet_auth_signer_t *s = calloc(1, sizeof *s);
  if (!s)
    return fleet_error__oom();
  s->alg = o->alg;
  s->access_ttl = o->access_ttl_s;
  s->refresh_ttl = o->refresh_ttl_s;
  s->len = o->key_len;
  s->key = malloc(o->key_len + 1);
  if (!s->key || (o->kid && *o->kid && !(s->kid = strdup(o->kid))) ||
      (o->issuer && !(s->issuer = strdup(o->issuer))) ||
      (o->audience && !(s->audience = strdup(o->audience)))) {
    fleet_auth_signer_free(s);
    return fleet_error__oom();
  }
  memcpy(s->key, o->key, o->key_len);
  s->key[o->key_len] = 0;
  char *probe;
  if ((rc = sign_payload(&probe, s, "{\"sub\":\"probe\"}")) != 0) {
    fleet_auth_signer_free(s);
    return rc;
  }
  free(probe);
  *out = s;
  return 0;
}

int fleet_auth_signer_issue(char **out_token, int64_t *out_exp, const fleet_auth_signer_t *s,
                            const fleet_auth_claims_t *who, fleet_auth_token_type_t type,
                            int64_t ttl_s)
{
  if (!out_token || !s || !who)
    return fleet_error__set(FLEET_EINVAL, "issue: NULL argument");
  *out_token = NULL;
  const char *tn = fleet_auth_token_type_name(type);
  if (!tn)
    return fleet_error__set(FLEET_EINVAL, "issue: %d is not a token type", (int)type);
  if (ttl_s == 0)
    ttl_s = fleet_auth_signer_ttl(s, type);
  if (ttl_s < 1 || ttl_s > FLEET_AUTH_TTL_MAX)
    return fleet_error__set(FLEET_EINVAL, "issue: ttl %" PRId64 " s is not in 1 s - %d s", ttl_s,
                            FLEET_AUTH_TTL_MAX);
  unsigned char raw[JTI_BYTES];
  char jti[JTI_BYTES * 2];
  int rc = fleet_auth__random(raw, sizeof raw);
  if (rc)
    return rc;
  b64url_encode(jti, raw, sizeof raw);
  int64_t now = (int64_t)time(NULL), exp = now + ttl_s;

  json_t *o = json_object();
  int bad = !o;
  if (!bad) {
    bad |= json_object_set_new(o, "sub", json_string(who->subject));
    bad |= json_object_set_new(o, "role", json_string(fleet_auth_role_name(who->role)));
    bad |= json_object_set_new(o, "vehicles", vehicles_json(who));
    bad |= json_object_set_new(o, "tt", json_string(tn));
    bad |= json_object_set_new(o, "jti", json_string(jti));
    bad |= json_object_set_new(o, "iat", json_integer(now));
    bad |= json_object_set_new(o, "exp", json_integer(exp));
    if (s->issuer)
      bad |= json_object_set_new(o, "iss", json_string(s->issuer));
    if (s->audience)
      bad |= json_object_set_new(o, "aud", json_string(s->audience));
  }
  char *payload = bad ? NULL : json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!payload)
    return fleet_error__oom();
  char *tok;
  rc = sign_payload(&tok, s, payload);
  free(payload);
  if (rc)
    return rc;
  size_t n = strlen(tok);
  if (n > FLEET_AUTH_TOKEN_MAX) {
    free(tok);
    return fleet_error__set(FLEET_ETOOBIG,
                            "issue: the token would be %zu bytes, over the %u-byte limit "
                            "(%zu vehicle ids)",
                            n, FLEET_AUTH_TOKEN_MAX, who->nvehicles);
  }
  *out_token = tok;
  if (out_exp)
    *out_exp = exp;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The bundle                                                               */
/* ------------------------------------------------------------------------ */

struct fleet_auth {
  fleet_auth_users_t *users;
  fleet_auth_verifier_t *verifier;
  fleet_auth_signer_t *signer;
};

int fleet_auth_options_init(fleet_auth_options_t *opts, unsigned int version)
{
  if (!opts || version != FLEET_AUTH_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "auth options: NULL or unknown version %u", version);
  fleet_auth_options_t d = FLEET_AUTH_OPTIONS_INIT;
  *opts = d;
  return 0;
}

void fleet_auth_free(fleet_auth_t *a)
{
  if (!a)
    return;
  fleet_auth_users_free(a->users);
  fleet_auth_verifier_free(a->verifier);
  fleet_auth_signer_free(a->signer);
  free(a);
}

fleet_auth_users_t *fleet_auth_users(fleet_auth_t *a)
{
  return a ? a->users : NULL;
}

fleet_auth_verifier_t *fleet_auth_verifier(fleet_auth_t *a)
{
  return a ? a->verifier : NULL;
}

fleet_auth_signer_t *fleet_auth_signer(fleet_auth_t *a)
{
  return a ? a->signer : NULL;
}

static char *path_join(const char *dir, const char *name)
{
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* The private/public key pair of RS256/ES256 signing. */
static int open_keypair(fleet_auth_t *a, const fleet_auth_options_t *o,
                        fleet_auth_signer_options_t *so)
{
  const char *an = fleet_auth_alg_name(o->signing_alg);
  if (!o->signing_key_file || !o->signing_public_key_file)
    return fleet_error__set(FLEET_EINVAL,
                            "auth: %s signing needs signing_key_file and "
                            "signing_public_key_file",
                            an);
  int rc = fleet_auth_verifier_add_key_file(a->verifier, o->signing_alg, o->signing_kid,
                                            o->signing_public_key_file);
  if (rc)
    return rc;
  fleet_buf_t key = FLEET_BUF_INIT;
  rc = fleet_auth__read_file(&key, o->signing_key_file, FLEET_AUTH_KEY_MAX, "signing key");
  if (rc == 0) {
    so->key = key.ptr ? key.ptr : "";
    so->key_len = key.len;
    rc = fleet_auth_signer_new(&a->signer, so);
  }
  fleet_auth__wipe(key.ptr, key.cap);
  fleet_buf_dispose(&key);
  if (rc)
    return rc;
  /* A private key that does not match the public one would issue tokens
   * nobody accepts: find out now. */
  fleet_auth_claims_t *probe;
  char *tok;
  if ((rc = fleet_auth_claims_new(&probe, "probe", FLEET_AUTH_ROLE_VIEWER)) != 0)
    return rc;
  rc = fleet_auth_signer_issue(&tok, NULL, a->signer, probe, FLEET_AUTH_TOKEN_ACCESS, 60);
  fleet_auth_claims_free(probe);
  if (rc)
    return rc;
  fleet_auth_claims_t *got = NULL;
  rc = fleet_auth_verify(&got, a->verifier, tok, strlen(tok), FLEET_AUTH_TOKEN_ACCESS);
  free(tok);
  fleet_auth_claims_free(got);
  if (rc) {
    char detail[FLEET_ERROR_MAX];
    snprintf(detail, sizeof detail, "%s", fleet_error_last());
    return fleet_error__set(FLEET_EINVAL,
                            "auth: %s and %s are not a key pair (a probe token did not verify: "
                            "%s)",
                            o->signing_key_file, o->signing_public_key_file, detail);
  }
  return 0;
}

int fleet_auth_open(fleet_auth_t **out, const char *state_dir, const fleet_auth_options_t *opts)
{
  if (!out || !state_dir)
    return fleet_error__set(FLEET_EINVAL, "auth: NULL argument");
  *out = NULL;
  fleet_auth_options_t d = FLEET_AUTH_OPTIONS_INIT;
  const fleet_auth_options_t *o = opts ? opts : &d;
  if (o->version != FLEET_AUTH_OPTIONS_VERSION)
    return fleet_error__set(FLEET_EVERSION, "auth options: unknown version %u", o->version);
  if (!fleet_auth_alg_name(o->signing_alg))
    return fleet_error__set(FLEET_EINVAL, "auth: signing_alg %d is not HS256, RS256 or ES256",
                            (int)o->signing_alg);
  struct stat st;
  if (stat(state_dir, &st) != 0)
    return fleet_error__set(FLEET_EIO, "auth: state directory %s: %s", state_dir,
                            strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return fleet_error__set(FLEET_EIO, "auth: state directory %s: not a directory", state_dir);
  fleet_auth_t *a = calloc(1, sizeof *a);
  char *users_path = path_join(state_dir, FLEET_AUTH_USERS_FILE);
  char *secret_path = path_join(state_dir, FLEET_AUTH_SECRET_FILE);
  int rc = 0;
  if (!a || !users_path || !secret_path) {
    rc = fleet_error__oom();
    goto done;
  }
  if ((rc = fleet_auth_users_open(&a->users, users_path)) != 0)
    goto done;
  fleet_auth_verifier_options_t vo = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  vo.leeway_s = o->leeway_s;
  vo.issuer = o->issuer;
  vo.audience = o->audience;
  if ((rc = fleet_auth_verifier_new(&a->verifier, &vo)) != 0)
    goto done;
  fleet_auth_signer_options_t so = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  so.alg = o->signing_alg;
  so.kid = o->signing_kid;
  so.issuer = o->issuer;
  so.audience = o->audience;
  so.access_ttl_s = o->access_ttl_s;
  so.refresh_ttl_s = o->refresh_ttl_s;
  if (o->signing_alg == FLEET_AUTH_ALG_HS256) {
    fleet_buf_t secret = FLEET_BUF_INIT;
    rc = fleet_auth_secret_load_or_create(&secret, secret_path);
    if (rc == 0)
      rc = fleet_auth_verifier_add_key(a->verifier, FLEET_AUTH_ALG_HS256, o->signing_kid,
                                       secret.ptr, secret.len);
    if (rc == 0) {
      so.key = secret.ptr;
      so.key_len = secret.len;
      rc = fleet_auth_signer_new(&a->signer, &so);
    }
    fleet_auth__wipe(secret.ptr, secret.cap);
    fleet_buf_dispose(&secret);
  } else {
    rc = open_keypair(a, o, &so);
  }
done:
  free(users_path);
  free(secret_path);
  if (rc) {
    fleet_auth_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

/* Issue the access token and, when asked, a refresh token for `who`. */
static int issue_pair(char **out_access, char **out_refresh, fleet_auth_t *a,
                      const fleet_auth_claims_t *who)
{
  int rc = fleet_auth_signer_issue(out_access, NULL, a->signer, who, FLEET_AUTH_TOKEN_ACCESS, 0);
  if (rc == 0 && out_refresh) {
    rc = fleet_auth_signer_issue(out_refresh, NULL, a->signer, who, FLEET_AUTH_TOKEN_REFRESH, 0);
    if (rc) {
      free(*out_access);
      *out_access = NULL;
    }
  }
  return rc;
}

int fleet_auth_login(char **out_access, char **out_refresh, fleet_auth_t *a, const char *name,
                     const char *password)
{
  if (out_access)
    *out_access = NULL;
  if (out_refresh)
    *out_refresh = NULL;
  if (!out_access || !a || !name || !password)
    return fleet_error__set(FLEET_EINVAL, "login: NULL argument");
  fleet_auth_claims_t *who;
  int rc = fleet_auth_users_authenticate(&who, a->users, name, password);
  if (rc)
    return rc;
  rc = issue_pair(out_access, out_refresh, a, who);
  fleet_auth_claims_free(who);
  return rc;
}

int fleet_auth_refresh(char **out_access, char **out_refresh, fleet_auth_t *a,
                       const char *refresh_token, size_t len)
{
  if (out_access)
    *out_access = NULL;
  if (out_refresh)
    *out_refresh = NULL;
  if (!out_access || !a)
    return fleet_error__set(FLEET_EINVAL, "refresh: NULL argument");
  fleet_auth_claims_t *old;
  int rc = fleet_auth_verify(&old, a->verifier, refresh_token, len, FLEET_AUTH_TOKEN_REFRESH);
  if (rc)
    return rc;
  fleet_auth_user_t *u = NULL;
  rc = fleet_auth_users_get(&u, a->users, old->subject);
  if (rc == FLEET_ENOTFOUND) {
    char q[FLEET_AUTH_QUOTE_MAX];
    rc = fleet_error__set(FLEET_EAUTH, "refresh: user %s is not in the users file (deleted?)",
                          fleet_auth__quote(q, old->subject, strlen(old->subject)));
  }
  fleet_auth_claims_free(old);
  if (rc)
    return rc;
  fleet_auth_claims_t *now;
  rc = fleet_auth_user_claims(&now, u);
  fleet_auth_user_free(u);
  if (rc)
    return rc;
  rc = issue_pair(out_access, out_refresh, a, now);
  fleet_auth_claims_free(now);
  return rc;
}
