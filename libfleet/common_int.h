/*
 * Internal helpers shared by every libfleet source file. Included first in each .c.
 * Nothing here is exported (hidden visibility); public headers never include it.
 */
#ifndef FLEET_COMMON_INT_H
#define FLEET_COMMON_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleet/common.h"

#define FLEET_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#  define FLEET_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#  define FLEET_LIKELY(x) __builtin_expect(!!(x), 1)
#  define FLEET_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define FLEET_PRINTF(fmt, args)
#  define FLEET_LIKELY(x) (x)
#  define FLEET_UNLIKELY(x) (x)
#endif

/** Size of the per-thread error message buffer, terminator included. */
#define FLEET_ERROR_MAX 512

/**
 * Record `code` and a printf-style message as the calling thread's last error.
 * Returns `code`, so failures read `return fleet_error__set(FLEET_EINVAL, "...")`.
 */
int fleet_error__set(int code, const char *fmt, ...) FLEET_PRINTF(2, 3);

/** As fleet_error__set() with a va_list. */
int fleet_error__vset(int code, const char *fmt, va_list ap) FLEET_PRINTF(2, 0);

/** Record an out-of-memory failure; returns FLEET_ENOMEM. */
int fleet_error__oom(void);

/** Append one byte to a buffer (grows it). Returns 0 or FLEET_ENOMEM. */
int fleet_buf__putc(fleet_buf_t *buf, char c);

/** Append a NUL-terminated string. Returns 0 or FLEET_ENOMEM. */
int fleet_buf__puts(fleet_buf_t *buf, const char *s);

/** Append printf-style formatted text. Returns 0 or FLEET_ENOMEM. */
int fleet_buf__printf(fleet_buf_t *buf, const char *fmt, ...) FLEET_PRINTF(2, 3);

/**
 * Hand the buffer's bytes to the caller as a NUL-terminated string allocated
 * with malloc (freed by fleet_free()); the buffer is reset. Never NULL on success:
 * an empty buffer gives "". Returns 0 or FLEET_ENOMEM.
 */
int fleet_buf__detach(char **out, size_t *out_len, fleet_buf_t *buf);

#endif /* FLEET_COMMON_INT_H */
