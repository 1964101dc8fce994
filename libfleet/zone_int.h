/*
 * zone internals shared with the unit tests and the benchmark: the zone
 * structure and the per-thread GEOS context.
 */
#ifndef FLEET_ZONE_INT_H
#define FLEET_ZONE_INT_H

#include <stdatomic.h>

#include <geos_c.h>
#include <jansson.h>

#include "fleet/zone.h"

struct fleet_zone {
  atomic_size_t refs;
  fleet_zone_kind_t kind;
  char *id;
  char *name;
  char *id_text;    /* the id as JSON: "\"depot\"" or "42" */
  char *props_text; /* properties as compact JSON */
  char *geom_text;  /* {"type":...,"coordinates":...} */
  json_t *props;    /* always an object; read-only after creation */

  /* GeoJSON-style bbox: min_lat, min_lng, max_lat, max_lng (min_lng > max_lng
   * across the antimeridian). */
  double bbox[4];
  /* Index boxes as minx (lng), miny (lat), maxx, maxy; two when the zone
   * straddles the antimeridian, never overlapping. */
  int nboxes;
  double boxes[2][4];
  GEOSGeometry *box_geoms[2]; /* circle/corridor: rectangles for the STRtree */

  /* polygon */
  GEOSGeometry *geom;
  const GEOSPreparedGeometry *prep;
  int has_north_pole, has_south_pole; /* covers a point of latitude +-90 */

  /* circle */
  double clat, clng, radius_m;

  /* corridor: npts positions as lat, lng pairs */
  double *pts;
  size_t npts;
  double half_width_m;
  double pad_lat, pad_lng; /* degrees: how far a point within half_width_m can be */
};

/* Limits, FLEET_ZONE_MAX_POINTS and FLEET_ZONE_MAX_BYTES; tests lower them. */
extern size_t fleet_zone__max_points;
extern size_t fleet_zone__max_bytes;

/** The calling thread's GEOS context, created on first use; NULL when out of memory. */
GEOSContextHandle_t fleet_zone__geos(void);

/**
 * Whether zone `z` contains (lat, lng), where `lng` is already normalised
 * (180 given as -180) and `pt` is a GEOS point at (lng, lat) made in `ctx`
 * (used for polygons only). Gives 1, 0, or a negative FLEET_E* code.
 * Handles neither the poles nor the +180 twin of -180: callers do.
 */
int fleet_zone__test(const fleet_zone_t *z, GEOSContextHandle_t ctx, const GEOSGeometry *pt,
                     double lat, double lng);

#endif /* FLEET_ZONE_INT_H */
