// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core (never `playwright install`: it downloads a browser), with
// the flags that give MapLibre WebGL2 on SwiftShader, and a fresh profile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-swiftshader',
];

/** Opt a page in to the app's test hooks (src/lib/testHooks.js) before any of its scripts run. */
export const enableTestHooks = (page) => page.addInitScript(() => { window.__fleetTestHooks = true; });

/**
 * Chromium with one page that has the test hooks enabled. Only that page:
 * other pages of the context are what a user gets.
 */
export async function launch({ viewport = { width: 1400, height: 900 }, downloadsPath } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'fleet-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    acceptDownloads: true,
    downloadsPath,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await enableTestHooks(page);
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Resolve when `fn` (evaluated in the page) returns a truthy value; reject after `timeout` ms. */
export async function waitFor(page, what, fn, arg, { timeout = 30000, polling = 200 } = {}) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling });
    return await handle.jsonValue();
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`, { cause: e });
  }
}

/** The map has drawn everything it has and gone idle (exposed by MapView as __fleet.idle). */
export async function waitMapIdle(page, timeout = 30000) {
  return waitFor(page, 'the map to go idle', () => window.__fleet?.loaded && window.__fleet.idle, undefined, { timeout });
}

/**
 * Hold the live vehicle layer still (the store keeps filling), wait for the
 * map to go idle, run `fn`, release. A live map re-renders with every batch
 * and is otherwise never idle for long. The idle waited for comes after a
 * repaint asked for here: `idle` alone may still be true from before a camera
 * move or a source change the caller just made, whose frame is not drawn yet.
 */
export async function whileHeld(page, fn, timeout = 30000) {
  const before = await page.evaluate(() => {
    window.__fleet.holdLive = true;
    window.__fleet.map.triggerRepaint();
    return window.__fleet.idleCount;
  });
  try {
    await waitFor(page, 'the map to go idle',
      (n) => window.__fleet.idle && window.__fleet.idleCount > n, before, { timeout });
    return await fn();
  } finally {
    await page.evaluate(() => { if (window.__fleet) window.__fleet.holdLive = false; });
  }
}
