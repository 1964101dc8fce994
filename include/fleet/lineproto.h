/*
 * lineproto: InfluxDB line protocol encoder.
 *
 *   measurement,tag1=v1,tag2=v2 field1=1.5,field2=7i,field3="text",field4=true 1716287400000000000
 *
 * Escaping follows InfluxDB exactly: in the measurement, commas and spaces; in tag
 * keys, tag values and field keys, commas, equals signs and spaces; in string field
 * values, double quotes and backslashes. Newlines cannot be represented and are
 * rejected, as are NaN and infinities, empty keys and empty tag values (InfluxDB 3
 * refuses them). Timestamps are nanoseconds.
 *
 * What InfluxDB would read back differently from what was meant is refused too
 * (FLEET_EINVAL, with fleet_error_last() naming the part and the byte):
 * - carriage returns anywhere; tabs in names (InfluxDB 3 reads them as spaces);
 * - bytes that are not UTF-8 (InfluxDB 3 refuses the whole request);
 * - in names, a backslash is written as it is (InfluxDB reads "C:\tmp" literally),
 *   except at the end of a name, before another backslash, or before a character
 *   that the part escapes, where InfluxDB versions disagree on its meaning;
 * - tag and field keys `time`, `_field` and `_measurement`;
 * - a measurement starting with '#' (the line would be a comment).
 * Integers carry the `i` suffix, booleans are `true`/`false`, floats are written
 * in their shortest form that reads back exactly.
 *
 * Output goes to a caller-owned fleet_buf_t, so a warm buffer encodes without
 * allocating. Each line ends with '\n'. A failed point leaves the buffer exactly
 * as it was before fleet_lp_begin().
 *
 * Thread safety: reentrant; one buffer and point per thread.
 */
#ifndef FLEET_LINEPROTO_H
#define FLEET_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most tags fleet_lp_encode_telemetry() writes on one line, vehicle_id included. */
#define FLEET_LP_MAX_TAGS 64

/** A tag: key and value, both NUL-terminated and borrowed. */
typedef struct fleet_lp_tag {
  const char *key;
  const char *value;
} fleet_lp_tag_t;

/**
 * A point being written: plain data owned by the caller (usually on the stack).
 * Fields are private to the encoder; do not modify them.
 */
typedef struct fleet_lp_point {
  fleet_buf_t *buf;    /**< destination */
  size_t start;        /**< buf->len when the point began (rollback mark) */
  unsigned int fields; /**< fields written so far */
  int status;          /**< first error, sticky until fleet_lp_end() */
} fleet_lp_point_t;

/**
 * Start a point with its measurement name. Returns 0 or FLEET_EINVAL (NULL or
 * empty name, newline in it); the error is also kept in `pt` so that a chain of
 * add calls can be checked once at fleet_lp_end().
 */
FLEET_API int fleet_lp_begin(fleet_lp_point_t *pt, fleet_buf_t *buf,
                             const char *measurement);

/**
 * Add a tag. Tags must all come before the first field; InfluxDB prefers them
 * sorted by key and refuses a key given twice (not checked here). Returns 0,
 * FLEET_EINVAL (empty key or value, newline, tag after a field, see above) or
 * FLEET_ENOMEM.
 */
FLEET_API int fleet_lp_add_tag(fleet_lp_point_t *pt, const char *key, const char *value);

/**
 * Add a float field, written in its shortest exact form ("45.2", "180", "1e+300").
 * FLEET_ERANGE for NaN or infinity. Like every add call: FLEET_EINVAL for a bad
 * key, FLEET_ENOMEM, or the point's earlier error, returned unchanged.
 */
FLEET_API int fleet_lp_add_float(fleet_lp_point_t *pt, const char *key, double value);

/** Add an integer field (written with the `i` suffix). */
FLEET_API int fleet_lp_add_int(fleet_lp_point_t *pt, const char *key, int64_t value);

/** Add a boolean field (`true` / `false`; any non-zero value is true). */
FLEET_API int fleet_lp_add_bool(fleet_lp_point_t *pt, const char *key, int value);

/** Add a string field; `value` is escaped and quoted. FLEET_EINVAL for a newline. */
FLEET_API int fleet_lp_add_string(fleet_lp_point_t *pt, const char *key, const char *value);

/**
 * Finish the point with its timestamp (ns since the epoch, negative allowed) and
 * '\n'. Returns 0, or the first error of the chain (FLEET_EINVAL also when no
 * field was added), in which case the buffer is rolled back to where
 * fleet_lp_begin() found it. (A failing add call rolls back at once as well, so
 * an abandoned point never leaves a partial line.) Afterwards the point is
 * finished: further calls on it fail until fleet_lp_begin() starts a new one.
 */
FLEET_API int fleet_lp_end(fleet_lp_point_t *pt, int64_t ts_ns);

/**
 * Encode a telemetry record as one line of measurement `measurement` (NULL for
 * "telemetry"): tag vehicle_id (from the record; required) plus `tags`
 * (`ntags` entries, e.g. fleet_id and device_type; tags with an empty or NULL
 * value are left out), sorted by key as InfluxDB compares keys (the bytes of
 * their escaped form); fields lat, lng and every optional field present
 * (speed, heading, ignition, odometer, battery_v, engine_temp, fuel_level as
 * floats/bool, driver_id as a string) and the extras (numbers as floats, bools
 * as booleans); timestamp ts_ns.
 * `rec` and `tags` are borrowed. At most FLEET_LP_MAX_TAGS - 1 caller tags.
 * Returns 0, FLEET_EINVAL (no vehicle id, bad or duplicate tag, an extra field
 * named like a standard field, a tag or another extra), FLEET_ERANGE (a
 * non-finite number) or FLEET_ENOMEM; on failure the buffer is unchanged.
 * Nothing is allocated once the buffer has room: after a first record and
 * fleet_buf_clear(), records of the same shape encode without allocating.
 */
FLEET_API int fleet_lp_encode_telemetry(fleet_buf_t *buf, const fleet_telemetry_t *rec,
                                        const char *measurement,
                                        const fleet_lp_tag_t *tags, size_t ntags);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_LINEPROTO_H */
