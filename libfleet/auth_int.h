/*
 * Internals shared by auth.c (tokens, claims, keys) and auth_users.c
 * (passwords, users file, server secret).
 */
#ifndef FLEET_AUTH_INT_H
#define FLEET_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fleet/auth.h"

/** Room for fleet_auth__quote(): 64 characters, each up to 4 bytes, quotes, "...". */
#define FLEET_AUTH_QUOTE_MAX 272

/**
 * Copy untrusted text into `out` for an error message: single-quoted, at most
 * 64 characters, non-printable bytes as \xNN, "..." when cut. Log lines
 * quoting a token's kid or iss cannot be forged this way.
 */
const char *fleet_auth__quote(char out[FLEET_AUTH_QUOTE_MAX], const char *s, size_t len);

/** Room for fleet_auth__time(). */
#define FLEET_AUTH_TIME_MAX 48

/** Seconds since the epoch as RFC 3339 UTC (or "N s" outside years 1678-2261). */
const char *fleet_auth__time(char out[FLEET_AUTH_TIME_MAX], int64_t s);

/**
 * Check a comma-separated vehicle list ("*", "" or "a,b") and give its
 * canonical form: "*", "" or the ids sorted, without duplicates, joined by
 * commas (malloc'ed). Returns 0, FLEET_EINVAL, FLEET_ETOOBIG or FLEET_ENOMEM.
 * `what` names the argument in messages.
 */
int fleet_auth__vehicles_canonical(char **out, const char *vehicles, const char *what);

/** Fill `buf` with `len` bytes from getrandom(). Returns 0 or FLEET_EIO. */
int fleet_auth__random(void *buf, size_t len);

/** Overwrite memory that held a secret (not optimised away). */
void fleet_auth__wipe(void *p, size_t len);

/**
 * Read a whole file of at most `max` bytes into `out` (cleared first). `what`
 * names it in messages. Returns 0, FLEET_EIO, FLEET_ETOOBIG or FLEET_ENOMEM.
 */
int fleet_auth__read_file(fleet_buf_t *out, const char *path, size_t max, const char *what);

/** As fleet_auth__read_file() from an open descriptor; `path` is for messages. */
int fleet_auth__read_fd(fleet_buf_t *out, int fd, size_t max, const char *what,
                        const char *path);

#endif /* FLEET_AUTH_INT_H */
