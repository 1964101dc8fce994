/* Helpers for the unit tests of the stream consumers (trip, downsample): a time
 * base, positions along one meridian, a telemetry record builder, a tolerance
 * assertion and an independent haversine. Include after <cmocka.h>. */
#ifndef FLEET_TESTUTIL_H
#define FLEET_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fleet/telemetry.h"

#define NS 1000000000LL
#define T0 (1779343200LL * NS) /* 2026-05-21T06:00:00Z, the start of an hour */
#define AT(sec) (T0 + (int64_t)(sec) * NS)

/* Fixes move along the meridian LNG0, where the haversine distance is exactly
 * R * dlat: metres per degree of latitude on the R = 6371008.8 m sphere. */
#define M_PER_DEG 111195.0802335
#define LAT0 23.8103
#define LNG0 90.4125

/* An absent optional value, and an unreported ignition, for tu_record(). */
#define NONE (-1.0)
#define NO_IGN (-1)

/*
 * A record of vehicle `vid` at AT(t), LAT0 + dlat, LNG0, with speed (km/h),
 * ignition (0, 1), odometer (km), fuel level (%) and battery (V) present
 * unless NONE (NO_IGN).
 */
static inline fleet_telemetry_t tu_record(const char *vid, int t, double dlat, double speed,
                                          int ign, double odo, double fuel, double batt)
{
  fleet_telemetry_t r;
  assert_int_equal(fleet_telemetry_init(&r, FLEET_TELEMETRY_VERSION), 0);
  size_t n = strnlen(vid, sizeof r.vehicle_id - 1); /* cut to fit, as a test may want */
  memcpy(r.vehicle_id, vid, n);
  r.vehicle_id[n] = '\0';
  r.ts_ns = AT(t);
  r.lat = LAT0 + dlat;
  r.lng = LNG0;
  if (speed != NONE) {
    r.present |= FLEET_TELEMETRY_SPEED;
    r.speed_kmh = speed;
  }
  if (ign != NO_IGN) {
    r.present |= FLEET_TELEMETRY_IGNITION;
    r.ignition = ign;
  }
  if (odo != NONE) {
    r.present |= FLEET_TELEMETRY_ODOMETER;
    r.odometer_km = odo;
  }
  if (fuel != NONE) {
    r.present |= FLEET_TELEMETRY_FUEL_LEVEL;
    r.fuel_level_pct = fuel;
  }
  if (batt != NONE) {
    r.present |= FLEET_TELEMETRY_BATTERY_V;
    r.battery_v = batt;
  }
  return r;
}

static inline void assert_near(double got, double want, double tol)
{
  if (!(fabs(got - want) <= tol))
    fail_msg("got %.9f, want %.9f (+/- %g)", got, want, tol);
}

/* A haversine on the same sphere, written apart from libfleet's, for property checks. */
static inline double ref_dist(double lat1, double lng1, double lat2, double lng2)
{
  const double r = 6371008.8, k = M_PI / 180.0;
  double a = pow(sin((lat2 - lat1) * k / 2), 2) +
             cos(lat1 * k) * cos(lat2 * k) * pow(sin((lng2 - lng1) * k / 2), 2);
  return 2 * r * asin(sqrt(a));
}

#endif /* FLEET_TESTUTIL_H */
