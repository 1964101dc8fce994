#!/usr/bin/env python3
"""parse_payload: parse and validate telemetry payloads (the v1 JSON of
DESIGN.md) and print what they hold -- parse_payload.c, in Python.

    parse_payload.py '{"v":1,"ts":"2026-05-21T10:30:00Z","lat":23.8103,"lng":90.4125}'
    parse_payload.py < payloads.jsonl          (one payload per line)

Exit status 0 when every payload was accepted, 1 when one was rejected,
2 for a usage error.
"""

import sys

import fleet

UNITS = {"speed": "km/h", "heading": "deg", "odometer": "km", "battery_v": "V",
         "engine_temp": "C", "fuel_level": "%"}


def number(name, value, unit=""):
    print("  %-12s %.10g%s" % (name, value, " " + unit if unit else ""))


def show(n, payload):
    """Parse one payload and print the result; returns 0 when accepted."""
    try:
        rec = fleet.parse(payload)
    except fleet.Error as e:
        # The class (and e.code) says what kind of failure; the message says exactly why.
        print("payload %d: rejected: %s (%s)" % (n, e, e.status_name))
        return 1
    print("payload %d: accepted" % n)
    print("  %-12s %s" % ("vehicle_id", rec.vehicle_id or "(none)"))
    print("  %-12s %s" % ("ts", rec.time))
    number("lat", rec.lat)
    number("lng", rec.lng)
    # Absent optional fields are None.
    for name in ("speed", "heading"):
        if getattr(rec, name) is not None:
            number(name, getattr(rec, name), UNITS[name])
    if rec.ignition is not None:
        print("  %-12s %s" % ("ignition", "on" if rec.ignition else "off"))
    for name in ("odometer", "battery_v", "engine_temp", "fuel_level"):
        if getattr(rec, name) is not None:
            number(name, getattr(rec, name), UNITS[name])
    if rec.driver_id is not None:
        print("  %-12s %s" % ("driver_id", rec.driver_id))
    # Further numeric and boolean members of the payload (CAN data).
    for name, value in rec.extras.items():
        if isinstance(value, bool):
            print("  %-12s %s (extra)" % (name, "true" if value else "false"))
        else:
            print("  %-12s %.10g (extra)" % (name, value))
    for w in rec.warnings:
        print("  warning      %s" % w)
    # Line protocol needs a vehicle id (a tag); MQTT ingest takes it from the topic.
    if not rec.vehicle_id:
        rec.vehicle_id = "unknown"
    print("  line         %s" % rec.to_line(), end="")
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print("usage: %s [PAYLOAD...]   (without arguments: one payload per line on stdin)"
              % argv[0], file=sys.stderr)
        return 2
    payloads = argv[1:] if len(argv) > 1 else (l.rstrip("\r\n") for l in sys.stdin)
    failed = 0
    n = 0
    for p in payloads:
        if not p:
            continue
        n += 1
        failed |= show(n, p)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
