import { describe, expect, it } from 'vitest';
import { createReplayClock, indexAt, positionAt, prepareTrack } from '../src/history/replay.js';

const T0 = Date.parse('2026-05-21T10:00:00Z');
const at = (s) => new Date(T0 + s * 1000).toISOString();

// Irregular fixes: 10 s, then 50 s, then 1 s apart.
const points = [
  { ts: at(0), lat: 0, lng: 0, speed: 0, heading: 90 },
  { ts: at(10), lat: 0, lng: 0.01, speed: 40, heading: 90 },
  { ts: at(60), lat: 0.01, lng: 0.01, speed: 20, heading: 0 },
  { ts: at(61), lat: 0.01, lng: 0.011, speed: 30, heading: 90 },
];

describe('prepareTrack', () => {
  it('sorts by time, drops unusable points and keeps the last of equal times', () => {
    const track = prepareTrack([
      points[2], points[0], { ts: 'bad', lat: 1, lng: 1 }, { ts: at(5), lat: 'x', lng: 1 },
      points[1], { ...points[1], lat: 0.5 }, points[3],
    ]);
    expect(track.length).toBe(4);
    expect(Array.from(track.times)).toEqual([T0, T0 + 10000, T0 + 60000, T0 + 61000]);
    expect(track.lats[1]).toBe(0.5);
    expect(track.start).toBe(T0);
    expect(track.end).toBe(T0 + 61000);
  });
  it('handles an empty track', () => {
    const track = prepareTrack([]);
    expect(track.length).toBe(0);
    expect(positionAt(track, T0)).toBe(null);
    expect(indexAt(track, T0)).toBe(-1);
  });
});

describe('positionAt', () => {
  const track = prepareTrack(points);
  it('finds the fix at or before a time', () => {
    expect(indexAt(track, T0 - 1)).toBe(-1);
    expect(indexAt(track, T0)).toBe(0);
    expect(indexAt(track, T0 + 9999)).toBe(0);
    expect(indexAt(track, T0 + 10000)).toBe(1);
    expect(indexAt(track, T0 + 70000)).toBe(3);
  });
  it('interpolates position and speed linearly in time, not per point', () => {
    const p = positionAt(track, T0 + 5000);
    expect(p.lng).toBeCloseTo(0.005, 12);
    expect(p.lat).toBe(0);
    expect(p.speed).toBeCloseTo(20, 12);
    expect(p.index).toBe(0);
    // A quarter of the way through the 50 s gap.
    const q = positionAt(track, T0 + 22500);
    expect(q.lat).toBeCloseTo(0.0025, 12);
    expect(q.speed).toBeCloseTo(35, 12);
  });
  it('turns the heading along the shorter arc', () => {
    // 90 -> 0 halfway: 45, not 225.
    expect(positionAt(track, T0 + 35000).heading).toBeCloseTo(45, 9);
    const wrap = prepareTrack([
      { ts: at(0), lat: 0, lng: 0, heading: 350 },
      { ts: at(10), lat: 0, lng: 0.001, heading: 10 },
    ]);
    expect(positionAt(wrap, T0 + 5000).heading).toBeCloseTo(0, 9);
  });
  it('uses the bearing between fixes when they carry no heading', () => {
    const north = prepareTrack([{ ts: at(0), lat: 0, lng: 0 }, { ts: at(10), lat: 0.01, lng: 0 }]);
    expect(positionAt(north, T0 + 3000).heading).toBeCloseTo(0, 6);
    const east = prepareTrack([{ ts: at(0), lat: 0, lng: 0 }, { ts: at(10), lat: 0, lng: 0.01 }]);
    expect(positionAt(east, T0 + 3000).heading).toBeCloseTo(90, 6);
    expect(positionAt(east, T0 + 3000).speed).toBe(null);
  });
  it('clamps outside the track', () => {
    expect(positionAt(track, T0 - 5000)).toMatchObject({ t: T0, lat: 0, lng: 0 });
    expect(positionAt(track, T0 + 999999)).toMatchObject({ t: T0 + 61000, lat: 0.01, lng: 0.011 });
  });
});

describe('replay clock', () => {
  const fake = () => {
    let t = 1000;
    return { now: () => t, advance: (ms) => { t += ms; } };
  };
  it('advances by wall time times the speed', () => {
    const w = fake();
    const c = createReplayClock({ start: T0, end: T0 + 61000, now: w.now });
    expect(c.time()).toBe(T0);
    w.advance(500);
    expect(c.time()).toBe(T0); // paused
    c.play();
    w.advance(2000);
    expect(c.time()).toBe(T0 + 2000);
    c.setSpeed(10);
    expect(c.time()).toBe(T0 + 2000); // no jump on a speed change
    w.advance(1000);
    expect(c.time()).toBe(T0 + 12000);
    c.setSpeed(5);
    w.advance(1000);
    expect(c.time()).toBe(T0 + 17000);
    c.pause();
    w.advance(5000);
    expect(c.time()).toBe(T0 + 17000);
    expect(c.speed).toBe(5);
  });
  it('replays a 61 s trip in 6.1 s at 10x and pauses at the end', () => {
    const w = fake();
    const c = createReplayClock({ start: T0, end: T0 + 61000, now: w.now });
    c.setSpeed(10);
    c.play();
    w.advance(6000);
    expect(c.playing).toBe(true);
    expect(c.progress()).toBeCloseTo(60 / 61, 9);
    w.advance(200);
    expect(c.time()).toBe(T0 + 61000);
    expect(c.playing).toBe(false);
    // Play again from the start once finished.
    c.play();
    expect(c.time()).toBe(T0);
  });
  it('seeks within bounds while playing', () => {
    const w = fake();
    const c = createReplayClock({ start: T0, end: T0 + 61000, now: w.now });
    c.play();
    c.seek(T0 + 30000);
    w.advance(1000);
    expect(c.time()).toBe(T0 + 31000);
    c.seek(T0 - 100);
    expect(c.time()).toBe(T0);
    c.seek(T0 + 1e9);
    expect(c.time()).toBe(T0 + 61000);
  });
  it('refuses a non-positive speed', () => {
    const c = createReplayClock({ start: 0, end: 10, now: () => 0 });
    expect(() => c.setSpeed(0)).toThrow(RangeError);
    expect(() => c.setSpeed(-2)).toThrow(RangeError);
  });
});
