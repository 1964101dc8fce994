/*
 * libFuzzer target for the zone module. Every input is
 * - parsed as one zone; when accepted, it must encode to GeoJSON that parses
 *   back to a zone with the same id, name and kind that answers every probe
 *   position the same way, and fleet_zone_contains() must agree with a zone
 *   set's indexed lookup at those positions;
 * - loaded as a FeatureCollection into a zone set; when accepted, the set
 *   encodes to a collection that loads into a second set with the same keys
 *   and the same lookup answers; when refused, the set is unchanged.
 * Any mismatch aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_zone: %s: %s\n", what, detail);
  abort();
}

/* Positions around and inside the zone's bbox, plus the map's edges. */
static size_t probes(double (*p)[2], const fleet_zone_t *z) {
  double a, b, c, d;
  fleet_zone_bbox(&a, &b, &c, &d, z);
  size_t n = 0;
  static const double f[] = {0.0, 0.25, 0.5, 0.75, 1.0};
  for (size_t i = 0; i < 5; i++)
    for (size_t j = 0; j < 5; j++) {
      double lat = a + (c - a) * f[i];
      double lng = b <= d ? b + (d - b) * f[j] : b + (d + 360.0 - b) * f[j];
      if (lng > 180.0)
        lng -= 360.0;
      if (lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0) {
        p[n][0] = lat;
        p[n][1] = lng;
        n++;
      }
    }
  static const double edge[][2] = {{90, 0}, {-90, 0}, {0, 180}, {0, -180}, {45, 180}};
  for (size_t i = 0; i < FLEET_ARRAY_LEN(edge); i++) {
    p[n][0] = edge[i][0];
    p[n][1] = edge[i][1];
    n++;
  }
  return n;
}

static void check_zone(const char *json, size_t len) {
  fleet_zone_t *z = NULL;
  int rc = fleet_zone_parse(&z, json, len);
  if (rc > 0 || (rc && fleet_error_last()[0] == '\0'))
    die("parse", "failure without a message");
  if (rc != 0) {
    if (z != NULL)
      die("parse", "failure left a zone");
    return;
  }
  fleet_buf_t b = FLEET_BUF_INIT;
  if (fleet_zone_encode_geojson(&b, z) != 0)
    die("encode", fleet_error_last());
  fleet_zone_t *z2 = NULL;
  if (fleet_zone_parse(&z2, b.ptr, b.len) != 0)
    die("reparse", fleet_error_last());
  if (strcmp(fleet_zone_id(z), fleet_zone_id(z2)) != 0 ||
      strcmp(fleet_zone_name(z), fleet_zone_name(z2)) != 0 ||
      fleet_zone_kind(z) != fleet_zone_kind(z2))
    die("reparse", "id, name or kind changed");
  fleet_zoneset_t *set;
  uint32_t key;
  if (fleet_zoneset_new(&set) != 0 || fleet_zoneset_add(&key, set, z) != 0)
    die("zone set", fleet_error_last());
  double p[32][2];
  size_t n = probes(p, z);
  for (size_t i = 0; i < n; i++) {
    int in1, in2;
    if (fleet_zone_contains(&in1, z, p[i][0], p[i][1]) != 0 ||
        fleet_zone_contains(&in2, z2, p[i][0], p[i][1]) != 0)
      die("contains", fleet_error_last());
    if (in1 != in2)
      die("contains", "the re-parsed zone answers differently");
    uint32_t keys[2];
    size_t count;
    if (fleet_zoneset_lookup(keys, 2, &count, set, p[i][0], p[i][1]) != 0)
      die("lookup", fleet_error_last());
    if (count != (size_t)in1 || (count == 1 && keys[0] != key))
      die("lookup", "the index disagrees with fleet_zone_contains()");
  }
  fleet_zoneset_free(set);
  fleet_zone_free(z2);
  fleet_zone_free(z);
  fleet_buf_dispose(&b);
}

static void check_collection(const char *json, size_t len) {
  fleet_zoneset_t *set, *copy;
  if (fleet_zoneset_new(&set) != 0 || fleet_zoneset_new(&copy) != 0)
    die("zone set", fleet_error_last());
  int rc = fleet_zoneset_load_geojson(set, json, len, FLEET_ZONESET_LOAD_MERGE);
  if (rc > 0 || (rc && fleet_error_last()[0] == '\0'))
    die("load", "failure without a message");
  if (rc != 0) {
    if (fleet_zoneset_generation(set) != 0 || fleet_zoneset_count(set) != 0)
      die("load", "a failed load changed the set");
  } else {
    fleet_zoneset_snapshot_t *s;
    fleet_buf_t b = FLEET_BUF_INIT;
    if (fleet_zoneset_snapshot(&s, set) != 0 || fleet_zoneset_snapshot_encode_geojson(&b, s) != 0)
      die("encode", fleet_error_last());
    if (fleet_zoneset_load_geojson(copy, b.ptr, b.len, FLEET_ZONESET_LOAD_MERGE) != 0)
      die("reload", fleet_error_last());
    if (fleet_zoneset_count(copy) != fleet_zoneset_snapshot_count(s))
      die("reload", "zone count changed");
    for (size_t i = 0; i < fleet_zoneset_snapshot_count(s); i++) {
      double p[32][2];
      size_t n = probes(p, fleet_zoneset_snapshot_at(s, i));
      for (size_t k = 0; k < n; k++) {
        uint32_t k1[16], k2[16];
        size_t n1, n2;
        int r1 = fleet_zoneset_snapshot_lookup(k1, 16, &n1, s, p[k][0], p[k][1]);
        int r2 = fleet_zoneset_lookup(k2, 16, &n2, copy, p[k][0], p[k][1]);
        if ((r1 != 0 && r1 != FLEET_ETOOBIG) || r1 != r2 || n1 != n2 ||
            memcmp(k1, k2, (n1 < 16 ? n1 : 16) * sizeof *k1) != 0)
          die("reload", "lookups differ after a round trip");
      }
    }
    fleet_buf_dispose(&b);
    fleet_zoneset_snapshot_free(s);
  }
  fleet_zoneset_free(copy);
  fleet_zoneset_free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  check_zone((const char *)data, size);
  check_collection((const char *)data, size);
  return 0;
}
