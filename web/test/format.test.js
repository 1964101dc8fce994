import { describe, expect, it } from 'vitest';
import {
  formatAgo, formatDistance, formatDuration, formatHeading, formatNumber, formatSpeed, formatTime,
  fromInputValue, toInputValue, MISSING,
} from '../src/lib/format.js';

describe('formatDuration', () => {
  it('formats seconds, minutes, hours and days', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(75)).toBe('1m 15s');
    expect(formatDuration(3599)).toBe('59m 59s');
    expect(formatDuration(3725)).toBe('1h 02m');
    expect(formatDuration(90061)).toBe('1d 01h');
  });
  it('shows a dash for missing or negative values', () => {
    expect(formatDuration(undefined)).toBe(MISSING);
    expect(formatDuration(-1)).toBe(MISSING);
    expect(formatDuration(NaN)).toBe(MISSING);
  });
});

describe('formatDistance', () => {
  it('uses metres below 1 km, then km with 2 or 1 decimals', () => {
    expect(formatDistance(0)).toBe('0 m');
    expect(formatDistance(999.4)).toBe('999 m');
    expect(formatDistance(1000)).toBe('1.00 km');
    expect(formatDistance(9876)).toBe('9.88 km');
    expect(formatDistance(12345)).toBe('12.3 km');
    expect(formatDistance(null)).toBe(MISSING);
  });
});

describe('formatSpeed and formatHeading', () => {
  it('rounds speeds to whole km/h', () => {
    expect(formatSpeed(45.6)).toBe('46 km/h');
    expect(formatSpeed(0)).toBe('0 km/h');
    expect(formatSpeed('45')).toBe(MISSING);
  });
  it('normalises headings and names the compass point', () => {
    expect(formatHeading(0)).toBe('0° N');
    expect(formatHeading(225)).toBe('225° SW');
    expect(formatHeading(-90)).toBe('270° W');
    expect(formatHeading(359.6)).toBe('0° N');
    expect(formatHeading(22)).toBe('22° N');
    expect(formatHeading(23)).toBe('23° NE');
  });
  it('formats numbers with a unit', () => {
    expect(formatNumber(12.345, 'V')).toBe('12.3 V');
    expect(formatNumber(63, '%', 0)).toBe('63 %');
    expect(formatNumber(undefined, 'V')).toBe(MISSING);
  });
});

describe('times', () => {
  it('formats RFC 3339 in UTC', () => {
    expect(formatTime('2026-05-21T10:30:05Z')).toBe('2026-05-21 10:30:05');
    expect(formatTime('2026-05-21T23:59:59+02:00')).toBe('2026-05-21 21:59:59');
    expect(formatTime('not a time')).toBe(MISSING);
    expect(formatTime(null)).toBe(MISSING);
  });
  it('says how long ago', () => {
    const now = Date.parse('2026-05-21T12:00:00Z');
    expect(formatAgo('2026-05-21T11:59:58Z', now)).toBe('just now');
    expect(formatAgo('2026-05-21T11:59:18Z', now)).toBe('42s ago');
    expect(formatAgo('2026-05-21T11:55:00Z', now)).toBe('5m ago');
    expect(formatAgo('2026-05-21T09:00:00Z', now)).toBe('3h ago');
    expect(formatAgo('2026-05-19T12:00:00Z', now)).toBe('2d ago');
    expect(formatAgo('2026-05-21T12:00:30Z', now)).toBe('just now');
  });
  it('round-trips datetime-local values as UTC', () => {
    const d = new Date('2026-05-21T07:04:00Z');
    expect(toInputValue(d)).toBe('2026-05-21T07:04');
    expect(fromInputValue('2026-05-21T07:04')).toBe('2026-05-21T07:04:00Z');
    expect(fromInputValue('2026-05-21T07:04:09')).toBe('2026-05-21T07:04:09Z');
    expect(fromInputValue('')).toBe(null);
    expect(fromInputValue('garbage')).toBe(null);
  });
});
