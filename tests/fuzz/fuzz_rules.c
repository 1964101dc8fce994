/*
 * libFuzzer target for the rules module. Every input is loaded as a rule set
 * (fleet_ruleset_load_json). A refusal must come with a documented code, a
 * message and no set. An accepted set must
 * - hold rules that keep the documented invariants (ids, names, sorted unique
 *   vehicle lists, finite non-negative durations) and are found by id;
 * - encode to JSON that loads back to a set encoding to the same bytes;
 * - rebuild, rule by rule through fleet_ruleset_add(), to the same encoding;
 * - drive a tracker over a fixed scenario (speeding, ignition, battery,
 *   engine temperature, fuel, silence) whose alerts all name rules of the set.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/rules.h"
#include "fleet/telemetry.h"
#include "fleet/tracker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_rules: %s: %s\n", what, detail);
  abort();
}

static void check_rule(const fleet_ruleset_t *rs, const fleet_rule_t *r)
{
  if (!r || !r->id)
    die("get", "NULL rule or id");
  size_t idlen = strlen(r->id);
  if (idlen < 1 || idlen > FLEET_RULE_ID_MAX)
    die("id length", r->id);
  if (fleet_ruleset_find(rs, r->id) != r)
    die("find does not return the rule", r->id);
  if (!fleet_rule_type_name(r->type))
    die("unknown type", r->id);
  if (!fleet_severity_name(r->severity))
    die("unknown severity", r->id);
  const double nonneg[] = {r->cooldown_s, r->hysteresis, r->min_duration_s};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(nonneg); i++)
    if (!isfinite(nonneg[i]) || nonneg[i] < 0)
      die("negative or non-finite duration/hysteresis", r->id);
  const double finite[] = {r->threshold, r->after_s, r->drop_pct, r->window_s,
                           r->stationary_kmh};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(finite); i++)
    if (!isfinite(finite[i]))
      die("non-finite parameter", r->id);
  if ((r->n_vehicles == 0) != (r->vehicles == NULL))
    die("vehicles pointer and count disagree", r->id);
  for (size_t i = 0; i < r->n_vehicles; i++) {
    const char *v = r->vehicles[i];
    if (!v || fleet_vehicle_id_validate(v, strlen(v)) != 0)
      die("invalid vehicle id kept", r->id);
    if (i > 0 && strcmp(r->vehicles[i - 1], v) >= 0)
      die("vehicles not sorted and unique", r->id);
  }
  if ((r->n_zones == 0) != (r->zones == NULL))
    die("zones pointer and count disagree", r->id);
  for (size_t i = 0; i < r->n_zones; i++)
    if (!r->zones[i])
      die("NULL zone id", r->id);
}

typedef struct scenario {
  const fleet_ruleset_t *rs;
  unsigned int alerts;
} scenario_t;

static int on_event(const fleet_tracker_event_t *ev, void *userdata)
{
  scenario_t *sc = userdata;
  if (ev->type != FLEET_TRACKER_EVENT_ALERT)
    return 0;
  const fleet_alert_t *a = ev->alert;
  if (!a || !a->rule_id || !a->message)
    die("alert", "missing rule id or message");
  const fleet_rule_t *r = fleet_ruleset_find(sc->rs, a->rule_id);
  if (!r)
    die("alert names an unknown rule", a->rule_id);
  if (r->type != a->rule_type || r->severity != a->severity)
    die("alert type/severity differ from its rule", a->rule_id);
  if (!memchr(a->message, '\0', FLEET_ALERT_MESSAGE_MAX))
    die("alert message too long", a->rule_id);
  if (!isfinite(a->value) || !isfinite(a->limit))
    die("alert value or limit not finite", a->rule_id);
  sc->alerts++;
  return 0;
}

/* A vehicle id the rules name (their first vehicle), so scoped rules fire too. */
static void scenario_ids(const fleet_ruleset_t *rs, const char **ids, size_t *n, size_t cap)
{
  ids[0] = "v-001";
  *n = 1;
  for (size_t i = 0; i < fleet_ruleset_count(rs) && *n < cap; i++) {
    const fleet_rule_t *r = fleet_ruleset_get(rs, i);
    if (r->n_vehicles > 0)
      ids[(*n)++] = r->vehicles[0];
  }
}

static void run_scenario(fleet_ruleset_t *rs)
{
  static const struct {
    double speed, battery, temp, fuel;
    int ignition;
  } steps[] = {
      {0, 12.6, 80, 80, 1},     {60, 12.5, 95, 80, 1},    {140, 12.4, 120, 79, 1},
      {150, 11.0, 130, 60, 1},  {150, 10.5, 135, 40, 1},  {30, 10.4, 110, 40, 1},
      {0, 12.8, 85, 39, 0},     {0, 12.8, 70, 10, 0},     {200, 12.9, 250, 100, 1},
      {0, 0.0, -60, 0, 0},
  };
  fleet_tracker_opts_t opts = FLEET_TRACKER_OPTS_INIT;
  opts.rules = rs;
  scenario_t sc = {rs, 0};
  fleet_tracker_t *t = NULL;
  if (fleet_tracker_new(&t, &opts, on_event, &sc) != 0)
    die("tracker_new", fleet_error_last());
  const char *ids[5];
  size_t nids;
  scenario_ids(rs, ids, &nids, FLEET_ARRAY_LEN(ids));
  const int64_t t0 = INT64_C(1779355800) * 1000000000; /* 2026-05-21T09:30:00Z */
  int64_t ts = t0;
  for (size_t s = 0; s < FLEET_ARRAY_LEN(steps); s++) {
    ts += INT64_C(20) * 1000000000;
    for (size_t v = 0; v < nids; v++) {
      fleet_telemetry_t rec = FLEET_TELEMETRY_INIT;
      snprintf(rec.vehicle_id, sizeof rec.vehicle_id, "%s", ids[v]);
      rec.ts_ns = ts;
      rec.lat = 23.81 + 0.001 * (double)s;
      rec.lng = 90.41;
      rec.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_IGNITION |
                    FLEET_TELEMETRY_BATTERY_V | FLEET_TELEMETRY_ENGINE_TEMP |
                    FLEET_TELEMETRY_FUEL_LEVEL;
      rec.speed_kmh = steps[s].speed;
      rec.ignition = steps[s].ignition;
      rec.battery_v = steps[s].battery;
      rec.engine_temp_c = steps[s].temp;
      rec.fuel_level_pct = steps[s].fuel;
      int rc = fleet_tracker_feed(t, &rec);
      if (rc != 0)
        die("feed", fleet_error_last());
    }
  }
  /* Silence: offline rules fire at the tick, and only once per silence. */
  const int64_t later[] = {INT64_C(600), INT64_C(86400), INT64_C(86400) * 400};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(later); i++)
    if (fleet_tracker_tick(t, ts + later[i] * 1000000000) != 0)
      die("tick", fleet_error_last());
  unsigned int before = sc.alerts;
  if (fleet_tracker_tick(t, ts + later[2] * 1000000000) != 0)
    die("tick", fleet_error_last());
  if (sc.alerts != before)
    die("tick", "a repeated tick raised alerts again");
  if (fleet_tracker_flush(t, NULL) != 0)
    die("flush", fleet_error_last());
  fleet_tracker_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fleet_ruleset_t *rs = NULL;
  int rc = fleet_ruleset_load_json(&rs, (const char *)data, size);
  if (rc > 0)
    die("load", "positive return");
  if (rc != 0) {
    if (rs != NULL)
      die("load", "a set returned with an error");
    if (fleet_error_last()[0] == '\0')
      die("load", "failure without a message");
    switch (rc) {
    case FLEET_EPARSE: case FLEET_ETYPE: case FLEET_ERANGE: case FLEET_EMISSING:
    case FLEET_EEXISTS: case FLEET_ETOOBIG: case FLEET_EINVAL: case FLEET_ENOMEM:
      return 0;
    default:
      die("load: undocumented code", fleet_strerror(rc));
    }
  }
  if (!rs)
    die("load", "success without a set");
  size_t n = fleet_ruleset_count(rs);
  if (n > FLEET_RULESET_MAX_RULES)
    die("count", "over FLEET_RULESET_MAX_RULES");
  for (size_t i = 0; i < n; i++)
    check_rule(rs, fleet_ruleset_get(rs, i));
  if (fleet_ruleset_get(rs, n) != NULL)
    die("get", "a rule past the end");

  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT, c = FLEET_BUF_INIT;
  if (fleet_ruleset_encode_json(&a, rs) != 0)
    die("encode", fleet_error_last());
  fleet_ruleset_t *back = NULL;
  if (fleet_ruleset_load_json(&back, a.ptr, a.len) != 0)
    die(a.ptr, fleet_error_last());
  if (fleet_ruleset_count(back) != n)
    die("reload", "rule count differs");
  if (fleet_ruleset_encode_json(&b, back) != 0)
    die("re-encode", fleet_error_last());
  if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
    die(a.ptr, b.ptr);

  fleet_ruleset_t *built = NULL;
  if (fleet_ruleset_new(&built) != 0)
    die("new", fleet_error_last());
  for (size_t i = 0; i < n; i++)
    if (fleet_ruleset_add(built, fleet_ruleset_get(rs, i)) != 0)
      die("add of a loaded rule", fleet_error_last());
  if (fleet_ruleset_encode_json(&c, built) != 0)
    die("encode built", fleet_error_last());
  if (a.len != c.len || memcmp(a.ptr, c.ptr, a.len) != 0)
    die(a.ptr, c.ptr);

  run_scenario(rs);
  /* The tracker froze the set: additions are refused now. */
  if (n > 0 && fleet_ruleset_add(rs, fleet_ruleset_get(back, 0)) != FLEET_ESTATE)
    die("add to a frozen set", "not refused with FLEET_ESTATE");

  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);
  fleet_buf_dispose(&c);
  fleet_ruleset_free(back);
  fleet_ruleset_free(built);
  fleet_ruleset_free(rs);
  return 0;
}
