// Small spherical helpers (the same haversine and bearing libfleet's geo module uses).
const R = 6371008.8;
const rad = (d) => (d * Math.PI) / 180;

export function distanceM(lat1, lng1, lat2, lng2) {
  const dLat = rad(lat2 - lat1);
  const dLng = rad(lng2 - lng1);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLng / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Initial bearing from the first point to the second, degrees in [0, 360). */
export function bearingDeg(lat1, lng1, lat2, lng2) {
  const y = Math.sin(rad(lng2 - lng1)) * Math.cos(rad(lat2));
  const x = Math.cos(rad(lat1)) * Math.sin(rad(lat2)) -
    Math.sin(rad(lat1)) * Math.cos(rad(lat2)) * Math.cos(rad(lng2 - lng1));
  return ((Math.atan2(y, x) * 180) / Math.PI + 360) % 360;
}

/** Metres per CSS pixel at zoom 0 on the equator for MapLibre's 512 px tiles. */
export const METRES_PER_PX_Z0 = (2 * Math.PI * 6378137) / 512;

/** Destination point: `bearing` degrees, `dist` metres from (lat, lng). */
export function destination(lat, lng, bearing, dist) {
  const d = dist / R;
  const b = rad(bearing);
  const p1 = rad(lat);
  const l1 = rad(lng);
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [((((l2 * 180) / Math.PI) + 540) % 360) - 180, (p2 * 180) / Math.PI];
}

/** A geodesic circle as a closed GeoJSON ring of `steps` points. */
export function circleRing(lat, lng, radiusM, steps = 64) {
  const ring = [];
  for (let i = 0; i < steps; i++) ring.push(destination(lat, lng, (i * 360) / steps, radiusM));
  ring.push(ring[0]);
  return ring;
}
