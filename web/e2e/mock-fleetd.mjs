// A stand-in for fleetd's HTTP API (docs/API.md), in memory, for developing the
// dashboard and for the browser performance measurement: it serves the built
// dashboard, the REST routes the dashboard uses and the WebSocket feed, with N
// simulated vehicles driving circles. It is NOT fleetd: the end-to-end test
// (run-e2e.mjs) runs against the real daemon; this only lets the same browser
// steps run where fleetd's gateway is not available (--mock), and feeds the
// 10,000-vehicle measurement (perf.mjs).
//
//   node e2e/mock-fleetd.mjs [--port 8090] [--vehicles 200] [--web-root dist]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { distanceM, destination } from '../src/lib/geo.js';
import { tripsToCSV, reportTotals } from '../src/reports/reportModel.js';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.geojson': 'application/geo+json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.map': 'application/json',
};
const USERS = { admin: { password: 'admin-pw', role: 'admin' }, viewer: { password: 'viewer-pw', role: 'viewer' } };
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function pointInRing(lng, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function zoneContains(z, lat, lng) {
  const g = z.geometry;
  if (g.type === 'Point') return distanceM(lat, lng, g.coordinates[1], g.coordinates[0]) <= z.properties.radius_m;
  if (g.type === 'Polygon') return pointInRing(lng, lat, g.coordinates[0]);
  if (g.type === 'LineString') {
    return g.coordinates.some(([x, y]) => distanceM(lat, lng, y, x) <= z.properties.width_m / 2);
  }
  return false;
}

export async function startMockFleetd({
  port = 0, webRoot = 'dist', vehicles: count = 200, center = [90.4125, 23.8103], zoom = 11,
  recorded = 200, backfillS = 900, overspeedKmh = 75, forceSingle = false,
} = {}) {
  const root = resolve(webRoot);
  const tokens = new Map(); // token -> {username, role, exp}
  const zones = new Map();
  const alerts = [];
  const events = new Map(); // vehicle -> [event]
  const history = new Map(); // vehicle -> [point]
  const fleet = [];
  const stats = { ticks: 0, messages: 0, clients: 0 };

  for (let i = 0; i < count; i++) {
    const ring = Math.floor(i / 50);
    const [cx, cy] = destination(center[1], center[0], (i * 137.5) % 360, 1500 + ring * 400 + (i % 7) * 150);
    fleet.push({
      id: `v-${String(i + 1).padStart(count > 999 ? 5 : 3, '0')}`, cx, cy,
      r: 250 + (i % 11) * 60, a0: (i * 53) % 360, dir: i % 2 ? 1 : -1,
      kind: i % 10 === 9 ? 'stopped' : i % 10 === 8 ? 'idle' : 'moving',
      odo: 1000 + i, zonesIn: new Set(), overspeed: false, state: null,
    });
  }

  const stateAt = (v, ms) => {
    const t = ms / 1000;
    let speed = v.kind === 'moving' ? 55 + 30 * Math.sin(t / 20 + v.r) : 0;
    if (v.kind === 'moving' && fleet.indexOf(v) % 5 === 0) speed += 20; // some drive fast: overspeed alerts
    const angle = v.a0 + (v.dir * (t * 40 / 3.6)) / v.r * (180 / Math.PI);
    const [lng, lat] = destination(v.cy, v.cx, angle, v.kind === 'moving' ? v.r : 0);
    const heading = (((angle + v.dir * 90) % 360) + 360) % 360;
    return {
      ts: iso(ms), lat, lng, speed: Math.max(0, speed), heading, status: v.kind,
      ignition: v.kind !== 'stopped', odometer: v.odo + t / 100, battery_v: 12.6,
      fuel_level: 60 - (t % 3600) / 360, engine_temp: 88, driver_id: `d-${v.id.slice(2)}`,
    };
  };

  const now0 = Date.now();
  for (const v of fleet.slice(0, recorded)) {
    const pts = [];
    for (let ms = now0 - backfillS * 1000; ms < now0; ms += 1000) pts.push(stateAt(v, ms));
    history.set(v.id, pts);
  }
  for (const v of fleet) v.state = stateAt(v, now0);

  const tripsOf = (id, from, to) => {
    const pts = (history.get(id) ?? []).filter((p) => p.ts >= from && p.ts <= to);
    const trips = [];
    // One trip per 5 minutes of driving, as a stand-in for real trip detection.
    for (let i = 0; i + 1 < pts.length; i += 300) {
      const seg = pts.slice(i, Math.min(pts.length, i + 300));
      if (seg.length < 2 || seg.every((p) => p.speed < 3)) continue;
      let d = 0;
      let max = 0;
      for (let k = 1; k < seg.length; k++) {
        d += distanceM(seg[k - 1].lat, seg[k - 1].lng, seg[k].lat, seg[k].lng);
        max = Math.max(max, seg[k].speed);
      }
      const dur = (Date.parse(seg.at(-1).ts) - Date.parse(seg[0].ts)) / 1000;
      trips.push({
        vehicle_id: id, start: seg[0].ts, end: seg.at(-1).ts, start_lat: seg[0].lat, start_lng: seg[0].lng,
        end_lat: seg.at(-1).lat, end_lng: seg.at(-1).lng, distance_m: Math.round(d), duration_s: dur,
        moving_s: dur, idle_s: 0, max_speed_kmh: Math.round(max * 10) / 10,
        avg_speed_kmh: Math.round((d / 1000 / (dur / 3600)) * 10) / 10, fuel_l: Math.round(d / 1000 * 0.08 * 100) / 100,
      });
    }
    return trips;
  };

  const auth = (req) => {
    const h = req.headers.authorization;
    let tok = h && h.startsWith('Bearer ') ? h.slice(7) : null;
    if (!tok) {
      const m = /(?:^|;\s*)fleet_token=([^;]+)/.exec(req.headers.cookie ?? '');
      tok = m ? m[1] : null;
    }
    if (!tok) {
      const q = new URL(req.url, 'http://x').searchParams.get('access_token');
      tok = q;
    }
    const t = tok && tokens.get(tok);
    return t && t.exp > Date.now() ? t : null;
  };
  const issue = (res, username, role) => {
    const access = randomBytes(16).toString('hex');
    const refresh = randomBytes(16).toString('hex');
    tokens.set(access, { username, role, exp: Date.now() + 900e3 });
    tokens.set(`r:${refresh}`, { username, role, exp: Date.now() + 86400e3 });
    res.setHeader('Set-Cookie', [
      `fleet_token=${access}; HttpOnly; SameSite=Strict; Path=/`,
      `fleet_refresh=${refresh}; HttpOnly; SameSite=Strict; Path=/api/auth`,
    ]);
    return { access_token: access, refresh_token: refresh, token_type: 'Bearer', expires_in: 900,
      user: { username, role, vehicles: '*' } };
  };

  const send = (res, status, body, headers = {}) => {
    const text = body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(text);
  };
  const readBody = (req) => new Promise((ok) => {
    let s = '';
    req.on('data', (c) => { s += c; });
    req.on('end', () => { try { ok(s ? JSON.parse(s) : {}); } catch { ok(undefined); } });
  });
  const vehicleRecord = (v) => ({ vehicle_id: v.id, ...v.state, last_seen: v.state.ts, zones: [...v.zonesIn] });

  async function api(req, res, url) {
    const p = url.pathname;
    const q = url.searchParams;
    if (p === '/api/auth/login' && req.method === 'POST') {
      const b = await readBody(req);
      const u = b && USERS[b.username];
      if (!u || u.password !== b.password) return send(res, 401, { error: 'invalid credentials' });
      return send(res, 200, issue(res, b.username, u.role));
    }
    if (p === '/api/auth/refresh' && req.method === 'POST') {
      const b = (await readBody(req)) ?? {};
      const m = /(?:^|;\s*)fleet_refresh=([^;]+)/.exec(req.headers.cookie ?? '');
      const r = tokens.get(`r:${b.refresh_token ?? (m && m[1])}`);
      if (!r || r.exp < Date.now()) return send(res, 401, { error: 'unauthorized' });
      return send(res, 200, issue(res, r.username, r.role));
    }
    if (p === '/api/auth/logout') {
      res.setHeader('Set-Cookie', ['fleet_token=; Max-Age=0; Path=/', 'fleet_refresh=; Max-Age=0; Path=/api/auth']);
      return send(res, 204, null);
    }
    const who = auth(req);
    if (!who) return send(res, 401, { error: 'unauthorized' });
    if (p === '/api/me') return send(res, 200, { username: who.username, role: who.role, vehicles: '*' });
    if (p === '/api/config') return send(res, 200, { style_url: null, basemap: '/basemap/world.geojson', center, zoom });
    if (p === '/api/vehicles') {
      const list = fleet.map(vehicleRecord).filter((v) => !q.get('q') || v.vehicle_id.includes(q.get('q')));
      const off = Number(q.get('offset') ?? 0);
      const lim = Math.min(10000, Number(q.get('limit') ?? 1000));
      return send(res, 200, { total: list.length, vehicles: list.slice(off, off + lim) });
    }
    let m = /^\/api\/vehicles\/([^/]+)(?:\/(history|trips|events))?$/.exec(p);
    if (m) {
      const id = decodeURIComponent(m[1]);
      const v = fleet.find((x) => x.id === id);
      if (!v) return send(res, 404, { error: 'unknown vehicle' });
      const from = q.get('from') ?? '0000';
      const to = q.get('to') ?? '9999';
      if (!m[2]) return send(res, 200, vehicleRecord(v));
      if (m[2] === 'history') {
        const pts = (history.get(id) ?? []).filter((x) => x.ts >= from && x.ts <= to);
        return send(res, 200, { vehicle_id: id, tier: 'raw', points: pts, truncated: false });
      }
      if (m[2] === 'trips') return send(res, 200, { trips: tripsOf(id, from, to), stops: [] });
      return send(res, 200, { events: (events.get(id) ?? []).filter((e) => e.ts >= from && e.ts <= to) });
    }
    if (p === '/api/reports/trips') {
      const ids = q.get('vehicles') === '*' ? [...history.keys()] : (q.get('vehicles') ?? '').split(',');
      const trips = ids.flatMap((id) => tripsOf(id, q.get('from') ?? '0000', q.get('to') ?? '9999'));
      if (q.get('format') === 'csv') {
        return send(res, 200, tripsToCSV(trips), { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="trips.csv"' });
      }
      return send(res, 200, { trips, totals: reportTotals(trips) });
    }
    if (p === '/api/zones' && req.method === 'GET') {
      return send(res, 200, { type: 'FeatureCollection', features: [...zones.values()] });
    }
    m = /^\/api\/zones(?:\/([^/]+))?$/.exec(p);
    if (m) {
      if (who.role !== 'admin') return send(res, 403, { error: 'forbidden' });
      if (req.method === 'DELETE') {
        if (!zones.delete(decodeURIComponent(m[1]))) return send(res, 404, { error: 'unknown zone' });
        return send(res, 204, null);
      }
      const f = await readBody(req);
      if (!f || f.type !== 'Feature' || !f.geometry) return send(res, 400, { error: 'bad zone', detail: 'not a Feature' });
      const id = String(m[1] ? decodeURIComponent(m[1]) : f.id);
      if (req.method === 'POST' && zones.has(id)) return send(res, 409, { error: 'zone exists' });
      zones.set(id, { ...f, id });
      return send(res, req.method === 'POST' ? 201 : 200, zones.get(id));
    }
    if (p === '/api/alerts') return send(res, 200, { alerts: alerts.slice(-Number(q.get('limit') ?? 100)).reverse() });
    return send(res, 404, { error: 'not found' });
  }

  async function serveStatic(res, path) {
    let file = normalize(join(root, decodeURIComponent(path)));
    if (!file.startsWith(root)) return send(res, 404, { error: 'not found' });
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    } catch {
      file = join(root, 'index.html'); // client-side routes
    }
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(data);
    } catch {
      send(res, 404, { error: 'not found' });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname.startsWith('/api/')) {
      api(req, res, url).catch((e) => send(res, 500, { error: String(e) }));
    } else if (url.pathname === '/healthz') {
      res.end('ok');
    } else {
      serveStatic(res, url.pathname);
    }
  });

  const wss = new WebSocketServer({ noServer: true });
  const clients = new Set();
  server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/ws') || !auth(req)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c = { ws, subscribed: false };
      clients.add(c);
      stats.clients = clients.size;
      ws.on('message', (data) => {
        let msg;
        try { msg = JSON.parse(data); } catch { return; }
        if (msg.type === 'subscribe') {
          c.subscribed = true;
          c.batch = msg.batch === true && !forceSingle;
          ws.send(JSON.stringify({ type: 'snapshot', vehicles: fleet.map(vehicleRecord) }));
        } else if (msg.type === 'ping') ws.send('{"type":"pong"}');
      });
      ws.on('close', () => { clients.delete(c); stats.clients = clients.size; });
    });
  });

  const broadcast = (text) => {
    for (const c of clients) if (c.subscribed && c.ws.readyState === 1) c.ws.send(text);
  };
  // Telemetry: one frame per vehicle, or one telemetry_batch per slice for
  // clients that subscribed with "batch": true.
  const sendTelemetry = (updates) => {
    let single = null;
    let batch = null;
    for (const c of clients) {
      if (!c.subscribed || c.ws.readyState !== 1) continue;
      if (c.batch) {
        batch ??= JSON.stringify({ type: 'telemetry_batch', updates });
        c.ws.send(batch);
      } else {
        single ??= updates.map((u) => JSON.stringify({ type: 'telemetry_update', ...u }));
        for (const t of single) c.ws.send(t);
      }
    }
  };

  // Each second: every vehicle moves; updates go out spread over the second in
  // ten slices, as a coalescing gateway emits them.
  let slice = 0;
  const timer = setInterval(() => {
    const ms = Date.now();
    const n = fleet.length;
    const a = Math.floor((slice * n) / 10);
    const b = Math.floor(((slice + 1) * n) / 10);
    slice = (slice + 1) % 10;
    if (slice === 1) stats.ticks++;
    const updates = [];
    for (let i = a; i < b; i++) {
      const v = fleet[i];
      v.state = stateAt(v, ms);
      const s = v.state;
      if (history.has(v.id)) history.get(v.id).push(s);
      updates.push({ vehicle_id: v.id,
        data: { lat: s.lat, lng: s.lng, speed: s.speed, heading: s.heading, ts: s.ts, status: s.status } });
      stats.messages++;
      if (s.speed > overspeedKmh && !v.overspeed) {
        v.overspeed = true;
        const alert = { vehicle_id: v.id, ts: s.ts, rule: 'overspeed-demo', rule_type: 'overspeed', severity: 'warning',
          message: `speed ${s.speed.toFixed(0)} km/h over ${overspeedKmh}`, value: s.speed, limit: overspeedKmh, zone_id: null };
        alerts.push(alert);
        broadcast(JSON.stringify({ type: 'alert', ...alert }));
      } else if (s.speed < overspeedKmh - 5) v.overspeed = false;
      if (i < 500) {
        for (const z of zones.values()) {
          const inside = zoneContains(z, s.lat, s.lng);
          if (inside !== v.zonesIn.has(z.id)) {
            if (inside) v.zonesIn.add(z.id); else v.zonesIn.delete(z.id);
            const ev = { type: inside ? 'zone_enter' : 'zone_exit', ts: s.ts, zone_id: z.id, zone_name: z.properties?.name };
            if (!events.has(v.id)) events.set(v.id, []);
            events.get(v.id).push(ev);
          }
        }
      }
    }
    sendTelemetry(updates);
  }, 100);

  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url, stats, fleet,
    async close() {
      clearInterval(timer);
      for (const c of clients) c.ws.terminate();
      wss.close();
      await new Promise((ok) => server.close(ok));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, def) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : def;
  };
  const m = await startMockFleetd({
    port: Number(arg('port', 8090)), vehicles: Number(arg('vehicles', 200)), webRoot: arg('web-root', 'dist'),
  });
  console.log(`mock fleetd (not the real daemon) on ${m.url}: admin/admin-pw, viewer/viewer-pw`);
  process.on('SIGINT', () => m.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => m.close().then(() => process.exit(0)));
}
