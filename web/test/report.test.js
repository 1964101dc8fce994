import { describe, expect, it } from 'vitest';
import { CSV_COLUMNS, csvField, reportFileName, reportTotals, tripsToCSV } from '../src/reports/reportModel.js';

const trips = [
  { vehicle_id: 'v-1', start: '2026-05-21T08:00:00Z', end: '2026-05-21T08:30:00Z', duration_s: 1800,
    distance_m: 20000, moving_s: 1500, idle_s: 300, max_speed_kmh: 80, avg_speed_kmh: 48, fuel_l: 1.6 },
  { vehicle_id: 'v-2', start: '2026-05-21T09:00:00Z', end: '2026-05-21T10:00:00Z', duration_s: 3600,
    distance_m: 55000, moving_s: 3300, idle_s: 300, max_speed_kmh: 95.5, avg_speed_kmh: 60, fuel_l: 4.4 },
];

describe('reportTotals', () => {
  it('sums and takes the max', () => {
    const t = reportTotals(trips);
    expect(t.trips).toBe(2);
    expect(t.distance_m).toBe(75000);
    expect(t.duration_s).toBe(5400);
    expect(t.moving_s).toBe(4800);
    expect(t.idle_s).toBe(600);
    expect(t.fuel_l).toBeCloseTo(6.0, 12);
    expect(t.max_speed_kmh).toBe(95.5);
    // 75 km over 4800 s of moving = 56.25 km/h.
    expect(t.avg_speed_kmh).toBeCloseTo(56.25, 12);
  });
  it('falls back to duration for the average when moving time is unknown', () => {
    const t = reportTotals([{ distance_m: 10000, duration_s: 1800 }]);
    expect(t.avg_speed_kmh).toBeCloseTo(20, 12);
    expect(t.max_speed_kmh).toBe(0);
  });
  it('is all zeros for no trips and ignores non-numbers', () => {
    expect(reportTotals([])).toEqual({ trips: 0, distance_m: 0, duration_s: 0, moving_s: 0, idle_s: 0,
      fuel_l: 0, max_speed_kmh: 0, avg_speed_kmh: 0 });
    expect(reportTotals([{ distance_m: 'x', fuel_l: null, duration_s: 10 }]).distance_m).toBe(0);
  });
});

describe('CSV', () => {
  it('quotes fields as RFC 4180 says and defuses formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvField('-1+2,3')).toBe('"\'-1+2,3"');
    expect(csvField(-1.5)).toBe('-1.5');
    expect(csvField(NaN)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(null)).toBe('');
  });
  it('writes the server header and one CRLF row per trip', () => {
    const csv = tripsToCSV(trips);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('vehicle_id,start,end,duration_s,distance_m,idle_s,max_speed_kmh,avg_speed_kmh,fuel_l');
    expect(lines[0].split(',')).toEqual(CSV_COLUMNS);
    expect(lines[1]).toBe('v-1,2026-05-21T08:00:00Z,2026-05-21T08:30:00Z,1800,20000,300,80,48,1.6');
    expect(lines[2]).toBe('v-2,2026-05-21T09:00:00Z,2026-05-21T10:00:00Z,3600,55000,300,95.5,60,4.4');
    expect(lines[3]).toBe('');
    expect(lines.length).toBe(4);
  });
  it('leaves missing values empty', () => {
    expect(tripsToCSV([{ vehicle_id: 'x,y' }]).split('\r\n')[1]).toBe('"x,y",,,,,,,,');
  });
  it('names the file after the range', () => {
    expect(reportFileName('2026-05-20T00:00:00Z', '2026-05-21T12:00:00Z')).toBe('trips_2026-05-20_2026-05-21.csv');
  });
});
