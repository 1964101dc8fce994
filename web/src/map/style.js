// The default style: no tiles, no glyph server, no key. Land, borders and
// country labels come from the GeoJSON built from world-atlas at build time
// (scripts/basemap.mjs). Text is drawn with the browser's local fonts: the
// style has no `glyphs` and `text-font` names a CSS family.

export const LOCAL_FONT = ['sans-serif'];

export const BASEMAP_COLORS = {
  water: '#b9d3e6',
  land: '#f1efe8',
  border: '#9a948a',
  label: '#5b5750',
};

export function offlineStyle(basemapUrl = '/basemap/world.geojson') {
  return {
    version: 8,
    name: 'libfleet offline',
    sources: {
      world: { type: 'geojson', data: basemapUrl, attribution: 'Natural Earth' },
    },
    layers: [
      { id: 'water', type: 'background', paint: { 'background-color': BASEMAP_COLORS.water } },
      {
        id: 'land',
        type: 'fill',
        source: 'world',
        filter: ['==', ['get', 'kind'], 'land'],
        paint: { 'fill-color': BASEMAP_COLORS.land, 'fill-antialias': true },
      },
      {
        id: 'borders',
        type: 'line',
        source: 'world',
        filter: ['==', ['get', 'kind'], 'border'],
        paint: {
          'line-color': BASEMAP_COLORS.border,
          'line-width': ['interpolate', ['linear'], ['zoom'], 1, 0.5, 6, 1.2],
        },
      },
      {
        id: 'country-labels',
        type: 'symbol',
        source: 'world',
        filter: ['==', ['get', 'kind'], 'label'],
        minzoom: 2,
        maxzoom: 8,
        layout: {
          'text-field': ['get', 'name'],
          'text-font': LOCAL_FONT,
          'text-size': ['interpolate', ['linear'], ['zoom'], 2, 10, 6, 14],
          'text-max-width': 8,
        },
        paint: {
          'text-color': BASEMAP_COLORS.label,
          'text-halo-color': '#ffffff',
          'text-halo-width': 1.2,
        },
      },
    ],
  };
}

/** The style the map starts with: the operator's style URL, else the offline one. */
export function styleFromConfig(config) {
  if (config && typeof config.style_url === 'string' && config.style_url) return config.style_url;
  return offlineStyle(config?.basemap || '/basemap/world.geojson');
}
