// Trip replay by time: the position at any instant is interpolated between the
// two fixes around it, and a clock maps wall time to track time at 1x-10x. A
// trip with irregular fixes therefore replays at its real pace (traccar-web
// steps one point every 500 ms whatever the gap between them).
import { bearingDeg } from '../lib/geo.js';

export const REPLAY_SPEEDS = [1, 2, 5, 10];

/**
 * Turn history points ({ts, lat, lng, speed?, heading?}) into typed arrays
 * sorted by time; points without a valid time or position are dropped, and of
 * several points with the same time the last is kept.
 */
export function prepareTrack(points) {
  const rows = [];
  for (const p of points ?? []) {
    const t = Date.parse(p.ts);
    if (Number.isNaN(t) || typeof p.lat !== 'number' || typeof p.lng !== 'number') continue;
    rows.push({ t, p });
  }
  rows.sort((a, b) => a.t - b.t);
  const dedup = [];
  for (const r of rows) {
    if (dedup.length && dedup[dedup.length - 1].t === r.t) dedup[dedup.length - 1] = r;
    else dedup.push(r);
  }
  const n = dedup.length;
  const track = {
    length: n,
    times: new Float64Array(n),
    lats: new Float64Array(n),
    lngs: new Float64Array(n),
    speeds: new Float64Array(n),
    headings: new Float64Array(n),
    start: n ? dedup[0].t : 0,
    end: n ? dedup[n - 1].t : 0,
  };
  dedup.forEach(({ t, p }, i) => {
    track.times[i] = t;
    track.lats[i] = p.lat;
    track.lngs[i] = p.lng;
    track.speeds[i] = typeof p.speed === 'number' ? p.speed : NaN;
    track.headings[i] = typeof p.heading === 'number' ? p.heading : NaN;
  });
  return track;
}

/** Index i of the last fix with times[i] <= t (binary search); -1 before the start. */
export function indexAt(track, t) {
  let lo = 0;
  let hi = track.length - 1;
  if (hi < 0 || t < track.times[0]) return -1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (track.times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function lerpAngle(a, b, f) {
  const d = ((((b - a) % 360) + 540) % 360) - 180;
  return (((a + d * f) % 360) + 360) % 360;
}

/**
 * The state at track time `t` (ms since the epoch), clamped to the track:
 * {t, lat, lng, speed, heading, index}. Position and speed are linear in time
 * between the fixes around t; heading follows the shorter arc, and when the
 * fixes carry none it is the bearing from one fix to the next.
 */
export function positionAt(track, t) {
  if (!track.length) return null;
  const tc = Math.min(track.end, Math.max(track.start, t));
  const i = indexAt(track, tc);
  const j = Math.min(i + 1, track.length - 1);
  const t0 = track.times[i];
  const t1 = track.times[j];
  const f = j === i || t1 === t0 ? 0 : (tc - t0) / (t1 - t0);
  const lat = track.lats[i] + (track.lats[j] - track.lats[i]) * f;
  const lng = track.lngs[i] + (track.lngs[j] - track.lngs[i]) * f;
  const s0 = track.speeds[i];
  const s1 = track.speeds[j];
  const speed = Number.isNaN(s0) ? s1 : Number.isNaN(s1) ? s0 : s0 + (s1 - s0) * f;
  let h0 = track.headings[i];
  let h1 = track.headings[j];
  const moved = track.lats[i] !== track.lats[j] || track.lngs[i] !== track.lngs[j];
  const course = moved ? bearingDeg(track.lats[i], track.lngs[i], track.lats[j], track.lngs[j]) : NaN;
  if (Number.isNaN(h0)) h0 = course;
  if (Number.isNaN(h1)) h1 = Number.isNaN(course) ? h0 : course;
  const heading = Number.isNaN(h0) ? (Number.isNaN(h1) ? 0 : h1) : Number.isNaN(h1) ? h0 : lerpAngle(h0, h1, f);
  return { t: tc, lat, lng, speed: Number.isNaN(speed) ? null : speed, heading, index: i };
}

/**
 * A replay clock over [start, end] (track ms). Track time advances by
 * (wall ms elapsed) x speed while playing; changing the speed or seeking
 * rebases, so the position never jumps. Reaching the end pauses.
 * `now` is the wall clock in ms (performance.now in the app, fake in tests).
 */
export function createReplayClock({ start, end, now = () => performance.now(), speed = 1 }) {
  let playing = false;
  let rate = speed;
  let baseTrack = start;
  let baseWall = now();

  const current = () => {
    if (!playing) return baseTrack;
    const t = baseTrack + (now() - baseWall) * rate;
    if (t >= end) {
      playing = false;
      baseTrack = end;
      return end;
    }
    return t;
  };
  const rebase = () => {
    baseTrack = current();
    baseWall = now();
  };

  return {
    time: current,
    get playing() {
      current();
      return playing;
    },
    get speed() {
      return rate;
    },
    get start() {
      return start;
    },
    get end() {
      return end;
    },
    /** 0..1 of the way through the track. */
    progress() {
      return end > start ? (current() - start) / (end - start) : 1;
    },
    play() {
      if (playing) return;
      if (current() >= end) baseTrack = start;
      baseWall = now();
      playing = true;
    },
    pause() {
      rebase();
      playing = false;
    },
    setSpeed(x) {
      if (!(x > 0)) throw new RangeError(`replay speed must be > 0, got ${x}`);
      rebase();
      rate = x;
    },
    seek(t) {
      baseTrack = Math.min(end, Math.max(start, t));
      baseWall = now();
    },
  };
}
