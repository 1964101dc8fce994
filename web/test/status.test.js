import { describe, expect, it } from 'vitest';
import {
  countByStatus, filterVehicles, OFFLINE_AFTER_S, STATUS_COLORS, statusColor, vehicleStatus,
} from '../src/vehicles/status.js';

const NOW = Date.parse('2026-05-21T12:00:00Z');
const ago = (s) => new Date(NOW - s * 1000).toISOString();

describe('vehicleStatus', () => {
  it('keeps the server status of a recent vehicle', () => {
    expect(vehicleStatus({ status: 'idle', ts: ago(10), speed: 50 }, NOW)).toBe('idle');
  });
  it('turns a silent vehicle offline whatever the server said last', () => {
    expect(vehicleStatus({ status: 'moving', ts: ago(OFFLINE_AFTER_S + 1) }, NOW)).toBe('offline');
    expect(vehicleStatus({ status: 'moving', ts: ago(OFFLINE_AFTER_S - 1) }, NOW)).toBe('moving');
  });
  it('derives a status when the server sent none', () => {
    expect(vehicleStatus({ ts: ago(5), speed: 30 }, NOW)).toBe('moving');
    expect(vehicleStatus({ ts: ago(5), speed: 2, ignition: true }, NOW)).toBe('idle');
    expect(vehicleStatus({ ts: ago(5), speed: 0, ignition: false }, NOW)).toBe('stopped');
    expect(vehicleStatus({ ts: ago(5) }, NOW)).toBe('stopped');
    expect(vehicleStatus({ speed: 30 }, NOW)).toBe('offline');
    expect(vehicleStatus(null, NOW)).toBe('offline');
  });
  it('prefers last_seen over ts', () => {
    expect(vehicleStatus({ ts: ago(5), last_seen: ago(OFFLINE_AFTER_S * 2), speed: 30 }, NOW)).toBe('offline');
  });
});

describe('status colours', () => {
  it('gives each status its own colour and offline for unknown ones', () => {
    const colours = new Set(Object.values(STATUS_COLORS));
    expect(colours.size).toBe(4);
    expect(statusColor('moving')).toBe(STATUS_COLORS.moving);
    expect(statusColor('bogus')).toBe(STATUS_COLORS.offline);
  });
});

describe('filterVehicles', () => {
  const list = [
    { vehicle_id: 'v-010', status: 'moving', ts: ago(1), driver_id: 'alice' },
    { vehicle_id: 'v-002', status: 'idle', ts: ago(1) },
    { vehicle_id: 'truck-1', status: 'stopped', ts: ago(1), driver_id: 'Bob' },
    { vehicle_id: 'v-001', status: 'moving', ts: ago(1) },
  ];
  it('sorts by id and filters by substring of id or driver, case-insensitively', () => {
    expect(filterVehicles(list).map((v) => v.vehicle_id)).toEqual(['truck-1', 'v-001', 'v-002', 'v-010']);
    expect(filterVehicles(list, { query: 'V-0' }).map((v) => v.vehicle_id)).toEqual(['v-001', 'v-002', 'v-010']);
    expect(filterVehicles(list, { query: 'bob' }).map((v) => v.vehicle_id)).toEqual(['truck-1']);
  });
  it('filters by a set of statuses', () => {
    const moving = filterVehicles(list, { statuses: new Set(['moving']), now: NOW });
    expect(moving.map((v) => v.vehicle_id)).toEqual(['v-001', 'v-010']);
  });
  it('counts by status', () => {
    expect(countByStatus(list, NOW)).toEqual({ moving: 2, idle: 1, stopped: 1, offline: 0 });
  });
});
