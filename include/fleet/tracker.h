/*
 * tracker: the per-vehicle tracking engine. Feed it telemetry records, one at a
 * time, and it keeps each vehicle's state (last-known fix, zone membership,
 * trip state, rule state) and reports what happened through one callback:
 * zone enter/exit, trip start/end, stops, alerts, out-of-order fixes and,
 * optionally, hourly aggregates.
 *
 * What one accepted fix does, in this order (each step's events are delivered
 * before the next step runs):
 *   1. trip detection (include/fleet/trip.h): STOP, TRIP_START, TRIP_END;
 *   2. zone membership (when a zone set is given): ZONE_EXIT events, then
 *      ZONE_ENTER events, each in ascending zone key order, each followed by
 *      the alerts of the zone_enter / zone_exit rules it triggers;
 *   3. the other rules (include/fleet/rules.h): ALERT events in rule order;
 *   4. hourly aggregates closed by this fix (when enabled): HOURLY.
 *
 * Fixes are judged per vehicle by device time (`ts`):
 *   - a fix with the same ts as the vehicle's newest fix is a duplicate (an
 *     MQTT re-delivery): no events, no change;
 *   - an older fix is late: one LATE event; it never moves any state
 *     backwards (the hourly aggregates, which are order-independent, do take
 *     it into account and re-deliver a corrected hour).
 *
 * Zone membership and debounce. A vehicle's membership changes when the zones
 * containing its position differ from the zones it is in. With debouncing,
 * a change is confirmed only once it has been seen on `zone_debounce_fixes`
 * consecutive fixes AND has lasted `zone_debounce_s` seconds; a fix back on
 * the old side cancels it. The event then carries the time and position of
 * the first fix on the new side, so dwell times are not skewed by the
 * debounce; it is delivered with the confirming fix. Zones removed from the
 * zone set are left (ZONE_EXIT) by the vehicles inside them on their next fix,
 * with the id and name the zone had.
 *
 * The zone set is borrowed and may be changed by other threads at any time:
 * the tracker works on an immutable snapshot, refreshed when the set's
 * generation changes (checked once per fix, lock-free).
 *
 * Memory: each vehicle costs a fixed record of about 350 bytes (compact last
 * fix, trip state, zone and rule bookkeeping) plus its rule state (24 bytes
 * per applicable stateful rule, 72 for fuel_drop) and an index entry: well
 * under 1 KiB. Zone membership lists (16 bytes per zone the vehicle is in)
 * and hourly aggregates (see include/fleet/downsample.h) come on top.
 *
 * Determinism: the same calls with the same records give the same events in
 * the same order. tick, flush and iteration visit vehicles in the order they
 * first appeared.
 *
 * Thread safety: a tracker is used by one thread at a time (callers serialise
 * feed, tick, flush, set_rules and the getters). The callback runs on the
 * calling thread; it may call the read-only getters (fleet_tracker_get,
 * fleet_tracker_vehicle_zones, fleet_tracker_count, fleet_tracker_stats) but
 * must not feed, tick, flush, reconfigure or free the tracker.
 */
#ifndef FLEET_TRACKER_H
#define FLEET_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "downsample.h"
#include "rules.h"
#include "telemetry.h"
#include "trip.h"
#include "zone.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An opaque tracking engine. */
typedef struct fleet_tracker fleet_tracker_t;

/** Event types. Values are part of the ABI. */
typedef enum fleet_tracker_event_type {
  FLEET_TRACKER_EVENT_ZONE_ENTER = 1,
  FLEET_TRACKER_EVENT_ZONE_EXIT = 2,
  FLEET_TRACKER_EVENT_TRIP_START = 3,
  FLEET_TRACKER_EVENT_TRIP_END = 4,
  FLEET_TRACKER_EVENT_STOP = 5,
  FLEET_TRACKER_EVENT_ALERT = 6,
  FLEET_TRACKER_EVENT_LATE = 7,
  FLEET_TRACKER_EVENT_HOURLY = 8
} fleet_tracker_event_type_t;

/**
 * One event: plain data, borrowed by the callback for the duration of the
 * call. Members that do not belong to the event's type are zero / NULL.
 */
typedef struct fleet_tracker_event {
  fleet_tracker_event_type_t type;
  const char *vehicle_id; /**< never NULL */
  /**
   * When it happened (ns since the epoch): the first fix inside / outside the
   * zone (ZONE_*), the trip's start (TRIP_START) or end (TRIP_END), the stop's
   * start (STOP), the fix or tick that raised the alert (ALERT), the late
   * fix's ts (LATE), the start of the hour (HOURLY).
   */
  int64_t ts_ns;
  double lat; /**< where it happened, degrees (HOURLY: the hour's last position) */
  double lng;
  /* ZONE_ENTER, ZONE_EXIT (and ALERT of zone rules) */
  uint32_t zone_key;     /**< the zone's key in the tracker's zone set */
  const char *zone_id;   /**< its id */
  const char *zone_name; /**< its name */
  double dwell_s;        /**< ZONE_EXIT: seconds since the matching ZONE_ENTER */
  const fleet_trip_t *trip;     /**< TRIP_START (figures so far), TRIP_END */
  const fleet_stop_t *stop;     /**< STOP */
  const fleet_alert_t *alert;   /**< ALERT */
  const fleet_telemetry_t *record; /**< LATE: the out-of-order record */
  const fleet_hourly_t *hourly; /**< HOURLY */
} fleet_tracker_event_t;

/**
 * Receives each event. Return 0 to go on; a non-zero value aborts the feed,
 * tick or flush call and is returned by it unchanged. The state has already
 * advanced: the remaining events of that call are not delivered.
 */
typedef int (*fleet_tracker_event_cb)(const fleet_tracker_event_t *ev, void *userdata);

/** Version of fleet_tracker_opts_t this header describes. */
#define FLEET_TRACKER_OPTS_VERSION 1
/** Default silence after which a vehicle's status is offline, seconds. */
#define FLEET_TRACKER_DEFAULT_OFFLINE_AFTER_S 900.0
/** Largest zone_debounce_fixes. */
#define FLEET_TRACKER_MAX_DEBOUNCE_FIXES 1000u

/** Tracker options: start from FLEET_TRACKER_OPTS_INIT or fleet_tracker_opts_init(). */
typedef struct fleet_tracker_opts {
  unsigned int version; /**< FLEET_TRACKER_OPTS_VERSION */
  /** Zones to track, borrowed (must outlive the tracker; may be modified by
   *  other threads meanwhile). NULL: no zone events. */
  const fleet_zoneset_t *zones;
  /** Rules: the tracker takes its own reference (and freezes the set). NULL:
   *  no alerts. Replace them later with fleet_tracker_set_rules(). */
  fleet_ruleset_t *rules;
  /** Trip parameters for every vehicle (copied); NULL for the defaults.
   *  Per-vehicle overrides: fleet_tracker_set_vehicle_params(). */
  const fleet_trip_params_t *trip_params;
  /** Consecutive fixes that must confirm a zone change, >= 1; default 1. */
  unsigned int zone_debounce_fixes;
  /** Seconds a zone change must last to be confirmed, >= 0; default 0. */
  double zone_debounce_s;
  /** Hourly aggregates (copied): non-NULL enables HOURLY events. */
  const fleet_downsample_params_t *hourly;
  /** A vehicle silent this long at fleet_tracker_tick() has the status
   *  offline, seconds >= 0 (0: never); default 900. Offline alerts are rules. */
  double offline_after_s;
} fleet_tracker_opts_t;

#define FLEET_TRACKER_OPTS_INIT \
  {FLEET_TRACKER_OPTS_VERSION, NULL, NULL, NULL, 1u, 0.0, NULL, FLEET_TRACKER_DEFAULT_OFFLINE_AFTER_S}

/** Initialise options to the defaults. Returns 0, FLEET_EINVAL (NULL) or
 *  FLEET_EVERSION. */
FLEET_API int fleet_tracker_opts_init(fleet_tracker_opts_t *opts, unsigned int version);

/**
 * Create a tracker.
 * @param out      receives it (caller-owned: fleet_tracker_free()).
 * @param opts     options (copied; see each member for what is borrowed); NULL
 *                 for the defaults.
 * @param cb       the event callback (required).
 * @param userdata passed to `cb`.
 * @return 0, FLEET_EINVAL (NULL out or cb, bad option), FLEET_EVERSION,
 *   FLEET_ERANGE (an option out of range, invalid trip or hourly parameters),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_tracker_new(fleet_tracker_t **out, const fleet_tracker_opts_t *opts,
                                fleet_tracker_event_cb cb, void *userdata);

/** Free the tracker without flushing (NULL-safe). Releases its rule set reference. */
FLEET_API void fleet_tracker_free(fleet_tracker_t *tracker);

/**
 * Feed one record of vehicle rec->vehicle_id (see the header comment for what
 * happens). The record is borrowed for the call.
 * @return 0 (also for duplicate and late fixes), FLEET_EINVAL (NULL, missing
 *   or invalid vehicle id), FLEET_ERANGE (lat/lng or an optional field out of
 *   range or not finite: the record is ignored and counted as rejected),
 *   FLEET_ENOMEM, FLEET_EINTERNAL (a zone lookup failed), or the callback's
 *   non-zero value.
 */
FLEET_API int fleet_tracker_feed(fleet_tracker_t *tracker, const fleet_telemetry_t *rec);

/**
 * Apply the clock: at time `now_ns` (ns since the epoch, the same clock as
 * the records' ts, usually the wall clock), end the trips of vehicles that went
 * quiet (parking time or data gap reached), raise offline alerts (once per
 * silence), mark silent vehicles offline and close hourly aggregates.
 * Vehicles are visited in the order they first appeared. Cost: O(vehicles);
 * once a second is plenty.
 * @return 0, FLEET_EINVAL, or the callback's non-zero value.
 */
FLEET_API int fleet_tracker_tick(fleet_tracker_t *tracker, int64_t now_ns);

/**
 * End of input (or shutdown): end the trip in progress (FLUSH), report the
 * stop in progress and deliver open hourly aggregates, for one vehicle or,
 * with vehicle_id NULL, for all of them in order of appearance. The vehicles'
 * last-known state and zone membership are kept; their trip detection starts
 * afresh with the next fix.
 * @return 0, FLEET_EINVAL, or the callback's non-zero value. An unknown id is
 *   not an error.
 */
FLEET_API int fleet_tracker_flush(fleet_tracker_t *tracker, const char *vehicle_id);

/**
 * Replace the rules (a SIGHUP reload). The tracker takes a reference to `rules`
 * (NULL removes every rule) and releases the old set. Per-vehicle state of rules
 * kept with the same id and type carries over (episodes in progress, cooldowns,
 * offline alerts already raised), so a reload neither repeats nor loses alerts.
 * @return 0, FLEET_EINVAL, FLEET_ENOMEM (nothing changed).
 */
FLEET_API int fleet_tracker_set_rules(fleet_tracker_t *tracker, fleet_ruleset_t *rules);

/**
 * Use other trip parameters for one vehicle (its tank size, consumption, ...),
 * from its next fix on; may be called before the vehicle's first fix.
 * @param vehicle_id a valid vehicle id; borrowed.
 * @param params     copied; NULL returns the vehicle to the tracker's parameters.
 * @return 0, FLEET_EINVAL, fleet_trip_params_validate() codes, FLEET_ENOMEM.
 */
FLEET_API int fleet_tracker_set_vehicle_params(fleet_tracker_t *tracker,
                                               const char *vehicle_id,
                                               const fleet_trip_params_t *params);

/** A vehicle's status, as seen by the tracker. Values are part of the ABI. */
typedef enum fleet_vehicle_status {
  FLEET_VEHICLE_MOVING = 1,  /**< last fix above the speed threshold */
  FLEET_VEHICLE_IDLE = 2,    /**< not moving, ignition on */
  FLEET_VEHICLE_STOPPED = 3, /**< not moving, ignition off or unknown */
  FLEET_VEHICLE_OFFLINE = 4  /**< silent for offline_after_s at the last tick */
} fleet_vehicle_status_t;

/** "moving", "idle", "stopped", "offline"; NULL for an unknown value. */
FLEET_API const char *fleet_vehicle_status_name(fleet_vehicle_status_t status);

/** "zone_enter", "zone_exit", "trip_start", "trip_end", "stop", "alert",
 *  "late", "hourly"; NULL for an unknown value. */
FLEET_API const char *fleet_tracker_event_type_name(fleet_tracker_event_type_t type);

/** Version of fleet_vehicle_state_t this header describes. */
#define FLEET_VEHICLE_STATE_VERSION 1

/** A vehicle's last-known state: plain data. */
typedef struct fleet_vehicle_state {
  unsigned int version; /**< FLEET_VEHICLE_STATE_VERSION: set it before a get */
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t ts_ns;        /**< newest accepted fix */
  double lat;
  double lng;
  /** FLEET_TELEMETRY_SPEED / _HEADING of that fix, and _IGNITION when an
   *  ignition state has ever been reported. */
  unsigned int present;
  double speed_kmh;
  double heading_deg;
  int ignition;         /**< last reported ignition: 1 on, 0 off, -1 never reported */
  fleet_vehicle_status_t status;
  int in_trip;          /**< 1 while a reported trip is in progress */
  unsigned int n_zones; /**< zones the vehicle is in (fleet_tracker_vehicle_zones()) */
  uint64_t fixes;       /**< accepted fixes */
} fleet_vehicle_state_t;

#define FLEET_VEHICLE_STATE_INIT \
  {FLEET_VEHICLE_STATE_VERSION, "", 0, 0.0, 0.0, 0u, 0.0, 0.0, -1, (fleet_vehicle_status_t)0, 0, 0u, 0u}

/**
 * A vehicle's last-known state.
 * @param out        filled; its `version` must be FLEET_VEHICLE_STATE_VERSION.
 * @param vehicle_id borrowed.
 * @return 0, FLEET_EINVAL (NULL, bad version), FLEET_ENOTFOUND.
 */
FLEET_API int fleet_tracker_get(fleet_vehicle_state_t *out, const fleet_tracker_t *tracker,
                                const char *vehicle_id);

/**
 * The zones a vehicle is in, as keys of the tracker's zone set, ascending.
 * @param keys  caller's array (may be NULL when cap is 0).
 * @param cap   its capacity.
 * @param count receives the number of zones (may exceed cap).
 * @return 0, FLEET_ETOOBIG (*count > cap: the cap smallest keys were
 *   written), FLEET_EINVAL, FLEET_ENOTFOUND (unknown vehicle).
 */
FLEET_API int fleet_tracker_vehicle_zones(uint32_t *keys, size_t cap, size_t *count,
                                          const fleet_tracker_t *tracker,
                                          const char *vehicle_id);

/** Number of vehicles seen (0 for NULL). */
FLEET_API size_t fleet_tracker_count(const fleet_tracker_t *tracker);

/** Receives one vehicle's state (borrowed for the call); non-zero stops the walk. */
typedef int (*fleet_vehicle_state_cb)(const fleet_vehicle_state_t *state, void *userdata);

/**
 * Visit every vehicle in order of first appearance.
 * @return 0, FLEET_EINVAL, or the callback's non-zero value.
 */
FLEET_API int fleet_tracker_foreach(const fleet_tracker_t *tracker, fleet_vehicle_state_cb cb,
                                    void *userdata);

/**
 * The state of the index-th vehicle in order of first appearance (0 ..
 * count-1), for callers that cannot use callbacks.
 * @return 0, FLEET_EINVAL (NULL, bad version), FLEET_ENOTFOUND (out of range).
 */
FLEET_API int fleet_tracker_vehicle_at(fleet_vehicle_state_t *out,
                                       const fleet_tracker_t *tracker, size_t index);

/** Version of fleet_tracker_stats_t this header describes. */
#define FLEET_TRACKER_STATS_VERSION 1

/** Counters since the tracker was created. */
typedef struct fleet_tracker_stats {
  unsigned int version; /**< set by fleet_tracker_stats() */
  uint64_t fixes;       /**< accepted fixes */
  uint64_t late;        /**< out-of-order fixes (LATE events) */
  uint64_t duplicates;  /**< same-ts duplicates ignored */
  uint64_t rejected;    /**< records refused (FLEET_EINVAL / FLEET_ERANGE) */
  uint64_t vehicles;    /**< vehicles known */
  uint64_t events;      /**< events delivered */
  uint64_t alerts;      /**< of which ALERT */
} fleet_tracker_stats_t;

/** Read the counters. Returns 0 or FLEET_EINVAL. */
FLEET_API int fleet_tracker_stats(fleet_tracker_stats_t *out, const fleet_tracker_t *tracker);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_TRACKER_H */
