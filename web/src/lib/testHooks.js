// Test hooks: the browser tests (e2e/run-e2e.mjs, e2e/perf.mjs) read the map,
// the store and a few counters from window.__fleet / window.__fleetFeed. They
// are exposed only when the page opted in before the app's code ran, by
// setting window.__fleetTestHooks = true (e2e/browser.mjs does it with
// playwright's addInitScript); a normal page never sets it, so users get no
// such globals.
//
// A runtime opt-in rather than a separate build mode (import.meta.env.MODE):
// the tests then drive the very bundle fleetd serves to users (web/dist, the
// same minified code, no second build to keep in step); the only difference
// on a test page is that these objects are attached to window.
const enabled = typeof window !== 'undefined' && window.__fleetTestHooks === true;

/** True on a page that opted in to test hooks (decided once, when the bundle loads). */
export function testHooksEnabled() {
  return enabled;
}

/** The probe object shared with the tests (window.__fleet), or null on a normal page. */
export function testProbe() {
  return enabled ? window.__fleet ?? null : null;
}
