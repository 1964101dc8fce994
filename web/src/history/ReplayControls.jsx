// Play/pause, 1x-10x, a scrubber and the speed chart, all driven by one
// replay clock; each animation frame moves the map marker and the chart cursor.
import { useEffect, useMemo, useRef, useState } from 'react';
import { createReplayClock, positionAt, prepareTrack, REPLAY_SPEEDS } from './replay.js';
import { useReplayBus } from './replayBus.js';
import SpeedChart from './SpeedChart.jsx';
import { formatSpeed, formatTime } from '../lib/format.js';
import { testProbe } from '../lib/testHooks.js';

export default function ReplayControls({ points, onClose }) {
  const bus = useReplayBus();
  const track = useMemo(() => prepareTrack(points), [points]);
  const clock = useMemo(() => createReplayClock({ start: track.start, end: track.end }), [track]);
  const [, setTick] = useState(0);
  const cursorRef = useRef(null);

  useEffect(() => {
    const route = [];
    for (let i = 0; i < track.length; i++) route.push([track.lngs[i], track.lats[i]]);
    bus.setRoute(route);
    return () => bus.setRoute(null);
  }, [bus, track]);

  // One frame loop for the replay's life: the marker every frame, React (the
  // scrubber and readouts) at most ten times a second.
  useEffect(() => {
    let frame;
    let lastRender = 0;
    let lastT = NaN;
    const fleetProbe = testProbe();
    const probe = fleetProbe ? (fleetProbe.replay = {}) : null;
    const step = (now) => {
      const t = clock.time();
      const wall = performance.now();
      const pos = positionAt(track, t);
      // Paused, nothing changes: leave the map alone so it can go idle.
      if (t !== lastT) {
        lastT = t;
        bus.setPosition(pos);
        cursorRef.current?.(t);
      }
      if (probe) Object.assign(probe, pos, { wall, playing: clock.playing, speed: clock.speed, progress: clock.progress() });
      if (now - lastRender > 100) {
        lastRender = now;
        setTick((x) => x + 1);
      }
      frame = requestAnimationFrame(step);
    };
    frame = requestAnimationFrame(step);
    return () => {
      cancelAnimationFrame(frame);
      if (fleetProbe?.replay === probe) delete fleetProbe.replay;
    };
  }, [bus, clock, track]);

  const t = clock.time();
  const pos = positionAt(track, t);
  const playing = clock.playing;

  return (
    <div className="replay" data-testid="replay">
      <div className="replay-row">
        <button data-testid="replay-play" onClick={() => { if (playing) clock.pause(); else clock.play(); setTick((x) => x + 1); }}>
          {playing ? 'Pause' : 'Play'}
        </button>
        <div role="group" aria-label="Replay speed" className="speeds">
          {REPLAY_SPEEDS.map((s) => (
            <button key={s} data-speed={s} className={clock.speed === s ? 'on' : ''} aria-pressed={clock.speed === s}
              onClick={() => { clock.setSpeed(s); setTick((x) => x + 1); }}>{s}x</button>
          ))}
        </div>
        <button className="link" onClick={onClose}>Close</button>
      </div>
      <input type="range" className="scrubber" aria-label="Replay position" data-testid="replay-scrubber"
        min={track.start} max={track.end} step={1000} value={Math.round(t)}
        onChange={(e) => { clock.seek(Number(e.target.value)); setTick((x) => x + 1); }} />
      <div className="replay-row muted small">
        <span data-testid="replay-time">{formatTime(new Date(t))}</span>
        <span>{formatSpeed(pos?.speed)}</span>
      </div>
      <SpeedChart track={track} cursorRef={cursorRef} onSeek={(ms) => clock.seek(ms)} />
    </div>
  );
}
