/*
 * bench_auth: what a token costs the gateway. For HS256, RS256 (2048-bit) and
 * ES256 (P-256): fleet_auth_verify() per token against bare libjwt
 * jwt_decode() with the right key (the baseline, measured in the same run:
 * signature only, no claim checks), and fleet_auth_signer_issue(). Then the
 * password side: hashing, a wrong password and an unknown user (which must
 * cost about the same).
 *
 *   bench_auth [verifications]     (default 20000 per algorithm)
 *
 * Keys are made with the openssl CLI in a temporary directory.
 */
#include "common_int.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fleet/auth.h"

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char dir[64];

static int sh(const char *cmd)
{
  char full[1024];
  snprintf(full, sizeof full, "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
  int st = system(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *name, size_t *len)
{
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *b = calloc(1, 65536);
  if (b)
    *len = fread(b, 1, 65535, f);
  fclose(f);
  return b;
}

typedef struct alg_case {
  const char *name;
  fleet_auth_alg_t alg;
  const char *priv; /* file, or NULL for the HS256 secret */
  const char *pub;
} alg_case_t;

static const char secret[] = "bench-only-hs256-secret-0123456789abcdef";

static int run_alg(const alg_case_t *ac, fleet_auth_verifier_t *v, long n)
{
  size_t klen = 0, plen = 0;
  char *key = ac->priv ? slurp(ac->priv, &klen) : NULL;
  char *pub = ac->pub ? slurp(ac->pub, &plen) : NULL;
  fleet_auth_signer_options_t so = FLEET_AUTH_SIGNER_OPTIONS_INIT;
  so.alg = ac->alg;
  so.key = key ? (const void *)key : (const void *)secret;
  so.key_len = key ? klen : strlen(secret);
  so.kid = ac->name;
  fleet_auth_signer_t *s = NULL;
  fleet_auth_claims_t *who = NULL;
  char *tok = NULL;
  int rc = fleet_auth_signer_new(&s, &so);
  if (rc == 0)
    rc = fleet_auth_claims_new(&who, "bench-user", FLEET_AUTH_ROLE_VIEWER);
  if (rc == 0)
    rc = fleet_auth_claims_set_vehicles(who, "v-001,v-002,v-003,v-004,v-005");
  if (rc == 0)
    rc = fleet_auth_signer_issue(&tok, NULL, s, who, FLEET_AUTH_TOKEN_ACCESS, 3600);
  if (rc) {
    fprintf(stderr, "bench_auth %s: %s\n", ac->name, fleet_error_last());
    goto done;
  }
  /* Baseline: libjwt alone, signature check only. */
  const unsigned char *vkey = pub ? (const unsigned char *)pub : (const unsigned char *)secret;
  int vlen = (int)(pub ? plen : strlen(secret));
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    jwt_t *j = NULL;
    if (jwt_decode(&j, tok, vkey, vlen) != 0) {
      fprintf(stderr, "bench_auth %s: jwt_decode failed\n", ac->name);
      rc = -1;
      goto done;
    }
    jwt_free(j);
  }
  double base = (now_s() - t0) / (double)n;
  t0 = now_s();
  size_t toklen = strlen(tok);
  for (long i = 0; i < n; i++) {
    fleet_auth_claims_t *c = NULL;
    if (fleet_auth_verify(&c, v, tok, toklen, FLEET_AUTH_TOKEN_ACCESS) != 0) {
      fprintf(stderr, "bench_auth %s: %s\n", ac->name, fleet_error_last());
      rc = -1;
      goto done;
    }
    fleet_auth_claims_free(c);
  }
  double ours = (now_s() - t0) / (double)n;
  long m = ac->alg == FLEET_AUTH_ALG_RS256 ? n / 50 + 1 : n / 5 + 1;
  t0 = now_s();
  for (long i = 0; i < m; i++) {
    char *t = NULL;
    if (fleet_auth_signer_issue(&t, NULL, s, who, FLEET_AUTH_TOKEN_ACCESS, 0) != 0) {
      rc = -1;
      goto done;
    }
    free(t);
  }
  double issue = (now_s() - t0) / (double)m;
  printf("%-6s token %4zu B  verify %8.1f us (%7.0f/s)  libjwt alone %8.1f us  overhead %+5.1f%%"
         "  issue %8.1f us (%6.0f/s)\n",
         ac->name, toklen, ours * 1e6, 1.0 / ours, base * 1e6, (ours / base - 1.0) * 100.0,
         issue * 1e6, 1.0 / issue);
done:
  free(tok);
  fleet_auth_claims_free(who);
  fleet_auth_signer_free(s);
  free(key);
  free(pub);
  return rc;
}

static double time_auth(const fleet_auth_users_t *u, const char *name, const char *pw, int reps)
{
  double best = 1e9;
  for (int i = 0; i < reps; i++) {
    fleet_auth_claims_t *c = NULL;
    double t0 = now_s();
    fleet_auth_users_authenticate(&c, u, name, pw);
    double t = now_s() - t0;
    fleet_auth_claims_free(c);
    best = t < best ? t : best;
  }
  return best;
}

int main(int argc, char **argv)
{
  long n = argc > 1 ? atol(argv[1]) : 20000;
  if (n < 1)
    n = 1;
  snprintf(dir, sizeof dir, "/tmp/bench-auth-XXXXXX");
  if (!mkdtemp(dir))
    return 1;
  int rc = 1;
  fleet_auth_verifier_t *v = NULL;
  fleet_auth_users_t *u = NULL;
  if (sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem") ||
      sh("openssl pkey -in rsa.pem -pubout -out rsa.pub") ||
      sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem") ||
      sh("openssl pkey -in ec.pem -pubout -out ec.pub")) {
    fprintf(stderr, "bench_auth: openssl failed\n");
    goto out;
  }
  static const alg_case_t cases[] = {
      {"HS256", FLEET_AUTH_ALG_HS256, NULL, NULL},
      {"RS256", FLEET_AUTH_ALG_RS256, "rsa.pem", "rsa.pub"},
      {"ES256", FLEET_AUTH_ALG_ES256, "ec.pem", "ec.pub"},
  };
  if (fleet_auth_verifier_new(&v, NULL) ||
      fleet_auth_verifier_add_key(v, FLEET_AUTH_ALG_HS256, "HS256", secret, strlen(secret))) {
    fprintf(stderr, "bench_auth: %s\n", fleet_error_last());
    goto out;
  }
  char path[128];
  snprintf(path, sizeof path, "%s/rsa.pub", dir);
  if (fleet_auth_verifier_add_key_file(v, FLEET_AUTH_ALG_RS256, "RS256", path))
    goto out;
  snprintf(path, sizeof path, "%s/ec.pub", dir);
  if (fleet_auth_verifier_add_key_file(v, FLEET_AUTH_ALG_ES256, "ES256", path))
    goto out;
  printf("bench_auth: %ld verifications per algorithm, one thread\n", n);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (run_alg(&cases[i], v, n) != 0)
      goto out;

  snprintf(path, sizeof path, "%s/users.json", dir);
  if (fleet_auth_users_open(&u, path) != 0)
    goto out;
  double t0 = now_s();
  if (fleet_auth_users_add(u, "bench", "bench-password", FLEET_AUTH_ROLE_VIEWER, NULL) != 0) {
    fprintf(stderr, "bench_auth: %s\n", fleet_error_last());
    goto out;
  }
  double add = now_s() - t0;
  double good = time_auth(u, "bench", "bench-password", 5);
  double wrong = time_auth(u, "bench", "wrong", 5);
  double unknown = time_auth(u, "nobody", "wrong", 5);
  printf("passwords (yescrypt): add user %.1f ms (hash + fsync'ed rewrite), login %.1f ms, "
         "wrong password %.1f ms, unknown user %.1f ms (best of 5)\n",
         add * 1e3, good * 1e3, wrong * 1e3, unknown * 1e3);
  rc = 0;
out:
  fleet_auth_users_free(u);
  fleet_auth_verifier_free(v);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    rc = 1;
  return rc;
}
