/*
 * auth: who may see what. JSON Web Tokens (issue and verify), password hashes
 * (crypt(3) from libxcrypt), the users file and the roles of libfleet.
 *
 * The WebSocket/REST gateway verifies a token on every upgrade and request,
 * issues tokens at its login endpoint and refreshes them; fleetctl manages
 * users. The pieces, each usable on its own:
 *
 *   fleet_auth_verifier_t  a key set (HS256 secrets, RS256 and ES256 public
 *                          keys, each with an optional `kid`) plus a policy
 *                          (leeway, issuer, audience). Turns a token into
 *                          claims or into FLEET_EAUTH with the reason.
 *   fleet_auth_signer_t    one signing key (HS256 secret, or RS256/ES256
 *                          private key) plus lifetimes: issues access and
 *                          refresh tokens from claims.
 *   fleet_auth_users_t     the users file (JSON): names, password hashes,
 *                          roles, vehicle allow-lists; authenticates.
 *   fleet_auth_claims_t    what a verified token (or a successful password
 *                          check) says: subject, role, vehicles, type, times.
 *   fleet_auth_t           the bundle a server usually wants: a state
 *                          directory with users.json and jwt.secret, a
 *                          verifier and a signer built from them, login and
 *                          refresh in one call each.
 *
 * Typical gateway use:
 *
 *     fleet_auth_options_t o = FLEET_AUTH_OPTIONS_INIT;
 *     fleet_auth_t *auth;
 *     if (fleet_auth_open(&auth, "/var/lib/fleetd", &o) != 0) ...;
 *     // optional: also accept an identity provider's tokens
 *     fleet_auth_verifier_add_key_file(fleet_auth_verifier(auth), FLEET_AUTH_ALG_RS256,
 *                                      "idp-2026", "/etc/fleetd/idp.pem");
 *     ...
 *     // login endpoint
 *     char *access, *refresh;
 *     if (fleet_auth_login(&access, &refresh, auth, user, password) != 0)
 *       -> log fleet_error_last(), answer 401 "invalid credentials"
 *     // every request / upgrade
 *     fleet_auth_claims_t *c;
 *     if (fleet_auth_verify(&c, fleet_auth_verifier(auth), token, strlen(token),
 *                           FLEET_AUTH_TOKEN_ACCESS) != 0)
 *       -> log fleet_error_last(), answer 401 without the detail
 *     if (!fleet_auth_claims_allows(c, "v-001")) -> 403
 *     if (fleet_auth_claims_role(c) != FLEET_AUTH_ROLE_ADMIN) -> 403 for writes
 *     fleet_auth_claims_free(c);
 *
 * Errors. Every refusal of a token or of credentials is FLEET_EAUTH, and
 * fleet_error_last() says exactly why ("token expired at
 * 2026-05-21T10:30:00Z (now 2026-05-21T10:31:02Z, leeway 30 s)", "signature
 * invalid", "algorithm HS256 not allowed for key kid=idp-2026", "unknown kid
 * 'x'", "alg 'none' is never accepted", "user 'bob': wrong password"). That
 * detail is for the server's log only: a client must get a bare 401, never the
 * message, so an attacker learns nothing about keys, users or clocks.
 * Misuse of the API (NULL arguments, a weak secret, a malformed PEM) gives
 * FLEET_EINVAL; file problems FLEET_EIO; a damaged users file FLEET_EPARSE.
 *
 * Token format (what fleet_auth_signer_issue() writes and the verifier reads):
 *   header  {"alg":"HS256"|"RS256"|"ES256","typ":"JWT"[,"kid":"..."]}
 *   payload {"sub":"alice","role":"admin"|"viewer",
 *            "vehicles":"*" | ["v-001","v-002"],
 *            "tt":"access"|"refresh","jti":"<22 base64url chars>",
 *            "iat":1760000000,"exp":1760000900[,"iss":"..."][,"aud":"..."]}
 * Tokens from another issuer (an identity provider) verify when they carry at
 * least `sub`, `exp` and `role`; a missing `tt` means "access"; a missing
 * `vehicles` means no vehicle at all (fail closed).
 *
 * Verification rules (fleet_auth_verify()):
 *   1. The token is at most FLEET_AUTH_TOKEN_MAX bytes (checked before any
 *      decoding), exactly three base64url segments, no padding, no spaces.
 *   2. The header is decoded by libfleet first: `alg` must be HS256, RS256 or
 *      ES256 ("none" and every other algorithm are refused, with or without a
 *      signature); `typ`, when present, must be "JWT"; `kid`, when present,
 *      must name a key of the set.
 *   3. Key choice. A header with a `kid` uses that key only, and the key's
 *      pinned algorithm must equal the header's `alg` (so an RS256 public key
 *      can never be used as an HS256 secret: no algorithm confusion). A header
 *      without `kid` is tried against every key whose pinned algorithm equals
 *      the header's `alg`, in the order they were added; the first key whose
 *      signature checks wins. Keys of another algorithm are never tried.
 *   4. The signature is always checked (libjwt is never called without a key).
 *   5. Times, with `leeway_s` (default 30 s) of tolerance for clock skew:
 *      `exp` is required and must be a number; now < exp + leeway.
 *      `nbf`, when present: now >= nbf - leeway. `iat`, when present (always,
 *      for our tokens): iat <= now + leeway (a token from the future is
 *      refused).
 *   6. `iss` must equal the configured issuer, when one is configured. `aud`
 *      (a string or an array of strings) must contain the configured audience,
 *      when one is configured; a token without `aud` is then refused.
 *   7. `sub` must be a non-empty string, `role` "viewer" or "admin", `tt`
 *      (when present) "access" or "refresh", and it must equal the type the
 *      caller expects: a refresh token is never accepted as an access token,
 *      nor the reverse. `vehicles` must be "*" or an array of valid vehicle
 *      ids (1-64 of [A-Za-z0-9._-], at most FLEET_AUTH_VEHICLES_MAX).
 *
 * Passwords are hashed with crypt_r() from libxcrypt using its preferred
 * method (yescrypt, "$y$", on Debian 12) and a salt from the kernel. Checking
 * the password of an unknown user still runs one hash computation, so the
 * time taken does not reveal which user names exist.
 *
 * Threads. Once configured (all keys added), a verifier and a signer are
 * read-only: fleet_auth_verify() and fleet_auth_signer_issue() may run from
 * any number of threads at once; adding keys must not race with them. A users
 * handle may be used from several threads at once (it has its own lock);
 * fleet_auth_users_authenticate() computes the hash outside the lock. Claims
 * and user records are plain values owned by the caller: one thread at a time.
 * fleet_auth_t follows the same rules: login, refresh and verify from any
 * thread; fleet_auth_free() and key additions alone.
 */
#ifndef FLEET_AUTH_H
#define FLEET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest token accepted by the verifier, in bytes (8 KiB). */
#define FLEET_AUTH_TOKEN_MAX 8192u
/** Shortest HS256 secret, in bytes. */
#define FLEET_AUTH_SECRET_MIN 32u
/** Longest HS256 secret or PEM key, in bytes. */
#define FLEET_AUTH_KEY_MAX 16384u
/** Longest `kid`, in bytes (printable ASCII, no quotes or backslashes). */
#define FLEET_AUTH_KID_MAX 128u
/** Longest user name, in bytes. User names are 1-64 of [A-Za-z0-9._@-]. */
#define FLEET_AUTH_USERNAME_MAX 64u
/** Longest subject (`sub`) accepted in a token, in bytes. */
#define FLEET_AUTH_SUBJECT_MAX 256u
/**
 * Longest password, in bytes. Passwords are 1-511 bytes without NUL, CR, LF
 * (libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE is 512, terminator included).
 */
#define FLEET_AUTH_PASSWORD_MAX 511u
/** Most vehicle ids in one allow-list. */
#define FLEET_AUTH_VEHICLES_MAX 1000u
/** Default clock-skew tolerance, in seconds. */
#define FLEET_AUTH_LEEWAY_DEFAULT 30u
/** Largest accepted leeway, in seconds. */
#define FLEET_AUTH_LEEWAY_MAX 3600u
/** Default lifetime of an access token, in seconds (15 minutes). */
#define FLEET_AUTH_ACCESS_TTL_DEFAULT 900
/** Default lifetime of a refresh token, in seconds (7 days). */
#define FLEET_AUTH_REFRESH_TTL_DEFAULT 604800
/** Longest lifetime accepted for any token issued here, in seconds (1 year). */
#define FLEET_AUTH_TTL_MAX 31536000
/** Bytes of a secret created by fleet_auth_secret_load_or_create(). */
#define FLEET_AUTH_SECRET_CREATE_BYTES 48u
/** File names inside a state directory (fleet_auth_open()). */
#define FLEET_AUTH_USERS_FILE "users.json"
#define FLEET_AUTH_SECRET_FILE "jwt.secret"

/** Signature algorithms. Values are stable (ABI). */
typedef enum fleet_auth_alg {
  FLEET_AUTH_ALG_HS256 = 1, /**< HMAC-SHA256 with a shared secret (>= 32 bytes) */
  FLEET_AUTH_ALG_RS256 = 2, /**< RSASSA-PKCS1-v1_5 SHA-256, PEM key */
  FLEET_AUTH_ALG_ES256 = 3  /**< ECDSA P-256 SHA-256, PEM key */
} fleet_auth_alg_t;

/** Roles. A viewer reads; an admin also changes zones, rules and users. */
typedef enum fleet_auth_role {
  FLEET_AUTH_ROLE_VIEWER = 1,
  FLEET_AUTH_ROLE_ADMIN = 2
} fleet_auth_role_t;

/** Token types (the private claim `tt`). */
typedef enum fleet_auth_token_type {
  FLEET_AUTH_TOKEN_ACCESS = 1, /**< short-lived, presented on every request */
  FLEET_AUTH_TOKEN_REFRESH = 2 /**< long-lived, only exchanged for access tokens */
} fleet_auth_token_type_t;

/** "HS256", "RS256", "ES256", or NULL for an unknown value. Static string. */
FLEET_API const char *fleet_auth_alg_name(fleet_auth_alg_t alg);

/**
 * Parse "HS256", "RS256" or "ES256" (exact case).
 * @return 0, or FLEET_EINVAL for anything else ("none" included).
 */
FLEET_API int fleet_auth_alg_parse(fleet_auth_alg_t *out, const char *name);

/** "viewer", "admin", or NULL for an unknown value. Static string. */
FLEET_API const char *fleet_auth_role_name(fleet_auth_role_t role);

/**
 * Parse "viewer" or "admin" (exact case).
 * @return 0, or FLEET_EINVAL for anything else.
 */
FLEET_API int fleet_auth_role_parse(fleet_auth_role_t *out, const char *name);

/** "access", "refresh", or NULL for an unknown value. Static string. */
FLEET_API const char *fleet_auth_token_type_name(fleet_auth_token_type_t type);

/**
 * 1 when `name` is a valid user name (1-64 bytes of [A-Za-z0-9._@-]), else 0.
 * NULL gives 0.
 */
FLEET_API int fleet_auth_username_valid(const char *name);

/* ------------------------------------------------------------------------ */
/* Claims                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * What a token or a successful password check says about its bearer (opaque
 * value with getters). Owned by whoever received it; free it with
 * fleet_auth_claims_free(). Not shared between threads without a lock.
 */
typedef struct fleet_auth_claims fleet_auth_claims_t;

/**
 * Make claims by hand (to issue a token for a service account, in tests).
 * The new claims allow no vehicle until fleet_auth_claims_set_vehicles() is
 * called; type is access, times are 0.
 *
 * @param out      receives the claims (caller owns them).
 * @param subject  1-256 bytes of printable ASCII without '"' or '\'; borrowed
 *                 (copied).
 * @param role     FLEET_AUTH_ROLE_VIEWER or FLEET_AUTH_ROLE_ADMIN.
 * @return 0, FLEET_EINVAL (NULL, bad subject or role) or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_claims_new(fleet_auth_claims_t **out, const char *subject,
                                    fleet_auth_role_t role);

/** Free claims. NULL-safe. */
FLEET_API void fleet_auth_claims_free(fleet_auth_claims_t *claims);

/**
 * Replace the vehicle allow-list.
 *
 * @param claims   the claims.
 * @param vehicles "*" for every vehicle, "" for none, or a comma-separated
 *                 list of vehicle ids ("v-001,v-002"; ids are 1-64 of
 *                 [A-Za-z0-9._-], so they never contain a comma; duplicates
 *                 are dropped; at most FLEET_AUTH_VEHICLES_MAX). Borrowed.
 * @return 0, FLEET_EINVAL (a bad id, with the id in the message; the list is
 *   then unchanged), FLEET_ETOOBIG or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_claims_set_vehicles(fleet_auth_claims_t *claims, const char *vehicles);

/** The subject (`sub`, the user name for our own tokens). Borrowed; never NULL. */
FLEET_API const char *fleet_auth_claims_subject(const fleet_auth_claims_t *claims);

/** The role. */
FLEET_API fleet_auth_role_t fleet_auth_claims_role(const fleet_auth_claims_t *claims);

/** The token type (access for claims that did not come from a token). */
FLEET_API fleet_auth_token_type_t fleet_auth_claims_type(const fleet_auth_claims_t *claims);

/** `exp`, seconds since the epoch (0 when the claims did not come from a token). */
FLEET_API int64_t fleet_auth_claims_expires(const fleet_auth_claims_t *claims);

/** `iat`, seconds since the epoch (0 when absent). */
FLEET_API int64_t fleet_auth_claims_issued_at(const fleet_auth_claims_t *claims);

/** `jti`, the token id ("" when absent). Borrowed; never NULL. */
FLEET_API const char *fleet_auth_claims_token_id(const fleet_auth_claims_t *claims);

/** `iss` ("" when absent). Borrowed; never NULL. */
FLEET_API const char *fleet_auth_claims_issuer(const fleet_auth_claims_t *claims);

/**
 * The `kid` of the key that verified the token ("" when the key had none or
 * the claims did not come from a token). For logs. Borrowed; never NULL.
 */
FLEET_API const char *fleet_auth_claims_key_id(const fleet_auth_claims_t *claims);

/** 1 when the bearer may see every vehicle ("vehicles":"*"), else 0. */
FLEET_API int fleet_auth_claims_all_vehicles(const fleet_auth_claims_t *claims);

/** Number of ids in the allow-list (0 when all_vehicles is set). */
FLEET_API size_t fleet_auth_claims_vehicle_count(const fleet_auth_claims_t *claims);

/** The id at `index` (< vehicle_count), or NULL out of range. Borrowed. */
FLEET_API const char *fleet_auth_claims_vehicle_at(const fleet_auth_claims_t *claims,
                                                    size_t index);

/**
 * 1 when the bearer may see `vehicle_id` (all_vehicles, or the id is in the
 * list), else 0. NULL arguments give 0. O(log n).
 */
FLEET_API int fleet_auth_claims_allows(const fleet_auth_claims_t *claims, const char *vehicle_id);

/**
 * Append the claims to `buf` as one JSON object:
 * {"sub":..,"role":..,"vehicles":"*"|[..],"tt":..,"jti":..,"iat":..,"exp":..,
 *  "iss":..,"kid":..} (empty strings and zero times are left out).
 * @return 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_claims_to_json(fleet_buf_t *buf, const fleet_auth_claims_t *claims);

/* ------------------------------------------------------------------------ */
/* Verifier                                                                 */
/* ------------------------------------------------------------------------ */

/** A key set and a verification policy (opaque). */
typedef struct fleet_auth_verifier fleet_auth_verifier_t;

/**
 * Verification policy. Initialise with FLEET_AUTH_VERIFIER_OPTIONS_INIT or
 * fleet_auth_verifier_options_init(). Strings are copied by
 * fleet_auth_verifier_new().
 */
typedef struct fleet_auth_verifier_options {
  unsigned int version; /**< FLEET_AUTH_VERIFIER_OPTIONS_VERSION */
  unsigned int leeway_s; /**< clock-skew tolerance for exp/nbf/iat, 0-3600 s
                              (default FLEET_AUTH_LEEWAY_DEFAULT) */
  const char *issuer;   /**< required `iss`, or NULL: not checked */
  const char *audience; /**< `aud` must contain it, or NULL: not checked */
} fleet_auth_verifier_options_t;

#define FLEET_AUTH_VERIFIER_OPTIONS_VERSION 1
#define FLEET_AUTH_VERIFIER_OPTIONS_INIT                                        \
  {FLEET_AUTH_VERIFIER_OPTIONS_VERSION, FLEET_AUTH_LEEWAY_DEFAULT, NULL, NULL}

/**
 * Fill `opts` with the defaults of `version`.
 * @return 0, or FLEET_EINVAL (NULL or unknown version).
 */
FLEET_API int fleet_auth_verifier_options_init(fleet_auth_verifier_options_t *opts,
                                               unsigned int version);

/**
 * Create a verifier with no keys (it refuses every token until a key is added).
 *
 * @param out  receives the verifier (caller owns it; fleet_auth_verifier_free()).
 * @param opts the policy, or NULL for the defaults; borrowed.
 * @return 0, FLEET_EINVAL (leeway too large, empty issuer or audience),
 *   FLEET_EVERSION or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_verifier_new(fleet_auth_verifier_t **out,
                                      const fleet_auth_verifier_options_t *opts);

/** Free a verifier. NULL-safe. Must not race with fleet_auth_verify(). */
FLEET_API void fleet_auth_verifier_free(fleet_auth_verifier_t *verifier);

/**
 * Add a key, pinned to one algorithm.
 *
 * @param verifier the verifier (not in use by other threads during the call).
 * @param alg      FLEET_AUTH_ALG_HS256: `key` is the shared secret, at least
 *                 FLEET_AUTH_SECRET_MIN bytes (any bytes).
 *                 FLEET_AUTH_ALG_RS256 / ES256: `key` is a PEM public key
 *                 ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo) of
 *                 that type (RSA of at least 2048 bits; EC on P-256). A
 *                 private key, a certificate or a key of the other type is
 *                 refused.
 * @param kid      the key id tokens name in their header, or NULL/"" for a
 *                 key without one (then only tokens without `kid` can use
 *                 it). 1-128 bytes of printable ASCII without '"' or '\';
 *                 unique in the set. Borrowed (copied).
 * @param key      `key_len` bytes; borrowed (copied).
 * @return 0, FLEET_EINVAL (bad algorithm, short secret, malformed or
 *   mismatched PEM, bad kid), FLEET_EEXISTS (kid already used), FLEET_ETOOBIG
 *   (key over FLEET_AUTH_KEY_MAX) or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_verifier_add_key(fleet_auth_verifier_t *verifier, fleet_auth_alg_t alg,
                                          const char *kid, const void *key, size_t key_len);

/**
 * As fleet_auth_verifier_add_key() with the key read from a file (a PEM file,
 * or the raw bytes of an HS256 secret). FLEET_EIO when it cannot be read.
 */
FLEET_API int fleet_auth_verifier_add_key_file(fleet_auth_verifier_t *verifier,
                                               fleet_auth_alg_t alg, const char *kid,
                                               const char *path);

/** Number of keys in the set. */
FLEET_API size_t fleet_auth_verifier_key_count(const fleet_auth_verifier_t *verifier);

/**
 * Verify a token (see "Verification rules" at the top of this header) at the
 * current time.
 *
 * @param out      receives the claims on success (caller owns them); set to
 *                 NULL on failure.
 * @param verifier the verifier; borrowed. Any number of threads may verify
 *                 with one verifier at once.
 * @param token    `len` bytes (need not be NUL-terminated); borrowed. A
 *                 leading "Bearer " is NOT stripped: pass the token alone.
 * @param expected FLEET_AUTH_TOKEN_ACCESS or FLEET_AUTH_TOKEN_REFRESH.
 * @return 0; FLEET_EAUTH for any token that is refused (missing, oversize,
 *   malformed, forged, expired, wrong algorithm/key/issuer/audience/type...),
 *   with the reason in fleet_error_last() (for logs, not for the client);
 *   FLEET_EINVAL for NULL out/verifier or a bad `expected`; FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_verify(fleet_auth_claims_t **out, const fleet_auth_verifier_t *verifier,
                                const char *token, size_t len, fleet_auth_token_type_t expected);

/**
 * As fleet_auth_verify(), with `now` (seconds since the epoch) as the current
 * time: for tests and for checking a token at a recorded moment.
 */
FLEET_API int fleet_auth_verify_at(fleet_auth_claims_t **out,
                                   const fleet_auth_verifier_t *verifier, const char *token,
                                   size_t len, fleet_auth_token_type_t expected, int64_t now);

/* ------------------------------------------------------------------------ */
/* Signer                                                                   */
/* ------------------------------------------------------------------------ */

/** A signing key and the lifetimes of the tokens it issues (opaque). */
typedef struct fleet_auth_signer fleet_auth_signer_t;

/**
 * Signer settings. Initialise with FLEET_AUTH_SIGNER_OPTIONS_INIT or
 * fleet_auth_signer_options_init(). Everything is copied by
 * fleet_auth_signer_new().
 */
typedef struct fleet_auth_signer_options {
  unsigned int version;  /**< FLEET_AUTH_SIGNER_OPTIONS_VERSION */
  fleet_auth_alg_t alg;  /**< default FLEET_AUTH_ALG_HS256 */
  const void *key;       /**< HS256: the secret (>= 32 bytes); RS256/ES256: a
                              PEM private key of that type (PKCS#8 "BEGIN
                              PRIVATE KEY", or "BEGIN RSA/EC PRIVATE KEY") */
  size_t key_len;        /**< bytes of `key` */
  const char *kid;       /**< written to the header, or NULL/"" for none */
  const char *issuer;    /**< written as `iss`, or NULL for none */
  const char *audience;  /**< written as `aud`, or NULL for none */
  int64_t access_ttl_s;  /**< access token lifetime, 1 s - 1 year (default 900) */
  int64_t refresh_ttl_s; /**< refresh token lifetime, 1 s - 1 year (default 604800) */
} fleet_auth_signer_options_t;

#define FLEET_AUTH_SIGNER_OPTIONS_VERSION 1
#define FLEET_AUTH_SIGNER_OPTIONS_INIT                                          \
  {FLEET_AUTH_SIGNER_OPTIONS_VERSION, FLEET_AUTH_ALG_HS256, NULL, 0, NULL, NULL, NULL, \
   FLEET_AUTH_ACCESS_TTL_DEFAULT, FLEET_AUTH_REFRESH_TTL_DEFAULT}

/**
 * Fill `opts` with the defaults of `version`.
 * @return 0, or FLEET_EINVAL (NULL or unknown version).
 */
FLEET_API int fleet_auth_signer_options_init(fleet_auth_signer_options_t *opts,
                                             unsigned int version);

/**
 * Create a signer. The key is checked by signing a probe token.
 *
 * @param out  receives the signer (caller owns it; fleet_auth_signer_free()).
 * @param opts the settings; borrowed.
 * @return 0, FLEET_EINVAL (missing/short/malformed key, key of the wrong
 *   type, bad kid, ttl out of range), FLEET_EVERSION or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_signer_new(fleet_auth_signer_t **out,
                                    const fleet_auth_signer_options_t *opts);

/** Free a signer (the key memory is wiped). NULL-safe. */
FLEET_API void fleet_auth_signer_free(fleet_auth_signer_t *signer);

/** The lifetime the signer gives tokens of `type`, in seconds (0 for a bad type). */
FLEET_API int64_t fleet_auth_signer_ttl(const fleet_auth_signer_t *signer,
                                        fleet_auth_token_type_t type);

/**
 * Issue a token for the bearer described by `who` (subject, role, vehicles;
 * its type, times and jti are ignored). The token gets iat = now,
 * exp = now + ttl, a fresh random jti (16 bytes from getrandom(),
 * base64url), `tt` = type, and the signer's kid/iss/aud.
 *
 * @param out_token receives the token, NUL-terminated (caller frees it with
 *                  fleet_free()).
 * @param out_exp   receives `exp` (seconds since the epoch), or NULL.
 * @param signer    the signer; borrowed. Thread-safe.
 * @param who       the bearer; borrowed.
 * @param type      access or refresh.
 * @param ttl_s     lifetime in seconds, or 0 for the signer's default for
 *                  `type`; 1 s - FLEET_AUTH_TTL_MAX.
 * @return 0, FLEET_EINVAL (NULL, bad type or ttl), FLEET_ETOOBIG (the token
 *   would exceed FLEET_AUTH_TOKEN_MAX: too many vehicles), FLEET_EIO (no
 *   randomness), FLEET_ENOMEM or FLEET_EINTERNAL (libjwt failed).
 */
FLEET_API int fleet_auth_signer_issue(char **out_token, int64_t *out_exp,
                                      const fleet_auth_signer_t *signer,
                                      const fleet_auth_claims_t *who,
                                      fleet_auth_token_type_t type, int64_t ttl_s);

/* ------------------------------------------------------------------------ */
/* Passwords                                                                */
/* ------------------------------------------------------------------------ */

/**
 * Hash a password with libxcrypt's preferred method (yescrypt "$y$" on
 * Debian 12; "$6$" sha512crypt if yescrypt is unavailable) and a random salt.
 *
 * @param out_hash receives the crypt(3) string (caller frees with fleet_free()).
 * @param password 1-511 bytes, no CR or LF; borrowed.
 * @return 0, FLEET_EINVAL (empty, too long, CR/LF), FLEET_EIO (no
 *   randomness), FLEET_ENOMEM or FLEET_EINTERNAL (crypt failed).
 */
FLEET_API int fleet_auth_password_hash(char **out_hash, const char *password);

/**
 * Check a password against a crypt(3) hash, comparing in constant time.
 * @return 0 when it matches, FLEET_EAUTH when not (or when the hash is not a
 *   usable crypt string), FLEET_EINVAL for NULL, FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_password_check(const char *hash, const char *password);

/* ------------------------------------------------------------------------ */
/* Users file                                                               */
/* ------------------------------------------------------------------------ */

/**
 * The users file (opaque handle). A JSON document, mode 0600:
 *   {"version":1,"users":[{"name":"alice","hash":"$y$j9T$...","role":"admin",
 *     "vehicles":"*","created":"2026-05-21T10:30:00Z",
 *     "updated":"2026-05-21T10:30:00Z"}, ...]}
 * with "vehicles" either "*" or an array of vehicle ids.
 *
 * Every change (add, passwd, update, delete) is made under an exclusive
 * flock() of "<path>.lock", re-reads the file first (so changes made by
 * another process meanwhile are kept), and writes the whole file to a
 * temporary file in the same directory, fsyncs it, renames it over the old
 * one and fsyncs the directory: readers see the old or the new file, never
 * half of one.
 */
typedef struct fleet_auth_users fleet_auth_users_t;

/**
 * One user's record, copied out of the users file (opaque value; owned by the
 * caller, freed with fleet_auth_user_free()). The password hash is not exposed.
 */
typedef struct fleet_auth_user fleet_auth_user_t;

/**
 * Open a users file. A missing file is an empty user list; the first change
 * creates it (its directory must exist by then, or the change fails with
 * FLEET_EIO).
 *
 * @param out  receives the handle (caller owns it; fleet_auth_users_free()).
 * @param path the file (e.g. STATE_DIR/users.json); borrowed (copied).
 * @return 0, FLEET_EINVAL, FLEET_EIO (unreadable), FLEET_EPARSE (not a users
 *   file, with the place in the message: "users[3].role: not viewer or
 *   admin"), FLEET_EVERSION (a users file of another format version),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_users_open(fleet_auth_users_t **out, const char *path);

/** Close the handle. NULL-safe. Must not race with other calls on it. */
FLEET_API void fleet_auth_users_free(fleet_auth_users_t *users);

/**
 * Re-read the file when it changed on disk (inode, size or modification time
 * differ from what was read last); a server calls this now and then, or on
 * SIGHUP, to see users changed by fleetctl.
 *
 * @param out_changed receives 1 when the file was re-read, else 0; may be NULL.
 * @return 0, or as fleet_auth_users_open() (the old list is kept on failure).
 */
FLEET_API int fleet_auth_users_reload(int *out_changed, fleet_auth_users_t *users);

/**
 * Add a user.
 *
 * @param users    the handle.
 * @param name     valid user name (fleet_auth_username_valid()); borrowed.
 * @param password 1-511 bytes, no CR or LF; borrowed; hashed, never stored.
 * @param role     viewer or admin.
 * @param vehicles "*" or NULL for every vehicle, "" for none, or a
 *                 comma-separated list of vehicle ids; borrowed.
 * @return 0, FLEET_EEXISTS, FLEET_EINVAL (bad name, password, role or
 *   vehicles), FLEET_EIO (the file could not be written; nothing changed),
 *   FLEET_EPARSE (the file on disk is damaged), FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_users_add(fleet_auth_users_t *users, const char *name,
                                   const char *password, fleet_auth_role_t role,
                                   const char *vehicles);

/**
 * Set a user's password. Returns as fleet_auth_users_add(), FLEET_ENOTFOUND
 * for an unknown user.
 */
FLEET_API int fleet_auth_users_set_password(fleet_auth_users_t *users, const char *name,
                                            const char *password);

/**
 * Change a user's role and allow-list (`vehicles` as in fleet_auth_users_add();
 * tokens issued before keep their claims until they expire). Returns as
 * fleet_auth_users_add(), FLEET_ENOTFOUND for an unknown user.
 */
FLEET_API int fleet_auth_users_update(fleet_auth_users_t *users, const char *name,
                                      fleet_auth_role_t role, const char *vehicles);

/** Delete a user. Returns 0, FLEET_ENOTFOUND, FLEET_EIO, FLEET_EPARSE, FLEET_ENOMEM. */
FLEET_API int fleet_auth_users_delete(fleet_auth_users_t *users, const char *name);

/** Number of users (as last read or written by this handle). */
FLEET_API size_t fleet_auth_users_count(const fleet_auth_users_t *users);

/**
 * Copy the record of the user at `index` (users are kept sorted by name).
 * @return 0, FLEET_ENOTFOUND (index out of range), FLEET_EINVAL, FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_users_get_at(fleet_auth_user_t **out, const fleet_auth_users_t *users,
                                      size_t index);

/**
 * Copy the record of the user `name`.
 * @return 0, FLEET_ENOTFOUND, FLEET_EINVAL, FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_users_get(fleet_auth_user_t **out, const fleet_auth_users_t *users,
                                   const char *name);

/**
 * Check a user name and password. Unknown users cost the same hash
 * computation as known ones.
 *
 * @param out      receives the user's claims (subject = name, role,
 *                 vehicles; type access, no times), ready for
 *                 fleet_auth_signer_issue(). Caller owns them.
 * @param users    the handle; borrowed. Thread-safe.
 * @param name     borrowed.
 * @param password borrowed.
 * @return 0, FLEET_EAUTH (unknown user or wrong password: the same code, the
 *   message tells the log which), FLEET_EINVAL (NULL), FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_users_authenticate(fleet_auth_claims_t **out,
                                            const fleet_auth_users_t *users, const char *name,
                                            const char *password);

/** Free a user record. NULL-safe. */
FLEET_API void fleet_auth_user_free(fleet_auth_user_t *user);
/** The user name. Borrowed; never NULL. */
FLEET_API const char *fleet_auth_user_name(const fleet_auth_user_t *user);
/** The role. */
FLEET_API fleet_auth_role_t fleet_auth_user_role(const fleet_auth_user_t *user);
/** "*", "" (none) or the comma-separated vehicle ids. Borrowed; never NULL. */
FLEET_API const char *fleet_auth_user_vehicles(const fleet_auth_user_t *user);
/** Creation time, seconds since the epoch. */
FLEET_API int64_t fleet_auth_user_created(const fleet_auth_user_t *user);
/** Last change (password, role or vehicles), seconds since the epoch. */
FLEET_API int64_t fleet_auth_user_updated(const fleet_auth_user_t *user);
/**
 * The user's claims (subject, role, vehicles), as fleet_auth_users_authenticate()
 * would give them. Returns 0 or FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_user_claims(fleet_auth_claims_t **out, const fleet_auth_user_t *user);

/* ------------------------------------------------------------------------ */
/* Server secret                                                            */
/* ------------------------------------------------------------------------ */

/**
 * Read the HS256 server secret from `path`, creating it first when it does not
 * exist: FLEET_AUTH_SECRET_CREATE_BYTES bytes from getrandom(), written with
 * mode 0600 (temporary file, fsync, link into place, so two processes racing
 * to create it end up with the same secret). Every byte of the file is the
 * secret (a trailing newline too). Deleting the file, or replacing it,
 * invalidates every token signed with the old secret.
 *
 * @param out  receives the secret's bytes (cleared first; caller owns it and
 *             should fleet_buf_dispose() it).
 * @param path borrowed.
 * @return 0, FLEET_EIO (cannot read or create), FLEET_EINVAL (the file holds
 *   fewer than FLEET_AUTH_SECRET_MIN bytes, is not a regular file, or has any
 *   group/other permission bit set: "chmod 600 it"),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_auth_secret_load_or_create(fleet_buf_t *out, const char *path);

/* ------------------------------------------------------------------------ */
/* The bundle: a state directory                                            */
/* ------------------------------------------------------------------------ */

/** Users + secret + verifier + signer of one state directory (opaque). */
typedef struct fleet_auth fleet_auth_t;

/**
 * Settings of fleet_auth_open(). Initialise with FLEET_AUTH_OPTIONS_INIT or
 * fleet_auth_options_init(). Strings are borrowed for the call only.
 */
typedef struct fleet_auth_options {
  unsigned int version;   /**< FLEET_AUTH_OPTIONS_VERSION */
  unsigned int leeway_s;  /**< verifier leeway (default 30 s) */
  const char *issuer;     /**< written to and required in tokens, or NULL */
  const char *audience;   /**< written to and required in tokens, or NULL */
  int64_t access_ttl_s;   /**< default 900 */
  int64_t refresh_ttl_s;  /**< default 604800 */
  /**
   * Sign with a private key instead of STATE_DIR/jwt.secret: FLEET_AUTH_ALG_RS256
   * or ES256 with `signing_key_file` (PEM private key) and
   * `signing_public_key_file` (its PEM public key, added to the verifier).
   * FLEET_AUTH_ALG_HS256 (the default) uses the state directory's secret.
   */
  fleet_auth_alg_t signing_alg;
  const char *signing_key_file;        /**< RS256/ES256 only */
  const char *signing_public_key_file; /**< RS256/ES256 only */
  const char *signing_kid;             /**< kid of the signing key, or NULL */
} fleet_auth_options_t;

#define FLEET_AUTH_OPTIONS_VERSION 1
#define FLEET_AUTH_OPTIONS_INIT                                                  \
  {FLEET_AUTH_OPTIONS_VERSION, FLEET_AUTH_LEEWAY_DEFAULT, NULL, NULL,            \
   FLEET_AUTH_ACCESS_TTL_DEFAULT, FLEET_AUTH_REFRESH_TTL_DEFAULT,                \
   FLEET_AUTH_ALG_HS256, NULL, NULL, NULL}

/**
 * Fill `opts` with the defaults of `version`.
 * @return 0, or FLEET_EINVAL (NULL or unknown version).
 */
FLEET_API int fleet_auth_options_init(fleet_auth_options_t *opts, unsigned int version);

/**
 * Open the auth state of a directory: STATE_DIR/users.json (may be absent)
 * and, with HS256 signing, STATE_DIR/jwt.secret (created on first use). The
 * verifier gets the signing key (HS256 secret, or the public key), so the
 * tokens this bundle issues verify; more keys may be added to it.
 *
 * @param out       receives the bundle (caller owns it; fleet_auth_free()).
 * @param state_dir an existing directory; borrowed.
 * @param opts      settings, or NULL for the defaults; borrowed.
 * @return 0, or the errors of the parts (FLEET_EIO, FLEET_EPARSE,
 *   FLEET_EINVAL, FLEET_EVERSION, FLEET_ENOMEM).
 */
FLEET_API int fleet_auth_open(fleet_auth_t **out, const char *state_dir,
                              const fleet_auth_options_t *opts);

/** Free the bundle and its parts. NULL-safe. */
FLEET_API void fleet_auth_free(fleet_auth_t *auth);

/** The users file. Borrowed; valid until fleet_auth_free(). */
FLEET_API fleet_auth_users_t *fleet_auth_users(fleet_auth_t *auth);
/** The verifier (add identity-provider keys here). Borrowed. */
FLEET_API fleet_auth_verifier_t *fleet_auth_verifier(fleet_auth_t *auth);
/** The signer. Borrowed. */
FLEET_API fleet_auth_signer_t *fleet_auth_signer(fleet_auth_t *auth);

/**
 * Check a user name and password and issue tokens.
 *
 * @param out_access  receives an access token (fleet_free()).
 * @param out_refresh receives a refresh token (fleet_free()), or NULL for none.
 * @param auth        the bundle; thread-safe.
 * @param name, password borrowed.
 * @return 0, FLEET_EAUTH (bad credentials; reason in fleet_error_last(), for
 *   the log only), or as fleet_auth_signer_issue(). Nothing is returned on
 *   failure (outputs set to NULL).
 */
FLEET_API int fleet_auth_login(char **out_access, char **out_refresh, fleet_auth_t *auth,
                               const char *name, const char *password);

/**
 * Exchange a refresh token for a new access token. The refresh token must
 * verify as FLEET_AUTH_TOKEN_REFRESH; when its subject is a user of the users
 * file, the new token carries that user's CURRENT role and vehicles, and a
 * deleted user gets FLEET_EAUTH. Subjects unknown to the users file (tokens of
 * an identity provider) are refused too: only users of this state directory
 * can be refreshed here.
 *
 * Tokens are stateless: the old refresh token stays valid until it expires.
 * A server that wants one-time refresh tokens records the `jti` of each used
 * one (fleet_auth_verify() gives it) until its `exp`.
 *
 * @param out_access  receives the new access token (fleet_free()).
 * @param out_refresh receives a new refresh token (rotation), or NULL for none.
 * @param auth        the bundle; thread-safe.
 * @param refresh_token `len` bytes; borrowed.
 * @return 0, FLEET_EAUTH, or as fleet_auth_signer_issue().
 */
FLEET_API int fleet_auth_refresh(char **out_access, char **out_refresh, fleet_auth_t *auth,
                                 const char *refresh_token, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_AUTH_H */
