#!/usr/bin/env python3
"""zones_check: which geofences contain which points -- zones_check.c, in Python.

    zones_check.py ZONES.geojson LAT,LNG [LAT,LNG...]

Exit status 0, 1 when the zones or a point are invalid, 2 for usage.
"""

import sys

import fleet


def main(argv):
    if len(argv) < 3:
        print("usage: %s ZONES.geojson LAT,LNG [LAT,LNG...]" % argv[0], file=sys.stderr)
        return 2
    try:
        # A zone set indexes its zones: lookups cost O(log n).
        zones = fleet.ZoneSet.from_file(argv[1])
    except (fleet.Error, OSError) as e:
        print("%s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    # A snapshot is an immutable view of the set: one consistent answer.
    with zones, zones.snapshot() as snap:
        print("%d zones:%s" % (len(snap), ",".join(
            " %s (%s, %s)" % (z.id, z.kind, z.name) for z in snap)))
        status = 0
        for arg in argv[2:]:
            try:
                lat, lng = (float(x) for x in arg.split(","))
            except ValueError:
                print("%s: expected LAT,LNG" % arg, file=sys.stderr)
                status = 1
                continue
            try:
                found = snap.zones_at(lat, lng)
            except fleet.Error as e:
                print("%s: %s" % (arg, e), file=sys.stderr)
                status = 1
                continue
            print("%s: %s" % (arg, ", ".join(z.id for z in found) or "none"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
