// Browser figures for the live map: N vehicles (default 10,000) reporting at
// 1 Hz through the WebSocket feed, in headless Chromium (SwiftShader WebGL on
// this machine's CPU), logged in as a real user.
//
//   live:  node e2e/perf.mjs --url http://127.0.0.1:PORT --user admin --password PW \
//            --vehicles 10000 [--sim-cmd 'fleet-sim ...']
//          (e2e/perf_live.sh starts mosquitto + influxd + fleetd + fleet-sim for it)
//   mock:  node e2e/perf.mjs [--vehicles 10000] [--single]
//          (the feed from e2e/mock-fleetd.mjs, an in-memory stand-in, not fleetd;
//           --single: one frame per vehicle update instead of telemetry_batch)
//   both:  [--seconds 30] [--baseline-seconds 15] [--width 1400 --height 900]
//
// With --sim-cmd (a shell command, run with `exec` so its pid is the
// simulator's) the feed starts only after a first baseline of the idle map
// with no feed at all; the simulator is stopped at the end.
//
// Each window prints: main-thread busy time per second (Chrome's
// TaskDuration, and its script part) and per WebSocket message, per store
// flush and per map update (setData); long tasks; frames per second
// (requestAnimationFrame); vehicles in the store and on the map. Baselines in
// the same run: the idle map (no feed), the feed into the store with the map
// layer held still, the held map repainted every frame (the renderer's cap).
import { spawn } from 'node:child_process';
import { launch, waitFor } from './browser.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(arg('vehicles', 10000));
const SECONDS = Number(arg('seconds', 30));
const BASE_SECONDS = Number(arg('baseline-seconds', 15));
const viewport = { width: Number(arg('width', 1400)), height: Number(arg('height', 900)) };
const simCmd = arg('sim-cmd');

let url = arg('url');
let user = arg('user', 'admin');
let password = arg('password', 'admin-pw');
let server = null;
const single = process.argv.includes('--single');
if (!url) {
  const { startMockFleetd } = await import('./mock-fleetd.mjs');
  server = await startMockFleetd({ vehicles: N, recorded: 0, webRoot: arg('web-root', 'dist'), forceSingle: single });
  url = server.url;
  user = 'admin';
  password = 'admin-pw';
}

let sim = null;
const stopSim = () => {
  if (sim && sim.exitCode === null) sim.kill('SIGTERM');
};
process.on('exit', stopSim);

const browser = await launch({ viewport });
const { page, context } = browser;
let status = 0;
try {
  await page.goto(url);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await waitFor(page, 'the map', () => window.__fleet?.loaded, undefined, { timeout: 60000 });
  await waitFor(page, 'the live feed', () => document.querySelector('[data-testid=feed-status]')?.textContent === 'Live',
    undefined, { timeout: 30000 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics
    .map((m) => [m.name, m.value]));

  // Long tasks (> 50 ms on the main thread) since the page loaded, kept by an observer.
  await page.evaluate(() => {
    const lt = window.__perfLong = { count: 0, ms: 0, max: 0 };
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        lt.count++;
        lt.ms += e.duration;
        lt.max = Math.max(lt.max, e.duration);
      }
    }).observe({ type: 'longtask' });
  });

  // fleetd's own counters (GET /metrics, Prometheus text): what it received
  // from the broker and sent over WebSockets, to tell a server that cannot
  // deliver from a browser that cannot keep up. Absent from the mock server.
  const serverCounters = async () => {
    if (server) return null;
    const text = await page.evaluate(async () => {
      const r = await fetch('/metrics', { credentials: 'same-origin' });
      return r.ok ? r.text() : '';
    });
    const sum = (name) => text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .reduce((acc, l) => acc + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    return { received: sum('fleetd_messages_received_total'), wsSent: sum('fleetd_ws_messages_sent_total'),
      slow: sum('fleetd_ws_slow_disconnects_total') };
  };

  const rows = [];
  let idleBusy = null; // main-thread ms/s of the first window, the idle map when there is one
  async function measure(label, seconds) {
    await page.waitForTimeout(2000); // settle after a camera move or a change of mode
    const server0 = await serverCounters();
    const before = await metrics();
    const t0 = await page.evaluate(() => {
      const f = window.__fleetFeed;
      const l = window.__fleet.vehicleLayer;
      const s = window.__perf = {
        frames: 0, feed0: { ...f }, setData0: l.setData, long0: { ...window.__perfLong }, build: 0, builds: 0,
      };
      const loop = () => { s.frames++; s.raf = requestAnimationFrame(loop); };
      s.raf = requestAnimationFrame(loop);
      // The layer's own cost of each setData (feature update + the call), sampled.
      s.iv = setInterval(() => {
        if (l.setData !== s.lastSeen) {
          s.lastSeen = l.setData;
          s.build += l.lastBuildMs + l.lastSetDataMs;
          s.builds++;
        }
      }, 5);
      return performance.now();
    });
    await page.waitForTimeout(seconds * 1000);
    const r = await page.evaluate((start) => {
      const s = window.__perf;
      cancelAnimationFrame(s.raf);
      clearInterval(s.iv);
      const m = window.__fleet.map;
      const f = window.__fleetFeed;
      const lt = window.__perfLong;
      // Vehicles the map shows in view: icons plus the members of the
      // clusters (a feature can come back once per tile it touches).
      const seen = new Set();
      let onMap = 0;
      for (const x of m.queryRenderedFeatures({ layers: ['vehicles', 'vehicle-clusters'] })) {
        const key = x.properties.cluster_id !== undefined ? `c${x.properties.cluster_id}` : `v${x.properties.vehicle_id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        onMap += x.properties.point_count ?? 1;
      }
      return {
        ms: performance.now() - start, frames: s.frames,
        wsMessages: f.wsMessages - s.feed0.wsMessages, wsBytes: f.wsBytes - s.feed0.wsBytes,
        updates: f.messages - s.feed0.messages, flushes: f.flushes - s.feed0.flushes, feedMs: f.applyMs - s.feed0.applyMs,
        setData: window.__fleet.vehicleLayer.setData - s.setData0, layerMs: s.builds ? s.build / s.builds : 0,
        longCount: lt.count - s.long0.count, longMs: lt.ms - s.long0.ms,
        zoom: m.getZoom(), features: seen.size, onMap, inStore: window.__fleet.store.vehicleCount(),
      };
    }, t0);
    const after = await metrics();
    const server1 = await serverCounters();
    const secs = r.ms / 1000;
    const taskMs = (after.TaskDuration - before.TaskDuration) * 1000;
    const scriptMs = (after.ScriptDuration - before.ScriptDuration) * 1000;
    const per = (n) => (n > 0 ? `${(taskMs / n).toFixed(1)} ms` : '-');
    const row = { label, fps: r.frames / secs, busy: taskMs / secs };
    rows.push(row);
    idleBusy ??= row.busy;
    console.log(`${label}: ${secs.toFixed(1)} s, zoom ${r.zoom.toFixed(1)}, ${r.inStore} vehicles in the store, ${r.onMap} on the map in view (${r.features} features drawn)`);
    console.log(`  main thread busy ${(taskMs / secs).toFixed(0)} ms per second (${(taskMs / secs / 10).toFixed(1)}% of the thread), script ${(scriptMs / secs).toFixed(0)} ms of it; long tasks ${r.longCount} (${(r.longMs / secs).toFixed(0)} ms/s)`);
    console.log(`  feed: ${(r.wsMessages / secs).toFixed(1)} WebSocket messages/s (${(r.wsBytes / secs / 1024).toFixed(0)} KiB/s), ${(r.updates / secs).toFixed(0)} vehicle updates/s, ${(r.flushes / secs).toFixed(1)} store flushes/s; store ${(r.feedMs / Math.max(r.flushes, 1)).toFixed(1)} ms per flush`);
    if (server0) {
      console.log(`  fleetd: ${((server1.received - server0.received) / secs).toFixed(0)} MQTT messages received/s, ${((server1.wsSent - server0.wsSent) / secs).toFixed(1)} WebSocket messages sent/s${server1.slow > server0.slow ? `, ${server1.slow - server0.slow} slow clients disconnected` : ''}`);
    }
    console.log(`  main thread per WebSocket message ${per(r.wsMessages)}, per store flush ${per(r.flushes)}, per map update ${per(r.setData)}`);
    if (rows.length > 1 && r.wsMessages > 0) {
      // What this window costs beyond the first one (the idle map in live mode).
      const extra = (row.busy - idleBusy) * secs;
      console.log(`  above the first baseline: ${(extra / secs).toFixed(0)} ms per second, ${(extra / r.wsMessages).toFixed(1)} ms per WebSocket message, ${((1000 * extra) / Math.max(r.updates, 1)).toFixed(0)} ms per 1000 vehicle updates`);
    }
    console.log(`  ${(r.frames / secs).toFixed(1)} frames/s, ${(r.setData / secs).toFixed(1)} map updates (setData)/s, vehicle layer ${r.layerMs.toFixed(1)} ms per setData (update + hand-off to the worker)`);
    return r;
  }

  const source = server ? 'the mock server (not fleetd)' : `fleetd at ${url}`;
  console.log(`perf: ${N} vehicles at 1 Hz from ${source}; ${SECONDS} s per live view, ${BASE_SECONDS} s per baseline, ${viewport.width}x${viewport.height}, headless Chromium + SwiftShader`);
  await page.click('[data-testid=fit-all]');
  if (simCmd) {
    await measure('baseline: idle map, no feed', BASE_SECONDS);
    sim = spawn('/bin/sh', ['-c', `exec ${simCmd}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    sim.on('exit', (code, sig) => { if (code) console.error(`perf: the simulator exited with ${code ?? sig}`); });
  }
  const t = Date.now();
  await waitFor(page, `${N} vehicles in the store`, (n) => window.__fleet.store.vehicleCount() >= n, N,
    { timeout: 180000, polling: 500 });
  console.log(`  (all ${N} vehicles in the store ${((Date.now() - t) / 1000).toFixed(0)} s after the feed started)`);
  await page.click('[data-testid=fit-all]');
  // The same feed into the store, the map layer held still.
  await page.evaluate(() => { window.__fleet.holdLive = true; });
  await measure('baseline: feed + store only, map held', BASE_SECONDS);
  // The held map repainted every frame: what the renderer alone allows.
  await page.evaluate(() => {
    const m = window.__fleet.map;
    const loop = () => { m.triggerRepaint(); window.__repaint = requestAnimationFrame(loop); };
    loop();
  });
  await measure('baseline: map held, repainted every frame', BASE_SECONDS);
  await page.evaluate(() => { cancelAnimationFrame(window.__repaint); window.__fleet.holdLive = false; });
  await measure('live: overview of the whole fleet (clustered)', SECONDS);
  await page.evaluate(() => {
    const s = window.__fleet.store;
    const v = [...s.vehicles()].find((x) => typeof x.lat === 'number');
    window.__fleet.map.jumpTo({ center: [v.lng, v.lat], zoom: 14 });
  });
  await measure('live: street view (icons, zoom 14)', SECONDS);
  // An idle map draws nothing (animation frames run at the display's rate);
  // a live map redraws on every update, so its ceiling is the repainted map.
  const idle = rows.find((x) => x.label.startsWith('baseline: idle')) ?? rows.find((x) => x.label.includes('feed + store'));
  const cap = rows.find((x) => x.label.includes('repainted'));
  console.log('summary: frames/s (of the idle map, of the map repainted every frame), main-thread busy time');
  for (const x of rows) {
    const pct = (b) => `${((100 * x.fps) / b.fps).toFixed(0)}%`.padStart(4);
    console.log(`  ${x.label.padEnd(48)} ${x.fps.toFixed(1).padStart(5)} fps (${pct(idle)}, ${pct(cap)}), main thread ${x.busy.toFixed(0).padStart(4)} ms/s`);
  }
  if (server) console.log(`server: ${server.stats.messages} telemetry messages sent`);
} catch (e) {
  console.error(`perf: ${e.message}`);
  status = 1;
} finally {
  stopSim();
  await browser.close();
  if (server) await server.close();
}
process.exit(status);
