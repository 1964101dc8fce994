/* lineproto: InfluxDB line protocol encoder (see include/fleet/lineproto.h). */
#include "common_int.h"

#include "fleet/lineproto.h"
#include "numfmt_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Character classes: one table lookup decides whether a byte can be copied
 * as it is, which keeps the common case (plain ASCII names) a tight loop. */
enum {
  C_MEAS = 1u << 0, /* escaped in measurements: comma, space */
  C_KEY = 1u << 1,  /* escaped in tag keys, tag values, field keys: comma, '=', space */
  C_STR = 1u << 2,  /* escaped in string field values: '"', backslash */
  C_BS = 1u << 3,   /* backslash: literal in names, but not next to what it could escape */
  C_EOL = 1u << 4,  /* '\n', '\r': ends a line, cannot be represented anywhere */
  C_TAB = 1u << 5,  /* '\t': InfluxDB 3 reads it as whitespace inside names */
  C_HIGH = 1u << 6  /* >= 0x80: part of a UTF-8 sequence, validated */
};

#define H C_HIGH
#define H16 H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H
static const unsigned char cls[256] = {
  ['\t'] = C_TAB,
  ['\n'] = C_EOL,
  ['\r'] = C_EOL,
  [' '] = C_MEAS | C_KEY,
  ['"'] = C_STR,
  [','] = C_MEAS | C_KEY,
  ['='] = C_KEY,
  ['\\'] = C_STR | C_BS,
  [0x80] = H16, H16, H16, H16, H16, H16, H16, H16,
};
#undef H16
#undef H

/* The parts of a line, for escaping rules and for error messages. */
typedef enum lp_part {
  LP_MEASUREMENT,
  LP_TAG_KEY,
  LP_TAG_VALUE,
  LP_FIELD_KEY,
  LP_STRING
} lp_part_t;

/* Upper bound of a formatted timestamp or integer: sign and 19 digits. */
#define I64_MAX_CHARS 20

static const char digit_pairs[] =
  "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
  "8081828384858687888990919293949596979899";

static unsigned int digits_u64(uint64_t v)
{
  unsigned int n = 1;
  while (v >= 10000) {
    v /= 10000;
    n += 4;
  }
  return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Writes the digits straight into place, two at a time: no snprintf, no
 * variable-length copy, on the path every line takes. */
static char *put_u64(char *d, uint64_t v)
{
  char *end = d + digits_u64(v), *p = end;
  while (v >= 100) {
    size_t r = (size_t)(v % 100) * 2;
    v /= 100;
    p -= 2;
    p[0] = digit_pairs[r];
    p[1] = digit_pairs[r + 1];
  }
  if (v >= 10) {
    p[-2] = digit_pairs[v * 2];
    p[-1] = digit_pairs[v * 2 + 1];
  } else {
    p[-1] = (char)('0' + (int)v);
  }
  return end;
}

static char *put_i64(char *d, int64_t v)
{
  uint64_t u = (uint64_t)v;
  if (v < 0) {
    *d++ = '-';
    u = 0 - u; /* well defined for INT64_MIN too */
  }
  return put_u64(d, u);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid:
 * InfluxDB 3 refuses a request body that is not UTF-8, so one bad byte would
 * cost the whole batch. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
  unsigned int c = s[0];
  if (c < 0xC2)
    return 0; /* stray continuation byte or overlong 2-byte form */
  if (c < 0xE0)
    return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
      return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
      return 0; /* overlong, or a UTF-16 surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
      return 0;
    if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
      return 0; /* overlong, or above U+10FFFF */
    return 4;
  }
  return 0;
}

/* A printable, bounded rendering of a name or value for error messages. */
static void excerpt(char *out, size_t cap, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const size_t shown = 40;
  size_t j = 0;
  for (size_t i = 0; i < n && i < shown && j + 5 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[j++] = '\\';
      out[j++] = (char)c;
    } else if (c >= 0x20 && c < 0x7F) {
      out[j++] = (char)c;
    } else {
      out[j++] = '\\';
      out[j++] = 'x';
      out[j++] = hex[c >> 4];
      out[j++] = hex[c & 15];
    }
  }
  if (n > shown && j + 4 < cap) {
    memcpy(out + j, "...", 3);
    j += 3;
  }
  out[j] = '\0';
}

/* Sets the error for a bad part: `<part> "<text>": <problem>`. `key` is the tag
 * or field the part belongs to (for values). */
static int part_error(int code, lp_part_t part, const char *key, const char *s, size_t n,
                      const char *fmt, ...) FLEET_PRINTF(6, 7);

static int part_error(int code, lp_part_t part, const char *key, const char *s, size_t n,
                      const char *fmt, ...)
{
  char text[200], keytext[200], problem[256];
  excerpt(text, sizeof text, s, n);
  excerpt(keytext, sizeof keytext, key ? key : "", key ? strlen(key) : 0);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(problem, sizeof problem, fmt, ap);
  va_end(ap);
  switch (part) {
  case LP_MEASUREMENT:
    return fleet_error__set(code, "measurement \"%s\": %s", text, problem);
  case LP_TAG_KEY:
    return fleet_error__set(code, "tag key \"%s\": %s", text, problem);
  case LP_TAG_VALUE:
    return fleet_error__set(code, "tag \"%s\": value \"%s\" %s", keytext, text, problem);
  case LP_FIELD_KEY:
    return fleet_error__set(code, "field key \"%s\": %s", text, problem);
  case LP_STRING:
  default:
    return fleet_error__set(code, "field \"%s\": string value \"%s\" %s", keytext, text,
                            problem);
  }
}

static bool is_reserved_key(const char *s, size_t n)
{
  /* InfluxDB uses these names itself: a tag or field called "time" is
   * dropped or refused, and Flux/InfluxDB 2+ use _field and _measurement. */
  return (n == 4 && !memcmp(s, "time", 4)) || (n == 6 && !memcmp(s, "_field", 6)) ||
         (n == 12 && !memcmp(s, "_measurement", 12));
}

/*
 * Writes the escaped form of s[0..n) at d, which must have room for 2n bytes.
 * Returns the end of what was written, or NULL with the error set.
 *
 * In names a backslash is written as it is: InfluxDB reads it literally unless
 * it precedes a character the part escapes. The cases where the reading is
 * not the writer's intent are refused instead of written: a trailing
 * backslash (it would escape the separator that follows), two backslashes
 * (InfluxDB 1.x/2.x read both, 3.x reads one) and a backslash before an
 * escapable character (1.x splits field keys there).
 */
static char *put_escaped(char *d, const char *str, size_t n, lp_part_t part, const char *key)
{
  const unsigned char *s = (const unsigned char *)str;
  unsigned int esc, stop;
  switch (part) {
  case LP_MEASUREMENT:
    esc = C_MEAS;
    break;
  case LP_STRING:
    esc = C_STR;
    break;
  default:
    esc = C_KEY;
    break;
  }
  stop = part == LP_STRING ? (esc | C_EOL | C_HIGH) : (esc | C_BS | C_EOL | C_TAB | C_HIGH);

  if (part != LP_STRING) {
    if (FLEET_UNLIKELY(n == 0)) {
      part_error(FLEET_EINVAL, part, key, str, n,
                 part == LP_TAG_VALUE ? "is empty (InfluxDB 3 refuses empty tag values; "
                                        "leave the tag out instead)"
                                      : "is empty");
      return NULL;
    }
    if (part == LP_MEASUREMENT && s[0] == '#') {
      part_error(FLEET_EINVAL, part, key, str, n,
                 "starts with '#', which makes the line a comment");
      return NULL;
    }
    if ((part == LP_TAG_KEY || part == LP_FIELD_KEY) && is_reserved_key(str, n)) {
      part_error(FLEET_EINVAL, part, key, str, n,
                 "is reserved by InfluxDB (time, _field and _measurement cannot be keys)");
      return NULL;
    }
  }

  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    unsigned int k = cls[c];
    if (FLEET_LIKELY(!(k & stop))) {
      *d++ = (char)c;
      continue;
    }
    if (k & C_EOL) {
      part_error(FLEET_EINVAL, part, key, str, n,
                 "contains a %s (byte %zu), which line protocol cannot carry",
                 c == '\n' ? "newline" : "carriage return", i);
      return NULL;
    }
    if (k & C_TAB) {
      part_error(FLEET_EINVAL, part, key, str, n,
                 "contains a tab (byte %zu), which InfluxDB 3 reads as whitespace", i);
      return NULL;
    }
    if (k & C_HIGH) {
      size_t len = utf8_len(s + i, n - i);
      if (!len) {
        part_error(FLEET_EINVAL, part, key, str, n, "is not valid UTF-8 (byte %zu)", i);
        return NULL;
      }
      memcpy(d, s + i, len);
      d += len;
      i += len - 1;
      continue;
    }
    if ((k & C_BS) && part != LP_STRING) {
      if (i + 1 == n) {
        part_error(FLEET_EINVAL, part, key, str, n,
                   "ends with a backslash, which would escape the separator after it");
        return NULL;
      }
      unsigned char next = s[i + 1];
      if (next == '\\' || (cls[next] & esc)) {
        part_error(FLEET_EINVAL, part, key, str, n,
                   "has a backslash before '%c' (byte %zu), which InfluxDB versions "
                   "read back differently",
                   (char)next, i);
        return NULL;
      }
      *d++ = '\\';
      continue;
    }
    *d++ = '\\';
    *d++ = (char)c;
  }
  return d;
}

/* Rolls the buffer back to where the point began. */
static void rollback(fleet_lp_point_t *pt)
{
  fleet_buf_t *buf = pt->buf;
  if (buf && buf->ptr && pt->start <= buf->len) {
    buf->len = pt->start;
    buf->ptr[buf->len] = '\0';
  }
}

/* Records the point's first error and rolls back at once, so the buffer never
 * holds a partial line, even if the caller abandons the point. */
static int fail(fleet_lp_point_t *pt, int rc)
{
  if (!pt->status)
    pt->status = rc;
  rollback(pt);
  return rc;
}

/* Checks that the point can take more input; returns 0 or its status. */
static int usable(fleet_lp_point_t *pt)
{
  if (!pt)
    return fleet_error__set(FLEET_EINVAL, "line protocol point is NULL");
  if (pt->status)
    return pt->status;
  if (!pt->buf)
    return fleet_error__set(FLEET_EINVAL,
                            "line protocol point was not begun or has ended; "
                            "call fleet_lp_begin() first");
  return 0;
}

/* Room for `extra` more bytes; on failure records the error in the point. */
static int reserve(fleet_lp_point_t *pt, size_t extra)
{
  int rc = fleet_buf_reserve(pt->buf, extra);
  return rc ? fail(pt, rc) : 0;
}

static size_t twice(size_t n)
{
  return n > SIZE_MAX / 4 ? SIZE_MAX / 2 : 2 * n;
}

int fleet_lp_begin(fleet_lp_point_t *pt, fleet_buf_t *buf, const char *measurement)
{
  if (!pt)
    return fleet_error__set(FLEET_EINVAL, "line protocol point is NULL");
  pt->buf = buf;
  pt->start = buf ? buf->len : 0;
  pt->fields = 0;
  pt->status = 0;
  if (!buf) {
    pt->status = FLEET_EINVAL;
    return fleet_error__set(FLEET_EINVAL, "line protocol buffer is NULL");
  }
  if (!measurement)
    return fail(pt, fleet_error__set(FLEET_EINVAL, "measurement is NULL"));
  size_t n = strlen(measurement);
  int rc = reserve(pt, twice(n));
  if (rc)
    return rc;
  char *d = put_escaped(buf->ptr + buf->len, measurement, n, LP_MEASUREMENT, NULL);
  if (!d)
    return fail(pt, fleet_error_last_code());
  buf->len = (size_t)(d - buf->ptr);
  buf->ptr[buf->len] = '\0';
  return 0;
}

int fleet_lp_add_tag(fleet_lp_point_t *pt, const char *key, const char *value)
{
  int rc = usable(pt);
  if (rc)
    return rc;
  if (!key || !value)
    return fail(pt, fleet_error__set(FLEET_EINVAL, "tag %s is NULL", key ? "value" : "key"));
  if (pt->fields) {
    part_error(FLEET_EINVAL, LP_TAG_KEY, NULL, key, strlen(key),
               "comes after a field; tags must come before the first field");
    return fail(pt, FLEET_EINVAL);
  }
  size_t kn = strlen(key), vn = strlen(value);
  rc = reserve(pt, twice(kn) + twice(vn) + 2);
  if (rc)
    return rc;
  fleet_buf_t *buf = pt->buf;
  char *d = buf->ptr + buf->len;
  *d++ = ',';
  d = put_escaped(d, key, kn, LP_TAG_KEY, NULL);
  if (d) {
    *d++ = '=';
    d = put_escaped(d, value, vn, LP_TAG_VALUE, key);
  }
  if (!d)
    return fail(pt, fleet_error_last_code());
  buf->len = (size_t)(d - buf->ptr);
  buf->ptr[buf->len] = '\0';
  return 0;
}

/* Writes the separator and `key=` of a field with room for `value_max` more
 * bytes and points *out at where the value goes. Returns 0 or the error, with
 * the point failed. */
static int field_head(fleet_lp_point_t *pt, const char *key, size_t value_max, char **out)
{
  int rc = usable(pt);
  if (rc)
    return rc;
  if (!key)
    return fail(pt, fleet_error__set(FLEET_EINVAL, "field key is NULL"));
  size_t kn = strlen(key);
  rc = reserve(pt, twice(kn) + 2 + value_max);
  if (rc)
    return rc;
  fleet_buf_t *buf = pt->buf;
  char *d = buf->ptr + buf->len;
  *d++ = pt->fields ? ',' : ' ';
  d = put_escaped(d, key, kn, LP_FIELD_KEY, NULL);
  if (!d)
    return fail(pt, fleet_error_last_code());
  *d++ = '=';
  *out = d;
  return 0;
}

static int field_done(fleet_lp_point_t *pt, char *end)
{
  fleet_buf_t *buf = pt->buf;
  buf->len = (size_t)(end - buf->ptr);
  buf->ptr[buf->len] = '\0';
  pt->fields++;
  return 0;
}

static int nonfinite_error(const char *key, double v)
{
  return fleet_error__set(FLEET_ERANGE, "field \"%s\": %s is not allowed in line protocol",
                          key, isnan(v) ? "NaN" : signbit(v) ? "-infinity" : "infinity");
}

int fleet_lp_add_float(fleet_lp_point_t *pt, const char *key, double value)
{
  char *d;
  int rc = field_head(pt, key, FLEET_NUMFMT_DOUBLE_MAX, &d);
  if (rc)
    return rc;
  if (!isfinite(value))
    return fail(pt, nonfinite_error(key, value));
  int n = fleet_numfmt__double(d, FLEET_NUMFMT_DOUBLE_MAX, value);
  if (n < 0)
    return fail(pt, n);
  return field_done(pt, d + n);
}

int fleet_lp_add_int(fleet_lp_point_t *pt, const char *key, int64_t value)
{
  char *d;
  int rc = field_head(pt, key, I64_MAX_CHARS + 1, &d);
  if (rc)
    return rc;
  d = put_i64(d, value);
  *d++ = 'i';
  return field_done(pt, d);
}

static char *put_bool(char *d, int value)
{
  if (value) {
    memcpy(d, "true", 4);
    return d + 4;
  }
  memcpy(d, "false", 5);
  return d + 5;
}

int fleet_lp_add_bool(fleet_lp_point_t *pt, const char *key, int value)
{
  char *d;
  int rc = field_head(pt, key, 5, &d);
  if (rc)
    return rc;
  return field_done(pt, put_bool(d, value));
}

int fleet_lp_add_string(fleet_lp_point_t *pt, const char *key, const char *value)
{
  int rc = usable(pt);
  if (rc)
    return rc;
  if (!value)
    return fail(pt, fleet_error__set(FLEET_EINVAL, "field \"%s\": string value is NULL",
                                     key ? key : "(null)"));
  size_t vn = strlen(value);
  char *d;
  rc = field_head(pt, key, twice(vn) + 2, &d);
  if (rc)
    return rc;
  *d++ = '"';
  d = put_escaped(d, value, vn, LP_STRING, key);
  if (!d)
    return fail(pt, fleet_error_last_code());
  *d++ = '"';
  return field_done(pt, d);
}

int fleet_lp_end(fleet_lp_point_t *pt, int64_t ts_ns)
{
  int rc = usable(pt);
  if (rc) {
    if (pt && pt->status) {
      rollback(pt);
      pt->buf = NULL;
    }
    return rc;
  }
  if (!pt->fields) {
    fleet_buf_t *buf = pt->buf;
    char name[200];
    excerpt(name, sizeof name, buf->ptr + pt->start, buf->len - pt->start);
    rc = fleet_error__set(FLEET_EINVAL,
                          "point \"%s\" has no fields; InfluxDB needs at least one", name);
    fail(pt, rc);
    pt->buf = NULL;
    return rc;
  }
  rc = reserve(pt, I64_MAX_CHARS + 2);
  if (rc) {
    pt->buf = NULL;
    return rc;
  }
  fleet_buf_t *buf = pt->buf;
  char *d = buf->ptr + buf->len;
  *d++ = ' ';
  d = put_i64(d, ts_ns);
  *d++ = '\n';
  buf->len = (size_t)(d - buf->ptr);
  buf->ptr[buf->len] = '\0';
  pt->buf = NULL;
  return 0;
}

/* ---- telemetry records ---- */

typedef struct lp_tag_ref {
  const char *key, *value;
  size_t kn, vn;
} lp_tag_ref_t;

/* One byte of a key's escaped form, or -1 at its end. */
static int escaped_at(const char *s, size_t n, size_t *i, bool *pending)
{
  if (*i >= n)
    return -1;
  unsigned char c = (unsigned char)s[*i];
  if ((cls[c] & C_KEY) && !*pending) {
    *pending = true;
    return '\\';
  }
  *pending = false;
  (*i)++;
  return c;
}

/* Orders tag keys as InfluxDB compares them: by the bytes of their escaped
 * form (it sorts unsorted tags itself, but sorted ones take its fast path). */
static int tag_key_cmp(const lp_tag_ref_t *a, const lp_tag_ref_t *b)
{
  size_t i = 0, j = 0;
  bool pa = false, pb = false;
  for (;;) {
    int x = escaped_at(a->key, a->kn, &i, &pa);
    int y = escaped_at(b->key, b->kn, &j, &pb);
    if (x != y || x < 0)
      return x - y;
  }
}

static const char *const standard_fields[] = {
  "lat", "lng", "speed", "heading", "ignition", "odometer",
  "battery_v", "engine_temp", "fuel_level", "driver_id",
};

/* Extra fields must not collide with another column of the same point:
 * InfluxDB keeps one value per field name, and 3.x refuses a field named
 * like a tag. */
static int check_extra_name(const fleet_telemetry_t *rec, unsigned int idx, size_t len,
                            const lp_tag_ref_t *tags, size_t ntags)
{
  const char *name = rec->extras[idx].name;
  for (size_t i = 0; i < FLEET_ARRAY_LEN(standard_fields); i++)
    if (!strcmp(name, standard_fields[i]))
      return fleet_error__set(FLEET_EINVAL,
                              "extra field \"%s\": name clashes with a standard field", name);
  for (size_t i = 0; i < ntags; i++)
    if (tags[i].kn == len && !memcmp(tags[i].key, name, len))
      return fleet_error__set(FLEET_EINVAL, "extra field \"%s\": name clashes with a tag",
                              name);
  for (unsigned int i = 0; i < idx; i++)
    if (!strcmp(rec->extras[i].name, name))
      return fleet_error__set(FLEET_EINVAL, "extra field \"%s\": appears twice", name);
  return 0;
}

/* The `,name=` heads of the standard fields, padded so that each is one
 * fixed-size copy (the buffer always has room for the padding). */
enum { F_LAT, F_LNG, F_SPEED, F_HEADING, F_ODOMETER, F_BATTERY_V, F_ENGINE_TEMP, F_FUEL_LEVEL };
#define HEAD_SIZE 16
static const struct {
  char text[HEAD_SIZE];
  unsigned char len;
} heads[] = {
  [F_LAT] = {" lat=", 5},
  [F_LNG] = {",lng=", 5},
  [F_SPEED] = {",speed=", 7},
  [F_HEADING] = {",heading=", 9},
  [F_ODOMETER] = {",odometer=", 10},
  [F_BATTERY_V] = {",battery_v=", 11},
  [F_ENGINE_TEMP] = {",engine_temp=", 13},
  [F_FUEL_LEVEL] = {",fuel_level=", 12},
};

/* Appends a standard field's head and value. */
static char *put_float_field(char *d, unsigned int f, double v, int *rc)
{
  memcpy(d, heads[f].text, HEAD_SIZE);
  d += heads[f].len;
  int n = fleet_numfmt__double(d, FLEET_NUMFMT_DOUBLE_MAX, v);
  if (FLEET_UNLIKELY(n < 0)) {
    char key[HEAD_SIZE];
    size_t kn = heads[f].len - 2u; /* without the separator and '=' */
    memcpy(key, heads[f].text + 1, kn);
    key[kn] = '\0';
    *rc = isfinite(v) ? n : nonfinite_error(key, v);
    return NULL;
  }
  return d + n;
}

static int encode_fail(fleet_buf_t *buf, int rc)
{
  buf->ptr[buf->len] = '\0';
  return rc;
}

int fleet_lp_encode_telemetry(fleet_buf_t *buf, const fleet_telemetry_t *rec,
                              const char *measurement, const fleet_lp_tag_t *tags,
                              size_t ntags)
{
  if (!buf || !rec)
    return fleet_error__set(FLEET_EINVAL, "%s is NULL", buf ? "record" : "buffer");
  if (rec->version != FLEET_TELEMETRY_VERSION)
    return fleet_error__set(FLEET_EINVAL, "telemetry record version %u is not %u",
                            rec->version, FLEET_TELEMETRY_VERSION);
  if (ntags && !tags)
    return fleet_error__set(FLEET_EINVAL, "tags is NULL but ntags is %zu", ntags);
  if (ntags >= FLEET_LP_MAX_TAGS)
    return fleet_error__set(FLEET_EINVAL, "%zu tags; at most %d besides vehicle_id", ntags,
                            FLEET_LP_MAX_TAGS - 1);
  if (rec->n_extras > FLEET_TELEMETRY_MAX_EXTRAS)
    return fleet_error__set(FLEET_EINVAL, "record has %u extra fields; at most %d",
                            rec->n_extras, FLEET_TELEMETRY_MAX_EXTRAS);

  size_t vid_len = strnlen(rec->vehicle_id, sizeof rec->vehicle_id);
  if (vid_len == 0)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: the record has no vehicle id");
  if (vid_len == sizeof rec->vehicle_id)
    return fleet_error__set(FLEET_EINVAL, "vehicle_id: not NUL-terminated");
  size_t drv_len = 0;
  if (rec->present & FLEET_TELEMETRY_DRIVER_ID) {
    drv_len = strnlen(rec->driver_id, sizeof rec->driver_id);
    if (drv_len == sizeof rec->driver_id)
      return fleet_error__set(FLEET_EINVAL, "driver_id: not NUL-terminated");
  }

  /* Tags: vehicle_id and the caller's non-empty ones, sorted by key. */
  lp_tag_ref_t sorted[FLEET_LP_MAX_TAGS];
  size_t nt = 0;
  size_t bound = 0;
  sorted[nt++] = (lp_tag_ref_t){"vehicle_id", rec->vehicle_id, 10, vid_len};
  for (size_t i = 0; i < ntags; i++) {
    if (!tags[i].key)
      return fleet_error__set(FLEET_EINVAL, "tag %zu: key is NULL", i);
    /* InfluxDB 3 refuses a point with a tag and a field of the same name. */
    for (size_t f = 0; f < FLEET_ARRAY_LEN(standard_fields); f++)
      if (!strcmp(tags[i].key, standard_fields[f]))
        return fleet_error__set(FLEET_EINVAL,
                                "tag \"%s\": name clashes with a standard field", tags[i].key);
    if (!tags[i].value || !tags[i].value[0])
      continue;
    lp_tag_ref_t t = {tags[i].key, tags[i].value, strlen(tags[i].key), strlen(tags[i].value)};
    size_t j = nt++;
    while (j > 0 && tag_key_cmp(&sorted[j - 1], &t) > 0) {
      sorted[j] = sorted[j - 1];
      j--;
    }
    sorted[j] = t;
  }
  for (size_t i = 0; i < nt; i++) {
    if (i && tag_key_cmp(&sorted[i - 1], &sorted[i]) == 0) {
      char k[200];
      excerpt(k, sizeof k, sorted[i].key, sorted[i].kn);
      return fleet_error__set(FLEET_EINVAL, "tag \"%s\" is given twice", k);
    }
    bound += 2 + twice(sorted[i].kn) + twice(sorted[i].vn);
  }

  const char *meas = measurement ? measurement : "telemetry";
  size_t mn = strlen(meas);
  bound += twice(mn);
  /* Fixed fields: names, separators and numbers; then driver id, extras, time. */
  bound += FLEET_ARRAY_LEN(standard_fields) * (14 + FLEET_NUMFMT_DOUBLE_MAX);
  bound += twice(drv_len) + 2;
  bound += rec->n_extras * (2 + 2 * FLEET_TELEMETRY_EXTRA_NAME_MAX + FLEET_NUMFMT_DOUBLE_MAX);
  bound += I64_MAX_CHARS + 2;
  int rc = fleet_buf_reserve(buf, bound);
  if (rc)
    return rc;

  /* Everything below writes into reserved room; buf->len moves only at the end,
   * so a failure leaves the buffer as it was. */
  char *d = buf->ptr + buf->len;
  if (!measurement) {
    memcpy(d, "telemetry", 9);
    d += 9;
  } else if (!(d = put_escaped(d, meas, mn, LP_MEASUREMENT, NULL))) {
    return encode_fail(buf, fleet_error_last_code());
  }
  for (size_t i = 0; i < nt; i++) {
    *d++ = ',';
    d = put_escaped(d, sorted[i].key, sorted[i].kn, LP_TAG_KEY, NULL);
    if (!d)
      return encode_fail(buf, fleet_error_last_code());
    *d++ = '=';
    d = put_escaped(d, sorted[i].value, sorted[i].vn, LP_TAG_VALUE, sorted[i].key);
    if (!d)
      return encode_fail(buf, fleet_error_last_code());
  }

  unsigned int p = rec->present;
  rc = 0;
  if (!(d = put_float_field(d, F_LAT, rec->lat, &rc)) ||
      !(d = put_float_field(d, F_LNG, rec->lng, &rc)) ||
      ((p & FLEET_TELEMETRY_SPEED) && !(d = put_float_field(d, F_SPEED, rec->speed_kmh, &rc))) ||
      ((p & FLEET_TELEMETRY_HEADING) &&
       !(d = put_float_field(d, F_HEADING, rec->heading_deg, &rc))))
    return encode_fail(buf, rc);
  if (p & FLEET_TELEMETRY_IGNITION) {
    memcpy(d, ",ignition=", 10);
    d = put_bool(d + 10, rec->ignition);
  }
  if (((p & FLEET_TELEMETRY_ODOMETER) &&
       !(d = put_float_field(d, F_ODOMETER, rec->odometer_km, &rc))) ||
      ((p & FLEET_TELEMETRY_BATTERY_V) &&
       !(d = put_float_field(d, F_BATTERY_V, rec->battery_v, &rc))) ||
      ((p & FLEET_TELEMETRY_ENGINE_TEMP) &&
       !(d = put_float_field(d, F_ENGINE_TEMP, rec->engine_temp_c, &rc))) ||
      ((p & FLEET_TELEMETRY_FUEL_LEVEL) &&
       !(d = put_float_field(d, F_FUEL_LEVEL, rec->fuel_level_pct, &rc))))
    return encode_fail(buf, rc);
  if (p & FLEET_TELEMETRY_DRIVER_ID) {
    memcpy(d, ",driver_id=\"", 12);
    d = put_escaped(d + 12, rec->driver_id, drv_len, LP_STRING, "driver_id");
    if (!d)
      return encode_fail(buf, fleet_error_last_code());
    *d++ = '"';
  }
  for (unsigned int i = 0; i < rec->n_extras; i++) {
    const fleet_extra_field_t *x = &rec->extras[i];
    size_t xn = strnlen(x->name, sizeof x->name);
    if (xn == sizeof x->name)
      return encode_fail(buf, fleet_error__set(FLEET_EINVAL,
                                               "extra field %u: name not NUL-terminated", i));
    if (x->type != FLEET_EXTRA_NUMBER && x->type != FLEET_EXTRA_BOOL)
      return encode_fail(buf, fleet_error__set(FLEET_EINVAL,
                                               "extra field \"%s\": unknown type %d", x->name,
                                               (int)x->type));
    rc = check_extra_name(rec, i, xn, sorted, nt);
    if (rc)
      return encode_fail(buf, rc);
    *d++ = ',';
    d = put_escaped(d, x->name, xn, LP_FIELD_KEY, NULL);
    if (!d)
      return encode_fail(buf, fleet_error_last_code());
    *d++ = '=';
    if (x->type == FLEET_EXTRA_BOOL) {
      d = put_bool(d, x->value != 0.0);
    } else {
      if (!isfinite(x->value))
        return encode_fail(buf, nonfinite_error(x->name, x->value));
      int n = fleet_numfmt__double(d, FLEET_NUMFMT_DOUBLE_MAX, x->value);
      if (n < 0)
        return encode_fail(buf, n);
      d += n;
    }
  }
  *d++ = ' ';
  d = put_i64(d, rec->ts_ns);
  *d++ = '\n';
  buf->len = (size_t)(d - buf->ptr);
  buf->ptr[buf->len] = '\0';
  return 0;
}
