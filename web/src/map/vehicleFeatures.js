// The vehicle layer's GeoJSON: one Point feature per vehicle with a position,
// kept between frames and updated in place for the vehicles that changed, so
// a frame costs O(changed) plus MapLibre's own serialisation.

export function vehicleFeature(v) {
  return {
    type: 'Feature',
    properties: {
      vehicle_id: v.vehicle_id,
      status: v.status ?? 'offline',
      heading: typeof v.heading === 'number' ? v.heading : 0,
      speed: typeof v.speed === 'number' ? Math.round(v.speed) : 0,
    },
    geometry: { type: 'Point', coordinates: [v.lng, v.lat] },
  };
}

const hasPosition = (v) => v && typeof v.lat === 'number' && typeof v.lng === 'number';

export function createVehicleFeatures() {
  const byId = new Map();
  let features = [];

  return {
    /**
     * Bring the features up to date with `store` for the dirty `ids`; when
     * membership changed (vehicles added or removed) the list is rebuilt.
     * Returns true when anything changed.
     */
    update(store, { ids, membershipChanged }) {
      let changed = false;
      for (const id of ids) {
        const v = store.getVehicle(id);
        const f = byId.get(id);
        if (!hasPosition(v)) {
          if (f) {
            byId.delete(id);
            membershipChanged = true;
          }
          continue;
        }
        if (!f) {
          byId.set(id, vehicleFeature(v));
          membershipChanged = true;
          continue;
        }
        const p = f.properties;
        p.status = v.status ?? 'offline';
        p.heading = typeof v.heading === 'number' ? v.heading : p.heading;
        p.speed = typeof v.speed === 'number' ? Math.round(v.speed) : p.speed;
        f.geometry.coordinates[0] = v.lng;
        f.geometry.coordinates[1] = v.lat;
        changed = true;
      }
      if (membershipChanged) {
        for (const id of [...byId.keys()]) if (!hasPosition(store.getVehicle(id))) byId.delete(id);
        features = [...byId.values()];
        changed = true;
      }
      return changed;
    },
    get size() {
      return features.length;
    },
    collection() {
      return { type: 'FeatureCollection', features };
    },
  };
}

/** [[west, south], [east, north]] over every vehicle with a position, or null. */
export function vehicleBounds(vehicles) {
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  for (const v of vehicles) {
    if (!hasPosition(v)) continue;
    if (v.lng < w) w = v.lng;
    if (v.lng > e) e = v.lng;
    if (v.lat < s) s = v.lat;
    if (v.lat > n) n = v.lat;
  }
  return w === Infinity ? null : [[w, s], [e, n]];
}
