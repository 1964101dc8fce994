/*
 * rules: the evaluation engine used by the tracker. A vehicle's rule state is
 * one small heap block holding a slot per applicable stateful or scoped rule;
 * rules that apply to every vehicle and keep no state need no slot at all, so
 * a vehicle under a plain rule set costs nothing here.
 */
#ifndef FLEET_RULES_INT_H
#define FLEET_RULES_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet/rules.h"

/** A vehicle's rule state (opaque, heap-allocated, NULL when no rule needs one). */
typedef struct fleet_rules__vstate fleet_rules__vstate_t;

/** What the engine needs to know about one accepted fix. */
typedef struct fleet_rules__fix {
  int64_t ts_ns;
  unsigned int present;  /**< FLEET_TELEMETRY_* bits */
  double speed_kmh;
  double battery_v;
  double engine_temp_c;
  double fuel_level_pct;
  int ignition;          /**< valid when FLEET_TELEMETRY_IGNITION is present */
  int prev_ignition;     /**< last reported ignition before this fix, -1 unknown */
  double zone_limit_kmh; /**< lowest speed_limit of the current zones, NAN none */
} fleet_rules__fix_t;

/** Receives each alert; a non-zero return aborts evaluation and is returned. */
typedef int (*fleet_rules__emit_fn)(void *ud, int64_t ts_ns, const fleet_alert_t *alert);

/**
 * Build the state block for `vehicle_id` under `rs`. When `old` is given (built
 * under `old_rs`), slots of rules with the same id and type keep their state, so
 * reloading a rule set neither repeats nor loses alerts. *out is NULL when the
 * vehicle needs no state. Returns 0 or FLEET_ENOMEM.
 */
int fleet_rules__state_build(fleet_rules__vstate_t **out, const fleet_ruleset_t *rs,
                             const char *vehicle_id, const fleet_rules__vstate_t *old,
                             const fleet_ruleset_t *old_rs);

/** Free a state block (NULL-safe). */
void fleet_rules__state_free(fleet_rules__vstate_t *vs);

/** Heap bytes held by a state block (0 for NULL), for memory accounting. */
size_t fleet_rules__state_bytes(const fleet_rules__vstate_t *vs);

/** Evaluate the fix-driven rules (and re-arm offline rules). */
int fleet_rules__eval_fix(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                          const fleet_rules__fix_t *fix, fleet_rules__emit_fn emit, void *ud);

/** Evaluate zone_enter (enter != 0) or zone_exit rules for one zone event. */
int fleet_rules__eval_zone(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                           int64_t ts_ns, int enter, const char *zone_id,
                           const char *zone_name, double dwell_s,
                           fleet_rules__emit_fn emit, void *ud);

/** Evaluate offline rules at clock time `now_ns` for a vehicle last heard at
 *  `last_ts_ns`. */
int fleet_rules__eval_tick(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs,
                           int64_t last_ts_ns, int64_t now_ns,
                           fleet_rules__emit_fn emit, void *ud);

/** True when an overspeed rule takes zone speed limits into account. */
bool fleet_rules__uses_zone_limits(const fleet_ruleset_t *rs);

/** True when the set holds an offline rule (ticks have work to do). */
bool fleet_rules__has_offline(const fleet_ruleset_t *rs);

/** True when the set holds a zone_enter or zone_exit rule. */
bool fleet_rules__has_zone_rules(const fleet_ruleset_t *rs);

/** True when the rule set is frozen (shared). */
bool fleet_rules__is_frozen(const fleet_ruleset_t *rs);

#endif /* FLEET_RULES_INT_H */
