#!/bin/sh
# fleetd end to end against a real mosquitto and influxd:
#  1. a scripted scenario (tests/data/fleetd: one zone, an overspeed and a
#     zone_enter rule) gives exactly the expected trip, geofence events and
#     alerts in InfluxDB, and the alerts on fleet/{id}/alerts;
#  2. N generated messages give exactly N raw points, and the hourly
#     aggregates count every fix once.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
DATA=$FLEET_SOURCE_DIR/tests/data/fleetd
mkdir -p "$T/fd"
cp "$DATA/zones.geojson" "$DATA/rules.json" "$T/fd/"
start_fleetd fd --set tags.fleet_id=test

# The scenario starts 20 minutes ago (InfluxDB keeps the raw tier 7 days).
base=$(( $(date +%s) / 10 * 10 - 1200 ))
expand_times "$DATA/scenario.tsv" "$T/scenario.tsv" "$base"
port=$(cat "$T/mosquitto/port")
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'fleet/+/alerts' -v -C 2 -W "$WAIT_S" \
  >"$T/alerts.txt" 2>&1 &
sub=$!
sleep 0.5
publish "$T/scenario.tsv" --client-id test-pub

load --vehicles 20 --count 5000 --interval 5 --end-ago 120 --prefix g- "$T/load.tsv"
publish "$T/load.tsv" --client-id test-pub
wait_value 5096 "raw points" raw_count
wait "$sub" || fail "no alerts on fleet/+/alerts: $(cat "$T/alerts.txt")"
stop_fleetd fd

# Raw tier: every message once, tagged.
[ "$(raw_count)" = 5096 ] || fail "raw count after stop: $(raw_count)"
n=$(influx_q telemetry_raw "SELECT count(lat) FROM telemetry WHERE fleet_id='test' AND vehicle_id='v-001'")
[ "$n" = 82 ] || fail "v-001 raw points: $n"

ds=telemetry_downsampled
iso() { date -u -d "@$(( base + $1 ))" +%Y-%m-%dT%H:%M:%SZ; }

# Trips: exactly one for the scenario's vehicle, from its first moving fix
# (T+70) to its first parked fix (T+410).
influx_rows $ds "SELECT * FROM trips WHERE vehicle_id='v-001' OR vehicle_id='v-002'" >"$T/trips.json"
[ "$(wc -l <"$T/trips.json")" = 1 ] || fail "trips: $(cat "$T/trips.json")"
"$PY" - "$T/trips.json" "$base" <<'PY' || fail "trip fields: $(cat "$T/trips.json")"
import json, sys
t = json.loads(open(sys.argv[1]).read())
base = int(sys.argv[2]) * 10**9
assert t["vehicle_id"] == "v-001", t
assert t["start_ns"] == base + 70 * 10**9 and t["time"] == t["start_ns"], t
assert t["end_ns"] == base + 410 * 10**9, t
assert t["duration_s"] == 340, t
assert t["max_speed_kmh"] == 95, t
# 33 steps of 0.001 degree of longitude at latitude 23.8.
assert abs(t["distance_m"] - 3361) < 10, t
assert t["fleet_id"] == "test", t
PY

# Geofence events: enter at T+120, exit at T+160 after 40 s.
influx_rows $ds "SELECT * FROM geofence_events" >"$T/geo.json"
"$PY" - "$T/geo.json" "$base" <<'PY' || fail "geofence events: $(cat "$T/geo.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = int(sys.argv[2]) * 10**9
got = [(r["vehicle_id"], r["zone_id"], r["zone_name"], r["event"], r["time"] - base, r.get("dwell_s"))
       for r in rows]
want = [("v-001", "depot", "Depot", "enter", 120 * 10**9, None),
        ("v-001", "depot", "Depot", "exit", 160 * 10**9, 40)]
assert got == want, got
PY

# Alerts: the zone_enter rule at T+120, the overspeed episode at T+170.
influx_rows $ds "SELECT * FROM alerts" >"$T/alerts.json"
"$PY" - "$T/alerts.json" "$base" <<'PY' || fail "alerts: $(cat "$T/alerts.json")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = int(sys.argv[2]) * 10**9
got = [(r["vehicle_id"], r["rule"], r["type"], r["severity"], r["time"] - base, r["value"], r["limit"])
       for r in rows]
want = [("v-001", "depot-in", "zone_enter", "info", 120 * 10**9, 0, 0),
        ("v-001", "speeding", "overspeed", "critical", 170 * 10**9, 95, 80)]
assert got == want, got
assert rows[0]["zone_id"] == "depot"
PY

# The same alerts went to MQTT.
grep -c '^fleet/v-001/alerts ' "$T/alerts.txt" | grep -qx 2 || fail "MQTT alerts: $(cat "$T/alerts.txt")"
grep -q '"rule":"depot-in"' "$T/alerts.txt" || fail "MQTT alerts: $(cat "$T/alerts.txt")"
grep -q '"rule":"speeding".*"value":95' "$T/alerts.txt" || fail "MQTT alerts: $(cat "$T/alerts.txt")"

# Hourly aggregates: every fix of a vehicle counted once over its hours.
for v in v-001:82 v-002:14 g-0007:250; do
  id=${v%%:*} want=${v#*:}
  got=$(influx_q $ds "SELECT sum(samples) FROM telemetry_hourly WHERE vehicle_id='$id'")
  [ "$got" = "$want" ] || fail "hourly samples of $id: $got, expected $want"
done

[ "$(final_stat fd accepted)" = 5096 ] || fail "accepted: $(final_stat fd accepted)"
[ "$(final_stat fd rejected)" = 0 ] || fail "rejected: $(final_stat fd rejected)"
[ "$(final_stat fd alerts_published)" = 2 ] || fail "alerts_published: $(final_stat fd alerts_published)"
log "ok"
