/*
 * Test harness for the InfluxDB writer's integration tests and benchmark:
 * temporary directories, the scripted fault server (faultserver.py), a real
 * influxd (influxd.sh), and small blocking HTTP helpers built on libcurl.
 *
 * Every server listens on 127.0.0.1 only and lives in a temporary directory
 * that ih_rmrf() removes. Functions return 0 / a pointer on success and -1 /
 * NULL on failure, with a message on stderr (this is test code).
 */
#ifndef FLEET_INFLUX_HARNESS_H
#define FLEET_INFLUX_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "fleet/common.h"

/** A server started by the harness. */
typedef struct ih_server {
  char dir[512]; /**< its state directory */
  char url[128]; /**< http://127.0.0.1:PORT */
  int port;
  pid_t pid; /**< fault server: the python process; influxd: 0 (the script tracks it) */
} ih_server_t;

/** Directory holding influxd.sh and faultserver.py (FLEET_INTEGRATION_DIR). */
const char *ih_script_dir(void);

/** Create a fresh temporary directory (under $TMPDIR or /tmp) into `out`. */
int ih_tmpdir(char *out, size_t cap, const char *tag);

/** Remove a directory tree (used on temporary directories only). */
void ih_rmrf(const char *dir);

/** A loopback TCP port that was free a moment ago (bound, then released). */
int ih_free_port(void);

/**
 * Start faultserver.py with state in `dir` on `port` (0: any free port) and an
 * initial script (JSON, may be NULL); waits until it listens.
 */
int ih_fault_start(ih_server_t *s, const char *dir, int port, const char *script);

/** Stop the fault server (SIGTERM, then SIGKILL) and reap it. */
void ih_fault_stop(ih_server_t *s);

/** Replace the fault server's script ({"actions": [...], "default": {...}}). */
int ih_fault_script(const ih_server_t *s, const char *script);

/** The requests the fault server recorded (a JSON array; caller decrefs). */
json_t *ih_fault_requests(const ih_server_t *s);

/** Start influxd (influxd.sh start) with state in `dir`; a restart reuses the port. */
int ih_influxd_start(ih_server_t *s, const char *dir);

/** Stop influxd (influxd.sh stop). */
void ih_influxd_stop(ih_server_t *s);

/**
 * One blocking HTTP request. `body` (may be NULL) receives the answer.
 * Returns the HTTP status, or -1 on a transport error.
 */
long ih_http(fleet_buf_t *body, const char *method, const char *url, const char *data,
             size_t len);

/**
 * Run an InfluxQL statement via POST /query (db may be NULL), timestamps as
 * integer nanoseconds (epoch=ns). Returns the parsed answer or NULL.
 */
json_t *ih_influx_query(const char *url, const char *db, const char *q);

/**
 * SELECT count(field) FROM measurement in db: the number of points, or -1.
 * `where` may be NULL.
 */
int64_t ih_influx_count(const char *url, const char *db, const char *field,
                        const char *measurement, const char *where);

/** Monotonic milliseconds. */
int64_t ih_now_ms(void);

/** Sleep for `ms` milliseconds. */
void ih_sleep_ms(int64_t ms);

#endif /* FLEET_INFLUX_HARNESS_H */
