// The app's one mutable state: vehicles (the live feed's last-known state),
// alerts, and what the user selected or follows. Created once by main.jsx and
// passed down through React context, so tests make their own.
//
// Vehicle records are mutated in place (10,000 vehicles at 1 Hz would churn
// the garbage collector otherwise); readers learn about changes from version
// counters: `vehiclesVersion` for any change, and `takeDirty()` for the ids
// changed since the map layer last looked.
import { vehicleStatus } from '../vehicles/status.js';

/** Alerts kept in the feed (newest first); older ones are in GET /api/alerts. */
export const MAX_ALERTS = 500;

function alertKey(a) {
  return `${a.vehicle_id}|${a.ts}|${a.rule}|${a.message ?? ''}`;
}

export function createFleetStore({ now = () => Date.now() } = {}) {
  const vehicles = new Map();
  let dirty = new Set();
  let membershipChanged = true;
  let alerts = [];
  const alertKeys = new Set();
  let unread = 0;
  const ui = { selectedId: null, followId: null, focusSeq: 0, tab: 'vehicles' };
  const versions = { vehicles: 0, alerts: 0, ui: 0 };
  const listeners = { vehicles: new Set(), alerts: new Set(), ui: new Set() };

  const emit = (topic) => {
    versions[topic]++;
    for (const l of listeners[topic]) l();
  };

  const upsert = (id, data) => {
    let v = vehicles.get(id);
    if (!v) {
      v = { vehicle_id: id };
      vehicles.set(id, v);
      membershipChanged = true;
    } else if (data.ts && v.ts) {
      const tn = Date.parse(data.ts);
      const to = Date.parse(v.ts);
      if (!Number.isNaN(tn) && !Number.isNaN(to) && tn < to) return;
    }
    Object.assign(v, data);
    if (data.ts) v.last_seen = data.last_seen ?? data.ts;
    v.status = vehicleStatus(v, now());
    dirty.add(id);
  };

  const store = {
    subscribe(topic, fn) {
      listeners[topic].add(fn);
      return () => listeners[topic].delete(fn);
    },
    version: (topic) => versions[topic],

    // ---- vehicles
    getVehicle: (id) => vehicles.get(id),
    vehicleCount: () => vehicles.size,
    vehicles: () => vehicles.values(),

    /** A snapshot replaces the whole set (the token may see fewer vehicles now). */
    applySnapshot(list) {
      const seen = new Set();
      for (const rec of list) {
        if (!rec || typeof rec.vehicle_id !== 'string') continue;
        seen.add(rec.vehicle_id);
        upsert(rec.vehicle_id, rec);
      }
      for (const id of [...vehicles.keys()]) {
        if (!seen.has(id)) {
          vehicles.delete(id);
          dirty.add(id);
          membershipChanged = true;
        }
      }
      emit('vehicles');
    },
    /** Coalesced updates: Map vehicle_id -> partial record. */
    applyUpdates(updates) {
      if (!updates.size) return;
      for (const [id, data] of updates) upsert(id, data);
      emit('vehicles');
    },
    /** Apply one flushed batch of the feed. */
    applyFeed({ snapshot, updates, alerts: newAlerts }) {
      if (snapshot) store.applySnapshot(snapshot);
      if (updates && updates.size) store.applyUpdates(updates);
      if (newAlerts && newAlerts.length) store.addAlerts(newAlerts);
    },
    /**
     * Ids changed since the last call, and whether vehicles were added or
     * removed meanwhile (the map layer then rebuilds its feature list).
     */
    takeDirty() {
      const out = { ids: dirty, membershipChanged };
      dirty = new Set();
      membershipChanged = false;
      return out;
    },
    /** Re-derive statuses from the clock (vehicles that went silent turn offline). */
    refreshStatuses() {
      const t = now();
      let changed = false;
      for (const v of vehicles.values()) {
        const s = vehicleStatus(v, t);
        if (s !== v.status) {
          v.status = s;
          dirty.add(v.vehicle_id);
          changed = true;
        }
      }
      if (changed) emit('vehicles');
    },

    // ---- alerts (newest first)
    getAlerts: () => alerts,
    unreadCount: () => unread,
    /** `list` in arrival order (oldest first); duplicates (same vehicle, time, rule) dropped. */
    addAlerts(list, { read = false } = {}) {
      let added = 0;
      const fresh = [];
      for (const a of list) {
        const k = alertKey(a);
        if (alertKeys.has(k)) continue;
        alertKeys.add(k);
        fresh.push(a);
        added++;
      }
      if (!added) return;
      fresh.reverse();
      alerts = fresh.concat(alerts);
      alerts.sort((x, y) => Date.parse(y.ts) - Date.parse(x.ts) || 0);
      if (alerts.length > MAX_ALERTS) {
        for (const a of alerts.slice(MAX_ALERTS)) alertKeys.delete(alertKey(a));
        alerts = alerts.slice(0, MAX_ALERTS);
      }
      if (!read) unread = Math.min(alerts.length, unread + added);
      emit('alerts');
    },
    markAlertsRead() {
      if (unread === 0) return;
      unread = 0;
      emit('alerts');
    },

    // ---- selection and view
    ui: () => ui,
    select(id) {
      ui.selectedId = id;
      emit('ui');
    },
    /** Select a vehicle and ask the map to fly to it (each call flies again). */
    focus(id) {
      ui.selectedId = id;
      ui.focusSeq++;
      emit('ui');
    },
    follow(id) {
      ui.followId = id;
      if (id) ui.selectedId = id;
      emit('ui');
    },
    setTab(tab) {
      ui.tab = tab;
      emit('ui');
    },
  };
  return store;
}
