#!/usr/bin/env python3
"""mqtt_positions: subscribe to a broker and print live positions --
mqtt_positions.c, in Python.

    mqtt_positions.py [--url mqtt://127.0.0.1:1883] [--count N] [--timeout S]

Stops after N messages or S seconds (exit status 1 when --count was not
reached in time). For a quick script, fleet.mqtt.subscribe(url, count=...,
timeout=...) is the same loop as a generator of messages.
"""

import argparse
import sys
import time

import fleet


def main():
    ap = argparse.ArgumentParser(description="print live positions from an MQTT broker")
    ap.add_argument("--url", default="mqtt://127.0.0.1:1883")
    ap.add_argument("--count", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=None)
    args = ap.parse_args()
    seen = 0

    # Runs inside client.loop(), on this thread. The vehicle id comes from the
    # topic fleet/{vehicle_id}/telemetry, already checked.
    def on_message(msg):
        nonlocal seen
        seen += 1
        try:
            rec = msg.telemetry()
        except fleet.Error as e:
            print("%s: rejected: %s" % (msg.vehicle_id, e), flush=True)
            return
        line = "%s  %s  %.6f,%.6f" % (msg.vehicle_id, rec.time, rec.lat, rec.lng)
        if rec.speed is not None:
            line += "  %.1f km/h" % rec.speed
        print(line + ("  (retained)" if msg.retained else ""), flush=True)

    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    # No client id: a throw-away (clean) session; topics default to fleet/+/telemetry.
    with fleet.MqttClient(args.url, on_message=on_message) as client:
        try:
            client.connect()
            client.wait_connected(timeout=10.0 if args.timeout is None else args.timeout)
        except fleet.Error as e:
            print("%s: %s" % (args.url, e), file=sys.stderr)
            return 1
        print("listening on %s" % args.url, file=sys.stderr)
        while args.count is None or seen < args.count:
            if deadline is not None and time.monotonic() >= deadline:
                if args.count is not None:
                    print("timed out after %d of %d messages" % (seen, args.count),
                          file=sys.stderr)
                    return 1
                break
            # Network work and callbacks, for at most 100 ms; reconnects by itself.
            client.loop(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
