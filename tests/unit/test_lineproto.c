/* Unit tests for lineproto: escaping, rejections, rollback, numbers, telemetry lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/lineproto.h"

/* 2026-05-21T10:30:00Z, the payload time of DESIGN.md's example. */
#define TS_DESIGN INT64_C(1779359400000000000)

/* ---- helpers ---- */

/* A point `m,<tag>=<value> f=1i 7` or `m <field>=...`: encodes one line with the
 * given part set to `s` and the others plain; returns the status. */
typedef enum { P_MEAS, P_TAG_KEY, P_TAG_VALUE, P_FIELD_KEY, P_STRING } part_t;

static int encode_part(fleet_buf_t *buf, part_t part, const char *s)
{
  fleet_lp_point_t pt;
  fleet_lp_begin(&pt, buf, part == P_MEAS ? s : "m");
  if (part == P_TAG_KEY)
    fleet_lp_add_tag(&pt, s, "v");
  else if (part == P_TAG_VALUE)
    fleet_lp_add_tag(&pt, "t", s);
  if (part == P_FIELD_KEY)
    fleet_lp_add_int(&pt, s, 1);
  else if (part == P_STRING)
    fleet_lp_add_string(&pt, "s", s);
  else
    fleet_lp_add_int(&pt, "f", 1);
  return fleet_lp_end(&pt, 7);
}

/* Expects `s` in `part` to encode, with `escaped` as its text on the line. */
static void expect_part(part_t part, const char *s, const char *escaped)
{
  fleet_buf_t buf = FLEET_BUF_INIT;
  char want[512];
  switch (part) {
  case P_MEAS:
    snprintf(want, sizeof want, "%s f=1i 7\n", escaped);
    break;
  case P_TAG_KEY:
    snprintf(want, sizeof want, "m,%s=v f=1i 7\n", escaped);
    break;
  case P_TAG_VALUE:
    snprintf(want, sizeof want, "m,t=%s f=1i 7\n", escaped);
    break;
  case P_FIELD_KEY:
    snprintf(want, sizeof want, "m %s=1i 7\n", escaped);
    break;
  case P_STRING:
    snprintf(want, sizeof want, "m s=\"%s\" 7\n", escaped);
    break;
  }
  int rc = encode_part(&buf, part, s);
  if (rc)
    fail_msg("part %d \"%s\": rc %d: %s", (int)part, s, rc, fleet_error_last());
  assert_string_equal(buf.ptr, want);
  fleet_buf_dispose(&buf);
}

/* Expects `s` in `part` to be refused with `code` and a message containing `why`,
 * and the buffer to be exactly as before. */
static void expect_reject(part_t part, const char *s, int code, const char *why)
{
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&buf, "before\n", 7), 0);
  int rc = encode_part(&buf, part, s);
  if (rc != code)
    fail_msg("part %d \"%s\": rc %d, want %d (%s)", (int)part, s, rc, code, fleet_error_last());
  if (!strstr(fleet_error_last(), why))
    fail_msg("part %d: message \"%s\" lacks \"%s\"", (int)part, fleet_error_last(), why);
  assert_int_equal(buf.len, 7);
  assert_string_equal(buf.ptr, "before\n");
  fleet_buf_dispose(&buf);
}

static void init_record(fleet_telemetry_t *rec)
{
  memset(rec, 0, sizeof *rec);
  rec->version = FLEET_TELEMETRY_VERSION;
  strcpy(rec->vehicle_id, "v-001");
  rec->ts_ns = TS_DESIGN;
  rec->lat = 23.8103;
  rec->lng = 90.4125;
}

/* DESIGN.md's example payload with every optional field. */
static void full_record(fleet_telemetry_t *rec)
{
  init_record(rec);
  rec->present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_IGNITION |
                 FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_BATTERY_V |
                 FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL |
                 FLEET_TELEMETRY_DRIVER_ID;
  rec->speed_kmh = 45.2;
  rec->heading_deg = 180;
  rec->ignition = 1;
  rec->odometer_km = 123456.7;
  rec->battery_v = 12.4;
  rec->engine_temp_c = 88.5;
  rec->fuel_level_pct = 63.0;
  strcpy(rec->driver_id, "drv-042");
}

/* ---- the point API ---- */

static void test_point_all_types(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  fleet_lp_point_t pt;
  assert_int_equal(fleet_lp_begin(&pt, &buf, "weather"), 0);
  assert_int_equal(fleet_lp_add_tag(&pt, "location", "us-midwest"), 0);
  assert_int_equal(fleet_lp_add_tag(&pt, "season", "summer"), 0);
  assert_int_equal(fleet_lp_add_float(&pt, "temperature", 82.5), 0);
  assert_int_equal(fleet_lp_add_int(&pt, "count", 42), 0);
  assert_int_equal(fleet_lp_add_bool(&pt, "raining", 0), 0);
  assert_int_equal(fleet_lp_add_bool(&pt, "sunny", 7), 0);
  assert_int_equal(fleet_lp_add_string(&pt, "note", "hot"), 0);
  assert_int_equal(fleet_lp_add_string(&pt, "empty", ""), 0);
  assert_int_equal(fleet_lp_end(&pt, 1465839830100400200), 0);
  assert_string_equal(buf.ptr,
                      "weather,location=us-midwest,season=summer temperature=82.5,count=42i,"
                      "raining=false,sunny=true,note=\"hot\",empty=\"\" 1465839830100400200\n");
  assert_int_equal(buf.len, strlen(buf.ptr));

  /* A second line appends; the first stays. */
  assert_int_equal(fleet_lp_begin(&pt, &buf, "cpu"), 0);
  assert_int_equal(fleet_lp_add_float(&pt, "load", 0.5), 0);
  assert_int_equal(fleet_lp_end(&pt, 0), 0);
  assert_non_null(strstr(buf.ptr, "1465839830100400200\ncpu load=0.5 0\n"));
  fleet_buf_dispose(&buf);
}

static void test_escape_measurement(void **state)
{
  (void)state;
  expect_part(P_MEAS, "a,b", "a\\,b");
  expect_part(P_MEAS, ",ab", "\\,ab");
  expect_part(P_MEAS, "ab,", "ab\\,");
  expect_part(P_MEAS, "a b", "a\\ b");
  expect_part(P_MEAS, " ab", "\\ ab");
  expect_part(P_MEAS, "ab ", "ab\\ ");
  /* '=' and '"' mean nothing in a measurement. */
  expect_part(P_MEAS, "a=b", "a=b");
  expect_part(P_MEAS, "=ab=", "=ab=");
  expect_part(P_MEAS, "\"q\"", "\"q\"");
  expect_part(P_MEAS, "a, =b", "a\\,\\ =b");
  /* '#' only matters first; after that it is an ordinary byte. */
  expect_part(P_MEAS, "a#b", "a#b");
}

static void test_escape_tag_keys_values_field_keys(void **state)
{
  (void)state;
  static const part_t parts[] = {P_TAG_KEY, P_TAG_VALUE, P_FIELD_KEY};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(parts); i++) {
    part_t p = parts[i];
    expect_part(p, "a,b", "a\\,b");
    expect_part(p, ",ab", "\\,ab");
    expect_part(p, "ab,", "ab\\,");
    expect_part(p, "a=b", "a\\=b");
    expect_part(p, "=ab", "\\=ab");
    expect_part(p, "ab=", "ab\\=");
    expect_part(p, "a b", "a\\ b");
    expect_part(p, " ab", "\\ ab");
    expect_part(p, "ab ", "ab\\ ");
    expect_part(p, ", =", "\\,\\ \\=");
    /* Quotes are literal outside string values. */
    expect_part(p, "\"q\"", "\"q\"");
    expect_part(p, "#x", "#x");
  }
}

static void test_escape_string_values(void **state)
{
  (void)state;
  expect_part(P_STRING, "say \"hi\"", "say \\\"hi\\\"");
  expect_part(P_STRING, "\"", "\\\"");
  expect_part(P_STRING, "C:\\tmp", "C:\\\\tmp");
  expect_part(P_STRING, "\\", "\\\\");
  expect_part(P_STRING, "\\\"", "\\\\\\\"");
  /* Commas, spaces, equals signs and tabs need nothing inside quotes. */
  expect_part(P_STRING, "a,b c=d", "a,b c=d");
  expect_part(P_STRING, "col1\tcol2", "col1\tcol2");
  expect_part(P_STRING, "", "");
}

static void test_unicode_passthrough(void **state)
{
  (void)state;
  /* 2-, 3- and 4-byte UTF-8 sequences go through untouched in every part. */
  static const char *const samples[] = {
    "Z\xc3\xbcrich",                          /* Zürich */
    "\xe0\xa6\xa2\xe0\xa6\xbe\xe0\xa6\x95\xe0\xa6\xbe", /* ঢাকা */
    "truck-\xf0\x9f\x9a\x9a",                 /* truck-🚚 */
    "\xef\xbf\xbf",                           /* U+FFFF */
    "\xf4\x8f\xbf\xbf",                       /* U+10FFFF */
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(samples); i++) {
    expect_part(P_MEAS, samples[i], samples[i]);
    expect_part(P_TAG_KEY, samples[i], samples[i]);
    expect_part(P_TAG_VALUE, samples[i], samples[i]);
    expect_part(P_FIELD_KEY, samples[i], samples[i]);
    expect_part(P_STRING, samples[i], samples[i]);
  }
  /* Escapes still apply around multi-byte characters. */
  expect_part(P_TAG_VALUE, "Z\xc3\xbcrich Nord", "Z\xc3\xbcrich\\ Nord");
}

static void test_backslashes_in_names(void **state)
{
  (void)state;
  static const part_t parts[] = {P_MEAS, P_TAG_KEY, P_TAG_VALUE, P_FIELD_KEY};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(parts); i++) {
    part_t p = parts[i];
    /* InfluxDB reads a backslash literally before an ordinary character. */
    expect_part(p, "C:\\tmp", "C:\\tmp");
    expect_part(p, "\\x", "\\x");
    expect_part(p, "a\\\"b", "a\\\"b");
    expect_part(p, "a\\#", "a\\#");
    expect_part(p, "\\\xc3\xbc", "\\\xc3\xbc");
    /* At the end it would escape the separator that follows. */
    expect_reject(p, "a\\", FLEET_EINVAL, "ends with a backslash");
    expect_reject(p, "\\", FLEET_EINVAL, "ends with a backslash");
    /* Doubled, or before an escaped character, InfluxDB 1.x and 3.x disagree. */
    expect_reject(p, "a\\\\b", FLEET_EINVAL, "backslash before '\\'");
    expect_reject(p, "a\\,b", FLEET_EINVAL, "backslash before ','");
    expect_reject(p, "a\\ b", FLEET_EINVAL, "backslash before ' '");
  }
  /* '=' is escaped in keys and tag values, not in measurements. */
  expect_part(P_MEAS, "a\\=b", "a\\=b");
  expect_reject(P_TAG_KEY, "a\\=b", FLEET_EINVAL, "backslash before '='");
  expect_reject(P_TAG_VALUE, "a\\=b", FLEET_EINVAL, "backslash before '='");
  expect_reject(P_FIELD_KEY, "a\\=b", FLEET_EINVAL, "backslash before '='");
}

static void test_reject_newlines_tabs_utf8(void **state)
{
  (void)state;
  static const part_t all[] = {P_MEAS, P_TAG_KEY, P_TAG_VALUE, P_FIELD_KEY, P_STRING};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(all); i++) {
    part_t p = all[i];
    expect_reject(p, "a\nb", FLEET_EINVAL, "contains a newline (byte 1)");
    expect_reject(p, "\n", FLEET_EINVAL, "contains a newline (byte 0)");
    expect_reject(p, "ab\n", FLEET_EINVAL, "contains a newline (byte 2)");
    expect_reject(p, "a\rb", FLEET_EINVAL, "contains a carriage return (byte 1)");
    expect_reject(p, "ab\r", FLEET_EINVAL, "carriage return");
    expect_reject(p, "a\x80", FLEET_EINVAL, "is not valid UTF-8 (byte 1)");
    expect_reject(p, "\xc3", FLEET_EINVAL, "is not valid UTF-8 (byte 0)");       /* truncated */
    expect_reject(p, "\xc3(", FLEET_EINVAL, "is not valid UTF-8");              /* bad continuation */
    expect_reject(p, "\xc0\x80", FLEET_EINVAL, "is not valid UTF-8");           /* overlong NUL */
    expect_reject(p, "\xe0\x80\xaf", FLEET_EINVAL, "is not valid UTF-8");       /* overlong '/' */
    expect_reject(p, "\xed\xa0\x80", FLEET_EINVAL, "is not valid UTF-8");       /* surrogate */
    expect_reject(p, "\xf0\x80\x80\xaf", FLEET_EINVAL, "is not valid UTF-8");   /* overlong */
    expect_reject(p, "\xf4\x90\x80\x80", FLEET_EINVAL, "is not valid UTF-8");   /* > U+10FFFF */
    expect_reject(p, "\xf8\x88\x80\x80\x80", FLEET_EINVAL, "is not valid UTF-8");
    expect_reject(p, "\xf0\x9f\x9a", FLEET_EINVAL, "is not valid UTF-8");       /* truncated */
  }
  /* Tabs end names in InfluxDB 3; inside a string they are fine (tested above). */
  expect_reject(P_MEAS, "a\tb", FLEET_EINVAL, "contains a tab (byte 1)");
  expect_reject(P_TAG_KEY, "\tb", FLEET_EINVAL, "contains a tab (byte 0)");
  expect_reject(P_TAG_VALUE, "ab\t", FLEET_EINVAL, "contains a tab (byte 2)");
  expect_reject(P_FIELD_KEY, "a\tb", FLEET_EINVAL, "contains a tab");
}

static void test_reject_messages_exact(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(encode_part(&buf, P_TAG_VALUE, "a\nb"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "tag \"t\": value \"a\\x0ab\" contains a newline (byte 1), which "
                      "line protocol cannot carry");
  assert_int_equal(encode_part(&buf, P_TAG_VALUE, ""), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "tag \"t\": value \"\" is empty (InfluxDB 3 refuses empty tag values; "
                      "leave the tag out instead)");
  assert_int_equal(encode_part(&buf, P_MEAS, "a\\"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "measurement \"a\\\\\": ends with a backslash, which would escape the "
                      "separator after it");
  assert_int_equal(encode_part(&buf, P_FIELD_KEY, "time"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "field key \"time\": is reserved by InfluxDB (time, _field and "
                      "_measurement cannot be keys)");
  assert_int_equal(encode_part(&buf, P_STRING, "x\ry"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "field \"s\": string value \"x\\x0dy\" contains a carriage return "
                      "(byte 1), which line protocol cannot carry");
  /* Long values are cut in the message. */
  char longv[100];
  memset(longv, 'x', sizeof longv);
  longv[98] = '\n';
  longv[99] = '\0';
  assert_int_equal(encode_part(&buf, P_TAG_VALUE, longv), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "xxxx...\" contains a newline (byte 98)"));
  assert_int_equal(buf.len, 0);
  fleet_buf_dispose(&buf);
}

static void test_reject_empty_reserved_comment(void **state)
{
  (void)state;
  expect_reject(P_MEAS, "", FLEET_EINVAL, "measurement \"\": is empty");
  expect_reject(P_TAG_KEY, "", FLEET_EINVAL, "tag key \"\": is empty");
  expect_reject(P_TAG_VALUE, "", FLEET_EINVAL, "is empty (InfluxDB 3 refuses");
  expect_reject(P_FIELD_KEY, "", FLEET_EINVAL, "field key \"\": is empty");
  static const char *const reserved[] = {"time", "_field", "_measurement"};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(reserved); i++) {
    expect_reject(P_TAG_KEY, reserved[i], FLEET_EINVAL, "is reserved by InfluxDB");
    expect_reject(P_FIELD_KEY, reserved[i], FLEET_EINVAL, "is reserved by InfluxDB");
    /* Only keys are reserved: as values or a measurement they are ordinary. */
    expect_part(P_TAG_VALUE, reserved[i], reserved[i]);
    expect_part(P_MEAS, reserved[i], reserved[i]);
  }
  /* Near misses are ordinary keys. */
  expect_part(P_TAG_KEY, "times", "times");
  expect_part(P_FIELD_KEY, "Time", "Time");
  expect_part(P_FIELD_KEY, "_fields", "_fields");
  expect_part(P_TAG_KEY, "_measuremen", "_measuremen");
  expect_reject(P_MEAS, "#cpu", FLEET_EINVAL, "starts with '#', which makes the line a comment");
}

static void test_reject_nonfinite(void **state)
{
  (void)state;
  const double bad[] = {NAN, -NAN, INFINITY, -INFINITY};
  const char *const why[] = {"NaN", "NaN", "field \"x\": infinity is not allowed",
                             "field \"x\": -infinity is not allowed"};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad); i++) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    assert_int_equal(fleet_lp_begin(&pt, &buf, "m"), 0);
    assert_int_equal(fleet_lp_add_float(&pt, "ok", 1.5), 0);
    assert_int_equal(fleet_lp_add_float(&pt, "x", bad[i]), FLEET_ERANGE);
    assert_non_null(strstr(fleet_error_last(), why[i]));
    assert_int_equal(buf.len, 0);
    assert_int_equal(fleet_lp_end(&pt, 1), FLEET_ERANGE);
    assert_int_equal(buf.len, 0);
    assert_string_equal(buf.ptr, "");
    fleet_buf_dispose(&buf);
  }
}

static void test_reject_order_and_no_fields(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  fleet_lp_point_t pt;
  assert_int_equal(fleet_buf_append(&buf, "keep\n", 5), 0);

  assert_int_equal(fleet_lp_begin(&pt, &buf, "m"), 0);
  assert_int_equal(fleet_lp_add_int(&pt, "f", 1), 0);
  assert_int_equal(fleet_lp_add_tag(&pt, "late", "x"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "tag key \"late\": comes after a field; tags must come before the "
                      "first field");
  assert_string_equal(buf.ptr, "keep\n");
  assert_int_equal(fleet_lp_end(&pt, 1), FLEET_EINVAL);
  assert_string_equal(buf.ptr, "keep\n");

  assert_int_equal(fleet_lp_begin(&pt, &buf, "m"), 0);
  assert_int_equal(fleet_lp_add_tag(&pt, "host", "a"), 0);
  assert_int_equal(fleet_lp_end(&pt, 1), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "point \"m,host=a\" has no fields; InfluxDB needs at least one");
  assert_string_equal(buf.ptr, "keep\n");
  assert_int_equal(buf.len, 5);
  fleet_buf_dispose(&buf);
}

static void test_reject_null_and_misuse(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  fleet_lp_point_t pt;
  assert_int_equal(fleet_lp_begin(NULL, &buf, "m"), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_tag(NULL, "k", "v"), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_float(NULL, "k", 1), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_int(NULL, "k", 1), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_bool(NULL, "k", 1), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_string(NULL, "k", "v"), FLEET_EINVAL);
  assert_int_equal(fleet_lp_end(NULL, 1), FLEET_EINVAL);

  /* NULL buffer: the error sticks to the point through the chain. */
  assert_int_equal(fleet_lp_begin(&pt, NULL, "m"), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "line protocol buffer is NULL");
  assert_int_equal(fleet_lp_add_int(&pt, "f", 1), FLEET_EINVAL);
  assert_int_equal(fleet_lp_end(&pt, 1), FLEET_EINVAL);

  assert_int_equal(fleet_lp_begin(&pt, &buf, NULL), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "measurement is NULL");
  assert_int_equal(fleet_lp_end(&pt, 1), FLEET_EINVAL);

  static const char *const what[] = {"tag key is NULL", "tag value is NULL",
                                     "field key is NULL", "field \"s\": string value is NULL"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(fleet_lp_begin(&pt, &buf, "m"), 0);
    int rc = i == 0   ? fleet_lp_add_tag(&pt, NULL, "v")
             : i == 1 ? fleet_lp_add_tag(&pt, "k", NULL)
             : i == 2 ? fleet_lp_add_float(&pt, NULL, 1.0)
                      : fleet_lp_add_string(&pt, "s", NULL);
    assert_int_equal(rc, FLEET_EINVAL);
    assert_string_equal(fleet_error_last(), what[i]);
    assert_int_equal(fleet_lp_end(&pt, 1), FLEET_EINVAL);
    assert_int_equal(buf.len, 0);
  }

  /* A finished point takes nothing more until it is begun again. */
  assert_int_equal(fleet_lp_begin(&pt, &buf, "m"), 0);
  assert_int_equal(fleet_lp_add_int(&pt, "f", 1), 0);
  assert_int_equal(fleet_lp_end(&pt, 1), 0);
  assert_int_equal(fleet_lp_add_int(&pt, "g", 2), FLEET_EINVAL);
  assert_non_null(strstr(fleet_error_last(), "not begun or has ended"));
  assert_int_equal(fleet_lp_end(&pt, 2), FLEET_EINVAL);
  assert_string_equal(buf.ptr, "m f=1i 1\n");
  /* A zeroed point was never begun. */
  fleet_lp_point_t zero = {0};
  assert_int_equal(fleet_lp_add_tag(&zero, "k", "v"), FLEET_EINVAL);
  fleet_buf_dispose(&buf);
}

static void test_rollback_and_sticky_error(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  fleet_lp_point_t pt;
  const char *prefix = "m,a=1 f=1i 1\n";
  assert_int_equal(fleet_buf_append(&buf, prefix, strlen(prefix)), 0);

  /* Fail in the middle of a long chain: everything after is ignored, the first
   * error comes back from every call and from end, and its message stays. */
  assert_int_equal(fleet_lp_begin(&pt, &buf, "cpu"), 0);
  assert_int_equal(fleet_lp_add_tag(&pt, "host", "a"), 0);
  assert_int_equal(fleet_lp_add_float(&pt, "x", 1.0), 0);
  assert_int_equal(fleet_lp_add_string(&pt, "bad", "line\nbreak"), FLEET_EINVAL);
  char first[FLEET_ERROR_MAX];
  snprintf(first, sizeof first, "%s", fleet_error_last());
  assert_non_null(strstr(first, "field \"bad\": string value"));
  assert_string_equal(buf.ptr, prefix);
  assert_int_equal(fleet_lp_add_float(&pt, "y", NAN), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_int(&pt, "z", 3), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_bool(&pt, "w", 1), FLEET_EINVAL);
  assert_int_equal(fleet_lp_add_tag(&pt, "late", "t"), FLEET_EINVAL);
  assert_string_equal(buf.ptr, prefix);
  assert_int_equal(fleet_lp_end(&pt, 5), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), first);
  assert_string_equal(buf.ptr, prefix);
  assert_int_equal(buf.len, strlen(prefix));

  /* The buffer is usable right away for the next point. */
  assert_int_equal(fleet_lp_begin(&pt, &buf, "cpu"), 0);
  assert_int_equal(fleet_lp_add_int(&pt, "ok", 1), 0);
  assert_int_equal(fleet_lp_end(&pt, 6), 0);
  assert_string_equal(buf.ptr, "m,a=1 f=1i 1\ncpu ok=1i 6\n");

  /* A failing begin on an empty, never-allocated buffer leaves it empty. */
  fleet_buf_t fresh = FLEET_BUF_INIT;
  assert_int_equal(fleet_lp_begin(&pt, &fresh, "bad\nname"), FLEET_EINVAL);
  assert_int_equal(fresh.len, 0);
  assert_true(fresh.ptr == NULL || fresh.ptr[0] == '\0');
  fleet_buf_dispose(&fresh);
  fleet_buf_dispose(&buf);
}

static void test_integers(void **state)
{
  (void)state;
  static const struct {
    int64_t v;
    const char *text;
  } cases[] = {
    {0, "0i"},
    {1, "1i"},
    {-1, "-1i"},
    {9, "9i"},
    {10, "10i"},
    {99, "99i"},
    {100, "100i"},
    {-100, "-100i"},
    {1234567890123, "1234567890123i"},
    {INT64_MAX, "9223372036854775807i"},
    {INT64_MIN, "-9223372036854775808i"},
    {INT64_MIN + 1, "-9223372036854775807i"},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    char want[64];
    fleet_lp_begin(&pt, &buf, "m");
    assert_int_equal(fleet_lp_add_int(&pt, "n", cases[i].v), 0);
    assert_int_equal(fleet_lp_end(&pt, 1), 0);
    snprintf(want, sizeof want, "m n=%s 1\n", cases[i].text);
    assert_string_equal(buf.ptr, want);
    fleet_buf_dispose(&buf);
  }
}

static void test_timestamps(void **state)
{
  (void)state;
  static const struct {
    int64_t ts;
    const char *text;
  } cases[] = {
    {0, "0"},
    {TS_DESIGN, "1779359400000000000"},
    {-1, "-1"},
    {INT64_C(-1000000000), "-1000000000"}, /* 1969-12-31T23:59:59Z */
    {INT64_MAX, "9223372036854775807"},
    {INT64_MIN, "-9223372036854775808"},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    char want[64];
    fleet_lp_begin(&pt, &buf, "m");
    fleet_lp_add_bool(&pt, "b", 1);
    assert_int_equal(fleet_lp_end(&pt, cases[i].ts), 0);
    snprintf(want, sizeof want, "m b=true %s\n", cases[i].text);
    assert_string_equal(buf.ptr, want);
    fleet_buf_dispose(&buf);
  }
}

static void test_floats(void **state)
{
  (void)state;
  static const struct {
    double v;
    const char *text;
  } cases[] = {
    {0.0, "0"},       {-0.0, "-0"},          {1.0, "1"},
    {-1.5, "-1.5"},   {0.1, "0.1"},          {0.5, "0.5"},
    {23.8103, "23.8103"}, {90.4125, "90.4125"}, {-122.33354, "-122.33354"},
    {123456.7, "123456.7"}, {0.0001, "0.0001"}, {1e300, "1e+300"},
    {1e-300, "1e-300"}, {9007199254740991.0, "9007199254740991"},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    char want[64];
    fleet_lp_begin(&pt, &buf, "m");
    assert_int_equal(fleet_lp_add_float(&pt, "x", cases[i].v), 0);
    assert_int_equal(fleet_lp_end(&pt, 1), 0);
    snprintf(want, sizeof want, "m x=%s 1\n", cases[i].text);
    assert_string_equal(buf.ptr, want);
    fleet_buf_dispose(&buf);
  }
  /* Awkward values still read back exactly. */
  const double hard[] = {5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                         0.30000000000000004, 1.0 / 3.0, -2.5e-7, 123456789012345678.0};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(hard); i++) {
    fleet_buf_t buf = FLEET_BUF_INIT;
    fleet_lp_point_t pt;
    fleet_lp_begin(&pt, &buf, "m");
    assert_int_equal(fleet_lp_add_float(&pt, "x", hard[i]), 0);
    assert_int_equal(fleet_lp_end(&pt, 1), 0);
    const char *num = buf.ptr + 4;
    char *end;
    double back = strtod(num, &end);
    assert_true(back == hard[i]);
    assert_true(*end == ' ');
    /* InfluxDB 3 needs a digit first and a signed exponent. */
    assert_true(num[0] == '-' || (num[0] >= '0' && num[0] <= '9'));
    const char *e = strchr(num, 'e');
    if (e && e < end)
      assert_true(e[1] == '+' || e[1] == '-');
    fleet_buf_dispose(&buf);
  }
}

/* ---- a reference reader, to check that what is written reads back ---- */

/* Reads one escaped name up to an unescaped byte of `stops`, InfluxDB's way:
 * a backslash before a byte of `escapable` yields that byte, before anything
 * else it is literal. */
static const char *read_name(const char *p, const char *stops, const char *escapable,
                             char *out, size_t cap)
{
  size_t j = 0;
  while (*p && !strchr(stops, *p)) {
    if (p[0] == '\\' && p[1] && strchr(escapable, p[1])) {
      out[j++] = p[1];
      p += 2;
    } else {
      out[j++] = *p++;
    }
    assert_true(j < cap);
  }
  out[j] = '\0';
  return p;
}

typedef struct parsed {
  char meas[64], tag_key[64], tag_value[64], field_key[64], str[64];
  long long ts;
} parsed_t;

/* Parses `m,tk=tv fk=1i,s="..." ts\n`, the shape encode_all() writes. */
static int parse_line(const char *line, parsed_t *out)
{
  const char *p = read_name(line, ", ", ", \\", out->meas, sizeof out->meas);
  if (*p++ != ',')
    return -1;
  p = read_name(p, "=", ",= \\", out->tag_key, sizeof out->tag_key);
  if (*p++ != '=')
    return -1;
  p = read_name(p, ", ", ",= \\", out->tag_value, sizeof out->tag_value);
  if (*p++ != ' ')
    return -1;
  p = read_name(p, "=", ",= \\", out->field_key, sizeof out->field_key);
  if (strncmp(p, "=1i,s=\"", 7))
    return -1;
  p += 7;
  size_t j = 0;
  while (*p && *p != '"') {
    if (p[0] == '\\' && (p[1] == '"' || p[1] == '\\'))
      p++;
    out->str[j++] = *p++;
    assert_true(j < sizeof out->str);
  }
  out->str[j] = '\0';
  if (*p++ != '"' || *p++ != ' ')
    return -1;
  char *end;
  out->ts = strtoll(p, &end, 10);
  return strcmp(end, "\n") ? -1 : 0;
}

/* Whether the encoder must take `s` in a name part (see lineproto.h). A 0x80
 * byte from random_text() is always a stray UTF-8 continuation byte. */
static bool name_ok(const char *s, const char *escaped_here, bool is_key)
{
  size_t n = strlen(s);
  if (n == 0 || strpbrk(s, "\n\r\t\x80"))
    return false;
  if (is_key && (!strcmp(s, "time") || !strcmp(s, "_field") || !strcmp(s, "_measurement")))
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\\' && (i + 1 == n || s[i + 1] == '\\' || strchr(escaped_here, s[i + 1])))
      return false;
  return true;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static unsigned int rnd(unsigned int n)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned int)(rng_state % n);
}

static void random_text(char *out, size_t max_units)
{
  /* Everything that matters to line protocol, plus ordinary and multi-byte
   * text, weighted so that about a third of the lines are acceptable. */
  static const char *const special[] = {",", "=", " ", "\\", "\"", "#", "_", "\xc3\xbc",
                                        "\xf0\x9f\x9a\x9a", "\t", "\n", "\r", "\x80"};
  static const char *const plain[] = {"a", "Z", "0", "i", "-"};
  size_t n = rnd(8) ? 1 + rnd((unsigned int)max_units) : 0, j = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned int r = rnd(100);
    const char *u = r < 55 ? plain[r % FLEET_ARRAY_LEN(plain)]
                    : r < 98 ? special[r % 9]
                             : special[9 + r % 4];
    size_t ul = strlen(u);
    memcpy(out + j, u, ul);
    j += ul;
  }
  out[j] = '\0';
}

static void test_random_round_trip(void **state)
{
  (void)state;
  fleet_buf_t buf = FLEET_BUF_INIT;
  unsigned int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; iter++) {
    char m[40], tk[40], tv[40], fk[40], sv[40];
    random_text(m, 6);
    random_text(tk, 6);
    random_text(tv, 6);
    random_text(fk, 6);
    random_text(sv, 6);
    if (rnd(4) == 0)
      strcpy(fk, (const char *[]){"time", "_field", "_measurement", "ok"}[rnd(4)]);
    bool ok = name_ok(m, ", ", false) && m[0] != '#' && name_ok(tk, ",= ", true) &&
              name_ok(tv, ",= ", false) && name_ok(fk, ",= ", true) && !strpbrk(sv, "\n\r\x80") &&
              strcmp(fk, "s") != 0;
    fleet_buf_clear(&buf);
    fleet_lp_point_t pt;
    fleet_lp_begin(&pt, &buf, m);
    fleet_lp_add_tag(&pt, tk, tv);
    fleet_lp_add_int(&pt, fk, 1);
    fleet_lp_add_string(&pt, "s", sv);
    int64_t ts = (int64_t)rnd(1000000) - 500000;
    int rc = fleet_lp_end(&pt, ts);
    if (!strcmp(fk, "s"))
      continue; /* a duplicate field name is the caller's business */
    if (!ok) {
      if (rc != FLEET_EINVAL)
        fail_msg("accepted m=\"%s\" tk=\"%s\" tv=\"%s\" fk=\"%s\": %s", m, tk, tv, fk, buf.ptr);
      assert_int_equal(buf.len, 0);
      refused++;
      continue;
    }
    if (rc)
      fail_msg("refused m=\"%s\" tk=\"%s\" tv=\"%s\" fk=\"%s\" s=\"%s\": %s", m, tk, tv, fk, sv,
               fleet_error_last());
    parsed_t back;
    assert_int_equal(parse_line(buf.ptr, &back), 0);
    assert_string_equal(back.meas, m);
    assert_string_equal(back.tag_key, tk);
    assert_string_equal(back.tag_value, tv);
    assert_string_equal(back.field_key, fk);
    assert_string_equal(back.str, sv);
    assert_true(back.ts == ts);
    /* One line: the only newline is the last byte. */
    assert_ptr_equal(strchr(buf.ptr, '\n'), buf.ptr + buf.len - 1);
    accepted++;
  }
  /* The generator must exercise both outcomes substantially. */
  print_message("random lines: %u accepted, %u refused\n", accepted, refused);
  assert_true(accepted > 1000);
  assert_true(refused > 1000);
  fleet_buf_dispose(&buf);
}

/* ---- telemetry records ---- */

static void test_telemetry_full_and_minimal(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  fleet_buf_t buf = FLEET_BUF_INIT;
  full_record(&rec);
  const fleet_lp_tag_t tags[] = {{"fleet_id", "acme"}, {"device_type", "obd2"}};
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, tags, 2), 0);
  assert_string_equal(buf.ptr,
                      "telemetry,device_type=obd2,fleet_id=acme,vehicle_id=v-001 "
                      "lat=23.8103,lng=90.4125,speed=45.2,heading=180,ignition=true,"
                      "odometer=123456.7,battery_v=12.4,engine_temp=88.5,fuel_level=63,"
                      "driver_id=\"drv-042\" 1779359400000000000\n");

  fleet_buf_clear(&buf);
  init_record(&rec);
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0), 0);
  assert_string_equal(buf.ptr,
                      "telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125 1779359400000000000\n");

  /* Each optional field on its own, with values at their edges. */
  fleet_buf_clear(&buf);
  rec.present = FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_HEADING;
  rec.ignition = 0;
  rec.heading_deg = 0.0;
  rec.lat = -90.0;
  rec.lng = 180.0;
  rec.ts_ns = -1000000000;
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, "positions", NULL, 0), 0);
  assert_string_equal(buf.ptr, "positions,vehicle_id=v-001 lat=-90,lng=180,heading=0,"
                               "ignition=false -1000000000\n");

  /* A driver id with quotes and backslashes is escaped as a string. */
  fleet_buf_clear(&buf);
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_DRIVER_ID | FLEET_TELEMETRY_SPEED;
  rec.speed_kmh = 0.0;
  strcpy(rec.driver_id, "O\"Brien \\ 7");
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0), 0);
  assert_string_equal(buf.ptr, "telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=0,"
                               "driver_id=\"O\\\"Brien \\\\ 7\" 1779359400000000000\n");
  fleet_buf_dispose(&buf);
}

static void test_telemetry_tags_sorted_and_filtered(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  fleet_buf_t buf = FLEET_BUF_INIT;
  init_record(&rec);
  strcpy(rec.vehicle_id, "truck.7");
  const fleet_lp_tag_t tags[] = {
    {"zone", "north"}, {"fleet_id", ""},   {"a b", "1"},  {"Region", "EU West"},
    {"a!", "2"},       {"driver", NULL},   {"device_type", "obd,2"},
  };
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, "fleet data", tags, 7), 0);
  /* Empty and NULL values are left out. Order is by escaped key bytes, as
   * InfluxDB compares them: "a!" < "a\ b" although ' ' < '!'. */
  assert_string_equal(buf.ptr, "fleet\\ data,Region=EU\\ West,a!=2,a\\ b=1,"
                               "device_type=obd\\,2,vehicle_id=truck.7,zone=north "
                               "lat=23.8103,lng=90.4125 1779359400000000000\n");
  fleet_buf_dispose(&buf);
}

static void test_telemetry_extras(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  fleet_buf_t buf = FLEET_BUF_INIT;
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_SPEED;
  rec.speed_kmh = 12.5;
  rec.n_extras = 3;
  strcpy(rec.extras[0].name, "rpm");
  rec.extras[0].type = FLEET_EXTRA_NUMBER;
  rec.extras[0].value = 2100;
  strcpy(rec.extras[1].name, "door_open");
  rec.extras[1].type = FLEET_EXTRA_BOOL;
  rec.extras[1].value = 1.0;
  strcpy(rec.extras[2].name, "coolant_ok");
  rec.extras[2].type = FLEET_EXTRA_BOOL;
  rec.extras[2].value = 0.0;
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0), 0);
  assert_string_equal(buf.ptr, "telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=12.5,"
                               "rpm=2100,door_open=true,coolant_ok=false 1779359400000000000\n");

  rec.extras[0].value = -0.25;
  fleet_buf_clear(&buf);
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0), 0);
  assert_non_null(strstr(buf.ptr, ",rpm=-0.25,door_open=true,"));
  fleet_buf_dispose(&buf);
}

/* Expects the record to be refused with `code` and `why`, buffer untouched. */
static void expect_record_reject(const fleet_telemetry_t *rec, const char *meas,
                                 const fleet_lp_tag_t *tags, size_t ntags, int code,
                                 const char *why)
{
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&buf, "x 1\n", 4), 0);
  int rc = fleet_lp_encode_telemetry(&buf, rec, meas, tags, ntags);
  if (rc != code)
    fail_msg("rc %d, want %d (%s)", rc, code, fleet_error_last());
  if (!strstr(fleet_error_last(), why))
    fail_msg("message \"%s\" lacks \"%s\"", fleet_error_last(), why);
  assert_int_equal(buf.len, 4);
  assert_string_equal(buf.ptr, "x 1\n");
  fleet_buf_dispose(&buf);
}

static void test_telemetry_rejections(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  const fleet_lp_tag_t fleet_tag[] = {{"fleet_id", "acme"}};

  init_record(&rec);
  rec.vehicle_id[0] = '\0';
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "vehicle_id: the record has no vehicle id");
  init_record(&rec);
  memset(rec.vehicle_id, 'v', sizeof rec.vehicle_id);
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "vehicle_id: not NUL-terminated");
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_DRIVER_ID;
  memset(rec.driver_id, 'd', sizeof rec.driver_id);
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "driver_id: not NUL-terminated");
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_DRIVER_ID;
  strcpy(rec.driver_id, "a\nb");
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL,
                       "field \"driver_id\": string value \"a\\x0ab\" contains a newline");
  init_record(&rec);
  rec.version = 99;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "telemetry record version 99 is not 1");

  /* Non-finite numbers name their field. */
  init_record(&rec);
  rec.lat = NAN;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_ERANGE, "field \"lat\": NaN is not allowed");
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_FUEL_LEVEL;
  rec.fuel_level_pct = INFINITY;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_ERANGE,
                       "field \"fuel_level\": infinity is not allowed");
  init_record(&rec);
  rec.present = FLEET_TELEMETRY_ENGINE_TEMP;
  rec.engine_temp_c = -INFINITY;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_ERANGE, "field \"engine_temp\": -infinity");

  /* Tags. */
  init_record(&rec);
  const fleet_lp_tag_t dup[] = {{"fleet_id", "a"}, {"vehicle_id", "other"}};
  expect_record_reject(&rec, NULL, dup, 2, FLEET_EINVAL, "tag \"vehicle_id\" is given twice");
  const fleet_lp_tag_t dup2[] = {{"k", "a"}, {"k", "b"}};
  expect_record_reject(&rec, NULL, dup2, 2, FLEET_EINVAL, "tag \"k\" is given twice");
  const fleet_lp_tag_t nullkey[] = {{"fleet_id", "a"}, {NULL, "b"}};
  expect_record_reject(&rec, NULL, nullkey, 2, FLEET_EINVAL, "tag 1: key is NULL");
  const fleet_lp_tag_t badval[] = {{"fleet_id", "a\rb"}};
  expect_record_reject(&rec, NULL, badval, 1, FLEET_EINVAL,
                       "tag \"fleet_id\": value \"a\\x0db\" contains a carriage return");
  const fleet_lp_tag_t badkey[] = {{"time", "now"}};
  expect_record_reject(&rec, NULL, badkey, 1, FLEET_EINVAL, "tag key \"time\": is reserved");
  const fleet_lp_tag_t emptykey[] = {{"", "x"}};
  expect_record_reject(&rec, NULL, emptykey, 1, FLEET_EINVAL, "tag key \"\": is empty");
  expect_record_reject(&rec, NULL, NULL, 3, FLEET_EINVAL, "tags is NULL but ntags is 3");
  fleet_lp_tag_t many[FLEET_LP_MAX_TAGS];
  for (size_t i = 0; i < FLEET_LP_MAX_TAGS; i++)
    many[i] = (fleet_lp_tag_t){"k", "v"};
  expect_record_reject(&rec, NULL, many, FLEET_LP_MAX_TAGS, FLEET_EINVAL, "at most 63 besides");
  /* A tag named like a standard field: InfluxDB 3 refuses a tag and a field of
   * one name, so it is refused even when that field is absent from the record. */
  const fleet_lp_tag_t speedtag[] = {{"speed", "fast"}};
  expect_record_reject(&rec, NULL, speedtag, 1, FLEET_EINVAL,
                       "tag \"speed\": name clashes with a standard field");
  const fleet_lp_tag_t drivertag[] = {{"driver_id", ""}};
  expect_record_reject(&rec, NULL, drivertag, 1, FLEET_EINVAL,
                       "tag \"driver_id\": name clashes with a standard field");
  expect_record_reject(&rec, "", NULL, 0, FLEET_EINVAL, "measurement \"\": is empty");
  expect_record_reject(&rec, "#m", NULL, 0, FLEET_EINVAL, "starts with '#'");
  expect_record_reject(NULL, NULL, NULL, 0, FLEET_EINVAL, "record is NULL");
  assert_int_equal(fleet_lp_encode_telemetry(NULL, &rec, NULL, NULL, 0), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "buffer is NULL");

  /* Extras: names that would collide, unknown types, bad values. */
  init_record(&rec);
  rec.n_extras = 1;
  rec.extras[0].type = FLEET_EXTRA_NUMBER;
  rec.extras[0].value = 1;
  strcpy(rec.extras[0].name, "speed");
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL,
                       "extra field \"speed\": name clashes with a standard field");
  strcpy(rec.extras[0].name, "fleet_id");
  expect_record_reject(&rec, NULL, fleet_tag, 1, FLEET_EINVAL,
                       "extra field \"fleet_id\": name clashes with a tag");
  strcpy(rec.extras[0].name, "vehicle_id");
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "name clashes with a tag");
  strcpy(rec.extras[0].name, "time");
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "field key \"time\": is reserved");
  strcpy(rec.extras[0].name, "");
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "field key \"\": is empty");
  strcpy(rec.extras[0].name, "rpm");
  rec.extras[0].value = NAN;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_ERANGE, "field \"rpm\": NaN is not allowed");
  rec.extras[0].value = 1;
  rec.extras[0].type = (fleet_extra_type_t)7;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "extra field \"rpm\": unknown type 7");
  rec.n_extras = 2;
  rec.extras[0].type = FLEET_EXTRA_NUMBER;
  rec.extras[1] = rec.extras[0];
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "extra field \"rpm\": appears twice");
  memset(rec.extras[1].name, 'n', sizeof rec.extras[1].name);
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "extra field 1: name not NUL-terminated");
  rec.n_extras = FLEET_TELEMETRY_MAX_EXTRAS + 1;
  expect_record_reject(&rec, NULL, NULL, 0, FLEET_EINVAL, "record has 17 extra fields; at most 16");
}

static void test_no_allocation_when_warm(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  full_record(&rec);
  const fleet_lp_tag_t tags[] = {{"fleet_id", "acme"}, {"device_type", "obd2"}};
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, tags, 2), 0);
  char *ptr = buf.ptr;
  size_t cap = buf.cap;
  for (int i = 0; i < 1000; i++) {
    fleet_buf_clear(&buf);
    rec.ts_ns += 1000000000;
    rec.lat += 1e-5;
    assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, tags, 2), 0);
    assert_ptr_equal(buf.ptr, ptr);
    assert_int_equal(buf.cap, cap);
  }

  /* The same holds for the point API. */
  fleet_lp_point_t pt;
  for (int i = 0; i < 1000; i++) {
    fleet_buf_clear(&buf);
    assert_int_equal(fleet_lp_begin(&pt, &buf, "telemetry"), 0);
    assert_int_equal(fleet_lp_add_tag(&pt, "vehicle_id", "v-001"), 0);
    assert_int_equal(fleet_lp_add_float(&pt, "lat", 23.8103 + i * 1e-4), 0);
    assert_int_equal(fleet_lp_add_int(&pt, "n", i), 0);
    assert_int_equal(fleet_lp_add_string(&pt, "d", "drv-042"), 0);
    assert_int_equal(fleet_lp_end(&pt, TS_DESIGN + i), 0);
    assert_ptr_equal(buf.ptr, ptr);
    assert_int_equal(buf.cap, cap);
  }
  fleet_buf_dispose(&buf);
}

static void test_encode_appends_lines(void **state)
{
  (void)state;
  fleet_telemetry_t rec;
  init_record(&rec);
  fleet_buf_t buf = FLEET_BUF_INIT;
  for (int i = 0; i < 100; i++) {
    rec.ts_ns = i;
    assert_int_equal(fleet_lp_encode_telemetry(&buf, &rec, NULL, NULL, 0), 0);
  }
  const char *one = "telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125 ";
  size_t lines = 0;
  for (const char *p = buf.ptr; *p; lines++) {
    assert_int_equal(strncmp(p, one, strlen(one)), 0);
    char *end;
    long long ts = strtoll(p + strlen(one), &end, 10);
    assert_true(ts == (long long)lines);
    assert_int_equal(*end, '\n');
    p = end + 1;
  }
  assert_int_equal(lines, 100);
  fleet_buf_dispose(&buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_point_all_types),
    cmocka_unit_test(test_escape_measurement),
    cmocka_unit_test(test_escape_tag_keys_values_field_keys),
    cmocka_unit_test(test_escape_string_values),
    cmocka_unit_test(test_unicode_passthrough),
    cmocka_unit_test(test_backslashes_in_names),
    cmocka_unit_test(test_reject_newlines_tabs_utf8),
    cmocka_unit_test(test_reject_messages_exact),
    cmocka_unit_test(test_reject_empty_reserved_comment),
    cmocka_unit_test(test_reject_nonfinite),
    cmocka_unit_test(test_reject_order_and_no_fields),
    cmocka_unit_test(test_reject_null_and_misuse),
    cmocka_unit_test(test_rollback_and_sticky_error),
    cmocka_unit_test(test_integers),
    cmocka_unit_test(test_timestamps),
    cmocka_unit_test(test_floats),
    cmocka_unit_test(test_random_round_trip),
    cmocka_unit_test(test_telemetry_full_and_minimal),
    cmocka_unit_test(test_telemetry_tags_sorted_and_filtered),
    cmocka_unit_test(test_telemetry_extras),
    cmocka_unit_test(test_telemetry_rejections),
    cmocka_unit_test(test_no_allocation_when_warm),
    cmocka_unit_test(test_encode_appends_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
