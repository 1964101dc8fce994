/*
 * bench_zone: zone lookups through the STRtree index against a brute-force
 * loop over every prepared geometry, measured in the same run.
 *
 * Zones are small star-shaped polygons (50-500 m across, 6-16 vertices)
 * scattered over a 1 x 1 degree region around Dhaka (about 111 x 102 km), the
 * shape of a city's geofences. Lookups use two point streams: uniform over
 * the region (most points are in no zone) and points placed inside zones
 * (each in one or a few zones: the tracker's costly case).
 *
 *   bench_zone [lookups]       (default 400000)
 */
#include "common_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/geo.h"
#include "fleet/zone.h"
#include "zone_int.h"

#define REGION_LAT 23.8
#define REGION_LNG 90.4
#define REGION_DEG 1.0

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double urand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct centre {
  double lat, lng, r;
};

/* A FeatureCollection of n polygons (kinds = 1) or a polygon/circle/corridor
 * mix (kinds = 3); remembers each zone's centre and size. */
static char *make_zones(size_t n, int kinds, struct centre *c) {
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__puts(&b, "{\"type\":\"FeatureCollection\",\"features\":[");
  for (size_t i = 0; i < n; i++) {
    double clat = REGION_LAT + (urand() - 0.5) * REGION_DEG;
    double clng = REGION_LNG + (urand() - 0.5) * REGION_DEG;
    double r = 25.0 + urand() * 225.0;
    c[i].lat = clat, c[i].lng = clng, c[i].r = r;
    int kind = kinds == 1 ? 0 : (int)(i % 3);
    fleet_buf__printf(&b, "%s{\"type\":\"Feature\",\"id\":\"z%zu\",", i ? "," : "", i);
    if (kind == 0) {
      int nv = 6 + (int)(urand() * 11);
      double flat = 0, flng = 0;
      fleet_buf__puts(&b, "\"properties\":{\"speed_limit\":30},\"geometry\":{\"type\":"
                          "\"Polygon\",\"coordinates\":[[");
      for (int k = 0; k < nv; k++) {
        double lat, lng;
        double ang = (k + urand() * 0.8) * 360.0 / nv;
        fleet_geo_destination(&lat, &lng, clat, clng, r * (0.5 + 0.5 * urand()), ang);
        if (k == 0)
          flat = lat, flng = lng;
        fleet_buf__printf(&b, "[%.7f,%.7f],", lng, lat);
      }
      fleet_buf__printf(&b, "[%.7f,%.7f]]]}}", flng, flat);
    } else if (kind == 1) {
      fleet_buf__printf(&b,
                        "\"properties\":{\"radius_m\":%.1f},\"geometry\":{\"type\":\"Point\","
                        "\"coordinates\":[%.7f,%.7f]}}",
                        r, clng, clat);
    } else {
      double lat2, lng2, lat3, lng3;
      double brg = urand() * 360;
      fleet_geo_destination(&lat2, &lng2, clat, clng, 4 * r, brg);
      fleet_geo_destination(&lat3, &lng3, lat2, lng2, 4 * r, brg + 40);
      fleet_buf__printf(&b,
                        "\"properties\":{\"width_m\":%.1f},\"geometry\":{\"type\":"
                        "\"LineString\",\"coordinates\":[[%.7f,%.7f],[%.7f,%.7f],[%.7f,%.7f]]}}",
                        r * 0.4, clng, clat, lng2, lat2, lng3, lat3);
    }
  }
  fleet_buf__puts(&b, "]}");
  return b.ptr;
}

/* The baseline: one GEOS point per lookup, then every zone tested in turn
 * (a prepared polygon rejects most by its own envelope check first). */
static size_t brute_lookup(uint32_t *keys, size_t cap, const fleet_zoneset_snapshot_t *snap,
                           GEOSContextHandle_t ctx, double lat, double lng) {
  GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(ctx, lng, lat);
  size_t n = 0, count = fleet_zoneset_snapshot_count(snap);
  for (size_t i = 0; i < count; i++) {
    if (fleet_zone__test(fleet_zoneset_snapshot_at(snap, i), ctx, pt, lat, lng) > 0) {
      if (n < cap)
        keys[n] = fleet_zoneset_snapshot_key_at(snap, i);
      n++;
    }
  }
  GEOSGeom_destroy_r(ctx, pt);
  return n;
}

struct points {
  double *lat, *lng;
  size_t n;
};

static void make_points(struct points *p, size_t n, const struct centre *c, size_t nz,
                        int inside) {
  p->n = n;
  p->lat = malloc(n * sizeof *p->lat);
  p->lng = malloc(n * sizeof *p->lng);
  for (size_t i = 0; i < n; i++) {
    if (inside) {
      const struct centre *z = &c[(size_t)(urand() * (double)nz)];
      fleet_geo_destination(&p->lat[i], &p->lng[i], z->lat, z->lng, z->r * 0.3 * urand(),
                            urand() * 360);
    } else {
      p->lat[i] = REGION_LAT + (urand() - 0.5) * REGION_DEG;
      p->lng[i] = REGION_LNG + (urand() - 0.5) * REGION_DEG;
    }
  }
}

static void free_points(struct points *p) {
  free(p->lat);
  free(p->lng);
}

static int run(size_t nzones, int kinds, size_t nlookups) {
  struct centre *c = malloc(nzones * sizeof *c);
  char *doc = make_zones(nzones, kinds, c);
  fleet_zoneset_t *set;
  if (c == NULL || doc == NULL || fleet_zoneset_new(&set) != 0)
    return 1;
  double t0 = now_s();
  if (fleet_zoneset_load_geojson(set, doc, strlen(doc), 0) != 0) {
    fprintf(stderr, "load: %s\n", fleet_error_last());
    return 1;
  }
  double t_load = now_s() - t0;
  free(doc);
  fleet_zoneset_snapshot_t *snap;
  fleet_zoneset_snapshot(&snap, set);
  GEOSContextHandle_t ctx = fleet_zone__geos();

  printf("%zu %s zones: loaded and indexed in %.1f ms (%.1f us/zone)\n", nzones,
         kinds == 1 ? "polygon" : "mixed (polygon/circle/corridor)", t_load * 1e3,
         t_load * 1e6 / (double)nzones);

  for (int inside = 0; inside < 2; inside++) {
    struct points p;
    make_points(&p, nlookups, c, nzones, inside);
    uint32_t keys[64], bkeys[64];
    size_t n, found = 0;
    /* Index. */
    t0 = now_s();
    for (size_t i = 0; i < p.n; i++) {
      if (fleet_zoneset_snapshot_lookup(keys, 64, &n, snap, p.lat[i], p.lng[i]) != 0) {
        fprintf(stderr, "lookup: %s\n", fleet_error_last());
        return 1;
      }
      found += n;
    }
    double t_idx = now_s() - t0;
    /* Brute force on a prefix (it is slow), checked against the index. */
    size_t nb = p.n / (nzones >= 10000 ? 200 : 40);
    if (nb < 200)
      nb = 200;
    t0 = now_s();
    size_t bfound = 0;
    for (size_t i = 0; i < nb; i++)
      bfound += brute_lookup(bkeys, 64, snap, ctx, p.lat[i], p.lng[i]);
    double t_brute = now_s() - t0;
    for (size_t i = 0; i < nb; i++) {
      size_t nbk = brute_lookup(bkeys, 64, snap, ctx, p.lat[i], p.lng[i]);
      fleet_zoneset_snapshot_lookup(keys, 64, &n, snap, p.lat[i], p.lng[i]);
      if (n != nbk || memcmp(keys, bkeys, n * sizeof *keys) != 0) {
        fprintf(stderr, "MISMATCH at point %zu\n", i);
        return 1;
      }
    }
    double idx_ns = t_idx * 1e9 / (double)p.n;
    double brute_ns = t_brute * 1e9 / (double)nb;
    printf("  %-22s index: %9.0f lookups/s (%6.0f ns/op)   brute force: %8.0f lookups/s "
           "(%8.0f ns/op)   speed-up %5.0fx   zones/lookup %.2f\n",
           inside ? "points inside zones" : "uniform points", 1e9 / idx_ns, idx_ns,
           1e9 / brute_ns, brute_ns, brute_ns / idx_ns, (double)found / (double)p.n);
    (void)bfound;
    free_points(&p);
  }
  fleet_zoneset_snapshot_free(snap);
  fleet_zoneset_free(set);
  free(c);
  return 0;
}

int main(int argc, char **argv) {
  size_t nlookups = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 400000;
  if (nlookups < 1000)
    nlookups = 1000;
  printf("bench_zone: %zu lookups per stream; brute force on a sample, results cross-checked\n",
         nlookups);
  int rc = run(10000, 1, nlookups);
  if (rc == 0)
    rc = run(1000, 1, nlookups);
  if (rc == 0)
    rc = run(1000, 3, nlookups);
  fleet_zone_thread_cleanup();
  return rc;
}
