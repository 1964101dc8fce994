// Builds the offline basemap: Natural Earth land, country borders and country
// labels from the world-atlas package (TopoJSON), as one GeoJSON document that
// MapLibre draws with fill, line and symbol layers. Runs at build time (the
// Vite plugin below) so the dashboard needs no tile server and no network.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { feature, mesh } from 'topojson-client';

const require = createRequire(import.meta.url);
const MERCATOR_MAX_LAT = 85.051129;

// world-atlas joins rings across the 180th meridian (it is made for spherical
// renderers). A planar renderer then draws the closing edge of such a ring
// straight across the map, cutting rectangles out of Eurasia. Unwrapping makes
// the longitudes continuous; the ring is then shifted by whole turns so that
// most of it lies within +-180 (MapLibre draws the part beyond on the next
// world copy). A ring around a pole (Antarctica) does not close after
// unwrapping: it is closed along the map's edge instead.
export function unwrapRing(ring) {
  if (ring.length === 0) return [];
  const out = [[ring[0][0], ring[0][1]]];
  for (let i = 1; i < ring.length; i++) {
    let lng = ring[i][0];
    const prev = out[i - 1][0];
    while (lng - prev > 180) lng -= 360;
    while (lng - prev < -180) lng += 360;
    out.push([lng, ring[i][1]]);
  }
  const first = out[0];
  const last = out[out.length - 1];
  if (Math.abs(last[0] - first[0]) > 180) {
    const meanLat = out.reduce((s, p) => s + p[1], 0) / out.length;
    const poleLat = meanLat < 0 ? -MERCATOR_MAX_LAT : MERCATOR_MAX_LAT;
    out.push([last[0], poleLat], [first[0], poleLat], [first[0], first[1]]);
  }
  let inside = 0;
  let sum = 0;
  for (const p of out) sum += p[0];
  const mean = sum / out.length;
  const shift = -360 * Math.round(mean / 360);
  for (const p of out) {
    p[0] += shift;
    if (p[0] >= -180 && p[0] <= 180) inside++;
  }
  // A ring that straddles the meridian evenly: keep the side with more points.
  if (inside * 2 < out.length) {
    const s = mean + shift > 0 ? -360 : 360;
    for (const p of out) p[0] += s;
  }
  return out;
}

function unwrapGeometry(geom) {
  if (geom.type === 'Polygon') {
    return { type: 'Polygon', coordinates: geom.coordinates.map(unwrapRing) };
  }
  if (geom.type === 'MultiPolygon') {
    return {
      type: 'MultiPolygon',
      coordinates: geom.coordinates.map((poly) => poly.map(unwrapRing)),
    };
  }
  return geom;
}

function unwrapLine(line) {
  const out = [];
  for (const [lng0, lat] of line) {
    let lng = lng0;
    if (out.length) {
      const prev = out[out.length - 1][0];
      while (lng - prev > 180) lng -= 360;
      while (lng - prev < -180) lng += 360;
    }
    out.push([lng, lat]);
  }
  return out;
}

function ringArea(ring) {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    a += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  }
  return Math.abs(a / 2);
}

// A label point: the vertex-average of the largest outer ring, good enough for
// country names at world zooms.
export function labelPoint(geom) {
  const polys = geom.type === 'Polygon' ? [geom.coordinates] : geom.coordinates;
  let best = null;
  let bestArea = -1;
  for (const poly of polys) {
    const a = ringArea(poly[0]);
    if (a > bestArea) {
      bestArea = a;
      best = poly[0];
    }
  }
  if (!best) return null;
  let x = 0;
  let y = 0;
  const n = best.length - 1 || 1;
  for (let i = 0; i < n; i++) {
    x += best[i][0];
    y += best[i][1];
  }
  return [x / n, y / n];
}

export function buildWorld(topology) {
  const features = [];
  const land = feature(topology, topology.objects.land);
  for (const f of land.features ?? [land]) {
    features.push({ type: 'Feature', properties: { kind: 'land' }, geometry: unwrapGeometry(f.geometry) });
  }
  // Borders between two countries only: coastlines come from the land fill.
  const borders = mesh(topology, topology.objects.countries, (a, b) => a !== b);
  features.push({
    type: 'Feature',
    properties: { kind: 'border' },
    geometry: { type: 'MultiLineString', coordinates: borders.coordinates.map(unwrapLine) },
  });
  const countries = feature(topology, topology.objects.countries);
  for (const c of countries.features) {
    if (!c.geometry || !c.properties?.name) continue;
    const p = labelPoint(unwrapGeometry(c.geometry));
    if (!p) continue;
    features.push({
      type: 'Feature',
      properties: { kind: 'label', name: c.properties.name },
      geometry: { type: 'Point', coordinates: [Number(p[0].toFixed(3)), Number(p[1].toFixed(3))] },
    });
  }
  return { type: 'FeatureCollection', features };
}

function roundCoords(key, value) {
  return typeof value === 'number' ? Math.round(value * 1e4) / 1e4 : value;
}

export function worldGeoJSONText(resolution = '110m') {
  const path = require.resolve(`world-atlas/countries-${resolution}.json`);
  const topology = JSON.parse(readFileSync(path, 'utf8'));
  return JSON.stringify(buildWorld(topology), roundCoords);
}

// Vite plugin: serves /basemap/world.geojson in development and writes it into
// the build output (dist/basemap/world.geojson) for fleetd's static mount.
export function basemapPlugin({ resolution = '110m' } = {}) {
  let text = null;
  const get = () => (text ??= worldGeoJSONText(resolution));
  return {
    name: 'fleet-basemap',
    configureServer(server) {
      server.middlewares.use('/basemap/world.geojson', (req, res) => {
        res.setHeader('Content-Type', 'application/geo+json');
        res.end(get());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'basemap/world.geojson', source: get() });
    },
  };
}
