/* records: telemetry records from JSON lines or CSV files (records.h). */
#include "records.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

enum col {
  COL_VEHICLE, COL_TS, COL_LAT, COL_LNG, COL_SPEED, COL_HEADING, COL_IGNITION, COL_ODOMETER,
  COL_BATTERY, COL_TEMP, COL_FUEL, COL_DRIVER,
  COL_FLEET_ID, COL_DEVICE_TYPE, COL_EXTRAS, /* the export dialect's own */
  COL_COUNT
};

/* CSV column names; each payload column is also the payload member it becomes. */
static const char *const col_names[COL_COUNT] = {
  "vehicle_id", "ts",       "lat",       "lng",         "speed",      "heading",
  "ignition",   "odometer", "battery_v", "engine_temp", "fuel_level", "driver_id",
  FLEET_HISTORY_TAG_FLEET_ID, FLEET_HISTORY_TAG_DEVICE_TYPE, "extras",
};

static bool is_export(const fleetctl_records_t *r)
{
  return r->dialect == FLEETCTL_RECORDS_EXPORT;
}

void fleetctl_records_init(fleetctl_records_t *r, const char *prog, char *const *paths,
                           size_t npaths, fleetctl_records_dialect_t dialect,
                           const char *default_vehicle)
{
  memset(r, 0, sizeof *r);
  r->prog = prog;
  r->dialect = dialect;
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

/* Split one RFC 4180 line in place; the field count, or -1 for bad quoting
 * (with `strict`, a quote inside an unquoted field too) or too many fields. */
static int csv_split(char *line, size_t len, char **fields, int max, bool strict)
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
      while (i < len && line[i] != ',') {
        if (strict && line[i] == '"')
          return -1;
        *w++ = line[i++];
      }
    }
    if (i >= len) {
      *w = '\0';
      return n;
    }
    *w++ = '\0';
    i++; /* the comma */
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

/* The tracking dialect trims names and cells; the export dialect takes them as written. */
static char *cell_text(const fleetctl_records_t *r, char *s)
{
  return is_export(r) ? s : trim(s);
}

/* Read the header of the current CSV input into r->cols; false after reporting why. */
static bool csv_header(fleetctl_records_t *r)
{
  char *fields[FLEETCTL_CSV_MAX_COLS];
  int n = csv_split(r->in.line, r->in.len, fields, FLEETCTL_CSV_MAX_COLS, is_export(r));
  if (n < 0) {
    fleetctl_records_where(r);
    if (is_export(r))
      fprintf(stderr, "malformed CSV header\n");
    else
      fprintf(stderr, "malformed CSV header (quotes, or more than %d columns)\n",
              FLEETCTL_CSV_MAX_COLS);
    return false;
  }
  int known = is_export(r) ? COL_COUNT : COL_FLEET_ID;
  bool seen[COL_COUNT] = {false};
  r->ncols = (size_t)n;
  for (int i = 0; i < n; i++) {
    const char *name = cell_text(r, fields[i]);
    r->cols[i] = -1;
    for (int k = 0; k < known; k++)
      if (!strcmp(name, col_names[k]))
        r->cols[i] = k;
    if (r->cols[i] < 0) {
      fleetctl_records_where(r);
      if (is_export(r)) {
        fprintf(stderr, "unknown CSV column '%s'\n", name);
        return false;
      }
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
  if (is_export(r)) {
    if (seen[COL_VEHICLE] && seen[COL_TS] && seen[COL_LAT] && seen[COL_LNG])
      return true;
    fleetctl_records_where(r);
    fprintf(stderr, "the CSV header needs vehicle_id, ts, lat and lng\n");
    return false;
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

/* A CSV cell as a JSON value for its payload column; NULL with r->why set
 * when it is not one. */
static json_t *csv_value(fleetctl_records_t *r, int col, const char *cell)
{
  char *why = r->why;
  size_t cap = sizeof r->why;
  bool strict = is_export(r);
  json_t *v;
  switch (col) {
  case COL_VEHICLE:
  case COL_DRIVER:
    if (!(v = json_string(cell)))
      snprintf(why, cap, "%s: not valid UTF-8", col_names[col]);
    return v;
  case COL_IGNITION:
    if (!strcmp(cell, "true") || !strcmp(cell, "1") || (!strict && !strcmp(cell, "on")))
      return json_true();
    if (!strcmp(cell, "false") || !strcmp(cell, "0") || (!strict && !strcmp(cell, "off")))
      return json_false();
    if (strict)
      snprintf(why, cap, "ignition: expected true or false");
    else
      snprintf(why, cap, "ignition: '%s' is not true/false, 1/0 or on/off", cell);
    return NULL;
  default:
    break;
  }
  if (strict) {
    /* ts as written (RFC 3339, checked by the parser); numbers as JSON numbers. */
    if (col == COL_TS) {
      if (!(v = json_string(cell)))
        snprintf(why, cap, "ts: not valid UTF-8");
      return v;
    }
    v = json_loads(cell, JSON_DECODE_ANY, NULL);
    if (!json_is_number(v)) {
      json_decref(v);
      snprintf(why, cap, "%s: not a number", col_names[col]);
      return NULL;
    }
    return v;
  }
  char *end;
  errno = 0;
  double d = strtod(cell, &end);
  bool number = end != cell && !*end && errno != ERANGE && isfinite(d);
  if (col == COL_TS) {
    if (!number) {
      if (!(v = json_string(cell))) /* RFC 3339, checked by the parser */
        snprintf(why, cap, "ts: not valid UTF-8");
      return v;
    }
    char text[FLEET_TIME_STRLEN];
    if (!(fabs(d) < 9.2e9)) {
      snprintf(why, cap, "ts: %s seconds is out of range", cell);
      return NULL;
    }
    fleet_time_format(text, (int64_t)llround(d * 1e9));
    return json_string(text);
  }
  if (!number) {
    snprintf(why, cap, "%s: '%s' is not a number", col_names[col], cell);
    return NULL;
  }
  return json_real(d);
}

/* Add the members of an extras cell (a JSON object) to the payload `obj`. */
static bool csv_extras(fleetctl_records_t *r, json_t *obj, const char *cell)
{
  json_t *x = json_loads(cell, 0, NULL);
  if (!json_is_object(x)) {
    json_decref(x);
    snprintf(r->why, sizeof r->why, "extras: expected a JSON object such as {\"rpm\":2100}");
    return false;
  }
  const char *k;
  json_t *xv;
  json_object_foreach(x, k, xv) {
    if (json_object_get(obj, k)) {
      json_decref(x);
      snprintf(r->why, sizeof r->why, "extras: a name repeats a column");
      return false;
    }
    json_object_set(obj, k, xv);
  }
  json_decref(x);
  return true;
}

/* One CSV row as the payload text (malloc'd); NULL with r->why set. */
static char *csv_payload(fleetctl_records_t *r)
{
  char *fields[FLEETCTL_CSV_MAX_COLS];
  int n = csv_split(r->in.line, r->in.len, fields, FLEETCTL_CSV_MAX_COLS, is_export(r));
  if (n < 0) {
    snprintf(r->why, sizeof r->why, "malformed CSV (quotes)");
    return NULL;
  }
  if ((size_t)n != r->ncols) {
    snprintf(r->why, sizeof r->why, "%d fields, the header has %zu", n, r->ncols);
    return NULL;
  }
  json_t *obj = json_object();
  if (!obj || json_object_set_new(obj, "v", json_integer(FLEET_TELEMETRY_PAYLOAD_VERSION)))
    goto oom;
  for (int i = 0; i < n; i++) {
    int col = r->cols[i];
    const char *cell = cell_text(r, fields[i]);
    if (col < 0 || !*cell)
      continue; /* unused column, or absent value */
    if (col == COL_FLEET_ID) {
      r->fleet_id = cell;
    } else if (col == COL_DEVICE_TYPE) {
      r->device_type = cell;
    } else if (col == COL_EXTRAS) {
      if (!csv_extras(r, obj, cell)) {
        json_decref(obj);
        return NULL;
      }
    } else {
      json_t *v = csv_value(r, col, cell);
      if (!v) {
        json_decref(obj);
        return NULL;
      }
      if (json_object_set_new(obj, col_names[col], v))
        goto oom;
    }
  }
  char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(obj);
  if (!text)
    snprintf(r->why, sizeof r->why, "out of memory");
  return text;
oom:
  json_decref(obj);
  snprintf(r->why, sizeof r->why, "out of memory");
  return NULL;
}

static const char *tag_member(json_t *obj, const char *key, bool *bad)
{
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v))
    return NULL;
  if (!json_is_string(v)) {
    *bad = true;
    return NULL;
  }
  return json_string_value(v);
}

/* The export dialect's JSON line: an object whose tags, when present, are strings. */
static bool json_tags(fleetctl_records_t *r)
{
  json_error_t err;
  json_t *obj = json_loadb(r->in.line, r->in.len, 0, &err);
  if (!obj || !json_is_object(obj)) {
    snprintf(r->why, sizeof r->why, "not a JSON object: %s",
             obj ? "another JSON value" : err.text);
    json_decref(obj);
    return false;
  }
  bool bad = false;
  r->json = obj;
  r->fleet_id = tag_member(obj, FLEET_HISTORY_TAG_FLEET_ID, &bad);
  r->device_type = tag_member(obj, FLEET_HISTORY_TAG_DEVICE_TYPE, &bad);
  if (bad)
    snprintf(r->why, sizeof r->why, "fleet_id and device_type must be strings");
  return !bad;
}

/* The tags are not payload fields: drop the parser's notes about them. */
static void drop_tag_warnings(fleet_telemetry_warnings_t *w)
{
  unsigned int kept = 0;
  for (unsigned int i = 0; i < w->count; i++) {
    const char *m = w->msg[i] + (w->msg[i][0] == '"');
    if (!strncmp(m, "fleet_id", 8) || !strncmp(m, "device_type", 11))
      continue;
    if (kept != i)
      memcpy(w->msg[kept], w->msg[i], sizeof w->msg[i]);
    kept++;
  }
  w->count = kept;
}

static fleetctl_record_status_t invalid(fleetctl_records_t *r)
{
  r->rejected++;
  return FLEETCTL_RECORD_INVALID;
}

fleetctl_record_status_t fleetctl_records_read(fleetctl_records_t *r, fleet_telemetry_t *rec)
{
  json_decref(r->json);
  r->json = NULL;
  r->fleet_id = r->device_type = NULL;
  r->warn.count = 0;
  r->warn.dropped = 0;
  while (fleetctl_input_next(&r->in)) {
    if (r->in.next != r->input) {
      r->input = r->in.next;
      r->format = 0;
      r->bad_header = false;
    }
    if (fleetctl_line_blank(r->in.line, r->in.len))
      continue;
    if (is_export(r) && memchr(r->in.line, '\0', r->in.len)) {
      snprintf(r->why, sizeof r->why, "a NUL byte in the line");
      return invalid(r);
    }
    if (!r->format) {
      r->format = r->in.line[strspn(r->in.line, " \t")] == '{' ? 1 : 2;
      if (r->format == 2) {
        r->bad_header = !csv_header(r);
        if (r->bad_header && is_export(r))
          return FLEETCTL_RECORD_FATAL;
        if (r->bad_header)
          r->rejected++;
        continue;
      }
    }
    if (r->bad_header) {
      r->rejected++;
      continue;
    }
    char *csv = NULL;
    const char *text = r->in.line;
    size_t len = r->in.len;
    if (r->format == 2) {
      if (!(csv = csv_payload(r)))
        return invalid(r);
      text = csv;
      len = strlen(csv);
    } else if (is_export(r) && !json_tags(r)) {
      return invalid(r);
    }
    fleet_telemetry_init(rec, FLEET_TELEMETRY_VERSION);
    int rc = fleet_telemetry_parse(rec, &r->warn, text, len);
    free(csv);
    if (rc) {
      r->warn.count = 0;
      snprintf(r->why, sizeof r->why, "%s", fleet_error_last());
      return invalid(r);
    }
    if (is_export(r) && r->format == 1)
      drop_tag_warnings(&r->warn);
    if (!rec->vehicle_id[0] && r->default_vehicle)
      snprintf(rec->vehicle_id, sizeof rec->vehicle_id, "%s", r->default_vehicle);
    /* An export CSV row without one goes on: import's encoder refuses it in its words. */
    if (!rec->vehicle_id[0] && !(is_export(r) && r->format == 2)) {
      snprintf(r->why, sizeof r->why, "%s",
               is_export(r) ? "vehicle_id: missing (each record must name its vehicle)"
                            : "vehicle_id: missing (--vehicle-id names the vehicle of such "
                              "records)");
      return invalid(r);
    }
    return FLEETCTL_RECORD_OK;
  }
  return FLEETCTL_RECORD_END;
}

bool fleetctl_records_next(fleetctl_records_t *r, fleet_telemetry_t *rec)
{
  for (;;) {
    fleetctl_record_status_t st = fleetctl_records_read(r, rec);
    if (st == FLEETCTL_RECORD_END || st == FLEETCTL_RECORD_FATAL)
      return false;
    for (unsigned int i = 0; i < r->warn.count; i++) {
      fleetctl_records_where(r);
      fprintf(stderr, "warning: %s\n", r->warn.msg[i]);
    }
    if (st == FLEETCTL_RECORD_OK)
      return true;
    fleetctl_records_where(r);
    fprintf(stderr, "%s\n", r->why);
  }
}

bool fleetctl_records_close(fleetctl_records_t *r)
{
  bool ok = !r->in.io_error;
  json_decref(r->json);
  r->json = NULL;
  fleetctl_input_close(&r->in);
  return ok;
}
