import { describe, expect, it } from 'vitest';
import { createFleetStore, MAX_ALERTS } from '../src/store/fleetStore.js';
import { createVehicleFeatures, vehicleBounds } from '../src/map/vehicleFeatures.js';

const NOW = Date.parse('2026-05-21T12:00:00Z');
const ts = (s) => new Date(NOW + s * 1000).toISOString();

describe('fleet store', () => {
  it('applies a snapshot, then updates in place, tracking dirty ids and membership', () => {
    let t = NOW;
    const s = createFleetStore({ now: () => t });
    let notified = 0;
    s.subscribe('vehicles', () => notified++);
    s.applySnapshot([
      { vehicle_id: 'a', lat: 1, lng: 1, ts: ts(0), status: 'moving', odometer: 10 },
      { vehicle_id: 'b', lat: 2, lng: 2, ts: ts(0), status: 'idle' },
    ]);
    expect(s.vehicleCount()).toBe(2);
    let d = s.takeDirty();
    expect([...d.ids].sort()).toEqual(['a', 'b']);
    expect(d.membershipChanged).toBe(true);
    const a = s.getVehicle('a');
    s.applyUpdates(new Map([['a', { lat: 1.5, lng: 1.5, ts: ts(1), status: 'moving' }]]));
    expect(s.getVehicle('a')).toBe(a); // same object, updated in place
    expect(a).toMatchObject({ lat: 1.5, odometer: 10, last_seen: ts(1) });
    d = s.takeDirty();
    expect([...d.ids]).toEqual(['a']);
    expect(d.membershipChanged).toBe(false);
    expect(notified).toBe(2);
  });
  it('ignores an update older than what it has', () => {
    const s = createFleetStore({ now: () => NOW });
    s.applyUpdates(new Map([['a', { lat: 2, lng: 2, ts: ts(5) }]]));
    s.applyUpdates(new Map([['a', { lat: 1, lng: 1, ts: ts(1) }]]));
    expect(s.getVehicle('a').lat).toBe(2);
  });
  it('drops vehicles missing from a new snapshot', () => {
    const s = createFleetStore({ now: () => NOW });
    s.applySnapshot([{ vehicle_id: 'a', lat: 1, lng: 1, ts: ts(0) }, { vehicle_id: 'b', lat: 1, lng: 1, ts: ts(0) }]);
    s.takeDirty();
    s.applySnapshot([{ vehicle_id: 'b', lat: 1, lng: 1, ts: ts(1) }]);
    expect(s.getVehicle('a')).toBeUndefined();
    const d = s.takeDirty();
    expect(d.membershipChanged).toBe(true);
    expect(d.ids.has('a')).toBe(true);
  });
  it('turns silent vehicles offline on refresh', () => {
    let t = NOW;
    const s = createFleetStore({ now: () => t });
    s.applySnapshot([{ vehicle_id: 'a', lat: 1, lng: 1, ts: ts(0), status: 'moving' }]);
    s.takeDirty();
    t = NOW + 3600 * 1000;
    s.refreshStatuses();
    expect(s.getVehicle('a').status).toBe('offline');
    expect([...s.takeDirty().ids]).toEqual(['a']);
  });
  it('keeps alerts newest first, deduplicated, with an unread count', () => {
    const s = createFleetStore({ now: () => NOW });
    s.addAlerts([{ vehicle_id: 'a', ts: ts(1), rule: 'r' }, { vehicle_id: 'b', ts: ts(2), rule: 'r' }]);
    s.addAlerts([{ vehicle_id: 'a', ts: ts(1), rule: 'r' }, { vehicle_id: 'c', ts: ts(3), rule: 'r' }]);
    expect(s.getAlerts().map((a) => a.vehicle_id)).toEqual(['c', 'b', 'a']);
    expect(s.unreadCount()).toBe(3);
    s.markAlertsRead();
    expect(s.unreadCount()).toBe(0);
    s.addAlerts([{ vehicle_id: 'd', ts: ts(0), rule: 'r' }], { read: true });
    expect(s.unreadCount()).toBe(0);
    expect(s.getAlerts().at(-1).vehicle_id).toBe('d');
  });
  it('caps the alert list', () => {
    const s = createFleetStore({ now: () => NOW });
    const many = Array.from({ length: MAX_ALERTS + 20 }, (_, i) => ({ vehicle_id: 'v', ts: ts(i), rule: 'r' }));
    s.addAlerts(many);
    expect(s.getAlerts().length).toBe(MAX_ALERTS);
    expect(s.getAlerts()[0].ts).toBe(ts(MAX_ALERTS + 19));
    expect(s.unreadCount()).toBe(MAX_ALERTS);
  });
  it('routes a feed batch to snapshot, updates and alerts', () => {
    const s = createFleetStore({ now: () => NOW });
    s.applyFeed({
      snapshot: [{ vehicle_id: 'a', lat: 0, lng: 0, ts: ts(0) }],
      updates: new Map([['b', { lat: 1, lng: 1, ts: ts(0) }]]),
      alerts: [{ vehicle_id: 'a', ts: ts(0), rule: 'x' }],
    });
    expect(s.vehicleCount()).toBe(2);
    expect(s.unreadCount()).toBe(1);
  });
  it('focus selects and bumps the focus sequence; follow selects', () => {
    const s = createFleetStore();
    s.focus('a');
    s.focus('a');
    expect(s.ui()).toMatchObject({ selectedId: 'a', focusSeq: 2 });
    s.follow('b');
    expect(s.ui()).toMatchObject({ selectedId: 'b', followId: 'b' });
  });
});

describe('vehicle features', () => {
  it('builds one point per positioned vehicle and updates them in place', () => {
    const s = createFleetStore({ now: () => NOW });
    s.applySnapshot([
      { vehicle_id: 'a', lat: 1, lng: 2, heading: 45, speed: 12.6, ts: ts(0), status: 'moving' },
      { vehicle_id: 'nopos', ts: ts(0) },
    ]);
    const f = createVehicleFeatures();
    expect(f.update(s, s.takeDirty())).toBe(true);
    const fc = f.collection();
    expect(fc.features.length).toBe(1);
    expect(fc.features[0]).toEqual({
      type: 'Feature',
      properties: { vehicle_id: 'a', status: 'moving', heading: 45, speed: 13 },
      geometry: { type: 'Point', coordinates: [2, 1] },
    });
    const feature = fc.features[0];
    s.applyUpdates(new Map([['a', { lat: 3, lng: 4, heading: 90, ts: ts(1), status: 'idle' }]]));
    expect(f.update(s, s.takeDirty())).toBe(true);
    expect(f.collection().features[0]).toBe(feature);
    expect(feature.geometry.coordinates).toEqual([4, 3]);
    expect(feature.properties).toMatchObject({ status: 'idle', heading: 90 });
    expect(f.update(s, s.takeDirty())).toBe(false);
  });
  it('computes bounds over positioned vehicles', () => {
    expect(vehicleBounds([{ lat: 1, lng: 5 }, { lat: -2, lng: 7 }, { lat: 'x' }])).toEqual([[5, -2], [7, 1]]);
    expect(vehicleBounds([])).toBe(null);
  });
});
