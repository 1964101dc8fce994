/*
 * zone: geofences and an indexed, thread-safe set of them.
 *
 * A zone is one of
 * - a polygon: a GeoJSON Polygon or MultiPolygon; holes are honoured. The
 *   rings are planar in longitude/latitude, as GeoJSON (RFC 7946) and GEOS
 *   define them. Containment is GEOS "covers": a point on the boundary is
 *   inside.
 * - a circle: a GeoJSON Point plus a `radius_m` property (metres, > 0). A
 *   position is inside when its haversine distance to the centre is
 *   <= radius_m (fleet_geo_distance_m); this is a true metric circle at every
 *   latitude, not a buffer in degrees.
 * - a corridor: a GeoJSON LineString plus a `width_m` property, the corridor's
 *   TOTAL width in metres (> 0). A position is inside when its distance to the
 *   polyline (fleet_geo_segment_distance_m) is <= width_m / 2; the ends are
 *   rounded. That distance is exact to about 1 cm + 1e-5 of itself, so a
 *   position within a centimetre of the edge may fall on either side.
 *
 * Every zone carries an id (the Feature's "id" member, a string or an integer,
 * else properties.id; required), a name (properties.name, defaulting to the
 * id) and its GeoJSON properties, kept verbatim and readable through typed
 * accessors.
 *
 * Antimeridian and poles (nothing ever answers wrongly; what cannot be
 * answered exactly is rejected when the zone is created):
 * - Polygons: a ring edge spanning more than 180 degrees of longitude means
 *   the ring was drawn across the antimeridian; it is rejected with
 *   FLEET_EGEOMETRY. Split such a polygon at ±180 into a MultiPolygon, as
 *   RFC 7946 §3.1.9 asks. Polygons touching ±180 or ±90 are fine.
 * - Circles are exact everywhere: across the antimeridian, and around or over
 *   a pole (the index then uses two boxes, or a polar cap).
 * - Corridors: a segment spanning 180 degrees of longitude or more is
 *   rejected (FLEET_EGEOMETRY); the corridor's width may reach across ±180
 *   (vertices at exactly ±180 are fine too). Because
 *   corridor distances use a local projection, a corridor must stay within
 *   ±FLEET_ZONE_CORRIDOR_LAT_MAX degrees of latitude including its
 *   half-width; beyond that it is rejected with FLEET_ERANGE.
 * - Lookups take a longitude in [-180, 180]; 180 and -180 are the same place,
 *   and at latitude ±90 every longitude is the pole. fleet_zone_contains()
 *   and the zone set's lookups give identical answers everywhere.
 *
 * Thread safety:
 * - A fleet_zone_t is immutable once created and reference-counted: every
 *   function taking a `const fleet_zone_t *` may be called from any number of
 *   threads at once, and fleet_zone_ref()/fleet_zone_free() are atomic.
 * - A fleet_zoneset_t may be used from many threads at once, except
 *   fleet_zoneset_free(), which must not race with any other call on it.
 *   Lookups and snapshots never block on mutations for longer than a pointer
 *   swap: each mutation builds a new immutable snapshot (zones + STRtree) and
 *   publishes it atomically. Mutations are serialised among themselves. A
 *   reader sees either the whole old contents or the whole new ones.
 * - A fleet_zoneset_snapshot_t is immutable and reference-counted: share it
 *   between threads freely; it stays valid (with its zones) until released,
 *   even after the set changes or is freed.
 * - GEOS is used through its reentrant _r API with one GEOS context per
 *   thread, created on the thread's first zone call and destroyed when the
 *   thread exits (pthread key destructor). The main thread's context lives
 *   until process exit unless fleet_zone_thread_cleanup() is called.
 *
 * Errors: functions return 0 or a negative FLEET_E* code; fleet_error_last()
 * names the offending member, e.g.
 * "features[2] (id \"depot\"): geometry.coordinates[0]: ring is not closed".
 */
#ifndef FLEET_ZONE_H
#define FLEET_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest zone id, in bytes (1..FLEET_ZONE_ID_MAX, no control characters). */
#define FLEET_ZONE_ID_MAX 128
/** Longest zone name, in bytes. */
#define FLEET_ZONE_NAME_MAX 256
/** Most positions in one zone's geometry (all rings and parts together). */
#define FLEET_ZONE_MAX_POINTS 1000000
/** Largest accepted GeoJSON text for one call, in bytes (64 MiB). */
#define FLEET_ZONE_MAX_BYTES (64u * 1024u * 1024u)
/** Largest circle radius, metres (5,000 km). */
#define FLEET_ZONE_RADIUS_MAX_M 5.0e6
/** Largest corridor width (total), metres (100 km). */
#define FLEET_ZONE_WIDTH_MAX_M 1.0e5
/** Corridors (including half their width) must stay within this |latitude|. */
#define FLEET_ZONE_CORRIDOR_LAT_MAX 85.0
/** Never a valid key: keys start at 1. */
#define FLEET_ZONE_KEY_NONE 0u

/** What a zone is. Values are part of the ABI. */
typedef enum fleet_zone_kind {
  FLEET_ZONE_POLYGON = 1,  /**< Polygon or MultiPolygon */
  FLEET_ZONE_CIRCLE = 2,   /**< Point + radius_m */
  FLEET_ZONE_CORRIDOR = 3  /**< LineString + width_m (total width) */
} fleet_zone_kind_t;

/** An immutable, reference-counted geofence. */
typedef struct fleet_zone fleet_zone_t;

/* ------------------------------------------------------------------------ */
/* Zones                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * Create a zone from a GeoJSON Feature whose geometry is a Polygon,
 * MultiPolygon, Point (with properties.radius_m) or LineString (with
 * properties.width_m). The id comes from the Feature's "id" (string, or an
 * integer, which becomes its decimal string), else from properties.id.
 *
 * @param out  receives the new zone (caller owns it: fleet_zone_free()).
 * @param json the GeoJSON text (need not be NUL-terminated); borrowed.
 * @param len  its length in bytes.
 * @return 0, or FLEET_EINVAL (NULL arguments), FLEET_ETOOBIG (over
 *   FLEET_ZONE_MAX_BYTES / FLEET_ZONE_MAX_POINTS), FLEET_EPARSE (not JSON),
 *   FLEET_ETYPE (wrong JSON type; a FeatureCollection, which
 *   fleet_zoneset_load_geojson() takes), FLEET_EMISSING (no id, no geometry,
 *   no radius_m / width_m; a bare geometry has no id, so it gets FLEET_EMISSING
 *   too: use fleet_zone_parse_geometry() for one), FLEET_ERANGE (coordinates, radius or width out of
 *   range or not finite), FLEET_EGEOMETRY (unsupported geometry type, too few
 *   positions, unclosed ring, self-intersection and other invalidity, with
 *   GEOS's reason and location), FLEET_ENOMEM.
 */
FLEET_API int fleet_zone_parse(fleet_zone_t **out, const char *json, size_t len);

/**
 * Create a zone from a bare GeoJSON geometry plus an id and optional
 * properties (e.g. a REST `PUT /zones/{id}` body).
 *
 * @param out            receives the new zone (caller owns it).
 * @param id             the zone id (NUL-terminated); borrowed.
 * @param geometry       GeoJSON geometry object text; borrowed.
 * @param geometry_len   its length.
 * @param properties     JSON object text for the properties (name, radius_m,
 *                       width_m, anything else), or NULL for none; borrowed.
 * @param properties_len its length (ignored when `properties` is NULL).
 * @return as fleet_zone_parse(). An "id" inside `properties` is ignored in
 *   favour of `id` but kept among the properties.
 */
FLEET_API int fleet_zone_parse_geometry(fleet_zone_t **out, const char *id,
                                        const char *geometry, size_t geometry_len,
                                        const char *properties, size_t properties_len);

/**
 * Create a circle zone in code.
 *
 * @param out      receives the new zone (caller owns it).
 * @param id       zone id; borrowed.
 * @param name     display name, or NULL to use the id; borrowed.
 * @param lat      centre latitude [-90, 90].
 * @param lng      centre longitude [-180, 180].
 * @param radius_m radius in metres, (0, FLEET_ZONE_RADIUS_MAX_M].
 * @return 0, FLEET_EINVAL (NULL out/id, bad id or name), FLEET_ERANGE, FLEET_ENOMEM.
 *   The zone's properties are {"name": name, "radius_m": radius_m} (name only
 *   when given).
 */
FLEET_API int fleet_zone_new_circle(fleet_zone_t **out, const char *id, const char *name,
                                    double lat, double lng, double radius_m);

/** Take one more reference to `zone` and return it (NULL-safe). Thread-safe. */
FLEET_API fleet_zone_t *fleet_zone_ref(const fleet_zone_t *zone);

/** Drop one reference; the last one frees the zone. NULL-safe, thread-safe. */
FLEET_API void fleet_zone_free(fleet_zone_t *zone);

/** The zone's id (never NULL); valid as long as the zone. */
FLEET_API const char *fleet_zone_id(const fleet_zone_t *zone);

/** The zone's name: properties.name, or the id (never NULL); valid as long as the zone. */
FLEET_API const char *fleet_zone_name(const fleet_zone_t *zone);

/** The zone's kind. */
FLEET_API fleet_zone_kind_t fleet_zone_kind(const fleet_zone_t *zone);

/** "polygon", "circle" or "corridor" (static string); "unknown" for other values. */
FLEET_API const char *fleet_zone_kind_name(fleet_zone_kind_t kind);

/**
 * Whether the zone contains (lat, lng), boundary included.
 *
 * @param out_inside set to 1 inside, 0 outside.
 * @return 0, FLEET_EINVAL (NULL arguments), FLEET_ERANGE (lat outside
 *   [-90, 90], lng outside [-180, 180], or not finite), FLEET_EINTERNAL (GEOS
 *   failed; fleet_error_last() has its message).
 */
FLEET_API int fleet_zone_contains(int *out_inside, const fleet_zone_t *zone, double lat,
                                  double lng);

/**
 * A conservative bounding box of the zone, in degrees (for a circle or a
 * corridor, computed from its metric extent). For a zone crossing the
 * antimeridian out_min_lng > out_max_lng, as in a GeoJSON bbox (RFC 7946 §5.2);
 * a zone covering every longitude gives -180 and 180.
 */
FLEET_API void fleet_zone_bbox(double *out_min_lat, double *out_min_lng,
                               double *out_max_lat, double *out_max_lng,
                               const fleet_zone_t *zone);

/**
 * Read a numeric property (a JSON integer or real), e.g. "speed_limit".
 *
 * @param out  receives the value (untouched on failure).
 * @param name property name; borrowed.
 * @return 0, FLEET_ENOTFOUND (no such property, or it is null),
 *   FLEET_ETYPE (not a number), FLEET_EINVAL (NULL arguments).
 */
FLEET_API int fleet_zone_property_number(double *out, const fleet_zone_t *zone,
                                         const char *name);

/**
 * Read a string property. `*out` is borrowed from the zone and valid as long
 * as the zone. Returns as fleet_zone_property_number().
 */
FLEET_API int fleet_zone_property_string(const char **out, const fleet_zone_t *zone,
                                         const char *name);

/**
 * Read a boolean property: `*out` becomes 1 (true) or 0 (false). Returns as
 * fleet_zone_property_number().
 */
FLEET_API int fleet_zone_property_bool(int *out, const fleet_zone_t *zone,
                                       const char *name);

/**
 * Append the zone's properties as a compact JSON object (exactly as loaded,
 * keys in their original order) to `buf`.
 * Returns 0, FLEET_EINVAL or FLEET_ENOMEM (then `buf` is left as it was).
 */
FLEET_API int fleet_zone_properties_json(fleet_buf_t *buf, const fleet_zone_t *zone);

/**
 * Append the zone as a compact GeoJSON Feature to `buf`:
 * {"type":"Feature","id":...,"properties":{...},"geometry":{...}}. The id
 * keeps its JSON type (string or integer); the geometry has its type and
 * coordinates; the properties are as loaded (a circle from
 * fleet_zone_new_circle() gets name/radius_m). Parsing the output gives an
 * equivalent zone.
 * Returns 0, FLEET_EINVAL or FLEET_ENOMEM (then `buf` is left as it was).
 */
FLEET_API int fleet_zone_encode_geojson(fleet_buf_t *buf, const fleet_zone_t *zone);

/**
 * Release the calling thread's GEOS context now instead of at thread exit
 * (useful for the main thread under leak checkers). Harmless when the thread
 * has none; a later zone call on the thread creates a new one.
 */
FLEET_API void fleet_zone_thread_cleanup(void);

/* ------------------------------------------------------------------------ */
/* Zone sets                                                                */
/* ------------------------------------------------------------------------ */

/**
 * An indexed set of zones with unique ids. Each id is interned to a compact
 * key (uint32_t, >= 1) the first time it enters the set (or is asked for with
 * fleet_zoneset_key()). Keys are stable for the set's lifetime: replacing a
 * zone keeps its key, and removing an id and adding it again gives the same
 * key back. Keys are never reused for another id, and are meaningless across
 * sets. Lookups report keys, so per-vehicle membership can be kept as small
 * sorted uint32_t arrays.
 */
typedef struct fleet_zoneset fleet_zoneset_t;

/**
 * An immutable view of a zone set's contents at one generation: its zones
 * and their index. Hold one to look up many points and read the zones found
 * without any locking; release it with fleet_zoneset_snapshot_free().
 */
typedef struct fleet_zoneset_snapshot fleet_zoneset_snapshot_t;

/** Flags for fleet_zoneset_load_geojson(). */
enum fleet_zoneset_load_flags {
  /** Merge (default, 0): new ids are added, existing ids are replaced, other
   *  zones stay. */
  FLEET_ZONESET_LOAD_MERGE = 0,
  /** The set's contents become exactly the document's zones. */
  FLEET_ZONESET_LOAD_REPLACE_ALL = 1u << 0
};

/**
 * Create an empty zone set (generation 0).
 * @param out receives the set (caller owns it: fleet_zoneset_free()).
 * @return 0, FLEET_EINVAL or FLEET_ENOMEM.
 */
FLEET_API int fleet_zoneset_new(fleet_zoneset_t **out);

/**
 * Free the set (NULL-safe). Must not race with other calls on the set.
 * Snapshots taken from it stay valid until released.
 */
FLEET_API void fleet_zoneset_free(fleet_zoneset_t *set);

/**
 * Add a zone whose id is not in the set yet. The set takes its own reference;
 * the caller still owns (and frees) its `zone`.
 *
 * @param out_key receives the zone's key; may be NULL.
 * @return 0, FLEET_EINVAL, FLEET_EEXISTS (the id is present), FLEET_ENOMEM,
 *   FLEET_EINTERNAL (GEOS failed building the index).
 */
FLEET_API int fleet_zoneset_add(uint32_t *out_key, fleet_zoneset_t *set,
                                const fleet_zone_t *zone);

/**
 * Replace the zone that has the same id as `zone` (its key is kept).
 * Returns as fleet_zoneset_add(), but FLEET_ENOTFOUND when the id is absent.
 */
FLEET_API int fleet_zoneset_replace(uint32_t *out_key, fleet_zoneset_t *set,
                                    const fleet_zone_t *zone);

/**
 * Add the zone, or replace the one with the same id (an upsert).
 * Returns as fleet_zoneset_add(), never FLEET_EEXISTS.
 */
FLEET_API int fleet_zoneset_put(uint32_t *out_key, fleet_zoneset_t *set,
                                const fleet_zone_t *zone);

/**
 * Remove the zone with this id (its key stays reserved for the id).
 * Returns 0, FLEET_EINVAL, FLEET_ENOTFOUND, FLEET_ENOMEM.
 */
FLEET_API int fleet_zoneset_remove(fleet_zoneset_t *set, const char *id);

/** Remove every zone (keys stay reserved). Returns 0, FLEET_EINVAL or FLEET_ENOMEM. */
FLEET_API int fleet_zoneset_clear(fleet_zoneset_t *set);

/**
 * Load a GeoJSON FeatureCollection (or a single Feature) in one step: the
 * index is rebuilt once, so loading thousands of zones is cheap. All or
 * nothing: if any feature is invalid, or two features share an id, nothing
 * changes and fleet_error_last() names the feature, e.g.
 * "features[12] (id \"yard-3\"): properties.radius_m: -5 must be > 0".
 *
 * @param json  GeoJSON text (need not be NUL-terminated); borrowed.
 * @param len   its length.
 * @param flags FLEET_ZONESET_LOAD_MERGE or FLEET_ZONESET_LOAD_REPLACE_ALL.
 * @return 0, or the error codes of fleet_zone_parse(), FLEET_EEXISTS
 *   (duplicate id within the document), FLEET_EINVAL (unknown flags).
 */
FLEET_API int fleet_zoneset_load_geojson(fleet_zoneset_t *set, const char *json,
                                         size_t len, unsigned int flags);

/**
 * The key of an id, interning it if the set has never seen it (so a rule can
 * refer to a zone before the zone is loaded).
 * @return 0, FLEET_EINVAL (NULL arguments, invalid id), FLEET_ETOOBIG (all
 *   2^32 - 1 keys used), FLEET_ENOMEM.
 */
FLEET_API int fleet_zoneset_key(uint32_t *out, fleet_zoneset_t *set, const char *id);

/**
 * The set's generation: 0 for a new set, increased by at least one by every
 * mutation that changes the contents (a failed mutation changes nothing).
 * Lock-free (one atomic load): compare it with
 * fleet_zoneset_snapshot_generation() to know when to take a new snapshot.
 */
FLEET_API uint64_t fleet_zoneset_generation(const fleet_zoneset_t *set);

/** Number of zones in the set now. */
FLEET_API size_t fleet_zoneset_count(const fleet_zoneset_t *set);

/**
 * Every zone containing (lat, lng), as keys sorted ascending, in the current
 * snapshot (one short lock to take it; the caller-held snapshot variant below
 * avoids even that). Does not allocate on the libfleet side.
 *
 * @param keys  caller's array for the keys (may be NULL when cap is 0).
 * @param cap   its capacity.
 * @param count receives the number of containing zones (may exceed cap).
 * @return 0 when all keys fit; FLEET_ETOOBIG when *count > cap (then the cap
 *   smallest keys are written: retry with a larger array); FLEET_EINVAL
 *   (NULL set or count, NULL keys with cap > 0), FLEET_ERANGE (lat/lng out of
 *   range or not finite), FLEET_ENOMEM / FLEET_EINTERNAL (GEOS failed).
 */
FLEET_API int fleet_zoneset_lookup(uint32_t *keys, size_t cap, size_t *count,
                                   const fleet_zoneset_t *set, double lat, double lng);

/**
 * A new reference to the zone with this key in the current contents.
 * @param out receives the zone (caller frees it with fleet_zone_free()).
 * @return 0, FLEET_EINVAL, FLEET_ENOTFOUND (no zone has that key now).
 */
FLEET_API int fleet_zoneset_get(fleet_zone_t **out, const fleet_zoneset_t *set,
                                uint32_t key);

/** As fleet_zoneset_get(), by id. */
FLEET_API int fleet_zoneset_get_by_id(fleet_zone_t **out, const fleet_zoneset_t *set,
                                      const char *id);

/* Snapshots: the hot path for a tracker.
 *
 *   fleet_zoneset_snapshot_t *snap = NULL;
 *   for each record:
 *     if (!snap || fleet_zoneset_generation(set) != fleet_zoneset_snapshot_generation(snap)) {
 *       fleet_zoneset_snapshot_free(snap);
 *       fleet_zoneset_snapshot(&snap, set);
 *     }
 *     fleet_zoneset_snapshot_lookup(keys, cap, &n, snap, lat, lng);
 *     zone = fleet_zoneset_snapshot_get(snap, keys[i]);   // borrowed from snap
 */

/**
 * Take a reference to the set's current contents.
 * @param out receives the snapshot (caller releases it with
 *   fleet_zoneset_snapshot_free()).
 * @return 0 or FLEET_EINVAL.
 */
FLEET_API int fleet_zoneset_snapshot(fleet_zoneset_snapshot_t **out,
                                     const fleet_zoneset_t *set);

/** Release a snapshot (NULL-safe, thread-safe). */
FLEET_API void fleet_zoneset_snapshot_free(fleet_zoneset_snapshot_t *snap);

/** Take one more reference to a snapshot and return it (NULL-safe, thread-safe). */
FLEET_API fleet_zoneset_snapshot_t *fleet_zoneset_snapshot_ref(
    const fleet_zoneset_snapshot_t *snap);

/** The set generation this snapshot shows. */
FLEET_API uint64_t fleet_zoneset_snapshot_generation(const fleet_zoneset_snapshot_t *snap);

/** Number of zones in the snapshot. */
FLEET_API size_t fleet_zoneset_snapshot_count(const fleet_zoneset_snapshot_t *snap);

/**
 * The zone at position `index` (0 .. count-1, ascending key order), borrowed:
 * valid while the snapshot is held. NULL when index is out of range.
 */
FLEET_API const fleet_zone_t *fleet_zoneset_snapshot_at(
    const fleet_zoneset_snapshot_t *snap, size_t index);

/** The key of the zone at position `index`, or FLEET_ZONE_KEY_NONE when out of range. */
FLEET_API uint32_t fleet_zoneset_snapshot_key_at(const fleet_zoneset_snapshot_t *snap,
                                                 size_t index);

/**
 * The zone with this key, borrowed (valid while the snapshot is held), or NULL
 * when the snapshot has none. O(1); does not touch fleet_error_last().
 */
FLEET_API const fleet_zone_t *fleet_zoneset_snapshot_get(
    const fleet_zoneset_snapshot_t *snap, uint32_t key);

/**
 * The zone with this id, borrowed, or NULL. O(log n).
 * @param out_key receives its key when found; may be NULL.
 */
FLEET_API const fleet_zone_t *fleet_zoneset_snapshot_find(
    uint32_t *out_key, const fleet_zoneset_snapshot_t *snap, const char *id);

/**
 * As fleet_zoneset_lookup(), against this snapshot: no locks, no allocation
 * by libfleet itself (GEOS 3.11 needs one temporary point geometry per call
 * to query its STRtree, a ~20 ns allocation), a few hundred nanoseconds for
 * thousands of zones.
 */
FLEET_API int fleet_zoneset_snapshot_lookup(uint32_t *keys, size_t cap, size_t *count,
                                            const fleet_zoneset_snapshot_t *snap,
                                            double lat, double lng);

/**
 * Append the snapshot's zones as a compact GeoJSON FeatureCollection (in key
 * order) to `buf`. Returns 0, FLEET_EINVAL or FLEET_ENOMEM (then `buf` is left
 * as it was).
 */
FLEET_API int fleet_zoneset_snapshot_encode_geojson(fleet_buf_t *buf,
                                                    const fleet_zoneset_snapshot_t *snap);

#ifdef __cplusplus
}
#endif

#endif /* FLEET_ZONE_H */
