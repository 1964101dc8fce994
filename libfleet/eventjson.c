/* eventjson: the JSON form of trips, stops, zone events, alerts and hourly
 * aggregates, live (tracker) or stored (history). */
#include "common_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fleet/eventjson.h"
#include "numfmt_int.h"

/* Decimals per unit (see the header). */
enum {
  D_DEG = 7,
  D_M = 1,
  D_S = 3,
  D_KMH = 2,
  D_L = 3,
  D_PCT = 2,
  D_V = 3,
  D_ALERT = 3
};

#define KNOWN_FLAGS (FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS)

/* Appends to a buffer, remembering the first failure so that the encoders
 * read as plain sequences of members. */
typedef struct w {
  fleet_buf_t *b;
  size_t start;
  int rc;
  int first; /* no member written yet */
} w_t;

static void put(w_t *w, const char *s, size_t n)
{
  if (!w->rc)
    w->rc = fleet_buf_append(w->b, s, n);
}

static void puts_(w_t *w, const char *s)
{
  put(w, s, strlen(s));
}

static void str(w_t *w, const char *s)
{
  put(w, "\"", 1);
  const char *run = s ? s : "";
  for (const char *p = run; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
      continue;
    put(w, run, (size_t)(p - run));
    char esc[8];
    switch (ch) {
    case '"': memcpy(esc, "\\\"", 3); break;
    case '\\': memcpy(esc, "\\\\", 3); break;
    case '\b': memcpy(esc, "\\b", 3); break;
    case '\f': memcpy(esc, "\\f", 3); break;
    case '\n': memcpy(esc, "\\n", 3); break;
    case '\r': memcpy(esc, "\\r", 3); break;
    case '\t': memcpy(esc, "\\t", 3); break;
    default: snprintf(esc, sizeof esc, "\\u%04x", (unsigned int)ch); break;
    }
    puts_(w, esc);
    run = p + 1;
  }
  puts_(w, run);
  put(w, "\"", 1);
}

/* `v` rounded to `decimals`, trailing zeros dropped; "-0" is "0". printf's
 * rounding of the exact binary value, with '.' whatever the locale says. */
static void num(w_t *w, double v, int decimals)
{
  if (!isfinite(v)) {
    puts_(w, "null");
    return;
  }
  char out[FLEET_NUMFMT_DOUBLE_MAX + 8];
  if (fabs(v) >= 1e15) {
    /* Beyond the precision of a double's fraction anyway. */
    if (fleet_numfmt__double(out, sizeof out, v) < 0)
      w->rc = w->rc ? w->rc : FLEET_EINTERNAL;
    else
      puts_(w, out);
    return;
  }
  char raw[64];
  snprintf(raw, sizeof raw, "%.*f", decimals, v);
  size_t n = 0;
  const char *p = raw;
  if (*p == '-')
    out[n++] = *p++;
  while (*p >= '0' && *p <= '9')
    out[n++] = *p++;
  while (*p && (*p < '0' || *p > '9'))
    p++; /* the locale's decimal point */
  if (*p) {
    size_t dot = n;
    out[n++] = '.';
    while (*p >= '0' && *p <= '9')
      out[n++] = *p++;
    while (n > dot + 1 && out[n - 1] == '0')
      n--;
    if (n == dot + 1)
      n = dot;
  }
  out[n] = '\0';
  puts_(w, strcmp(out, "-0") ? out : "0");
}

static void key(w_t *w, const char *k)
{
  if (!w->first)
    put(w, ",", 1);
  w->first = 0;
  put(w, "\"", 1);
  puts_(w, k);
  put(w, "\":", 2);
}

static void k_str(w_t *w, const char *k, const char *s)
{
  key(w, k);
  str(w, s);
}

static void k_num(w_t *w, const char *k, double v, int decimals)
{
  key(w, k);
  num(w, v, decimals);
}

static void k_time(w_t *w, const char *k, int64_t ns)
{
  char t[FLEET_TIME_STRLEN];
  fleet_time_format(t, ns);
  k_str(w, k, t);
}

static void k_bool(w_t *w, const char *k, int v)
{
  key(w, k);
  puts_(w, v ? "true" : "false");
}

static void k_uint(w_t *w, const char *k, unsigned int v)
{
  char n[16];
  snprintf(n, sizeof n, "%u", v);
  key(w, k);
  puts_(w, n);
}

static void pos(w_t *w, const char *lat_key, double lat, const char *lng_key, double lng)
{
  k_num(w, lat_key, lat, D_DEG);
  k_num(w, lng_key, lng, D_DEG);
}

/* Opens the object; the type member first when asked for. */
static int begin(w_t *w, fleet_buf_t *buf, unsigned int flags, const char *type)
{
  w->b = buf;
  w->start = buf ? buf->len : 0;
  w->rc = 0;
  w->first = 1;
  if (!buf)
    return fleet_error__set(FLEET_EINVAL, "event JSON: NULL buffer");
  if (flags & ~(unsigned int)KNOWN_FLAGS)
    return fleet_error__set(FLEET_EINVAL, "event JSON: unknown flags 0x%x",
                            flags & ~(unsigned int)KNOWN_FLAGS);
  put(w, "{", 1);
  if (flags & FLEET_EVENTJSON_TYPE)
    k_str(w, "type", type);
  return 0;
}

/* Closes the object, or puts the buffer back as it was. */
static int end(w_t *w)
{
  put(w, "}", 1);
  if (w->rc) {
    int rc = w->rc;
    w->b->len = w->start;
    if (w->b->ptr)
      w->b->ptr[w->start] = '\0';
    return rc;
  }
  return 0;
}

/* A failure found after begin(): the buffer goes back as it was. */
static int fail(w_t *w, int rc)
{
  w->rc = rc;
  return end(w);
}

/* ---- trips and stops ---------------------------------------------------------- */

/* The members a live and a stored trip share. */
typedef struct trip_core {
  const char *vehicle_id;
  int64_t start_ns, end_ns;
  double start_lat, start_lng, end_lat, end_lng;
  double distance_m, duration_s, moving_s, idle_s, max_speed_kmh, avg_speed_kmh;
  int has_fuel;
  double fuel_l;
} trip_core_t;

static void trip_members(w_t *w, const trip_core_t *t)
{
  k_str(w, "vehicle_id", t->vehicle_id);
  k_time(w, "start", t->start_ns);
  k_time(w, "end", t->end_ns);
  pos(w, "start_lat", t->start_lat, "start_lng", t->start_lng);
  pos(w, "end_lat", t->end_lat, "end_lng", t->end_lng);
  k_num(w, "distance_m", t->distance_m, D_M);
  k_num(w, "duration_s", t->duration_s, D_S);
  k_num(w, "moving_s", t->moving_s, D_S);
  k_num(w, "idle_s", t->idle_s, D_S);
  k_num(w, "max_speed_kmh", t->max_speed_kmh, D_KMH);
  k_num(w, "avg_speed_kmh", t->avg_speed_kmh, D_KMH);
  k_num(w, "fuel_l", t->has_fuel ? t->fuel_l : NAN, D_L);
}

static int trip_json(fleet_buf_t *buf, const fleet_trip_t *t, unsigned int flags)
{
  w_t w;
  int rc = begin(&w, buf, flags, "trip");
  if (rc)
    return rc;
  const char *reason = fleet_trip_end_reason_name(t->end_reason);
  if ((flags & FLEET_EVENTJSON_DETAILS) && !reason)
    return fail(&w, fleet_error__set(FLEET_EINVAL, "trip.end_reason: %d has no name",
                                     (int)t->end_reason));
  trip_core_t c = {t->vehicle_id, t->start_ns, t->end_ns, t->start_lat, t->start_lng,
                   t->end_lat, t->end_lng, t->distance_m, t->duration_s, t->moving_s,
                   t->idle_s, t->max_speed_kmh, t->avg_speed_kmh,
                   (t->flags & (FLEET_TRIP_FUEL_FROM_LEVEL | FLEET_TRIP_FUEL_ESTIMATED)) != 0,
                   t->fuel_l};
  trip_members(&w, &c);
  if (flags & FLEET_EVENTJSON_DETAILS) {
    k_str(&w, "end_reason", reason);
    k_uint(&w, "fixes", t->n_fixes);
    k_str(&w, "distance_source", (t->flags & FLEET_TRIP_DISTANCE_ODOMETER) ? "odometer" : "gps");
  }
  return end(&w);
}

int fleet_trip_encode_json(fleet_buf_t *buf, const fleet_trip_t *trip, unsigned int flags)
{
  if (!trip)
    return fleet_error__set(FLEET_EINVAL, "trip JSON: NULL trip");
  return trip_json(buf, trip, flags);
}

int fleet_history_trip_encode_json(fleet_buf_t *buf, const fleet_history_trip_t *t,
                                   unsigned int flags)
{
  if (!t)
    return fleet_error__set(FLEET_EINVAL, "trip JSON: NULL trip");
  w_t w;
  int rc = begin(&w, buf, flags, "trip");
  if (rc)
    return rc;
  trip_core_t c = {t->vehicle_id, t->start_ns, t->end_ns, t->start_lat, t->start_lng,
                   t->end_lat, t->end_lng, t->distance_m, t->duration_s, t->moving_s,
                   t->idle_s, t->max_speed_kmh, t->avg_speed_kmh, t->has_fuel != 0, t->fuel_l};
  trip_members(&w, &c);
  return end(&w);
}

static int stop_json(fleet_buf_t *buf, const fleet_stop_t *s, unsigned int flags)
{
  w_t w;
  int rc = begin(&w, buf, flags, "stop");
  if (rc)
    return rc;
  k_str(&w, "vehicle_id", s->vehicle_id);
  k_time(&w, "start", s->start_ns);
  k_time(&w, "end", s->end_ns);
  k_num(&w, "duration_s", s->duration_s, D_S);
  pos(&w, "lat", s->lat, "lng", s->lng);
  if (flags & FLEET_EVENTJSON_DETAILS) {
    k_bool(&w, "open", (s->flags & FLEET_STOP_OPEN) != 0);
    k_bool(&w, "after_data_gap", (s->flags & FLEET_STOP_DATA_GAP) != 0);
    k_bool(&w, "from_first_fix", (s->flags & FLEET_STOP_FROM_FIRST_FIX) != 0);
  }
  return end(&w);
}

int fleet_stop_encode_json(fleet_buf_t *buf, const fleet_stop_t *stop, unsigned int flags)
{
  if (!stop)
    return fleet_error__set(FLEET_EINVAL, "stop JSON: NULL stop");
  return stop_json(buf, stop, flags);
}

/* ---- zone events and alerts ----------------------------------------------------- */

static void zone_members(w_t *w, const char *zone_id, const char *zone_name, int exit,
                         double dwell_s)
{
  k_str(w, "zone_id", zone_id);
  k_str(w, "zone_name", zone_name && *zone_name ? zone_name : zone_id);
  if (exit)
    k_num(w, "dwell_s", dwell_s, D_S);
}

/* The members a live and a stored alert share, after vehicle_id and ts. */
typedef struct alert_core {
  const char *rule, *rule_type, *severity, *message;
  double value, limit;
  const char *zone_id, *zone_name;
} alert_core_t;

static void alert_members(w_t *w, const alert_core_t *a)
{
  k_str(w, "rule", a->rule);
  k_str(w, "rule_type", a->rule_type);
  k_str(w, "severity", a->severity);
  k_str(w, "message", a->message);
  k_num(w, "value", a->value, D_ALERT);
  k_num(w, "limit", a->limit, D_ALERT);
  if (a->zone_id && *a->zone_id) {
    k_str(w, "zone_id", a->zone_id);
    if (a->zone_name && *a->zone_name)
      k_str(w, "zone_name", a->zone_name);
  }
}

int fleet_history_zone_event_encode_json(fleet_buf_t *buf, const fleet_history_zone_event_t *ev,
                                         unsigned int flags)
{
  if (!ev)
    return fleet_error__set(FLEET_EINVAL, "zone event JSON: NULL event");
  w_t w;
  int rc = begin(&w, buf, flags, ev->enter ? "zone_enter" : "zone_exit");
  if (rc)
    return rc;
  k_str(&w, "vehicle_id", ev->vehicle_id);
  k_time(&w, "ts", ev->ts_ns);
  zone_members(&w, ev->zone_id, ev->zone_name, !ev->enter, ev->dwell_s);
  if (ev->has_position)
    pos(&w, "lat", ev->lat, "lng", ev->lng);
  return end(&w);
}

int fleet_history_alert_encode_json(fleet_buf_t *buf, const fleet_history_alert_t *a,
                                    unsigned int flags)
{
  if (!a)
    return fleet_error__set(FLEET_EINVAL, "alert JSON: NULL alert");
  w_t w;
  int rc = begin(&w, buf, flags, "alert");
  if (rc)
    return rc;
  k_str(&w, "vehicle_id", a->vehicle_id);
  k_time(&w, "ts", a->ts_ns);
  alert_core_t c = {a->rule, a->type,  a->severity, a->message,
                    a->value, a->limit, a->zone_id, a->zone_name};
  alert_members(&w, &c);
  if (a->has_position)
    pos(&w, "lat", a->lat, "lng", a->lng);
  return end(&w);
}

/* ---- tracker events ----------------------------------------------------------- */

static int hourly_json(fleet_buf_t *buf, const fleet_hourly_t *h, const char *vehicle_id,
                       unsigned int flags)
{
  w_t w;
  int rc = begin(&w, buf, flags, "hourly");
  if (rc)
    return rc;
  k_str(&w, "vehicle_id", vehicle_id);
  k_time(&w, "start", h->hour_ns);
  k_time(&w, "end", h->hour_ns + 3600LL * 1000000000LL);
  k_uint(&w, "revision", h->revision);
  k_uint(&w, "count", h->count);
  k_num(&w, "distance_m", h->distance_m, D_M);
  k_num(&w, "moving_s", h->moving_s, D_S);
  k_num(&w, "idle_s", h->idle_s, D_S);
  if (h->present & FLEET_HOURLY_SPEED) {
    k_num(&w, "speed_mean_kmh", h->speed_mean_kmh, D_KMH);
    k_num(&w, "speed_max_kmh", h->speed_max_kmh, D_KMH);
  }
  if (h->present & FLEET_HOURLY_FUEL) {
    k_num(&w, "fuel_min_pct", h->fuel_min_pct, D_PCT);
    k_num(&w, "fuel_max_pct", h->fuel_max_pct, D_PCT);
  }
  if (h->present & FLEET_HOURLY_BATTERY) {
    k_num(&w, "battery_min_v", h->battery_min_v, D_V);
    k_num(&w, "battery_max_v", h->battery_max_v, D_V);
  }
  pos(&w, "last_lat", h->last_lat, "last_lng", h->last_lng);
  return end(&w);
}

int fleet_tracker_event_encode_json(fleet_buf_t *buf, const fleet_tracker_event_t *ev,
                                    unsigned int flags)
{
  if (!ev)
    return fleet_error__set(FLEET_EINVAL, "event JSON: NULL event");
  const char *type = fleet_tracker_event_type_name(ev->type);
  if (!type)
    return fleet_error__set(FLEET_EINVAL, "event.type: %d is not an event type", (int)ev->type);
  const char *missing = NULL;
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_TRIP_END: missing = ev->trip ? NULL : "trip"; break;
  case FLEET_TRACKER_EVENT_STOP: missing = ev->stop ? NULL : "stop"; break;
  case FLEET_TRACKER_EVENT_ALERT: missing = ev->alert ? NULL : "alert"; break;
  case FLEET_TRACKER_EVENT_HOURLY: missing = ev->hourly ? NULL : "hourly"; break;
  default: break;
  }
  if (missing)
    return fleet_error__set(FLEET_EINVAL, "event.%s: NULL for event type %s", missing, type);
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_TRIP_END: return trip_json(buf, ev->trip, flags);
  case FLEET_TRACKER_EVENT_STOP: return stop_json(buf, ev->stop, flags);
  case FLEET_TRACKER_EVENT_HOURLY: return hourly_json(buf, ev->hourly, ev->vehicle_id, flags);
  default: break;
  }
  w_t w;
  int rc = begin(&w, buf, flags, type);
  if (rc)
    return rc;
  k_str(&w, "vehicle_id", ev->vehicle_id);
  k_time(&w, "ts", ev->ts_ns);
  if (ev->type == FLEET_TRACKER_EVENT_ALERT) {
    const fleet_alert_t *a = ev->alert;
    const char *rule_type = fleet_rule_type_name(a->rule_type);
    const char *severity = fleet_severity_name(a->severity);
    if (!rule_type)
      return fail(&w, fleet_error__set(FLEET_EINVAL, "alert.rule_type: %d is not a rule type",
                                       (int)a->rule_type));
    if (!severity)
      return fail(&w, fleet_error__set(FLEET_EINVAL, "alert.severity: %d is not a severity",
                                       (int)a->severity));
    alert_core_t c = {a->rule_id, rule_type, severity, a->message, a->value, a->limit,
                      a->zone_id ? a->zone_id : ev->zone_id,
                      a->zone_id ? a->zone_name : ev->zone_name};
    alert_members(&w, &c);
  } else if (ev->type == FLEET_TRACKER_EVENT_ZONE_ENTER ||
             ev->type == FLEET_TRACKER_EVENT_ZONE_EXIT) {
    zone_members(&w, ev->zone_id, ev->zone_name, ev->type == FLEET_TRACKER_EVENT_ZONE_EXIT,
                 ev->dwell_s);
  }
  pos(&w, "lat", ev->lat, "lng", ev->lng);
  return end(&w);
}
