// Connects the live feed for as long as the dashboard is mounted: batches go
// into the store; initial alerts come from REST so the feed is not empty.
import { useEffect, useState } from 'react';
import { useApp } from '../store/context.js';
import { createFeedClient, feedUrl } from './ws.js';
import { testHooksEnabled } from '../lib/testHooks.js';

/** Re-derive offline vehicles this often (they send nothing to say so). */
const STATUS_REFRESH_MS = 15000;

export function useLiveFeed({ tokenInQuery = false } = {}) {
  const { store, session, api } = useApp();
  const [status, setStatus] = useState('connecting');

  useEffect(() => {
    // Read by the browser performance test (e2e/perf.mjs), on a test page only.
    const stats = { flushes: 0, messages: 0, applyMs: 0 };
    const client = createFeedClient({
      url: () => feedUrl(window.location, tokenInQuery ? session.getToken() : null),
      onFlush: (batch) => {
        const t0 = performance.now();
        store.applyFeed(batch);
        stats.flushes++;
        stats.messages += batch.received;
        stats.applyMs += performance.now() - t0;
      },
      onStatus: setStatus,
      onTokenExpired: () => session.refresh(),
    });
    if (testHooksEnabled()) {
      // WebSocket messages and their bytes, counted by the client.
      Object.defineProperty(stats, 'wsMessages', { get: () => client.received, enumerable: true });
      Object.defineProperty(stats, 'wsBytes', { get: () => client.receivedChars, enumerable: true });
      window.__fleetFeed = stats;
    }
    client.start();
    api.alerts({ limit: 100 })
      .then((r) => store.addAlerts([...(r?.alerts ?? [])].reverse(), { read: true }))
      .catch(() => {});
    const timer = setInterval(() => store.refreshStatuses(), STATUS_REFRESH_MS);
    return () => {
      if (testHooksEnabled() && window.__fleetFeed === stats) delete window.__fleetFeed;
      client.stop();
      clearInterval(timer);
    };
  }, [store, session, api, tokenInQuery]);

  return status;
}
