/* Unit tests for trip: a hand-computed synthetic day, the thresholds, ignition
 * mode, odometer and fuel, stale and duplicate fixes, tick and flush, errors,
 * the detector over several vehicles, and properties on synthetic and real traces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/telemetry.h"
#include "testutil.h"
#include "trip_int.h"

/* ---- helpers ------------------------------------------------------------- */

typedef struct fix {
  int t;        /* seconds after T0 */
  double dlat;  /* degrees north of LAT0 */
  double speed; /* km/h, NONE for absent */
  int ign;      /* 0, 1 or NO_IGN */
  double odo;   /* km, NONE for absent */
  double fuel;  /* %, NONE for absent */
} fix_t;

static fleet_telemetry_t mk(const char *vid, const fix_t *f)
{
  return tu_record(vid, f->t, f->dlat, f->speed, f->ign, f->odo, f->fuel, NONE);
}

typedef struct evlog {
  size_t n;
  size_t cap;
  fleet_trip_event_t *ev;
  size_t abort_at; /* return 42 from this event (1-based); 0 never */
} evlog_t;

static int log_cb(const fleet_trip_event_t *ev, void *ud)
{
  evlog_t *l = ud;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->ev = realloc(l->ev, l->cap * sizeof(*l->ev));
    assert_non_null(l->ev);
  }
  l->ev[l->n++] = *ev;
  return l->abort_at && l->n == l->abort_at ? 42 : 0;
}

static void log_free(evlog_t *l)
{
  free(l->ev);
  memset(l, 0, sizeof(*l));
}

static fleet_tripdet_t *det_new(const fleet_trip_params_t *p, evlog_t *log)
{
  fleet_tripdet_t *det = NULL;
  assert_int_equal(fleet_tripdet_new(&det, p, log_cb, log), 0);
  assert_non_null(det);
  return det;
}

static void feed_all(fleet_tripdet_t *det, const char *vid, const fix_t *fx, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    fleet_telemetry_t r = mk(vid, &fx[i]);
    fleet_trip_fix_status_t st = 99;
    int rc = fleet_tripdet_feed(&st, det, &r);
    if (rc)
      fail_msg("feed of t=%d failed: %s", fx[i].t, fleet_error_last());
    assert_int_equal(st, FLEET_TRIP_FIX_ACCEPTED);
  }
}

static void expect_stop(const fleet_trip_event_t *ev, int t0, int t1, double dlat,
                        unsigned int flags)
{
  assert_int_equal(ev->type, FLEET_TRIP_EVENT_STOP);
  assert_int_equal(ev->stop.start_ns, AT(t0));
  assert_int_equal(ev->stop.end_ns, AT(t1));
  assert_near(ev->stop.duration_s, t1 - t0, 1e-9);
  assert_near(ev->stop.lat, LAT0 + dlat, 1e-12);
  assert_near(ev->stop.lng, LNG0, 1e-12);
  assert_int_equal(ev->stop.flags, flags);
}

/* ---- the synthetic day ---------------------------------------------------- */

/*
 * Three trips with stops between them, traffic-light idling, a short move that
 * is no trip, engine idling while parked, and a 4000 s data gap.
 */
static const fix_t day[] = {
  /* stop A, engine off */
  {0, 0.0, 0, 0, 1000.0, 80.0},
  {600, 0.0, 0, 0, NONE, NONE},
  {1200, 0.0, 0, 0, NONE, NONE},
  /* trip 1: 0.055 degrees north in 420 s, 120 s at a red light */
  {1800, 0.000, 50, 1, 1000.0, 80.0},
  {1860, 0.010, 60, 1, NONE, NONE},
  {1920, 0.020, 70, 1, NONE, NONE},
  {1980, 0.030, 60, 1, NONE, NONE}, /* 180 s and 3.3 km: trip_start */
  {2040, 0.040, 0, 1, NONE, NONE},  /* red light */
  {2100, 0.040, 0, 1, NONE, NONE},
  {2160, 0.050, 40, 1, NONE, NONE},
  {2220, 0.055, 0, 1, 1006.1, 78.5}, /* first inactive fix: the end of trip 1 */
  {2280, 0.055, 0, 1, NONE, NONE},
  {2580, 0.055, 0, 0, NONE, NONE}, /* 360 s inactive: trip_end */
  /* stop B, with a 55 m move in 60 s that is no trip */
  {3000, 0.0550, 10, 1, NONE, NONE},
  {3060, 0.0555, 0, 1, NONE, NONE},
  {3180, 0.0555, 0, 0, NONE, NONE},
  /* trip 2: 0.02 degrees in 240 s, then a data gap; its odometer jumps */
  {3600, 0.0555, 30, 1, 1006.1, NONE},
  {3660, 0.0605, 30, 1, NONE, NONE},
  {3720, 0.0655, 30, 1, NONE, NONE},
  {3780, 0.0705, 30, 1, NONE, NONE}, /* trip_start */
  {3840, 0.0755, 30, 1, 1020.0, NONE},
  /* 4000 s without data: trip 2 ends at 3840 */
  {7840, 0.0755, 0, 0, NONE, NONE},
  {8440, 0.0755, 0, 1, NONE, NONE}, /* engine idling while parked: not a trip */
  /* trip 3: 0.025 degrees in 480 s, 180 s idling */
  {8500, 0.0755, 45, 1, NONE, NONE},
  {8560, 0.0805, 45, 1, NONE, NONE},
  {8620, 0.0855, 45, 1, NONE, NONE},
  {8680, 0.0905, 0, 1, NONE, NONE}, /* trip_start (180 s, 1.7 km) */
  {8740, 0.0905, 0, 1, NONE, NONE},
  {8800, 0.0905, 0, 1, NONE, NONE},
  {8860, 0.0905, 50, 1, NONE, NONE},
  {8920, 0.0955, 50, 1, NONE, NONE},
  {8980, 0.1005, 0, 1, NONE, NONE}, /* end of trip 3 */
  {9040, 0.1005, 0, 0, NONE, NONE},
  {9400, 0.1005, 0, 0, NONE, NONE}, /* 420 s inactive: trip_end */
};

static fleet_trip_params_t day_params(void)
{
  fleet_trip_params_t p;
  assert_int_equal(fleet_trip_params_init(&p, FLEET_TRIP_PARAMS_VERSION), 0);
  p.tank_l = 60.0;
  p.consumption_l_per_100km = 8.0;
  p.idle_l_per_h = 1.2;
  return p;
}

static void test_synthetic_day(void **state)
{
  (void)state;
  fleet_trip_params_t p = day_params();
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  feed_all(det, "v-1", day, FLEET_ARRAY_LEN(day));
  assert_int_equal(log.n, 9);
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, 10);

  /* stop A, from the first fix to the start of trip 1 */
  expect_stop(&log.ev[0], 0, 1800, 0.0, FLEET_STOP_FROM_FIRST_FIX);
  assert_string_equal(log.ev[0].stop.vehicle_id, "v-1");

  /* trip 1 starts when it reaches 180 s (at 1980; 3 x 0.01 degrees) */
  const fleet_trip_t *t = &log.ev[1].trip;
  assert_int_equal(log.ev[1].type, FLEET_TRIP_EVENT_TRIP_START);
  assert_string_equal(t->vehicle_id, "v-1");
  assert_int_equal(t->start_ns, AT(1800));
  assert_int_equal(t->end_ns, AT(1980));
  assert_int_equal(t->end_reason, FLEET_TRIP_END_NONE);
  assert_near(t->gps_distance_m, 0.03 * M_PER_DEG, 1e-3);

  /* trip 1: odometer 1000.0 -> 1006.1 km is sane against 6115.7 m of GPS */
  t = &log.ev[2].trip;
  assert_int_equal(log.ev[2].type, FLEET_TRIP_EVENT_TRIP_END);
  assert_int_equal(t->start_ns, AT(1800));
  assert_int_equal(t->end_ns, AT(2220));
  assert_near(t->start_lat, LAT0, 1e-12);
  assert_near(t->end_lat, LAT0 + 0.055, 1e-12);
  assert_near(t->end_lng, LNG0, 1e-12);
  assert_near(t->duration_s, 420.0, 0.0);
  assert_near(t->gps_distance_m, 0.055 * M_PER_DEG, 1.0); /* 6115.73 m */
  assert_near(t->distance_m, 6100.0, 1e-6);
  assert_int_equal(t->flags, FLEET_TRIP_DISTANCE_ODOMETER | FLEET_TRIP_HAS_ODOMETER |
                                 FLEET_TRIP_HAS_FUEL_LEVEL | FLEET_TRIP_FUEL_FROM_LEVEL);
  assert_near(t->start_odometer_km, 1000.0, 0.0);
  assert_near(t->end_odometer_km, 1006.1, 0.0);
  assert_near(t->moving_s, 300.0, 0.0); /* 1800-2040 and 2160-2220 */
  assert_near(t->idle_s, 120.0, 0.0);   /* 2040-2160 at the red light */
  assert_near(t->max_speed_kmh, 70.0, 0.0);
  assert_near(t->avg_speed_kmh, 6100.0 / 420.0 * 3.6, 1e-6);        /* 52.29 */
  assert_near(t->avg_moving_speed_kmh, 6100.0 / 300.0 * 3.6, 1e-6); /* 73.2 */
  assert_near(t->fuel_l, 1.5 / 100.0 * 60.0, 1e-9);                  /* 80 -> 78.5 % */
  assert_near(t->start_fuel_pct, 80.0, 0.0);
  assert_near(t->end_fuel_pct, 78.5, 0.0);
  assert_int_equal(t->n_fixes, 8);
  assert_int_equal(t->end_reason, FLEET_TRIP_END_PARKED);

  /* stop B, from the end of trip 1 (the short move inside it is no trip) */
  expect_stop(&log.ev[3], 2220, 3600, 0.055, 0);

  /* trip 2: the odometer jump (13.9 km for 2.2 km of GPS) is ignored */
  assert_int_equal(log.ev[4].type, FLEET_TRIP_EVENT_TRIP_START);
  assert_int_equal(log.ev[4].trip.end_ns, AT(3780));
  t = &log.ev[5].trip;
  assert_int_equal(log.ev[5].type, FLEET_TRIP_EVENT_TRIP_END);
  assert_int_equal(t->start_ns, AT(3600));
  assert_int_equal(t->end_ns, AT(3840));
  assert_near(t->distance_m, 0.02 * M_PER_DEG, 1.0); /* 2223.90 m */
  assert_near(t->gps_distance_m, t->distance_m, 0.0);
  assert_int_equal(t->flags, FLEET_TRIP_HAS_ODOMETER | FLEET_TRIP_FUEL_ESTIMATED);
  assert_near(t->moving_s, 240.0, 0.0);
  assert_near(t->idle_s, 0.0, 0.0);
  assert_near(t->max_speed_kmh, 30.0, 0.0);
  assert_near(t->avg_speed_kmh, 2223.9016 / 240.0 * 3.6, 1e-3); /* 33.36 */
  assert_near(t->avg_moving_speed_kmh, t->avg_speed_kmh, 1e-9);
  assert_near(t->fuel_l, 2223.9016 / 100000.0 * 8.0, 1e-5); /* 0.1779 L */
  assert_int_equal(t->n_fixes, 5);
  assert_int_equal(t->end_reason, FLEET_TRIP_END_DATA_GAP);

  /* stop C spans the gap and the engine idling before trip 3 */
  expect_stop(&log.ev[6], 3840, 8500, 0.0755, FLEET_STOP_DATA_GAP);

  assert_int_equal(log.ev[7].type, FLEET_TRIP_EVENT_TRIP_START);
  assert_int_equal(log.ev[7].trip.end_ns, AT(8680));
  t = &log.ev[8].trip;
  assert_int_equal(log.ev[8].type, FLEET_TRIP_EVENT_TRIP_END);
  assert_int_equal(t->start_ns, AT(8500));
  assert_int_equal(t->end_ns, AT(8980));
  assert_near(t->duration_s, 480.0, 0.0);
  assert_near(t->distance_m, 0.025 * M_PER_DEG, 1.0); /* 2779.88 m */
  assert_int_equal(t->flags, FLEET_TRIP_FUEL_ESTIMATED);
  assert_near(t->moving_s, 300.0, 0.0);
  assert_near(t->idle_s, 180.0, 0.0);
  assert_near(t->max_speed_kmh, 50.0, 0.0);
  assert_near(t->avg_speed_kmh, 2779.8770 / 480.0 * 3.6, 1e-3);        /* 20.85 */
  assert_near(t->avg_moving_speed_kmh, 2779.8770 / 300.0 * 3.6, 1e-3); /* 33.36 */
  /* 2779.877 m x 8 L/100 km + 180 s x 1.2 L/h */
  assert_near(t->fuel_l, 0.2223902 + 0.06, 1e-6);
  assert_int_equal(t->n_fixes, 9);
  assert_int_equal(t->end_reason, FLEET_TRIP_END_PARKED);

  /* flush: the stop after trip 3 is still going on */
  expect_stop(&log.ev[9], 8980, 9400, 0.1005, FLEET_STOP_OPEN);

  fleet_tripdet_stats_t s;
  assert_int_equal(fleet_tripdet_stats(&s, det), 0);
  assert_int_equal(s.version, FLEET_TRIPDET_STATS_VERSION);
  assert_int_equal(s.fixes, FLEET_ARRAY_LEN(day));
  assert_int_equal(s.trips, 3);
  assert_int_equal(s.stops, 4);
  assert_int_equal(s.vehicles, 1);
  assert_int_equal(s.stale + s.duplicates + s.rejected, 0);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* Deterministic: two runs give byte-identical events. */
static void test_deterministic(void **state)
{
  (void)state;
  fleet_trip_params_t p = day_params();
  evlog_t a = {0}, b = {0};
  fleet_tripdet_t *d1 = det_new(&p, &a);
  fleet_tripdet_t *d2 = det_new(&p, &b);
  feed_all(d1, "v-1", day, FLEET_ARRAY_LEN(day));
  feed_all(d2, "v-1", day, FLEET_ARRAY_LEN(day));
  assert_int_equal(fleet_tripdet_flush(d1, "v-1"), 0);
  assert_int_equal(fleet_tripdet_flush(d2, "v-1"), 0);
  assert_int_equal(a.n, 10);
  assert_int_equal(b.n, a.n);
  assert_memory_equal(a.ev, b.ev, a.n * sizeof(*a.ev));
  fleet_tripdet_free(d1);
  fleet_tripdet_free(d2);
  log_free(&a);
  log_free(&b);
}

/* Fuel both ways on one trip: the level method needs both ends, a tank and no rise. */
static void test_fuel_methods(void **state)
{
  (void)state;
  fix_t fx[] = {
    {0, 0.00, 60, 1, NONE, 50.0}, {60, 0.01, 60, 1, NONE, NONE},
    {120, 0.02, 60, 1, NONE, NONE}, {180, 0.03, 0, 1, NONE, 49.0},
    {240, 0.03, 0, 1, NONE, NONE}, {480, 0.03, 0, 0, NONE, NONE},
  };
  /* 0.03 degrees; moving 0-180 (180 s); idle 180-480 does not belong to the trip */
  const double dist = 0.03 * M_PER_DEG;
  struct {
    double tank, cons, idle, end_fuel;
    unsigned int flags;
    double want;
  } cases[] = {
    {80.0, 10.0, 2.0, 49.0, FLEET_TRIP_FUEL_FROM_LEVEL, 0.8},
    {0.0, 10.0, 2.0, 49.0, FLEET_TRIP_FUEL_ESTIMATED, dist / 1e5 * 10.0},
    {80.0, 10.0, 2.0, 51.0, FLEET_TRIP_FUEL_ESTIMATED, dist / 1e5 * 10.0}, /* refuelled */
    {80.0, 0.0, 0.0, 51.0, 0, 0.0},
    {80.0, 10.0, 2.0, NONE, FLEET_TRIP_FUEL_ESTIMATED, dist / 1e5 * 10.0},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
    p.tank_l = cases[i].tank;
    p.consumption_l_per_100km = cases[i].cons;
    p.idle_l_per_h = cases[i].idle;
    fx[3].fuel = cases[i].end_fuel;
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(&p, &log);
    feed_all(det, "", fx, FLEET_ARRAY_LEN(fx));
    assert_int_equal(log.n, 2);
    const fleet_trip_t *t = &log.ev[1].trip;
    assert_int_equal(t->end_ns, AT(180));
    assert_near(t->idle_s, 0.0, 0.0);
    assert_int_equal(t->flags & (FLEET_TRIP_FUEL_FROM_LEVEL | FLEET_TRIP_FUEL_ESTIMATED),
                     cases[i].flags);
    assert_int_equal(!!(t->flags & FLEET_TRIP_HAS_FUEL_LEVEL), cases[i].end_fuel != NONE);
    assert_near(t->fuel_l, cases[i].want, 1e-9);
    fleet_tripdet_free(det);
    log_free(&log);
  }
}

/* ---- thresholds ------------------------------------------------------------ */

static void test_below_minimums(void **state)
{
  (void)state;
  /* 1 km in 120 s, then parked: too short in time */
  const fix_t fast[] = {
    {0, 0.000, 0, 1, NONE, NONE}, {60, 0.000, 30, 1, NONE, NONE},
    {120, 0.0045, 30, 1, NONE, NONE}, {180, 0.009, 0, 1, NONE, NONE},
    {600, 0.009, 0, 0, NONE, NONE},
  };
  /* 150 m over 10 minutes at walking pace: too short in distance */
  fix_t slow[12];
  for (int i = 0; i < 12; i++)
    slow[i] = (fix_t){i * 60, i < 11 ? i * 0.000135 : 10 * 0.000135, i < 10 ? 3.0 : 0.0, 1,
                      NONE, NONE};
  slow[11].t = 1200;
  const fix_t *streams[] = {fast, slow};
  size_t lens[] = {FLEET_ARRAY_LEN(fast), FLEET_ARRAY_LEN(slow)};
  for (size_t s = 0; s < 2; s++) {
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(NULL, &log);
    feed_all(det, "v", streams[s], lens[s]);
    assert_int_equal(log.n, 0);
    assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
    /* the whole stream is one stop */
    assert_int_equal(log.n, 1);
    expect_stop(&log.ev[0], 0, streams[s][lens[s] - 1].t, 0.0,
                FLEET_STOP_FROM_FIRST_FIX | FLEET_STOP_OPEN);
    fleet_tripdet_free(det);
    log_free(&log);
  }
}

/* Exactly at both minimums the trip is reported (>=); a hair below it is not. */
static void test_minimums_inclusive(void **state)
{
  (void)state;
  const double deg200 = 200.0 / M_PER_DEG;
  for (int below = 0; below < 2; below++) {
    fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
    p.min_trip_distance_m = below ? 200.01 : 199.99;
    const fix_t fx[] = {
      {0, 0.0, 10, 1, NONE, NONE}, {90, deg200 / 2, 10, 1, NONE, NONE},
      {180, deg200, 0, 1, NONE, NONE}, {500, deg200, 0, 1, NONE, NONE},
    };
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(&p, &log);
    feed_all(det, "v", fx, FLEET_ARRAY_LEN(fx));
    if (below) {
      assert_int_equal(log.n, 0);
    } else {
      assert_int_equal(log.n, 2);
      assert_int_equal(log.ev[0].type, FLEET_TRIP_EVENT_TRIP_START);
      assert_int_equal(log.ev[1].trip.end_ns, AT(180));
      assert_near(log.ev[1].trip.duration_s, 180.0, 0.0);
      assert_near(log.ev[1].trip.distance_m, 200.0, 1e-6);
    }
    fleet_tripdet_free(det);
    log_free(&log);
  }
}

/* With both minimums 0 the first active fix is a trip at once, with no stop before it. */
static void test_zero_minimums(void **state)
{
  (void)state;
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.min_trip_distance_m = 0;
  p.min_trip_duration_s = 0;
  p.min_parking_s = 0;
  const fix_t fx[] = {{0, 0.0, 10, NO_IGN, NONE, NONE}, {60, 0.001, 0, NO_IGN, NONE, NONE},
                      {120, 0.001, 0, NO_IGN, NONE, NONE}};
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  feed_all(det, "v", fx, 1);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.ev[0].type, FLEET_TRIP_EVENT_TRIP_START);
  assert_int_equal(log.ev[0].trip.start_ns, AT(0));
  feed_all(det, "v", fx + 1, 2);
  /* min_parking_s 0: the first inactive fix is parking, judged at the next fix */
  assert_int_equal(log.n, 2);
  assert_int_equal(log.ev[1].trip.end_ns, AT(60));
  assert_int_equal(log.ev[1].trip.end_reason, FLEET_TRIP_END_PARKED);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* ---- ignition mode ------------------------------------------------------------ */

static const fix_t ign_day[] = {
  {0, 0.00, 0, 0, NONE, NONE},
  {60, 0.00, 0, 1, NONE, NONE}, /* engine on: the trip starts (ignition mode) */
  {360, 0.00, 0, 1, NONE, NONE},
  {660, 0.00, 0, 1, NONE, NONE}, /* 600 s idling: longer than min_parking_s */
  {720, 0.00, 60, 1, NONE, NONE},
  {780, 0.01, 60, 1, NONE, NONE},
  {840, 0.02, 60, 1, NONE, NONE},
  {900, 0.03, 0, 1, NONE, NONE},
  {960, 0.03, 0, 1, NONE, NONE},
  {1020, 0.03, 0, 0, NONE, NONE}, /* ignition off: the trip ends here */
  {1080, 0.03, 0, 0, NONE, NONE},
};

static void test_ignition_mode(void **state)
{
  (void)state;
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.use_ignition = 1;
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  feed_all(det, "v", ign_day, 7); /* up to 840: 780 s, 0.02 degrees */
  assert_int_equal(log.n, 2);
  expect_stop(&log.ev[0], 0, 60, 0.0, FLEET_STOP_FROM_FIRST_FIX);
  assert_int_equal(log.ev[1].type, FLEET_TRIP_EVENT_TRIP_START);
  feed_all(det, "v", ign_day + 7, 3); /* the ignition-off fix ends it at once */
  assert_int_equal(log.n, 3);
  const fleet_trip_t *t = &log.ev[2].trip;
  assert_int_equal(t->start_ns, AT(60));
  assert_int_equal(t->end_ns, AT(1020));
  assert_int_equal(t->end_reason, FLEET_TRIP_END_IGNITION_OFF);
  assert_near(t->distance_m, 0.03 * M_PER_DEG, 1.0);
  assert_near(t->moving_s, 180.0, 0.0); /* 720-900 */
  assert_near(t->idle_s, 780.0, 0.0);   /* 60-720 and 900-1020 */
  assert_int_equal(t->n_fixes, 9);
  feed_all(det, "v", ign_day + 10, 1);
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, 4);
  expect_stop(&log.ev[3], 1020, 1080, 0.03, FLEET_STOP_OPEN);
  fleet_tripdet_free(det);
  log_free(&log);

  /* The same stream by speed: the trip is 720-900, and still going on at flush. */
  log = (evlog_t){0};
  det = det_new(NULL, &log);
  feed_all(det, "v", ign_day, FLEET_ARRAY_LEN(ign_day));
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, 4);
  expect_stop(&log.ev[0], 0, 720, 0.0, FLEET_STOP_FROM_FIRST_FIX);
  t = &log.ev[2].trip;
  assert_int_equal(t->start_ns, AT(720));
  assert_int_equal(t->end_ns, AT(900));
  assert_int_equal(t->end_reason, FLEET_TRIP_END_FLUSH);
  assert_near(t->moving_s, 180.0, 0.0);
  assert_near(t->idle_s, 0.0, 0.0);
  expect_stop(&log.ev[3], 900, 1080, 0.03, FLEET_STOP_OPEN);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* Ignition off while already pausing (a fix without ignition stopped first):
 * the trip ends at that first inactive fix. */
static void test_ignition_off_while_pausing(void **state)
{
  (void)state;
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.use_ignition = 1;
  const fix_t fx[] = {
    {0, 0.00, 50, 1, NONE, NONE},      {60, 0.01, 50, 1, NONE, NONE},
    {120, 0.02, 50, 1, NONE, NONE},    {180, 0.03, 50, 1, NONE, NONE},
    {240, 0.04, 0, NO_IGN, NONE, NONE}, /* inactive by speed: the pause starts */
    {270, 0.04, 0, 0, NONE, NONE},      /* ignition off */
  };
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  feed_all(det, "v", fx, FLEET_ARRAY_LEN(fx));
  assert_int_equal(log.n, 2);
  const fleet_trip_t *t = &log.ev[1].trip;
  assert_int_equal(t->end_reason, FLEET_TRIP_END_IGNITION_OFF);
  assert_int_equal(t->end_ns, AT(240));
  assert_int_equal(t->n_fixes, 5);
  assert_near(t->moving_s, 240.0, 0.0);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* In ignition mode, fixes without ignition fall back to their speed. */
static void test_ignition_mode_fallback(void **state)
{
  (void)state;
  fix_t fx[FLEET_ARRAY_LEN(ign_day)];
  memcpy(fx, ign_day, sizeof fx);
  for (size_t i = 0; i < FLEET_ARRAY_LEN(fx); i++)
    fx[i].ign = NO_IGN;
  evlog_t a = {0}, b = {0};
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.use_ignition = 1;
  fleet_tripdet_t *d1 = det_new(&p, &a);
  fleet_tripdet_t *d2 = det_new(NULL, &b);
  feed_all(d1, "v", fx, FLEET_ARRAY_LEN(fx));
  feed_all(d2, "v", fx, FLEET_ARRAY_LEN(fx));
  assert_int_equal(fleet_tripdet_flush(d1, NULL), 0);
  assert_int_equal(fleet_tripdet_flush(d2, NULL), 0);
  assert_int_equal(a.n, 4);
  assert_int_equal(b.n, a.n);
  assert_memory_equal(a.ev, b.ev, a.n * sizeof(*a.ev));
  assert_int_equal(a.ev[2].trip.start_ns, AT(720));
  fleet_tripdet_free(d1);
  fleet_tripdet_free(d2);
  log_free(&a);
  log_free(&b);
}

/* ---- odometer ------------------------------------------------------------------- */

static void test_odometer(void **state)
{
  (void)state;
  const double gps = 0.04 * M_PER_DEG; /* 4447.80 m */
  struct {
    double start, end;
    int use;
    int trusted;
  } cases[] = {
    {500.0, 504.5, 1, 1},                          /* 4500 m: sane */
    {500.0, 499.0, 1, 0},                          /* went back */
    {500.0, 600.0, 1, 0},                          /* 100 km: a jump */
    {500.0, 500.0 + (2 * gps + 100 - 1) / 1e3, 1, 1}, /* just inside 2x + slack */
    {500.0, 500.0 + (2 * gps + 100 + 1) / 1e3, 1, 0}, /* just outside */
    {500.0, 500.0 + (0.5 * gps - 100 + 1) / 1e3, 1, 1}, /* just inside 0.5x - slack */
    {500.0, 500.0 + (0.5 * gps - 100 - 1) / 1e3, 1, 0}, /* just outside */
    {500.0, 504.5, 0, 0},                          /* use_odometer off */
    {500.0, NONE, 1, 0},                           /* only at the start */
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
    p.use_odometer = cases[i].use;
    const fix_t fx[] = {
      {0, 0.00, 60, 1, cases[i].start, NONE}, {60, 0.01, 60, 1, NONE, NONE},
      {120, 0.02, 60, 1, NONE, NONE},         {180, 0.03, 60, 1, NONE, NONE},
      {240, 0.04, 0, 1, cases[i].end, NONE},  {600, 0.04, 0, 0, NONE, NONE},
    };
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(&p, &log);
    feed_all(det, "v", fx, FLEET_ARRAY_LEN(fx));
    assert_int_equal(log.n, 2);
    const fleet_trip_t *t = &log.ev[1].trip;
    assert_near(t->gps_distance_m, gps, 1.0);
    if (cases[i].trusted) {
      assert_near(t->distance_m, (cases[i].end - cases[i].start) * 1000.0, 1e-6);
      assert_true(t->flags & FLEET_TRIP_DISTANCE_ODOMETER);
    } else {
      assert_near(t->distance_m, t->gps_distance_m, 0.0);
      assert_false(t->flags & FLEET_TRIP_DISTANCE_ODOMETER);
    }
    assert_int_equal(!!(t->flags & FLEET_TRIP_HAS_ODOMETER), cases[i].end != NONE);
    fleet_tripdet_free(det);
    log_free(&log);
  }
}

/* ---- stale and duplicate fixes ---------------------------------------------------- */

static void test_stale_and_duplicates(void **state)
{
  (void)state;
  fleet_trip_params_t p = day_params();
  evlog_t clean = {0}, noisy = {0};
  fleet_tripdet_t *d1 = det_new(&p, &clean);
  fleet_tripdet_t *d2 = det_new(&p, &noisy);
  feed_all(d1, "v-1", day, FLEET_ARRAY_LEN(day));
  unsigned stale = 0, dups = 0;
  for (size_t i = 0; i < FLEET_ARRAY_LEN(day); i++) {
    fleet_telemetry_t r = mk("v-1", &day[i]);
    fleet_trip_fix_status_t st;
    assert_int_equal(fleet_tripdet_feed(&st, d2, &r), 0);
    assert_int_equal(st, FLEET_TRIP_FIX_ACCEPTED);
    if (i % 3 == 1) {
      /* a re-delivery of the same fix, and one with the same ts elsewhere */
      assert_int_equal(fleet_tripdet_feed(&st, d2, &r), 0);
      assert_int_equal(st, FLEET_TRIP_FIX_DUPLICATE);
      r.lat += 0.5;
      r.speed_kmh = 120;
      assert_int_equal(fleet_tripdet_feed(NULL, d2, &r), 0);
      dups += 2;
    }
    if (i > 0 && i % 4 == 0) {
      /* an old fix far away, moving fast */
      fleet_telemetry_t old = mk("v-1", &day[i / 2]);
      old.lat -= 1.0;
      old.speed_kmh = 150;
      old.present |= FLEET_TELEMETRY_SPEED;
      assert_int_equal(fleet_tripdet_feed(&st, d2, &old), 0);
      assert_int_equal(st, FLEET_TRIP_FIX_STALE);
      stale++;
    }
  }
  assert_int_equal(fleet_tripdet_flush(d1, NULL), 0);
  assert_int_equal(fleet_tripdet_flush(d2, NULL), 0);
  assert_int_equal(clean.n, 10);
  assert_int_equal(noisy.n, clean.n);
  assert_memory_equal(clean.ev, noisy.ev, clean.n * sizeof(*clean.ev));
  fleet_tripdet_stats_t s;
  assert_int_equal(fleet_tripdet_stats(&s, d2), 0);
  assert_int_equal(s.fixes, FLEET_ARRAY_LEN(day));
  assert_int_equal(s.stale, stale);
  assert_int_equal(s.duplicates, dups);
  fleet_tripdet_free(d1);
  fleet_tripdet_free(d2);
  log_free(&clean);
  log_free(&noisy);
}

/* ---- tick and flush ------------------------------------------------------------------ */

static void test_tick(void **state)
{
  (void)state;
  const fix_t drive[] = {
    {0, 0.00, 60, 1, NONE, NONE}, {60, 0.01, 60, 1, NONE, NONE},
    {120, 0.02, 60, 1, NONE, NONE}, {180, 0.03, 60, 1, NONE, NONE},
  };
  const fix_t halt = {240, 0.04, 0, 1, NONE, NONE};
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(NULL, &log);
  assert_int_equal(fleet_tripdet_tick(det, AT(100000)), 0); /* no vehicles yet */
  feed_all(det, "a", drive, FLEET_ARRAY_LEN(drive));
  feed_all(det, "b", drive, FLEET_ARRAY_LEN(drive));
  feed_all(det, "a", &halt, 1);
  assert_int_equal(log.n, 2); /* a and b: trip_start at 180 (no stop: they start moving) */

  /* a pauses since 240: parked at 240 + 300; b drives on: only the gap applies */
  assert_int_equal(fleet_tripdet_tick(det, AT(539)), 0);
  assert_int_equal(log.n, 2);
  assert_int_equal(fleet_tripdet_tick(det, AT(540)), 0);
  assert_int_equal(log.n, 3);
  assert_string_equal(log.ev[2].trip.vehicle_id, "a");
  assert_int_equal(log.ev[2].trip.end_ns, AT(240));
  assert_int_equal(log.ev[2].trip.end_reason, FLEET_TRIP_END_PARKED);
  assert_int_equal(fleet_tripdet_tick(det, AT(180 + 3599)), 0);
  assert_int_equal(log.n, 3);
  assert_int_equal(fleet_tripdet_tick(det, AT(180 + 3600)), 0);
  assert_int_equal(log.n, 4);
  assert_string_equal(log.ev[3].trip.vehicle_id, "b");
  assert_int_equal(log.ev[3].trip.end_ns, AT(180));
  assert_int_equal(log.ev[3].trip.end_reason, FLEET_TRIP_END_DATA_GAP);
  assert_int_equal(fleet_tripdet_tick(det, AT(100000)), 0); /* nothing left to end */
  assert_int_equal(log.n, 4);

  /* b comes back: a new trip, and the stop between carries the gap flag */
  const fix_t back[] = {
    {7200, 0.03, 60, 1, NONE, NONE}, {7260, 0.04, 60, 1, NONE, NONE},
    {7320, 0.05, 60, 1, NONE, NONE}, {7380, 0.06, 60, 1, NONE, NONE},
  };
  feed_all(det, "b", back, FLEET_ARRAY_LEN(back));
  assert_int_equal(log.n, 6);
  expect_stop(&log.ev[4], 180, 7200, 0.03, FLEET_STOP_DATA_GAP);
  assert_string_equal(log.ev[4].stop.vehicle_id, "b");
  assert_int_equal(log.ev[5].type, FLEET_TRIP_EVENT_TRIP_START);

  /* flush one vehicle: b's trip ends; then a's stop is reported by flush-all */
  assert_int_equal(fleet_tripdet_flush(det, "nobody"), 0);
  assert_int_equal(fleet_tripdet_flush(det, "b"), 0);
  assert_int_equal(log.n, 7);
  assert_int_equal(log.ev[6].trip.end_reason, FLEET_TRIP_END_FLUSH);
  assert_int_equal(log.ev[6].trip.end_ns, AT(7380));
  const fix_t later = {600, 0.04, 0, 0, NONE, NONE};
  feed_all(det, "a", &later, 1);
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, 8);
  expect_stop(&log.ev[7], 240, 600, 0.04, FLEET_STOP_OPEN);
  assert_string_equal(log.ev[7].stop.vehicle_id, "a");
  fleet_tripdet_free(det);
  log_free(&log);
}

/* After a flush a vehicle starts afresh: an older fix is accepted again. */
static void test_flush_resets(void **state)
{
  (void)state;
  fleet_trip__state_t st;
  fleet_trip__init(&st);
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  evlog_t log = {0};
  assert_int_equal(fleet_trip__last_ts(&st), INT64_MIN);
  fleet_telemetry_t r = mk("v", &(fix_t){600, 0, 0, 0, NONE, NONE});
  assert_int_equal(fleet_trip__feed(NULL, &st, &p, &r, log_cb, &log), 0);
  assert_int_equal(fleet_trip__last_ts(&st), AT(600));
  assert_int_equal(fleet_trip__flush(&st, &p, "v", log_cb, &log), 0);
  assert_int_equal(log.n, 0); /* one fix: a stop of zero length */
  fleet_trip__state_t fresh;
  fleet_trip__init(&fresh);
  assert_memory_equal(&st, &fresh, sizeof st);
  r.ts_ns = AT(0);
  fleet_trip_fix_status_t status;
  assert_int_equal(fleet_trip__feed(&status, &st, &p, &r, log_cb, &log), 0);
  assert_int_equal(status, FLEET_TRIP_FIX_ACCEPTED);
  log_free(&log);
}

/* ---- the internal API, as the tracker uses it ------------------------------------------- */

static void test_internal_state(void **state)
{
  (void)state;
  assert_true(sizeof(fleet_trip__state_t) <= 200);
  fleet_trip_params_t p = day_params();
  fleet_trip__state_t st;
  fleet_trip__init(&st);
  evlog_t a = {0}, b = {0};
  int in_trip_at[FLEET_ARRAY_LEN(day)];
  for (size_t i = 0; i < FLEET_ARRAY_LEN(day); i++) {
    fleet_telemetry_t r = mk("v-1", &day[i]);
    assert_int_equal(fleet_trip__feed(NULL, &st, &p, &r, log_cb, &a), 0);
    in_trip_at[i] = fleet_trip__in_trip(&st);
  }
  assert_int_equal(fleet_trip__flush(&st, &p, "v-1", log_cb, &a), 0);
  /* reported trip in progress: from the trip_start fix to the fix before trip_end */
  assert_int_equal(in_trip_at[5], 0);  /* 1920 */
  assert_int_equal(in_trip_at[6], 1);  /* 1980: trip_start */
  assert_int_equal(in_trip_at[11], 1); /* 2280: pausing */
  assert_int_equal(in_trip_at[12], 0); /* 2580: trip_end */
  assert_int_equal(in_trip_at[20], 1); /* 3840 */
  assert_int_equal(in_trip_at[21], 0); /* 7840: after the gap */

  fleet_tripdet_t *det = det_new(&p, &b);
  feed_all(det, "v-1", day, FLEET_ARRAY_LEN(day));
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.ev, b.ev, a.n * sizeof(*a.ev));
  fleet_tripdet_free(det);
  log_free(&a);
  log_free(&b);
}

/* A callback's non-zero value comes back; the state has advanced regardless. */
static void test_callback_abort(void **state)
{
  (void)state;
  fleet_trip_params_t p = day_params();
  evlog_t log = {0};
  log.abort_at = 1; /* stop A, delivered before trip_start at 1980 */
  fleet_tripdet_t *det = det_new(&p, &log);
  int rc = 0;
  size_t i;
  for (i = 0; i < FLEET_ARRAY_LEN(day) && rc == 0; i++) {
    fleet_telemetry_t r = mk("v-1", &day[i]);
    rc = fleet_tripdet_feed(NULL, det, &r);
  }
  assert_int_equal(rc, 42);
  assert_int_equal(day[i - 1].t, 1980);
  assert_int_equal(log.n, 1); /* trip_start of that fix was not delivered */
  log.abort_at = 0;
  for (; i < FLEET_ARRAY_LEN(day); i++) {
    fleet_telemetry_t r = mk("v-1", &day[i]);
    assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);
  }
  /* trip 1 still ends normally */
  assert_int_equal(log.ev[1].type, FLEET_TRIP_EVENT_TRIP_END);
  assert_int_equal(log.ev[1].trip.start_ns, AT(1800));
  assert_int_equal(log.n, 8);
  log.abort_at = log.n + 1;
  assert_int_equal(fleet_tripdet_flush(det, NULL), 42);
  log.abort_at = 0;
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0); /* the state was reset anyway */
  assert_int_equal(log.n, 9);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* Speeds derived from positions when a fix has none. */
static void test_derived_speed(void **state)
{
  (void)state;
  const fix_t fx[] = {
    {0, 0.00, NONE, NO_IGN, NONE, NONE},  {60, 0.01, NONE, NO_IGN, NONE, NONE},
    {120, 0.02, NONE, NO_IGN, NONE, NONE}, {180, 0.03, NONE, NO_IGN, NONE, NONE},
    {240, 0.04, NONE, NO_IGN, NONE, NONE}, {300, 0.04, NONE, NO_IGN, NONE, NONE},
    {900, 0.04, NONE, NO_IGN, NONE, NONE},
  };
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(NULL, &log);
  feed_all(det, "v", fx, FLEET_ARRAY_LEN(fx));
  /* 60 is the first fix known to move (0.01 degree per minute = 66.7 km/h) */
  assert_int_equal(log.n, 3);
  const fleet_trip_t *t = &log.ev[2].trip;
  assert_int_equal(t->start_ns, AT(60));
  assert_int_equal(t->end_ns, AT(300));
  assert_near(t->max_speed_kmh, 0.01 * M_PER_DEG / 60.0 * 3.6, 1e-6);
  assert_near(t->distance_m, 0.03 * M_PER_DEG, 1.0);
  assert_near(t->moving_s, 240.0, 0.0);
  fleet_tripdet_free(det);
  log_free(&log);
}

/* ---- several vehicles -------------------------------------------------------------- */

static void test_multi_vehicle(void **state)
{
  (void)state;
  fleet_trip_params_t p = day_params();
  evlog_t mixed = {0};
  fleet_tripdet_t *det = det_new(&p, &mixed);
  /* v-2 has a bigger tank */
  fleet_trip_params_t big = p;
  big.tank_l = 120.0;
  assert_int_equal(fleet_tripdet_set_vehicle_params(det, "v-2", &big), 0);
  /* interleave v-1 and v-2 (v-2 shifted by 7 s) */
  for (size_t i = 0; i < FLEET_ARRAY_LEN(day); i++) {
    fleet_telemetry_t r = mk("v-1", &day[i]);
    assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);
    r = mk("v-2", &day[i]);
    r.ts_ns += 7 * NS;
    assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);
  }
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(mixed.n, 20);
  size_t n1 = 0, n2 = 0;
  fleet_trip_event_t e1[10], e2[10];
  for (size_t i = 0; i < mixed.n; i++) {
    const char *vid = mixed.ev[i].type == FLEET_TRIP_EVENT_STOP ? mixed.ev[i].stop.vehicle_id
                                                                 : mixed.ev[i].trip.vehicle_id;
    if (strcmp(vid, "v-1") == 0)
      e1[n1++] = mixed.ev[i];
    else
      e2[n2++] = mixed.ev[i];
  }
  assert_int_equal(n1, 10);
  assert_int_equal(n2, 10);
  /* v-1 alone gives the same events */
  evlog_t alone = {0};
  fleet_tripdet_t *d1 = det_new(&p, &alone);
  feed_all(d1, "v-1", day, FLEET_ARRAY_LEN(day));
  assert_int_equal(fleet_tripdet_flush(d1, NULL), 0);
  assert_memory_equal(alone.ev, e1, sizeof e1);
  /* v-2: same trips 7 s later, trip 1 fuel from its own tank */
  assert_int_equal(e2[2].trip.start_ns, AT(1807));
  assert_near(e2[2].trip.fuel_l, 1.5 / 100.0 * 120.0, 1e-9);
  assert_near(e1[2].trip.fuel_l, 1.5 / 100.0 * 60.0, 1e-9);
  /* back to the detector's params */
  assert_int_equal(fleet_tripdet_set_vehicle_params(det, "v-2", NULL), 0);
  fleet_tripdet_stats_t s;
  assert_int_equal(fleet_tripdet_stats(&s, det), 0);
  assert_int_equal(s.vehicles, 2);
  assert_int_equal(s.trips, 6);
  fleet_tripdet_free(det);
  fleet_tripdet_free(d1);
  log_free(&mixed);
  log_free(&alone);
}

/* More vehicles than the first allocation of the detector's table holds: each is
 * found again after the table has grown, and flush goes in order of first fix. */
static void test_many_vehicles(void **state)
{
  (void)state;
  enum { NV = 40 };
  fleet_trip_params_t p = day_params();
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  char vid[NV][8];
  for (int i = 0; i < NV; i++)
    snprintf(vid[i], sizeof vid[i], "v-%02d", NV - 1 - i);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < NV; i++) {
      const fix_t f = {round ? 60 + i : 0, 0.0, 0.0, NO_IGN, NONE, NONE};
      fleet_telemetry_t r = mk(vid[i], &f);
      fleet_trip_fix_status_t st = 99;
      assert_int_equal(fleet_tripdet_feed(&st, det, &r), 0);
      assert_int_equal(st, FLEET_TRIP_FIX_ACCEPTED);
    }
  fleet_tripdet_stats_t s;
  assert_int_equal(fleet_tripdet_stats(&s, det), 0);
  assert_int_equal(s.vehicles, NV);
  assert_int_equal(s.fixes, 2 * NV);
  /* vid[33] is "v-06", the 34th vehicle seen */
  assert_int_equal(fleet_tripdet_flush(det, "v-06"), 0);
  assert_int_equal(log.n, 1);
  assert_string_equal(log.ev[0].stop.vehicle_id, "v-06");
  expect_stop(&log.ev[0], 0, 60 + 33, 0.0, FLEET_STOP_OPEN | FLEET_STOP_FROM_FIRST_FIX);
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, NV);
  for (int i = 0, k = 1; i < NV; i++) {
    if (i == 33)
      continue;
    assert_string_equal(log.ev[k].stop.vehicle_id, vid[i]);
    expect_stop(&log.ev[k], 0, 60 + i, 0.0, FLEET_STOP_OPEN | FLEET_STOP_FROM_FIRST_FIX);
    k++;
  }
  fleet_tripdet_free(det);
  log_free(&log);
}

/* ---- errors -------------------------------------------------------------------------- */

static int never_cb(const fleet_trip_event_t *ev, void *ud)
{
  (void)ev;
  (void)ud;
  return 0;
}

static void expect_param_error(fleet_trip_params_t p, int code, const char *msg)
{
  assert_int_equal(fleet_trip_params_validate(&p), code);
  assert_string_equal(fleet_error_last(), msg);
  fleet_tripdet_t *det = (fleet_tripdet_t *)1;
  assert_int_equal(fleet_tripdet_new(&det, &p, never_cb, NULL), code);
  assert_null(det);
}

static void test_params(void **state)
{
  (void)state;
  fleet_trip_params_t p;
  assert_int_equal(fleet_trip_params_init(&p, FLEET_TRIP_PARAMS_VERSION), 0);
  const fleet_trip_params_t def = FLEET_TRIP_PARAMS_INIT;
  assert_int_equal(p.version, FLEET_TRIP_PARAMS_VERSION);
  assert_int_equal(def.version, FLEET_TRIP_PARAMS_VERSION);
  assert_near(p.odometer_slack_m, 100.0, 0.0);
  assert_near(def.odometer_slack_m, 100.0, 0.0);
  assert_near(p.tank_l + p.consumption_l_per_100km + p.idle_l_per_h, 0.0, 0.0);
  assert_near(def.idle_l_per_h, 0.0, 0.0);
  assert_int_equal(def.use_odometer, 1);
  assert_near(p.min_trip_distance_m, 200.0, 0.0);
  assert_near(p.min_trip_duration_s, 180.0, 0.0);
  assert_near(p.min_parking_s, 300.0, 0.0);
  assert_near(p.max_gap_s, 3600.0, 0.0);
  assert_near(p.speed_threshold_kmh, 2.0, 0.0);
  assert_int_equal(p.use_ignition, 0);
  assert_int_equal(p.use_odometer, 1);
  assert_int_equal(fleet_trip_params_validate(&p), 0);
  assert_int_equal(fleet_trip_params_init(NULL, FLEET_TRIP_PARAMS_VERSION), FLEET_EINVAL);
  assert_int_equal(fleet_trip_params_init(&p, 99), FLEET_EVERSION);
  assert_int_equal(fleet_trip_params_validate(NULL), FLEET_EINVAL);

  fleet_trip_params_t b = def;
  b.version = 2;
  expect_param_error(b, FLEET_EVERSION, "params: version 2 is not 1");
  b = def;
  b.min_trip_distance_m = -1;
  expect_param_error(b, FLEET_ERANGE, "min_trip_distance_m: -1 is outside [0, 1e+09]");
  b = def;
  b.min_trip_duration_s = NAN;
  expect_param_error(b, FLEET_ERANGE, "min_trip_duration_s: nan is outside [0, 2.592e+06]");
  b = def;
  b.min_parking_s = 1e7;
  expect_param_error(b, FLEET_ERANGE, "min_parking_s: 1e+07 is outside [0, 2.592e+06]");
  b = def;
  b.max_gap_s = INFINITY;
  expect_param_error(b, FLEET_ERANGE, "max_gap_s: inf is outside [0, 2.592e+06]");
  b = def;
  b.speed_threshold_kmh = -0.5;
  expect_param_error(b, FLEET_ERANGE, "speed_threshold_kmh: -0.5 is outside [0, 10000]");
  b = def;
  b.odometer_slack_m = -1;
  expect_param_error(b, FLEET_ERANGE, "odometer_slack_m: -1 is outside [0, 1e+09]");
  b = def;
  b.tank_l = -60;
  expect_param_error(b, FLEET_ERANGE, "tank_l: -60 is outside [0, 1e+06]");
  b = def;
  b.consumption_l_per_100km = 1e5;
  expect_param_error(b, FLEET_ERANGE, "consumption_l_per_100km: 100000 is outside [0, 10000]");
  b = def;
  b.idle_l_per_h = -2;
  expect_param_error(b, FLEET_ERANGE, "idle_l_per_h: -2 is outside [0, 10000]");
  b = def;
  b.use_ignition = 2;
  expect_param_error(b, FLEET_EINVAL, "use_ignition: 2 is not 0 or 1");
  b = def;
  b.use_odometer = -1;
  expect_param_error(b, FLEET_EINVAL, "use_odometer: -1 is not 0 or 1");
}

static void expect_fix_error(fleet_tripdet_t *det, fleet_telemetry_t r, const char *msg)
{
  fleet_trip_fix_status_t st = 99;
  assert_int_equal(fleet_tripdet_feed(&st, det, &r), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), msg);
  assert_int_equal(st, FLEET_TRIP_FIX_ACCEPTED);
}

static void test_errors(void **state)
{
  (void)state;
  fleet_tripdet_t *det = NULL;
  assert_int_equal(fleet_tripdet_new(NULL, NULL, never_cb, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_new(&det, NULL, NULL, NULL), FLEET_EINVAL);
  assert_null(det);
  assert_int_equal(fleet_tripdet_new(&det, NULL, never_cb, NULL), 0);
  fleet_tripdet_free(NULL);

  fleet_telemetry_t ok = mk("v", &(fix_t){0, 0, 10, 1, 100, 50});
  fleet_telemetry_t r = ok;
  r.lat = 91.2;
  expect_fix_error(det, r, "lat: 91.2 is outside [-90, 90]");
  r = ok;
  r.lng = NAN;
  expect_fix_error(det, r, "lng: nan is outside [-180, 180]");
  r = ok;
  r.speed_kmh = -3;
  expect_fix_error(det, r, "speed: -3 is not a speed in km/h");
  r = ok;
  r.odometer_km = INFINITY;
  expect_fix_error(det, r, "odometer: inf is not a distance in km");
  r = ok;
  r.fuel_level_pct = 100.5;
  expect_fix_error(det, r, "fuel_level: 100.5 is outside [0, 100]");
  r = ok;
  r.ts_ns = INT64_MAX;
  expect_fix_error(det, r, "ts: 9223372036854775807 ns is outside 1678-2261");
  /* absent fields are not checked */
  r = ok;
  r.present = 0;
  r.speed_kmh = -3;
  assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);

  fleet_tripdet_stats_t s;
  assert_int_equal(fleet_tripdet_stats(&s, det), 0);
  assert_int_equal(s.rejected, 6);
  assert_int_equal(s.vehicles, 1); /* rejected fixes create no vehicle */
  assert_int_equal(s.fixes, 1);

  r = ok;
  memset(r.vehicle_id, 'x', sizeof r.vehicle_id); /* not terminated within 64 bytes */
  assert_int_equal(fleet_tripdet_feed(NULL, det, &r), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "vehicle_id: longer than 64 bytes");
  assert_int_equal(fleet_tripdet_feed(NULL, NULL, &ok), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_feed(NULL, det, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_tick(NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_flush(NULL, NULL), FLEET_EINVAL);
  char longid[80];
  memset(longid, 'y', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  assert_int_equal(fleet_tripdet_flush(det, longid), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_stats(NULL, det), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_stats(&s, NULL), FLEET_EINVAL);

  fleet_trip_params_t bad = FLEET_TRIP_PARAMS_INIT;
  bad.tank_l = -1;
  assert_int_equal(fleet_tripdet_set_vehicle_params(det, "v", &bad), FLEET_ERANGE);
  assert_int_equal(fleet_tripdet_set_vehicle_params(det, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_set_vehicle_params(NULL, "v", NULL), FLEET_EINVAL);
  assert_int_equal(fleet_tripdet_set_vehicle_params(det, longid, NULL), FLEET_EINVAL);

  /* internal entry points */
  fleet_trip__state_t st;
  fleet_trip__init(&st);
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  assert_int_equal(fleet_trip__feed(NULL, NULL, &p, &ok, never_cb, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_trip__feed(NULL, &st, NULL, &ok, never_cb, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_trip__feed(NULL, &st, &p, NULL, never_cb, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_trip__feed(NULL, &st, &p, &ok, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_trip__tick(&st, &p, "v", 0, NULL, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_trip__flush(&st, NULL, "v", never_cb, NULL), FLEET_EINVAL);
  fleet_tripdet_free(det);
}

/* Extreme but valid timestamps and a disabled gap rule: no overflow (UBSan). */
static void test_extreme_times(void **state)
{
  (void)state;
  fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
  p.max_gap_s = 0;
  evlog_t log = {0};
  fleet_tripdet_t *det = det_new(&p, &log);
  fleet_telemetry_t r = mk("v", &(fix_t){0, 0.0, 50, 1, NONE, NONE});
  r.ts_ns = -9214560000LL * NS; /* 1678-01-01 */
  assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);
  r.ts_ns = 9214646400LL * NS - 1; /* just before 2262-01-01 */
  r.lat += 0.01;
  assert_int_equal(fleet_tripdet_feed(NULL, det, &r), 0);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.ev[0].type, FLEET_TRIP_EVENT_TRIP_START);
  assert_true(log.ev[0].trip.duration_s > 9e9); /* saturated, not wrapped */
  assert_int_equal(fleet_tripdet_tick(det, INT64_MAX), 0);
  assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
  assert_int_equal(log.n, 2);
  fleet_tripdet_free(det);
  log_free(&log);
}

static void test_names(void **state)
{
  (void)state;
  assert_string_equal(fleet_trip_event_type_name(FLEET_TRIP_EVENT_TRIP_START), "trip_start");
  assert_string_equal(fleet_trip_event_type_name(FLEET_TRIP_EVENT_TRIP_END), "trip_end");
  assert_string_equal(fleet_trip_event_type_name(FLEET_TRIP_EVENT_STOP), "stop");
  assert_null(fleet_trip_event_type_name(0));
  assert_string_equal(fleet_trip_end_reason_name(FLEET_TRIP_END_NONE), "none");
  assert_string_equal(fleet_trip_end_reason_name(FLEET_TRIP_END_PARKED), "parked");
  assert_string_equal(fleet_trip_end_reason_name(FLEET_TRIP_END_IGNITION_OFF), "ignition_off");
  assert_string_equal(fleet_trip_end_reason_name(FLEET_TRIP_END_DATA_GAP), "data_gap");
  assert_string_equal(fleet_trip_end_reason_name(FLEET_TRIP_END_FLUSH), "flush");
  assert_null(fleet_trip_end_reason_name(5));
}

/* ---- properties ------------------------------------------------------------------------ */

/*
 * Checks on a stream's events: trips and stops alternate without overlap,
 * each stop runs from the previous trip's end to the next trip's start, every
 * trip meets the minimums, and its GPS distance and fix count are those of the
 * accepted fixes from its start to its end.
 */
static void check_stream(const evlog_t *log, const fleet_telemetry_t *fx, size_t n,
                         const fleet_trip_params_t *p, size_t *out_trips)
{
  int64_t prev_end = INT64_MIN;
  int64_t pending_stop_end = INT64_MIN;
  size_t trips = 0;
  for (size_t i = 0; i < log->n; i++) {
    const fleet_trip_event_t *ev = &log->ev[i];
    if (ev->type == FLEET_TRIP_EVENT_STOP) {
      assert_true(ev->stop.end_ns > ev->stop.start_ns);
      if (prev_end != INT64_MIN)
        assert_int_equal(ev->stop.start_ns, prev_end);
      pending_stop_end = ev->stop.end_ns;
      continue;
    }
    if (ev->type == FLEET_TRIP_EVENT_TRIP_START) {
      assert_true(ev->trip.start_ns >= prev_end || prev_end == INT64_MIN);
      if (pending_stop_end != INT64_MIN)
        assert_int_equal(ev->trip.start_ns, pending_stop_end);
      pending_stop_end = INT64_MIN;
      assert_true(i + 1 < log->n);
      assert_int_equal(log->ev[i + 1].type, FLEET_TRIP_EVENT_TRIP_END);
      continue;
    }
    const fleet_trip_t *t = &ev->trip;
    assert_int_equal(log->ev[i - 1].type, FLEET_TRIP_EVENT_TRIP_START);
    assert_int_equal(log->ev[i - 1].trip.start_ns, t->start_ns);
    assert_true(t->duration_s >= p->min_trip_duration_s);
    assert_true(t->gps_distance_m >= p->min_trip_distance_m);
    assert_true(t->moving_s + t->idle_s <= t->duration_s + 1e-9);
    assert_true(t->max_speed_kmh >= 0);
    double sum = 0;
    unsigned int count = 0;
    const fleet_telemetry_t *prev = NULL;
    for (size_t k = 0; k < n; k++) {
      if (fx[k].ts_ns < t->start_ns || fx[k].ts_ns > t->end_ns)
        continue;
      if (prev)
        sum += ref_dist(prev->lat, prev->lng, fx[k].lat, fx[k].lng);
      prev = &fx[k];
      count++;
    }
    assert_int_equal(count, t->n_fixes);
    assert_near(t->gps_distance_m, sum, 1e-6 * sum + 1e-6);
    prev_end = t->end_ns;
    trips++;
  }
  *out_trips = trips;
}

static uint64_t rng_state = 88172645463325252ULL;
static double rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void test_property_synthetic(void **state)
{
  (void)state;
  enum { N = 6000 };
  fleet_telemetry_t *fx = calloc(N, sizeof(*fx));
  assert_non_null(fx);
  for (int mode = 0; mode < 2; mode++) {
    fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
    p.use_ignition = mode;
    int64_t ts = T0;
    double lat = 48.85, lng = 2.35;
    int driving = 0;
    for (int i = 0; i < N; i++) {
      /* alternate driving and parked phases with jitter, idling and gaps */
      if (rnd() < 0.02)
        driving = !driving;
      double u = rnd();
      ts += (int64_t)(u < 0.005 ? 4000 : 5 + 60 * rnd()) * NS;
      double speed = driving ? 20 + 80 * rnd() : (rnd() < 0.3 ? 1.5 * rnd() : 0);
      double step = driving ? speed / 3.6 * 30 / M_PER_DEG : 0.00002 * (rnd() - 0.5);
      lat += step * (rnd() - 0.3);
      lng += step * (rnd() - 0.3);
      fleet_telemetry_init(&fx[i], FLEET_TELEMETRY_VERSION);
      strcpy(fx[i].vehicle_id, "prop");
      fx[i].ts_ns = ts;
      fx[i].lat = lat;
      fx[i].lng = lng;
      fx[i].present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_IGNITION;
      fx[i].speed_kmh = speed;
      fx[i].ignition = driving || rnd() < 0.5;
    }
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(&p, &log);
    for (int i = 0; i < N; i++)
      assert_int_equal(fleet_tripdet_feed(NULL, det, &fx[i]), 0);
    assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
    size_t trips;
    check_stream(&log, fx, N, &p, &trips);
    assert_true(trips > 10);
    fleet_tripdet_free(det);
    log_free(&log);
  }
  free(fx);
}

static void test_real_traces(void **state)
{
  (void)state;
  const char *names[] = {"sf-cab-1.jsonl", "sf-cab-2.jsonl"};
  for (size_t f = 0; f < FLEET_ARRAY_LEN(names); f++) {
    char path[512];
    snprintf(path, sizeof path, "%s/real-traces/%s", FLEET_SHARED_DATA_DIR, names[f]);
    FILE *in = fopen(path, "r");
    if (!in) {
      print_message("%s: not present, skipped\n", path);
      skip();
    }
    size_t n = 0, cap = 2048;
    fleet_telemetry_t *fx = malloc(cap * sizeof(*fx));
    assert_non_null(fx);
    char line[4096];
    while (fgets(line, sizeof line, in)) {
      if (n == cap) {
        cap *= 2;
        fx = realloc(fx, cap * sizeof(*fx));
        assert_non_null(fx);
      }
      fleet_telemetry_init(&fx[n], FLEET_TELEMETRY_VERSION);
      int rc = fleet_telemetry_parse(&fx[n], NULL, line, strlen(line));
      if (rc)
        fail_msg("%s:%zu: %s", names[f], n + 1, fleet_error_last());
      n++;
    }
    fclose(in);
    assert_true(n > 1000);

    fleet_trip_params_t p = FLEET_TRIP_PARAMS_INIT;
    evlog_t log = {0};
    fleet_tripdet_t *det = det_new(&p, &log);
    for (size_t i = 0; i < n; i++)
      assert_int_equal(fleet_tripdet_feed(NULL, det, &fx[i]), 0);
    assert_int_equal(fleet_tripdet_flush(det, NULL), 0);
    size_t trips;
    check_stream(&log, fx, n, &p, &trips);
    double km = 0, hours = 0;
    for (size_t i = 0; i < log.n; i++)
      if (log.ev[i].type == FLEET_TRIP_EVENT_TRIP_END) {
        km += log.ev[i].trip.distance_m / 1000.0;
        hours += log.ev[i].trip.duration_s / 3600.0;
      }
    print_message("%s: %zu fixes, %zu trips, %.1f km in %.1f h of trips, %zu events\n",
                  names[f], n, trips, km, hours, log.n);
    assert_true(trips > 3);
    fleet_tripdet_stats_t s;
    assert_int_equal(fleet_tripdet_stats(&s, det), 0);
    assert_int_equal(s.fixes, n);
    assert_int_equal(s.trips, trips);
    fleet_tripdet_free(det);
    log_free(&log);
    free(fx);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_synthetic_day),
    cmocka_unit_test(test_deterministic),
    cmocka_unit_test(test_fuel_methods),
    cmocka_unit_test(test_below_minimums),
    cmocka_unit_test(test_minimums_inclusive),
    cmocka_unit_test(test_zero_minimums),
    cmocka_unit_test(test_ignition_mode),
    cmocka_unit_test(test_ignition_mode_fallback),
    cmocka_unit_test(test_ignition_off_while_pausing),
    cmocka_unit_test(test_odometer),
    cmocka_unit_test(test_stale_and_duplicates),
    cmocka_unit_test(test_tick),
    cmocka_unit_test(test_flush_resets),
    cmocka_unit_test(test_internal_state),
    cmocka_unit_test(test_callback_abort),
    cmocka_unit_test(test_derived_speed),
    cmocka_unit_test(test_multi_vehicle),
    cmocka_unit_test(test_many_vehicles),
    cmocka_unit_test(test_params),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_extreme_times),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_property_synthetic),
    cmocka_unit_test(test_real_traces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
