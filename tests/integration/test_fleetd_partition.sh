#!/bin/sh
# Two fleetd instances share a fleet through the partition option (0/2 and
# 1/2): every message is stored once, and each vehicle's trip is computed by
# one instance only.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
start_fleetd p0 --partition 0/2
start_fleetd p1 --partition 1/2

# 40 vehicles: parked, 40 steps (400 s) of driving, parked 400 s: one trip each.
load --vehicles 40 --count 3280 --interval 10 --end-ago 60 --park-steps 2 \
  --drive-steps 40 --summary "$T/summary.json" "$T/load.tsv"
publish "$T/load.tsv" --client-id part-pub
wait_value 3280 "raw points" raw_count
stop_fleetd p0
stop_fleetd p1
[ "$(raw_count)" = 3280 ] || fail "raw count: $(raw_count)"

a0=$(final_stat p0 accepted)
a1=$(final_stat p1 accepted)
[ $((a0 + a1)) = 3280 ] || fail "accepted $a0 + $a1"
[ "$a0" -gt 0 ] && [ "$a1" -gt 0 ] || fail "one instance got everything: $a0 / $a1"
[ "$(final_stat p0 mqtt_ignored_partition)" = "$a1" ] || fail "p0 ignored $(final_stat p0 mqtt_ignored_partition)"

influx_rows telemetry_downsampled 'SELECT count(start_ns) FROM trips GROUP BY vehicle_id' \
  >"$T/trips.json"
"$PY" - "$T/trips.json" <<'PY' || fail "trips per vehicle: $(cat "$T/trips.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
counts = {r["vehicle_id"]: r["count"] for r in rows}
assert len(counts) == 40, counts
assert set(counts.values()) == {1}, counts
PY
log "ok: $a0 + $a1 messages, one trip per vehicle"
