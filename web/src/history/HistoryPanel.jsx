// History: a vehicle and a time range; its trips and stops; replay of a trip
// (or of the whole range) with the speed chart in sync.
import { useEffect, useMemo, useState } from 'react';
import { useApp } from '../store/context.js';
import { formatDistance, formatDuration, formatSpeed, formatTime, fromInputValue, toInputValue } from '../lib/format.js';
import ReplayControls from './ReplayControls.jsx';
import { useReplayBus } from './replayBus.js';

const HOUR = 3600 * 1000;

export default function HistoryPanel() {
  const { store, api } = useApp();
  const bus = useReplayBus();
  const [vehicle, setVehicle] = useState(() => store.ui().selectedId ?? '');
  const [from, setFrom] = useState(() => toInputValue(new Date(Date.now() - 6 * HOUR)));
  const [to, setTo] = useState(() => toInputValue(new Date(Date.now() + 60 * 1000)));
  const [data, setData] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [tripIndex, setTripIndex] = useState(null);
  const [replaying, setReplaying] = useState(false);

  const ids = useMemo(() => Array.from(store.vehicles(), (v) => v.vehicle_id).sort().slice(0, 2000), [store]);

  // Leaving the tab ends the replay.
  useEffect(() => () => bus.setRoute(null), [bus]);

  const load = async (e) => {
    e?.preventDefault();
    const f = fromInputValue(from);
    const t = fromInputValue(to);
    if (!vehicle || !f || !t) {
      setError('Pick a vehicle and a time range.');
      return;
    }
    setBusy(true);
    setError(null);
    setReplaying(false);
    bus.setRoute(null);
    try {
      const [h, tr] = await Promise.all([
        api.history(vehicle, { from: f, to: t, tier: 'raw' }),
        api.trips(vehicle, { from: f, to: t }),
      ]);
      setData({ points: h?.points ?? [], truncated: !!h?.truncated, trips: tr?.trips ?? [], stops: tr?.stops ?? [] });
      setTripIndex(null);
    } catch (err) {
      setError(err.message);
      setData(null);
    } finally {
      setBusy(false);
    }
  };

  // The points replayed: the chosen trip's, or the whole range.
  const points = useMemo(() => {
    if (!data) return [];
    if (tripIndex === null) return data.points;
    const trip = data.trips[tripIndex];
    const a = Date.parse(trip.start);
    const b = Date.parse(trip.end);
    return data.points.filter((p) => {
      const t = Date.parse(p.ts);
      return t >= a && t <= b;
    });
  }, [data, tripIndex]);

  return (
    <section className="history-panel">
      <form className="range-form" onSubmit={load}>
        <label>Vehicle
          <input name="vehicle" list="history-vehicles" value={vehicle} onChange={(e) => setVehicle(e.target.value)} required />
          <datalist id="history-vehicles">{ids.map((id) => <option key={id} value={id} />)}</datalist>
        </label>
        <label>From (UTC) <input name="from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} required /></label>
        <label>To (UTC) <input name="to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} required /></label>
        <button type="submit" disabled={busy} data-testid="history-load">{busy ? 'Loading…' : 'Load'}</button>
      </form>
      {error && <p className="error">{error}</p>}
      {data && (
        <>
          <p className="muted" data-testid="history-summary">
            {data.points.length} fixes{data.truncated ? ' (truncated)' : ''}, {data.trips.length} trips, {data.stops.length} stops
          </p>
          <h3>Trips</h3>
          <table className="mini trips" data-testid="trips">
            <thead><tr><th>Start</th><th>Duration</th><th>Distance</th><th>Max</th><th /></tr></thead>
            <tbody>
              {data.trips.map((t, i) => (
                <tr key={t.start} className={i === tripIndex ? 'selected' : ''}>
                  <td title={formatTime(t.start)}>{formatTime(t.start).slice(5, 16)}</td>
                  <td>{formatDuration(t.duration_s)}</td>
                  <td>{formatDistance(t.distance_m)}</td>
                  <td>{formatSpeed(t.max_speed_kmh)}</td>
                  <td><button className="link" data-testid="replay-trip"
                    onClick={() => { setTripIndex(i); setReplaying(true); }}>Replay</button></td>
                </tr>
              ))}
            </tbody>
          </table>
          <button data-testid="replay-range" disabled={data.points.length < 2}
            onClick={() => { setTripIndex(null); setReplaying(true); }}>Replay whole range</button>
          <h3>Stops</h3>
          <ul className="stops">
            {data.stops.map((s) => (
              <li key={s.start}>{formatTime(s.start)} · {formatDuration(s.duration_s)}</li>
            ))}
            {!data.stops.length && <li className="muted">No stops.</li>}
          </ul>
        </>
      )}
      {replaying && points.length >= 2 && (
        <ReplayControls key={`${vehicle}|${tripIndex}|${points.length}`} points={points}
          onClose={() => { setReplaying(false); bus.setRoute(null); }} />
      )}
    </section>
  );
}
