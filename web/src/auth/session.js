// The login session: the access token lives in memory only (plus the HttpOnly
// cookie fleetd sets, which scripts cannot read), and is refreshed before it
// expires. One session object per app, created by main.jsx and handed down
// through React context.

/** Refresh when this fraction of the token's lifetime has passed. */
export const REFRESH_AT = 0.8;
/** Never schedule a refresh sooner than this (ms), whatever expires_in says. */
export const MIN_REFRESH_DELAY_MS = 5000;

export function refreshDelayMs(expiresInS) {
  if (typeof expiresInS !== 'number' || !(expiresInS > 0)) return null;
  return Math.max(MIN_REFRESH_DELAY_MS, Math.floor(expiresInS * 1000 * REFRESH_AT));
}

export function createSession({ setTimer = setTimeout, clearTimer = clearTimeout } = {}) {
  let api = null;
  let accessToken = null;
  let refreshToken = null;
  let timer = null;
  let state = { status: 'unknown', user: null, error: null };
  const listeners = new Set();

  const set = (patch) => {
    state = { ...state, ...patch };
    for (const l of listeners) l();
  };

  const schedule = (expiresIn) => {
    if (timer) clearTimer(timer);
    timer = null;
    const delay = refreshDelayMs(expiresIn);
    if (delay !== null) timer = setTimer(() => { refresh(); }, delay);
  };

  const accept = (resp) => {
    accessToken = resp.access_token ?? null;
    if (resp.refresh_token) refreshToken = resp.refresh_token;
    schedule(resp.expires_in);
    set({ status: 'authenticated', user: resp.user ?? state.user, error: null });
  };

  const clear = (error = null) => {
    accessToken = null;
    refreshToken = null;
    if (timer) clearTimer(timer);
    timer = null;
    set({ status: 'anonymous', user: null, error });
  };

  // Concurrent 401s share one refresh.
  let inflight = null;
  async function refresh() {
    if (inflight) return inflight;
    inflight = (async () => {
      try {
        accept(await api.refresh(refreshToken));
        return true;
      } catch {
        clear('Your session has expired. Please sign in again.');
        return false;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  return {
    attach(a) { api = a; },
    getToken: () => accessToken,
    getState: () => state,
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    refresh,
    /** After a reload: the refresh cookie or a still-valid access cookie resumes the session. */
    async resume() {
      try {
        accept(await api.refresh(null));
        if (!state.user) set({ user: await api.me() });
        return;
      } catch {
        // No refresh cookie: the access cookie alone may still be valid.
      }
      try {
        const user = await api.me();
        set({ status: 'authenticated', user, error: null });
      } catch {
        clear();
      }
    },
    async login(username, password) {
      try {
        accept(await api.login(username, password));
        if (!state.user) set({ user: await api.me() });
        return true;
      } catch (e) {
        clear(e.status === 401 ? 'Wrong user name or password.' : `Sign-in failed: ${e.message}`);
        return false;
      }
    },
    async logout() {
      try {
        await api.logout();
      } catch {
        // The local session ends whether or not the server heard about it.
      }
      clear();
    },
    /** The server refused our token outright: resolves true when a refresh fixed it. */
    onUnauthorized: () => (state.status === 'authenticated' ? refresh() : Promise.resolve(false)),
  };
}
