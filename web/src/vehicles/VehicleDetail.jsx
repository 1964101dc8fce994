// The selected vehicle: live values from the feed, the rest (zones, driver,
// today's trips) from REST, refreshed while the panel is open.
import { useEffect, useState } from 'react';
import { useApp, useThrottledTopic, useTopic } from '../store/context.js';
import { STATUS_LABELS, statusColor } from './status.js';
import {
  formatAgo, formatDistance, formatDuration, formatHeading, formatNumber, formatSpeed, formatTime,
} from '../lib/format.js';

const REFRESH_MS = 10000;

function startOfTodayUTC(now = new Date()) {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
}

export default function VehicleDetail({ id }) {
  const { store, api } = useApp();
  useThrottledTopic('vehicles', 500);
  useTopic('ui');
  const live = store.getVehicle(id) ?? {};
  const [rest, setRest] = useState(null);
  const [trips, setTrips] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      try {
        const to = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        const [v, t] = await Promise.all([
          api.vehicle(id),
          api.trips(id, { from: startOfTodayUTC(), to }),
        ]);
        if (cancelled) return;
        setRest(v);
        setTrips(t?.trips ?? []);
        setError(null);
      } catch (e) {
        if (!cancelled) setError(e.message);
      }
    };
    setRest(null);
    setTrips(null);
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [api, id]);

  // Live feed values win over the periodic REST copy for what the feed carries.
  const v = { ...(rest ?? {}), ...live };
  const following = store.ui().followId === id;

  return (
    <section className="detail" data-testid="vehicle-detail" aria-label={`Vehicle ${id}`}>
      <header>
        <h2>{id}</h2>
        <span className="status" style={{ background: statusColor(v.status) }}>{STATUS_LABELS[v.status] ?? v.status}</span>
        <button className="link" onClick={() => store.select(null)} aria-label="Close">✕</button>
      </header>
      <div className="actions">
        <button onClick={() => store.follow(following ? null : id)} data-testid="follow">
          {following ? 'Stop following' : 'Follow'}
        </button>
        <button onClick={() => store.focus(id)}>Show on map</button>
        <button onClick={() => store.setTab('history')}>History</button>
      </div>
      <dl className="facts">
        <dt>Speed</dt><dd data-field="speed">{formatSpeed(v.speed)}</dd>
        <dt>Heading</dt><dd>{formatHeading(v.heading)}</dd>
        <dt>Odometer</dt><dd>{formatNumber(v.odometer, 'km')}</dd>
        <dt>Battery</dt><dd>{formatNumber(v.battery_v, 'V')}</dd>
        <dt>Fuel</dt><dd>{formatNumber(v.fuel_level, '%', 0)}</dd>
        <dt>Engine</dt><dd>{formatNumber(v.engine_temp, '°C', 0)}</dd>
        <dt>Driver</dt><dd>{v.driver_id ?? '—'}</dd>
        <dt>Last seen</dt><dd title={formatTime(v.last_seen ?? v.ts)}>{formatAgo(v.last_seen ?? v.ts)}</dd>
        <dt>Position</dt><dd>{typeof v.lat === 'number' ? `${v.lat.toFixed(5)}, ${v.lng.toFixed(5)}` : '—'}</dd>
        <dt>Zones</dt><dd data-field="zones">{rest?.zones?.length ? rest.zones.join(', ') : 'none'}</dd>
      </dl>
      {error && <p className="error">{error}</p>}
      <h3>Today&apos;s trips</h3>
      {trips === null ? <p className="muted">Loading…</p> : trips.length === 0 ? (
        <p className="muted">No trips today.</p>
      ) : (
        <table className="mini">
          <thead><tr><th>Start</th><th>Duration</th><th>Distance</th><th>Max</th></tr></thead>
          <tbody>
            {trips.map((t) => (
              <tr key={t.start}>
                <td>{formatTime(t.start).slice(11)}</td>
                <td>{formatDuration(t.duration_s)}</td>
                <td>{formatDistance(t.distance_m)}</td>
                <td>{formatSpeed(t.max_speed_kmh)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
