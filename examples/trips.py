#!/usr/bin/env python3
"""trips: the trips and stops of a recorded trace -- trips.c, in Python.

    trips.py TRACE.jsonl [MIN_TRIP_DURATION_S]

Invalid lines are reported on stderr and skipped (exit status 1).
"""

import sys

import fleet


def show(item):
    if isinstance(item, fleet.Stop):
        print("stop  %s  %s -> %s  %6.0f s  at %.6f,%.6f%s" % (
            item.vehicle_id, fleet.format_time(item.start_ns), fleet.format_time(item.end_ns),
            item.duration_s, item.lat, item.lng, "  (open)" if item.open else ""))
    else:
        print("trip  %s  %s -> %s  %6.0f s  %7.3f km (%s)  max %.1f km/h  avg %.1f km/h  %s" % (
            item.vehicle_id, fleet.format_time(item.start_ns), fleet.format_time(item.end_ns),
            item.duration_s, item.distance_m / 1000.0, item.distance_source, item.max_speed_kmh,
            item.avg_speed_kmh, item.end_reason))


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: %s TRACE.jsonl [MIN_TRIP_DURATION_S]" % argv[0], file=sys.stderr)
        return 2
    params = {"min_trip_duration_s": float(argv[2])} if len(argv) == 3 else {}
    status = 0

    # The detector calls back as each stop and trip completes ("trip_start"
    # comes when a trip qualifies; its final summary is "trip_end").
    def on_event(item):
        if item.event != "trip_start":
            show(item)

    with fleet.TripDetector(on_event, **params) as det, open(argv[1], "rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                det.feed(line)
            except fleet.Error as e:
                print("%s:%d: %s" % (argv[1], n, e), file=sys.stderr)
                status = 1
        # End of input: the trip (or stop) in progress is reported now.
        det.flush()
    # For a whole file at once, fleet.trips(open(path)) returns the same
    # Trip and Stop objects as a list (to_records() for pandas).
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
