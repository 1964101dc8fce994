// Vehicle status: the four states the API reports, their colours (shared by the
// map icons, the list and the legend), and how a status is derived when the
// server did not send one.

export const STATUSES = ['moving', 'idle', 'stopped', 'offline'];

export const STATUS_COLORS = {
  moving: '#2e9d4f',
  idle: '#e0a100',
  stopped: '#d0453b',
  offline: '#8a8f98',
};

export const STATUS_LABELS = {
  moving: 'Moving',
  idle: 'Idle',
  stopped: 'Stopped',
  offline: 'Offline',
};

/** Seconds without a fix after which a vehicle counts as offline. */
export const OFFLINE_AFTER_S = 600;
/** Speeds at or below this (km/h) count as standing. */
export const MOVING_MIN_KMH = 3;

/**
 * The status of a vehicle record: the server's `status` when it is one of the
 * four, else derived from the age of its last fix, speed and ignition.
 */
export function vehicleStatus(v, nowMs = Date.now()) {
  if (!v) return 'offline';
  const t = Date.parse(v.last_seen ?? v.ts);
  // A vehicle that stopped reporting sends nothing to say so: age decides.
  if (!Number.isNaN(t) && nowMs - t > OFFLINE_AFTER_S * 1000) return 'offline';
  if (STATUSES.includes(v.status)) return v.status;
  if (Number.isNaN(t)) return 'offline';
  if (typeof v.speed === 'number' && v.speed > MOVING_MIN_KMH) return 'moving';
  if (v.ignition === true) return 'idle';
  return 'stopped';
}

export function statusColor(status) {
  return STATUS_COLORS[status] ?? STATUS_COLORS.offline;
}

/**
 * Filter and sort vehicle records for the list: `query` is a case-insensitive
 * substring of the id or the driver, `statuses` a Set of allowed statuses
 * (empty: all), judged at `now` (ms). Sorted by id.
 */
export function filterVehicles(vehicles, { query = '', statuses = new Set(), now = Date.now() } = {}) {
  const q = query.trim().toLowerCase();
  const out = [];
  for (const v of vehicles) {
    if (statuses.size && !statuses.has(vehicleStatus(v, now))) continue;
    if (q && !v.vehicle_id.toLowerCase().includes(q) &&
        !(v.driver_id && String(v.driver_id).toLowerCase().includes(q))) continue;
    out.push(v);
  }
  out.sort((a, b) => (a.vehicle_id < b.vehicle_id ? -1 : a.vehicle_id > b.vehicle_id ? 1 : 0));
  return out;
}

export function countByStatus(vehicles, now = Date.now()) {
  const counts = { moving: 0, idle: 0, stopped: 0, offline: 0 };
  for (const v of vehicles) counts[vehicleStatus(v, now)]++;
  return counts;
}
