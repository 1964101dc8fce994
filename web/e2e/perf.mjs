// Browser figures for the live map: N vehicles (default 10,000) reporting at
// 1 Hz through a real WebSocket, in headless Chromium (SwiftShader WebGL on
// this machine's CPU). The feed comes from e2e/mock-fleetd.mjs (an in-memory
// stand-in for fleetd, in the same machine's other core), not from fleetd.
//
// Prints, for a clustered overview and a zoomed-in street view:
//   main-thread busy time per 1 Hz tick (Chrome's TaskDuration over the window
//   divided by the seconds), its script part, frames per second, setData calls
//   per second and the layer's own build cost per setData.
//
//   node e2e/perf.mjs [--vehicles 10000] [--seconds 10] [--single] [--width 1400 --height 900]
//   (--single: one frame per vehicle update instead of telemetry_batch)
import { launch, waitFor } from './browser.mjs';
import { startMockFleetd } from './mock-fleetd.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg('vehicles', 10000));
const SECONDS = Number(arg('seconds', 10));

const single = process.argv.includes('--single');
const server = await startMockFleetd({ vehicles: N, recorded: 0, webRoot: arg('web-root', 'dist'), forceSingle: single });
const viewport = { width: Number(arg('width', 1400)), height: Number(arg('height', 900)) };
const browser = await launch({ viewport });
const { page, context } = browser;
try {
  await page.goto(server.url);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', 'admin-pw');
  await page.click('button[type=submit]');
  await waitFor(page, 'the map', () => window.__fleet?.loaded, undefined, { timeout: 60000 });
  await waitFor(page, `${N} vehicles`, (n) => window.__fleet.store.vehicleCount() >= n, N, { timeout: 60000 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');

  async function measure(label) {
    await page.waitForTimeout(2000); // settle after the camera move
    const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics
      .map((m) => [m.name, m.value]));
    const before = await metrics();
    const t0 = await page.evaluate(() => {
      const f = window.__fleetFeed;
      const s = window.__perf = { frames: 0, setData0: window.__fleet.vehicleLayer.setData, build: 0, builds: 0,
        feed0: { ...f } };
      const loop = () => { s.frames++; s.raf = requestAnimationFrame(loop); };
      s.raf = requestAnimationFrame(loop);
      // Sample the layer's own cost of each setData (feature update + the call).
      s.iv = setInterval(() => {
        const l = window.__fleet.vehicleLayer;
        if (l.setData !== s.lastSeen) {
          s.lastSeen = l.setData;
          s.build += l.lastBuildMs + l.lastSetDataMs;
          s.builds++;
        }
      }, 5);
      return performance.now();
    });
    await page.waitForTimeout(SECONDS * 1000);
    const r = await page.evaluate((start) => {
      const s = window.__perf;
      cancelAnimationFrame(s.raf);
      clearInterval(s.iv);
      const m = window.__fleet.map;
      const f = window.__fleetFeed;
      return {
        feedMs: f.applyMs - s.feed0.applyMs, flushes: f.flushes - s.feed0.flushes, messages: f.messages - s.feed0.messages,
        ms: performance.now() - start, frames: s.frames, setData: window.__fleet.vehicleLayer.setData - s.setData0,
        layerMs: s.builds ? s.build / s.builds : 0, zoom: m.getZoom(),
        drawn: m.queryRenderedFeatures({ layers: ['vehicles', 'vehicle-clusters'] }).length,
      };
    }, t0);
    const after = await metrics();
    const secs = r.ms / 1000;
    const task = ((after.TaskDuration - before.TaskDuration) * 1000) / secs;
    const script = ((after.ScriptDuration - before.ScriptDuration) * 1000) / secs;
    console.log(`${label}: zoom ${r.zoom.toFixed(1)}, ${r.drawn} features drawn in view`);
    console.log(`  main thread busy ${task.toFixed(0)} ms per 1 Hz tick (${(task / 10).toFixed(1)}% of the thread), script ${script.toFixed(0)} ms of it`);
    console.log(`  feed -> store: ${(r.messages / secs).toFixed(0)} updates/s in ${(r.flushes / secs).toFixed(1)} flushes/s, ${(r.feedMs / secs).toFixed(1)} ms per tick`);
    console.log(`  ${(r.frames / secs).toFixed(1)} frames/s, ${(r.setData / secs).toFixed(1)} setData/s, vehicle layer ${r.layerMs.toFixed(1)} ms per setData (update + hand-off to the worker)`);
  }

  console.log(`perf: ${N} vehicles at 1 Hz from the mock server (not fleetd), ${single ? 'one WebSocket frame per update' : 'telemetry_batch frames (10 per second)'}, ${SECONDS} s per view, ${viewport.width}x${viewport.height}, headless Chromium + SwiftShader, 2 cores shared`);
  await page.click('[data-testid=fit-all]');
  // Baseline: the same feed into the store, the map layer held still.
  await page.evaluate(() => { window.__fleet.holdLive = true; });
  await measure('baseline: feed + store only, map held');
  // Baseline 2: the map held but repainted every frame: what the renderer
  // alone (SwiftShader here) allows.
  await page.evaluate(() => {
    const m = window.__fleet.map;
    const loop = () => { m.triggerRepaint(); window.__repaint = requestAnimationFrame(loop); };
    loop();
  });
  await measure('baseline: map held, repainted every frame');
  await page.evaluate(() => { cancelAnimationFrame(window.__repaint); window.__fleet.holdLive = false; });
  await measure('overview (clustered)');
  await page.evaluate(() => {
    const v = window.__fleet.store.getVehicle('v-00001');
    window.__fleet.map.jumpTo({ center: [v.lng, v.lat], zoom: 14 });
  });
  await measure('street view (icons)');
  console.log(`server: ${server.stats.messages} telemetry messages sent`);
} finally {
  await browser.close();
  await server.close();
}
