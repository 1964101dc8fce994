import { createContext, useContext } from 'react';

/** The one MapLibre map of the app, once its style has loaded (else null). */
export const MapContext = createContext(null);

export function useMap() {
  return useContext(MapContext);
}
