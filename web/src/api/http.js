// REST client for fleetd's API (docs/API.md). Same-origin by default, so the
// HttpOnly cookie travels with every request; the access token, when the
// session holds one, goes in the Authorization header as well.

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail ? `${error}: ${detail}` : error);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

function buildQuery(query) {
  if (!query) return '';
  const parts = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    const list = Array.isArray(value) ? value.join(',') : String(value);
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(list)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * @param {object} o
 * @param {string} [o.baseUrl]   origin + prefix of the API ('' = same origin)
 * @param {() => string|null} [o.getToken]  the in-memory access token
 * @param {() => Promise<boolean>} [o.onUnauthorized]  called once on a 401;
 *        resolving true retries the request (the session refreshed its token)
 * @param {typeof fetch} [o.fetchImpl]
 */
export function createApi({ baseUrl = '', getToken = () => null, onUnauthorized, fetchImpl } = {}) {
  const doFetch = fetchImpl ?? ((...a) => globalThis.fetch(...a));

  async function send(method, path, { query, body, accept = 'application/json', retry = true } = {}) {
    const headers = { Accept: accept };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await doFetch(`${baseUrl}${path}${buildQuery(query)}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && retry && onUnauthorized && (await onUnauthorized())) {
      return send(method, path, { query, body, accept, retry: false });
    }
    if (!res.ok) {
      let error = res.statusText || `HTTP ${res.status}`;
      let detail;
      try {
        const j = await res.json();
        if (j && typeof j.error === 'string') error = j.error;
        if (j && typeof j.detail === 'string') detail = j.detail;
      } catch {
        // An error without a JSON body keeps the status text.
      }
      throw new ApiError(res.status, error, detail);
    }
    return res;
  }

  const json = async (method, path, opts) => {
    const res = await send(method, path, opts);
    if (res.status === 204) return null;
    return res.json();
  };

  const enc = encodeURIComponent;

  return {
    // Auth: no retry on 401, they are how a session learns it has none.
    login: (username, password) =>
      json('POST', '/api/auth/login', { body: { username, password }, retry: false }),
    refresh: (refreshToken) =>
      json('POST', '/api/auth/refresh', {
        body: refreshToken ? { refresh_token: refreshToken } : {},
        retry: false,
      }),
    logout: () => json('POST', '/api/auth/logout', { retry: false }),
    me: () => json('GET', '/api/me', { retry: false }),
    config: () => json('GET', '/api/config'),

    vehicles: (query) => json('GET', '/api/vehicles', { query }),
    vehicle: (id) => json('GET', `/api/vehicles/${enc(id)}`),
    history: (id, query) => json('GET', `/api/vehicles/${enc(id)}/history`, { query }),
    trips: (id, query) => json('GET', `/api/vehicles/${enc(id)}/trips`, { query }),
    events: (id, query) => json('GET', `/api/vehicles/${enc(id)}/events`, { query }),

    reportTrips: (query) => json('GET', '/api/reports/trips', { query: { ...query, format: 'json' } }),

    zones: () => json('GET', '/api/zones'),
    createZone: (feature) => json('POST', '/api/zones', { body: feature }),
    updateZone: (id, feature) => json('PUT', `/api/zones/${enc(id)}`, { body: feature }),
    deleteZone: (id) => json('DELETE', `/api/zones/${enc(id)}`),

    rules: () => json('GET', '/api/rules'),
    putRules: (doc) => json('PUT', '/api/rules', { body: doc }),
    alerts: (query) => json('GET', '/api/alerts', { query }),
  };
}
