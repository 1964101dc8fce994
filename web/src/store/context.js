// React access to the app's store, session and API client, all created once
// in main.jsx and handed down (no module-level singletons).
import { createContext, useContext, useEffect, useState, useSyncExternalStore } from 'react';

export const AppContext = createContext(null);

export function useApp() {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside <AppContext.Provider>');
  return ctx;
}

/** Re-render on every change of a store topic ('vehicles', 'alerts', 'ui'). */
export function useTopic(topic) {
  const { store } = useApp();
  return useSyncExternalStore(
    (fn) => store.subscribe(topic, fn),
    () => store.version(topic),
  );
}

/**
 * Like useTopic, but at most one re-render per `ms`: a 10,000-vehicle list
 * does not need to re-filter 60 times a second.
 */
export function useThrottledTopic(topic, ms) {
  const { store } = useApp();
  const [version, setVersion] = useState(() => store.version(topic));
  useEffect(() => {
    let timer = null;
    let last = 0;
    const fire = () => {
      timer = null;
      last = performance.now();
      setVersion(store.version(topic));
    };
    const unsub = store.subscribe(topic, () => {
      if (timer !== null) return;
      const wait = Math.max(0, ms - (performance.now() - last));
      timer = setTimeout(fire, wait);
    });
    return () => {
      unsub();
      if (timer !== null) clearTimeout(timer);
    };
  }, [store, topic, ms]);
  return version;
}

export function useSession() {
  const { session } = useApp();
  return useSyncExternalStore(session.subscribe, session.getState);
}
