// Trip report for a set of vehicles and a range: a table, the totals, and a
// CSV download made from the same rows (same columns as the server's CSV).
import { useMemo, useState } from 'react';
import { useApp } from '../store/context.js';
import { reportFileName, reportTotals, tripsToCSV } from './reportModel.js';
import {
  formatDistance, formatDuration, formatNumber, formatSpeed, formatTime, fromInputValue, toInputValue,
} from '../lib/format.js';

const DAY = 86400 * 1000;

export function downloadText(text, fileName, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export default function ReportsPanel() {
  const { api } = useApp();
  const [vehicles, setVehicles] = useState('*');
  const [from, setFrom] = useState(() => toInputValue(new Date(Date.now() - DAY)));
  const [to, setTo] = useState(() => toInputValue(new Date(Date.now() + 60 * 1000)));
  const [trips, setTrips] = useState(null);
  const [range, setRange] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  const run = async (e) => {
    e.preventDefault();
    const f = fromInputValue(from);
    const t = fromInputValue(to);
    const list = vehicles.trim() === '*' ? '*'
      : vehicles.split(/[\s,]+/).filter(Boolean).join(',');
    if (!list || !f || !t) {
      setError('Pick vehicles (or *) and a time range.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api.reportTrips({ vehicles: list, from: f, to: t });
      setTrips(r?.trips ?? []);
      setRange([f, t]);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };

  const totals = useMemo(() => (trips ? reportTotals(trips) : null), [trips]);

  return (
    <section className="reports-panel">
      <form className="range-form" onSubmit={run}>
        <label>Vehicles (ids, comma-separated, or *)
          <input name="vehicles" value={vehicles} onChange={(e) => setVehicles(e.target.value)} required />
        </label>
        <label>From (UTC) <input name="from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} required /></label>
        <label>To (UTC) <input name="to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} required /></label>
        <button type="submit" disabled={busy} data-testid="report-run">{busy ? 'Running…' : 'Run report'}</button>
      </form>
      {error && <p className="error">{error}</p>}
      {trips && (
        <>
          <div className="actions">
            <button data-testid="report-csv" disabled={!trips.length}
              onClick={() => downloadText(tripsToCSV(trips), reportFileName(...range))}>Download CSV</button>
          </div>
          <div className="table-wrap">
            <table className="report" data-testid="report-table">
              <thead>
                <tr>
                  <th>Vehicle</th><th>Start</th><th>End</th><th>Duration</th><th>Distance</th>
                  <th>Idle</th><th>Max</th><th>Avg</th><th>Fuel</th>
                </tr>
              </thead>
              <tbody>
                {trips.map((t) => (
                  <tr key={`${t.vehicle_id}|${t.start}`}>
                    <td>{t.vehicle_id}</td>
                    <td>{formatTime(t.start)}</td>
                    <td>{formatTime(t.end)}</td>
                    <td>{formatDuration(t.duration_s)}</td>
                    <td>{formatDistance(t.distance_m)}</td>
                    <td>{formatDuration(t.idle_s)}</td>
                    <td>{formatSpeed(t.max_speed_kmh)}</td>
                    <td>{formatSpeed(t.avg_speed_kmh)}</td>
                    <td>{formatNumber(t.fuel_l, 'l')}</td>
                  </tr>
                ))}
              </tbody>
              {totals && (
                <tfoot>
                  <tr data-testid="report-totals">
                    <th>{totals.trips} trips</th><th /><th />
                    <th>{formatDuration(totals.duration_s)}</th>
                    <th>{formatDistance(totals.distance_m)}</th>
                    <th>{formatDuration(totals.idle_s)}</th>
                    <th>{formatSpeed(totals.max_speed_kmh)}</th>
                    <th>{formatSpeed(totals.avg_speed_kmh)}</th>
                    <th>{formatNumber(totals.fuel_l, 'l')}</th>
                  </tr>
                </tfoot>
              )}
            </table>
          </div>
          {!trips.length && <p className="muted">No trips in this range.</p>}
        </>
      )}
    </section>
  );
}
