/* Unit tests for downsample: hour boundaries and interval splitting, grace,
 * late data (corrections, duplicates, drops), tick, flush, several vehicles,
 * presence of min/max figures, callback aborts, errors, and a property over
 * the real traces. */
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
#include "fleet/downsample.h"
#include "fleet/telemetry.h"
#include "testutil.h"

#define HOUR(h) AT(3600 * (h)) /* HOUR(0) is 06:00, HOUR(1) 07:00 ... */

typedef struct fix {
  int t;
  double dlat;
  double speed;
  int ign;
  double odo;
  double fuel;
  double batt;
} fix_t;

static fleet_telemetry_t mk(const char *vid, const fix_t *f)
{
  return tu_record(vid, f->t, f->dlat, f->speed, f->ign, f->odo, f->fuel, f->batt);
}

typedef struct hlog {
  size_t n;
  size_t cap;
  fleet_hourly_t *h;
  size_t abort_at; /* return 5 from this delivery (1-based); 0 never */
} hlog_t;

static int log_cb(const fleet_hourly_t *agg, void *ud)
{
  hlog_t *l = ud;
  if (l->abort_at && l->n + 1 == l->abort_at) {
    l->abort_at = 0;
    return 5;
  }
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->h = realloc(l->h, l->cap * sizeof(*l->h));
    assert_non_null(l->h);
  }
  l->h[l->n++] = *agg;
  return 0;
}

static void log_free(hlog_t *l)
{
  free(l->h);
  memset(l, 0, sizeof(*l));
}

static fleet_downsampler_t *ds_new(const fleet_downsample_params_t *p, hlog_t *log)
{
  fleet_downsampler_t *ds = NULL;
  assert_int_equal(fleet_downsampler_new(&ds, p, log_cb, log), 0);
  assert_non_null(ds);
  return ds;
}

static fleet_downsample_fix_status_t feed(fleet_downsampler_t *ds, const char *vid,
                                          const fix_t *f)
{
  fleet_telemetry_t r = mk(vid, f);
  fleet_downsample_fix_status_t st = 99;
  int rc = fleet_downsampler_feed(&st, ds, &r);
  if (rc)
    fail_msg("feed of t=%d: %s", f->t, fleet_error_last());
  return st;
}

static void feed_all(fleet_downsampler_t *ds, const char *vid, const fix_t *fx, size_t n)
{
  for (size_t i = 0; i < n; i++)
    assert_int_equal(feed(ds, vid, &fx[i]), FLEET_DOWNSAMPLE_FIX_ACCEPTED);
}

/* ---- hour boundaries, splitting and grace ----------------------------------------- */

static const fix_t route[] = {
  /* t     dlat  speed ign odo    fuel  batt */
  {600, 0.00, 36, 1, 100.0, 50.0, 12.6},  /* 06:10 */
  {1800, 0.01, 54, 1, 101.1, 49.0, 12.4}, /* 06:30 */
  {3000, 0.02, 0, 1, 102.2, 48.5, 12.5},  /* 06:50 idling */
  {3300, 0.02, 0, 0, 102.2, NONE, NONE},  /* 06:55 engine off */
  {3900, 0.03, 72, 1, 103.3, 48.0, NONE}, /* 07:05: closes 06:00 (3600 + 300) */
  {4500, 0.04, 72, 1, 104.4, NONE, NONE}, /* 07:15 */
  {7320, 0.04, 0, 1, 104.4, NONE, NONE},  /* 08:02: 07:00 still in its grace */
  {7500, 0.04, 0, 1, 104.4, NONE, NONE},  /* 08:05: closes 07:00 */
};

static void test_hours_and_grace(void **state)
{
  (void)state;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  feed_all(ds, "v-1", route, 4);
  assert_int_equal(log.n, 0);
  feed_all(ds, "v-1", route + 4, 1);
  assert_int_equal(log.n, 1);

  /* 06:00-07:00 */
  const fleet_hourly_t *h = &log.h[0];
  assert_string_equal(h->vehicle_id, "v-1");
  assert_int_equal(h->hour_ns, HOUR(0));
  assert_int_equal(h->revision, 0);
  assert_int_equal(h->count, 4);
  assert_int_equal(h->speed_count, 4);
  assert_near(h->speed_mean_kmh, (36 + 54 + 0 + 0) / 4.0, 1e-12);
  assert_near(h->speed_max_kmh, 54, 0);
  /* 1111.95 + 1111.95 + 0 + half of the 06:55-07:05 interval (555.98) */
  assert_near(h->gps_distance_m, 0.025 * M_PER_DEG, 1.0);
  /* odometer 100.0 to 102.75 (interpolated at 07:00): 2750 m, within the GPS bounds */
  assert_near(h->distance_m, 2750.0, 1e-6);
  assert_int_equal(h->present, FLEET_HOURLY_SPEED | FLEET_HOURLY_FUEL | FLEET_HOURLY_BATTERY |
                                   FLEET_HOURLY_DISTANCE_ODOMETER);
  assert_near(h->moving_s, 2400, 0); /* 06:10-06:50 */
  assert_near(h->idle_s, 300, 0);    /* 06:50-06:55; 06:55-07:00 is engine off */
  assert_int_equal(h->last_ts_ns, AT(3300));
  assert_near(h->last_lat, LAT0 + 0.02, 1e-12);
  assert_near(h->last_lng, LNG0, 1e-12);
  assert_near(h->fuel_min_pct, 48.5, 0);
  assert_near(h->fuel_max_pct, 50.0, 0);
  assert_near(h->battery_min_v, 12.4, 0);
  assert_near(h->battery_max_v, 12.6, 0);

  feed_all(ds, "v-1", route + 5, 2);
  assert_int_equal(log.n, 1); /* 08:02 < 07:00 + 1 h + 300 s */
  feed_all(ds, "v-1", route + 7, 1);
  assert_int_equal(log.n, 2);

  /* 07:00-08:00 */
  h = &log.h[1];
  assert_int_equal(h->hour_ns, HOUR(1));
  assert_int_equal(h->count, 2);
  assert_near(h->speed_mean_kmh, 72, 0);
  /* 555.98 (second half of 06:55-07:05) + 1111.95 (07:05-07:15) + 0 */
  assert_near(h->gps_distance_m, 0.015 * M_PER_DEG, 1.0);
  assert_near(h->distance_m, 1650.0, 1e-6); /* 102.75 -> 104.4 km */
  assert_true(h->present & FLEET_HOURLY_DISTANCE_ODOMETER);
  /* 07:00-07:05 engine off; 07:05-08:00 moving (the 07:15 fix moves until 08:02) */
  assert_near(h->moving_s, 600 + 2700, 0);
  assert_near(h->idle_s, 0, 0);
  assert_int_equal(h->present & (FLEET_HOURLY_FUEL | FLEET_HOURLY_BATTERY), FLEET_HOURLY_FUEL);
  assert_near(h->fuel_min_pct, 48.0, 0);
  assert_near(h->fuel_max_pct, 48.0, 0);
  assert_near(h->battery_min_v, 0, 0);
  assert_int_equal(h->last_ts_ns, AT(4500));

  /* 08:00-09:00 only on flush */
  assert_int_equal(fleet_downsampler_flush(ds, "v-1"), 0);
  assert_int_equal(log.n, 3);
  h = &log.h[2];
  assert_int_equal(h->hour_ns, HOUR(2));
  assert_int_equal(h->count, 2);
  assert_near(h->moving_s, 120, 0); /* 08:00-08:02, the rest of the 07:15 interval */
  assert_near(h->idle_s, 180, 0);   /* 08:02-08:05 */
  assert_near(h->gps_distance_m, 0, 0);
  assert_near(h->distance_m, 0, 0);
  assert_int_equal(h->last_ts_ns, AT(7500));
  /* a second flush has nothing new to say */
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 3);

  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.version, FLEET_DOWNSAMPLE_STATS_VERSION);
  assert_int_equal(s.fixes, 8);
  assert_int_equal(s.hours, 3);
  assert_int_equal(s.corrections, 0);
  assert_int_equal(s.vehicles, 1);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* Grace 0 closes an hour with the first fix of the next; the boundary is inclusive. */
static void test_grace_setting(void **state)
{
  (void)state;
  fleet_downsample_params_t p;
  assert_int_equal(fleet_downsample_params_init(&p, FLEET_DOWNSAMPLE_PARAMS_VERSION), 0);
  p.grace_s = 0;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(&p, &log);
  const fix_t fx[] = {{3599, 0, 10, 1, NONE, NONE, NONE}, {3600, 0, 10, 1, NONE, NONE, NONE}};
  feed_all(ds, "v", fx, 1);
  assert_int_equal(log.n, 0);
  feed_all(ds, "v", fx + 1, 1);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.h[0].hour_ns, HOUR(0));
  assert_int_equal(log.h[0].count, 1);
  assert_near(log.h[0].moving_s, 1, 0);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- late data ------------------------------------------------------------------- */

static void test_late_data(void **state)
{
  (void)state;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  const fix_t base[] = {
    {600, 0.00, 40, 1, NONE, NONE, NONE},  /* 06:10 */
    {3000, 0.01, 40, 1, NONE, NONE, NONE}, /* 06:50 */
    {3720, 0.01, 0, 1, NONE, NONE, NONE},  /* 07:02: 06:00 still open */
  };
  feed_all(ds, "v", base, FLEET_ARRAY_LEN(base));
  /* within the grace period: joins the open hour (count, speeds; no intervals) */
  const fix_t late1 = {1800, 0.50, 100, 1, NONE, 30.0, NONE}; /* 06:30 */
  assert_int_equal(feed(ds, "v", &late1), FLEET_DOWNSAMPLE_FIX_LATE);
  assert_int_equal(feed(ds, "v", &late1), FLEET_DOWNSAMPLE_FIX_DUPLICATE);
  assert_int_equal(log.n, 0);
  const fix_t close = {3900, 0.01, 0, 1, NONE, NONE, NONE}; /* 07:05 */
  assert_int_equal(feed(ds, "v", &close), FLEET_DOWNSAMPLE_FIX_ACCEPTED);
  assert_int_equal(log.n, 1);
  const fleet_hourly_t *h = &log.h[0];
  assert_int_equal(h->revision, 0);
  assert_int_equal(h->count, 3);
  assert_near(h->speed_mean_kmh, 60, 1e-12); /* (40 + 40 + 100) / 3 */
  assert_near(h->speed_max_kmh, 100, 0);
  assert_near(h->gps_distance_m, 0.01 * M_PER_DEG, 1.0); /* the late fix adds no distance */
  assert_near(h->moving_s, 3000, 0);                      /* 06:10-07:00 */
  assert_int_equal(h->last_ts_ns, AT(3000));              /* 06:50 is newer than 06:30 */
  assert_true(h->present & FLEET_HOURLY_FUEL);

  /* after the hour closed: corrected at once, revision 1 (InfluxDB overwrites) */
  const fix_t late2 = {3540, 0.02, 20, 1, NONE, 20.0, 11.9}; /* 06:59 */
  assert_int_equal(feed(ds, "v", &late2), FLEET_DOWNSAMPLE_FIX_LATE);
  assert_int_equal(log.n, 2);
  h = &log.h[1];
  assert_int_equal(h->hour_ns, HOUR(0));
  assert_int_equal(h->revision, 1);
  assert_int_equal(h->count, 4);
  assert_near(h->speed_mean_kmh, 50, 1e-12);
  assert_near(h->fuel_min_pct, 20, 0);
  assert_near(h->fuel_max_pct, 30, 0);
  assert_near(h->battery_min_v, 11.9, 0);
  assert_int_equal(h->last_ts_ns, AT(3540));
  assert_near(h->last_lat, LAT0 + 0.02, 1e-12);
  assert_near(h->gps_distance_m, log.h[0].gps_distance_m, 0);
  /* re-delivery of either late fix, or of the first fix: nothing changes */
  assert_int_equal(feed(ds, "v", &late2), FLEET_DOWNSAMPLE_FIX_DUPLICATE);
  assert_int_equal(feed(ds, "v", &late1), FLEET_DOWNSAMPLE_FIX_DUPLICATE);
  assert_int_equal(feed(ds, "v", &base[0]), FLEET_DOWNSAMPLE_FIX_DUPLICATE);
  assert_int_equal(feed(ds, "v", &close), FLEET_DOWNSAMPLE_FIX_DUPLICATE);
  assert_int_equal(log.n, 2);

  /* an hour that had no data and is already closed: dropped */
  const fix_t gap = {-1800, 0, 10, 1, NONE, NONE, NONE}; /* 05:30 */
  assert_int_equal(feed(ds, "v", &gap), FLEET_DOWNSAMPLE_FIX_DROPPED_LATE);
  assert_int_equal(log.n, 2);

  /* hours 07, 08, 09 close; with history_hours 2, 06:00 is forgotten, 08:00 kept */
  const fix_t on[] = {
    {7500, 0.01, 0, 1, NONE, NONE, NONE},   /* 08:05 closes 07:00 */
    {11100, 0.01, 0, 1, NONE, NONE, NONE},  /* 09:05 closes 08:00 */
    {14700, 0.01, 0, 1, NONE, NONE, NONE},  /* 10:05 closes 09:00 */
  };
  feed_all(ds, "v", on, FLEET_ARRAY_LEN(on));
  assert_int_equal(log.n, 5);
  assert_int_equal(log.h[4].hour_ns, HOUR(3));
  const fix_t late06 = {3550, 0.02, 20, 1, NONE, NONE, NONE};
  assert_int_equal(feed(ds, "v", &late06), FLEET_DOWNSAMPLE_FIX_DROPPED_LATE);
  const fix_t late07 = {4000, 0.02, 20, 1, NONE, NONE, NONE};
  assert_int_equal(feed(ds, "v", &late07), FLEET_DOWNSAMPLE_FIX_DROPPED_LATE);
  const fix_t late08 = {7300, 0.02, 20, 1, NONE, NONE, NONE}; /* 08:01:40 */
  assert_int_equal(feed(ds, "v", &late08), FLEET_DOWNSAMPLE_FIX_LATE);
  assert_int_equal(log.n, 6);
  assert_int_equal(log.h[5].hour_ns, HOUR(2));
  assert_int_equal(log.h[5].revision, 1);
  assert_int_equal(log.h[5].count, 2);

  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.fixes, 3 + 1 + 1 + 1 + 3 + 1);
  assert_int_equal(s.late, 3);
  assert_int_equal(s.duplicates, 5);
  assert_int_equal(s.dropped_late, 3);
  assert_int_equal(s.hours, 4);
  assert_int_equal(s.corrections, 2);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* history_hours 0: no corrections, every late fix for a closed hour is dropped. */
static void test_no_history(void **state)
{
  (void)state;
  fleet_downsample_params_t p = FLEET_DOWNSAMPLE_PARAMS_INIT;
  p.history_hours = 0;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(&p, &log);
  const fix_t fx[] = {{600, 0, 10, 1, NONE, NONE, NONE}, {3900, 0, 10, 1, NONE, NONE, NONE}};
  feed_all(ds, "v", fx, 2);
  assert_int_equal(log.n, 1);
  const fix_t late = {1200, 0, 10, 1, NONE, NONE, NONE};
  assert_int_equal(feed(ds, "v", &late), FLEET_DOWNSAMPLE_FIX_DROPPED_LATE);
  assert_int_equal(log.n, 1);
  /* flushing early closes the current hour for good, too */
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 2);
  const fix_t after = {4000, 0, 10, 1, NONE, NONE, NONE};
  assert_int_equal(feed(ds, "v", &after), FLEET_DOWNSAMPLE_FIX_DROPPED_LATE);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 2);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- tick ---------------------------------------------------------------------------- */

static void test_tick(void **state)
{
  (void)state;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  assert_int_equal(fleet_downsampler_tick(ds, HOUR(5)), 0); /* nobody yet */
  const fix_t a[] = {{600, 0.00, 30, 1, NONE, NONE, NONE}, {1200, 0.01, 30, 1, NONE, NONE, NONE}};
  const fix_t b[] = {{700, 0.00, 0, 1, NONE, NONE, NONE}, {4000, 0.00, 0, 1, NONE, NONE, NONE}};
  feed(ds, "b", &b[0]);
  feed_all(ds, "a", a, 2);
  feed(ds, "b", &b[1]);
  assert_int_equal(log.n, 1); /* b's own newer fix closed its 06:00 at 07:06:40 */
  assert_string_equal(log.h[0].vehicle_id, "b");
  assert_int_equal(fleet_downsampler_tick(ds, AT(3899)), 0);
  assert_int_equal(log.n, 1);
  assert_int_equal(fleet_downsampler_tick(ds, AT(3900)), 0);
  assert_int_equal(log.n, 2);
  assert_string_equal(log.h[1].vehicle_id, "a");
  assert_int_equal(log.h[1].hour_ns, HOUR(0));
  /* only 06:10-06:20 is known so far: an interval needs the fix that ends it */
  assert_near(log.h[1].moving_s, 600, 0);
  assert_near(log.h[1].gps_distance_m, 0.01 * M_PER_DEG, 1.0);
  assert_int_equal(fleet_downsampler_tick(ds, AT(3900)), 0);
  assert_int_equal(log.n, 2);

  /* a speaks again at 07:10: 06:20-07:10 is one interval (3000 s, moving) and its
   * first 2400 s already counted into the delivered 06:00 hour (sample-and-hold);
   * its distance is split in proportion: the correction carries 2400/3000 of it */
  const fix_t again = {4200, 0.02, 30, 1, NONE, NONE, NONE};
  assert_int_equal(feed(ds, "a", &again), FLEET_DOWNSAMPLE_FIX_ACCEPTED);
  assert_int_equal(log.n, 3);
  assert_int_equal(log.h[2].hour_ns, HOUR(0));
  assert_int_equal(log.h[2].revision, 1);
  assert_near(log.h[2].moving_s, 600 + 2400, 0);
  assert_near(log.h[2].gps_distance_m, (0.01 + 0.01 * 0.8) * M_PER_DEG, 1.0);
  /* tick closes hours for all vehicles, in order of first appearance */
  assert_int_equal(fleet_downsampler_tick(ds, HOUR(3)), 0);
  assert_int_equal(log.n, 5);
  assert_string_equal(log.h[3].vehicle_id, "b");
  assert_int_equal(log.h[3].hour_ns, HOUR(1));
  assert_string_equal(log.h[4].vehicle_id, "a");
  assert_int_equal(log.h[4].hour_ns, HOUR(1));
  assert_near(log.h[4].moving_s, 600, 0); /* 07:00-07:10 */
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- several vehicles, flush, gaps, odometer, presence --------------------------------- */

static void test_interleaved_vehicles(void **state)
{
  (void)state;
  hlog_t mixed = {0}, alone1 = {0}, alone2 = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &mixed);
  fleet_downsampler_t *d1 = ds_new(NULL, &alone1);
  fleet_downsampler_t *d2 = ds_new(NULL, &alone2);
  for (size_t i = 0; i < FLEET_ARRAY_LEN(route); i++) {
    fix_t f2 = route[i];
    f2.t += 450; /* v-2 runs 7.5 min later */
    f2.dlat *= 2;
    feed(ds, "v-1", &route[i]);
    feed(ds, "v-2", &f2);
    feed(d1, "v-1", &route[i]);
    feed(d2, "v-2", &f2);
  }
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(fleet_downsampler_flush(d1, NULL), 0);
  assert_int_equal(fleet_downsampler_flush(d2, NULL), 0);
  assert_int_equal(alone1.n, 3);
  assert_int_equal(alone2.n, 3);
  assert_int_equal(mixed.n, 6);
  size_t k1 = 0, k2 = 0;
  for (size_t i = 0; i < mixed.n; i++) {
    if (strcmp(mixed.h[i].vehicle_id, "v-1") == 0)
      assert_memory_equal(&mixed.h[i], &alone1.h[k1++], sizeof(fleet_hourly_t));
    else
      assert_memory_equal(&mixed.h[i], &alone2.h[k2++], sizeof(fleet_hourly_t));
  }
  assert_int_equal(k1, 3);
  assert_int_equal(k2, 3);
  /* v-2 travels twice as far: its hours add up to twice v-1's path */
  double g1 = 0, g2 = 0;
  for (size_t i = 0; i < 3; i++) {
    g1 += alone1.h[i].gps_distance_m;
    g2 += alone2.h[i].gps_distance_m;
  }
  assert_near(g1, 0.04 * M_PER_DEG, 1.0);
  assert_near(g2, 2 * g1, 1e-6);
  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.vehicles, 2);
  assert_int_equal(s.hours, 6);
  /* flush of an unknown vehicle is not an error */
  assert_int_equal(fleet_downsampler_flush(ds, "nobody"), 0);
  fleet_downsampler_free(ds);
  fleet_downsampler_free(d1);
  fleet_downsampler_free(d2);
  log_free(&mixed);
  log_free(&alone1);
  log_free(&alone2);
}

/* More vehicles than the first allocation of the downsampler's table holds:
 * each is found again after the table has grown, and flush goes in order of
 * first fix. */
static void test_many_vehicles(void **state)
{
  (void)state;
  enum { NV = 40 };
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  char vid[NV][8];
  for (int i = 0; i < NV; i++)
    snprintf(vid[i], sizeof vid[i], "v-%02d", NV - 1 - i);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < NV; i++) {
      const fix_t f = {round ? 10 + i : 0, 0.0, 0.0, NO_IGN, NONE, NONE, NONE};
      assert_int_equal(feed(ds, vid[i], &f), FLEET_DOWNSAMPLE_FIX_ACCEPTED);
    }
  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.vehicles, NV);
  assert_int_equal(s.fixes, 2 * NV);
  /* vid[33] is "v-06", the 34th vehicle seen */
  assert_int_equal(fleet_downsampler_flush(ds, "v-06"), 0);
  assert_int_equal(log.n, 1);
  assert_string_equal(log.h[0].vehicle_id, "v-06");
  assert_int_equal(log.h[0].count, 2);
  assert_int_equal(log.h[0].last_ts_ns, AT(10 + 33));
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, NV);
  for (int i = 0, k = 1; i < NV; i++) {
    if (i == 33)
      continue;
    assert_string_equal(log.h[k].vehicle_id, vid[i]);
    assert_int_equal(log.h[k].hour_ns, HOUR(0));
    assert_int_equal(log.h[k].count, 2);
    assert_int_equal(log.h[k].last_ts_ns, AT(10 + i));
    k++;
  }
  fleet_downsampler_free(ds);
  log_free(&log);
}

static void test_gaps_and_odometer(void **state)
{
  (void)state;
  fleet_downsample_params_t p = FLEET_DOWNSAMPLE_PARAMS_INIT;
  p.max_gap_s = 600;
  struct {
    fix_t fx[4];
    double want_distance;
    int odometer;
    double want_moving;
  } cases[] = {
    /* 300 s + 300 s counted: odometer 1.1 km for 1.11 km of GPS */
    {{{0, 0, 50, 1, 10.0, NONE, NONE}, {300, 0.005, 50, 1, 10.55, NONE, NONE},
      {600, 0.01, 50, 1, 11.1, NONE, NONE}, {900, 0.01, 0, 1, 11.1, NONE, NONE}},
     1100.0, 1, 900},
    /* a 600 s gap (not counted) inside the hour: the odometer span would include it */
    {{{0, 0, 50, 1, 10.0, NONE, NONE}, {300, 0.005, 50, 1, 10.55, NONE, NONE},
      {900, 0.01, 50, 1, 11.1, NONE, NONE}, {1200, 0.01, 0, 1, 11.1, NONE, NONE}},
     0.01 * M_PER_DEG / 2 + 0.0, 0, 600},
    /* one fix without odometer */
    {{{0, 0, 50, 1, 10.0, NONE, NONE}, {300, 0.005, 50, 1, NONE, NONE, NONE},
      {600, 0.01, 50, 1, 11.1, NONE, NONE}, {900, 0.01, 0, 1, 11.1, NONE, NONE}},
     0.01 * M_PER_DEG, 0, 900},
    /* odometer going back */
    {{{0, 0, 50, 1, 10.0, NONE, NONE}, {300, 0.005, 50, 1, 10.55, NONE, NONE},
      {600, 0.01, 50, 1, 9.0, NONE, NONE}, {900, 0.01, 0, 1, 9.0, NONE, NONE}},
     0.01 * M_PER_DEG, 0, 900},
    /* a 50 km jump */
    {{{0, 0, 50, 1, 10.0, NONE, NONE}, {300, 0.005, 50, 1, 10.55, NONE, NONE},
      {600, 0.01, 50, 1, 60.0, NONE, NONE}, {900, 0.01, 0, 1, 60.0, NONE, NONE}},
     0.01 * M_PER_DEG, 0, 900},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++) {
    hlog_t log = {0};
    fleet_downsampler_t *ds = ds_new(&p, &log);
    feed_all(ds, "v", cases[i].fx, 4);
    assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
    assert_int_equal(log.n, 1);
    const fleet_hourly_t *h = &log.h[0];
    assert_near(h->distance_m, cases[i].want_distance, 1.0);
    assert_int_equal(!!(h->present & FLEET_HOURLY_DISTANCE_ODOMETER), cases[i].odometer);
    assert_near(h->moving_s, cases[i].want_moving, 0);
    assert_near(h->idle_s, 0, 0);
    fleet_downsampler_free(ds);
    log_free(&log);
  }

  /* use_odometer 0: always GPS */
  p.use_odometer = 0;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(&p, &log);
  feed_all(ds, "v", cases[0].fx, 4);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_near(log.h[0].distance_m, 0.01 * M_PER_DEG, 1.0);
  assert_false(log.h[0].present & FLEET_HOURLY_DISTANCE_ODOMETER);
  fleet_downsampler_free(ds);
  log_free(&log);
}

static void test_presence(void **state)
{
  (void)state;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  const fix_t bare[] = {{60, 0, NONE, NO_IGN, NONE, NONE, NONE},
                        {120, 0.001, NONE, NO_IGN, NONE, NONE, 13.8},
                        {180, 0.001, NONE, NO_IGN, NONE, NONE, 13.1}};
  feed_all(ds, "v", bare, 3);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 1);
  const fleet_hourly_t *h = &log.h[0];
  assert_int_equal(h->count, 3);
  assert_int_equal(h->speed_count, 0);
  assert_int_equal(h->present, FLEET_HOURLY_BATTERY);
  assert_near(h->speed_mean_kmh, 0, 0);
  assert_near(h->fuel_min_pct, 0, 0);
  assert_near(h->battery_min_v, 13.1, 0);
  assert_near(h->battery_max_v, 13.8, 0);
  /* no speeds: the fix at 120 moved 0.001 degree in 60 s (6.7 km/h, derived), so
   * 120-180 is moving; 60-120 is not (a first fix has no speed) */
  assert_near(h->moving_s, 60, 0);
  assert_near(h->idle_s, 0, 0);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- callback abort and retry ------------------------------------------------------------ */

static void test_abort_and_retry(void **state)
{
  (void)state;
  hlog_t log = {0};
  log.abort_at = 1;
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  feed_all(ds, "v", route, 4);
  fleet_telemetry_t r = mk("v", &route[4]);
  assert_int_equal(fleet_downsampler_feed(NULL, ds, &r), 5);
  assert_int_equal(log.n, 0);
  /* the hour is offered again by the next call */
  assert_int_equal(fleet_downsampler_tick(ds, AT(3900)), 0);
  assert_int_equal(log.n, 1);
  assert_int_equal(log.h[0].hour_ns, HOUR(0));
  assert_int_equal(log.h[0].revision, 0);
  assert_int_equal(log.h[0].count, 4);
  log.abort_at = 2;
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 5);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.h[1].hour_ns, HOUR(1));
  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.hours, 2);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static int noop_cb(const fleet_hourly_t *agg, void *ud)
{
  (void)agg;
  (void)ud;
  return 0;
}

static void expect_param_error(fleet_downsample_params_t p, int code, const char *msg)
{
  assert_int_equal(fleet_downsample_params_validate(&p), code);
  assert_string_equal(fleet_error_last(), msg);
  fleet_downsampler_t *ds = (fleet_downsampler_t *)1;
  assert_int_equal(fleet_downsampler_new(&ds, &p, noop_cb, NULL), code);
  assert_null(ds);
}

static void test_params(void **state)
{
  (void)state;
  fleet_downsample_params_t p;
  const fleet_downsample_params_t def = FLEET_DOWNSAMPLE_PARAMS_INIT;
  assert_int_equal(fleet_downsample_params_init(&p, FLEET_DOWNSAMPLE_PARAMS_VERSION), 0);
  assert_int_equal(p.version, FLEET_DOWNSAMPLE_PARAMS_VERSION);
  assert_near(p.grace_s, 300, 0);
  assert_near(p.speed_threshold_kmh, 2, 0);
  assert_near(p.max_gap_s, 3600, 0);
  assert_int_equal(p.history_hours, 2);
  assert_int_equal(p.use_odometer, 1);
  assert_near(p.odometer_slack_m, 100, 0);
  assert_near(def.grace_s, 300, 0);
  assert_int_equal(def.history_hours, 2);
  assert_int_equal(fleet_downsample_params_validate(&p), 0);
  assert_int_equal(fleet_downsample_params_init(NULL, 1), FLEET_EINVAL);
  assert_int_equal(fleet_downsample_params_init(&p, 7), FLEET_EVERSION);
  assert_int_equal(fleet_downsample_params_validate(NULL), FLEET_EINVAL);
  fleet_downsample_params_t b = def;
  b.version = 0;
  expect_param_error(b, FLEET_EVERSION, "params: version 0 is not 1");
  b = def;
  b.grace_s = -1;
  expect_param_error(b, FLEET_ERANGE, "grace_s: -1 is outside [0, 86400]");
  b = def;
  b.grace_s = NAN;
  expect_param_error(b, FLEET_ERANGE, "grace_s: nan is outside [0, 86400]");
  b = def;
  b.speed_threshold_kmh = INFINITY;
  expect_param_error(b, FLEET_ERANGE, "speed_threshold_kmh: inf is outside [0, 10000]");
  b = def;
  b.max_gap_s = 0;
  expect_param_error(b, FLEET_ERANGE, "max_gap_s: 0 is outside (0, 3600]");
  b = def;
  b.max_gap_s = 3601;
  expect_param_error(b, FLEET_ERANGE, "max_gap_s: 3601 is outside (0, 3600]");
  b = def;
  b.history_hours = 169;
  expect_param_error(b, FLEET_ERANGE, "history_hours: 169 is more than 168");
  b = def;
  b.use_odometer = 3;
  expect_param_error(b, FLEET_EINVAL, "use_odometer: 3 is not 0 or 1");
  b = def;
  b.odometer_slack_m = -5;
  expect_param_error(b, FLEET_ERANGE, "odometer_slack_m: -5 is outside [0, 1e+09]");
}

static void test_errors(void **state)
{
  (void)state;
  fleet_downsampler_t *ds = NULL;
  assert_int_equal(fleet_downsampler_new(NULL, NULL, noop_cb, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_new(&ds, NULL, NULL, NULL), FLEET_EINVAL);
  assert_null(ds);
  fleet_downsampler_free(NULL);
  assert_int_equal(fleet_downsampler_new(&ds, NULL, noop_cb, NULL), 0);

  const fix_t f = {0, 0, 10, 1, 5.0, 50, 12};
  fleet_telemetry_t ok = mk("v", &f), r;
  fleet_downsample_fix_status_t st;
#define EXPECT_BAD(stmt, text)                                                 \
  do {                                                                         \
    r = ok;                                                                    \
    stmt;                                                                      \
    st = 99;                                                                   \
    assert_int_equal(fleet_downsampler_feed(&st, ds, &r), FLEET_ERANGE);       \
    assert_string_equal(fleet_error_last(), text);                             \
    assert_int_equal(st, FLEET_DOWNSAMPLE_FIX_ACCEPTED);                       \
  } while (0)
  EXPECT_BAD(r.lat = -90.5, "lat: -90.5 is outside [-90, 90]");
  EXPECT_BAD(r.lng = 181, "lng: 181 is outside [-180, 180]");
  EXPECT_BAD(r.ts_ns = INT64_MIN, "ts: -9223372036854775808 ns is outside 1678-2261");
  EXPECT_BAD(r.speed_kmh = NAN, "speed: nan is not a speed in km/h");
  EXPECT_BAD(r.odometer_km = -1, "odometer: -1 is not a distance in km");
  EXPECT_BAD(r.fuel_level_pct = -0.5, "fuel_level: -0.5 is outside [0, 100]");
  EXPECT_BAD(r.battery_v = -12, "battery_v: -12 is not a voltage");
#undef EXPECT_BAD
  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.rejected, 7);
  assert_int_equal(s.vehicles, 0);

  r = ok;
  memset(r.vehicle_id, 'x', sizeof r.vehicle_id);
  assert_int_equal(fleet_downsampler_feed(NULL, ds, &r), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "vehicle_id: longer than 64 bytes");
  assert_int_equal(fleet_downsampler_feed(NULL, NULL, &ok), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_feed(NULL, ds, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_tick(NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_flush(NULL, NULL), FLEET_EINVAL);
  char longid[70];
  memset(longid, 'z', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  assert_int_equal(fleet_downsampler_flush(ds, longid), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_stats(NULL, ds), FLEET_EINVAL);
  assert_int_equal(fleet_downsampler_stats(&s, NULL), FLEET_EINVAL);
  fleet_downsampler_free(ds);
}

/* Negative timestamps (before 1970) fall into the right hours. */
static void test_before_epoch(void **state)
{
  (void)state;
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  fleet_telemetry_t r = mk("old", &(fix_t){0, 0, 10, 1, NONE, NONE, NONE});
  r.ts_ns = -1800 * NS; /* 1969-12-31T23:30:00Z */
  assert_int_equal(fleet_downsampler_feed(NULL, ds, &r), 0);
  r.ts_ns = 600 * NS;
  assert_int_equal(fleet_downsampler_feed(NULL, ds, &r), 0);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  assert_int_equal(log.n, 2);
  assert_int_equal(log.h[0].hour_ns, -3600 * NS);
  assert_near(log.h[0].moving_s, 1800, 0);
  assert_int_equal(log.h[1].hour_ns, 0);
  assert_near(log.h[1].moving_s, 600, 0);
  fleet_downsampler_free(ds);
  log_free(&log);
}

/* ---- property over the real traces -------------------------------------------------------- */

/*
 * Both traces through one downsampler, interleaved by line: every fix is
 * counted once, each hour is delivered once (the data is in order), and the
 * hourly distances and times add up to those of the whole trace.
 */
static void test_real_traces(void **state)
{
  (void)state;
  const char *names[] = {"sf-cab-1.jsonl", "sf-cab-2.jsonl"};
  FILE *in[2];
  for (int f = 0; f < 2; f++) {
    char path[512];
    snprintf(path, sizeof path, "%s/real-traces/%s", FLEET_SHARED_DATA_DIR, names[f]);
    in[f] = fopen(path, "r");
    if (!in[f]) {
      if (f)
        fclose(in[0]);
      print_message("%s: not present, skipped\n", path);
      skip();
    }
  }
  hlog_t log = {0};
  fleet_downsampler_t *ds = ds_new(NULL, &log);
  double want_m[2] = {0, 0}, want_s[2] = {0, 0};
  size_t n[2] = {0, 0};
  fleet_telemetry_t prev[2];
  int open[2] = {1, 1};
  char line[4096];
  while (open[0] || open[1]) {
    for (int f = 0; f < 2; f++) {
      if (!open[f])
        continue;
      if (!fgets(line, sizeof line, in[f])) {
        open[f] = 0;
        continue;
      }
      fleet_telemetry_t r;
      fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION);
      if (fleet_telemetry_parse(&r, NULL, line, strlen(line)))
        fail_msg("%s: %s", names[f], fleet_error_last());
      if (n[f] && r.ts_ns - prev[f].ts_ns < 3600 * NS) {
        want_m[f] += ref_dist(prev[f].lat, prev[f].lng, r.lat, r.lng);
        want_s[f] += (double)(r.ts_ns - prev[f].ts_ns) / 1e9;
      }
      fleet_downsample_fix_status_t st;
      assert_int_equal(fleet_downsampler_feed(&st, ds, &r), 0);
      assert_int_equal(st, FLEET_DOWNSAMPLE_FIX_ACCEPTED);
      prev[f] = r;
      n[f]++;
    }
  }
  fclose(in[0]);
  fclose(in[1]);
  assert_int_equal(fleet_downsampler_flush(ds, NULL), 0);
  const char *ids[] = {"real-1", "real-2"};
  for (int f = 0; f < 2; f++) {
    double got_m = 0, moving = 0, idle = 0;
    size_t count = 0, hours = 0;
    int64_t prev_hour = INT64_MIN;
    for (size_t i = 0; i < log.n; i++) {
      const fleet_hourly_t *h = &log.h[i];
      if (strcmp(h->vehicle_id, ids[f]) != 0)
        continue;
      assert_int_equal(h->revision, 0);
      assert_true(h->hour_ns > prev_hour);
      assert_int_equal(h->hour_ns % (3600 * NS), 0);
      assert_true(h->last_ts_ns >= h->hour_ns && h->last_ts_ns < h->hour_ns + 3600 * NS);
      assert_true(h->moving_s + h->idle_s <= 3600.0);
      prev_hour = h->hour_ns;
      got_m += h->gps_distance_m;
      moving += h->moving_s;
      idle += h->idle_s;
      count += h->count;
      hours++;
    }
    print_message("%s: %zu fixes in %zu hours, %.1f km, %.1f h moving\n", names[f], n[f], hours,
                  got_m / 1000, moving / 3600);
    assert_int_equal(count, n[f]);
    assert_near(got_m, want_m[f], 1e-6 * want_m[f]);
    assert_true(moving + idle <= want_s[f] + 1e-6);
    assert_true(hours >= 20); /* shifts of 21 and 20 hours */
  }
  fleet_downsample_stats_t s;
  assert_int_equal(fleet_downsampler_stats(&s, ds), 0);
  assert_int_equal(s.fixes, n[0] + n[1]);
  assert_int_equal(s.corrections, 0);
  fleet_downsampler_free(ds);
  log_free(&log);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hours_and_grace),
    cmocka_unit_test(test_grace_setting),
    cmocka_unit_test(test_late_data),
    cmocka_unit_test(test_no_history),
    cmocka_unit_test(test_tick),
    cmocka_unit_test(test_interleaved_vehicles),
    cmocka_unit_test(test_many_vehicles),
    cmocka_unit_test(test_gaps_and_odometer),
    cmocka_unit_test(test_presence),
    cmocka_unit_test(test_abort_and_retry),
    cmocka_unit_test(test_params),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_before_epoch),
    cmocka_unit_test(test_real_traces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
