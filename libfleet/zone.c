/*
 * zone: geofences (GEOS prepared polygons, haversine circles, metric
 * corridors) and zone sets indexed by a GEOS STRtree, published as immutable
 * snapshots (see include/fleet/zone.h).
 */
#include "common_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/geo.h"
#include "numfmt_int.h"
#include "zone_int.h"

#define GEO_PI 3.14159265358979323846
#define DEG2RAD (GEO_PI / 180.0)
#define RAD2DEG (180.0 / GEO_PI)

/* Index boxes grow by this much (degrees, ~1 cm) beyond their computed
 * extent, so rounding never excludes a point the exact test accepts. */
#define BOX_PAD_DEG 1e-7

#define STR2(x) #x
#define STR(x) STR2(x)

/* STRtree node capacity: GEOS's usual default. */
#define STRTREE_NODE_CAPACITY 10

size_t fleet_zone__max_points = FLEET_ZONE_MAX_POINTS;
size_t fleet_zone__max_bytes = FLEET_ZONE_MAX_BYTES;

/* ------------------------------------------------------------------------ */
/* Per-thread GEOS context                                                  */
/* ------------------------------------------------------------------------ */

struct geos_tls {
  GEOSContextHandle_t ctx;
  char msg[256]; /* last GEOS error on this thread */
};

static pthread_key_t g_geos_key;
static int g_geos_key_ok;
static pthread_once_t g_geos_once = PTHREAD_ONCE_INIT;
static _Thread_local struct geos_tls *t_geos;

static void geos_tls_destroy(void *p) {
  struct geos_tls *t = p;
  if (t == NULL)
    return;
  if (t_geos == t)
    t_geos = NULL;
  GEOS_finish_r(t->ctx);
  free(t);
}

static void geos_key_create(void) {
  g_geos_key_ok = pthread_key_create(&g_geos_key, geos_tls_destroy) == 0;
}

static void geos_on_error(const char *message, void *userdata) {
  struct geos_tls *t = userdata;
  snprintf(t->msg, sizeof t->msg, "%s", message ? message : "unknown GEOS error");
}

static struct geos_tls *geos_tls(void) {
  if (FLEET_LIKELY(t_geos != NULL))
    return t_geos;
  pthread_once(&g_geos_once, geos_key_create);
  struct geos_tls *t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->ctx = GEOS_init_r();
  if (t->ctx == NULL) {
    free(t);
    return NULL;
  }
  GEOSContext_setErrorMessageHandler_r(t->ctx, geos_on_error, t);
  /* Without the key the context still works; it just is not reclaimed at
   * thread exit. */
  if (g_geos_key_ok)
    (void)pthread_setspecific(g_geos_key, t);
  t_geos = t;
  return t;
}

GEOSContextHandle_t fleet_zone__geos(void) {
  struct geos_tls *t = geos_tls();
  return t ? t->ctx : NULL;
}

void fleet_zone_thread_cleanup(void) {
  struct geos_tls *t = t_geos;
  if (t == NULL)
    return;
  if (g_geos_key_ok)
    (void)pthread_setspecific(g_geos_key, NULL);
  geos_tls_destroy(t);
}

static int geos_fail(struct geos_tls *t, const char *what) {
  return fleet_error__set(FLEET_EINTERNAL, "%s: GEOS failed: %s", what,
                          t->msg[0] ? t->msg : "no message");
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

/* A number for an error message, in its shortest exact form. */
static const char *numstr(char buf[FLEET_NUMFMT_DOUBLE_MAX], double v) {
  if (isnan(v))
    return "NaN";
  if (isinf(v))
    return v > 0 ? "Infinity" : "-Infinity";
  if (fleet_numfmt__double(buf, FLEET_NUMFMT_DOUBLE_MAX, v) < 0)
    snprintf(buf, FLEET_NUMFMT_DOUBLE_MAX, "%g", v);
  return buf;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return 0;
    }
    if (i + len > n)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

/* Why `id` is not a valid zone id, or NULL when it is. */
static const char *id_problem(const char *id) {
  size_t n = strlen(id);
  if (n == 0)
    return "is empty";
  if (n > FLEET_ZONE_ID_MAX)
    return "is longer than " STR(FLEET_ZONE_ID_MAX) " bytes";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c < 0x20 || c == 0x7f)
      return "contains a control character";
  }
  if (!utf8_valid((const unsigned char *)id, n))
    return "is not valid UTF-8";
  return NULL;
}

/* Validate an id passed through the C API. */
static int check_api_id(const char *id) {
  if (id == NULL)
    return fleet_error__set(FLEET_EINVAL, "id: NULL");
  const char *why = id_problem(id);
  if (why != NULL)
    return fleet_error__set(FLEET_EINVAL, "id: %s", why);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Compact JSON writer (numbers in shortest exact form, locale-independent)  */
/* ------------------------------------------------------------------------ */

static int jw_string(fleet_buf_t *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (fleet_buf__putc(b, '"') != 0)
    return FLEET_ENOMEM;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c < 0x20 || c == 0x7f) {
      u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0';
      u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = '\0';
      esc = u;
    }
    if (esc == NULL)
      continue;
    if (fleet_buf_append(b, s + run, i - run) != 0 || fleet_buf__puts(b, esc) != 0)
      return FLEET_ENOMEM;
    run = i + 1;
  }
  if (fleet_buf_append(b, s + run, n - run) != 0 || fleet_buf__putc(b, '"') != 0)
    return FLEET_ENOMEM;
  return 0;
}

static int jw_number(fleet_buf_t *b, double v) {
  char tmp[FLEET_NUMFMT_DOUBLE_MAX];
  int n = fleet_numfmt__double(tmp, sizeof tmp, v);
  if (n < 0)
    return fleet_buf__puts(b, "null") != 0 ? FLEET_ENOMEM : 0;
  return fleet_buf_append(b, tmp, (size_t)n) != 0 ? FLEET_ENOMEM : 0;
}

static int jw_value(fleet_buf_t *b, json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *key;
    json_t *val;
    int first = 1;
    if (fleet_buf__putc(b, '{') != 0)
      return FLEET_ENOMEM;
    json_object_foreach(v, key, val) {
      if (!first && fleet_buf__putc(b, ',') != 0)
        return FLEET_ENOMEM;
      first = 0;
      if (jw_string(b, key, strlen(key)) != 0 || fleet_buf__putc(b, ':') != 0 ||
          jw_value(b, val) != 0)
        return FLEET_ENOMEM;
    }
    return fleet_buf__putc(b, '}') != 0 ? FLEET_ENOMEM : 0;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *val;
    if (fleet_buf__putc(b, '[') != 0)
      return FLEET_ENOMEM;
    json_array_foreach(v, i, val) {
      if (i > 0 && fleet_buf__putc(b, ',') != 0)
        return FLEET_ENOMEM;
      if (jw_value(b, val) != 0)
        return FLEET_ENOMEM;
    }
    return fleet_buf__putc(b, ']') != 0 ? FLEET_ENOMEM : 0;
  }
  case JSON_STRING:
    return jw_string(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return fleet_buf__printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) != 0
               ? FLEET_ENOMEM
               : 0;
  case JSON_REAL:
    return jw_number(b, json_real_value(v));
  case JSON_TRUE:
    return fleet_buf__puts(b, "true") != 0 ? FLEET_ENOMEM : 0;
  case JSON_FALSE:
    return fleet_buf__puts(b, "false") != 0 ? FLEET_ENOMEM : 0;
  case JSON_NULL:
  default:
    return fleet_buf__puts(b, "null") != 0 ? FLEET_ENOMEM : 0;
  }
}

/* Serialise `v` to a malloc'ed string. */
static int jw_detach(char **out, json_t *v) {
  fleet_buf_t b = FLEET_BUF_INIT;
  if (jw_value(&b, v) != 0) {
    fleet_buf_dispose(&b);
    return fleet_error__oom();
  }
  if (fleet_buf__detach(out, NULL, &b) != 0) {
    fleet_buf_dispose(&b);
    return fleet_error__oom();
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Parsing context and error messages                                       */
/* ------------------------------------------------------------------------ */

struct zparse {
  struct geos_tls *geos;
  char prefix[FLEET_ZONE_ID_MAX + 64]; /* "features[3] (id \"x\"): " or "" */
  size_t npoints;
};

static int zfail(const struct zparse *zp, int code, const char *fmt, ...)
    FLEET_PRINTF(3, 4);

static int zfail(const struct zparse *zp, int code, const char *fmt, ...) {
  char msg[FLEET_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return fleet_error__set(code, "%s%s", zp->prefix, msg);
}

/* Index value meaning "the path names the position itself". */
#define NO_INDEX SIZE_MAX

/* Read a position [lng, lat, ...] with range checks; `path`[`k`] names it. */
static int get_position(struct zparse *zp, const json_t *pos, const char *path, size_t k,
                        double *lng, double *lat) {
  char a[FLEET_NUMFMT_DOUBLE_MAX];
  char where[128];
  int bad_type = !json_is_array(pos) || json_array_size(pos) < 2 ||
                 !json_is_number(json_array_get(pos, 0)) ||
                 !json_is_number(json_array_get(pos, 1));
  double x = bad_type ? 0.0 : json_number_value(json_array_get(pos, 0));
  double y = bad_type ? 0.0 : json_number_value(json_array_get(pos, 1));
  if (FLEET_LIKELY(!bad_type && x >= -180.0 && x <= 180.0 && y >= -90.0 && y <= 90.0)) {
    *lng = x;
    *lat = y;
    return 0;
  }
  if (k == NO_INDEX)
    snprintf(where, sizeof where, "%s", path);
  else
    snprintf(where, sizeof where, "%s[%zu]", path, k);
  if (bad_type)
    return zfail(zp, FLEET_ETYPE, "%s: a position must be an array of 2 or 3 numbers", where);
  if (!isfinite(x) || !isfinite(y))
    return zfail(zp, FLEET_ERANGE, "%s: coordinate is not finite", where);
  if (!(x >= -180.0 && x <= 180.0))
    return zfail(zp, FLEET_ERANGE, "%s: longitude %s is outside [-180, 180]", where,
                 numstr(a, x));
  return zfail(zp, FLEET_ERANGE, "%s: latitude %s is outside [-90, 90]", where, numstr(a, y));
}

static int count_points(struct zparse *zp, size_t n) {
  zp->npoints += n;
  if (zp->npoints > fleet_zone__max_points)
    return zfail(zp, FLEET_ETOOBIG, "geometry: more than %zu positions",
                 fleet_zone__max_points);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Index boxes                                                              */
/* ------------------------------------------------------------------------ */

/* Set the zone's index boxes and bbox from a latitude range and a longitude
 * range that may run past +-180 (lo < hi). Boxes reaching a pole's latitude
 * span every longitude, so a polar lookup meets each zone once. */
static void set_boxes(fleet_zone_t *z, double lat_lo, double lat_hi, double lng_lo,
                      double lng_hi) {
  lat_lo -= BOX_PAD_DEG;
  lat_hi += BOX_PAD_DEG;
  lng_lo -= BOX_PAD_DEG;
  lng_hi += BOX_PAD_DEG;
  if (lat_lo < -90.0)
    lat_lo = -90.0;
  if (lat_hi > 90.0)
    lat_hi = 90.0;
  z->bbox[0] = lat_lo;
  z->bbox[2] = lat_hi;
  if (lng_hi - lng_lo >= 360.0 || lat_lo <= -90.0 || lat_hi >= 90.0) {
    z->nboxes = 1;
    z->boxes[0][0] = -180.0, z->boxes[0][2] = 180.0;
    z->bbox[1] = -180.0, z->bbox[3] = 180.0;
  } else if (lng_lo < -180.0) {
    z->nboxes = 2;
    z->boxes[0][0] = lng_lo + 360.0, z->boxes[0][2] = 180.0;
    z->boxes[1][0] = -180.0, z->boxes[1][2] = lng_hi;
    z->bbox[1] = lng_lo + 360.0, z->bbox[3] = lng_hi;
  } else if (lng_hi > 180.0) {
    z->nboxes = 2;
    z->boxes[0][0] = lng_lo, z->boxes[0][2] = 180.0;
    z->boxes[1][0] = -180.0, z->boxes[1][2] = lng_hi - 360.0;
    z->bbox[1] = lng_lo, z->bbox[3] = lng_hi - 360.0;
  } else {
    z->nboxes = 1;
    z->boxes[0][0] = lng_lo, z->boxes[0][2] = lng_hi;
    z->bbox[1] = lng_lo, z->bbox[3] = lng_hi;
  }
  for (int i = 0; i < z->nboxes; i++) {
    z->boxes[i][1] = lat_lo;
    z->boxes[i][3] = lat_hi;
  }
}

/* GEOS rectangles for the STRtree, with their envelopes computed now: GEOS
 * caches envelopes lazily, and the zone must be immutable once shared. */
static int make_box_geoms(struct zparse *zp, fleet_zone_t *z) {
  GEOSContextHandle_t ctx = zp->geos->ctx;
  for (int i = 0; i < z->nboxes; i++) {
    double x0, y0, x1, y1;
    zp->geos->msg[0] = '\0';
    z->box_geoms[i] = GEOSGeom_createRectangle_r(ctx, z->boxes[i][0], z->boxes[i][1],
                                                 z->boxes[i][2], z->boxes[i][3]);
    if (z->box_geoms[i] == NULL || !GEOSGeom_getExtent_r(ctx, z->box_geoms[i], &x0, &y0, &x1, &y1))
      return geos_fail(zp->geos, "index box");
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Polygons                                                                 */
/* ------------------------------------------------------------------------ */

static int build_ring(struct zparse *zp, const json_t *ring, const char *path,
                      GEOSGeometry **out) {
  GEOSContextHandle_t ctx = zp->geos->ctx;
  char a[FLEET_NUMFMT_DOUBLE_MAX], b[FLEET_NUMFMT_DOUBLE_MAX];
  char c[FLEET_NUMFMT_DOUBLE_MAX], d[FLEET_NUMFMT_DOUBLE_MAX];
  if (!json_is_array(ring))
    return zfail(zp, FLEET_ETYPE, "%s: a ring must be an array of positions", path);
  size_t n = json_array_size(ring);
  if (n < 4)
    return zfail(zp, FLEET_EGEOMETRY,
                 "%s: a ring needs at least 4 positions (first = last), got %zu", path, n);
  int rc = count_points(zp, n);
  if (rc != 0)
    return rc;
  GEOSCoordSequence *cs = GEOSCoordSeq_create_r(ctx, (unsigned int)n, 2);
  if (cs == NULL)
    return fleet_error__oom();
  double x0 = 0, y0 = 0, px = 0, py = 0;
  for (size_t k = 0; k < n; k++) {
    double x, y;
    rc = get_position(zp, json_array_get(ring, k), path, k, &x, &y);
    if (rc != 0)
      goto fail;
    if (k == 0) {
      x0 = x, y0 = y;
    } else if (fabs(x - px) > 180.0) {
      rc = zfail(zp, FLEET_EGEOMETRY,
                 "%s[%zu]: the edge from [%s, %s] to [%s, %s] spans more than 180 degrees "
                 "of longitude: the polygon crosses the antimeridian; split it at +-180 "
                 "into a MultiPolygon (RFC 7946 section 3.1.9)",
                 path, k, numstr(a, px), numstr(b, py), numstr(c, x), numstr(d, y));
      goto fail;
    }
    GEOSCoordSeq_setXY_r(ctx, cs, (unsigned int)k, x, y);
    px = x, py = y;
  }
  if (px != x0 || py != y0) {
    rc = zfail(zp, FLEET_EGEOMETRY,
               "%s: the ring is not closed: its first position [%s, %s] differs from its "
               "last [%s, %s]",
               path, numstr(a, x0), numstr(b, y0), numstr(c, px), numstr(d, py));
    goto fail;
  }
  zp->geos->msg[0] = '\0';
  *out = GEOSGeom_createLinearRing_r(ctx, cs);
  if (*out == NULL)
    return zfail(zp, FLEET_EGEOMETRY, "%s: invalid ring: %s", path, zp->geos->msg);
  return 0;
fail:
  GEOSCoordSeq_destroy_r(ctx, cs);
  return rc;
}

/* One GeoJSON polygon (array of rings) to a GEOS polygon. */
static int build_polygon(struct zparse *zp, const json_t *rings, const char *path,
                         GEOSGeometry **out) {
  GEOSContextHandle_t ctx = zp->geos->ctx;
  if (!json_is_array(rings))
    return zfail(zp, FLEET_ETYPE, "%s: a polygon must be an array of rings", path);
  size_t nr = json_array_size(rings);
  if (nr == 0)
    return zfail(zp, FLEET_EGEOMETRY, "%s: a polygon needs at least one ring", path);
  GEOSGeometry **r = calloc(nr, sizeof *r);
  if (r == NULL)
    return fleet_error__oom();
  int rc = 0;
  char rpath[96];
  for (size_t i = 0; i < nr; i++) {
    snprintf(rpath, sizeof rpath, "%s[%zu]", path, i);
    rc = build_ring(zp, json_array_get(rings, i), rpath, &r[i]);
    if (rc != 0)
      goto fail;
  }
  zp->geos->msg[0] = '\0';
  *out = GEOSGeom_createPolygon_r(ctx, r[0], nr > 1 ? r + 1 : NULL, (unsigned int)(nr - 1));
  if (*out == NULL) {
    rc = zfail(zp, FLEET_EGEOMETRY, "%s: invalid polygon: %s", path, zp->geos->msg);
    goto fail;
  }
  free(r);
  return 0;
fail:
  for (size_t i = 0; i < nr; i++)
    if (r[i] != NULL)
      GEOSGeom_destroy_r(ctx, r[i]);
  free(r);
  return rc;
}

static int parse_polygonal(struct zparse *zp, fleet_zone_t *z, const char *type,
                           const json_t *coords) {
  GEOSContextHandle_t ctx = zp->geos->ctx;
  int rc;
  if (strcmp(type, "Polygon") == 0) {
    rc = build_polygon(zp, coords, "geometry.coordinates", &z->geom);
    if (rc != 0)
      return rc;
  } else {
    if (!json_is_array(coords))
      return zfail(zp, FLEET_ETYPE,
                   "geometry.coordinates: a MultiPolygon must be an array of polygons");
    size_t np = json_array_size(coords);
    if (np == 0)
      return zfail(zp, FLEET_EGEOMETRY,
                   "geometry.coordinates: a MultiPolygon needs at least one polygon");
    GEOSGeometry **parts = calloc(np, sizeof *parts);
    if (parts == NULL)
      return fleet_error__oom();
    char path[64];
    for (size_t i = 0; i < np; i++) {
      snprintf(path, sizeof path, "geometry.coordinates[%zu]", i);
      rc = build_polygon(zp, json_array_get(coords, i), path, &parts[i]);
      if (rc != 0) {
        for (size_t k = 0; k < i; k++)
          GEOSGeom_destroy_r(ctx, parts[k]);
        free(parts);
        return rc;
      }
    }
    zp->geos->msg[0] = '\0';
    z->geom = GEOSGeom_createCollection_r(ctx, GEOS_MULTIPOLYGON, parts, (unsigned int)np);
    if (z->geom == NULL) {
      for (size_t k = 0; k < np; k++)
        GEOSGeom_destroy_r(ctx, parts[k]);
      free(parts);
      return zfail(zp, FLEET_EGEOMETRY, "geometry: invalid MultiPolygon: %s",
                   zp->geos->msg);
    }
    free(parts);
  }

  zp->geos->msg[0] = '\0';
  char valid = GEOSisValid_r(ctx, z->geom);
  if (valid == 2)
    return geos_fail(zp->geos, "geometry validity check");
  if (valid == 0) {
    char *why = GEOSisValidReason_r(ctx, z->geom);
    rc = zfail(zp, FLEET_EGEOMETRY, "geometry: invalid %s: %s", type,
               why ? why : "no reason given");
    if (why)
      GEOSFree_r(ctx, why);
    return rc;
  }

  /* Computing the extent caches GEOS's lazily built envelope now, before any
   * other thread can see the geometry. */
  double x0, y0, x1, y1;
  if (!GEOSGeom_getExtent_r(ctx, z->geom, &x0, &y0, &x1, &y1))
    return geos_fail(zp->geos, "geometry extent");
  z->nboxes = 1;
  z->boxes[0][0] = x0, z->boxes[0][1] = y0, z->boxes[0][2] = x1, z->boxes[0][3] = y1;
  z->bbox[0] = y0, z->bbox[1] = x0, z->bbox[2] = y1, z->bbox[3] = x1;

  /* A pole is one point but many (lng, +-90) positions: the zone contains it
   * when it covers any of them. */
  for (int s = 0; s < 2; s++) {
    double plat = s == 0 ? 90.0 : -90.0;
    if ((s == 0 && y1 < 90.0) || (s == 1 && y0 > -90.0))
      continue;
    GEOSGeometry *line = GEOSGeom_createRectangle_r(ctx, -180.0, plat, 180.0, plat);
    if (line == NULL)
      return geos_fail(zp->geos, "pole line");
    char hit = GEOSIntersects_r(ctx, z->geom, line);
    GEOSGeom_destroy_r(ctx, line);
    if (hit == 2)
      return geos_fail(zp->geos, "pole test");
    if (s == 0)
      z->has_north_pole = hit;
    else
      z->has_south_pole = hit;
  }

  z->prep = GEOSPrepare_r(ctx, z->geom);
  if (z->prep == NULL)
    return geos_fail(zp->geos, "prepared geometry");
  /* GEOS builds a prepared polygon's point locator and its index on first use,
   * without locking; do it here so concurrent lookups only read. A point inside
   * the envelope gets past the envelope short-cut to the locator. */
  GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(ctx, (x0 + x1) / 2, (y0 + y1) / 2);
  if (pt == NULL)
    return geos_fail(zp->geos, "warm-up point");
  char c = GEOSPreparedCovers_r(ctx, z->prep, pt);
  GEOSGeom_destroy_r(ctx, pt);
  if (c == 2)
    return geos_fail(zp->geos, "prepared geometry warm-up");
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Circles and corridors                                                    */
/* ------------------------------------------------------------------------ */

static int circle_setup(struct zparse *zp, fleet_zone_t *z, double lat, double lng,
                        double radius_m) {
  z->kind = FLEET_ZONE_CIRCLE;
  z->clat = lat;
  z->clng = lng;
  z->radius_m = radius_m;
  double delta = radius_m / FLEET_GEO_EARTH_RADIUS_M; /* angular radius */
  double dlat = delta * RAD2DEG;
  double lat_lo = lat - dlat, lat_hi = lat + dlat;
  double dlng = 360.0;
  /* The widest longitude of a spherical cap that misses both poles is
   * asin(sin(delta) / cos(lat)); a cap over a pole spans every longitude. */
  if (lat_hi < 90.0 && lat_lo > -90.0) {
    double s = sin(delta) / cos(lat * DEG2RAD);
    if (s < 1.0)
      dlng = asin(s) * RAD2DEG;
  }
  if (dlng >= 180.0)
    set_boxes(z, lat_lo, lat_hi, -180.0, 180.0);
  else
    set_boxes(z, lat_lo, lat_hi, lng - dlng, lng + dlng);
  return make_box_geoms(zp, z);
}

static int circle_test(const fleet_zone_t *z, double lat, double lng) {
  return fleet_geo_distance_m(z->clat, z->clng, lat, lng) <= z->radius_m;
}

/* Relative longitude in [-180, 180): both inputs are in [-180, 180]. */
static inline double rel_lng(double d) {
  if (d >= 180.0)
    return d - 360.0;
  if (d < -180.0)
    return d + 360.0;
  return d;
}

static int corridor_test(const fleet_zone_t *z, double lat, double lng) {
  const double *p = z->pts;
  for (size_t i = 0; i + 1 < z->npts; i++, p += 2) {
    double lat1 = p[0], lng1 = p[1], lat2 = p[2], lng2 = p[3];
    double lo = lat1 < lat2 ? lat1 : lat2;
    double hi = lat1 < lat2 ? lat2 : lat1;
    if (lat < lo - z->pad_lat || lat > hi + z->pad_lat)
      continue;
    double d1 = rel_lng(lng1 - lng);
    double d2 = d1 + (lng2 - lng1); /* segments never span 180 degrees or more */
    double mn = d1 < d2 ? d1 : d2;
    double mx = d1 < d2 ? d2 : d1;
    if (mn - z->pad_lng > 0.0 || mx + z->pad_lng < 0.0)
      continue;
    if (fleet_geo_segment_distance_m(lat, lng, lat1, lng1, lat2, lng2) <= z->half_width_m)
      return 1;
  }
  return 0;
}

static int get_metres(struct zparse *zp, const json_t *props, const char *name,
                      const char *type, double max, double *out) {
  char a[FLEET_NUMFMT_DOUBLE_MAX], b[FLEET_NUMFMT_DOUBLE_MAX];
  const json_t *v = json_object_get(props, name);
  if (v == NULL || json_is_null(v))
    return zfail(zp, FLEET_EMISSING,
                 "properties.%s: missing; a %s zone needs it (metres, > 0)", name, type);
  if (!json_is_number(v))
    return zfail(zp, FLEET_ETYPE, "properties.%s: must be a number of metres", name);
  double m = json_number_value(v);
  if (!isfinite(m) || m <= 0.0)
    return zfail(zp, FLEET_ERANGE, "properties.%s: %s must be > 0", name, numstr(a, m));
  if (m > max)
    return zfail(zp, FLEET_ERANGE, "properties.%s: %s is over the maximum of %s", name,
                 numstr(a, m), numstr(b, max));
  *out = m;
  return 0;
}

static int parse_circle(struct zparse *zp, fleet_zone_t *z, const json_t *coords,
                        const json_t *props) {
  double lng, lat, r;
  int rc = get_position(zp, coords, "geometry.coordinates", NO_INDEX, &lng, &lat);
  if (rc != 0)
    return rc;
  rc = count_points(zp, 1);
  if (rc == 0)
    rc = get_metres(zp, props, "radius_m", "Point (circle)", FLEET_ZONE_RADIUS_MAX_M, &r);
  if (rc == 0)
    rc = circle_setup(zp, z, lat, lng, r);
  return rc;
}

static int parse_corridor(struct zparse *zp, fleet_zone_t *z, const json_t *coords,
                          const json_t *props) {
  char a[FLEET_NUMFMT_DOUBLE_MAX], b[FLEET_NUMFMT_DOUBLE_MAX];
  double w;
  if (!json_is_array(coords))
    return zfail(zp, FLEET_ETYPE,
                 "geometry.coordinates: a LineString must be an array of positions");
  size_t n = json_array_size(coords);
  if (n < 2)
    return zfail(zp, FLEET_EGEOMETRY,
                 "geometry.coordinates: a LineString needs at least 2 positions, got %zu", n);
  int rc = count_points(zp, n);
  if (rc != 0)
    return rc;
  rc = get_metres(zp, props, "width_m", "LineString (corridor)", FLEET_ZONE_WIDTH_MAX_M, &w);
  if (rc != 0)
    return rc;
  z->kind = FLEET_ZONE_CORRIDOR;
  z->pts = malloc(n * 2 * sizeof *z->pts);
  if (z->pts == NULL)
    return fleet_error__oom();
  z->npts = n;
  z->half_width_m = w / 2.0;
  double min_lat = 90, max_lat = -90, min_lng = 180, max_lng = -180, max_abs_lat = 0;
  for (size_t k = 0; k < n; k++) {
    double x, y;
    rc = get_position(zp, json_array_get(coords, k), "geometry.coordinates", k, &x, &y);
    if (rc != 0)
      return rc;
    if (k > 0 && fabs(x - z->pts[2 * k - 1]) >= 180.0)
      return zfail(zp, FLEET_EGEOMETRY,
                   "geometry.coordinates[%zu]: the segment from longitude %s to %s spans "
                   "180 degrees or more: a corridor cannot cross the antimeridian this way; "
                   "split the line at +-180",
                   k, numstr(a, z->pts[2 * k - 1]), numstr(b, x));
    z->pts[2 * k] = y;
    z->pts[2 * k + 1] = x;
    min_lat = fmin(min_lat, y), max_lat = fmax(max_lat, y);
    min_lng = fmin(min_lng, x), max_lng = fmax(max_lng, x);
    max_abs_lat = fmax(max_abs_lat, fabs(y));
  }
  double delta = z->half_width_m / FLEET_GEO_EARTH_RADIUS_M;
  double reach = max_abs_lat + delta * RAD2DEG;
  if (reach > FLEET_ZONE_CORRIDOR_LAT_MAX)
    return zfail(zp, FLEET_ERANGE,
                 "geometry: the corridor reaches latitude %s; corridors (with half their "
                 "width) must stay within +-%s degrees",
                 numstr(a, reach), numstr(b, FLEET_ZONE_CORRIDOR_LAT_MAX));
  /* A point within delta (angular) of a segment point Q lies within delta of
   * Q's latitude and asin(sin(delta) / cos(lat_Q)) of its longitude; segment
   * latitudes never exceed the vertices' largest |latitude|. */
  z->pad_lat = delta * RAD2DEG * (1.0 + 1e-9) + 1e-9;
  z->pad_lng = asin(fmin(1.0, sin(delta) / cos(max_abs_lat * DEG2RAD))) * RAD2DEG *
                   (1.0 + 1e-9) +
               1e-9;
  set_boxes(z, min_lat - z->pad_lat, max_lat + z->pad_lat, min_lng - z->pad_lng,
            max_lng + z->pad_lng);
  return make_box_geoms(zp, z);
}

/* ------------------------------------------------------------------------ */
/* Zone construction                                                        */
/* ------------------------------------------------------------------------ */

static void zone_destroy(fleet_zone_t *z) {
  GEOSContextHandle_t ctx = fleet_zone__geos();
  if (ctx != NULL) {
    if (z->prep)
      GEOSPreparedGeom_destroy_r(ctx, z->prep);
    if (z->geom)
      GEOSGeom_destroy_r(ctx, z->geom);
    for (int i = 0; i < 2; i++)
      if (z->box_geoms[i])
        GEOSGeom_destroy_r(ctx, z->box_geoms[i]);
  }
  json_decref(z->props);
  free(z->id);
  free(z->name);
  free(z->id_text);
  free(z->props_text);
  free(z->geom_text);
  free(z->pts);
  free(z);
}

static fleet_zone_t *zone_alloc(void) {
  fleet_zone_t *z = calloc(1, sizeof *z);
  if (z != NULL)
    atomic_init(&z->refs, 1);
  return z;
}

/* The id from a JSON value (string or integer); fills z->id and z->id_text. */
static int take_id(struct zparse *zp, fleet_zone_t *z, const json_t *v, const char *where) {
  char tmp[32];
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (json_string_length(v) > FLEET_ZONE_ID_MAX)
      return zfail(zp, FLEET_ETOOBIG, "%s: longer than %d bytes", where, FLEET_ZONE_ID_MAX);
    if (json_string_length(v) != strlen(s))
      return zfail(zp, FLEET_ERANGE, "%s: contains a NUL character", where);
    const char *why = id_problem(s);
    if (why != NULL)
      return zfail(zp, FLEET_ERANGE, "%s: %s", where, why);
    z->id = xstrdup(s);
    fleet_buf_t b = FLEET_BUF_INIT;
    if (z->id == NULL || jw_string(&b, s, strlen(s)) != 0 ||
        fleet_buf__detach(&z->id_text, NULL, &b) != 0) {
      fleet_buf_dispose(&b);
      return fleet_error__oom();
    }
    return 0;
  }
  if (json_is_integer(v)) {
    snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d == floor(d) && fabs(d) <= 9007199254740992.0))
      return zfail(zp, FLEET_ETYPE, "%s: %s is not an integer; ids are strings or integers",
                   where, numstr(tmp, d));
    snprintf(tmp, sizeof tmp, "%.0f", d);
  } else {
    return zfail(zp, FLEET_ETYPE, "%s: must be a string or an integer", where);
  }
  z->id = xstrdup(tmp);
  z->id_text = xstrdup(tmp);
  return z->id && z->id_text ? 0 : fleet_error__oom();
}

/* Name from properties (default: the id), then the serialised properties. */
static int take_name_and_props(struct zparse *zp, fleet_zone_t *z) {
  const json_t *nv = json_object_get(z->props, "name");
  if (nv == NULL || json_is_null(nv) || (json_is_string(nv) && json_string_length(nv) == 0)) {
    z->name = xstrdup(z->id);
  } else if (!json_is_string(nv)) {
    return zfail(zp, FLEET_ETYPE, "properties.name: must be a string");
  } else if (json_string_length(nv) > FLEET_ZONE_NAME_MAX) {
    return zfail(zp, FLEET_ETOOBIG, "properties.name: longer than %d bytes",
                 FLEET_ZONE_NAME_MAX);
  } else if (json_string_length(nv) != strlen(json_string_value(nv))) {
    return zfail(zp, FLEET_ERANGE, "properties.name: contains a NUL character");
  } else {
    z->name = xstrdup(json_string_value(nv));
  }
  if (z->name == NULL)
    return fleet_error__oom();
  return jw_detach(&z->props_text, z->props);
}

static const char *const k_supported =
    "use Polygon, MultiPolygon, Point (with properties.radius_m) or LineString (with "
    "properties.width_m)";

/* Geometry of zone `z`, whose props are set. */
static int take_geometry(struct zparse *zp, fleet_zone_t *z, const json_t *g) {
  if (g == NULL || json_is_null(g))
    return zfail(zp, FLEET_EMISSING, "geometry: missing");
  if (!json_is_object(g))
    return zfail(zp, FLEET_ETYPE, "geometry: must be an object");
  const json_t *tv = json_object_get(g, "type");
  if (tv == NULL)
    return zfail(zp, FLEET_EMISSING, "geometry.type: missing");
  if (!json_is_string(tv))
    return zfail(zp, FLEET_ETYPE, "geometry.type: must be a string");
  const char *type = json_string_value(tv);
  int poly = strcmp(type, "Polygon") == 0 || strcmp(type, "MultiPolygon") == 0;
  int circle = strcmp(type, "Point") == 0;
  int corridor = strcmp(type, "LineString") == 0;
  if (!poly && !circle && !corridor)
    return zfail(zp, FLEET_EGEOMETRY, "geometry.type: \"%.40s\" is not supported as a zone; %s",
                 type, k_supported);
  const json_t *coords = json_object_get(g, "coordinates");
  if (coords == NULL || json_is_null(coords))
    return zfail(zp, FLEET_EMISSING, "geometry.coordinates: missing");
  int rc;
  if (poly) {
    z->kind = FLEET_ZONE_POLYGON;
    rc = parse_polygonal(zp, z, type, coords);
  } else if (circle) {
    rc = parse_circle(zp, z, coords, z->props);
  } else {
    rc = parse_corridor(zp, z, coords, z->props);
  }
  if (rc != 0)
    return rc;
  fleet_buf_t b = FLEET_BUF_INIT;
  if (fleet_buf__puts(&b, "{\"type\":") != 0 || jw_string(&b, type, strlen(type)) != 0 ||
      fleet_buf__puts(&b, ",\"coordinates\":") != 0 || jw_value(&b, (json_t *)coords) != 0 ||
      fleet_buf__putc(&b, '}') != 0 || fleet_buf__detach(&z->geom_text, NULL, &b) != 0) {
    fleet_buf_dispose(&b);
    return fleet_error__oom();
  }
  return 0;
}

/* Build a zone from a parsed Feature. `index` >= 0 names the feature in a
 * collection's messages. */
static int zone_from_feature(fleet_zone_t **out, struct geos_tls *geos, const json_t *f,
                             long index) {
  struct zparse zp = {.geos = geos};
  if (index >= 0)
    snprintf(zp.prefix, sizeof zp.prefix, "features[%ld]: ", index);
  if (!json_is_object(f))
    return zfail(&zp, FLEET_ETYPE, "a Feature must be a JSON object");
  const json_t *tv = json_object_get(f, "type");
  if (tv == NULL)
    return zfail(&zp, FLEET_EMISSING, "type: missing");
  if (!json_is_string(tv))
    return zfail(&zp, FLEET_ETYPE, "type: must be a string");
  const char *type = json_string_value(tv);
  if (strcmp(type, "Feature") != 0) {
    if (strcmp(type, "FeatureCollection") == 0)
      return zfail(&zp, FLEET_ETYPE,
                   "type: a FeatureCollection holds many zones; load it with "
                   "fleet_zoneset_load_geojson()");
    if (strcmp(type, "Polygon") == 0 || strcmp(type, "MultiPolygon") == 0 ||
        strcmp(type, "Point") == 0 || strcmp(type, "LineString") == 0)
      return zfail(&zp, FLEET_EMISSING,
                   "id: a bare %s geometry has no id; wrap it in a Feature or use "
                   "fleet_zone_parse_geometry()",
                   type);
    return zfail(&zp, FLEET_ETYPE, "type: expected \"Feature\"");
  }

  const json_t *props = json_object_get(f, "properties");
  if (props != NULL && !json_is_null(props) && !json_is_object(props))
    return zfail(&zp, FLEET_ETYPE, "properties: must be an object or null");

  fleet_zone_t *z = zone_alloc();
  if (z == NULL)
    return fleet_error__oom();
  z->props = json_is_object(props) ? json_deep_copy(props) : json_object();
  int rc = z->props ? 0 : fleet_error__oom();

  const json_t *idv = json_object_get(f, "id");
  if (rc == 0) {
    if (idv != NULL && !json_is_null(idv)) {
      rc = take_id(&zp, z, idv, "id");
    } else {
      idv = json_object_get(z->props, "id");
      if (idv == NULL || json_is_null(idv))
        rc = zfail(&zp, FLEET_EMISSING,
                   "id: missing; give the Feature an \"id\" member or an \"id\" property");
      else
        rc = take_id(&zp, z, idv, "properties.id");
    }
  }
  if (rc == 0 && index >= 0)
    snprintf(zp.prefix, sizeof zp.prefix, "features[%ld] (id \"%s\"): ", index, z->id);
  if (rc == 0)
    rc = take_name_and_props(&zp, z);
  if (rc == 0)
    rc = take_geometry(&zp, z, json_object_get(f, "geometry"));
  if (rc != 0) {
    zone_destroy(z);
    return rc;
  }
  *out = z;
  return 0;
}

static int load_json(json_t **out, const char *what, const char *text, size_t len) {
  if (len > fleet_zone__max_bytes)
    return fleet_error__set(FLEET_ETOOBIG, "%s: %zu bytes is over the limit of %zu", what, len,
                            fleet_zone__max_bytes);
  json_error_t err;
  *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (*out == NULL)
    return fleet_error__set(FLEET_EPARSE, "%s: line %d column %d: %s", what, err.line,
                            err.column, err.text);
  return 0;
}

int fleet_zone_parse(fleet_zone_t **out, const char *json, size_t len) {
  if (out == NULL || json == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_parse: NULL argument");
  *out = NULL;
  struct geos_tls *geos = geos_tls();
  if (geos == NULL)
    return fleet_error__oom();
  json_t *root;
  int rc = load_json(&root, "GeoJSON", json, len);
  if (rc != 0)
    return rc;
  rc = zone_from_feature(out, geos, root, -1);
  json_decref(root);
  return rc;
}

int fleet_zone_parse_geometry(fleet_zone_t **out, const char *id, const char *geometry,
                              size_t geometry_len, const char *properties,
                              size_t properties_len) {
  if (out == NULL || geometry == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_parse_geometry: NULL argument");
  *out = NULL;
  int rc = check_api_id(id);
  if (rc != 0)
    return rc;
  struct geos_tls *geos = geos_tls();
  if (geos == NULL)
    return fleet_error__oom();
  json_t *g = NULL, *props = NULL;
  rc = load_json(&g, "geometry", geometry, geometry_len);
  if (rc == 0 && properties != NULL)
    rc = load_json(&props, "properties", properties, properties_len);
  if (rc == 0 && props != NULL && !json_is_object(props) && !json_is_null(props))
    rc = fleet_error__set(FLEET_ETYPE, "properties: must be an object or null");
  fleet_zone_t *z = NULL;
  if (rc == 0) {
    z = zone_alloc();
    if (z == NULL)
      rc = fleet_error__oom();
  }
  if (rc == 0) {
    struct zparse zp = {.geos = geos};
    z->props = json_is_object(props) ? json_incref(props) : json_object();
    z->id = xstrdup(id);
    fleet_buf_t b = FLEET_BUF_INIT;
    if (z->props == NULL || z->id == NULL || jw_string(&b, id, strlen(id)) != 0 ||
        fleet_buf__detach(&z->id_text, NULL, &b) != 0) {
      fleet_buf_dispose(&b);
      rc = fleet_error__oom();
    }
    if (rc == 0)
      rc = take_name_and_props(&zp, z);
    if (rc == 0)
      rc = take_geometry(&zp, z, g);
  }
  json_decref(g);
  json_decref(props);
  if (rc != 0) {
    if (z != NULL)
      zone_destroy(z);
    return rc;
  }
  *out = z;
  return 0;
}

int fleet_zone_new_circle(fleet_zone_t **out, const char *id, const char *name, double lat,
                          double lng, double radius_m) {
  char a[FLEET_NUMFMT_DOUBLE_MAX];
  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_new_circle: NULL out");
  *out = NULL;
  int rc = check_api_id(id);
  if (rc != 0)
    return rc;
  if (name != NULL && (strlen(name) > FLEET_ZONE_NAME_MAX ||
                       !utf8_valid((const unsigned char *)name, strlen(name))))
    return fleet_error__set(FLEET_EINVAL, "name: must be valid UTF-8 of at most %d bytes",
                            FLEET_ZONE_NAME_MAX);
  if (!(lat >= -90.0 && lat <= 90.0))
    return fleet_error__set(FLEET_ERANGE, "lat: %s is outside [-90, 90]", numstr(a, lat));
  if (!(lng >= -180.0 && lng <= 180.0))
    return fleet_error__set(FLEET_ERANGE, "lng: %s is outside [-180, 180]", numstr(a, lng));
  if (!(radius_m > 0.0 && radius_m <= FLEET_ZONE_RADIUS_MAX_M))
    return fleet_error__set(FLEET_ERANGE, "radius_m: %s must be > 0 and <= 5000000",
                            numstr(a, radius_m));
  struct geos_tls *geos = geos_tls();
  if (geos == NULL)
    return fleet_error__oom();
  fleet_zone_t *z = zone_alloc();
  if (z == NULL)
    return fleet_error__oom();
  struct zparse zp = {.geos = geos};
  z->props = json_object();
  z->id = xstrdup(id);
  fleet_buf_t b = FLEET_BUF_INIT;
  if (z->props == NULL || z->id == NULL ||
      (name != NULL && json_object_set_new(z->props, "name", json_string(name)) != 0) ||
      json_object_set_new(z->props, "radius_m", json_real(radius_m)) != 0 ||
      jw_string(&b, id, strlen(id)) != 0 || fleet_buf__detach(&z->id_text, NULL, &b) != 0) {
    fleet_buf_dispose(&b);
    rc = fleet_error__oom();
  }
  if (rc == 0)
    rc = take_name_and_props(&zp, z);
  if (rc == 0)
    rc = circle_setup(&zp, z, lat, lng, radius_m);
  if (rc == 0) {
    if (fleet_buf__puts(&b, "{\"type\":\"Point\",\"coordinates\":[") != 0 ||
        jw_number(&b, lng) != 0 || fleet_buf__putc(&b, ',') != 0 || jw_number(&b, lat) != 0 ||
        fleet_buf__puts(&b, "]}") != 0 || fleet_buf__detach(&z->geom_text, NULL, &b) != 0) {
      fleet_buf_dispose(&b);
      rc = fleet_error__oom();
    }
  }
  if (rc != 0) {
    zone_destroy(z);
    return rc;
  }
  *out = z;
  return 0;
}

fleet_zone_t *fleet_zone_ref(const fleet_zone_t *zone) {
  fleet_zone_t *z = (fleet_zone_t *)zone;
  if (z != NULL)
    atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
  return z;
}

void fleet_zone_free(fleet_zone_t *zone) {
  if (zone != NULL && atomic_fetch_sub_explicit(&zone->refs, 1, memory_order_acq_rel) == 1)
    zone_destroy(zone);
}

const char *fleet_zone_id(const fleet_zone_t *zone) { return zone ? zone->id : ""; }

const char *fleet_zone_name(const fleet_zone_t *zone) { return zone ? zone->name : ""; }

fleet_zone_kind_t fleet_zone_kind(const fleet_zone_t *zone) {
  return zone ? zone->kind : (fleet_zone_kind_t)0;
}

const char *fleet_zone_kind_name(fleet_zone_kind_t kind) {
  switch (kind) {
  case FLEET_ZONE_POLYGON:
    return "polygon";
  case FLEET_ZONE_CIRCLE:
    return "circle";
  case FLEET_ZONE_CORRIDOR:
    return "corridor";
  default:
    return "unknown";
  }
}

int fleet_zone__test(const fleet_zone_t *z, GEOSContextHandle_t ctx, const GEOSGeometry *pt,
                     double lat, double lng) {
  switch (z->kind) {
  case FLEET_ZONE_CIRCLE:
    return circle_test(z, lat, lng);
  case FLEET_ZONE_CORRIDOR:
    return corridor_test(z, lat, lng);
  case FLEET_ZONE_POLYGON: {
    char c = GEOSPreparedCovers_r(ctx, z->prep, pt);
    if (c == 2)
      return FLEET_EINTERNAL;
    return c;
  }
  default:
    return FLEET_EINTERNAL;
  }
}

static int check_latlng(double lat, double lng) {
  char a[FLEET_NUMFMT_DOUBLE_MAX];
  if (!(lat >= -90.0 && lat <= 90.0))
    return fleet_error__set(FLEET_ERANGE, "lat: %s is outside [-90, 90]", numstr(a, lat));
  if (!(lng >= -180.0 && lng <= 180.0))
    return fleet_error__set(FLEET_ERANGE, "lng: %s is outside [-180, 180]", numstr(a, lng));
  return 0;
}

/* Polygon test at one position with the pole and +-180 rules. */
static int polygon_contains(const fleet_zone_t *z, struct geos_tls *t, double lat, double lng) {
  if (lat == 90.0)
    return z->has_north_pole;
  if (lat == -90.0)
    return z->has_south_pole;
  int in = 0;
  int passes = lng == -180.0 ? 2 : 1;
  for (int p = 0; p < passes && !in; p++) {
    double x = p == 0 ? lng : 180.0;
    if (x < z->boxes[0][0] || x > z->boxes[0][2] || lat < z->boxes[0][1] ||
        lat > z->boxes[0][3])
      continue;
    t->msg[0] = '\0';
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(t->ctx, x, lat);
    if (pt == NULL)
      return geos_fail(t, "point");
    in = fleet_zone__test(z, t->ctx, pt, lat, x);
    GEOSGeom_destroy_r(t->ctx, pt);
    if (in < 0)
      return geos_fail(t, "covers");
  }
  return in;
}

int fleet_zone_contains(int *out_inside, const fleet_zone_t *zone, double lat, double lng) {
  if (out_inside == NULL || zone == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_contains: NULL argument");
  int rc = check_latlng(lat, lng);
  if (rc != 0)
    return rc;
  if (lng == 180.0)
    lng = -180.0;
  int in;
  if (zone->kind == FLEET_ZONE_POLYGON) {
    struct geos_tls *t = geos_tls();
    if (t == NULL)
      return fleet_error__oom();
    in = polygon_contains(zone, t, lat, lng);
    if (in < 0)
      return in;
  } else {
    in = fleet_zone__test(zone, NULL, NULL, lat, lng);
  }
  *out_inside = in;
  return 0;
}

void fleet_zone_bbox(double *out_min_lat, double *out_min_lng, double *out_max_lat,
                     double *out_max_lng, const fleet_zone_t *zone) {
  if (zone == NULL) {
    *out_min_lat = *out_min_lng = *out_max_lat = *out_max_lng = NAN;
    return;
  }
  *out_min_lat = zone->bbox[0];
  *out_min_lng = zone->bbox[1];
  *out_max_lat = zone->bbox[2];
  *out_max_lng = zone->bbox[3];
}

static int get_prop(const json_t **out, const fleet_zone_t *zone, const char *name) {
  if (zone == NULL || name == NULL)
    return fleet_error__set(FLEET_EINVAL, "zone property: NULL argument");
  const json_t *v = json_object_get(zone->props, name);
  if (v == NULL || json_is_null(v))
    return fleet_error__set(FLEET_ENOTFOUND, "properties.%s: no such property in zone \"%s\"",
                            name, zone->id);
  *out = v;
  return 0;
}

int fleet_zone_property_number(double *out, const fleet_zone_t *zone, const char *name) {
  const json_t *v;
  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_property_number: NULL out");
  int rc = get_prop(&v, zone, name);
  if (rc != 0)
    return rc;
  if (!json_is_number(v))
    return fleet_error__set(FLEET_ETYPE, "properties.%s: not a number in zone \"%s\"", name,
                            zone->id);
  *out = json_number_value(v);
  return 0;
}

int fleet_zone_property_string(const char **out, const fleet_zone_t *zone, const char *name) {
  const json_t *v;
  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_property_string: NULL out");
  int rc = get_prop(&v, zone, name);
  if (rc != 0)
    return rc;
  if (!json_is_string(v))
    return fleet_error__set(FLEET_ETYPE, "properties.%s: not a string in zone \"%s\"", name,
                            zone->id);
  *out = json_string_value(v);
  return 0;
}

int fleet_zone_property_bool(int *out, const fleet_zone_t *zone, const char *name) {
  const json_t *v;
  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_property_bool: NULL out");
  int rc = get_prop(&v, zone, name);
  if (rc != 0)
    return rc;
  if (!json_is_boolean(v))
    return fleet_error__set(FLEET_ETYPE, "properties.%s: not a boolean in zone \"%s\"", name,
                            zone->id);
  *out = json_is_true(v);
  return 0;
}

int fleet_zone_properties_json(fleet_buf_t *buf, const fleet_zone_t *zone) {
  if (buf == NULL || zone == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_properties_json: NULL argument");
  if (fleet_buf__puts(buf, zone->props_text) != 0)
    return fleet_error__oom();
  return 0;
}

static int encode_feature(fleet_buf_t *buf, const fleet_zone_t *z) {
  if (fleet_buf__puts(buf, "{\"type\":\"Feature\",\"id\":") != 0 ||
      fleet_buf__puts(buf, z->id_text) != 0 || fleet_buf__puts(buf, ",\"properties\":") != 0 ||
      fleet_buf__puts(buf, z->props_text) != 0 || fleet_buf__puts(buf, ",\"geometry\":") != 0 ||
      fleet_buf__puts(buf, z->geom_text) != 0 || fleet_buf__putc(buf, '}') != 0)
    return FLEET_ENOMEM;
  return 0;
}

int fleet_zone_encode_geojson(fleet_buf_t *buf, const fleet_zone_t *zone) {
  if (buf == NULL || zone == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zone_encode_geojson: NULL argument");
  size_t mark = buf->len;
  if (encode_feature(buf, zone) != 0) {
    if (buf->ptr != NULL) {
      buf->len = mark;
      buf->ptr[mark] = '\0';
    }
    return fleet_error__oom();
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

struct snap_entry {
  uint32_t key;
  fleet_zone_t *zone;
};

/* One STRtree item: a zone's box (a zone with two boxes has two items). The
 * polygon test's inputs are copied in, so a lookup that meets a polygon does
 * not touch the zone itself (one cache miss less per candidate). */
struct snap_item {
  const GEOSPreparedGeometry *prep; /* polygons only */
  const fleet_zone_t *zone;
  uint32_t key;
  int polygon;
};

struct fleet_zoneset_snapshot {
  atomic_size_t refs;
  uint64_t generation;
  size_t count;
  struct snap_entry *entries; /* ascending key */
  fleet_zone_t **by_key;      /* [nkeys]: zone or NULL */
  uint32_t nkeys;
  const struct snap_entry **by_id; /* sorted by id */
  struct snap_item *items;
  size_t nitems;
  GEOSSTRtree *tree; /* NULL when empty */
  double env[4];     /* union of every box: minx, miny, maxx, maxy */
};

static void snapshot_destroy(fleet_zoneset_snapshot_t *s) {
  if (s->tree != NULL) {
    GEOSContextHandle_t ctx = fleet_zone__geos();
    if (ctx != NULL)
      GEOSSTRtree_destroy_r(ctx, s->tree);
  }
  for (size_t i = 0; i < s->count; i++)
    fleet_zone_free(s->entries[i].zone);
  free(s->entries);
  free(s->by_key);
  free(s->by_id);
  free(s->items);
  free(s);
}

void fleet_zoneset_snapshot_free(fleet_zoneset_snapshot_t *snap) {
  if (snap != NULL && atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
    snapshot_destroy(snap);
}

fleet_zoneset_snapshot_t *fleet_zoneset_snapshot_ref(const fleet_zoneset_snapshot_t *snap) {
  fleet_zoneset_snapshot_t *s = (fleet_zoneset_snapshot_t *)snap;
  if (s != NULL)
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

static int cmp_entry_id(const void *a, const void *b) {
  const struct snap_entry *x = *(const struct snap_entry *const *)a;
  const struct snap_entry *y = *(const struct snap_entry *const *)b;
  return strcmp(x->zone->id, y->zone->id);
}

static void ignore_item(void *item, void *userdata) {
  (void)item;
  (void)userdata;
}

/* A snapshot of the zones in by_key[0..nkeys) (borrowed; the snapshot takes
 * its own references), with its STRtree built and ready for concurrent
 * queries. */
static int snapshot_build(fleet_zoneset_snapshot_t **out, fleet_zone_t *const *by_key,
                          uint32_t nkeys, uint64_t generation) {
  fleet_zoneset_snapshot_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return fleet_error__oom();
  atomic_init(&s->refs, 1);
  s->generation = generation;
  s->nkeys = nkeys;
  size_t n = 0, nitems = 0;
  for (uint32_t k = 0; k < nkeys; k++)
    if (by_key[k] != NULL) {
      n++;
      nitems += (size_t)by_key[k]->nboxes;
    }
  s->by_key = calloc(nkeys ? nkeys : 1, sizeof *s->by_key);
  s->entries = calloc(n ? n : 1, sizeof *s->entries);
  s->by_id = calloc(n ? n : 1, sizeof *s->by_id);
  s->items = calloc(nitems ? nitems : 1, sizeof *s->items);
  if (!s->by_key || !s->entries || !s->by_id || !s->items) {
    snapshot_destroy(s);
    return fleet_error__oom();
  }
  s->env[0] = s->env[1] = INFINITY;
  s->env[2] = s->env[3] = -INFINITY;
  for (uint32_t k = 0; k < nkeys; k++) {
    fleet_zone_t *z = by_key[k];
    if (z == NULL)
      continue;
    s->by_key[k] = fleet_zone_ref(z);
    s->entries[s->count].key = k;
    s->entries[s->count].zone = z;
    s->by_id[s->count] = &s->entries[s->count];
    s->count++;
    for (int b = 0; b < z->nboxes; b++) {
      s->items[s->nitems].prep = z->prep;
      s->items[s->nitems].zone = z;
      s->items[s->nitems].key = k;
      s->items[s->nitems].polygon = z->kind == FLEET_ZONE_POLYGON;
      s->nitems++;
      s->env[0] = fmin(s->env[0], z->boxes[b][0]);
      s->env[1] = fmin(s->env[1], z->boxes[b][1]);
      s->env[2] = fmax(s->env[2], z->boxes[b][2]);
      s->env[3] = fmax(s->env[3], z->boxes[b][3]);
    }
  }
  qsort(s->by_id, s->count, sizeof *s->by_id, cmp_entry_id);
  if (s->count > 0) {
    struct geos_tls *t = geos_tls();
    if (t == NULL) {
      snapshot_destroy(s);
      return fleet_error__oom();
    }
    t->msg[0] = '\0';
    s->tree = GEOSSTRtree_create_r(t->ctx, STRTREE_NODE_CAPACITY);
    if (s->tree == NULL) {
      snapshot_destroy(s);
      return geos_fail(t, "STRtree");
    }
    size_t i = 0;
    for (size_t e = 0; e < s->count; e++) {
      const fleet_zone_t *z = s->entries[e].zone;
      for (int b = 0; b < z->nboxes; b++, i++) {
        const GEOSGeometry *g = z->kind == FLEET_ZONE_POLYGON ? z->geom : z->box_geoms[b];
        GEOSSTRtree_insert_r(t->ctx, s->tree, g, &s->items[i]);
      }
    }
    /* GEOS builds the tree on its first query and cannot be changed after:
     * query once here so lookups from many threads only read it. */
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(t->ctx, 0.0, 0.0);
    if (pt == NULL) {
      snapshot_destroy(s);
      return geos_fail(t, "STRtree build");
    }
    GEOSSTRtree_query_r(t->ctx, s->tree, pt, ignore_item, NULL);
    GEOSGeom_destroy_r(t->ctx, pt);
    if (t->msg[0] != '\0') {
      snapshot_destroy(s);
      return geos_fail(t, "STRtree build");
    }
  }
  *out = s;
  return 0;
}

uint64_t fleet_zoneset_snapshot_generation(const fleet_zoneset_snapshot_t *snap) {
  return snap ? snap->generation : 0;
}

size_t fleet_zoneset_snapshot_count(const fleet_zoneset_snapshot_t *snap) {
  return snap ? snap->count : 0;
}

const fleet_zone_t *fleet_zoneset_snapshot_at(const fleet_zoneset_snapshot_t *snap,
                                              size_t index) {
  return snap && index < snap->count ? snap->entries[index].zone : NULL;
}

uint32_t fleet_zoneset_snapshot_key_at(const fleet_zoneset_snapshot_t *snap, size_t index) {
  return snap && index < snap->count ? snap->entries[index].key : FLEET_ZONE_KEY_NONE;
}

const fleet_zone_t *fleet_zoneset_snapshot_get(const fleet_zoneset_snapshot_t *snap,
                                               uint32_t key) {
  return snap && key < snap->nkeys ? snap->by_key[key] : NULL;
}

static const struct snap_entry *snapshot_find_entry(const fleet_zoneset_snapshot_t *s,
                                                    const char *id) {
  size_t lo = 0, hi = s->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->by_id[mid]->zone->id, id);
    if (c == 0)
      return s->by_id[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const fleet_zone_t *fleet_zoneset_snapshot_find(uint32_t *out_key,
                                                const fleet_zoneset_snapshot_t *snap,
                                                const char *id) {
  if (snap == NULL || id == NULL)
    return NULL;
  const struct snap_entry *e = snapshot_find_entry(snap, id);
  if (e == NULL)
    return NULL;
  if (out_key != NULL)
    *out_key = e->key;
  return e->zone;
}

enum query_mode {
  Q_POINT,   /* the usual case */
  Q_PLUS180, /* second pass for lng +-180: polygons only reachable at +180 */
  Q_POLE     /* lat +-90 */
};

struct query {
  struct geos_tls *geos;
  const GEOSGeometry *pt;     /* at (lng, lat) */
  const GEOSGeometry *pt_alt; /* at (180, lat) when lng is -180 */
  double lat, lng;
  enum query_mode mode;
  int err;
  uint32_t *keys;
  size_t cap, n, total;
};

/* Keep the `cap` smallest keys, sorted, and count them all. */
static void result_add(struct query *q, uint32_t key) {
  q->total++;
  size_t n = q->n;
  if (n == q->cap) {
    if (n == 0 || key >= q->keys[n - 1])
      return;
    n--; /* the largest falls off */
  } else {
    q->n++;
  }
  size_t i = n;
  while (i > 0 && q->keys[i - 1] > key) {
    q->keys[i] = q->keys[i - 1];
    i--;
  }
  q->keys[i] = key;
}

static void on_candidate(void *item, void *userdata) {
  const struct snap_item *it = item;
  struct query *q = userdata;
  const fleet_zone_t *z = it->zone;
  int in;
  if (q->err != 0)
    return;
  switch (q->mode) {
  case Q_POINT:
    if (it->polygon && q->pt_alt == NULL) {
      char c = GEOSPreparedCovers_r(q->geos->ctx, it->prep, q->pt);
      in = c == 2 ? FLEET_EINTERNAL : c;
      break;
    }
    in = fleet_zone__test(z, q->geos->ctx, q->pt, q->lat, q->lng);
    /* At lng -180 a polygon spanning both edges of the map is tested at +180
     * too (its box holds both), the twin pass skips it. */
    if (in == 0 && q->pt_alt != NULL && z->kind == FLEET_ZONE_POLYGON && z->boxes[0][2] >= 180.0)
      in = fleet_zone__test(z, q->geos->ctx, q->pt_alt, q->lat, 180.0);
    break;
  case Q_PLUS180:
    /* Circles and corridors were found at -180 (their boxes are split there);
     * polygons whose box holds -180 were handled in the first pass. */
    if (z->kind != FLEET_ZONE_POLYGON || z->boxes[0][0] <= -180.0)
      return;
    in = fleet_zone__test(z, q->geos->ctx, q->pt_alt, q->lat, 180.0);
    break;
  case Q_POLE:
  default:
    if (z->kind == FLEET_ZONE_POLYGON)
      in = q->lat > 0 ? z->has_north_pole : z->has_south_pole;
    else
      in = fleet_zone__test(z, NULL, NULL, q->lat, q->lng);
    break;
  }
  if (in < 0)
    q->err = in;
  else if (in)
    result_add(q, it->key);
}

static int in_env(const double env[4], double x, double y) {
  return x >= env[0] && x <= env[2] && y >= env[1] && y <= env[3];
}

int fleet_zoneset_snapshot_lookup(uint32_t *keys, size_t cap, size_t *count,
                                  const fleet_zoneset_snapshot_t *snap, double lat,
                                  double lng) {
  if (snap == NULL || count == NULL || (keys == NULL && cap > 0))
    return fleet_error__set(FLEET_EINVAL, "zone lookup: NULL argument");
  *count = 0;
  if (FLEET_UNLIKELY(!(lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0)))
    return check_latlng(lat, lng);
  if (lng == 180.0)
    lng = -180.0;
  int twin = lng == -180.0;
  int pole = lat == 90.0 || lat == -90.0;
  if (snap->tree == NULL ||
      (!pole && !in_env(snap->env, lng, lat) && !(twin && in_env(snap->env, 180.0, lat))) ||
      (pole && (lat < snap->env[1] || lat > snap->env[3])))
    return 0;
  struct geos_tls *t = geos_tls();
  if (t == NULL)
    return fleet_error__oom();
  GEOSContextHandle_t ctx = t->ctx;
  struct query q = {.geos = t, .lat = lat, .lng = lng, .keys = keys, .cap = cap};
  GEOSGeometry *g1 = NULL, *g2 = NULL;
  t->msg[0] = '\0';
  if (pole) {
    q.mode = Q_POLE;
    g1 = GEOSGeom_createRectangle_r(ctx, -180.0, lat, 180.0, lat);
    if (g1 == NULL)
      return geos_fail(t, "zone lookup");
    GEOSSTRtree_query_r(ctx, snap->tree, g1, on_candidate, &q);
  } else {
    q.mode = Q_POINT;
    g1 = GEOSGeom_createPointFromXY_r(ctx, lng, lat);
    if (twin)
      g2 = GEOSGeom_createPointFromXY_r(ctx, 180.0, lat);
    if (g1 == NULL || (twin && g2 == NULL)) {
      if (g1)
        GEOSGeom_destroy_r(ctx, g1);
      return geos_fail(t, "zone lookup");
    }
    q.pt = g1;
    q.pt_alt = g2;
    GEOSSTRtree_query_r(ctx, snap->tree, g1, on_candidate, &q);
    if (twin && q.err == 0) {
      q.mode = Q_PLUS180;
      GEOSSTRtree_query_r(ctx, snap->tree, g2, on_candidate, &q);
    }
  }
  GEOSGeom_destroy_r(ctx, g1);
  if (g2)
    GEOSGeom_destroy_r(ctx, g2);
  if (q.err != 0)
    return geos_fail(t, "zone lookup");
  *count = q.total;
  if (q.total > cap)
    return fleet_error__set(FLEET_ETOOBIG,
                            "zone lookup: %zu zones contain the point but the array holds %zu",
                            q.total, cap);
  return 0;
}

int fleet_zoneset_snapshot_encode_geojson(fleet_buf_t *buf,
                                          const fleet_zoneset_snapshot_t *snap) {
  if (buf == NULL || snap == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_snapshot_encode_geojson: NULL argument");
  size_t mark = buf->len;
  int rc = fleet_buf__puts(buf, "{\"type\":\"FeatureCollection\",\"features\":[");
  for (size_t i = 0; rc == 0 && i < snap->count; i++) {
    if (i > 0)
      rc = fleet_buf__putc(buf, ',');
    if (rc == 0)
      rc = encode_feature(buf, snap->entries[i].zone);
  }
  if (rc == 0)
    rc = fleet_buf__puts(buf, "]}");
  if (rc != 0) {
    if (buf->ptr != NULL) {
      buf->len = mark;
      buf->ptr[mark] = '\0';
    }
    return fleet_error__oom();
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Id interning                                                             */
/* ------------------------------------------------------------------------ */

struct intern {
  char **ids;      /* [key] -> id; ids[0] unused */
  uint32_t n;      /* keys assigned: 1..n */
  size_t ids_cap;
  uint32_t *slots; /* open addressing: 0 empty, else a key */
  size_t nslots;   /* power of two */
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static uint32_t intern_find(const struct intern *in, const char *id) {
  if (in->nslots == 0)
    return FLEET_ZONE_KEY_NONE;
  size_t mask = in->nslots - 1;
  for (size_t i = (size_t)hash_str(id) & mask;; i = (i + 1) & mask) {
    uint32_t k = in->slots[i];
    if (k == 0)
      return FLEET_ZONE_KEY_NONE;
    if (strcmp(in->ids[k], id) == 0)
      return k;
  }
}

static void intern_place(uint32_t *slots, size_t nslots, const char *id, uint32_t key) {
  size_t mask = nslots - 1;
  size_t i = (size_t)hash_str(id) & mask;
  while (slots[i] != 0)
    i = (i + 1) & mask;
  slots[i] = key;
}

/* The key of `id`, assigning the next one if it is new. */
static int intern_get(uint32_t *out, struct intern *in, const char *id) {
  uint32_t k = intern_find(in, id);
  if (k != FLEET_ZONE_KEY_NONE) {
    *out = k;
    return 0;
  }
  if (in->n == UINT32_MAX - 1)
    return fleet_error__set(FLEET_ETOOBIG, "zone set: every key is used");
  if ((size_t)in->n + 2 > in->ids_cap) {
    size_t cap = in->ids_cap ? in->ids_cap * 2 : 64;
    char **ids = realloc(in->ids, cap * sizeof *ids);
    if (ids == NULL)
      return fleet_error__oom();
    in->ids = ids;
    in->ids_cap = cap;
  }
  if (((size_t)in->n + 1) * 2 > in->nslots) {
    size_t ns = in->nslots ? in->nslots * 2 : 128;
    uint32_t *slots = calloc(ns, sizeof *slots);
    if (slots == NULL)
      return fleet_error__oom();
    for (uint32_t key = 1; key <= in->n; key++)
      intern_place(slots, ns, in->ids[key], key);
    free(in->slots);
    in->slots = slots;
    in->nslots = ns;
  }
  char *copy = xstrdup(id);
  if (copy == NULL)
    return fleet_error__oom();
  k = ++in->n;
  in->ids[k] = copy;
  intern_place(in->slots, in->nslots, copy, k);
  *out = k;
  return 0;
}

static void intern_free(struct intern *in) {
  for (uint32_t k = 1; k <= in->n; k++)
    free(in->ids[k]);
  free(in->ids);
  free(in->slots);
}

/* ------------------------------------------------------------------------ */
/* Zone sets                                                                */
/* ------------------------------------------------------------------------ */

struct fleet_zoneset {
  pthread_mutex_t write_lock;  /* serialises mutations */
  pthread_mutex_t snap_lock;   /* guards `current` while a reader takes a reference */
  pthread_mutex_t intern_lock; /* guards `in` */
  fleet_zoneset_snapshot_t *current;
  _Atomic uint64_t generation;
  struct intern in;
};

int fleet_zoneset_new(fleet_zoneset_t **out) {
  if (out == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_new: NULL out");
  *out = NULL;
  fleet_zoneset_t *set = calloc(1, sizeof *set);
  if (set == NULL)
    return fleet_error__oom();
  int rc = snapshot_build(&set->current, NULL, 0, 0);
  if (rc != 0) {
    free(set);
    return rc;
  }
  pthread_mutex_init(&set->write_lock, NULL);
  pthread_mutex_init(&set->snap_lock, NULL);
  pthread_mutex_init(&set->intern_lock, NULL);
  atomic_init(&set->generation, 0);
  *out = set;
  return 0;
}

void fleet_zoneset_free(fleet_zoneset_t *set) {
  if (set == NULL)
    return;
  fleet_zoneset_snapshot_free(set->current);
  intern_free(&set->in);
  pthread_mutex_destroy(&set->write_lock);
  pthread_mutex_destroy(&set->snap_lock);
  pthread_mutex_destroy(&set->intern_lock);
  free(set);
}

int fleet_zoneset_snapshot(fleet_zoneset_snapshot_t **out, const fleet_zoneset_t *set) {
  if (out == NULL || set == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_snapshot: NULL argument");
  fleet_zoneset_t *s = (fleet_zoneset_t *)set;
  pthread_mutex_lock(&s->snap_lock);
  *out = fleet_zoneset_snapshot_ref(s->current);
  pthread_mutex_unlock(&s->snap_lock);
  return 0;
}

uint64_t fleet_zoneset_generation(const fleet_zoneset_t *set) {
  return set ? atomic_load_explicit(&set->generation, memory_order_acquire) : 0;
}

/* Publish a snapshot of by_key as the next generation. Call with write_lock held. */
static int set_commit(fleet_zoneset_t *set, fleet_zone_t *const *by_key, uint32_t nkeys) {
  uint64_t gen = atomic_load_explicit(&set->generation, memory_order_relaxed) + 1;
  fleet_zoneset_snapshot_t *s;
  int rc = snapshot_build(&s, by_key, nkeys, gen);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&set->snap_lock);
  fleet_zoneset_snapshot_t *old = set->current;
  set->current = s;
  atomic_store_explicit(&set->generation, gen, memory_order_release);
  pthread_mutex_unlock(&set->snap_lock);
  fleet_zoneset_snapshot_free(old);
  return 0;
}

/* A writable copy of the current key table, at least `nkeys` long. */
static fleet_zone_t **copy_table(const fleet_zoneset_snapshot_t *cur, uint32_t nkeys) {
  if (nkeys < cur->nkeys)
    nkeys = cur->nkeys;
  fleet_zone_t **t = calloc(nkeys ? nkeys : 1, sizeof *t);
  if (t != NULL && cur->nkeys > 0)
    memcpy(t, cur->by_key, cur->nkeys * sizeof *t);
  return t;
}

enum put_mode { PUT_ADD, PUT_REPLACE, PUT_UPSERT };

static int set_put(uint32_t *out_key, fleet_zoneset_t *set, const fleet_zone_t *zone,
                   enum put_mode mode) {
  if (set == NULL || zone == NULL)
    return fleet_error__set(FLEET_EINVAL, "zone set: NULL argument");
  pthread_mutex_lock(&set->write_lock);
  const fleet_zoneset_snapshot_t *cur = set->current;
  uint32_t key;
  int rc = 0;
  pthread_mutex_lock(&set->intern_lock);
  if (mode == PUT_REPLACE) {
    key = intern_find(&set->in, zone->id);
    if (key == FLEET_ZONE_KEY_NONE)
      rc = fleet_error__set(FLEET_ENOTFOUND, "zone \"%s\": not in the set", zone->id);
  } else {
    rc = intern_get(&key, &set->in, zone->id);
  }
  pthread_mutex_unlock(&set->intern_lock);
  if (rc == 0) {
    int present = key < cur->nkeys && cur->by_key[key] != NULL;
    if (mode == PUT_ADD && present)
      rc = fleet_error__set(FLEET_EEXISTS, "zone \"%s\": already in the set", zone->id);
    else if (mode == PUT_REPLACE && !present)
      rc = fleet_error__set(FLEET_ENOTFOUND, "zone \"%s\": not in the set", zone->id);
  }
  if (rc == 0) {
    fleet_zone_t **t = copy_table(cur, key + 1);
    if (t == NULL) {
      rc = fleet_error__oom();
    } else {
      t[key] = (fleet_zone_t *)zone;
      rc = set_commit(set, t, key + 1 > cur->nkeys ? key + 1 : cur->nkeys);
      free(t);
    }
  }
  pthread_mutex_unlock(&set->write_lock);
  if (rc == 0 && out_key != NULL)
    *out_key = key;
  return rc;
}

int fleet_zoneset_add(uint32_t *out_key, fleet_zoneset_t *set, const fleet_zone_t *zone) {
  return set_put(out_key, set, zone, PUT_ADD);
}

int fleet_zoneset_replace(uint32_t *out_key, fleet_zoneset_t *set, const fleet_zone_t *zone) {
  return set_put(out_key, set, zone, PUT_REPLACE);
}

int fleet_zoneset_put(uint32_t *out_key, fleet_zoneset_t *set, const fleet_zone_t *zone) {
  return set_put(out_key, set, zone, PUT_UPSERT);
}

int fleet_zoneset_remove(fleet_zoneset_t *set, const char *id) {
  if (set == NULL || id == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_remove: NULL argument");
  pthread_mutex_lock(&set->write_lock);
  const fleet_zoneset_snapshot_t *cur = set->current;
  pthread_mutex_lock(&set->intern_lock);
  uint32_t key = intern_find(&set->in, id);
  pthread_mutex_unlock(&set->intern_lock);
  int rc;
  if (key == FLEET_ZONE_KEY_NONE || key >= cur->nkeys || cur->by_key[key] == NULL) {
    rc = fleet_error__set(FLEET_ENOTFOUND, "zone \"%.*s\": not in the set", FLEET_ZONE_ID_MAX,
                          id);
  } else {
    fleet_zone_t **t = copy_table(cur, 0);
    if (t == NULL) {
      rc = fleet_error__oom();
    } else {
      t[key] = NULL;
      rc = set_commit(set, t, cur->nkeys);
      free(t);
    }
  }
  pthread_mutex_unlock(&set->write_lock);
  return rc;
}

int fleet_zoneset_clear(fleet_zoneset_t *set) {
  if (set == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_clear: NULL set");
  pthread_mutex_lock(&set->write_lock);
  int rc = set->current->count == 0 ? 0 : set_commit(set, NULL, 0);
  pthread_mutex_unlock(&set->write_lock);
  return rc;
}

struct id_index {
  const char *id;
  size_t index;
};

static int cmp_id_index(const void *a, const void *b) {
  const struct id_index *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  if (c != 0)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

int fleet_zoneset_load_geojson(fleet_zoneset_t *set, const char *json, size_t len,
                               unsigned int flags) {
  if (set == NULL || json == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_load_geojson: NULL argument");
  if ((flags & ~(unsigned int)FLEET_ZONESET_LOAD_REPLACE_ALL) != 0)
    return fleet_error__set(FLEET_EINVAL, "flags: unknown bits 0x%x",
                            flags & ~(unsigned int)FLEET_ZONESET_LOAD_REPLACE_ALL);
  struct geos_tls *geos = geos_tls();
  if (geos == NULL)
    return fleet_error__oom();
  json_t *root;
  int rc = load_json(&root, "GeoJSON", json, len);
  if (rc != 0)
    return rc;

  const json_t *features = NULL;
  const json_t *tv = json_is_object(root) ? json_object_get(root, "type") : NULL;
  int single = 0;
  if (!json_is_object(root))
    rc = fleet_error__set(FLEET_ETYPE, "GeoJSON: expected an object");
  else if (tv == NULL)
    rc = fleet_error__set(FLEET_EMISSING, "type: missing");
  else if (!json_is_string(tv))
    rc = fleet_error__set(FLEET_ETYPE, "type: must be a string");
  else if (strcmp(json_string_value(tv), "Feature") == 0)
    single = 1;
  else if (strcmp(json_string_value(tv), "FeatureCollection") != 0)
    rc = fleet_error__set(FLEET_ETYPE, "type: expected \"FeatureCollection\" or \"Feature\"");
  else if ((features = json_object_get(root, "features")) == NULL)
    rc = fleet_error__set(FLEET_EMISSING, "features: missing");
  else if (!json_is_array(features))
    rc = fleet_error__set(FLEET_ETYPE, "features: must be an array");

  size_t n = single ? 1 : (rc == 0 ? json_array_size(features) : 0);
  fleet_zone_t **zones = NULL;
  struct id_index *ids = NULL;
  if (rc == 0) {
    zones = calloc(n ? n : 1, sizeof *zones);
    ids = calloc(n ? n : 1, sizeof *ids);
    if (zones == NULL || ids == NULL)
      rc = fleet_error__oom();
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = single ? zone_from_feature(&zones[i], geos, root, -1)
                : zone_from_feature(&zones[i], geos, json_array_get(features, i), (long)i);
    if (rc == 0) {
      ids[i].id = zones[i]->id;
      ids[i].index = i;
    }
  }
  if (rc == 0 && n > 1) {
    qsort(ids, n, sizeof *ids, cmp_id_index);
    for (size_t i = 1; i < n; i++)
      if (strcmp(ids[i - 1].id, ids[i].id) == 0) {
        rc = fleet_error__set(FLEET_EEXISTS,
                              "features[%zu] (id \"%s\"): duplicate id, already used by "
                              "features[%zu]",
                              ids[i].index, ids[i].id, ids[i - 1].index);
        break;
      }
  }

  if (rc == 0) {
    pthread_mutex_lock(&set->write_lock);
    const fleet_zoneset_snapshot_t *cur = set->current;
    uint32_t *keys = calloc(n ? n : 1, sizeof *keys);
    uint32_t maxkey = 0;
    if (keys == NULL)
      rc = fleet_error__oom();
    pthread_mutex_lock(&set->intern_lock);
    for (size_t i = 0; rc == 0 && i < n; i++) {
      rc = intern_get(&keys[i], &set->in, zones[i]->id);
      if (rc == 0 && keys[i] > maxkey)
        maxkey = keys[i];
    }
    pthread_mutex_unlock(&set->intern_lock);
    if (rc == 0) {
      int replace_all = (flags & FLEET_ZONESET_LOAD_REPLACE_ALL) != 0;
      uint32_t nkeys = maxkey + 1 > cur->nkeys ? maxkey + 1 : cur->nkeys;
      fleet_zone_t **t = replace_all ? calloc(nkeys, sizeof *t) : copy_table(cur, nkeys);
      if (t == NULL) {
        rc = fleet_error__oom();
      } else {
        for (size_t i = 0; i < n; i++)
          t[keys[i]] = zones[i];
        int empty_noop = n == 0 && (!replace_all || cur->count == 0);
        if (!empty_noop)
          rc = set_commit(set, t, nkeys);
        free(t);
      }
    }
    free(keys);
    pthread_mutex_unlock(&set->write_lock);
  }

  for (size_t i = 0; zones != NULL && i < n; i++)
    fleet_zone_free(zones[i]);
  free(zones);
  free(ids);
  json_decref(root);
  return rc;
}

int fleet_zoneset_key(uint32_t *out, fleet_zoneset_t *set, const char *id) {
  if (out == NULL || set == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_key: NULL argument");
  int rc = check_api_id(id);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&set->intern_lock);
  rc = intern_get(out, &set->in, id);
  pthread_mutex_unlock(&set->intern_lock);
  return rc;
}

size_t fleet_zoneset_count(const fleet_zoneset_t *set) {
  fleet_zoneset_snapshot_t *s;
  if (set == NULL || fleet_zoneset_snapshot(&s, set) != 0)
    return 0;
  size_t n = s->count;
  fleet_zoneset_snapshot_free(s);
  return n;
}

int fleet_zoneset_lookup(uint32_t *keys, size_t cap, size_t *count, const fleet_zoneset_t *set,
                         double lat, double lng) {
  fleet_zoneset_snapshot_t *s;
  if (set == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_lookup: NULL set");
  int rc = fleet_zoneset_snapshot(&s, set);
  if (rc != 0)
    return rc;
  rc = fleet_zoneset_snapshot_lookup(keys, cap, count, s, lat, lng);
  fleet_zoneset_snapshot_free(s);
  return rc;
}

int fleet_zoneset_get(fleet_zone_t **out, const fleet_zoneset_t *set, uint32_t key) {
  fleet_zoneset_snapshot_t *s;
  if (out == NULL || set == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_get: NULL argument");
  *out = NULL;
  fleet_zoneset_snapshot(&s, set);
  const fleet_zone_t *z = fleet_zoneset_snapshot_get(s, key);
  int rc = 0;
  if (z == NULL)
    rc = fleet_error__set(FLEET_ENOTFOUND, "zone key %u: no such zone in the set", key);
  else
    *out = fleet_zone_ref(z);
  fleet_zoneset_snapshot_free(s);
  return rc;
}

int fleet_zoneset_get_by_id(fleet_zone_t **out, const fleet_zoneset_t *set, const char *id) {
  fleet_zoneset_snapshot_t *s;
  if (out == NULL || set == NULL || id == NULL)
    return fleet_error__set(FLEET_EINVAL, "fleet_zoneset_get_by_id: NULL argument");
  *out = NULL;
  fleet_zoneset_snapshot(&s, set);
  const fleet_zone_t *z = fleet_zoneset_snapshot_find(NULL, s, id);
  int rc = 0;
  if (z == NULL)
    rc = fleet_error__set(FLEET_ENOTFOUND, "zone \"%.*s\": not in the set", FLEET_ZONE_ID_MAX,
                          id);
  else
    *out = fleet_zone_ref(z);
  fleet_zoneset_snapshot_free(s);
  return rc;
}
