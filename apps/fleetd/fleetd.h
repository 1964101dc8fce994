/*
 * fleetd: the reference ingest daemon. What the files share.
 *
 * config.c    the effective configuration: defaults < JSON file < environment
 *             < command line, validation and the redacted dump
 * log.c       structured (logfmt) logging on stderr with levels and a rate
 *             limiter for floods of rejected payloads
 * events.c    tracker events as line protocol (FLEET_HISTORY_* schema) and
 *             alerts as JSON for fleet/{id}/alerts
 * pipeline.c  the per-message path (ingest log, parse, tracker, writers),
 *             checkpoints, reloads and counters
 * files.c     the zones and rules files: identity, loading, atomic writes, locks
 * main.c      options, start-up, the main loop, signals and shutdown
 */
#ifndef FLEETD_H
#define FLEETD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <fleet/fleet.h>

#define FLEETD_PATH_MAX 1024
#define FLEETD_STR_MAX 256

/* ---- logging ---------------------------------------------------------------- */

enum fleetd_log_level { FLEETD_DEBUG = 0, FLEETD_INFO = 1, FLEETD_WARN = 2, FLEETD_ERROR = 3 };

/** "debug" / "info" / "warn" / "error" -> level; -1 when unknown ("warning" is warn). */
int fleetd_log_level_parse(const char *s);
const char *fleetd_log_level_name(int level);
void fleetd_log_set_level(int level);
bool fleetd_log_enabled(int level);

/**
 * One log line being built: `ts=... level=... msg="..." key=value ...`.
 * Values are quoted when they hold spaces, '=', quotes or control characters.
 * The line is written with one write(2) so lines of concurrent threads never
 * interleave. Lines longer than the buffer are cut (and end with "...").
 */
typedef struct fleetd_logline {
  int level;
  size_t len;
  bool on;
  char buf[4096];
} fleetd_logline_t;

void fleetd_ll_begin(fleetd_logline_t *l, int level, const char *msg);
void fleetd_ll_str(fleetd_logline_t *l, const char *key, const char *value);
void fleetd_ll_u64(fleetd_logline_t *l, const char *key, uint64_t value);
void fleetd_ll_i64(fleetd_logline_t *l, const char *key, int64_t value);
void fleetd_ll_dbl(fleetd_logline_t *l, const char *key, double value);
void fleetd_ll_end(fleetd_logline_t *l);

/** A line with a message and string key/value pairs, ended by NULL. */
void fleetd_log(int level, const char *msg, ...);

/**
 * At most `per_s` lines per second; the excess is counted and reported by the
 * next line let through ("suppressed=N"). Used by one thread.
 */
typedef struct fleetd_ratelimit {
  unsigned int per_s;
  int64_t window_ms;
  unsigned int used;
  uint64_t suppressed;
} fleetd_ratelimit_t;

/** True when a line may be written now; `*suppressed` receives the count of
 *  lines dropped since the last one allowed (then reset). */
bool fleetd_ratelimit_allow(fleetd_ratelimit_t *rl, int64_t now_ms, uint64_t *suppressed);

/** Lines dropped in a window that has ended and not reported by a later
 *  line (then reset): for a periodic "N not logged" line. */
uint64_t fleetd_ratelimit_take_suppressed(fleetd_ratelimit_t *rl, int64_t now_ms);

int64_t fleetd_mono_ms(void);
int64_t fleetd_wall_ns(void);

/* ---- configuration ---------------------------------------------------------- */

/** What one process does (config `role`, docs/fleetd.md "Roles"). */
enum fleetd_role {
  FLEETD_ROLE_ALL = 0, /* ingest, and the gateway when `http` is set */
  FLEETD_ROLE_INGEST,  /* ingest; `http` serves /healthz, /readyz and /metrics only */
  FLEETD_ROLE_GATEWAY  /* the gateway of every vehicle; stores nothing in InfluxDB */
};

typedef struct fleetd_config {
  char role[16];                 /* "all" | "ingest" | "gateway" */
  int role_id;                   /* derived: enum fleetd_role */
  unsigned int reload_interval_s; /* poll zones/rules files this often (0: SIGHUP only) */

  /* MQTT */
  char mqtt_url[FLEETD_PATH_MAX];
  char client_id[FLEETD_STR_MAX];
  char mqtt_username[FLEETD_STR_MAX];
  char mqtt_password[FLEETD_STR_MAX];
  char mqtt_ca_file[FLEETD_PATH_MAX];
  char mqtt_ca_path[FLEETD_PATH_MAX];
  char mqtt_cert_file[FLEETD_PATH_MAX];
  char mqtt_key_file[FLEETD_PATH_MAX];
  bool mqtt_tls_insecure;
  char mqtt_tls_version[16];
  unsigned int mqtt_qos;
  unsigned int mqtt_protocol; /* 4 (3.1.1) or 5 */
  unsigned int mqtt_keepalive_s;
  char share_group[FLEETD_STR_MAX];
  unsigned int partition_index, partition_count; /* count 0: none */
  unsigned int reconnect_min_ms, reconnect_max_ms;
  unsigned int max_packet_size;
  bool publish_alerts;

  /* InfluxDB: connection (database = the raw tier's) and the second tier */
  fleet_influx_config_t influx;
  char downsampled_db[FLEET_INFLUX_NAME_MAX];
  char downsampled_rp[FLEET_INFLUX_NAME_MAX];
  unsigned int batch_max_points;
  unsigned int flush_interval_ms;
  uint64_t queue_max_bytes;
  unsigned int gzip_level;
  uint64_t spool_max_bytes;

  /* files */
  char state_dir[FLEETD_PATH_MAX];
  char zones_file[FLEETD_PATH_MAX]; /* "" : STATE_DIR/zones.geojson */
  char rules_file[FLEETD_PATH_MAX]; /* "" : STATE_DIR/rules.json */

  /* tags written on every point */
  char fleet_id[FLEETD_STR_MAX];
  char device_type[FLEETD_STR_MAX];

  /* tracking */
  double offline_after_s;
  unsigned int tick_interval_ms; /* 0: no clock ticks */
  unsigned int zone_debounce_fixes;
  double zone_debounce_s;
  bool hourly;
  double hourly_grace_s;
  unsigned int hourly_history_hours;
  fleet_trip_params_t trip;

  /* ingest log */
  char checkpoint_mode[16]; /* "durable" | "flush" */
  bool checkpoint_flush;    /* derived: checkpoint_mode is "flush" */
  unsigned int sync_interval_ms;
  unsigned int checkpoint_interval_ms;
  unsigned int checkpoint_timeout_ms;
  uint64_t segment_bytes;

  /* operation */
  int log_level;
  unsigned int stats_interval_s; /* 0: only at exit */
  unsigned int reject_log_per_s;
  unsigned int shutdown_timeout_ms;
  /* HTTP gateway (off while `http` is "") */
  char http[FLEETD_STR_MAX]; /* ADDR:PORT */
  char web_root[FLEETD_PATH_MAX];
  char http_tls_cert[FLEETD_PATH_MAX];
  char http_tls_key[FLEETD_PATH_MAX];
  char http_allowed_origins[FLEETD_PATH_MAX];
  unsigned int ws_flush_ms; /* fleet_ws_options_t.flush_ms */
  char dashboard_style_url[FLEETD_PATH_MAX];
  char dashboard_basemap[FLEETD_PATH_MAX];
  double dashboard_center_lat, dashboard_center_lng, dashboard_zoom;
  /* tokens (gw_auth.c) */
  char auth_issuer[FLEETD_STR_MAX];   /* "" : no iss written or required */
  char auth_audience[FLEETD_STR_MAX]; /* "" : no aud written or required */
  unsigned int auth_leeway_s;
  unsigned int auth_access_ttl_s;
  char auth_keys[4 * FLEETD_PATH_MAX]; /* "ALG:KID:FILE,..." extra verification keys */
} fleetd_config_t;

/** Fill `c` with the built-in defaults. */
void fleetd_config_defaults(fleetd_config_t *c);

/** Apply a JSON configuration file. Returns 0, or -1 with `err` set. */
int fleetd_config_load_file(fleetd_config_t *c, const char *path, char *err, size_t errlen);

/** Apply the FLEET_* environment variables. Returns 0, or -1 with `err` set. */
int fleetd_config_load_env(fleetd_config_t *c, char *err, size_t errlen);

/** Set one option by its dotted name ("mqtt.url", "tracker.offline_after_s")
 *  from text, as the command line does. Returns 0, or -1 with `err` set. */
int fleetd_config_set(fleetd_config_t *c, const char *name, const char *value, char *err,
                      size_t errlen);

/** Derived defaults (client id with the partition, files under the state
 *  directory) and cross-field checks. Returns 0, or -1 with `err` set. */
int fleetd_config_finish(fleetd_config_t *c, char *err, size_t errlen);

/** Check that the zones and rules files, when present, load. Returns 0, or
 *  -1 with `err` set. */
int fleetd_config_check_files(const fleetd_config_t *c, char *err, size_t errlen);

/** Print the configuration as a JSON document, secrets redacted. */
void fleetd_config_print(const fleetd_config_t *c, FILE *out);

/** The option names and their environment variables, for --help. */
void fleetd_config_print_reference(FILE *out);

/* ---- events as line protocol ------------------------------------------------ */

/** The tags every point of one process carries besides vehicle_id. */
typedef struct fleetd_tags {
  const char *fleet_id;    /* NULL or "" : not written */
  const char *device_type;
} fleetd_tags_t;

/**
 * Keeps the timestamps of one vehicle's points in one measurement distinct:
 * several events at the same instant (two zones entered by one fix, a zone
 * alert and an overspeed alert) would otherwise be one point in InfluxDB,
 * which keeps the last. The k-th point at an instant already used is moved
 * k nanoseconds later. Deterministic, so a replay writes the same points.
 */
typedef struct fleetd_ts_dedup {
  char vehicle[FLEET_VEHICLE_ID_MAX + 1];
  int64_t last_ts[4];
  unsigned int bump[4];
} fleetd_ts_dedup_t;

/** Forget the instants used so far (before each tracker call). */
void fleetd_ts_dedup_reset(fleetd_ts_dedup_t *dd);

/** Append the point for a tracker event (HOURLY, TRIP_END, ZONE_*, ALERT) to
 *  `buf`. Other types write nothing. Returns 0 or a FLEET_E* code. */
int fleetd_event_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                    const fleetd_tags_t *tags);

/** Append an ALERT event as the JSON object published to fleet/{id}/alerts and
 *  to WebSocket clients: docs/API.md's ALERT (vehicle_id, ts, rule, rule_type,
 *  severity, message, value, limit, zone_id, zone_name, lat, lng). */
int fleetd_alert_json(fleet_buf_t *buf, const fleet_tracker_event_t *ev);

/* ---- shared files (files.c) ------------------------------------------------- */

/* What a file was when last read or written, to see a change made by another
 * replica (or by hand) on a shared volume: a rename over it (atomic writes, a
 * ConfigMap update) changes the inode, an edit in place the size or the time. */
typedef struct fleetd_file_id {
  bool present;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim;
} fleetd_file_id_t;

/* The identity of `path` now (present false when it cannot be stat()ed). */
void fleetd_file_id(fleetd_file_id_t *out, const char *path);
bool fleetd_same_file(const fleetd_file_id_t *a, const fleetd_file_id_t *b);
/* Make `set` exactly the zones of the GeoJSON file `path` (REPLACE_ALL; the
 * set stays as it was on failure). 0; -errno when the file cannot be read
 * (-ENOENT: there is none, -EFBIG: over 256 MiB); 1 when it is not a valid
 * zones document (fleet_error_last() says why). */
int fleetd_zones_load_file(fleet_zoneset_t *set, const char *path);
/* Replace `path` with `data`: a temporary file of this process, fsync,
 * rename, fsync of the directory. 0, or -1 with errno. */
int fleetd_write_atomic(const char *path, const char *data, size_t len);
/* Wait for the exclusive lock of `path` (flock on PATH.lock, created when
 * missing): every replica changing the file takes it, so a read-modify-write
 * of it is not interleaved with another one. The descriptor, or -1 with errno. */
int fleetd_file_lock(const char *path);
/* Release the lock (-1 is ignored). */
void fleetd_file_unlock(int fd);

/* ---- the HTTP gateway (gateway.c) ------------------------------------------- */

typedef struct fleetd_gw fleetd_gw_t;
typedef struct fleetd_counters fleetd_counters_t; /* below */

/** What the gateway reads of the pipeline; every handle is borrowed and
 *  thread-safe (the zone set is changed by the zone routes too). */
typedef struct fleetd_gw_parts {
  fleet_zoneset_t *zones;
  fleet_ruleset_t *rules; /* the current set (a reference is taken), or NULL */
  fleet_mqtt_t *mqtt;
  fleet_influx_writer_t *raw, *events;
  fleet_ingestlog_t *log;
  struct fleetd_dbcheck *dbcheck; /* NULL in role gateway */
} fleetd_gw_parts_t;

/* Checks the syntax of auth.keys ("ALG:KID:FILE,...") and, with `load`, that
 * every key loads. Returns 0, or -1 with `err` set. */
int fleetd_auth_keys_check(const char *spec, bool load, char *err, size_t errlen);

/* Opens the users and HS256 secret of the state directory with the configured
 * issuer, audience, leeway and access token lifetime, and adds the auth.keys
 * verification keys. Returns 0, or -1 with `err` set. */
int fleetd_auth_open(fleet_auth_t **out, const fleetd_config_t *cfg, char *err, size_t errlen);

/* True when the request's body comes as a form or as text (application/
 * x-www-form-urlencoded, multipart/form-data, text/plain): what a page of
 * another site can post without the browser asking first. The JSON routes
 * refuse those (415), so no such page can log a browser in (login CSRF) or
 * post anything else. */
bool fleetd_form_body(const fleet_ws_request_t *req);

/** Create the gateway (users and keys from the state directory, routes, a
 *  worker thread). Returns 0 or -1 (logged); free it either way. */
int fleetd_gw_new(fleetd_gw_t **out, const fleetd_config_t *cfg, const fleetd_gw_parts_t *parts);
/** Listen. Returns 0 or -1 (logged). */
int fleetd_gw_start(fleetd_gw_t *gw);
/** Stop listening, finish the queued requests, free. NULL-safe. */
void fleetd_gw_free(fleetd_gw_t *gw);

/* Pipeline thread only: */
/** An accepted record with the tracker's view of its vehicle. */
void fleetd_gw_telemetry(fleetd_gw_t *gw, const fleet_telemetry_t *rec,
                         const fleet_vehicle_state_t *st, const uint32_t *zones, size_t nzones);
/** An alert as the JSON object of fleetd_alert_json(). */
void fleetd_gw_alert(fleetd_gw_t *gw, const char *vehicle_id, const char *json, size_t len);
/** A copy of the counters for /metrics. */
void fleetd_gw_counters(fleetd_gw_t *gw, const fleetd_counters_t *c,
                        const fleet_tracker_stats_t *ts);
/** Rules stored by PUT /api/rules since the last call (caller owns the
 *  reference), or NULL. */
fleet_ruleset_t *fleetd_gw_take_rules(fleetd_gw_t *gw);
/** The rules now in force (after a reload), for GET /api/rules. */
void fleetd_gw_set_rules(fleetd_gw_t *gw, fleet_ruleset_t *rules);
/** Re-read the users file when it changed (SIGHUP). */
void fleetd_gw_reload_users(fleetd_gw_t *gw);

/* ---- the pipeline ----------------------------------------------------------- */

/** Why a payload was refused: the keys of the rejected_* counters. */
enum fleetd_reject {
  FLEETD_REJECT_PARSE = 0,     /* FLEET_EPARSE: not JSON, not an object, bad ts syntax */
  FLEETD_REJECT_TOOBIG,        /* FLEET_ETOOBIG: over 4 KiB or nested too deep */
  FLEETD_REJECT_MISSING,       /* FLEET_EMISSING: v, ts, lat or lng absent */
  FLEETD_REJECT_TYPE,          /* FLEET_ETYPE: a required field of the wrong type */
  FLEETD_REJECT_RANGE,         /* FLEET_ERANGE: lat/lng/ts out of range */
  FLEETD_REJECT_VERSION,       /* FLEET_EVERSION: v is not 1 */
  FLEETD_REJECT_VEHICLE_ID,    /* the payload names another vehicle than its topic */
  FLEETD_REJECT_TOPIC,         /* a replayed record on a topic that is not fleet/ID/telemetry */
  FLEETD_REJECT_OTHER,         /* anything else (out of memory, tracker refusal) */
  FLEETD_REJECT_COUNT
};

const char *fleetd_reject_name(int reason);

typedef struct fleetd_counters {
  uint64_t received;          /* messages handed over by MQTT */
  uint64_t received_retained; /* of which retained (sent at subscribe) */
  uint64_t replayed;          /* records re-processed from the ingest log */
  uint64_t accepted;          /* payloads parsed and fed to the tracker */
  uint64_t warnings;          /* accepted with optional fields dropped */
  uint64_t rejected;
  uint64_t rejected_by[FLEETD_REJECT_COUNT];
  uint64_t seeded;            /* retained fixes of unknown vehicles: state only */
  uint64_t drained;           /* received while shutting down: logged for the next run */
  uint64_t events[9];         /* by fleet_tracker_event_type_t */
  uint64_t events_suppressed; /* events of seeding fixes, not stored */
  uint64_t points_raw;        /* lines enqueued to the raw writer */
  uint64_t points_events;     /* lines enqueued to the downsampled writer */
  uint64_t enqueue_errors;    /* lines the writers refused (memory and spool full) */
  uint64_t encode_errors;
  uint64_t alerts_published;
  uint64_t alert_publish_errors;
  uint64_t ingest_errors;     /* appends that failed: those messages are not durable */
  uint64_t checkpoint_skipped; /* flush mode: InfluxDB behind or unhealthy */
  uint64_t ticks;
  uint64_t reloads;
  uint64_t reload_failures;
  uint64_t alerts_forwarded;  /* gateway role: alerts of fleet/+/alerts sent to clients */
  uint64_t alerts_refused;    /* gateway role: alert messages that were not an alert object */
} fleetd_counters_t;

typedef struct fleetd fleetd_t;

/** Create the daemon's parts (state directory, ingest log, zones, rules,
 *  tracker, writers, MQTT client). Returns 0 or -1 (logged). */
int fleetd_new(fleetd_t **out, const fleetd_config_t *cfg);

/** Replay the ingest log through the pipeline; stops early when *stop
 *  becomes non-zero. Returns 0 or -1 (logged). */
int fleetd_replay(fleetd_t *d, volatile int *stop);

/** Connect and run until *stop becomes non-zero; reloads when *hup is set
 *  (and clears it). Returns 0. */
int fleetd_run(fleetd_t *d, volatile int *stop, volatile int *hup);

/** Orderly shutdown: stop intake, flush the tracker and the writers within
 *  the configured deadline, checkpoint. Returns 0 when nothing was left
 *  undelivered or unspooled, -1 otherwise (logged). */
int fleetd_shutdown(fleetd_t *d);

/** Free everything (after fleetd_shutdown()). NULL-safe. */
void fleetd_free(fleetd_t *d);

/** Reload zones and rules; a file that fails keeps the old set. */
void fleetd_reload(fleetd_t *d);

/** Log every counter on one line at INFO ("stats"). */
void fleetd_log_stats(fleetd_t *d, const char *msg);

#endif /* FLEETD_H */
