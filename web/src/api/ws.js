// The one WebSocket client of the app: subscribes to the live feed, buffers
// messages (api/feedBuffer.js) and flushes them at most once per animation
// frame, reconnects with exponential backoff and jitter, and at once when the
// browser comes back online or the tab becomes visible again.
//
// Authentication: same-origin, the HttpOnly cookie set at login goes with the
// upgrade request. Cross-origin (a development server on another port), the
// token goes in ?access_token=, which fleetd never logs; neither do we: the
// URL with the token is never printed, and errors name only the path.
import { createFeedBuffer } from './feedBuffer.js';

export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 30000;
export const PING_INTERVAL_MS = 25000;
/** Close code fleetd uses for an expired token. */
export const CLOSE_TOKEN_EXPIRED = 4001;

/** Delay before reconnect attempt `attempt` (0-based): doubling, capped, +-20% jitter. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 30));
  const jitter = 0.8 + 0.4 * random();
  return Math.round(Math.min(BACKOFF_MAX_MS, base * jitter));
}

/** ws(s)://host/ws for a page location; `token` is added only when given. */
export function feedUrl(location, token = null, path = '/ws') {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = token ? `?access_token=${encodeURIComponent(token)}` : '';
  return `${scheme}//${location.host}${path}${q}`;
}

/**
 * @param {object} o
 * @param {() => string} o.url            the feed URL (called on every connect)
 * @param {(batch) => void} o.onFlush     receives {snapshot, updates: Map, alerts: []}
 * @param {(status) => void} [o.onStatus] 'connecting' | 'open' | 'closed'
 * @param {() => Promise<boolean>} [o.onTokenExpired] refresh before reconnecting
 * @param {(message: string) => void} [o.onServerError]
 * @param {string[]|'*'} [o.vehicles]
 * @param {number} [o.intervalMs]
 * The rest are injectable for tests: WebSocketImpl, schedule/cancel (frames),
 * setTimer/clearTimer, random, env (window: online/visibilitychange, document).
 */
export function createFeedClient(o) {
  const {
    url,
    onFlush,
    onStatus = () => {},
    onTokenExpired = async () => true,
    onServerError = () => {},
    vehicles = '*',
    intervalMs = 1000,
    WebSocketImpl = globalThis.WebSocket,
    schedule = (fn) => globalThis.requestAnimationFrame(fn),
    cancel = (h) => globalThis.cancelAnimationFrame(h),
    setTimer = (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimer = (h) => globalThis.clearTimeout(h),
    setRepeat = (fn, ms) => globalThis.setInterval(fn, ms),
    clearRepeat = (h) => globalThis.clearInterval(h),
    random = Math.random,
    env = globalThis.window,
  } = o;

  const buffer = createFeedBuffer();
  let ws = null;
  let frame = null;
  let received = 0;
  let receivedChars = 0;
  let retryTimer = null;
  let pingTimer = null;
  let attempt = 0;
  let running = false;
  let status = 'closed';

  const setStatus = (s) => {
    if (s !== status) {
      status = s;
      onStatus(s);
    }
  };

  const flush = () => {
    frame = null;
    if (buffer.pending) onFlush(buffer.drain());
  };

  const onMessage = (ev) => {
    received++;
    if (typeof ev.data === 'string') receivedChars += ev.data.length;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    const kind = buffer.push(msg);
    if (kind === 'error') onServerError(String(msg.message ?? 'error'));
    if (buffer.pending && frame === null) frame = schedule(flush);
  };

  const clearRetry = () => {
    if (retryTimer !== null) clearTimer(retryTimer);
    retryTimer = null;
  };

  const scheduleReconnect = () => {
    if (!running || retryTimer !== null) return;
    const delay = backoffDelay(attempt++, random);
    retryTimer = setTimer(() => {
      retryTimer = null;
      connect();
    }, delay);
  };

  function connect() {
    if (!running || ws) return;
    clearRetry();
    setStatus('connecting');
    let sock;
    try {
      sock = new WebSocketImpl(url());
    } catch {
      setStatus('closed');
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      attempt = 0;
      setStatus('open');
      // batch: many updates per frame instead of one frame per vehicle
      // (10,000 frames a second cost the browser more than their content).
      sock.send(JSON.stringify({ type: 'subscribe', vehicles, interval_ms: intervalMs, batch: true }));
      pingTimer = setRepeat(() => {
        if (sock.readyState === 1) sock.send(JSON.stringify({ type: 'ping' }));
      }, PING_INTERVAL_MS);
    };
    sock.onmessage = (ev) => {
      if (ws === sock) onMessage(ev);
    };
    sock.onerror = () => {
      // onclose follows and decides what to do.
    };
    sock.onclose = async (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (pingTimer !== null) clearRepeat(pingTimer);
      pingTimer = null;
      setStatus('closed');
      if (!running) return;
      if (ev && ev.code === CLOSE_TOKEN_EXPIRED) {
        const ok = await onTokenExpired();
        if (!ok) {
          running = false;
          return;
        }
      }
      scheduleReconnect();
    };
  }

  // Coming back online or to the foreground: do not wait out a long backoff.
  const wake = () => {
    if (!running || ws) return;
    if (env?.document && env.document.visibilityState === 'hidden') return;
    clearRetry();
    attempt = 0;
    connect();
  };

  return {
    start() {
      if (running) return;
      running = true;
      env?.addEventListener?.('online', wake);
      env?.document?.addEventListener?.('visibilitychange', wake);
      connect();
    },
    stop() {
      running = false;
      env?.removeEventListener?.('online', wake);
      env?.document?.removeEventListener?.('visibilitychange', wake);
      clearRetry();
      if (frame !== null) cancel(frame);
      frame = null;
      if (pingTimer !== null) clearRepeat(pingTimer);
      pingTimer = null;
      const sock = ws;
      ws = null;
      if (sock) sock.close(1000, 'bye');
      setStatus('closed');
    },
    get status() {
      return status;
    },
    /** WebSocket messages received since start (all connections). */
    get received() {
      return received;
    },
    /** Their total length in characters (the feed is ASCII JSON: bytes). */
    get receivedChars() {
      return receivedChars;
    },
    /** Flush now (tests, and pages without animation frames). */
    flush,
  };
}
