/* Unit tests for geo: haversine, bearings, destination, projection, segments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "common_int.h"
#include "fleet/geo.h"

/* R * pi / 180 for R = 6371008.8 m. */
#define DEG_M 111195.08023353292

#define assert_near(a, b, tol)                                                            \
  do {                                                                                  \
    double a_ = (a), b_ = (b), t_ = (tol);                                              \
    if (!(fabs(a_ - b_) <= t_))                                                         \
      fail_msg("%s = %.12g, expected %.12g +- %g", #a, a_, b_, t_);                    \
  } while (0)

static void test_constants(void **state) {
  (void)state;
  assert_true(FLEET_GEO_EARTH_RADIUS_M == 6371008.8);
  assert_near(FLEET_GEO_M_PER_DEG, DEG_M, 1e-9);
}

static void test_wrap_lng(void **state) {
  (void)state;
  assert_true(fleet_geo_wrap_lng(0.0) == 0.0);
  assert_true(fleet_geo_wrap_lng(179.5) == 179.5);
  assert_true(fleet_geo_wrap_lng(180.0) == -180.0);
  assert_true(fleet_geo_wrap_lng(-180.0) == -180.0);
  assert_near(fleet_geo_wrap_lng(190.0), -170.0, 1e-12);
  assert_near(fleet_geo_wrap_lng(-190.0), 170.0, 1e-12);
  assert_near(fleet_geo_wrap_lng(720.5), 0.5, 1e-9);
  assert_near(fleet_geo_wrap_lng(-540.0), -180.0, 1e-12);
  assert_true(isnan(fleet_geo_wrap_lng(NAN)));
  assert_true(isnan(fleet_geo_wrap_lng(INFINITY)));
}

static void test_distance_exact_cases(void **state) {
  (void)state;
  /* One degree along a meridian and along the equator: R * pi / 180. */
  assert_near(fleet_geo_distance_m(0, 0, 1, 0), DEG_M, 1e-6);
  assert_near(fleet_geo_distance_m(0, 0, 0, 1), DEG_M, 1e-6);
  assert_near(fleet_geo_distance_m(45, 10, 46, 10), DEG_M, 1e-6);
  /* Quarter and half great circles. */
  assert_near(fleet_geo_distance_m(0, 0, 90, 0), DEG_M * 90, 1e-4);
  assert_near(fleet_geo_distance_m(0, 0, 0, 180), DEG_M * 180, 1e-4);
  assert_near(fleet_geo_distance_m(90, 0, -90, 0), DEG_M * 180, 1e-4);
  /* Same point, and symmetric. */
  assert_true(fleet_geo_distance_m(23.8103, 90.4125, 23.8103, 90.4125) == 0.0);
  assert_near(fleet_geo_distance_m(10, 20, 30, 40), fleet_geo_distance_m(30, 40, 10, 20), 1e-6);
  /* At 60 N a degree of longitude is cos(60) = 1/2 of a degree of latitude
   * (the great circle is a hair shorter than the parallel: 0.05 m here). */
  assert_near(fleet_geo_distance_m(60, 0, 60, 0.01), DEG_M * 0.01 * 0.5, 1e-3);
}

static void test_distance_city_pairs(void **state) {
  (void)state;
  /* WGS84 geodesic distances (Vincenty), km; the sphere is within 0.5%. */
  struct {
    double lat1, lng1, lat2, lng2, km;
  } c[] = {
      {51.5074, -0.1278, 48.8566, 2.3522, 343.9},       /* London - Paris */
      {40.7128, -74.0060, 34.0522, -118.2437, 3944.4},  /* New York - Los Angeles */
      {-33.8688, 151.2093, -37.8136, 144.9631, 713.9},  /* Sydney - Melbourne */
      {23.8103, 90.4125, 22.3569, 91.7832, 213.6},      /* Dhaka - Chittagong */
      {35.6762, 139.6503, 1.3521, 103.8198, 5303.2},    /* Tokyo - Singapore */
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(c); i++) {
    double d = fleet_geo_distance_m(c[i].lat1, c[i].lng1, c[i].lat2, c[i].lng2) / 1000.0;
    assert_near(d, c[i].km, c[i].km * 0.005);
  }
}

static void test_distance_antimeridian_and_poles(void **state) {
  (void)state;
  /* 179.9 E to 179.9 W is 0.2 degrees, not 359.8. */
  assert_near(fleet_geo_distance_m(0, 179.9, 0, -179.9), DEG_M * 0.2, 1e-6);
  assert_near(fleet_geo_distance_m(0, -180, 0, 180), 0.0, 1e-6);
  /* Every longitude of a pole is the same point. */
  assert_near(fleet_geo_distance_m(90, 0, 90, 123), 0.0, 1e-6);
  assert_near(fleet_geo_distance_m(-90, -45, -90, 100), 0.0, 1e-6);
  /* Over the pole: 89 N 0 E to 89 N 180 E is 2 degrees. */
  assert_near(fleet_geo_distance_m(89, 0, 89, 180), DEG_M * 2, 1e-5);
  assert_near(fleet_geo_distance_m(90, 0, 89, 77), DEG_M, 1e-6);
  /* Non-finite input gives NaN. */
  assert_true(isnan(fleet_geo_distance_m(NAN, 0, 0, 0)));
  assert_true(isnan(fleet_geo_distance_m(0, 0, 0, INFINITY)));
}

static void test_bearing(void **state) {
  (void)state;
  assert_near(fleet_geo_bearing_deg(0, 0, 1, 0), 0.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, 0, 1), 90.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, -1, 0), 180.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, 0, -1), 270.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(40, 10, 50, 10), 0.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(50, 10, 40, 10), 180.0, 1e-9);
  /* From (0, 0) to (45, 90): y = sin 90 cos 45, x = sin 45, so 45 exactly. */
  assert_near(fleet_geo_bearing_deg(0, 0, 45, 90), 45.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, -45, 90), 135.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, -45, -90), 225.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, 0, 45, -90), 315.0, 1e-9);
  /* Across the antimeridian eastwards is east, not west. */
  assert_near(fleet_geo_bearing_deg(0, 179.5, 0, -179.5), 90.0, 1e-9);
  assert_near(fleet_geo_bearing_deg(0, -179.5, 0, 179.5), 270.0, 1e-9);
  /* Along a parallel at 60 N the great circle leaves slightly poleward. */
  double b = fleet_geo_bearing_deg(60, 0, 60, 1);
  assert_true(b > 89.0 && b < 90.0);
  /* Degenerate cases, as documented. */
  assert_true(fleet_geo_bearing_deg(10, 10, 10, 10) == 0.0);
  assert_true(fleet_geo_bearing_deg(90, 0, 10, 33) == 180.0);
  assert_true(fleet_geo_bearing_deg(-90, 0, 10, 33) == 0.0);
  /* Result always in [0, 360). */
  assert_true(fleet_geo_bearing_deg(0, 0, -1, -1e-12) < 360.0);
  assert_true(isnan(fleet_geo_bearing_deg(NAN, 0, 0, 0)));
}

static void test_destination(void **state) {
  (void)state;
  double lat, lng;
  fleet_geo_destination(&lat, &lng, 0, 0, DEG_M, 90);
  assert_near(lat, 0.0, 1e-12);
  assert_near(lng, 1.0, 1e-12);
  fleet_geo_destination(&lat, &lng, 0, 0, DEG_M, 0);
  assert_near(lat, 1.0, 1e-12);
  assert_near(lng, 0.0, 1e-12);
  fleet_geo_destination(&lat, &lng, 0, 0, DEG_M, 180);
  assert_near(lat, -1.0, 1e-12);
  /* Negative distance goes backwards. */
  fleet_geo_destination(&lat, &lng, 0, 0, -DEG_M, 90);
  assert_near(lng, -1.0, 1e-12);
  /* Wraps across the antimeridian. */
  fleet_geo_destination(&lat, &lng, 0, 179.5, DEG_M, 90);
  assert_near(lat, 0.0, 1e-12);
  assert_near(lng, -179.5, 1e-9);
  /* Over the pole: 2 degrees north from 89 N 0 E lands on 89 N 180. */
  fleet_geo_destination(&lat, &lng, 89, 0, 2 * DEG_M, 0);
  assert_near(lat, 89.0, 1e-9);
  assert_near(fabs(lng), 180.0, 1e-9);
  /* Round trip: distance and bearing back agree. */
  fleet_geo_destination(&lat, &lng, 23.8103, 90.4125, 12345.0, 37.0);
  assert_near(fleet_geo_distance_m(23.8103, 90.4125, lat, lng), 12345.0, 1e-6);
  assert_near(fleet_geo_bearing_deg(23.8103, 90.4125, lat, lng), 37.0, 1e-9);
  fleet_geo_destination(&lat, &lng, NAN, 0, 1, 0);
  assert_true(isnan(lat) && isnan(lng));
}

static void test_projection(void **state) {
  (void)state;
  fleet_geo_proj_t p;
  double x, y, lat, lng;
  fleet_geo_proj_init(&p, 60.0, 10.0);
  assert_near(p.cos_lat0, 0.5, 1e-15);
  assert_near(p.m_per_deg_lat, DEG_M, 1e-9);
  assert_near(p.m_per_deg_lng, DEG_M / 2, 1e-9);
  fleet_geo_proj_forward(&x, &y, &p, 61.0, 10.0);
  assert_near(x, 0.0, 1e-9);
  assert_near(y, DEG_M, 1e-6);
  fleet_geo_proj_forward(&x, &y, &p, 60.0, 11.0);
  assert_near(x, DEG_M / 2, 1e-6);
  assert_near(y, 0.0, 1e-9);
  fleet_geo_proj_inverse(&lat, &lng, &p, -DEG_M, 2 * DEG_M);
  assert_near(lat, 62.0, 1e-12);
  assert_near(lng, 8.0, 1e-12);
  /* Round trip. */
  fleet_geo_proj_forward(&x, &y, &p, 60.0123, 9.9876);
  fleet_geo_proj_inverse(&lat, &lng, &p, x, y);
  assert_near(lat, 60.0123, 1e-12);
  assert_near(lng, 9.9876, 1e-12);
  /* Across the antimeridian the neighbour stays a neighbour. */
  fleet_geo_proj_init(&p, 0.0, 179.9);
  fleet_geo_proj_forward(&x, &y, &p, 0.0, -179.9);
  assert_near(x, DEG_M * 0.2, 1e-6);
  fleet_geo_proj_inverse(&lat, &lng, &p, DEG_M * 0.2, 0);
  assert_near(lng, -179.9, 1e-9);
  /* The documented accuracy: within 10 km of an origin below 60 degrees,
   * projected distances are within 0.1% of haversine. */
  fleet_geo_proj_init(&p, 59.9, 24.9);
  double tlat, tlng;
  fleet_geo_destination(&tlat, &tlng, 59.9, 24.9, 10000.0, 45.0);
  fleet_geo_proj_forward(&x, &y, &p, tlat, tlng);
  assert_near(sqrt(x * x + y * y), 10000.0, 10.0);
}

static void test_segment_distance_exact(void **state) {
  (void)state;
  /* Perpendicular to an equatorial segment. */
  assert_near(fleet_geo_segment_distance_m(0.01, 0, 0, -1, 0, 1), DEG_M * 0.01, 1e-6);
  assert_near(fleet_geo_segment_distance_m(-0.01, 0.5, 0, -1, 0, 1), DEG_M * 0.01, 1e-6);
  /* Beyond either end: distance to the end. */
  assert_near(fleet_geo_segment_distance_m(0, 2, 0, -1, 0, 1), DEG_M, 1e-6);
  assert_near(fleet_geo_segment_distance_m(0, -3, 0, -1, 0, 1), 2 * DEG_M, 1e-6);
  /* On the segment. */
  assert_near(fleet_geo_segment_distance_m(0, 0.3, 0, -1, 0, 1), 0.0, 1e-6);
  /* Along a meridian. */
  assert_near(fleet_geo_segment_distance_m(45.5, 10.001, 45, 10, 46, 10),
              fleet_geo_distance_m(45.5, 10.001, 45.5, 10), 1e-6);
  /* Degenerate segment: distance to the point. */
  assert_near(fleet_geo_segment_distance_m(1, 1, 0, 0, 0, 0), fleet_geo_distance_m(1, 1, 0, 0),
              1e-9);
  /* A segment across the antimeridian, and a point on the other side. */
  assert_near(fleet_geo_segment_distance_m(0.001, 180, 0, 179.9, 0, -179.9), DEG_M * 0.001,
              1e-6);
  assert_near(fleet_geo_segment_distance_m(0.001, -180, 0, 179.9, 0, -179.9), DEG_M * 0.001,
              1e-6);
  assert_near(fleet_geo_segment_distance_m(0, -179.8, 0, 179.9, 0, -179.9), DEG_M * 0.1, 1e-6);
  assert_true(isnan(fleet_geo_segment_distance_m(0, 0, NAN, 0, 1, 1)));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* True minimum distance to the lng/lat-straight segment by a dense scan and
 * a golden-section refinement. */
static double brute_segment(double lat, double lng, double lat1, double lng1, double lat2,
                            double lng2) {
  double dl = fleet_geo_wrap_lng(lng2 - lng1);
  double best_t = 0, best = INFINITY;
  const int n = 2000;
  for (int i = 0; i <= n; i++) {
    double t = (double)i / n;
    double d = fleet_geo_distance_m(lat, lng, lat1 + t * (lat2 - lat1), lng1 + t * dl);
    if (d < best)
      best = d, best_t = t;
  }
  double a = fmax(0, best_t - 1.0 / n), b = fmin(1, best_t + 1.0 / n);
  for (int k = 0; k < 100; k++) {
    double m1 = a + (b - a) * 0.381966, m2 = a + (b - a) * 0.618034;
    double d1 = fleet_geo_distance_m(lat, lng, lat1 + m1 * (lat2 - lat1), lng1 + m1 * dl);
    double d2 = fleet_geo_distance_m(lat, lng, lat1 + m2 * (lat2 - lat1), lng1 + m2 * dl);
    if (d1 < d2)
      b = m2;
    else
      a = m1;
  }
  double t = (a + b) / 2;
  double d = fleet_geo_distance_m(lat, lng, lat1 + t * (lat2 - lat1), lng1 + t * dl);
  return fmin(best, d);
}

/* The accuracy promised in geo.h: segments and distances up to 10 km,
 * |lat| <= 80: within 1 cm + 1e-5 of the distance, and never below it. */
static void test_segment_distance_accuracy(void **state) {
  (void)state;
  double worst = 0;
  for (int i = 0; i < 3000; i++) {
    double lat1 = -79.9 + urand() * 159.8, lng1 = -180 + urand() * 360;
    double lat2, lng2, lat, lng;
    fleet_geo_destination(&lat2, &lng2, lat1, lng1, urand() * 10000.0, urand() * 360.0);
    fleet_geo_destination(&lat, &lng, lat1, lng1, urand() * 10000.0, urand() * 360.0);
    if (fabs(lat2) > 80 || fabs(lat) > 80)
      continue;
    double got = fleet_geo_segment_distance_m(lat, lng, lat1, lng1, lat2, lng2);
    double want = brute_segment(lat, lng, lat1, lng1, lat2, lng2);
    if (got - want > worst)
      worst = got - want;
    if (!(got >= want - 1e-6 && got - want <= 0.01 + 1e-5 * want))
      fail_msg("case %d: got %.6f, true %.6f", i, got, want);
  }
  print_message("segment distance: worst excess %.3g m\n", worst);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constants),
      cmocka_unit_test(test_wrap_lng),
      cmocka_unit_test(test_distance_exact_cases),
      cmocka_unit_test(test_distance_city_pairs),
      cmocka_unit_test(test_distance_antimeridian_and_poles),
      cmocka_unit_test(test_bearing),
      cmocka_unit_test(test_destination),
      cmocka_unit_test(test_projection),
      cmocka_unit_test(test_segment_distance_exact),
      cmocka_unit_test(test_segment_distance_accuracy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
