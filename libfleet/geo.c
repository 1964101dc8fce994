/*
 * geo: spherical geodesy helpers (see include/fleet/geo.h).
 */
#include "common_int.h"

#include <math.h>

#include "fleet/geo.h"

#define GEO_PI 3.14159265358979323846
#define DEG2RAD (GEO_PI / 180.0)
#define RAD2DEG (180.0 / GEO_PI)

double fleet_geo_wrap_lng(double lng) {
  if (!isfinite(lng))
    return NAN;
  if (lng >= -180.0 && lng < 180.0)
    return lng;
  double r = fmod(lng + 180.0, 360.0);
  if (r < 0.0)
    r += 360.0;
  r -= 180.0;
  /* fmod of a value just below a multiple of 360 can round up to 180. */
  return r >= 180.0 ? r - 360.0 : r;
}

/* A longitude difference taken the short way round, in [-180, 180). The common
 * case (both longitudes in range) avoids fmod. */
static double wrap_delta(double d) {
  if (d >= -180.0 && d < 180.0)
    return d;
  if (d >= 180.0 && d < 540.0)
    return d - 360.0;
  if (d < -180.0 && d >= -540.0)
    return d + 360.0;
  return fleet_geo_wrap_lng(d);
}

double fleet_geo_distance_m(double lat1, double lng1, double lat2, double lng2) {
  if (!isfinite(lat1) || !isfinite(lng1) || !isfinite(lat2) || !isfinite(lng2))
    return NAN;
  double p1 = lat1 * DEG2RAD;
  double p2 = lat2 * DEG2RAD;
  double sdlat = sin((lat2 - lat1) * DEG2RAD * 0.5);
  double sdlng = sin(wrap_delta(lng2 - lng1) * DEG2RAD * 0.5);
  double a = sdlat * sdlat + cos(p1) * cos(p2) * sdlng * sdlng;
  if (a > 1.0)
    a = 1.0;
  return 2.0 * FLEET_GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1.0 - a));
}

static double norm_bearing(double deg) {
  double b = fmod(deg, 360.0);
  if (b < 0.0)
    b += 360.0;
  return b >= 360.0 ? 0.0 : b;
}

double fleet_geo_bearing_deg(double lat1, double lng1, double lat2, double lng2) {
  if (!isfinite(lat1) || !isfinite(lng1) || !isfinite(lat2) || !isfinite(lng2))
    return NAN;
  if (lat1 >= 90.0)
    return 180.0;
  if (lat1 <= -90.0)
    return 0.0;
  double dlng = wrap_delta(lng2 - lng1);
  if (lat1 == lat2 && dlng == 0.0)
    return 0.0;
  double p1 = lat1 * DEG2RAD;
  double p2 = lat2 * DEG2RAD;
  double dl = dlng * DEG2RAD;
  double y = sin(dl) * cos(p2);
  double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
  return norm_bearing(atan2(y, x) * RAD2DEG);
}

void fleet_geo_destination(double *out_lat, double *out_lng, double lat, double lng,
                           double distance_m, double bearing_deg) {
  if (!isfinite(lat) || !isfinite(lng) || !isfinite(distance_m) || !isfinite(bearing_deg)) {
    *out_lat = NAN;
    *out_lng = NAN;
    return;
  }
  double p1 = lat * DEG2RAD;
  double d = distance_m / FLEET_GEO_EARTH_RADIUS_M;
  double th = bearing_deg * DEG2RAD;
  double s = sin(p1) * cos(d) + cos(p1) * sin(d) * cos(th);
  if (s > 1.0)
    s = 1.0;
  else if (s < -1.0)
    s = -1.0;
  double p2 = asin(s);
  double l2 = lng * DEG2RAD + atan2(sin(th) * sin(d) * cos(p1), cos(d) - sin(p1) * s);
  *out_lat = p2 * RAD2DEG;
  *out_lng = fleet_geo_wrap_lng(l2 * RAD2DEG);
}

void fleet_geo_proj_init(fleet_geo_proj_t *proj, double lat0, double lng0) {
  proj->lat0 = lat0;
  proj->lng0 = fleet_geo_wrap_lng(lng0);
  proj->cos_lat0 = cos(lat0 * DEG2RAD);
  proj->m_per_deg_lat = FLEET_GEO_M_PER_DEG;
  proj->m_per_deg_lng = FLEET_GEO_M_PER_DEG * proj->cos_lat0;
}

void fleet_geo_proj_forward(double *out_x, double *out_y, const fleet_geo_proj_t *proj,
                            double lat, double lng) {
  *out_x = wrap_delta(lng - proj->lng0) * proj->m_per_deg_lng;
  *out_y = (lat - proj->lat0) * proj->m_per_deg_lat;
}

void fleet_geo_proj_inverse(double *out_lat, double *out_lng, const fleet_geo_proj_t *proj,
                            double x, double y) {
  *out_lat = proj->lat0 + y / proj->m_per_deg_lat;
  *out_lng = fleet_geo_wrap_lng(proj->lng0 + x / proj->m_per_deg_lng);
}

double fleet_geo_segment_distance_m(double lat, double lng, double lat1, double lng1,
                                    double lat2, double lng2) {
  if (!isfinite(lat) || !isfinite(lng) || !isfinite(lat1) || !isfinite(lng1) ||
      !isfinite(lat2) || !isfinite(lng2))
    return NAN;
  /* Projection centred on the query point, so it sits at the origin. The second
   * end is placed relative to the first (not to the point) so that the segment
   * keeps its own short way round the antimeridian. */
  double kx = FLEET_GEO_M_PER_DEG * cos(lat * DEG2RAD);
  double ky = FLEET_GEO_M_PER_DEG;
  double d1 = wrap_delta(lng1 - lng);
  double dseg = wrap_delta(lng2 - lng1);
  double ax = d1 * kx, ay = (lat1 - lat) * ky;
  double bx = (d1 + dseg) * kx, by = (lat2 - lat) * ky;
  double vx = bx - ax, vy = by - ay;
  double len2 = vx * vx + vy * vy;
  double t = 0.0;
  if (len2 > 0.0) {
    t = -(ax * vx + ay * vy) / len2;
    if (t < 0.0)
      t = 0.0;
    else if (t > 1.0)
      t = 1.0;
  }
  double nlat = lat1 + t * (lat2 - lat1);
  double nlng = lng1 + t * dseg;
  return fleet_geo_distance_m(lat, lng, nlat, nlng);
}
