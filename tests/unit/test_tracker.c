/* Scenario tests for the tracker: zones (with and without debounce), a day of
 * trips, alerts through the whole pipeline, the clock, late and duplicate fixes,
 * reloads, determinism and the memory budget. Every expectation is worked out by
 * hand in the comments: the route runs along the equator, where 0.001 degrees of
 * longitude are 111.195 m (R = 6371008.8 m). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/tracker.h"

#define S(x) ((int64_t)(x) * 1000000000LL)
#define B 1779350400LL /* 2026-05-21T08:00:00Z */

/* ---- event log ----------------------------------------------------------- */

#define LOG_MAX 512

typedef struct evlog {
  int n;     /* lines kept (the first LOG_MAX) */
  int total; /* events kept by the mask, stored or not */
  uint64_t hash; /* FNV-1a over every kept line, in order */
  unsigned int types; /* bit per event type seen */
  char line[LOG_MAX][200];
  unsigned int mask; /* event types to keep (bit per type), 0 = all */
  int abort_at;      /* return 77 from this event (1-based), 0 never */
  fleet_tracker_t *tracker; /* when set, the callback reads the vehicle's state */
  int64_t seen_ts;
} evlog_t;

#define M(type) (1u << (type))

static int record(const fleet_tracker_event_t *ev, void *ud)
{
  evlog_t *g = ud;
  if (g->tracker) {
    fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
    assert_int_equal(fleet_tracker_get(&st, g->tracker, ev->vehicle_id), 0);
    g->seen_ts = st.ts_ns;
  }
  if (g->mask && !(g->mask & M(ev->type)))
    return 0;
  char l[sizeof g->line[0]];
  size_t cap = sizeof l;
  long long rel = (long long)(ev->ts_ns / 1000000000LL - B);
  int k = snprintf(l, cap, "%s %s %lld", fleet_tracker_event_type_name(ev->type),
                   ev->vehicle_id, rel);
  switch (ev->type) {
  case FLEET_TRACKER_EVENT_ZONE_ENTER:
    snprintf(l + k, cap - (size_t)k, " %s", ev->zone_id);
    break;
  case FLEET_TRACKER_EVENT_ZONE_EXIT:
    snprintf(l + k, cap - (size_t)k, " %s dwell=%g", ev->zone_id, ev->dwell_s);
    break;
  case FLEET_TRACKER_EVENT_TRIP_START:
    break;
  case FLEET_TRACKER_EVENT_TRIP_END: {
    const fleet_trip_t *t = ev->trip;
    snprintf(l + k, cap - (size_t)k,
             " %s dist=%.1f dur=%g moving=%g idle=%g max=%g avg=%.2f fuel=%.2f",
             fleet_trip_end_reason_name(t->end_reason), t->distance_m, t->duration_s,
             t->moving_s, t->idle_s, t->max_speed_kmh, t->avg_speed_kmh, t->fuel_l);
    break;
  }
  case FLEET_TRACKER_EVENT_STOP:
    snprintf(l + k, cap - (size_t)k, " end=%lld dur=%g flags=%u",
             (long long)(ev->stop->end_ns / 1000000000LL - B), ev->stop->duration_s,
             ev->stop->flags);
    break;
  case FLEET_TRACKER_EVENT_ALERT:
    snprintf(l + k, cap - (size_t)k, " %s %s: %s", ev->alert->rule_id,
             fleet_severity_name(ev->alert->severity), ev->alert->message);
    break;
  case FLEET_TRACKER_EVENT_HOURLY:
    snprintf(l + k, cap - (size_t)k, " count=%u dist=%.1f", ev->hourly->count,
             ev->hourly->distance_m);
    break;
  default:
    break;
  }
  g->total++;
  g->types |= M(ev->type);
  for (const char *c = l; *c; c++)
    g->hash = (g->hash ^ (unsigned char)*c) * 1099511628211ULL;
  g->hash = (g->hash ^ '\n') * 1099511628211ULL;
  if (g->n < LOG_MAX)
    memcpy(g->line[g->n++], l, sizeof l);
  return g->abort_at && g->total == g->abort_at ? 77 : 0;
}

static void expect_log(const evlog_t *g, const char *const *want, int n)
{
  for (int i = 0; i < g->n || i < n; i++) {
    const char *got = i < g->n ? g->line[i] : "(nothing)";
    const char *exp = i < n ? want[i] : "(nothing)";
    if (strcmp(got, exp))
      fail_msg("event %d: got '%s', expected '%s'", i, got, exp);
  }
}

#define EXPECT(g, ...)                                                      \
  do {                                                                      \
    static const char *const want_[] = {__VA_ARGS__};                       \
    expect_log((g), want_, (int)(sizeof want_ / sizeof want_[0]));          \
  } while (0)

/* ---- records ------------------------------------------------------------- */

enum { NO_IGN = -1 };

typedef struct fixspec {
  double speed;   /* < 0: absent */
  int ign;        /* NO_IGN: absent */
  double battery; /* <= 0: absent */
  double temp;    /* NAN: absent */
  double fuel;    /* < 0: absent */
} fixspec_t;

static fleet_telemetry_t mkrec(const char *vid, int64_t rel_s, double lat, double lng,
                               double speed, int ign)
{
  fleet_telemetry_t r;
  fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION);
  snprintf(r.vehicle_id, sizeof r.vehicle_id, "%s", vid);
  r.ts_ns = S(B + rel_s);
  r.lat = lat;
  r.lng = lng;
  if (speed >= 0) {
    r.present |= FLEET_TELEMETRY_SPEED;
    r.speed_kmh = speed;
  }
  if (ign != NO_IGN) {
    r.present |= FLEET_TELEMETRY_IGNITION;
    r.ignition = ign;
  }
  return r;
}

static int feed(fleet_tracker_t *t, const char *vid, int64_t rel_s, double lat, double lng,
                double speed, int ign)
{
  fleet_telemetry_t r = mkrec(vid, rel_s, lat, lng, speed, ign);
  return fleet_tracker_feed(t, &r);
}

static fleet_tracker_t *mktracker(evlog_t *g, const fleet_zoneset_t *zones,
                                  fleet_ruleset_t *rules, unsigned int deb_fixes, double deb_s)
{
  fleet_tracker_opts_t o;
  assert_int_equal(fleet_tracker_opts_init(&o, FLEET_TRACKER_OPTS_VERSION), 0);
  o.zones = zones;
  o.rules = rules;
  o.zone_debounce_fixes = deb_fixes;
  o.zone_debounce_s = deb_s;
  fleet_tracker_t *t = NULL;
  int rc = fleet_tracker_new(&t, &o, record, g);
  if (rc)
    fail_msg("fleet_tracker_new: %s", fleet_error_last());
  return t;
}

static fleet_ruleset_t *rules_of(const char *json)
{
  fleet_ruleset_t *rs = NULL;
  if (fleet_ruleset_load_json(&rs, json, strlen(json)))
    fail_msg("rules: %s", fleet_error_last());
  return rs;
}

/* A polygon (lng 0.0105..0.0205, lat -0.005..0.005), a 250 m circle centred on
 * lng 0.030 and a 100 m wide corridor along the equator from lng 0.040 to 0.045. */
static const char *route_zones =
  "{\"type\":\"FeatureCollection\",\"features\":["
  "{\"type\":\"Feature\",\"id\":\"poly\",\"properties\":{\"name\":\"Square\"},"
  "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0.0105,-0.005],[0.0205,-0.005],"
  "[0.0205,0.005],[0.0105,0.005],[0.0105,-0.005]]]}},"
  "{\"type\":\"Feature\",\"id\":\"circ\",\"properties\":{\"radius_m\":250},"
  "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0.030,0.0]}},"
  "{\"type\":\"Feature\",\"id\":\"road\",\"properties\":{\"width_m\":100},"
  "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[0.040,0.0],[0.045,0.0]]}}"
  "]}";

static fleet_zoneset_t *zones_of(const char *geojson)
{
  fleet_zoneset_t *zs = NULL;
  assert_int_equal(fleet_zoneset_new(&zs), 0);
  if (fleet_zoneset_load_geojson(zs, geojson, strlen(geojson), 0))
    fail_msg("zones: %s", fleet_error_last());
  return zs;
}

/* ---- zones --------------------------------------------------------------- */

/* Fix i at t = 10 i s, lng = 0.001 i (111 m per 10 s, 40 km/h).
 * poly holds i = 11..20 (lng 0.011..0.020): enter 110, exit 210, dwell 100.
 * circ holds |lng - 0.030| <= 250 m / 111195 m = 0.00225: i = 28..32: enter 280,
 * exit 330, dwell 50. road holds points within 50 m of it: i = 40..45 (i = 39
 * and 46 are 111 m from its ends): enter 400, exit 460, dwell 60. */
static void test_zones_route(void **state)
{
  (void)state;
  fleet_zoneset_t *zs = zones_of(route_zones);
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ZONE_ENTER) | M(FLEET_TRACKER_EVENT_ZONE_EXIT);
  fleet_tracker_t *t = mktracker(&g, zs, NULL, 1, 0);
  for (int i = 0; i <= 50; i++)
    assert_int_equal(feed(t, "v-1", 10 * i, 0.0, 0.001 * i, 40, 1), 0);
  EXPECT(&g, "zone_enter v-1 110 poly", "zone_exit v-1 210 poly dwell=100",
         "zone_enter v-1 280 circ", "zone_exit v-1 330 circ dwell=50",
         "zone_enter v-1 400 road", "zone_exit v-1 460 road dwell=60");
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

/* Positions along the polygon's west edge (lng 0.0105): out = 0.0100, in = 0.0110. */
#define OUT 0.0100
#define IN 0.0110
static const double jitter[] = {OUT, IN, OUT, IN, OUT, IN, IN, IN, IN,     /* t 0..80 */
                                OUT, IN, OUT, OUT, OUT, OUT};              /* t 90..140 */

static void run_jitter(evlog_t *g, unsigned int fixes, double secs)
{
  fleet_zoneset_t *zs = zones_of(route_zones);
  g->mask = M(FLEET_TRACKER_EVENT_ZONE_ENTER) | M(FLEET_TRACKER_EVENT_ZONE_EXIT);
  fleet_tracker_t *t = mktracker(g, zs, NULL, fixes, secs);
  for (int i = 0; i < (int)FLEET_ARRAY_LEN(jitter); i++)
    assert_int_equal(feed(t, "v-1", 10 * i, 0.0, jitter[i], 5, 1), 0);
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

static void test_zones_jitter_no_debounce(void **state)
{
  (void)state;
  evlog_t g = {0};
  run_jitter(&g, 1, 0);
  EXPECT(&g, "zone_enter v-1 10 poly", "zone_exit v-1 20 poly dwell=10",
         "zone_enter v-1 30 poly", "zone_exit v-1 40 poly dwell=10",
         "zone_enter v-1 50 poly", "zone_exit v-1 90 poly dwell=40",
         "zone_enter v-1 100 poly", "zone_exit v-1 110 poly dwell=10");
}

/* Three consecutive fixes: the entry run starting at 50 is confirmed at 70 and
 * dated 50; the exit at 90 is cancelled at 100; the run from 110 is confirmed at
 * 130 and dated 110: dwell 110 - 50 = 60. */
static void test_zones_jitter_debounce_fixes(void **state)
{
  (void)state;
  evlog_t g = {0};
  run_jitter(&g, 3, 0);
  EXPECT(&g, "zone_enter v-1 50 poly", "zone_exit v-1 110 poly dwell=60");
}

/* 25 seconds: the entry from 50 is confirmed by the fix at 80 (30 s later); the
 * exit at 90 is cancelled at 100; the exit from 110 is confirmed at 140. */
static void test_zones_jitter_debounce_seconds(void **state)
{
  (void)state;
  evlog_t g = {0};
  run_jitter(&g, 1, 25);
  EXPECT(&g, "zone_enter v-1 50 poly", "zone_exit v-1 110 poly dwell=60");
}

/* Circle boundary at 250 m: 0.0023 deg off-centre is 255.7 m (out), 0.0022 is
 * 244.6 m (in). Two fixes of debounce absorb the single-fix excursions. */
static void test_zones_circle_jitter(void **state)
{
  (void)state;
  static const double off[] = {0.0023, 0.0022, 0.0023, 0.0022, 0.0022, 0.0023, 0.0022,
                               0.0023, 0.0023};
  for (int deb = 1; deb <= 2; deb++) {
    fleet_zoneset_t *zs = zones_of(route_zones);
    evlog_t g = {0};
    g.mask = M(FLEET_TRACKER_EVENT_ZONE_ENTER) | M(FLEET_TRACKER_EVENT_ZONE_EXIT);
    fleet_tracker_t *t = mktracker(&g, zs, NULL, (unsigned int)deb, 0);
    for (int i = 0; i < (int)FLEET_ARRAY_LEN(off); i++)
      assert_int_equal(feed(t, "v-1", 10 * i, 0.0, 0.030 - off[i], 5, 1), 0);
    if (deb == 1)
      EXPECT(&g, "zone_enter v-1 10 circ", "zone_exit v-1 20 circ dwell=10",
             "zone_enter v-1 30 circ", "zone_exit v-1 50 circ dwell=20",
             "zone_enter v-1 60 circ", "zone_exit v-1 70 circ dwell=10");
    else
      EXPECT(&g, "zone_enter v-1 30 circ", "zone_exit v-1 70 circ dwell=40");
    fleet_tracker_free(t);
    fleet_zoneset_free(zs);
  }
}

/* A zone removed while a vehicle is inside: the next fix leaves it, under the id
 * and name it had; a parked vehicle re-checks when the set changes. */
static void test_zone_removed_and_added(void **state)
{
  (void)state;
  fleet_zoneset_t *zs = zones_of(route_zones);
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ZONE_ENTER) | M(FLEET_TRACKER_EVENT_ZONE_EXIT);
  fleet_tracker_t *t = mktracker(&g, zs, NULL, 1, 0);
  feed(t, "v-1", 0, 0.0, 0.015, 0, 0);
  feed(t, "v-1", 10, 0.0, 0.015, 0, 0); /* same place, same zones */
  assert_int_equal(fleet_zoneset_remove(zs, "poly"), 0);
  feed(t, "v-1", 20, 0.0, 0.015, 0, 0);
  fleet_zone_t *z = NULL;
  assert_int_equal(fleet_zone_new_circle(&z, "yard", "Yard", 0.0, 0.015, 50), 0);
  assert_int_equal(fleet_zoneset_add(NULL, zs, z), 0);
  fleet_zone_free(z);
  feed(t, "v-1", 30, 0.0, 0.015, 0, 0);
  EXPECT(&g, "zone_enter v-1 0 poly", "zone_exit v-1 20 poly dwell=20",
         "zone_enter v-1 30 yard");
  size_t n = 0;
  uint32_t keys[2];
  assert_int_equal(fleet_tracker_vehicle_zones(keys, 2, &n, t, "v-1"), 0);
  assert_int_equal(n, 1);
  uint32_t yard = 0;
  assert_int_equal(fleet_zoneset_key(&yard, zs, "yard"), 0);
  assert_int_equal(keys[0], yard);
  assert_int_equal(fleet_tracker_vehicle_zones(NULL, 0, &n, t, "v-1"), FLEET_ETOOBIG);
  assert_int_equal(n, 1);
  assert_int_equal(fleet_tracker_vehicle_zones(keys, 2, &n, t, "v-9"), FLEET_ENOTFOUND);
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

/* ---- trips --------------------------------------------------------------- */

/* A day (B = 08:00), speed threshold 2 km/h, min trip 60 s / 200 m, parking 300 s,
 * data gap 1800 s, no ignition rule:
 * - parked at lng 0 from -600; trip 1 from 0 to 600: 10 minutes at 0.006 deg/min
 *   (6671.7 m, moving 600 s, avg 6671.7 / 600 * 3.6 = 40.03 km/h), then parked
 *   (ignition off) with a fix every 300 s; the trip ends PARKED at its first
 *   inactive fix (600), judged at 900. It qualified at 60 (60 s, 667 m), after
 *   the stop from -600 to 0 (from the first fix: flag 1).
 * - idling with the engine on at 3600 and 3660 (part of the stop); trip 2 from
 *   3720: 5 minutes at 0.005 deg/min, a 2-minute wait at a light (speed 0,
 *   ignition on: idle 120 s), 5 more minutes, arrival at 4440: 0.050 deg =
 *   5559.8 m in 720 s (27.80 km/h), moving 600 s; PARKED, judged at 4740.
 * - trip 3 from 5400 at 0.008 deg/min; the last fix before a 2000 s data gap is
 *   at 5520 (0.016 deg = 1779.1 m in 120 s, 53.37 km/h): it ends DATA_GAP at
 *   5520 when the fix at 7520 arrives; the stop after it starts at 5520 and is
 *   still open at the flush after 7820 (flags DATA_GAP | OPEN = 6). */
static void feed_day(fleet_tracker_t *t, const char *vid)
{
  feed(t, vid, -600, 0, 0.0, 0, 0);
  feed(t, vid, -300, 0, 0.0, 0, 0);
  for (int k = 0; k < 10; k++)
    feed(t, vid, 60 * k, 0, 0.006 * k, 40, 1);
  for (int s = 600; s < 3600; s += 300)
    feed(t, vid, s, 0, 0.060, 0, 0);
  feed(t, vid, 3600, 0, 0.060, 0, 1);
  feed(t, vid, 3660, 0, 0.060, 0, 1);
  for (int k = 0; k < 5; k++)
    feed(t, vid, 3720 + 60 * k, 0, 0.060 + 0.005 * k, 30, 1);
  feed(t, vid, 4020, 0, 0.085, 0, 1);
  feed(t, vid, 4080, 0, 0.085, 0, 1);
  for (int k = 0; k < 5; k++)
    feed(t, vid, 4140 + 60 * k, 0, 0.085 + 0.005 * k, 30, 1);
  feed(t, vid, 4440, 0, 0.110, 0, 0);
  feed(t, vid, 4740, 0, 0.110, 0, 0);
  feed(t, vid, 5040, 0, 0.110, 0, 0);
  for (int k = 0; k < 3; k++)
    feed(t, vid, 5400 + 60 * k, 0, 0.110 + 0.008 * k, 50, 1);
  feed(t, vid, 7520, 0, 0.200, 0, 0);
  feed(t, vid, 7820, 0, 0.200, 0, 0);
}

static void test_day_of_trips(void **state)
{
  (void)state;
  fleet_trip_params_t p;
  fleet_trip_params_init(&p, FLEET_TRIP_PARAMS_VERSION);
  p.min_trip_duration_s = 60;
  p.min_trip_distance_m = 200;
  p.min_parking_s = 300;
  p.max_gap_s = 1800;
  fleet_tracker_opts_t o = FLEET_TRACKER_OPTS_INIT;
  o.trip_params = &p;
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_TRIP_START) | M(FLEET_TRACKER_EVENT_TRIP_END) |
           M(FLEET_TRACKER_EVENT_STOP);
  fleet_tracker_t *t = NULL;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), 0);
  g.tracker = t;
  feed_day(t, "v-day");
  assert_int_equal(g.n, 9);

  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  assert_int_equal(fleet_tracker_get(&st, t, "v-day"), 0);
  assert_true(st.ts_ns == S(B + 7820));
  assert_int_equal(st.status, FLEET_VEHICLE_STOPPED);
  assert_int_equal(st.in_trip, 0);
  assert_int_equal(st.ignition, 0);

  assert_int_equal(fleet_tracker_flush(t, NULL), 0);
  EXPECT(&g, "stop v-day -600 end=0 dur=600 flags=1", "trip_start v-day 0",
         "trip_end v-day 600 parked dist=6671.7 dur=600 moving=600 idle=0 max=40 avg=40.03 "
         "fuel=0.00",
         "stop v-day 600 end=3720 dur=3120 flags=0", "trip_start v-day 3720",
         "trip_end v-day 4440 parked dist=5559.8 dur=720 moving=600 idle=120 max=30 "
         "avg=27.80 fuel=0.00",
         "stop v-day 4440 end=5400 dur=960 flags=0", "trip_start v-day 5400",
         "trip_end v-day 5520 data_gap dist=1779.1 dur=120 moving=120 idle=0 max=50 "
         "avg=53.37 fuel=0.00",
         "stop v-day 5520 end=7820 dur=2300 flags=6");
  fleet_tracker_free(t);
}

/* Vehicle status as the day goes: moving, idle at the light, stopped, offline. */
static void test_status(void **state)
{
  (void)state;
  evlog_t g = {0};
  fleet_tracker_t *t = mktracker(&g, NULL, NULL, 1, 0);
  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  feed(t, "v-1", 0, 0, 0.0, 40, 1);
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_MOVING);
  assert_true(st.speed_kmh == 40 && st.ignition == 1);
  assert_int_equal(st.present, FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_IGNITION);
  feed(t, "v-1", 60, 0, 0.001, 0, 1);
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_IDLE);
  /* No speed: derived from 111 m in 10 s (40 km/h), ignition unchanged. */
  feed(t, "v-1", 70, 0, 0.002, -1, NO_IGN);
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_MOVING);
  assert_int_equal(st.present, FLEET_TELEMETRY_IGNITION);
  feed(t, "v-1", 80, 0, 0.002, 0, 0);
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_STOPPED);
  assert_true(st.fixes == 4);
  /* Default offline_after_s 900: offline at the tick 900 s after the last fix. */
  fleet_tracker_tick(t, S(B + 979));
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_STOPPED);
  fleet_tracker_tick(t, S(B + 980));
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_OFFLINE);
  feed(t, "v-1", 1000, 0, 0.002, 0, 0);
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.status, FLEET_VEHICLE_STOPPED);
  fleet_tracker_free(t);
}

/* The clock ends trips of vehicles that went quiet: parked for min_parking_s
 * (default 300) after its first inactive fix, or silent for max_gap_s (3600). */
static void test_tick_ends_trips(void **state)
{
  (void)state;
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_TRIP_END);
  fleet_tracker_t *t = mktracker(&g, NULL, NULL, 1, 0);
  /* v-a: moves 0..240 (0.002 deg/min), stops at 300 and says nothing more. */
  for (int k = 0; k <= 4; k++)
    feed(t, "v-a", 60 * k, 0, 0.002 * k, 15, 1);
  feed(t, "v-a", 300, 0, 0.010, 0, 0);
  /* v-b: moves 0..300 and goes silent while moving. */
  for (int k = 0; k <= 5; k++)
    feed(t, "v-b", 60 * k, 0, 0.002 * k, 15, 1);
  assert_int_equal(fleet_tracker_tick(t, S(B + 599)), 0);
  assert_int_equal(g.n, 0);
  assert_int_equal(fleet_tracker_tick(t, S(B + 600)), 0);
  assert_int_equal(g.n, 1);
  assert_int_equal(fleet_tracker_tick(t, S(B + 3900)), 0);
  /* Both drove 0.010 deg (1111.95 m) in 300 s: 13.34 km/h. */
  EXPECT(&g,
         "trip_end v-a 300 parked dist=1112.0 dur=300 moving=300 idle=0 max=15 avg=13.34 "
         "fuel=0.00",
         "trip_end v-b 300 data_gap dist=1112.0 dur=300 moving=300 idle=0 max=15 avg=13.34 "
         "fuel=0.00");
  fleet_tracker_free(t);
}

/* ---- alerts -------------------------------------------------------------- */

/* The route through a school zone (speed_limit 30, lng 0.0105..0.0205) nested in
 * a town zone (50, lng 0.0045..0.0255): the lowest limit applies. 40 km/h in
 * town is fine; in the school zone one alert at the entry (110); the episode
 * ends at its exit (210: limit 50, 40 < 50 - 5). A rule restricted to v-2 stays
 * quiet. The town is entered at 50 (i = 5) and left at 260 (i = 26). */
static void test_overspeed_zone_limit(void **state)
{
  (void)state;
  fleet_zoneset_t *zs = zones_of(
    "{\"type\":\"FeatureCollection\",\"features\":["
    "{\"type\":\"Feature\",\"id\":\"school\",\"properties\":{\"speed_limit\":30},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0.0105,-0.005],[0.0205,-0.005],"
    "[0.0205,0.005],[0.0105,0.005],[0.0105,-0.005]]]}},"
    "{\"type\":\"Feature\",\"id\":\"town\",\"properties\":{\"speed_limit\":50},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0.0045,-0.01],[0.0255,-0.01],"
    "[0.0255,0.01],[0.0045,0.01],[0.0045,-0.01]]]}}]}");
  fleet_ruleset_t *rs = rules_of(
    "[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,\"hysteresis_kmh\":5},"
    "{\"id\":\"fast-v2\",\"type\":\"overspeed\",\"threshold_kmh\":20,\"vehicles\":[\"v-2\"]},"
    "{\"id\":\"school-in\",\"type\":\"zone_enter\",\"zones\":[\"school\"],"
    "\"severity\":\"info\"}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT) | M(FLEET_TRACKER_EVENT_ZONE_ENTER) |
           M(FLEET_TRACKER_EVENT_ZONE_EXIT);
  fleet_tracker_t *t = mktracker(&g, zs, rs, 1, 0);
  fleet_ruleset_free(rs); /* the tracker holds its own reference */
  for (int i = 0; i <= 30; i++)
    assert_int_equal(feed(t, "v-1", 10 * i, 0.0, 0.001 * i, 40, 1), 0);
  EXPECT(&g, "zone_enter v-1 50 town", "zone_enter v-1 110 school",
         "alert v-1 110 school-in info: entered zone school",
         "alert v-1 110 fast warning: speed 40 km/h over zone limit 30 km/h",
         "zone_exit v-1 210 school dwell=100", "zone_exit v-1 260 town dwell=210");
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

/* Speed oscillating around 80 with a 5 km/h hysteresis and 20 s minimum: one
 * alert per episode. */
static void test_overspeed_oscillation(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                                 "\"hysteresis_kmh\":5,\"min_duration_s\":20,"
                                 "\"severity\":\"critical\"}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  /* Above from 10 (81, 84, 86: 20 s reached at 30), then 76..83 never below 75;
   * 74 at 120 ends the episode; above again from 130: the new one alerts at 150. */
  static const double v[] = {70, 81, 84, 86, 79, 83, 76, 82, 77, 81, 78, 83, 74, 90, 91, 92};
  for (int i = 0; i < 16; i++)
    feed(t, "v-1", 10 * i, 0, 0.0001 * i, v[i], 1);
  EXPECT(&g, "alert v-1 30 fast critical: speed 86 km/h over limit 80 km/h",
         "alert v-1 150 fast critical: speed 92 km/h over limit 80 km/h");
  fleet_ruleset_free(rs);
  fleet_tracker_free(t);
}

/* Offline by tick: once per silence, re-armed by data, per-vehicle thresholds. */
static void test_offline_by_tick(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of("[{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":600,"
                                 "\"severity\":\"critical\"},"
                                 "{\"id\":\"quiet-fast\",\"type\":\"offline\",\"after_s\":120,"
                                 "\"vehicles\":[\"v-2\"]}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  feed(t, "v-1", 0, 0, 0, 0, 0);
  feed(t, "v-2", 30, 0, 0, 0, 0);
  for (int s = 60; s <= 900; s += 60)
    assert_int_equal(fleet_tracker_tick(t, S(B + s)), 0);
  feed(t, "v-1", 1000, 0, 0, 0, 0);
  for (int s = 1060; s <= 1600; s += 60)
    fleet_tracker_tick(t, S(B + s));
  EXPECT(&g, "alert v-2 180 quiet-fast warning: no data for 150 s",
         "alert v-1 600 quiet critical: no data for 600 s",
         "alert v-2 660 quiet critical: no data for 630 s",
         "alert v-1 1600 quiet critical: no data for 600 s");
  fleet_ruleset_free(rs);
  fleet_tracker_free(t);
}

/* Cooldown: ignition on alerts at most once an hour per vehicle; the two
 * vehicles have their own cooldowns. */
static void test_cooldown(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of("[{\"id\":\"on\",\"type\":\"ignition_on\",\"cooldown_s\":3600,"
                                 "\"severity\":\"info\"}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  static const int ign[] = {0, 1, 0, 1, 0, 1};
  static const int at[] = {0, 10, 20, 30, 3600, 3610};
  for (int i = 0; i < 6; i++) {
    feed(t, "v-1", at[i], 0, 0, 0, ign[i]);
    feed(t, "v-2", at[i] + 1, 0, 0, 0, ign[i]);
  }
  EXPECT(&g, "alert v-1 10 on info: ignition switched on",
         "alert v-2 11 on info: ignition switched on",
         "alert v-1 3610 on info: ignition switched on",
         "alert v-2 3611 on info: ignition switched on");
  fleet_ruleset_free(rs);
  fleet_tracker_free(t);
}

/* Battery, engine temperature and a fuel theft, each in scope for v-1 only. */
static void test_sensor_alerts(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of(
    "[{\"id\":\"batt\",\"type\":\"low_battery\",\"threshold_v\":11.8,\"hysteresis_v\":0.4,"
    "\"vehicles\":[\"v-1\"]},"
    "{\"id\":\"hot\",\"type\":\"engine_temp\",\"threshold_c\":105,\"hysteresis_c\":5,"
    "\"min_duration_s\":60,\"vehicles\":[\"v-1\"]},"
    "{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":8,\"window_s\":600,"
    "\"stationary\":true,\"severity\":\"critical\",\"vehicles\":[\"v-1\"]}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  /* t, battery, temp, fuel, speed.
   * Battery (11.8, clear above 12.2): below at 60 (alert), 11.9 at 120 stays in
   * the band, 12.3 at 180 re-arms, 11.6 at 240 alerts again.
   * Temperature (105 for 60 s, clear below 100): above from 120, alert at 180;
   * 104 at 240 stays in the band, 99 at 300 clears; above from 360, alert at 420.
   * Fuel (8 points in 600 s, stationary): 60 at 60 (the newest of equal levels)
   * down to 52.5 at 300 is 7.5 points; moving at 360 restarts the measurement;
   * 45 -> 42.9 is 2.1 points. No fuel alert. */
  static const double rows[][5] = {
    {0, 12.6, 90, 60, 0},       {60, 11.7, 104, 60, 0},   {120, 11.9, 106, 59, 0},
    {180, 12.3, 107, 55, 0},    {240, 11.6, 104, 53, 0},  {300, 12.5, 99, 52.5, 0},
    {360, 12.5, 106, 51, 40},   {420, 12.5, 108, 45, 0},  {480, 12.5, 109, 43, 0},
    {540, 12.5, 101, 42.9, 0},
  };
  for (int i = 0; i < 10; i++)
    for (int v = 1; v <= 2; v++) {
      fleet_telemetry_t r = mkrec(v == 1 ? "v-1" : "v-2", (int64_t)rows[i][0], 0, 0,
                                  rows[i][4], 1);
      r.present |= FLEET_TELEMETRY_BATTERY_V | FLEET_TELEMETRY_ENGINE_TEMP |
                   FLEET_TELEMETRY_FUEL_LEVEL;
      r.battery_v = rows[i][1];
      r.engine_temp_c = rows[i][2];
      r.fuel_level_pct = rows[i][3];
      assert_int_equal(fleet_tracker_feed(t, &r), 0);
    }
  EXPECT(&g, "alert v-1 60 batt warning: battery 11.7 V below 11.8 V",
         "alert v-1 180 hot warning: engine temperature 107 C above 105 C",
         "alert v-1 240 batt warning: battery 11.6 V below 11.8 V",
         "alert v-1 420 hot warning: engine temperature 108 C above 105 C");
  fleet_ruleset_free(rs);
  fleet_tracker_free(t);
}

static void test_fuel_theft(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of("[{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":8,"
                                 "\"window_s\":600,\"stationary\":true,"
                                 "\"severity\":\"critical\"}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  /* Parked with the engine off at 70% (the measurement restarts at each equal
   * level: from 120), then siphoned 70 -> 66 -> 63 -> 61.5: 8.5 points at 300,
   * 180 s after the 70 at 120. */
  static const double lvl[] = {70, 70, 70, 66, 63, 61.5, 61.5};
  for (int i = 0; i < 7; i++) {
    fleet_telemetry_t r = mkrec("v-1", 60 * i, 0, 0, 0, 0);
    r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
    r.fuel_level_pct = lvl[i];
    fleet_tracker_feed(t, &r);
  }
  EXPECT(&g, "alert v-1 300 theft critical: fuel level fell 8.5 points, from 70% to 61.5%, "
             "in 180 s");
  fleet_ruleset_free(rs);
  fleet_tracker_free(t);
}

/* ---- late, duplicate, errors --------------------------------------------- */

static void test_late_and_duplicate(void **state)
{
  (void)state;
  evlog_t g = {0};
  fleet_tracker_t *t = mktracker(&g, NULL, NULL, 1, 0);
  g.tracker = t;
  assert_int_equal(feed(t, "v-1", 0, 0, 0.000, 10, 1), 0);
  assert_int_equal(feed(t, "v-1", 10, 0, 0.001, 10, 1), 0);
  assert_int_equal(feed(t, "v-1", 10, 0, 0.009, 99, 1), 0); /* duplicate: ignored */
  assert_int_equal(feed(t, "v-1", 5, 0, 0.0005, 10, 1), 0); /* late */
  assert_int_equal(g.n, 1);
  EXPECT(&g, "late v-1 5");
  assert_true(g.seen_ts == S(B + 10)); /* the callback saw the newest state */
  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  fleet_tracker_get(&st, t, "v-1");
  assert_true(st.ts_ns == S(B + 10) && st.lng == 0.001 && st.speed_kmh == 10);
  assert_true(st.fixes == 2);
  fleet_tracker_stats_t stats;
  assert_int_equal(fleet_tracker_stats(&stats, t), 0);
  assert_int_equal(stats.version, FLEET_TRACKER_STATS_VERSION);
  assert_true(stats.fixes == 2 && stats.duplicates == 1 && stats.late == 1);
  assert_true(stats.events == 1 && stats.vehicles == 1 && stats.rejected == 0);
  fleet_tracker_free(t);
}

static void test_errors(void **state)
{
  (void)state;
  evlog_t g = {0};
  fleet_tracker_t *t = NULL;
  fleet_tracker_opts_t o = FLEET_TRACKER_OPTS_INIT;
  assert_int_equal(fleet_tracker_new(NULL, &o, record, &g), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_new(&t, &o, NULL, &g), FLEET_EINVAL);
  o.version = 9;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), FLEET_EVERSION);
  o.version = FLEET_TRACKER_OPTS_VERSION;
  o.zone_debounce_fixes = 0;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "zone_debounce_fixes: 0 is outside [1, 1000]");
  o.zone_debounce_fixes = 1;
  o.zone_debounce_s = -1;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), FLEET_ERANGE);
  o.zone_debounce_s = 0;
  o.offline_after_s = NAN;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), FLEET_ERANGE);
  o.offline_after_s = 0;
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.min_parking_s = -5;
  o.trip_params = &p;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), FLEET_ERANGE);
  assert_null(t);
  assert_int_equal(fleet_tracker_opts_init(NULL, FLEET_TRACKER_OPTS_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_opts_init(&o, 2), FLEET_EVERSION);

  assert_int_equal(fleet_tracker_new(&t, NULL, record, &g), 0);
  assert_int_equal(fleet_tracker_feed(t, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_feed(NULL, NULL), FLEET_EINVAL);
  assert_int_equal(feed(t, "", 0, 0, 0, 0, 0), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "vehicle_id: missing (the tracker keys state by it)");
  assert_int_equal(feed(t, "bad id", 0, 0, 0, 0, 0), FLEET_EINVAL);
  assert_int_equal(feed(t, "v-1", 0, 91, 0, 0, 0), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "lat: 91 is outside [-90, 90]");
  assert_int_equal(feed(t, "v-1", 0, 0, NAN, 0, 0), FLEET_ERANGE);
  fleet_telemetry_t r = mkrec("v-1", 0, 0, 0, 0, 0);
  r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
  r.fuel_level_pct = 101;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  r.present = FLEET_TELEMETRY_ENGINE_TEMP;
  r.engine_temp_c = INFINITY;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  r.present = FLEET_TELEMETRY_BATTERY_V;
  r.battery_v = -1;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  r.present = FLEET_TELEMETRY_SPEED;
  r.speed_kmh = -3;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  r.present = FLEET_TELEMETRY_HEADING;
  r.heading_deg = NAN;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  r.present = FLEET_TELEMETRY_ODOMETER;
  r.odometer_km = -1;
  assert_int_equal(fleet_tracker_feed(t, &r), FLEET_ERANGE);
  fleet_tracker_stats_t stats;
  fleet_tracker_stats(&stats, t);
  assert_true(stats.rejected == 10 && stats.vehicles == 0);
  assert_int_equal(fleet_tracker_count(t), 0);

  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  assert_int_equal(fleet_tracker_get(&st, t, "v-1"), FLEET_ENOTFOUND);
  st.version = 0;
  assert_int_equal(fleet_tracker_get(&st, t, "v-1"), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_vehicle_at(&st, t, 0), FLEET_EINVAL);
  st.version = FLEET_VEHICLE_STATE_VERSION;
  assert_int_equal(fleet_tracker_vehicle_at(&st, t, 0), FLEET_ENOTFOUND);
  assert_int_equal(fleet_tracker_tick(NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_flush(NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_flush(t, "nobody"), 0);
  assert_int_equal(fleet_tracker_set_rules(NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_set_vehicle_params(t, "bad id", NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_set_vehicle_params(t, "v-1", &p), FLEET_ERANGE);
  assert_int_equal(fleet_tracker_stats(NULL, t), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_foreach(t, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tracker_count(NULL), 0);
  fleet_tracker_free(t);
  fleet_tracker_free(NULL);

  assert_string_equal(fleet_tracker_event_type_name(FLEET_TRACKER_EVENT_HOURLY), "hourly");
  assert_null(fleet_tracker_event_type_name((fleet_tracker_event_type_t)0));
  assert_null(fleet_tracker_event_type_name((fleet_tracker_event_type_t)9));
  assert_string_equal(fleet_vehicle_status_name(FLEET_VEHICLE_OFFLINE), "offline");
  assert_null(fleet_vehicle_status_name((fleet_vehicle_status_t)5));
}

/* A non-zero callback return aborts the call and comes back unchanged. */
static void test_callback_abort(void **state)
{
  (void)state;
  fleet_zoneset_t *zs = zones_of(route_zones);
  evlog_t g = {0};
  g.abort_at = 2;
  fleet_tracker_t *t = mktracker(&g, zs, NULL, 1, 0);
  /* Inside poly and circ? No: poly only; then jump into circ: exit poly + enter circ. */
  assert_int_equal(feed(t, "v-1", 0, 0, 0.015, 0, 0), 0);
  assert_int_equal(feed(t, "v-1", 10, 0, 0.030, 0, 0), 77);
  assert_int_equal(g.n, 2);
  EXPECT(&g, "zone_enter v-1 0 poly", "zone_exit v-1 10 poly dwell=10");
  /* The state had advanced: the vehicle is in circ already. */
  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  fleet_tracker_get(&st, t, "v-1");
  assert_int_equal(st.n_zones, 1);
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

/* Timestamps at both ends of the accepted range (1678 and 2261) and ticks at
 * the ends of int64: differences saturate instead of overflowing (UBSan checks). */
static void test_extreme_times(void **state)
{
  (void)state;
  fleet_zoneset_t *zs = zones_of(route_zones);
  fleet_ruleset_t *rs = rules_of(
    "[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,\"min_duration_s\":5,"
    "\"cooldown_s\":60},{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":60},"
    "{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":5,\"window_s\":60}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT) | M(FLEET_TRACKER_EVENT_ZONE_ENTER);
  fleet_tracker_t *t = mktracker(&g, zs, rs, 2, 30);
  fleet_ruleset_free(rs);
  static const int64_t when[] = {-9214560000LL * 1000000000LL + 1, 0,
                                 9214646400LL * 1000000000LL - 1};
  for (int i = 0; i < 3; i++) {
    fleet_telemetry_t r = mkrec("v-1", 0, 0, 0.015, 100, 1);
    r.ts_ns = when[i];
    r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
    r.fuel_level_pct = 50 - 10 * i;
    assert_int_equal(fleet_tracker_feed(t, &r), 0);
    assert_int_equal(fleet_tracker_tick(t, INT64_MIN), 0);
  }
  assert_int_equal(fleet_tracker_tick(t, INT64_MAX), 0);
  /* 1970 is 300 years after 1678: the overspeed episode (100 km/h since 1678)
   * alerts then; the zone entry (two fixes, 30 s) is confirmed then too, dated
   * 1678; the offline alert comes from the last tick. */
  assert_int_equal(g.total, 3);
  assert_int_equal(strncmp(g.line[0], "zone_enter v-1 ", 15), 0);
  assert_int_equal(strncmp(g.line[1], "alert v-1 -1779350400 fast ", 27), 0);
  assert_int_equal(strncmp(g.line[2], "alert v-1 ", 10), 0);
  assert_non_null(strstr(g.line[2], " quiet "));
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

/* ---- reloads, parameters, iteration --------------------------------------- */

static void test_set_rules_reload(void **state)
{
  (void)state;
  fleet_ruleset_t *rs = rules_of("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":80,"
                                 "\"cooldown_s\":600}]");
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_ALERT);
  fleet_tracker_t *t = mktracker(&g, NULL, rs, 1, 0);
  fleet_rule_t extra = FLEET_RULE_INIT;
  extra.id = "x";
  extra.type = FLEET_RULE_IGNITION_ON;
  assert_int_equal(fleet_ruleset_add(rs, &extra), FLEET_ESTATE); /* frozen by the tracker */
  fleet_ruleset_free(rs);
  feed(t, "v-1", 0, 0, 0, 90, 1);
  /* Reload while the episode runs: same id and type, so no second alert; the new
   * ignition rule works at once. */
  fleet_ruleset_t *rs2 = rules_of("[{\"id\":\"off\",\"type\":\"ignition_off\"},"
                                  "{\"id\":\"fast\",\"type\":\"overspeed\","
                                  "\"threshold_kmh\":70,\"cooldown_s\":600}]");
  assert_int_equal(fleet_tracker_set_rules(t, rs2), 0);
  fleet_ruleset_free(rs2);
  feed(t, "v-1", 10, 0, 0.001, 95, 1);
  feed(t, "v-1", 20, 0, 0.002, 0, 0);
  /* Removing every rule. */
  assert_int_equal(fleet_tracker_set_rules(t, NULL), 0);
  feed(t, "v-1", 30, 0, 0.002, 100, 1);
  feed(t, "v-1", 40, 0, 0.002, 0, 0);
  EXPECT(&g, "alert v-1 0 fast warning: speed 90 km/h over limit 80 km/h",
         "alert v-1 20 off warning: ignition switched off");
  fleet_tracker_free(t);
}

static void test_vehicle_params(void **state)
{
  (void)state;
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_TRIP_END);
  fleet_tracker_t *t = mktracker(&g, NULL, NULL, 1, 0);
  /* v-big has a 100 l tank; v-est consumes 10 l/100 km; the others use the
   * defaults (no fuel figures). Each drives 0.020 deg (2223.9 m) in 4 minutes,
   * with fuel 50% -> 48%. */
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.tank_l = 100;
  assert_int_equal(fleet_tracker_set_vehicle_params(t, "v-big", &p), 0);
  fleet_trip_params_t q = FLEET_TRIP_PARAMS_INIT;
  q.consumption_l_per_100km = 10;
  const char *ids[] = {"v-big", "v-est", "v-def"};
  for (int v = 0; v < 3; v++) {
    if (v == 1) {
      feed(t, "v-est", -1, 0, 0, 0, 0); /* known before its parameters are set */
      assert_int_equal(fleet_tracker_set_vehicle_params(t, "v-est", &q), 0);
    }
    for (int k = 0; k <= 4; k++) {
      fleet_telemetry_t r = mkrec(ids[v], 60 * k, 0, 0.005 * k, k < 4 ? 33 : 0, 1);
      r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
      r.fuel_level_pct = 50 - 0.5 * k;
      fleet_tracker_feed(t, &r);
    }
  }
  fleet_tracker_flush(t, NULL);
  /* 0.020 deg = 2223.9 m in 240 s (33.36 km/h); ended by the flush at the first
   * inactive fix. v-big: (50 - 48)% of 100 l; v-est: 2.2239 km x 10 l/100 km. */
  EXPECT(&g,
         "trip_end v-big 240 flush dist=2223.9 dur=240 moving=240 idle=0 max=33 avg=33.36 "
         "fuel=2.00",
         "trip_end v-est 240 flush dist=2223.9 dur=240 moving=240 idle=0 max=33 avg=33.36 "
         "fuel=0.22",
         "trip_end v-def 240 flush dist=2223.9 dur=240 moving=240 idle=0 max=33 avg=33.36 "
         "fuel=0.00");
  /* Reset v-big to the defaults and drive again. */
  assert_int_equal(fleet_tracker_set_vehicle_params(t, "v-big", NULL), 0);
  for (int k = 0; k <= 4; k++) {
    fleet_telemetry_t r = mkrec("v-big", 1000 + 60 * k, 0, 0.005 * k, k < 4 ? 33 : 0, 1);
    r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
    r.fuel_level_pct = 50 - 0.5 * k;
    fleet_tracker_feed(t, &r);
  }
  fleet_tracker_flush(t, "v-big");
  assert_int_equal(g.n, 4);
  assert_string_equal(g.line[3], "trip_end v-big 1240 flush dist=2223.9 dur=240 moving=240 "
                                 "idle=0 max=33 avg=33.36 fuel=0.00");
  fleet_tracker_free(t);
}

static int count_cb(const fleet_vehicle_state_t *st, void *ud)
{
  int *n = ud;
  static const char *const order[] = {"v-3", "v-1", "v-2"};
  assert_string_equal(st->vehicle_id, order[*n]);
  return ++*n == 2 ? 5 : 0;
}

static void test_iteration(void **state)
{
  (void)state;
  evlog_t g = {0};
  fleet_tracker_t *t = mktracker(&g, NULL, NULL, 1, 0);
  feed(t, "v-3", 0, 1, 1, 0, 0);
  feed(t, "v-1", 0, 2, 2, 0, 0);
  feed(t, "v-2", 0, 3, 3, 0, 0);
  feed(t, "v-1", 5, 2.5, 2, 0, 0);
  assert_int_equal(fleet_tracker_count(t), 3);
  int n = 0;
  assert_int_equal(fleet_tracker_foreach(t, count_cb, &n), 5);
  assert_int_equal(n, 2);
  fleet_vehicle_state_t st = FLEET_VEHICLE_STATE_INIT;
  assert_int_equal(fleet_tracker_vehicle_at(&st, t, 1), 0);
  assert_string_equal(st.vehicle_id, "v-1");
  assert_true(st.lat == 2.5 && st.ts_ns == S(B + 5));
  assert_int_equal(fleet_tracker_vehicle_at(&st, t, 3), FLEET_ENOTFOUND);
  fleet_tracker_free(t);
}

/* ---- hourly --------------------------------------------------------------- */

static void test_hourly(void **state)
{
  (void)state;
  fleet_downsample_params_t dp = FLEET_DOWNSAMPLE_PARAMS_INIT;
  fleet_tracker_opts_t o = FLEET_TRACKER_OPTS_INIT;
  o.hourly = &dp;
  evlog_t g = {0};
  g.mask = M(FLEET_TRACKER_EVENT_HOURLY);
  fleet_tracker_t *t = NULL;
  assert_int_equal(fleet_tracker_new(&t, &o, record, &g), 0);
  /* 08:00-08:59: 60 fixes a minute apart, 0.001 deg each (59 intervals, 6560.5 m);
   * 09:00 closes at 09:05 (grace 300 s), so the fix at 09:10 delivers 08:00. */
  for (int k = 0; k < 60; k++)
    feed(t, "v-1", 60 * k, 0, 0.001 * k, 6.7, 1);
  feed(t, "v-1", 3660, 0, 0.061, 6.7, 1);
  assert_int_equal(g.n, 0);
  feed(t, "v-1", 4200, 0, 0.062, 6.7, 1);
  /* 59 intervals of 111.195 m, and the interval 3540 -> 3660 (0.002 deg, 222.39 m)
   * straddles 09:00: half of it goes to 08:00. 59.5 x 222.39 / 2 = 6671.7. */
  EXPECT(&g, "hourly v-1 0 count=60 dist=6671.7");
  /* A late fix for the open hour is accepted there. */
  feed(t, "v-1", 3700, 0, 0.0615, 6.7, 1);
  fleet_tracker_flush(t, NULL);
  assert_int_equal(g.n, 2);
  /* 09:00: the other half (111.195 m) and 3660 -> 4200 (111.195 m); the late fix
   * counts, but adds no interval. */
  assert_string_equal(g.line[1], "hourly v-1 3600 count=3 dist=222.4");
  fleet_tracker_free(t);
}

/* ---- determinism ---------------------------------------------------------- */

static uint64_t rng_state;
static double rnd(void)
{
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void run_city(evlog_t *g, int with_rules)
{
  fleet_zoneset_t *zs = NULL;
  assert_int_equal(fleet_zoneset_new(&zs), 0);
  for (int i = 0; i < 40; i++) {
    char id[16];
    snprintf(id, sizeof id, "z%d", i);
    fleet_zone_t *z = NULL;
    assert_int_equal(fleet_zone_new_circle(&z, id, NULL, 0.01 * (i / 8), 0.01 * (i % 8), 400),
                     0);
    assert_int_equal(fleet_zoneset_add(NULL, zs, z), 0);
    fleet_zone_free(z);
  }
  fleet_ruleset_t *rs = with_rules
    ? rules_of("[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":60,"
               "\"hysteresis_kmh\":5},{\"id\":\"enter\",\"type\":\"zone_enter\"},"
               "{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":120}]")
    : NULL;
  fleet_tracker_t *t = mktracker(g, zs, rs, 2, 0);
  fleet_ruleset_free(rs);
  rng_state = 42;
  double pos[20][2];
  for (int v = 0; v < 20; v++) {
    pos[v][0] = 0.04 * rnd();
    pos[v][1] = 0.07 * rnd();
  }
  for (int step = 0; step < 60; step++) {
    for (int v = 0; v < 20; v++) {
      if (v % 7 == 3 && step > 20 && step < 40)
        continue; /* some vehicles go quiet for a while */
      char id[16];
      snprintf(id, sizeof id, "car-%d", v);
      pos[v][0] += 0.002 * (rnd() - 0.5);
      pos[v][1] += 0.002 * (rnd() - 0.5);
      double speed = 80 * rnd();
      feed(t, id, 10 * step, pos[v][0], pos[v][1], speed, speed > 5);
    }
    fleet_tracker_tick(t, S(B + 10 * step + 5));
  }
  fleet_tracker_flush(t, NULL);
  fleet_tracker_free(t);
  fleet_zoneset_free(zs);
}

static void test_determinism(void **state)
{
  (void)state;
  evlog_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
  run_city(a, 1);
  run_city(b, 1);
  run_city(c, 0);
  assert_true(a->total > 200);
  assert_int_equal(a->total, b->total);
  assert_true(a->hash == b->hash);
  for (int i = 0; i < a->n; i++)
    assert_string_equal(a->line[i], b->line[i]);
  /* The stream exercises zones, alerts, trips and stops. */
  unsigned int want = M(FLEET_TRACKER_EVENT_ZONE_ENTER) | M(FLEET_TRACKER_EVENT_ZONE_EXIT) |
                      M(FLEET_TRACKER_EVENT_TRIP_START) | M(FLEET_TRACKER_EVENT_TRIP_END) |
                      M(FLEET_TRACKER_EVENT_STOP) | M(FLEET_TRACKER_EVENT_ALERT);
  assert_int_equal(a->types & want, want);
  assert_true(c->total < a->total);
  assert_true(c->hash != a->hash);
  free(a);
  free(b);
  free(c);
}

/* ---- memory budget -------------------------------------------------------- */

static void test_memory_budget(void **state)
{
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  skip();
#else
  fleet_ruleset_t *rs = rules_of(
    "[{\"id\":\"fast\",\"type\":\"overspeed\",\"threshold_kmh\":90,\"hysteresis_kmh\":5,"
    "\"min_duration_s\":10,\"cooldown_s\":300},"
    "{\"id\":\"in\",\"type\":\"zone_enter\"},{\"id\":\"out\",\"type\":\"zone_exit\"},"
    "{\"id\":\"on\",\"type\":\"ignition_on\",\"cooldown_s\":60},"
    "{\"id\":\"off\",\"type\":\"ignition_off\"},"
    "{\"id\":\"quiet\",\"type\":\"offline\",\"after_s\":900},"
    "{\"id\":\"batt\",\"type\":\"low_battery\",\"threshold_v\":11.5,\"hysteresis_v\":0.3},"
    "{\"id\":\"hot\",\"type\":\"engine_temp\",\"threshold_c\":105,\"hysteresis_c\":5},"
    "{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":10,\"window_s\":600}]");
  evlog_t *g = calloc(1, sizeof *g);
  g->mask = M(0);
  fleet_tracker_t *t = mktracker(g, NULL, rs, 1, 0);
  fleet_ruleset_free(rs);
  enum { N = 20000 };
  feed(t, "warm-up", 0, 0, 0, 0, 0);
  struct mallinfo2 before = mallinfo2();
  for (int i = 0; i < N; i++) {
    char id[24];
    snprintf(id, sizeof id, "veh-%06d", i);
    fleet_telemetry_t r = mkrec(id, 10, 0.001 * (i % 100), 0.001 * (i / 100), 50, 1);
    r.present |= FLEET_TELEMETRY_FUEL_LEVEL | FLEET_TELEMETRY_BATTERY_V;
    r.fuel_level_pct = 50;
    r.battery_v = 12.5;
    assert_int_equal(fleet_tracker_feed(t, &r), 0);
  }
  struct mallinfo2 after = mallinfo2();
  fleet_tracker_free(t);
  free(g);
  size_t used_before = before.uordblks + before.hblkhd, used_after = after.uordblks + after.hblkhd;
  if (used_after <= used_before) {
    /* Another allocator (valgrind's) answers for malloc: nothing to measure. */
    print_message("mallinfo2() does not account this allocator; skipped\n");
    skip();
  }
  double per = (double)(used_after - used_before) / N;
  print_message("tracker memory: %.0f bytes per vehicle\n", per);
  assert_true(per > 300 && per <= 1024);
#endif
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_zones_route),
    cmocka_unit_test(test_zones_jitter_no_debounce),
    cmocka_unit_test(test_zones_jitter_debounce_fixes),
    cmocka_unit_test(test_zones_jitter_debounce_seconds),
    cmocka_unit_test(test_zones_circle_jitter),
    cmocka_unit_test(test_zone_removed_and_added),
    cmocka_unit_test(test_day_of_trips),
    cmocka_unit_test(test_status),
    cmocka_unit_test(test_tick_ends_trips),
    cmocka_unit_test(test_overspeed_zone_limit),
    cmocka_unit_test(test_overspeed_oscillation),
    cmocka_unit_test(test_offline_by_tick),
    cmocka_unit_test(test_cooldown),
    cmocka_unit_test(test_sensor_alerts),
    cmocka_unit_test(test_fuel_theft),
    cmocka_unit_test(test_late_and_duplicate),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_callback_abort),
    cmocka_unit_test(test_extreme_times),
    cmocka_unit_test(test_set_rules_reload),
    cmocka_unit_test(test_vehicle_params),
    cmocka_unit_test(test_iteration),
    cmocka_unit_test(test_hourly),
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_memory_budget),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  fleet_zone_thread_cleanup();
  return rc;
}
