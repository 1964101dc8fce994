import { describe, expect, it } from 'vitest';
import { createFeedBuffer, MAX_PENDING_ALERTS } from '../src/api/feedBuffer.js';
import {
  backoffDelay, BACKOFF_MAX_MS, BACKOFF_MIN_MS, CLOSE_TOKEN_EXPIRED, createFeedClient, feedUrl,
} from '../src/api/ws.js';

const upd = (id, data) => ({ type: 'telemetry_update', vehicle_id: id, data });

describe('feed buffer', () => {
  it('keeps only the latest state per vehicle, merging fields', () => {
    const b = createFeedBuffer();
    b.push(upd('v1', { lat: 1, lng: 2, speed: 10, ts: '2026-05-21T10:00:00Z', ignition: true }));
    b.push(upd('v2', { lat: 5, lng: 5, ts: '2026-05-21T10:00:00Z' }));
    b.push(upd('v1', { lat: 1.1, lng: 2.1, speed: 12, ts: '2026-05-21T10:00:01Z' }));
    const out = b.drain();
    expect(out.updates.size).toBe(2);
    expect(out.updates.get('v1')).toEqual({ lat: 1.1, lng: 2.1, speed: 12, ts: '2026-05-21T10:00:01Z', ignition: true });
    expect(out.received).toBe(3);
    expect(b.pending).toBe(false);
    expect(b.drain().updates.size).toBe(0);
  });
  it('takes batches like single updates, skipping malformed entries', () => {
    const b = createFeedBuffer();
    expect(b.push({ type: 'telemetry_batch', updates: [
      { vehicle_id: 'v1', data: { lat: 1, lng: 1, ts: '2026-05-21T10:00:00Z' } },
      null, { vehicle_id: 7, data: {} }, { vehicle_id: 'v2' },
      { vehicle_id: 'v1', data: { lat: 2, ts: '2026-05-21T10:00:01Z' } },
    ] })).toBe('update');
    const out = b.drain();
    expect(out.received).toBe(2);
    expect([...out.updates.keys()]).toEqual(['v1']);
    expect(out.updates.get('v1')).toEqual({ lat: 2, lng: 1, ts: '2026-05-21T10:00:01Z' });
    expect(b.push({ type: 'telemetry_batch', updates: 'x' })).toBe('ignored');
    expect(b.push({ type: 'telemetry_batch', updates: [null] })).toBe('ignored');
  });
  it('never lets an older fix overwrite a newer one', () => {
    const b = createFeedBuffer();
    b.push(upd('v1', { lat: 2, lng: 2, ts: '2026-05-21T10:00:05Z' }));
    b.push(upd('v1', { lat: 1, lng: 1, ts: '2026-05-21T10:00:01Z' }));
    expect(b.drain().updates.get('v1').lat).toBe(2);
  });
  it('keeps alerts in order, uncoalesced, without the type member', () => {
    const b = createFeedBuffer();
    b.push({ type: 'alert', vehicle_id: 'v1', rule: 'a', ts: '1' });
    b.push({ type: 'alert', vehicle_id: 'v1', rule: 'a', ts: '2' });
    b.push({ type: 'alert', vehicle_id: 'v2', rule: 'b', ts: '3' });
    const { alerts } = b.drain();
    expect(alerts.map((a) => a.ts)).toEqual(['1', '2', '3']);
    expect(alerts[0]).toEqual({ vehicle_id: 'v1', rule: 'a', ts: '1' });
  });
  it('bounds pending alerts and counts the dropped ones', () => {
    const b = createFeedBuffer();
    for (let i = 0; i < MAX_PENDING_ALERTS + 7; i++) b.push({ type: 'alert', vehicle_id: 'v', rule: 'r', ts: String(i) });
    const out = b.drain();
    expect(out.alerts.length).toBe(MAX_PENDING_ALERTS);
    expect(out.droppedAlerts).toBe(7);
    expect(out.alerts[0].ts).toBe('7');
  });
  it('lets a snapshot supersede updates buffered before it', () => {
    const b = createFeedBuffer();
    b.push(upd('old', { lat: 1, lng: 1 }));
    b.push({ type: 'snapshot', vehicles: [{ vehicle_id: 'a', lat: 0, lng: 0 }] });
    b.push(upd('a', { lat: 1, lng: 1, ts: '2026-05-21T10:00:00Z' }));
    const out = b.drain();
    expect(out.snapshot).toEqual([{ vehicle_id: 'a', lat: 0, lng: 0 }]);
    expect([...out.updates.keys()]).toEqual(['a']);
  });
  it('classifies and ignores malformed messages', () => {
    const b = createFeedBuffer();
    expect(b.push(null)).toBe('ignored');
    expect(b.push({ type: 'telemetry_update', vehicle_id: 3, data: {} })).toBe('ignored');
    expect(b.push({ type: 'telemetry_update', vehicle_id: 'x' })).toBe('ignored');
    expect(b.push({ type: 'snapshot', vehicles: 'nope' })).toBe('ignored');
    expect(b.push({ type: 'mystery' })).toBe('ignored');
    expect(b.push({ type: 'pong' })).toBe('pong');
    expect(b.push({ type: 'error', message: 'x' })).toBe('error');
    expect(b.pending).toBe(false);
  });
});

describe('backoff and URL', () => {
  it('doubles from the minimum up to the cap, with bounded jitter', () => {
    expect(backoffDelay(0, () => 0.5)).toBe(BACKOFF_MIN_MS);
    expect(backoffDelay(1, () => 0.5)).toBe(BACKOFF_MIN_MS * 2);
    expect(backoffDelay(3, () => 0.5)).toBe(BACKOFF_MIN_MS * 8);
    expect(backoffDelay(50, () => 0.5)).toBe(BACKOFF_MAX_MS);
    expect(backoffDelay(0, () => 0)).toBe(BACKOFF_MIN_MS * 0.8);
    expect(backoffDelay(0, () => 0.999999)).toBeCloseTo(BACKOFF_MIN_MS * 1.2, -1);
    expect(backoffDelay(50, () => 0.999999)).toBe(BACKOFF_MAX_MS);
  });
  it('builds ws/wss URLs, with the token only when asked', () => {
    expect(feedUrl({ protocol: 'http:', host: 'h:8080' })).toBe('ws://h:8080/ws');
    expect(feedUrl({ protocol: 'https:', host: 'h' }, 'a b&c')).toBe('wss://h/ws?access_token=a%20b%26c');
  });
});

// A fake WebSocket and fake timers/frames to drive the client deterministically.
function harness() {
  const sockets = [];
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.readyState = 0;
      this.closed = null;
      sockets.push(this);
    }
    send(s) { this.sent.push(JSON.parse(s)); }
    close(code) { this.closed = code; }
    open() { this.readyState = 1; this.onopen(); }
    msg(obj) { this.onmessage({ data: typeof obj === 'string' ? obj : JSON.stringify(obj) }); }
    drop(code = 1006) { this.readyState = 3; return this.onclose({ code }); }
  }
  const frames = [];
  const timers = [];
  const listeners = {};
  const env = {
    addEventListener: (t, f) => { listeners[t] = f; },
    removeEventListener: (t) => { delete listeners[t]; },
    document: {
      visibilityState: 'visible',
      addEventListener: (t, f) => { listeners[`doc:${t}`] = f; },
      removeEventListener: (t) => { delete listeners[`doc:${t}`]; },
    },
  };
  const flushes = [];
  const statuses = [];
  const client = createFeedClient({
    url: () => 'ws://x/ws',
    onFlush: (b) => flushes.push(b),
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeWS,
    schedule: (fn) => frames.push(fn),
    cancel: () => {},
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => {},
    setRepeat: () => 1,
    clearRepeat: () => {},
    random: () => 0.5,
    env,
  });
  const runFrames = () => { while (frames.length) frames.shift()(); };
  return { client, sockets, frames, timers, listeners, env, flushes, statuses, runFrames };
}

describe('feed client', () => {
  it('subscribes on open and flushes at most once per frame', () => {
    const h = harness();
    h.client.start();
    expect(h.sockets.length).toBe(1);
    h.sockets[0].open();
    expect(h.sockets[0].sent[0]).toEqual({ type: 'subscribe', vehicles: '*', interval_ms: 1000, batch: true });
    for (let i = 0; i < 100; i++) h.sockets[0].msg(upd(`v${i % 10}`, { lat: i, lng: i, ts: `2026-05-21T10:00:${String(i % 60).padStart(2, '0')}Z` }));
    h.sockets[0].msg('{not json');
    expect(h.frames.length).toBe(1);
    h.runFrames();
    expect(h.flushes.length).toBe(1);
    expect(h.flushes[0].updates.size).toBe(10);
    expect(h.flushes[0].received).toBe(100);
    expect(h.statuses).toEqual(['connecting', 'open']);
  });
  it('counts the WebSocket messages and characters it received, across reconnects', async () => {
    const h = harness();
    h.client.start();
    h.sockets[0].open();
    h.sockets[0].msg('{"type":"pong"}');
    h.sockets[0].msg('{bad');
    expect([h.client.received, h.client.receivedChars]).toEqual([2, 15 + 4]);
    await h.sockets[0].drop();
    h.timers.shift().fn();
    h.sockets[1].open();
    h.sockets[1].msg('{"type":"pong"}');
    expect([h.client.received, h.client.receivedChars]).toEqual([3, 34]);
  });
  it('reconnects with growing delays, resetting after a successful open', async () => {
    const h = harness();
    h.client.start();
    await h.sockets[0].drop();
    expect(h.timers.map((t) => t.ms)).toEqual([BACKOFF_MIN_MS]);
    h.timers.shift().fn();
    await h.sockets[1].drop();
    expect(h.timers[0].ms).toBe(BACKOFF_MIN_MS * 2);
    h.timers.shift().fn();
    h.sockets[2].open();
    await h.sockets[2].drop();
    expect(h.timers[0].ms).toBe(BACKOFF_MIN_MS);
  });
  it('reconnects at once when the browser comes back online or visible', async () => {
    const h = harness();
    h.client.start();
    await h.sockets[0].drop();
    expect(h.sockets.length).toBe(1);
    h.listeners.online();
    expect(h.sockets.length).toBe(2);
    await h.sockets[1].drop();
    h.env.document.visibilityState = 'hidden';
    h.listeners['doc:visibilitychange']();
    expect(h.sockets.length).toBe(2);
    h.env.document.visibilityState = 'visible';
    h.listeners['doc:visibilitychange']();
    expect(h.sockets.length).toBe(3);
    // An open connection is left alone.
    h.sockets[2].open();
    h.listeners.online();
    expect(h.sockets.length).toBe(3);
  });
  it('refreshes the token on close code 4001 before reconnecting, and gives up if that fails', async () => {
    let ok = true;
    let refreshed = 0;
    const sockets = [];
    const timers = [];
    class WS {
      constructor() { sockets.push(this); }
      send() {}
      close() {}
    }
    const c = createFeedClient({
      url: () => 'ws://x/ws', onFlush: () => {}, WebSocketImpl: WS,
      onTokenExpired: async () => { refreshed++; return ok; },
      schedule: () => 0, cancel: () => {}, setTimer: (fn, ms) => timers.push(fn), clearTimer: () => {},
      setRepeat: () => 0, clearRepeat: () => {}, env: null,
    });
    c.start();
    await sockets[0].onclose({ code: CLOSE_TOKEN_EXPIRED });
    expect(refreshed).toBe(1);
    expect(timers.length).toBe(1);
    timers.shift()();
    ok = false;
    await sockets[1].onclose({ code: CLOSE_TOKEN_EXPIRED });
    expect(refreshed).toBe(2);
    expect(timers.length).toBe(0);
  });
  it('stops cleanly: closes the socket and schedules nothing more', async () => {
    const h = harness();
    h.client.start();
    h.sockets[0].open();
    h.client.stop();
    expect(h.sockets[0].closed).toBe(1000);
    expect(h.statuses.at(-1)).toBe('closed');
    expect(h.listeners.online).toBeUndefined();
    expect(h.timers.length).toBe(0);
  });
});
