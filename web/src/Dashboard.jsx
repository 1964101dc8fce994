// The signed-in app: header with the tabs, the side panel of the current tab,
// and the map with the layers every tab shares.
import { lazy, Suspense, useEffect, useMemo, useState } from 'react';
import { useApp, useTopic } from './store/context.js';
import { useLiveFeed } from './api/useLiveFeed.js';
import MapView from './map/MapView.jsx';
import VehicleLayer from './map/VehicleLayer.jsx';
import MapToolbar from './map/MapToolbar.jsx';
import VehiclesPanel from './vehicles/VehiclesPanel.jsx';
import AlertFeed from './alerts/AlertFeed.jsx';
import ZonesPanel from './zones/ZonesPanel.jsx';
import ZoneLayer from './zones/ZoneLayer.jsx';
import ReportsPanel from './reports/ReportsPanel.jsx';

// Drawing (terra-draw) and the history tab (uPlot) load on first use.
const ZoneDrawTool = lazy(() => import('./zones/ZoneDrawTool.jsx'));
const HistoryPanel = lazy(() => import('./history/HistoryPanel.jsx'));
import { ZonesProvider } from './zones/useZones.js';
import ReplayLayer from './history/ReplayLayer.jsx';
import { createReplayBus, ReplayContext } from './history/replayBus.js';

const TABS = [
  ['vehicles', 'Vehicles'],
  ['alerts', 'Alerts'],
  ['zones', 'Zones'],
  ['history', 'History'],
  ['reports', 'Reports'],
];

export default function Dashboard({ user }) {
  const { api, store, session } = useApp();
  const [config, setConfig] = useState(null);
  const [configError, setConfigError] = useState(null);
  const feedStatus = useLiveFeed();
  useTopic('ui');
  useTopic('alerts');
  const tab = store.ui().tab;
  const unread = store.unreadCount();
  const replayBus = useMemo(() => createReplayBus(), []);
  const [replayActive, setReplayActive] = useState(false);
  useEffect(() => replayBus.subscribe((what) => {
    if (what === 'route') setReplayActive(replayBus.route !== null);
  }), [replayBus]);

  useEffect(() => {
    let cancelled = false;
    api.config()
      .then((c) => { if (!cancelled) setConfig(c ?? {}); })
      .catch((e) => {
        if (cancelled) return;
        setConfigError(e.message);
        setConfig({});
      });
    return () => { cancelled = true; };
  }, [api]);

  return (
    <ZonesProvider>
     <ReplayContext.Provider value={replayBus}>
      <div className="app">
        <header className="topbar">
          <span className="brand">libfleet</span>
          <nav className="tabs" role="tablist">
            {TABS.map(([id, label]) => (
              <button key={id} role="tab" aria-selected={tab === id} data-tab={id}
                className={tab === id ? 'tab active' : 'tab'} onClick={() => store.setTab(id)}>
                {label}
                {id === 'alerts' && unread > 0 && (
                  <span className="badge" data-testid="unread-count" aria-label={`${unread} unread`}>{unread}</span>
                )}
              </button>
            ))}
          </nav>
          <span className={`feed feed-${feedStatus}`} data-testid="feed-status" title="Live feed">
            {feedStatus === 'open' ? 'Live' : feedStatus === 'connecting' ? 'Connecting…' : 'Offline'}
          </span>
          <span className="user">{user?.username} ({user?.role})</span>
          <button className="link" onClick={() => session.logout()}>Sign out</button>
        </header>
        <aside className="panel" data-panel={tab}>
          {configError && <p className="error">Configuration: {configError}</p>}
          {tab === 'vehicles' && <VehiclesPanel />}
          {tab === 'alerts' && <AlertFeed />}
          {tab === 'zones' && <ZonesPanel canEdit={user?.role === 'admin'} />}
          {tab === 'history' && <Suspense fallback={<p className="muted">Loading…</p>}><HistoryPanel /></Suspense>}
          {tab === 'reports' && <ReportsPanel />}
        </aside>
        <main className="main">
          {config && (
            <MapView config={config}>
              <ZoneLayer />
              {!replayActive && <VehicleLayer />}
              {replayActive && <ReplayLayer />}
              {tab === 'zones' && <Suspense fallback={null}><ZoneDrawTool /></Suspense>}
              <MapToolbar />
            </MapView>
          )}
        </main>
      </div>
     </ReplayContext.Provider>
    </ZonesProvider>
  );
}
