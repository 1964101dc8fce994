// The replayed trip on the map: the route as a line, the vehicle as the same
// arrow icon as the live map, turned by the interpolated heading.
import { useEffect } from 'react';
import { useMap } from '../map/mapContext.js';
import { useReplayBus } from './replayBus.js';
import { addVehicleIcons, iconName } from '../map/icons.js';

const EMPTY = { type: 'FeatureCollection', features: [] };

export default function ReplayLayer() {
  const map = useMap();
  const bus = useReplayBus();

  useEffect(() => {
    if (!map.hasImage(iconName('moving'))) addVehicleIcons(map);
    map.addSource('replay-route', { type: 'geojson', data: EMPTY });
    map.addSource('replay-vehicle', { type: 'geojson', data: EMPTY });
    map.addLayer({
      id: 'replay-route', type: 'line', source: 'replay-route',
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#2b6cb0', 'line-width': 4, 'line-opacity': 0.75 },
    });
    map.addLayer({
      id: 'replay-vehicle', type: 'symbol', source: 'replay-vehicle',
      layout: {
        'icon-image': iconName('moving'),
        'icon-rotate': ['get', 'heading'],
        'icon-rotation-alignment': 'map',
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
      },
    });

    const draw = (what) => {
      if (what === 'route') {
        const r = bus.route;
        map.getSource('replay-route').setData(r && r.length > 1
          ? { type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: r } }
          : EMPTY);
        if (r && r.length) {
          let w = Infinity; let s = Infinity; let e = -Infinity; let n = -Infinity;
          for (const [x, y] of r) {
            w = Math.min(w, x); e = Math.max(e, x); s = Math.min(s, y); n = Math.max(n, y);
          }
          map.fitBounds([[w, s], [e, n]], { padding: 60, maxZoom: 16, duration: 0 });
        }
      }
      const p = bus.position;
      map.getSource('replay-vehicle').setData(p
        ? { type: 'Feature', properties: { heading: p.heading }, geometry: { type: 'Point', coordinates: [p.lng, p.lat] } }
        : EMPTY);
    };
    draw('route');
    const unsub = bus.subscribe(draw);
    return () => {
      unsub();
      if (!map.getStyle()) return;
      for (const l of ['replay-vehicle', 'replay-route']) if (map.getLayer(l)) map.removeLayer(l);
      for (const s of ['replay-vehicle', 'replay-route']) if (map.getSource(s)) map.removeSource(s);
    };
  }, [map, bus]);

  return null;
}
