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

/* One object of the library's encoder (fleet/eventjson.h) as a line. */
static void json_line(FILE *out, int rc, fleet_buf_t *b)
{
  if (rc)
    fprintf(stderr, "fleetctl: cannot write an event as JSON: %s\n", fleet_error_last());
  else
    fprintf(out, "%s\n", b->ptr);
  fleet_buf_dispose(b);
}

#define JSON_FLAGS (FLEET_EVENTJSON_TYPE | FLEET_EVENTJSON_DETAILS)

void fleetctl_trip_json(FILE *out, const fleet_trip_t *t)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  json_line(out, fleet_trip_encode_json(&b, t, JSON_FLAGS), &b);
}

void fleetctl_stop_json(FILE *out, const fleet_stop_t *s)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  json_line(out, fleet_stop_encode_json(&b, s, JSON_FLAGS), &b);
}

void fleetctl_event_json(FILE *out, const fleet_tracker_event_t *ev)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  json_line(out, fleet_tracker_event_encode_json(&b, ev, JSON_FLAGS), &b);
}

void fleetctl_hms(char *out, size_t cap, double secs)
{
  long long s = llround(secs);
  snprintf(out, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}
