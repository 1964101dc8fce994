/* Unit tests for the telemetry module: payload parsing, validation, encoding,
 * vehicle ids and topics, RFC 3339 time. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "common_int.h"
#include "fleet/telemetry.h"
#include "telemetry_int.h"

#define SAMPLE                                                                          \
  "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125,\"speed\":45.2," \
  "\"heading\":180,\"ignition\":true,\"odometer\":123456.7,\"battery_v\":12.4,"           \
  "\"engine_temp\":88.5,\"fuel_level\":63.0}"

/* Required fields only; tests append members before the closing brace. */
#define BASE "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125"

/* 2026-05-21T10:30:00Z, from the calendar by hand: 20594 days * 86400 + 37800 s. */
#define SAMPLE_NS (INT64_C(1779359400) * 1000000000)

static fleet_telemetry_t rec;
static fleet_telemetry_warnings_t warns;

static int parse_len(const char *json, size_t len)
{
  assert_int_equal(fleet_telemetry_init(&rec, FLEET_TELEMETRY_VERSION), 0);
  memset(&warns, 0x5a, sizeof warns);
  return fleet_telemetry_parse(&rec, &warns, json, len);
}

static int parse(const char *json)
{
  return parse_len(json, strlen(json));
}

static void expect_reject_len(const char *json, size_t len, int code, const char *msg)
{
  int rc = parse_len(json, len);
  if (rc != code)
    fail_msg("payload %.80s: got %d (%s), want %d", json, rc, fleet_error_last(), code);
  assert_string_equal(fleet_error_last(), msg);
}

static void expect_reject(const char *json, int code, const char *msg)
{
  expect_reject_len(json, strlen(json), code, msg);
}

/* The message must start with `prefix` (for jansson-worded tails). */
static void expect_reject_prefix(const char *json, int code, const char *prefix)
{
  int rc = parse(json);
  if (rc != code)
    fail_msg("payload %.80s: got %d (%s), want %d", json, rc, fleet_error_last(), code);
  if (strncmp(fleet_error_last(), prefix, strlen(prefix)) != 0)
    fail_msg("message \"%s\" does not start with \"%s\"", fleet_error_last(), prefix);
}

/* The payload is accepted with exactly one warning, `msg`, and the position. */
static void expect_one_warning(const char *json, const char *msg)
{
  int rc = parse(json);
  if (rc != 0)
    fail_msg("payload %.80s rejected: %s", json, fleet_error_last());
  assert_int_equal(warns.count, 1);
  assert_int_equal(warns.dropped, 0);
  assert_string_equal(warns.msg[0], msg);
  assert_true(rec.lat == 23.8103);
  assert_true(rec.lng == 90.4125);
  assert_true(rec.ts_ns == SAMPLE_NS);
}

/* ------------------------------------------------------------------------ */
/* Accepted payloads                                                        */

static void test_parse_full_sample(void **state)
{
  (void)state;
  assert_int_equal(parse(SAMPLE), 0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(warns.dropped, 0);
  assert_int_equal(rec.version, FLEET_TELEMETRY_VERSION);
  assert_string_equal(rec.vehicle_id, "");
  assert_true(rec.ts_ns == SAMPLE_NS);
  assert_true(rec.lat == 23.8103);
  assert_true(rec.lng == 90.4125);
  assert_int_equal(rec.present, FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING |
                                    FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_ODOMETER |
                                    FLEET_TELEMETRY_BATTERY_V | FLEET_TELEMETRY_ENGINE_TEMP |
                                    FLEET_TELEMETRY_FUEL_LEVEL);
  assert_true(rec.speed_kmh == 45.2);
  assert_true(rec.heading_deg == 180.0);
  assert_int_equal(rec.ignition, 1);
  assert_true(rec.odometer_km == 123456.7);
  assert_true(rec.battery_v == 12.4);
  assert_true(rec.engine_temp_c == 88.5);
  assert_true(rec.fuel_level_pct == 63.0);
  assert_int_equal(rec.n_extras, 0);
}

static void test_parse_minimal(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE "}"), 0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.present, 0);
  assert_int_equal(rec.n_extras, 0);
  assert_true(rec.ts_ns == SAMPLE_NS);
  /* Whitespace anywhere JSON allows it, and the boundaries of the ranges. */
  assert_int_equal(parse(" \n{ \"lng\" : -180 , \"lat\":-90,\"ts\":\"1970-01-01T00:00:00Z\",\t\"v\":1}\n"),
                   0);
  assert_true(rec.lat == -90.0 && rec.lng == -180.0 && rec.ts_ns == 0);
  assert_int_equal(parse("{\"v\":1,\"ts\":\"1970-01-01T00:00:00Z\",\"lat\":90,\"lng\":180}"), 0);
  assert_true(rec.lat == 90.0 && rec.lng == 180.0);
}

static void test_parse_not_nul_terminated(void **state)
{
  (void)state;
  char buf[sizeof SAMPLE + 8];
  memcpy(buf, SAMPLE, sizeof SAMPLE - 1);
  memcpy(buf + sizeof SAMPLE - 1, "garbage", 8);
  assert_int_equal(parse_len(buf, sizeof SAMPLE - 1), 0);
  assert_true(rec.fuel_level_pct == 63.0);
}

static void test_parse_optional_edges(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE ",\"speed\":0,\"heading\":0,\"odometer\":0,\"battery_v\":0,"
                              "\"engine_temp\":-60,\"fuel_level\":0,\"ignition\":false}"),
                   0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.ignition, 0);
  assert_true(rec.engine_temp_c == -60.0);
  assert_int_equal(parse(BASE ",\"heading\":359.999,\"engine_temp\":250,\"fuel_level\":100}"), 0);
  assert_int_equal(warns.count, 0);
  assert_true(rec.heading_deg == 359.999 && rec.engine_temp_c == 250.0 &&
              rec.fuel_level_pct == 100.0);
}

static void test_parse_null_optional_is_absent(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE ",\"speed\":null,\"ignition\":null,\"driver_id\":null,"
                              "\"vehicle_id\":null,\"rpm\":null}"),
                   0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.present, 0);
  assert_int_equal(rec.n_extras, 0);
  assert_string_equal(rec.vehicle_id, "");
}

static void test_parse_ids(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE ",\"vehicle_id\":\"truck-07.a_B\",\"driver_id\":\"Zo\\u00eb O'Neil\"}"),
                   0);
  assert_int_equal(warns.count, 0);
  assert_string_equal(rec.vehicle_id, "truck-07.a_B");
  assert_true(rec.present & FLEET_TELEMETRY_DRIVER_ID);
  assert_string_equal(rec.driver_id, "Zo\xc3\xab O'Neil");
  char id64[65];
  memset(id64, 'd', 64);
  id64[64] = '\0';
  char json[256];
  snprintf(json, sizeof json, BASE ",\"driver_id\":\"%s\",\"vehicle_id\":\"%s\"}", id64, id64);
  assert_int_equal(parse(json), 0);
  assert_int_equal(warns.count, 0);
  assert_string_equal(rec.driver_id, id64);
  assert_string_equal(rec.vehicle_id, id64);
}

static void test_parse_extras(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE ",\"rpm\":2100,\"door_open\":false,\"Throttle_pct\":12.5,"
                              "\"abs\":true,\"_x\":1,\"coolant2\":-4e-3}"),
                   0);
  assert_int_equal(warns.count, 1); /* _x */
  assert_int_equal(rec.n_extras, 5);
  assert_string_equal(rec.extras[0].name, "rpm");
  assert_int_equal(rec.extras[0].type, FLEET_EXTRA_NUMBER);
  assert_true(rec.extras[0].value == 2100.0);
  assert_string_equal(rec.extras[1].name, "door_open");
  assert_int_equal(rec.extras[1].type, FLEET_EXTRA_BOOL);
  assert_true(rec.extras[1].value == 0.0);
  assert_string_equal(rec.extras[2].name, "Throttle_pct");
  assert_true(rec.extras[2].value == 12.5);
  assert_string_equal(rec.extras[3].name, "abs");
  assert_int_equal(rec.extras[3].type, FLEET_EXTRA_BOOL);
  assert_true(rec.extras[3].value == 1.0);
  assert_string_equal(rec.extras[4].name, "coolant2");
  assert_true(rec.extras[4].value == -0.004);
}

static void test_parse_big_integer_extra_kept(void **state)
{
  (void)state;
  /* Beyond int64, so jansson alone would refuse the whole payload. */
  assert_int_equal(parse(BASE ",\"can_u64\":18446744073709551615,\"odometer\":"
                              "100000000000000000000}"),
                   0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.n_extras, 1);
  assert_string_equal(rec.extras[0].name, "can_u64");
  assert_true(rec.extras[0].value == 18446744073709551616.0);
  assert_true(rec.present & FLEET_TELEMETRY_ODOMETER);
  assert_true(rec.odometer_km == 1e20);
}

static void test_parse_depth_within_limit(void **state)
{
  (void)state;
  /* Depth 4 (object, array, array, array) is allowed; brackets in strings do not count. */
  expect_one_warning(BASE ",\"grid\":[[[1]]],\"note\":null,\"driver_id\":\"[[[[[[{{{{\\\"\"}",
                     "\"grid\": only numbers and booleans are kept as extra fields, got an "
                     "array; field dropped");
}

/* ------------------------------------------------------------------------ */
/* Rejected payloads                                                        */

static void test_reject_null_arguments(void **state)
{
  (void)state;
  fleet_telemetry_t r = FLEET_TELEMETRY_INIT;
  assert_int_equal(fleet_telemetry_parse(NULL, NULL, SAMPLE, sizeof SAMPLE - 1), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "telemetry parse: NULL argument");
  assert_int_equal(fleet_telemetry_parse(&r, NULL, NULL, 3), FLEET_EINVAL);
  r.version = 99;
  assert_int_equal(fleet_telemetry_parse(&r, NULL, SAMPLE, sizeof SAMPLE - 1), FLEET_EVERSION);
  assert_string_equal(fleet_error_last(),
                      "telemetry record version 99 is not supported (1 is); initialise it "
                      "with fleet_telemetry_init()");
  /* Without a warnings struct, a payload with a bad optional field is still accepted. */
  r.version = FLEET_TELEMETRY_VERSION;
  const char *j = BASE ",\"speed\":-3}";
  assert_int_equal(fleet_telemetry_parse(&r, NULL, j, strlen(j)), 0);
  assert_int_equal(r.present, 0);
}

static void test_reject_not_object(void **state)
{
  (void)state;
  expect_reject("[1,2]", FLEET_EPARSE, "payload: expected a JSON object, got an array");
  expect_reject("42", FLEET_EPARSE, "payload: expected a JSON object, got a number");
  expect_reject("\"x\"", FLEET_EPARSE, "payload: expected a JSON object, got a string");
  expect_reject("null", FLEET_EPARSE, "payload: expected a JSON object, got null");
  expect_reject("true", FLEET_EPARSE, "payload: expected a JSON object, got a boolean");
}

static void test_reject_invalid_json(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 7: string or '}' expected near end of "
                "file");
  expect_reject("", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 0: unexpected token near end of file");
  expect_reject(BASE "}x", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 64: end of file expected near 'x'");
  expect_reject("{'v':1}", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 2: string or '}' expected near '''");
  expect_reject_prefix(BASE ",\"speed\":NaN}", FLEET_EPARSE,
                       "payload: invalid JSON at line 1, column ");
  expect_reject_prefix(BASE ",\"speed\":Infinity}", FLEET_EPARSE,
                       "payload: invalid JSON at line 1, column ");
}

static void test_reject_invalid_utf8(void **state)
{
  (void)state;
  /* A stray 0xff, an overlong '/', a UTF-16 surrogate encoded in UTF-8. */
  expect_reject("{\"v\":1,\"note\":\"\xff\"}", FLEET_EPARSE,
                "payload: invalid UTF-8 at offset 15 (unable to decode byte 0xff near '\"')");
  expect_reject_prefix("{\"note\":\"\xc0\xaf\"}", FLEET_EPARSE,
                       "payload: invalid UTF-8 at offset 9 ");
  expect_reject_prefix("{\"note\":\"\xed\xa0\x80\"}", FLEET_EPARSE,
                       "payload: invalid UTF-8 at offset 9 ");
  expect_reject_prefix("{\"n\xff\":1}", FLEET_EPARSE, "payload: invalid UTF-8 at offset 3 ");
}

static void test_reject_nul(void **state)
{
  (void)state;
  static const char raw[] = "{\"v\":1\0,\"ts\":\"2026-05-21T10:30:00Z\"}";
  expect_reject_len(raw, sizeof raw - 1, FLEET_EPARSE, "payload: NUL byte at offset 6");
  /* An escaped NUL inside a string is refused by jansson. */
  expect_reject_prefix(BASE ",\"driver_id\":\"a\\u0000b\"}", FLEET_EPARSE,
                       "payload: invalid JSON at line 1, column ");
  assert_non_null(strstr(fleet_error_last(), "\\u0000 is not allowed"));
}

static void test_reject_too_deep(void **state)
{
  (void)state;
  expect_reject(BASE ",\"grid\":[[[[1]]]]}", FLEET_ETOOBIG,
                "payload: nesting deeper than 4 levels at offset 73");
  expect_reject("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", FLEET_ETOOBIG,
                "payload: nesting deeper than 4 levels at offset 4");
  expect_reject(BASE ",\"o\":{\"a\":{\"b\":{\"c\":{}}}}}", FLEET_ETOOBIG,
                "payload: nesting deeper than 4 levels at offset 82");
}

static void test_size_boundary(void **state)
{
  (void)state;
  char *buf = malloc(FLEET_TELEMETRY_MAX_BYTES + 2);
  assert_non_null(buf);
  size_t base = strlen(BASE);
  memcpy(buf, BASE, base);
  /* Pad with whitespace up to exactly 4096 bytes, then one more. */
  memset(buf + base, ' ', FLEET_TELEMETRY_MAX_BYTES - base - 1);
  buf[FLEET_TELEMETRY_MAX_BYTES - 1] = '}';
  assert_int_equal(parse_len(buf, FLEET_TELEMETRY_MAX_BYTES), 0);
  assert_true(rec.lat == 23.8103);
  buf[FLEET_TELEMETRY_MAX_BYTES - 1] = ' ';
  buf[FLEET_TELEMETRY_MAX_BYTES] = '}';
  expect_reject_len(buf, FLEET_TELEMETRY_MAX_BYTES + 1, FLEET_ETOOBIG,
                    "payload: 4097 bytes is over the limit of 4096");
  free(buf);
}

static void test_reject_duplicate_keys(void **state)
{
  (void)state;
  expect_reject(BASE ",\"lat\":1}", FLEET_EPARSE,
                "payload: duplicate key \"lat\" (line 1, column 68)");
  expect_reject(BASE ",\"rpm\":1,\"rpm\":2}", FLEET_EPARSE,
                "payload: duplicate key \"rpm\" (line 1, column 76)");
  /* Inside an object member that would be dropped anyway, still a duplicate. */
  expect_reject(BASE ",\"o\":{\"a\":1,\"a\":2}}", FLEET_EPARSE,
                "payload: duplicate key \"a\" (line 1, column 77)");
}

static void test_reject_missing_required(void **state)
{
  (void)state;
  expect_reject("{\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":2}", FLEET_EMISSING,
                "v: missing");
  expect_reject("{\"v\":1,\"lat\":1,\"lng\":2}", FLEET_EMISSING, "ts: missing");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lng\":2}", FLEET_EMISSING,
                "lat: missing");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1}", FLEET_EMISSING,
                "lng: missing");
  expect_reject("{}", FLEET_EMISSING, "v: missing");
}

static void test_reject_version(void **state)
{
  (void)state;
  expect_reject("{\"v\":2,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":2}", FLEET_EVERSION,
                "v: 2 is not a supported payload version (this library reads 1)");
  expect_reject("{\"v\":0}", FLEET_EVERSION,
                "v: 0 is not a supported payload version (this library reads 1)");
  expect_reject("{\"v\":-1}", FLEET_EVERSION,
                "v: -1 is not a supported payload version (this library reads 1)");
  expect_reject("{\"v\":99999999999999999999}", FLEET_EVERSION,
                "v: 99999999999999999999 is not a supported payload version (this library "
                "reads 1)");
  /* The version decides before anything else is judged. */
  expect_reject("{\"lat\":500,\"v\":3}", FLEET_EVERSION,
                "v: 3 is not a supported payload version (this library reads 1)");
}

static void test_reject_version_type(void **state)
{
  (void)state;
  expect_reject("{\"v\":\"1\"}", FLEET_ETYPE, "v: expected the integer 1, got a string (\"1\")");
  expect_reject("{\"v\":1.0}", FLEET_ETYPE, "v: expected the integer 1, got a number (1.0)");
  expect_reject("{\"v\":1.5}", FLEET_ETYPE, "v: expected the integer 1, got a number (1.5)");
  expect_reject("{\"v\":true}", FLEET_ETYPE, "v: expected the integer 1, got true");
  expect_reject("{\"v\":null}", FLEET_ETYPE, "v: expected the integer 1, got null");
  expect_reject("{\"v\":[1]}", FLEET_ETYPE, "v: expected the integer 1, got an array");
  expect_reject("{\"v\":1e400}", FLEET_ETYPE, "v: expected the integer 1, got a number (1e400)");
}

static void test_reject_ts_type(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,\"ts\":1716287400,\"lat\":1,\"lng\":2}", FLEET_ETYPE,
                "ts: expected an RFC 3339 timestamp string, got a number (1716287400)");
  expect_reject("{\"v\":1,\"ts\":{},\"lat\":1,\"lng\":2}", FLEET_ETYPE,
                "ts: expected an RFC 3339 timestamp string, got an object");
}

static void test_reject_ts_invalid_date(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,\"ts\":\"2026-02-30T00:00:00Z\",\"lat\":1,\"lng\":2}", FLEET_ERANGE,
                "ts: \"2026-02-30T00:00:00Z\" is not a valid date (February has 28 days in 2026)");
  expect_reject("{\"v\":1,\"ts\":\"yesterday\",\"lat\":1,\"lng\":2}", FLEET_EPARSE,
                "ts: \"yesterday\" is not an RFC 3339 timestamp: expected a digit at offset 0");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:60Z\",\"lat\":1,\"lng\":2}", FLEET_ERANGE,
                "ts: \"2026-05-21T10:30:60Z\" has a leap second (:60), which is not supported");
}

static void test_reject_position_range(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":91.2,\"lng\":2}", FLEET_ERANGE,
                "lat: 91.2 is outside [-90, 90]");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":-90.0001,\"lng\":2}",
                FLEET_ERANGE, "lat: -90.0001 is outside [-90, 90]");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":180.5}", FLEET_ERANGE,
                "lng: 180.5 is outside [-180, 180]");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":-181}", FLEET_ERANGE,
                "lng: -181 is outside [-180, 180]");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":99999999999999999999,"
                "\"lng\":2}",
                FLEET_ERANGE, "lat: 99999999999999999999 is outside [-90, 90]");
}

static void test_reject_position_non_finite(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1e400,\"lng\":2}", FLEET_ERANGE,
                "lat: 1e400 is not a finite number");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":-2.5E+999}",
                FLEET_ERANGE, "lng: -2.5E+999 is not a finite number");
}

static void test_reject_position_type(void **state)
{
  (void)state;
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":\"23.8\",\"lng\":2}",
                FLEET_ETYPE, "lat: expected a number, got a string (\"23.8\")");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":null,\"lng\":2}", FLEET_ETYPE,
                "lat: expected a number, got null");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":[2]}", FLEET_ETYPE,
                "lng: expected a number, got an array");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":true,\"lng\":2}", FLEET_ETYPE,
                "lat: expected a number, got true");
}

static void test_reject_too_many_overflows(void **state)
{
  (void)state;
  /* Beyond 32 unrepresentable top-level numbers, jansson's verdict stands. */
  char json[1024] = BASE;
  for (int i = 0; i < 33; i++) {
    char m[32];
    snprintf(m, sizeof m, ",\"a%d\":1e400", i);
    strcat(json, m);
  }
  strcat(json, "}");
  expect_reject_prefix(json, FLEET_EPARSE, "payload: invalid JSON at line 1");
  assert_non_null(strstr(fleet_error_last(), "real number overflow near '1e400'"));
}

/* ------------------------------------------------------------------------ */
/* Warnings: bad optional fields are dropped, the position is kept          */

static void test_warn_speed_negative(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"speed\":-3}", "speed: -3 is negative; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_SPEED);
}

static void test_warn_speed_string(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"speed\":\"fast\"}",
                     "speed: expected a number, got a string (\"fast\"); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_SPEED);
}

static void test_warn_speed_non_finite(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"speed\":1e400}", "speed: 1e400 is not a finite number; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_SPEED);
}

static void test_warn_heading_range(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"heading\":360}", "heading: 360 is outside [0, 360); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_HEADING);
  expect_one_warning(BASE ",\"heading\":-0.5}",
                     "heading: -0.5 is outside [0, 360); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_HEADING);
}

static void test_warn_ignition_type(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"ignition\":1}",
                     "ignition: expected true or false, got a number (1); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_IGNITION);
  expect_one_warning(BASE ",\"ignition\":\"on\"}",
                     "ignition: expected true or false, got a string (\"on\"); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_IGNITION);
}

static void test_warn_odometer_negative(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"odometer\":-1}", "odometer: -1 is negative; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_ODOMETER);
}

static void test_warn_battery_negative(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"battery_v\":-0.5}", "battery_v: -0.5 is negative; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_BATTERY_V);
}

static void test_warn_engine_temp_range(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"engine_temp\":300}",
                     "engine_temp: 300 is outside [-60, 250]; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_ENGINE_TEMP);
  expect_one_warning(BASE ",\"engine_temp\":-60.5}",
                     "engine_temp: -60.5 is outside [-60, 250]; field dropped");
}

static void test_warn_fuel_level_range(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"fuel_level\":100.5}",
                     "fuel_level: 100.5 is outside [0, 100]; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_FUEL_LEVEL);
  expect_one_warning(BASE ",\"fuel_level\":-1}", "fuel_level: -1 is outside [0, 100]; field dropped");
}

static void test_warn_number_field_wrong_types(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"odometer\":true}",
                     "odometer: expected a number, got true; field dropped");
  expect_one_warning(BASE ",\"battery_v\":{\"a\":1}}",
                     "battery_v: expected a number, got an object; field dropped");
  expect_one_warning(BASE ",\"fuel_level\":[50]}",
                     "fuel_level: expected a number, got an array; field dropped");
}

static void test_warn_driver_id_empty(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"driver_id\":\"\"}", "driver_id: \"\" is empty; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_DRIVER_ID);
}

static void test_warn_driver_id_too_long(void **state)
{
  (void)state;
  char json[256];
  snprintf(json, sizeof json, BASE ",\"driver_id\":\"%065d\"}", 7);
  expect_one_warning(json, "driver_id: \"000000000000000000000000\"... is 65 bytes, longer than "
                           "64; field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_DRIVER_ID);
}

static void test_warn_driver_id_control(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"driver_id\":\"a\\u0001b\"}",
                     "driver_id: \"a\\x01b\" has control character 0x01 at offset 1; field "
                     "dropped");
  assert_false(rec.present & FLEET_TELEMETRY_DRIVER_ID);
  expect_one_warning(BASE ",\"driver_id\":\"x\\u0085\"}",
                     "driver_id: \"x\\xc2\\x85\" has control character U+0085 at offset 1; field "
                     "dropped");
}

static void test_warn_driver_id_type(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"driver_id\":42}",
                     "driver_id: expected a string, got a number (42); field dropped");
  assert_false(rec.present & FLEET_TELEMETRY_DRIVER_ID);
}

static void test_warn_vehicle_id(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"vehicle_id\":\"v 1\"}",
                     "vehicle_id: \"v 1\" has ' ' at offset 1 (only A-Z a-z 0-9 . _ - are "
                     "allowed); field dropped");
  assert_string_equal(rec.vehicle_id, "");
  expect_one_warning(BASE ",\"vehicle_id\":7}",
                     "vehicle_id: expected a string, got a number (7); field dropped");
  expect_one_warning(BASE ",\"vehicle_id\":\"\"}", "vehicle_id: \"\" is empty; field dropped");
}

static void test_warn_extra_bad_name(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"rp-m\":1}",
                     "extra field \"rp-m\": the name has '-' at offset 2 (only A-Z a-z 0-9 _); "
                     "field dropped");
  assert_int_equal(rec.n_extras, 0);
  expect_one_warning(BASE ",\"2fast\":1}",
                     "extra field \"2fast\": the name starts with a digit; field dropped");
  expect_one_warning(BASE ",\"\":1}", "extra field \"\": the name is empty; field dropped");
  expect_one_warning(BASE ",\"caf\\u00e9\":true}",
                     "extra field \"caf\\xc3\\xa9\": the name has byte 0xc3 at offset 3 (only "
                     "A-Z a-z 0-9 _); field dropped");
}

static void test_warn_extra_name_too_long(void **state)
{
  (void)state;
  /* 32 bytes is fine, 33 is not. */
  assert_int_equal(parse(BASE ",\"abcdefghijklmnopqrstuvwxyz012345\":1}"), 0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.n_extras, 1);
  assert_string_equal(rec.extras[0].name, "abcdefghijklmnopqrstuvwxyz012345");
  expect_one_warning(BASE ",\"abcdefghijklmnopqrstuvwxyz0123456\":1}",
                     "extra field \"abcdefghijklmnopqrstuvwx\"...: the name is longer than 32 "
                     "bytes; field dropped");
  assert_int_equal(rec.n_extras, 0);
}

static void test_warn_extra_reserved_name(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"time\":5}",
                     "extra field \"time\": the name is a reserved line-protocol key; field "
                     "dropped");
  expect_one_warning(BASE ",\"_field\":5}",
                     "extra field \"_field\": names starting with '_' are reserved line-protocol "
                     "keys; field dropped");
  expect_one_warning(BASE ",\"_measurement\":false}",
                     "extra field \"_measurement\": names starting with '_' are reserved "
                     "line-protocol keys; field dropped");
  expect_one_warning(BASE ",\"fleet_id\":5}",
                     "extra field \"fleet_id\": the name is a reserved line-protocol key; field "
                     "dropped");
  assert_int_equal(rec.n_extras, 0);
}

static void test_warn_extra_non_finite(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"big\":-1e999}",
                     "extra field \"big\": -1e999 is not a finite number; field dropped");
  assert_int_equal(rec.n_extras, 0);
}

static void test_warn_too_many_extras(void **state)
{
  (void)state;
  char json[1024] = BASE;
  for (int i = 0; i <= FLEET_TELEMETRY_MAX_EXTRAS; i++) {
    char m[32];
    snprintf(m, sizeof m, ",\"x%d\":%d", i, i * 10);
    strcat(json, m);
  }
  strcat(json, "}");
  expect_one_warning(json, "extra field \"x16\": more than 16 extra fields; field dropped");
  assert_int_equal(rec.n_extras, FLEET_TELEMETRY_MAX_EXTRAS);
  for (unsigned int i = 0; i < rec.n_extras; i++) {
    char name[16];
    snprintf(name, sizeof name, "x%u", i);
    assert_string_equal(rec.extras[i].name, name);
    assert_true(rec.extras[i].value == 10.0 * i);
  }
}

static void test_warn_unknown_string_array_object(void **state)
{
  (void)state;
  expect_one_warning(BASE ",\"note\":\"hello\"}",
                     "\"note\": only numbers and booleans are kept as extra fields, got a string; "
                     "field dropped");
  expect_one_warning(BASE ",\"tags\":[1,2]}",
                     "\"tags\": only numbers and booleans are kept as extra fields, got an "
                     "array; field dropped");
  expect_one_warning(BASE ",\"gps\":{\"sats\":7}}",
                     "\"gps\": only numbers and booleans are kept as extra fields, got an "
                     "object; field dropped");
  assert_int_equal(rec.n_extras, 0);
}

static void test_warn_nested_overflow_dropped(void **state)
{
  (void)state;
  /* An unrepresentable number inside a dropped array does not sink the payload. */
  expect_one_warning(BASE ",\"arr\":[1e400,99999999999999999999]}",
                     "\"arr\": only numbers and booleans are kept as extra fields, got an "
                     "array; field dropped");
}

/* Even the longest warnings fit their slot with the "; field dropped" ending. */
static void test_warnings_fit(void **state)
{
  (void)state;
  static const char *const members[] = {
    "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\":\"x\"",
    "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\":1",
    "\"abcdefghijklmnopqrstuvwxyz012345\":-1e999999999999999999999999999999999",
    "\"engine_temp\":-1e99999999999999999999999999999999999",
    "\"engine_temp\":\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001"
    "\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\"",
    "\"ignition\":\"\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001"
    "\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\\u0001\"",
    "\"driver_id\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u0085\"",
    "\"vehicle_id\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
    "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"",
  };
  for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
    char json[1024];
    snprintf(json, sizeof json, BASE ",%s}", members[i]);
    if (parse(json) != 0)
      fail_msg("%s: %s", members[i], fleet_error_last());
    assert_int_equal(warns.count, 1);
    size_t n = strlen(warns.msg[0]);
    if (n < 15 || n >= FLEET_TELEMETRY_WARNING_LEN - 1 ||
        strcmp(warns.msg[0] + n - 15, "; field dropped") != 0)
      fail_msg("warning cut or malformed (%zu bytes): %s", n, warns.msg[0]);
  }
}

static void test_warnings_overflow_counted(void **state)
{
  (void)state;
  assert_int_equal(parse(BASE ",\"speed\":-1,\"heading\":400,\"odometer\":-1,\"battery_v\":-1,"
                              "\"engine_temp\":999,\"fuel_level\":101,\"ignition\":0,"
                              "\"driver_id\":\"\",\"a-b\":1,\"note\":\"x\"}"),
                   0);
  assert_int_equal(warns.count, FLEET_TELEMETRY_MAX_WARNINGS);
  assert_int_equal(warns.dropped, 2);
  assert_string_equal(warns.msg[0], "speed: -1 is negative; field dropped");
  assert_string_equal(warns.msg[7], "driver_id: \"\" is empty; field dropped");
  assert_int_equal(rec.present, 0);
  /* The next parse starts with a clean slate. */
  assert_int_equal(parse(SAMPLE), 0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(warns.dropped, 0);
}

/* ------------------------------------------------------------------------ */
/* Time                                                                     */

static int64_t tparse_ok(const char *s)
{
  int64_t ns = 42;
  int rc = fleet_time_parse(&ns, s, strlen(s));
  if (rc)
    fail_msg("%s: %s", s, fleet_error_last());
  return ns;
}

static void tparse_fail(const char *s, int code, const char *msg)
{
  int64_t ns = 42;
  int rc = fleet_time_parse(&ns, s, strlen(s));
  if (rc != code)
    fail_msg("%s: got %d (%s), want %d", s, rc, fleet_error_last(), code);
  assert_true(ns == 42);
  if (msg)
    assert_string_equal(fleet_error_last(), msg);
}

static void test_time_basic(void **state)
{
  (void)state;
  assert_true(tparse_ok("1970-01-01T00:00:00Z") == 0);
  assert_true(tparse_ok("2026-05-21T10:30:00Z") == SAMPLE_NS);
  assert_true(tparse_ok("2008-06-08T10:49:10Z") == INT64_C(1212922150) * 1000000000);
  assert_true(tparse_ok("2026-05-21t10:30:00z") == SAMPLE_NS);
  assert_true(tparse_ok("2026-05-21 10:30:00Z") == SAMPLE_NS);
  /* Not NUL-terminated: the length decides. */
  int64_t ns = 0;
  assert_int_equal(fleet_time_parse(&ns, "2026-05-21T10:30:00Zjunk", 20), 0);
  assert_true(ns == SAMPLE_NS);
}

static void test_time_offsets(void **state)
{
  (void)state;
  assert_true(tparse_ok("2026-05-21T12:30:00+02:00") == SAMPLE_NS);
  assert_true(tparse_ok("2026-05-21T05:00:00-05:30") == SAMPLE_NS);
  assert_true(tparse_ok("2026-05-21T10:30:00+00:00") == SAMPLE_NS);
  assert_true(tparse_ok("2026-05-21T10:30:00-00:00") == SAMPLE_NS);
  /* Across midnight and a month end. */
  assert_true(tparse_ok("2026-05-22T10:29:00+23:59") == SAMPLE_NS);
  assert_true(tparse_ok("2026-05-20T10:31:00-23:59") == SAMPLE_NS);
  assert_true(tparse_ok("2026-03-01T01:00:00+02:00") == tparse_ok("2026-02-28T23:00:00Z"));
  tparse_fail("2026-05-21T10:30:00+24:00", FLEET_ERANGE,
              "timestamp \"2026-05-21T10:30:00+24:00\" has an invalid offset (24:00; at most "
              "23:59)");
  tparse_fail("2026-05-21T10:30:00+01:60", FLEET_ERANGE, NULL);
}

static void test_time_fractions(void **state)
{
  (void)state;
  static const struct {
    const char *s;
    int64_t frac;
  } cases[] = {
    {"2026-05-21T10:30:00.1Z", 100000000},         {"2026-05-21T10:30:00.12Z", 120000000},
    {"2026-05-21T10:30:00.123Z", 123000000},       {"2026-05-21T10:30:00.1234Z", 123400000},
    {"2026-05-21T10:30:00.12345Z", 123450000},     {"2026-05-21T10:30:00.123456Z", 123456000},
    {"2026-05-21T10:30:00.1234567Z", 123456700},   {"2026-05-21T10:30:00.12345678Z", 123456780},
    {"2026-05-21T10:30:00.123456789Z", 123456789}, {"2026-05-21T10:30:00.000000001Z", 1},
    {"2026-05-21T10:30:00.0Z", 0},                 {"2026-05-21T12:30:00.5+02:00", 500000000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_true(tparse_ok(cases[i].s) == SAMPLE_NS + cases[i].frac);
  tparse_fail("2026-05-21T10:30:00.1234567891Z", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00.1234567891Z\" is not an RFC 3339 timestamp: more "
              "than 9 fraction digits at offset 29");
  tparse_fail("2026-05-21T10:30:00.Z", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00.Z\" is not an RFC 3339 timestamp: expected a digit "
              "after '.' at offset 20");
  tparse_fail("2026-05-21T10:30:00,5Z", FLEET_EPARSE, NULL);
}

static void test_time_leap_days(void **state)
{
  (void)state;
  assert_true(tparse_ok("2024-02-29T12:00:00Z") == INT64_C(1709208000) * 1000000000);
  assert_true(tparse_ok("2000-02-29T00:00:00Z") == INT64_C(951782400) * 1000000000);
  tparse_fail("2023-02-29T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2023-02-29T00:00:00Z\" is not a valid date (February has 28 days in "
              "2023)");
  tparse_fail("1900-02-29T00:00:00Z", FLEET_ERANGE,
              "timestamp \"1900-02-29T00:00:00Z\" is not a valid date (February has 28 days in "
              "1900)");
  tparse_fail("2100-02-29T00:00:00Z", FLEET_ERANGE, NULL);
  tparse_fail("2024-02-30T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2024-02-30T00:00:00Z\" is not a valid date (February has 29 days in "
              "2024)");
  /* The day after a leap day is March 1st. */
  assert_true(tparse_ok("2024-03-01T00:00:00Z") - tparse_ok("2024-02-29T00:00:00Z") ==
              INT64_C(86400) * 1000000000);
  assert_true(tparse_ok("2023-03-01T00:00:00Z") - tparse_ok("2023-02-28T00:00:00Z") ==
              INT64_C(86400) * 1000000000);
}

static void test_time_field_ranges(void **state)
{
  (void)state;
  tparse_fail("2026-04-31T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2026-04-31T00:00:00Z\" is not a valid date (April has 30 days)");
  tparse_fail("2026-13-01T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2026-13-01T00:00:00Z\" is not a valid date (month 13; months are "
              "01-12)");
  tparse_fail("2026-00-10T00:00:00Z", FLEET_ERANGE, NULL);
  tparse_fail("2026-01-00T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2026-01-00T00:00:00Z\" is not a valid date (day 00; days start at 01)");
  tparse_fail("2026-01-32T00:00:00Z", FLEET_ERANGE,
              "timestamp \"2026-01-32T00:00:00Z\" is not a valid date (January has 31 days)");
  tparse_fail("2026-01-01T24:00:00Z", FLEET_ERANGE,
              "timestamp \"2026-01-01T24:00:00Z\" is not a valid time (hour 24; hours are "
              "00-23)");
  tparse_fail("2026-01-01T23:60:00Z", FLEET_ERANGE, NULL);
  tparse_fail("2026-12-31T23:59:60Z", FLEET_ERANGE,
              "timestamp \"2026-12-31T23:59:60Z\" has a leap second (:60), which is not "
              "supported");
  tparse_fail("2026-12-31T23:59:61Z", FLEET_ERANGE,
              "timestamp \"2026-12-31T23:59:61Z\" is not a valid time (second 61; seconds are "
              "00-59)");
  assert_true(tparse_ok("2026-12-31T23:59:59.999999999Z") + 1 ==
              tparse_ok("2027-01-01T00:00:00Z"));
}

static void test_time_year_bounds(void **state)
{
  (void)state;
  assert_true(tparse_ok("1677-09-21T00:12:43.145224192Z") == INT64_MIN);
  assert_true(tparse_ok("2262-04-11T23:47:16.854775807Z") == INT64_MAX);
  assert_true(tparse_ok("2262-04-12T01:47:16.854775807+02:00") == INT64_MAX);
  assert_true(tparse_ok("1678-01-01T00:00:00Z") == INT64_C(-9214560000) * 1000000000);
  assert_true(tparse_ok("2261-12-31T23:59:59Z") == INT64_C(9214646399) * 1000000000);
  tparse_fail("1677-09-21T00:12:43.145224191Z", FLEET_ERANGE,
              "timestamp \"1677-09-21T00:12:43.145224191Z\" is outside the int64 nanosecond "
              "range (1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z)");
  tparse_fail("2262-04-11T23:47:16.854775808Z", FLEET_ERANGE, NULL);
  tparse_fail("2262-04-11T23:47:16.854775807-00:01", FLEET_ERANGE, NULL);
  tparse_fail("0001-01-01T00:00:00Z", FLEET_ERANGE, NULL);
  tparse_fail("0000-01-01T00:00:00Z", FLEET_ERANGE, NULL);
  tparse_fail("9999-12-31T23:59:59Z", FLEET_ERANGE, NULL);
}

static void test_time_negative(void **state)
{
  (void)state;
  assert_true(tparse_ok("1969-12-31T23:59:59.999999999Z") == -1);
  assert_true(tparse_ok("1969-12-31T23:59:59Z") == -1000000000);
  assert_true(tparse_ok("1900-01-01T00:00:00Z") == INT64_C(-2208988800) * 1000000000);
  assert_true(tparse_ok("1970-01-01T01:00:00+02:00") == INT64_C(-3600) * 1000000000);
}

static void test_time_bad_syntax(void **state)
{
  (void)state;
  tparse_fail("", FLEET_EPARSE,
              "timestamp \"\" is not an RFC 3339 timestamp: it ends where a digit is expected "
              "(offset 0)");
  tparse_fail("2026-05-21", FLEET_EPARSE,
              "timestamp \"2026-05-21\" is not an RFC 3339 timestamp: it ends where 'T', 't' or "
              "' ' is expected (offset 10)");
  tparse_fail("2026-5-21T10:30:00Z", FLEET_EPARSE,
              "timestamp \"2026-5-21T10:30:00Z\" is not an RFC 3339 timestamp: expected a digit "
              "at offset 6");
  tparse_fail("2026-05-21X10:30:00Z", FLEET_EPARSE,
              "timestamp \"2026-05-21X10:30:00Z\" is not an RFC 3339 timestamp: expected 'T', "
              "'t' or ' ' at offset 10");
  tparse_fail("2026/05/21T10:30:00Z", FLEET_EPARSE,
              "timestamp \"2026/05/21T10:30:00Z\" is not an RFC 3339 timestamp: expected '-' at "
              "offset 4");
  tparse_fail("2026-05-21T10.30:00Z", FLEET_EPARSE,
              "timestamp \"2026-05-21T10.30:00Z\" is not an RFC 3339 timestamp: expected ':' at "
              "offset 13");
  tparse_fail("2026-05-21T10:30Z", FLEET_EPARSE, NULL);
  tparse_fail("2026-05-21T10:30:00", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00\" is not an RFC 3339 timestamp: expected 'Z' or an "
              "offset like +02:00 at offset 19");
  tparse_fail("2026-05-21T10:30:00+0200", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00+0200\" is not an RFC 3339 timestamp: expected ':' "
              "of the offset at offset 22");
  tparse_fail("2026-05-21T10:30:00+02", FLEET_EPARSE, NULL);
  tparse_fail("2026-05-21T10:30:00Z ", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00Z \" is not an RFC 3339 timestamp: unexpected text "
              "at offset 20");
  tparse_fail(" 2026-05-21T10:30:00Z", FLEET_EPARSE, NULL);
  tparse_fail("+2026-05-21T10:30:00Z", FLEET_EPARSE, NULL);
  tparse_fail("2026-05-21TT10:30:00Z", FLEET_EPARSE, NULL);
  tparse_fail("2026-05-21T10:30:00ZZ", FLEET_EPARSE, NULL);
  tparse_fail("20260521T103000Z", FLEET_EPARSE, NULL);
  tparse_fail("2026-05-21T10:30:00\xc2\xa0Z", FLEET_EPARSE,
              "timestamp \"2026-05-21T10:30:00\\xc2\\xa0Z\" is not an RFC 3339 timestamp: "
              "expected 'Z' or an offset like +02:00 at offset 19");
  /* Embedded NUL inside the given length. */
  int64_t ns = 42;
  assert_int_equal(fleet_time_parse(&ns, "2026-05-21T10:30:00\0Z", 21), FLEET_EPARSE);
  assert_int_equal(fleet_time_parse(NULL, "x", 1), FLEET_EINVAL);
  assert_int_equal(fleet_time_parse(&ns, NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_time_parse(&ns, NULL, 0), FLEET_EPARSE);
}

static void tformat_is(int64_t ns, const char *want)
{
  char out[FLEET_TIME_STRLEN];
  int n = fleet_time_format(out, ns);
  assert_int_equal(n, (int)strlen(want));
  assert_string_equal(out, want);
}

static void test_time_format(void **state)
{
  (void)state;
  tformat_is(0, "1970-01-01T00:00:00Z");
  tformat_is(SAMPLE_NS, "2026-05-21T10:30:00Z");
  tformat_is(SAMPLE_NS + 123000000, "2026-05-21T10:30:00.123Z");
  tformat_is(SAMPLE_NS + 100000000, "2026-05-21T10:30:00.100Z");
  tformat_is(SAMPLE_NS + 123456000, "2026-05-21T10:30:00.123456Z");
  tformat_is(SAMPLE_NS + 123456789, "2026-05-21T10:30:00.123456789Z");
  tformat_is(SAMPLE_NS + 1000, "2026-05-21T10:30:00.000001Z");
  tformat_is(SAMPLE_NS + 1, "2026-05-21T10:30:00.000000001Z");
  tformat_is(INT64_C(1709208000) * 1000000000, "2024-02-29T12:00:00Z");
  tformat_is(-1, "1969-12-31T23:59:59.999999999Z");
  tformat_is(-1000000000, "1969-12-31T23:59:59Z");
  tformat_is(-1000000, "1969-12-31T23:59:59.999Z");
  tformat_is(INT64_C(-2208988800) * 1000000000, "1900-01-01T00:00:00Z");
  tformat_is(INT64_MIN, "1677-09-21T00:12:43.145224192Z");
  tformat_is(INT64_MAX, "2262-04-11T23:47:16.854775807Z");
  assert_int_equal(fleet_time_format(NULL, 0), FLEET_EINVAL);
}

static void test_time_roundtrip_random(void **state)
{
  (void)state;
  uint64_t x = 0x243F6A8885A308D3u;
  char out[FLEET_TIME_STRLEN];
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t ns;
    memcpy(&ns, &x, sizeof ns);
    /* Mix whole seconds and milliseconds in, so every fraction width shows up. */
    if (i % 3 == 1)
      ns -= ns % 1000000000;
    else if (i % 3 == 2)
      ns -= ns % 1000000;
    int n = fleet_time_format(out, ns);
    assert_true(n >= 20 && n < FLEET_TIME_STRLEN);
    int64_t back;
    if (fleet_time_parse(&back, out, (size_t)n) != 0 || back != ns)
      fail_msg("%lld -> %s -> %s", (long long)ns, out, fleet_error_last());
  }
}

/* ------------------------------------------------------------------------ */
/* Encoding and round trips                                                 */

static void encode_ok(fleet_buf_t *buf, const fleet_telemetry_t *r,
                      const fleet_telemetry_json_opts_t *opts)
{
  int rc = fleet_telemetry_encode_json(buf, r, opts);
  if (rc)
    fail_msg("encode: %s", fleet_error_last());
}

static void test_encode_sample_text(void **state)
{
  (void)state;
  assert_int_equal(parse(SAMPLE), 0);
  fleet_buf_t buf = FLEET_BUF_INIT;
  encode_ok(&buf, &rec, NULL);
  assert_string_equal(buf.ptr,
                      "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125,"
                      "\"speed\":45.2,\"heading\":180,\"ignition\":true,\"odometer\":123456.7,"
                      "\"battery_v\":12.4,\"engine_temp\":88.5,\"fuel_level\":63}");
  fleet_buf_dispose(&buf);
}

static void test_encode_ids_extras_text(void **state)
{
  (void)state;
  fleet_telemetry_t r;
  assert_int_equal(fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION), 0);
  strcpy(r.vehicle_id, "v-001");
  r.ts_ns = -1;
  r.lat = -0.5;
  r.lng = 1e-7;
  r.present = FLEET_TELEMETRY_DRIVER_ID | FLEET_TELEMETRY_IGNITION;
  r.ignition = 0;
  strcpy(r.driver_id, "O\"Brien\\x \xc3\xa9");
  r.n_extras = 2;
  strcpy(r.extras[0].name, "rpm");
  r.extras[0].type = FLEET_EXTRA_NUMBER;
  r.extras[0].value = 2100;
  strcpy(r.extras[1].name, "abs");
  r.extras[1].type = FLEET_EXTRA_BOOL;
  r.extras[1].value = 1;
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&buf, "prefix|", 7), 0);
  encode_ok(&buf, &r, NULL);
  assert_string_equal(buf.ptr,
                      "prefix|{\"v\":1,\"vehicle_id\":\"v-001\",\"ts\":\"1969-12-31T23:59:59."
                      "999999999Z\",\"lat\":-0.5,\"lng\":0.0000001,\"ignition\":false,"
                      "\"driver_id\":\"O\\\"Brien\\\\x \xc3\xa9\",\"rpm\":2100,\"abs\":true}");
  fleet_buf_clear(&buf);
  fleet_telemetry_json_opts_t opts;
  assert_int_equal(fleet_telemetry_json_opts_init(&opts, FLEET_TELEMETRY_JSON_OPTS_VERSION), 0);
  assert_int_equal(opts.include_vehicle_id, 1);
  opts.include_vehicle_id = 0;
  encode_ok(&buf, &r, &opts);
  assert_null(strstr(buf.ptr, "vehicle_id"));
  /* What was written parses back to the same record (minus the id we left out). */
  fleet_telemetry_t back = FLEET_TELEMETRY_INIT;
  assert_int_equal(fleet_telemetry_parse(&back, NULL, buf.ptr, buf.len), 0);
  r.vehicle_id[0] = '\0';
  char why[32];
  if (!fleet_telemetry__equal(&r, &back, why, sizeof why))
    fail_msg("differs in %s", why);
  fleet_buf_dispose(&buf);
}

static void test_encode_rejects_invalid_record(void **state)
{
  (void)state;
  fleet_telemetry_t r = FLEET_TELEMETRY_INIT;
  r.lat = 91;
  fleet_buf_t buf = FLEET_BUF_INIT;
  assert_int_equal(fleet_buf_append(&buf, "keep", 4), 0);
  assert_int_equal(fleet_telemetry_encode_json(&buf, &r, NULL), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "cannot encode an invalid record: lat: 91 is outside [-90, 90]");
  assert_int_equal(buf.len, 4);
  assert_string_equal(buf.ptr, "keep");
  assert_int_equal(fleet_telemetry_encode_json(NULL, &r, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_telemetry_encode_json(&buf, NULL, NULL), FLEET_EINVAL);
  r.lat = 0;
  fleet_telemetry_json_opts_t opts = {2, 1};
  assert_int_equal(fleet_telemetry_encode_json(&buf, &r, &opts), FLEET_EINVAL);
  assert_string_equal(buf.ptr, "keep");
  fleet_buf_dispose(&buf);
}

static void roundtrip_check(const fleet_telemetry_t *r)
{
  fleet_buf_t buf = FLEET_BUF_INIT;
  encode_ok(&buf, r, NULL);
  assert_true(buf.len <= FLEET_TELEMETRY_MAX_BYTES);
  fleet_telemetry_t back = FLEET_TELEMETRY_INIT;
  fleet_telemetry_warnings_t w;
  if (fleet_telemetry_parse(&back, &w, buf.ptr, buf.len) != 0)
    fail_msg("%s does not parse: %s", buf.ptr, fleet_error_last());
  assert_int_equal(w.count, 0);
  char why[32];
  if (!fleet_telemetry__equal(r, &back, why, sizeof why))
    fail_msg("%s differs in %s", buf.ptr, why);
  fleet_buf_dispose(&buf);
}

static void test_roundtrip_parsed_full_record(void **state)
{
  (void)state;
  assert_int_equal(parse("{\"v\":1,\"vehicle_id\":\"bus_42\",\"ts\":\"2026-05-21T12:30:00.123456+02:00\","
                         "\"lat\":-33.865143,\"lng\":151.2099,\"speed\":0.1,\"heading\":359.99,"
                         "\"ignition\":false,\"odometer\":0.30000000000000004,\"battery_v\":12.0,"
                         "\"engine_temp\":-12.25,\"fuel_level\":99.99,\"driver_id\":\"d-7\","
                         "\"rpm\":2100,\"tpms_fl\":2.45e-1,\"door\":true,\"brake\":false,"
                         "\"tiny\":5e-324,\"huge\":1.7976931348623157e308,\"neg0\":-0.0}"),
                   0);
  assert_int_equal(warns.count, 0);
  assert_int_equal(rec.n_extras, 7);
  roundtrip_check(&rec);
  /* Negative zero keeps its sign through JSON. */
  fleet_buf_t buf = FLEET_BUF_INIT;
  encode_ok(&buf, &rec, NULL);
  assert_non_null(strstr(buf.ptr, ",\"neg0\":-0.0}"));
  fleet_telemetry_t back = FLEET_TELEMETRY_INIT;
  assert_int_equal(fleet_telemetry_parse(&back, NULL, buf.ptr, buf.len), 0);
  assert_true(signbit(back.extras[6].value));
  fleet_buf_dispose(&buf);
}

static void test_roundtrip_random_records(void **state)
{
  (void)state;
  uint64_t x = 0x9E3779B97F4A7C15u;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
#define UNIT() ((double)(NEXT() >> 11) / 9007199254740992.0)
  for (int i = 0; i < 20000; i++) {
    fleet_telemetry_t r;
    assert_int_equal(fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION), 0);
    int64_t ns;
    uint64_t bits = NEXT();
    memcpy(&ns, &bits, sizeof ns);
    r.ts_ns = ns;
    r.lat = UNIT() * 180 - 90;
    r.lng = i % 2 ? UNIT() * 360 - 180 : round((UNIT() * 360 - 180) * 1e5) / 1e5;
    r.present = (unsigned int)(NEXT() & 0xff);
    r.speed_kmh = UNIT() * 250;
    r.heading_deg = UNIT() * 359.9;
    r.ignition = (int)(NEXT() & 1);
    r.odometer_km = UNIT() * 1e7;
    r.battery_v = UNIT() * 30;
    r.engine_temp_c = UNIT() * 310 - 60;
    r.fuel_level_pct = round(UNIT() * 1000) / 10;
    snprintf(r.driver_id, sizeof r.driver_id, "drv-%llu", (unsigned long long)(NEXT() % 100000));
    if (i % 4 == 0)
      snprintf(r.vehicle_id, sizeof r.vehicle_id, "v-%03d", i % 1000);
    r.n_extras = (unsigned int)(NEXT() % (FLEET_TELEMETRY_MAX_EXTRAS + 1));
    for (unsigned int k = 0; k < r.n_extras; k++) {
      snprintf(r.extras[k].name, sizeof r.extras[k].name, "can_%u", k);
      if (NEXT() & 1) {
        r.extras[k].type = FLEET_EXTRA_BOOL;
        r.extras[k].value = (double)(NEXT() & 1);
      } else {
        uint64_t vb = NEXT();
        double v;
        memcpy(&v, &vb, sizeof v);
        r.extras[k].type = FLEET_EXTRA_NUMBER;
        r.extras[k].value = isfinite(v) ? v : UNIT();
      }
    }
    roundtrip_check(&r);
  }
#undef NEXT
#undef UNIT
}

/* ------------------------------------------------------------------------ */
/* Validation of records built in code                                      */

static fleet_telemetry_t valid_record(void)
{
  fleet_telemetry_t r;
  fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION);
  strcpy(r.vehicle_id, "v-001");
  r.ts_ns = SAMPLE_NS;
  r.lat = 23.8103;
  r.lng = 90.4125;
  r.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_DRIVER_ID | FLEET_TELEMETRY_IGNITION;
  r.speed_kmh = 45.2;
  r.ignition = 1;
  strcpy(r.driver_id, "d1");
  r.n_extras = 1;
  strcpy(r.extras[0].name, "rpm");
  r.extras[0].type = FLEET_EXTRA_NUMBER;
  r.extras[0].value = 2100;
  return r;
}

static void expect_invalid(const fleet_telemetry_t *r, int code, const char *msg)
{
  int rc = fleet_telemetry_validate(r);
  if (rc != code)
    fail_msg("got %d (%s), want %d", rc, fleet_error_last(), code);
  assert_string_equal(fleet_error_last(), msg);
}

static void test_validate(void **state)
{
  (void)state;
  fleet_telemetry_t r = valid_record();
  assert_int_equal(fleet_telemetry_validate(&r), 0);
  assert_int_equal(fleet_telemetry_validate(NULL), FLEET_EINVAL);

  r = valid_record();
  r.version = 2;
  expect_invalid(&r, FLEET_EVERSION, "telemetry record version 2 is not supported (1 is)");
  r = valid_record();
  r.lat = NAN;
  expect_invalid(&r, FLEET_ERANGE, "lat: NaN is not a finite number");
  r = valid_record();
  r.lng = -INFINITY;
  expect_invalid(&r, FLEET_ERANGE, "lng: -inf is not a finite number");
  r = valid_record();
  r.lng = 200;
  expect_invalid(&r, FLEET_ERANGE, "lng: 200 is outside [-180, 180]");
  r = valid_record();
  r.speed_kmh = -1;
  expect_invalid(&r, FLEET_ERANGE, "speed: -1 is negative");
  r.present &= ~(unsigned int)FLEET_TELEMETRY_SPEED; /* absent fields are not judged */
  assert_int_equal(fleet_telemetry_validate(&r), 0);
  r = valid_record();
  r.present |= FLEET_TELEMETRY_HEADING;
  r.heading_deg = 360;
  expect_invalid(&r, FLEET_ERANGE, "heading: 360 is outside [0, 360)");
  r = valid_record();
  r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
  r.fuel_level_pct = NAN;
  expect_invalid(&r, FLEET_ERANGE, "fuel_level: NaN is not a finite number");
  r = valid_record();
  r.ignition = 2;
  expect_invalid(&r, FLEET_ERANGE, "ignition: 2 is not 0 or 1");
  r = valid_record();
  r.present |= 1u << 9;
  expect_invalid(&r, FLEET_EINVAL, "present: unknown bits 0x200");
  r = valid_record();
  strcpy(r.vehicle_id, "v/1");
  expect_invalid(&r, FLEET_EINVAL,
                 "vehicle_id: \"v/1\" has '/' at offset 1 (only A-Z a-z 0-9 . _ - are allowed)");
  r = valid_record();
  memset(r.vehicle_id, 'a', sizeof r.vehicle_id);
  expect_invalid(&r, FLEET_EINVAL, "vehicle_id: not NUL-terminated");
  r = valid_record();
  strcpy(r.driver_id, "a\tb");
  expect_invalid(&r, FLEET_EINVAL, "driver_id: \"a\\x09b\" has control character 0x09 at offset 1");
  r = valid_record();
  strcpy(r.driver_id, "\xc3(");
  expect_invalid(&r, FLEET_EINVAL, "driver_id: \"\\xc3(\" is not valid UTF-8 at offset 0");
  r = valid_record();
  r.driver_id[0] = '\0';
  expect_invalid(&r, FLEET_EINVAL, "driver_id: \"\" is empty");
  r = valid_record();
  r.present &= ~(unsigned int)FLEET_TELEMETRY_DRIVER_ID;
  r.driver_id[0] = '\0';
  assert_int_equal(fleet_telemetry_validate(&r), 0);
}

static void test_validate_extras(void **state)
{
  (void)state;
  fleet_telemetry_t r = valid_record();
  strcpy(r.extras[0].name, "lat");
  expect_invalid(&r, FLEET_EINVAL, "extra field \"lat\": the name is a standard field's");
  r = valid_record();
  strcpy(r.extras[0].name, "time");
  expect_invalid(&r, FLEET_EINVAL, "extra field \"time\": the name is a reserved line-protocol key");
  r = valid_record();
  strcpy(r.extras[0].name, "r p m");
  expect_invalid(&r, FLEET_EINVAL,
                 "extra field \"r p m\": the name has ' ' at offset 1 (only A-Z a-z 0-9 _)");
  r = valid_record();
  r.n_extras = 2;
  r.extras[1] = r.extras[0];
  expect_invalid(&r, FLEET_EINVAL, "extra field \"rpm\": the name is used twice");
  r = valid_record();
  r.extras[0].value = INFINITY;
  expect_invalid(&r, FLEET_ERANGE, "extra field \"rpm\": inf is not a finite number");
  r = valid_record();
  r.extras[0].type = FLEET_EXTRA_BOOL;
  r.extras[0].value = 0.5;
  expect_invalid(&r, FLEET_ERANGE, "extra field \"rpm\": boolean value 0.5 is not 0 or 1");
  r = valid_record();
  r.extras[0].type = (fleet_extra_type_t)7;
  expect_invalid(&r, FLEET_ETYPE, "extra field \"rpm\": unknown type 7");
  r = valid_record();
  r.n_extras = FLEET_TELEMETRY_MAX_EXTRAS + 1;
  expect_invalid(&r, FLEET_ETOOBIG, "n_extras: 17 is more than 16");
  r = valid_record();
  memset(r.extras[0].name, 'a', sizeof r.extras[0].name);
  expect_invalid(&r, FLEET_EINVAL, "extras[0]: name is not NUL-terminated");
}

static void test_init(void **state)
{
  (void)state;
  fleet_telemetry_t r;
  memset(&r, 0xff, sizeof r);
  assert_int_equal(fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION), 0);
  assert_int_equal(r.version, FLEET_TELEMETRY_VERSION);
  assert_int_equal(r.present, 0);
  assert_int_equal(r.n_extras, 0);
  assert_string_equal(r.vehicle_id, "");
  assert_int_equal(fleet_telemetry_init(NULL, FLEET_TELEMETRY_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_telemetry_init(&r, 2), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "telemetry record version 2 is not supported (1 is)");
  assert_int_equal(fleet_telemetry_json_opts_init(NULL, 1), FLEET_EINVAL);
  fleet_telemetry_json_opts_t o;
  assert_int_equal(fleet_telemetry_json_opts_init(&o, 9), FLEET_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Vehicle ids and topics                                                   */

static void test_vehicle_id_validate(void **state)
{
  (void)state;
  char id[80];
  memset(id, 'a', sizeof id);
  assert_int_equal(fleet_vehicle_id_validate("v-001", 5), 0);
  assert_int_equal(fleet_vehicle_id_validate("AZaz09._-", 9), 0);
  assert_int_equal(fleet_vehicle_id_validate(id, 64), 0);
  assert_int_equal(fleet_vehicle_id_validate(id, 65), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "vehicle id \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... is 65 bytes, "
                      "longer than 64");
  assert_int_equal(fleet_vehicle_id_validate("", 0), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "vehicle id \"\" is empty");
  assert_int_equal(fleet_vehicle_id_validate("a b", 3), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "vehicle id \"a b\" has ' ' at offset 1 (only A-Z a-z 0-9 . _ - are allowed)");
  assert_int_equal(fleet_vehicle_id_validate("a/b", 3), FLEET_EINVAL);
  assert_int_equal(fleet_vehicle_id_validate("a+", 2), FLEET_EINVAL);
  assert_int_equal(fleet_vehicle_id_validate("#", 1), FLEET_EINVAL);
  assert_int_equal(fleet_vehicle_id_validate("\xc3\xa4", 2), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "vehicle id \"\\xc3\\xa4\" has byte 0xc3 at offset 0 (only A-Z a-z 0-9 . _ - "
                      "are allowed)");
  assert_int_equal(fleet_vehicle_id_validate("ab'", 3), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(),
                      "vehicle id \"ab'\" has byte 0x27 at offset 2 (only A-Z a-z 0-9 . _ - are "
                      "allowed)");
  /* Only `len` bytes count: not NUL-terminated, or with a NUL inside. */
  assert_int_equal(fleet_vehicle_id_validate("v-001 junk", 5), 0);
  assert_int_equal(fleet_vehicle_id_validate("v\0x", 3), FLEET_EINVAL);
  assert_int_equal(fleet_vehicle_id_validate(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_vehicle_id_validate(NULL, 0), FLEET_EINVAL);
}

static void expect_topic_fail(const char *topic, const char *kind, int code, const char *msg)
{
  char out[FLEET_VEHICLE_ID_MAX + 1] = "untouched";
  int rc = fleet_topic_vehicle_id(out, topic, kind);
  if (rc != code)
    fail_msg("%s: got %d (%s), want %d", topic, rc, fleet_error_last(), code);
  assert_string_equal(out, "untouched");
  if (msg)
    assert_string_equal(fleet_error_last(), msg);
}

static void test_topic_vehicle_id(void **state)
{
  (void)state;
  char out[FLEET_VEHICLE_ID_MAX + 1];
  assert_int_equal(fleet_topic_vehicle_id(out, "fleet/v-001/telemetry", "telemetry"), 0);
  assert_string_equal(out, "v-001");
  assert_int_equal(fleet_topic_vehicle_id(out, "fleet/bus.7/status", NULL), 0);
  assert_string_equal(out, "bus.7");
  char topic[128], id[80];
  memset(id, 'x', 64);
  id[64] = '\0';
  snprintf(topic, sizeof topic, "fleet/%s/alerts", id);
  assert_int_equal(fleet_topic_vehicle_id(out, topic, "alerts"), 0);
  assert_string_equal(out, id);

  expect_topic_fail("fleet/v-001/status", "telemetry", FLEET_EPARSE,
                    "topic \"fleet/v-001/status\": kind \"status\" is not \"telemetry\"");
  expect_topic_fail("fleet/v-001", NULL, FLEET_EPARSE,
                    "topic \"fleet/v-001\" is not of the form fleet/{vehicle_id}/{kind}");
  expect_topic_fail("fleet/v-001/", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("fleet/a/b/telemetry", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("other/v-001/telemetry", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("fleet/", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("/fleet/v/telemetry", NULL, FLEET_EPARSE, NULL);
  expect_topic_fail("fleet//telemetry", "telemetry", FLEET_EINVAL,
                    "topic \"fleet//telemetry\": vehicle id \"\" is empty");
  expect_topic_fail("fleet/+/telemetry", "telemetry", FLEET_EINVAL,
                    "topic \"fleet/+/telemetry\": vehicle id \"+\" has '+' at offset 0 (only A-Z "
                    "a-z 0-9 . _ - are allowed)");
  expect_topic_fail("fleet/a b/telemetry", NULL, FLEET_EINVAL, NULL);
  id[64] = 'x';
  id[65] = '\0';
  snprintf(topic, sizeof topic, "fleet/%s/alerts", id);
  expect_topic_fail(topic, "alerts", FLEET_EINVAL, NULL);
  assert_non_null(strstr(fleet_error_last(), "is 65 bytes, longer than 64"));
  assert_int_equal(fleet_topic_vehicle_id(NULL, "fleet/a/b", NULL), FLEET_EINVAL);
  assert_int_equal(fleet_topic_vehicle_id(out, NULL, NULL), FLEET_EINVAL);
}

static void test_quote_helper(void **state)
{
  (void)state;
  char q[16];
  assert_string_equal(fleet_telemetry__quote(q, sizeof q, "ab\"\\\n", 5, 40), "\"ab\\\"\\\\\\x0a\"");
  assert_string_equal(fleet_telemetry__quote(q, sizeof q, "abcdefgh", 8, 3), "\"abc\"...");
  /* A tiny buffer is never overrun and always terminated. */
  char t[4];
  fleet_telemetry__quote(t, sizeof t, "abcdefgh", 8, 40);
  assert_true(strlen(t) < sizeof t);
}

/* ------------------------------------------------------------------------ */
/* Real vehicle traces                                                      */

static void test_real_traces(void **state)
{
  (void)state;
  const char *dir = FLEET_SHARED_DATA_DIR "/real-traces";
  DIR *d = opendir(dir);
  if (!d) {
    print_message("skipping: %s is absent\n", dir);
    skip();
  }
  unsigned long files = 0, lines = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 6, ".jsonl") != 0)
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    files++;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int64_t prev_ts = INT64_MIN;
    while ((len = getline(&line, &cap, f)) > 0) {
      lineno++;
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
      if (len == 0)
        continue;
      if (parse_len(line, (size_t)len) != 0)
        fail_msg("%s:%lu: %s", e->d_name, lineno, fleet_error_last());
      if (warns.count)
        fail_msg("%s:%lu: warning %s", e->d_name, lineno, warns.msg[0]);
      assert_true(rec.vehicle_id[0] != '\0');
      assert_true(rec.ts_ns >= prev_ts);
      prev_ts = rec.ts_ns;
      roundtrip_check(&rec);
      lines++;
    }
    free(line);
    fclose(f);
  }
  closedir(d);
  print_message("parsed %lu lines from %lu trace files\n", lines, files);
  assert_true(files > 0);
  assert_true(lines > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_full_sample),
    cmocka_unit_test(test_parse_minimal),
    cmocka_unit_test(test_parse_not_nul_terminated),
    cmocka_unit_test(test_parse_optional_edges),
    cmocka_unit_test(test_parse_null_optional_is_absent),
    cmocka_unit_test(test_parse_ids),
    cmocka_unit_test(test_parse_extras),
    cmocka_unit_test(test_parse_big_integer_extra_kept),
    cmocka_unit_test(test_parse_depth_within_limit),
    cmocka_unit_test(test_reject_null_arguments),
    cmocka_unit_test(test_reject_not_object),
    cmocka_unit_test(test_reject_invalid_json),
    cmocka_unit_test(test_reject_invalid_utf8),
    cmocka_unit_test(test_reject_nul),
    cmocka_unit_test(test_reject_too_deep),
    cmocka_unit_test(test_size_boundary),
    cmocka_unit_test(test_reject_duplicate_keys),
    cmocka_unit_test(test_reject_missing_required),
    cmocka_unit_test(test_reject_version),
    cmocka_unit_test(test_reject_version_type),
    cmocka_unit_test(test_reject_ts_type),
    cmocka_unit_test(test_reject_ts_invalid_date),
    cmocka_unit_test(test_reject_position_range),
    cmocka_unit_test(test_reject_position_non_finite),
    cmocka_unit_test(test_reject_position_type),
    cmocka_unit_test(test_reject_too_many_overflows),
    cmocka_unit_test(test_warn_speed_negative),
    cmocka_unit_test(test_warn_speed_string),
    cmocka_unit_test(test_warn_speed_non_finite),
    cmocka_unit_test(test_warn_heading_range),
    cmocka_unit_test(test_warn_ignition_type),
    cmocka_unit_test(test_warn_odometer_negative),
    cmocka_unit_test(test_warn_battery_negative),
    cmocka_unit_test(test_warn_engine_temp_range),
    cmocka_unit_test(test_warn_fuel_level_range),
    cmocka_unit_test(test_warn_number_field_wrong_types),
    cmocka_unit_test(test_warn_driver_id_empty),
    cmocka_unit_test(test_warn_driver_id_too_long),
    cmocka_unit_test(test_warn_driver_id_control),
    cmocka_unit_test(test_warn_driver_id_type),
    cmocka_unit_test(test_warn_vehicle_id),
    cmocka_unit_test(test_warn_extra_bad_name),
    cmocka_unit_test(test_warn_extra_name_too_long),
    cmocka_unit_test(test_warn_extra_reserved_name),
    cmocka_unit_test(test_warn_extra_non_finite),
    cmocka_unit_test(test_warn_too_many_extras),
    cmocka_unit_test(test_warn_unknown_string_array_object),
    cmocka_unit_test(test_warn_nested_overflow_dropped),
    cmocka_unit_test(test_warnings_fit),
    cmocka_unit_test(test_warnings_overflow_counted),
    cmocka_unit_test(test_time_basic),
    cmocka_unit_test(test_time_offsets),
    cmocka_unit_test(test_time_fractions),
    cmocka_unit_test(test_time_leap_days),
    cmocka_unit_test(test_time_field_ranges),
    cmocka_unit_test(test_time_year_bounds),
    cmocka_unit_test(test_time_negative),
    cmocka_unit_test(test_time_bad_syntax),
    cmocka_unit_test(test_time_format),
    cmocka_unit_test(test_time_roundtrip_random),
    cmocka_unit_test(test_encode_sample_text),
    cmocka_unit_test(test_encode_ids_extras_text),
    cmocka_unit_test(test_encode_rejects_invalid_record),
    cmocka_unit_test(test_roundtrip_parsed_full_record),
    cmocka_unit_test(test_roundtrip_random_records),
    cmocka_unit_test(test_validate),
    cmocka_unit_test(test_validate_extras),
    cmocka_unit_test(test_init),
    cmocka_unit_test(test_vehicle_id_validate),
    cmocka_unit_test(test_topic_vehicle_id),
    cmocka_unit_test(test_quote_helper),
    cmocka_unit_test(test_real_traces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
