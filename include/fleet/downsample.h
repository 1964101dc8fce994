/*
 * downsample: hourly aggregates per vehicle for the long-retention tier
 * (InfluxDB measurement `telemetry_hourly`, DESIGN.md).
 *
 * Fixes (fleet_telemetry_t) of any number of vehicles are fed in any
 * interleaving; each vehicle's fixes should mostly come in time order. For
 * every vehicle and UTC hour [H, H + 1 h) that has fixes, an aggregate
 * (fleet_hourly_t, timestamped H) is delivered through a callback when the
 * hour *closes*:
 *
 * - when a fix of that vehicle arrives with ts >= H + 1 h + grace_s (so fixes
 *   a little late, up to grace_s, still make it into the first emission);
 * - at fleet_downsampler_tick(now) when now >= H + 1 h + grace_s (vehicles
 *   that went quiet);
 * - at fleet_downsampler_flush() (end of input, shutdown).
 *
 * What an hour holds:
 * - count of fixes; mean (plain average of the samples, which is what
 *   InfluxDB's MEAN() over the raw points gives) and maximum of the reported
 *   speeds; min and max fuel level and battery voltage, each with a presence
 *   bit; the last position and its ts.
 * - distance, moving and idle seconds, from the intervals between consecutive
 *   fixes (sample-and-hold: an interval is moving when its first fix's speed,
 *   reported or derived from the positions, is above speed_threshold_kmh; idle
 *   when it is not and the ignition is reported on). An interval that
 *   straddles an hour boundary is split at the boundary in proportion to time,
 *   so the hours of a journey add up to its whole length and duration.
 *   Intervals of max_gap_s or longer count for nothing.
 * - distance is the odometer difference over the hour when every fix of that
 *   span reported an odometer and the difference is sane (>= 0 and within
 *   [0.5 x GPS - slack, 2 x GPS + slack], odometer values at the hour
 *   boundaries being interpolated), else the GPS (haversine) length.
 *
 * Late data (policy): InfluxDB overwrites a point with the same series and
 * timestamp, so a corrected aggregate simply replaces the first one. Each
 * vehicle keeps its last `history_hours` emitted hours; a fix that arrives for
 * one of them is added and the hour is delivered again with `revision` + 1
 * (at once, since it is already closed). A fix for an older closed hour is
 * dropped and counted (FLEET_DOWNSAMPLE_FIX_DROPPED_LATE). A fix older than the
 * vehicle's newest (late or out of order) updates the order-independent
 * figures (count, speeds, fuel, battery, last position if newer) but not the
 * interval figures (distance, moving, idle), which need its neighbours.
 *
 * Idempotence: a fix whose ts equals the vehicle's newest, or a late fix
 * whose whole second was already seen in its hour (each hour keeps a 3600-bit
 * map of the seconds it has seen), is a duplicate and ignored, so MQTT
 * re-deliveries never count twice. (Consequently two distinct late fixes
 * within the same second count once; fixes in time order are never merged.)
 *
 * Delivery: an hour counts as delivered once its callback returned 0. A
 * non-zero return aborts the call and is returned unchanged; that hour and
 * those after it stay due and are offered again by the next feed, tick or
 * flush. Order: per vehicle by hour; across vehicles (tick, flush) in the
 * order vehicles first appeared. Deterministic for a given sequence of calls.
 *
 * Memory: per vehicle about 130 bytes plus about 600 bytes per hour held, of
 * which 456 are the map of seen seconds: 1-2 open hours plus history_hours,
 * so about 2.5 KB in the steady state with the defaults, 1.3 KB with
 * history_hours 0.
 *
 * Thread safety: a downsampler is used by one thread at a time; the callback
 * runs on the calling thread.
 */
#ifndef FLEET_DOWNSAMPLE_H
#define FLEET_DOWNSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of fleet_downsample_params_t this header describes. */
#define FLEET_DOWNSAMPLE_PARAMS_VERSION 1

/** Default grace period after an hour before it closes, seconds. */
#define FLEET_DOWNSAMPLE_DEFAULT_GRACE_S 300.0
/** Default speed above which an interval is moving, km/h (as the trip detector). */
#define FLEET_DOWNSAMPLE_DEFAULT_SPEED_THRESHOLD_KMH 2.0
/** Default interval length from which an interval counts for nothing, seconds. */
#define FLEET_DOWNSAMPLE_DEFAULT_MAX_GAP_S 3600.0
/** Default number of emitted hours kept per vehicle for late corrections. */
#define FLEET_DOWNSAMPLE_DEFAULT_HISTORY_HOURS 2u
/** Default extra tolerance when checking an odometer against GPS, metres. */
#define FLEET_DOWNSAMPLE_DEFAULT_ODOMETER_SLACK_M 100.0
/** Largest grace_s, seconds (one day). */
#define FLEET_DOWNSAMPLE_MAX_GRACE_S 86400.0
/** Largest max_gap_s, seconds: one hour, so an interval spans at most two hours. */
#define FLEET_DOWNSAMPLE_MAX_GAP_LIMIT_S 3600.0
/** Largest history_hours. */
#define FLEET_DOWNSAMPLE_MAX_HISTORY_HOURS 168u

/**
 * Downsampler parameters. Options struct: start from
 * FLEET_DOWNSAMPLE_PARAMS_INIT or fleet_downsample_params_init(); new members
 * are only added at the end.
 */
typedef struct fleet_downsample_params {
  unsigned int version;       /**< FLEET_DOWNSAMPLE_PARAMS_VERSION */
  double grace_s;             /**< [0, FLEET_DOWNSAMPLE_MAX_GRACE_S]; default 300 */
  double speed_threshold_kmh; /**< >= 0; default 2 */
  double max_gap_s;           /**< (0, 3600]; default 3600 */
  unsigned int history_hours; /**< [0, 168]; default 2; 0 drops every late fix for a closed hour */
  int use_odometer;           /**< 0 or 1; default 1 */
  double odometer_slack_m;    /**< >= 0; default 100 */
} fleet_downsample_params_t;

#define FLEET_DOWNSAMPLE_PARAMS_INIT                                                  \
  {FLEET_DOWNSAMPLE_PARAMS_VERSION, FLEET_DOWNSAMPLE_DEFAULT_GRACE_S,                \
   FLEET_DOWNSAMPLE_DEFAULT_SPEED_THRESHOLD_KMH, FLEET_DOWNSAMPLE_DEFAULT_MAX_GAP_S, \
   FLEET_DOWNSAMPLE_DEFAULT_HISTORY_HOURS, 1, FLEET_DOWNSAMPLE_DEFAULT_ODOMETER_SLACK_M}

/**
 * Initialise parameters to the defaults.
 * @return 0, FLEET_EINVAL (NULL) or FLEET_EVERSION.
 */
FLEET_API int fleet_downsample_params_init(fleet_downsample_params_t *params,
                                           unsigned int version);

/**
 * Check parameters (finite, in range, flags 0 or 1).
 * @return 0, FLEET_EINVAL, FLEET_EVERSION or FLEET_ERANGE with the member named.
 */
FLEET_API int fleet_downsample_params_validate(const fleet_downsample_params_t *params);

/** Bits of fleet_hourly_t.present. */
enum fleet_hourly_field {
  FLEET_HOURLY_SPEED = 1u << 0,     /**< speed_mean_kmh, speed_max_kmh (speed_count > 0) */
  FLEET_HOURLY_FUEL = 1u << 1,      /**< fuel_min_pct, fuel_max_pct */
  FLEET_HOURLY_BATTERY = 1u << 2,   /**< battery_min_v, battery_max_v */
  /** distance_m is the odometer difference (else it equals gps_distance_m). */
  FLEET_HOURLY_DISTANCE_ODOMETER = 1u << 3
};

/** One vehicle-hour. Plain data, read-only for users, may grow at the end. */
typedef struct fleet_hourly {
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1]; /**< "" for records without one */
  int64_t hour_ns;        /**< start of the hour (UTC), ns since the epoch: the point's timestamp */
  unsigned int revision;  /**< 0 on first delivery, +1 for each corrected re-delivery */
  unsigned int count;     /**< fixes in the hour */
  unsigned int present;   /**< FLEET_HOURLY_* bits */
  unsigned int speed_count; /**< fixes that reported a speed */
  double speed_mean_kmh;  /**< mean of the reported speeds */
  double speed_max_kmh;   /**< highest reported speed */
  double distance_m;      /**< see the header comment */
  double gps_distance_m;  /**< haversine length of the hour's intervals */
  double moving_s;        /**< seconds moving within the hour */
  double idle_s;          /**< seconds stationary with ignition on within the hour */
  int64_t last_ts_ns;     /**< ts of the hour's newest fix */
  double last_lat;        /**< its position, degrees */
  double last_lng;
  double fuel_min_pct;    /**< with FLEET_HOURLY_FUEL */
  double fuel_max_pct;
  double battery_min_v;   /**< with FLEET_HOURLY_BATTERY */
  double battery_max_v;
} fleet_hourly_t;

/**
 * Receives a closed (or corrected) hour. `agg` is borrowed, valid during the
 * call. Return 0 when it has been taken; non-zero aborts (see "Delivery").
 */
typedef int (*fleet_hourly_cb)(const fleet_hourly_t *agg, void *userdata);

/** What became of a fed fix. Values are never renumbered. */
typedef enum fleet_downsample_fix_status {
  FLEET_DOWNSAMPLE_FIX_ACCEPTED = 0,     /**< newer than the vehicle's newest fix */
  FLEET_DOWNSAMPLE_FIX_LATE = 1,         /**< older, added to an open or kept hour */
  FLEET_DOWNSAMPLE_FIX_DUPLICATE = 2,    /**< already seen: ignored */
  FLEET_DOWNSAMPLE_FIX_DROPPED_LATE = 3  /**< for a closed hour no longer kept: ignored */
} fleet_downsample_fix_status_t;

/** A downsampler: a hash map from vehicle id to its open and kept hours. Opaque. */
typedef struct fleet_downsampler fleet_downsampler_t;

/**
 * Create a downsampler.
 * @param out      receives it (caller-owned, fleet_downsampler_free()).
 * @param params   copied; NULL for the defaults.
 * @param cb       receives the hours (required).
 * @param userdata passed to `cb`.
 * @return 0, FLEET_EINVAL, validation codes, or FLEET_ENOMEM.
 */
FLEET_API int fleet_downsampler_new(fleet_downsampler_t **out,
                                    const fleet_downsample_params_t *params,
                                    fleet_hourly_cb cb, void *userdata);

/** Free without flushing. NULL-safe. */
FLEET_API void fleet_downsampler_free(fleet_downsampler_t *ds);

/**
 * Add one fix of rec->vehicle_id; delivers the hours of that vehicle that it
 * closes or corrects (and any still due from an aborted delivery).
 * @param out_status optional (NULL to ignore).
 * @param rec        borrowed; lat/lng in range, optional fields finite.
 * @return 0 (whatever the status), FLEET_EINVAL (NULL), FLEET_ERANGE (bad
 *         field or a ts outside 1678-2261; the fix is ignored), FLEET_ENOMEM,
 *         or a callback's non-zero value.
 */
FLEET_API int fleet_downsampler_feed(fleet_downsample_fix_status_t *out_status,
                                     fleet_downsampler_t *ds, const fleet_telemetry_t *rec);

/**
 * Close, for every vehicle, the hours H with H + 1 h + grace_s <= now_ns.
 * `now_ns` is a device-time clock (usually the wall clock in ns).
 * @return 0, FLEET_EINVAL, or a callback's non-zero value.
 */
FLEET_API int fleet_downsampler_tick(fleet_downsampler_t *ds, int64_t now_ns);

/**
 * Deliver every open hour (and pending correction) now, for one vehicle or,
 * with vehicle_id NULL, for all. The vehicles' state is kept: a later fix for
 * a flushed hour is a correction (revision + 1) if the hour is still kept.
 * @return 0, FLEET_EINVAL, or a callback's non-zero value. An unknown id is
 *         not an error.
 */
FLEET_API int fleet_downsampler_flush(fleet_downsampler_t *ds, const char *vehicle_id);

/** Version of fleet_downsample_stats_t this header describes. */
#define FLEET_DOWNSAMPLE_STATS_VERSION 1

/** Counters since creation. */
typedef struct fleet_downsample_stats {
  unsigned int version;   /**< set by fleet_downsampler_stats() */
  uint64_t fixes;         /**< fixes accepted (in order or late) */
  uint64_t late;          /**< of which late / out of order */
  uint64_t duplicates;    /**< ignored as duplicates */
  uint64_t dropped_late;  /**< ignored: their hour is closed and no longer kept */
  uint64_t rejected;      /**< refused with FLEET_ERANGE */
  uint64_t hours;         /**< hours delivered for the first time */
  uint64_t corrections;   /**< re-deliveries (revision > 0) */
  uint64_t vehicles;      /**< vehicles known */
} fleet_downsample_stats_t;

/** Read the counters. @return 0 or FLEET_EINVAL. */
FLEET_API int fleet_downsampler_stats(fleet_downsample_stats_t *out,
                                      const fleet_downsampler_t *ds);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_DOWNSAMPLE_H */
