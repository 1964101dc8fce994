/*
 * numfmt: locale-independent formatting of doubles in their shortest exact
 * decimal form, shared by the JSON and line-protocol encoders.
 */
#ifndef FLEET_NUMFMT_INT_H
#define FLEET_NUMFMT_INT_H

#include <stddef.h>

/** Buffer size that always fits fleet_numfmt__double() output, terminator included. */
#define FLEET_NUMFMT_DOUBLE_MAX 32

/**
 * Write the finite double `v` to `out` (NUL-terminated) so that strtod() gives
 * back exactly `v`, using as few fractional digits as possible: "0", "-0",
 * "45", "23.8103", "0.5", "0.0001"; values that need more than 17 fractional
 * digits or whose magnitude is 2^53 or more use e-notation ("1e+300",
 * "4.94065645841247e-324"). The output never has a leading '+', never starts
 * with '.', and is valid both as a JSON number and as an InfluxDB float field.
 * Integral values below 2^53 are written without a fraction or exponent (so a
 * JSON reader sees an integer token that fits int64).
 *
 * `cap` should be FLEET_NUMFMT_DOUBLE_MAX. Independent of the C locale.
 * Returns the length written (> 0), FLEET_ERANGE when `v` is NaN or infinite,
 * or FLEET_EINVAL when `out` is NULL or `cap` too small (the thread's last
 * error is set). Thread-safe.
 */
int fleet_numfmt__double(char *out, size_t cap, double v);

/**
 * strtod() in the C locale, whatever the process locale is: '.' is always the
 * decimal point. Same contract as strtod() otherwise. Thread-safe.
 */
double fleet_numfmt__strtod(const char *s, char **end);

#endif /* FLEET_NUMFMT_INT_H */
