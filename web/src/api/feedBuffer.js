// Buffers WebSocket messages between two flushes. Telemetry (one vehicle per
// telemetry_update, or many per telemetry_batch) is coalesced: only
// the latest state per vehicle survives (fields merged, so a message that
// omits a field does not erase it; an older fix never overwrites a newer one).
// Alerts are never coalesced and keep their order. A snapshot (sent on every
// subscribe, so after every reconnect) supersedes whatever was buffered before it.

/** Pending alerts kept while nothing flushes (a hidden tab has no animation frames). */
export const MAX_PENDING_ALERTS = 1000;

function newer(a, b) {
  // Missing or unparsable timestamps are taken as newer: the server's order wins.
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  return Number.isNaN(ta) || Number.isNaN(tb) || ta >= tb;
}

export function createFeedBuffer() {
  let snapshot = null;
  let updates = new Map();
  let alerts = [];
  let droppedAlerts = 0;
  let received = 0;

  const take = (id, data) => {
    if (typeof id !== 'string' || !data || typeof data !== 'object') return false;
    received++;
    const prev = updates.get(id);
    if (!prev) updates.set(id, { ...data });
    else if (newer(data.ts, prev.ts)) Object.assign(prev, data);
    return true;
  };

  return {
    /**
     * Take one parsed server message. Returns what it was: 'snapshot',
     * 'update', 'alert', 'pong', 'error' or 'ignored' (unknown or malformed).
     */
    push(msg) {
      if (!msg || typeof msg !== 'object') return 'ignored';
      switch (msg.type) {
        case 'telemetry_update':
          return take(msg.vehicle_id, msg.data) ? 'update' : 'ignored';
        case 'telemetry_batch': {
          if (!Array.isArray(msg.updates)) return 'ignored';
          let n = 0;
          for (const u of msg.updates) if (u && take(u.vehicle_id, u.data)) n++;
          return n ? 'update' : 'ignored';
        }
        case 'snapshot':
          if (!Array.isArray(msg.vehicles)) return 'ignored';
          snapshot = msg.vehicles;
          updates = new Map();
          return 'snapshot';
        case 'alert': {
          const { type: _type, ...alert } = msg;
          alerts.push(alert);
          if (alerts.length > MAX_PENDING_ALERTS) {
            droppedAlerts += alerts.length - MAX_PENDING_ALERTS;
            alerts = alerts.slice(-MAX_PENDING_ALERTS);
          }
          return 'alert';
        }
        case 'pong':
          return 'pong';
        case 'error':
          return 'error';
        default:
          return 'ignored';
      }
    },
    get pending() {
      return snapshot !== null || updates.size > 0 || alerts.length > 0;
    },
    /** Hand over everything buffered and start afresh. */
    drain() {
      const out = { snapshot, updates, alerts, droppedAlerts, received };
      snapshot = null;
      updates = new Map();
      alerts = [];
      droppedAlerts = 0;
      received = 0;
      return out;
    },
  };
}
