/* Tracker events as InfluxDB points (schema: fleet/history.h) and alerts as
 * the JSON published to fleet/{id}/alerts. */
#include "fleetd.h"

#include <string.h>

enum { M_HOURLY = 0, M_TRIPS, M_GEOFENCE, M_ALERTS };

void fleetd_ts_dedup_reset(fleetd_ts_dedup_t *dd)
{
  dd->vehicle[0] = '\0';
}

static int64_t unique_ts(fleetd_ts_dedup_t *dd, const char *vehicle, int m, int64_t ts)
{
  if (!dd)
    return ts;
  if (!dd->vehicle[0] || strcmp(dd->vehicle, vehicle) != 0) {
    snprintf(dd->vehicle, sizeof dd->vehicle, "%s", vehicle);
    for (int i = 0; i < 4; i++) {
      dd->last_ts[i] = INT64_MIN;
      dd->bump[i] = 0;
    }
  }
  if (dd->last_ts[m] == ts) {
    dd->bump[m]++;
  } else {
    dd->last_ts[m] = ts;
    dd->bump[m] = 0;
  }
  return ts + (int64_t)dd->bump[m];
}

/* Tags in InfluxDB's order (by key): device_type, fleet_id, vehicle_id. */
static void add_tags(fleet_lp_point_t *pt, const char *vehicle, const fleetd_tags_t *tags)
{
  if (tags && tags->device_type && *tags->device_type)
    fleet_lp_add_tag(pt, FLEET_HISTORY_TAG_DEVICE_TYPE, tags->device_type);
  if (tags && tags->fleet_id && *tags->fleet_id)
    fleet_lp_add_tag(pt, FLEET_HISTORY_TAG_FLEET_ID, tags->fleet_id);
  fleet_lp_add_tag(pt, FLEET_HISTORY_TAG_VEHICLE_ID, vehicle);
}

static void add_opt_str(fleet_lp_point_t *pt, const char *key, const char *v)
{
  if (v && *v)
    fleet_lp_add_string(pt, key, v);
}

static int hourly_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                     const fleetd_tags_t *tags)
{
  const fleet_hourly_t *h = ev->hourly;
  fleet_lp_point_t pt;
  fleet_lp_begin(&pt, buf, FLEET_HISTORY_M_HOURLY);
  add_tags(&pt, ev->vehicle_id, tags);
  fleet_lp_add_int(&pt, FLEET_HISTORY_F_SAMPLES, (int64_t)h->count);
  if (h->present & FLEET_HOURLY_SPEED) {
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_SPEED_MEAN, h->speed_mean_kmh);
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_SPEED_MAX, h->speed_max_kmh);
  }
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_DISTANCE_M, h->distance_m);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_MOVING_S, h->moving_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_IDLE_S, h->idle_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LAT, h->last_lat);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LNG, h->last_lng);
  fleet_lp_add_int(&pt, FLEET_HISTORY_F_LAST_TS, h->last_ts_ns);
  if (h->present & FLEET_HOURLY_FUEL) {
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_FUEL_MIN, h->fuel_min_pct);
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_FUEL_MAX, h->fuel_max_pct);
  }
  if (h->present & FLEET_HOURLY_BATTERY) {
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_BATTERY_MIN, h->battery_min_v);
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_BATTERY_MAX, h->battery_max_v);
  }
  /* A corrected hour must replace the first one: same timestamp, no bump. */
  (void)dd;
  return fleet_lp_end(&pt, h->hour_ns);
}

static int trip_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                   const fleetd_tags_t *tags)
{
  const fleet_trip_t *t = ev->trip;
  fleet_lp_point_t pt;
  fleet_lp_begin(&pt, buf, FLEET_HISTORY_M_TRIPS);
  add_tags(&pt, ev->vehicle_id, tags);
  fleet_lp_add_int(&pt, FLEET_HISTORY_F_START_NS, t->start_ns);
  fleet_lp_add_int(&pt, FLEET_HISTORY_F_END_NS, t->end_ns);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_DISTANCE_M, t->distance_m);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_DURATION_S, t->duration_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_MOVING_S, t->moving_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_IDLE_S, t->idle_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_MAX_SPEED_KMH, t->max_speed_kmh);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_AVG_SPEED_KMH, t->avg_speed_kmh);
  if (t->flags & (FLEET_TRIP_FUEL_FROM_LEVEL | FLEET_TRIP_FUEL_ESTIMATED))
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_FUEL_L, t->fuel_l);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_START_LAT, t->start_lat);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_START_LNG, t->start_lng);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_END_LAT, t->end_lat);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_END_LNG, t->end_lng);
  return fleet_lp_end(&pt, unique_ts(dd, ev->vehicle_id, M_TRIPS, t->start_ns));
}

static int zone_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                   const fleetd_tags_t *tags)
{
  int enter = ev->type == FLEET_TRACKER_EVENT_ZONE_ENTER;
  fleet_lp_point_t pt;
  fleet_lp_begin(&pt, buf, FLEET_HISTORY_M_GEOFENCE);
  add_tags(&pt, ev->vehicle_id, tags);
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_ZONE_ID, ev->zone_id ? ev->zone_id : "");
  add_opt_str(&pt, FLEET_HISTORY_F_ZONE_NAME, ev->zone_name);
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_EVENT,
                      enter ? FLEET_HISTORY_EVENT_ENTER : FLEET_HISTORY_EVENT_EXIT);
  if (!enter)
    fleet_lp_add_float(&pt, FLEET_HISTORY_F_DWELL_S, ev->dwell_s);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LAT, ev->lat);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LNG, ev->lng);
  return fleet_lp_end(&pt, unique_ts(dd, ev->vehicle_id, M_GEOFENCE, ev->ts_ns));
}

static int alert_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                    const fleetd_tags_t *tags)
{
  const fleet_alert_t *a = ev->alert;
  const char *type = fleet_rule_type_name(a->rule_type);
  const char *sev = fleet_severity_name(a->severity);
  fleet_lp_point_t pt;
  fleet_lp_begin(&pt, buf, FLEET_HISTORY_M_ALERTS);
  add_tags(&pt, ev->vehicle_id, tags);
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_RULE, a->rule_id ? a->rule_id : "");
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_TYPE, type ? type : "unknown");
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_SEVERITY, sev ? sev : "warning");
  fleet_lp_add_string(&pt, FLEET_HISTORY_F_MESSAGE, a->message ? a->message : "");
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_VALUE, a->value);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LIMIT, a->limit);
  add_opt_str(&pt, FLEET_HISTORY_F_ZONE_ID, a->zone_id);
  add_opt_str(&pt, FLEET_HISTORY_F_ZONE_NAME, a->zone_name);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LAT, ev->lat);
  fleet_lp_add_float(&pt, FLEET_HISTORY_F_LNG, ev->lng);
  return fleet_lp_end(&pt, unique_ts(dd, ev->vehicle_id, M_ALERTS, ev->ts_ns));
}

int fleetd_event_lp(fleet_buf_t *buf, fleetd_ts_dedup_t *dd, const fleet_tracker_event_t *ev,
                    const fleetd_tags_t *tags)
{
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_HOURLY:
    return ev->hourly ? hourly_lp(buf, dd, ev, tags) : 0;
  case FLEET_TRACKER_EVENT_TRIP_END:
    return ev->trip ? trip_lp(buf, dd, ev, tags) : 0;
  case FLEET_TRACKER_EVENT_ZONE_ENTER:
  case FLEET_TRACKER_EVENT_ZONE_EXIT:
    return zone_lp(buf, dd, ev, tags);
  case FLEET_TRACKER_EVENT_ALERT:
    return ev->alert ? alert_lp(buf, dd, ev, tags) : 0;
  default:
    return 0;
  }
}

/* fleet_ws_publish_alert() adds the "type" member itself, and the MQTT
 * payload has none: the library's alert object without it. */
int fleetd_alert_json(fleet_buf_t *buf, const fleet_tracker_event_t *ev)
{
  if (ev->type != FLEET_TRACKER_EVENT_ALERT)
    return FLEET_EINVAL;
  return fleet_tracker_event_encode_json(buf, ev, 0);
}
