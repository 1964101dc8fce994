/*
 * telemetry: the v1 device payload (DESIGN.md "Telemetry payload v1").
 *
 * Parse and validate one JSON payload into a plain fleet_telemetry_t, encode a
 * record back to JSON, validate vehicle ids taken from MQTT topics, and convert
 * RFC 3339 timestamps to and from nanoseconds since the Unix epoch.
 *
 * Validation policy: a payload whose required fields (v, ts, lat, lng) are
 * missing, of the wrong type, non-finite or out of range is rejected, as is a
 * payload that is not a JSON object, is not valid JSON or UTF-8, nests deeper
 * than FLEET_TELEMETRY_MAX_DEPTH or is larger than FLEET_TELEMETRY_MAX_BYTES.
 * An invalid optional field never loses the position: it is dropped and a
 * warning names it.
 *
 * Thread safety: every function here is reentrant; distinct records and
 * warning structs may be used from different threads at once.
 */
#ifndef FLEET_TELEMETRY_H
#define FLEET_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The payload version this library reads and writes. */
#define FLEET_TELEMETRY_PAYLOAD_VERSION 1
/** Largest accepted payload, in bytes. */
#define FLEET_TELEMETRY_MAX_BYTES 4096
/** Deepest accepted JSON nesting (the payload object itself is depth 1). */
#define FLEET_TELEMETRY_MAX_DEPTH 4
/** Longest vehicle id, in bytes (ids are 1-64 chars of [A-Za-z0-9._-]). */
#define FLEET_VEHICLE_ID_MAX 64
/** Longest driver id, in bytes. */
#define FLEET_DRIVER_ID_MAX 64
/** How many extra CAN fields a record keeps; further ones are dropped with a warning. */
#define FLEET_TELEMETRY_MAX_EXTRAS 16
/** Longest extra field name, in bytes ([A-Za-z0-9_], not starting with a digit). */
#define FLEET_TELEMETRY_EXTRA_NAME_MAX 32
/** How many warnings a fleet_telemetry_warnings_t holds (the rest are counted). */
#define FLEET_TELEMETRY_MAX_WARNINGS 8
/** Size of one warning message, terminator included. */
#define FLEET_TELEMETRY_WARNING_LEN 128
/** Buffer size that always fits fleet_time_format() output, terminator included. */
#define FLEET_TIME_STRLEN 40

/** Bits of fleet_telemetry_t.present: which optional fields the record holds. */
enum fleet_telemetry_field {
  FLEET_TELEMETRY_SPEED = 1u << 0,       /**< speed_kmh */
  FLEET_TELEMETRY_HEADING = 1u << 1,     /**< heading_deg */
  FLEET_TELEMETRY_IGNITION = 1u << 2,    /**< ignition */
  FLEET_TELEMETRY_ODOMETER = 1u << 3,    /**< odometer_km */
  FLEET_TELEMETRY_BATTERY_V = 1u << 4,   /**< battery_v */
  FLEET_TELEMETRY_ENGINE_TEMP = 1u << 5, /**< engine_temp_c */
  FLEET_TELEMETRY_FUEL_LEVEL = 1u << 6,  /**< fuel_level_pct */
  FLEET_TELEMETRY_DRIVER_ID = 1u << 7    /**< driver_id */
};

/** Type of an extra (CAN) field. */
typedef enum fleet_extra_type {
  FLEET_EXTRA_NUMBER = 1, /**< a finite JSON number, kept as a double */
  FLEET_EXTRA_BOOL = 2    /**< true or false, kept as 1 or 0 */
} fleet_extra_type_t;

/** One extra numeric or boolean field of a payload, e.g. "rpm": 2100. */
typedef struct fleet_extra_field {
  char name[FLEET_TELEMETRY_EXTRA_NAME_MAX + 1]; /**< sanitised name */
  fleet_extra_type_t type;                        /**< number or bool */
  double value; /**< the number, or 1.0 / 0.0 for a bool */
} fleet_extra_field_t;

/** Version of fleet_telemetry_t this header describes. */
#define FLEET_TELEMETRY_VERSION 1

/**
 * One telemetry record: plain data, no pointers, safe to copy by value.
 * Initialise with FLEET_TELEMETRY_INIT or fleet_telemetry_init() before use.
 * Optional fields are valid only when their bit is set in `present`.
 */
typedef struct fleet_telemetry {
  unsigned int version; /**< FLEET_TELEMETRY_VERSION */
  /** Vehicle id, "" when unknown. Parsing fills it from a "vehicle_id" member
   *  when the payload carries one (export files do); MQTT ingest sets it from
   *  the topic. */
  char vehicle_id[FLEET_VEHICLE_ID_MAX + 1];
  int64_t ts_ns;        /**< device time, ns since 1970-01-01T00:00:00Z */
  double lat;           /**< WGS84 latitude, degrees, [-90, 90] */
  double lng;           /**< WGS84 longitude, degrees, [-180, 180] */
  unsigned int present; /**< FLEET_TELEMETRY_* bits of the optional fields */
  double speed_kmh;     /**< >= 0 */
  double heading_deg;   /**< [0, 360) */
  int ignition;         /**< 1 on, 0 off */
  double odometer_km;   /**< >= 0 */
  double battery_v;     /**< >= 0 */
  double engine_temp_c; /**< [-60, 250] */
  double fuel_level_pct; /**< [0, 100] */
  char driver_id[FLEET_DRIVER_ID_MAX + 1]; /**< printable, no control chars */
  unsigned int n_extras; /**< entries used in `extras` */
  fleet_extra_field_t extras[FLEET_TELEMETRY_MAX_EXTRAS]; /**< in payload order */
} fleet_telemetry_t;

/* Designated in C so that -Wextra (missing-field-initializers) stays quiet. */
#ifdef __cplusplus
#  define FLEET_TELEMETRY_INIT {FLEET_TELEMETRY_VERSION}
#else
#  define FLEET_TELEMETRY_INIT {.version = FLEET_TELEMETRY_VERSION}
#endif

/**
 * Initialise a record: zero it and set its version. Returns 0, or FLEET_EINVAL
 * when `rec` is NULL or `version` is not one this library knows.
 */
FLEET_API int fleet_telemetry_init(fleet_telemetry_t *rec, unsigned int version);

/**
 * Warnings from parsing: one message per dropped optional field, such as
 * "speed: -3 is negative; field dropped". Plain data owned by the caller.
 */
typedef struct fleet_telemetry_warnings {
  unsigned int count;   /**< messages stored in `msg` */
  unsigned int dropped; /**< further warnings that did not fit */
  char msg[FLEET_TELEMETRY_MAX_WARNINGS][FLEET_TELEMETRY_WARNING_LEN];
} fleet_telemetry_warnings_t;

/**
 * Parse and validate one v1 payload.
 *
 * Members: v, ts, lat, lng (required); speed, heading, ignition, odometer,
 * battery_v, engine_temp, fuel_level, driver_id, vehicle_id (optional; a null
 * value counts as absent). Any other member holding a number or a boolean is
 * kept as an extra field, in payload order, when its name is 1-32 bytes of
 * [A-Za-z0-9_], starts with neither a digit nor '_' (InfluxDB reserves those)
 * and is not "time", "fleet_id" or "device_type" (line-protocol keys); other
 * members are dropped with a warning. Integers beyond int64 are read as
 * doubles rather than failing the payload.
 *
 * @param out      record to fill; must be initialised (its `version` is read).
 *                 On failure its contents are unspecified.
 * @param warnings optional (NULL to ignore); reset and filled with a message per
 *                 dropped member. After a failure it may hold messages for
 *                 members seen before the error.
 * @param json     the payload bytes (need not be NUL-terminated); borrowed.
 * @param len      their length.
 * @return 0 when the record is accepted (possibly with warnings), else:
 *   FLEET_ETOOBIG (over FLEET_TELEMETRY_MAX_BYTES or nested deeper than
 *   FLEET_TELEMETRY_MAX_DEPTH), FLEET_EPARSE (not JSON, bad UTF-8, a NUL byte,
 *   a duplicate key, not an object, ts not RFC 3339), FLEET_EMISSING (a
 *   required field is absent), FLEET_ETYPE (a required field has the wrong
 *   type), FLEET_ERANGE (lat/lng out of range or non-finite, ts not a real
 *   date or outside the int64 ns range), FLEET_EVERSION (v is not 1, or
 *   `out->version` is unknown), FLEET_EINVAL (NULL arguments), FLEET_ENOMEM.
 *   fleet_error_last() names the field, the value and why, e.g.
 *   "lat: 91.2 is outside [-90, 90]". When several things are wrong, v is
 *   judged first, then ts, lat, lng.
 */
FLEET_API int fleet_telemetry_parse(fleet_telemetry_t *out,
                                    fleet_telemetry_warnings_t *warnings,
                                    const char *json, size_t len);

/**
 * Check a record as the parser would (required fields, ranges, the vehicle id
 * when non-empty, the optional fields whose `present` bit is set, extra field
 * names, types and values). Useful for records built in code.
 * Returns 0, FLEET_EINVAL (NULL, unknown `present` bits, bad vehicle id,
 * driver id or extra name, an extra named like a standard field or twice),
 * FLEET_ERANGE (a number out of range or non-finite, ignition not 0/1, a bool
 * extra not 0/1), FLEET_ETYPE (unknown extra type), FLEET_ETOOBIG (n_extras
 * over FLEET_TELEMETRY_MAX_EXTRAS) or FLEET_EVERSION (unknown record version),
 * with fleet_error_last() set.
 */
FLEET_API int fleet_telemetry_validate(const fleet_telemetry_t *rec);

/** Options for fleet_telemetry_encode_json(). */
typedef struct fleet_telemetry_json_opts {
  unsigned int version;   /**< FLEET_TELEMETRY_JSON_OPTS_VERSION */
  int include_vehicle_id; /**< write "vehicle_id" when the record has one */
} fleet_telemetry_json_opts_t;

#define FLEET_TELEMETRY_JSON_OPTS_VERSION 1
#define FLEET_TELEMETRY_JSON_OPTS_INIT {FLEET_TELEMETRY_JSON_OPTS_VERSION, 1}

/** Initialise options to their defaults. Returns 0 or FLEET_EINVAL. */
FLEET_API int fleet_telemetry_json_opts_init(fleet_telemetry_json_opts_t *opts,
                                             unsigned int version);

/**
 * Append the record as a compact v1 JSON object to `buf` (no newline), members
 * in the order v, vehicle_id, ts, lat, lng, the optional fields, driver_id,
 * the extras. The output parses back to an equal record: numbers are written
 * in their shortest exact form (integral values below 2^53 without a
 * fraction), ts with fleet_time_format(). The record is checked with
 * fleet_telemetry_validate() first. `opts` may be NULL for the defaults.
 * Returns 0, FLEET_EINVAL (NULL arguments, unknown options version or an
 * invalid record, with the reason in the message) or FLEET_ENOMEM; on failure
 * `buf` is left as it was.
 */
FLEET_API int fleet_telemetry_encode_json(fleet_buf_t *buf,
                                          const fleet_telemetry_t *rec,
                                          const fleet_telemetry_json_opts_t *opts);

/**
 * Check a vehicle id: 1-64 bytes of [A-Za-z0-9._-]. `len` is the id's length
 * (the bytes need not be NUL-terminated). Returns 0 or FLEET_EINVAL with a
 * message naming the offending character or length.
 */
FLEET_API int fleet_vehicle_id_validate(const char *id, size_t len);

/**
 * Take the vehicle id out of a topic of the form `fleet/{id}/{kind}`, e.g.
 * fleet/v-001/telemetry. Copies the validated id into `out` (NUL-terminated,
 * FLEET_VEHICLE_ID_MAX + 1 bytes; written only on success). When `kind` is
 * non-NULL the topic's last level must equal it. Returns 0, FLEET_EPARSE (not
 * that shape, or another kind) or FLEET_EINVAL (bad id, NULL arguments).
 */
FLEET_API int fleet_topic_vehicle_id(char out[FLEET_VEHICLE_ID_MAX + 1],
                                     const char *topic, const char *kind);

/**
 * Parse an RFC 3339 timestamp ("2026-05-21T10:30:00Z", "…T12:30:00.123456789+02:00")
 * into nanoseconds since the Unix epoch (UTC). Accepts 't'/'z' in either case,
 * a space instead of 'T', fractions of 1-9 digits and offsets up to ±23:59 (-00:00
 * reads as UTC). The instant must lie in the int64 nanosecond range,
 * 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z (so every
 * date in 1678-2261 is fine). Calendar-checked: no Feb 30, leap days only in
 * leap years (2000 yes, 1900 no); a leap second (:60) is rejected. `s` need
 * not be NUL-terminated. Returns 0, FLEET_EPARSE (syntax), FLEET_ERANGE (a
 * field or the instant out of range) or FLEET_EINVAL (NULL arguments); the
 * message quotes the input and says what is wrong where. `*out_ns` is written
 * only on success.
 */
FLEET_API int fleet_time_parse(int64_t *out_ns, const char *s, size_t len);

/**
 * Format nanoseconds since the epoch as RFC 3339 UTC with 'Z': no fraction when
 * it is zero, otherwise the shortest of 3, 6 or 9 digits that is exact.
 * `out` must hold FLEET_TIME_STRLEN bytes. Returns the length written (> 0), or
 * FLEET_EINVAL for a NULL buffer.
 */
FLEET_API int fleet_time_format(char out[FLEET_TIME_STRLEN], int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_TELEMETRY_H */
