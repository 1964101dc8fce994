// Speed over time for the replayed track (uPlot: canvas, fast for long trips).
// The replay moves its cursor through `cursorRef`; clicking the chart seeks.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export default function SpeedChart({ track, cursorRef, onSeek }) {
  const el = useRef(null);
  const seek = useRef(onSeek);
  seek.current = onSeek;

  useEffect(() => {
    const xs = Array.from(track.times, (ms) => ms / 1000);
    const ys = Array.from(track.speeds, (v) => (Number.isNaN(v) ? null : v));
    const width = el.current.clientWidth || 340;
    const plot = new uPlot({
      width,
      height: 140,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true } },
      axes: [{}, { label: 'km/h', size: 44 }],
      series: [{}, { label: 'Speed', stroke: '#2b6cb0', width: 1.5, fill: 'rgba(43,108,176,0.12)' }],
    }, [xs, ys], el.current);
    const line = document.createElement('div');
    line.className = 'replay-cursor';
    plot.over.appendChild(line);
    cursorRef.current = (ms) => {
      const x = plot.valToPos(ms / 1000, 'x');
      line.style.transform = `translateX(${x}px)`;
    };
    const click = (e) => {
      const rect = plot.over.getBoundingClientRect();
      seek.current(plot.posToVal(e.clientX - rect.left, 'x') * 1000);
    };
    plot.over.addEventListener('click', click);
    return () => {
      cursorRef.current = null;
      plot.over.removeEventListener('click', click);
      plot.destroy();
    };
  }, [track, cursorRef]);

  return <div className="speed-chart" ref={el} data-testid="speed-chart" />;
}
