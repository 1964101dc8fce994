// Live alerts, newest first. Opening the feed marks them read; clicking one
// focuses its vehicle on the map.
import { useEffect } from 'react';
import { useApp, useTopic } from '../store/context.js';
import { formatAgo, formatTime } from '../lib/format.js';
import { severityClass } from './severity.js';

export default function AlertFeed() {
  const { store } = useApp();
  useTopic('alerts');
  const alerts = store.getAlerts();
  const unread = store.unreadCount();

  useEffect(() => {
    if (unread > 0) store.markAlertsRead();
  }, [store, unread]);

  if (!alerts.length) return <p className="muted">No alerts yet.</p>;
  const now = Date.now();
  return (
    <ol className="alerts" aria-label="Alerts">
      {alerts.map((a) => (
        <li key={`${a.vehicle_id}|${a.ts}|${a.rule}|${a.message ?? ''}`}
          className={`alert ${severityClass(a.severity)}`} data-vehicle={a.vehicle_id} data-rule={a.rule}>
          <button className="alert-body" onClick={() => store.focus(a.vehicle_id)}>
            <span className="sev">{a.severity ?? 'warning'}</span>
            <span className="who">{a.vehicle_id}</span>
            <span className="when" title={formatTime(a.ts)}>{formatAgo(a.ts, now)}</span>
            <span className="what">{a.message ?? a.rule_type ?? a.rule}</span>
          </button>
        </li>
      ))}
    </ol>
  );
}
