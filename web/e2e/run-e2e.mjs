// End-to-end test of the dashboard in headless Chromium against a running
// fleetd (web_e2e.sh starts fleetd, mosquitto, influxd and fleet-sim), or with
// --mock against e2e/mock-fleetd.mjs. Each step asserts what the map really
// drew (queryRenderedFeatures) and keeps a screenshot in --artifacts.
//
//   node e2e/run-e2e.mjs --url http://127.0.0.1:PORT --user admin --password PW --artifacts DIR
//   node e2e/run-e2e.mjs --mock --artifacts DIR
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, waitFor, whileHeld } from './browser.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const mock = process.argv.includes('--mock');
const artifacts = arg('artifacts', 'e2e-artifacts');
mkdirSync(artifacts, { recursive: true });

let url = arg('url');
let user = arg('user', 'admin');
let password = arg('password', 'admin-pw');
const viewerPassword = arg('viewer-password', mock ? 'viewer-pw' : password);
let server = null;
if (mock) {
  const { startMockFleetd } = await import('./mock-fleetd.mjs');
  server = await startMockFleetd({ vehicles: Number(arg('vehicles', 60)), webRoot: arg('web-root', 'dist') });
  url = server.url;
  console.log(`e2e: against the mock server ${url} (not fleetd)`);
}
if (!url) {
  console.error('e2e: --url or --mock is required');
  process.exit(2);
}

const results = [];
let failed = false;
const browser = await launch({ downloadsPath: artifacts });
const { page } = browser;
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
// Chromium's console only says "Failed to load resource": keep which one.
const failedResponses = [];
page.on('response', (r) => {
  if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
});

const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`) });

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed = true;
    results.push({ name, ok: false, error: String(e.message) });
    console.log(`FAIL ${name}: ${e.message}`);
    await shot(`FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
    throw e;
  }
}

// Features of `layers` the map has rendered, as plain data.
const rendered = (layers) => page.evaluate((ls) => {
  const m = window.__fleet.map;
  return m.queryRenderedFeatures({ layers: ls.filter((l) => m.getLayer(l)) })
    .map((f) => ({ layer: f.layer.id, props: f.properties, coords: f.geometry.coordinates }));
}, layers);

const apiGet = (path) => page.evaluate(async (p) => {
  const r = await fetch(p, { credentials: 'same-origin' });
  return { status: r.status, body: r.ok ? await r.json() : null };
}, path);

let focusVehicle = null;

try {
  await step('log in', async () => {
    await page.goto(url);
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', 'wrong-password');
    await page.click('button[type=submit]');
    await page.waitForSelector('.login .error', { timeout: 10000 });
    await page.fill('input[name=password]', password);
    await shot('01-login');
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=map]', { timeout: 15000 });
    await waitFor(page, 'the map to load', () => window.__fleet?.loaded);
    const land = await whileHeld(page, () => rendered(['land']));
    if (!land.length) throw new Error('the basemap drew no land');
  });

  await step('markers appear and move', async () => {
    await waitFor(page, 'live feed open', () => document.querySelector('[data-testid=feed-status]')?.textContent === 'Live');
    await waitFor(page, 'vehicles in the store', () => window.__fleet.store.vehicleCount() > 0);
    await page.click('[data-testid=fit-all]');
    await waitFor(page, 'vehicle icons on the map', () => window.__fleet.map
      .queryRenderedFeatures({ layers: ['vehicles'] }).length > 0);
    const positions = () => whileHeld(page, () => rendered(['vehicles']));
    const first = await positions();
    await shot('02-markers');
    if (!first.length) throw new Error('no vehicle icons drawn');
    const before = new Map(first.map((f) => [f.props.vehicle_id, f.coords.join(',')]));
    let moved = null;
    for (let i = 0; i < 20 && !moved; i++) {
      await page.waitForTimeout(1500);
      const now = await positions();
      moved = now.find((f) => before.has(f.props.vehicle_id) && before.get(f.props.vehicle_id) !== f.coords.join(','))
        ?.props.vehicle_id ?? null;
    }
    if (!moved) throw new Error('no drawn vehicle moved within 30 s');
    console.log(`     ${first.length} vehicle icons drawn; ${moved} moved`);
    focusVehicle = moved;
    await shot('03-markers-moved');
  });

  await step('an alert arrives in the feed', async () => {
    await waitFor(page, 'an unread alert', () => document.querySelector('[data-testid=unread-count]')
      || document.querySelectorAll('.alerts .alert').length > 0, undefined, { timeout: 90000 });
    await page.click('[data-tab=alerts]');
    await page.waitForSelector('.alerts .alert', { timeout: 10000 });
    const vid = await page.getAttribute('.alerts .alert >> nth=0', 'data-vehicle');
    // New alerts keep arriving on top: click one of this vehicle's.
    await page.click(`.alerts .alert[data-vehicle="${vid}"] >> nth=0 >> button`);
    await waitFor(page, 'the alert vehicle selected', (v) => window.__fleet.store.ui().selectedId === v, vid);
    if (await page.$('[data-testid=unread-count]')) throw new Error('opening the feed did not mark alerts read');
    await shot('04-alert');
  });

  let zoneId = null;
  const zoneName = `E2E depot ${Date.now() % 100000}`;
  await step('draw a circle zone; it survives a reload and fires zone events', async () => {
    await page.click('[data-tab=zones]');
    const v = await page.evaluate((id) => {
      const s = window.__fleet.store;
      const x = s.getVehicle(id) ?? [...s.vehicles()].find((y) => typeof y.lat === 'number');
      return { id: x.vehicle_id, lat: x.lat, lng: x.lng };
    }, focusVehicle);
    focusVehicle = v.id;
    await page.evaluate(({ lat, lng }) => window.__fleet.map.jumpTo({ center: [lng, lat], zoom: 13 }), v);
    await page.click('[data-draw=circle]');
    await waitFor(page, 'terra-draw ready', () => !!window.__fleet.draw);
    const box = await page.locator('[data-testid=map]').boundingBox();
    const c = await page.evaluate(({ lat, lng }) => window.__fleet.map.project([lng, lat]), v);
    const cx = box.x + c.x;
    const cy = box.y + c.y;
    await page.mouse.click(cx, cy);
    for (let i = 1; i <= 8; i++) await page.mouse.move(cx + i * 15, cy);
    await page.mouse.click(cx + 120, cy);
    await page.waitForSelector('input[name=zone-name]', { timeout: 10000 });
    const radius = () => page.getAttribute('[data-testid=zone-radius]', 'data-radius-m').then(Number);
    const drawnRadius = await radius();
    // Resize: drag the outline's east point from 120 px out to 200 px.
    await page.mouse.move(cx + 120, cy);
    await page.mouse.down();
    for (let i = 1; i <= 20; i++) await page.mouse.move(cx + 120 + i * 4, cy);
    await page.mouse.up();
    await waitFor(page, 'the radius to follow the resize',
      (r) => Number(document.querySelector('[data-testid=zone-radius]')?.dataset.radiusM) > r * 1.4, drawnRadius);
    const resized = await radius();
    if (resized / drawnRadius < 1.5 || resized / drawnRadius > 1.8) {
      throw new Error(`resizing 120 -> 200 px changed the radius ${drawnRadius} -> ${resized} m`);
    }
    await page.fill('input[name=zone-name]', zoneName);
    await page.fill('input[name=speed-limit]', '40');
    await shot('05-zone-drawn');
    await page.click('[data-testid=zone-save]');
    await page.waitForSelector(`.zone-list li:has-text("${zoneName}")`, { timeout: 10000 });
    await page.waitForSelector('input[name=zone-name]', { state: 'detached', timeout: 5000 });
    zoneId = await page.getAttribute(`.zone-list li:has-text("${zoneName}")`, 'data-zone');
    const stored = await apiGet('/api/zones');
    const z = stored.body.features.find((f) => String(f.id) === zoneId);
    if (!z || z.geometry.type !== 'Point' || Math.abs(z.properties.radius_m - resized) > 0.5) {
      throw new Error(`zone not stored as centre + radius_m ${resized}: ${JSON.stringify(z)}`);
    }
    console.log(`     circle drawn with radius ${drawnRadius} m, resized to ${resized} m, stored ${z.properties.radius_m} m`);
    await page.reload();
    await page.waitForSelector('[data-testid=map]', { timeout: 15000 });
    await page.click('[data-tab=zones]');
    await page.waitForSelector(`.zone-list li[data-zone="${zoneId}"]`, { timeout: 10000 });
    await page.evaluate(({ lat, lng }) => window.__fleet.map.jumpTo({ center: [lng, lat], zoom: 13 }), v);
    // The zone list comes from the API; the map draws the zone once its
    // source has the data and a frame is rendered, which may come later.
    const zoneDrawn = () => whileHeld(page, () => page.evaluate((id) => window.__fleet.map
      .queryRenderedFeatures({ layers: ['zone-fill'] }).some((f) => f.properties.zone_id === id), zoneId));
    const drawnBy = Date.now() + 15000;
    while (!(await zoneDrawn())) {
      if (Date.now() > drawnBy) throw new Error('the stored zone is not drawn 15 s after the reload');
      await page.waitForTimeout(250);
    }
    await shot('06-zone-after-reload');
    const from = new Date(Date.now() - 3600e3).toISOString().replace(/\.\d+Z$/, 'Z');
    const deadline = Date.now() + 60000;
    let ev = null;
    while (!ev && Date.now() < deadline) {
      const to = new Date(Date.now() + 60e3).toISOString().replace(/\.\d+Z$/, 'Z');
      const r = await apiGet(`/api/vehicles/${encodeURIComponent(v.id)}/events?from=${from}&to=${to}`);
      ev = r.body?.events?.find((e) => e.zone_id === zoneId && e.type === 'zone_enter');
      if (!ev) await page.waitForTimeout(1000);
    }
    if (!ev) throw new Error(`no zone_enter event for ${v.id} in ${zoneId} within 60 s`);
  });

  await step('draw a polygon and a corridor; edit and delete', async () => {
    await page.click('[data-tab=zones]');
    const box = await page.locator('[data-testid=map]').boundingBox();
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const save = async (name, extra) => {
      await page.waitForSelector('input[name=zone-name]', { timeout: 10000 });
      await page.fill('input[name=zone-name]', name);
      if (extra) await extra();
      await page.click('[data-testid=zone-save]');
      await page.waitForSelector(`.zone-list li:has-text("${name}")`, { timeout: 10000 });
      await page.waitForSelector('input[name=zone-name]', { state: 'detached', timeout: 5000 });
      return page.getAttribute(`.zone-list li:has-text("${name}")`, 'data-zone');
    };
    await page.click('[data-draw=polygon]');
    await waitFor(page, 'terra-draw ready', () => !!window.__fleet.draw);
    const corners = [[-150, -100], [-20, -110], [-30, 40], [-160, 30]];
    for (const [dx, dy] of corners) {
      await page.mouse.move(cx + dx, cy + dy);
      await page.mouse.click(cx + dx, cy + dy);
    }
    await page.mouse.move(cx + corners[0][0], cy + corners[0][1]);
    await page.mouse.click(cx + corners[0][0], cy + corners[0][1]);
    const polyId = await save(`E2E yard ${Date.now() % 100000}`);
    await page.click('[data-draw=linestring]');
    const line = [[40, -120], [120, -20], [200, 60]];
    for (const [dx, dy] of line) {
      await page.mouse.move(cx + dx, cy + dy);
      await page.mouse.click(cx + dx, cy + dy);
    }
    await page.mouse.click(cx + line[2][0], cy + line[2][1]);
    const roadId = await save(`E2E road ${Date.now() % 100000}`, () => page.fill('input[name=width-m]', '80'));
    const zones = (await apiGet('/api/zones')).body.features;
    const poly = zones.find((f) => String(f.id) === polyId);
    const road = zones.find((f) => String(f.id) === roadId);
    if (poly?.geometry.type !== 'Polygon' || poly.geometry.coordinates[0].length !== 5) {
      throw new Error(`polygon stored as ${JSON.stringify(poly?.geometry)}`);
    }
    if (road?.geometry.type !== 'LineString' || road.properties.width_m !== 80 || road.geometry.coordinates.length !== 3) {
      throw new Error(`corridor stored as ${JSON.stringify(road)}`);
    }
    await shot('07-polygon-corridor');
    // Edit: rename the polygon (its vertices load into terra-draw), save, then delete it.
    await page.click(`.zone-list li[data-zone="${polyId}"] >> text=Edit`);
    await page.waitForSelector('input[name=zone-name]');
    await page.fill('input[name=zone-name]', 'E2E yard renamed');
    await page.click('[data-testid=zone-save]');
    await page.waitForSelector(`.zone-list li[data-zone="${polyId}"]:has-text("E2E yard renamed")`, { timeout: 10000 });
    const edited = (await apiGet('/api/zones')).body.features.find((f) => String(f.id) === polyId);
    if (JSON.stringify(edited.geometry) !== JSON.stringify(poly.geometry)) throw new Error('editing the name moved the polygon');
    page.once('dialog', (d) => d.accept());
    await page.click(`.zone-list li[data-zone="${polyId}"] >> text=Edit`);
    await page.click('.zone-form >> text=Delete');
    await page.waitForSelector(`.zone-list li[data-zone="${polyId}"]`, { state: 'detached', timeout: 10000 });
    if ((await apiGet('/api/zones')).body.features.some((f) => String(f.id) === polyId)) throw new Error('the zone was not deleted');
  });

  await step('replay a trip at 10x', async () => {
    await page.click('[data-tab=history]');
    await page.waitForSelector('input[name=vehicle]', { timeout: 10000 });
    await page.fill('input[name=vehicle]', focusVehicle);
    const from = new Date(Date.now() - 3 * 3600e3).toISOString().slice(0, 16);
    await page.fill('.history-panel input[name=from]', from);
    await page.click('[data-testid=history-load]');
    await page.waitForSelector('[data-testid=history-summary]', { timeout: 20000 });
    const tripButtons = await page.$$('[data-testid=replay-trip]');
    if (tripButtons.length) await tripButtons[0].click();
    else await page.click('[data-testid=replay-range]');
    await page.waitForSelector('[data-testid=replay]');
    await page.click('[data-speed="10"]');
    await page.click('[data-testid=replay-play]');
    await waitFor(page, 'the replay to play', () => window.__fleet.replay?.playing);
    const a = await page.evaluate(() => ({ ...window.__fleet.replay }));
    await page.waitForTimeout(1500);
    const b = await page.evaluate(() => ({ ...window.__fleet.replay }));
    const rate = (b.t - a.t) / (b.wall - a.wall);
    if (b.playing && (rate < 9.5 || rate > 10.5)) throw new Error(`replay ran at ${rate.toFixed(2)}x, not 10x`);
    if (a.lat === b.lat && a.lng === b.lng) throw new Error('the replayed vehicle did not move');
    // Paused, the map goes idle and shows the marker where the replay says it is.
    if (b.playing) await page.click('[data-testid=replay-play]');
    await waitFor(page, 'the replay to pause', () => !window.__fleet.replay.playing);
    const [marker, route] = await whileHeld(page, async () => [await rendered(['replay-vehicle']), await rendered(['replay-route'])]);
    if (marker.length !== 1 || !route.length) throw new Error(`replay drew ${marker.length} markers, ${route.length} route pieces`);
    const at = await page.evaluate(() => window.__fleet.replay);
    const [mlng, mlat] = marker[0].coords;
    if (Math.abs(mlng - at.lng) > 1e-4 || Math.abs(mlat - at.lat) > 1e-4) {
      throw new Error(`the marker is drawn at ${mlat},${mlng}, the replay is at ${at.lat},${at.lng}`);
    }
    console.log(`     replay rate ${rate.toFixed(2)}x, moved from ${a.lat.toFixed(5)},${a.lng.toFixed(5)} to ${b.lat.toFixed(5)},${b.lng.toFixed(5)}`);
    await shot('08-replay');
  });

  await step('a trip report downloads as CSV', async () => {
    await page.click('[data-tab=reports]');
    await page.fill('.reports-panel input[name=vehicles]', '*');
    const from = new Date(Date.now() - 3 * 3600e3).toISOString().slice(0, 16);
    await page.fill('.reports-panel input[name=from]', from);
    await page.click('[data-testid=report-run]');
    await page.waitForSelector('[data-testid=report-table] tbody tr', { timeout: 20000 });
    const rows = await page.$$eval('[data-testid=report-table] tbody tr', (r) => r.length);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=report-csv]')]);
    const file = join(artifacts, download.suggestedFilename());
    await download.saveAs(file);
    const lines = readFileSync(file, 'utf8').split('\r\n').filter(Boolean);
    if (lines[0] !== 'vehicle_id,start,end,duration_s,distance_m,idle_s,max_speed_kmh,avg_speed_kmh,fuel_l') {
      throw new Error(`unexpected CSV header: ${lines[0]}`);
    }
    if (lines.length - 1 !== rows) throw new Error(`CSV has ${lines.length - 1} rows, the table ${rows}`);
    console.log(`     ${download.suggestedFilename()}: ${rows} trips`);
    await shot('09-report');
  });

  await step('a viewer sees zones read-only', async () => {
    await page.click('text=Sign out');
    await page.waitForSelector('input[name=username]', { timeout: 10000 });
    await page.fill('input[name=username]', 'viewer');
    await page.fill('input[name=password]', viewerPassword);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-tab=zones]', { timeout: 15000 });
    await page.click('[data-tab=zones]');
    await page.waitForSelector('.zones-panel >> text=Read-only', { timeout: 10000 });
    if (await page.$('[data-draw]')) throw new Error('a viewer is offered drawing tools');
    if (await page.$('.zone-list >> text=Edit')) throw new Error('a viewer is offered editing');
    const r = await page.evaluate(async () => (await fetch('/api/zones/x', { method: 'DELETE' })).status);
    if (r !== 403) throw new Error(`DELETE /api/zones as a viewer answered ${r}, not 403`);
  });

  await step('a page without the test opt-in exposes no test hooks', async () => {
    // A second page of the same browser, without browser.mjs's opt-in: what a user gets.
    const plain = await browser.context.newPage();
    try {
      await plain.goto(url);
      await plain.waitForSelector('input[name=username], [data-testid=map]', { timeout: 15000 });
      if (await plain.$('input[name=username]')) {
        await plain.fill('input[name=username]', 'viewer');
        await plain.fill('input[name=password]', viewerPassword);
        await plain.click('button[type=submit]');
      }
      await plain.waitForSelector('[data-testid=map] canvas', { timeout: 15000 });
      await waitFor(plain, 'live feed open', () => document.querySelector('[data-testid=feed-status]')?.textContent === 'Live');
      const globals = await plain.evaluate(() => Object.keys(window).filter((k) => k.startsWith('__fleet')));
      if (globals.length) throw new Error(`a normal page exposes ${globals.join(', ')}`);
      if (!(await page.evaluate(() => !!window.__fleet))) throw new Error('the opted-in page lost its hooks');
    } finally {
      await plain.close();
    }
  });
} catch {
  // The failing step has been reported.
} finally {
  await browser.close();
  if (server) await server.close();
}

const passed = results.filter((r) => r.ok).length;
if (consoleErrors.length) console.log(`browser console errors:\n  ${consoleErrors.slice(0, 10).join('\n  ')}`);
if (failedResponses.length) console.log(`HTTP errors seen by the page (some expected: wrong password, viewer refused):\n  ${failedResponses.slice(0, 20).join('\n  ')}`);
console.log(`screenshots in ${artifacts}`);
console.log(`${passed} passed, ${results.length - passed + (failed && results.length === 0 ? 1 : 0)} failed`);
process.exit(failed ? 1 : 0);
