/*
 * trip internals: a compact, plain per-vehicle trip state for components that
 * keep their own per-vehicle records (the tracker), and the functions that
 * drive it. The public detector (fleet_tripdet_t, include/fleet/trip.h) is a
 * map from vehicle id to one of these states.
 *
 * The state machine, the event order and every rule are those documented in
 * include/fleet/trip.h; this header only adds when exactly each event fires:
 *
 *   fleet_trip__feed(), for an accepted fix F (in this order, at most 4 events):
 *     1. TRIP_END (reason DATA_GAP) when F.ts - previous.ts >= max_gap_s (> 0) and a
 *        reported trip was in progress; it ends at the previous fix, or at the
 *        first fix of the pause the vehicle was in. An unreported candidate is
 *        dropped silently instead. The stop that follows starts there.
 *     2. TRIP_END (reason PARKED) when a trip was pausing (inactive since its
 *        first inactive fix P) and F.ts - P.ts >= min_parking_s, whether F is
 *        active or not (the state of a fix holds until the next one): the
 *        trip ends at P. An unreported candidate is dropped instead. An
 *        active F then starts a new candidate.
 *     3. STOP + TRIP_START when, with F, a candidate trip reaches both
 *        min_trip_duration_s and min_trip_distance_m (its duration and GPS path
 *        counted up to F, or up to its first inactive fix when F is that
 *        fix). STOP (the stop that the trip ends) is skipped when its duration
 *        would be 0, e.g. when the stream starts with an active fix.
 *     4. TRIP_END (reason IGNITION_OFF) when use_ignition is set, a trip is in
 *        progress and F reports ignition off: the trip ends at F, or at
 *        the first fix P of the pause the vehicle was already in (possible
 *        when earlier fixes did not report the ignition). 3 and 4 may come
 *        from the same fix.
 *   fleet_trip__tick(now): 1 or 2 with F.ts replaced by now (no fix is added).
 *   fleet_trip__flush(): TRIP_END (FLUSH) for a reported trip in progress, then
 *     STOP (FLEET_STOP_OPEN) for the stop in progress when it lasted > 0 s;
 *     then the state is reset as by fleet_trip__init().
 *
 * Memory: sizeof(fleet_trip__state_t) is about 200 bytes (checked by a static
 * assertion in trip.c: at most FLEET_TRIP__STATE_MAX_BYTES); it holds no pointers and
 * no telemetry copies, may be zero-initialised, copied with memcpy and
 * compared for equality with memcmp only after fleet_trip__init() (padding is
 * zeroed there). The vehicle id is not stored: the caller passes it.
 *
 * Thread safety: a state is used by one thread at a time.
 */
#ifndef FLEET_TRIP_INT_H
#define FLEET_TRIP_INT_H

#include <stdint.h>

#include "fleet/trip.h"

/** Upper bound on sizeof(fleet_trip__state_t), asserted at compile time. */
#define FLEET_TRIP__STATE_MAX_BYTES 224

/** A time and position. */
typedef struct fleet_trip__point {
  int64_t ts_ns; /**< ns since the epoch */
  double lat;    /**< degrees */
  double lng;    /**< degrees */
} fleet_trip__point_t;

/** Where a vehicle is in the state machine (fleet_trip__state_t.phase). */
enum fleet_trip__phase {
  FLEET_TRIP__EMPTY = 0,     /**< no fix yet (after init or flush) */
  FLEET_TRIP__PARKED = 1,    /**< a stop in progress, no trip candidate */
  FLEET_TRIP__CANDIDATE = 2, /**< a stop in progress and a candidate not yet reported */
  FLEET_TRIP__TRIP = 3       /**< a reported trip in progress (TRIP_START delivered) */
};

/**
 * Per-vehicle trip state: plain data, no pointers. Members are private to
 * trip.c; read them only through the accessors below.
 */
typedef struct fleet_trip__state {
  fleet_trip__point_t last;  /**< newest accepted fix */
  fleet_trip__point_t stop;  /**< start of the stop in progress (PARKED, CANDIDATE) */
  fleet_trip__point_t start; /**< first fix of the trip (CANDIDATE, TRIP) */
  fleet_trip__point_t end;   /**< last fix counted into the trip so far */
  double start_odo_km;       /**< NaN when the start fix had no odometer */
  double end_odo_km;         /**< NaN when the end fix had no odometer */
  double dist_m;             /**< GPS path length, start..end */
  double max_speed_kmh;      /**< start..end */
  double pause_dist_m;       /**< GPS path length after `end` while pausing */
  double pause_max_speed_kmh;
  int64_t moving_ns;         /**< start..end */
  int64_t idle_ns;           /**< start..end */
  int64_t pause_idle_ns;     /**< after `end` while pausing */
  double start_fuel_pct;     /**< NaN when absent */
  double end_fuel_pct;       /**< NaN when absent */
  uint32_t n_fixes;          /**< fixes start..end */
  uint32_t pause_n;          /**< fixes after `end` while pausing */
  uint8_t phase;             /**< enum fleet_trip__phase */
  uint8_t last_bits;         /**< motion bits of `last` (trip.c) */
  uint8_t flags;             /**< pausing, stop flags (trip.c) */
  uint8_t reserved;
} fleet_trip__state_t;

/** Reset a state to "no fix seen" (zeroes it, padding included). */
void fleet_trip__init(fleet_trip__state_t *st);

/**
 * Feed one fix. `params` must have passed fleet_trip_params_validate() (it is
 * not re-checked here: this is the hot path). Events go to `cb` with the
 * record's vehicle_id; see the top of this file for which and when.
 *
 * @param out_status optional: FLEET_TRIP_FIX_ACCEPTED, _STALE (rec->ts_ns older
 *                   than the newest fix: nothing changes) or _DUPLICATE (same ts).
 * @return 0, FLEET_EINVAL (NULL st/params/rec/cb), FLEET_ERANGE (lat/lng out of
 *         range or non-finite, or a used optional field out of range; the
 *         fix is ignored, the state unchanged), or the callback's non-zero
 *         value (the state has advanced; later events of this fix are lost).
 */
int fleet_trip__feed(fleet_trip_fix_status_t *out_status, fleet_trip__state_t *st,
                     const fleet_trip_params_t *params, const fleet_telemetry_t *rec,
                     fleet_trip_event_cb cb, void *userdata);

/**
 * Apply the parking and data-gap rules at device time `now_ns` without a fix
 * (for vehicles that went quiet). Nothing happens when now_ns is not after the
 * newest fix. `vehicle_id` (borrowed, NULL means "") is copied into events.
 * @return 0, FLEET_EINVAL, or the callback's non-zero value.
 */
int fleet_trip__tick(fleet_trip__state_t *st, const fleet_trip_params_t *params,
                     const char *vehicle_id, int64_t now_ns, fleet_trip_event_cb cb,
                     void *userdata);

/**
 * End of stream for this vehicle: TRIP_END (FLUSH) if a reported trip is in
 * progress, STOP (OPEN) for the stop in progress, then reset as
 * fleet_trip__init(). `vehicle_id` as for fleet_trip__tick().
 * @return 0, FLEET_EINVAL, or the callback's non-zero value (the state is reset
 *         either way).
 */
int fleet_trip__flush(fleet_trip__state_t *st, const fleet_trip_params_t *params,
                      const char *vehicle_id, fleet_trip_event_cb cb, void *userdata);

/** 1 when a reported trip is in progress (TRIP_START delivered, no TRIP_END yet). */
int fleet_trip__in_trip(const fleet_trip__state_t *st);

/** ts of the newest accepted fix, or INT64_MIN when none. */
int64_t fleet_trip__last_ts(const fleet_trip__state_t *st);

#endif /* FLEET_TRIP_INT_H */
