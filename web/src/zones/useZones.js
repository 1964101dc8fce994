// Zones loaded from REST and shared by the zone layer and the zones panel.
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { useApp } from '../store/context.js';

const ZonesContext = createContext(null);

export function ZonesProvider({ children }) {
  const { api } = useApp();
  const [zones, setZones] = useState({ type: 'FeatureCollection', features: [] });
  const [selectedId, setSelectedId] = useState(null);
  const [editingId, setEditingId] = useState(null);
  const [error, setError] = useState(null);
  // Drawing: the panel sets the mode, the map's draw tool reports the shape.
  const [drawMode, setDrawMode] = useState(null);
  const [drawn, setDrawn] = useState(null);

  const reload = useCallback(async () => {
    try {
      const fc = await api.zones();
      setZones(fc && Array.isArray(fc.features) ? fc : { type: 'FeatureCollection', features: [] });
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  }, [api]);

  useEffect(() => { reload(); }, [reload]);

  const value = useMemo(() => ({
    zones, reload, error, setError, selectedId, setSelectedId, editingId, setEditingId,
    drawMode, setDrawMode, drawn, setDrawn,
    async create(feature) {
      const saved = await api.createZone(feature);
      await reload();
      return saved;
    },
    async update(id, feature) {
      const saved = await api.updateZone(id, feature);
      await reload();
      return saved;
    },
    async remove(id) {
      await api.deleteZone(id);
      await reload();
    },
  }), [zones, reload, error, selectedId, editingId, drawMode, drawn, api]);

  return createElement(ZonesContext.Provider, { value }, children);
}

export function useZones() {
  const ctx = useContext(ZonesContext);
  if (!ctx) throw new Error('useZones outside <ZonesProvider>');
  return ctx;
}
