// Trip report: totals over the rows shown and the CSV the user downloads.
// The CSV has exactly the header and columns of the server's
// /api/reports/trips?format=csv (docs/API.md), so either can feed a spreadsheet.

export const CSV_COLUMNS = [
  'vehicle_id', 'start', 'end', 'duration_s', 'distance_m', 'idle_s',
  'max_speed_kmh', 'avg_speed_kmh', 'fuel_l',
];

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * Totals of a list of TRIPs: count, sums of distance, duration, moving, idle
 * and fuel, the highest max speed, and the distance-weighted average speed
 * (total distance over total moving time, or duration when moving_s is absent).
 */
export function reportTotals(trips) {
  const t = { trips: 0, distance_m: 0, duration_s: 0, moving_s: 0, idle_s: 0, fuel_l: 0,
    max_speed_kmh: 0, avg_speed_kmh: 0 };
  let movingKnown = true;
  for (const trip of trips) {
    t.trips++;
    t.distance_m += num(trip.distance_m);
    t.duration_s += num(trip.duration_s);
    t.idle_s += num(trip.idle_s);
    t.fuel_l += num(trip.fuel_l);
    if (typeof trip.moving_s === 'number') t.moving_s += trip.moving_s;
    else movingKnown = false;
    t.max_speed_kmh = Math.max(t.max_speed_kmh, num(trip.max_speed_kmh));
  }
  const hours = (movingKnown && t.moving_s > 0 ? t.moving_s : t.duration_s) / 3600;
  t.avg_speed_kmh = hours > 0 ? t.distance_m / 1000 / hours : 0;
  return t;
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvField(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const s = String(value);
  // A leading =, +, - or @ would be run as a formula by spreadsheets.
  const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The CSV text: header, then one CRLF-terminated row per trip. */
export function tripsToCSV(trips) {
  const lines = [CSV_COLUMNS.join(',')];
  for (const trip of trips) lines.push(CSV_COLUMNS.map((c) => csvField(trip[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function reportFileName(from, to) {
  const day = (s) => (s ? String(s).slice(0, 10) : 'all');
  return `trips_${day(from)}_${day(to)}.csv`;
}
