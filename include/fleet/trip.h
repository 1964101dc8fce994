/*
 * trip: trip and stop detection over a vehicle's stream of fixes.
 *
 * Fixes (fleet_telemetry_t records, already parsed) are fed one at a time, in
 * device-time order per vehicle. The detector cuts the stream into trips and
 * the stops between them, with parameters modelled on Traccar's report
 * settings, and summarises each trip: distance (odometer when it is present
 * and sane, else the sum of great-circle distances between fixes), duration,
 * moving and idle time, maximum and average speed and a fuel estimate.
 *
 * How a stream is cut (all times are device times, `ts` of the records):
 *
 * - Motion. A fix is *moving* when its speed is above speed_threshold_kmh.
 *   A fix without a speed gets one derived from the distance and time to the
 *   previous fix. With use_ignition, a fix that reports the ignition is
 *   *active* when the ignition is on (moving or not) and inactive when it is
 *   off; a fix without ignition falls back to its speed. Without use_ignition,
 *   active means moving.
 * - A trip candidate starts at the first active fix after a stop. It becomes a
 *   *reported* trip (TRIP_START event) as soon as its duration reaches
 *   min_trip_duration_s AND its GPS path length reaches min_trip_distance_m; a
 *   candidate that ends before that is dropped silently and the stop before
 *   it simply continues.
 * - A trip ends:
 *   - PARKED: at its first inactive fix, once the vehicle has stayed inactive
 *     for min_parking_s. This is judged at the next fix, whatever it shows, or
 *     at fleet_tripdet_tick() (the state of a fix holds until the next one);
 *     activity sooner than that makes the pause part of the trip;
 *   - IGNITION_OFF (use_ignition only): at a fix reporting ignition off,
 *     immediately (at its first inactive fix if the vehicle was already
 *     pausing);
 *   - DATA_GAP: at the last fix before two consecutive fixes at least
 *     max_gap_s apart (Traccar's "minimal no data duration"), or at its first
 *     inactive fix when the vehicle was pausing; the interval across the gap
 *     counts for nothing (no distance, no time);
 *   - FLUSH: at the last fix, or at its first inactive fix when the vehicle
 *     was pausing, when the stream is flushed.
 * - A stop is the time between two reported trips: it starts where a trip
 *   ended (or at the first fix of the stream) and ends where the next reported
 *   trip starts (or at the last fix, on flush). Its position is where it
 *   started. Stops of zero duration are not reported.
 *
 * Time accounting: the state of a fix holds until the next fix
 * (sample-and-hold). An interval between consecutive fixes of a trip counts as
 * moving time when its first fix is moving; as idle time when its first fix is
 * not moving and reports ignition on; otherwise as neither (for example a
 * short stop with the engine off). moving_s + idle_s <= duration_s, equal when
 * the ignition is reported throughout.
 *
 * Out-of-order and duplicate fixes: a fix older than the newest one seen for
 * its vehicle is ignored (FLEET_TRIP_FIX_STALE), one with the same timestamp
 * too (FLEET_TRIP_FIX_DUPLICATE); neither ever moves the state backwards, so
 * MQTT re-deliveries are harmless. The detector is deterministic: the same
 * fixes (and ticks) in the same order give the same events.
 *
 * Internals for embedding one compact state per vehicle (the tracker) are in
 * libfleet/trip_int.h; this header is the public, self-contained detector.
 *
 * Thread safety: a detector is used by one thread at a time; its callback runs
 * on the thread that called feed, tick or flush. Parameter functions are
 * reentrant.
 */
#ifndef FLEET_TRIP_H
#define FLEET_TRIP_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

/** Version of fleet_trip_params_t this header describes. */
#define FLEET_TRIP_PARAMS_VERSION 1

/** Default minimum GPS path length of a reported trip, metres. */
#define FLEET_TRIP_DEFAULT_MIN_DISTANCE_M 200.0
/** Default minimum duration of a reported trip, seconds. */
#define FLEET_TRIP_DEFAULT_MIN_DURATION_S 180.0
/** Default time a vehicle must stay inactive before its trip ends, seconds. */
#define FLEET_TRIP_DEFAULT_MIN_PARKING_S 300.0
/** Default data gap that forces the end of a trip, seconds. */
#define FLEET_TRIP_DEFAULT_MAX_GAP_S 3600.0
/**
 * Default speed above which a fix is moving, km/h. Traccar uses 0.01 knots on
 * device-filtered speeds; 2 km/h also rejects the jitter of a parked GPS
 * (a few metres between fixes) and of speeds derived from positions.
 */
#define FLEET_TRIP_DEFAULT_SPEED_THRESHOLD_KMH 2.0
/** Default extra tolerance when checking an odometer against GPS, metres. */
#define FLEET_TRIP_DEFAULT_ODOMETER_SLACK_M 100.0
/**
 * An odometer difference is trusted when it is >= 0 and within
 * [MIN_RATIO * gps - slack, MAX_RATIO * gps + slack] of the GPS path length.
 */
#define FLEET_TRIP_ODOMETER_MIN_RATIO 0.5
#define FLEET_TRIP_ODOMETER_MAX_RATIO 2.0
/** Largest accepted duration parameter, seconds (30 days). */
#define FLEET_TRIP_MAX_DURATION_PARAM_S 2592000.0

/**
 * Trip detection parameters. Options struct: start from FLEET_TRIP_PARAMS_INIT
 * or fleet_trip_params_init(); new members are only ever added at the end.
 * Per-vehicle settings (tank size, consumption) are simply different params
 * for different vehicles.
 */
typedef struct fleet_trip_params {
  unsigned int version;        /**< FLEET_TRIP_PARAMS_VERSION */
  double min_trip_distance_m;  /**< >= 0; default 200 (Traccar: 500) */
  double min_trip_duration_s;  /**< >= 0; default 180 (Traccar: 300) */
  double min_parking_s;        /**< >= 0; default 300 (Traccar: 300) */
  /** > 0, or 0 to disable; default 3600 (Traccar's minimal no-data duration). */
  double max_gap_s;
  double speed_threshold_kmh;  /**< >= 0; default 2 */
  int use_ignition;            /**< 0 or 1; default 0 (see the header comment) */
  int use_odometer;            /**< 0 or 1; default 1: prefer a sane odometer */
  double odometer_slack_m;     /**< >= 0; default 100 */
  /** Fuel tank size, litres; > 0 enables the fuel-level method. Default 0. */
  double tank_l;
  /** Consumption while driving, litres per 100 km, >= 0. Default 0. */
  double consumption_l_per_100km;
  /** Consumption while idling, litres per hour, >= 0. Default 0. */
  double idle_l_per_h;
} fleet_trip_params_t;

#define FLEET_TRIP_PARAMS_INIT                                                  \
  {FLEET_TRIP_PARAMS_VERSION, FLEET_TRIP_DEFAULT_MIN_DISTANCE_M,                \
   FLEET_TRIP_DEFAULT_MIN_DURATION_S, FLEET_TRIP_DEFAULT_MIN_PARKING_S,         \
   FLEET_TRIP_DEFAULT_MAX_GAP_S, FLEET_TRIP_DEFAULT_SPEED_THRESHOLD_KMH, 0, 1, \
   FLEET_TRIP_DEFAULT_ODOMETER_SLACK_M, 0.0, 0.0, 0.0}

/**
 * Initialise parameters to the defaults above.
 * @param params  the struct to fill (caller-owned).
 * @param version FLEET_TRIP_PARAMS_VERSION.
 * @return 0, FLEET_EINVAL (NULL) or FLEET_EVERSION (unknown version).
 */
FLEET_API int fleet_trip_params_init(fleet_trip_params_t *params, unsigned int version);

/**
 * Check parameters: every number finite and in its range (durations at most
 * FLEET_TRIP_MAX_DURATION_PARAM_S), flags 0 or 1.
 * @return 0, FLEET_EINVAL (NULL, bad flag), FLEET_EVERSION or FLEET_ERANGE;
 *         fleet_error_last() names the member and the value.
 */
FLEET_API int fleet_trip_params_validate(const fleet_trip_params_t *params);

/* ------------------------------------------------------------------------ */
/* Results                                                                   */
/* ------------------------------------------------------------------------ */

/** Why a trip ended. Values are never renumbered. */
typedef enum fleet_trip_end_reason {
  FLEET_TRIP_END_NONE = 0,        /**< not ended (a TRIP_START event) */
  FLEET_TRIP_END_PARKED = 1,      /**< inactive for min_parking_s */
  FLEET_TRIP_END_IGNITION_OFF = 2, /**< ignition off (use_ignition) */
  FLEET_TRIP_END_DATA_GAP = 3,    /**< no data for max_gap_s */
  FLEET_TRIP_END_FLUSH = 4        /**< the stream was flushed */
} fleet_trip_end_reason_t;

/** Bits of fleet_trip_t.flags. */
enum fleet_trip_flag {
  /** distance_m is the odometer difference (else the GPS path length). */
  FLEET_TRIP_DISTANCE_ODOMETER = 1u << 0,
  /** start_/end_odometer_km are valid (both end fixes reported one). */
  FLEET_TRIP_HAS_ODOMETER = 1u << 1,
  /** start_/end_fuel_pct are valid (both end fixes reported a fuel level). */
  FLEET_TRIP_HAS_FUEL_LEVEL = 1u << 2,
  /** fuel_l = (start - end fuel level) x tank_l. */
  FLEET_TRIP_FUEL_FROM_LEVEL = 1u << 3,
  /** fuel_l = distance x consumption + idle time x idle rate. */
  FLEET_TRIP_FUEL_ESTIMATED = 1u << 4
};

/**
 * A trip summary: plain data, safe to copy. Read-only for users; new members
 * are only ever added at the end.
 *
 * Fuel: when both end fixes report fuel_level, tank_l > 0 and the level did
 * not rise, fuel_l = (start_fuel_pct - end_fuel_pct) / 100 x tank_l
 * (FLEET_TRIP_FUEL_FROM_LEVEL); otherwise, when consumption_l_per_100km or
 * idle_l_per_h is set, fuel_l = distance_m / 100000 x consumption_l_per_100km
 * + idle_s / 3600 x idle_l_per_h (FLEET_TRIP_FUEL_ESTIMATED); otherwise 0.
 */
typedef struct fleet_trip {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1]; /**< from the records, may be "" */
  int64_t start_ns;     /**< ts of the first active fix, ns since the epoch */
  double start_lat;     /**< its position, degrees */
  double start_lng;
  int64_t end_ns;       /**< ts of the last fix of the trip (see reasons) */
  double end_lat;
  double end_lng;
  double duration_s;    /**< (end_ns - start_ns) / 1e9 */
  /** Reported distance, metres: odometer difference when trusted, else gps_distance_m. */
  double distance_m;
  double gps_distance_m; /**< sum of haversine distances between the trip's fixes */
  double moving_s;      /**< time moving (see "Time accounting") */
  double idle_s;        /**< time stationary with ignition on */
  double max_speed_kmh; /**< highest speed of the trip's fixes */
  double avg_speed_kmh; /**< distance_m / duration_s, in km/h (Traccar's average); 0 if no duration */
  double avg_moving_speed_kmh; /**< distance_m / moving_s, in km/h; 0 if no moving time */
  double fuel_l;        /**< fuel used, litres (see above) */
  double start_odometer_km; /**< valid with FLEET_TRIP_HAS_ODOMETER */
  double end_odometer_km;
  double start_fuel_pct; /**< valid with FLEET_TRIP_HAS_FUEL_LEVEL */
  double end_fuel_pct;
  unsigned int n_fixes; /**< fixes from the start fix to the end fix, both included */
  unsigned int flags;   /**< FLEET_TRIP_* bits */
  fleet_trip_end_reason_t end_reason; /**< FLEET_TRIP_END_NONE in TRIP_START events */
} fleet_trip_t;

/** Bits of fleet_stop_t.flags. */
enum fleet_stop_flag {
  /** The stop starts at the first fix seen: the vehicle may have stood longer. */
  FLEET_STOP_FROM_FIRST_FIX = 1u << 0,
  /** The stop started because of a data gap (the trip before it ended DATA_GAP). */
  FLEET_STOP_DATA_GAP = 1u << 1,
  /** The stop was still going on when the stream was flushed (end = last fix). */
  FLEET_STOP_OPEN = 1u << 2
};

/** A stop between two trips: plain data, read-only, may grow at the end. */
typedef struct fleet_stop {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1]; /**< from the records, may be "" */
  int64_t start_ns;  /**< when the previous trip ended (or the first fix) */
  int64_t end_ns;    /**< when the next trip started (or the last fix, FLEET_STOP_OPEN) */
  double duration_s; /**< (end_ns - start_ns) / 1e9, > 0 */
  double lat;        /**< position where the stop started, degrees */
  double lng;
  unsigned int flags; /**< FLEET_STOP_* bits */
} fleet_stop_t;

/** Event types. Values are never renumbered. */
typedef enum fleet_trip_event_type {
  /**
   * A trip qualified (min distance and min duration reached). `trip` holds its
   * start and the figures so far; end_* is the fix at which it qualified and
   * end_reason is FLEET_TRIP_END_NONE. The start lies in the past (start_ns).
   */
  FLEET_TRIP_EVENT_TRIP_START = 1,
  /** A reported trip ended; `trip` is its final summary. */
  FLEET_TRIP_EVENT_TRIP_END = 2,
  /**
   * A stop ended: delivered just before the TRIP_START of the trip that ends
   * it, or at flush for the stop in progress (FLEET_STOP_OPEN).
   */
  FLEET_TRIP_EVENT_STOP = 3
} fleet_trip_event_type_t;

/**
 * One event. Plain data; the member that does not apply to `type` is zeroed.
 * Events of one vehicle come in time order: STOP, TRIP_START, TRIP_END, STOP,
 * TRIP_START, ... (a stream may begin with TRIP_START when its first fix is
 * active, and a stop of zero duration is skipped).
 */
typedef struct fleet_trip_event {
  fleet_trip_event_type_t type;
  fleet_trip_t trip; /**< TRIP_START and TRIP_END */
  fleet_stop_t stop; /**< STOP */
} fleet_trip_event_t;

/**
 * Receives events. `ev` is borrowed, valid only during the call.
 * Return 0 to continue; a non-zero value aborts the feed, tick or flush call
 * and is returned by it unchanged. The detector's state has already advanced:
 * further events produced by the same call are not delivered.
 */
typedef int (*fleet_trip_event_cb)(const fleet_trip_event_t *ev, void *userdata);

/** Static name of an event type ("trip_start", "trip_end", "stop"), or NULL. */
FLEET_API const char *fleet_trip_event_type_name(int type);

/** Static name of an end reason ("none", "parked", "ignition_off", "data_gap", "flush"), or NULL. */
FLEET_API const char *fleet_trip_end_reason_name(int reason);

/** What became of a fed fix. Values are never renumbered. */
typedef enum fleet_trip_fix_status {
  FLEET_TRIP_FIX_ACCEPTED = 0,  /**< used */
  FLEET_TRIP_FIX_STALE = 1,     /**< older than the vehicle's newest fix: ignored */
  FLEET_TRIP_FIX_DUPLICATE = 2  /**< same ts as the vehicle's newest fix: ignored */
} fleet_trip_fix_status_t;

/* ------------------------------------------------------------------------ */
/* Detector                                                                  */
/* ------------------------------------------------------------------------ */

/**
 * A trip detector: one state per vehicle id, created on the vehicle's first
 * fix (a single-vehicle stream may leave vehicle_id empty). Opaque.
 */
typedef struct fleet_tripdet fleet_tripdet_t;

/**
 * Create a detector.
 * @param out      receives the detector (caller-owned, fleet_tripdet_free()).
 * @param params   parameters for every vehicle (copied); NULL for the defaults.
 * @param cb       event callback (required).
 * @param userdata passed to `cb`.
 * @return 0, FLEET_EINVAL (NULL out or cb), the codes of
 *         fleet_trip_params_validate(), or FLEET_ENOMEM.
 */
FLEET_API int fleet_tripdet_new(fleet_tripdet_t **out, const fleet_trip_params_t *params,
                                fleet_trip_event_cb cb, void *userdata);

/** Free a detector without flushing it. NULL-safe. */
FLEET_API void fleet_tripdet_free(fleet_tripdet_t *det);

/**
 * Use other parameters for one vehicle (its tank size, say). Takes effect on
 * the vehicle's next fix; may be called before its first fix.
 * @param vehicle_id the vehicle ("" for a stream without ids); borrowed.
 * @param params     copied; NULL returns the vehicle to the detector's params.
 * @return 0, FLEET_EINVAL, validation codes, or FLEET_ENOMEM.
 */
FLEET_API int fleet_tripdet_set_vehicle_params(fleet_tripdet_t *det, const char *vehicle_id,
                                               const fleet_trip_params_t *params);

/**
 * Feed one fix of the vehicle rec->vehicle_id. Events it completes are
 * delivered before the call returns.
 * @param out_status optional (NULL to ignore): accepted, stale or duplicate.
 * @param det        the detector.
 * @param rec        the fix (borrowed); its lat/lng must be in range and the
 *                   optional fields the detector uses (speed, odometer,
 *                   fuel_level) finite and in range.
 * @return 0 (also for stale and duplicate fixes), FLEET_EINVAL (NULL), FLEET_ERANGE
 *         (bad field; the fix is ignored), FLEET_ENOMEM (first fix of a new vehicle),
 *         or a callback's non-zero value.
 */
FLEET_API int fleet_tripdet_feed(fleet_trip_fix_status_t *out_status, fleet_tripdet_t *det,
                                 const fleet_telemetry_t *rec);

/**
 * Apply the time rules to vehicles that went quiet, judged at device time
 * `now_ns`: a trip whose vehicle has been inactive since its first inactive
 * fix for min_parking_s ends PARKED; one whose last fix is max_gap_s old ends
 * DATA_GAP. This assumes the vehicle stayed as its last fix showed; a fix that
 * later arrives with an earlier ts than now_ns is then handled normally.
 * Vehicles are visited in the order they first appeared.
 * @return 0, FLEET_EINVAL, or a callback's non-zero value.
 */
FLEET_API int fleet_tripdet_tick(fleet_tripdet_t *det, int64_t now_ns);

/**
 * End of input: end the trip in progress (FLUSH; reported if it qualified) and
 * report the stop in progress (FLEET_STOP_OPEN), then forget the vehicle's
 * state, as if it had never been seen (its parameters are kept).
 * @param vehicle_id one vehicle, or NULL for every vehicle in order of first
 *                   appearance. An unknown id is not an error.
 * @return 0, FLEET_EINVAL, or a callback's non-zero value (the vehicles after
 *         it are not flushed).
 */
FLEET_API int fleet_tripdet_flush(fleet_tripdet_t *det, const char *vehicle_id);

/** Version of fleet_tripdet_stats_t this header describes. */
#define FLEET_TRIPDET_STATS_VERSION 1

/** Counters of a detector since it was created. */
typedef struct fleet_tripdet_stats {
  unsigned int version; /**< set by fleet_tripdet_stats() */
  uint64_t fixes;       /**< fixes accepted */
  uint64_t stale;       /**< fixes ignored as older than the newest */
  uint64_t duplicates;  /**< fixes ignored as same-ts duplicates */
  uint64_t rejected;    /**< fixes refused with FLEET_ERANGE */
  uint64_t trips;       /**< TRIP_END events */
  uint64_t stops;       /**< STOP events */
  uint64_t vehicles;    /**< vehicles known */
} fleet_tripdet_stats_t;

/**
 * Read the counters.
 * @param out filled (caller-owned).
 * @return 0 or FLEET_EINVAL.
 */
FLEET_API int fleet_tripdet_stats(fleet_tripdet_stats_t *out, const fleet_tripdet_t *det);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_TRIP_H */
