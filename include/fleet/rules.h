/*
 * rules: alert rules evaluated by the tracker on every fix, zone event and
 * clock tick.
 *
 * A rule set is loaded from JSON, either a document {"rules": [...]} or a bare
 * array, or built in code with fleet_ruleset_add(). Each rule has:
 *
 *   id          string, 1-64 chars, unique in the set (required)
 *   type        one of the names below (required)
 *   severity    "info" | "warning" | "critical" (default "warning")
 *   cooldown_s  after an alert of this rule for a vehicle, further alerts of the
 *               same rule for the same vehicle are suppressed for this many
 *               seconds of device time (default 0)
 *   vehicles    array of vehicle ids the rule applies to; absent, null or "*"
 *               means every vehicle
 *   description free text, kept for display (optional)
 *
 * and per type:
 *
 *   overspeed     threshold_kmh (required, > 0), hysteresis_kmh (default 0,
 *                 < threshold), min_duration_s (default 0), zone_limits
 *                 (default true). An episode starts when the speed has been
 *                 above the limit for min_duration_s (continuously: a fix at or
 *                 below the limit restarts the wait) and ends only when the speed
 *                 falls below limit - hysteresis: one episode, one alert. While
 *                 the vehicle is inside zones with a numeric `speed_limit`
 *                 property (km/h) and zone_limits is true, the lowest of those
 *                 limits replaces threshold_kmh.
 *   zone_enter,   zones: array of zone ids (optional; absent means any zone).
 *   zone_exit     Fires on the tracker's (debounced) zone events.
 *   ignition_on,  fires when the ignition changes to on / off relative to the
 *   ignition_off  vehicle's previous fix that reported it (the first report
 *                 of a vehicle is not a change).
 *   offline       after_s (required, > 0): fires once when a vehicle has sent
 *                 nothing for after_s seconds, judged at fleet_tracker_tick();
 *                 any new fix re-arms it. Different thresholds per vehicle are
 *                 several offline rules with different `vehicles`.
 *   low_battery   threshold_v (required, > 0), hysteresis_v (default 0),
 *                 min_duration_s (default 0): battery_v below threshold_v;
 *                 the episode ends above threshold_v + hysteresis_v.
 *   engine_temp   threshold_c (required), hysteresis_c (default 0),
 *                 min_duration_s (default 0): engine_temp above threshold_c;
 *                 the episode ends below threshold_c - hysteresis_c.
 *   fuel_drop     drop_pct (required, (0, 100]), window_s (required, > 0,
 *                 at most 86400), stationary (default false), stationary_kmh
 *                 (default 5): fuel_level falls by at least drop_pct percentage
 *                 points within window_s seconds (and, when `stationary` is
 *                 true, while the speed stays below stationary_kmh: movement
 *                 restarts the measurement). After an alert the measurement
 *                 restarts from the current level.
 *
 * Unknown members are refused (a misspelt threshold must not silently disable
 * an alert). A rule set is immutable once a tracker uses it and is reference
 * counted, so a tracker can swap in a reloaded set while another component
 * still holds the old one.
 *
 * Thread safety: loading and building are reentrant. A frozen rule set (one
 * attached to a tracker, see fleet_ruleset_ref()) may be read by several
 * threads at once; fleet_ruleset_ref() and fleet_ruleset_free() are thread-safe.
 */
#ifndef FLEET_RULES_H
#define FLEET_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest rule id, in bytes. */
#define FLEET_RULE_ID_MAX 64
/** Most rules in one set. */
#define FLEET_RULESET_MAX_RULES 1024
/** Largest rule file accepted by fleet_ruleset_load_file(), in bytes. */
#define FLEET_RULESET_MAX_FILE_BYTES (16 * 1024 * 1024)
/** Longest alert message, terminator included. */
#define FLEET_ALERT_MESSAGE_MAX 256

/** What a rule watches. Values are part of the ABI. */
typedef enum fleet_rule_type {
  FLEET_RULE_OVERSPEED = 1,
  FLEET_RULE_ZONE_ENTER = 2,
  FLEET_RULE_ZONE_EXIT = 3,
  FLEET_RULE_IGNITION_ON = 4,
  FLEET_RULE_IGNITION_OFF = 5,
  FLEET_RULE_OFFLINE = 6,
  FLEET_RULE_LOW_BATTERY = 7,
  FLEET_RULE_ENGINE_TEMP = 8,
  FLEET_RULE_FUEL_DROP = 9
} fleet_rule_type_t;

/** How urgent an alert is. Values are part of the ABI. */
typedef enum fleet_severity {
  FLEET_SEVERITY_INFO = 1,
  FLEET_SEVERITY_WARNING = 2,
  FLEET_SEVERITY_CRITICAL = 3
} fleet_severity_t;

/** Version of fleet_rule_t this header describes. */
#define FLEET_RULE_VERSION 1

/**
 * One rule as plain data. Used as input to fleet_ruleset_add() (all pointers
 * borrowed for the call) and as output of fleet_ruleset_get() (all pointers
 * owned by the rule set). Fields that do not belong to the rule's type are
 * ignored on input and zero on output. Initialise with FLEET_RULE_INIT or
 * fleet_rule_init(), which set the defaults listed in the header comment.
 */
typedef struct fleet_rule {
  unsigned int version;       /**< FLEET_RULE_VERSION */
  const char *id;             /**< unique id, 1-64 chars */
  fleet_rule_type_t type;     /**< what the rule watches */
  fleet_severity_t severity;  /**< default FLEET_SEVERITY_WARNING */
  double cooldown_s;          /**< >= 0 */
  const char *description;    /**< optional, NULL for none */
  /** Vehicle ids the rule applies to; NULL / 0 for every vehicle. Each id is
   *  checked with fleet_vehicle_id_validate(); output is sorted, deduplicated. */
  const char *const *vehicles;
  size_t n_vehicles;
  /** zone_enter / zone_exit: zone ids; NULL / 0 for every zone. */
  const char *const *zones;
  size_t n_zones;
  /** overspeed km/h, low_battery V, engine_temp degrees C. */
  double threshold;
  /** overspeed km/h, low_battery V, engine_temp degrees C; >= 0. */
  double hysteresis;
  /** overspeed, low_battery, engine_temp: seconds the condition must hold. */
  double min_duration_s;
  /** overspeed: 1 when zone `speed_limit` properties override threshold. */
  int zone_limits;
  /** offline: seconds without data. */
  double after_s;
  /** fuel_drop: percentage points. */
  double drop_pct;
  /** fuel_drop: seconds. */
  double window_s;
  /** fuel_drop: 1 to count only drops while the vehicle stands still. */
  int stationary;
  /** fuel_drop: below this speed the vehicle counts as standing still. */
  double stationary_kmh;
} fleet_rule_t;

#define FLEET_RULE_INIT                                                        \
  {FLEET_RULE_VERSION, NULL, (fleet_rule_type_t)0, FLEET_SEVERITY_WARNING, 0, \
   NULL, NULL, 0, NULL, 0, 0, 0, 0, 1, 0, 0, 0, 0, 5}

/** Initialise a rule to its defaults. Returns 0 or FLEET_EINVAL (NULL rule or
 *  unknown version). */
FLEET_API int fleet_rule_init(fleet_rule_t *rule, unsigned int version);

/**
 * An alert raised by a rule: plain data handed to callbacks. All pointers are
 * borrowed and valid only during the callback.
 */
typedef struct fleet_alert {
  const char *rule_id;        /**< the rule's id */
  fleet_rule_type_t rule_type;
  fleet_severity_t severity;
  const char *message;        /**< "speed 96.5 km/h over limit 80 km/h", etc. */
  /** The measured value: speed km/h (overspeed), battery V, temperature C,
   *  fuel drop in percentage points, seconds of silence (offline), seconds of
   *  dwell (zone_exit), 0 for zone_enter and ignition. */
  double value;
  /** The limit applied: speed limit km/h, threshold V / C, drop_pct, after_s;
   *  0 when the rule has none. */
  double limit;
  /** zone_enter / zone_exit: the zone's id and name (name may be NULL). */
  const char *zone_id;
  const char *zone_name;
} fleet_alert_t;

/** An immutable-once-shared, reference-counted set of rules. */
typedef struct fleet_ruleset fleet_ruleset_t;

/** Create an empty rule set (reference count 1). Returns 0, FLEET_EINVAL or
 *  FLEET_ENOMEM. */
FLEET_API int fleet_ruleset_new(fleet_ruleset_t **out);

/**
 * Parse rules from JSON text: {"rules": [...]} or a bare array.
 *
 * @param out  receives the new set (caller owns it; fleet_ruleset_free()).
 * @param json the text (need not be NUL-terminated); borrowed.
 * @param len  its length.
 * @return 0, or FLEET_EPARSE (not JSON, not an object/array, unknown member),
 *   FLEET_ETYPE (a member of the wrong type), FLEET_ERANGE (a value out of
 *   range, an unknown type or severity name), FLEET_EMISSING (a required
 *   member absent), FLEET_EEXISTS (duplicate id), FLEET_ETOOBIG (too many
 *   rules), FLEET_EINVAL (NULL arguments, a bad vehicle id), FLEET_ENOMEM.
 *   fleet_error_last() names the rule and member: "rules[2].threshold_kmh:
 *   -5 is not > 0". Nothing is returned on failure.
 */
FLEET_API int fleet_ruleset_load_json(fleet_ruleset_t **out, const char *json, size_t len);

/** As fleet_ruleset_load_json() for a file (at most
 *  FLEET_RULESET_MAX_FILE_BYTES); FLEET_EIO when it cannot be read. */
FLEET_API int fleet_ruleset_load_file(fleet_ruleset_t **out, const char *path);

/**
 * Validate `rule` and append a copy of it. Returns 0, the codes of
 * fleet_ruleset_load_json() (messages name the rule by id and the JSON member
 * name, e.g. "rule 'fast': threshold_kmh: 0 is not > 0"), or FLEET_ESTATE
 * when the set is frozen (already used by a tracker).
 */
FLEET_API int fleet_ruleset_add(fleet_ruleset_t *rs, const fleet_rule_t *rule);

/** Number of rules (0 for NULL). */
FLEET_API size_t fleet_ruleset_count(const fleet_ruleset_t *rs);

/** The i-th rule, in the order added; borrowed, valid until the next
 *  fleet_ruleset_add() or until the set is freed (a frozen set never changes).
 *  NULL when out of range. */
FLEET_API const fleet_rule_t *fleet_ruleset_get(const fleet_ruleset_t *rs, size_t i);

/** The rule with this id (borrowed, as for fleet_ruleset_get()), or NULL. */
FLEET_API const fleet_rule_t *fleet_ruleset_find(const fleet_ruleset_t *rs, const char *id);

/**
 * Append the rule set as a JSON document {"rules":[...]} that
 * fleet_ruleset_load_json() reads back to an equal set. Returns 0,
 * FLEET_EINVAL or FLEET_ENOMEM.
 */
FLEET_API int fleet_ruleset_encode_json(fleet_buf_t *buf, const fleet_ruleset_t *rs);

/**
 * Take another reference to the set and freeze it (no more additions).
 * Returns `rs`. Thread-safe. Each reference is released by fleet_ruleset_free().
 */
FLEET_API fleet_ruleset_t *fleet_ruleset_ref(fleet_ruleset_t *rs);

/** Release one reference; the set is freed with the last one. NULL-safe,
 *  thread-safe. */
FLEET_API void fleet_ruleset_free(fleet_ruleset_t *rs);

/** "overspeed", "zone_enter", ...; NULL for an unknown value. */
FLEET_API const char *fleet_rule_type_name(fleet_rule_type_t type);

/** "info", "warning", "critical"; NULL for an unknown value. */
FLEET_API const char *fleet_severity_name(fleet_severity_t severity);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_RULES_H */
