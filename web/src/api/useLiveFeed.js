// Connects the live feed for as long as the dashboard is mounted: batches go
// into the store; initial alerts come from REST so the feed is not empty.
import { useEffect, useState } from 'react';
import { useApp } from '../store/context.js';
import { createFeedClient, feedUrl } from './ws.js';

/** Re-derive offline vehicles this often (they send nothing to say so). */
const STATUS_REFRESH_MS = 15000;

export function useLiveFeed({ tokenInQuery = false } = {}) {
  const { store, session, api } = useApp();
  const [status, setStatus] = useState('connecting');

  useEffect(() => {
    const client = createFeedClient({
      url: () => feedUrl(window.location, tokenInQuery ? session.getToken() : null),
      onFlush: (batch) => store.applyFeed(batch),
      onStatus: setStatus,
      onTokenExpired: () => session.refresh(),
    });
    client.start();
    api.alerts({ limit: 100 })
      .then((r) => store.addAlerts([...(r?.alerts ?? [])].reverse(), { read: true }))
      .catch(() => {});
    const timer = setInterval(() => store.refreshStatuses(), STATUS_REFRESH_MS);
    return () => {
      client.stop();
      clearInterval(timer);
    };
  }, [store, session, api, tokenInQuery]);

  return status;
}
