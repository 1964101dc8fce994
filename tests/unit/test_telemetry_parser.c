/* Unit tests for the edge cases of the single-pass telemetry payload parser:
 * number conversion around its exact fast path, string escapes and
 * surrogates, UTF-8 checking, nesting in extras, duplicate keys, JSON syntax
 * it must refuse as jansson does, and payloads that are not NUL-terminated. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common_int.h"
#include "fleet/telemetry.h"

/* Required fields only; tests append members before the closing brace. */
#define BASE "{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":23.8103,\"lng\":90.4125"

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

static void expect_ok(const char *json)
{
  int rc = parse(json);
  if (rc != 0)
    fail_msg("payload %.100s rejected: %s", json, fleet_error_last());
}

static void expect_reject(const char *json, int code, const char *msg)
{
  int rc = parse(json);
  if (rc != code)
    fail_msg("payload %.100s: got %d (%s), want %d", json, rc, fleet_error_last(), code);
  assert_string_equal(fleet_error_last(), msg);
}

static void expect_reject_prefix(const char *json, int code, const char *prefix)
{
  int rc = parse(json);
  if (rc != code)
    fail_msg("payload %.100s: got %d (%s), want %d", json, rc, fleet_error_last(), code);
  if (strncmp(fleet_error_last(), prefix, strlen(prefix)) != 0)
    fail_msg("message \"%s\" does not start with \"%s\"", fleet_error_last(), prefix);
}

static bool same_bits(double a, double b)
{
  return memcmp(&a, &b, sizeof a) == 0;
}

/* The value the parser gives `token` as the payload's only extra field. */
static double extra_value(const char *token)
{
  char json[512];
  snprintf(json, sizeof json, BASE ",\"x\":%s}", token);
  expect_ok(json);
  if (rec.n_extras != 1)
    fail_msg("%s: %u extras (%s)", token, rec.n_extras, warns.count ? warns.msg[0] : "");
  return rec.extras[0].value;
}

static void expect_number(const char *token, double want)
{
  double got = extra_value(token);
  if (!same_bits(got, want))
    fail_msg("%s parsed as %a, want %a", token, got, want);
}

/* Decimals the fast path takes (mantissa <= 2^53, |power of ten| <= 22) and
 * the ones next to its limits, which strtod() settles. Expected values are
 * C literals: the compiler rounds them correctly. */
static void test_number_fast_path_boundaries(void **state)
{
  (void)state;
  expect_number("0.1", 0.1);
  expect_number("23.8103", 23.8103);
  expect_number("63.0", 63.0);
  expect_number("1e22", 1e22);
  expect_number("1e23", 1e23); /* 10^23 is not a double: not the fast path */
  expect_number("1e-22", 1e-22);
  expect_number("1e-23", 1e-23);
  expect_number("9007199254740992e22", 9007199254740992e22);
  expect_number("9007199254740992e-22", 9007199254740992e-22);
  expect_number("9007199254740993.0", 9007199254740992.0); /* > 2^53: ties to even */
  expect_number("9007199254740995.0", 9007199254740996.0);
  expect_number("0.30000000000000004", 0.30000000000000004);
  expect_number("3.14159265358979323846264338327950288", 3.141592653589793);
  expect_number("0.000000000000000000000000001", 1e-27);
  expect_number("0.5e0", 0.5);
  expect_number("1E+2", 100.0);
  expect_number("1e-0", 1.0);
  expect_number("123456789012345e-22", 123456789012345e-22);
  expect_number("2.2250738585072011e-308", 2.2250738585072011e-308);
  expect_number("4.9e-324", 4.9406564584124654e-324); /* the smallest denormal */
  expect_number("1e-400", 0.0);                      /* underflow is not an error */
  expect_number("1.7976931348623157e308", DBL_MAX);
  /* A real keeps the sign of zero; an integer -0 is the integer 0. */
  expect_number("-0.0", -0.0);
  expect_number("-0e5", -0.0);
  expect_number("-0", 0.0);
  /* Integers go through int64: exact up to 2^53, then rounded once. */
  expect_number("9007199254740993", 9007199254740992.0);
  expect_number("9223372036854775807", 9223372036854775808.0);
  expect_number("-9223372036854775808", -9223372036854775808.0);
  /* Beyond int64: kept as the double strtod() makes of it. */
  expect_number("9223372036854775808", 9223372036854775808.0);
  expect_number("123456789012345678901234567890", 1.2345678901234568e29);
}

/* Random decimals around the fast path's limits (mantissas up to 2^53 and a
 * little beyond, decimal points anywhere, exponents of either sign): each
 * must parse to exactly the double strtod() makes of it. */
static void test_number_random_vs_strtod(void **state)
{
  (void)state;
  uint64_t x = UINT64_C(0x9e3779b97f4a7c15);
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t r = x;
    uint64_t m = (r >> 8) % ((UINT64_C(1) << 53) + 5000);
    if (r & 1)
      m %= 1000000; /* short mantissas, the common case */
    char digits[32], tok[64];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)m);
    int point = (int)((r >> 2) % (uint64_t)(nd + 1)); /* digits before the '.' */
    int exp = (int)((r >> 12) % 61) - 30;
    bool with_exp = (r >> 20) & 1, neg = (r >> 21) & 1;
    int n = snprintf(tok, sizeof tok, "%s", neg ? "-" : "");
    if (point == nd) {
      n += snprintf(tok + n, sizeof tok - (size_t)n, "%s", digits);
    } else if (point == 0) {
      n += snprintf(tok + n, sizeof tok - (size_t)n, "0.%s", digits);
    } else {
      n += snprintf(tok + n, sizeof tok - (size_t)n, "%.*s.%s", point, digits, digits + point);
    }
    if (with_exp)
      snprintf(tok + n, sizeof tok - (size_t)n, "%s%d", (r >> 22) & 1 ? "e" : "E", exp);
    if (neg && m == 0 && !strpbrk(tok, ".eE"))
      continue; /* the integer -0 is 0, tested above */
    double want = strtod(tok, NULL);
    double got = extra_value(tok);
    if (!same_bits(got, want))
      fail_msg("%s parsed as %a, strtod gives %a", tok, got, want);
  }
}

static void test_number_overflow_fields(void **state)
{
  (void)state;
  expect_ok(BASE ",\"x\":1.8e308}");
  assert_int_equal(rec.n_extras, 0);
  assert_int_equal(warns.count, 1);
  assert_string_equal(warns.msg[0], "extra field \"x\": 1.8e308 is not a finite number; field dropped");
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":-1e999,\"lng\":1}", FLEET_ERANGE,
                "lat: -1e999 is not a finite number");
  expect_reject("{\"v\":18446744073709551617,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":1}",
                FLEET_EVERSION,
                "v: 18446744073709551617 is not a supported payload version (this library reads 1)");
  /* 32 oversized numbers are judged as fields; the 33rd fails the payload
   * with jansson's own message. */
  char json[2048];
  int n = snprintf(json, sizeof json, "%s", BASE);
  for (int i = 0; i < 32; i++)
    n += snprintf(json + n, sizeof json - (size_t)n, ",\"c%d\":99999999999999999999", i);
  snprintf(json + n, sizeof json - (size_t)n, "}");
  expect_ok(json);
  assert_int_equal(rec.n_extras, FLEET_TELEMETRY_MAX_EXTRAS);
  assert_true(same_bits(rec.extras[0].value, 1e20));
  assert_int_equal(warns.count + warns.dropped, 16);
  snprintf(json + n, sizeof json - (size_t)n, ",\"c32\":99999999999999999999}");
  expect_reject_prefix(json, FLEET_EPARSE, "payload: invalid JSON at line 1, column ");
  assert_non_null(strstr(fleet_error_last(), "too big integer"));
}

static void test_number_syntax_rejected(void **state)
{
  (void)state;
  static const char *const bad[] = {"01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN",
                                    "Infinity", "-Infinity", "0x10", "1.5.2", "--1", "1 2"};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad); i++) {
    char json[256];
    snprintf(json, sizeof json, BASE ",\"x\":%s}", bad[i]);
    expect_reject_prefix(json, FLEET_EPARSE, "payload: invalid JSON at line 1, column ");
  }
  expect_reject("{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":01,\"lng\":1}", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 42: invalid token near '0'");
}

static void test_string_escapes(void **state)
{
  (void)state;
  expect_ok(BASE ",\"driver_id\":\"d\\u00e9\\u00C9\\ud83d\\ude00\\\"\\\\\\/x\","
                 "\"vehicle_id\":\"v\\u002d1\",\"r\\u0070m\":5}");
  assert_int_equal(warns.count, 0);
  assert_string_equal(rec.driver_id, "d\xc3\xa9\xc3\x89\xf0\x9f\x98\x80\"\\/x");
  assert_string_equal(rec.vehicle_id, "v-1");
  assert_int_equal(rec.n_extras, 1);
  assert_string_equal(rec.extras[0].name, "rpm");
  /* A decoded control character is the driver id check's business. */
  expect_ok(BASE ",\"driver_id\":\"a\\nb\"}");
  assert_int_equal(warns.count, 1);
  assert_string_equal(warns.msg[0],
                      "driver_id: \"a\\x0ab\" has control character 0x0a at offset 1; field dropped");
  /* Escapes in the required members too. */
  expect_ok("{\"\\u0076\":1,\"ts\":\"2026-05-21T10:30:00\\u005a\",\"l\\u0061t\":1.5,\"lng\":2}");
  assert_true(rec.lat == 1.5);
  assert_true(rec.ts_ns == INT64_C(1779359400) * 1000000000);
  /* Raw UTF-8 is kept as it is. */
  expect_ok(BASE ",\"driver_id\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
  assert_string_equal(rec.driver_id, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

static void test_string_bad_escapes(void **state)
{
  (void)state;
  static const char *const bad[] = {
    "\\ud83d",        /* a lone high surrogate */
    "\\ud83dx",       /* ... followed by a plain character */
    "\\ud83d\\u0041", /* ... followed by a non-surrogate escape */
    "\\ud83d\\ud83d", /* ... followed by another high one */
    "\\ude00",        /* a lone low surrogate */
    "\\u0000",        /* NUL, refused without JSON_ALLOW_NUL */
    "\\u12",          /* too few hex digits */
    "\\u12g4",        /* not hex */
    "\\x41",          /* not a JSON escape */
    "\\",             /* an escape cut by the closing quote */
    "a\tb",           /* a raw control character */
    "a\x1f",
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad); i++) {
    char json[256];
    snprintf(json, sizeof json, BASE ",\"driver_id\":\"%s\"}", bad[i]);
    expect_reject_prefix(json, FLEET_EPARSE, "payload: invalid JSON at line 1, column ");
  }
  expect_reject(BASE ",\"driver_id\":\"\\ud83d\"}", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 83: invalid Unicode '\\uD83D' near "
                "'\"\\ud83d\"'");
  /* In keys too. */
  expect_reject_prefix(BASE ",\"\\ude00\":1}", FLEET_EPARSE, "payload: invalid JSON at line 1, ");
}

static void test_invalid_utf8(void **state)
{
  (void)state;
  static const char *const bad[] = {
    "\xc0\x80",         /* overlong NUL */
    "\xc1\xbf",         /* overlong */
    "\xe0\x80\x80",     /* overlong 3 bytes */
    "\xe0\x9f\xbf",     /* overlong U+07FF */
    "\xed\xa0\x80",     /* a surrogate, U+D800 */
    "\xed\xbf\xbf",     /* U+DFFF */
    "\xf0\x8f\xbf\xbf", /* overlong 4 bytes */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\xf5\x80\x80\x80", /* no such lead byte */
    "\x80",             /* a stray continuation byte */
    "\xe2\x82",         /* cut short */
    "\xe2\x28\xa1",     /* bad continuation */
    "\xff",
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad); i++) {
    char json[256];
    snprintf(json, sizeof json, BASE ",\"driver_id\":\"a%s\"}", bad[i]);
    /* The string's 'a' is at offset 76: jansson names the lead byte at 77. */
    char want[96];
    snprintf(want, sizeof want,
             "payload: invalid UTF-8 at offset 77 (unable to decode byte 0x%02x near '\"a')",
             (unsigned int)(unsigned char)bad[i][0]);
    expect_reject(json, FLEET_EPARSE, want);
  }
  /* The largest code points of each length are fine. */
  expect_ok(BASE ",\"driver_id\":\"\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80\"}");
  assert_int_equal(warns.count, 0);
  assert_string_equal(rec.driver_id, "\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\xee\x80\x80");
  /* Outside a string. */
  expect_reject_prefix(BASE ",\"x\":\xc3\xa9}", FLEET_EPARSE, "payload: invalid JSON at line 1, ");
}

static void test_nesting_in_extras(void **state)
{
  (void)state;
  /* Depth 4 (the payload object is depth 1) is fine; the value is dropped. */
  expect_ok(BASE ",\"n\":{\"a\":[[1,2],{\"b\":null},[]],\"c\":{}},\"rpm\":7}");
  assert_int_equal(rec.n_extras, 1);
  assert_string_equal(rec.extras[0].name, "rpm");
  assert_int_equal(warns.count, 1);
  assert_string_equal(warns.msg[0],
                      "\"n\": only numbers and booleans are kept as extra fields, got an object; "
                      "field dropped");
  expect_ok(BASE ",\"a\":[[[true]]]}");
  assert_string_equal(warns.msg[0],
                      "\"a\": only numbers and booleans are kept as extra fields, got an array; "
                      "field dropped");
  /* Depth 5: over the limit, at the offset of the fifth opener. */
  expect_reject(BASE ",\"a\":[[[[1]]]]}", FLEET_ETOOBIG,
                "payload: nesting deeper than 4 levels at offset 70");
  expect_reject(BASE ",\"a\":{\"b\":{\"c\":{\"d\":{}}}}}", FLEET_ETOOBIG,
                "payload: nesting deeper than 4 levels at offset 82");
  /* Brackets inside strings do not count. */
  expect_ok(BASE ",\"driver_id\":\"[[[[{{{{\",\"a\":[[[\"]]]]\"]]]}");
  assert_string_equal(rec.driver_id, "[[[[{{{{");
  /* A nested value that is not valid JSON still fails the payload. */
  expect_reject_prefix(BASE ",\"a\":[1,]}", FLEET_EPARSE, "payload: invalid JSON at line 1, ");
  expect_reject_prefix(BASE ",\"a\":{\"b\"}}", FLEET_EPARSE, "payload: invalid JSON at line 1, ");
  expect_reject_prefix(BASE ",\"a\":[01]}", FLEET_EPARSE, "payload: invalid JSON at line 1, ");
}

static void test_duplicate_keys(void **state)
{
  (void)state;
  expect_reject(BASE ",\"v\":1}", FLEET_EPARSE, "payload: duplicate key \"v\" (line 1, column 66)");
  expect_reject(BASE ",\"rpm\":1,\"rpm\":2}", FLEET_EPARSE,
                "payload: duplicate key \"rpm\" (line 1, column 76)");
  /* Keys compare decoded; the message shows the key as written. */
  expect_reject(BASE ",\"rpm\":1,\"r\\u0070m\":2}", FLEET_EPARSE,
                "payload: duplicate key \"r\\u0070m\" (line 1, column 81)");
  expect_reject("{\"v\":1,\"\\u0076\":1}", FLEET_EPARSE,
                "payload: duplicate key \"\\u0076\" (line 1, column 15)");
  /* Even when the member would be dropped. */
  expect_reject(BASE ",\"x\":null,\"x\":\"s\"}", FLEET_EPARSE,
                "payload: duplicate key \"x\" (line 1, column 75)");
  /* Inside nested objects, per object. */
  expect_reject(BASE ",\"n\":{\"a\":1,\"a\":2}}", FLEET_EPARSE,
                "payload: duplicate key \"a\" (line 1, column 77)");
  expect_ok(BASE ",\"n\":{\"a\":1,\"b\":{\"a\":2}},\"m\":{\"a\":3},\"a\":4}");
  assert_int_equal(rec.n_extras, 1);
  assert_string_equal(rec.extras[0].name, "a");
  assert_true(rec.extras[0].value == 4.0);
  /* Keys that look alike are different keys. */
  expect_ok(BASE ",\"ab\":1,\"ba\":2,\"a_b\":3,\"abc\":4,\"acb\":5,\"Ab\":6}");
  assert_int_equal(rec.n_extras, 6);
}

static void test_syntax_rejected(void **state)
{
  (void)state;
  static const char *const bad[] = {
    BASE ",}",          BASE ",\"a\":1,}",  BASE "}x",           BASE "}}",
    BASE ",\"a\" 1}",   BASE ",\"a\":}",    BASE ",\"a\":tru}",  BASE ",\"a\":True}",
    BASE ",\"a\":nul}", BASE ",\"a\":1",    BASE ",a:1}",        BASE ",'a':1}",
    BASE ",\"a\":[1 2]}", BASE ",\"a\":[,1]}", BASE " ,\"a\":1 , }", "{,}",
    "{\"v\":1,,\"ts\":\"x\"}", "",             " ",
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(bad); i++)
    expect_reject_prefix(bad[i], FLEET_EPARSE, "payload: invalid JSON at line 1, column ");
  expect_reject(BASE ",\"a\":1,}", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 70: string or '}' expected near '}'");
  expect_reject(BASE "} x", FLEET_EPARSE,
                "payload: invalid JSON at line 1, column 65: end of file expected near 'x'");
  expect_reject("[1]", FLEET_EPARSE, "payload: expected a JSON object, got an array");
  expect_reject(" \"x\" ", FLEET_EPARSE, "payload: expected a JSON object, got a string");
  expect_reject("1e999", FLEET_EPARSE, "payload: expected a JSON object, got a number");
  /* Whitespace is allowed between every token. */
  expect_ok(" \r\n\t{ \"v\" : 1 ,\n\"ts\"\t:\r\"2026-05-21T10:30:00Z\" , \"lat\":1,\"lng\":2 ,"
            "\"a\" : [ 1 , { \"b\" : 2 } ] } \n");
  assert_true(rec.lng == 2.0);
  expect_reject("{}", FLEET_EMISSING, "v: missing");
  expect_reject(" { } ", FLEET_EMISSING, "v: missing");
}

/* The payload need not be NUL-terminated, and nothing past `len` is read
 * (ASan checks the heap copies). */
static void test_length_bounded(void **state)
{
  (void)state;
  static const char *const payloads[] = {
    BASE "}",
    BASE ",\"x\":1}",
    BASE ",\"x\":-0.5e-3}",
    BASE ",\"x\":\"a\\u00e9\"}",
    BASE ",\"x\":[true,false,null]}",
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(payloads); i++) {
    size_t len = strlen(payloads[i]);
    /* Every prefix: the whole payload parses, each shorter one is cut. */
    for (size_t n = 0; n <= len; n++) {
      char *buf = malloc(n ? n : 1);
      assert_non_null(buf);
      memcpy(buf, payloads[i], n);
      int rc = parse_len(buf, n);
      free(buf);
      if (n == len && rc != 0)
        fail_msg("%s: %s", payloads[i], fleet_error_last());
      if (n < len && rc != FLEET_EPARSE)
        fail_msg("%.*s: got %d, want FLEET_EPARSE", (int)n, payloads[i], rc);
    }
  }
  /* Bytes after `len` are not part of the payload. */
  const char *with_tail = BASE "}garbage";
  assert_int_equal(parse_len(with_tail, strlen(BASE) + 1), 0);
}

/* A payload parsed with and without a warnings struct gives the same record;
 * warnings from members before a syntax error do not survive it. */
static void test_warnings_reset_on_handoff(void **state)
{
  (void)state;
  expect_reject_prefix(BASE ",\"speed\":-1,\"a\":[1,]}", FLEET_EPARSE,
                       "payload: invalid JSON at line 1, column ");
  assert_int_equal(warns.count, 0);
  assert_int_equal(warns.dropped, 0);
  fleet_telemetry_t other = FLEET_TELEMETRY_INIT;
  const char *json = BASE ",\"speed\":-1,\"heading\":90.5,\"rpm\":2100}";
  assert_int_equal(fleet_telemetry_parse(&other, NULL, json, strlen(json)), 0);
  expect_ok(json);
  assert_int_equal(warns.count, 1);
  assert_string_equal(warns.msg[0], "speed: -1 is negative; field dropped");
  assert_int_equal(other.present, FLEET_TELEMETRY_HEADING);
  assert_int_equal(rec.present, FLEET_TELEMETRY_HEADING);
  assert_true(other.heading_deg == 90.5 && rec.heading_deg == 90.5);
  assert_int_equal(other.n_extras, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_number_fast_path_boundaries),
    cmocka_unit_test(test_number_random_vs_strtod),
    cmocka_unit_test(test_number_overflow_fields),
    cmocka_unit_test(test_number_syntax_rejected),
    cmocka_unit_test(test_string_escapes),
    cmocka_unit_test(test_string_bad_escapes),
    cmocka_unit_test(test_invalid_utf8),
    cmocka_unit_test(test_nesting_in_extras),
    cmocka_unit_test(test_duplicate_keys),
    cmocka_unit_test(test_syntax_rejected),
    cmocka_unit_test(test_length_bounded),
    cmocka_unit_test(test_warnings_reset_on_handoff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
