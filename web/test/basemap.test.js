import { describe, expect, it } from 'vitest';
import { buildWorld, labelPoint, unwrapRing, worldGeoJSONText } from '../scripts/basemap.mjs';
import { offlineStyle, styleFromConfig } from '../src/map/style.js';

describe('antimeridian unwrapping', () => {
  it('leaves an ordinary ring alone', () => {
    const r = [[10, 10], [20, 10], [20, 20], [10, 10]];
    expect(unwrapRing(r)).toEqual(r);
  });
  it('makes a ring crossing 180 continuous and keeps most of it within +-180', () => {
    // Fiji-like: 177..-179 (= 181).
    const r = [[177, -17], [-179, -17], [-179, -16], [177, -16], [177, -17]];
    const out = unwrapRing(r);
    expect(out).toEqual([[177, -17], [181, -17], [181, -16], [177, -16], [177, -17]]);
    for (let i = 1; i < out.length; i++) expect(Math.abs(out[i][0] - out[i - 1][0])).toBeLessThan(180);
  });
  it('shifts a ring mostly on the far side back by a whole turn', () => {
    const r = [[-179, 65], [-170, 65], [-170, 70], [179, 70], [-179, 65]];
    const out = unwrapRing(r);
    for (let i = 1; i < out.length; i++) expect(Math.abs(out[i][0] - out[i - 1][0])).toBeLessThan(180);
    const inside = out.filter(([x]) => x >= -180 && x <= 180).length;
    expect(inside * 2).toBeGreaterThanOrEqual(out.length);
  });
  it('closes a ring around a pole along the map edge', () => {
    const r = [[-180, -80], [-90, -78], [0, -75], [90, -78], [180, -80]];
    const out = unwrapRing(r);
    expect(out.at(-1)).toEqual(out[0]);
    expect(out.some(([, y]) => y < -85)).toBe(true);
  });
  it('picks the largest part for a label', () => {
    expect(labelPoint({ type: 'MultiPolygon', coordinates: [
      [[[0, 0], [1, 0], [1, 1], [0, 0]]],
      [[[10, 10], [14, 10], [14, 14], [10, 14], [10, 10]]],
    ] })).toEqual([12, 12]);
  });
});

describe('world basemap', () => {
  const world = JSON.parse(worldGeoJSONText('110m'));
  it('has land, borders and country labels', () => {
    const kinds = world.features.map((f) => f.properties.kind);
    expect(kinds.filter((k) => k === 'land').length).toBeGreaterThan(0);
    expect(kinds.filter((k) => k === 'border').length).toBe(1);
    expect(kinds.filter((k) => k === 'label').length).toBeGreaterThan(150);
    expect(world.features.find((f) => f.properties.name === 'Bangladesh')).toBeTruthy();
  });
  it('has no edge longer than half a turn except along the map edge at a pole', () => {
    for (const f of world.features) {
      if (f.properties.kind !== 'land') continue;
      const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const poly of polys) {
        for (const ring of poly) {
          for (let i = 1; i < ring.length; i++) {
            const alongPole = Math.abs(ring[i][1]) > 85 && Math.abs(ring[i - 1][1]) > 85;
            if (!alongPole) expect(Math.abs(ring[i][0] - ring[i - 1][0])).toBeLessThan(180);
          }
        }
      }
    }
  });
});

describe('map style', () => {
  it('needs no glyph server and no network', () => {
    const s = offlineStyle('/basemap/world.geojson');
    expect(s.glyphs).toBeUndefined();
    expect(s.sources.world).toEqual({ type: 'geojson', data: '/basemap/world.geojson', attribution: 'Natural Earth' });
    const labels = s.layers.find((l) => l.id === 'country-labels');
    expect(labels.layout['text-font']).toEqual(['sans-serif']);
    expect(s.layers[0].type).toBe('background');
    expect(JSON.stringify(s)).not.toMatch(/https?:/);
  });
  it('uses the operator style URL when configured', () => {
    expect(styleFromConfig({ style_url: 'pmtiles://x' })).toBe('pmtiles://x');
    expect(styleFromConfig({ style_url: null, basemap: '/b.geojson' }).sources.world.data).toBe('/b.geojson');
    expect(styleFromConfig(null).sources.world.data).toBe('/basemap/world.geojson');
  });
});
