/* Unit tests for zone: parsing, containment, rejections, zone sets, snapshots,
 * concurrency and agreement of the index with a brute-force scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common_int.h"
#include "fleet/geo.h"
#include "fleet/zone.h"
#include "zone_int.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static fleet_zone_t *parse_ok(const char *json) {
  fleet_zone_t *z = NULL;
  int rc = fleet_zone_parse(&z, json, strlen(json));
  if (rc != 0)
    fail_msg("parse failed: %s: %s\n  in %s", fleet_status_name(rc), fleet_error_last(), json);
  return z;
}

static void expect_reject(const char *json, int code, const char *needle) {
  fleet_zone_t *z = (fleet_zone_t *)1;
  int rc = fleet_zone_parse(&z, json, strlen(json));
  if (rc != code)
    fail_msg("%s: got %s (%s), expected %s", json, fleet_status_name(rc), fleet_error_last(),
             fleet_status_name(code));
  assert_null(z);
  assert_int_equal(fleet_error_last_code(), code);
  if (strstr(fleet_error_last(), needle) == NULL)
    fail_msg("%s: message \"%s\" lacks \"%s\"", json, fleet_error_last(), needle);
}

static int inside(const fleet_zone_t *z, double lat, double lng) {
  int in = -1;
  int rc = fleet_zone_contains(&in, z, lat, lng);
  if (rc != 0)
    fail_msg("contains(%g, %g): %s", lat, lng, fleet_error_last());
  return in;
}

/* Keys of the zones containing (lat, lng) through the index. */
static size_t lookup(uint32_t *keys, size_t cap, const fleet_zoneset_t *set, double lat,
                     double lng) {
  size_t n = 0;
  int rc = fleet_zoneset_lookup(keys, cap, &n, set, lat, lng);
  if (rc != 0)
    fail_msg("lookup(%g, %g): %s: %s", lat, lng, fleet_status_name(rc), fleet_error_last());
  return n;
}

static const char *square_feature(char *buf, size_t cap, const char *id, double lat,
                                  double lng, double half_deg, const char *extra_props) {
  snprintf(buf, cap,
           "{\"type\":\"Feature\",\"id\":\"%s\",\"properties\":{%s},\"geometry\":{\"type\":"
           "\"Polygon\",\"coordinates\":[[[%.10f,%.10f],[%.10f,%.10f],[%.10f,%.10f],[%.10f,%."
           "10f],[%.10f,%.10f]]]}}",
           id, extra_props, lng - half_deg, lat - half_deg, lng + half_deg, lat - half_deg,
           lng + half_deg, lat + half_deg, lng - half_deg, lat + half_deg, lng - half_deg,
           lat - half_deg);
  return buf;
}

static uint64_t rng;
static double urand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------------ */
/* Parsing and containment                                                  */
/* ------------------------------------------------------------------------ */

static const char *k_square =
    "{\"type\":\"Feature\",\"id\":\"depot\",\"properties\":{\"name\":\"Main depot\","
    "\"speed_limit\":30,\"max_dwell\":12.5,\"hazmat\":false,\"owner\":\"ops\",\"none\":null},"
    "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[90.0,23.0],[90.1,23.0],"
    "[90.1,23.1],[90.0,23.1],[90.0,23.0]]]}}";

static void test_polygon_feature(void **state) {
  (void)state;
  fleet_zone_t *z = parse_ok(k_square);
  assert_string_equal(fleet_zone_id(z), "depot");
  assert_string_equal(fleet_zone_name(z), "Main depot");
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_POLYGON);
  assert_string_equal(fleet_zone_kind_name(fleet_zone_kind(z)), "polygon");
  assert_true(inside(z, 23.05, 90.05));
  assert_false(inside(z, 23.05, 90.15));
  assert_false(inside(z, 22.99, 90.05));
  /* Boundary and corner count as inside (GEOS covers). */
  assert_true(inside(z, 23.0, 90.05));
  assert_true(inside(z, 23.1, 90.1));
  double a, b, c, d;
  fleet_zone_bbox(&a, &b, &c, &d, z);
  assert_true(a == 23.0 && b == 90.0 && c == 23.1 && d == 90.1);
  fleet_zone_free(z);
}

static void test_kind_names(void **state) {
  (void)state;
  assert_string_equal(fleet_zone_kind_name(FLEET_ZONE_CIRCLE), "circle");
  assert_string_equal(fleet_zone_kind_name(FLEET_ZONE_CORRIDOR), "corridor");
  assert_string_equal(fleet_zone_kind_name((fleet_zone_kind_t)99), "unknown");
  assert_string_equal(fleet_zone_id(NULL), "");
  assert_string_equal(fleet_zone_name(NULL), "");
  assert_int_equal(fleet_zone_kind(NULL), 0);
  fleet_zone_free(NULL);
  assert_null(fleet_zone_ref(NULL));
}

static void test_ids(void **state) {
  (void)state;
  fleet_zone_t *z;
  z = parse_ok("{\"type\":\"Feature\",\"id\":42,\"properties\":{\"radius_m\":10},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90,23]}}");
  assert_string_equal(fleet_zone_id(z), "42");
  assert_string_equal(fleet_zone_name(z), "42");
  fleet_zone_free(z);
  z = parse_ok("{\"type\":\"Feature\",\"id\":-7.0,\"properties\":{\"radius_m\":10},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90,23]}}");
  assert_string_equal(fleet_zone_id(z), "-7");
  fleet_zone_free(z);
  /* properties.id when the Feature has none (or a null one). */
  z = parse_ok("{\"type\":\"Feature\",\"properties\":{\"id\":\"yard\",\"radius_m\":10},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90,23]}}");
  assert_string_equal(fleet_zone_id(z), "yard");
  fleet_zone_free(z);
  z = parse_ok("{\"type\":\"Feature\",\"id\":null,\"properties\":{\"id\":7,\"radius_m\":10},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90,23]}}");
  assert_string_equal(fleet_zone_id(z), "7");
  fleet_zone_free(z);
  /* The Feature id wins over properties.id. */
  z = parse_ok("{\"type\":\"Feature\",\"id\":\"outer\",\"properties\":{\"id\":\"inner\","
               "\"radius_m\":10,\"name\":\"\"},"
               "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90,23]}}");
  assert_string_equal(fleet_zone_id(z), "outer");
  assert_string_equal(fleet_zone_name(z), "outer"); /* empty name: the id */
  fleet_zone_free(z);
}

static void test_bare_geometry(void **state) {
  (void)state;
  const char *g = "{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}";
  expect_reject(g, FLEET_EMISSING, "fleet_zone_parse_geometry");
  fleet_zone_t *z = NULL;
  assert_int_equal(fleet_zone_parse_geometry(&z, "sq", g, strlen(g), NULL, 0), 0);
  assert_string_equal(fleet_zone_id(z), "sq");
  assert_true(inside(z, 0.5, 0.5));
  fleet_zone_free(z);
  const char *pt = "{\"type\":\"Point\",\"coordinates\":[10,60]}";
  const char *props = "{\"radius_m\":250,\"name\":\"Gate\",\"id\":\"ignored\"}";
  assert_int_equal(fleet_zone_parse_geometry(&z, "gate", pt, strlen(pt), props, strlen(props)),
                   0);
  assert_string_equal(fleet_zone_id(z), "gate");
  assert_string_equal(fleet_zone_name(z), "Gate");
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_CIRCLE);
  fleet_zone_free(z);
  /* Its errors. */
  assert_int_equal(fleet_zone_parse_geometry(&z, "", g, strlen(g), NULL, 0), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "id: is empty");
  assert_int_equal(fleet_zone_parse_geometry(&z, NULL, g, strlen(g), NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zone_parse_geometry(NULL, "a", g, strlen(g), NULL, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zone_parse_geometry(&z, "a", pt, strlen(pt), "[1]", 3), FLEET_ETYPE);
  assert_string_equal(fleet_error_last(), "properties: must be an object or null");
  assert_int_equal(fleet_zone_parse_geometry(&z, "a", pt, strlen(pt), "{", 1), FLEET_EPARSE);
  assert_int_equal(fleet_zone_parse_geometry(&z, "a", "nope", 4, NULL, 0), FLEET_EPARSE);
  assert_int_equal(fleet_zone_parse_geometry(&z, "a", pt, strlen(pt), NULL, 0), FLEET_EMISSING);
  assert_string_equal(fleet_error_last(),
                      "properties.radius_m: missing; a Point (circle) zone needs it (metres, > 0)");
  assert_null(z);
}

static void test_holes(void **state) {
  (void)state;
  fleet_zone_t *z = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"ring\",\"geometry\":{\"type\":\"Polygon\","
      "\"coordinates\":[[[0,0],[10,0],[10,10],[0,10],[0,0]],"
      "[[4,4],[6,4],[6,6],[4,6],[4,4]]]}}");
  assert_true(inside(z, 2, 2));
  assert_false(inside(z, 5, 5)); /* in the hole */
  assert_true(inside(z, 4, 5));  /* on the hole's edge: boundary of the zone */
  assert_true(inside(z, 7, 5));
  assert_false(inside(z, 11, 5));
  fleet_zone_free(z);
}

static void test_multipolygon(void **state) {
  (void)state;
  fleet_zone_t *z = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"two\",\"geometry\":{\"type\":\"MultiPolygon\","
      "\"coordinates\":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]],"
      "[[[5,5],[8,5],[8,8],[5,8],[5,5]],[[6,6],[7,6],[7,7],[6,7],[6,6]]]]}}");
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_POLYGON);
  assert_true(inside(z, 0.5, 0.5));
  assert_true(inside(z, 5.5, 5.5));
  assert_false(inside(z, 6.5, 6.5)); /* hole of the second part */
  assert_false(inside(z, 3, 3));     /* between the parts */
  fleet_zone_free(z);
}

/* The circle is metric: at 60 N a degree of longitude is half a degree of
 * latitude, so a buffer in degrees would get east/west wrong by a factor 2. */
static void test_circle_boundary_60n(void **state) {
  (void)state;
  const double r = 1000.0, clat = 60.0, clng = 10.0;
  char json[512];
  snprintf(json, sizeof json,
           "{\"type\":\"Feature\",\"id\":\"c\",\"properties\":{\"radius_m\":%g},"
           "\"geometry\":{\"type\":\"Point\",\"coordinates\":[%g,%g]}}",
           r, clng, clat);
  fleet_zone_t *z = parse_ok(json);
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_CIRCLE);
  for (int b = 0; b < 360; b += 15) {
    double lat, lng;
    fleet_geo_destination(&lat, &lng, clat, clng, r - 1.0, b);
    if (!inside(z, lat, lng))
      fail_msg("bearing %d: r - 1 m is outside", b);
    fleet_geo_destination(&lat, &lng, clat, clng, r + 1.0, b);
    if (inside(z, lat, lng))
      fail_msg("bearing %d: r + 1 m is inside", b);
  }
  /* Due east at r - 1 m is about 2 * r / 111 km degrees of longitude away:
   * outside a degree buffer, inside the true circle. */
  double lat, lng;
  fleet_geo_destination(&lat, &lng, clat, clng, r - 1.0, 90);
  assert_true(lng - clng > 1.9 * r / FLEET_GEO_M_PER_DEG);
  assert_true(inside(z, lat, lng));
  /* The bbox is metric too. */
  double a, b2, c, d;
  fleet_zone_bbox(&a, &b2, &c, &d, z);
  assert_true(fabs((d - clng) - 2 * r / FLEET_GEO_M_PER_DEG) < 1e-4);
  assert_true(fabs((c - clat) - r / FLEET_GEO_M_PER_DEG) < 1e-6);
  fleet_zone_free(z);

  /* The same through fleet_zone_new_circle(). */
  assert_int_equal(fleet_zone_new_circle(&z, "c2", "Circle two", clat, clng, r), 0);
  assert_string_equal(fleet_zone_name(z), "Circle two");
  fleet_geo_destination(&lat, &lng, clat, clng, r - 1.0, 270);
  assert_true(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, clat, clng, r + 1.0, 270);
  assert_false(inside(z, lat, lng));
  double v;
  assert_int_equal(fleet_zone_property_number(&v, z, "radius_m"), 0);
  assert_true(v == r);
  fleet_zone_free(z);
}

static void test_corridor_boundary(void **state) {
  (void)state;
  /* A two-segment route at 60 N, 100 m wide in total: 50 m each side. */
  const double w = 100.0;
  double lat1 = 60.0, lng1 = 10.0, lat2, lng2, lat3, lng3;
  fleet_geo_destination(&lat2, &lng2, lat1, lng1, 2000.0, 70.0);
  fleet_geo_destination(&lat3, &lng3, lat2, lng2, 1500.0, 10.0);
  char json[1024];
  snprintf(json, sizeof json,
           "{\"type\":\"Feature\",\"id\":\"route\",\"properties\":{\"width_m\":%g},"
           "\"geometry\":{\"type\":\"LineString\",\"coordinates\":[[%.12f,%.12f],[%.12f,%.12f],"
           "[%.12f,%.12f]]}}",
           w, lng1, lat1, lng2, lat2, lng3, lat3);
  fleet_zone_t *z = parse_ok(json);
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_CORRIDOR);
  /* Perpendicular from the middle of the first segment. */
  double mlat, mlng, lat, lng;
  fleet_geo_destination(&mlat, &mlng, lat1, lng1, 1000.0, 70.0);
  double brg = fleet_geo_bearing_deg(mlat, mlng, lat2, lng2);
  fleet_geo_destination(&lat, &lng, mlat, mlng, w / 2 - 1.0, brg + 90);
  assert_true(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, mlat, mlng, w / 2 + 1.0, brg + 90);
  assert_false(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, mlat, mlng, w / 2 - 1.0, brg - 90);
  assert_true(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, mlat, mlng, w / 2 + 1.0, brg - 90);
  assert_false(inside(z, lat, lng));
  /* Round caps at the ends. */
  double back = fleet_geo_bearing_deg(lat1, lng1, lat2, lng2) + 180.0;
  fleet_geo_destination(&lat, &lng, lat1, lng1, w / 2 - 1.0, back);
  assert_true(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, lat1, lng1, w / 2 + 1.0, back);
  assert_false(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, lat3, lng3, w / 2 - 1.0, 10.0);
  assert_true(inside(z, lat, lng));
  fleet_geo_destination(&lat, &lng, lat3, lng3, w / 2 + 1.0, 10.0);
  assert_false(inside(z, lat, lng));
  /* Far away. */
  assert_false(inside(z, 61.0, 10.0));
  fleet_zone_free(z);
}

static void test_properties(void **state) {
  (void)state;
  fleet_zone_t *z = parse_ok(k_square);
  double v = -1;
  assert_int_equal(fleet_zone_property_number(&v, z, "speed_limit"), 0);
  assert_true(v == 30.0);
  assert_int_equal(fleet_zone_property_number(&v, z, "max_dwell"), 0);
  assert_true(v == 12.5);
  assert_int_equal(fleet_zone_property_number(&v, z, "owner"), FLEET_ETYPE);
  assert_string_equal(fleet_error_last(), "properties.owner: not a number in zone \"depot\"");
  assert_int_equal(fleet_zone_property_number(&v, z, "nope"), FLEET_ENOTFOUND);
  assert_string_equal(fleet_error_last(), "properties.nope: no such property in zone \"depot\"");
  assert_int_equal(fleet_zone_property_number(&v, z, "none"), FLEET_ENOTFOUND);
  assert_true(v == 12.5);
  assert_int_equal(fleet_zone_property_number(NULL, z, "x"), FLEET_EINVAL);
  assert_int_equal(fleet_zone_property_number(&v, NULL, "x"), FLEET_EINVAL);
  assert_int_equal(fleet_zone_property_number(&v, z, NULL), FLEET_EINVAL);
  const char *s = NULL;
  assert_int_equal(fleet_zone_property_string(&s, z, "owner"), 0);
  assert_string_equal(s, "ops");
  assert_int_equal(fleet_zone_property_string(&s, z, "speed_limit"), FLEET_ETYPE);
  assert_int_equal(fleet_zone_property_string(&s, z, "nope"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_zone_property_string(NULL, z, "owner"), FLEET_EINVAL);
  int bv = -1;
  assert_int_equal(fleet_zone_property_bool(&bv, z, "hazmat"), 0);
  assert_int_equal(bv, 0);
  assert_int_equal(fleet_zone_property_bool(&bv, z, "owner"), FLEET_ETYPE);
  assert_int_equal(fleet_zone_property_bool(&bv, z, "nope"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_zone_property_bool(NULL, z, "hazmat"), FLEET_EINVAL);

  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_zone_properties_json(&b, z), 0);
  assert_string_equal(b.ptr, "{\"name\":\"Main depot\",\"speed_limit\":30,\"max_dwell\":12.5,"
                             "\"hazmat\":false,\"owner\":\"ops\",\"none\":null}");
  assert_int_equal(fleet_zone_properties_json(NULL, z), FLEET_EINVAL);
  assert_int_equal(fleet_zone_properties_json(&b, NULL), FLEET_EINVAL);
  fleet_buf_dispose(&b);
  fleet_zone_free(z);
}

static void test_encode_roundtrip(void **state) {
  (void)state;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_zone_t *z = parse_ok(k_square);
  assert_int_equal(fleet_zone_encode_geojson(&b, z), 0);
  assert_string_equal(
      b.ptr, "{\"type\":\"Feature\",\"id\":\"depot\",\"properties\":{\"name\":\"Main depot\","
             "\"speed_limit\":30,\"max_dwell\":12.5,\"hazmat\":false,\"owner\":\"ops\","
             "\"none\":null},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[90,23],"
             "[90.1,23],[90.1,23.1],[90,23.1],[90,23]]]}}");
  fleet_zone_t *z2 = parse_ok(b.ptr);
  assert_string_equal(fleet_zone_id(z2), "depot");
  assert_string_equal(fleet_zone_name(z2), "Main depot");
  assert_true(inside(z2, 23.05, 90.05));
  fleet_zone_free(z2);
  fleet_zone_free(z);

  /* An integer id stays an integer; strings are escaped. */
  fleet_buf_clear(&b);
  z = parse_ok("{\"type\":\"Feature\",\"id\":17,\"properties\":{\"width_m\":30,"
               "\"note\":\"a \\\"quoted\\\"\\nline\\u0001\"},\"geometry\":{\"type\":"
               "\"LineString\",\"coordinates\":[[1,2,100],[1.5,2.5]]}}");
  assert_int_equal(fleet_zone_encode_geojson(&b, z), 0);
  assert_string_equal(b.ptr, "{\"type\":\"Feature\",\"id\":17,\"properties\":{\"width_m\":30,"
                             "\"note\":\"a \\\"quoted\\\"\\nline\\u0001\"},\"geometry\":{"
                             "\"type\":\"LineString\",\"coordinates\":[[1,2,100],[1.5,2.5]]}}");
  z2 = parse_ok(b.ptr);
  assert_string_equal(fleet_zone_id(z2), "17");
  assert_int_equal(fleet_zone_kind(z2), FLEET_ZONE_CORRIDOR);
  fleet_zone_free(z2);
  fleet_zone_free(z);

  /* A circle made in code. */
  fleet_buf_clear(&b);
  assert_int_equal(fleet_zone_new_circle(&z, "gate", NULL, 23.81, 90.41, 150.5), 0);
  assert_string_equal(fleet_zone_name(z), "gate");
  assert_int_equal(fleet_zone_encode_geojson(&b, z), 0);
  assert_string_equal(b.ptr, "{\"type\":\"Feature\",\"id\":\"gate\",\"properties\":{"
                             "\"radius_m\":150.5},\"geometry\":{\"type\":\"Point\","
                             "\"coordinates\":[90.41,23.81]}}");
  z2 = parse_ok(b.ptr);
  assert_int_equal(fleet_zone_kind(z2), FLEET_ZONE_CIRCLE);
  fleet_zone_free(z2);
  assert_int_equal(fleet_zone_encode_geojson(NULL, z), FLEET_EINVAL);
  assert_int_equal(fleet_zone_encode_geojson(&b, NULL), FLEET_EINVAL);
  fleet_zone_free(z);
  fleet_buf_dispose(&b);
}

static void test_refcount(void **state) {
  (void)state;
  fleet_zone_t *z = parse_ok(k_square);
  fleet_zone_t *r = fleet_zone_ref(z);
  assert_ptr_equal(r, z);
  fleet_zone_free(z);
  assert_string_equal(fleet_zone_id(r), "depot"); /* still alive */
  fleet_zone_free(r);
}

/* ------------------------------------------------------------------------ */
/* Rejections                                                               */
/* ------------------------------------------------------------------------ */

#define FEAT(props, geom)                                                                   \
  "{\"type\":\"Feature\",\"id\":\"z\",\"properties\":" props ",\"geometry\":" geom "}"
#define POLY(coords) "{\"type\":\"Polygon\",\"coordinates\":" coords "}"
#define SQ "[[[0,0],[1,0],[1,1],[0,1],[0,0]]]"

static void test_rejections(void **state) {
  (void)state;
  static const struct {
    const char *json;
    int code;
    const char *msg;
  } cases[] = {
      {"{", FLEET_EPARSE, "GeoJSON: line 1"},
      {"[1]", FLEET_ETYPE, "a Feature must be a JSON object"},
      {"{\"id\":\"a\"}", FLEET_EMISSING, "type: missing"},
      {"{\"type\":5}", FLEET_ETYPE, "type: must be a string"},
      {"{\"type\":\"Foo\"}", FLEET_ETYPE, "type: expected \"Feature\""},
      {"{\"type\":\"FeatureCollection\",\"features\":[]}", FLEET_ETYPE,
       "fleet_zoneset_load_geojson()"},
      {"{\"type\":\"Feature\",\"id\":\"a\",\"id\":\"b\"}", FLEET_EPARSE, "duplicate"},
      {"{\"type\":\"Feature\",\"geometry\":" POLY(SQ) "}", FLEET_EMISSING,
       "id: missing; give the Feature an \"id\" member or an \"id\" property"},
      {"{\"type\":\"Feature\",\"id\":true,\"geometry\":" POLY(SQ) "}", FLEET_ETYPE,
       "id: must be a string or an integer"},
      {"{\"type\":\"Feature\",\"id\":1.5,\"geometry\":" POLY(SQ) "}", FLEET_ETYPE,
       "id: 1.5 is not an integer"},
      {"{\"type\":\"Feature\",\"id\":\"\",\"geometry\":" POLY(SQ) "}", FLEET_ERANGE,
       "id: is empty"},
      {"{\"type\":\"Feature\",\"id\":\"a\\tb\",\"geometry\":" POLY(SQ) "}", FLEET_ERANGE,
       "id: contains a control character"},
      {"{\"type\":\"Feature\",\"properties\":{\"id\":[1]},\"geometry\":" POLY(SQ) "}",
       FLEET_ETYPE, "properties.id: must be a string or an integer"},
      {"{\"type\":\"Feature\",\"id\":\"z\",\"properties\":[1],\"geometry\":" POLY(SQ) "}",
       FLEET_ETYPE, "properties: must be an object or null"},
      {FEAT("{\"name\":3}", POLY(SQ)), FLEET_ETYPE, "properties.name: must be a string"},
      {"{\"type\":\"Feature\",\"id\":\"z\"}", FLEET_EMISSING, "geometry: missing"},
      {"{\"type\":\"Feature\",\"id\":\"z\",\"geometry\":null}", FLEET_EMISSING,
       "geometry: missing"},
      {FEAT("{}", "[1]"), FLEET_ETYPE, "geometry: must be an object"},
      {FEAT("{}", "{\"coordinates\":[]}"), FLEET_EMISSING, "geometry.type: missing"},
      {FEAT("{}", "{\"type\":1}"), FLEET_ETYPE, "geometry.type: must be a string"},
      {FEAT("{}", "{\"type\":\"MultiLineString\",\"coordinates\":[]}"), FLEET_EGEOMETRY,
       "geometry.type: \"MultiLineString\" is not supported as a zone; use Polygon"},
      {FEAT("{}", "{\"type\":\"GeometryCollection\",\"geometries\":[]}"), FLEET_EGEOMETRY,
       "\"GeometryCollection\" is not supported"},
      {FEAT("{}", "{\"type\":\"Polygon\"}"), FLEET_EMISSING, "geometry.coordinates: missing"},
      {FEAT("{}", POLY("[]")), FLEET_EGEOMETRY,
       "geometry.coordinates: a polygon needs at least one ring"},
      {FEAT("{}", POLY("{}")), FLEET_ETYPE,
       "geometry.coordinates: a polygon must be an array of rings"},
      {FEAT("{}", POLY("[5]")), FLEET_ETYPE,
       "geometry.coordinates[0]: a ring must be an array of positions"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[0,0]]]")), FLEET_EGEOMETRY,
       "geometry.coordinates[0]: a ring needs at least 4 positions (first = last), got 3"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1,1],[0,1]]]")), FLEET_EGEOMETRY,
       "geometry.coordinates[0]: the ring is not closed: its first position [0, 0] differs "
       "from its last [0, 1]"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1,\"x\"],[0,1],[0,0]]]")), FLEET_ETYPE,
       "geometry.coordinates[0][2]: a position must be an array of 2 or 3 numbers"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1],[0,1],[0,0]]]")), FLEET_ETYPE,
       "geometry.coordinates[0][2]: a position must be an array of 2 or 3 numbers"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1,91.5],[0,1],[0,0]]]")), FLEET_ERANGE,
       "geometry.coordinates[0][2]: latitude 91.5 is outside [-90, 90]"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[180.5,1],[0,1],[0,0]]]")), FLEET_ERANGE,
       "geometry.coordinates[0][2]: longitude 180.5 is outside [-180, 180]"},
      /* JSON has no NaN or Infinity; an overflowing literal is a parse error. */
      {FEAT("{}", POLY("[[[0,0],[1,0],[1e999,1],[0,1],[0,0]]]")), FLEET_EPARSE,
       "overflow"},
      {FEAT("{}", POLY("[[[0,0],[2,2],[2,0],[0,2],[0,0]]]")), FLEET_EGEOMETRY,
       "geometry: invalid Polygon: Self-intersection[1 1]"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[5,5],[6,5],[6,6],[5,6],[5,5]]]")),
       FLEET_EGEOMETRY, "geometry: invalid Polygon: Hole lies outside shell"},
      {FEAT("{}", POLY("[[[0,0],[1,0],[1,1],[0,1],[0,0]]," "[[0,0],[1,0],[0,0],[0,0]]]")),
       FLEET_EGEOMETRY, "geometry: invalid Polygon:"},
      {FEAT("{}", POLY("[[[179,0],[-179,0],[-179,1],[179,1],[179,0]]]")), FLEET_EGEOMETRY,
       "geometry.coordinates[0][1]: the edge from [179, 0] to [-179, 0] spans more than 180 "
       "degrees of longitude: the polygon crosses the antimeridian; split it at +-180 into a "
       "MultiPolygon"},
      {FEAT("{}", "{\"type\":\"MultiPolygon\",\"coordinates\":[]}"), FLEET_EGEOMETRY,
       "a MultiPolygon needs at least one polygon"},
      {FEAT("{}", "{\"type\":\"MultiPolygon\",\"coordinates\":3}"), FLEET_ETYPE,
       "a MultiPolygon must be an array of polygons"},
      {FEAT("{}", "{\"type\":\"MultiPolygon\",\"coordinates\":[" SQ ",[[[0,0],[1,0]]]]}"),
       FLEET_EGEOMETRY, "geometry.coordinates[1][0]: a ring needs at least 4 positions"},
      {FEAT("{}", "{\"type\":\"MultiPolygon\",\"coordinates\":[" SQ "," SQ "]}"),
       FLEET_EGEOMETRY, "geometry: invalid MultiPolygon:"},
      /* circles */
      {FEAT("{}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"), FLEET_EMISSING,
       "properties.radius_m: missing; a Point (circle) zone needs it (metres, > 0)"},
      {FEAT("{\"radius_m\":null}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"),
       FLEET_EMISSING, "properties.radius_m: missing"},
      {FEAT("{\"radius_m\":\"5\"}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"),
       FLEET_ETYPE, "properties.radius_m: must be a number of metres"},
      {FEAT("{\"radius_m\":0}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"), FLEET_ERANGE,
       "properties.radius_m: 0 must be > 0"},
      {FEAT("{\"radius_m\":-5}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"), FLEET_ERANGE,
       "properties.radius_m: -5 must be > 0"},
      {FEAT("{\"radius_m\":5000001}", "{\"type\":\"Point\",\"coordinates\":[10,60]}"),
       FLEET_ERANGE, "properties.radius_m: 5000001 is over the maximum of 5000000"},
      {FEAT("{\"radius_m\":5}", "{\"type\":\"Point\",\"coordinates\":[10]}"), FLEET_ETYPE,
       "geometry.coordinates: a position must be an array of 2 or 3 numbers"},
      {FEAT("{\"radius_m\":5}", "{\"type\":\"Point\",\"coordinates\":[10,-90.5]}"),
       FLEET_ERANGE, "geometry.coordinates: latitude -90.5 is outside [-90, 90]"},
      /* corridors */
      {FEAT("{}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}"), FLEET_EMISSING,
       "properties.width_m: missing; a LineString (corridor) zone needs it"},
      {FEAT("{\"width_m\":0}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}"),
       FLEET_ERANGE, "properties.width_m: 0 must be > 0"},
      {FEAT("{\"width_m\":100001}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[1,1]]}"),
       FLEET_ERANGE, "properties.width_m: 100001 is over the maximum of 100000"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":[[0,0]]}"),
       FLEET_EGEOMETRY, "a LineString needs at least 2 positions, got 1"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":{}}"), FLEET_ETYPE,
       "a LineString must be an array of positions"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[0,\"a\"]]}"),
       FLEET_ETYPE, "geometry.coordinates[1]: a position must be an array"},
      {FEAT("{\"width_m\":10}",
            "{\"type\":\"LineString\",\"coordinates\":[[179.5,0],[-179.5,0]]}"),
       FLEET_EGEOMETRY,
       "geometry.coordinates[1]: the segment from longitude 179.5 to -179.5 spans 180 degrees "
       "or more"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[180,0]]}"),
       FLEET_EGEOMETRY, "spans 180 degrees or more"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":[[0,80],[0,85]]}"),
       FLEET_ERANGE, "geometry: the corridor reaches latitude 85.0000449"},
      {FEAT("{\"width_m\":10}", "{\"type\":\"LineString\",\"coordinates\":[[0,-86],[1,0]]}"),
       FLEET_ERANGE, "must stay within +-85 degrees"},
  };
  for (size_t i = 0; i < FLEET_ARRAY_LEN(cases); i++)
    expect_reject(cases[i].json, cases[i].code, cases[i].msg);
  assert_int_equal(fleet_zone_parse(NULL, "{}", 2), FLEET_EINVAL);
  fleet_zone_t *z;
  assert_int_equal(fleet_zone_parse(&z, NULL, 2), FLEET_EINVAL);
}

static void test_rejections_ids_and_limits(void **state) {
  (void)state;
  char json[1024];
  char id[FLEET_ZONE_ID_MAX + 2];
  memset(id, 'a', sizeof id - 1);
  id[sizeof id - 1] = '\0';
  snprintf(json, sizeof json, FEAT("{}", POLY(SQ)));
  /* 129-byte id */
  snprintf(json, sizeof json, "{\"type\":\"Feature\",\"id\":\"%s\",\"geometry\":" POLY(SQ) "}",
           id);
  expect_reject(json, FLEET_ETOOBIG, "id: longer than 128 bytes");
  id[FLEET_ZONE_ID_MAX] = '\0'; /* 128 is fine */
  snprintf(json, sizeof json, "{\"type\":\"Feature\",\"id\":\"%s\",\"geometry\":" POLY(SQ) "}",
           id);
  fleet_zone_free(parse_ok(json));

  char name[FLEET_ZONE_NAME_MAX + 2];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(json, sizeof json,
           "{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"name\":\"%s\"},\"geometry\":"
           POLY(SQ) "}",
           name);
  expect_reject(json, FLEET_ETOOBIG, "properties.name: longer than 256 bytes");

  /* Position and size limits (lowered for the test). */
  size_t saved = fleet_zone__max_points;
  fleet_zone__max_points = 8;
  static const char *const too_many[] = {
      FEAT("{}", "{\"type\":\"MultiPolygon\",\"coordinates\":[" SQ "," SQ "]}"),
      FEAT("{\"width_m\":1}", "{\"type\":\"LineString\",\"coordinates\":[[0,0],[0,1],"
                              "[0,2],[0,3],[0,4],[0,5],[0,6],[0,7],[0,8]]}"),
  };
  int too_many_rc[2];
  char too_many_msg[2][FLEET_ERROR_MAX];
  for (int i = 0; i < 2; i++) {
    fleet_zone_t *t = NULL;
    too_many_rc[i] = fleet_zone_parse(&t, too_many[i], strlen(too_many[i]));
    snprintf(too_many_msg[i], sizeof too_many_msg[i], "%s", fleet_error_last());
    fleet_zone_free(t);
  }
  fleet_zone__max_points = saved;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(too_many_rc[i], FLEET_ETOOBIG);
    assert_string_equal(too_many_msg[i], "geometry: more than 8 positions");
  }
  saved = fleet_zone__max_bytes;
  fleet_zone__max_bytes = 64;
  fleet_zone_t *big = (fleet_zone_t *)1;
  int big_rc = fleet_zone_parse(&big, k_square, strlen(k_square));
  fleet_zone__max_bytes = saved;
  assert_int_equal(big_rc, FLEET_ETOOBIG);
  assert_null(big);
  snprintf(json, sizeof json, "GeoJSON: %zu bytes is over the limit of 64", strlen(k_square));
  assert_string_equal(fleet_error_last(), json);

  /* fleet_zone_new_circle() */
  fleet_zone_t *z = (fleet_zone_t *)1;
  assert_int_equal(fleet_zone_new_circle(&z, "c", NULL, NAN, 0, 10), FLEET_ERANGE);
  assert_null(z);
  assert_string_equal(fleet_error_last(), "lat: NaN is outside [-90, 90]");
  assert_int_equal(fleet_zone_new_circle(&z, "c", NULL, 0, INFINITY, 10), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "lng: Infinity is outside [-180, 180]");
  assert_int_equal(fleet_zone_new_circle(&z, "c", NULL, 0, 0, 0), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "radius_m: 0 must be > 0 and <= 5000000");
  assert_int_equal(fleet_zone_new_circle(&z, "c", NULL, 0, 0, NAN), FLEET_ERANGE);
  assert_int_equal(fleet_zone_new_circle(&z, "c", NULL, 0, 0, 6e6), FLEET_ERANGE);
  assert_int_equal(fleet_zone_new_circle(&z, NULL, NULL, 0, 0, 5), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "id: NULL");
  assert_int_equal(fleet_zone_new_circle(&z, "a\nb", NULL, 0, 0, 5), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "id: contains a control character");
  assert_int_equal(fleet_zone_new_circle(&z, "\xff", NULL, 0, 0, 5), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "id: is not valid UTF-8");
  assert_int_equal(fleet_zone_new_circle(&z, id, NULL, 0, 0, 5), 0); /* 128 bytes */
  fleet_zone_free(z);
  id[FLEET_ZONE_ID_MAX] = 'a';
  assert_int_equal(fleet_zone_new_circle(&z, id, NULL, 0, 0, 5), FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "id: is longer than 128 bytes");
  assert_int_equal(fleet_zone_new_circle(&z, "c", name, 0, 0, 5), FLEET_EINVAL);
  assert_int_equal(fleet_zone_new_circle(&z, "c", "\xc3", 0, 0, 5), FLEET_EINVAL);
  assert_int_equal(fleet_zone_new_circle(NULL, "c", NULL, 0, 0, 5), FLEET_EINVAL);

  /* fleet_zone_contains() arguments */
  z = parse_ok(k_square);
  int in;
  assert_int_equal(fleet_zone_contains(&in, z, 90.5, 0), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "lat: 90.5 is outside [-90, 90]");
  assert_int_equal(fleet_zone_contains(&in, z, 0, -180.25), FLEET_ERANGE);
  assert_int_equal(fleet_zone_contains(&in, z, NAN, 0), FLEET_ERANGE);
  assert_int_equal(fleet_zone_contains(NULL, z, 0, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zone_contains(&in, NULL, 0, 0), FLEET_EINVAL);
  fleet_zone_free(z);
}

/* ------------------------------------------------------------------------ */
/* Antimeridian and poles                                                   */
/* ------------------------------------------------------------------------ */

static void test_antimeridian(void **state) {
  (void)state;
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  uint32_t keys[8];
  /* A circle straddling the antimeridian. */
  fleet_zone_t *c;
  assert_int_equal(fleet_zone_new_circle(&c, "fiji", NULL, -17.0, 179.99, 5000.0), 0);
  double a, b, cc, d;
  fleet_zone_bbox(&a, &b, &cc, &d, c);
  assert_true(b > d); /* min_lng > max_lng: crosses */
  assert_true(b < 179.99 && d > -180.0 && d < -179.9);
  assert_true(inside(c, -17.0, -179.99)); /* 2.1 km away across the line */
  assert_true(inside(c, -17.0, 180.0));
  assert_true(inside(c, -17.0, -180.0));
  assert_false(inside(c, -17.0, -179.9));
  uint32_t kc;
  assert_int_equal(fleet_zoneset_add(&kc, set, c), 0);
  assert_int_equal(lookup(keys, 8, set, -17.0, -179.99), 1);
  assert_int_equal(keys[0], kc);
  assert_int_equal(lookup(keys, 8, set, -17.0, 180.0), 1);
  assert_int_equal(lookup(keys, 8, set, -17.0, -180.0), 1);
  assert_int_equal(lookup(keys, 8, set, -17.0, 179.95), 1);
  assert_int_equal(lookup(keys, 8, set, -17.0, -179.9), 0);

  /* A polygon split at the antimeridian as RFC 7946 asks. */
  fleet_zone_t *p = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"split\",\"geometry\":{\"type\":\"MultiPolygon\","
      "\"coordinates\":[[[[179,10],[180,10],[180,11],[179,11],[179,10]]],"
      "[[[-180,10],[-179,10],[-179,11],[-180,11],[-180,10]]]]}}");
  uint32_t kp;
  assert_int_equal(fleet_zoneset_add(&kp, set, p), 0);
  assert_true(inside(p, 10.5, 179.5));
  assert_true(inside(p, 10.5, -179.5));
  assert_true(inside(p, 10.5, 180.0));
  assert_true(inside(p, 10.5, -180.0));
  assert_false(inside(p, 10.5, 178.5));
  assert_int_equal(lookup(keys, 8, set, 10.5, 179.5), 1);
  assert_int_equal(lookup(keys, 8, set, 10.5, -179.5), 1);
  assert_int_equal(lookup(keys, 8, set, 10.5, 180.0), 1);
  assert_int_equal(keys[0], kp);
  assert_int_equal(lookup(keys, 8, set, 10.5, -180.0), 1);
  assert_int_equal(lookup(keys, 8, set, 10.5, 178.5), 0);

  /* A polygon that only touches +180: a fix reported at -180 is inside. */
  fleet_zone_t *e = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"east\",\"geometry\":{\"type\":\"Polygon\","
      "\"coordinates\":[[[179,20],[180,20],[180,21],[179,21],[179,20]]]}}");
  uint32_t ke;
  assert_int_equal(fleet_zoneset_add(&ke, set, e), 0);
  assert_true(inside(e, 20.5, -180.0));
  assert_int_equal(lookup(keys, 8, set, 20.5, -180.0), 1);
  assert_int_equal(keys[0], ke);
  assert_int_equal(lookup(keys, 8, set, 20.5, 180.0), 1);

  /* A corridor whose width reaches across the antimeridian. */
  fleet_zone_t *r = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"route\",\"properties\":{\"width_m\":2000},\"geometry\":"
      "{\"type\":\"LineString\",\"coordinates\":[[179.995,30],[179.995,31]]}}");
  uint32_t kr;
  assert_int_equal(fleet_zoneset_add(&kr, set, r), 0);
  fleet_zone_bbox(&a, &b, &cc, &d, r);
  assert_true(b > d);
  /* 0.005 deg at 30.5 N is about 479 m east: inside a 1 km half-width. */
  assert_true(inside(r, 30.5, 180.0));
  assert_true(inside(r, 30.5, -179.995));
  assert_false(inside(r, 30.5, -179.98));
  assert_int_equal(lookup(keys, 8, set, 30.5, -179.995), 1);
  assert_int_equal(keys[0], kr);
  assert_int_equal(lookup(keys, 8, set, 30.5, -179.98), 0);

  fleet_zone_free(c);
  fleet_zone_free(p);
  fleet_zone_free(e);
  fleet_zone_free(r);
  fleet_zoneset_free(set);
}

static void test_poles(void **state) {
  (void)state;
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  uint32_t keys[8];
  /* A circle 1.1 km from the north pole with a 5 km radius covers it. */
  fleet_zone_t *c;
  assert_int_equal(fleet_zone_new_circle(&c, "pole", NULL, 89.99, 0.0, 5000.0), 0);
  double a, b, cc, d;
  fleet_zone_bbox(&a, &b, &cc, &d, c);
  assert_true(b == -180.0 && d == 180.0 && cc == 90.0);
  assert_true(inside(c, 90.0, 0.0));
  assert_true(inside(c, 90.0, 137.0));
  assert_true(inside(c, 89.99, 180.0)); /* 2.2 km over the pole */
  assert_true(inside(c, 89.98, 90.0));
  assert_false(inside(c, 89.9, 180.0)); /* 12.2 km */
  uint32_t kc;
  assert_int_equal(fleet_zoneset_add(&kc, set, c), 0);
  assert_int_equal(lookup(keys, 8, set, 90.0, -45.0), 1);
  assert_int_equal(lookup(keys, 8, set, 89.99, 180.0), 1);
  assert_int_equal(lookup(keys, 8, set, 89.99, -180.0), 1);
  assert_int_equal(lookup(keys, 8, set, 89.9, 180.0), 0);

  /* A circle near but not over the pole. */
  fleet_zone_t *n;
  assert_int_equal(fleet_zone_new_circle(&n, "near", NULL, 89.0, 45.0, 20000.0), 0);
  assert_false(inside(n, 90.0, 45.0));
  assert_true(inside(n, 89.0, 45.0 + 5.0)); /* 5 deg of lng at 89 N is ~9.7 km */
  uint32_t kn;
  assert_int_equal(fleet_zoneset_add(&kn, set, n), 0);
  assert_int_equal(lookup(keys, 8, set, 89.0, 50.0), 1);
  assert_int_equal(keys[0], kn);
  assert_int_equal(lookup(keys, 8, set, 90.0, 45.0), 1); /* only "pole" */
  assert_int_equal(keys[0], kc);

  /* A polygon reaching the north pole's latitude contains the pole at every
   * longitude; one reaching the south pole likewise. */
  fleet_zone_t *p = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"cap\",\"geometry\":{\"type\":\"Polygon\","
      "\"coordinates\":[[[0,80],[10,80],[10,90],[0,90],[0,80]]]}}");
  fleet_zone_t *s = parse_ok(
      "{\"type\":\"Feature\",\"id\":\"south\",\"geometry\":{\"type\":\"Polygon\","
      "\"coordinates\":[[[-10,-90],[10,-90],[0,-80],[-10,-90]]]}}");
  assert_true(inside(p, 90.0, 100.0));
  assert_true(inside(p, 85.0, 5.0));
  assert_false(inside(p, 85.0, 100.0));
  assert_true(inside(s, -90.0, 170.0));
  assert_false(inside(s, 90.0, 0.0));
  uint32_t kp, ks;
  assert_int_equal(fleet_zoneset_add(&kp, set, p), 0);
  assert_int_equal(fleet_zoneset_add(&ks, set, s), 0);
  assert_int_equal(lookup(keys, 8, set, 90.0, 100.0), 2);
  assert_int_equal(keys[0], kc);
  assert_int_equal(keys[1], kp);
  assert_int_equal(lookup(keys, 8, set, -90.0, 100.0), 1);
  assert_int_equal(keys[0], ks);
  assert_int_equal(lookup(keys, 8, set, 85.0, 100.0), 0);

  fleet_zone_free(c);
  fleet_zone_free(n);
  fleet_zone_free(p);
  fleet_zone_free(s);
  fleet_zoneset_free(set);
}

/* ------------------------------------------------------------------------ */
/* Zone sets                                                                */
/* ------------------------------------------------------------------------ */

static void test_zoneset_keys(void **state) {
  (void)state;
  char buf[1024];
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  assert_int_equal(fleet_zoneset_generation(set), 0);
  assert_int_equal(fleet_zoneset_count(set), 0);

  fleet_zone_t *a = parse_ok(square_feature(buf, sizeof buf, "a", 10, 10, 1, "\"v\":1"));
  fleet_zone_t *b = parse_ok(square_feature(buf, sizeof buf, "b", 10, 10, 0.5, "\"v\":1"));
  fleet_zone_t *a2 = parse_ok(square_feature(buf, sizeof buf, "a", 20, 20, 1, "\"v\":2"));
  uint32_t ka = 0, kb = 0, k = 0;
  assert_int_equal(fleet_zoneset_add(&ka, set, a), 0);
  assert_int_equal(fleet_zoneset_add(&kb, set, b), 0);
  assert_int_equal(ka, 1);
  assert_int_equal(kb, 2);
  assert_int_equal(fleet_zoneset_generation(set), 2);
  assert_int_equal(fleet_zoneset_count(set), 2);

  uint32_t keys[4];
  assert_int_equal(lookup(keys, 4, set, 10.2, 10.2), 2);
  assert_int_equal(keys[0], ka);
  assert_int_equal(keys[1], kb);

  /* Adding an id twice fails and changes nothing. */
  assert_int_equal(fleet_zoneset_add(&k, set, a2), FLEET_EEXISTS);
  assert_string_equal(fleet_error_last(), "zone \"a\": already in the set");
  assert_int_equal(fleet_zoneset_generation(set), 2);

  /* Replace keeps the key and swaps the geometry. */
  assert_int_equal(fleet_zoneset_replace(&k, set, a2), 0);
  assert_int_equal(k, ka);
  assert_int_equal(fleet_zoneset_generation(set), 3);
  assert_int_equal(lookup(keys, 4, set, 10.2, 10.2), 1);
  assert_int_equal(keys[0], kb);
  assert_int_equal(lookup(keys, 4, set, 20.2, 20.2), 1);
  assert_int_equal(keys[0], ka);

  /* Remove, then add the same id: same key. */
  assert_int_equal(fleet_zoneset_remove(set, "a"), 0);
  assert_int_equal(fleet_zoneset_count(set), 1);
  assert_int_equal(lookup(keys, 4, set, 20.2, 20.2), 0);
  fleet_zone_t *got = (fleet_zone_t *)1;
  assert_int_equal(fleet_zoneset_get(&got, set, ka), FLEET_ENOTFOUND);
  assert_null(got);
  assert_int_equal(fleet_zoneset_remove(set, "a"), FLEET_ENOTFOUND);
  assert_string_equal(fleet_error_last(), "zone \"a\": not in the set");
  assert_int_equal(fleet_zoneset_replace(&k, set, a), FLEET_ENOTFOUND);
  assert_int_equal(fleet_zoneset_put(&k, set, a), 0);
  assert_int_equal(k, ka);
  /* put over an existing id replaces. */
  assert_int_equal(fleet_zoneset_put(&k, set, a2), 0);
  assert_int_equal(k, ka);
  assert_int_equal(lookup(keys, 4, set, 20.2, 20.2), 1);

  /* Interning ahead of time; unknown ids never seen fail to replace. */
  assert_int_equal(fleet_zoneset_key(&k, set, "c"), 0);
  assert_int_equal(k, 3);
  assert_int_equal(fleet_zoneset_key(&k, set, "a"), 0);
  assert_int_equal(k, ka);
  fleet_zone_t *c = parse_ok(square_feature(buf, sizeof buf, "c", 10, 10, 2, ""));
  uint32_t kc;
  assert_int_equal(fleet_zoneset_add(&kc, set, c), 0);
  assert_int_equal(kc, 3);
  assert_int_equal(fleet_zoneset_add(NULL, set, b), FLEET_EEXISTS);
  fleet_zone_t *d = parse_ok(square_feature(buf, sizeof buf, "d", 10, 10, 2, ""));
  assert_int_equal(fleet_zoneset_replace(&k, set, d), FLEET_ENOTFOUND);
  assert_string_equal(fleet_error_last(), "zone \"d\": not in the set");
  assert_int_equal(fleet_zoneset_key(&k, set, ""), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_key(&k, set, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_key(NULL, set, "x"), FLEET_EINVAL);

  /* get / get_by_id give new references. */
  assert_int_equal(fleet_zoneset_get(&got, set, kb), 0);
  assert_string_equal(fleet_zone_id(got), "b");
  fleet_zone_free(got);
  assert_int_equal(fleet_zoneset_get_by_id(&got, set, "c"), 0);
  assert_ptr_equal(got, c);
  fleet_zone_free(got);
  assert_int_equal(fleet_zoneset_get_by_id(&got, set, "zz"), FLEET_ENOTFOUND);
  assert_int_equal(fleet_zoneset_get(&got, set, 999), FLEET_ENOTFOUND);
  assert_string_equal(fleet_error_last(), "zone key 999: no such zone in the set");
  assert_int_equal(fleet_zoneset_get(NULL, set, 1), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_get_by_id(&got, set, NULL), FLEET_EINVAL);

  /* The set holds its own references. */
  fleet_zone_free(a);
  fleet_zone_free(a2);
  fleet_zone_free(b);
  fleet_zone_free(c);
  fleet_zone_free(d);
  assert_int_equal(lookup(keys, 4, set, 10.2, 10.2), 2);
  assert_int_equal(keys[0], kb);
  assert_int_equal(keys[1], kc);

  /* Clear keeps keys reserved; clearing an empty set is a no-op. */
  uint64_t g = fleet_zoneset_generation(set);
  assert_int_equal(fleet_zoneset_clear(set), 0);
  assert_int_equal(fleet_zoneset_generation(set), g + 1);
  assert_int_equal(fleet_zoneset_count(set), 0);
  assert_int_equal(fleet_zoneset_clear(set), 0);
  assert_int_equal(fleet_zoneset_generation(set), g + 1);
  assert_int_equal(lookup(keys, 4, set, 10.2, 10.2), 0);
  assert_int_equal(fleet_zoneset_key(&k, set, "b"), 0);
  assert_int_equal(k, kb);

  /* NULL arguments. */
  assert_int_equal(fleet_zoneset_new(NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_add(NULL, NULL, b), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_add(NULL, set, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_remove(set, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_remove(NULL, "a"), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_clear(NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_generation(NULL), 0);
  assert_int_equal(fleet_zoneset_count(NULL), 0);
  fleet_zoneset_free(set);
  fleet_zoneset_free(NULL);
}

static void test_lookup_capacity_and_args(void **state) {
  (void)state;
  char buf[1024];
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  /* Five nested squares around (0, 0), added in reverse so keys are 1..5
   * for ids s5..s1. */
  for (int i = 5; i >= 1; i--) {
    char id[8];
    snprintf(id, sizeof id, "s%d", i);
    fleet_zone_t *z = parse_ok(square_feature(buf, sizeof buf, id, 0, 0, 0.1 * i, ""));
    assert_int_equal(fleet_zoneset_add(NULL, set, z), 0);
    fleet_zone_free(z);
  }
  uint32_t keys[8] = {0};
  size_t n = 0;
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, set, 0, 0), 0);
  assert_int_equal(n, 5);
  for (uint32_t i = 0; i < 5; i++)
    assert_int_equal(keys[i], i + 1);
  /* Too small: the smallest keys, the full count, FLEET_ETOOBIG. */
  memset(keys, 0, sizeof keys);
  assert_int_equal(fleet_zoneset_lookup(keys, 2, &n, set, 0, 0), FLEET_ETOOBIG);
  assert_int_equal(n, 5);
  assert_int_equal(keys[0], 1);
  assert_int_equal(keys[1], 2);
  assert_int_equal(keys[2], 0); /* untouched */
  assert_string_equal(fleet_error_last(),
                      "zone lookup: 5 zones contain the point but the array holds 2");
  assert_int_equal(fleet_zoneset_lookup(NULL, 0, &n, set, 0, 0), FLEET_ETOOBIG);
  assert_int_equal(n, 5);
  /* Only the two largest squares contain (0.35, 0.35): keys 1 and 2. */
  assert_int_equal(fleet_zoneset_lookup(keys, 2, &n, set, 0.35, 0.35), 0);
  assert_int_equal(n, 2);
  assert_int_equal(fleet_zoneset_lookup(NULL, 0, &n, set, 3, 3), 0);
  assert_int_equal(n, 0);
  /* Arguments. */
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, set, 91, 0), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "lat: 91 is outside [-90, 90]");
  assert_int_equal(n, 0);
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, set, 0, 181), FLEET_ERANGE);
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, set, NAN, 0), FLEET_ERANGE);
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, set, 0, -INFINITY), FLEET_ERANGE);
  assert_int_equal(fleet_zoneset_lookup(keys, 8, NULL, set, 0, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_lookup(NULL, 8, &n, set, 0, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_lookup(keys, 8, &n, NULL, 0, 0), FLEET_EINVAL);
  fleet_zoneset_free(set);
}

static const char *k_collection =
    "{\"type\":\"FeatureCollection\",\"features\":["
    "{\"type\":\"Feature\",\"id\":\"poly\",\"properties\":{\"speed_limit\":25},\"geometry\":"
    "{\"type\":\"Polygon\",\"coordinates\":[[[90,23],[90.1,23],[90.1,23.1],[90,23.1],"
    "[90,23]]]}},"
    "{\"type\":\"Feature\",\"id\":\"circ\",\"properties\":{\"radius_m\":2000,\"name\":\"Hub\"},"
    "\"geometry\":{\"type\":\"Point\",\"coordinates\":[90.05,23.05]}},"
    "{\"type\":\"Feature\",\"properties\":{\"id\":\"road\",\"width_m\":100},\"geometry\":"
    "{\"type\":\"LineString\",\"coordinates\":[[90.0,23.05],[90.2,23.05]]}}]}";

static void test_load_collection(void **state) {
  (void)state;
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  assert_int_equal(
      fleet_zoneset_load_geojson(set, k_collection, strlen(k_collection), FLEET_ZONESET_LOAD_MERGE),
      0);
  assert_int_equal(fleet_zoneset_generation(set), 1); /* one rebuild for three zones */
  assert_int_equal(fleet_zoneset_count(set), 3);
  uint32_t keys[4];
  assert_int_equal(lookup(keys, 4, set, 23.05, 90.05), 3);
  assert_int_equal(lookup(keys, 4, set, 23.05, 90.15), 1); /* only the road */
  fleet_zoneset_snapshot_t *snap;
  assert_int_equal(fleet_zoneset_snapshot(&snap, set), 0);
  const fleet_zone_t *z = fleet_zoneset_snapshot_get(snap, keys[0]);
  assert_string_equal(fleet_zone_id(z), "road");
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_CORRIDOR);
  uint32_t k;
  z = fleet_zoneset_snapshot_find(&k, snap, "circ");
  assert_non_null(z);
  assert_string_equal(fleet_zone_name(z), "Hub");
  assert_int_equal(fleet_zone_kind(z), FLEET_ZONE_CIRCLE);
  assert_ptr_equal(fleet_zoneset_snapshot_get(snap, k), z);
  assert_null(fleet_zoneset_snapshot_find(NULL, snap, "nope"));
  assert_null(fleet_zoneset_snapshot_find(NULL, snap, NULL));
  assert_null(fleet_zoneset_snapshot_get(snap, 0));
  assert_null(fleet_zoneset_snapshot_get(snap, 1000));
  fleet_zoneset_snapshot_free(snap);

  /* A bad feature: nothing changes, the message names index and id. */
  const char *bad =
      "{\"type\":\"FeatureCollection\",\"features\":["
      "{\"type\":\"Feature\",\"id\":\"x1\",\"properties\":{\"radius_m\":5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}},"
      "{\"type\":\"Feature\",\"id\":\"x2\",\"properties\":{\"radius_m\":5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}},"
      "{\"type\":\"Feature\",\"id\":\"x3\",\"properties\":{\"radius_m\":-5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}}]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, bad, strlen(bad), 0), FLEET_ERANGE);
  assert_string_equal(fleet_error_last(), "features[2] (id \"x3\"): properties.radius_m: -5 must be > 0");
  assert_int_equal(fleet_zoneset_generation(set), 1);
  assert_int_equal(fleet_zoneset_count(set), 3);
  const char *noid = "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
                     "\"geometry\":{\"type\":\"Point\",\"coordinates\":[0,0]}}]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, noid, strlen(noid), 0), FLEET_EMISSING);
  assert_string_equal(fleet_error_last(), "features[0]: id: missing; give the Feature an \"id\" "
                                          "member or an \"id\" property");
  const char *dup =
      "{\"type\":\"FeatureCollection\",\"features\":["
      "{\"type\":\"Feature\",\"id\":\"d\",\"properties\":{\"radius_m\":5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}},"
      "{\"type\":\"Feature\",\"id\":\"e\",\"properties\":{\"radius_m\":5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}},"
      "{\"type\":\"Feature\",\"id\":\"d\",\"properties\":{\"radius_m\":5},\"geometry\":"
      "{\"type\":\"Point\",\"coordinates\":[0,0]}}]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, dup, strlen(dup), 0), FLEET_EEXISTS);
  assert_string_equal(fleet_error_last(),
                      "features[2] (id \"d\"): duplicate id, already used by features[0]");
  assert_int_equal(fleet_zoneset_generation(set), 1);

  /* Document-level errors. */
  assert_int_equal(fleet_zoneset_load_geojson(set, "[]", 2, 0), FLEET_ETYPE);
  assert_int_equal(fleet_zoneset_load_geojson(set, "{}", 2, 0), FLEET_EMISSING);
  assert_string_equal(fleet_error_last(), "type: missing");
  assert_int_equal(fleet_zoneset_load_geojson(set, "{\"type\":2}", 10, 0), FLEET_ETYPE);
  const char *pg = "{\"type\":\"Polygon\",\"coordinates\":[]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, pg, strlen(pg), 0), FLEET_ETYPE);
  assert_string_equal(fleet_error_last(),
                      "type: expected \"FeatureCollection\" or \"Feature\"");
  const char *nf = "{\"type\":\"FeatureCollection\"}";
  assert_int_equal(fleet_zoneset_load_geojson(set, nf, strlen(nf), 0), FLEET_EMISSING);
  assert_string_equal(fleet_error_last(), "features: missing");
  const char *fo = "{\"type\":\"FeatureCollection\",\"features\":{}}";
  assert_int_equal(fleet_zoneset_load_geojson(set, fo, strlen(fo), 0), FLEET_ETYPE);
  assert_string_equal(fleet_error_last(), "features: must be an array");
  const char *fnot = "{\"type\":\"FeatureCollection\",\"features\":[3]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, fnot, strlen(fnot), 0), FLEET_ETYPE);
  assert_string_equal(fleet_error_last(), "features[0]: a Feature must be a JSON object");
  assert_int_equal(fleet_zoneset_load_geojson(set, "{", 1, 0), FLEET_EPARSE);
  assert_int_equal(fleet_zoneset_load_geojson(set, k_collection, strlen(k_collection), 4),
                   FLEET_EINVAL);
  assert_string_equal(fleet_error_last(), "flags: unknown bits 0x4");
  assert_int_equal(fleet_zoneset_load_geojson(NULL, "{}", 2, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_load_geojson(set, NULL, 2, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_generation(set), 1);

  /* A single Feature merges in; REPLACE_ALL makes the set exactly the document. */
  assert_int_equal(fleet_zoneset_load_geojson(set, k_square, strlen(k_square), 0), 0);
  assert_int_equal(fleet_zoneset_count(set), 4);
  assert_int_equal(fleet_zoneset_key(&k, set, "depot"), 0);
  assert_int_equal(k, 4);
  assert_int_equal(fleet_zoneset_load_geojson(set, k_square, strlen(k_square),
                                              FLEET_ZONESET_LOAD_REPLACE_ALL),
                   0);
  assert_int_equal(fleet_zoneset_count(set), 1);
  assert_int_equal(lookup(keys, 4, set, 23.05, 90.05), 1);
  assert_int_equal(keys[0], 4);
  /* Merging the collection again restores the original keys. */
  assert_int_equal(fleet_zoneset_load_geojson(set, k_collection, strlen(k_collection), 0), 0);
  assert_int_equal(lookup(keys, 4, set, 23.05, 90.05), 4);
  for (uint32_t i = 0; i < 4; i++)
    assert_int_equal(keys[i], i + 1);
  /* An empty collection: merge is a no-op, replace-all clears. */
  uint64_t g = fleet_zoneset_generation(set);
  const char *empty = "{\"type\":\"FeatureCollection\",\"features\":[]}";
  assert_int_equal(fleet_zoneset_load_geojson(set, empty, strlen(empty), 0), 0);
  assert_int_equal(fleet_zoneset_generation(set), g);
  assert_int_equal(
      fleet_zoneset_load_geojson(set, empty, strlen(empty), FLEET_ZONESET_LOAD_REPLACE_ALL), 0);
  assert_int_equal(fleet_zoneset_generation(set), g + 1);
  assert_int_equal(fleet_zoneset_count(set), 0);
  fleet_zoneset_free(set);
}

static void test_snapshots(void **state) {
  (void)state;
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  assert_int_equal(fleet_zoneset_load_geojson(set, k_collection, strlen(k_collection), 0), 0);
  fleet_zoneset_snapshot_t *s1;
  assert_int_equal(fleet_zoneset_snapshot(&s1, set), 0);
  assert_int_equal(fleet_zoneset_snapshot_generation(s1), 1);
  assert_int_equal(fleet_zoneset_snapshot_count(s1), 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(fleet_zoneset_snapshot_key_at(s1, i), i + 1);
    assert_ptr_equal(fleet_zoneset_snapshot_at(s1, i),
                     fleet_zoneset_snapshot_get(s1, (uint32_t)i + 1));
  }
  assert_null(fleet_zoneset_snapshot_at(s1, 3));
  assert_int_equal(fleet_zoneset_snapshot_key_at(s1, 3), FLEET_ZONE_KEY_NONE);
  const fleet_zone_t *poly = fleet_zoneset_snapshot_get(s1, 1);
  double v;
  assert_int_equal(fleet_zone_property_number(&v, poly, "speed_limit"), 0);
  assert_true(v == 25);

  /* The set moves on; the snapshot does not. */
  assert_int_equal(fleet_zoneset_remove(set, "poly"), 0);
  assert_int_equal(fleet_zoneset_generation(set), 2);
  uint32_t keys[4];
  size_t n;
  assert_int_equal(fleet_zoneset_snapshot_lookup(keys, 4, &n, s1, 23.05, 90.05), 0);
  assert_int_equal(n, 3);
  assert_int_equal(lookup(keys, 4, set, 23.05, 90.05), 2);
  fleet_zoneset_snapshot_t *s2 = fleet_zoneset_snapshot_ref(s1);
  assert_ptr_equal(s2, s1);
  fleet_zoneset_snapshot_free(s2);

  /* Encoding. */
  fleet_buf_t b = FLEET_BUF_INIT;
  assert_int_equal(fleet_zoneset_snapshot_encode_geojson(&b, s1), 0);
  fleet_zoneset_t *copy;
  assert_int_equal(fleet_zoneset_new(&copy), 0);
  assert_int_equal(fleet_zoneset_load_geojson(copy, b.ptr, b.len, 0), 0);
  assert_int_equal(fleet_zoneset_count(copy), 3);
  assert_int_equal(lookup(keys, 4, copy, 23.05, 90.05), 3);
  fleet_zoneset_free(copy);
  assert_int_equal(fleet_zoneset_snapshot_encode_geojson(NULL, s1), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_snapshot_encode_geojson(&b, NULL), FLEET_EINVAL);

  /* The snapshot outlives the set. */
  fleet_zoneset_free(set);
  assert_int_equal(fleet_zoneset_snapshot_lookup(keys, 4, &n, s1, 23.05, 90.05), 0);
  assert_int_equal(n, 3);
  assert_string_equal(fleet_zone_id(fleet_zoneset_snapshot_get(s1, 2)), "circ");
  fleet_zoneset_snapshot_free(s1);

  /* An empty set's snapshot. */
  assert_int_equal(fleet_zoneset_new(&set), 0);
  assert_int_equal(fleet_zoneset_snapshot(&s1, set), 0);
  fleet_buf_clear(&b);
  assert_int_equal(fleet_zoneset_snapshot_encode_geojson(&b, s1), 0);
  assert_string_equal(b.ptr, "{\"type\":\"FeatureCollection\",\"features\":[]}");
  assert_int_equal(fleet_zoneset_snapshot_lookup(keys, 4, &n, s1, 0, 0), 0);
  assert_int_equal(n, 0);
  assert_int_equal(fleet_zoneset_snapshot(NULL, set), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_snapshot(&s2, NULL), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_snapshot_lookup(keys, 4, &n, NULL, 0, 0), FLEET_EINVAL);
  assert_int_equal(fleet_zoneset_snapshot_generation(NULL), 0);
  assert_int_equal(fleet_zoneset_snapshot_count(NULL), 0);
  assert_null(fleet_zoneset_snapshot_ref(NULL));
  fleet_zoneset_snapshot_free(NULL);
  fleet_zoneset_snapshot_free(s1);
  fleet_zoneset_free(set);
  fleet_buf_dispose(&b);
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                              */
/* ------------------------------------------------------------------------ */

#define CONC_LAT 50.0
#define CONC_LNG 8.0
#define CONC_ITERS 150

struct conc {
  fleet_zoneset_t *set;
  uint32_t key[5]; /* keys of z0..z4, interned up front */
  atomic_int done;
  atomic_int failures;
  atomic_long checks;
  char first_failure[256];
};

static void conc_fail(struct conc *c, const char *what) {
  if (atomic_fetch_add(&c->failures, 1) == 0)
    snprintf(c->first_failure, sizeof c->first_failure, "%s", what);
}

/* Generation i holds zones z0..z(k-1), k = i % 5 + 1, all containing the
 * point and all tagged "version": i; circles and polygons alternate. */
static void *conc_mutator(void *arg) {
  struct conc *c = arg;
  fleet_buf_t b = FLEET_BUF_INIT;
  for (int i = 0; i < CONC_ITERS; i++) {
    fleet_buf_clear(&b);
    int k = i % 5 + 1;
    fleet_buf__puts(&b, "{\"type\":\"FeatureCollection\",\"features\":[");
    for (int j = 0; j < k; j++) {
      char f[1024];
      char props[64];
      if (j > 0)
        fleet_buf__putc(&b, ',');
      if (j % 2 == 0) {
        snprintf(f, sizeof f,
                 "{\"type\":\"Feature\",\"id\":\"z%d\",\"properties\":{\"version\":%d,"
                 "\"radius_m\":%d},\"geometry\":{\"type\":\"Point\",\"coordinates\":[%g,%g]}}",
                 j, i, 500 + j, CONC_LNG, CONC_LAT);
      } else {
        char id[8];
        snprintf(id, sizeof id, "z%d", j);
        snprintf(props, sizeof props, "\"version\":%d", i);
        square_feature(f, sizeof f, id, CONC_LAT, CONC_LNG, 0.01 * j, props);
      }
      fleet_buf__puts(&b, f);
    }
    fleet_buf__puts(&b, "]}");
    if (fleet_zoneset_load_geojson(c->set, b.ptr, b.len, FLEET_ZONESET_LOAD_REPLACE_ALL) != 0)
      conc_fail(c, fleet_error_last());
    /* Unrelated churn: a far-away zone added and removed. */
    fleet_zone_t *far;
    if (fleet_zone_new_circle(&far, "far", NULL, -CONC_LAT, -CONC_LNG, 100) != 0 ||
        fleet_zoneset_add(NULL, c->set, far) != 0 || fleet_zoneset_remove(c->set, "far") != 0)
      conc_fail(c, "far zone churn failed");
    fleet_zone_free(far);
  }
  fleet_buf_dispose(&b);
  fleet_zone_thread_cleanup();
  atomic_store(&c->done, 1);
  return NULL;
}

static void *conc_reader(void *arg) {
  struct conc *c = arg;
  uint64_t last_gen = 0;
  long rounds = 0;
  while (!atomic_load(&c->done) || rounds < 50) {
    rounds++;
    fleet_zoneset_snapshot_t *s;
    if (fleet_zoneset_snapshot(&s, c->set) != 0) {
      conc_fail(c, "snapshot failed");
      break;
    }
    uint64_t gen = fleet_zoneset_snapshot_generation(s);
    if (gen < last_gen)
      conc_fail(c, "generation went backwards");
    last_gen = gen;
    uint32_t keys[8];
    size_t n = 99;
    if (fleet_zoneset_snapshot_lookup(keys, 8, &n, s, CONC_LAT, CONC_LNG) != 0) {
      conc_fail(c, fleet_error_last());
    } else if (n == 0) {
      if (gen != 0)
        conc_fail(c, "no zone in a non-empty generation");
    } else {
      double version = -1, v;
      for (size_t i = 0; i < n; i++) {
        const fleet_zone_t *z = fleet_zoneset_snapshot_get(s, keys[i]);
        if (keys[i] != c->key[i])
          conc_fail(c, "unexpected key");
        if (z == NULL || fleet_zone_property_number(&v, z, "version") != 0) {
          conc_fail(c, "zone or version missing");
          continue;
        }
        if (i == 0)
          version = v;
        else if (v != version)
          conc_fail(c, "zones of two generations in one snapshot");
      }
      if ((size_t)((long)version % 5 + 1) != n)
        conc_fail(c, "zone count does not match the version");
    }
    fleet_zoneset_snapshot_free(s);
    /* The set-level lookup sees some whole generation too. */
    if (fleet_zoneset_lookup(keys, 8, &n, c->set, CONC_LAT, CONC_LNG) != 0)
      conc_fail(c, fleet_error_last());
    else if (n > 5)
      conc_fail(c, "too many zones");
    else
      for (size_t i = 0; i < n; i++)
        if (keys[i] != c->key[i])
          conc_fail(c, "unexpected key from the set");
    atomic_fetch_add(&c->checks, 1);
  }
  fleet_zone_thread_cleanup();
  return NULL;
}

static void test_concurrency(void **state) {
  (void)state;
  struct conc c;
  memset(&c, 0, sizeof c);
  assert_int_equal(fleet_zoneset_new(&c.set), 0);
  for (int j = 0; j < 5; j++) {
    char id[8];
    snprintf(id, sizeof id, "z%d", j);
    assert_int_equal(fleet_zoneset_key(&c.key[j], c.set, id), 0);
  }
  pthread_t m, r1, r2;
  assert_int_equal(pthread_create(&r1, NULL, conc_reader, &c), 0);
  assert_int_equal(pthread_create(&r2, NULL, conc_reader, &c), 0);
  assert_int_equal(pthread_create(&m, NULL, conc_mutator, &c), 0);
  pthread_join(m, NULL);
  pthread_join(r1, NULL);
  pthread_join(r2, NULL);
  if (atomic_load(&c.failures) != 0)
    fail_msg("%d failures, first: %s", atomic_load(&c.failures), c.first_failure);
  assert_true(atomic_load(&c.checks) >= 100);
  assert_int_equal(fleet_zoneset_generation(c.set), 3 * CONC_ITERS);
  print_message("concurrency: %ld consistent reads over %d generations\n",
                atomic_load(&c.checks), 3 * CONC_ITERS);
  fleet_zoneset_free(c.set);
}

/* ------------------------------------------------------------------------ */
/* Index vs brute force                                                     */
/* ------------------------------------------------------------------------ */

static void add_star_ring(fleet_buf_t *b, double clat, double clng, double r_lo, double r_hi) {
  /* Star-shaped around the centre, gaps under 144 degrees: every edge stays
   * farther than 0.5 * r_lo * cos(72) from the centre, so a hole within that
   * never touches the shell. */
  int nv = 5 + (int)(urand() * 8);
  double ang[16];
  for (int i = 0; i < nv; i++)
    ang[i] = (i + urand() * 0.8) * 360.0 / nv;
  fleet_buf__putc(b, '[');
  double flat = 0, flng = 0;
  for (int i = 0; i < nv; i++) {
    double lat, lng;
    fleet_geo_destination(&lat, &lng, clat, clng, r_lo + urand() * (r_hi - r_lo), ang[i]);
    if (i == 0)
      flat = lat, flng = lng;
    fleet_buf__printf(b, "[%.9f,%.9f],", lng, lat);
  }
  fleet_buf__printf(b, "[%.9f,%.9f]]", flng, flat);
}

/* Zones around (lat, lng) within `spread` degrees: polygons (some with a
 * hole, some multi), circles and corridors. */
static void add_random_zone(fleet_buf_t *b, int id, double lat0, double lng0, double spread,
                            double size_m) {
  double clat = lat0 + (urand() - 0.5) * spread;
  double clng = fleet_geo_wrap_lng(lng0 + (urand() - 0.5) * spread);
  double r = size_m * (0.1 + urand());
  double u = urand();
  int seam = lng0 == 180.0;
  fleet_buf__printf(b, "%s{\"type\":\"Feature\",\"id\":\"r%d\",", id ? "," : "", id);
  if (seam && u < 0.55) {
    /* Near the antimeridian: boxes touching it from either side, or split
     * across it as RFC 7946 asks. */
    double h = r / FLEET_GEO_M_PER_DEG, w = h * (0.5 + urand());
    double y0 = clat - h, y1 = clat + h;
    double v = urand();
    if (v < 0.3)
      fleet_buf__printf(b,
                        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[%.9f,%.9f],[180,%.9f],"
                        "[180,%.9f],[%.9f,%.9f],[%.9f,%.9f]]]}}",
                        180 - w, y0, y0, y1, 180 - w, y1, 180 - w, y0);
    else if (v < 0.6)
      fleet_buf__printf(b,
                        "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[-180,%.9f],[%.9f,%.9f],"
                        "[%.9f,%.9f],[-180,%.9f],[-180,%.9f]]]}}",
                        y0, -180 + w, y0, -180 + w, y1, y1, y0);
    else
      fleet_buf__printf(b,
                        "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":[[[[%.9f,%.9f],[180,%.9f],"
                        "[180,%.9f],[%.9f,%.9f],[%.9f,%.9f]]],[[[-180,%.9f],[%.9f,%.9f],[%.9f,%.9f],"
                        "[-180,%.9f],[-180,%.9f]]]]}}",
                        180 - w, y0, y0, y1, 180 - w, y1, 180 - w, y0, y0, -180 + w * 0.7, y0,
                        -180 + w * 0.7, y1, y1, y0);
  } else if (u < 0.5) {
    fleet_buf__puts(b, "\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[");
    add_star_ring(b, clat, clng, 0.5 * r, r);
    if (urand() < 0.3) {
      fleet_buf__putc(b, ',');
      add_star_ring(b, clat, clng, 0.05 * r, 0.12 * r);
    }
    fleet_buf__puts(b, "]}}");
  } else if (u < 0.55) {
    double lat2, lng2;
    fleet_geo_destination(&lat2, &lng2, clat, clng, 3 * r, urand() * 360);
    fleet_buf__puts(b, "\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":[[");
    add_star_ring(b, clat, clng, 0.5 * r, r);
    fleet_buf__puts(b, "],[");
    add_star_ring(b, lat2, lng2, 0.5 * r, r);
    fleet_buf__puts(b, "]]}}");
  } else if (u < 0.8) {
    fleet_buf__printf(b,
                      "\"properties\":{\"radius_m\":%.3f},\"geometry\":{\"type\":\"Point\","
                      "\"coordinates\":[%.9f,%.9f]}}",
                      r, clng, clat);
  } else {
    int nv = 2 + (int)(urand() * 5);
    double brg = urand() * 360, lat = clat, lng = clng;
    fleet_buf__printf(b,
                      "\"properties\":{\"width_m\":%.3f},\"geometry\":{\"type\":\"LineString\","
                      "\"coordinates\":[[%.9f,%.9f]",
                      r * 0.3, lng, lat);
    for (int i = 1; i < nv; i++) {
      brg += (urand() - 0.5) * 120;
      fleet_geo_destination(&lat, &lng, lat, lng, r * (0.5 + urand()), brg);
      /* A segment may not jump across the antimeridian: stay on one side. */
      if (seam && (lng > 0) != (clng > 0))
        lng = clng > 0 ? 180.0 : -180.0;
      fleet_buf__printf(b, ",[%.9f,%.9f]", lng, lat);
    }
    fleet_buf__puts(b, "]}}");
  }
}

static void test_index_matches_brute_force(void **state) {
  (void)state;
  rng = 0x2545F4914F6CDD1Dull;
  fleet_buf_t b = FLEET_BUF_INIT;
  fleet_buf__puts(&b, "{\"type\":\"FeatureCollection\",\"features\":[");
  int id = 0;
  /* A city region (Dhaka), the antimeridian, and the north polar cap. */
  for (; id < 1900; id++)
    add_random_zone(&b, id, 23.8, 90.4, 0.4, 1500);
  for (; id < 1960; id++)
    add_random_zone(&b, id, -17.0, 180.0, 0.3, 8000);
  for (; id < 2000; id++) {
    fleet_buf__printf(&b,
                      ",{\"type\":\"Feature\",\"id\":\"r%d\",\"properties\":{\"radius_m\":%.3f},"
                      "\"geometry\":{\"type\":\"Point\",\"coordinates\":[%.9f,%.9f]}}",
                      id, 1000 + urand() * 60000, -180 + urand() * 360, 89.0 + urand());
  }
  fleet_buf__puts(&b, "]}");
  fleet_zoneset_t *set;
  assert_int_equal(fleet_zoneset_new(&set), 0);
  int rc = fleet_zoneset_load_geojson(set, b.ptr, b.len, 0);
  if (rc != 0)
    fail_msg("load: %s", fleet_error_last());
  fleet_buf_dispose(&b);
  fleet_zoneset_snapshot_t *snap;
  assert_int_equal(fleet_zoneset_snapshot(&snap, set), 0);
  size_t nz = fleet_zoneset_snapshot_count(snap);
  assert_int_equal(nz, 2000);

  long hits = 0, multi = 0;
  for (int i = 0; i < 3000; i++) {
    double lat, lng;
    double u = urand();
    if (u < 0.35) { /* anywhere in the city */
      lat = 23.8 + (urand() - 0.5) * 0.45;
      lng = 90.4 + (urand() - 0.5) * 0.45;
    } else if (u < 0.75) { /* near some zone, often on its edge */
      const fleet_zone_t *z = fleet_zoneset_snapshot_at(snap, (size_t)(urand() * 1900));
      double a, bb, c, d;
      fleet_zone_bbox(&a, &bb, &c, &d, z);
      lat = a + urand() * (c - a);
      lng = bb + urand() * (d - bb);
    } else if (u < 0.93) { /* around the antimeridian, sometimes exactly on it */
      lat = -17.0 + (urand() - 0.5) * 0.4;
      double v = urand();
      lng = v < 0.1 ? 180.0 : v < 0.2 ? -180.0 : fleet_geo_wrap_lng(180 + (urand() - 0.5) * 0.4);
    } else { /* the polar cap, sometimes the pole itself */
      lat = urand() < 0.2 ? 90.0 : 88.5 + urand() * 1.5;
      lng = -180 + urand() * 360;
    }
    uint32_t got[64], want[64];
    size_t ngot = 0, nwant = 0;
    rc = fleet_zoneset_snapshot_lookup(got, 64, &ngot, snap, lat, lng);
    if (rc != 0)
      fail_msg("lookup: %s", fleet_error_last());
    for (size_t k = 0; k < nz; k++) {
      int in;
      assert_int_equal(fleet_zone_contains(&in, fleet_zoneset_snapshot_at(snap, k), lat, lng),
                       0);
      if (in)
        want[nwant++] = fleet_zoneset_snapshot_key_at(snap, k);
    }
    if (ngot != nwant || memcmp(got, want, ngot * sizeof *got) != 0)
      fail_msg("point %d (%.9f, %.9f): index found %zu zones, brute force %zu", i, lat, lng,
               ngot, nwant);
    hits += ngot > 0;
    multi += ngot > 1;
  }
  /* The sample is meaningful: many points inside something, some in several. */
  assert_true(hits > 800);
  assert_true(multi > 50);
  print_message("index vs brute force: 3000 points, %ld inside a zone, %ld in several\n", hits,
                multi);
  fleet_zoneset_snapshot_free(snap);
  fleet_zoneset_free(set);
}

static void test_thread_cleanup(void **state) {
  (void)state;
  fleet_zone_thread_cleanup();
  fleet_zone_thread_cleanup(); /* twice is harmless */
  fleet_zone_t *z = parse_ok(k_square); /* a new context is made */
  assert_true(inside(z, 23.05, 90.05));
  fleet_zone_thread_cleanup();
  fleet_zone_free(z); /* and again */
  fleet_zone_thread_cleanup();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_polygon_feature),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_ids),
      cmocka_unit_test(test_bare_geometry),
      cmocka_unit_test(test_holes),
      cmocka_unit_test(test_multipolygon),
      cmocka_unit_test(test_circle_boundary_60n),
      cmocka_unit_test(test_corridor_boundary),
      cmocka_unit_test(test_properties),
      cmocka_unit_test(test_encode_roundtrip),
      cmocka_unit_test(test_refcount),
      cmocka_unit_test(test_rejections),
      cmocka_unit_test(test_rejections_ids_and_limits),
      cmocka_unit_test(test_antimeridian),
      cmocka_unit_test(test_poles),
      cmocka_unit_test(test_zoneset_keys),
      cmocka_unit_test(test_lookup_capacity_and_args),
      cmocka_unit_test(test_load_collection),
      cmocka_unit_test(test_snapshots),
      cmocka_unit_test(test_concurrency),
      cmocka_unit_test(test_index_matches_brute_force),
      cmocka_unit_test(test_thread_cleanup),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  fleet_zone_thread_cleanup();
  return rc;
}
