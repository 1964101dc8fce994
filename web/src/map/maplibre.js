// MapLibre set up for this bundle: the worker is a separate file emitted by
// Vite (without setWorkerUrl the built app silently never loads its data), and
// the pmtiles:// protocol for operators who serve a single-file tile archive.
import * as maplibregl from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?worker&url';
import { Protocol } from 'pmtiles';
import 'maplibre-gl/dist/maplibre-gl.css';

let configured = false;

export function setupMapLibre() {
  if (configured) return maplibregl;
  configured = true;
  maplibregl.setWorkerUrl(workerUrl);
  const protocol = new Protocol();
  maplibregl.addProtocol('pmtiles', protocol.tile);
  return maplibregl;
}
