#!/usr/bin/env python3
"""Write a deterministic MQTT load for fleetd tests and benchmarks.

Each output line is "fleet/ID/telemetry<TAB>PAYLOAD" (fleetd_pub's input).

  fleetd_load.py --vehicles N --count M [--interval S] [--end-ago S]
                 [--park-steps A] [--drive-steps B] [--bad-every K]
                 [--prefix v-] [--summary FILE] OUT

Message k belongs to vehicle k % N at step k // N, so the messages come in
device-time order, round robin over the vehicles. Step s of a vehicle is at
END - (last_step - s) * interval (+ the vehicle's own millisecond offset), so
the newest message is --end-ago seconds old (InfluxDB keeps the raw tier 7
days). A vehicle is parked (speed 0, ignition off) for its first A steps,
drives east at 36 km/h (speed 36, ignition on) for B steps, then parks again:
with A >= 1, B * interval >= 180 s and 300 s of parking after it, the trip
detector sees exactly one trip per vehicle, ended by parking.

With --bad-every K every K-th message is replaced by a malformed one, in turn
of the kinds fleetd rejects (parse, missing, type, range, version, toobig,
vehicle_id). The summary (JSON) gives the count of good messages, the counts
per vehicle, the rejections per reason and the time range.
"""
import argparse
import json
import math
import sys
import time

BAD_KINDS = ["parse", "missing", "type", "range", "version", "toobig", "vehicle_id"]


def iso(ns):
    s, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(s)
    ms = frac // 1_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % ms


def bad_payload(kind, vid, ts):
    if kind == "parse":
        return '{"v":1,"ts":"%s","lat":23.8,' % ts  # truncated JSON
    if kind == "missing":
        return '{"v":1,"lat":23.8,"lng":90.4}'
    if kind == "type":
        return '{"v":1,"ts":"%s","lat":"23.8","lng":90.4}' % ts
    if kind == "range":
        return '{"v":1,"ts":"%s","lat":95.5,"lng":90.4}' % ts
    if kind == "version":
        return '{"v":2,"ts":"%s","lat":23.8,"lng":90.4}' % ts
    if kind == "toobig":
        return '{"v":1,"ts":"%s","lat":23.8,"lng":90.4,"note":"%s"}' % (ts, "x" * 5000)
    if kind == "vehicle_id":
        return '{"v":1,"vehicle_id":"%s-other","ts":"%s","lat":23.8,"lng":90.4}' % (vid, ts)
    raise ValueError(kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vehicles", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--end-ago", type=float, default=60.0)
    ap.add_argument("--park-steps", type=int, default=2)
    ap.add_argument("--drive-steps", type=int, default=1 << 30)
    ap.add_argument("--bad-every", type=int, default=0)
    ap.add_argument("--prefix", default="v-")
    ap.add_argument("--width", type=int, default=0)
    ap.add_argument("--lat", type=float, default=23.7806)
    ap.add_argument("--lng", type=float, default=90.2794)
    ap.add_argument("--summary")
    ap.add_argument("out")
    a = ap.parse_args()

    n, m = a.vehicles, a.count
    width = a.width or max(4, len(str(n - 1)))
    steps = (m + n - 1) // n
    end_ns = int((time.time() - a.end_ago) * 1e9)
    interval_ns = int(a.interval * 1e9)
    start_ns = end_ns - (steps - 1) * interval_ns
    ids = ["%s%0*d" % (a.prefix, width, i) for i in range(n)]
    # Each vehicle starts on its own small grid cell so positions differ.
    base = []
    for i in range(n):
        row, col = divmod(i, 100)
        base.append((a.lat + 0.002 * row, a.lng + 0.002 * col))
    good = {}
    rejected = {k: 0 for k in BAD_KINDS}
    deg_per_step = 10.0 * a.interval / (111320.0 * math.cos(math.radians(a.lat)))
    bad_i = 0
    first_ns = last_ns = None
    with open(a.out, "w") as f:
        for k in range(m):
            v, s = k % n, k // n
            vid = ids[v]
            ns = start_ns + s * interval_ns + v % 1000 * 1_000_000
            ts = iso(ns)
            first_ns = ns if first_ns is None else min(first_ns, ns)
            last_ns = ns if last_ns is None else max(last_ns, ns)
            topic = "fleet/%s/telemetry" % vid
            if a.bad_every and (k + 1) % a.bad_every == 0:
                kind = BAD_KINDS[bad_i % len(BAD_KINDS)]
                bad_i += 1
                rejected[kind] += 1
                f.write("%s\t%s\n" % (topic, bad_payload(kind, vid, ts)))
                continue
            driving = a.park_steps <= s < a.park_steps + a.drive_steps
            moved = min(max(s - a.park_steps, 0), a.drive_steps)
            lat, lng = base[v][0], base[v][1] + moved * deg_per_step
            p = {
                "v": 1,
                "ts": ts,
                "lat": round(lat, 6),
                "lng": round(lng, 6),
                "speed": 36.0 if driving else 0.0,
                "heading": 90,
                "ignition": driving,
                "battery_v": 12.6,
                "fuel_level": round(80.0 - 0.01 * moved, 3),
            }
            f.write("%s\t%s\n" % (topic, json.dumps(p, separators=(",", ":"))))
            good[vid] = good.get(vid, 0) + 1
    if a.summary:
        with open(a.summary, "w") as f:
            json.dump({"good": sum(good.values()), "per_vehicle": good, "rejected": rejected,
                       "first_ns": first_ns, "last_ns": last_ns, "vehicles": ids}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
