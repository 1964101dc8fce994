// Stored zones on the map: polygon and circle fills with outlines, corridors
// as lines as wide as the corridor (width in metres turned into pixels per
// zoom), names at their centres. The zone being edited is hidden here:
// terra-draw shows it with handles instead.
import { useEffect } from 'react';
import { useMap } from '../map/mapContext.js';
import { useZones } from './useZones.js';
import { zonesToDisplay } from './zoneGeo.js';
import { LOCAL_FONT } from '../map/style.js';

const SOURCE = 'zones';
const LAYERS = ['zone-labels', 'zone-corridors', 'zone-outline', 'zone-fill'];
const COLOR = '#7b3fb3';

// Pixels = w0 * 2^zoom: exact at every zoom with the exponential base 2.
const corridorWidth = ['interpolate', ['exponential', 2], ['zoom'],
  0, ['*', ['get', 'w0'], 1], 24, ['*', ['get', 'w0'], 2 ** 24]];

export default function ZoneLayer() {
  const map = useMap();
  const { zones, selectedId, editingId } = useZones();

  useEffect(() => {
    map.addSource(SOURCE, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    const before = map.getLayer('vehicle-clusters') ? 'vehicle-clusters' : undefined;
    map.addLayer({
      id: 'zone-fill', type: 'fill', source: SOURCE, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': COLOR, 'fill-opacity': ['case', ['get', 'selected'], 0.3, 0.15] },
    }, before);
    map.addLayer({
      id: 'zone-outline', type: 'line', source: SOURCE, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'line-color': COLOR, 'line-width': ['case', ['get', 'selected'], 3, 1.5] },
    }, before);
    map.addLayer({
      id: 'zone-corridors', type: 'line', source: SOURCE, filter: ['==', ['geometry-type'], 'LineString'],
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': COLOR, 'line-opacity': 0.3, 'line-width': corridorWidth },
    }, before);
    map.addLayer({
      id: 'zone-labels', type: 'symbol', source: SOURCE, minzoom: 9, filter: ['==', ['get', 'label'], true],
      layout: { 'text-field': ['get', 'name'], 'text-font': LOCAL_FONT, 'text-size': 12 },
      paint: { 'text-color': COLOR, 'text-halo-color': '#fff', 'text-halo-width': 1.5 },
    }, before);
    return () => {
      if (!map.getStyle()) return;
      for (const l of LAYERS) if (map.getLayer(l)) map.removeLayer(l);
      if (map.getSource(SOURCE)) map.removeSource(SOURCE);
    };
  }, [map]);

  useEffect(() => {
    const shown = editingId
      ? { ...zones, features: zones.features.filter((z) => String(z.id) !== editingId) }
      : zones;
    map.getSource(SOURCE)?.setData(zonesToDisplay(shown, selectedId));
  }, [map, zones, selectedId, editingId]);

  return null;
}
