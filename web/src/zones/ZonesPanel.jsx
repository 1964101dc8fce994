// Zones: the list for everyone; drawing, editing and deleting for admins.
import { useEffect, useState } from 'react';
import { useZones } from './useZones.js';
import { circleFromRing, drawnToZone, zoneIdFromName, zoneKind } from './zoneGeo.js';
import { formatDistance } from '../lib/format.js';

const DRAW_MODES = [
  ['polygon', 'Polygon'],
  ['circle', 'Circle'],
  ['linestring', 'Corridor'],
];

function ZoneForm({ initial, kind, radiusM, onSave, onCancel, onDelete, busy }) {
  const [name, setName] = useState(initial.name ?? '');
  const [speed, setSpeed] = useState(initial.speed_limit ?? '');
  const [width, setWidth] = useState(initial.width_m ?? 50);
  return (
    <form className="zone-form" onSubmit={(e) => { e.preventDefault(); onSave({ name, speed_limit: speed, width_m: width }); }}>
      <label>Name <input name="zone-name" value={name} onChange={(e) => setName(e.target.value)} required /></label>
      {kind === 'circle' && (
        <p className="muted small" data-testid="zone-radius" data-radius-m={radiusM ?? ''}>
          Radius {formatDistance(radiusM)}: drag the outline to resize.
        </p>
      )}
      <label>Speed limit (km/h)
        <input name="speed-limit" type="number" min="1" step="1" value={speed} onChange={(e) => setSpeed(e.target.value)} />
      </label>
      {kind === 'corridor' && (
        <label>Width (m)
          <input name="width-m" type="number" min="1" step="1" value={width} onChange={(e) => setWidth(e.target.value)} required />
        </label>
      )}
      <div className="actions">
        <button type="submit" disabled={busy} data-testid="zone-save">Save</button>
        <button type="button" onClick={onCancel}>Cancel</button>
        {onDelete && <button type="button" className="danger" onClick={onDelete} disabled={busy}>Delete</button>}
      </div>
    </form>
  );
}

export default function ZonesPanel({ canEdit }) {
  const z = useZones();
  const { zones, drawMode, setDrawMode, drawn, setDrawn, editingId, setEditingId, selectedId, setSelectedId } = z;
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(null);

  // Leaving the tab ends any drawing.
  useEffect(() => () => {
    setDrawMode(null);
    setEditingId(null);
    setDrawn(null);
  }, [setDrawMode, setEditingId, setDrawn]);

  const stop = () => {
    setDrawMode(null);
    setEditingId(null);
    setDrawn(null);
  };

  const editing = editingId ? zones.features.find((f) => String(f.id) === editingId) : null;
  const drawnKind = drawn ? (drawn.properties?.mode === 'circle' ? 'circle'
    : drawn.geometry.type === 'LineString' ? 'corridor' : 'polygon') : null;

  const save = async (form) => {
    setBusy(true);
    setMessage(null);
    try {
      const extra = editing ? { ...editing.properties } : {};
      delete extra.name; delete extra.speed_limit; delete extra.radius_m; delete extra.width_m;
      const id = editing ? String(editing.id) : zoneIdFromName(form.name);
      const feature = drawnToZone(drawn, { ...form, id, extra });
      if (editing) await z.update(id, feature);
      else await z.create(feature);
      setMessage(`Saved ${feature.properties.name}.`);
      setSelectedId(id);
      stop();
    } catch (e) {
      setMessage(e.message);
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!editing || !window.confirm(`Delete zone ${editing.properties?.name ?? editing.id}?`)) return;
    setBusy(true);
    try {
      await z.remove(String(editing.id));
      setMessage('Zone deleted.');
      stop();
    } catch (e) {
      setMessage(e.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="zones-panel">
      {canEdit ? (
        <div className="draw-tools" role="group" aria-label="Draw a zone">
          {DRAW_MODES.map(([mode, label]) => (
            <button key={mode} data-draw={mode} className={drawMode === mode ? 'on' : ''}
              onClick={() => { setEditingId(null); setDrawMode(mode); }}>{label}</button>
          ))}
        </div>
      ) : (
        <p className="muted">Read-only: only administrators change zones.</p>
      )}
      {drawMode && !drawn && drawMode !== 'edit' && (
        <p className="hint">
          {drawMode === 'circle' ? 'Click the centre, move, click again for the radius.'
            : drawMode === 'polygon' ? 'Click each corner; click the first one to close.'
              : 'Click along the centre line; click the last point again to finish.'}
          <button className="link" onClick={stop}>Cancel</button>
        </p>
      )}
      {canEdit && drawn && (
        <ZoneForm key={editingId ?? 'new'} busy={busy} kind={drawnKind}
          radiusM={drawnKind === 'circle' ? circleFromRing(drawn.geometry.coordinates?.[0])?.radiusM : null}
          initial={editing?.properties ?? {}}
          onSave={save} onCancel={stop} onDelete={editing ? remove : null} />
      )}
      {message && <p className="muted" role="status">{message}</p>}
      {z.error && <p className="error">{z.error}</p>}
      <ul className="zone-list" aria-label="Zones">
        {zones.features.map((f) => {
          const id = String(f.id);
          const p = f.properties ?? {};
          const kind = zoneKind(f);
          return (
            <li key={id} data-zone={id} className={id === selectedId ? 'selected' : ''}>
              <button className="link" onClick={() => setSelectedId(id)}>{p.name ?? id}</button>
              <span className="muted small">
                {kind}{kind === 'circle' ? ` ${formatDistance(p.radius_m)}` : ''}
                {kind === 'corridor' ? ` ${formatDistance(p.width_m)} wide` : ''}
                {p.speed_limit ? ` · ${p.speed_limit} km/h` : ''}
              </span>
              {canEdit && (
                <button className="link" onClick={() => { setEditingId(id); setDrawMode('edit'); }}>Edit</button>
              )}
            </li>
          );
        })}
        {!zones.features.length && <li className="muted">No zones.</li>}
      </ul>
    </section>
  );
}
