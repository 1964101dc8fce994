/*
 * geo: small, exact-enough geodesy for fleet tracking, in pure C.
 *
 * - Great-circle distance (haversine) and initial bearing between two
 *   positions, and the destination reached from a position by a distance
 *   along a bearing.
 * - Distance from a position to a line segment, in metres.
 * - A local equirectangular projection for metric work near a point (the zone
 *   module uses it for corridors; the tracker may use it for speeds, buffers).
 *
 * Earth model: a sphere of radius FLEET_GEO_EARTH_RADIUS_M, the IUGG mean
 * radius R1 = (2a + b) / 3 of WGS84. Against the WGS84 ellipsoid a spherical
 * distance is off by at most about 0.5% (typically 0.1-0.3%); that is far
 * below GPS noise at fleet scales and keeps every function cheap and
 * branch-free. All positions are WGS84 degrees: latitude in [-90, 90],
 * longitude in [-180, 180]; longitudes outside that range are accepted and
 * wrapped. Distances are metres, bearings degrees clockwise from true north.
 *
 * Non-finite inputs give NaN results (these functions have no error path and
 * never touch fleet_error_last()).
 *
 * Thread safety: every function is pure and reentrant; a fleet_geo_proj_t is
 * plain data and may be shared read-only between threads.
 */
#ifndef FLEET_GEO_H
#define FLEET_GEO_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Mean Earth radius used by every function here, metres (IUGG R1 for WGS84). */
#define FLEET_GEO_EARTH_RADIUS_M 6371008.8

/** Metres per degree of latitude on that sphere (R * pi / 180). */
#define FLEET_GEO_M_PER_DEG 111195.08023353292

/**
 * Wrap a longitude into [-180, 180). 180 becomes -180 (the same meridian).
 * NaN and infinities give NaN.
 */
FLEET_API double fleet_geo_wrap_lng(double lng);

/**
 * Great-circle distance in metres between (lat1, lng1) and (lat2, lng2),
 * by the haversine formula (well conditioned for small distances, exact on the
 * sphere for antipodal ones). Crossing the antimeridian is handled: 179.9 E
 * to 179.9 W is about 22 km at the equator, not 40,000 km.
 */
FLEET_API double fleet_geo_distance_m(double lat1, double lng1, double lat2, double lng2);

/**
 * Initial bearing (forward azimuth) of the great circle from (lat1, lng1) to
 * (lat2, lng2), in degrees [0, 360): 0 north, 90 east, 180 south, 270 west.
 * Conventions for the degenerate cases: identical positions give 0; from the
 * north pole every direction is south (180); from the south pole, north (0).
 */
FLEET_API double fleet_geo_bearing_deg(double lat1, double lng1, double lat2, double lng2);

/**
 * The position reached from (lat, lng) after `distance_m` metres along the
 * great circle leaving at `bearing_deg`. `out_lng` is wrapped into
 * [-180, 180). A negative distance goes the opposite way.
 *
 * @param out_lat destination latitude, degrees (written; must not be NULL).
 * @param out_lng destination longitude, degrees (written; must not be NULL).
 */
FLEET_API void fleet_geo_destination(double *out_lat, double *out_lng, double lat,
                                     double lng, double distance_m, double bearing_deg);

/**
 * Distance in metres from the position (lat, lng) to the segment from
 * (lat1, lng1) to (lat2, lng2).
 *
 * The segment is the straight line between its ends in longitude/latitude
 * coordinates, which is what GeoJSON means by a line (RFC 7946 §3.1.1) and
 * what GEOS computes with; it is not the great circle. Longitude differences
 * are taken the short way round, so a segment may touch or cross the
 * antimeridian as long as its ends are less than 180 degrees of longitude
 * apart.
 *
 * Method: the nearest point of the segment is found in a local equirectangular
 * projection centred on (lat, lng) (an affine map of longitude/latitude, so
 * the segment stays straight in it), and the haversine distance to that point
 * is returned. The result is therefore the exact distance to a point of the
 * segment, never less than the true minimum; the only error comes from picking
 * a slightly wrong nearest point, a second-order effect of the projection's
 * east-west scale error. For segments and distances up to 10 km at latitudes
 * within ±80° the result is within 1 cm + 1e-5 of the distance (checked in
 * tests/unit/test_geo.c against a dense search along the segment). Near the
 * poles and over hundreds of kilometres it degrades gracefully but remains an
 * upper bound on the true distance.
 */
FLEET_API double fleet_geo_segment_distance_m(double lat, double lng, double lat1,
                                              double lng1, double lat2, double lng2);

/**
 * A local equirectangular projection: x metres east and y metres north of an
 * origin, x = R * dlng * cos(lat0), y = R * dlat (angles in radians, dlng
 * wrapped to [-180, 180)). Plain data, fill it with fleet_geo_proj_init().
 *
 * Accuracy: distances measured between projected points are within about
 * 0.1% of the haversine distance for points within 10 km of the origin at
 * latitudes below 60° (the east-west scale error grows as tan(lat0) * dlat).
 * Undefined within ~1 m of a pole, where cos(lat0) is 0.
 */
typedef struct fleet_geo_proj {
  double lat0;          /**< origin latitude, degrees */
  double lng0;          /**< origin longitude, degrees, wrapped to [-180, 180) */
  double cos_lat0;      /**< cos(lat0) */
  double m_per_deg_lat; /**< metres per degree of latitude (FLEET_GEO_M_PER_DEG) */
  double m_per_deg_lng; /**< metres per degree of longitude at lat0 */
} fleet_geo_proj_t;

/**
 * Set up a projection centred on (lat0, lng0).
 * @param proj the projection to fill (must not be NULL).
 */
FLEET_API void fleet_geo_proj_init(fleet_geo_proj_t *proj, double lat0, double lng0);

/**
 * Project a position: `out_x` metres east and `out_y` metres north of the
 * origin. The longitude difference is taken the short way round, so positions
 * across the antimeridian from the origin project next to it.
 */
FLEET_API void fleet_geo_proj_forward(double *out_x, double *out_y,
                                      const fleet_geo_proj_t *proj, double lat,
                                      double lng);

/**
 * Inverse of fleet_geo_proj_forward(): the position `x` metres east and `y`
 * metres north of the origin, longitude wrapped into [-180, 180). Latitudes
 * beyond the poles are not folded back (they come out above 90 or below -90).
 */
FLEET_API void fleet_geo_proj_inverse(double *out_lat, double *out_lng,
                                      const fleet_geo_proj_t *proj, double x, double y);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_GEO_H */
