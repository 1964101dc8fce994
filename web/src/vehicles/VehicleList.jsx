// The vehicle list: search, status filters with counts, and a virtualised list
// (only the rows in view exist in the DOM), so 10,000 vehicles scroll freely.
import { useMemo, useState } from 'react';
import { useApp, useThrottledTopic, useTopic } from '../store/context.js';
import { STATUSES, STATUS_LABELS, countByStatus, filterVehicles, statusColor } from './status.js';
import { formatAgo, formatSpeed } from '../lib/format.js';

export const ROW_HEIGHT = 40;
const OVERSCAN = 6;

export default function VehicleList() {
  const { store } = useApp();
  const version = useThrottledTopic('vehicles', 500);
  useTopic('ui');
  const [query, setQuery] = useState('');
  const [statuses, setStatuses] = useState(() => new Set());
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(480);

  const all = useMemo(() => Array.from(store.vehicles()), [store, version]);
  const counts = useMemo(() => countByStatus(all), [all]);
  const rows = useMemo(() => filterVehicles(all, { query, statuses }), [all, query, statuses]);

  const toggle = (s) => {
    const next = new Set(statuses);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setStatuses(next);
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const selected = store.ui().selectedId;
  const now = Date.now();

  return (
    <section className="vehicle-list">
      <div className="list-tools">
        <input type="search" placeholder="Search vehicle or driver" value={query}
          onChange={(e) => setQuery(e.target.value)} aria-label="Search vehicles" />
        <div className="chips" role="group" aria-label="Status filter">
          {STATUSES.map((s) => (
            <button key={s} className={statuses.has(s) ? 'chip on' : 'chip'} aria-pressed={statuses.has(s)}
              data-status={s} onClick={() => toggle(s)}>
              <i className="dot" style={{ background: statusColor(s) }} />
              {STATUS_LABELS[s]} <b>{counts[s]}</b>
            </button>
          ))}
        </div>
        <div className="muted" data-testid="vehicle-count">{rows.length} of {all.length} vehicles</div>
      </div>
      <div className="list-scroll" ref={(el) => {
        if (el && el.clientHeight && el.clientHeight !== height) setHeight(el.clientHeight);
      }}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} role="list">
        <div style={{ height: rows.length * ROW_HEIGHT, position: 'relative' }}>
          {rows.slice(first, last).map((v, i) => (
            <div key={v.vehicle_id} role="listitem" data-vehicle={v.vehicle_id}
              className={v.vehicle_id === selected ? 'row selected' : 'row'}
              style={{ position: 'absolute', top: (first + i) * ROW_HEIGHT, height: ROW_HEIGHT, left: 0, right: 0 }}
              onClick={() => store.focus(v.vehicle_id)}>
              <i className="dot" style={{ background: statusColor(v.status) }} title={v.status} />
              <span className="vid">{v.vehicle_id}</span>
              <span className="muted">{formatSpeed(v.speed)}</span>
              <span className="muted small">{formatAgo(v.last_seen ?? v.ts, now)}</span>
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}
