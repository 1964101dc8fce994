#!/usr/bin/env python3
"""Benchmark: fleet.parse() (libfleet's parser and validator through the
binding) against json.loads plus the same validation written in Python,
over the same payloads in the same run. Prints records/s and the ratio.

    PYTHONPATH=build/bindings/python /usr/bin/python3 bench/bench_python_parse.py [seconds]

The Python validator applies the rules of include/fleet/telemetry.h: at most
4096 bytes, no NUL byte, UTF-8, a JSON object nested at most 4 deep without
duplicate keys; v == 1; ts RFC 3339 (calendar-checked, offsets, 1-9
fraction digits) to integer nanoseconds; lat/lng finite numbers in range;
each optional field checked, dropped with a warning when invalid; other
numeric/boolean members kept as extras when their names are acceptable. It
returns a dict of the same values fleet.parse() puts in a Telemetry record,
and the benchmark checks that both agree before timing them.
"""

import datetime
import json
import math
import re
import sys
import time

import fleet

MAX_BYTES = 4096
MAX_DEPTH = 4
MAX_EXTRAS = 16
ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
EXTRA_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\Z")
RESERVED = {"time", "fleet_id", "device_type"}
TS_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
                   r"(?:([Zz])|([+-])(\d\d):(\d\d))\Z")
EPOCH = datetime.datetime(1970, 1, 1)
OPTIONAL = {
    # name: (low, high, high inclusive)
    "speed": (0.0, math.inf, True),
    "heading": (0.0, 360.0, False),
    "odometer": (0.0, math.inf, True),
    "battery_v": (0.0, math.inf, True),
    "engine_temp": (-60.0, 250.0, True),
    "fuel_level": (0.0, 100.0, True),
}
KNOWN = {"v", "ts", "lat", "lng", "ignition", "driver_id", "vehicle_id"} | set(OPTIONAL)


class Invalid(ValueError):
    pass


def no_duplicates(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        raise Invalid("duplicate key")
    return d


def depth(obj, level=1):
    if level > MAX_DEPTH:
        raise Invalid("nested too deep")
    if isinstance(obj, dict):
        for v in obj.values():
            if isinstance(v, (dict, list)):
                depth(v, level + 1)
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)):
                depth(v, level + 1)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_ts(s):
    m = TS_RE.match(s)
    if not m:
        raise Invalid("ts: not RFC 3339")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if hour > 23 or minute > 59 or second > 59:
        raise Invalid("ts: field out of range")
    try:
        dt = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise Invalid("ts: not a real date") from None
    frac = m.group(7) or ""
    ns = int(frac.ljust(9, "0")) if frac else 0
    offset = 0
    if m.group(9):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            raise Invalid("ts: offset out of range")
        offset = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    delta = dt - EPOCH
    total = ((delta.days * 86400 + delta.seconds - offset) * 1_000_000_000) + ns
    if not -(2**63) <= total < 2**63:
        raise Invalid("ts: outside the int64 ns range")
    return total


def python_parse(payload, hook=no_duplicates):
    """json.loads plus libfleet's validation rules, in Python."""
    if len(payload) > MAX_BYTES:
        raise Invalid("too big")
    if b"\0" in payload:
        raise Invalid("NUL byte")
    obj = json.loads(payload, object_pairs_hook=hook)
    if not isinstance(obj, dict):
        raise Invalid("not an object")
    depth(obj)
    if obj.get("v") != 1 or not is_number(obj.get("v")):
        raise Invalid("v: unsupported version")
    ts = obj.get("ts")
    if ts is None:
        raise Invalid("ts: missing")
    if not isinstance(ts, str):
        raise Invalid("ts: not a string")
    rec = {"ts_ns": parse_ts(ts)}
    for name, low, high in (("lat", -90.0, 90.0), ("lng", -180.0, 180.0)):
        v = obj.get(name)
        if v is None:
            raise Invalid(name + ": missing")
        if not is_number(v):
            raise Invalid(name + ": not a number")
        if not (low <= v <= high):
            raise Invalid(name + ": out of range")
        rec[name] = float(v)
    warnings = []
    vid = obj.get("vehicle_id")
    if vid is not None and not (isinstance(vid, str) and ID_RE.match(vid)):
        warnings.append("vehicle_id: invalid; field dropped")
        vid = None
    rec["vehicle_id"] = vid or ""
    for name, (low, high, incl) in OPTIONAL.items():
        v = obj.get(name)
        if v is not None and not (is_number(v) and math.isfinite(v) and low <= v
                                  and (v <= high if incl else v < high)):
            warnings.append(name + ": invalid; field dropped")
            v = None
        rec[name] = None if v is None else float(v)
    ign = obj.get("ignition")
    if ign is not None and not isinstance(ign, bool):
        warnings.append("ignition: not a boolean; field dropped")
        ign = None
    rec["ignition"] = ign
    drv = obj.get("driver_id")
    if drv is not None and not (isinstance(drv, str) and 0 < len(drv.encode()) <= 64
                                and drv.isprintable()):
        warnings.append("driver_id: invalid; field dropped")
        drv = None
    rec["driver_id"] = drv
    extras = {}
    for k, v in obj.items():
        if k in KNOWN or v is None:
            continue
        if isinstance(v, bool) or (is_number(v) and math.isfinite(v)):
            if not EXTRA_RE.match(k) or k in RESERVED:
                warnings.append(k + ": not a usable name; field dropped")
            elif len(extras) == MAX_EXTRAS:
                warnings.append(k + ": too many extra fields; field dropped")
            else:
                extras[k] = v if isinstance(v, bool) else float(v)
        else:
            warnings.append(k + ": not a number or boolean; field dropped")
    rec["extras"] = extras
    rec["warnings"] = warnings
    return rec


def payloads():
    """Same payloads for both: full (with extras), typical, minimal, one with
    a dropped field."""
    out = []
    for i in range(200):
        ts = fleet.format_time(1779359400 * 10**9 + i * 1_250_000_000)
        out.append(('{"v":1,"vehicle_id":"v-%03d","ts":"%s","lat":%.5f,"lng":%.5f,"speed":%.1f,'
                    '"heading":%d,"ignition":true,"odometer":%.1f,"battery_v":12.4,'
                    '"engine_temp":88.5,"fuel_level":63.0,"rpm":%d,"door_open":false}'
                    % (i % 50, ts, 23.8 + i / 1e4, 90.4 + i / 1e4, i % 90 + 0.5, i % 360,
                       123456.7 + i, 800 + i)).encode())
        out.append(('{"v":1,"vehicle_id":"v-%03d","ts":"%s","lat":%.5f,"lng":%.5f,"speed":%.1f,'
                    '"heading":%d}' % (i % 50, ts, 23.8 - i / 1e4, 90.4, i % 70 + 0.25,
                                       (i * 7) % 360)).encode())
        out.append(('{"v":1,"ts":"%s","lat":%.4f,"lng":%.4f}' % (ts, i / 100, -i / 100)).encode())
        out.append(('{"v":1,"vehicle_id":"v-%03d","ts":"%s","lat":1.5,"lng":2.5,"speed":-%d}'
                    % (i % 50, ts, i + 1)).encode())
    return out


def check_same(data):
    for p in data:
        a = fleet.parse(p)
        b = python_parse(p)
        for k in ("vehicle_id", "ts_ns", "lat", "lng", "speed", "heading", "ignition",
                  "odometer", "battery_v", "engine_temp", "fuel_level", "driver_id", "extras"):
            if getattr(a, k) != b[k]:
                raise SystemExit("disagree on %s for %r: %r != %r" % (k, p, getattr(a, k), b[k]))
        if len(a.warnings) != len(b["warnings"]):
            raise SystemExit("disagree on warnings for %r" % (p,))


def rate(fn, data, seconds):
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for p in data:
            fn(p)
        n += len(data)
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    data = payloads()
    check_same(data)
    size = sum(len(p) for p in data) / len(data)
    print("bench_python_parse: libfleet %s, Python %s, %d payloads (mean %.0f bytes), %.1f s each"
          % (fleet.__version__, sys.version.split()[0], len(data), size, seconds))
    # Interleave the runs so that load on the machine hits both alike.
    py = fl = loads = lax = 0.0

    def python_parse_lax(p):
        return python_parse(p, hook=None)

    for _ in range(3):
        loads = max(loads, rate(json.loads, data, seconds / 3))
        lax = max(lax, rate(python_parse_lax, data, seconds / 3))
        py = max(py, rate(python_parse, data, seconds / 3))
        fl = max(fl, rate(fleet.parse, data, seconds / 3))
    print("  json.loads alone (no validation)                  %10.0f records/s" % loads)
    print("  json.loads + Python validation, duplicate keys")
    print("    silently merged (not the same rules)            %10.0f records/s" % lax)
    print("  json.loads + Python validation (baseline)         %10.0f records/s" % py)
    print("  fleet.parse (parse + validate)                    %10.0f records/s  "
          "%.2fx the baseline" % (fl, fl / py))


if __name__ == "__main__":
    main()
