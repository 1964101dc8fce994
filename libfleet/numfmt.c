/* numfmt: shortest exact, locale-independent decimal form of a double. */
#include "common_int.h"

#include "numfmt_int.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Powers of ten up to 10^22 are exact doubles, so m / 10^k is one correctly
 * rounded division: the same double strtod() makes of the decimal string. */
static const double pow10_tab[] = {
  1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define MAX_FRAC_DIGITS 17
#define TWO_POW_53 9007199254740992.0

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_make(void)
{
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Writes the decimal digits of m right-aligned ending at `end`; returns the start. */
static char *put_u64(char *end, uint64_t m)
{
  do {
    *--end = (char)('0' + (int)(m % 10));
    m /= 10;
  } while (m);
  return end;
}

/* Formats m / 10^k as a fixed-point decimal. */
static int put_fixed(char *out, size_t cap, int neg, uint64_t m, unsigned int k)
{
  char digits[24];
  char *end = digits + sizeof digits;
  char *d = put_u64(end, m);
  size_t nd = (size_t)(end - d);
  size_t len = (size_t)neg + (nd > k ? nd : k + 1) + (k ? 1 : 0);
  if (len + 1 > cap)
    return fleet_error__set(FLEET_EINVAL, "number buffer too small (%zu bytes)", cap);
  char *p = out;
  if (neg)
    *p++ = '-';
  if (nd > k) {
    memcpy(p, d, nd - k);
    p += nd - k;
    if (k) {
      *p++ = '.';
      memcpy(p, d + nd - k, k);
      p += k;
    }
  } else {
    *p++ = '0';
    *p++ = '.';
    memset(p, '0', k - nd);
    p += k - nd;
    memcpy(p, d, nd);
    p += nd;
  }
  *p = '\0';
  return (int)(p - out);
}

/* The rare path: huge, tiny or long-fraction values, via printf in the C locale. */
static int put_general(char *out, size_t cap, double v)
{
  char tmp[FLEET_NUMFMT_DOUBLE_MAX];
  int n = 0;
  pthread_once(&c_locale_once, c_locale_make);
  if (c_locale) {
    locale_t old = uselocale(c_locale);
    for (int prec = 15; prec <= 17; prec++) {
      n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
      if (prec == 17 || strtod(tmp, NULL) == v)
        break;
    }
    uselocale(old);
  } else {
    /* No C locale object: %.17g always round-trips; only the decimal point
     * may be the locale's, so normalise it below. */
    n = snprintf(tmp, sizeof tmp, "%.17g", v);
  }
  if (n <= 0 || (size_t)n >= sizeof tmp)
    return fleet_error__set(FLEET_EINTERNAL, "cannot format number");
  size_t j = 0;
  for (int i = 0; i < n; i++) {
    char c = tmp[i];
    if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e')
      tmp[j++] = c;
    else if (j && tmp[j - 1] != '.')
      tmp[j++] = '.';
  }
  tmp[j] = '\0';
  if (j + 1 > cap)
    return fleet_error__set(FLEET_EINVAL, "number buffer too small (%zu bytes)", cap);
  memcpy(out, tmp, j + 1);
  return (int)j;
}

int fleet_numfmt__double(char *out, size_t cap, double v)
{
  if (!out || cap < 2)
    return fleet_error__set(FLEET_EINVAL, "number buffer is NULL or too small");
  if (!isfinite(v))
    return fleet_error__set(FLEET_ERANGE, "%s is not a finite number",
                            isnan(v) ? "NaN" : "infinity");
  int neg = signbit(v) != 0;
  double a = fabs(v);
  if (a < TWO_POW_53) {
    for (unsigned int k = 0; k <= MAX_FRAC_DIGITS; k++) {
      double x = a * pow10_tab[k];
      if (x >= TWO_POW_53)
        break;
      uint64_t m = (uint64_t)(x + 0.5);
      if ((double)m / pow10_tab[k] == a)
        return put_fixed(out, cap, neg, m, k);
    }
  }
  return put_general(out, cap, v);
}

double fleet_numfmt__strtod(const char *s, char **end)
{
  pthread_once(&c_locale_once, c_locale_make);
  if (c_locale)
    return strtod_l(s, end, c_locale);
  return strtod(s, end);
}
