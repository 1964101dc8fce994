// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';

// The module decides once, when it loads: load it afresh for each case.
const load = async () => {
  vi.resetModules();
  return import('../src/lib/testHooks.js');
};

describe('test hooks', () => {
  afterEach(() => {
    delete window.__fleetTestHooks;
    delete window.__fleet;
  });
  it('are off on a normal page, even when something named __fleet exists', async () => {
    window.__fleet = { map: 'not ours' };
    const h = await load();
    expect(h.testHooksEnabled()).toBe(false);
    expect(h.testProbe()).toBe(null);
  });
  it('only the exact opt-in enables them', async () => {
    window.__fleetTestHooks = 'true';
    expect((await load()).testHooksEnabled()).toBe(false);
    window.__fleetTestHooks = true;
    const h = await load();
    expect(h.testHooksEnabled()).toBe(true);
    expect(h.testProbe()).toBe(null);
    const probe = { idle: false };
    window.__fleet = probe;
    expect(h.testProbe()).toBe(probe);
  });
  it('an opt-in after the bundle loaded changes nothing', async () => {
    const h = await load();
    window.__fleetTestHooks = true;
    window.__fleet = {};
    expect(h.testHooksEnabled()).toBe(false);
    expect(h.testProbe()).toBe(null);
  });
});
