// terra-draw on the map while the zones panel draws or edits: polygon, circle
// (geodesic, so its radius is a true radius) and line (a corridor's centre
// line). Finished or edited shapes go back to the panel through useZones.
// A selected circle is resized by dragging any point of its outline: the
// centre stays put and the ring scales evenly (terra-draw's 'center-fixed'
// resize, computed in Web Mercator: select mode refuses resizing in globe
// projection; over a zone's few kilometres the two agree to well under a
// metre). The radius stored follows the ring (zoneGeo.drawnToZone).
import { useEffect, useRef } from 'react';
import {
  TerraDraw, TerraDrawCircleMode, TerraDrawLineStringMode, TerraDrawPolygonMode, TerraDrawSelectMode,
} from 'terra-draw';
import { TerraDrawMapLibreGLAdapter } from 'terra-draw-maplibre-gl-adapter';
import { useMap } from '../map/mapContext.js';
import { useZones } from './useZones.js';
import { zoneToDrawn } from './zoneGeo.js';
import { testProbe } from '../lib/testHooks.js';

const COLOR = '#7b3fb3';

function createDraw(map) {
  const editable = {
    feature: {
      draggable: true,
      coordinates: { midpoints: true, draggable: true, deletable: true },
    },
  };
  return new TerraDraw({
    adapter: new TerraDrawMapLibreGLAdapter({ map, coordinatePrecision: 7 }),
    modes: [
      new TerraDrawPolygonMode({ styles: { fillColor: COLOR, outlineColor: COLOR } }),
      new TerraDrawCircleMode({ projection: 'globe', styles: { fillColor: COLOR, outlineColor: COLOR } }),
      new TerraDrawLineStringMode({ styles: { lineStringColor: COLOR } }),
      new TerraDrawSelectMode({
        flags: {
          polygon: editable,
          linestring: editable,
          circle: { feature: { draggable: true, coordinates: { resizable: 'center-fixed' } } },
        },
      }),
    ],
  });
}

export default function ZoneDrawTool() {
  const map = useMap();
  const { drawMode, setDrawn, editingId, zones } = useZones();
  const drawRef = useRef(null);

  // One terra-draw instance while a draw or edit is under way.
  const active = drawMode !== null;
  useEffect(() => {
    if (!active) return undefined;
    const draw = createDraw(map);
    draw.start();
    drawRef.current = draw;
    const probe = testProbe();
    if (probe) probe.draw = draw;
    const report = (id) => {
      const f = draw.getSnapshotFeature(id);
      if (f) setDrawn(structuredClone(f));
    };
    draw.on('finish', (id, ctx) => {
      report(id);
      if (ctx?.action === 'draw') {
        // Selected at once: its handles (a circle's resize handles) show.
        draw.setMode('select');
        draw.selectFeature(id);
      }
    });
    draw.on('change', (ids, type) => {
      if (type === 'update' && draw.getMode() === 'select') {
        for (const id of ids) if (draw.getSnapshotFeature(id)) report(id);
      }
    });
    return () => {
      drawRef.current = null;
      if (probe?.draw === draw) delete probe.draw;
      draw.stop();
    };
  }, [map, active, setDrawn]);

  // Switch modes; an edit loads the stored zone as an editable feature.
  useEffect(() => {
    const draw = drawRef.current;
    if (!draw || !drawMode) return;
    if (drawMode === 'edit') {
      draw.clear();
      const zone = zones.features.find((z) => String(z.id) === editingId);
      const f = zone && zoneToDrawn(zone);
      if (f) {
        const [result] = draw.addFeatures([f]);
        draw.setMode('select');
        if (result?.valid) {
          draw.selectFeature(result.id);
          setDrawn(structuredClone(draw.getSnapshotFeature(result.id)));
        }
      }
      return;
    }
    draw.clear();
    setDrawn(null);
    draw.setMode(drawMode);
  }, [drawMode, editingId, zones, setDrawn]);

  return null;
}
