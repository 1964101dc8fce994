/* Unit tests for auth: claims, the verifier's attack matrix (shape, base64url,
 * JSON, alg none, algorithm confusion, kids, times, iss/aud, token types),
 * the signer (HS256, RS256, ES256, checked against the openssl CLI), key
 * rotation, passwords, the users file, the server secret, the state-directory
 * bundle and concurrent verification.
 *
 * RSA and EC keys are generated at test time with the openssl CLI into a
 * temporary directory; tokens with arbitrary headers are signed with
 * `openssl dgst`, independently of libjwt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth_int.h"
#include "common_int.h"
#include "fleet/auth.h"

/* A fixed "now" for tokens crafted by hand: 2026-05-28T20:26:40Z. */
#define NOW INT64_C(1780000000)
#define HS_SECRET "test-only-hs256-secret-0123456789abcdef!"

static char dir[256];

/* ---- files and keys ------------------------------------------------------ */

static const char *in_dir(const char *name)
{
  static char bufs[8][512];
  static unsigned int i;
  char *b = bufs[i++ % 8];
  snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
  return b;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  unsigned char *b = malloc(65536);
  assert_non_null(b);
  size_t n = fread(b, 1, 65535, f);
  fclose(f);
  b[n] = 0;
  if (len)
    *len = n;
  return b;
}

static int run(const char *cmd)
{
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int group_setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/fleet-auth-test-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  static const char *const cmds[] = {
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa1.pem",
      "openssl pkey -in rsa1.pem -pubout -out rsa1.pub",
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.pem",
      "openssl pkey -in rsa2.pem -pubout -out rsa2.pub",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec1.pem",
      "openssl pkey -in ec1.pem -pubout -out ec1.pub",
      "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem",
      "openssl pkey -in ec384.pem -pubout -out ec384.pub",
      "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem",
      "openssl pkey -in rsa1024.pem -pubout -out rsa1024.pub",
      "openssl req -x509 -new -key ec1.pem -subj /CN=test -days 1 -out cert.pem",
      "openssl rsa -in rsa1.pem -RSAPublicKey_out -out rsa1.pkcs1",
  };
  char cmd[1024];
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    snprintf(cmd, sizeof cmd, "cd '%s' && %s >/dev/null 2>&1", dir, cmds[i]);
    if (run(cmd) != 0) {
      fprintf(stderr, "setup failed: %s\n", cmds[i]);
      return -1;
    }
  }
  FILE *f = fopen(in_dir("hs.key"), "wb");
  if (!f)
    return -1;
  fputs(HS_SECRET, f);
  fclose(f);
  return 0;
}

static int group_teardown(void **state)
{
  (void)state;
  return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh empty directory under the test directory. */
static char *new_subdir(void)
{
  static char b[512];
  snprintf(b, sizeof b, "%s/state-XXXXXX", dir);
  assert_non_null(mkdtemp(b));
  return b;
}

/* ---- tokens crafted with the openssl CLI --------------------------------- */

static void b64u(char *out, const unsigned char *in, size_t n)
{
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n)
      v |= in[i + 2];
    out[o++] = abc[(v >> 18) & 63];
    out[o++] = abc[(v >> 12) & 63];
    if (i + 1 < n)
      out[o++] = abc[(v >> 6) & 63];
    if (i + 2 < n)
      out[o++] = abc[v & 63];
  }
  out[o] = 0;
}

static size_t b64u_dec(unsigned char *out, const char *in, size_t n)
{
  uint32_t acc = 0;
  unsigned int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *p = strchr(abc, in[i]);
    assert_non_null(p);
    acc = (acc << 6) | (uint32_t)(p - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  return o;
}

typedef enum sigkind { SIG_NONE, SIG_HMAC, SIG_RSA, SIG_EC } sigkind_t;

/* DER ECDSA-Sig-Value -> the 64-byte r||s of JWS. */
static void der_to_raw(unsigned char raw[64], const unsigned char *d, size_t n)
{
  assert_true(n > 8 && d[0] == 0x30);
  size_t p = d[1] & 0x80 ? 2 + (d[1] & 0x7f) : 2;
  memset(raw, 0, 64);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(d[p], 0x02);
    size_t len = d[p + 1];
    const unsigned char *v = d + p + 2;
    p += 2 + len;
    while (len > 32) {
      v++;
      len--;
    }
    memcpy(raw + k * 32 + (32 - len), v, len);
  }
}

/*
 * header.payload signed as `kind`: SIG_HMAC with the bytes of file `key` as
 * the secret, SIG_RSA/SIG_EC with the private key file `key`; SIG_NONE gives
 * an empty signature. Caller frees.
 */
static char *craft(sigkind_t kind, const char *key, const char *header, const char *payload)
{
  size_t hn = strlen(header), pn = strlen(payload);
  char *tok = malloc(2 * (hn + pn) + 512);
  assert_non_null(tok);
  b64u(tok, (const unsigned char *)header, hn);
  strcat(tok, ".");
  b64u(tok + strlen(tok), (const unsigned char *)payload, pn);
  size_t input_len = strlen(tok);
  strcat(tok, ".");
  if (kind == SIG_NONE)
    return tok;
  write_bytes(in_dir("sign.in"), tok, input_len);
  char cmd[8192];
  if (kind == SIG_HMAC) {
    size_t kn;
    unsigned char *k = slurp(key, &kn);
    char hex[5000];
    assert_true(kn * 2 < sizeof hex);
    for (size_t i = 0; i < kn; i++)
      snprintf(hex + 2 * i, 3, "%02x", k[i]);
    free(k);
    snprintf(cmd, sizeof cmd,
             "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s -binary -out '%s' '%s'", hex,
             in_dir("sign.sig"), in_dir("sign.in"));
  } else {
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -sign '%s' -binary -out '%s' '%s'", key,
             in_dir("sign.sig"), in_dir("sign.in"));
  }
  assert_int_equal(run(cmd), 0);
  size_t sn;
  unsigned char *sig = slurp(in_dir("sign.sig"), &sn);
  if (kind == SIG_EC) {
    unsigned char raw[64];
    der_to_raw(raw, sig, sn);
    b64u(tok + strlen(tok), raw, 64);
  } else {
    b64u(tok + strlen(tok), sig, sn);
  }
  free(sig);
  return tok;
}

/* Verify a token's signature with the openssl CLI (interop check of the signer). */
static int openssl_verifies(const char *token, sigkind_t kind, const char *pubkey)
{
  const char *dot2 = strrchr(token, '.');
  write_bytes(in_dir("check.in"), token, (size_t)(dot2 - token));
  unsigned char sig[600];
  size_t sn = b64u_dec(sig, dot2 + 1, strlen(dot2 + 1));
  if (kind == SIG_EC) {
    assert_int_equal(sn, 64);
    unsigned char der[80];
    size_t o = 2;
    for (int k = 0; k < 2; k++) {
      const unsigned char *v = sig + 32 * k;
      size_t len = 32;
      while (len > 1 && v[0] == 0 && !(v[1] & 0x80)) {
        v++;
        len--;
      }
      int pad = v[0] & 0x80;
      der[o++] = 0x02;
      der[o++] = (unsigned char)(len + (pad ? 1 : 0));
      if (pad)
        der[o++] = 0;
      memcpy(der + o, v, len);
      o += len;
    }
    der[0] = 0x30;
    der[1] = (unsigned char)(o - 2);
    write_bytes(in_dir("check.sig"), der, o);
  } else {
    write_bytes(in_dir("check.sig"), sig, sn);
  }
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null 2>&1", pubkey,
           in_dir("check.sig"), in_dir("check.in"));
  return run(cmd) == 0;
}

/* A payload valid at NOW with `extra` claims appended (",\"x\":1"). */
static char *payload_with(const char *fmt_extra)
{
  static char b[4][8192];
  static unsigned int i;
  char *p = b[i++ % 4];
  snprintf(p, sizeof b[0],
           "{\"sub\":\"alice\",\"role\":\"viewer\",\"vehicles\":[\"v-1\"],\"tt\":\"access\","
           "\"iat\":%" PRId64 ",\"exp\":%" PRId64 "%s}",
           NOW - 10, NOW + 600, fmt_extra);
  return p;
}

/* ---- verifier fixtures --------------------------------------------------- */

static fleet_auth_verifier_t *verifier_with(const char *issuer, const char *audience)
{
  fleet_auth_verifier_options_t o = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  o.issuer = issuer;
  o.audience = audience;
  fleet_auth_verifier_t *v = NULL;
  assert_int_equal(fleet_auth_verifier_new(&v, &o), 0);
  return v;
}

static void add_file_key(fleet_auth_verifier_t *v, fleet_auth_alg_t alg, const char *kid,
                         const char *name)
{
  int rc = fleet_auth_verifier_add_key_file(v, alg, kid, in_dir(name));
  if (rc)
    print_message("add_key_file %s: %s\n", name, fleet_error_last());
  assert_int_equal(rc, 0);
}

/* The verifier most tests use: HS256 (no kid), RS256 kid=rsa1, ES256 kid=ec1. */
static fleet_auth_verifier_t *std_verifier(void)
{
  fleet_auth_verifier_t *v = verifier_with(NULL, NULL);
  assert_int_equal(
      fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, HS_SECRET, strlen(HS_SECRET)), 0);
  add_file_key(v, FLEET_AUTH_ALG_RS256, "rsa1", "rsa1.pub");
  add_file_key(v, FLEET_AUTH_ALG_ES256, "ec1", "ec1.pub");
  return v;
}

static void expect_refused_at(const fleet_auth_verifier_t *v, const char *tok, size_t len,
                              fleet_auth_token_type_t type, int64_t now, const char *needle)
{
  fleet_auth_claims_t *c = (fleet_auth_claims_t *)&c;
  int rc = fleet_auth_verify_at(&c, v, tok, len, type, now);
  if (rc != FLEET_EAUTH || !strstr(fleet_error_last(), needle))
    print_message("token %.60s...: rc %d, message '%s', wanted '%s'\n", tok ? tok : "(null)", rc,
                  fleet_error_last(), needle);
  assert_int_equal(rc, FLEET_EAUTH);
  assert_null(c);
  assert_non_null(strstr(fleet_error_last(), needle));
}

static void expect_refused(const fleet_auth_verifier_t *v, const char *tok, const char *needle)
{
  expect_refused_at(v, tok, strlen(tok), FLEET_AUTH_TOKEN_ACCESS, NOW, needle);
}

static fleet_auth_claims_t *expect_ok_at(const fleet_auth_verifier_t *v, const char *tok,
                                         fleet_auth_token_type_t type, int64_t now)
{
  fleet_auth_claims_t *c = NULL;
  int rc = fleet_auth_verify_at(&c, v, tok, strlen(tok), type, now);
  if (rc)
    print_message("token %.60s... refused: %s\n", tok, fleet_error_last());
  assert_int_equal(rc, 0);
  assert_non_null(c);
  return c;
}

static void expect_ok(const fleet_auth_verifier_t *v, const char *tok)
{
  fleet_auth_claims_free(expect_ok_at(v, tok, FLEET_AUTH_TOKEN_ACCESS, NOW));
}

/* ---- names and claims ---------------------------------------------------- */

static void test_names(void **state)
{
  (void)state;
  fleet_auth_alg_t alg;
  assert_int_equal(fleet_auth_alg_parse(&alg, "RS256"), 0);
  assert_int_equal(alg, FLEET_AUTH_ALG_RS256);
  assert_int_equal(fleet_auth_alg_parse(&alg, "none"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_alg_parse(&alg, "hs256"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_alg_parse(NULL, "HS256"), FLEET_EINVAL);
  assert_string_equal(fleet_auth_alg_name(FLEET_AUTH_ALG_ES256), "ES256");
  assert_null(fleet_auth_alg_name((fleet_auth_alg_t)0));
  fleet_auth_role_t role;
  assert_int_equal(fleet_auth_role_parse(&role, "admin"), 0);
  assert_int_equal(role, FLEET_AUTH_ROLE_ADMIN);
  assert_int_equal(fleet_auth_role_parse(&role, "root"), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "'root' is not viewer or admin"));
  assert_string_equal(fleet_auth_role_name(FLEET_AUTH_ROLE_VIEWER), "viewer");
  assert_null(fleet_auth_role_name((fleet_auth_role_t)7));
  assert_string_equal(fleet_auth_token_type_name(FLEET_AUTH_TOKEN_REFRESH), "refresh");
  assert_null(fleet_auth_token_type_name((fleet_auth_token_type_t)0));

  assert_true(fleet_auth_username_valid("alice"));
  assert_true(fleet_auth_username_valid("ops.team_1@example-org"));
  char longest[65];
  memset(longest, 'a', 64);
  longest[64] = 0;
  assert_true(fleet_auth_username_valid(longest));
  char too_long[66];
  memset(too_long, 'a', 65);
  too_long[65] = 0;
  assert_false(fleet_auth_username_valid(too_long));
  assert_false(fleet_auth_username_valid(""));
  assert_false(fleet_auth_username_valid(NULL));
  assert_false(fleet_auth_username_valid("bob smith"));
  assert_false(fleet_auth_username_valid("bob/../x"));
  assert_false(fleet_auth_username_valid("b\xc3\xa9"));
}

static void test_claims(void **state)
{
  (void)state;
  fleet_auth_claims_t *c = NULL;
  assert_int_equal(fleet_auth_claims_new(&c, "", FLEET_AUTH_ROLE_VIEWER), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_new(&c, "a\"b", FLEET_AUTH_ROLE_VIEWER), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_new(&c, "alice", (fleet_auth_role_t)0), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_new(&c, "alice", FLEET_AUTH_ROLE_VIEWER), 0);
  /* New claims allow nothing until told. */
  assert_false(fleet_auth_claims_all_vehicles(c));
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 0);
  assert_false(fleet_auth_claims_allows(c, "v-1"));
  assert_string_equal(fleet_auth_claims_token_id(c), "");
  assert_int_equal(fleet_auth_claims_type(c), FLEET_AUTH_TOKEN_ACCESS);

  assert_int_equal(fleet_auth_claims_set_vehicles(c, "v-2,v-1,v-2,a.b_c"), 0);
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 3);
  assert_string_equal(fleet_auth_claims_vehicle_at(c, 0), "a.b_c");
  assert_string_equal(fleet_auth_claims_vehicle_at(c, 1), "v-1");
  assert_string_equal(fleet_auth_claims_vehicle_at(c, 2), "v-2");
  assert_null(fleet_auth_claims_vehicle_at(c, 3));
  assert_true(fleet_auth_claims_allows(c, "v-1"));
  assert_true(fleet_auth_claims_allows(c, "a.b_c"));
  assert_false(fleet_auth_claims_allows(c, "v-3"));
  assert_false(fleet_auth_claims_allows(c, "v-"));
  assert_false(fleet_auth_claims_allows(c, NULL));

  /* A bad id leaves the list as it was. */
  assert_int_equal(fleet_auth_claims_set_vehicles(c, "v-9,bad id"), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "'bad id' is not a vehicle id"));
  assert_int_equal(fleet_auth_claims_set_vehicles(c, "v-9,,v-8"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_set_vehicles(c, "v-9,*"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_set_vehicles(c, "v-9,"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 3);

  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_auth_claims_to_json(&b, c), 0);
  assert_string_equal(b.ptr, "{\"sub\":\"alice\",\"role\":\"viewer\",\"vehicles\":[\"a.b_c\","
                             "\"v-1\",\"v-2\"],\"tt\":\"access\"}");

  assert_int_equal(fleet_auth_claims_set_vehicles(c, "*"), 0);
  assert_true(fleet_auth_claims_all_vehicles(c));
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 0);
  assert_true(fleet_auth_claims_allows(c, "anything"));
  fleet_buf_clear(&b);
  assert_int_equal(fleet_auth_claims_to_json(&b, c), 0);
  assert_non_null(strstr(b.ptr, "\"vehicles\":\"*\""));

  assert_int_equal(fleet_auth_claims_set_vehicles(c, ""), 0);
  assert_false(fleet_auth_claims_all_vehicles(c));
  assert_false(fleet_auth_claims_allows(c, "v-1"));

  /* 1000 ids are fine, 1001 are too many. */
  fleet_buf_t many = FLEET_BUF_INIT;
  for (int i = 0; i < 1001; i++)
    fleet_buf__printf(&many, "%sv%d", i ? "," : "", i);
  assert_int_equal(fleet_auth_claims_set_vehicles(c, many.ptr), FLEET_ETOOBIG);
  *strrchr(many.ptr, ',') = 0;
  assert_int_equal(fleet_auth_claims_set_vehicles(c, many.ptr), 0);
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 1000);
  assert_true(fleet_auth_claims_allows(c, "v999"));
  assert_false(fleet_auth_claims_allows(c, "v1000"));
  fleet_buf_dispose(&many);
  fleet_buf_dispose(&b);
  fleet_auth_claims_free(c);
  fleet_auth_claims_free(NULL);
}

/* ---- verifier configuration --------------------------------------------- */

static void test_verifier_keys(void **state)
{
  (void)state;
  fleet_auth_verifier_options_t o;
  assert_int_equal(fleet_auth_verifier_options_init(&o, 99), FLEET_EINVAL);
  assert_int_equal(fleet_auth_verifier_options_init(&o, FLEET_AUTH_VERIFIER_OPTIONS_VERSION), 0);
  assert_int_equal(o.leeway_s, 30);
  fleet_auth_verifier_t *v = NULL;
  o.leeway_s = 3601;
  assert_int_equal(fleet_auth_verifier_new(&v, &o), FLEET_EINVAL);
  o.leeway_s = 30;
  o.issuer = "";
  assert_int_equal(fleet_auth_verifier_new(&v, &o), FLEET_EINVAL);
  o.issuer = NULL;
  o.version = 2;
  assert_int_equal(fleet_auth_verifier_new(&v, &o), FLEET_EVERSION);
  assert_null(v);

  v = verifier_with(NULL, NULL);
  assert_int_equal(fleet_auth_verifier_key_count(v), 0);
  /* HS256 secrets: at least 32 bytes, and never a PEM. */
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, "short", 5),
                   FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "too weak"));
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL,
                                               "0123456789abcdef0123456789abcde", 31),
                   FLEET_EINVAL);
  size_t n;
  unsigned char *pem = slurp(in_dir("rsa1.pub"), &n);
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, pem, n),
                   FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "is a PEM key"));
  free(pem);

  /* PEM keys must be public keys of the pinned type and strength. */
  static const struct {
    fleet_auth_alg_t alg;
    const char *file;
    const char *needle;
  } bad[] = {
      {FLEET_AUTH_ALG_RS256, "rsa1.pem", "private key"},
      {FLEET_AUTH_ALG_ES256, "ec1.pem", "private key"},
      {FLEET_AUTH_ALG_RS256, "ec1.pub", "EC key, not a key for RS256"},
      {FLEET_AUTH_ALG_ES256, "rsa1.pub", "RSA key, not a key for ES256"},
      {FLEET_AUTH_ALG_RS256, "rsa1024.pub", "1024 bits"},
      {FLEET_AUTH_ALG_ES256, "ec384.pub", "P-256"},
      {FLEET_AUTH_ALG_ES256, "cert.pem", "certificate"},
      {FLEET_AUTH_ALG_RS256, "rsa1.pkcs1", "PKCS#1"},
      {FLEET_AUTH_ALG_RS256, "hs.key", "no '-----BEGIN PUBLIC KEY-----' block"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = fleet_auth_verifier_add_key_file(v, bad[i].alg, "k", in_dir(bad[i].file));
    if (rc != FLEET_EINVAL || !strstr(fleet_error_last(), bad[i].needle))
      print_message("%s: rc %d '%s'\n", bad[i].file, rc, fleet_error_last());
    assert_int_equal(rc, FLEET_EINVAL);
    assert_non_null(strstr(fleet_error_last(), bad[i].needle));
  }
  /* A corrupted base64 body. */
  pem = slurp(in_dir("rsa1.pub"), &n);
  pem[40] = '*';
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_RS256, "k", pem, n),
                   FLEET_EINVAL);
  free(pem);
  assert_int_equal(fleet_auth_verifier_add_key_file(v, FLEET_AUTH_ALG_RS256, "k",
                                                    in_dir("does-not-exist")),
                   FLEET_EIO);
  assert_int_equal(fleet_auth_verifier_add_key(v, (fleet_auth_alg_t)9, "k", HS_SECRET, 40),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, "bad kid", HS_SECRET, 40),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_verifier_key_count(v), 0);

  add_file_key(v, FLEET_AUTH_ALG_RS256, "k1", "rsa1.pub");
  add_file_key(v, FLEET_AUTH_ALG_ES256, "k2", "ec1.pub");
  assert_int_equal(fleet_auth_verifier_add_key_file(v, FLEET_AUTH_ALG_RS256, "k1",
                                                    in_dir("rsa2.pub")),
                   FLEET_EEXISTS);
  /* Keys without kid may repeat. */
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, HS_SECRET, 40), 0);
  assert_int_equal(fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, "", HS_SECRET, 40), 0);
  assert_int_equal(fleet_auth_verifier_key_count(v), 4);
  fleet_auth_verifier_free(v);
  fleet_auth_verifier_free(NULL);
}

/* ---- the attack matrix ---------------------------------------------------- */

static void test_malformed(void **state)
{
  (void)state;
  fleet_auth_verifier_t *v = std_verifier();
  const char *hs_header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char *good = craft(SIG_HMAC, in_dir("hs.key"), hs_header, payload_with(""));
  expect_ok(v, good);

  fleet_auth_claims_t *c = NULL;
  assert_int_equal(fleet_auth_verify_at(&c, v, NULL, 0, FLEET_AUTH_TOKEN_ACCESS, NOW),
                   FLEET_EAUTH);
  assert_string_equal(fleet_error_last(), "no token");
  expect_refused_at(v, "", 0, FLEET_AUTH_TOKEN_ACCESS, NOW, "no token");
  assert_int_equal(fleet_auth_verify_at(NULL, v, good, strlen(good), FLEET_AUTH_TOKEN_ACCESS, NOW),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_verify_at(&c, v, good, strlen(good), (fleet_auth_token_type_t)3,
                                        NOW),
                   FLEET_EINVAL);

  /* Segments. */
  expect_refused(v, "eyJhbGciOiJIUzI1NiJ9", "1 segment, a JWS compact token has 3");
  expect_refused(v, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0", "2 segments");
  char four[4096];
  snprintf(four, sizeof four, "%s.AAAA", good);
  expect_refused(v, four, "4 segments");
  expect_refused(v, "..", "empty header");
  expect_refused(v, "eyJhbGciOiJIUzI1NiJ9..sig", "empty payload");

  /* base64url: wrong alphabet, padding, impossible length, non-canonical bits. */
  char bad[4096];
  snprintf(bad, sizeof bad, "%s", good);
  bad[3] = '+';
  expect_refused(v, bad, "byte 0x2b at offset 3 is not base64url");
  snprintf(bad, sizeof bad, "%s", good);
  bad[strlen(bad) - 1] = '=';
  expect_refused(v, bad, "not base64url");
  expect_refused(v, "eyJhbGciOiJIUzI1NiJ9A.eyJzdWIiOiJhIn0.AAAA", "header is not valid base64url");
  /* "e30" is {}; "e31" has the same first two bytes but non-zero unused bits. */
  expect_refused(v, "e31.e30.AAAA", "header is not valid base64url");
  expect_refused(v, "e30.e31.AAAA", "alg is missing");

  /* JSON. */
  char *t = craft(SIG_HMAC, in_dir("hs.key"), "{\"alg\":\"HS256\"", payload_with(""));
  expect_refused(v, t, "header is not a JSON object");
  free(t);
  t = craft(SIG_HMAC, in_dir("hs.key"), "[\"HS256\"]", payload_with(""));
  expect_refused(v, t, "header is not a JSON object");
  free(t);
  t = craft(SIG_HMAC, in_dir("hs.key"), hs_header, "{\"sub\":");
  expect_refused(v, t, "payload is not a JSON object");
  free(t);
  t = craft(SIG_HMAC, in_dir("hs.key"), hs_header, "\"alice\"");
  expect_refused(v, t, "payload is not a JSON object");
  free(t);
  /* Duplicate names could make two parsers see two different tokens. */
  t = craft(SIG_HMAC, in_dir("hs.key"), hs_header, payload_with(",\"role\":\"admin\""));
  expect_refused(v, t, "payload is not a JSON object");
  free(t);
  t = craft(SIG_HMAC, in_dir("hs.key"), "{\"alg\":\"HS256\",\"alg\":\"none\"}", payload_with(""));
  expect_refused(v, t, "header is not a JSON object");
  free(t);

  /* Oversize: refused on its length before any decoding, even a huge one. */
  size_t big = 1u << 20;
  char *huge = malloc(big + 1);
  assert_non_null(huge);
  memset(huge, 'A', big);
  huge[big] = 0;
  expect_refused_at(v, huge, FLEET_AUTH_TOKEN_MAX + 1, FLEET_AUTH_TOKEN_ACCESS, NOW,
                    "token is 8193 bytes, over the 8192-byte limit");
  expect_refused_at(v, huge, big, FLEET_AUTH_TOKEN_ACCESS, NOW, "over the 8192-byte limit");
  /* A signed token just over the limit (a padded claim) is refused the same way. */
  char *pad = malloc(7000);
  assert_non_null(pad);
  memset(pad, 'x', 6000);
  pad[6000] = 0;
  char extra[6100];
  snprintf(extra, sizeof extra, ",\"pad\":\"%s\"", pad);
  t = craft(SIG_HMAC, in_dir("hs.key"), hs_header, payload_with(extra));
  assert_true(strlen(t) > FLEET_AUTH_TOKEN_MAX);
  expect_refused(v, t, "over the 8192-byte limit");
  free(t);
  /* ...while one just under it verifies. */
  pad[5800] = 0;
  snprintf(extra, sizeof extra, ",\"pad\":\"%s\"", pad);
  t = craft(SIG_HMAC, in_dir("hs.key"), hs_header, payload_with(extra));
  assert_true(strlen(t) <= FLEET_AUTH_TOKEN_MAX);
  expect_ok(v, t);
  free(t);
  free(pad);
  free(huge);
  /* The token need not be NUL-terminated: only `len` bytes count. */
  size_t gl = strlen(good);
  char *unterminated = malloc(gl + 8);
  assert_non_null(unterminated);
  memcpy(unterminated, good, gl);
  memcpy(unterminated + gl, "garbage!", 8);
  fleet_auth_claims_t *ok = NULL;
  assert_int_equal(fleet_auth_verify_at(&ok, v, unterminated, gl, FLEET_AUTH_TOKEN_ACCESS, NOW), 0);
  fleet_auth_claims_free(ok);
  free(unterminated);
  free(good);
  fleet_auth_verifier_free(v);
}

static void test_signatures_and_algorithms(void **state)
{
  (void)state;
  fleet_auth_verifier_t *v = std_verifier();
  const char *p = payload_with("");

  /* Good tokens of each algorithm, signed by openssl, not by libjwt. */
  char *hs = craft(SIG_HMAC, in_dir("hs.key"), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p);
  char *rs = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p);
  char *es = craft(SIG_EC, in_dir("ec1.pem"), "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", p);
  expect_ok(v, hs);
  fleet_auth_claims_t *c = expect_ok_at(v, rs, FLEET_AUTH_TOKEN_ACCESS, NOW);
  assert_string_equal(fleet_auth_claims_key_id(c), "rsa1");
  fleet_auth_claims_free(c);
  expect_ok(v, es);
  /* Without kid the keys of the header's algorithm are tried. */
  char *rs_nokid = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\"}", p);
  expect_ok(v, rs_nokid);
  free(rs_nokid);

  /* Bad signatures: a changed signature byte, a changed payload, a signature
   * from another key, an empty signature. */
  char bad[4096];
  snprintf(bad, sizeof bad, "%s", hs);
  char *sig = strrchr(bad, '.') + 5;
  *sig = *sig == 'A' ? 'B' : 'A';
  expect_refused(v, bad, "signature invalid (tried 1 HS256 key)");
  snprintf(bad, sizeof bad, "%s", rs);
  sig = strrchr(bad, '.') + 10;
  *sig = *sig == 'A' ? 'B' : 'A';
  expect_refused(v, bad, "signature invalid (RS256 key kid=rsa1)");
  /* The admin role pasted into a viewer's token. */
  char *admin = craft(SIG_NONE, NULL, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                      "{\"sub\":\"alice\",\"role\":\"admin\",\"vehicles\":\"*\",\"exp\":9999999999}");
  snprintf(bad, sizeof bad, "%.*s%s", (int)(strrchr(admin, '.') - admin), admin, strrchr(hs, '.'));
  expect_refused(v, bad, "signature invalid");
  free(admin);
  char *rs_by_2 = craft(SIG_RSA, in_dir("rsa2.pem"), "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p);
  expect_refused(v, rs_by_2, "signature invalid (RS256 key kid=rsa1)");
  free(rs_by_2);
  char *es_by_other = craft(SIG_EC, in_dir("ec384.pem"), "{\"alg\":\"ES256\"}", p);
  expect_refused(v, es_by_other, "signature invalid");
  free(es_by_other);
  char *unsigned_hs = craft(SIG_NONE, NULL, "{\"alg\":\"HS256\"}", p);
  expect_refused(v, unsigned_hs, "signature missing");
  free(unsigned_hs);

  /* alg none, with and without signature, in any case. */
  static const char *const nones[] = {"none", "None", "NONE", "nOnE"};
  for (size_t i = 0; i < 4; i++) {
    char h[64];
    snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", nones[i]);
    char *t = craft(SIG_NONE, NULL, h, p);
    expect_refused(v, t, "alg 'none' is never accepted");
    free(t);
    t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
    expect_refused(v, t, "alg 'none' is never accepted");
    free(t);
  }
  /* Other algorithms, other spellings, missing or odd alg. */
  static const struct {
    const char *header;
    const char *needle;
  } algs[] = {
      {"{\"alg\":\"HS512\"}", "algorithm 'HS512' is not accepted"},
      {"{\"alg\":\"hs256\"}", "algorithm 'hs256' is not accepted"},
      {"{\"alg\":\"PS256\"}", "algorithm 'PS256' is not accepted"},
      {"{\"alg\":\"HS256\\u0000\"}", "header is not a JSON object"},
      {"{\"alg\":256}", "alg is not a string"},
      {"{\"typ\":\"JWT\"}", "alg is missing"},
      {"{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", "typ 'JOSE' is not \"JWT\""},
      {"{\"alg\":\"HS256\",\"typ\":1}", "typ (not a string)"},
      {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "crit extensions are not supported"},
      {"{\"alg\":\"HS256\",\"kid\":7}", "kid is not a string"},
  };
  for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
    char *t = craft(SIG_HMAC, in_dir("hs.key"), algs[i].header, p);
    expect_refused(v, t, algs[i].needle);
    free(t);
  }
  /* typ is optional and case-insensitive ("jwt"). */
  char *t = craft(SIG_HMAC, in_dir("hs.key"), "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", p);
  expect_ok(v, t);
  free(t);
  free(hs);
  free(rs);
  free(es);
  fleet_auth_verifier_free(v);
}

static void test_algorithm_confusion(void **state)
{
  (void)state;
  const char *p = payload_with("");
  /* The classic attack: HS256 "signed" with the server's public key PEM. */
  char *hs_rsa = craft(SIG_HMAC, in_dir("rsa1.pub"), "{\"alg\":\"HS256\"}", p);
  char *hs_rsa_kid = craft(SIG_HMAC, in_dir("rsa1.pub"), "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", p);
  char *hs_ec = craft(SIG_HMAC, in_dir("ec1.pub"), "{\"alg\":\"HS256\"}", p);
  char *hs_ec_kid = craft(SIG_HMAC, in_dir("ec1.pub"), "{\"alg\":\"HS256\",\"kid\":\"ec1\"}", p);

  /* Only public keys configured: no HS256 key to try at all. */
  fleet_auth_verifier_t *v = verifier_with(NULL, NULL);
  add_file_key(v, FLEET_AUTH_ALG_RS256, "rsa1", "rsa1.pub");
  add_file_key(v, FLEET_AUTH_ALG_ES256, "ec1", "ec1.pub");
  expect_refused(v, hs_rsa, "no HS256 key in the key set");
  expect_refused(v, hs_ec, "no HS256 key in the key set");
  expect_refused(v, hs_rsa_kid, "algorithm HS256 not allowed for key kid=rsa1 (pinned to RS256)");
  expect_refused(v, hs_ec_kid, "algorithm HS256 not allowed for key kid=ec1 (pinned to ES256)");
  /* Public keys without kid: same. */
  fleet_auth_verifier_t *v2 = verifier_with(NULL, NULL);
  add_file_key(v2, FLEET_AUTH_ALG_RS256, NULL, "rsa1.pub");
  expect_refused(v2, hs_rsa, "no HS256 key in the key set");
  /* With an HS256 secret beside them, only the secret is tried. */
  fleet_auth_verifier_t *v3 = std_verifier();
  expect_refused(v3, hs_rsa, "signature invalid (tried 1 HS256 key)");
  expect_refused(v3, hs_ec, "signature invalid (tried 1 HS256 key)");

  /* kid naming a key of another algorithm: ES256 header, RS256 key, and back. */
  char *es_as_rsa = craft(SIG_EC, in_dir("ec1.pem"), "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", p);
  expect_refused(v, es_as_rsa, "algorithm ES256 not allowed for key kid=rsa1");
  char *rs_as_ec = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\",\"kid\":\"ec1\"}", p);
  expect_refused(v, rs_as_ec, "algorithm RS256 not allowed for key kid=ec1");
  char *unknown = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\",\"kid\":\"rsa9\"}", p);
  expect_refused(v, unknown, "unknown kid 'rsa9'");
  /* A hostile kid is quoted, not copied raw into the log line. */
  char *evil = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\",\"kid\":\"x\\n[ok] y\"}", p);
  expect_refused(v, evil, "unknown kid 'x\\x0a[ok] y'");
  free(evil);

  free(es_as_rsa);
  free(rs_as_ec);
  free(unknown);
  free(hs_rsa);
  free(hs_rsa_kid);
  free(hs_ec);
  free(hs_ec_kid);
  fleet_auth_verifier_free(v);
  fleet_auth_verifier_free(v2);
  fleet_auth_verifier_free(v3);
}

static void test_times(void **state)
{
  (void)state;
  fleet_auth_verifier_t *v = std_verifier();
  const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  char p[512];
  /* exp = NOW: refused from NOW + 30 (leeway) on. */
  snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":%" PRId64 "}", NOW);
  char *t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
  fleet_auth_claims_free(expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW + 29));
  expect_refused_at(v, t, strlen(t), FLEET_AUTH_TOKEN_ACCESS, NOW + 30,
                    "token expired at 2026-05-28T20:26:40Z (now 2026-05-28T20:27:10Z, leeway 30 s)");
  free(t);
  /* nbf = NOW + 100: valid from NOW + 70. */
  snprintf(p, sizeof p,
           "{\"sub\":\"a\",\"role\":\"viewer\",\"nbf\":%" PRId64 ",\"exp\":%" PRId64 "}",
           NOW + 100, NOW + 1000);
  t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
  expect_refused_at(v, t, strlen(t), FLEET_AUTH_TOKEN_ACCESS, NOW + 69,
                    "token not valid before 2026-05-28T20:28:20Z");
  fleet_auth_claims_free(expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW + 70));
  free(t);
  /* iat in the future beyond the leeway. */
  snprintf(p, sizeof p,
           "{\"sub\":\"a\",\"role\":\"viewer\",\"iat\":%" PRId64 ",\"exp\":%" PRId64 "}",
           NOW + 31, NOW + 1000);
  t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
  expect_refused(v, t, "token issued in the future");
  fleet_auth_claims_free(expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW + 1));
  free(t);
  /* Fractional NumericDates round to the stricter side. */
  snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":%" PRId64 ".9}", NOW - 30);
  t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
  expect_refused(v, t, "token expired");
  free(t);

  static const struct {
    const char *payload;
    const char *needle;
  } bad[] = {
      {"{\"sub\":\"a\",\"role\":\"viewer\"}", "exp: missing"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":\"2030-01-01\"}", "exp: not a number"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":1e300}", "exp: 1.0000000000000001e+300 is out "
                                                          "of range"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":-5}", "exp: -5 is out of range"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":9999999999,\"nbf\":null}", "nbf: not a number"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":9999999999,\"iat\":true}", "iat: not a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = craft(SIG_HMAC, in_dir("hs.key"), h, bad[i].payload);
    expect_refused(v, t, bad[i].needle);
    free(t);
  }
  /* Leeway 0 is exact; leeway is configurable. */
  fleet_auth_verifier_options_t o = FLEET_AUTH_VERIFIER_OPTIONS_INIT;
  o.leeway_s = 0;
  fleet_auth_verifier_t *strict = NULL;
  assert_int_equal(fleet_auth_verifier_new(&strict, &o), 0);
  assert_int_equal(fleet_auth_verifier_add_key(strict, FLEET_AUTH_ALG_HS256, NULL, HS_SECRET,
                                               strlen(HS_SECRET)),
                   0);
  snprintf(p, sizeof p, "{\"sub\":\"a\",\"role\":\"viewer\",\"exp\":%" PRId64 "}", NOW);
  t = craft(SIG_HMAC, in_dir("hs.key"), h, p);
  fleet_auth_claims_free(expect_ok_at(strict, t, FLEET_AUTH_TOKEN_ACCESS, NOW - 1));
  expect_refused_at(strict, t, strlen(t), FLEET_AUTH_TOKEN_ACCESS, NOW, "leeway 0 s");
  free(t);
  fleet_auth_verifier_free(strict);
  fleet_auth_verifier_free(v);
}

static void test_issuer_audience_and_claims(void **state)
{
  (void)state;
  fleet_auth_verifier_t *v = verifier_with("https://fleet.example", "fleet-api");
  assert_int_equal(
      fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, HS_SECRET, strlen(HS_SECRET)), 0);
  const char *h = "{\"alg\":\"HS256\"}";
  static const struct {
    const char *extra;
    const char *needle; /* NULL: accepted */
  } cases[] = {
      {",\"iss\":\"https://fleet.example\",\"aud\":\"fleet-api\"", NULL},
      {",\"iss\":\"https://fleet.example\",\"aud\":[\"other\",\"fleet-api\"]", NULL},
      {",\"iss\":\"https://evil.example\",\"aud\":\"fleet-api\"",
       "iss: 'https://evil.example' is not the expected issuer 'https://fleet.example'"},
      {",\"aud\":\"fleet-api\"", "iss: missing"},
      {",\"iss\":7,\"aud\":\"fleet-api\"", "iss: not a string"},
      {",\"iss\":\"https://fleet.example\",\"aud\":\"billing\"",
       "aud: token is for 'billing', not 'fleet-api'"},
      {",\"iss\":\"https://fleet.example\",\"aud\":[\"billing\",\"crm\"]",
       "aud: 'fleet-api' is not among the token's 2 audiences"},
      {",\"iss\":\"https://fleet.example\",\"aud\":[]", "not among the token's 0 audiences"},
      {",\"iss\":\"https://fleet.example\",\"aud\":[1]", "aud[0]: not a string"},
      {",\"iss\":\"https://fleet.example\",\"aud\":{}", "aud: neither a string nor an array"},
      {",\"iss\":\"https://fleet.example\"", "aud: missing (expected 'fleet-api')"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *t = craft(SIG_HMAC, in_dir("hs.key"), h, payload_with(cases[i].extra));
    if (cases[i].needle) {
      expect_refused(v, t, cases[i].needle);
    } else {
      fleet_auth_claims_t *c = expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW);
      assert_string_equal(fleet_auth_claims_issuer(c), "https://fleet.example");
      fleet_auth_claims_free(c);
    }
    free(t);
  }
  fleet_auth_verifier_free(v);

  /* Subject, role, type, vehicles, jti. */
  v = std_verifier();
  static const struct {
    const char *payload;
    const char *needle;
  } bad[] = {
      {"{\"role\":\"viewer\",\"exp\":9999999999}", "sub: missing"},
      {"{\"sub\":\"\",\"role\":\"viewer\",\"exp\":9999999999}", "sub: '' is not"},
      {"{\"sub\":[\"a\"],\"role\":\"viewer\",\"exp\":9999999999}", "sub: not a string"},
      {"{\"sub\":\"a\",\"exp\":9999999999}", "role: missing"},
      {"{\"sub\":\"a\",\"role\":\"root\",\"exp\":9999999999}", "role: 'root' is not viewer or admin"},
      {"{\"sub\":\"a\",\"role\":\"Admin\",\"exp\":9999999999}", "role: 'Admin'"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"tt\":\"id\",\"exp\":9999999999}",
       "tt: 'id' is not access or refresh"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"tt\":\"refresh\",\"exp\":9999999999}",
       "refresh token presented where an access token is required"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"vehicles\":\"v-1\",\"exp\":9999999999}",
       "vehicles: a string other than \"*\""},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"vehicles\":[\"ok\",\"no/pe\"],\"exp\":9999999999}",
       "vehicles: 'no/pe' is not a vehicle id"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"vehicles\":[3],\"exp\":9999999999}",
       "vehicles[0]: not a string"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"vehicles\":{},\"exp\":9999999999}",
       "vehicles: neither \"*\" nor an array"},
      {"{\"sub\":\"a\",\"role\":\"viewer\",\"jti\":\"\",\"exp\":9999999999}", "jti: '' is not"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *t = craft(SIG_HMAC, in_dir("hs.key"), h, bad[i].payload);
    expect_refused(v, t, bad[i].needle);
    free(t);
  }
  /* An access token is refused where a refresh token is required; a token
   * without tt is an access token (an identity provider's). */
  char *t = craft(SIG_HMAC, in_dir("hs.key"), h,
                  "{\"sub\":\"svc\",\"role\":\"admin\",\"vehicles\":\"*\",\"exp\":9999999999}");
  expect_refused_at(v, t, strlen(t), FLEET_AUTH_TOKEN_REFRESH, NOW,
                    "access token presented where a refresh token is required");
  fleet_auth_claims_t *c = expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW);
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_ADMIN);
  assert_true(fleet_auth_claims_allows(c, "any-vehicle"));
  assert_string_equal(fleet_auth_claims_token_id(c), "");
  assert_string_equal(fleet_auth_claims_key_id(c), "");
  fleet_auth_claims_free(c);
  free(t);
  /* No vehicles claim: no vehicle at all. */
  t = craft(SIG_HMAC, in_dir("hs.key"), h, "{\"sub\":\"v\",\"role\":\"viewer\",\"exp\":9999999999}");
  c = expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW);
  assert_false(fleet_auth_claims_all_vehicles(c));
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 0);
  assert_false(fleet_auth_claims_allows(c, "v-1"));
  fleet_auth_claims_free(c);
  free(t);
  /* A viewer's list. */
  t = craft(SIG_HMAC, in_dir("hs.key"), h,
            "{\"sub\":\"v\",\"role\":\"viewer\",\"vehicles\":[\"v-2\",\"v-1\"],\"jti\":\"abc\","
            "\"iat\":1779999990,\"exp\":9999999999}");
  c = expect_ok_at(v, t, FLEET_AUTH_TOKEN_ACCESS, NOW);
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_VIEWER);
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 2);
  assert_true(fleet_auth_claims_allows(c, "v-1"));
  assert_true(fleet_auth_claims_allows(c, "v-2"));
  assert_false(fleet_auth_claims_allows(c, "v-3"));
  assert_string_equal(fleet_auth_claims_token_id(c), "abc");
  assert_int_equal(fleet_auth_claims_issued_at(c), 1779999990);
  assert_int_equal(fleet_auth_claims_expires(c), 9999999999);
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_auth_claims_to_json(&b, c), 0);
  assert_string_equal(b.ptr, "{\"sub\":\"v\",\"role\":\"viewer\",\"vehicles\":[\"v-1\",\"v-2\"],"
                             "\"tt\":\"access\",\"jti\":\"abc\",\"iat\":1779999990,"
                             "\"exp\":9999999999}");
  fleet_buf_dispose(&b);
  fleet_auth_claims_free(c);
  free(t);
  fleet_auth_verifier_free(v);
}

/* ---- signer ---------------------------------------------------------------- */

static fleet_auth_signer_t *signer_from_file(fleet_auth_alg_t alg, const char *file,
                                             const char *kid)
{
  size_t n;
  unsigned char *key = slurp(in_dir(file), &n);
  fleet_auth_signer_options_t o = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  o.alg = alg;
  o.key = key;
  o.key_len = n;
  o.kid = kid;
  fleet_auth_signer_t *s = NULL;
  int rc = fleet_auth_signer_new(&s, &o);
  if (rc)
    print_message("signer %s: %s\n", file, fleet_error_last());
  assert_int_equal(rc, 0);
  free(key);
  return s;
}

static void test_signer(void **state)
{
  (void)state;
  fleet_auth_signer_options_t o;
  assert_int_equal(fleet_auth_signer_options_init(&o, FLEET_AUTH_SIGNER_OPTIONS_VERSION), 0);
  assert_int_equal(o.access_ttl_s, 900);
  assert_int_equal(o.refresh_ttl_s, 604800);
  fleet_auth_signer_t *s = NULL;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL); /* no key */
  o.key = "too short";
  o.key_len = 9;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "too weak"));
  o.key = HS_SECRET;
  o.key_len = strlen(HS_SECRET);
  o.access_ttl_s = 0;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL);
  o.access_ttl_s = 900;
  o.kid = "a b";
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL);
  o.kid = NULL;
  o.version = 9;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EVERSION);
  o.version = FLEET_AUTH_SIGNER_OPTIONS_VERSION;
  /* RS256/ES256 need a private key of that very type. */
  size_t n;
  unsigned char *pub = slurp(in_dir("rsa1.pub"), &n);
  o.alg = FLEET_AUTH_ALG_RS256;
  o.key = pub;
  o.key_len = n;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "needs a PEM private key"));
  free(pub);
  unsigned char *ec = slurp(in_dir("ec1.pem"), &n);
  o.key = ec;
  o.key_len = n;
  assert_int_equal(fleet_auth_signer_new(&s, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "could not sign with this RS256 key"));
  free(ec);
  assert_null(s);

  /* HS256 round trip with iss/aud and both token types. */
  o = (fleet_auth_signer_options_t)FLEET_AUTH_SIGNER_OPTIONS_INIT;
  o.key = HS_SECRET;
  o.key_len = strlen(HS_SECRET);
  o.issuer = "fleetd";
  o.audience = "fleet";
  o.access_ttl_s = 120;
  assert_int_equal(fleet_auth_signer_new(&s, &o), 0);
  assert_int_equal(fleet_auth_signer_ttl(s, FLEET_AUTH_TOKEN_ACCESS), 120);
  assert_int_equal(fleet_auth_signer_ttl(s, FLEET_AUTH_TOKEN_REFRESH), 604800);
  fleet_auth_claims_t *who;
  assert_int_equal(fleet_auth_claims_new(&who, "bob", FLEET_AUTH_ROLE_VIEWER), 0);
  assert_int_equal(fleet_auth_claims_set_vehicles(who, "v-7,v-3"), 0);
  char *tok = NULL;
  int64_t exp = 0;
  int64_t before = (int64_t)time(NULL);
  assert_int_equal(fleet_auth_signer_issue(&tok, &exp, s, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);
  assert_true(exp >= before + 120 && exp <= (int64_t)time(NULL) + 120);
  fleet_auth_verifier_t *v = verifier_with("fleetd", "fleet");
  assert_int_equal(
      fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, NULL, HS_SECRET, strlen(HS_SECRET)), 0);
  fleet_auth_claims_t *c = NULL;
  assert_int_equal(fleet_auth_verify(&c, v, tok, strlen(tok), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_subject(c), "bob");
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_VIEWER);
  assert_int_equal(fleet_auth_claims_type(c), FLEET_AUTH_TOKEN_ACCESS);
  assert_int_equal(fleet_auth_claims_expires(c), exp);
  assert_int_equal(fleet_auth_claims_expires(c) - fleet_auth_claims_issued_at(c), 120);
  assert_int_equal(strlen(fleet_auth_claims_token_id(c)), 22);
  assert_string_equal(fleet_auth_claims_issuer(c), "fleetd");
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 2);
  assert_true(fleet_auth_claims_allows(c, "v-3"));
  assert_false(fleet_auth_claims_allows(c, "v-4"));
  char jti1[64];
  snprintf(jti1, sizeof jti1, "%s", fleet_auth_claims_token_id(c));
  fleet_auth_claims_free(c);
  /* The access token is no refresh token, and is dead after its ttl + leeway. */
  expect_refused_at(v, tok, strlen(tok), FLEET_AUTH_TOKEN_REFRESH, before,
                    "access token presented where a refresh token is required");
  expect_refused_at(v, tok, strlen(tok), FLEET_AUTH_TOKEN_ACCESS, exp + 30, "token expired");
  free(tok);
  assert_int_equal(fleet_auth_signer_issue(&tok, &exp, s, who, FLEET_AUTH_TOKEN_REFRESH, 0), 0);
  c = expect_ok_at(v, tok, FLEET_AUTH_TOKEN_REFRESH, before);
  assert_int_equal(fleet_auth_claims_type(c), FLEET_AUTH_TOKEN_REFRESH);
  assert_int_equal(fleet_auth_claims_expires(c) - fleet_auth_claims_issued_at(c), 604800);
  assert_string_not_equal(fleet_auth_claims_token_id(c), jti1);
  fleet_auth_claims_free(c);
  expect_refused_at(v, tok, strlen(tok), FLEET_AUTH_TOKEN_ACCESS, before,
                    "refresh token presented where an access token is required");
  free(tok);
  /* Explicit ttl; bad ttl and type. */
  assert_int_equal(fleet_auth_signer_issue(&tok, &exp, s, who, FLEET_AUTH_TOKEN_ACCESS, 5), 0);
  c = expect_ok_at(v, tok, FLEET_AUTH_TOKEN_ACCESS, before);
  assert_int_equal(fleet_auth_claims_expires(c) - fleet_auth_claims_issued_at(c), 5);
  fleet_auth_claims_free(c);
  free(tok);
  assert_int_equal(fleet_auth_signer_issue(&tok, NULL, s, who, FLEET_AUTH_TOKEN_ACCESS, -1),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_signer_issue(&tok, NULL, s, who, FLEET_AUTH_TOKEN_ACCESS,
                                           FLEET_AUTH_TTL_MAX + 1),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_signer_issue(&tok, NULL, s, who, (fleet_auth_token_type_t)0, 0),
                   FLEET_EINVAL);
  assert_null(tok);
  /* Too many long ids to fit in 8 KiB. */
  fleet_buf_t many = FLEET_BUF_INIT;
  for (int i = 0; i < 200; i++)
    fleet_buf__printf(&many, "%svehicle-with-a-rather-long-identifier-%04d", i ? "," : "", i);
  assert_int_equal(fleet_auth_claims_set_vehicles(who, many.ptr), 0);
  assert_int_equal(fleet_auth_signer_issue(&tok, NULL, s, who, FLEET_AUTH_TOKEN_ACCESS, 0),
                   FLEET_ETOOBIG);
  fleet_buf_dispose(&many);
  fleet_auth_claims_free(who);
  fleet_auth_verifier_free(v);
  fleet_auth_signer_free(s);
  fleet_auth_signer_free(NULL);
}

static void test_signer_pem_and_interop(void **state)
{
  (void)state;
  fleet_auth_claims_t *who;
  assert_int_equal(fleet_auth_claims_new(&who, "carol", FLEET_AUTH_ROLE_ADMIN), 0);
  assert_int_equal(fleet_auth_claims_set_vehicles(who, "*"), 0);
  fleet_auth_verifier_t *v = std_verifier();

  fleet_auth_signer_t *rs = signer_from_file(FLEET_AUTH_ALG_RS256, "rsa1.pem", "rsa1");
  fleet_auth_signer_t *es = signer_from_file(FLEET_AUTH_ALG_ES256, "ec1.pem", "ec1");
  char *t_rs, *t_es;
  assert_int_equal(fleet_auth_signer_issue(&t_rs, NULL, rs, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);
  assert_int_equal(fleet_auth_signer_issue(&t_es, NULL, es, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);
  fleet_auth_claims_t *c = NULL;
  assert_int_equal(fleet_auth_verify(&c, v, t_rs, strlen(t_rs), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_key_id(c), "rsa1");
  assert_true(fleet_auth_claims_all_vehicles(c));
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_ADMIN);
  fleet_auth_claims_free(c);
  assert_int_equal(fleet_auth_verify(&c, v, t_es, strlen(t_es), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_key_id(c), "ec1");
  fleet_auth_claims_free(c);

  /* The header libjwt wrote carries typ, alg and kid. */
  unsigned char hdr[256];
  size_t hn = b64u_dec(hdr, t_es, (size_t)(strchr(t_es, '.') - t_es));
  hdr[hn] = 0;
  json_t *h = json_loads((const char *)hdr, 0, NULL);
  assert_non_null(h);
  assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
  assert_string_equal(json_string_value(json_object_get(h, "kid")), "ec1");
  assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
  json_decref(h);

  /* Other implementations accept what we sign: openssl checks both signatures
   * (ES256 as the 64-byte r||s of RFC 7518, not DER). */
  assert_true(openssl_verifies(t_rs, SIG_RSA, in_dir("rsa1.pub")));
  assert_true(openssl_verifies(t_es, SIG_EC, in_dir("ec1.pub")));
  assert_false(openssl_verifies(t_rs, SIG_RSA, in_dir("rsa2.pub")));

  free(t_rs);
  free(t_es);
  fleet_auth_signer_free(rs);
  fleet_auth_signer_free(es);
  fleet_auth_claims_free(who);
  fleet_auth_verifier_free(v);
}

static void test_key_rotation(void **state)
{
  (void)state;
  fleet_auth_claims_t *who;
  assert_int_equal(fleet_auth_claims_new(&who, "dave", FLEET_AUTH_ROLE_VIEWER), 0);
  fleet_auth_signer_t *old = signer_from_file(FLEET_AUTH_ALG_RS256, "rsa1.pem", "2025");
  fleet_auth_signer_t *new = signer_from_file(FLEET_AUTH_ALG_RS256, "rsa2.pem", "2026");
  fleet_auth_signer_t *nokid = signer_from_file(FLEET_AUTH_ALG_RS256, "rsa2.pem", NULL);
  char *t_old, *t_new, *t_nokid;
  assert_int_equal(fleet_auth_signer_issue(&t_old, NULL, old, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);
  assert_int_equal(fleet_auth_signer_issue(&t_new, NULL, new, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);
  assert_int_equal(
      fleet_auth_signer_issue(&t_nokid, NULL, nokid, who, FLEET_AUTH_TOKEN_ACCESS, 0), 0);

  /* During the rotation both keys are in the set: both tokens verify, each
   * with its own key; a kid-less token finds the right key by trying. */
  fleet_auth_verifier_t *v = verifier_with(NULL, NULL);
  add_file_key(v, FLEET_AUTH_ALG_RS256, "2025", "rsa1.pub");
  add_file_key(v, FLEET_AUTH_ALG_RS256, "2026", "rsa2.pub");
  fleet_auth_claims_t *c;
  assert_int_equal(fleet_auth_verify(&c, v, t_old, strlen(t_old), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_key_id(c), "2025");
  fleet_auth_claims_free(c);
  assert_int_equal(fleet_auth_verify(&c, v, t_new, strlen(t_new), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_key_id(c), "2026");
  fleet_auth_claims_free(c);
  assert_int_equal(fleet_auth_verify(&c, v, t_nokid, strlen(t_nokid), FLEET_AUTH_TOKEN_ACCESS),
                   0);
  assert_string_equal(fleet_auth_claims_key_id(c), "2026");
  fleet_auth_claims_free(c);
  fleet_auth_verifier_free(v);

  /* After it, the old key is gone and so are its tokens. */
  v = verifier_with(NULL, NULL);
  add_file_key(v, FLEET_AUTH_ALG_RS256, "2026", "rsa2.pub");
  expect_refused_at(v, t_old, strlen(t_old), FLEET_AUTH_TOKEN_ACCESS, (int64_t)time(NULL),
                    "unknown kid '2025'");
  assert_int_equal(fleet_auth_verify(&c, v, t_new, strlen(t_new), FLEET_AUTH_TOKEN_ACCESS), 0);
  fleet_auth_claims_free(c);
  fleet_auth_verifier_free(v);

  free(t_old);
  free(t_new);
  free(t_nokid);
  fleet_auth_signer_free(old);
  fleet_auth_signer_free(new);
  fleet_auth_signer_free(nokid);
  fleet_auth_claims_free(who);
}

/* ---- passwords, users, secret -------------------------------------------- */

static void test_passwords(void **state)
{
  (void)state;
  char *h = NULL;
  assert_int_equal(fleet_auth_password_hash(&h, "correct horse"), 0);
  assert_memory_equal(h, "$y$", 3);
  char *h2 = NULL;
  assert_int_equal(fleet_auth_password_hash(&h2, "correct horse"), 0);
  assert_string_not_equal(h, h2); /* salted */
  assert_int_equal(fleet_auth_password_check(h, "correct horse"), 0);
  assert_int_equal(fleet_auth_password_check(h2, "correct horse"), 0);
  assert_int_equal(fleet_auth_password_check(h, "correct horsE"), FLEET_EAUTH);
  assert_string_equal(fleet_error_last(), "wrong password");
  assert_int_equal(fleet_auth_password_check(h, ""), FLEET_EAUTH);
  /* Hashes of other methods (sha512crypt) still check. */
  struct crypt_data *cd = calloc(1, sizeof *cd);
  assert_non_null(cd);
  const char *sha = crypt_r("old password", "$6$saltsaltsalt$", cd);
  assert_non_null(sha);
  assert_int_equal(fleet_auth_password_check(sha, "old password"), 0);
  assert_int_equal(fleet_auth_password_check(sha, "old passwore"), FLEET_EAUTH);
  free(cd);
  /* Unusable stored hashes never match. */
  assert_int_equal(fleet_auth_password_check("", ""), FLEET_EAUTH);
  assert_int_equal(fleet_auth_password_check("!locked", "x"), FLEET_EAUTH);
  assert_int_equal(fleet_auth_password_check("$y$garbage", "x"), FLEET_EAUTH);
  assert_int_equal(fleet_auth_password_check(NULL, "x"), FLEET_EINVAL);
  /* Bad new passwords. */
  char *x = NULL;
  assert_int_equal(fleet_auth_password_hash(&x, ""), FLEET_EINVAL);
  assert_int_equal(fleet_auth_password_hash(&x, "two\nlines"), FLEET_EINVAL);
  assert_int_equal(fleet_auth_password_hash(&x, "cr\r"), FLEET_EINVAL);
  char big[FLEET_AUTH_PASSWORD_MAX + 2];
  memset(big, 'p', FLEET_AUTH_PASSWORD_MAX + 1);
  big[FLEET_AUTH_PASSWORD_MAX + 1] = 0;
  assert_int_equal(fleet_auth_password_hash(&x, big), FLEET_EINVAL);
  assert_int_equal(fleet_auth_password_check(x ? x : "$y$x", big), FLEET_EAUTH);
  big[FLEET_AUTH_PASSWORD_MAX] = 0;
  assert_int_equal(fleet_auth_password_hash(&x, big), 0);
  assert_int_equal(fleet_auth_password_check(x, big), 0);
  fleet_free(x);
  fleet_free(h);
  fleet_free(h2);
}

static double seconds_of_auth(const fleet_auth_users_t *u, const char *name, const char *pw)
{
  struct timespec a, b;
  fleet_auth_claims_t *c = NULL;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int rc = fleet_auth_users_authenticate(&c, u, name, pw);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_int_equal(rc, FLEET_EAUTH);
  assert_null(c);
  return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static int count_entries(const char *d)
{
  char cmd[600];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 0", d);
  int n = 0;
  for (int k = 1; k < 10; k++) {
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq %d", d, k);
    if (run(cmd) == 0)
      n = k;
  }
  return n;
}

static void test_users_file(void **state)
{
  (void)state;
  const char *sd = new_subdir();
  char path[600];
  snprintf(path, sizeof path, "%s/users.json", sd);
  fleet_auth_users_t *u = NULL;
  assert_int_equal(fleet_auth_users_open(&u, path), 0);
  assert_int_equal(fleet_auth_users_count(u), 0);
  mode_t old_mask = umask(0); /* the file must be 0600 whatever the umask */
  assert_int_equal(fleet_auth_users_add(u, "alice", "alice-pw", FLEET_AUTH_ROLE_ADMIN, NULL), 0);
  umask(old_mask);
  assert_int_equal(
      fleet_auth_users_add(u, "bob", "bob-pw", FLEET_AUTH_ROLE_VIEWER, "v-2,v-1,v-2"), 0);
  assert_int_equal(fleet_auth_users_add(u, "carl", "carl-pw", FLEET_AUTH_ROLE_VIEWER, ""), 0);
  assert_int_equal(fleet_auth_users_count(u), 3);

  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  /* Only users.json and its lock file: no temporary file left behind. */
  assert_int_equal(count_entries(sd), 2);

  /* Errors. */
  assert_int_equal(fleet_auth_users_add(u, "alice", "x", FLEET_AUTH_ROLE_ADMIN, NULL),
                   FLEET_EEXISTS);
  assert_int_equal(fleet_auth_users_add(u, "bad name", "x", FLEET_AUTH_ROLE_ADMIN, NULL),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_users_add(u, "dan", "", FLEET_AUTH_ROLE_ADMIN, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_auth_users_add(u, "dan", "a\nb", FLEET_AUTH_ROLE_ADMIN, NULL),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_users_add(u, "dan", "x", (fleet_auth_role_t)5, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_auth_users_add(u, "dan", "x", FLEET_AUTH_ROLE_ADMIN, "ok,not ok"),
                   FLEET_EINVAL);
  assert_int_equal(fleet_auth_users_set_password(u, "nobody", "x"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_auth_users_delete(u, "nobody"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_auth_users_update(u, "nobody", FLEET_AUTH_ROLE_ADMIN, "*"),
                   FLEET_ENOTFOUND);
  assert_int_equal(fleet_auth_users_count(u), 3);

  /* Round trip through the file: a second handle reads the same users. */
  fleet_auth_users_t *u2 = NULL;
  assert_int_equal(fleet_auth_users_open(&u2, path), 0);
  assert_int_equal(fleet_auth_users_count(u2), 3);
  fleet_auth_user_t *x = NULL;
  assert_int_equal(fleet_auth_users_get_at(&x, u2, 0), 0);
  assert_string_equal(fleet_auth_user_name(x), "alice");
  assert_int_equal(fleet_auth_user_role(x), FLEET_AUTH_ROLE_ADMIN);
  assert_string_equal(fleet_auth_user_vehicles(x), "*");
  int64_t now = (int64_t)time(NULL);
  assert_true(fleet_auth_user_created(x) <= now && fleet_auth_user_created(x) > now - 60);
  assert_int_equal(fleet_auth_user_updated(x), fleet_auth_user_created(x));
  fleet_auth_user_free(x);
  assert_int_equal(fleet_auth_users_get(&x, u2, "bob"), 0);
  assert_string_equal(fleet_auth_user_vehicles(x), "v-1,v-2");
  fleet_auth_claims_t *c = NULL;
  assert_int_equal(fleet_auth_user_claims(&c, x), 0);
  assert_string_equal(fleet_auth_claims_subject(c), "bob");
  assert_true(fleet_auth_claims_allows(c, "v-2"));
  assert_false(fleet_auth_claims_allows(c, "v-3"));
  fleet_auth_claims_free(c);
  fleet_auth_user_free(x);
  assert_int_equal(fleet_auth_users_get(&x, u2, "carl"), 0);
  assert_string_equal(fleet_auth_user_vehicles(x), "");
  fleet_auth_user_free(x);
  assert_int_equal(fleet_auth_users_get_at(&x, u2, 3), FLEET_ENOTFOUND);
  assert_int_equal(fleet_auth_users_get(&x, u2, "zed"), FLEET_ENOTFOUND);
  assert_null(x);

  /* The file itself: hashes, never passwords; vehicles as "*" or arrays. */
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  assert_non_null(root);
  assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
  json_t *users = json_object_get(root, "users");
  assert_int_equal(json_array_size(users), 3);
  json_t *bob = json_array_get(users, 1);
  assert_string_equal(json_string_value(json_object_get(bob, "name")), "bob");
  assert_memory_equal(json_string_value(json_object_get(bob, "hash")), "$y$", 3);
  assert_int_equal(json_array_size(json_object_get(bob, "vehicles")), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "vehicles")),
                      "*");
  json_decref(root);
  size_t flen;
  unsigned char *text = slurp(path, &flen);
  assert_null(strstr((char *)text, "bob-pw"));
  free(text);

  /* Authentication. */
  assert_int_equal(fleet_auth_users_authenticate(&c, u2, "bob", "bob-pw"), 0);
  assert_string_equal(fleet_auth_claims_subject(c), "bob");
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_VIEWER);
  assert_int_equal(fleet_auth_claims_vehicle_count(c), 2);
  fleet_auth_claims_free(c);
  assert_int_equal(fleet_auth_users_authenticate(&c, u2, "bob", "alice-pw"), FLEET_EAUTH);
  assert_string_equal(fleet_error_last(), "user 'bob': wrong password");
  assert_null(c);
  assert_int_equal(fleet_auth_users_authenticate(&c, u2, "mallory", "bob-pw"), FLEET_EAUTH);
  assert_string_equal(fleet_error_last(), "user 'mallory': unknown user");
  assert_int_equal(fleet_auth_users_authenticate(&c, u2, "BOB", "bob-pw"), FLEET_EAUTH);
  /* An unknown user costs a hash computation too: no fast path that would
   * tell which names exist (generous bound, the hash takes milliseconds). */
  double known = 1e9, unknown = 1e9;
  for (int i = 0; i < 3; i++) {
    double k = seconds_of_auth(u2, "bob", "wrong"), n = seconds_of_auth(u2, "nobody", "wrong");
    known = k < known ? k : known;
    unknown = n < unknown ? n : unknown;
  }
  if (unknown < known / 4)
    print_message("known %.6f s, unknown %.6f s\n", known, unknown);
  assert_true(unknown >= known / 4);

  /* Changes: password, role and list, deletion. */
  assert_int_equal(fleet_auth_users_set_password(u, "bob", "new-bob-pw"), 0);
  assert_int_equal(fleet_auth_users_authenticate(&c, u, "bob", "bob-pw"), FLEET_EAUTH);
  assert_int_equal(fleet_auth_users_authenticate(&c, u, "bob", "new-bob-pw"), 0);
  fleet_auth_claims_free(c);
  assert_int_equal(fleet_auth_users_update(u, "bob", FLEET_AUTH_ROLE_ADMIN, "v-9"), 0);
  assert_int_equal(fleet_auth_users_get(&x, u, "bob"), 0);
  assert_int_equal(fleet_auth_user_role(x), FLEET_AUTH_ROLE_ADMIN);
  assert_string_equal(fleet_auth_user_vehicles(x), "v-9");
  fleet_auth_user_free(x);
  assert_int_equal(fleet_auth_users_delete(u, "carl"), 0);
  assert_int_equal(fleet_auth_users_count(u), 2);
  assert_int_equal(fleet_auth_users_authenticate(&c, u, "carl", "carl-pw"), FLEET_EAUTH);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(count_entries(sd), 2);

  /* u2 still has the old list until it reloads; reload sees the change once. */
  assert_int_equal(fleet_auth_users_count(u2), 3);
  int changed = -1;
  assert_int_equal(fleet_auth_users_reload(&changed, u2), 0);
  assert_int_equal(changed, 1);
  assert_int_equal(fleet_auth_users_count(u2), 2);
  assert_int_equal(fleet_auth_users_reload(&changed, u2), 0);
  assert_int_equal(changed, 0);
  assert_int_equal(fleet_auth_users_authenticate(&c, u2, "bob", "new-bob-pw"), 0);
  fleet_auth_claims_free(c);

  /* Two handles changing the file: neither loses the other's change, because
   * each change re-reads the file under the lock. u2 has not reloaded. */
  assert_int_equal(fleet_auth_users_add(u, "erin", "erin-pw", FLEET_AUTH_ROLE_VIEWER, "*"), 0);
  assert_int_equal(fleet_auth_users_add(u2, "fay", "fay-pw", FLEET_AUTH_ROLE_VIEWER, "*"), 0);
  assert_int_equal(fleet_auth_users_count(u2), 4);
  assert_int_equal(fleet_auth_users_get(&x, u2, "erin"), 0);
  fleet_auth_user_free(x);
  assert_int_equal(fleet_auth_users_reload(&changed, u), 0);
  assert_int_equal(changed, 1);
  assert_int_equal(fleet_auth_users_count(u), 4);

  /* A damaged file: open fails precisely; reload keeps the good list. */
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"version\":1,\"users\":[{\"name\":\"x\",\"hash\":\"$y$abc\",\"role\":\"god\","
        "\"created\":\"2026-01-01T00:00:00Z\",\"updated\":\"2026-01-01T00:00:00Z\"}]}",
        f);
  fclose(f);
  fleet_auth_users_t *u3 = NULL;
  assert_int_equal(fleet_auth_users_open(&u3, path), FLEET_EPARSE);
  assert_non_null(strstr(fleet_error_last(), "users[0].role: not viewer or admin"));
  assert_int_equal(fleet_auth_users_reload(&changed, u), FLEET_EPARSE);
  assert_int_equal(fleet_auth_users_count(u), 4);
  /* ...and a change refuses to overwrite a file it cannot read. */
  assert_int_equal(fleet_auth_users_delete(u, "erin"), FLEET_EPARSE);
  static const struct {
    const char *text;
    int rc;
    const char *needle;
  } damaged[] = {
      {"not json", FLEET_EPARSE, "line 1"},
      {"[]", FLEET_EPARSE, "not a users file"},
      {"{\"version\":2,\"users\":[]}", FLEET_EVERSION, "version 2"},
      {"{\"version\":1,\"users\":[1]}", FLEET_EPARSE, "users[0]: not an object"},
      {"{\"version\":1,\"users\":[{\"name\":\"a b\"}]}", FLEET_EPARSE, "users[0].name"},
      {"{\"version\":1,\"users\":[{\"name\":\"a\",\"hash\":\"plain\"}]}", FLEET_EPARSE,
       "users[0].hash"},
      {"{\"version\":1,\"users\":[{\"name\":\"a\",\"hash\":\"$y$x\",\"role\":\"admin\","
       "\"vehicles\":[\"a,b\"]}]}",
       FLEET_EPARSE, "users[0].vehicles[0]"},
      {"{\"version\":1,\"users\":[{\"name\":\"a\",\"hash\":\"$y$x\",\"role\":\"admin\","
       "\"created\":\"yesterday\"}]}",
       FLEET_EPARSE, "users[0].created"},
      {"{\"version\":1,\"users\":[{\"name\":\"a\",\"hash\":\"$y$x\",\"role\":\"admin\","
       "\"created\":\"2026-01-01T00:00:00Z\",\"updated\":\"2026-01-01T00:00:00Z\"},"
       "{\"name\":\"a\",\"hash\":\"$y$x\",\"role\":\"admin\","
       "\"created\":\"2026-01-01T00:00:00Z\",\"updated\":\"2026-01-01T00:00:00Z\"}]}",
       FLEET_EPARSE, "user 'a' appears twice"},
  };
  for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(damaged[i].text, f);
    fclose(f);
    int rc = fleet_auth_users_open(&u3, path);
    if (rc != damaged[i].rc || !strstr(fleet_error_last(), damaged[i].needle))
      print_message("%s: rc %d '%s'\n", damaged[i].text, rc, fleet_error_last());
    assert_int_equal(rc, damaged[i].rc);
    assert_non_null(strstr(fleet_error_last(), damaged[i].needle));
    assert_null(u3);
  }
  /* The file vanishing is an empty list again. */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(fleet_auth_users_reload(&changed, u), 0);
  assert_int_equal(changed, 1);
  assert_int_equal(fleet_auth_users_count(u), 0);
  /* A directory that does not exist: open works (empty), a change fails. */
  char missing[700];
  snprintf(missing, sizeof missing, "%s/no-such-dir/users.json", sd);
  assert_int_equal(fleet_auth_users_open(&u3, missing), 0);
  assert_int_equal(fleet_auth_users_add(u3, "a", "pw", FLEET_AUTH_ROLE_VIEWER, NULL), FLEET_EIO);
  assert_int_equal(fleet_auth_users_count(u3), 0);
  fleet_auth_users_free(u3);
  fleet_auth_users_free(u);
  fleet_auth_users_free(u2);
  fleet_auth_users_free(NULL);
}

static void test_secret(void **state)
{
  (void)state;
  const char *sd = new_subdir();
  char path[600];
  snprintf(path, sizeof path, "%s/jwt.secret", sd);
  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  mode_t old_mask = umask(0);
  assert_int_equal(fleet_auth_secret_load_or_create(&a, path), 0);
  umask(old_mask);
  assert_int_equal(a.len, FLEET_AUTH_SECRET_CREATE_BYTES);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_size, FLEET_AUTH_SECRET_CREATE_BYTES);
  assert_int_equal(count_entries(sd), 1);
  /* The second call reads the same secret. */
  assert_int_equal(fleet_auth_secret_load_or_create(&b, path), 0);
  assert_int_equal(b.len, a.len);
  assert_memory_equal(a.ptr, b.ptr, a.len);
  /* Not all zero (getrandom worked). */
  size_t zeros = 0;
  for (size_t i = 0; i < a.len; i++)
    zeros += a.ptr[i] == 0;
  assert_true(zeros < a.len / 2);
  /* Refused: readable by others, too short. */
  assert_int_equal(chmod(path, 0644), 0);
  assert_int_equal(fleet_auth_secret_load_or_create(&b, path), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "chmod 600"));
  assert_int_equal(b.len, 0);
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(truncate(path, 31), 0);
  assert_int_equal(fleet_auth_secret_load_or_create(&b, path), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "31 bytes"));
  char missing[700];
  snprintf(missing, sizeof missing, "%s/none/jwt.secret", sd);
  assert_int_equal(fleet_auth_secret_load_or_create(&b, missing), FLEET_EIO);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);
}

/* ---- the bundle ----------------------------------------------------------- */

static void test_bundle(void **state)
{
  (void)state;
  const char *sd = new_subdir();
  char state_dir[600];
  snprintf(state_dir, sizeof state_dir, "%s", sd);
  fleet_auth_t *a = NULL;
  fleet_auth_options_t o;
  assert_int_equal(fleet_auth_options_init(&o, FLEET_AUTH_OPTIONS_VERSION), 0);
  o.issuer = "fleetd-test";
  assert_int_equal(fleet_auth_open(&a, state_dir, &o), 0);
  assert_int_equal(fleet_auth_verifier_key_count(fleet_auth_verifier(a)), 1);
  fleet_auth_users_t *u = fleet_auth_users(a);
  assert_int_equal(fleet_auth_users_add(u, "olga", "olga-pw", FLEET_AUTH_ROLE_ADMIN, NULL), 0);
  assert_int_equal(fleet_auth_users_add(u, "vic", "vic-pw", FLEET_AUTH_ROLE_VIEWER, "v-1"), 0);

  char *acc = (char *)1, *ref = (char *)1;
  assert_int_equal(fleet_auth_login(&acc, &ref, a, "vic", "wrong"), FLEET_EAUTH);
  assert_null(acc);
  assert_null(ref);
  assert_int_equal(fleet_auth_login(&acc, &ref, a, "ghost", "vic-pw"), FLEET_EAUTH);
  assert_int_equal(fleet_auth_login(&acc, &ref, a, "vic", "vic-pw"), 0);
  fleet_auth_claims_t *c = NULL;
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), acc, strlen(acc), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_subject(c), "vic");
  assert_string_equal(fleet_auth_claims_issuer(c), "fleetd-test");
  assert_true(fleet_auth_claims_allows(c, "v-1"));
  assert_false(fleet_auth_claims_allows(c, "v-2"));
  fleet_auth_claims_free(c);

  /* Refresh: gives the user's current role and list; needs a refresh token. */
  assert_int_equal(fleet_auth_users_update(u, "vic", FLEET_AUTH_ROLE_VIEWER, "v-1,v-2"), 0);
  char *acc2 = NULL, *ref2 = NULL;
  assert_int_equal(fleet_auth_refresh(&acc2, &ref2, a, acc, strlen(acc)), FLEET_EAUTH);
  assert_non_null(strstr(fleet_error_last(), "access token presented where a refresh token"));
  assert_null(acc2);
  assert_int_equal(fleet_auth_refresh(&acc2, &ref2, a, ref, strlen(ref)), 0);
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), acc2, strlen(acc2), FLEET_AUTH_TOKEN_ACCESS),
      0);
  assert_true(fleet_auth_claims_allows(c, "v-2"));
  fleet_auth_claims_free(c);
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), ref2, strlen(ref2), FLEET_AUTH_TOKEN_REFRESH),
      0);
  fleet_auth_claims_free(c);
  free(acc2);
  free(ref2);
  /* Without rotation only the access token comes back. */
  assert_int_equal(fleet_auth_refresh(&acc2, NULL, a, ref, strlen(ref)), 0);
  free(acc2);
  /* A deleted user cannot refresh. */
  assert_int_equal(fleet_auth_users_delete(u, "vic"), 0);
  assert_int_equal(fleet_auth_refresh(&acc2, NULL, a, ref, strlen(ref)), FLEET_EAUTH);
  assert_non_null(strstr(fleet_error_last(), "user 'vic' is not in the users file"));
  free(acc);
  free(ref);

  /* A second bundle on the same directory shares the secret: tokens cross. */
  fleet_auth_t *b = NULL;
  assert_int_equal(fleet_auth_open(&b, state_dir, &o), 0);
  assert_int_equal(fleet_auth_login(&acc, NULL, b, "olga", "olga-pw"), 0);
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), acc, strlen(acc), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_int_equal(fleet_auth_claims_role(c), FLEET_AUTH_ROLE_ADMIN);
  fleet_auth_claims_free(c);
  free(acc);
  fleet_auth_free(b);
  /* ...but a bundle with another issuer refuses them. */
  fleet_auth_options_t o2 = FLEET_AUTH_OPTIONS_INIT;
  o2.issuer = "someone-else";
  assert_int_equal(fleet_auth_open(&b, state_dir, &o2), 0);
  assert_int_equal(fleet_auth_login(&acc, NULL, a, "olga", "olga-pw"), 0);
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(b), acc, strlen(acc), FLEET_AUTH_TOKEN_ACCESS),
      FLEET_EAUTH);
  free(acc);
  fleet_auth_free(b);
  fleet_auth_free(a);

  /* Errors. */
  char missing[700];
  snprintf(missing, sizeof missing, "%s/missing", state_dir);
  assert_int_equal(fleet_auth_open(&a, missing, NULL), FLEET_EIO);
  assert_null(a);
  o2 = (fleet_auth_options_t)FLEET_AUTH_OPTIONS_INIT;
  o2.version = 7;
  assert_int_equal(fleet_auth_open(&a, state_dir, &o2), FLEET_EVERSION);
  o2.version = FLEET_AUTH_OPTIONS_VERSION;
  o2.access_ttl_s = -1;
  assert_int_equal(fleet_auth_open(&a, state_dir, &o2), FLEET_EINVAL);
  o2.access_ttl_s = 900;
  o2.signing_alg = FLEET_AUTH_ALG_RS256;
  assert_int_equal(fleet_auth_open(&a, state_dir, &o2), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "signing_key_file"));
  assert_null(a);
}

static void test_bundle_rs256(void **state)
{
  (void)state;
  const char *sd = new_subdir();
  char state_dir[600];
  snprintf(state_dir, sizeof state_dir, "%s", sd);
  fleet_auth_options_t o = FLEET_AUTH_OPTIONS_INIT;
  o.signing_alg = FLEET_AUTH_ALG_RS256;
  o.signing_key_file = in_dir("rsa2.pem");
  o.signing_public_key_file = in_dir("rsa1.pub");
  o.signing_kid = "main";
  fleet_auth_t *a = NULL;
  /* A private key and a public key that do not belong together. */
  assert_int_equal(fleet_auth_open(&a, state_dir, &o), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "are not a key pair"));
  assert_null(a);
  o.signing_public_key_file = in_dir("rsa2.pub");
  assert_int_equal(fleet_auth_open(&a, state_dir, &o), 0);
  /* No secret file is made for RS256 signing. */
  char secret[700];
  snprintf(secret, sizeof secret, "%s/jwt.secret", state_dir);
  assert_int_not_equal(access(secret, F_OK), 0);
  assert_int_equal(
      fleet_auth_users_add(fleet_auth_users(a), "ivy", "ivy-pw", FLEET_AUTH_ROLE_VIEWER, "*"), 0);
  char *acc, *ref;
  assert_int_equal(fleet_auth_login(&acc, &ref, a, "ivy", "ivy-pw"), 0);
  assert_true(openssl_verifies(acc, SIG_RSA, in_dir("rsa2.pub")));
  fleet_auth_claims_t *c;
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), acc, strlen(acc), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_key_id(c), "main");
  fleet_auth_claims_free(c);
  /* An identity provider's key added to the bundle's verifier. */
  assert_int_equal(fleet_auth_verifier_add_key_file(fleet_auth_verifier(a), FLEET_AUTH_ALG_ES256,
                                                    "idp", in_dir("ec1.pub")),
                   0);
  char p[256];
  snprintf(p, sizeof p, "{\"sub\":\"sso-user\",\"role\":\"viewer\",\"exp\":%" PRId64 "}",
           (int64_t)time(NULL) + 60);
  char *idp = craft(SIG_EC, in_dir("ec1.pem"), "{\"alg\":\"ES256\",\"kid\":\"idp\"}", p);
  assert_int_equal(
      fleet_auth_verify(&c, fleet_auth_verifier(a), idp, strlen(idp), FLEET_AUTH_TOKEN_ACCESS), 0);
  assert_string_equal(fleet_auth_claims_subject(c), "sso-user");
  fleet_auth_claims_free(c);
  free(idp);
  free(acc);
  free(ref);
  fleet_auth_free(a);
}

/* ---- threads -------------------------------------------------------------- */

typedef struct job {
  const fleet_auth_verifier_t *v;
  char *tokens[6];
  int want[6];
  int failures;
} job_t;

static void *verify_loop(void *arg)
{
  job_t *j = arg;
  for (int round = 0; round < 150; round++)
    for (int i = 0; i < 6; i++) {
      fleet_auth_claims_t *c = NULL;
      int rc = fleet_auth_verify_at(&c, j->v, j->tokens[i], strlen(j->tokens[i]),
                                    FLEET_AUTH_TOKEN_ACCESS, NOW);
      if (rc != j->want[i] || (rc == 0 && strcmp(fleet_auth_claims_subject(c), "alice")))
        j->failures++;
      fleet_auth_claims_free(c);
    }
  return NULL;
}

static void test_concurrent_verify(void **state)
{
  (void)state;
  fleet_auth_verifier_t *v = std_verifier();
  const char *p = payload_with("");
  char *hs = craft(SIG_HMAC, in_dir("hs.key"), "{\"alg\":\"HS256\"}", p);
  char *rs = craft(SIG_RSA, in_dir("rsa1.pem"), "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p);
  char *es = craft(SIG_EC, in_dir("ec1.pem"), "{\"alg\":\"ES256\"}", p);
  char *forged = craft(SIG_RSA, in_dir("rsa2.pem"), "{\"alg\":\"RS256\"}", p);
  char *confused = craft(SIG_HMAC, in_dir("rsa1.pub"), "{\"alg\":\"HS256\"}", p);
  char *none = craft(SIG_NONE, NULL, "{\"alg\":\"none\"}", p);
  enum { THREADS = 4 };
  job_t jobs[THREADS];
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) {
    jobs[t] = (job_t){v, {hs, rs, es, forged, confused, none}, {0, 0, 0, FLEET_EAUTH, FLEET_EAUTH,
                                                                FLEET_EAUTH}, 0};
    /* Rotate the order so threads hit different algorithms at once. */
    for (int k = 0; k < t; k++) {
      char *tt = jobs[t].tokens[0];
      int w = jobs[t].want[0];
      memmove(jobs[t].tokens, jobs[t].tokens + 1, 5 * sizeof(char *));
      memmove(jobs[t].want, jobs[t].want + 1, 5 * sizeof(int));
      jobs[t].tokens[5] = tt;
      jobs[t].want[5] = w;
    }
    assert_int_equal(pthread_create(&th[t], NULL, verify_loop, &jobs[t]), 0);
  }
  int failures = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    failures += jobs[t].failures;
  }
  assert_int_equal(failures, 0);
  free(hs);
  free(rs);
  free(es);
  free(forged);
  free(confused);
  free(none);
  fleet_auth_verifier_free(v);
}

typedef struct auth_job {
  fleet_auth_users_t *u;
  int failures;
} auth_job_t;

static void *auth_loop(void *arg)
{
  auth_job_t *j = arg;
  for (int i = 0; i < 4; i++) {
    fleet_auth_claims_t *c = NULL;
    if (fleet_auth_users_authenticate(&c, j->u, "tess", "tess-pw") != 0 || !c)
      j->failures++;
    fleet_auth_claims_free(c);
    int changed;
    if (fleet_auth_users_reload(&changed, j->u) != 0)
      j->failures++;
  }
  return NULL;
}

static void test_concurrent_users(void **state)
{
  (void)state;
  const char *sd = new_subdir();
  char path[600];
  snprintf(path, sizeof path, "%s/users.json", sd);
  fleet_auth_users_t *u = NULL;
  assert_int_equal(fleet_auth_users_open(&u, path), 0);
  assert_int_equal(fleet_auth_users_add(u, "tess", "tess-pw", FLEET_AUTH_ROLE_VIEWER, NULL), 0);
  auth_job_t jobs[3];
  pthread_t th[3];
  for (int t = 0; t < 3; t++) {
    jobs[t] = (auth_job_t){u, 0};
    assert_int_equal(pthread_create(&th[t], NULL, auth_loop, &jobs[t]), 0);
  }
  /* Meanwhile the main thread changes the list. */
  char name[32];
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "extra%d", i);
    assert_int_equal(fleet_auth_users_add(u, name, "pw", FLEET_AUTH_ROLE_VIEWER, NULL), 0);
  }
  int failures = 0;
  for (int t = 0; t < 3; t++) {
    pthread_join(th[t], NULL);
    failures += jobs[t].failures;
  }
  assert_int_equal(failures, 0);
  assert_int_equal(fleet_auth_users_count(u), 4);
  fleet_auth_users_free(u);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_claims),
      cmocka_unit_test(test_verifier_keys),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_signatures_and_algorithms),
      cmocka_unit_test(test_algorithm_confusion),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_issuer_audience_and_claims),
      cmocka_unit_test(test_signer),
      cmocka_unit_test(test_signer_pem_and_interop),
      cmocka_unit_test(test_key_rotation),
      cmocka_unit_test(test_passwords),
      cmocka_unit_test(test_users_file),
      cmocka_unit_test(test_secret),
      cmocka_unit_test(test_bundle),
      cmocka_unit_test(test_bundle_rs256),
      cmocka_unit_test(test_concurrent_verify),
      cmocka_unit_test(test_concurrent_users),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
