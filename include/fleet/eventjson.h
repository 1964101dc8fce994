/*
 * eventjson: the one JSON form of what tracking produces (trips, stops, zone
 * events, alerts, hourly aggregates), whether it comes straight from a
 * tracker (fleet/tracker.h, fleet/trip.h) or is read back from storage
 * (fleet/history.h). fleetd's REST API and WebSocket alerts (docs/API.md)
 * and `fleetctl trips/zones/events --json` are written with these functions,
 * so a trip or an alert looks the same wherever it is shown.
 *
 * Objects, members in this order ([..] only when the condition holds):
 *
 *   trip   [type "trip"] vehicle_id start end start_lat start_lng end_lat
 *          end_lng distance_m duration_s moving_s idle_s max_speed_kmh
 *          avg_speed_kmh fuel_l [details: end_reason fixes distance_source]
 *          fuel_l is null when no estimate was possible (neither
 *          FLEET_TRIP_FUEL_FROM_LEVEL nor FLEET_TRIP_FUEL_ESTIMATED).
 *   stop   [type "stop"] vehicle_id start end duration_s lat lng
 *          [details: open after_data_gap from_first_fix (booleans)]
 *   zone_enter / zone_exit
 *          [type] vehicle_id ts zone_id zone_name [dwell_s: exit] [lat lng]
 *          zone_name is the zone's id when the zone has no name.
 *   alert  [type "alert"] vehicle_id ts rule rule_type severity message value
 *          limit [zone_id zone_name: zone rules; zone_name when known] [lat lng]
 *   trip_start, late
 *          [type] vehicle_id ts lat lng
 *   hourly [type "hourly"] vehicle_id start end revision count distance_m
 *          moving_s idle_s [speed_mean_kmh speed_max_kmh] [fuel_min_pct
 *          fuel_max_pct] [battery_min_v battery_max_v] last_lat last_lng
 *
 * A TRIP_END event is written as a trip (type "trip") and a STOP event as a
 * stop. Positions are left out only where they are unknown (a stored row
 * without one). Times are RFC 3339 UTC strings (fleet_time_format()). Numbers
 * are rounded to what their unit needs and written without trailing zeros:
 * degrees 7 decimals (about 1 cm), metres 1, seconds 3, km/h 2, litres 3,
 * percent 2, volts 3, an alert's value and limit 3; a value that is not
 * finite is written as null. The output is one compact JSON object with no
 * newline, independent of the C locale. Strings are copied as given (UTF-8
 * expected) with '"', '\\' and control characters escaped.
 *
 * Every function appends to a caller-owned fleet_buf_t and leaves it as it
 * was on failure. They are reentrant: concurrent calls with distinct buffers
 * are safe, and the inputs are only read.
 */
#ifndef FLEET_EVENTJSON_H
#define FLEET_EVENTJSON_H

#include "common.h"
#include "history.h"
#include "tracker.h"
#include "trip.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bits of the `flags` argument of the encoders below. */
enum fleet_eventjson_flag {
  /**
   * Begin the object with its "type" member, for streams that mix kinds
   * (fleetctl's JSON lines, REST event lists). Without it the container says
   * what the object is (REST trip lists, the payload of a WebSocket alert).
   */
  FLEET_EVENTJSON_TYPE = 1u << 0,
  /**
   * Add what only the trip detector knows (see the header comment): a trip's
   * end_reason, fixes and distance_source, a stop's flags. No effect on
   * stored rows, which do not keep them.
   */
  FLEET_EVENTJSON_DETAILS = 1u << 1
};

/**
 * Append a trip summary (object "trip").
 * @param buf   caller-owned output buffer.
 * @param trip  borrowed.
 * @param flags FLEET_EVENTJSON_* bits.
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag, an end reason without
 *   a name), FLEET_ENOMEM.
 */
FLEET_API int fleet_trip_encode_json(fleet_buf_t *buf, const fleet_trip_t *trip,
                                     unsigned int flags);

/**
 * Append a stop (object "stop").
 * @param buf   caller-owned output buffer.
 * @param stop  borrowed.
 * @param flags FLEET_EVENTJSON_* bits.
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag), FLEET_ENOMEM.
 */
FLEET_API int fleet_stop_encode_json(fleet_buf_t *buf, const fleet_stop_t *stop,
                                     unsigned int flags);

/**
 * Append a tracker event in the object form of its type (see the header
 * comment); the type member is the event type's name except for TRIP_END
 * ("trip"). An alert's zone is the alert's, else the event's.
 * @param buf   caller-owned output buffer.
 * @param ev    borrowed; the member its type needs (trip, stop, alert,
 *              hourly) must be set.
 * @param flags FLEET_EVENTJSON_* bits.
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag or event type, the
 *   type's member missing, an alert's rule type or severity without a name),
 *   FLEET_ENOMEM.
 */
FLEET_API int fleet_tracker_event_encode_json(fleet_buf_t *buf, const fleet_tracker_event_t *ev,
                                              unsigned int flags);

/**
 * Append a stored trip (object "trip"; fuel_l null without has_fuel).
 * @param buf   caller-owned output buffer.
 * @param trip  borrowed.
 * @param flags FLEET_EVENTJSON_* bits (DETAILS has no effect).
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag), FLEET_ENOMEM.
 */
FLEET_API int fleet_history_trip_encode_json(fleet_buf_t *buf, const fleet_history_trip_t *trip,
                                             unsigned int flags);

/**
 * Append a stored zone transition (object "zone_enter" / "zone_exit"; lat
 * and lng only with has_position).
 * @param buf   caller-owned output buffer.
 * @param ev    borrowed.
 * @param flags FLEET_EVENTJSON_* bits (DETAILS has no effect).
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag), FLEET_ENOMEM.
 */
FLEET_API int fleet_history_zone_event_encode_json(fleet_buf_t *buf,
                                                   const fleet_history_zone_event_t *ev,
                                                   unsigned int flags);

/**
 * Append a stored alert (object "alert"): rule_type and severity as stored,
 * zone_id and zone_name when not empty, lat and lng only with has_position.
 * @param buf   caller-owned output buffer.
 * @param alert borrowed.
 * @param flags FLEET_EVENTJSON_* bits (DETAILS has no effect).
 * @return 0, FLEET_EINVAL (NULL argument, unknown flag), FLEET_ENOMEM.
 */
FLEET_API int fleet_history_alert_encode_json(fleet_buf_t *buf, const fleet_history_alert_t *alert,
                                              unsigned int flags);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_EVENTJSON_H */
