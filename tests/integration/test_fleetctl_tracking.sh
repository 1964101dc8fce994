#!/usr/bin/env bash
# fleetctl trips, zones check and events over a small scripted scenario
# (tests/data/tracking: two vehicles along the equator, three zones, five rules,
# invalid, duplicate and late lines) with exact expected output, exit codes and
# error reports; then robust checks of `fleetctl trips` and `fleetctl events`
# over the real traces when ../shared/data is present.
#
# The scenario (B = 2026-05-21T08:00:00Z; 0.001 deg of longitude = 111.195 m):
# v-1 parks at lng 0 until B+2m, drives 0.006 deg a minute (40-45 km/h) to lng
# 0.048 at B+10m, through the depot polygon (B+4m), the shop circle (B+6m) and
# the bridge corridor (B+7m..8m, speed_limit 30), then parks with the engine off
# and is silent from B+20m to B+50m. v-2 stands still north of everything, its
# battery dipping below 11.8 V at B+10m, silent from B+20m to B+45m.
# The trip: B+2m to B+10m, 8 x 667.17 m = 5337.4 m in 480 s (40.03 km/h), ended
# PARKED at its first fix with speed 0, judged 300 s later.
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_TEST_DATA_DIR:?set by ctest}"
fleetctl="$FLEET_BUILD_DIR/apps/fleetctl"
data="$FLEET_TEST_DATA_DIR/tracking"
PY=${FLEET_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

trip_opts=(--min-trip-duration 60 --min-trip-distance 200 --min-parking 300 --max-gap 3600)

. "$(dirname "$0")/lib.sh"

# ---- trips ----

run "$fleetctl" trips --json "${trip_opts[@]}" "$data/fleet.jsonl"
expect_rc 1
expect_stdout "$data/expected-trips.jsonl"
expect_stderr_has "fleet.jsonl:8: payload: "
expect_stderr_has "fleet.jsonl:11: warning: fix older than the newest of vehicle v-1: ignored"
expect_stderr_has "fleet.jsonl:14: lat: 95"
expect_stderr_has "fleet.jsonl:16: vehicle_id: missing"
expect_stderr_lines 4

# Without the three invalid lines everything is accepted (the late fix only warns).
sed '8d;14d;16d' "$data/fleet.jsonl" >"$tmp/clean.jsonl"
run "$fleetctl" trips --json "${trip_opts[@]}" "$tmp/clean.jsonl"
expect_rc 0
expect_stdout "$data/expected-trips.jsonl"
expect_stderr_lines 1

# Standard input, and --vehicle-id for the record without one: line 16 is now
# accepted (as v-0's only fix, which makes neither a trip nor a stop).
cp "$data/fleet.jsonl" "$tmp/in"
run "$fleetctl" trips --json --vehicle-id v-0 "${trip_opts[@]}" -
expect_rc 1
expect_stdout "$data/expected-trips.jsonl"
expect_stderr_has "(stdin):8: payload: "
expect_stderr_has "(stdin):14: lat: 95"
expect_stderr_lines 3

# CSV input: the same drive, ts partly in Unix seconds, a quoted field with a
# comma, an unused column, ignition as true/1/on, a non-number and a short row.
run "$fleetctl" trips --csv "${trip_opts[@]}" "$data/fleet.csv"
expect_rc 1
expect_stdout "$data/expected-trips.csv"
expect_stderr_has "fleet.csv:1: warning: column 'note' is not used"
expect_stderr_has "fleet.csv:6: speed: 'fast' is not a number"
expect_stderr_has "fleet.csv:16: 4 fields, the header has 7"
expect_stderr_lines 3

# A cell that is not UTF-8 is named for what it is.
printf 'vehicle_id,ts,lat,lng,speed\nv-1,2026-05-21T08:00:00Z,0,0,fast\n\377v,2026-05-21T08:01:00Z,0,0,1\n' >"$tmp/utf8.csv"
run "$fleetctl" trips "$tmp/utf8.csv"
expect_rc 1
expect_stderr_has "utf8.csv:2: speed: 'fast' is not a number"
expect_stderr_has "utf8.csv:3: vehicle_id: not valid UTF-8"
expect_stderr_lines 2

# Text mode.
run "$fleetctl" trips "${trip_opts[@]}" "$tmp/clean.jsonl"
expect_rc 0
expect_stdout <<'EOF'
VEHICLE  KIND  START                 END                    DURATION  DISTANCE_KM     MOVING       IDLE  MAX_KMH  AVG_KMH   FUEL_L  NOTE
v-1      stop  2026-05-21T08:00:00Z  2026-05-21T08:02:00Z    0:02:00
v-1      trip  2026-05-21T08:02:00Z  2026-05-21T08:10:00Z    0:08:00        5.337    0:08:00    0:00:00     45.0     40.0     0.00  parked
v-1      stop  2026-05-21T08:10:00Z  2026-05-21T08:50:00Z    0:40:00                                                                open
v-2      stop  2026-05-21T08:00:00Z  2026-05-21T08:45:00Z    0:45:00                                                                open
EOF

# The default trip parameters (min 180 s): the same drive is still one trip;
# a 10 l/100 km consumption gives 5.3374 km x 0.1 = 0.534 l.
run "$fleetctl" trips --csv --consumption 10 "$tmp/clean.jsonl"
expect_rc 0
expect_stdout <<'EOF'
vehicle_id,start,end,duration_s,distance_m,moving_s,idle_s,max_speed_kmh,avg_speed_kmh,fuel_l,start_lat,start_lng,end_lat,end_lng,end_reason,fixes
v-1,2026-05-21T08:02:00Z,2026-05-21T08:10:00Z,480,5337.4,480,0,45,40.03,0.534,0,0,0,0.048,parked,9
EOF

# A 10-minute minimum: no trip at all, one stop per vehicle.
run "$fleetctl" trips --json --min-trip-duration 600 "$tmp/clean.jsonl"
expect_rc 0
checks=$((checks + 1))
[ "$(grep -c '"type":"trip"' "$tmp/out" || true)" -eq 0 ] || fail "no trip expected"
expect_stdout_has '{"type":"stop","vehicle_id":"v-1","start":"2026-05-21T08:00:00Z","end":"2026-05-21T08:50:00Z","duration_s":3000'

# ---- zones check ----

run "$fleetctl" zones check --json "$data/zones.geojson" "$data/fleet.jsonl"
expect_rc 1
expect_stdout "$data/expected-zones.jsonl"
expect_stderr_has "fleet.jsonl:14: lat: 95"

run "$fleetctl" zones check "$data/zones.geojson" "$tmp/clean.jsonl"
expect_rc 0
expect_stdout <<'EOF'
VEHICLE  EVENT       TIME                  ZONE    NAME    DWELL
v-1      zone_enter  2026-05-21T08:04:00Z  depot   Depot
v-1      zone_exit   2026-05-21T08:05:00Z  depot   Depot   0:01:00
v-1      zone_enter  2026-05-21T08:06:00Z  shop    Shop
v-1      zone_exit   2026-05-21T08:07:00Z  shop    Shop    0:01:00
v-1      zone_enter  2026-05-21T08:07:00Z  bridge  Bridge
v-1      zone_exit   2026-05-21T08:09:00Z  bridge  Bridge  0:02:00
EOF

# Two fixes of debounce: one fix in the depot and one in the shop are not
# enough; the bridge (two fixes in, then two out) is, with the times of the
# first fix on each side.
run "$fleetctl" zones check --json --debounce-fixes 2 "$data/zones.geojson" "$tmp/clean.jsonl"
expect_rc 0
expect_stdout <<'EOF'
{"type":"zone_enter","vehicle_id":"v-1","ts":"2026-05-21T08:07:00Z","zone_id":"bridge","zone_name":"Bridge","lat":0,"lng":0.03}
{"type":"zone_exit","vehicle_id":"v-1","ts":"2026-05-21T08:09:00Z","zone_id":"bridge","zone_name":"Bridge","dwell_s":120,"lat":0,"lng":0.042}
EOF

# ---- events ----

run "$fleetctl" events "${trip_opts[@]}" --zones "$data/zones.geojson" --rules "$data/rules.json" "$data/fleet.jsonl"
expect_rc 1
expect_stdout "$data/expected-events.jsonl"
expect_stderr_has "fleet.jsonl:8: payload: "
expect_stderr_has "fleet.jsonl:14: lat: 95"
expect_stderr_has "fleet.jsonl:16: vehicle_id: missing"
expect_stderr_lines 3

# Without ticks nobody is found offline; everything else is the same.
run "$fleetctl" events --tick 0 "${trip_opts[@]}" --zones "$data/zones.geojson" --rules "$data/rules.json" "$tmp/clean.jsonl"
expect_rc 0
grep -v '"rule":"silent"' "$data/expected-events.jsonl" >"$tmp/no-offline.jsonl"
expect_stdout "$tmp/no-offline.jsonl"

# Hourly aggregates: both vehicles' 08:00 hour at the flush, after the stops.
run "$fleetctl" events --hourly "${trip_opts[@]}" "$tmp/clean.jsonl"
expect_rc 0
expect_stdout_has '{"type":"hourly","vehicle_id":"v-1","start":"2026-05-21T08:00:00Z","end":"2026-05-21T09:00:00Z","revision":0,"count":15,"distance_m":5337.4,'
expect_stdout_has '{"type":"hourly","vehicle_id":"v-2","start":"2026-05-21T08:00:00Z","end":"2026-05-21T09:00:00Z","revision":0,"count":6,"distance_m":0,'

# ---- command-line errors and help ----

run "$fleetctl" trips --bogus "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "fleetctl trips: unknown option '--bogus'"
run "$fleetctl" trips --min-parking
expect_rc 2
expect_stderr_has "option '--min-parking' needs a value"
run "$fleetctl" trips --min-parking soon "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "fleetctl trips: option '--min-parking': 'soon' is not a number"
run "$fleetctl" trips --min-parking -5 "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "fleetctl trips: min_parking_s: -5"
run "$fleetctl" trips --vehicle-id "no way" "$data/fleet.jsonl"
expect_rc 2
run "$fleetctl" trips "$tmp/missing.jsonl"
expect_rc 2
expect_stderr_has "cannot read '$tmp/missing.jsonl'"
run "$fleetctl" zones
expect_rc 2
run "$fleetctl" zones list "$data/zones.geojson"
expect_rc 2
expect_stderr_has "fleetctl zones: unknown subcommand 'list'"
run "$fleetctl" zones check
expect_rc 2
expect_stderr_has "the zones file is missing"
run "$fleetctl" zones check --debounce-fixes 0 "$data/zones.geojson" "$data/fleet.jsonl"
expect_rc 2
run "$fleetctl" zones check "$data/rules.json" "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "fleetctl zones: $data/rules.json: "
run "$fleetctl" events --rules "$data/zones.geojson" "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "unknown member of the rules document"
expect_stderr_has "fleetctl events: $data/zones.geojson: "
run "$fleetctl" events --rules "$tmp/missing.json" "$data/fleet.jsonl"
expect_rc 2
expect_stderr_has "$tmp/missing.json: No such file or directory"
run "$fleetctl" events --tick -1 "$data/fleet.jsonl"
expect_rc 2
for cmd in trips events; do
  run "$fleetctl" $cmd --help
  expect_rc 0
  expect_stdout_has "usage: fleetctl $cmd"
  expect_stdout_has "--min-trip-distance M"
done
run "$fleetctl" zones --help
expect_rc 0
expect_stdout_has "usage: fleetctl zones check"

# ---- real traces ----

traces="${FLEET_SHARED_DATA_DIR:-}/real-traces"
if [ -n "${FLEET_SHARED_DATA_DIR:-}" ] && [ -f "$traces/sf-cab-1.jsonl" ]; then
  for trace in "$traces"/sf-cab-*.jsonl; do
    run "$fleetctl" trips --json "$trace"
    expect_rc 0
    cp "$tmp/out" "$tmp/trips.jsonl"
    run "$fleetctl" trips --csv "$trace"
    expect_rc 0
    cp "$tmp/out" "$tmp/trips.csv"
    run "$fleetctl" events --hourly "$trace"
    expect_rc 0
    checks=$((checks + 1))
    # Robust properties only: at least three trips; sane figures; trips and
    # stops alternate in time without overlapping; the trips' distance is at
    # most the trace's whole GPS path; CSV and JSON agree; the hourly counts
    # cover the accepted fixes.
    if ! "$PY" - "$trace" "$tmp/trips.jsonl" "$tmp/trips.csv" "$tmp/out" <<'EOF' >&2
import csv, json, math, sys
from datetime import datetime

def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

def hav(a, b):
    r = 6371008.8
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))

fixes = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
path = sum(hav((a["lat"], a["lng"]), (b["lat"], b["lng"])) for a, b in zip(fixes, fixes[1:]))
items = [json.loads(l) for l in open(sys.argv[2])]
trips = [i for i in items if i["type"] == "trip"]
errors = []
if len(trips) < 3:
    errors.append("only %d trips" % len(trips))
prev_end = None
for i in items:
    s, e = t(i["start"]), t(i["end"])
    if e < s or (i["type"] == "trip" and e == s):
        errors.append("bad interval %r" % i)
    if prev_end is not None and abs(s - prev_end) > 1e-6:
        errors.append("gap or overlap before %r" % i)
    prev_end = e
    if i["type"] == "trip":
        if not (i["distance_m"] > 0 and i["duration_s"] > 0 and i["moving_s"] <= i["duration_s"] + 1e-6):
            errors.append("bad figures %r" % i)
        if abs(i["avg_speed_kmh"] - i["distance_m"] / i["duration_s"] * 3.6) > 0.01:
            errors.append("average speed %r" % i)
if t(items[0]["start"]) != t(fixes[0]["ts"]) or t(items[-1]["end"]) != t(fixes[-1]["ts"]):
    errors.append("items do not span the trace")
total = sum(i["distance_m"] for i in trips)
if not (0 < total <= path + 1):
    errors.append("trip distance %.1f vs path %.1f" % (total, path))
rows = list(csv.DictReader(open(sys.argv[3])))
if len(rows) != len(trips) or any(abs(float(r["distance_m"]) - j["distance_m"]) > 0.05 for r, j in zip(rows, trips)):
    errors.append("CSV and JSON disagree")
events = [json.loads(l) for l in open(sys.argv[4])]
counted = sum(e["count"] for e in events if e["type"] == "hourly")
if not (0.9 * len(fixes) <= counted <= len(fixes)):
    errors.append("hourly counts %d for %d fixes" % (counted, len(fixes)))
if sum(1 for e in events if e["type"] == "trip") != len(trips):
    errors.append("events and trips disagree on the trips")
for e in errors:
    print(sys.argv[1] + ": " + e)
sys.exit(1 if errors else 0)
EOF
    then
      what="real trace $(basename "$trace")"
      fail "properties do not hold"
    fi
  done
else
  echo "note: $traces not present, real-trace checks skipped"
fi

finish
