import { describe, expect, it } from 'vitest';
import { createSession, MIN_REFRESH_DELAY_MS, refreshDelayMs } from '../src/auth/session.js';
import { ApiError, createApi } from '../src/api/http.js';

const user = { username: 'admin', role: 'admin', vehicles: '*' };
const loginResp = (token, expires = 900) => ({ access_token: token, refresh_token: `r-${token}`, token_type: 'Bearer', expires_in: expires, user });

function fakeTimers() {
  const timers = [];
  return {
    timers,
    setTimer: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    clearTimer: (h) => { if (timers[h - 1]) timers[h - 1].cleared = true; },
  };
}

describe('refresh timing', () => {
  it('refreshes at 80% of the lifetime, never sooner than the floor', () => {
    expect(refreshDelayMs(900)).toBe(720000);
    expect(refreshDelayMs(1)).toBe(MIN_REFRESH_DELAY_MS);
    expect(refreshDelayMs(undefined)).toBe(null);
    expect(refreshDelayMs(0)).toBe(null);
  });
});

describe('session', () => {
  it('logs in, keeps the token in memory, schedules and performs a refresh', async () => {
    const t = fakeTimers();
    const s = createSession(t);
    const calls = [];
    s.attach({
      login: async (u, p) => { calls.push(['login', u, p]); return loginResp('A'); },
      refresh: async (r) => { calls.push(['refresh', r]); return loginResp('B', 60); },
      me: async () => user,
    });
    expect(await s.login('admin', 'pw')).toBe(true);
    expect(s.getToken()).toBe('A');
    expect(s.getState()).toMatchObject({ status: 'authenticated', user });
    expect(t.timers[0].ms).toBe(720000);
    await t.timers[0].fn();
    expect(calls.at(-1)).toEqual(['refresh', 'r-A']);
    expect(s.getToken()).toBe('B');
    expect(t.timers[1].ms).toBe(48000);
  });
  it('reports wrong credentials and stays signed out', async () => {
    const s = createSession(fakeTimers());
    s.attach({ login: async () => { throw new ApiError(401, 'invalid credentials'); } });
    expect(await s.login('a', 'b')).toBe(false);
    expect(s.getState()).toMatchObject({ status: 'anonymous', error: 'Wrong user name or password.' });
    expect(s.getToken()).toBe(null);
  });
  it('resumes from the refresh cookie, or the access cookie, or signs out', async () => {
    const s1 = createSession(fakeTimers());
    s1.attach({ refresh: async (r) => { expect(r).toBe(null); return loginResp('C'); }, me: async () => user });
    await s1.resume();
    expect(s1.getState().status).toBe('authenticated');
    expect(s1.getToken()).toBe('C');

    const s2 = createSession(fakeTimers());
    s2.attach({ refresh: async () => { throw new ApiError(401, 'x'); }, me: async () => user });
    await s2.resume();
    expect(s2.getState()).toMatchObject({ status: 'authenticated', user });
    expect(s2.getToken()).toBe(null);

    const s3 = createSession(fakeTimers());
    s3.attach({ refresh: async () => { throw new ApiError(401, 'x'); }, me: async () => { throw new ApiError(401, 'x'); } });
    await s3.resume();
    expect(s3.getState().status).toBe('anonymous');
  });
  it('a failed refresh ends the session; logout clears the token and the timer', async () => {
    const t = fakeTimers();
    const s = createSession(t);
    let fail = true;
    s.attach({
      login: async () => loginResp('A'),
      refresh: async () => { if (fail) throw new ApiError(401, 'x'); return loginResp('B'); },
      logout: async () => null,
    });
    await s.login('a', 'b');
    expect(await s.onUnauthorized()).toBe(false);
    expect(s.getState().status).toBe('anonymous');
    fail = false;
    await s.login('a', 'b');
    await s.logout();
    expect(s.getToken()).toBe(null);
    expect(t.timers.at(-1).cleared).toBe(true);
  });
});

describe('REST client', () => {
  const resp = (status, body) => ({
    ok: status >= 200 && status < 300, status, statusText: 'X',
    json: async () => { if (body === undefined) throw new Error('no body'); return body; },
  });
  it('sends the bearer token, JSON bodies and query strings', async () => {
    const seen = [];
    const api = createApi({
      getToken: () => 'TOK',
      fetchImpl: async (url, init) => { seen.push({ url, init }); return resp(200, { ok: 1 }); },
    });
    await api.vehicles({ q: 'v 1', status: ['moving', 'idle'], limit: 10, offset: undefined });
    expect(seen[0].url).toBe('/api/vehicles?q=v%201&status=moving%2Cidle&limit=10');
    expect(seen[0].init.headers.Authorization).toBe('Bearer TOK');
    expect(seen[0].init.credentials).toBe('same-origin');
    await api.createZone({ type: 'Feature' });
    expect(seen[1].init.method).toBe('POST');
    expect(JSON.parse(seen[1].init.body)).toEqual({ type: 'Feature' });
    await api.history('a/b', { from: 'x' });
    expect(seen[2].url).toBe('/api/vehicles/a%2Fb/history?from=x');
  });
  it('turns error bodies into ApiError and returns null for 204', async () => {
    const api = createApi({ fetchImpl: async (url) => (url.includes('zones/z')
      ? resp(204) : resp(400, { error: 'bad zone', detail: 'ring is not closed' })) });
    await expect(api.createZone({})).rejects.toMatchObject({ status: 400, error: 'bad zone', detail: 'ring is not closed' });
    expect(await api.deleteZone('z')).toBe(null);
  });
  it('retries once after a successful refresh on 401', async () => {
    let n = 0;
    let refreshes = 0;
    const api = createApi({
      onUnauthorized: async () => { refreshes++; return true; },
      fetchImpl: async () => (++n === 1 ? resp(401) : resp(200, { total: 0, vehicles: [] })),
    });
    expect(await api.vehicles()).toEqual({ total: 0, vehicles: [] });
    expect(refreshes).toBe(1);
    const api2 = createApi({ onUnauthorized: async () => true, fetchImpl: async () => resp(401) });
    await expect(api2.vehicles()).rejects.toMatchObject({ status: 401 });
  });
});
