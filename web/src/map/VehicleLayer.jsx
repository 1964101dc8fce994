// Live vehicles on the map: ONE GeoJSON source, a symbol layer with an icon per
// status turned by the heading, clusters at low zoom once the fleet is large.
// Store changes are batched: at most one setData per animation frame, and
// never a second while MapLibre's worker is still digesting the first, so a
// slow device degrades to fewer map updates instead of a growing backlog.
import { useEffect } from 'react';
import { useMap } from './mapContext.js';
import { useApp } from '../store/context.js';
import { addVehicleIcons, iconName } from './icons.js';
import { createVehicleFeatures } from './vehicleFeatures.js';
import { LOCAL_FONT } from './style.js';
import { STATUSES } from '../vehicles/status.js';
import { testProbe } from '../lib/testHooks.js';

export const SOURCE = 'vehicles';
export const LAYER = 'vehicles';
/** Fleets larger than this cluster at low zoom; small ones always show every vehicle. */
export const CLUSTER_ABOVE = 500;
export const CLUSTER_MAX_ZOOM = 11;

/**
 * Least time between two setData calls for a fleet of `n` vehicles: every call
 * re-tiles the whole source in the worker and redraws, while each vehicle
 * moves once a second; 10,000 vehicles get two map updates a second, 100
 * vehicles one per frame.
 */
export function minSetDataIntervalMs(n) {
  return Math.min(500, n / 20);
}

const iconImage = ['match', ['get', 'status'],
  ...STATUSES.flatMap((s) => [s, iconName(s)]), iconName('offline')];

function addLayers(map) {
  map.addSource(SOURCE, {
    type: 'geojson',
    data: { type: 'FeatureCollection', features: [] },
    cluster: false,
    clusterMaxZoom: CLUSTER_MAX_ZOOM,
    clusterRadius: 45,
    promoteId: 'vehicle_id',
  });
  map.addLayer({
    id: 'vehicle-clusters',
    type: 'circle',
    source: SOURCE,
    filter: ['has', 'point_count'],
    paint: {
      'circle-color': '#2b6cb0',
      'circle-opacity': 0.85,
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 2,
      'circle-radius': ['step', ['get', 'point_count'], 14, 50, 18, 500, 24, 2000, 30],
    },
  });
  map.addLayer({
    id: 'vehicle-cluster-count',
    type: 'symbol',
    source: SOURCE,
    filter: ['has', 'point_count'],
    layout: {
      'text-field': ['get', 'point_count_abbreviated'],
      'text-font': LOCAL_FONT,
      'text-size': 12,
      'text-allow-overlap': true,
    },
    paint: { 'text-color': '#ffffff' },
  });
  map.addLayer({
    id: 'vehicle-selected',
    type: 'circle',
    source: SOURCE,
    filter: ['==', ['get', 'vehicle_id'], ''],
    paint: {
      'circle-radius': 20,
      'circle-color': '#2b6cb0',
      'circle-opacity': 0.2,
      'circle-stroke-color': '#2b6cb0',
      'circle-stroke-width': 2,
    },
  });
  map.addLayer({
    id: LAYER,
    type: 'symbol',
    source: SOURCE,
    filter: ['!', ['has', 'point_count']],
    layout: {
      'icon-image': iconImage,
      'icon-rotate': ['get', 'heading'],
      'icon-rotation-alignment': 'map',
      'icon-allow-overlap': true,
      'icon-ignore-placement': true,
      'icon-size': ['interpolate', ['linear'], ['zoom'], 4, 0.6, 12, 0.9, 16, 1],
    },
  });
  map.addLayer({
    id: 'vehicle-labels',
    type: 'symbol',
    source: SOURCE,
    minzoom: 13,
    filter: ['!', ['has', 'point_count']],
    layout: {
      'text-field': ['get', 'vehicle_id'],
      'text-font': LOCAL_FONT,
      'text-size': 11,
      'text-offset': [0, 1.6],
      'text-anchor': 'top',
      'text-optional': true,
    },
    paint: { 'text-color': '#222', 'text-halo-color': '#fff', 'text-halo-width': 1.2 },
  });
}

const LAYERS = ['vehicle-labels', LAYER, 'vehicle-selected', 'vehicle-cluster-count', 'vehicle-clusters'];

export default function VehicleLayer() {
  const map = useMap();
  const { store } = useApp();

  useEffect(() => {
    addVehicleIcons(map);
    addLayers(map);
    const source = map.getSource(SOURCE);
    const features = createVehicleFeatures();
    let clustered = false;
    let frame = null;
    let inflight = false;
    let stopped = false;
    let lastSetData = -Infinity;
    const stats = { setData: 0, lastBuildMs: 0, lastSetDataMs: 0, pending: false };
    const probe = testProbe();
    if (probe) probe.vehicleLayer = stats;

    const follow = () => {
      const id = store.ui().followId;
      const v = id && store.getVehicle(id);
      if (v && typeof v.lat === 'number') map.easeTo({ center: [v.lng, v.lat], duration: 400 });
    };

    const flush = () => {
      frame = null;
      if (stopped) return;
      // Tests hold the live layer still to let the map go idle before asserting
      // what it drew; changes keep accumulating in the store meanwhile.
      if (probe?.holdLive) {
        frame = requestAnimationFrame(flush);
        return;
      }
      if (inflight) {
        stats.pending = true;
        return;
      }
      const wait = lastSetData + minSetDataIntervalMs(features.size) - performance.now();
      if (wait > 0) {
        frame = requestAnimationFrame(flush);
        return;
      }
      const t0 = performance.now();
      const dirty = store.takeDirty();
      const followId = store.ui().followId;
      const followMoved = followId !== null && dirty.ids.has(followId);
      const changed = features.update(store, dirty);
      if (!changed) return;
      const wantCluster = features.size > CLUSTER_ABOVE;
      if (wantCluster !== clustered) {
        clustered = wantCluster;
        source.setClusterOptions({ cluster: clustered });
      }
      const t1 = performance.now();
      lastSetData = t1;
      inflight = true;
      stats.pending = false;
      source.setData(features.collection()).finally(() => {
        inflight = false;
        if (stats.pending && !stopped && frame === null) frame = requestAnimationFrame(flush);
      });
      stats.setData++;
      stats.lastBuildMs = t1 - t0;
      stats.lastSetDataMs = performance.now() - t1;
      if (followMoved) follow();
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(flush);
    };
    const unsubVehicles = store.subscribe('vehicles', schedule);
    // Vehicles already in the store when the layer mounts.
    store.takeDirty();
    features.update(store, { ids: new Set(Array.from(store.vehicles(), (v) => v.vehicle_id)), membershipChanged: true });
    clustered = features.size > CLUSTER_ABOVE;
    if (clustered) source.setClusterOptions({ cluster: true });
    inflight = true;
    source.setData(features.collection()).finally(() => {
      inflight = false;
      schedule();
    });

    let lastFocus = store.ui().focusSeq;
    const onUi = () => {
      const ui = store.ui();
      map.setFilter('vehicle-selected', ['==', ['get', 'vehicle_id'], ui.selectedId ?? '']);
      if (ui.focusSeq !== lastFocus) {
        lastFocus = ui.focusSeq;
        const v = ui.selectedId && store.getVehicle(ui.selectedId);
        if (v && typeof v.lat === 'number') {
          map.flyTo({ center: [v.lng, v.lat], zoom: Math.max(map.getZoom(), CLUSTER_MAX_ZOOM + 3), duration: 800 });
        }
      }
      if (ui.followId) follow();
    };
    const unsubUi = store.subscribe('ui', onUi);
    onUi();

    const onClick = (e) => {
      const f = e.features?.[0];
      if (f) store.select(f.properties.vehicle_id);
    };
    const onClusterClick = async (e) => {
      const f = e.features?.[0];
      if (!f) return;
      const zoom = await source.getClusterExpansionZoom(f.properties.cluster_id);
      map.easeTo({ center: f.geometry.coordinates, zoom });
    };
    const pointer = () => { map.getCanvas().style.cursor = 'pointer'; };
    const nopointer = () => { map.getCanvas().style.cursor = ''; };
    map.on('click', LAYER, onClick);
    map.on('click', 'vehicle-clusters', onClusterClick);
    for (const l of [LAYER, 'vehicle-clusters']) {
      map.on('mouseenter', l, pointer);
      map.on('mouseleave', l, nopointer);
    }
    // The user dragging the map ends following.
    const onDrag = () => { if (store.ui().followId) store.follow(null); };
    map.on('dragstart', onDrag);

    return () => {
      stopped = true;
      if (frame !== null) cancelAnimationFrame(frame);
      unsubVehicles();
      unsubUi();
      map.off('click', LAYER, onClick);
      map.off('click', 'vehicle-clusters', onClusterClick);
      for (const l of [LAYER, 'vehicle-clusters']) {
        map.off('mouseenter', l, pointer);
        map.off('mouseleave', l, nopointer);
      }
      map.off('dragstart', onDrag);
      if (map.getStyle()) {
        for (const l of LAYERS) if (map.getLayer(l)) map.removeLayer(l);
        if (map.getSource(SOURCE)) map.removeSource(SOURCE);
      }
    };
  }, [map, store]);

  return null;
}
