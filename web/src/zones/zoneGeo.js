// Zones as the API stores them (GeoJSON Features, docs/API.md) and as they are
// drawn and shown: a polygon is a Polygon; a circle is a Point with a
// `radius_m` property; a corridor is a LineString with a `width_m` property
// (the corridor's full width). terra-draw draws circles as polygons carrying
// `radiusKilometers`; the zone's centre and radius_m are taken from the ring
// itself, because terra-draw's resize handle scales the ring and leaves
// `radiusKilometers` at the radius it was drawn with.
import { circleRing, distanceM, METRES_PER_PX_Z0 } from '../lib/geo.js';

export const ZONE_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function zoneKind(zone) {
  const g = zone?.geometry;
  if (!g) return 'unknown';
  if (g.type === 'Point') return 'circle';
  if (g.type === 'LineString') return 'corridor';
  if (g.type === 'Polygon' || g.type === 'MultiPolygon') return 'polygon';
  return 'unknown';
}

/** An id from a name: lower-case slug plus a random suffix, [A-Za-z0-9._-]{1,64}. */
export function zoneIdFromName(name, random = Math.random) {
  const slug = String(name).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
    .slice(0, 48) || 'zone';
  const suffix = Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0');
  return `${slug}-${suffix}`;
}

/** Average of a closed ring's vertices (the last repeats the first). */
function ringCentre(ring) {
  const n = ring.length > 1 ? ring.length - 1 : ring.length;
  let x = 0;
  let y = 0;
  for (let i = 0; i < n; i++) {
    x += ring[i][0];
    y += ring[i][1];
  }
  return [x / n, y / n];
}

const round = (v, d = 7) => Math.round(v * 10 ** d) / 10 ** d;

/**
 * Centre ([lng, lat], the average of the vertices) and radius in metres (the
 * mean great-circle distance of the vertices from it, to 0.1 m) of a drawn
 * circle's closed ring; null for a ring with fewer than three vertices.
 */
export function circleFromRing(ring) {
  if (!Array.isArray(ring) || ring.length < 4) return null;
  const [lng, lat] = ringCentre(ring);
  const n = ring.length - 1;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += distanceM(lat, lng, ring[i][1], ring[i][0]);
  return { centre: [lng, lat], radiusM: Math.round((sum / n) * 10) / 10 };
}

/**
 * A feature drawn with terra-draw (modes polygon, circle, linestring) and the
 * form's values -> the Feature the API stores. Numbers the form left empty are
 * left out. Throws a RangeError naming the field when a value is unusable.
 */
export function drawnToZone(drawn, { id, name, speed_limit, width_m, extra = {} }) {
  if (!name || !String(name).trim()) throw new RangeError('name: a zone needs a name');
  const props = { ...extra, name: String(name).trim() };
  if (speed_limit !== undefined && speed_limit !== null && speed_limit !== '') {
    const v = Number(speed_limit);
    if (!(v > 0)) throw new RangeError('speed_limit: must be a positive number of km/h');
    props.speed_limit = v;
  }
  const mode = drawn.properties?.mode;
  let geometry;
  if (mode === 'circle') {
    const c = drawn.geometry?.type === 'Polygon' ? circleFromRing(drawn.geometry.coordinates[0]) : null;
    if (!c || !(c.radiusM > 0)) throw new RangeError('radius_m: the circle has no radius');
    geometry = { type: 'Point', coordinates: [round(c.centre[0]), round(c.centre[1])] };
    props.radius_m = c.radiusM;
  } else if (mode === 'linestring' || drawn.geometry.type === 'LineString') {
    const w = Number(width_m);
    if (!(w > 0)) throw new RangeError('width_m: a corridor needs a positive width in metres');
    geometry = { type: 'LineString', coordinates: drawn.geometry.coordinates.map(([x, y]) => [round(x), round(y)]) };
    props.width_m = w;
  } else if (drawn.geometry.type === 'Polygon') {
    geometry = {
      type: 'Polygon',
      coordinates: drawn.geometry.coordinates.map((ring) => ring.map(([x, y]) => [round(x), round(y)])),
    };
  } else {
    throw new RangeError(`geometry: cannot store a ${drawn.geometry.type}`);
  }
  if (!ZONE_ID_RE.test(id)) throw new RangeError('id: 1-64 characters of A-Z a-z 0-9 . _ -');
  return { type: 'Feature', id, properties: props, geometry };
}

/** A stored zone -> a terra-draw feature, to edit its vertices or move it. */
export function zoneToDrawn(zone) {
  const kind = zoneKind(zone);
  const p = zone.properties ?? {};
  if (kind === 'circle') {
    const [lng, lat] = zone.geometry.coordinates;
    return {
      type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [circleRing(lat, lng, p.radius_m)] },
      properties: { mode: 'circle', radiusKilometers: p.radius_m / 1000 },
    };
  }
  if (kind === 'corridor') {
    return { type: 'Feature', geometry: zone.geometry, properties: { mode: 'linestring' } };
  }
  if (kind === 'polygon' && zone.geometry.type === 'Polygon') {
    return { type: 'Feature', geometry: zone.geometry, properties: { mode: 'polygon' } };
  }
  return null;
}

/**
 * Features for the zone layers: polygons as they are, circles as geodesic
 * polygons, corridors as lines whose `w0` is the width in pixels at zoom 0 at
 * the corridor's latitude (the line-width expression doubles it per zoom).
 */
export function zonesToDisplay(collection, selectedId = null) {
  const out = [];
  for (const z of collection?.features ?? []) {
    const kind = zoneKind(z);
    const p = z.properties ?? {};
    const props = { zone_id: String(z.id), name: p.name ?? String(z.id), kind, selected: z.id === selectedId };
    if (kind === 'circle' && p.radius_m > 0) {
      const [lng, lat] = z.geometry.coordinates;
      out.push({ type: 'Feature', properties: props, geometry: { type: 'Polygon', coordinates: [circleRing(lat, lng, p.radius_m)] } });
    } else if (kind === 'corridor' && p.width_m > 0) {
      const c = z.geometry.coordinates;
      const lat = c.reduce((s, q) => s + q[1], 0) / c.length;
      const w0 = p.width_m / (METRES_PER_PX_Z0 * Math.cos((lat * Math.PI) / 180));
      out.push({ type: 'Feature', properties: { ...props, w0 }, geometry: z.geometry });
    } else if (kind === 'polygon') {
      out.push({ type: 'Feature', properties: props, geometry: z.geometry });
    }
  }
  // One label point per zone: a symbol layer over a polygon would repeat the
  // name on every tile the polygon touches.
  const labels = [];
  for (const f of out) labels.push({ type: 'Feature', properties: { ...f.properties, label: true }, geometry: { type: 'Point', coordinates: labelAnchor(f.geometry) } });
  return { type: 'FeatureCollection', features: out.concat(labels) };
}

function labelAnchor(g) {
  if (g.type === 'LineString') return g.coordinates[Math.floor(g.coordinates.length / 2)];
  const ring = g.type === 'Polygon' ? g.coordinates[0] : g.coordinates[0][0];
  return ringCentre(ring);
}
