import { describe, expect, it } from 'vitest';
import { circleFromRing, drawnToZone, zoneIdFromName, zoneKind, zonesToDisplay, zoneToDrawn, ZONE_ID_RE } from '../src/zones/zoneGeo.js';
import { circleRing, distanceM, METRES_PER_PX_Z0 } from '../src/lib/geo.js';

const square = {
  type: 'Feature',
  geometry: { type: 'Polygon', coordinates: [[[90, 23], [90.01, 23], [90.01, 23.01], [90, 23.01], [90, 23]]] },
  properties: { mode: 'polygon' },
};

describe('drawn shapes to zones', () => {
  it('stores a polygon with its name and speed limit', () => {
    const z = drawnToZone(square, { id: 'depot-1', name: ' Depot ', speed_limit: '30' });
    expect(z).toEqual({
      type: 'Feature', id: 'depot-1',
      properties: { name: 'Depot', speed_limit: 30 },
      geometry: square.geometry,
    });
  });
  it('stores a circle as its centre and radius_m', () => {
    const ring = circleRing(23.8, 90.4, 250, 64);
    const drawn = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: { mode: 'circle', radiusKilometers: 0.25 } };
    const z = drawnToZone(drawn, { id: 'c', name: 'Circle' });
    expect(z.geometry.type).toBe('Point');
    expect(z.properties.radius_m).toBe(250);
    const [lng, lat] = z.geometry.coordinates;
    expect(distanceM(lat, lng, 23.8, 90.4)).toBeLessThan(1);
    expect(z.properties.speed_limit).toBeUndefined();
  });
  it('stores the radius of a resized circle, not the one it was drawn with', () => {
    // terra-draw's 'center-fixed' resize: every vertex scaled about the ring's
    // centre in Web Mercator metres; radiusKilometers keeps the drawn 0.25.
    const R = 6378137;
    const toMerc = ([lng, lat]) => [R * lng * Math.PI / 180, R * Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360))];
    const fromMerc = ([x, y]) => [x / R * 180 / Math.PI, (2 * Math.atan(Math.exp(y / R)) - Math.PI / 2) * 180 / Math.PI];
    const [ox, oy] = toMerc([90.4, 23.8]);
    const scaled = circleRing(23.8, 90.4, 250, 64).map((p) => {
      const [x, y] = toMerc(p);
      return fromMerc([ox + (x - ox) * 1.6, oy + (y - oy) * 1.6]);
    });
    const drawn = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [scaled] }, properties: { mode: 'circle', radiusKilometers: 0.25 } };
    const z = drawnToZone(drawn, { id: 'c', name: 'Circle' });
    expect(Math.abs(z.properties.radius_m - 400)).toBeLessThan(0.5);
    const [lng, lat] = z.geometry.coordinates;
    expect(distanceM(lat, lng, 23.8, 90.4)).toBeLessThan(1);
    // Shrunk to a fifth: 50 m.
    const small = circleRing(23.8, 90.4, 250, 64).map((p) => {
      const [x, y] = toMerc(p);
      return fromMerc([ox + (x - ox) * 0.2, oy + (y - oy) * 0.2]);
    });
    const z2 = drawnToZone({ ...drawn, geometry: { type: 'Polygon', coordinates: [small] } }, { id: 'c', name: 'Circle' });
    expect(Math.abs(z2.properties.radius_m - 50)).toBeLessThan(0.1);
  });
  it('reads centre and radius from a ring, and refuses rings that are no circle', () => {
    const c = circleFromRing(circleRing(-33.9, 151.2, 1234.5, 32));
    expect(c.radiusM).toBe(1234.5);
    expect(distanceM(c.centre[1], c.centre[0], -33.9, 151.2)).toBeLessThan(0.5);
    expect(circleFromRing([[0, 0], [1, 0], [0, 0]])).toBe(null);
    expect(circleFromRing(undefined)).toBe(null);
    const flat = { type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[90, 23], [90, 23], [90, 23], [90, 23]]] }, properties: { mode: 'circle', radiusKilometers: 1 } };
    expect(() => drawnToZone(flat, { id: 'c', name: 'C' })).toThrow(/radius_m/);
  });
  it('stores a corridor as a LineString with width_m', () => {
    const line = { type: 'Feature', geometry: { type: 'LineString', coordinates: [[90, 23], [90.1, 23.1]] }, properties: { mode: 'linestring' } };
    const z = drawnToZone(line, { id: 'road', name: 'Road', width_m: '40' });
    expect(z.geometry).toEqual(line.geometry);
    expect(z.properties).toEqual({ name: 'Road', width_m: 40 });
    expect(() => drawnToZone(line, { id: 'road', name: 'Road', width_m: '' })).toThrow(/width_m/);
  });
  it('refuses what the API would refuse, naming the field', () => {
    expect(() => drawnToZone(square, { id: 'x', name: '  ' })).toThrow(/name/);
    expect(() => drawnToZone(square, { id: 'x', name: 'a', speed_limit: -5 })).toThrow(/speed_limit/);
    expect(() => drawnToZone(square, { id: 'bad id', name: 'a' })).toThrow(/id/);
    expect(() => drawnToZone({ geometry: { type: 'Point', coordinates: [0, 0] }, properties: {} }, { id: 'p', name: 'p' }))
      .toThrow(/geometry/);
  });
  it('makes ids the API accepts', () => {
    const id = zoneIdFromName('Main Depot — North!', () => 0.5);
    expect(id).toMatch(/^main-depot-north-[0-9a-z]{6}$/);
    expect(ZONE_ID_RE.test(id)).toBe(true);
    expect(zoneIdFromName('***', () => 0)).toBe('zone-000000');
    expect(ZONE_ID_RE.test(zoneIdFromName('x'.repeat(200)))).toBe(true);
  });
});

describe('stored zones for display and editing', () => {
  const circle = { type: 'Feature', id: 'c1', properties: { name: 'C', radius_m: 500 }, geometry: { type: 'Point', coordinates: [90.4, 23.8] } };
  const corridor = { type: 'Feature', id: 'r1', properties: { name: 'R', width_m: 100 }, geometry: { type: 'LineString', coordinates: [[0, 60], [1, 60]] } };
  const poly = { type: 'Feature', id: 7, properties: { name: 'P' }, geometry: square.geometry };

  it('knows the kinds', () => {
    expect([circle, corridor, poly].map(zoneKind)).toEqual(['circle', 'corridor', 'polygon']);
    expect(zoneKind({})).toBe('unknown');
  });
  it('draws circles as geodesic rings of the right radius', () => {
    const fc = zonesToDisplay({ features: [circle] }, 'c1');
    expect(fc.features.length).toBe(2);
    expect(fc.features[1]).toMatchObject({ properties: { zone_id: 'c1', label: true }, geometry: { type: 'Point' } });
    const f = fc.features[0];
    expect(f.properties).toMatchObject({ zone_id: 'c1', kind: 'circle', selected: true });
    for (const [lng, lat] of f.geometry.coordinates[0]) {
      expect(distanceM(23.8, 90.4, lat, lng)).toBeCloseTo(500, 3);
    }
  });
  it('gives corridors their width in pixels at zoom 0 for their latitude', () => {
    const f = zonesToDisplay({ features: [corridor] }).features[0];
    // At 60 degrees a pixel covers half the metres it covers on the equator.
    expect(f.properties.w0).toBeCloseTo(100 / (METRES_PER_PX_Z0 * 0.5), 12);
  });
  it('converts stored zones back for editing', () => {
    const c = zoneToDrawn(circle);
    expect(c.properties).toEqual({ mode: 'circle', radiusKilometers: 0.5 });
    expect(c.geometry.coordinates[0].length).toBe(65);
    expect(zoneToDrawn(corridor).properties.mode).toBe('linestring');
    expect(zoneToDrawn(poly).properties.mode).toBe('polygon');
    // Round trip: edit a circle without moving it, store it again.
    const back = drawnToZone(c, { id: 'c1', name: 'C' });
    expect(back.properties.radius_m).toBe(500);
    const [lng, lat] = back.geometry.coordinates;
    expect(distanceM(lat, lng, 23.8, 90.4)).toBeLessThan(1);
  });
});
