// Display formatting shared by every panel. Inputs follow the API's units:
// metres, km/h, seconds, RFC 3339 UTC strings. Missing values show as an em dash.

export const MISSING = '—';

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** 0 -> "0s", 75 -> "1m 15s", 3725 -> "1h 02m", 90061 -> "1d 01h". */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return MISSING;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }
  return `${Math.floor(s / 86400)}d ${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** Metres: below 1 km in whole metres, then km with one decimal (two under 10 km). */
export function formatDistance(metres) {
  if (!isNum(metres) || metres < 0) return MISSING;
  if (metres < 1000) return `${Math.round(metres)} m`;
  const km = metres / 1000;
  return `${km < 10 ? km.toFixed(2) : km.toFixed(1)} km`;
}

export function formatSpeed(kmh) {
  if (!isNum(kmh)) return MISSING;
  return `${Math.round(kmh)} km/h`;
}

const COMPASS = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'];

/** 0 -> "0° N", 225 -> "225° SW"; normalised into [0, 360). */
export function formatHeading(deg) {
  if (!isNum(deg)) return MISSING;
  const d = ((Math.round(deg) % 360) + 360) % 360;
  return `${d}° ${COMPASS[Math.round(d / 45) % 8]}`;
}

export function formatNumber(value, unit, digits = 1) {
  if (!isNum(value)) return MISSING;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

const pad = (n) => String(n).padStart(2, '0');

/** "2026-05-21 10:30:00" in UTC (or local time with utc=false). */
export function formatTime(ts, { utc = true } = {}) {
  const d = ts instanceof Date ? ts : new Date(ts);
  if (ts == null || Number.isNaN(d.getTime())) return MISSING;
  if (utc) {
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "just now", "42s ago", "5m ago", "3h ago", "2d ago" relative to `now` (ms). */
export function formatAgo(ts, now = Date.now()) {
  const t = ts instanceof Date ? ts.getTime() : Date.parse(ts);
  if (ts == null || Number.isNaN(t)) return MISSING;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** A Date as the value of an <input type="datetime-local"> in UTC. */
export function toInputValue(date) {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}`;
}

/** The value of an <input type="datetime-local">, read as UTC, to RFC 3339. */
export function fromInputValue(value) {
  if (!value) return null;
  const d = new Date(/T\d\d:\d\d$/.test(value) ? `${value}:00Z` : `${value}Z`);
  if (Number.isNaN(d.getTime())) return null;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
