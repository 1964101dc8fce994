/* Unit tests for rules: JSON loading and its errors, building, encoding, and the
 * evaluation engine driven directly (the tracker scenarios are in test_tracker.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common_int.h"
#include "fleet/telemetry.h"
#include "rules_int.h"

#define S(x) ((int64_t)(x) * 1000000000LL)
#define T0 S(1780000000) /* 2026-05-28T20:26:40Z */

/* ---- helpers ------------------------------------------------------------- */

static fleet_ruleset_t *load(const char *json)
{
  fleet_ruleset_t *rs = NULL;
  int rc = fleet_ruleset_load_json(&rs, json, strlen(json));
  if (rc)
    fail_msg("load failed: %s", fleet_error_last());
  return rs;
}

static void expect_error(const char *json, int code, const char *msg)
{
  fleet_ruleset_t *rs = (fleet_ruleset_t *)1;
  int rc = fleet_ruleset_load_json(&rs, json, strlen(json));
  if (rc != code)
    fail_msg("expected %s, got %s (%s) for %s", fleet_status_name(code), fleet_status_name(rc),
             fleet_error_last(), json);
  assert_null(rs);
  assert_string_equal(fleet_error_last(), msg);
}

typedef struct got {
  int n;
  int64_t ts[32];
  char rule[32][FLEET_RULE_ID_MAX + 1];
  double value[32];
  double limit[32];
  char msg[32][FLEET_ALERT_MESSAGE_MAX];
  int abort_at; /* return 99 from this alert (1-based); 0 never */
} got_t;

static int collect(void *ud, int64_t ts, const fleet_alert_t *a)
{
  got_t *g = ud;
  assert_true(g->n < 32);
  g->ts[g->n] = ts;
  snprintf(g->rule[g->n], sizeof g->rule[0], "%s", a->rule_id);
  g->value[g->n] = a->value;
  g->limit[g->n] = a->limit;
  snprintf(g->msg[g->n], sizeof g->msg[0], "%s", a->message);
  g->n++;
  return g->abort_at && g->n == g->abort_at ? 99 : 0;
}

static fleet_rules__fix_t fix_at(int64_t ts)
{
  fleet_rules__fix_t f;
  memset(&f, 0, sizeof f);
  f.ts_ns = ts;
  f.prev_ignition = -1;
  f.zone_limit_kmh = NAN;
  return f;
}

static int feed_speed(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs, got_t *g,
                      int64_t ts, double speed, double zone_limit)
{
  fleet_rules__fix_t f = fix_at(ts);
  f.present = FLEET_TELEMETRY_SPEED;
  f.speed_kmh = speed;
  f.zone_limit_kmh = zone_limit;
  return fleet_rules__eval_fix(vs, rs, &f, collect, g);
}

static fleet_rules__vstate_t *build(const fleet_ruleset_t *rs, const char *vid)
{
  fleet_rules__vstate_t *vs = NULL;
  assert_int_equal(fleet_rules__state_build(&vs, rs, vid, NULL, NULL), 0);
  return vs;
}

/* ---- loading ------------------------------------------------------------- */

static const char *all_types =
  "{\"rules\":["
  "{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,\"hysteresis_kmh\":5,"
  "\"min_duration_s\":10,\"severity\":\"critical\",\"cooldown_s\":60,"
  "\"vehicles\":[\"v-2\",\"v-1\",\"v-2\"],\"description\":\"too fast\"},"
  "{\"id\":\"in\",\"type\":\"zone_enter\",\"zones\":[\"depot\",\"b\"]},"
  "{\"id\":\"out\",\"type\":\"zone_exit\",\"vehicles\":\"*\"},"
  "{\"id\":\"on\",\"type\":\"ignition_on\",\"severity\":\"info\"},"
  "{\"id\":\"off\",\"type\":\"ignition_off\"},"
  "{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":900},"
  "{\"id\":\"batt\",\"type\":\"low_battery\",\"threshold_v\":11.5,\"hysteresis_v\":0.3},"
  "{\"id\":\"hot\",\"type\":\"engine_temp\",\"threshold_c\":105,\"hysteresis_c\":5},"
  "{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":10,\"window_s\":600,"
  "\"stationary\":true}"
  "]}";

static void test_load_all_types(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load(all_types);
  assert_int_equal(fleet_ruleset_count(rs), 9);

  const fleet_rule_t *r = fleet_ruleset_get(rs, 0);
  assert_string_equal(r->id, "fast");
  assert_int_equal(r->type, FLEET_RULE_OVERSPEED);
  assert_int_equal(r->severity, FLEET_SEVERITY_CRITICAL);
  assert_true(r->threshold == 80 && r->hysteresis == 5 && r->min_duration_s == 10);
  assert_true(r->cooldown_s == 60);
  assert_int_equal(r->zone_limits, 1);
  assert_string_equal(r->description, "too fast");
  /* sorted and deduplicated */
  assert_int_equal(r->n_vehicles, 2);
  assert_string_equal(r->vehicles[0], "v-1");
  assert_string_equal(r->vehicles[1], "v-2");

  r = fleet_ruleset_find(rs, "in");
  assert_int_equal(r->type, FLEET_RULE_ZONE_ENTER);
  assert_int_equal(r->n_zones, 2);
  assert_string_equal(r->zones[0], "b");
  assert_int_equal(r->severity, FLEET_SEVERITY_WARNING);
  assert_int_equal(fleet_ruleset_find(rs, "out")->n_vehicles, 0);
  assert_true(fleet_ruleset_find(rs, "quiet")->after_s == 900);
  r = fleet_ruleset_find(rs, "batt");
  assert_true(r->threshold == 11.5 && r->hysteresis == 0.3 && r->min_duration_s == 0);
  r = fleet_ruleset_find(rs, "theft");
  assert_true(r->drop_pct == 10 && r->window_s == 600 && r->stationary == 1);
  assert_true(r->stationary_kmh == 5);
  assert_null(fleet_ruleset_find(rs, "nope"));
  assert_null(fleet_ruleset_get(rs, 9));
  assert_true(fleet_rules__uses_zone_limits(rs));
  assert_true(fleet_rules__has_offline(rs));
  assert_true(fleet_rules__has_zone_rules(rs));
  fleet_ruleset_free(rs);

  /* A bare array works too, and an empty set is valid. */
  rs = load("[{\"id\":\"a\",\"type\":\"ignition_on\"}]");
  assert_int_equal(fleet_ruleset_count(rs), 1);
  assert_false(fleet_rules__has_offline(rs));
  assert_false(fleet_rules__uses_zone_limits(rs));
  fleet_ruleset_free(rs);
  rs = load("{\"rules\":[]}");
  assert_int_equal(fleet_ruleset_count(rs), 0);
  fleet_ruleset_free(rs);
}

static void test_load_errors(void **state)
{
  (void)state;
  expect_error("{\"rules\":[", FLEET_EPARSE,
               "rules: line 1, column 10: ']' expected near end of file");
  expect_error("42", FLEET_EPARSE, "rules: line 1, column 2: '[' or '{' expected near '42'");
  expect_error("{\"rule\":[]}", FLEET_EPARSE, "rule: unknown member of the rules document");
  expect_error("{}", FLEET_EMISSING, "rules: missing");
  expect_error("{\"rules\":{}}", FLEET_ETYPE, "rules: expected an array, got an object");
  expect_error("[1]", FLEET_ETYPE, "rules[0]: expected an object, got a number");
  expect_error("[{\"id\":\"a\"}]", FLEET_EMISSING, "rules[0].type: missing");
  expect_error("[{\"id\":\"a\",\"type\":3}]", FLEET_ETYPE,
               "rules[0].type: expected a string, got a number");
  expect_error("[{\"id\":\"a\",\"type\":\"speeding\"}]", FLEET_ERANGE,
               "rules[0].type: 'speeding' is not one of overspeed, zone_enter, zone_exit, "
               "ignition_on, ignition_off, offline, low_battery, engine_temp, fuel_drop");
  expect_error("[{\"type\":\"ignition_on\"}]", FLEET_EMISSING,
               "rules[0].id: missing (required for ignition_on)");
  expect_error("[{\"id\":\"\",\"type\":\"ignition_on\"}]", FLEET_ERANGE, "rules[0].id: is empty");
  expect_error("[{\"id\":7,\"type\":\"ignition_on\"}]", FLEET_ETYPE,
               "rules[0].id: expected a string, got a number");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\"},{\"id\":\"b\",\"type\":\"overspeed\"}]",
               FLEET_EMISSING, "rules[1].threshold_kmh: missing (required for overspeed)");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":\"80\"}]", FLEET_ETYPE,
               "rules[0].threshold_kmh: expected a number, got a string");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":-5}]", FLEET_ERANGE,
               "rules[0].threshold_kmh: -5 is not > 0");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
               "\"hysteresis_kmh\":80}]",
               FLEET_ERANGE, "rules[0].hysteresis_kmh: 80 is not below threshold_kmh 80");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
               "\"min_duration_s\":-1}]",
               FLEET_ERANGE, "rules[0].min_duration_s: -1 is not >= 0");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
               "\"zone_limits\":1}]",
               FLEET_ETYPE, "rules[0].zone_limits: expected a boolean, got a number");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kph\":80}]", FLEET_EPARSE,
               "rules[0].threshold_kph: unknown member for a rule of type overspeed");
  expect_error("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":80,\"zones\":[\"z\"]}]",
               FLEET_EPARSE, "rules[0].zones: unknown member for a rule of type overspeed");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"severity\":\"fatal\"}]", FLEET_ERANGE,
               "rules[0].severity: 'fatal' is not one of info, warning, critical");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"cooldown_s\":-1}]", FLEET_ERANGE,
               "rules[0].cooldown_s: -1 is not >= 0");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\"},{\"id\":\"a\",\"type\":\"offline\","
               "\"after_s\":60}]",
               FLEET_EEXISTS, "rules[1].id: 'a' is used by another rule");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"vehicles\":[\"ok\",\"no way\"]}]",
               FLEET_EINVAL,
               "rules[0].vehicles[1]: 'no way' is not a vehicle id (1-64 chars of "
               "[A-Za-z0-9._-])");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"vehicles\":[1]}]", FLEET_ETYPE,
               "rules[0].vehicles[0]: expected a string, got a number");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"vehicles\":[]}]", FLEET_ERANGE,
               "rules[0].vehicles: is empty (omit it, or use \"*\", for every one)");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"vehicles\":\"all\"}]", FLEET_ETYPE,
               "rules[0].vehicles: expected an array of ids or \"*\", got \"all\"");
  expect_error("[{\"id\":\"a\",\"type\":\"zone_exit\",\"zones\":[\"\"]}]", FLEET_ERANGE,
               "rules[0].zones[0]: is empty");
  expect_error("[{\"id\":\"a\",\"type\":\"offline\",\"after_s\":0}]", FLEET_ERANGE,
               "rules[0].after_s: 0 is not > 0");
  expect_error("[{\"id\":\"a\",\"type\":\"low_battery\",\"threshold_v\":0}]", FLEET_ERANGE,
               "rules[0].threshold_v: 0 is not > 0");
  expect_error("[{\"id\":\"a\",\"type\":\"engine_temp\",\"threshold_c\":300}]", FLEET_ERANGE,
               "rules[0].threshold_c: 300 is over the maximum 250");
  expect_error("[{\"id\":\"a\",\"type\":\"fuel_drop\",\"drop_pct\":101,\"window_s\":60}]",
               FLEET_ERANGE, "rules[0].drop_pct: 101 is over the maximum 100");
  expect_error("[{\"id\":\"a\",\"type\":\"fuel_drop\",\"drop_pct\":10}]", FLEET_EMISSING,
               "rules[0].window_s: missing (required for fuel_drop)");
  expect_error("[{\"id\":\"a\",\"type\":\"fuel_drop\",\"drop_pct\":10,\"window_s\":90000}]",
               FLEET_ERANGE, "rules[0].window_s: 90000 is over the maximum 86400");
  expect_error("[{\"id\":\"a\",\"type\":\"ignition_on\",\"id\":\"b\"}]", FLEET_EPARSE,
               "rules: line 1, column 36: duplicate object key near '\"id\"'");
  expect_error("[{\"id\":\"a\\u0001\",\"type\":\"ignition_on\"}]", FLEET_ERANGE,
               "rules[0].id: contains control character 0x01");

  /* Too many rules. */
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__putc(&b, '[');
  for (int i = 0; i <= FLEET_RULESET_MAX_RULES; i++)
    fleet_buf__printf(&b, "%s{\"id\":\"r%d\",\"type\":\"ignition_on\"}", i ? "," : "", i);
  fleet_buf__putc(&b, ']');
  expect_error(b.ptr, FLEET_ETOOBIG, "rules: 1025 rules, at most 1024");
  fleet_buf_dispose(&b);

  fleet_ruleset_t *rs = NULL;
  assert_int_equal(fleet_ruleset_load_json(NULL, "[]", 2), FLEET_EINVAL);
  assert_int_equal(fleet_ruleset_load_json(&rs, NULL, 2), FLEET_EINVAL);
  assert_int_equal(fleet_ruleset_load_json(&rs, NULL, 0), FLEET_EPARSE);
}

static void test_load_file(void **state)
{
  (void)state;
  char path[] = "/tmp/test_rules_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(all_types, f);
  fclose(f);
  fleet_ruleset_t *rs = NULL;
  assert_int_equal(fleet_ruleset_load_file(&rs, path), 0);
  assert_int_equal(fleet_ruleset_count(rs), 9);
  fleet_ruleset_free(rs);

  f = fopen(path, "w");
  fputs("[{\"id\":\"a\",\"type\":\"nope\"}]", f);
  fclose(f);
  assert_int_equal(fleet_ruleset_load_file(&rs, path), FLEET_ERANGE);
  assert_null(rs);
  char want[256];
  snprintf(want, sizeof want, "%s: rules[0].type: 'nope' is not one of", path);
  assert_int_equal(strncmp(fleet_error_last(), want, strlen(want)), 0);
  unlink(path);

  assert_int_equal(fleet_ruleset_load_file(&rs, path), FLEET_EIO);
  snprintf(want, sizeof want, "%s: No such file or directory", path);
  assert_string_equal(fleet_error_last(), want);
  assert_int_equal(fleet_ruleset_load_file(&rs, NULL), FLEET_EINVAL);
}

static void test_add_and_freeze(void **state)
{
  (void)state;
  fleet_rule_t r;
  assert_int_equal(fleet_rule_init(&r, FLEET_RULE_VERSION), 0);
  assert_int_equal(r.severity, FLEET_SEVERITY_WARNING);
  assert_int_equal(r.zone_limits, 1);
  assert_true(r.stationary_kmh == 5);
  assert_int_equal(fleet_rule_init(&r, 99), FLEET_EINVAL);
  assert_int_equal(fleet_rule_init(NULL, FLEET_RULE_VERSION), FLEET_EINVAL);

  fleet_ruleset_t *rs = NULL;
  assert_int_equal(fleet_ruleset_new(&rs), 0);
  fleet_rule_init(&r, FLEET_RULE_VERSION);
  r.id = "fast";
  r.type = FLEET_RULE_OVERSPEED;
  r.threshold = 0;
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "rule 'fast'.threshold_kmh: 0 is not > 0");
  r.threshold = 90;
  r.after_s = 77; /* not an overspeed member: dropped */
  assert_int_equal(fleet_ruleset_add(rs, &r), 0);
  assert_true(fleet_ruleset_get(rs, 0)->after_s == 0);
  r.type = (fleet_rule_type_t)42;
  r.id = "x";
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "rule 'x'.type: 42 is not a rule type");
  r.type = FLEET_RULE_IGNITION_ON;
  r.severity = (fleet_severity_t)0;
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_ERANGE);
  r.severity = FLEET_SEVERITY_INFO;
  r.n_vehicles = 1;
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "rule 'x'.vehicles: 1 ids but the array is NULL");
  r.n_vehicles = 0;
  r.id = NULL;
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_EMISSING);
  assert_string_equal(fleet_error_last(), "rule 1.id: missing");
  r.id = "x";
  r.version = 7;
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_EINVAL);
  r.version = FLEET_RULE_VERSION;
  assert_int_equal(fleet_ruleset_add(NULL, &r), FLEET_EINVAL);
  assert_int_equal(fleet_ruleset_add(rs, NULL), FLEET_EINVAL);

  /* Once shared, a set is frozen; each reference is released separately. */
  fleet_ruleset_t *again = fleet_ruleset_ref(rs);
  assert_ptr_equal(again, rs);
  assert_true(fleet_rules__is_frozen(rs));
  assert_int_equal(fleet_ruleset_add(rs, &r), FLEET_ESTATE);
  assert_string_equal(fleet_error_last(),
                      "rule 'x': the rule set is in use by a tracker and frozen");
  fleet_ruleset_free(rs);
  assert_int_equal(fleet_ruleset_count(again), 1);
  fleet_ruleset_free(again);
  fleet_ruleset_free(NULL);
  assert_null(fleet_ruleset_ref(NULL));
  assert_int_equal(fleet_ruleset_count(NULL), 0);
  assert_int_equal(fleet_ruleset_new(NULL), FLEET_EINVAL);
}

static void test_encode_roundtrip(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load(all_types);
  fleet_buf_t a = FLEET_BUF_INIT, b = FLEET_BUF_INIT;
  assert_int_equal(fleet_ruleset_encode_json(&a, rs), 0);
  assert_non_null(strstr(a.ptr, "{\"id\":\"fast\",\"type\":\"overspeed\",\"severity\":\"critical\","
                                "\"cooldown_s\":60,\"description\":\"too fast\","
                                "\"vehicles\":[\"v-1\",\"v-2\"],\"threshold_kmh\":80,"
                                "\"hysteresis_kmh\":5,\"min_duration_s\":10,"
                                "\"zone_limits\":true}"));
  assert_non_null(strstr(a.ptr, "{\"id\":\"batt\",\"type\":\"low_battery\","
                                "\"severity\":\"warning\",\"threshold_v\":11.5,"
                                "\"hysteresis_v\":0.3,\"min_duration_s\":0}"));
  fleet_ruleset_t *back = load(a.ptr);
  assert_int_equal(fleet_ruleset_encode_json(&b, back), 0);
  assert_string_equal(a.ptr, b.ptr);
  fleet_ruleset_free(back);
  fleet_ruleset_free(rs);

  /* Strings are escaped. */
  fleet_buf_clear(&a);
  rs = load("[{\"id\":\"q\\\"\\\\\",\"type\":\"ignition_on\",\"description\":\"a\\nb\"}]");
  assert_int_equal(fleet_ruleset_encode_json(&a, rs), 0);
  assert_string_equal(a.ptr, "{\"rules\":[{\"id\":\"q\\\"\\\\\",\"type\":\"ignition_on\","
                             "\"severity\":\"warning\",\"description\":\"a\\u000ab\"}]}");
  fleet_ruleset_free(rs);
  assert_int_equal(fleet_ruleset_encode_json(NULL, rs), FLEET_EINVAL);
  fleet_buf_dispose(&a);
  fleet_buf_dispose(&b);
}

static void test_names(void **state)
{
  (void)state;
  assert_string_equal(fleet_rule_type_name(FLEET_RULE_OVERSPEED), "overspeed");
  assert_string_equal(fleet_rule_type_name(FLEET_RULE_FUEL_DROP), "fuel_drop");
  assert_null(fleet_rule_type_name((fleet_rule_type_t)0));
  assert_null(fleet_rule_type_name((fleet_rule_type_t)10));
  assert_string_equal(fleet_severity_name(FLEET_SEVERITY_CRITICAL), "critical");
  assert_null(fleet_severity_name((fleet_severity_t)4));
}

/* ---- engine -------------------------------------------------------------- */

static void test_overspeed_episode(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                             "\"hysteresis_kmh\":5,\"min_duration_s\":10}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  assert_non_null(vs);
  got_t g = {0};
  /* 85 at t=0 starts the wait; 79 at t=5 (not above 80) restarts it. */
  feed_speed(vs, rs, &g, T0 + S(0), 85, NAN);
  feed_speed(vs, rs, &g, T0 + S(5), 79, NAN);
  feed_speed(vs, rs, &g, T0 + S(10), 85, NAN);
  assert_int_equal(g.n, 0);
  /* Above since t=10: at t=20 the 10 s are reached. */
  feed_speed(vs, rs, &g, T0 + S(15), 90, NAN);
  assert_int_equal(g.n, 0);
  feed_speed(vs, rs, &g, T0 + S(20), 88, NAN);
  assert_int_equal(g.n, 1);
  assert_true(g.ts[0] == T0 + S(20));
  assert_true(g.value[0] == 88 && g.limit[0] == 80);
  assert_string_equal(g.msg[0], "speed 88 km/h over limit 80 km/h");
  /* Oscillating around the threshold, never below 75: still the same episode. */
  double osc[] = {79, 81, 76, 84, 75, 82, 78.5, 81};
  for (int i = 0; i < 8; i++)
    feed_speed(vs, rs, &g, T0 + S(25 + 5 * i), osc[i], NAN);
  assert_int_equal(g.n, 1);
  /* 74.9 ends it; a new episode needs the full 10 s again. */
  feed_speed(vs, rs, &g, T0 + S(70), 74.9, NAN);
  feed_speed(vs, rs, &g, T0 + S(75), 81, NAN);
  feed_speed(vs, rs, &g, T0 + S(84), 81, NAN);
  assert_int_equal(g.n, 1);
  feed_speed(vs, rs, &g, T0 + S(85), 81, NAN);
  assert_int_equal(g.n, 2);
  assert_true(g.ts[1] == T0 + S(85));
  /* A fix without a speed changes nothing. */
  fleet_rules__fix_t f = fix_at(T0 + S(200));
  assert_int_equal(fleet_rules__eval_fix(vs, rs, &f, collect, &g), 0);
  assert_int_equal(g.n, 2);
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_overspeed_zone_limit(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                             "\"hysteresis_kmh\":5},"
                             "{\"id\":\"plain\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                             "\"zone_limits\":false}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  got_t g = {0};
  /* 60 inside a 50 zone: only the zone-aware rule fires. */
  feed_speed(vs, rs, &g, T0, 60, 50);
  assert_int_equal(g.n, 1);
  assert_string_equal(g.rule[0], "fast");
  assert_true(g.limit[0] == 50);
  assert_string_equal(g.msg[0], "speed 60 km/h over zone limit 50 km/h");
  /* Leaving the zone at 60: below 80 - 5, the episode ends. */
  feed_speed(vs, rs, &g, T0 + S(1), 60, NAN);
  /* A zone limit above the default applies too (a motorway zone): 95 is fine there,
   * but not for the zone-blind rule. */
  feed_speed(vs, rs, &g, T0 + S(2), 95, 100);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.rule[1], "plain");
  assert_true(g.limit[1] == 80);
  feed_speed(vs, rs, &g, T0 + S(3), 101, 100);
  assert_int_equal(g.n, 3);
  assert_string_equal(g.rule[2], "fast");
  assert_true(g.limit[2] == 100);
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_cooldown_and_scope(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                             "\"cooldown_s\":60,\"vehicles\":[\"v-1\",\"v-3\"]},"
                             "{\"id\":\"on\",\"type\":\"ignition_on\"}]");
  /* v-2 is out of scope of "fast" and the other rule needs no state. */
  fleet_rules__vstate_t *v2 = build(rs, "v-2");
  assert_null(v2);
  assert_int_equal(fleet_rules__state_bytes(NULL), 0);
  got_t g = {0};
  feed_speed(NULL, rs, &g, T0, 120, NAN);
  assert_int_equal(g.n, 0);

  fleet_rules__vstate_t *vs = build(rs, "v-1");
  assert_true(fleet_rules__state_bytes(vs) > 0 && fleet_rules__state_bytes(vs) <= 64);
  feed_speed(vs, rs, &g, T0, 90, NAN);      /* alert at 0 */
  feed_speed(vs, rs, &g, T0 + S(10), 70, NAN);
  feed_speed(vs, rs, &g, T0 + S(20), 90, NAN); /* episode 2: suppressed (20 < 60) */
  feed_speed(vs, rs, &g, T0 + S(30), 70, NAN);
  feed_speed(vs, rs, &g, T0 + S(59), 90, NAN); /* episode 3: suppressed (59 < 60) */
  feed_speed(vs, rs, &g, T0 + S(65), 95, NAN); /* same episode: no late alert */
  feed_speed(vs, rs, &g, T0 + S(66), 70, NAN);
  feed_speed(vs, rs, &g, T0 + S(70), 90, NAN); /* episode 4: 70 >= 60 */
  assert_int_equal(g.n, 2);
  assert_true(g.ts[0] == T0 && g.ts[1] == T0 + S(70));
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_battery_and_temp(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"batt\",\"type\":\"low_battery\",\"threshold_v\":11.5,"
                             "\"hysteresis_v\":0.5,\"min_duration_s\":60},"
                             "{\"id\":\"hot\",\"type\":\"engine_temp\",\"threshold_c\":105,"
                             "\"hysteresis_c\":5}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  got_t g = {0};
  double volts[] = {12.6, 11.4, 11.3, 11.6, 11.2, 11.1, 11.0, 11.9, 11.95, 12.1, 11.3, 11.2};
  for (int i = 0; i < 12; i++) {
    fleet_rules__fix_t f = fix_at(T0 + S(30 * i));
    f.present = FLEET_TELEMETRY_BATTERY_V;
    f.battery_v = volts[i];
    assert_int_equal(fleet_rules__eval_fix(vs, rs, &f, collect, &g), 0);
  }
  /* Below 11.5 at 30, 60, then 11.6 at 90 restarts; below from 120: 60 s reached at 180.
   * Back above 12.0 only at 270 (11.9 and 11.95 stay in the band); below again from
   * 300, so the second alert would be due at 360 (not reached). */
  assert_int_equal(g.n, 1);
  assert_true(g.ts[0] == T0 + S(180));
  assert_string_equal(g.msg[0], "battery 11 V below 11.5 V");
  assert_true(g.value[0] == 11.0 && g.limit[0] == 11.5);

  double temps[] = {90, 106, 104, 101, 99.9, 105.5};
  for (int i = 0; i < 6; i++) {
    fleet_rules__fix_t f = fix_at(T0 + S(1000 + i));
    f.present = FLEET_TELEMETRY_ENGINE_TEMP;
    f.engine_temp_c = temps[i];
    fleet_rules__eval_fix(vs, rs, &f, collect, &g);
  }
  assert_int_equal(g.n, 3);
  assert_true(g.ts[1] == T0 + S(1001) && g.ts[2] == T0 + S(1005));
  assert_string_equal(g.msg[1], "engine temperature 106 C above 105 C");
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static int feed_fuel(fleet_rules__vstate_t *vs, const fleet_ruleset_t *rs, got_t *g,
                     int64_t ts, double fuel, double speed)
{
  fleet_rules__fix_t f = fix_at(ts);
  f.present = FLEET_TELEMETRY_FUEL_LEVEL;
  f.fuel_level_pct = fuel;
  if (speed >= 0) {
    f.present |= FLEET_TELEMETRY_SPEED;
    f.speed_kmh = speed;
  }
  return fleet_rules__eval_fix(vs, rs, &f, collect, g);
}

static void test_fuel_drop(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":10,"
                             "\"window_s\":300,\"stationary\":true}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  got_t g = {0};
  /* Slow consumption: 60 -> 51 over 10 minutes never drops 10 points in 300 s. */
  for (int i = 0; i <= 10; i++)
    feed_fuel(vs, rs, &g, T0 + S(60 * i), 60 - 0.9 * i, 0);
  assert_int_equal(g.n, 0);
  /* At 600 the level is 51; refuel to 80 resets, then 80 -> 70.5 -> 69.99. */
  feed_fuel(vs, rs, &g, T0 + S(700), 80, 0);
  feed_fuel(vs, rs, &g, T0 + S(760), 75.25, 0);
  feed_fuel(vs, rs, &g, T0 + S(820), 70.5, 0);
  assert_int_equal(g.n, 0);
  feed_fuel(vs, rs, &g, T0 + S(880), 69.99, 0);
  assert_int_equal(g.n, 1);
  assert_true(g.ts[0] == T0 + S(880));
  assert_true(fabs(g.value[0] - 10.01) < 1e-9 && g.limit[0] == 10);
  assert_string_equal(g.msg[0], "fuel level fell 10 points, from 80% to 70%, in 180 s");
  /* The measurement restarted at 69.99: a further 9.99 is not enough. */
  feed_fuel(vs, rs, &g, T0 + S(900), 60, 0);
  assert_int_equal(g.n, 1);
  /* Exactly 10.00 points is enough (levels are compared in hundredths). */
  feed_fuel(vs, rs, &g, T0 + S(910), 59.99, 0);
  assert_int_equal(g.n, 2);

  /* Movement restarts the measurement: 50 -> (moving) -> 45 -> 39 while parked. */
  feed_fuel(vs, rs, &g, T0 + S(2000), 50, 0);
  feed_fuel(vs, rs, &g, T0 + S(2010), 47, 30);
  feed_fuel(vs, rs, &g, T0 + S(2020), 45, 0);
  feed_fuel(vs, rs, &g, T0 + S(2030), 39, 0);
  assert_int_equal(g.n, 2);
  feed_fuel(vs, rs, &g, T0 + S(2040), 35, 0);
  assert_int_equal(g.n, 3); /* 45 -> 35 */

  /* The window slides: 30 at 3000, 25 at 3200, 21 at 3301: the 30 is 301 s old,
   * the 25 is the maximum within the window: 4 points, nothing. */
  feed_fuel(vs, rs, &g, T0 + S(3000), 30, 0);
  feed_fuel(vs, rs, &g, T0 + S(3200), 25, 0);
  feed_fuel(vs, rs, &g, T0 + S(3301), 21, 0);
  assert_int_equal(g.n, 3);
  /* A long steady fall of many samples (more than the queue holds) is still found. */
  for (int i = 1; i <= 40; i++)
    feed_fuel(vs, rs, &g, T0 + S(3301 + 5 * i), 21 - 0.3 * i, -1);
  assert_int_equal(g.n, 4);
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_ignition(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"on\",\"type\":\"ignition_on\",\"severity\":\"info\"},"
                             "{\"id\":\"off\",\"type\":\"ignition_off\"}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  assert_null(vs);
  got_t g = {0};
  int seq[][2] = {{-1, 1}, {1, 1}, {1, 0}, {0, 0}, {0, 1}};
  for (int i = 0; i < 5; i++) {
    fleet_rules__fix_t f = fix_at(T0 + S(i));
    f.present = FLEET_TELEMETRY_IGNITION;
    f.prev_ignition = seq[i][0];
    f.ignition = seq[i][1];
    fleet_rules__eval_fix(vs, rs, &f, collect, &g);
  }
  assert_int_equal(g.n, 2);
  assert_string_equal(g.rule[0], "off");
  assert_true(g.ts[0] == T0 + S(2));
  assert_string_equal(g.msg[0], "ignition switched off");
  assert_string_equal(g.rule[1], "on");
  assert_true(g.ts[1] == T0 + S(4));
  fleet_ruleset_free(rs);
}

static void test_offline(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":600},"
                             "{\"id\":\"quiet-v2\",\"type\":\"offline\",\"after_s\":60,"
                             "\"vehicles\":[\"v-2\"]}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  got_t g = {0};
  int64_t last = T0;
  fleet_rules__eval_tick(vs, rs, last, T0 + S(599), collect, &g);
  assert_int_equal(g.n, 0);
  fleet_rules__eval_tick(vs, rs, last, T0 + S(600), collect, &g);
  fleet_rules__eval_tick(vs, rs, last, T0 + S(900), collect, &g);
  assert_int_equal(g.n, 1);
  assert_true(g.ts[0] == T0 + S(600) && g.value[0] == 600 && g.limit[0] == 600);
  assert_string_equal(g.msg[0], "no data for 600 s");
  /* New data re-arms. */
  fleet_rules__fix_t f = fix_at(T0 + S(1000));
  fleet_rules__eval_fix(vs, rs, &f, collect, &g);
  last = T0 + S(1000);
  fleet_rules__eval_tick(vs, rs, last, T0 + S(1500), collect, &g);
  assert_int_equal(g.n, 1);
  fleet_rules__eval_tick(vs, rs, last, T0 + S(1700), collect, &g);
  assert_int_equal(g.n, 2);
  assert_true(g.value[1] == 700);
  fleet_rules__state_free(vs);

  /* v-2 has both rules: its own 60 s one fires first. */
  vs = build(rs, "v-2");
  g.n = 0;
  fleet_rules__eval_tick(vs, rs, T0, T0 + S(60), collect, &g);
  fleet_rules__eval_tick(vs, rs, T0, T0 + S(600), collect, &g);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.rule[0], "quiet-v2");
  assert_string_equal(g.rule[1], "quiet");
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_zone_rules(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"in\",\"type\":\"zone_enter\",\"zones\":[\"depot\"]},"
                             "{\"id\":\"any-out\",\"type\":\"zone_exit\",\"severity\":\"info\"}]");
  got_t g = {0};
  fleet_rules__eval_zone(NULL, rs, T0, 1, "yard", "Yard", 0, collect, &g);
  assert_int_equal(g.n, 0);
  fleet_rules__eval_zone(NULL, rs, T0 + S(1), 1, "depot", "Main depot", 0, collect, &g);
  fleet_rules__eval_zone(NULL, rs, T0 + S(2), 0, "depot", NULL, 125.5, collect, &g);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.msg[0], "entered zone Main depot");
  assert_string_equal(g.msg[1], "left zone depot after 125.5 s");
  assert_true(g.value[1] == 125.5);
  fleet_ruleset_free(rs);
}

static void test_reload_keeps_state(void **state)
{
  (void)state;
  fleet_ruleset_t *old_rs = load("[{\"id\":\"fast\",\"type\":\"overspeed\","
                                 "\"threshold_kmh\":80,\"cooldown_s\":600},"
                                 "{\"id\":\"gone\",\"type\":\"offline\",\"after_s\":60}]");
  fleet_rules__vstate_t *old = build(old_rs, "v-1");
  got_t g = {0};
  feed_speed(old, old_rs, &g, T0, 90, NAN);
  assert_int_equal(g.n, 1);
  /* Reloaded: "fast" keeps its active episode and cooldown, "quiet" is new. */
  fleet_ruleset_t *rs = load("[{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":60},"
                             "{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":85,"
                             "\"cooldown_s\":600}]");
  fleet_rules__vstate_t *vs = NULL;
  assert_int_equal(fleet_rules__state_build(&vs, rs, "v-1", old, old_rs), 0);
  fleet_rules__state_free(old);
  fleet_ruleset_free(old_rs);
  feed_speed(vs, rs, &g, T0 + S(10), 95, NAN);
  assert_int_equal(g.n, 1);
  feed_speed(vs, rs, &g, T0 + S(20), 50, NAN);
  feed_speed(vs, rs, &g, T0 + S(30), 95, NAN); /* new episode, but in the cooldown */
  assert_int_equal(g.n, 1);
  fleet_rules__eval_tick(vs, rs, T0 + S(30), T0 + S(90), collect, &g);
  assert_int_equal(g.n, 2);
  assert_string_equal(g.rule[1], "quiet");
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

static void test_callback_abort(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = load("[{\"id\":\"a\",\"type\":\"overspeed\",\"threshold_kmh\":50},"
                             "{\"id\":\"b\",\"type\":\"overspeed\",\"threshold_kmh\":60}]");
  fleet_rules__vstate_t *vs = build(rs, "v-1");
  got_t g = {0};
  g.abort_at = 1;
  assert_int_equal(feed_speed(vs, rs, &g, T0, 70, NAN), 99);
  assert_int_equal(g.n, 1);
  assert_int_equal(fleet_rules__eval_tick(vs, rs, T0, T0 + S(100), collect, &g), 0);
  fleet_rules__state_free(vs);
  fleet_ruleset_free(rs);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_load_all_types),
    cmocka_unit_test(test_load_errors),
    cmocka_unit_test(test_load_file),
    cmocka_unit_test(test_add_and_freeze),
    cmocka_unit_test(test_encode_roundtrip),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_overspeed_episode),
    cmocka_unit_test(test_overspeed_zone_limit),
    cmocka_unit_test(test_cooldown_and_scope),
    cmocka_unit_test(test_battery_and_temp),
    cmocka_unit_test(test_fuel_drop),
    cmocka_unit_test(test_ignition),
    cmocka_unit_test(test_offline),
    cmocka_unit_test(test_zone_rules),
    cmocka_unit_test(test_reload_keeps_state),
    cmocka_unit_test(test_callback_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
