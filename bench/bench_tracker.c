/*
 * bench_tracker: records per second through fleet_tracker_feed() on one core,
 * and memory per tracked vehicle.
 *
 * A city of about 22 x 21 km holds N_VEHICLES vehicles that drive around (a fix
 * every 10 s, speeds 0-100 km/h, some parked with the engine off) and 1,000 and
 * then 10,000 small polygon zones (hexagons of 80-250 m radius, one in ten with
 * a speed_limit), under the full rule set. Records are generated (already
 * parsed) one step of the whole fleet at a time outside the timed section;
 * the timed section is fleet_tracker_feed() for every record of the step plus
 * one fleet_tracker_tick() per step, measured in thread CPU time.
 *
 * Baselines measured in the same run: the tracker without zones and rules
 * (state, trips and the pipeline alone), and the zone lookups alone
 * (fleet_zoneset_snapshot_lookup() for the same positions).
 *
 * Memory: mallinfo2() before and after 100,000 vehicles get their first fix,
 * full rule set, no zone set (zone-membership lists are excluded by design);
 * then the same with hourly aggregates on, for information (the downsampler
 * keeps its own per-vehicle hours, outside the tracker's budget).
 *
 * Usage: bench_tracker [steps]   (default 60 steps: 600,000 records per run)
 */
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fleet/fleet.h>

#define N_VEHICLES 10000
#define MEM_VEHICLES 100000
#define STEP_S 10
#define LAT0 37.77
#define LNG0 (-122.42)
#define HALF_LAT 0.10
#define HALF_LNG 0.12

static const char *rules_json =
  "{\"rules\":["
  "{\"id\":\"overspeed\",\"type\":\"overspeed\",\"threshold_kmh\":90,\"hysteresis_kmh\":5,"
  "\"min_duration_s\":20,\"cooldown_s\":300,\"severity\":\"warning\"},"
  "{\"id\":\"enter\",\"type\":\"zone_enter\",\"severity\":\"info\"},"
  "{\"id\":\"exit\",\"type\":\"zone_exit\",\"severity\":\"info\"},"
  "{\"id\":\"ign-on\",\"type\":\"ignition_on\",\"severity\":\"info\",\"cooldown_s\":60},"
  "{\"id\":\"ign-off\",\"type\":\"ignition_off\",\"severity\":\"info\"},"
  "{\"id\":\"offline\",\"type\":\"offline\",\"after_s\":600,\"severity\":\"critical\"},"
  "{\"id\":\"battery\",\"type\":\"low_battery\",\"threshold_v\":11.8,\"hysteresis_v\":0.3},"
  "{\"id\":\"hot\",\"type\":\"engine_temp\",\"threshold_c\":105,\"hysteresis_c\":5,"
  "\"min_duration_s\":60},"
  "{\"id\":\"theft\",\"type\":\"fuel_drop\",\"drop_pct\":8,\"window_s\":600,"
  "\"stationary\":true,\"severity\":\"critical\"}"
  "]}";

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static double rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

/* CPU time of this thread: the machine may be shared, and the figure wanted is
 * what one core does. */
static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct car {
  double lat, lng, heading, speed, fuel;
  int parked; /* steps left standing still, engine off */
} car_t;

static void cars_init(car_t *cars, int n)
{
  for (int i = 0; i < n; i++) {
    cars[i].lat = LAT0 + (2 * rnd() - 1) * HALF_LAT;
    cars[i].lng = LNG0 + (2 * rnd() - 1) * HALF_LNG;
    cars[i].heading = 360 * rnd();
    cars[i].speed = 20 + 60 * rnd();
    cars[i].fuel = 30 + 70 * rnd();
    cars[i].parked = rnd() < 0.2 ? (int)(30 * rnd()) : 0;
  }
}

/* Advance every car by one step and write its fix into recs[i]. */
static void cars_step(car_t *cars, fleet_telemetry_t *recs, int n, int64_t ts_ns)
{
  for (int i = 0; i < n; i++) {
    car_t *c = &cars[i];
    fleet_telemetry_t *r = &recs[i];
    if (c->parked > 0) {
      c->parked--;
      c->speed = 0;
    } else {
      c->heading = fmod(c->heading + 40 * (rnd() - 0.5) + 360, 360);
      c->speed = fmin(110, fmax(5, c->speed + 20 * (rnd() - 0.5)));
      double d = c->speed / 3.6 * STEP_S;
      double h = c->heading * M_PI / 180;
      c->lat += d * cos(h) / 111195.0;
      c->lng += d * sin(h) / (111195.0 * cos(LAT0 * M_PI / 180));
      if (fabs(c->lat - LAT0) > HALF_LAT || fabs(c->lng - LNG0) > HALF_LNG) {
        c->heading = fmod(c->heading + 180, 360);
        c->lat = fmin(LAT0 + HALF_LAT, fmax(LAT0 - HALF_LAT, c->lat));
        c->lng = fmin(LNG0 + HALF_LNG, fmax(LNG0 - HALF_LNG, c->lng));
      }
      c->fuel = fmax(5, c->fuel - 0.01);
      if (rnd() < 0.003)
        c->parked = (int)(60 * rnd());
    }
    r->ts_ns = ts_ns;
    r->lat = c->lat;
    r->lng = c->lng;
    r->speed_kmh = c->speed;
    r->heading_deg = c->heading;
    r->ignition = c->parked ? 0 : 1;
    r->battery_v = c->parked ? 12.2 + 0.2 * rnd() : 13.8 + 0.3 * rnd();
    r->engine_temp_c = c->parked ? 40 : 88 + 8 * rnd();
    r->fuel_level_pct = c->fuel;
  }
}

static void recs_init(fleet_telemetry_t *recs, int n)
{
  for (int i = 0; i < n; i++) {
    fleet_telemetry_init(&recs[i], FLEET_TELEMETRY_VERSION);
    snprintf(recs[i].vehicle_id, sizeof recs[i].vehicle_id, "veh-%06d", i);
    recs[i].present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING |
                      FLEET_TELEMETRY_IGNITION | FLEET_TELEMETRY_BATTERY_V |
                      FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL;
  }
}

/* n hexagons of radius 80-250 m scattered over the city. */
static fleet_zoneset_t *make_zones(int n)
{
  fleet_buf_t b = FLEET_BUF_INIT;
  const char *head = "{\"type\":\"FeatureCollection\",\"features\":[";
  fleet_buf_append(&b, head, strlen(head));
  char tmp[512];
  for (int i = 0; i < n; i++) {
    double clat = LAT0 + (2 * rnd() - 1) * HALF_LAT;
    double clng = LNG0 + (2 * rnd() - 1) * HALF_LNG;
    double r = 80 + 170 * rnd();
    int len = snprintf(tmp, sizeof tmp,
                       "%s{\"type\":\"Feature\",\"id\":\"z%d\",\"properties\":{\"name\":\"Zone "
                       "%d\"%s},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[",
                       i ? "," : "", i, i, i % 10 == 0 ? ",\"speed_limit\":30" : "");
    fleet_buf_append(&b, tmp, (size_t)len);
    for (int k = 0; k <= 6; k++) {
      double a = (k % 6) * M_PI / 3;
      double lat = clat + r * cos(a) / 111195.0;
      double lng = clng + r * sin(a) / (111195.0 * cos(clat * M_PI / 180));
      len = snprintf(tmp, sizeof tmp, "%s[%.7f,%.7f]", k ? "," : "", lng, lat);
      fleet_buf_append(&b, tmp, (size_t)len);
    }
    fleet_buf_append(&b, "]]}}", 4);
  }
  fleet_buf_append(&b, "]}", 2);
  fleet_zoneset_t *zs = NULL;
  if (fleet_zoneset_new(&zs) || fleet_zoneset_load_geojson(zs, b.ptr, b.len, 0)) {
    fprintf(stderr, "bench_tracker: zones: %s\n", fleet_error_last());
    exit(1);
  }
  fleet_buf_dispose(&b);
  return zs;
}

typedef struct counts {
  uint64_t by_type[16];
} counts_t;

static int on_event(const fleet_tracker_event_t *ev, void *ud)
{
  counts_t *c = ud;
  c->by_type[ev->type & 15]++;
  return 0;
}

static double run(const char *label, fleet_zoneset_t *zones, fleet_ruleset_t *rules, int steps,
                  car_t *cars, fleet_telemetry_t *recs)
{
  counts_t c;
  memset(&c, 0, sizeof c);
  fleet_tracker_opts_t o = FLEET_TRACKER_OPTS_INIT;
  o.zones = zones;
  o.rules = rules;
  fleet_tracker_t *t = NULL;
  if (fleet_tracker_new(&t, &o, on_event, &c)) {
    fprintf(stderr, "bench_tracker: %s\n", fleet_error_last());
    exit(1);
  }
  rng = 0x2545f4914f6cdd1dULL;
  cars_init(cars, N_VEHICLES);
  int64_t ts = (int64_t)1779350400 * 1000000000LL;
  double busy = 0;
  for (int s = 0; s < steps; s++) {
    cars_step(cars, recs, N_VEHICLES, ts);
    double t0 = now_s();
    for (int i = 0; i < N_VEHICLES; i++)
      if (fleet_tracker_feed(t, &recs[i])) {
        fprintf(stderr, "bench_tracker: feed: %s\n", fleet_error_last());
        exit(1);
      }
    fleet_tracker_tick(t, ts);
    busy += now_s() - t0;
    ts += (int64_t)STEP_S * 1000000000LL;
  }
  double n = (double)steps * N_VEHICLES;
  printf("%-34s %9.0f records/s  (%.0f ns/record; events: %llu zone, %llu trip, %llu alert)\n",
         label, n / busy, busy / n * 1e9,
         (unsigned long long)(c.by_type[FLEET_TRACKER_EVENT_ZONE_ENTER] +
                              c.by_type[FLEET_TRACKER_EVENT_ZONE_EXIT]),
         (unsigned long long)(c.by_type[FLEET_TRACKER_EVENT_TRIP_START] +
                              c.by_type[FLEET_TRACKER_EVENT_TRIP_END] +
                              c.by_type[FLEET_TRACKER_EVENT_STOP]),
         (unsigned long long)c.by_type[FLEET_TRACKER_EVENT_ALERT]);
  fleet_tracker_free(t);
  return n / busy;
}

static void lookups_only(const char *label, fleet_zoneset_t *zones, int steps, car_t *cars,
                         fleet_telemetry_t *recs)
{
  fleet_zoneset_snapshot_t *snap = NULL;
  fleet_zoneset_snapshot(&snap, zones);
  rng = 0x2545f4914f6cdd1dULL;
  cars_init(cars, N_VEHICLES);
  uint32_t keys[64];
  size_t hits = 0, cnt;
  double busy = 0;
  for (int s = 0; s < steps; s++) {
    cars_step(cars, recs, N_VEHICLES, 0);
    double t0 = now_s();
    for (int i = 0; i < N_VEHICLES; i++) {
      fleet_zoneset_snapshot_lookup(keys, 64, &cnt, snap, recs[i].lat, recs[i].lng);
      hits += cnt;
    }
    busy += now_s() - t0;
  }
  double n = (double)steps * N_VEHICLES;
  printf("%-34s %9.0f lookups/s  (%.0f ns/lookup; %.3f zones per position)\n", label,
         n / busy, busy / n * 1e9, (double)hits / n);
  fleet_zoneset_snapshot_free(snap);
}

static size_t heap_used(void)
{
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static int ignore(const fleet_tracker_event_t *ev, void *ud)
{
  (void)ev;
  (void)ud;
  return 0;
}

static void memory(fleet_ruleset_t *rules, int hourly)
{
  fleet_downsample_params_t dp = FLEET_DOWNSAMPLE_PARAMS_INIT;
  fleet_tracker_opts_t o = FLEET_TRACKER_OPTS_INIT;
  o.rules = rules;
  o.hourly = hourly ? &dp : NULL;
  fleet_tracker_t *t = NULL;
  fleet_tracker_new(&t, &o, ignore, NULL);
  fleet_telemetry_t *r = malloc(sizeof *r);
  recs_init(r, 1);
  r->speed_kmh = 40;
  r->ignition = 1;
  r->battery_v = 13.9;
  r->engine_temp_c = 90;
  r->fuel_level_pct = 50;
  r->ts_ns = (int64_t)1779350400 * 1000000000LL;
  size_t before = heap_used();
  for (int i = 0; i < MEM_VEHICLES; i++) {
    snprintf(r->vehicle_id, sizeof r->vehicle_id, "veh-%06d", i);
    r->lat = LAT0 + 0.0001 * (i % 1000);
    r->lng = LNG0 + 0.0001 * (i / 1000);
    fleet_tracker_feed(t, r);
  }
  size_t after = heap_used();
  if (hourly)
    printf("memory with hourly aggregates on: %.0f bytes per vehicle (the downsampler's open "
           "hour included)\n",
           (double)(after - before) / MEM_VEHICLES);
  else
    printf("memory: %zu vehicles, %.0f bytes per vehicle (full rule set, no zone lists; "
           "target <= 1024)\n",
           fleet_tracker_count(t), (double)(after - before) / MEM_VEHICLES);
  fleet_tracker_free(t);
  free(r);
}

int main(int argc, char **argv)
{
  int steps = argc > 1 ? atoi(argv[1]) : 60;
  if (steps < 1)
    steps = 1;
  fleet_ruleset_t *rules = NULL;
  if (fleet_ruleset_load_json(&rules, rules_json, strlen(rules_json))) {
    fprintf(stderr, "bench_tracker: rules: %s\n", fleet_error_last());
    return 1;
  }
  car_t *cars = malloc(N_VEHICLES * sizeof *cars);
  fleet_telemetry_t *recs = malloc(N_VEHICLES * sizeof *recs);
  if (!cars || !recs)
    return 1;
  recs_init(recs, N_VEHICLES);
  printf("bench_tracker: %d vehicles, %d steps of %d s (%d records per run), one thread\n",
         N_VEHICLES, steps, STEP_S, N_VEHICLES * steps);

  run("baseline: no zones, no rules", NULL, NULL, steps, cars, recs);
  run("rules only (no zones)", NULL, rules, steps, cars, recs);
  rng = 12345;
  fleet_zoneset_t *z1k = make_zones(1000);
  lookups_only("zone lookups alone, 1,000 zones", z1k, steps, cars, recs);
  double r1k = run("1,000 zones + full rule set", z1k, rules, steps, cars, recs);
  fleet_zoneset_free(z1k);
  rng = 12345;
  fleet_zoneset_t *z10k = make_zones(10000);
  lookups_only("zone lookups alone, 10,000 zones", z10k, steps, cars, recs);
  run("10,000 zones + full rule set", z10k, rules, steps, cars, recs);
  fleet_zoneset_free(z10k);
  memory(rules, 0);
  memory(rules, 1);
  printf("target: >= 500,000 records/s with 1,000 zones: %s\n", r1k >= 500000 ? "met" : "MISSED");

  fleet_ruleset_free(rules);
  free(cars);
  free(recs);
  fleet_zone_thread_cleanup();
  return 0;
}
