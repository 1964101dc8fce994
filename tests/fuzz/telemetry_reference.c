/*
 * The telemetry payload parser as it was before the single-pass parser:
 * jansson builds a tree (json_loadb) that is then walked. Kept verbatim, test
 * only, as the reference that fuzz_telemetry_diff.c compares
 * fleet_telemetry_parse() with: same return code, message, warnings and
 * record for every input. Only the parse path is here (the RFC 3339 parser
 * and the field checks it needs); its entry point is
 * reference_telemetry_parse(). Included by fuzz_telemetry_diff.c.
 */
#include "common_int.h"

#include "numfmt_int.h"
#include "telemetry_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of an offending value a message shows. */
#define SHOW_MAX 40
#define SHOW_BUF (SHOW_MAX + 8)
/* Shorter excerpts inside warnings, which must fit FLEET_TELEMETRY_WARNING_LEN. */
#define SHOW_WARN 24
#define SHOW_NUMBER 24

/* JSON_DECODE_ANY so that a top-level array or number gets our precise message. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

#define NS_PER_SEC INT64_C(1000000000)

/* ------------------------------------------------------------------------ */
/* Time: RFC 3339 <-> ns since the epoch, with days-from-civil arithmetic   */

static const char *const month_names[12] = {
  "January", "February", "March",     "April",   "May",      "June",
  "July",    "August",   "September", "October", "November", "December",
};

static bool is_leap(int64_t y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Howard Hinnant's days_from_civil: proleptic Gregorian date -> days since 1970-01-01. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}


static int digit(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : -1;
}

#define TIME_RANGE_TEXT "1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z"

/*
 * Parses `s`; on failure writes what is wrong into `why` (a phrase that
 * follows the quoted input: "is not a valid date (...)").
 */
static int two_digits(const char *p)
{
  unsigned int a = (unsigned int)((unsigned char)p[0] - '0');
  unsigned int b = (unsigned int)((unsigned char)p[1] - '0');
  return a > 9 || b > 9 ? -1 : (int)(a * 10 + b);
}

/* Says which character of the date-time prefix is wrong (the slow path). */
static int time_syntax_error(const char *s, size_t len, char *why, size_t cap)
{
  /* D digit, T date/time separator, anything else literal. */
  static const char shape[] = "DDDD-DD-DDTDD:DD:DD";
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    char want = shape[i], c = i < len ? s[i] : '\0';
    bool ok = i < len && (want == 'D'   ? digit(c) >= 0
                          : want == 'T' ? (c == 'T' || c == 't' || c == ' ')
                                        : c == want);
    if (ok)
      continue;
    const char *what = want == 'D' ? "a digit" : want == 'T' ? "'T', 't' or ' '"
                       : want == '-' ? "'-'" : "':'";
    if (i >= len)
      snprintf(why, cap, "is not an RFC 3339 timestamp: it ends where %s is expected (offset %zu)",
               what, i);
    else
      snprintf(why, cap, "is not an RFC 3339 timestamp: expected %s at offset %zu", what, i);
    return FLEET_EPARSE;
  }
  snprintf(why, cap, "is not an RFC 3339 timestamp");
  return FLEET_EPARSE;
}

/*
 * Parses `s`; on failure writes what is wrong into `why` (a phrase that
 * follows the quoted input: "is not a valid date (...)").
 */
static int time_parse(int64_t *out, const char *s, size_t len, char *why, size_t cap)
{
  if (len < 19)
    return time_syntax_error(s, len, why, cap);
  int y_hi = two_digits(s), y_lo = two_digits(s + 2), month = two_digits(s + 5),
      day = two_digits(s + 8), hour = two_digits(s + 11), minute = two_digits(s + 14),
      second = two_digits(s + 17);
  char sep = s[10];
  if ((y_hi | y_lo | month | day | hour | minute | second) < 0 || s[4] != '-' || s[7] != '-' ||
      !(sep == 'T' || sep == 't' || sep == ' ') || s[13] != ':' || s[16] != ':')
    return time_syntax_error(s, len, why, cap);
  int year = y_hi * 100 + y_lo;

  size_t i = 19;
  int64_t frac = 0;
  if (i < len && s[i] == '.') {
    size_t start = ++i;
    while (i < len && digit(s[i]) >= 0) {
      if (i - start == 9) {
        snprintf(why, cap,
                 "is not an RFC 3339 timestamp: more than 9 fraction digits at offset %zu", i);
        return FLEET_EPARSE;
      }
      frac = frac * 10 + digit(s[i]);
      i++;
    }
    if (i == start) {
      snprintf(why, cap, "is not an RFC 3339 timestamp: expected a digit after '.' at offset %zu",
               i);
      return FLEET_EPARSE;
    }
    for (size_t n = i - start; n < 9; n++)
      frac *= 10;
  }

  int off_sign = 0, off_h = 0, off_m = 0;
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    off_sign = s[i] == '-' ? -1 : 1;
    int o[5];
    for (size_t k = 0; k < 5; k++) {
      size_t at = i + 1 + k;
      bool ok = at < len && (k == 2 ? s[at] == ':' : (o[k] = digit(s[at])) >= 0);
      if (!ok) {
        snprintf(why, cap, "is not an RFC 3339 timestamp: expected %s of the offset at offset %zu",
                 k == 2 ? "':'" : "a digit", at);
        return FLEET_EPARSE;
      }
    }
    off_h = o[0] * 10 + o[1];
    off_m = o[3] * 10 + o[4];
    i += 6;
  } else {
    snprintf(why, cap,
             "is not an RFC 3339 timestamp: expected 'Z' or an offset like +02:00 at offset %zu",
             i);
    return FLEET_EPARSE;
  }
  if (i != len) {
    snprintf(why, cap, "is not an RFC 3339 timestamp: unexpected text at offset %zu", i);
    return FLEET_EPARSE;
  }

  if (month < 1 || month > 12) {
    snprintf(why, cap, "is not a valid date (month %02d; months are 01-12)", month);
    return FLEET_ERANGE;
  }
  int dim = days_in_month(year, month);
  if (day < 1 || day > dim) {
    if (day < 1)
      snprintf(why, cap, "is not a valid date (day 00; days start at 01)");
    else if (month == 2)
      snprintf(why, cap, "is not a valid date (February has %d days in %04d)", dim, year);
    else
      snprintf(why, cap, "is not a valid date (%s has %d days)", month_names[month - 1], dim);
    return FLEET_ERANGE;
  }
  if (hour > 23) {
    snprintf(why, cap, "is not a valid time (hour %02d; hours are 00-23)", hour);
    return FLEET_ERANGE;
  }
  if (minute > 59) {
    snprintf(why, cap, "is not a valid time (minute %02d; minutes are 00-59)", minute);
    return FLEET_ERANGE;
  }
  if (second == 60) {
    snprintf(why, cap, "has a leap second (:60), which is not supported");
    return FLEET_ERANGE;
  }
  if (second > 59) {
    snprintf(why, cap, "is not a valid time (second %02d; seconds are 00-59)", second);
    return FLEET_ERANGE;
  }
  if (off_h > 23 || off_m > 59) {
    snprintf(why, cap, "has an invalid offset (%02d:%02d; at most 23:59)", off_h, off_m);
    return FLEET_ERANGE;
  }

  int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                 second - off_sign * (off_h * 3600 + off_m * 60);
  /* INT64_MIN ns = -9223372037 s + 145224192 ns; INT64_MAX ns = 9223372036 s + 854775807 ns. */
  if (secs > INT64_C(9223372036) || (secs == INT64_C(9223372036) && frac > 854775807) ||
      secs < INT64_C(-9223372037) || (secs == INT64_C(-9223372037) && frac < 145224192)) {
    snprintf(why, cap, "is outside the int64 nanosecond range (" TIME_RANGE_TEXT ")");
    return FLEET_ERANGE;
  }
  /* Step through secs + 1 for negative times so the product never overflows. */
  *out = secs >= 0 ? secs * NS_PER_SEC + frac : (secs + 1) * NS_PER_SEC + (frac - NS_PER_SEC);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Identifiers                                                              */

static bool vid_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

/* Describes one byte for a message: "' '" or "byte 0xc3". */
static const char *byte_text(char *buf, size_t cap, unsigned char c)
{
  if (c >= 0x20 && c < 0x7f && c != '\'')
    snprintf(buf, cap, "'%c'", (char)c);
  else
    snprintf(buf, cap, "byte 0x%02x", (unsigned int)c);
  return buf;
}

/* 0 when `id` is a valid vehicle id, else FLEET_EINVAL with the reason in `why`. */
static int vid_problem(const char *id, size_t len, char *why, size_t cap)
{
  if (len == 0) {
    snprintf(why, cap, "is empty");
    return FLEET_EINVAL;
  }
  if (len > FLEET_VEHICLE_ID_MAX) {
    snprintf(why, cap, "is %zu bytes, longer than %d", len, FLEET_VEHICLE_ID_MAX);
    return FLEET_EINVAL;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)id[i];
    if (!vid_char(c)) {
      char b[16];
      snprintf(why, cap, "has %s at offset %zu (only A-Z a-z 0-9 . _ - are allowed)",
               byte_text(b, sizeof b, c), i);
      return FLEET_EINVAL;
    }
  }
  return 0;
}


/* NULL when `s` is a valid driver id (1-64 bytes of UTF-8 without control
 * characters), else the reason. */
static const char *driver_problem(const char *s, size_t len, char *buf, size_t cap)
{
  if (len == 0)
    return "is empty";
  if (len > FLEET_DRIVER_ID_MAX) {
    snprintf(buf, cap, "is %zu bytes, longer than %d", len, FLEET_DRIVER_ID_MAX);
    return buf;
  }
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    unsigned char c = u[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) {
        snprintf(buf, cap, "has control character 0x%02x at offset %zu", (unsigned int)c, i);
        return buf;
      }
      i++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2, cp = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3, cp = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      n = 0, cp = 0, min = 0;
    }
    bool ok = n && i + n <= len;
    for (size_t k = 1; ok && k < n; k++) {
      ok = (u[i + k] & 0xc0) == 0x80;
      cp = (cp << 6) | (u[i + k] & 0x3fu);
    }
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      snprintf(buf, cap, "is not valid UTF-8 at offset %zu", i);
      return buf;
    }
    if (cp <= 0x9f) {
      snprintf(buf, cap, "has control character U+%04X at offset %zu", (unsigned int)cp, i);
      return buf;
    }
    i += n;
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Fields                                                                   */

enum key_id {
  K_EXTRA,
  K_V,
  K_TS,
  K_LAT,
  K_LNG,
  K_SPEED,
  K_HEADING,
  K_IGNITION,
  K_ODOMETER,
  K_BATTERY_V,
  K_ENGINE_TEMP,
  K_FUEL_LEVEL,
  K_DRIVER_ID,
  K_VEHICLE_ID
};

#define KEY_IS(lit) (memcmp(k, lit, sizeof lit - 1) == 0)

/* Switch on the length first: one memcmp per key in the common case. */
static enum key_id key_lookup(const char *k, size_t n)
{
  switch (n) {
  case 1:
    return k[0] == 'v' ? K_V : K_EXTRA;
  case 2:
    return KEY_IS("ts") ? K_TS : K_EXTRA;
  case 3:
    return KEY_IS("lat") ? K_LAT : KEY_IS("lng") ? K_LNG : K_EXTRA;
  case 5:
    return KEY_IS("speed") ? K_SPEED : K_EXTRA;
  case 7:
    return KEY_IS("heading") ? K_HEADING : K_EXTRA;
  case 8:
    return KEY_IS("ignition") ? K_IGNITION : KEY_IS("odometer") ? K_ODOMETER : K_EXTRA;
  case 9:
    return KEY_IS("battery_v") ? K_BATTERY_V : KEY_IS("driver_id") ? K_DRIVER_ID : K_EXTRA;
  case 10:
    return KEY_IS("fuel_level") ? K_FUEL_LEVEL : KEY_IS("vehicle_id") ? K_VEHICLE_ID : K_EXTRA;
  case 11:
    return KEY_IS("engine_temp") ? K_ENGINE_TEMP : K_EXTRA;
  default:
    return K_EXTRA;
  }
}

/* How a number field is bounded. */
enum bound { NONNEG, CLOSED, HALF_OPEN };

typedef struct num_spec {
  const char *name;
  unsigned int bit;
  size_t offset;
  enum bound bound;
  double lo, hi;
} num_spec_t;

#define SPEC(name, bit, field, bound, lo, hi) \
  {name, bit, offsetof(fleet_telemetry_t, field), bound, lo, hi}

static const num_spec_t lat_spec = SPEC("lat", 0, lat, CLOSED, -90.0, 90.0);
static const num_spec_t lng_spec = SPEC("lng", 0, lng, CLOSED, -180.0, 180.0);

/* Optional numbers, indexed by enum key_id - K_SPEED (ignition sits between). */
static const num_spec_t opt_specs[] = {
  SPEC("speed", FLEET_TELEMETRY_SPEED, speed_kmh, NONNEG, 0, 0),
  SPEC("heading", FLEET_TELEMETRY_HEADING, heading_deg, HALF_OPEN, 0.0, 360.0),
  {NULL, 0, 0, NONNEG, 0, 0},
  SPEC("odometer", FLEET_TELEMETRY_ODOMETER, odometer_km, NONNEG, 0, 0),
  SPEC("battery_v", FLEET_TELEMETRY_BATTERY_V, battery_v, NONNEG, 0, 0),
  SPEC("engine_temp", FLEET_TELEMETRY_ENGINE_TEMP, engine_temp_c, CLOSED, -60.0, 250.0),
  SPEC("fuel_level", FLEET_TELEMETRY_FUEL_LEVEL, fuel_level_pct, CLOSED, 0.0, 100.0),
};

static double *spec_field(const num_spec_t *spec, fleet_telemetry_t *rec)
{
  return (double *)(void *)((char *)rec + spec->offset);
}

/* NULL when `v` is acceptable, else the phrase that follows the value. */
static const char *range_problem(const num_spec_t *spec, double v, char *buf, size_t cap)
{
  if (!isfinite(v))
    return "is not a finite number";
  switch (spec->bound) {
  case NONNEG:
    return v < 0 ? "is negative" : NULL;
  case CLOSED:
    if (v >= spec->lo && v <= spec->hi)
      return NULL;
    snprintf(buf, cap, "is outside [%g, %g]", spec->lo, spec->hi);
    return buf;
  case HALF_OPEN:
    if (v >= spec->lo && v < spec->hi)
      return NULL;
    snprintf(buf, cap, "is outside [%g, %g)", spec->lo, spec->hi);
    return buf;
  }
  return NULL;
}

/* A double for a message: shortest exact form, or NaN / inf / -inf. */
static const char *double_text(char *buf, size_t cap, double v)
{
  if (isnan(v))
    snprintf(buf, cap, "NaN");
  else if (isinf(v))
    snprintf(buf, cap, "%sinf", v < 0 ? "-" : "");
  else if (fleet_numfmt__double(buf, cap, v) < 0)
    snprintf(buf, cap, "?");
  return buf;
}

static bool is_reserved_name(const char *n, size_t len)
{
  static const char *const reserved[] = {"time", "fleet_id", "device_type"};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(reserved); i++)
    if (strlen(reserved[i]) == len && memcmp(reserved[i], n, len) == 0)
      return true;
  return false;
}

/* NULL when `name` can be an extra field's name, else the reason. */
static const char *extra_name_problem(const char *name, size_t len, char *buf, size_t cap)
{
  if (len == 0)
    return "the name is empty";
  if (len > FLEET_TELEMETRY_EXTRA_NAME_MAX) {
    snprintf(buf, cap, "the name is longer than %d bytes", FLEET_TELEMETRY_EXTRA_NAME_MAX);
    return buf;
  }
  if (name[0] >= '0' && name[0] <= '9')
    return "the name starts with a digit";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_')) {
      char b[16];
      snprintf(buf, cap, "the name has %s at offset %zu (only A-Z a-z 0-9 _)",
               byte_text(b, sizeof b, c), i);
      return buf;
    }
  }
  /* InfluxDB reserves '_' names (_measurement, _field, ...) and "time"; the
   * line-protocol encoder uses fleet_id and device_type as tags. */
  if (name[0] == '_')
    return "names starting with '_' are reserved line-protocol keys";
  if (is_reserved_name(name, len))
    return "the name is a reserved line-protocol key";
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */

/* A number that jansson cannot hold (integer beyond int64, real beyond
 * DBL_MAX), patched out of a copy of the payload and kept here instead. */
typedef struct overflow {
  unsigned int ordinal; /* index of the top-level member it is the value of */
  bool is_int;
  double value;
  size_t off, len; /* the token in the payload */
} overflow_t;

#define MAX_OVERFLOWS 32

typedef struct member {
  const char *key;
  size_t key_len;
  json_t *val;
  const overflow_t *ov;
} member_t;

typedef struct parse_ctx {
  fleet_telemetry_t *rec;
  fleet_telemetry_warnings_t *warnings;
  const char *payload;
} parse_ctx_t;

static void warn(parse_ctx_t *c, const char *fmt, ...) FLEET_PRINTF(2, 3);
static const char *json_type_name(const json_t *j);

static void warn(parse_ctx_t *c, const char *fmt, ...)
{
  fleet_telemetry_warnings_t *w = c->warnings;
  if (!w)
    return;
  if (w->count >= FLEET_TELEMETRY_MAX_WARNINGS) {
    w->dropped++;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->msg[w->count], FLEET_TELEMETRY_WARNING_LEN, fmt, ap);
  va_end(ap);
  w->count++;
}

static bool member_number(const member_t *m, double *out)
{
  if (FLEET_UNLIKELY(m->ov != NULL)) {
    *out = m->ov->value;
    return true;
  }
  switch (json_typeof(m->val)) {
  case JSON_INTEGER:
    *out = (double)json_integer_value(m->val);
    return true;
  case JSON_REAL:
    *out = json_real_value(m->val);
    return true;
  default:
    return false;
  }
}

/* The member's number as the payload wrote it (near enough), for messages. */
static const char *number_text(char *buf, size_t cap, const parse_ctx_t *c, const member_t *m)
{
  if (m->ov) {
    /* The token is digits, signs, '.' and 'e' only: safe to show as is. */
    size_t n = m->ov->len < SHOW_NUMBER ? m->ov->len : SHOW_NUMBER;
    snprintf(buf, cap, "%.*s%s", (int)n, c->payload + m->ov->off,
             m->ov->len > SHOW_NUMBER ? "..." : "");
    return buf;
  }
  if (json_is_integer(m->val)) {
    snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(m->val));
    return buf;
  }
  double_text(buf, cap, json_real_value(m->val));
  /* Show 1.0 as a real, so that "1 is not an integer" cannot happen. */
  if (!strpbrk(buf, ".en")) {
    size_t n = strlen(buf);
    if (n + 3 <= cap)
      memcpy(buf + n, ".0", 3);
  }
  return buf;
}

/* "a string (\"x\")", "a number (1)", "true", "null", "an array", ... */
static const char *got_text(char *buf, size_t cap, const parse_ctx_t *c, const member_t *m)
{
  char v[SHOW_BUF];
  if (m->ov) {
    snprintf(buf, cap, "a number (%s)", number_text(v, sizeof v, c, m));
    return buf;
  }
  switch (json_typeof(m->val)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    snprintf(buf, cap, "a string (%s)",
             fleet_telemetry__quote(v, sizeof v, json_string_value(m->val),
                                    json_string_length(m->val), SHOW_WARN));
    return buf;
  case JSON_INTEGER:
  case JSON_REAL:
    snprintf(buf, cap, "a number (%s)", number_text(v, sizeof v, c, m));
    return buf;
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  case JSON_NULL:
    return "null";
  }
  return "an unknown value";
}

static void opt_number(parse_ctx_t *c, const member_t *m, const num_spec_t *spec)
{
  char g[SHOW_BUF + 16], b[48];
  double v;
  if (!member_number(m, &v)) {
    if (!json_is_null(m->val))
      warn(c, "%s: expected a number, got %s; field dropped", spec->name,
           got_text(g, sizeof g, c, m));
    return;
  }
  const char *why = range_problem(spec, v, b, sizeof b);
  if (FLEET_UNLIKELY(why != NULL)) {
    warn(c, "%s: %s %s; field dropped", spec->name, number_text(g, sizeof g, c, m), why);
    return;
  }
  *spec_field(spec, c->rec) = v;
  c->rec->present |= spec->bit;
}

static void opt_ignition(parse_ctx_t *c, const member_t *m)
{
  if (!m->ov && json_is_boolean(m->val)) {
    c->rec->ignition = json_is_true(m->val);
    c->rec->present |= FLEET_TELEMETRY_IGNITION;
  } else if (m->ov || !json_is_null(m->val)) {
    char g[SHOW_BUF + 16];
    warn(c, "ignition: expected true or false, got %s; field dropped",
         got_text(g, sizeof g, c, m));
  }
}

static void opt_driver_id(parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16], b[96];
  if (m->ov || !json_is_string(m->val)) {
    if (m->ov || !json_is_null(m->val))
      warn(c, "driver_id: expected a string, got %s; field dropped", got_text(g, sizeof g, c, m));
    return;
  }
  const char *s = json_string_value(m->val);
  size_t len = json_string_length(m->val);
  const char *why = driver_problem(s, len, b, sizeof b);
  if (why) {
    warn(c, "driver_id: %s %s; field dropped",
         fleet_telemetry__quote(g, sizeof g, s, len, SHOW_WARN), why);
    return;
  }
  memcpy(c->rec->driver_id, s, len);
  c->rec->driver_id[len] = '\0';
  c->rec->present |= FLEET_TELEMETRY_DRIVER_ID;
}

static void opt_vehicle_id(parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16], b[96];
  if (m->ov || !json_is_string(m->val)) {
    if (m->ov || !json_is_null(m->val))
      warn(c, "vehicle_id: expected a string, got %s; field dropped",
           got_text(g, sizeof g, c, m));
    return;
  }
  const char *s = json_string_value(m->val);
  size_t len = json_string_length(m->val);
  if (vid_problem(s, len, b, sizeof b)) {
    warn(c, "vehicle_id: %s %s; field dropped", fleet_telemetry__quote(g, sizeof g, s, len, SHOW_WARN),
         b);
    return;
  }
  memcpy(c->rec->vehicle_id, s, len);
  c->rec->vehicle_id[len] = '\0';
}

static void extra_field(parse_ctx_t *c, const member_t *m)
{
  char qk[SHOW_BUF], g[SHOW_BUF + 16], b[96];
  fleet_extra_type_t type;
  double v;
  if (member_number(m, &v)) {
    type = FLEET_EXTRA_NUMBER;
  } else if (json_is_boolean(m->val)) {
    type = FLEET_EXTRA_BOOL;
    v = json_is_true(m->val) ? 1.0 : 0.0;
  } else {
    if (!json_is_null(m->val))
      warn(c, "%s: only numbers and booleans are kept as extra fields, got %s; field dropped",
           fleet_telemetry__quote(qk, sizeof qk, m->key, m->key_len, SHOW_WARN),
           json_type_name(m->val));
    return;
  }
  const char *why = extra_name_problem(m->key, m->key_len, b, sizeof b);
  if (why) {
    warn(c, "extra field %s: %s; field dropped",
         fleet_telemetry__quote(qk, sizeof qk, m->key, m->key_len, SHOW_WARN), why);
    return;
  }
  if (!isfinite(v)) {
    warn(c, "extra field \"%.*s\": %s is not a finite number; field dropped", (int)m->key_len,
         m->key, number_text(g, sizeof g, c, m));
    return;
  }
  fleet_telemetry_t *rec = c->rec;
  if (rec->n_extras >= FLEET_TELEMETRY_MAX_EXTRAS) {
    warn(c, "extra field \"%.*s\": more than %d extra fields; field dropped", (int)m->key_len,
         m->key, FLEET_TELEMETRY_MAX_EXTRAS);
    return;
  }
  fleet_extra_field_t *x = &rec->extras[rec->n_extras++];
  memcpy(x->name, m->key, m->key_len);
  x->name[m->key_len] = '\0';
  x->type = type;
  x->value = v;
}

static int required_missing(const char *name)
{
  return fleet_error__set(FLEET_EMISSING, "%s: missing", name);
}

static int check_version(const parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16];
  if (!m->val)
    return required_missing("v");
  if (m->ov && m->ov->is_int)
    return fleet_error__set(FLEET_EVERSION,
                            "v: %s is not a supported payload version (this library reads %d)",
                            number_text(g, sizeof g, c, m), FLEET_TELEMETRY_PAYLOAD_VERSION);
  if (m->ov || !json_is_integer(m->val))
    return fleet_error__set(FLEET_ETYPE, "v: expected the integer %d, got %s",
                            FLEET_TELEMETRY_PAYLOAD_VERSION, got_text(g, sizeof g, c, m));
  if (json_integer_value(m->val) != FLEET_TELEMETRY_PAYLOAD_VERSION)
    return fleet_error__set(FLEET_EVERSION,
                            "v: %" JSON_INTEGER_FORMAT
                            " is not a supported payload version (this library reads %d)",
                            json_integer_value(m->val), FLEET_TELEMETRY_PAYLOAD_VERSION);
  return 0;
}

static int check_ts(parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16], why[160];
  if (!m->val)
    return required_missing("ts");
  if (m->ov || !json_is_string(m->val))
    return fleet_error__set(FLEET_ETYPE, "ts: expected an RFC 3339 timestamp string, got %s",
                            got_text(g, sizeof g, c, m));
  const char *s = json_string_value(m->val);
  size_t len = json_string_length(m->val);
  int rc = time_parse(&c->rec->ts_ns, s, len, why, sizeof why);
  if (rc)
    return fleet_error__set(rc, "ts: %s %s", fleet_telemetry__quote(g, sizeof g, s, len, SHOW_MAX),
                            why);
  return 0;
}

static int check_position(parse_ctx_t *c, const member_t *m, const num_spec_t *spec)
{
  char g[SHOW_BUF + 16], b[48];
  double v;
  if (!m->val)
    return required_missing(spec->name);
  if (!member_number(m, &v))
    return fleet_error__set(FLEET_ETYPE, "%s: expected a number, got %s", spec->name,
                            got_text(g, sizeof g, c, m));
  const char *why = range_problem(spec, v, b, sizeof b);
  if (why)
    return fleet_error__set(FLEET_ERANGE, "%s: %s %s", spec->name,
                            number_text(g, sizeof g, c, m), why);
  *spec_field(spec, c->rec) = v;
  return 0;
}

static int fill_record(parse_ctx_t *c, json_t *root, const overflow_t *ovs, unsigned int n_ov)
{
  member_t req_v = {0}, req_ts = {0}, req_lat = {0}, req_lng = {0};
  unsigned int ordinal = 0, next_ov = 0;
  const char *key;
  size_t key_len;
  json_t *val;
  json_object_keylen_foreach(root, key, key_len, val)
  {
    member_t m = {key, key_len, val, NULL};
    if (FLEET_UNLIKELY(next_ov < n_ov) && ovs[next_ov].ordinal == ordinal)
      m.ov = &ovs[next_ov++];
    ordinal++;
    enum key_id id = key_lookup(key, key_len);
    switch (id) {
    case K_V:
      req_v = m;
      break;
    case K_TS:
      req_ts = m;
      break;
    case K_LAT:
      req_lat = m;
      break;
    case K_LNG:
      req_lng = m;
      break;
    case K_SPEED:
    case K_HEADING:
    case K_ODOMETER:
    case K_BATTERY_V:
    case K_ENGINE_TEMP:
    case K_FUEL_LEVEL:
      opt_number(c, &m, &opt_specs[id - K_SPEED]);
      break;
    case K_IGNITION:
      opt_ignition(c, &m);
      break;
    case K_DRIVER_ID:
      opt_driver_id(c, &m);
      break;
    case K_VEHICLE_ID:
      opt_vehicle_id(c, &m);
      break;
    case K_EXTRA:
      extra_field(c, &m);
      break;
    }
  }
  int rc = check_version(c, &req_v);
  if (!rc)
    rc = check_ts(c, &req_ts);
  if (!rc)
    rc = check_position(c, &req_lat, &lat_spec);
  if (!rc)
    rc = check_position(c, &req_lng, &lng_spec);
  return rc;
}

/* With at most MAX_DEPTH '{' and '[' bytes in all, nothing can nest too deep:
 * memchr() settles the usual payload (one '{') without a byte loop. */
static bool few_openers(const char *s, size_t len)
{
  const char *end = s + len;
  unsigned int n = 0;
  for (const char *p = s; (p = memchr(p, '{', (size_t)(end - p))) != NULL; p++)
    if (++n > FLEET_TELEMETRY_MAX_DEPTH)
      return false;
  for (const char *p = s; (p = memchr(p, '[', (size_t)(end - p))) != NULL; p++)
    if (++n > FLEET_TELEMETRY_MAX_DEPTH)
      return false;
  return true;
}

/* Rejects raw NUL bytes and nesting deeper than FLEET_TELEMETRY_MAX_DEPTH,
 * which jansson would otherwise follow down to its own, much larger, limit. */
static int prescan(const char *s, size_t len)
{
  const char *nul = memchr(s, '\0', len);
  if (nul)
    return fleet_error__set(FLEET_EPARSE, "payload: NUL byte at offset %zu",
                            (size_t)(nul - s));
  if (few_openers(s, len))
    return 0;
  int depth = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = s[i];
    if (ch == '"') {
      for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
          i++;
    } else if (ch == '{' || ch == '[') {
      if (++depth > FLEET_TELEMETRY_MAX_DEPTH)
        return fleet_error__set(FLEET_ETOOBIG,
                                "payload: nesting deeper than %d levels at offset %zu",
                                FLEET_TELEMETRY_MAX_DEPTH, i);
    } else if (ch == '}' || ch == ']') {
      if (depth > 0)
        depth--;
    }
  }
  return 0;
}

static bool number_char(char ch)
{
  return (ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' || ch == 'e' ||
         ch == 'E';
}

/*
 * Replaces each number token of `copy` (a writable copy of the payload with
 * one spare byte) that jansson would refuse as too big with "0" and spaces,
 * recording the real value of those that are top-level member values.
 * Returns how many were recorded, or -1 when there are more than `cap`.
 */
static int patch_overflows(char *copy, size_t len, overflow_t *ovs, unsigned int cap)
{
  unsigned int n = 0, ordinal = 0;
  int depth = 0;
  bool root_object = false, seen_root = false;
  for (size_t i = 0; i < len; i++) {
    char ch = copy[i];
    if (ch == '"') {
      for (i++; i < len && copy[i] != '"'; i++)
        if (copy[i] == '\\')
          i++;
      continue;
    }
    if (ch == '{' || ch == '[') {
      if (!seen_root)
        root_object = ch == '{';
      seen_root = true;
      depth++;
    } else if (ch == '}' || ch == ']') {
      depth--;
    } else if (ch == ',' && depth == 1) {
      ordinal++;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
      seen_root = true;
      size_t j = i;
      bool is_int = true;
      while (j < len && number_char(copy[j])) {
        if (copy[j] == '.' || copy[j] == 'e' || copy[j] == 'E')
          is_int = false;
        j++;
      }
      char saved = copy[j];
      copy[j] = '\0';
      char *end;
      bool overflow;
      double value = fleet_numfmt__strtod(copy + i, &end);
      if (is_int) {
        errno = 0;
        char *iend;
        (void)strtoll(copy + i, &iend, 10);
        overflow = errno == ERANGE && iend == copy + j;
      } else {
        overflow = isinf(value) && end == copy + j;
      }
      copy[j] = saved;
      if (overflow) {
        if (root_object && depth == 1) {
          if (n == cap)
            return -1;
          ovs[n++] = (overflow_t){ordinal, is_int, value, i, j - i};
        }
        copy[i] = '0';
        memset(copy + i + 1, ' ', j - i - 1);
      }
      i = j - 1;
    }
  }
  return (int)n;
}

static int json_failure(const json_error_t *e)
{
  switch (json_error_code(e)) {
  case json_error_out_of_memory:
    return fleet_error__oom();
  case json_error_invalid_utf8:
    return fleet_error__set(FLEET_EPARSE, "payload: invalid UTF-8 at offset %d (%s)",
                            e->position, e->text);
  case json_error_duplicate_key: {
    /* jansson says: duplicate object key near '"name"' */
    const char *near = strstr(e->text, "near '");
    size_t n = near ? strlen(near + 6) : 0;
    if (n > 1)
      return fleet_error__set(FLEET_EPARSE, "payload: duplicate key %.*s (line %d, column %d)",
                              (int)(n - 1), near + 6, e->line, e->column);
    return fleet_error__set(FLEET_EPARSE, "payload: %s (line %d, column %d)", e->text, e->line,
                            e->column);
  }
  default:
    return fleet_error__set(FLEET_EPARSE, "payload: invalid JSON at line %d, column %d: %s",
                            e->line, e->column, e->text);
  }
}

static const char *json_type_name(const json_t *j)
{
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "an unknown value";
}

/* Clears what a parse may leave unset; the unused extras and the bytes after
 * each string's terminator are not worth a 1 KiB memset per message. */
static void reset_record(fleet_telemetry_t *r)
{
  r->vehicle_id[0] = '\0';
  r->ts_ns = 0;
  r->lat = r->lng = 0;
  r->present = 0;
  r->speed_kmh = r->heading_deg = r->odometer_km = r->battery_v = 0;
  r->engine_temp_c = r->fuel_level_pct = 0;
  r->ignition = 0;
  r->driver_id[0] = '\0';
  r->n_extras = 0;
}

static int reference_telemetry_parse(fleet_telemetry_t *out,
                                     fleet_telemetry_warnings_t *warnings, const char *json,
                                     size_t len)
{
  if (!out || !json)
    return fleet_error__set(FLEET_EINVAL, "telemetry parse: NULL argument");
  if (out->version != FLEET_TELEMETRY_VERSION)
    return fleet_error__set(FLEET_EVERSION,
                            "telemetry record version %u is not supported (%d is); "
                            "initialise it with fleet_telemetry_init()",
                            out->version, FLEET_TELEMETRY_VERSION);
  if (warnings) {
    warnings->count = 0;
    warnings->dropped = 0;
  }
  if (len > FLEET_TELEMETRY_MAX_BYTES)
    return fleet_error__set(FLEET_ETOOBIG, "payload: %zu bytes is over the limit of %d", len,
                            FLEET_TELEMETRY_MAX_BYTES);
  int rc = prescan(json, len);
  if (rc)
    return rc;

  json_error_t err;
  json_t *root = json_loadb(json, len, LOAD_FLAGS, &err);
  overflow_t ovs[MAX_OVERFLOWS];
  int n_ov = 0;
  if (FLEET_UNLIKELY(!root)) {
    /* Numbers jansson refuses (a u64 CAN counter, 1e400) must not lose the
     * position: parse a copy without them and judge them as fields. */
    if (json_error_code(&err) == json_error_numeric_overflow) {
      char copy[FLEET_TELEMETRY_MAX_BYTES + 1];
      memcpy(copy, json, len);
      n_ov = patch_overflows(copy, len, ovs, MAX_OVERFLOWS);
      if (n_ov >= 0)
        root = json_loadb(copy, len, LOAD_FLAGS, &err);
    }
    if (!root)
      return json_failure(&err);
  }
  if (!json_is_object(root)) {
    rc = fleet_error__set(FLEET_EPARSE, "payload: expected a JSON object, got %s",
                          json_type_name(root));
    json_decref(root);
    return rc;
  }

  reset_record(out);
  parse_ctx_t ctx = {out, warnings, json};
  rc = fill_record(&ctx, root, ovs, (unsigned int)n_ov);
  json_decref(root);
  return rc;
}

