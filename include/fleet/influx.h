/*
 * influx: the InfluxDB connection configuration and the asynchronous batched
 * writer.
 *
 * Connection configuration (fleet_influx_config_t) is shared by the writer
 * here and by the history reader (history.h). Timestamps always travel in
 * nanoseconds: the precision is not configurable.
 *
 * Which API to pick:
 *
 *   Server                      api                   database field  auth
 *   InfluxDB 1.x (1.6 - 1.11)   FLEET_INFLUX_API_V1   database        username + password (Basic),
 *                                                                     or token (see below)
 *   InfluxDB 2.x / Cloud 2      FLEET_INFLUX_API_V2   bucket (in      token (`Authorization: Token T`)
 *                                                     `database`),
 *                                                     org required
 *   InfluxDB 3 Core/Enterprise  FLEET_INFLUX_API_V3   database        token (`Authorization: Bearer T`)
 *
 * Endpoints and headers used for each API (auth FLEET_INFLUX_AUTH_AUTO):
 *   v1  POST /write?db=D[&rp=R]&precision=ns
 *       Basic auth when a username is set (the password never goes into the URL,
 *       so it cannot end up in a proxy log); otherwise `Authorization: Token T`
 *       when a token is set (InfluxDB 1.8+ reads T as "user:password"; the
 *       v1-compatibility endpoint of InfluxDB 2 reads an API token).
 *   v2  POST /api/v2/write?org=O&bucket=B&precision=ns, `Authorization: Token T`.
 *   v3  POST /api/v3/write_lp?db=D&precision=nanosecond&accept_partial=true,
 *       `Authorization: Bearer T`.
 *   Queries (history.h) use GET/POST /query (InfluxQL), served by v1 and v3;
 *   on v2 /query needs a DBRP mapping for the bucket.
 * FLEET_INFLUX_AUTH_TOKEN / _BEARER / _BASIC force a header form, e.g. Bearer
 * for an InfluxDB 1.x JWT (shared-secret) setup.
 *
 * The writer (fleet_influx_writer_t) takes line protocol from any number of
 * threads without ever waiting for the network, batches it (by size and by
 * time), gzips each batch and POSTs it from its own thread over one kept-alive
 * connection. What cannot be delivered goes to a disk spool (spool.h) and is
 * replayed when the server answers again; lines the server rejects go to a
 * dead-letter file with the server's reason. Nothing is dropped silently.
 * See fleet_influx_writer_opts_t for the delivery rules.
 *
 * Thread safety: configuration functions are reentrant on distinct structs.
 * The writer's thread rules are documented with fleet_influx_writer_t.
 */
#ifndef FLEET_INFLUX_H
#define FLEET_INFLUX_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "spool.h"
#include "telemetry.h"
#include "lineproto.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Which InfluxDB HTTP API to speak. Values are part of the ABI. */
typedef enum fleet_influx_api {
  FLEET_INFLUX_API_V1 = 1, /**< InfluxDB 1.x: /write, /query */
  FLEET_INFLUX_API_V2 = 2, /**< InfluxDB 2.x: /api/v2/write (org + bucket) */
  FLEET_INFLUX_API_V3 = 3  /**< InfluxDB 3: /api/v3/write_lp, /query */
} fleet_influx_api_t;

/** Which Authorization header to send. Values are part of the ABI. */
typedef enum fleet_influx_auth {
  FLEET_INFLUX_AUTH_AUTO = 0,   /**< per API, as described at the top of this header */
  FLEET_INFLUX_AUTH_NONE = 1,   /**< never send credentials */
  FLEET_INFLUX_AUTH_TOKEN = 2,  /**< `Authorization: Token <token>` */
  FLEET_INFLUX_AUTH_BEARER = 3, /**< `Authorization: Bearer <token>` */
  FLEET_INFLUX_AUTH_BASIC = 4   /**< `Authorization: Basic` of username:password; with
                                     no username, of ":" + token (InfluxDB 3 style) */
} fleet_influx_auth_t;

/** Sizes of the string fields of fleet_influx_config_t, terminator included. */
#define FLEET_INFLUX_URL_MAX 1024
#define FLEET_INFLUX_NAME_MAX 256
#define FLEET_INFLUX_SECRET_MAX 1024
#define FLEET_INFLUX_PATH_MAX 1024

/** Version of fleet_influx_config_t this header describes. */
#define FLEET_INFLUX_CONFIG_VERSION 1

/**
 * How to reach one InfluxDB database/bucket. Plain data: fixed-size,
 * NUL-terminated strings, no pointers, safe to copy by value; an empty string
 * means "not set". Initialise with FLEET_INFLUX_CONFIG_INIT or
 * fleet_influx_config_init(), then set fields (snprintf into them) or call
 * fleet_influx_config_from_env().
 */
typedef struct fleet_influx_config {
  unsigned int version;           /**< FLEET_INFLUX_CONFIG_VERSION */
  char url[FLEET_INFLUX_URL_MAX]; /**< base URL, http:// or https://, optionally with a
                                       path prefix; default http://127.0.0.1:8086 */
  fleet_influx_api_t api;         /**< default FLEET_INFLUX_API_V1 */
  char database[FLEET_INFLUX_NAME_MAX];         /**< v1/v3 database, v2 bucket (required) */
  char retention_policy[FLEET_INFLUX_NAME_MAX]; /**< v1 only, optional */
  char org[FLEET_INFLUX_NAME_MAX];              /**< v2 organisation name (required for v2) */
  char token[FLEET_INFLUX_SECRET_MAX];          /**< API token, optional */
  char username[FLEET_INFLUX_NAME_MAX];         /**< v1 user, optional */
  char password[FLEET_INFLUX_SECRET_MAX];       /**< v1 password, optional */
  fleet_influx_auth_t auth;                     /**< default FLEET_INFLUX_AUTH_AUTO */
  char ca_file[FLEET_INFLUX_PATH_MAX]; /**< PEM CA bundle for https, "" for the system's */
  int insecure;               /**< non-zero: skip TLS certificate and host checks */
  unsigned int timeout_ms;    /**< whole-request timeout, default 10000 */
  unsigned int connect_timeout_ms; /**< TCP+TLS connect timeout, default 3000 */
} fleet_influx_config_t;

/** Static initialiser with the defaults (url, api V1, auth AUTO, timeouts). */
#define FLEET_INFLUX_CONFIG_INIT                                                     \
  {FLEET_INFLUX_CONFIG_VERSION, "http://127.0.0.1:8086", FLEET_INFLUX_API_V1, "", "", \
   "", "", "", "", FLEET_INFLUX_AUTH_AUTO, "", 0, 10000, 3000}

/**
 * Initialise a configuration to the defaults of FLEET_INFLUX_CONFIG_INIT.
 * Returns 0, or FLEET_EINVAL for NULL / FLEET_EVERSION for an unknown version.
 */
FLEET_API int fleet_influx_config_init(fleet_influx_config_t *cfg, unsigned int version);

/**
 * Override fields of an initialised configuration from environment variables.
 * Only variables that are set (and non-empty) change anything. With `prefix`
 * NULL the names are:
 *   FLEET_INFLUX_URL            base URL
 *   FLEET_INFLUX_API            v1 | v2 | v3 (or 1 | 2 | 3)
 *   FLEET_INFLUX_DB             database (v1/v3) or bucket (v2);
 *   FLEET_INFLUX_BUCKET         alias of FLEET_INFLUX_DB (setting both is an error)
 *   FLEET_INFLUX_RP             v1 retention policy
 *   FLEET_INFLUX_ORG            v2 organisation
 *   FLEET_INFLUX_TOKEN          token
 *   FLEET_INFLUX_TOKEN_FILE     file holding the token (trailing whitespace
 *                               stripped); setting both is an error
 *   FLEET_INFLUX_USERNAME, FLEET_INFLUX_PASSWORD, FLEET_INFLUX_PASSWORD_FILE
 *   FLEET_INFLUX_AUTH           auto | none | token | bearer | basic
 *   FLEET_INFLUX_CA_FILE        CA bundle path
 *   FLEET_INFLUX_INSECURE       1/true/yes or 0/false/no
 *   FLEET_INFLUX_TIMEOUT_MS, FLEET_INFLUX_CONNECT_TIMEOUT_MS
 * A non-NULL `prefix` (e.g. "FLEETD_INFLUX_") replaces "FLEET_INFLUX_".
 *
 * Returns 0; FLEET_EINVAL (a value is malformed or too long for its field;
 * the message names the variable, never a secret's value), FLEET_EIO (a
 * *_FILE cannot be read). On failure `cfg` may be partly updated.
 * Thread safety: reads the environment; do not call setenv() concurrently.
 */
FLEET_API int fleet_influx_config_from_env(fleet_influx_config_t *cfg, const char *prefix);

/**
 * Check a configuration: URL scheme http/https and host present, api known,
 * database set, org set for v2, auth form usable with the credentials given
 * (e.g. BEARER needs a token), timeouts non-zero.
 * Returns 0 or FLEET_EINVAL / FLEET_EMISSING / FLEET_EVERSION with a message
 * naming the field.
 */
FLEET_API int fleet_influx_config_validate(const fleet_influx_config_t *cfg);

/** Name of an API value ("v1", "v2", "v3"), or NULL when unknown. */
FLEET_API const char *fleet_influx_api_name(fleet_influx_api_t api);

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * An asynchronous, batching InfluxDB writer (opaque).
 *
 * Thread rules: fleet_influx_writer_write_lines(), _write_telemetry(),
 * _flush(), _get_stats() and _close() may be called from any number of
 * threads at once (after close, writes and flushes fail with FLEET_ECLOSED,
 * and a flush waiting at that moment returns it too). fleet_influx_writer_free()
 * is called once, when no other thread uses the handle any more. The writer
 * runs one thread of its own, which does all network I/O and calls the log
 * callback.
 */
typedef struct fleet_influx_writer fleet_influx_writer_t;

/** Severity of a log message. Values are part of the ABI. */
typedef enum fleet_influx_log_level {
  FLEET_INFLUX_LOG_ERROR = 1,   /**< data at risk or the server refuses us: act on it */
  FLEET_INFLUX_LOG_WARNING = 2, /**< a failed attempt that will be retried */
  FLEET_INFLUX_LOG_INFO = 3,    /**< state changes: recovered, replaying the spool */
  FLEET_INFLUX_LOG_DEBUG = 4    /**< every request */
} fleet_influx_log_level_t;

/**
 * Log hook: the library never prints; it hands messages to this callback.
 *
 * @param level    a fleet_influx_log_level_t value.
 * @param message  one line of text without a newline; borrowed, valid during
 *                 the call. Never contains credentials.
 * @param userdata the options' `log_userdata`.
 *
 * Runs on the writer's thread, or on a thread calling fleet_influx_writer_*
 * (for example when an enqueue spills to the spool). It may run while the
 * writer holds its internal lock: it must return quickly and must not call
 * fleet_influx_writer_* functions of the same writer.
 */
typedef void (*fleet_influx_log_cb)(int level, const char *message, void *userdata);

/** Version of fleet_influx_writer_opts_t this header describes. */
#define FLEET_INFLUX_WRITER_OPTS_VERSION 1

/**
 * Writer options. Initialise with FLEET_INFLUX_WRITER_OPTS_INIT or
 * fleet_influx_writer_opts_init(). Pointers are borrowed for the duration of
 * fleet_influx_writer_new() only (strings and spool options are copied).
 *
 * Delivery rules:
 * - Batching: a batch is sent when it holds `batch_max_points` lines or
 *   `batch_max_bytes` bytes, or `flush_interval_ms` after its first line.
 * - Memory: at most `queue_max_bytes` of line protocol wait in memory (plus
 *   the batch being sent). When that is full, the oldest waiting batches move
 *   to the spool; an enqueue fails with FLEET_EFULL only when the spool is
 *   full too (or there is no spool).
 * - Retries: connection errors, timeouts, 408, 429 and 5xx are retried with
 *   exponential backoff (`retry_initial_ms` doubling up to `retry_max_ms`,
 *   with random jitter of up to half the delay), or, when the server sends
 *   Retry-After (seconds or an HTTP date), after that delay plus up to 10%
 *   jitter (never sooner than `retry_initial_ms`, at most an hour). A batch
 *   that failed goes to the spool at once; while the server stays unreachable
 *   every new batch goes to the spool too, so memory stays free.
 * - Order: the spool replays oldest first. Once the server answers again,
 *   new batches and spooled batches alternate, so live data keeps flowing
 *   during a long replay. Order between batches is therefore not preserved
 *   across an outage; it does not need to be, since every point carries its
 *   own timestamp (and a point with the same series and timestamp simply
 *   overwrites itself, which also makes replays idempotent).
 * - Rejected data: on 400 the lines the server names ("unable to parse
 *   'LINE': reason" from InfluxDB 1.x, the "data" array of InfluxDB 3) are
 *   written to the dead-letter file with the server's reason; the other
 *   lines of a partial write were stored by the server and count as written.
 *   When the server only says how many points it dropped (field type
 *   conflict, beyond the retention policy), the batch is bisected (resending
 *   is idempotent) until every dropped line is identified. A 400 (or 422)
 *   that names no line dead-letters the whole batch with the reason.
 *   413: the batch is split in halves, recursively; a single line still too
 *   large is dead-lettered.
 * - Refusals that retrying will not cure soon (401, 403, 404 database not
 *   found, other 4xx): logged at ERROR on every attempt, counted in
 *   `config_errors`, kept in the spool and retried every `config_retry_ms`.
 * - Durability: by default (durable = 0) lines wait in memory until they are
 *   sent or spooled: a crash of the process loses what is in memory (at most
 *   `queue_max_bytes` plus a batch), an orderly fleet_influx_writer_close()
 *   loses nothing. With `durable` set (a spool is then required) every write
 *   call is appended to the spool before it returns (write-ahead), memory
 *   only mirrors it for speed, and batches are acknowledged in the spool once
 *   delivered: a SIGKILL or, with FLEET_SPOOL_FSYNC_ALWAYS, a power loss
 *   loses nothing that a write call accepted. Each write call is one spool
 *   record; records that are not in memory (after a restart, or beyond
 *   `queue_max_bytes`) are sent one record per request, so durable producers
 *   should write in chunks where throughput matters.
 */
typedef struct fleet_influx_writer_opts {
  unsigned int version;          /**< FLEET_INFLUX_WRITER_OPTS_VERSION */
  unsigned int batch_max_points; /**< lines per batch, default 5000 */
  size_t batch_max_bytes;        /**< uncompressed bytes per batch, default 1 MiB */
  unsigned int flush_interval_ms; /**< longest wait of a line in a batch, default 1000 */
  size_t queue_max_bytes;        /**< line protocol held in memory, default 64 MiB */
  int gzip_level;                /**< 1-9 (zlib level, default 1); 0 sends uncompressed */
  unsigned int retry_initial_ms; /**< first backoff delay, default 250 */
  unsigned int retry_max_ms;     /**< backoff cap, default 30000 */
  unsigned int config_retry_ms;  /**< retry delay after 401/403/404, default 30000 */
  const char *spool_dir;         /**< spool directory (created when missing), or NULL
                                      for none: then undeliverable data stays in
                                      memory and is lost at close */
  const fleet_spool_options_t *spool_opts; /**< NULL for the spool's defaults; when its
                                      `on_event` is NULL the writer logs spool events */
  int durable;                   /**< non-zero: write-ahead to the spool (see above) */
  const char *dead_letter_path;  /**< JSON-lines file for rejected lines, appended to
                                      (created 0600). NULL: each rejected line is
                                      logged at ERROR instead */
  fleet_influx_log_cb log_cb;    /**< NULL for no logging */
  void *log_userdata;            /**< passed to `log_cb`; borrowed */
  int log_level;                 /**< most verbose level passed to `log_cb`,
                                      default FLEET_INFLUX_LOG_INFO */
} fleet_influx_writer_opts_t;

#define FLEET_INFLUX_WRITER_OPTS_INIT                                                   \
  {FLEET_INFLUX_WRITER_OPTS_VERSION, 5000, 1024 * 1024, 1000, 64 * 1024 * 1024, 1, 250, \
   30000, 30000, NULL, NULL, 0, NULL, NULL, NULL, FLEET_INFLUX_LOG_INFO}

/**
 * Initialise writer options to their defaults (FLEET_INFLUX_WRITER_OPTS_INIT).
 * Returns 0, FLEET_EINVAL (NULL) or FLEET_EVERSION (unknown version).
 */
FLEET_API int fleet_influx_writer_opts_init(fleet_influx_writer_opts_t *opts,
                                            unsigned int version);

/** Size of fleet_influx_writer_stats_t.last_error, terminator included. */
#define FLEET_INFLUX_ERROR_TEXT_MAX 256

/** Version of fleet_influx_writer_stats_t this header describes. */
#define FLEET_INFLUX_WRITER_STATS_VERSION 1

/**
 * A consistent snapshot of a writer's counters (since fleet_influx_writer_new()).
 * Plain data owned by the caller: set `version` (FLEET_INFLUX_WRITER_STATS_INIT).
 * Invariant once everything is delivered: points_enqueued (+ points replayed
 * from a spool left by an earlier run) == points_written + points_dead_lettered.
 */
typedef struct fleet_influx_writer_stats {
  unsigned int version;          /**< FLEET_INFLUX_WRITER_STATS_VERSION */
  uint64_t points_enqueued;      /**< lines accepted by write calls */
  uint64_t points_written;       /**< lines the server stored (counted once each) */
  uint64_t points_dead_lettered; /**< lines the server rejected */
  uint64_t points_sent;          /**< lines in all requests, re-sends included */
  uint64_t points_retried;       /**< lines in requests that failed and were re-sent */
  uint64_t batches_written;      /**< batches fully resolved */
  uint64_t batches_spooled;      /**< batches (or write calls, when durable) put in
                                      the spool */
  uint64_t batches_replayed;     /**< batches delivered from the spool */
  uint64_t requests;             /**< HTTP requests made */
  uint64_t retries;              /**< failed attempts that will be retried */
  uint64_t splits;               /**< batches split after 413 or to isolate drops */
  uint64_t bytes_sent;           /**< request bodies as sent (compressed) */
  uint64_t bytes_raw;            /**< request bodies before compression */
  uint64_t queue_points;         /**< lines in memory, not yet delivered */
  uint64_t queue_bytes;          /**< their bytes */
  uint64_t spool_records;        /**< unacknowledged spool records */
  uint64_t spool_bytes;          /**< spool size on disk */
  uint64_t net_errors;           /**< connection errors and timeouts */
  uint64_t server_errors;        /**< 408, 429, 5xx answers */
  uint64_t config_errors;        /**< 401, 403, 404 and other 4xx refusals */
  uint64_t dead_letter_errors;   /**< dead-letter entries that could not be written
                                      to the file (they were logged instead) */
  uint64_t points_lost;          /**< lines neither delivered nor spooled at close
                                      (only possible without a spool, or when the
                                      spool is full or failing) */
  long last_http_status;         /**< of the last answer, 0 when none */
  int last_error_code;           /**< FLEET_E* of the last failure, 0 when none */
  char last_error[FLEET_INFLUX_ERROR_TEXT_MAX]; /**< its text, "" when none */
  uint64_t last_latency_us;      /**< duration of the last successful request */
  uint64_t avg_latency_us;       /**< mean over successful requests */
  int healthy;                   /**< 1 when the last request succeeded (or none was
                                      made yet), 0 while failing */
} fleet_influx_writer_stats_t;

#define FLEET_INFLUX_WRITER_STATS_INIT {.version = FLEET_INFLUX_WRITER_STATS_VERSION}

/**
 * Create a writer and start its thread. Opens (and replays) the spool when
 * `opts->spool_dir` is set and opens the dead-letter file.
 *
 * @param out  receives the handle (owned: fleet_influx_writer_free()); NULL on failure.
 * @param cfg  connection; borrowed (copied). Must pass fleet_influx_config_validate().
 * @param opts options or NULL for the defaults; borrowed (copied).
 * @return 0, or FLEET_EINVAL / FLEET_EMISSING / FLEET_EVERSION (bad cfg or
 *   opts, e.g. durable without a spool), the errors of fleet_spool_open()
 *   (FLEET_ESTATE: another writer uses that spool), FLEET_EIO (dead-letter
 *   file), FLEET_ENOMEM, FLEET_EINTERNAL (libcurl, zlib or thread creation).
 *   The server is not contacted: an unreachable server is not an error here.
 */
FLEET_API int fleet_influx_writer_new(fleet_influx_writer_t **out,
                                      const fleet_influx_config_t *cfg,
                                      const fleet_influx_writer_opts_t *opts);

/**
 * Enqueue line protocol: one or more complete lines separated by '\n' (a
 * final newline is optional; empty lines and '#' comment lines are skipped).
 * The lines are not checked (the server does that; rejected lines go to the
 * dead-letter file). Never waits for the network; may write to the spool.
 *
 * @param w    the writer.
 * @param data the bytes; borrowed (copied before the call returns).
 * @param len  their length.
 * @return 0; FLEET_EFULL (memory and spool full, or memory full and no
 *   spool: nothing of this call was taken); FLEET_ECLOSED (after close);
 *   FLEET_EINVAL (NULL, or a NUL byte in the data); FLEET_EIO (durable mode:
 *   the spool append failed; nothing was taken); FLEET_ENOMEM.
 * Thread-safe.
 */
FLEET_API int fleet_influx_writer_write_lines(fleet_influx_writer_t *w, const char *data,
                                              size_t len);

/**
 * Encode a telemetry record with fleet_lp_encode_telemetry() (same
 * parameters: `measurement` NULL for "telemetry", `tags`/`ntags` extra tags,
 * all borrowed) and enqueue the line as fleet_influx_writer_write_lines() does.
 * @return 0, the encoder's errors (FLEET_EINVAL...), or those of
 *   fleet_influx_writer_write_lines(). Thread-safe.
 */
FLEET_API int fleet_influx_writer_write_telemetry(fleet_influx_writer_t *w,
                                                  const fleet_telemetry_t *rec,
                                                  const char *measurement,
                                                  const fleet_lp_tag_t *tags, size_t ntags);

/**
 * Send the partly filled batch now and wait until everything accepted so far,
 * the spool included, is delivered (or dead-lettered), for at most
 * `timeout_ms`. Returns 0, FLEET_ETIMEOUT (data still waiting: the server is
 * down or slow; nothing is lost, the writer keeps trying), FLEET_ECLOSED
 * (closed before or during the wait), FLEET_EINVAL. Thread-safe.
 */
FLEET_API int fleet_influx_writer_flush(fleet_influx_writer_t *w, unsigned int timeout_ms);

/**
 * Stop the writer: send what is in memory for at most `timeout_ms` (0: do
 * not try), then move whatever is left (unsent batches, the unsent part of
 * a batch in flight, aborting that request) to the spool, close the spool
 * and stop the thread. Spooled data from earlier outages stays in the spool
 * for the next writer. The handle stays valid for fleet_influx_writer_get_stats()
 * until fleet_influx_writer_free(). A second call does nothing and returns 0.
 * Thread-safe (see fleet_influx_writer_t).
 *
 * @return 0 when nothing was lost (all delivered or spooled); otherwise the
 *   lines that could be neither delivered nor spooled are counted in
 *   `points_lost`, logged at ERROR, and the return is FLEET_ETIMEOUT (no
 *   spool configured) or the spool's error (FLEET_EFULL, FLEET_EIO...).
 */
FLEET_API int fleet_influx_writer_close(fleet_influx_writer_t *w, unsigned int timeout_ms);

/**
 * Release the writer; closes it first with a timeout of 0 when
 * fleet_influx_writer_close() was not called (so unsent data is spooled, not
 * sent). NULL-safe.
 */
FLEET_API void fleet_influx_writer_free(fleet_influx_writer_t *w);

/**
 * Fill `out` (whose `version` the caller set) with a snapshot of the counters.
 * Returns 0, FLEET_EINVAL (NULL) or FLEET_EVERSION. Thread-safe.
 */
FLEET_API int fleet_influx_writer_get_stats(fleet_influx_writer_stats_t *out,
                                            fleet_influx_writer_t *w);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_INFLUX_H */
