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
 * sorted by key. Returns 0, FLEET_EINVAL (empty key or value, newline, tag after
 * a field) or FLEET_ENOMEM.
 */
FLEET_API int fleet_lp_add_tag(fleet_lp_point_t *pt, const char *key, const char *value);

/** Add a float field. FLEET_ERANGE for NaN or infinity. */
FLEET_API int fleet_lp_add_float(fleet_lp_point_t *pt, const char *key, double value);

/** Add an integer field (written with the `i` suffix). */
FLEET_API int fleet_lp_add_int(fleet_lp_point_t *pt, const char *key, int64_t value);

/** Add a boolean field (`true` / `false`; any non-zero value is true). */
FLEET_API int fleet_lp_add_bool(fleet_lp_point_t *pt, const char *key, int value);

/** Add a string field; `value` is escaped and quoted. FLEET_EINVAL for a newline. */
FLEET_API int fleet_lp_add_string(fleet_lp_point_t *pt, const char *key, const char *value);

/**
 * Finish the point with its timestamp (ns since the epoch) and '\n'. Returns 0,
 * or the first error of the chain (FLEET_EINVAL also when no field was added),
 * in which case the buffer is rolled back to where fleet_lp_begin() found it.
 */
FLEET_API int fleet_lp_end(fleet_lp_point_t *pt, int64_t ts_ns);

/**
 * Encode a telemetry record as one line of measurement `measurement` (NULL for
 * "telemetry"): tag vehicle_id (from the record; required) plus `tags`
 * (`ntags` entries, e.g. fleet_id and device_type; tags with an empty value are
 * left out), sorted by key; fields lat, lng and every optional field present
 * (speed, heading, ignition, odometer, battery_v, engine_temp, fuel_level as
 * floats/bool, driver_id as a string) and the extras; timestamp ts_ns.
 * Returns 0, FLEET_EINVAL (no vehicle id, bad tag) or FLEET_ENOMEM; on failure
 * the buffer is unchanged.
 */
FLEET_API int fleet_lp_encode_telemetry(fleet_buf_t *buf, const fleet_telemetry_t *rec,
                                        const char *measurement,
                                        const fleet_lp_tag_t *tags, size_t ntags);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_LINEPROTO_H */
