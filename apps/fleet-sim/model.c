/* fleet-sim: vehicle motion and payloads. Deterministic: everything random
 * comes from the vehicle's own generators, seeded from --seed and its index. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define KMH (1.0 / 3.6)
#define AMBIENT_C 30.0
#define ACCEL_MPS2 1.8
#define BRAKE_MPS2 2.5

/* --- random numbers: xoroshiro128+ seeded through splitmix64 ------------- */

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(uint64_t s[2], uint64_t seed, uint64_t stream)
{
  uint64_t x = seed * 0x9e3779b97f4a7c15ull ^ (stream + 0x632be59bd9b4e019ull);
  s[0] = splitmix64(&x);
  s[1] = splitmix64(&x);
  if (!s[0] && !s[1])
    s[1] = 1;
}

static uint64_t rng_next(uint64_t s[2])
{
  uint64_t s0 = s[0], s1 = s[1], r = s0 + s1;
  s1 ^= s0;
  s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
  s[1] = (s1 << 37) | (s1 >> 27);
  return r;
}

/* Uniform in [0, 1). */
static double unif(uint64_t s[2])
{
  return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static double range(uint64_t s[2], double lo, double hi)
{
  return lo + (hi - lo) * unif(s);
}

/* Round to `digits` decimals; dividing the integer by an exact power of ten
 * gives the double nearest the short decimal, which the encoder prints short. */
static double round_dec(double x, int digits)
{
  static const double p10[] = {1.0, 10.0, 100.0, 1000.0, 1e4, 1e5, 1e6};
  return round(x * p10[digits]) / p10[digits];
}

static double clamp(double x, double lo, double hi)
{
  return x < lo ? lo : x > hi ? hi : x;
}

/* Signed difference b - a of two headings, in (-180, 180]. */
static double heading_diff(double a, double b)
{
  double d = fmod(b - a, 360.0);
  if (d <= -180.0)
    d += 360.0;
  else if (d > 180.0)
    d -= 360.0;
  return d;
}

/* A uniformly random point within `radius_m` of (lat, lng). */
static void random_point(sim_vehicle_t *v, double lat, double lng, double radius_m,
                         double *out_lat, double *out_lng)
{
  double r = radius_m * sqrt(unif(v->rng));
  double b = range(v->rng, 0.0, 360.0);
  fleet_geo_destination(out_lat, out_lng, lat, lng, r, b);
}

/* --- trips ---------------------------------------------------------------- */

static void pick_waypoint(sim_vehicle_t *v, const sim_area_t *a)
{
  double u = unif(v->rng);
  if (u < 0.15) {
    /* Downtown: trips keep crossing the centre (a natural zone). */
    random_point(v, a->center_lat, a->center_lng, fmin(400.0, a->radius_m), &v->wp_lat,
                 &v->wp_lng);
  } else if (u < 0.30) {
    /* The depot, half a radius north-east of the centre. */
    double dlat, dlng;
    fleet_geo_destination(&dlat, &dlng, a->center_lat, a->center_lng, a->radius_m * 0.5, 60.0);
    random_point(v, dlat, dlng, fmin(300.0, a->radius_m * 0.1), &v->wp_lat, &v->wp_lng);
  } else {
    random_point(v, a->center_lat, a->center_lng, a->radius_m, &v->wp_lat, &v->wp_lng);
  }
  double s = unif(v->rng);
  if (s < 0.06)
    v->segment_mps = range(v->rng, 100.0, 125.0) * KMH; /* an overspeeding stretch */
  else if (s < 0.26)
    v->segment_mps = range(v->rng, 60.0, 85.0) * KMH; /* arterial road */
  else
    v->segment_mps = range(v->rng, 30.0, 55.0) * KMH; /* city streets */
  v->target_mps = v->segment_mps;
}

static void start_trip(sim_vehicle_t *v, const sim_area_t *a)
{
  v->trip_active = 1;
  v->ending = 0;
  v->stop_pending = 0;
  v->waypoints_left = 2 + (int)(rng_next(v->rng) % 5);
  v->mode = SIM_DRIVING;
  pick_waypoint(v, a);
}

static double parking_s(sim_vehicle_t *v)
{
  double u = unif(v->rng);
  if (u < 0.70)
    return range(v->rng, 120.0, 1200.0);
  if (u < 0.95)
    return range(v->rng, 1200.0, 5400.0);
  return range(v->rng, 7200.0, 21600.0);
}

/* --- one step of at most a second ----------------------------------------- */

static void step(sim_vehicle_t *v, const sim_area_t *a, double dt)
{
  int engine = v->mode != SIM_PARKED;
  switch (v->mode) {
  case SIM_PARKED:
  case SIM_IDLE:
  case SIM_STOPPED:
    v->speed_mps = 0.0;
    v->mode_left_s -= dt;
    if (v->mode_left_s > 0.0)
      break;
    if (v->mode == SIM_PARKED) {
      /* Ignition on: warm up for a moment; refuel first when low. */
      if (v->fuel_pct < 12.0)
        v->fuel_pct = range(v->rng, 92.0, 100.0);
      v->mode = SIM_IDLE;
      v->trip_active = 0;
      v->mode_left_s = range(v->rng, 20.0, 120.0);
    } else if (v->mode == SIM_STOPPED) {
      v->mode = SIM_DRIVING;
      v->target_mps = v->segment_mps;
    } else if (v->trip_active) {
      v->mode = SIM_PARKED; /* arrived: ignition off */
      v->trip_active = 0;
      v->mode_left_s = parking_s(v);
    } else {
      start_trip(v, a);
    }
    break;
  case SIM_DRIVING: {
    double dist_wp = fleet_geo_distance_m(v->lat, v->lng, v->wp_lat, v->wp_lng);
    double want = fleet_geo_bearing_deg(v->lat, v->lng, v->wp_lat, v->wp_lng);
    double diff = heading_diff(v->heading_deg, want);
    /* Steering: tighter at low speed, so the car can always reach the point. */
    double max_turn = 45.0 / (1.0 + v->speed_mps / 5.0) * dt;
    v->heading_deg = fmod(v->heading_deg + clamp(diff, -max_turn, max_turn) + 360.0, 360.0);

    double target = v->target_mps;
    if (fabs(diff) > 45.0)
      target = fmin(target, 20.0 * KMH); /* slow down for a sharp turn */
    if (v->waypoints_left <= 1 &&
        dist_wp < v->speed_mps * v->speed_mps / (2.0 * BRAKE_MPS2) + 15.0)
      v->ending = 1;
    if (!v->ending && !v->stop_pending && v->speed_mps > 5.0 && unif(v->rng) < 0.003 * dt)
      v->stop_pending = 1; /* a red light ahead */
    if (!v->ending && unif(v->rng) < 0.1 * dt)
      v->target_mps = v->segment_mps * range(v->rng, 0.85, 1.1); /* traffic */
    if (v->ending || v->stop_pending)
      target = 0.0;
    double v0 = v->speed_mps;
    v->speed_mps = clamp(v0 + clamp(target - v0, -BRAKE_MPS2 * dt, ACCEL_MPS2 * dt), 0.0, 60.0);
    double moved = 0.5 * (v0 + v->speed_mps) * dt;
    if (moved > 0.0) {
      fleet_geo_destination(&v->lat, &v->lng, v->lat, v->lng, moved, v->heading_deg);
      v->odometer_km += moved / 1000.0;
      double l = moved / 1000.0 * v->l_per_100km / 100.0 * (v->speed_mps > 25.0 ? 1.3 : 1.0);
      v->fuel_pct -= l / v->tank_l * 100.0;
    }
    if (v->speed_mps == 0.0 && v->stop_pending) {
      v->stop_pending = 0;
      v->mode = SIM_STOPPED;
      v->mode_left_s = range(v->rng, 10.0, 60.0);
    } else if (v->ending && v->speed_mps == 0.0) {
      v->ending = 0;
      v->waypoints_left = 0;
      v->mode = SIM_IDLE; /* arrived; trip_active stays set until parked */
      v->mode_left_s = range(v->rng, 10.0, 60.0);
    } else if (!v->ending && dist_wp < fmax(25.0, 1.5 * moved)) {
      v->waypoints_left--;
      pick_waypoint(v, a);
    }
    break;
  }
  }
  if (engine && v->speed_mps == 0.0)
    v->fuel_pct -= 0.8 * dt / 3600.0 / v->tank_l * 100.0; /* idling: 0.8 l/h */
  v->fuel_pct = fmax(0.0, v->fuel_pct);
  if (engine) {
    v->battery_v += (14.1 - v->battery_v) * fmin(1.0, dt / 30.0);
    v->engine_temp_c += (v->engine_hot_c - v->engine_temp_c) * fmin(1.0, dt / 300.0);
  } else {
    v->battery_v = fmax(10.5, v->battery_v - v->battery_drain_v_per_h * dt / 3600.0);
    v->engine_temp_c += (AMBIENT_C - v->engine_temp_c) * fmin(1.0, dt / 1800.0);
  }
}

/* --- public --------------------------------------------------------------- */

void sim_vehicle_init(sim_vehicle_t *v, const char *prefix, unsigned int width, uint32_t index,
                      uint64_t seed, const sim_area_t *area, int64_t start_ns,
                      int64_t interval_min_ns, int64_t interval_max_ns)
{
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s%0*u", prefix, (int)width, index);
  rng_seed(v->rng, seed, 2 * (uint64_t)index);
  rng_seed(v->bad_rng, seed, 2 * (uint64_t)index + 1);
  double span = (double)(interval_max_ns - interval_min_ns);
  int64_t iv = interval_min_ns + (int64_t)(unif(v->rng) * span);
  iv = iv / 1000000 * 1000000;
  if (iv < 1000000)
    iv = 1000000;
  v->interval_ns = iv;
  v->t_ns = start_ns;
  v->next_ns = start_ns + (int64_t)(unif(v->rng) * (double)iv) / 1000000 * 1000000;

  random_point(v, area->center_lat, area->center_lng, area->radius_m, &v->lat, &v->lng);
  v->heading_deg = round_dec(range(v->rng, 0.0, 360.0), 0);
  if (v->heading_deg >= 360.0)
    v->heading_deg = 0.0;
  v->odometer_km = round_dec(range(v->rng, 5000.0, 250000.0), 1);
  v->tank_l = range(v->rng, 45.0, 80.0);
  v->l_per_100km = range(v->rng, 7.0, 14.0);
  v->fuel_pct = range(v->rng, 20.0, 100.0);
  /* A few weak batteries and hot engines, so that alerts have something to see. */
  v->battery_drain_v_per_h = unif(v->rng) < 0.03 ? 0.3 : range(v->rng, 0.01, 0.03);
  v->battery_v = range(v->rng, 12.4, 12.7);
  v->engine_hot_c = unif(v->rng) < 0.02 ? 108.0 : range(v->rng, 86.0, 94.0);
  double u = unif(v->rng);
  if (u < 0.45) {
    v->mode = SIM_PARKED;
    v->mode_left_s = range(v->rng, 0.0, 1200.0);
    v->engine_temp_c = range(v->rng, AMBIENT_C, 60.0);
  } else if (u < 0.55) {
    v->mode = SIM_IDLE;
    v->mode_left_s = range(v->rng, 0.0, 60.0);
    v->engine_temp_c = range(v->rng, 60.0, 90.0);
    v->battery_v = 14.0;
  } else {
    start_trip(v, area);
    v->speed_mps = v->segment_mps * range(v->rng, 0.3, 1.0);
    v->heading_deg = fleet_geo_bearing_deg(v->lat, v->lng, v->wp_lat, v->wp_lng);
    v->engine_temp_c = v->engine_hot_c;
    v->battery_v = 14.0;
  }
}

static int bad_payload(sim_vehicle_t *v, const fleet_telemetry_t *r, fleet_buf_t *out)
{
  char ts[FLEET_TIME_STRLEN];
  fleet_time_format(ts, r->ts_ns);
  char tmp[512];
  int n;
  switch (rng_next(v->bad_rng) % 4) {
  case 0: {
    /* Invalid JSON: the good payload cut short. */
    size_t cut = 1 + (size_t)(rng_next(v->bad_rng) % 8);
    if (out->len > cut) {
      out->len -= cut;
      out->ptr[out->len] = '\0';
    }
    return 0;
  }
  case 1: {
    double lat = range(v->bad_rng, 90.5, 99.0) * (unif(v->bad_rng) < 0.5 ? -1.0 : 1.0);
    n = snprintf(tmp, sizeof tmp, "{\"v\":1,\"ts\":\"%s\",\"lat\":%.6f,\"lng\":%.6f,\"speed\":%.1f}",
                 ts, lat, r->lng, r->speed_kmh);
    break;
  }
  case 2:
    n = snprintf(tmp, sizeof tmp, "{\"v\":1,\"lat\":%.6f,\"lng\":%.6f,\"speed\":%.1f}", r->lat,
                 r->lng, r->speed_kmh);
    break;
  default:
    n = snprintf(tmp, sizeof tmp, "{\"v\":1,\"ts\":\"%s\",\"lat\":\"%.6f\",\"lng\":%.6f}", ts,
                 r->lat, r->lng);
    break;
  }
  fleet_buf_clear(out);
  return fleet_buf_append(out, tmp, (size_t)n);
}

int sim_vehicle_next(sim_vehicle_t *v, const sim_area_t *area, double bad_ratio,
                     fleet_buf_t *out, int *out_bad)
{
  double total = (double)(v->next_ns - v->t_ns) / 1e9;
  int steps = (int)ceil(total);
  for (int i = 0; i < steps; i++)
    step(v, area, total / steps);
  v->t_ns = v->next_ns;

  fleet_telemetry_t r = FLEET_TELEMETRY_INIT;
  r.ts_ns = v->next_ns;
  /* GPS noise of a couple of metres around the true position. */
  double nlat, nlng;
  fleet_geo_destination(&nlat, &nlng, v->lat, v->lng, range(v->rng, 0.0, 2.5),
                        range(v->rng, 0.0, 360.0));
  r.lat = round_dec(nlat, 6);
  r.lng = round_dec(nlng, 6);
  r.present = FLEET_TELEMETRY_SPEED | FLEET_TELEMETRY_HEADING | FLEET_TELEMETRY_IGNITION |
              FLEET_TELEMETRY_ODOMETER | FLEET_TELEMETRY_BATTERY_V |
              FLEET_TELEMETRY_ENGINE_TEMP | FLEET_TELEMETRY_FUEL_LEVEL;
  double kmh = v->speed_mps > 0.0 ? v->speed_mps * 3.6 + range(v->rng, -0.5, 0.5) : 0.0;
  r.speed_kmh = round_dec(fmax(0.0, kmh), 1);
  r.heading_deg = fmod(round_dec(v->heading_deg, 0), 360.0);
  r.ignition = v->mode != SIM_PARKED;
  r.odometer_km = round_dec(v->odometer_km, 1);
  r.battery_v = round_dec(fmax(0.0, v->battery_v + range(v->rng, -0.03, 0.03)), 2);
  r.engine_temp_c =
    round_dec(clamp(v->engine_temp_c + range(v->rng, -0.3, 0.3), -60.0, 250.0), 1);
  r.fuel_level_pct = round_dec(clamp(v->fuel_pct, 0.0, 100.0), 1);

  fleet_telemetry_json_opts_t jo = FLEET_TELEMETRY_JSON_OPTS_INIT;
  jo.include_vehicle_id = 0;
  fleet_buf_clear(out);
  int rc = fleet_telemetry_encode_json(out, &r, &jo);
  if (rc)
    return rc;
  *out_bad = 0;
  if (bad_ratio > 0.0 && unif(v->bad_rng) < bad_ratio) {
    rc = bad_payload(v, &r, out);
    if (rc)
      return rc;
    *out_bad = 1;
    v->bad++;
  }
  v->generated++;
  v->next_ns += v->interval_ns;
  return 0;
}
