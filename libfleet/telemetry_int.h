/*
 * Internal telemetry helpers shared with other libfleet files and the tests.
 */
#ifndef FLEET_TELEMETRY_INT_H
#define FLEET_TELEMETRY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet/telemetry.h"

/**
 * Whether two records hold the same data: version, vehicle id, ts, lat, lng,
 * the `present` bits, each present optional field (doubles compared with ==,
 * so -0 equals 0), and the extras in order. Fields whose bit is clear are
 * ignored. On a difference, when `why` is non-NULL, names the first differing
 * field in it (NUL-terminated, at most `cap` bytes).
 */
bool fleet_telemetry__equal(const fleet_telemetry_t *a, const fleet_telemetry_t *b,
                            char *why, size_t cap);

/**
 * Write `len` bytes of `s` to `out` as a double-quoted excerpt for a message:
 * '"' and '\\' escaped, bytes outside printable ASCII as \xNN, at most
 * `max_show` characters between the quotes, and "..." after the closing quote
 * when the text was cut. Never writes more than `cap` bytes; always
 * NUL-terminates (when `cap` > 0). Returns `out`.
 */
char *fleet_telemetry__quote(char *out, size_t cap, const char *s, size_t len,
                             size_t max_show);

/**
 * A vehicle id a stream consumer (trip, downsample) can key its state by: not
 * NULL and at most FLEET_VEHICLE_ID_MAX bytes; its characters are not checked.
 * @return 0, or FLEET_EINVAL with a message.
 */
int fleet_telemetry__check_key(const char *id);

/**
 * The record check of the stream consumers (trip, downsample, tracker): lat in
 * [-90, 90], lng in [-180, 180], ts from 1678-01-01 to 2262-01-01 (exclusive: a
 * little inside the int64 nanosecond range, so that differences, sums of a few
 * days and hour arithmetic never overflow), then each optional field that is
 * both present and named in `fields` (FLEET_TELEMETRY_SPEED, _HEADING,
 * _ODOMETER, _BATTERY_V, _ENGINE_TEMP, _FUEL_LEVEL; other bits are ignored), in
 * that order. A consumer names the fields it uses.
 * @return 0, or FLEET_ERANGE with a message naming the first bad field.
 */
int fleet_telemetry__check_fix(const fleet_telemetry_t *rec, unsigned int fields);

#endif /* FLEET_TELEMETRY_INT_H */
