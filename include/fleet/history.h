/*
 * history: reading stored telemetry and events back from InfluxDB, and the
 * storage schema every writer of that data shares.
 *
 * Schema (DESIGN.md "InfluxDB schema"). Every measurement is tagged with
 * vehicle_id and, when known, fleet_id and device_type; timestamps are ns.
 *
 *   database telemetry_raw (7 days)
 *     telemetry          one point per accepted message, time = device ts.
 *                        lat, lng (float, required); speed (km/h), heading
 *                        (deg), odometer (km), battery_v (V), engine_temp (C),
 *                        fuel_level (%) as floats; ignition (bool); driver_id
 *                        (string); each extra CAN field of the payload as a
 *                        field of its own name (float, or bool for booleans).
 *   database telemetry_downsampled (1 year)
 *     telemetry_hourly   one point per vehicle and hour (downsample.h's
 *                        fleet_hourly_t), time = start of the hour: samples
 *                        (int, fixes in the hour), speed_mean and speed_max
 *                        (km/h, when speeds were reported), distance_m,
 *                        moving_s, idle_s, lat, lng and last_ts (int ns: the
 *                        hour's last fix), fuel_min, fuel_max (%), battery_min,
 *                        battery_max (V, each pair when reported). Only lat
 *                        and lng are required.
 *     trips              one point per finished trip, time = trip start:
 *                        start_ns, end_ns (int, ns), distance_m, duration_s,
 *                        moving_s, idle_s, max_speed_kmh, avg_speed_kmh,
 *                        fuel_l (float, optional: no estimate possible),
 *                        start_lat, start_lng, end_lat, end_lng (float).
 *     geofence_events    one point per zone transition, time = event time:
 *                        zone_id, zone_name (string; zone_name optional),
 *                        event ("enter" | "exit"), dwell_s (float, exit only:
 *                        seconds spent inside), lat, lng (float, optional).
 *     alerts             one point per alert, time = alert time: rule (the
 *                        rule id), type (rule type name, e.g. "overspeed"),
 *                        severity ("info" | "warning" | "critical"), message
 *                        (string), value, limit (float), zone_id, zone_name
 *                        (string, zone rules only), lat, lng (optional).
 *
 * Writers (fleetd, the downsampler, fleetctl import) use the FLEET_HISTORY_*
 * names below so that reader and writers never disagree.
 *
 * Reading: queries are InfluxQL over GET /query (served by InfluxDB 1.x and 3;
 * on 2.x it needs a DBRP mapping for each bucket) with chunked=true, so the
 * server streams its answer as a sequence of JSON documents, one per line, and
 * the reader parses each as it arrives: memory stays bounded by one chunk
 * (FLEET_HISTORY_OPTS chunk_size rows) however long the range. Results reach
 * the caller through callbacks, in time order, with typed values.
 *
 * Safety: every value placed in a query is validated (vehicle ids with
 * fleet_vehicle_id_validate()) and quoted (string literals and identifiers,
 * fleet_history_quote_string() / fleet_history_quote_ident()); time bounds are
 * integer nanoseconds. No input can change a query's structure.
 *
 * Thread safety: a fleet_history_t is used by one thread at a time (it owns a
 * libcurl handle and reuses its connection); distinct handles may be used
 * concurrently. Callbacks run on the calling thread, during the call.
 */
#ifndef FLEET_HISTORY_H
#define FLEET_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "influx.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Schema names ---------------------------------------------------- */

/** Databases and their default retention, in seconds. */
#define FLEET_HISTORY_DB_RAW "telemetry_raw"
#define FLEET_HISTORY_DB_DOWNSAMPLED "telemetry_downsampled"
#define FLEET_HISTORY_RAW_RETENTION_S (7 * 86400)
#define FLEET_HISTORY_DOWNSAMPLED_RETENTION_S (365 * 86400)

/** Measurements. */
#define FLEET_HISTORY_M_TELEMETRY "telemetry"
#define FLEET_HISTORY_M_HOURLY "telemetry_hourly"
#define FLEET_HISTORY_M_TRIPS "trips"
#define FLEET_HISTORY_M_GEOFENCE "geofence_events"
#define FLEET_HISTORY_M_ALERTS "alerts"

/** Tags (on every measurement). */
#define FLEET_HISTORY_TAG_VEHICLE_ID "vehicle_id"
#define FLEET_HISTORY_TAG_FLEET_ID "fleet_id"
#define FLEET_HISTORY_TAG_DEVICE_TYPE "device_type"

/** Fields of `telemetry` (and position fields shared by other measurements). */
#define FLEET_HISTORY_F_LAT "lat"
#define FLEET_HISTORY_F_LNG "lng"
#define FLEET_HISTORY_F_SPEED "speed"
#define FLEET_HISTORY_F_HEADING "heading"
#define FLEET_HISTORY_F_IGNITION "ignition"
#define FLEET_HISTORY_F_ODOMETER "odometer"
#define FLEET_HISTORY_F_BATTERY_V "battery_v"
#define FLEET_HISTORY_F_ENGINE_TEMP "engine_temp"
#define FLEET_HISTORY_F_FUEL_LEVEL "fuel_level"
#define FLEET_HISTORY_F_DRIVER_ID "driver_id"

/** Fields of `telemetry_hourly` (besides lat, lng). */
#define FLEET_HISTORY_F_SAMPLES "samples"
#define FLEET_HISTORY_F_SPEED_MEAN "speed_mean"
#define FLEET_HISTORY_F_SPEED_MAX "speed_max"
#define FLEET_HISTORY_F_LAST_TS "last_ts"
#define FLEET_HISTORY_F_DISTANCE_M "distance_m"
#define FLEET_HISTORY_F_MOVING_S "moving_s"
#define FLEET_HISTORY_F_IDLE_S "idle_s"
#define FLEET_HISTORY_F_FUEL_MIN "fuel_min"
#define FLEET_HISTORY_F_FUEL_MAX "fuel_max"
#define FLEET_HISTORY_F_BATTERY_MIN "battery_min"
#define FLEET_HISTORY_F_BATTERY_MAX "battery_max"

/** Fields of `trips` (besides distance_m, moving_s, idle_s). */
#define FLEET_HISTORY_F_START_NS "start_ns"
#define FLEET_HISTORY_F_END_NS "end_ns"
#define FLEET_HISTORY_F_DURATION_S "duration_s"
#define FLEET_HISTORY_F_MAX_SPEED_KMH "max_speed_kmh"
#define FLEET_HISTORY_F_AVG_SPEED_KMH "avg_speed_kmh"
#define FLEET_HISTORY_F_FUEL_L "fuel_l"
#define FLEET_HISTORY_F_START_LAT "start_lat"
#define FLEET_HISTORY_F_START_LNG "start_lng"
#define FLEET_HISTORY_F_END_LAT "end_lat"
#define FLEET_HISTORY_F_END_LNG "end_lng"

/** Fields of `geofence_events` (besides lat, lng). */
#define FLEET_HISTORY_F_ZONE_ID "zone_id"
#define FLEET_HISTORY_F_ZONE_NAME "zone_name"
#define FLEET_HISTORY_F_EVENT "event"
#define FLEET_HISTORY_F_DWELL_S "dwell_s"
#define FLEET_HISTORY_EVENT_ENTER "enter"
#define FLEET_HISTORY_EVENT_EXIT "exit"

/** Fields of `alerts` (besides zone_id, zone_name, lat, lng). */
#define FLEET_HISTORY_F_RULE "rule"
#define FLEET_HISTORY_F_TYPE "type"
#define FLEET_HISTORY_F_SEVERITY "severity"
#define FLEET_HISTORY_F_MESSAGE "message"
#define FLEET_HISTORY_F_VALUE "value"
#define FLEET_HISTORY_F_LIMIT "limit"

/* ---- Limits ---------------------------------------------------------- */

/** Rows per chunk asked of the server by default (chunk_size=). */
#define FLEET_HISTORY_DEFAULT_CHUNK_SIZE 1000
/** Largest chunk_size accepted. */
#define FLEET_HISTORY_MAX_CHUNK_SIZE 100000
/** Default longest range served from the raw tier by FLEET_HISTORY_TIER_AUTO. */
#define FLEET_HISTORY_DEFAULT_RAW_MAX_SPAN_NS (2 * 86400 * INT64_C(1000000000))
/** Default size limit of one chunk (one JSON line) of a response, in bytes. */
#define FLEET_HISTORY_DEFAULT_MAX_CHUNK_BYTES (64u * 1024u * 1024u)
/** Most vehicle ids in one filter. */
#define FLEET_HISTORY_MAX_VEHICLES 1000
/** Size of the text fields of the event structs, terminator included. */
#define FLEET_HISTORY_TEXT_MAX 256

/* ---- Handle and options ---------------------------------------------- */

/** A connection to InfluxDB for reading history. Opaque. */
typedef struct fleet_history fleet_history_t;

/** Which storage tier a position query reads. Values are part of the ABI. */
typedef enum fleet_history_tier {
  FLEET_HISTORY_TIER_AUTO = 0,  /**< raw for short, recent ranges, hourly otherwise */
  FLEET_HISTORY_TIER_RAW = 1,   /**< `telemetry` in the raw database */
  FLEET_HISTORY_TIER_HOURLY = 2 /**< `telemetry_hourly` in the downsampled database */
} fleet_history_tier_t;

/** Version of fleet_history_opts_t this header describes. */
#define FLEET_HISTORY_OPTS_VERSION 1

/**
 * Reader options. Strings are borrowed only during fleet_history_new() (they
 * are copied); NULL or "" selects the default.
 */
typedef struct fleet_history_opts {
  unsigned int version;       /**< FLEET_HISTORY_OPTS_VERSION */
  const char *raw_db;         /**< default cfg->database when set, else "telemetry_raw" */
  const char *raw_rp;         /**< retention policy of the raw tier (v1), default: the
                                   database's default policy */
  const char *downsampled_db; /**< default "telemetry_downsampled" */
  const char *downsampled_rp; /**< as raw_rp */
  const char *events_db;      /**< trips, geofence events, alerts; default downsampled_db */
  const char *events_rp;      /**< as raw_rp; default downsampled_rp */
  unsigned int chunk_size;    /**< rows per streamed chunk, 1..FLEET_HISTORY_MAX_CHUNK_SIZE,
                                   0 for FLEET_HISTORY_DEFAULT_CHUNK_SIZE */
  int64_t raw_max_span_ns;    /**< AUTO reads the raw tier for ranges up to this long;
                                   0 for FLEET_HISTORY_DEFAULT_RAW_MAX_SPAN_NS */
  int64_t raw_retention_ns;   /**< AUTO reads the hourly tier when the range starts
                                   earlier than now minus this; 0 for 7 days, negative
                                   to disable the check */
  size_t max_chunk_bytes;     /**< a longer response line fails with FLEET_ETOOBIG;
                                   0 for FLEET_HISTORY_DEFAULT_MAX_CHUNK_BYTES */
} fleet_history_opts_t;

#define FLEET_HISTORY_OPTS_INIT {FLEET_HISTORY_OPTS_VERSION, NULL, NULL, NULL, NULL, NULL, \
                                 NULL, 0, 0, 0, 0}

/** Initialise options to the defaults. Returns 0, FLEET_EINVAL or FLEET_EVERSION. */
FLEET_API int fleet_history_opts_init(fleet_history_opts_t *opts, unsigned int version);

/**
 * Create a reader.
 *
 * @param out  receives the handle (caller owns it; fleet_history_free()).
 * @param cfg  connection, API and credentials (copied). `cfg->database` may be
 *             empty here: the reader names its databases itself (see opts).
 *             For v2 the database names are the buckets' DBRP names.
 * @param opts NULL for the defaults; borrowed during the call.
 * @return 0, FLEET_EINVAL (bad configuration or option; the message names it),
 *   FLEET_EVERSION, FLEET_ENOMEM, FLEET_EINTERNAL (libcurl). No connection is
 *   made until the first query.
 */
FLEET_API int fleet_history_new(fleet_history_t **out, const fleet_influx_config_t *cfg,
                                const fleet_history_opts_t *opts);

/** Release a reader and its connection. NULL-safe. */
FLEET_API void fleet_history_free(fleet_history_t *h);

/* ---- Generic InfluxQL rows ------------------------------------------- */

/** Type of a value in a result row. Values are part of the ABI. */
typedef enum fleet_history_type {
  FLEET_HISTORY_NULL = 0,   /**< no value (the field is absent in this point) */
  FLEET_HISTORY_INT = 1,    /**< integer; InfluxDB's JSON writes a float with an integral
                                 value (10.0) as 10, so such floats arrive as INT too */
  FLEET_HISTORY_FLOAT = 2,  /**< floating point */
  FLEET_HISTORY_STRING = 3, /**< UTF-8 text */
  FLEET_HISTORY_BOOL = 4    /**< true / false */
} fleet_history_type_t;

/** One typed value; only the member matching `type` is meaningful. */
typedef struct fleet_history_value {
  fleet_history_type_t type;
  int64_t i;     /**< INT, and BOOL as 1 / 0 */
  double f;      /**< FLOAT, and INT converted to double */
  const char *s; /**< STRING, NUL-terminated, borrowed (valid during the callback) */
  size_t len;    /**< STRING length in bytes */
} fleet_history_value_t;

/**
 * One row of a result. Everything is borrowed and valid only during the
 * callback. With epoch=ns, which the reader always asks for, the first column
 * is "time" and `time_ns` repeats it (0 when a result has no time column).
 */
typedef struct fleet_history_row {
  unsigned int statement;   /**< index of the statement in the query (0 for one) */
  const char *measurement;  /**< the series name, "" when the server gives none */
  size_t ntags;             /**< GROUP BY tags of the series */
  const char *const *tag_keys;
  const char *const *tag_values;
  size_t ncolumns;
  const char *const *columns;          /**< column names */
  const fleet_history_value_t *values; /**< `ncolumns` values */
  int64_t time_ns;
} fleet_history_row_t;

/** Receives result rows; non-zero aborts the query and is returned unchanged. */
typedef int (*fleet_history_row_cb)(const fleet_history_row_t *row, void *userdata);

/**
 * Run InfluxQL against `db` and stream the result rows. SELECT and SHOW go
 * out as GET; any other statement (CREATE, ALTER, DROP) as POST (InfluxDB 1.x
 * requires it). The caller is responsible for quoting what it puts in
 * `influxql`: use fleet_history_quote_string() / fleet_history_quote_ident().
 *
 * @param h        the reader.
 * @param db       database (or v2 DBRP name); NULL or "" for none (SHOW DATABASES).
 * @param influxql the query text; borrowed.
 * @param cb       called per row, may be NULL to discard rows.
 * @param userdata passed to `cb`.
 * @return 0; a non-zero value returned by `cb`; FLEET_EINVAL (bad arguments),
 *   FLEET_ENET / FLEET_ETIMEOUT (transport), FLEET_EAUTH / FLEET_EPERM
 *   (credentials), FLEET_ENOTFOUND (database not found), FLEET_EPARSE (the
 *   server refused the query, or sent something that is not its JSON),
 *   FLEET_ESERVER (any other error the server reports), FLEET_ETOOBIG (a chunk
 *   over max_chunk_bytes), FLEET_ENOMEM. Rows delivered before an error stay
 *   delivered.
 */
FLEET_API int fleet_history_query(fleet_history_t *h, const char *db, const char *influxql,
                                  fleet_history_row_cb cb, void *userdata);

/** Progress of the current or last query of a handle. */
typedef struct fleet_history_stats {
  uint64_t rows;            /**< rows delivered so far */
  uint64_t chunks;          /**< JSON documents (lines) parsed so far */
  uint64_t bytes;           /**< response body bytes received so far */
  uint64_t max_chunk_bytes; /**< longest single line buffered */
} fleet_history_stats_t;

/**
 * Copy the counters of the running query (when called from one of its
 * callbacks) or of the last finished one. Returns 0 or FLEET_EINVAL.
 */
FLEET_API int fleet_history_stats(fleet_history_stats_t *out, const fleet_history_t *h);

/**
 * Look a column up by name in a row; returns its value or NULL when the row
 * has no such column. Borrowed like the row.
 */
FLEET_API const fleet_history_value_t *fleet_history_row_get(const fleet_history_row_t *row,
                                                             const char *column);

/* ---- Typed queries --------------------------------------------------- */

/** Version of fleet_history_filter_t this header describes. */
#define FLEET_HISTORY_FILTER_VERSION 1

/**
 * What to read: a time range and optionally a set of vehicles. Borrowed
 * during the call.
 */
typedef struct fleet_history_filter {
  unsigned int version;            /**< FLEET_HISTORY_FILTER_VERSION */
  int64_t from_ns;                 /**< inclusive start, ns since the epoch */
  int64_t to_ns;                   /**< exclusive end; must be > from_ns */
  const char *const *vehicle_ids;  /**< NULL for every vehicle */
  size_t n_vehicle_ids;            /**< entries in vehicle_ids, at most
                                        FLEET_HISTORY_MAX_VEHICLES */
  fleet_history_tier_t tier;       /**< positions only */
  uint64_t limit;                  /**< at most this many results, 0 for no limit */
} fleet_history_filter_t;

#define FLEET_HISTORY_FILTER_INIT {FLEET_HISTORY_FILTER_VERSION, 0, 0, NULL, 0, \
                                   FLEET_HISTORY_TIER_AUTO, 0}

/** Initialise a filter (empty range, every vehicle, AUTO). Returns 0 or an error. */
FLEET_API int fleet_history_filter_init(fleet_history_filter_t *filter, unsigned int version);

/**
 * The tier AUTO resolves to for [from_ns, to_ns) at time `now_ns`: RAW when
 * the span is at most raw_max_span_ns and (unless that check is disabled)
 * from_ns is no earlier than now_ns - raw_retention_ns; HOURLY otherwise.
 * An explicit RAW or HOURLY in `tier` is returned unchanged.
 */
FLEET_API fleet_history_tier_t fleet_history_pick_tier(const fleet_history_t *h,
                                                       fleet_history_tier_t tier,
                                                       int64_t from_ns, int64_t to_ns,
                                                       int64_t now_ns);

/** Hourly aggregate values, for points of the hourly tier. */
typedef struct fleet_history_hourly {
  int64_t samples;      /**< fixes in the hour (0 when not stored) */
  int64_t last_ts_ns;   /**< time of the hour's last fix (0 when not stored) */
  unsigned int present; /**< FLEET_HISTORY_HOURLY_* bits of the optional members */
  double speed_mean_kmh;
  double speed_max_kmh;
  double distance_m;
  double moving_s;
  double idle_s;
  double fuel_min_pct;
  double fuel_max_pct;
  double battery_min_v;
  double battery_max_v;
} fleet_history_hourly_t;

/** Bits of fleet_history_hourly_t.present. */
enum fleet_history_hourly_field {
  FLEET_HISTORY_HOURLY_SPEED_MEAN = 1u << 0,
  FLEET_HISTORY_HOURLY_SPEED_MAX = 1u << 1,
  FLEET_HISTORY_HOURLY_DISTANCE = 1u << 2,
  FLEET_HISTORY_HOURLY_MOVING = 1u << 3,
  FLEET_HISTORY_HOURLY_IDLE = 1u << 4,
  FLEET_HISTORY_HOURLY_FUEL = 1u << 5,   /**< fuel_min_pct and fuel_max_pct */
  FLEET_HISTORY_HOURLY_BATTERY = 1u << 6 /**< battery_min_v and battery_max_v */
};

/**
 * One stored position. Borrowed, valid during the callback.
 * Raw tier: `rec` is the stored record (extras included, up to
 * FLEET_TELEMETRY_MAX_EXTRAS; stored fields whose names cannot be extra names
 * are skipped) and `hourly` is NULL.
 * Hourly tier: `rec.ts_ns` is the start of the hour, lat/lng the hour's last
 * fix, speed_kmh its mean speed, fuel_level_pct and battery_v the hour's
 * minimum; `hourly` holds every aggregate.
 */
typedef struct fleet_history_point {
  fleet_history_tier_t tier;            /**< RAW or HOURLY */
  const fleet_telemetry_t *rec;
  const char *fleet_id;                 /**< tag, "" when untagged */
  const char *device_type;              /**< tag, "" when untagged */
  const fleet_history_hourly_t *hourly; /**< NULL for raw points */
} fleet_history_point_t;

/** Receives positions; non-zero aborts and is returned unchanged. */
typedef int (*fleet_history_point_cb)(const fleet_history_point_t *point, void *userdata);

/**
 * Stream the stored positions of the filter's vehicles in [from_ns, to_ns),
 * oldest first, from the tier the filter selects (AUTO: fleet_history_pick_tier()
 * at the current time).
 *
 * @return 0, the callback's non-zero value, FLEET_EINVAL (NULL arguments,
 *   empty or inverted range, an invalid vehicle id, too many ids),
 *   FLEET_EPARSE (a stored point lacks lat/lng or has a wrong type), or the
 *   errors of fleet_history_query().
 */
FLEET_API int fleet_history_positions(fleet_history_t *h,
                                      const fleet_history_filter_t *filter,
                                      fleet_history_point_cb cb, void *userdata);

/**
 * The most recent raw point of every vehicle (or of the filter's vehicles)
 * with a timestamp in [from_ns, to_ns) — a zero filter range means all of
 * the raw tier's retention. One callback per vehicle, in vehicle id order;
 * all fields come from that one point.
 * Returns as fleet_history_positions().
 */
FLEET_API int fleet_history_last_positions(fleet_history_t *h,
                                           const fleet_history_filter_t *filter,
                                           fleet_history_point_cb cb, void *userdata);

/** A finished trip as stored in `trips`. Plain data. */
typedef struct fleet_history_trip {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t start_ns;
  int64_t end_ns;
  double distance_m;
  double duration_s;
  double moving_s;
  double idle_s;
  double max_speed_kmh;
  double avg_speed_kmh;
  int has_fuel;  /**< non-zero when fuel_l holds an estimate */
  double fuel_l;
  double start_lat, start_lng, end_lat, end_lng;
} fleet_history_trip_t;

/** A zone transition as stored in `geofence_events`. Plain data. */
typedef struct fleet_history_zone_event {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t ts_ns;
  char zone_id[FLEET_HISTORY_TEXT_MAX];
  char zone_name[FLEET_HISTORY_TEXT_MAX]; /**< "" when not stored */
  int enter;        /**< 1 enter, 0 exit */
  double dwell_s;   /**< exit only, else 0 */
  int has_position; /**< non-zero when lat/lng hold the position */
  double lat, lng;
} fleet_history_zone_event_t;

/** An alert as stored in `alerts`. Plain data. */
typedef struct fleet_history_alert {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t ts_ns;
  char rule[FLEET_HISTORY_TEXT_MAX];
  char type[FLEET_HISTORY_TEXT_MAX];
  char severity[FLEET_HISTORY_TEXT_MAX];
  char message[FLEET_HISTORY_TEXT_MAX];   /**< truncated to fit */
  double value;
  double limit;
  char zone_id[FLEET_HISTORY_TEXT_MAX];   /**< "" when not a zone rule */
  char zone_name[FLEET_HISTORY_TEXT_MAX];
  int has_position;
  double lat, lng;
} fleet_history_alert_t;

/** Callbacks of the event queries; non-zero aborts and is returned unchanged. */
typedef int (*fleet_history_trip_cb)(const fleet_history_trip_t *trip, void *userdata);
typedef int (*fleet_history_zone_event_cb)(const fleet_history_zone_event_t *ev,
                                           void *userdata);
typedef int (*fleet_history_alert_cb)(const fleet_history_alert_t *alert, void *userdata);

/**
 * Stream the trips that started in [from_ns, to_ns), the geofence events and
 * the alerts in the range, oldest first, for the filter's vehicles (all when
 * none). Fields a point lacks are zero / "" (or flagged by has_*); a point
 * without its required fields (trips: start_ns/end_ns; zone events: zone_id and
 * event; alerts: rule) fails with FLEET_EPARSE. Otherwise as
 * fleet_history_positions(). The filter's tier is ignored.
 */
FLEET_API int fleet_history_trips(fleet_history_t *h, const fleet_history_filter_t *filter,
                                  fleet_history_trip_cb cb, void *userdata);
FLEET_API int fleet_history_zone_events(fleet_history_t *h,
                                        const fleet_history_filter_t *filter,
                                        fleet_history_zone_event_cb cb, void *userdata);
FLEET_API int fleet_history_alerts(fleet_history_t *h, const fleet_history_filter_t *filter,
                                   fleet_history_alert_cb cb, void *userdata);

/**
 * Decode one row of `trips`, `geofence_events` or `alerts` (from
 * fleet_history_query() with `SELECT *`) into the plain struct the typed
 * queries above deliver, for queries they do not cover (another order, an own
 * WHERE clause). Strings are copied (texts longer than the struct's field are
 * truncated), so `out` does not borrow from `row`. The vehicle id is the
 * `vehicle_id` column or, without one, the series' GROUP BY tag of that name.
 * @param out filled; zeroed first, left zeroed and partly filled on error.
 * @param row a row from a fleet_history_row_cb.
 * @return 0; FLEET_EINVAL (NULL argument); FLEET_EPARSE when a required
 *   field is missing or has the wrong type (every kind: vehicle_id; trips:
 *   start_ns and end_ns; zone events: zone_id and an event of "enter" or
 *   "exit"; alerts: rule), with the row's time in fleet_error_last().
 * Thread safety: pure functions of their arguments; any thread.
 */
FLEET_API int fleet_history_row_to_trip(fleet_history_trip_t *out,
                                        const fleet_history_row_t *row);
FLEET_API int fleet_history_row_to_zone_event(fleet_history_zone_event_t *out,
                                              const fleet_history_row_t *row);
FLEET_API int fleet_history_row_to_alert(fleet_history_alert_t *out,
                                         const fleet_history_row_t *row);

/* ---- Retention tiers ------------------------------------------------- */

/** What fleet_history_ensure_database() did. */
typedef enum fleet_history_ensure_result {
  FLEET_HISTORY_ENSURE_UNCHANGED = 0, /**< already as asked */
  FLEET_HISTORY_ENSURE_CREATED = 1,   /**< database and/or policy created */
  FLEET_HISTORY_ENSURE_ALTERED = 2,   /**< existing policy's duration changed (v1) */
  FLEET_HISTORY_ENSURE_EXISTS = 3     /**< v3: the database exists; its retention
                                           cannot be read back or changed */
} fleet_history_ensure_result_t;

/**
 * Make sure database `db` exists with retention `retention_s` (0: keep
 * forever). Idempotent: a second call with the same arguments changes nothing.
 *
 * v1: CREATE DATABASE, then the retention policy `rp` (NULL or "" for
 * "autogen", the policy CREATE DATABASE makes) is created or altered to the
 * duration (with shard group durations as InfluxDB picks them: 1h under 2
 * days, 1d up to 6 months, 7d beyond) and made the database's default.
 * v3: POST /api/v3/configure/database {"db":..., "retention_period":"Nd"}; an
 * existing database (HTTP 409) is reported as EXISTS. `rp` must be NULL or "".
 * v2: FLEET_EINVAL (buckets are created with the influx CLI or /api/v2/buckets).
 *
 * @param out_result optional; receives what was done.
 * @return 0, FLEET_EINVAL (bad name, negative duration, v2), or the errors of
 *   fleet_history_query().
 */
FLEET_API int fleet_history_ensure_database(fleet_history_ensure_result_t *out_result,
                                            fleet_history_t *h, const char *db,
                                            const char *rp, int64_t retention_s);

/**
 * Format a duration in seconds as an InfluxDB duration literal: the largest
 * exact unit of d, h, m, s ("7d", "364d", "90m"); 0 gives "INF".
 * `out` receives at most 32 bytes. Returns the length or FLEET_EINVAL.
 */
FLEET_API int fleet_history_format_duration(char out[32], int64_t seconds);

/**
 * Parse a duration: a positive integer with unit s, m, h, d or w, or several
 * such terms ("1h30m"); "INF" / "inf" / "0" give 0 (forever); Go's form from
 * SHOW RETENTION POLICIES ("168h0m0s") is accepted too. Returns 0,
 * FLEET_EPARSE or FLEET_ERANGE (overflow).
 */
FLEET_API int fleet_history_parse_duration(int64_t *out_seconds, const char *s);

/* ---- Quoting --------------------------------------------------------- */

/**
 * Append `s` as an InfluxQL string literal: 'text' with backslash, single
 * quote and double quote escaped, and newlines as \n.
 * Returns 0, FLEET_EINVAL (NULL, invalid UTF-8, or a carriage return, which
 * InfluxQL's scanner turns into a newline that ends the literal) or
 * FLEET_ENOMEM; on failure `buf` is unchanged.
 */
FLEET_API int fleet_history_quote_string(fleet_buf_t *buf, const char *s);

/**
 * Append `s` as a double-quoted InfluxQL identifier ("my \"db\"") with the
 * same escaping and restrictions as fleet_history_quote_string(); an empty
 * identifier is FLEET_EINVAL.
 */
FLEET_API int fleet_history_quote_ident(fleet_buf_t *buf, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_HISTORY_H */
