/*
 * libfleet common definitions: the export macro, status codes, error reporting,
 * the library version, memory release and a growable byte buffer.
 *
 * Conventions used by every module (see README "Using the library"):
 * - Functions return int: 0 on success, a negative FLEET_E* code on failure.
 *   The code decides; fleet_error_last() explains ("lat: 91.2 is outside [-90, 90]").
 * - `T **out` parameters hand ownership to the caller, who frees the object with
 *   its module's free function (NULL-safe). Library strings are freed with fleet_free().
 * - A handle is used by one thread at a time unless its header says otherwise.
 */
#ifndef FLEET_COMMON_H
#define FLEET_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <fleet/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FLEET_STATIC)
#  define FLEET_API
#elif defined(__GNUC__)
#  define FLEET_API __attribute__((visibility("default")))
#else
#  define FLEET_API
#endif

/**
 * Status codes. 0 is success; failures are negative. Values are never
 * renumbered or reused (they are part of the ABI).
 */
typedef enum fleet_status {
  FLEET_OK = 0,
  FLEET_EINVAL = -1,     /**< invalid argument or misuse of the API */
  FLEET_ENOMEM = -2,     /**< out of memory */
  FLEET_EPARSE = -3,     /**< malformed input: not JSON, bad UTF-8, bad syntax */
  FLEET_ERANGE = -4,     /**< a value is outside its allowed range, or not finite */
  FLEET_ETYPE = -5,      /**< a value has the wrong type */
  FLEET_EMISSING = -6,   /**< a required field or argument is missing */
  FLEET_ETOOBIG = -7,    /**< input over a size, length, count or depth limit */
  FLEET_EVERSION = -8,   /**< unsupported format or struct version */
  FLEET_EIO = -9,        /**< file or system I/O error */
  FLEET_ENOTFOUND = -10, /**< no such object */
  FLEET_EEXISTS = -11,   /**< the object exists already */
  FLEET_EGEOMETRY = -12, /**< invalid geometry */
  FLEET_ENET = -13,      /**< network error: connection refused, reset, DNS */
  FLEET_EAUTH = -14,     /**< authentication failed: bad credentials or token */
  FLEET_EPERM = -15,     /**< authenticated but not allowed */
  FLEET_ESERVER = -16,   /**< a server answered with an error */
  FLEET_ETIMEOUT = -17,  /**< an operation timed out */
  FLEET_ECLOSED = -18,   /**< the handle is closed or shutting down */
  FLEET_EFULL = -19,     /**< a bounded queue, buffer or spool is full */
  FLEET_ECORRUPT = -20,  /**< stored data failed its integrity check */
  FLEET_ESTATE = -21,    /**< the call is not valid in the object's current state */
  FLEET_EINTERNAL = -22  /**< a bug in libfleet or a dependency; please report it */
} fleet_status_t;

/** The lowest status code defined by this version (for iteration in bindings). */
#define FLEET_STATUS_MIN FLEET_EINTERNAL

/**
 * Static, human-readable description of a status code ("invalid argument").
 * Unknown codes give "unknown error". Thread-safe; never returns NULL.
 */
FLEET_API const char *fleet_strerror(int code);

/**
 * Symbolic name of a status code ("FLEET_EINVAL"), or NULL for an unknown code.
 * Thread-safe.
 */
FLEET_API const char *fleet_status_name(int code);

/**
 * The detailed message of the last failure on the calling thread, such as
 * "lat: 91.2 is outside [-90, 90]". Never NULL ("" when nothing failed yet).
 * The string is owned by the library and valid until the next libfleet call on
 * the same thread. Every failing libfleet function sets it; successful calls
 * leave it alone (a function that succeeds with warnings says so in its header).
 */
FLEET_API const char *fleet_error_last(void);

/** The status code of the last failure on the calling thread (0 when none). */
FLEET_API int fleet_error_last_code(void);

/** Forget the calling thread's last error. */
FLEET_API void fleet_error_clear(void);

/** The version of the library loaded at run time, as FLEET_VERSION_NUMBER. */
FLEET_API int fleet_version(void);

/** The loaded library's version as "MAJOR.MINOR.PATCH" (static string). */
FLEET_API const char *fleet_version_string(void);

/** Release memory that libfleet returned to the caller (NULL-safe). */
FLEET_API void fleet_free(void *ptr);

/**
 * A growable byte buffer owned by the caller (libgit2's git_buf pattern).
 * Encoders append to it; `ptr` is NUL-terminated whenever it is non-NULL, and
 * `len` excludes the terminator. Initialise with FLEET_BUF_INIT (or zero it),
 * reuse it across calls to avoid allocation, release it with fleet_buf_dispose().
 * Not thread-safe: one buffer per thread.
 */
typedef struct fleet_buf {
  char *ptr;  /**< the bytes, NUL-terminated; NULL until something is written */
  size_t len; /**< bytes in use, without the terminator */
  size_t cap; /**< bytes allocated */
} fleet_buf_t;

#define FLEET_BUF_INIT {NULL, 0, 0}

/** Empty the buffer but keep its memory for reuse. NULL-safe. */
FLEET_API void fleet_buf_clear(fleet_buf_t *buf);

/** Free the buffer's memory and reset it to FLEET_BUF_INIT. NULL-safe. */
FLEET_API void fleet_buf_dispose(fleet_buf_t *buf);

/**
 * Make room for at least `extra` more bytes (plus the terminator).
 * Returns 0, FLEET_EINVAL for a NULL buffer, or FLEET_ENOMEM.
 */
FLEET_API int fleet_buf_reserve(fleet_buf_t *buf, size_t extra);

/** Append `len` bytes. Returns 0, FLEET_EINVAL or FLEET_ENOMEM. */
FLEET_API int fleet_buf_append(fleet_buf_t *buf, const char *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_COMMON_H */
