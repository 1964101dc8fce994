/* Unit tests for the shortest-exact double formatter (numfmt_int.h). */
#include <float.h>
#include <locale.h>
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
#include "numfmt_int.h"

/* xorshift64*: a fixed seed keeps failures reproducible. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng_next(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Du;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s)
{
  const char *p = s;
  if (*p == '-')
    p++;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    while (*p >= '0' && *p <= '9')
      p++;
  else
    return 0;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9'))
      return 0;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!(*p >= '0' && *p <= '9'))
      return 0;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  return *p == '\0';
}

static void check_roundtrip(double v)
{
  char out[FLEET_NUMFMT_DOUBLE_MAX];
  int n = fleet_numfmt__double(out, sizeof out, v);
  if (n <= 0)
    fail_msg("formatting %a failed: %d", v, n);
  assert_int_equal((size_t)n, strlen(out));
  if (!is_json_number(out))
    fail_msg("%a gave \"%s\", not a JSON number", v, out);
  char *end = NULL;
  double back = strtod(out, &end);
  assert_ptr_equal(end, out + n);
  if (memcmp(&back, &v, sizeof v) != 0)
    fail_msg("%a gave \"%s\", which reads back as %a", v, out, back);
}

static void expect_text(double v, const char *want)
{
  char out[FLEET_NUMFMT_DOUBLE_MAX];
  int n = fleet_numfmt__double(out, sizeof out, v);
  assert_int_equal(n, (int)strlen(want));
  assert_string_equal(out, want);
}

static void expect_str(double v, const char *want)
{
  expect_text(v, want);
  check_roundtrip(v);
}

static void test_edge_cases(void **state)
{
  (void)state;
  expect_str(0.0, "0");
  expect_str(-0.0, "-0");
  expect_str(1.0, "1");
  expect_str(-1.0, "-1");
  expect_str(45.0, "45");
  expect_str(0.1, "0.1");
  expect_str(0.5, "0.5");
  expect_str(-0.5, "-0.5");
  expect_str(23.8103, "23.8103");
  expect_str(90.4125, "90.4125");
  expect_str(123456.7, "123456.7");
  expect_str(-12.25, "-12.25");
  expect_str(1e-5, "0.00001");
  expect_str(1e-17, "0.00000000000000001");
  expect_str(1e300, "1e+300");
  expect_str(-1e300, "-1e+300");
  expect_str(1e20, "1e+20");
  expect_str(5e-324, "4.94065645841247e-324");
  expect_str(1e-18, "1e-18");
  expect_str(9007199254740991.0, "9007199254740991");
  expect_str(9007199254740992.0, "9007199254740992");
  expect_str(1.7976931348623157e308, "1.7976931348623157e+308");
  expect_str(2.2250738585072014e-308, "2.2250738585072014e-308");
  expect_str(0.30000000000000004, "0.30000000000000004");
  expect_str(1.0 / 3.0, "0.3333333333333333");
  expect_str(123456789012.345678, "123456789012.34567");
}

static void test_non_finite_rejected(void **state)
{
  (void)state;
  char out[FLEET_NUMFMT_DOUBLE_MAX] = "x";
  assert_int_equal(fleet_numfmt__double(out, sizeof out, NAN), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "NaN is not a finite number");
  assert_int_equal(fleet_numfmt__double(out, sizeof out, INFINITY), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "infinity is not a finite number");
  assert_int_equal(fleet_numfmt__double(out, sizeof out, -INFINITY), FLEET_ERANGE);
}

static void test_small_buffer(void **state)
{
  (void)state;
  char out[4];
  assert_int_equal(fleet_numfmt__double(NULL, 32, 1.0), FLEET_EINVAL);
  assert_int_equal(fleet_numfmt__double(out, sizeof out, 12.5), FLEET_EINVAL);
  assert_int_equal(fleet_numfmt__double(out, sizeof out, 1e300), FLEET_EINVAL);
  assert_int_equal(fleet_numfmt__double(out, sizeof out, 125.0), 3);
  assert_string_equal(out, "125");
}

static void test_strtod_c_locale(void **state)
{
  (void)state;
  const char *s = "-1.5e3,";
  char *end = NULL;
  assert_true(fleet_numfmt__strtod(s, &end) == -1500.0);
  assert_ptr_equal(end, s + 6);
  assert_true(isinf(fleet_numfmt__strtod("1e400", NULL)));
  assert_true(fleet_numfmt__strtod("99999999999999999999", NULL) == 1e20);
}

static void test_random_bit_patterns(void **state)
{
  (void)state;
  for (int i = 0; i < 200000; i++) {
    uint64_t bits = rng_next();
    double v;
    memcpy(&v, &bits, sizeof v);
    if (!isfinite(v))
      continue;
    check_roundtrip(v);
  }
}

/* Values a sensor sends: m / 10^k. The expected text is built from m and k
 * directly (trailing zeros trimmed), independently of the formatter. */
static void test_random_decimals(void **state)
{
  (void)state;
  static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  for (int i = 0; i < 200000; i++) {
    uint64_t m = rng_next() % 1000000000000u;
    unsigned int k = (unsigned int)(rng_next() % 9);
    int neg = (int)(rng_next() & 1);
    while (k && m % 10 == 0) {
      m /= 10;
      k--;
    }
    double v = (double)m / p10[k];
    if (neg)
      v = -v;
    char digits[32], want[48];
    snprintf(digits, sizeof digits, "%0*llu", (int)k + 1, (unsigned long long)m);
    size_t nd = strlen(digits);
    if (k)
      snprintf(want, sizeof want, "%s%.*s.%s", neg ? "-" : "", (int)(nd - k), digits,
               digits + nd - k);
    else
      snprintf(want, sizeof want, "%s%s", neg ? "-" : "", digits);
    expect_str(v, want);
  }
}

static void test_random_integers(void **state)
{
  (void)state;
  for (int i = 0; i < 50000; i++) {
    int64_t m = (int64_t)(rng_next() % 9007199254740992u) - 4503599627370496;
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)m);
    if (m == 0)
      continue;
    expect_str((double)m, want);
  }
}

static void test_independent_of_locale(void **state)
{
  (void)state;
  if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
    skip();
  }
  /* strtod() now wants a comma, so compare text only. */
  expect_text(1e300, "1e+300");
  expect_text(5e-324, "4.94065645841247e-324");
  expect_text(23.8103, "23.8103");
  expect_text(0.30000000000000004, "0.30000000000000004");
  assert_true(fleet_numfmt__strtod("1.5", NULL) == 1.5);
  setlocale(LC_NUMERIC, "C");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_edge_cases),
    cmocka_unit_test(test_non_finite_rejected),
    cmocka_unit_test(test_small_buffer),
    cmocka_unit_test(test_strtod_c_locale),
    cmocka_unit_test(test_random_bit_patterns),
    cmocka_unit_test(test_random_decimals),
    cmocka_unit_test(test_random_integers),
    cmocka_unit_test(test_independent_of_locale),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
