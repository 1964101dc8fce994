/* tracking: trip options and event output for the tracking subcommands (trips,
 * zones, events). */
#include "tracking.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- trip options ----------------------------------------------------------- */

const char fleetctl_trip_options_help[] =
  "trip detection (defaults in brackets; see fleet/trip.h):\n"
  "  --min-trip-distance M   shortest trip reported, metres [200]\n"
  "  --min-trip-duration S   shortest trip reported, seconds [180]\n"
  "  --min-parking S         standstill that ends a trip, seconds [300]\n"
  "  --max-gap S             silence that ends a trip, seconds; 0 never [3600]\n"
  "  --speed-threshold KMH   above this speed a fix is moving [2]\n"
  "  --use-ignition          the ignition decides activity; off ends a trip\n"
  "  --no-odometer           measure distance by GPS even when odometers are sent\n"
  "  --tank-l L              tank size: fuel used from the fuel level drop\n"
  "  --consumption L100      else fuel = distance x litres per 100 km\n"
  "  --idle-consumption LH   + idle time x litres per hour\n";

bool fleetctl_parse_number(double *out, const char *prog, const char *opt, const char *arg)
{
  char *end;
  errno = 0;
  double v = strtod(arg, &end);
  if (end == arg || *end || errno == ERANGE || !isfinite(v)) {
    fprintf(stderr, "%s: option '--%s': '%s' is not a number\n", prog, opt, arg);
    return false;
  }
  *out = v;
  return true;
}

/* Trip option `c` with argument `arg`: 1 applied, 0 not a trip option, -1 a bad value. */
static int trip_option(fleet_trip_params_t *p, const char *prog, int c, const char *arg)
{
  static const struct {
    int code;
    const char *name;
  } names[] = {
    {FLEETCTL_OPT_MIN_DISTANCE, "min-trip-distance"},
    {FLEETCTL_OPT_MIN_DURATION, "min-trip-duration"},
    {FLEETCTL_OPT_MIN_PARKING, "min-parking"},
    {FLEETCTL_OPT_MAX_GAP, "max-gap"},
    {FLEETCTL_OPT_SPEED_THRESHOLD, "speed-threshold"},
    {FLEETCTL_OPT_TANK, "tank-l"},
    {FLEETCTL_OPT_CONSUMPTION, "consumption"},
    {FLEETCTL_OPT_IDLE_CONSUMPTION, "idle-consumption"},
  };
  if (c == FLEETCTL_OPT_USE_IGNITION) {
    p->use_ignition = 1;
    return 1;
  }
  if (c == FLEETCTL_OPT_NO_ODOMETER) {
    p->use_odometer = 0;
    return 1;
  }
  const char *name = NULL;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].code == c)
      name = names[i].name;
  if (!name)
    return 0;
  double v;
  if (!fleetctl_parse_number(&v, prog, name, arg))
    return -1;
  switch (c) {
  case FLEETCTL_OPT_MIN_DISTANCE: p->min_trip_distance_m = v; break;
  case FLEETCTL_OPT_MIN_DURATION: p->min_trip_duration_s = v; break;
  case FLEETCTL_OPT_MIN_PARKING: p->min_parking_s = v; break;
  case FLEETCTL_OPT_MAX_GAP: p->max_gap_s = v; break;
  case FLEETCTL_OPT_SPEED_THRESHOLD: p->speed_threshold_kmh = v; break;
  case FLEETCTL_OPT_TANK: p->tank_l = v; break;
  case FLEETCTL_OPT_CONSUMPTION: p->consumption_l_per_100km = v; break;
  default: p->idle_l_per_h = v; break;
  }
  return 1;
}

/* ---- tracker options and inputs ---------------------------------------------- */

/* Vehicle and debounce option `c`: 1 applied, 0 none of them, -1 a bad value. */
static int tracker_option(fleet_tracker_opts_t *o, const char **vehicle, const char *prog, int c,
                          const char *arg)
{
  double v;
  switch (c) {
  case 'V':
    if (fleet_vehicle_id_validate(arg, strlen(arg))) {
      fprintf(stderr, "%s: --vehicle-id: %s\n", prog, fleet_error_last());
      return -1;
    }
    *vehicle = arg;
    return 1;
  case 'n':
    if (!fleetctl_parse_number(&v, prog, "debounce-fixes", arg))
      return -1;
    if (v < 1 || v > FLEET_TRACKER_MAX_DEBOUNCE_FIXES || v != (unsigned int)v) {
      fprintf(stderr, "%s: --debounce-fixes: %s is not a whole number in [1, %u]\n", prog, arg,
              FLEET_TRACKER_MAX_DEBOUNCE_FIXES);
      return -1;
    }
    o->zone_debounce_fixes = (unsigned int)v;
    return 1;
  case 's':
    return fleetctl_parse_number(&o->zone_debounce_s, prog, "debounce-s", arg) ? 1 : -1;
  default:
    return 0;
  }
}

bool fleetctl_tracking_option(fleet_tracker_opts_t *o, fleet_trip_params_t *p,
                              const char **vehicle, const char *prog, char *const *argv, int c,
                              const char *arg)
{
  int r = tracker_option(o, vehicle, prog, c, arg);
  if (r == 0 && p)
    r = trip_option(p, prog, c, arg);
  if (r == 0)
    fleetctl_bad_option(prog, argv, c);
  return r > 0;
}

/* The whole file, up to what a zone set may hold; NULL after reporting why. */
static char *read_file(const char *prog, const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  bool bad = false;
  for (;;) {
    if (cap - n < 65536) {
      cap = cap ? 2 * cap : 65536;
      char *p = cap <= (size_t)FLEET_ZONE_MAX_BYTES + 65536 ? realloc(buf, cap) : NULL;
      if (!p) {
        fprintf(stderr, "%s: '%s' is too large\n", prog, path);
        bad = true;
        break;
      }
      buf = p;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        fprintf(stderr, "%s: error reading '%s'\n", prog, path);
        bad = true;
      }
      break;
    }
  }
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

fleet_zoneset_t *fleetctl_load_zones(const char *prog, const char *path)
{
  size_t len = 0;
  char *text = read_file(prog, path, &len);
  if (!text)
    return NULL;
  fleet_zoneset_t *zones = NULL;
  int rc = fleet_zoneset_new(&zones);
  if (!rc)
    rc = fleet_zoneset_load_geojson(zones, text, len, FLEET_ZONESET_LOAD_REPLACE_ALL);
  free(text);
  if (rc) {
    fprintf(stderr, "%s: %s: %s\n", prog, path, fleet_error_last());
    fleet_zoneset_free(zones);
    return NULL;
  }
  return zones;
}

void fleetctl_records_late(const fleetctl_records_t *r, const char *vehicle_id)
{
  fleetctl_records_where(r);
  fprintf(stderr, "warning: fix older than the newest of vehicle %s: ignored\n", vehicle_id);
}

/* ---- output ----------------------------------------------------------------- */

void fleetctl_json_str(FILE *out, const char *s)
{
  putc('"', out);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\u%04x", *p);
    else
      putc(*p, out);
  }
  putc('"', out);
}

void fleetctl_json_num(FILE *out, double v, int decimals)
{
  if (!isfinite(v)) {
    fputs("null", out);
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  char *dot = strchr(buf, '.');
  if (dot) {
    char *e = buf + strlen(buf);
    while (e > dot + 1 && e[-1] == '0')
      *--e = '\0';
    if (e == dot + 1)
      *dot = '\0';
  }
  fputs(strcmp(buf, "-0") ? buf : "0", out);
}

void fleetctl_json_time(FILE *out, int64_t ns)
{
  char t[FLEET_TIME_STRLEN];
  fleet_time_format(t, ns);
  fprintf(out, "\"%s\"", t);
}

static void key(FILE *out, const char *k)
{
  fprintf(out, ",\"%s\":", k);
}

static void head(FILE *out, const char *type, const char *vehicle_id)
{
  fprintf(out, "{\"type\":\"%s\",\"vehicle_id\":", type);
  fleetctl_json_str(out, vehicle_id);
}

static void pos(FILE *out, const char *lat_key, double lat, const char *lng_key, double lng)
{
  key(out, lat_key);
  fleetctl_json_num(out, lat, 7);
  key(out, lng_key);
  fleetctl_json_num(out, lng, 7);
}

void fleetctl_trip_json(FILE *out, const fleet_trip_t *t)
{
  head(out, "trip", t->vehicle_id);
  key(out, "start");
  fleetctl_json_time(out, t->start_ns);
  key(out, "end");
  fleetctl_json_time(out, t->end_ns);
  key(out, "distance_m");
  fleetctl_json_num(out, t->distance_m, 1);
  key(out, "duration_s");
  fleetctl_json_num(out, t->duration_s, 3);
  key(out, "moving_s");
  fleetctl_json_num(out, t->moving_s, 3);
  key(out, "idle_s");
  fleetctl_json_num(out, t->idle_s, 3);
  key(out, "max_speed_kmh");
  fleetctl_json_num(out, t->max_speed_kmh, 2);
  key(out, "avg_speed_kmh");
  fleetctl_json_num(out, t->avg_speed_kmh, 2);
  key(out, "fuel_l");
  fleetctl_json_num(out, t->fuel_l, 3);
  pos(out, "start_lat", t->start_lat, "start_lng", t->start_lng);
  pos(out, "end_lat", t->end_lat, "end_lng", t->end_lng);
  fprintf(out, ",\"end_reason\":\"%s\",\"fixes\":%u,\"distance_source\":\"%s\"}\n",
          fleet_trip_end_reason_name(t->end_reason), t->n_fixes,
          (t->flags & FLEET_TRIP_DISTANCE_ODOMETER) ? "odometer" : "gps");
}

void fleetctl_stop_json(FILE *out, const fleet_stop_t *s)
{
  head(out, "stop", s->vehicle_id);
  key(out, "start");
  fleetctl_json_time(out, s->start_ns);
  key(out, "end");
  fleetctl_json_time(out, s->end_ns);
  key(out, "duration_s");
  fleetctl_json_num(out, s->duration_s, 3);
  pos(out, "lat", s->lat, "lng", s->lng);
  fprintf(out, ",\"open\":%s,\"after_data_gap\":%s,\"from_first_fix\":%s}\n",
          (s->flags & FLEET_STOP_OPEN) ? "true" : "false",
          (s->flags & FLEET_STOP_DATA_GAP) ? "true" : "false",
          (s->flags & FLEET_STOP_FROM_FIRST_FIX) ? "true" : "false");
}

static void hourly_json(FILE *out, const fleet_hourly_t *h)
{
  head(out, "hourly", h->vehicle_id);
  key(out, "start");
  fleetctl_json_time(out, h->hour_ns);
  key(out, "end");
  fleetctl_json_time(out, h->hour_ns + 3600LL * 1000000000LL);
  fprintf(out, ",\"revision\":%u,\"count\":%u", h->revision, h->count);
  key(out, "distance_m");
  fleetctl_json_num(out, h->distance_m, 1);
  key(out, "moving_s");
  fleetctl_json_num(out, h->moving_s, 3);
  key(out, "idle_s");
  fleetctl_json_num(out, h->idle_s, 3);
  if (h->present & FLEET_HOURLY_SPEED) {
    key(out, "speed_mean_kmh");
    fleetctl_json_num(out, h->speed_mean_kmh, 2);
    key(out, "speed_max_kmh");
    fleetctl_json_num(out, h->speed_max_kmh, 2);
  }
  if (h->present & FLEET_HOURLY_FUEL) {
    key(out, "fuel_min_pct");
    fleetctl_json_num(out, h->fuel_min_pct, 2);
    key(out, "fuel_max_pct");
    fleetctl_json_num(out, h->fuel_max_pct, 2);
  }
  if (h->present & FLEET_HOURLY_BATTERY) {
    key(out, "battery_min_v");
    fleetctl_json_num(out, h->battery_min_v, 3);
    key(out, "battery_max_v");
    fleetctl_json_num(out, h->battery_max_v, 3);
  }
  pos(out, "last_lat", h->last_lat, "last_lng", h->last_lng);
  fputs("}\n", out);
}

void fleetctl_event_json(FILE *out, const fleet_tracker_event_t *ev)
{
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_TRIP_END:
    fleetctl_trip_json(out, ev->trip);
    return;
  case FLEET_TRACKER_EVENT_STOP:
    fleetctl_stop_json(out, ev->stop);
    return;
  case FLEET_TRACKER_EVENT_HOURLY:
    hourly_json(out, ev->hourly);
    return;
  default:
    break;
  }
  head(out, fleet_tracker_event_type_name(ev->type), ev->vehicle_id);
  key(out, "ts");
  fleetctl_json_time(out, ev->ts_ns);
  if (ev->type == FLEET_TRACKER_EVENT_ALERT) {
    const fleet_alert_t *a = ev->alert;
    key(out, "rule");
    fleetctl_json_str(out, a->rule_id);
    fprintf(out, ",\"rule_type\":\"%s\",\"severity\":\"%s\"", fleet_rule_type_name(a->rule_type),
            fleet_severity_name(a->severity));
    key(out, "message");
    fleetctl_json_str(out, a->message);
    key(out, "value");
    fleetctl_json_num(out, a->value, 3);
    key(out, "limit");
    fleetctl_json_num(out, a->limit, 3);
  }
  if (ev->zone_id) {
    key(out, "zone_id");
    fleetctl_json_str(out, ev->zone_id);
    key(out, "zone_name");
    fleetctl_json_str(out, ev->zone_name);
  }
  if (ev->type == FLEET_TRACKER_EVENT_ZONE_EXIT) {
    key(out, "dwell_s");
    fleetctl_json_num(out, ev->dwell_s, 3);
  }
  pos(out, "lat", ev->lat, "lng", ev->lng);
  fputs("}\n", out);
}

void fleetctl_hms(char *out, size_t cap, double secs)
{
  long long s = llround(secs);
  snprintf(out, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}
