// Connects the history panel (outside the map) to the replay layer (on the
// map): the panel publishes the route once and the position every frame; the
// layer draws them without a React render per frame. One per dashboard.
import { createContext, useContext } from 'react';

export function createReplayBus() {
  let route = null;
  let position = null;
  const listeners = new Set();
  const emit = (what) => { for (const l of listeners) l(what); };
  return {
    get route() { return route; },
    get position() { return position; },
    /** The route as [[lng, lat], ...] or null to end the replay. */
    setRoute(r) {
      route = r;
      position = null;
      emit('route');
    },
    setPosition(p) {
      position = p;
      emit('position');
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

export const ReplayContext = createContext(null);

export function useReplayBus() {
  return useContext(ReplayContext);
}
