/* telemetry: v1 payload parsing, validation and JSON encoding; RFC 3339 time. */
#include "common_int.h"

#include "numfmt_int.h"
#include "telemetry_int.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
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

#define NS_PER_SEC INT64_C(1000000000)

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

char *fleet_telemetry__quote(char *out, size_t cap, const char *s, size_t len,
                             size_t max_show)
{
  static const char hex[] = "0123456789abcdef";
  if (!cap)
    return out;
  /* Room for the closing quote, "..." and the terminator. */
  size_t limit = cap > 5 ? cap - 5 : 0;
  if (limit > max_show + 1)
    limit = max_show + 1;
  size_t o = 0, i = 0;
  if (o < limit)
    out[o++] = '"';
  for (; i < len && s; i++) {
    unsigned char c = (unsigned char)s[i];
    char e[4];
    size_t n;
    if (c == '"' || c == '\\') {
      e[0] = '\\', e[1] = (char)c, n = 2;
    } else if (c >= 0x20 && c < 0x7f) {
      e[0] = (char)c, n = 1;
    } else {
      e[0] = '\\', e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15], n = 4;
    }
    if (o + n > limit)
      break;
    memcpy(out + o, e, n);
    o += n;
  }
  if (o + 1 < cap)
    out[o++] = '"';
  if (i < len && o + 4 <= cap) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o < cap ? o : cap - 1] = '\0';
  return out;
}

/* Copies the thread's last error message, for wrapping it in another one. */
static void last_message(char *out, size_t cap)
{
  snprintf(out, cap, "%s", fleet_error_last());
}

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

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
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

int fleet_time_parse(int64_t *out_ns, const char *s, size_t len)
{
  if (!out_ns || (!s && len))
    return fleet_error__set(FLEET_EINVAL, "timestamp: NULL argument");
  char why[160], q[SHOW_BUF];
  int64_t ns;
  int rc = time_parse(&ns, s, len, why, sizeof why);
  if (rc)
    return fleet_error__set(rc, "timestamp %s %s",
                            fleet_telemetry__quote(q, sizeof q, s, len, SHOW_MAX), why);
  *out_ns = ns;
  return 0;
}

static char *put_digits(char *p, int64_t v, int width)
{
  for (int k = width - 1; k >= 0; k--) {
    p[k] = (char)('0' + (int)(v % 10));
    v /= 10;
  }
  return p + width;
}

int fleet_time_format(char out[FLEET_TIME_STRLEN], int64_t ns)
{
  if (!out)
    return fleet_error__set(FLEET_EINVAL, "time format: NULL buffer");
  int64_t secs = ns / NS_PER_SEC, frac = ns % NS_PER_SEC;
  if (frac < 0) {
    frac += NS_PER_SEC;
    secs--;
  }
  int64_t days = secs / 86400, sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days--;
  }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  char *p = out;
  p = put_digits(p, y, 4);
  *p++ = '-';
  p = put_digits(p, m, 2);
  *p++ = '-';
  p = put_digits(p, d, 2);
  *p++ = 'T';
  p = put_digits(p, sod / 3600, 2);
  *p++ = ':';
  p = put_digits(p, sod / 60 % 60, 2);
  *p++ = ':';
  p = put_digits(p, sod % 60, 2);
  if (frac) {
    *p++ = '.';
    if (frac % 1000000 == 0)
      p = put_digits(p, frac / 1000000, 3);
    else if (frac % 1000 == 0)
      p = put_digits(p, frac / 1000, 6);
    else
      p = put_digits(p, frac, 9);
  }
  *p++ = 'Z';
  *p = '\0';
  return (int)(p - out);
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

int fleet_vehicle_id_validate(const char *id, size_t len)
{
  if (!id && len)
    return fleet_error__set(FLEET_EINVAL, "vehicle id is NULL");
  char why[128], q[SHOW_BUF];
  int rc = vid_problem(id, len, why, sizeof why);
  if (rc)
    return fleet_error__set(rc, "vehicle id %s %s",
                            fleet_telemetry__quote(q, sizeof q, id, len, SHOW_MAX), why);
  return 0;
}

int fleet_topic_vehicle_id(char out[FLEET_VEHICLE_ID_MAX + 1], const char *topic,
                           const char *kind)
{
  if (!out || !topic)
    return fleet_error__set(FLEET_EINVAL, "topic: NULL argument");
  static const char prefix[] = "fleet/";
  size_t tl = strlen(topic), pl = sizeof prefix - 1;
  char q[SHOW_BUF];
  const char *slash = NULL;
  if (tl > pl && memcmp(topic, prefix, pl) == 0)
    slash = memchr(topic + pl, '/', tl - pl);
  const char *k = slash ? slash + 1 : NULL;
  size_t klen = k ? tl - (size_t)(k - topic) : 0;
  if (!slash || klen == 0 || memchr(k, '/', klen))
    return fleet_error__set(FLEET_EPARSE, "topic %s is not of the form fleet/{vehicle_id}/{kind}",
                            fleet_telemetry__quote(q, sizeof q, topic, tl, SHOW_MAX));
  if (kind && strcmp(k, kind) != 0) {
    char qk[SHOW_BUF];
    return fleet_error__set(FLEET_EPARSE, "topic %s: kind %s is not \"%s\"",
                            fleet_telemetry__quote(q, sizeof q, topic, tl, SHOW_MAX),
                            fleet_telemetry__quote(qk, sizeof qk, k, klen, SHOW_MAX), kind);
  }
  const char *id = topic + pl;
  size_t idlen = (size_t)(slash - id);
  char why[128], qi[SHOW_BUF];
  int rc = vid_problem(id, idlen, why, sizeof why);
  if (rc)
    return fleet_error__set(rc, "topic %s: vehicle id %s %s",
                            fleet_telemetry__quote(q, sizeof q, topic, tl, SHOW_MAX),
                            fleet_telemetry__quote(qi, sizeof qi, id, idlen, SHOW_MAX), why);
  memcpy(out, id, idlen);
  out[idlen] = '\0';
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

static double spec_value(const num_spec_t *spec, const fleet_telemetry_t *rec)
{
  double v;
  memcpy(&v, (const char *)rec + spec->offset, sizeof v);
  return v;
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
/* Parsing: member values and the field checks                              */

/*
 * Payloads are read by the single-pass parser further down, which settles
 * every well-formed payload without allocating. Whatever it does not accept
 * (malformed JSON, duplicate keys, nesting too deep, a non-object, more
 * oversized numbers than MAX_OVERFLOWS) goes to parse_with_jansson(), which
 * builds a jansson tree: jansson's own diagnostics (line, column, the text
 * near the error) are what the messages quote, so they stay exactly as they
 * are. Both parsers describe each top-level member with a jval_t and share
 * the field checks below, so records, warnings and messages do not depend on
 * which one read the payload.
 */

typedef enum jv_type {
  JV_ABSENT,
  JV_OBJECT,
  JV_ARRAY,
  JV_STRING,
  JV_INTEGER,
  JV_REAL,
  JV_TRUE,
  JV_FALSE,
  JV_NULL
} jv_type_t;

typedef struct jval {
  jv_type_t type;
  /* A number jansson cannot hold (an integer beyond int64, a real beyond
   * DBL_MAX): `d` is strtod()'s value and str/len the token as written. */
  bool overflow;
  const char *str; /* JV_STRING: the decoded bytes, no NUL inside; overflow: the token */
  size_t len;
  int64_t i; /* JV_INTEGER */
  double d;  /* JV_REAL, overflow */
} jval_t;

typedef struct member {
  const char *key;
  size_t key_len;
  jval_t val;
} member_t;

typedef struct parse_ctx {
  fleet_telemetry_t *rec;
  fleet_telemetry_warnings_t *warnings;
  /* The required members, judged after the whole object is read. */
  member_t req_v, req_ts, req_lat, req_lng;
} parse_ctx_t;

static void warn(parse_ctx_t *c, const char *fmt, ...) FLEET_PRINTF(2, 3);

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

static const char *jv_type_name(const jval_t *v)
{
  switch (v->type) {
  case JV_OBJECT:
    return "an object";
  case JV_ARRAY:
    return "an array";
  case JV_STRING:
    return "a string";
  case JV_INTEGER:
  case JV_REAL:
    return "a number";
  case JV_TRUE:
  case JV_FALSE:
    return "a boolean";
  case JV_NULL:
    return "null";
  case JV_ABSENT:
    break;
  }
  return "an unknown value";
}

static bool member_number(const member_t *m, double *out)
{
  const jval_t *v = &m->val;
  if (FLEET_UNLIKELY(v->overflow)) {
    *out = v->d;
    return true;
  }
  if (v->type == JV_INTEGER) {
    *out = (double)v->i;
    return true;
  }
  if (v->type == JV_REAL) {
    *out = v->d;
    return true;
  }
  return false;
}

/* The member's number as the payload wrote it (near enough), for messages. */
static const char *number_text(char *buf, size_t cap, const member_t *m)
{
  const jval_t *v = &m->val;
  if (v->overflow) {
    /* The token is digits, signs, '.' and 'e' only: safe to show as is. */
    size_t n = v->len < SHOW_NUMBER ? v->len : SHOW_NUMBER;
    snprintf(buf, cap, "%.*s%s", (int)n, v->str, v->len > SHOW_NUMBER ? "..." : "");
    return buf;
  }
  if (v->type == JV_INTEGER) {
    snprintf(buf, cap, "%" PRId64, v->i);
    return buf;
  }
  double_text(buf, cap, v->d);
  /* Show 1.0 as a real, so that "1 is not an integer" cannot happen. */
  if (!strpbrk(buf, ".en")) {
    size_t n = strlen(buf);
    if (n + 3 <= cap)
      memcpy(buf + n, ".0", 3);
  }
  return buf;
}

/* "a string (\"x\")", "a number (1)", "true", "null", "an array", ... */
static const char *got_text(char *buf, size_t cap, const member_t *m)
{
  char v[SHOW_BUF];
  switch (m->val.type) {
  case JV_OBJECT:
    return "an object";
  case JV_ARRAY:
    return "an array";
  case JV_STRING:
    snprintf(buf, cap, "a string (%s)",
             fleet_telemetry__quote(v, sizeof v, m->val.str, m->val.len, SHOW_WARN));
    return buf;
  case JV_INTEGER:
  case JV_REAL:
    snprintf(buf, cap, "a number (%s)", number_text(v, sizeof v, m));
    return buf;
  case JV_TRUE:
    return "true";
  case JV_FALSE:
    return "false";
  case JV_NULL:
    return "null";
  case JV_ABSENT:
    break;
  }
  return "an unknown value";
}

static void opt_number(parse_ctx_t *c, const member_t *m, const num_spec_t *spec)
{
  char g[SHOW_BUF + 16], b[48];
  double v;
  if (!member_number(m, &v)) {
    if (m->val.type != JV_NULL)
      warn(c, "%s: expected a number, got %s; field dropped", spec->name,
           got_text(g, sizeof g, m));
    return;
  }
  const char *why = range_problem(spec, v, b, sizeof b);
  if (FLEET_UNLIKELY(why != NULL)) {
    warn(c, "%s: %s %s; field dropped", spec->name, number_text(g, sizeof g, m), why);
    return;
  }
  *spec_field(spec, c->rec) = v;
  c->rec->present |= spec->bit;
}

static void opt_ignition(parse_ctx_t *c, const member_t *m)
{
  jv_type_t t = m->val.type;
  if (t == JV_TRUE || t == JV_FALSE) {
    c->rec->ignition = t == JV_TRUE;
    c->rec->present |= FLEET_TELEMETRY_IGNITION;
  } else if (t != JV_NULL) {
    char g[SHOW_BUF + 16];
    warn(c, "ignition: expected true or false, got %s; field dropped", got_text(g, sizeof g, m));
  }
}

static void opt_driver_id(parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16], b[96];
  if (m->val.type != JV_STRING) {
    if (m->val.type != JV_NULL)
      warn(c, "driver_id: expected a string, got %s; field dropped", got_text(g, sizeof g, m));
    return;
  }
  const char *s = m->val.str;
  size_t len = m->val.len;
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
  if (m->val.type != JV_STRING) {
    if (m->val.type != JV_NULL)
      warn(c, "vehicle_id: expected a string, got %s; field dropped", got_text(g, sizeof g, m));
    return;
  }
  const char *s = m->val.str;
  size_t len = m->val.len;
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
  } else if (m->val.type == JV_TRUE || m->val.type == JV_FALSE) {
    type = FLEET_EXTRA_BOOL;
    v = m->val.type == JV_TRUE ? 1.0 : 0.0;
  } else {
    if (m->val.type != JV_NULL)
      warn(c, "%s: only numbers and booleans are kept as extra fields, got %s; field dropped",
           fleet_telemetry__quote(qk, sizeof qk, m->key, m->key_len, SHOW_WARN),
           jv_type_name(&m->val));
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
         m->key, number_text(g, sizeof g, m));
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

/* Files one top-level member, in payload order. */
static void take_member(parse_ctx_t *c, const member_t *m, enum key_id id)
{
  switch (id) {
  case K_V:
    c->req_v = *m;
    break;
  case K_TS:
    c->req_ts = *m;
    break;
  case K_LAT:
    c->req_lat = *m;
    break;
  case K_LNG:
    c->req_lng = *m;
    break;
  case K_SPEED:
  case K_HEADING:
  case K_ODOMETER:
  case K_BATTERY_V:
  case K_ENGINE_TEMP:
  case K_FUEL_LEVEL:
    opt_number(c, m, &opt_specs[id - K_SPEED]);
    break;
  case K_IGNITION:
    opt_ignition(c, m);
    break;
  case K_DRIVER_ID:
    opt_driver_id(c, m);
    break;
  case K_VEHICLE_ID:
    opt_vehicle_id(c, m);
    break;
  case K_EXTRA:
    extra_field(c, m);
    break;
  }
}

static int required_missing(const char *name)
{
  return fleet_error__set(FLEET_EMISSING, "%s: missing", name);
}

static int check_version(const member_t *m)
{
  char g[SHOW_BUF + 16];
  if (m->val.type == JV_ABSENT)
    return required_missing("v");
  if (m->val.overflow && m->val.type == JV_INTEGER)
    return fleet_error__set(FLEET_EVERSION,
                            "v: %s is not a supported payload version (this library reads %d)",
                            number_text(g, sizeof g, m), FLEET_TELEMETRY_PAYLOAD_VERSION);
  if (m->val.overflow || m->val.type != JV_INTEGER)
    return fleet_error__set(FLEET_ETYPE, "v: expected the integer %d, got %s",
                            FLEET_TELEMETRY_PAYLOAD_VERSION, got_text(g, sizeof g, m));
  if (m->val.i != FLEET_TELEMETRY_PAYLOAD_VERSION)
    return fleet_error__set(FLEET_EVERSION,
                            "v: %" PRId64
                            " is not a supported payload version (this library reads %d)",
                            m->val.i, FLEET_TELEMETRY_PAYLOAD_VERSION);
  return 0;
}

static int check_ts(parse_ctx_t *c, const member_t *m)
{
  char g[SHOW_BUF + 16], why[160];
  if (m->val.type == JV_ABSENT)
    return required_missing("ts");
  if (m->val.type != JV_STRING)
    return fleet_error__set(FLEET_ETYPE, "ts: expected an RFC 3339 timestamp string, got %s",
                            got_text(g, sizeof g, m));
  const char *s = m->val.str;
  size_t len = m->val.len;
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
  if (m->val.type == JV_ABSENT)
    return required_missing(spec->name);
  if (!member_number(m, &v))
    return fleet_error__set(FLEET_ETYPE, "%s: expected a number, got %s", spec->name,
                            got_text(g, sizeof g, m));
  const char *why = range_problem(spec, v, b, sizeof b);
  if (why)
    return fleet_error__set(FLEET_ERANGE, "%s: %s %s", spec->name, number_text(g, sizeof g, m),
                            why);
  *spec_field(spec, c->rec) = v;
  return 0;
}

/* When several required fields are wrong, v is judged first, then ts, lat, lng. */
static int check_required(parse_ctx_t *c)
{
  int rc = check_version(&c->req_v);
  if (!rc)
    rc = check_ts(c, &c->req_ts);
  if (!rc)
    rc = check_position(c, &c->req_lat, &lat_spec);
  if (!rc)
    rc = check_position(c, &c->req_lng, &lng_spec);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Parsing: the single-pass payload parser                                  */

/* What the payload parser returns for a payload it leaves to jansson. */
#define HANDOFF 1

/* Top-level numbers jansson cannot hold that a payload may carry (see overflow_t). */
#define MAX_OVERFLOWS 32

/* A key met in an object, for the duplicate check jansson makes
 * (JSON_REJECT_DUPLICATES, in every object). */
typedef struct seen_key {
  const char *p;
  uint32_t len;
  uint32_t sig; /* length and three bytes: most different keys differ here */
} seen_key_t;

/* A member takes at least 5 bytes ("":0,), which bounds the keys of a payload. */
#define MAX_KEYS (FLEET_TELEMETRY_MAX_BYTES / 5 + 1)

typedef struct scanner {
  const unsigned char *p, *end;
  char *out; /* next free byte for decoded strings (they never grow) */
  seen_key_t *keys;
  unsigned int n_keys;
  unsigned int n_overflows;
} scanner_t;

/* 1 for the bytes that stand for themselves in a JSON string: printable ASCII
 * and DEL, without '"' and '\\'. */
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const unsigned char plain_byte[256] = {
  R16(0), R16(0),
  1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22 '"' */
  R16(1), R16(1),
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c '\\' */
  R16(1), R16(1),
  R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
};
#undef R16

static void skip_ws(scanner_t *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

/* Consumes `ch` after optional whitespace. */
static bool expect(scanner_t *s, unsigned char ch)
{
  skip_ws(s);
  if (s->p == s->end || *s->p != ch)
    return false;
  s->p++;
  return true;
}

/* Length of the well-formed UTF-8 sequence at `p` that starts with a byte
 * >= 0x80, or 0: no overlong forms, no surrogates, nothing above U+10FFFF
 * (what jansson accepts). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
  unsigned char c = p[0];
  size_t avail = (size_t)(end - p);
  if (c >= 0xc2 && c <= 0xdf)
    return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (avail < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
      return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
      return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (avail < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
      return 0;
    if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
      return 0;
    return 4;
  }
  return 0;
}

static int hex_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The code unit of the \uXXXX escape at `p` (6 bytes available), or -1. */
static int32_t u_escape(const unsigned char *p)
{
  if (p[0] != '\\' || p[1] != 'u')
    return -1;
  int32_t v = 0;
  for (int k = 2; k < 6; k++) {
    int h = hex_value(p[k]);
    if (h < 0)
      return -1;
    v = v << 4 | h;
  }
  return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/*
 * Decodes the rest of a string whose first escape is at `p`, after the
 * `done` bytes from `start` that needed none. jansson refuses \u0000 (no
 * JSON_ALLOW_NUL) and unpaired surrogates: so does this.
 */
static int decode_string(scanner_t *s, const unsigned char *start, const unsigned char *p,
                         const char **str, size_t *len)
{
  const unsigned char *end = s->end;
  char *o0 = s->out, *o = o0;
  memcpy(o, start, (size_t)(p - start));
  o += p - start;
  for (;;) {
    while (p < end && plain_byte[*p])
      *o++ = (char)*p++;
    if (p == end)
      return HANDOFF;
    unsigned char c = *p;
    if (c == '"')
      break;
    if (c == '\\') {
      if (end - p < 2)
        return HANDOFF;
      char e;
      switch (p[1]) {
      case '"':
      case '\\':
      case '/':
        e = (char)p[1];
        break;
      case 'b':
        e = '\b';
        break;
      case 'f':
        e = '\f';
        break;
      case 'n':
        e = '\n';
        break;
      case 'r':
        e = '\r';
        break;
      case 't':
        e = '\t';
        break;
      case 'u': {
        if (end - p < 6)
          return HANDOFF;
        int32_t u = u_escape(p);
        if (u <= 0 || (u >= 0xdc00 && u <= 0xdfff))
          return HANDOFF;
        p += 6;
        uint32_t cp = (uint32_t)u;
        if (u >= 0xd800 && u <= 0xdbff) {
          int32_t lo = end - p >= 6 ? u_escape(p) : -1;
          if (lo < 0xdc00 || lo > 0xdfff)
            return HANDOFF;
          p += 6;
          cp = 0x10000u + (((uint32_t)u - 0xd800u) << 10) + ((uint32_t)lo - 0xdc00u);
        }
        o += put_utf8(o, cp);
        continue;
      }
      default:
        return HANDOFF;
      }
      *o++ = e;
      p += 2;
      continue;
    }
    if (c < 0x80)
      return HANDOFF; /* a control character */
    size_t n = utf8_seq(p, end);
    if (!n)
      return HANDOFF;
    memcpy(o, p, n);
    o += n;
    p += n;
  }
  *str = o0;
  *len = (size_t)(o - o0);
  s->out = o;
  s->p = p + 1;
  return 0;
}

/* Reads the string whose opening quote is at s->p. Without escapes its bytes
 * stay where they are in the payload. */
static int scan_string(scanner_t *s, const char **str, size_t *len)
{
  const unsigned char *start = s->p + 1, *p = start, *end = s->end;
  for (;;) {
    while (p < end && plain_byte[*p])
      p++;
    if (p == end)
      return HANDOFF;
    unsigned char c = *p;
    if (c == '"')
      break;
    if (c == '\\')
      return decode_string(s, start, p, str, len);
    if (c < 0x80)
      return HANDOFF;
    size_t n = utf8_seq(p, end);
    if (!n)
      return HANDOFF;
    p += n;
  }
  *str = (const char *)start;
  *len = (size_t)(p - start);
  s->p = p + 1;
  return 0;
}

/* Records a key of the object whose keys start at index `first`; HANDOFF
 * when the object already has it. */
static int remember_key(scanner_t *s, unsigned int first, const char *k, size_t len)
{
  uint32_t sig = (uint32_t)len;
  if (len)
    sig |= (uint32_t)(unsigned char)k[0] << 12 | (uint32_t)(unsigned char)k[len / 2] << 20 |
           (uint32_t)((unsigned char)k[len - 1] & 0xfu) << 28;
  for (unsigned int i = first; i < s->n_keys; i++)
    if (s->keys[i].sig == sig && s->keys[i].len == len && memcmp(s->keys[i].p, k, len) == 0)
      return HANDOFF;
  if (s->n_keys == MAX_KEYS)
    return HANDOFF;
  s->keys[s->n_keys++] = (seen_key_t){k, (uint32_t)len, sig};
  return 0;
}

static bool is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

/* 10^0 .. 10^22: every one exactly a double. */
static const double exact_pow10[] = {
  1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * The double of a real token when a single rounding gives it: a mantissa
 * m <= 2^53 and a power of ten 10^k with |k| <= 22 are both exact doubles,
 * so m * 10^k or m / 10^k, correctly rounded by IEEE arithmetic, is the
 * correctly rounded value strtod() returns too (Clinger's fast path). Needs
 * double arithmetic without excess precision.
 */
static bool fast_real(const unsigned char *int_p, size_t int_n, const unsigned char *frac_p,
                      size_t frac_n, long exp10, bool neg, double *out)
{
#if FLT_EVAL_METHOD == 0
  uint64_t m = 0;
  size_t digits = 0;
  for (size_t k = 0; k < int_n + frac_n; k++) {
    unsigned char c = k < int_n ? int_p[k] : frac_p[k - int_n];
    if (m == 0 && c == '0')
      continue; /* leading zeros carry no precision */
    if (++digits > 16)
      return false;
    m = m * 10 + (uint64_t)(c - '0');
  }
  if (m > (UINT64_C(1) << 53))
    return false;
  long k10 = exp10 - (long)frac_n;
  double v = (double)m;
  if (k10 >= 0 && k10 <= 22)
    v *= exact_pow10[k10];
  else if (k10 < 0 && k10 >= -22)
    v /= exact_pow10[-k10];
  else
    return false;
  *out = neg ? -v : v;
  return true;
#else
  (void)int_p, (void)int_n, (void)frac_p, (void)frac_n, (void)exp10, (void)neg, (void)out;
  return false;
#endif
}

/* strtod() of the token, which is followed by more bytes or the payload's end. */
static double token_strtod(const unsigned char *tok, size_t n)
{
  char buf[FLEET_TELEMETRY_MAX_BYTES + 1];
  memcpy(buf, tok, n);
  buf[n] = '\0';
  return fleet_numfmt__strtod(buf, NULL);
}

/*
 * Reads the number at s->p with jansson's grammar and classes: a token
 * without '.', 'e' or 'E' is an integer (strtoll() range), anything else a
 * real (strtod()). `v` NULL checks the syntax only (numbers inside arrays
 * and objects, which no field keeps).
 */
static int scan_number(scanner_t *s, jval_t *v)
{
  const unsigned char *tok = s->p, *p = tok, *end = s->end;
  bool neg = p < end && *p == '-';
  p += neg;
  const unsigned char *int_p = p;
  if (p == end || !is_digit(*p))
    return HANDOFF;
  if (*p == '0') {
    p++;
    if (p < end && is_digit(*p))
      return HANDOFF; /* a leading zero */
  } else {
    while (p < end && is_digit(*p))
      p++;
  }
  size_t int_n = (size_t)(p - int_p);
  const unsigned char *frac_p = p;
  size_t frac_n = 0;
  bool is_int = true;
  long exp10 = 0;
  if (p < end && *p == '.') {
    is_int = false;
    frac_p = ++p;
    while (p < end && is_digit(*p))
      p++;
    frac_n = (size_t)(p - frac_p);
    if (!frac_n)
      return HANDOFF;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    is_int = false;
    p++;
    bool eneg = p < end && (*p == '-' || *p == '+') ? *p++ == '-' : false;
    if (p == end || !is_digit(*p))
      return HANDOFF;
    while (p < end && is_digit(*p)) {
      if (exp10 < 100000)
        exp10 = exp10 * 10 + (*p - '0');
      p++;
    }
    if (eneg)
      exp10 = -exp10;
  }
  s->p = p;
  if (!v)
    return 0;

  v->overflow = false;
  size_t tok_n = (size_t)(p - tok);
  if (is_int) {
    v->type = JV_INTEGER;
    /* No leading zeros: 19 digits or fewer fit a uint64. */
    if (int_n <= 19) {
      uint64_t u = 0;
      for (size_t k = 0; k < int_n; k++)
        u = u * 10 + (uint64_t)(int_p[k] - '0');
      uint64_t limit = neg ? (UINT64_C(1) << 63) : (UINT64_C(1) << 63) - 1;
      if (u <= limit) {
        v->i = neg ? (int64_t)(0 - u) : (int64_t)u;
        return 0;
      }
    }
  } else {
    v->type = JV_REAL;
    if (fast_real(int_p, int_n, frac_p, frac_n, exp10, neg, &v->d))
      return 0;
    v->d = token_strtod(tok, tok_n);
    if (!isinf(v->d))
      return 0;
  }
  /* Beyond what jansson holds: kept as a double with its token, as
   * parse_with_jansson() does after patching the token out. */
  if (++s->n_overflows > MAX_OVERFLOWS)
    return HANDOFF;
  v->overflow = true;
  if (is_int)
    v->d = token_strtod(tok, tok_n);
  v->str = (const char *)tok;
  v->len = tok_n;
  return 0;
}

static int scan_literal(scanner_t *s, const char *lit, size_t n)
{
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
    return HANDOFF;
  s->p += n;
  return 0;
}

static int skip_value(scanner_t *s, unsigned int depth);

/* The object or array opening at s->p, at nesting depth `depth`, checked and
 * skipped: no field keeps what is inside. */
static int skip_container(scanner_t *s, unsigned int depth)
{
  if (depth > FLEET_TELEMETRY_MAX_DEPTH)
    return HANDOFF;
  bool object = *s->p == '{';
  unsigned char close = object ? '}' : ']';
  unsigned int first = s->n_keys;
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    return 0;
  }
  for (;;) {
    if (object) {
      const char *k;
      size_t kl;
      if (s->p == s->end || *s->p != '"' || scan_string(s, &k, &kl) ||
          remember_key(s, first, k, kl) || !expect(s, ':'))
        return HANDOFF;
      skip_ws(s);
    }
    if (skip_value(s, depth + 1))
      return HANDOFF;
    skip_ws(s);
    if (s->p == s->end)
      return HANDOFF;
    if (*s->p == close)
      break;
    if (*s->p != ',')
      return HANDOFF;
    s->p++;
    skip_ws(s);
  }
  s->p++;
  s->n_keys = first;
  return 0;
}

/* Reads the value at s->p; `v` NULL when it is only to be checked. */
static int scan_value(scanner_t *s, jval_t *v, unsigned int depth)
{
  if (s->p == s->end)
    return HANDOFF;
  switch (*s->p) {
  case '"': {
    const char *str;
    size_t len;
    if (scan_string(s, &str, &len))
      return HANDOFF;
    if (v) {
      v->type = JV_STRING;
      v->overflow = false;
      v->str = str;
      v->len = len;
    }
    return 0;
  }
  case '{':
  case '[':
    if (v) {
      v->type = *s->p == '{' ? JV_OBJECT : JV_ARRAY;
      v->overflow = false;
    }
    return skip_container(s, depth);
  case 't':
    if (v)
      v->type = JV_TRUE, v->overflow = false;
    return scan_literal(s, "true", 4);
  case 'f':
    if (v)
      v->type = JV_FALSE, v->overflow = false;
    return scan_literal(s, "false", 5);
  case 'n':
    if (v)
      v->type = JV_NULL, v->overflow = false;
    return scan_literal(s, "null", 4);
  default:
    return scan_number(s, v);
  }
}

static int skip_value(scanner_t *s, unsigned int depth)
{
  return scan_value(s, NULL, depth);
}

/*
 * Reads the payload in one pass, filing each top-level member as it goes.
 * Returns 0 or a negative FLEET_E* code (the record's verdict), or HANDOFF
 * when the payload is not something it settles: then nothing it did counts.
 */
static int parse_payload(parse_ctx_t *c, const char *json, size_t len)
{
  char decoded[FLEET_TELEMETRY_MAX_BYTES];
  seen_key_t keys[MAX_KEYS];
  scanner_t s = {(const unsigned char *)json, (const unsigned char *)json + len, decoded, keys,
                 0, 0};
  unsigned int seen = 0; /* the standard members met, as 1 << key_id */
  if (!expect(&s, '{'))
    return HANDOFF;
  skip_ws(&s);
  if (s.p < s.end && *s.p == '}') {
    s.p++;
  } else {
    for (;;) {
      member_t m;
      if (s.p == s.end || *s.p != '"' || scan_string(&s, &m.key, &m.key_len))
        return HANDOFF;
      enum key_id id = key_lookup(m.key, m.key_len);
      if (id != K_EXTRA) {
        if (seen & (1u << id))
          return HANDOFF;
        seen |= 1u << id;
      } else if (remember_key(&s, 0, m.key, m.key_len)) {
        return HANDOFF;
      }
      if (!expect(&s, ':'))
        return HANDOFF;
      skip_ws(&s);
      if (scan_value(&s, &m.val, 2))
        return HANDOFF;
      take_member(c, &m, id);
      skip_ws(&s);
      if (s.p == s.end)
        return HANDOFF;
      if (*s.p == '}') {
        s.p++;
        break;
      }
      if (*s.p != ',')
        return HANDOFF;
      s.p++;
      skip_ws(&s);
    }
  }
  skip_ws(&s);
  if (s.p != s.end)
    return HANDOFF;
  return check_required(c);
}

/* ------------------------------------------------------------------------ */
/* Parsing: through a jansson tree, for what parse_payload() hands off      */

/* LOAD_FLAGS: JSON_DECODE_ANY so that a top-level array or number gets our
 * precise message. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* A number that jansson cannot hold (integer beyond int64, real beyond
 * DBL_MAX), patched out of a copy of the payload and kept here instead. */
typedef struct overflow {
  unsigned int ordinal; /* index of the top-level member it is the value of */
  bool is_int;
  double value;
  size_t off, len; /* the token in the payload */
} overflow_t;

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

static void jansson_value(jval_t *v, json_t *j, const overflow_t *ov, const char *payload)
{
  v->overflow = false;
  if (ov) {
    v->type = ov->is_int ? JV_INTEGER : JV_REAL;
    v->overflow = true;
    v->d = ov->value;
    v->str = payload + ov->off;
    v->len = ov->len;
    return;
  }
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    v->type = JV_OBJECT;
    break;
  case JSON_ARRAY:
    v->type = JV_ARRAY;
    break;
  case JSON_STRING:
    v->type = JV_STRING;
    v->str = json_string_value(j);
    v->len = json_string_length(j);
    break;
  case JSON_INTEGER:
    v->type = JV_INTEGER;
    v->i = (int64_t)json_integer_value(j);
    break;
  case JSON_REAL:
    v->type = JV_REAL;
    v->d = json_real_value(j);
    break;
  case JSON_TRUE:
    v->type = JV_TRUE;
    break;
  case JSON_FALSE:
    v->type = JV_FALSE;
    break;
  case JSON_NULL:
    v->type = JV_NULL;
    break;
  }
}

int fleet_telemetry_init(fleet_telemetry_t *rec, unsigned int version)
{
  if (!rec)
    return fleet_error__set(FLEET_EINVAL, "telemetry record is NULL");
  if (version != FLEET_TELEMETRY_VERSION)
    return fleet_error__set(FLEET_EINVAL, "telemetry record version %u is not supported (%d is)",
                            version, FLEET_TELEMETRY_VERSION);
  memset(rec, 0, sizeof *rec);
  rec->version = version;
  return 0;
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

static void parse_ctx_start(parse_ctx_t *c, fleet_telemetry_t *out,
                            fleet_telemetry_warnings_t *warnings)
{
  c->rec = out;
  c->warnings = warnings;
  c->req_v.val.type = c->req_ts.val.type = JV_ABSENT;
  c->req_lat.val.type = c->req_lng.val.type = JV_ABSENT;
  reset_record(out);
}

/* The payload through a jansson tree: the verdict and messages for malformed
 * payloads, and the same record as parse_payload() for the rest. */
static int parse_with_jansson(fleet_telemetry_t *out, fleet_telemetry_warnings_t *warnings,
                              const char *json, size_t len)
{
  if (warnings) {
    warnings->count = 0;
    warnings->dropped = 0;
  }
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
    jval_t v;
    jansson_value(&v, root, NULL, json);
    rc = fleet_error__set(FLEET_EPARSE, "payload: expected a JSON object, got %s",
                          jv_type_name(&v));
    json_decref(root);
    return rc;
  }

  parse_ctx_t ctx;
  parse_ctx_start(&ctx, out, warnings);
  unsigned int ordinal = 0, next_ov = 0;
  const char *key;
  size_t key_len;
  json_t *val;
  json_object_keylen_foreach(root, key, key_len, val)
  {
    const overflow_t *ov = NULL;
    if (FLEET_UNLIKELY(next_ov < (unsigned int)n_ov) && ovs[next_ov].ordinal == ordinal)
      ov = &ovs[next_ov++];
    ordinal++;
    member_t m = {key, key_len, {JV_ABSENT, false, NULL, 0, 0, 0}};
    jansson_value(&m.val, val, ov, json);
    take_member(&ctx, &m, key_lookup(key, key_len));
  }
  rc = check_required(&ctx);
  json_decref(root);
  return rc;
}

int fleet_telemetry_parse(fleet_telemetry_t *out, fleet_telemetry_warnings_t *warnings,
                          const char *json, size_t len)
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
  parse_ctx_t ctx;
  parse_ctx_start(&ctx, out, warnings);
  int rc = parse_payload(&ctx, json, len);
  if (FLEET_LIKELY(rc <= 0))
    return rc;
  return parse_with_jansson(out, warnings, json, len);
}

/* ------------------------------------------------------------------------ */
/* Validation of records built in code                                      */

static bool has_nul(const char *s, size_t cap)
{
  return memchr(s, '\0', cap) != NULL;
}

static int validate_number(const num_spec_t *spec, double v)
{
  char b[48], t[48];
  const char *why = range_problem(spec, v, b, sizeof b);
  if (why)
    return fleet_error__set(FLEET_ERANGE, "%s: %s %s", spec->name,
                            double_text(t, sizeof t, v), why);
  return 0;
}

static int validate_extras(const fleet_telemetry_t *rec)
{
  char b[96], q[SHOW_BUF], t[48];
  if (rec->n_extras > FLEET_TELEMETRY_MAX_EXTRAS)
    return fleet_error__set(FLEET_ETOOBIG, "n_extras: %u is more than %d", rec->n_extras,
                            FLEET_TELEMETRY_MAX_EXTRAS);
  for (unsigned int i = 0; i < rec->n_extras; i++) {
    const fleet_extra_field_t *x = &rec->extras[i];
    if (!has_nul(x->name, sizeof x->name))
      return fleet_error__set(FLEET_EINVAL, "extras[%u]: name is not NUL-terminated", i);
    size_t len = strlen(x->name);
    const char *why = extra_name_problem(x->name, len, b, sizeof b);
    if (!why && key_lookup(x->name, len) != K_EXTRA)
      why = "the name is a standard field's";
    for (unsigned int k = 0; !why && k < i; k++)
      if (strcmp(rec->extras[k].name, x->name) == 0)
        why = "the name is used twice";
    if (why)
      return fleet_error__set(FLEET_EINVAL, "extra field %s: %s",
                              fleet_telemetry__quote(q, sizeof q, x->name, len, SHOW_MAX), why);
    if (x->type == FLEET_EXTRA_NUMBER) {
      if (!isfinite(x->value))
        return fleet_error__set(FLEET_ERANGE, "extra field \"%s\": %s is not a finite number",
                                x->name, double_text(t, sizeof t, x->value));
    } else if (x->type == FLEET_EXTRA_BOOL) {
      if (x->value != 0.0 && x->value != 1.0)
        return fleet_error__set(FLEET_ERANGE, "extra field \"%s\": boolean value %s is not 0 or 1",
                                x->name, double_text(t, sizeof t, x->value));
    } else {
      return fleet_error__set(FLEET_ETYPE, "extra field \"%s\": unknown type %d", x->name,
                              (int)x->type);
    }
  }
  return 0;
}

int fleet_telemetry_validate(const fleet_telemetry_t *rec)
{
  char b[96], q[SHOW_BUF];
  if (!rec)
    return fleet_error__set(FLEET_EINVAL, "telemetry record is NULL");
  if (rec->version != FLEET_TELEMETRY_VERSION)
    return fleet_error__set(FLEET_EVERSION, "telemetry record version %u is not supported (%d is)",
                            rec->version, FLEET_TELEMETRY_VERSION);
  if (!has_nul(rec->vehicle_id, sizeof rec->vehicle_id))
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: not NUL-terminated");
  size_t vlen = strlen(rec->vehicle_id);
  if (vlen && vid_problem(rec->vehicle_id, vlen, b, sizeof b))
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: %s %s",
                            fleet_telemetry__quote(q, sizeof q, rec->vehicle_id, vlen, SHOW_MAX),
                            b);
  int rc = validate_number(&lat_spec, rec->lat);
  if (!rc)
    rc = validate_number(&lng_spec, rec->lng);
  if (rc)
    return rc;
  unsigned int known = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING |
                       FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_ODOMETER |
                       FLEET_TELEMETRY_BATTERY_V | FLEET_TELEMETRY_ENGINE_TEMP |
                       FLEET_TELEMETRY_FUEL_LEVEL | FLEET_TELEMETRY_DRIVER_ID;
  if (rec->present & ~known)
    return fleet_error__set(FLEET_EINVAL, "present: unknown bits 0x%x", rec->present & ~known);
  for (size_t i = 0; i < FLEET_ARRAY_LEN(opt_specs); i++) {
    const num_spec_t *spec = &opt_specs[i];
    if (spec->name && (rec->present & spec->bit)) {
      rc = validate_number(spec, spec_value(spec, rec));
      if (rc)
        return rc;
    }
  }
  if ((rec->present & FLEET_TELEMETRY_IGNITION) && rec->ignition != 0 && rec->ignition != 1)
    return fleet_error__set(FLEET_ERANGE, "ignition: %d is not 0 or 1", rec->ignition);
  if (rec->present & FLEET_TELEMETRY_DRIVER_ID) {
    if (!has_nul(rec->driver_id, sizeof rec->driver_id))
      return fleet_error__set(FLEET_EINVAL, "driver_id: not NUL-terminated");
    size_t dlen = strlen(rec->driver_id);
    const char *why = driver_problem(rec->driver_id, dlen, b, sizeof b);
    if (why)
      return fleet_error__set(FLEET_EINVAL, "driver_id: %s %s",
                              fleet_telemetry__quote(q, sizeof q, rec->driver_id, dlen, SHOW_MAX),
                              why);
  }
  return validate_extras(rec);
}

int fleet_telemetry__check_key(const char *id)
{
  if (!id)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: NULL");
  if (strnlen(id, FLEET_VEHICLE_ID_MAX + 1) > FLEET_VEHICLE_ID_MAX)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: longer than %d bytes",
                            FLEET_VEHICLE_ID_MAX);
  return 0;
}

/* 1678-01-01 and 2262-01-01 in ns (telemetry_int.h says why). */
#define FIX_TS_MIN (-9214560000LL * NS_PER_SEC)
#define FIX_TS_MAX (9214646400LL * NS_PER_SEC)

int fleet_telemetry__check_fix(const fleet_telemetry_t *rec, unsigned int fields)
{
  if (!(rec->lat >= -90.0 && rec->lat <= 90.0))
    return fleet_error__set(FLEET_ERANGE, "lat: %g is outside [-90, 90]", rec->lat);
  if (!(rec->lng >= -180.0 && rec->lng <= 180.0))
    return fleet_error__set(FLEET_ERANGE, "lng: %g is outside [-180, 180]", rec->lng);
  if (rec->ts_ns < FIX_TS_MIN || rec->ts_ns >= FIX_TS_MAX)
    return fleet_error__set(FLEET_ERANGE, "ts: %lld ns is outside 1678-2261",
                            (long long)rec->ts_ns);
  unsigned int p = rec->present & fields;
  if ((p & FLEET_TELEMETRY_SPEED) && !(rec->speed_kmh >= 0.0 && rec->speed_kmh < 1e6))
    return fleet_error__set(FLEET_ERANGE, "speed: %g is not a speed in km/h", rec->speed_kmh);
  if ((p & FLEET_TELEMETRY_HEADING) && !isfinite(rec->heading_deg))
    return fleet_error__set(FLEET_ERANGE, "heading: %g is not finite", rec->heading_deg);
  if ((p & FLEET_TELEMETRY_ODOMETER) && !(rec->odometer_km >= 0.0 && rec->odometer_km < 1e12))
    return fleet_error__set(FLEET_ERANGE, "odometer: %g is not a distance in km",
                            rec->odometer_km);
  if ((p & FLEET_TELEMETRY_BATTERY_V) && !(rec->battery_v >= 0.0 && rec->battery_v < 1e6))
    return fleet_error__set(FLEET_ERANGE, "battery_v: %g is not a voltage", rec->battery_v);
  if ((p & FLEET_TELEMETRY_ENGINE_TEMP) &&
      !(rec->engine_temp_c >= -60.0 && rec->engine_temp_c <= 250.0))
    return fleet_error__set(FLEET_ERANGE, "engine_temp: %g is outside [-60, 250]",
                            rec->engine_temp_c);
  if ((p & FLEET_TELEMETRY_FUEL_LEVEL) &&
      !(rec->fuel_level_pct >= 0.0 && rec->fuel_level_pct <= 100.0))
    return fleet_error__set(FLEET_ERANGE, "fuel_level: %g is outside [0, 100]",
                            rec->fuel_level_pct);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */

/* Upper bound of one encoded record: 7 (v) + 81 (vehicle_id) + 38 (ts)
 * + 10 numbers of at most 14 + 31 bytes + 17 (ignition) + 398 (driver_id,
 * every byte escaped at worst) + 16 extras of 2 + 32 + 2 + 31 bytes + 2. */
#define ENCODE_MAX 2560

typedef struct writer {
  char *p;
  char *end;
  bool overflow;
} writer_t;

static void w_put(writer_t *w, const char *s, size_t n)
{
  if ((size_t)(w->end - w->p) < n) {
    w->overflow = true;
    return;
  }
  memcpy(w->p, s, n);
  w->p += n;
}

#define W_LIT(w, lit) w_put(w, lit, sizeof lit - 1)

static void w_number(writer_t *w, double v)
{
  /* jansson reads "-0" as the integer 0: write a real to keep the sign. */
  if (v == 0.0 && signbit(v)) {
    W_LIT(w, "-0.0");
    return;
  }
  int n = fleet_numfmt__double(w->p, (size_t)(w->end - w->p), v);
  if (n < 0)
    w->overflow = true;
  else
    w->p += n;
}

static void w_json_string(writer_t *w, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  W_LIT(w, "\"");
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      w_put(w, e, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      w_put(w, e, 6);
    } else {
      w_put(w, p, 1);
    }
  }
  W_LIT(w, "\"");
}

int fleet_telemetry_json_opts_init(fleet_telemetry_json_opts_t *opts, unsigned int version)
{
  if (!opts)
    return fleet_error__set(FLEET_EINVAL, "JSON options are NULL");
  if (version != FLEET_TELEMETRY_JSON_OPTS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "JSON options version %u is not supported (%d is)",
                            version, FLEET_TELEMETRY_JSON_OPTS_VERSION);
  fleet_telemetry_json_opts_t def = FLEET_TELEMETRY_JSON_OPTS_INIT;
  *opts = def;
  return 0;
}

int fleet_telemetry_encode_json(fleet_buf_t *buf, const fleet_telemetry_t *rec,
                                const fleet_telemetry_json_opts_t *opts)
{
  if (!buf || !rec)
    return fleet_error__set(FLEET_EINVAL, "telemetry encode: NULL argument");
  if (opts && opts->version != FLEET_TELEMETRY_JSON_OPTS_VERSION)
    return fleet_error__set(FLEET_EINVAL, "JSON options version %u is not supported (%d is)",
                            opts->version, FLEET_TELEMETRY_JSON_OPTS_VERSION);
  int include_vid = opts ? opts->include_vehicle_id : 1;
  if (fleet_telemetry_validate(rec)) {
    char msg[FLEET_ERROR_MAX];
    last_message(msg, sizeof msg);
    return fleet_error__set(FLEET_EINVAL, "cannot encode an invalid record: %s", msg);
  }

  char tmp[ENCODE_MAX];
  writer_t w = {tmp, tmp + sizeof tmp, false};
  W_LIT(&w, "{\"v\":1");
  if (include_vid && rec->vehicle_id[0]) {
    W_LIT(&w, ",\"vehicle_id\":");
    w_json_string(&w, rec->vehicle_id);
  }
  char ts[FLEET_TIME_STRLEN];
  int tl = fleet_time_format(ts, rec->ts_ns);
  W_LIT(&w, ",\"ts\":\"");
  w_put(&w, ts, (size_t)tl);
  W_LIT(&w, "\",\"lat\":");
  w_number(&w, rec->lat);
  W_LIT(&w, ",\"lng\":");
  w_number(&w, rec->lng);
  for (size_t i = 0; i < FLEET_ARRAY_LEN(opt_specs); i++) {
    const num_spec_t *spec = &opt_specs[i];
    if (!spec->name) {
      if (rec->present & FLEET_TELEMETRY_IGNITION) {
        if (rec->ignition)
          W_LIT(&w, ",\"ignition\":true");
        else
          W_LIT(&w, ",\"ignition\":false");
      }
      continue;
    }
    if (!(rec->present & spec->bit))
      continue;
    W_LIT(&w, ",\"");
    w_put(&w, spec->name, strlen(spec->name));
    W_LIT(&w, "\":");
    w_number(&w, spec_value(spec, rec));
  }
  if (rec->present & FLEET_TELEMETRY_DRIVER_ID) {
    W_LIT(&w, ",\"driver_id\":");
    w_json_string(&w, rec->driver_id);
  }
  for (unsigned int i = 0; i < rec->n_extras; i++) {
    const fleet_extra_field_t *x = &rec->extras[i];
    W_LIT(&w, ",\"");
    w_put(&w, x->name, strlen(x->name));
    W_LIT(&w, "\":");
    if (x->type == FLEET_EXTRA_BOOL) {
      if (x->value != 0.0)
        W_LIT(&w, "true");
      else
        W_LIT(&w, "false");
    } else {
      w_number(&w, x->value);
    }
  }
  W_LIT(&w, "}");
  if (w.overflow)
    return fleet_error__set(FLEET_EINTERNAL, "telemetry encode: record larger than %d bytes",
                            ENCODE_MAX);
  return fleet_buf_append(buf, tmp, (size_t)(w.p - tmp));
}

/* ------------------------------------------------------------------------ */
/* Comparison                                                               */

#define DIFF(field)                        \
  do {                                     \
    if (why)                               \
      snprintf(why, cap, "%s", field);     \
    return false;                          \
  } while (0)

bool fleet_telemetry__equal(const fleet_telemetry_t *a, const fleet_telemetry_t *b, char *why,
                            size_t cap)
{
  if (a->version != b->version)
    DIFF("version");
  if (strncmp(a->vehicle_id, b->vehicle_id, sizeof a->vehicle_id) != 0)
    DIFF("vehicle_id");
  if (a->ts_ns != b->ts_ns)
    DIFF("ts");
  if (a->lat != b->lat)
    DIFF("lat");
  if (a->lng != b->lng)
    DIFF("lng");
  if (a->present != b->present)
    DIFF("present");
  for (size_t i = 0; i < FLEET_ARRAY_LEN(opt_specs); i++) {
    const num_spec_t *spec = &opt_specs[i];
    if (spec->name && (a->present & spec->bit) && spec_value(spec, a) != spec_value(spec, b))
      DIFF(spec->name);
  }
  if ((a->present & FLEET_TELEMETRY_IGNITION) && a->ignition != b->ignition)
    DIFF("ignition");
  if ((a->present & FLEET_TELEMETRY_DRIVER_ID) &&
      strncmp(a->driver_id, b->driver_id, sizeof a->driver_id) != 0)
    DIFF("driver_id");
  if (a->n_extras != b->n_extras)
    DIFF("n_extras");
  for (unsigned int i = 0; i < a->n_extras && i < FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    const fleet_extra_field_t *x = &a->extras[i], *y = &b->extras[i];
    if (strncmp(x->name, y->name, sizeof x->name) != 0 || x->type != y->type ||
        x->value != y->value)
      DIFF("extras");
  }
  return true;
}
