/*
 * libFuzzer target for the line-protocol encoder. The input is a little
 * program that builds points: measurement, tags and fields (float, int, bool,
 * string) with names and values drawn either as raw bytes or from an alphabet
 * of the characters line protocol cares about (, = space " \ newline CR tab #
 * and UTF-8 lead/continuation bytes), then a timestamp; or, in the second
 * mode, a telemetry record with hostile ids, tags, extras and raw doubles for
 * fleet_lp_encode_telemetry().
 *
 * A refused point must leave the buffer byte for byte as it was and set a
 * message. An accepted point must be exactly one line that a reference parser,
 * written here from InfluxDB's rules (escapes in names: `\,` `\ ` and, outside
 * measurements, `\=`; in strings `\"` and `\\`; any other backslash is
 * literal), reads back to what was written: the same names and values, floats
 * bit for bit, integers, booleans, the timestamp. The line must also be valid
 * UTF-8, hold no CR, no NUL and no other newline, no tab in a name, no empty
 * name or tag value, no reserved key, no backslash that InfluxDB versions read
 * differently, and (records) sorted tags and no key used twice.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/lineproto.h"
#include "fleet/telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_lineproto: %s: %s\n", what, detail);
  abort();
}

/* ---- input ---- */

typedef struct input {
  const uint8_t *p;
  size_t n;
} input_t;

static uint8_t take_u8(input_t *in)
{
  if (!in->n)
    return 0;
  in->n--;
  return *in->p++;
}

static uint64_t take_u64(input_t *in)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | take_u8(in);
  return v;
}

static double take_double(input_t *in)
{
  uint8_t sel = take_u8(in);
  /* Mostly raw bit patterns (NaN, infinities, subnormals, huge values), but
   * also small decimals, which exercise the shortest-form printer. */
  if (sel < 64)
    return (double)(int64_t)take_u64(in) / 1e3;
  if (sel < 96)
    return -0.0;
  uint64_t bits = take_u64(in);
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

#define STR_MAX 96

/* A string: a length byte, then either raw bytes (high bit clear) or indexes
 * into an alphabet of the characters that matter (high bit set). Stops at an
 * embedded NUL, as C strings do. */
static void take_str(input_t *in, char *out)
{
  static const char alphabet[] = {',',  '=',  ' ',  '"',  '\\', '\n', '\r', '\t',
                                  '#',  'a',  'Z',  '0',  '_',  '-',  '.',  'i',
                                  't',  'e',  'm',  (char)0xC3, (char)0xA9, (char)0xED,
                                  (char)0xA0, (char)0x80, (char)0xF0, (char)0x9F,
                                  (char)0x98, (char)0xF4, (char)0x90, (char)0xC0,
                                  (char)0xFF, '\x01'};
  uint8_t l = take_u8(in);
  size_t len = (size_t)(l & 0x7f);
  if (len > STR_MAX)
    len = STR_MAX;
  size_t k = 0;
  for (size_t i = 0; i < len && in->n; i++) {
    uint8_t b = take_u8(in);
    char c = (l & 0x80) ? alphabet[b % sizeof alphabet] : (char)b;
    if (c == '\0')
      break;
    out[k++] = c;
  }
  out[k] = '\0';
  /* A few fixed names, so reserved keys and the record's columns come up. */
  static const char *const names[] = {"time", "_field", "_measurement", "lat", "vehicle_id",
                                      "speed", "driver_id", "#m"};
  if (l == 0x7f && in->n)
    snprintf(out, STR_MAX + 1, "%s", names[take_u8(in) % FLEET_ARRAY_LEN(names)]);
}

/* ---- the reference parser ---- */

enum kind { K_FLOAT, K_INT, K_BOOL, K_STRING };

typedef struct field {
  enum kind kind;
  char key[STR_MAX + 1];
  char str[STR_MAX + 1];
  double f;
  int64_t i;
  int b;
} field_t;

typedef struct tag {
  char key[STR_MAX + 1];
  char value[STR_MAX + 1];
  const char *raw_key; /* parsed lines: the escaped key in the line */
  size_t raw_key_len;
} tag_t;

#define MAX_ITEMS 80

typedef struct point {
  char measurement[STR_MAX + 1];
  tag_t tags[MAX_ITEMS];
  size_t ntags;
  field_t fields[MAX_ITEMS];
  size_t nfields;
  int64_t ts;
} point_t;

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

typedef struct cursor {
  const char *s;
  size_t n, i;
  const char *line; /* for messages */
} cursor_t;

_Noreturn static void bad_line(const cursor_t *c, const char *why)
{
  fprintf(stderr, "fuzz_lineproto: unreadable line (%s) at byte %zu: ", why, c->i);
  fwrite(c->line, 1, c->n, stderr);
  fputc('\n', stderr);
  abort();
}

/* A name (measurement, tag key or value, field key) up to an unescaped stop
 * character. `esc` is what a backslash escapes; any other backslash is kept.
 * Besides reading, this enforces what the encoder promises: no empty name, no
 * tab, no backslash at the end or before a backslash. */
static void read_name(cursor_t *c, const char *esc, const char *stops, char *out)
{
  size_t k = 0, start = c->i;
  while (c->i < c->n && !strchr(stops, c->s[c->i])) {
    char ch = c->s[c->i];
    if (ch == '\t')
      bad_line(c, "tab in a name");
    if (ch == '\\') {
      if (c->i + 1 >= c->n)
        bad_line(c, "backslash at the end of the line");
      char next = c->s[c->i + 1];
      if (next == '\\')
        bad_line(c, "two backslashes in a name");
      if (strchr(esc, next)) {
        ch = next;
        c->i++;
      } else if (strchr(stops, next)) {
        bad_line(c, "backslash before a separator it does not escape");
      }
    }
    if (k >= STR_MAX)
      bad_line(c, "name longer than anything written");
    out[k++] = ch;
    c->i++;
  }
  if (c->i == start)
    bad_line(c, "empty name");
  out[k] = '\0';
}

static void expect(cursor_t *c, char ch, const char *why)
{
  if (c->i >= c->n || c->s[c->i] != ch)
    bad_line(c, why);
  c->i++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Parses s[0..n) (a line without its '\n') into *pt. */
static void parse_line(point_t *pt, const char *s, size_t n)
{
  cursor_t c = {s, n, 0, s};
  memset(pt, 0, sizeof *pt);
  if (n && s[0] == '#')
    bad_line(&c, "a comment line");
  read_name(&c, ", ", ", ", pt->measurement);
  while (c.i < n && s[c.i] == ',') {
    c.i++;
    if (pt->ntags == MAX_ITEMS)
      bad_line(&c, "too many tags");
    tag_t *t = &pt->tags[pt->ntags++];
    t->raw_key = s + c.i;
    read_name(&c, ",= ", "=", t->key);
    t->raw_key_len = (size_t)(s + c.i - t->raw_key);
    expect(&c, '=', "tag without '='");
    read_name(&c, ",= ", ", ", t->value);
  }
  expect(&c, ' ', "no space before the fields");
  for (;;) {
    if (pt->nfields == MAX_ITEMS)
      bad_line(&c, "too many fields");
    field_t *f = &pt->fields[pt->nfields++];
    read_name(&c, ",= ", "=", f->key);
    expect(&c, '=', "field without '='");
    if (c.i < n && s[c.i] == '"') {
      f->kind = K_STRING;
      c.i++;
      size_t k = 0;
      for (;;) {
        if (c.i >= n)
          bad_line(&c, "unterminated string");
        char ch = s[c.i];
        if (ch == '"')
          break;
        if (ch == '\\') {
          if (c.i + 1 >= n || (s[c.i + 1] != '"' && s[c.i + 1] != '\\'))
            bad_line(&c, "lone backslash in a string");
          ch = s[++c.i];
        }
        if (k >= STR_MAX)
          bad_line(&c, "string longer than anything written");
        f->str[k++] = ch;
        c.i++;
      }
      f->str[k] = '\0';
      c.i++;
    } else {
      size_t v0 = c.i;
      while (c.i < n && s[c.i] != ',' && s[c.i] != ' ')
        c.i++;
      size_t vn = c.i - v0;
      char tok[64];
      if (vn == 0 || vn >= sizeof tok)
        bad_line(&c, "empty or overlong field value");
      memcpy(tok, s + v0, vn);
      tok[vn] = '\0';
      if (!strcmp(tok, "true") || !strcmp(tok, "false")) {
        f->kind = K_BOOL;
        f->b = tok[0] == 't';
      } else if (tok[vn - 1] == 'i') {
        /* -?[0-9]+i */
        size_t p = tok[0] == '-';
        if (p + 1 >= vn)
          bad_line(&c, "integer without digits");
        for (size_t q = p; q < vn - 1; q++)
          if (!is_digit(tok[q]))
            bad_line(&c, "bad integer");
        f->kind = K_INT;
        tok[vn - 1] = '\0';
        char *end;
        f->i = strtoll(tok, &end, 10);
      } else {
        /* -?[0-9]+(.[0-9]+)?(e[-+]?[0-9]+)? : what every InfluxDB reads. */
        size_t p = tok[0] == '-';
        size_t d0 = p;
        while (p < vn && is_digit(tok[p]))
          p++;
        if (p == d0)
          bad_line(&c, "float without leading digits");
        if (p < vn && tok[p] == '.') {
          size_t f0 = ++p;
          while (p < vn && is_digit(tok[p]))
            p++;
          if (p == f0)
            bad_line(&c, "float with an empty fraction");
        }
        if (p < vn && (tok[p] == 'e' || tok[p] == 'E')) {
          p++;
          if (p < vn && (tok[p] == '+' || tok[p] == '-'))
            p++;
          size_t e0 = p;
          while (p < vn && is_digit(tok[p]))
            p++;
          if (p == e0)
            bad_line(&c, "float with an empty exponent");
        }
        if (p != vn)
          bad_line(&c, "bad float");
        f->kind = K_FLOAT;
        f->f = strtod(tok, NULL);
      }
    }
    if (c.i < n && s[c.i] == ',') {
      c.i++;
      continue;
    }
    break;
  }
  expect(&c, ' ', "no space before the timestamp");
  size_t t0 = c.i;
  if (c.i < n && s[c.i] == '-')
    c.i++;
  size_t d0 = c.i;
  while (c.i < n && is_digit(s[c.i]))
    c.i++;
  if (c.i == d0 || c.i != n || c.i - t0 > 20)
    bad_line(&c, "bad timestamp");
  char tsbuf[24];
  memcpy(tsbuf, s + t0, n - t0);
  tsbuf[n - t0] = '\0';
  pt->ts = strtoll(tsbuf, NULL, 10);
}

static bool reserved(const char *k)
{
  return !strcmp(k, "time") || !strcmp(k, "_field") || !strcmp(k, "_measurement");
}

/* Checks the bytes [start, buf->len) hold exactly one good line and returns
 * what it says. */
static void read_back(point_t *pt, const fleet_buf_t *buf, size_t start)
{
  const char *s = buf->ptr + start;
  size_t n = buf->len - start;
  if (n < 2 || s[n - 1] != '\n')
    die("line", "does not end with a newline");
  if (memchr(s, '\n', n - 1) || memchr(s, '\r', n) || memchr(s, '\0', n))
    die("line", "newline, CR or NUL inside the line");
  if (buf->ptr[buf->len] != '\0')
    die("buffer", "not NUL-terminated");
  if (!valid_utf8((const unsigned char *)s, n))
    die("line", "not valid UTF-8");
  parse_line(pt, s, n - 1);
  for (size_t i = 0; i < pt->ntags; i++)
    if (reserved(pt->tags[i].key))
      die("reserved tag key written", pt->tags[i].key);
  for (size_t i = 0; i < pt->nfields; i++)
    if (reserved(pt->fields[i].key))
      die("reserved field key written", pt->fields[i].key);
}

static void same_field(const field_t *want, const field_t *got)
{
  if (strcmp(want->key, got->key) != 0)
    die("field key", got->key);
  if (want->kind != got->kind)
    die("field kind", got->key);
  switch (want->kind) {
  case K_FLOAT:
    if (memcmp(&want->f, &got->f, sizeof want->f) != 0)
      die("float does not read back exactly", got->key);
    break;
  case K_INT:
    if (want->i != got->i)
      die("integer does not read back", got->key);
    break;
  case K_BOOL:
    if (!want->b != !got->b)
      die("boolean does not read back", got->key);
    break;
  case K_STRING:
    if (strcmp(want->str, got->str) != 0)
      die("string does not read back", got->key);
    break;
  }
}

/* ---- mode 1: points built call by call ---- */

static void fuzz_points(input_t *in, fleet_buf_t *buf)
{
  for (int npoints = 0; npoints < 8 && in->n; npoints++) {
    static point_t want, got;
    memset(&want, 0, sizeof want);
    size_t before = buf->len;
    char *copy = malloc(before + 1);
    if (!copy)
      return;
    memcpy(copy, buf->ptr ? buf->ptr : "", before);

    uint8_t op = take_u8(in);
    take_str(in, want.measurement);
    fleet_lp_point_t pt;
    int rc = fleet_lp_begin(&pt, buf, want.measurement);
    bool ok = rc == 0;
    size_t ntags = op & 7, nfields = (op >> 3) & 7;
    bool late_tag = (op & 0xC0) == 0xC0;
    for (size_t i = 0; i < ntags; i++) {
      tag_t *t = &want.tags[want.ntags++];
      take_str(in, t->key);
      take_str(in, t->value);
      rc = fleet_lp_add_tag(&pt, t->key, t->value);
      ok = ok && rc == 0;
    }
    for (size_t i = 0; i < nfields; i++) {
      field_t *f = &want.fields[want.nfields++];
      uint8_t kind = take_u8(in);
      take_str(in, f->key);
      switch (kind & 3) {
      case 0:
        f->kind = K_FLOAT;
        f->f = take_double(in);
        rc = fleet_lp_add_float(&pt, f->key, f->f);
        break;
      case 1:
        f->kind = K_INT;
        f->i = (int64_t)take_u64(in);
        rc = fleet_lp_add_int(&pt, f->key, f->i);
        break;
      case 2:
        f->kind = K_BOOL;
        f->b = (int)(int8_t)take_u8(in);
        rc = fleet_lp_add_bool(&pt, f->key, f->b);
        break;
      default:
        f->kind = K_STRING;
        take_str(in, f->str);
        rc = fleet_lp_add_string(&pt, f->key, f->str);
        break;
      }
      ok = ok && rc == 0;
    }
    if (late_tag) {
      /* A tag after a field is misuse and must fail the point. */
      rc = fleet_lp_add_tag(&pt, "late", "tag");
      if (nfields > 0 && ok && rc != FLEET_EINVAL)
        die("tag after a field", "not refused");
      ok = ok && rc == 0;
    }
    want.ts = (int64_t)take_u64(in);
    rc = fleet_lp_end(&pt, want.ts);
    if (rc > 0)
      die("end", "positive return");
    if (rc == 0 && !ok)
      die("end", "succeeded after a failed call");
    if (rc == 0 && want.nfields == 0)
      die("end", "a point without fields was accepted");
    /* The point is finished: any further call fails. */
    if (fleet_lp_add_int(&pt, "x", 1) == 0)
      die("add after end", "accepted");

    if (rc != 0) {
      if (fleet_error_last()[0] == '\0')
        die("refused point", "no message");
      if (buf->len != before || (before && memcmp(buf->ptr, copy, before) != 0))
        die("refused point", "the buffer changed");
      free(copy);
      continue;
    }
    if (before && memcmp(buf->ptr, copy, before) != 0)
      die("accepted point", "earlier lines changed");
    free(copy);
    read_back(&got, buf, before);
    if (strcmp(want.measurement, got.measurement) != 0)
      die("measurement does not read back", got.measurement);
    if (got.ntags != want.ntags || got.nfields != want.nfields)
      die("tag or field count", want.measurement);
    for (size_t i = 0; i < want.ntags; i++)
      if (strcmp(want.tags[i].key, got.tags[i].key) || strcmp(want.tags[i].value, got.tags[i].value))
        die("tag does not read back", got.tags[i].key);
    for (size_t i = 0; i < want.nfields; i++)
      same_field(&want.fields[i], &got.fields[i]);
    if (want.ts != got.ts)
      die("timestamp", want.measurement);
  }
}

/* ---- mode 2: telemetry records ---- */

static int raw_key_cmp(const tag_t *a, const tag_t *b)
{
  size_t n = a->raw_key_len < b->raw_key_len ? a->raw_key_len : b->raw_key_len;
  int c = memcmp(a->raw_key, b->raw_key, n);
  if (c)
    return c;
  return (a->raw_key_len > b->raw_key_len) - (a->raw_key_len < b->raw_key_len);
}

static void fuzz_record(input_t *in, fleet_buf_t *buf)
{
  static fleet_telemetry_t rec;
  static point_t got;
  static char tagtext[2][FLEET_LP_MAX_TAGS][STR_MAX + 1];
  char meas[STR_MAX + 1], s[STR_MAX + 1];
  fleet_lp_tag_t tags[FLEET_LP_MAX_TAGS];

  memset(&rec, 0, sizeof rec);
  rec.version = FLEET_TELEMETRY_VERSION;
  uint8_t flags = take_u8(in);
  take_str(in, s);
  snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "%s", s);
  rec.ts_ns = (int64_t)take_u64(in);
  rec.lat = take_double(in);
  rec.lng = take_double(in);
  rec.present = take_u8(in);
  rec.speed_kmh = take_double(in);
  rec.heading_deg = take_double(in);
  rec.ignition = take_u8(in) & 1;
  rec.odometer_km = take_double(in);
  rec.battery_v = take_double(in);
  rec.engine_temp_c = take_double(in);
  rec.fuel_level_pct = take_double(in);
  take_str(in, s);
  snprintf(rec.driver_id, sizeof rec.driver_id, "%s", s);
  rec.n_extras = take_u8(in) % (FLEET_TELEMETRY_MAX_EXTRAS + 2);
  for (unsigned int i = 0; i < rec.n_extras && i < FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    take_str(in, s);
    snprintf(rec.extras[i].name, sizeof rec.extras[i].name, "%s", s);
    uint8_t t = take_u8(in);
    rec.extras[i].type = t < 120 ? FLEET_EXTRA_NUMBER : t < 240 ? FLEET_EXTRA_BOOL
                                                                : (fleet_extra_type_t)t;
    rec.extras[i].value = take_double(in);
  }
  size_t ntags = (flags >> 1) % 8;
  for (size_t i = 0; i < ntags; i++) {
    take_str(in, tagtext[0][i]);
    take_str(in, tagtext[1][i]);
    tags[i].key = tagtext[0][i];
    tags[i].value = tagtext[1][i];
  }
  const char *measurement = NULL;
  if (flags & 0x10) {
    take_str(in, meas);
    measurement = meas;
  }

  size_t before = buf->len;
  char *copy = malloc(before + 1);
  if (!copy)
    return;
  memcpy(copy, buf->ptr ? buf->ptr : "", before);
  int rc = fleet_lp_encode_telemetry(buf, &rec, measurement, tags, ntags);
  if (rc > 0)
    die("encode_telemetry", "positive return");
  if (rc != 0) {
    if (fleet_error_last()[0] == '\0')
      die("encode_telemetry", "refused without a message");
    if (buf->len != before || (before && memcmp(buf->ptr, copy, before) != 0))
      die("encode_telemetry", "a refused record changed the buffer");
    free(copy);
    return;
  }
  if (before && memcmp(buf->ptr, copy, before) != 0)
    die("encode_telemetry", "earlier lines changed");
  free(copy);
  if (rec.n_extras > FLEET_TELEMETRY_MAX_EXTRAS)
    die("encode_telemetry", "too many extras accepted");
  read_back(&got, buf, before);

  if (strcmp(got.measurement, measurement ? measurement : "telemetry") != 0)
    die("measurement does not read back", got.measurement);
  /* Tags: vehicle_id plus the non-empty caller tags, sorted by escaped key. */
  size_t want_tags = 1;
  for (size_t i = 0; i < ntags; i++)
    want_tags += tags[i].value[0] != '\0';
  if (got.ntags != want_tags)
    die("tag count", rec.vehicle_id);
  bool vid = false;
  for (size_t i = 0; i < got.ntags; i++) {
    if (i && raw_key_cmp(&got.tags[i - 1], &got.tags[i]) >= 0)
      die("tags not sorted by escaped key", got.tags[i].key);
    if (!strcmp(got.tags[i].key, "vehicle_id")) {
      vid = true;
      if (strcmp(got.tags[i].value, rec.vehicle_id) != 0)
        die("vehicle_id does not read back", got.tags[i].value);
      continue;
    }
    bool found = false;
    for (size_t k = 0; k < ntags && !found; k++)
      found = !strcmp(tags[k].key, got.tags[i].key) && !strcmp(tags[k].value, got.tags[i].value);
    if (!found)
      die("tag not given by the caller", got.tags[i].key);
  }
  if (!vid)
    die("no vehicle_id tag", rec.vehicle_id);

  /* Fields, in the documented order. */
  static field_t want[MAX_ITEMS];
  size_t nw = 0;
  struct {
    unsigned int bit;
    const char *key;
    double v;
  } std[] = {{0, "lat", rec.lat},
             {0, "lng", rec.lng},
             {FLEET_TELEMETRY_SPEED, "speed", rec.speed_kmh},
             {FLEET_TELEMETRY_HEADING, "heading", rec.heading_deg},
             {FLEET_TELEMETRY_IGNITION, "ignition", 0},
             {FLEET_TELEMETRY_ODOMETER, "odometer", rec.odometer_km},
             {FLEET_TELEMETRY_BATTERY_V, "battery_v", rec.battery_v},
             {FLEET_TELEMETRY_ENGINE_TEMP, "engine_temp", rec.engine_temp_c},
             {FLEET_TELEMETRY_FUEL_LEVEL, "fuel_level", rec.fuel_level_pct},
             {FLEET_TELEMETRY_DRIVER_ID, "driver_id", 0}};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(std); i++) {
    if (std[i].bit && !(rec.present & std[i].bit))
      continue;
    field_t *f = &want[nw++];
    snprintf(f->key, sizeof f->key, "%s", std[i].key);
    if (std[i].bit == FLEET_TELEMETRY_IGNITION) {
      f->kind = K_BOOL;
      f->b = rec.ignition;
    } else if (std[i].bit == FLEET_TELEMETRY_DRIVER_ID) {
      f->kind = K_STRING;
      snprintf(f->str, sizeof f->str, "%s", rec.driver_id);
    } else {
      f->kind = K_FLOAT;
      f->f = std[i].v;
    }
  }
  for (unsigned int i = 0; i < rec.n_extras; i++) {
    field_t *f = &want[nw++];
    snprintf(f->key, sizeof f->key, "%s", rec.extras[i].name);
    if (rec.extras[i].type == FLEET_EXTRA_BOOL) {
      f->kind = K_BOOL;
      f->b = rec.extras[i].value != 0.0;
    } else {
      f->kind = K_FLOAT;
      f->f = rec.extras[i].value;
    }
  }
  if (got.nfields != nw)
    die("field count", rec.vehicle_id);
  for (size_t i = 0; i < nw; i++)
    same_field(&want[i], &got.fields[i]);
  if (got.ts != rec.ts_ns)
    die("timestamp", rec.vehicle_id);

  /* One value per column: InfluxDB keeps one value per field name, and
   * InfluxDB 3 refuses a field named like a tag. */
  for (size_t i = 0; i < got.nfields; i++) {
    for (size_t k = 0; k < i; k++)
      if (!strcmp(got.fields[i].key, got.fields[k].key))
        die("field key used twice", got.fields[i].key);
    for (size_t k = 0; k < got.ntags; k++)
      if (!strcmp(got.fields[i].key, got.tags[k].key))
        die("a field named like a tag", got.fields[i].key);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  input_t in = {data, size};
  fleet_buf_t buf = FLEET_BUF_INIT;
  uint8_t mode = take_u8(&in);
  /* Sometimes start from a buffer that already holds a line, so that rollback
   * has something to preserve. */
  if (mode & 2)
    fleet_buf_append(&buf, "m,t=1 f=1i 0\n", 13);
  while (in.n) {
    if (mode & 1)
      fuzz_record(&in, &buf);
    else
      fuzz_points(&in, &buf);
    mode = take_u8(&in);
  }
  fleet_buf_dispose(&buf);
  return 0;
}
