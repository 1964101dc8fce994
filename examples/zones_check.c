/*
 * zones_check: which geofences contain which points.
 *
 *   zones_check ZONES.geojson LAT,LNG [LAT,LNG...]
 *
 * Loads a GeoJSON FeatureCollection of zones (polygons; circles: a Point
 * with properties.radius_m; corridors: a LineString with properties.width_m)
 * into an indexed zone set, then prints the zones containing each point.
 * Exit status 0, 1 when the zones or a point are invalid, 2 for usage.
 * zones_check.py does the same in Python.
 */
#include <fleet/fleet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *text = NULL;
  if (!f)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1))) {
      *len = fread(text, 1, (size_t)size, f);
      text[*len] = '\0';
    }
  }
  fclose(f);
  return text;
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: %s ZONES.geojson LAT,LNG [LAT,LNG...]\n", argv[0]);
    return 2;
  }
  size_t len = 0;
  char *text = read_file(argv[1], &len);
  if (!text) {
    perror(argv[1]);
    return 1;
  }
  /* A zone set indexes its zones (a GEOS STRtree): lookups cost O(log n). */
  fleet_zoneset_t *set = NULL;
  int rc = fleet_zoneset_new(&set);
  if (rc == 0)
    rc = fleet_zoneset_load_geojson(set, text, len, FLEET_ZONESET_LOAD_REPLACE_ALL);
  free(text);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", argv[1], fleet_error_last());
    fleet_zoneset_free(set);
    return 1;
  }

  /* A snapshot is an immutable view: its zones stay valid while we hold it,
   * even if another thread changed the set meanwhile. */
  fleet_zoneset_snapshot_t *snap = NULL;
  fleet_zoneset_snapshot(&snap, set);
  size_t count = fleet_zoneset_snapshot_count(snap);
  printf("%zu zones:", count);
  for (size_t i = 0; i < count; i++) {
    const fleet_zone_t *z = fleet_zoneset_snapshot_at(snap, i);
    printf("%s %s (%s, %s)", i ? "," : "", fleet_zone_id(z),
           fleet_zone_kind_name(fleet_zone_kind(z)), fleet_zone_name(z));
  }
  printf("\n");

  int status = 0;
  for (int i = 2; i < argc; i++) {
    double lat, lng;
    char extra;
    if (sscanf(argv[i], "%lf,%lf%c", &lat, &lng, &extra) != 2) {
      fprintf(stderr, "%s: expected LAT,LNG\n", argv[i]);
      status = 1;
      continue;
    }
    uint32_t keys[16];
    size_t n = 0;
    rc = fleet_zoneset_snapshot_lookup(keys, 16, &n, snap, lat, lng);
    if (rc != 0 && rc != FLEET_ETOOBIG) {
      fprintf(stderr, "%s: %s\n", argv[i], fleet_error_last());
      status = 1;
      continue;
    }
    printf("%s:", argv[i]);
    if (n == 0)
      printf(" none");
    /* Keys come sorted; beyond 16 zones at one point we show the first 16. */
    for (size_t k = 0; k < n && k < 16; k++) {
      const fleet_zone_t *z = fleet_zoneset_snapshot_get(snap, keys[k]);
      printf("%s %s", k ? "," : "", fleet_zone_id(z));
    }
    printf("\n");
  }
  fleet_zoneset_snapshot_free(snap);
  fleet_zoneset_free(set);
  /* GEOS keeps one context per thread; give the main thread's back now. */
  fleet_zone_thread_cleanup();
  return status;
}
