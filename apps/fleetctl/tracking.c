/* tracking: records from JSON lines or CSV, trip options and event output for the
 * tracking subcommands (trips, zones, events). */
#include "tracking.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Rounded to the nearest integer, halves away from zero (without libm). */
static long long round_ll(double v)
{
  return v >= 0 ? (long long)(v + 0.5) : -(long long)(-v + 0.5);
}

/* ---- records -------------------------------------------------------------- */

enum col {
  COL_VEHICLE, COL_TS, COL_LAT, COL_LNG, COL_SPEED, COL_HEADING, COL_IGNITION, COL_ODOMETER,
  COL_BATTERY, COL_TEMP, COL_FUEL, COL_DRIVER, COL_COUNT
};

/* CSV column names; each is also the payload member it becomes. */
static const char *const col_names[COL_COUNT] = {
  "vehicle_id", "ts",       "lat",       "lng",         "speed",      "heading",
  "ignition",   "odometer", "battery_v", "engine_temp", "fuel_level", "driver_id",
};

void fleetctl_records_init(fleetctl_records_t *r, const char *prog, char *const *paths,
                           size_t npaths, const char *default_vehicle)
{
  memset(r, 0, sizeof *r);
  r->prog = prog;
  r->default_vehicle = default_vehicle;
  fleetctl_input_init(&r->in, prog, paths, npaths);
}

void fleetctl_records_where(const fleetctl_records_t *r)
{
  fprintf(stderr, "%s: %s:%lu: ", r->prog, r->in.name, r->in.lineno);
}

void fleetctl_records_reject(fleetctl_records_t *r, const char *why)
{
  fleetctl_records_where(r);
  fprintf(stderr, "%s\n", why);
  r->rejected++;
}

/* Split one RFC 4180 line in place; the field count, or -1 for bad quoting or
 * too many fields. */
static int csv_split(char *line, size_t len, char **fields, int max)
{
  int n = 0;
  size_t i = 0;
  char *w = line;
  for (;;) {
    if (n == max)
      return -1;
    fields[n++] = w;
    if (i < len && line[i] == '"') {
      i++;
      for (;;) {
        if (i >= len)
          return -1;
        if (line[i] == '"') {
          if (i + 1 < len && line[i + 1] == '"') {
            *w++ = '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        *w++ = line[i++];
      }
      if (i < len && line[i] != ',')
        return -1;
    } else {
      while (i < len && line[i] != ',')
        *w++ = line[i++];
    }
    if (i >= len) {
      *w = '\0';
      return n;
    }
    *w++ = '\0';
    i++;
  }
}

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

static bool csv_header(fleetctl_records_t *r)
{
  char *fields[FLEETCTL_CSV_MAX_COLS];
  int n = csv_split(r->in.line, r->in.len, fields, FLEETCTL_CSV_MAX_COLS);
  if (n < 0) {
    fleetctl_records_where(r);
    fprintf(stderr, "malformed CSV header (quotes, or more than %d columns)\n",
            FLEETCTL_CSV_MAX_COLS);
    return false;
  }
  bool seen[COL_COUNT] = {false};
  r->ncols = (size_t)n;
  for (int i = 0; i < n; i++) {
    const char *name = trim(fields[i]);
    r->cols[i] = -1;
    for (int k = 0; k < COL_COUNT; k++)
      if (!strcmp(name, col_names[k]))
        r->cols[i] = k;
    if (r->cols[i] < 0) {
      fleetctl_records_where(r);
      fprintf(stderr, "warning: column '%s' is not used\n", name);
      continue;
    }
    if (seen[r->cols[i]]) {
      fleetctl_records_where(r);
      fprintf(stderr, "column '%s' appears twice\n", name);
      return false;
    }
    seen[r->cols[i]] = true;
  }
  for (int k = COL_TS; k <= COL_LNG; k++)
    if (!seen[k]) {
      fleetctl_records_where(r);
      fprintf(stderr, "the CSV header has no '%s' column (it needs ts, lat and lng)\n",
              col_names[k]);
      return false;
    }
  if (!seen[COL_VEHICLE] && !r->default_vehicle) {
    fleetctl_records_where(r);
    fprintf(stderr, "the CSV header has no 'vehicle_id' column (or use --vehicle-id)\n");
    return false;
  }
  return true;
}

/* A CSV cell as a JSON value for its column; NULL with *why set when it is not
 * one (numbers must parse completely and be finite). */
static json_t *csv_value(int col, const char *cell, char *why, size_t cap)
{
  switch (col) {
  case COL_VEHICLE:
  case COL_DRIVER:
    return json_string(cell);
  case COL_IGNITION:
    if (!strcmp(cell, "true") || !strcmp(cell, "1") || !strcmp(cell, "on"))
      return json_true();
    if (!strcmp(cell, "false") || !strcmp(cell, "0") || !strcmp(cell, "off"))
      return json_false();
    snprintf(why, cap, "ignition: '%s' is not true/false, 1/0 or on/off", cell);
    return NULL;
  default:
    break;
  }
  char *end;
  errno = 0;
  double v = strtod(cell, &end);
  bool number = end != cell && !*end && errno != ERANGE && isfinite(v);
  if (col == COL_TS) {
    if (!number)
      return json_string(cell); /* RFC 3339, checked by the parser */
    char text[FLEET_TIME_STRLEN];
    if (!(fabs(v) < 9.2e9)) {
      snprintf(why, cap, "ts: %s seconds is out of range", cell);
      return NULL;
    }
    fleet_time_format(text, (int64_t)round_ll(v * 1e9));
    return json_string(text);
  }
  if (!number) {
    snprintf(why, cap, "%s: '%s' is not a number", col_names[col], cell);
    return NULL;
  }
  return json_real(v);
}

/* One CSV row as the payload text; NULL with *why set. */
static char *csv_payload(fleetctl_records_t *r, char *why, size_t cap)
{
  char *fields[FLEETCTL_CSV_MAX_COLS];
  int n = csv_split(r->in.line, r->in.len, fields, FLEETCTL_CSV_MAX_COLS);
  if (n < 0) {
    snprintf(why, cap, "malformed CSV (quotes)");
    return NULL;
  }
  if ((size_t)n != r->ncols) {
    snprintf(why, cap, "%d fields, the header has %zu", n, r->ncols);
    return NULL;
  }
  json_t *obj = json_object();
  if (!obj || json_object_set_new(obj, "v", json_integer(FLEET_TELEMETRY_PAYLOAD_VERSION))) {
    json_decref(obj);
    snprintf(why, cap, "out of memory");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    const char *cell = trim(fields[i]);
    if (r->cols[i] < 0 || !*cell)
      continue; /* unused column, or absent value */
    json_t *v = csv_value(r->cols[i], cell, why, cap);
    if (!v) {
      json_decref(obj);
      return NULL;
    }
    json_object_set_new(obj, col_names[r->cols[i]], v);
  }
  char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(obj);
  if (!text)
    snprintf(why, cap, "out of memory");
  return text;
}

bool fleetctl_records_next(fleetctl_records_t *r, fleet_telemetry_t *rec)
{
  while (fleetctl_input_next(&r->in)) {
    if (r->in.next != r->input) {
      r->input = r->in.next;
      r->format = 0;
      r->bad_header = false;
    }
    if (fleetctl_line_blank(r->in.line, r->in.len))
      continue;
    if (!r->format) {
      r->format = r->in.line[strspn(r->in.line, " \t")] == '{' ? 1 : 2;
      if (r->format == 2) {
        r->bad_header = !csv_header(r);
        if (r->bad_header)
          r->rejected++;
        continue;
      }
    }
    if (r->bad_header) {
      r->rejected++;
      continue;
    }
    char why[256];
    char *csv = NULL;
    const char *text = r->in.line;
    size_t len = r->in.len;
    if (r->format == 2) {
      if (!(csv = csv_payload(r, why, sizeof why))) {
        fleetctl_records_reject(r, why);
        continue;
      }
      text = csv;
      len = strlen(csv);
    }
    fleet_telemetry_warnings_t warn;
    fleet_telemetry_init(rec, FLEET_TELEMETRY_VERSION);
    int rc = fleet_telemetry_parse(rec, &warn, text, len);
    free(csv);
    if (rc) {
      fleetctl_records_reject(r, fleet_error_last());
      continue;
    }
    for (unsigned int i = 0; i < warn.count; i++) {
      fleetctl_records_where(r);
      fprintf(stderr, "warning: %s\n", warn.msg[i]);
    }
    if (!rec->vehicle_id[0] && r->default_vehicle)
      snprintf(rec->vehicle_id, sizeof rec->vehicle_id, "%s", r->default_vehicle);
    if (!rec->vehicle_id[0]) {
      fleetctl_records_reject(r, "vehicle_id: missing (--vehicle-id names the vehicle of such "
                                 "records)");
      continue;
    }
    return true;
  }
  return false;
}

bool fleetctl_records_close(fleetctl_records_t *r)
{
  bool ok = !r->in.io_error;
  fleetctl_input_close(&r->in);
  return ok;
}

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

int fleetctl_trip_option(fleet_trip_params_t *p, const char *prog, int c, const char *arg)
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
  long long s = round_ll(secs);
  snprintf(out, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}
