// The one map of the app. Children are feature components (vehicles, zones,
// replay...) that render nothing and manage their own sources and layers once
// the style has loaded. For tests (only on a page that opted in, see
// lib/testHooks.js) the map, its idle state and the store are exposed as
// window.__fleet (read-only use).
import { useEffect, useRef, useState } from 'react';
import { setupMapLibre } from './maplibre.js';
import { styleFromConfig } from './style.js';
import { MapContext } from './mapContext.js';
import { useApp } from '../store/context.js';
import { testHooksEnabled } from '../lib/testHooks.js';

export default function MapView({ config, children }) {
  const { store } = useApp();
  const container = useRef(null);
  const [map, setMap] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    const maplibregl = setupMapLibre();
    const m = new maplibregl.Map({
      container: container.current,
      style: styleFromConfig(config),
      center: Array.isArray(config?.center) ? config.center : [0, 20],
      zoom: typeof config?.zoom === 'number' ? config.zoom : 2,
      attributionControl: { compact: true },
      maxPitch: 0,
      // Live positions change every second: fading symbols in and out would
      // only add frames.
      fadeDuration: 0,
      dragRotate: false,
      pitchWithRotate: false,
    });
    m.touchZoomRotate.disableRotation();
    m.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    m.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
    const probe = { map: m, store, idle: false, idleCount: 0, loaded: false, holdLive: false };
    if (testHooksEnabled()) window.__fleet = probe;
    m.on('load', () => {
      probe.loaded = true;
      setMap(m);
    });
    m.on('idle', () => {
      probe.idle = true;
      probe.idleCount++;
    });
    m.on('render', () => {
      probe.idle = false;
    });
    m.on('error', (e) => {
      // Tile or style errors from an operator's server: show, keep running.
      setError(e?.error?.message ?? 'map error');
    });
    return () => {
      setMap(null);
      if (testHooksEnabled() && window.__fleet === probe) delete window.__fleet;
      m.remove();
    };
  }, [config, store]);

  return (
    <div className="map-wrap">
      <div ref={container} className="map" data-testid="map" />
      {error && <div className="map-error" role="status">{error}</div>}
      <MapContext.Provider value={map}>{map && children}</MapContext.Provider>
    </div>
  );
}
