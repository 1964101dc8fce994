#!/bin/sh
# fleetd scaled out (docs/deploy.md "Scaling out"): two ingest replicas in one
# MQTT share group publishing their alerts, one gateway replica (--role
# gateway --http) whose state directory holds the zones and rules files the
# ingest replicas read too, with real mosquitto and influxd.
#   - contradictory role settings are refused by --check-config;
#   - every message is stored exactly once (the replicas' sum and InfluxDB);
#   - the gateway's WebSocket feed has every vehicle and an alert raised by an
#     ingest replica; /api/vehicles lists every vehicle's last position;
#   - a zone created through the gateway's REST API reaches the ingest
#     replicas within reload_interval_s (geofence events in InfluxDB); a
#     broken zones file keeps the zones; SIGHUP reloads; a user added to
#     the shared state directory can log in on the gateway;
#   - the gateway alone writes nothing to InfluxDB.
# shellcheck disable=SC2015 # "A && B || fail": fail when either is false
set -eu
. "$(dirname "$0")/fleetd_common.sh"

# ---- refused settings ------------------------------------------------------------
refused() {
  what=$1
  shift
  if "$FLEETD" --check-config --state-dir "$T/check" "$@" >/dev/null 2>"$T/check.err"; then
    fail "--check-config accepted $what"
  fi
  grep -q -- "$what" "$T/check.err" || fail "$what: $(cat "$T/check.err")"
}
refused "mqtt.share_group: role gateway" --role gateway --http 127.0.0.1:0 --share-group g
refused "mqtt.partition: role gateway" --role gateway --http 127.0.0.1:0 --partition 0/2
refused "http: role gateway needs http" --role gateway
refused "role: 'both' is not all, ingest or gateway" --role both
mkdir -p "$T/web"
echo '<html></html>' >"$T/web/index.html"
refused "web_root: role ingest serves no dashboard" --role ingest --set "web_root=$T/web"
FLEET_ROLE=gateway FLEET_RELOAD_INTERVAL=7 "$FLEETD" --check-config --state-dir "$T/check" \
  --http 127.0.0.1:0 >"$T/check.json" || fail "role gateway from the environment refused"
[ "$(json_get "$T/check.json" role)" = gateway ] || fail "FLEET_ROLE not applied"
[ "$(json_get "$T/check.json" reload_interval_s)" = 7 ] || fail "FLEET_RELOAD_INTERVAL not applied"
case $(json_get "$T/check.json" mqtt.client_id) in
  fleetd-gw-*) ;;
  *) fail "gateway client id: $(json_get "$T/check.json" mqtt.client_id)" ;;
esac
log "refusals ok"

# ---- the stack ---------------------------------------------------------------------
start_servers
S=$T/shared
mkdir -p "$S"
cat >"$S/rules.json" <<'EOF'
{"rules": [{"id": "speeding", "type": "overspeed", "threshold_kmh": 80, "hysteresis_kmh": 5,
            "severity": "critical"}]}
EOF
echo admin-pass | "$FLEETCTL" user add admin --role admin --state-dir "$S" >/dev/null
token=$("$FLEETCTL" token admin --state-dir "$S") || fail "fleetctl token"

# Telemetry of 8 vehicles, 15 fixes each, one fix every 10 s ending 5 minutes
# ago; v-105 drives at 120 km/h from its 6th to its 10th fix.
base=$(( $(date +%s) - 450 ))
"$PY" - "$T/msgs.txt" "$T/last.json" "$base" <<'EOF'
import json, sys, time
out, last, base = sys.argv[1], sys.argv[2], int(sys.argv[3])
iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
lines, final = [], {}
for j in range(15):
    for i in range(8):
        vid = "v-%03d" % (101 + i)
        lat, lng = round(23.8 + i * 0.001, 6), round(90.4 + j * 0.0001, 6)
        speed = 120 if vid == "v-105" and 5 <= j < 10 else 20
        p = {"v": 1, "ts": iso(base + 10 * j), "lat": lat, "lng": lng, "speed": speed}
        lines.append("fleet/%s/telemetry\t%s" % (vid, json.dumps(p)))
        final[vid] = [iso(base + 10 * j), lat, lng]
open(out, "w").write("\n".join(lines) + "\n")
json.dump(final, open(last, "w"))
EOF
published=$(wc -l <"$T/msgs.txt")

start_fleetd gw --role gateway --http 127.0.0.1:0 --state-dir "$S" --set reload_interval_s=1
port=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/gw.log" | tail -n 1)
[ -n "$port" ] || fail "no HTTP port in the gateway's log"
GW=http://127.0.0.1:$port
for n in ing1 ing2; do
  start_fleetd "$n" --role ingest --share-group fleetd --client-id "fleetd-$n" \
    --zones "$S/zones.geojson" --rules "$S/rules.json" --set reload_interval_s=1 --http 127.0.0.1:0
done
# Role ingest with http: health, readiness and metrics only.
ip=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/ing1.log" | tail -n 1)
[ -n "$ip" ] || fail "no HTTP port in ing1's log"
[ "$(curl -s "http://127.0.0.1:$ip/healthz")" = ok ] || fail "ingest /healthz"
curl -s "http://127.0.0.1:$ip/metrics" | grep -q '^fleetd_messages_received_total' ||
  fail "ingest /metrics"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$ip/api/vehicles")" = 404 ] || fail "role ingest serves /api/vehicles"
for n in gw ing1 ing2; do
  wait_value 1 "$n subscribed" sh -c "grep -c 'msg=\"subscribed to' '$T/$n.log' | sed 's/^[1-9][0-9]*$/1/'"
done
wait_value 200 "gateway /readyz" curl -s -o /dev/null -w '%{http_code}' "$GW/readyz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/api/zones")" = 401 ] ||
  fail "gateway REST without a token"
# A gateway's readiness does not wait for InfluxDB (role all's would: 503
# while it does not answer): one pointed at a port where nothing listens.
start_fleetd gw2 --role gateway --http 127.0.0.1:0 --client-id fleetd-gw2 \
  --influx http://127.0.0.1:1 --state-dir "$T/gw2"
p2=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/gw2.log" | tail -n 1)
wait_value 200 "/readyz of a gateway without InfluxDB" \
  curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p2/readyz"
stop_fleetd gw2

# ---- live feed, alerts from the ingest replicas, stored once ------------------------------
alerts=$("$PY" "$IT/test_fleetd_roles.py" live "$GW" "$token" "$PUB" "$MQTT_URL" "$T/msgs.txt" \
  v-101,v-102,v-103,v-104,v-105,v-106,v-107,v-108 v-105) || fail "gateway live feed"
log "gateway feed: every vehicle, $alerts alert(s) of v-105"
wait_value "$published" "telemetry points in InfluxDB" raw_count
"$PY" "$IT/test_fleetd_roles.py" vehicles "$GW" "$token" "$(cat "$T/last.json")" ||
  fail "gateway /api/vehicles"
alerts_stored() {
  n=$(influx_q telemetry_downsampled "SELECT count(*) FROM alerts WHERE vehicle_id='v-105'")
  [ "$n" -ge 1 ] && echo 1 || echo 0
}
wait_value 1 "v-105's alert stored by an ingest replica" alerts_stored
# The gateway's recent alerts (read from InfluxDB) hold it too.
curl -s -H "Authorization: Bearer $token" "$GW/api/alerts?limit=10" >"$T/alerts.json"
[ "$(json_get "$T/alerts.json" alerts.0.vehicle_id)" = v-105 ] &&
  [ "$(json_get "$T/alerts.json" alerts.0.rule)" = speeding ] ||
  fail "gateway /api/alerts: $(cat "$T/alerts.json")"
log "stored $published points"

# ---- a zone through the gateway reaches the ingest replicas ---------------------------------
code=$(curl -s -o "$T/zone.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' "$GW/api/zones" --data \
  '{"type":"Feature","id":"hub","properties":{"name":"Hub","radius_m":300},"geometry":{"type":"Point","coordinates":[90.6,23.95]}}')
[ "$code" = 201 ] || fail "POST /api/zones: $code $(cat "$T/zone.out")"
t0=$(date +%s)
for n in ing1 ing2; do
  wait_value 1 "$n reloaded the zones" sh -c \
    "grep 'msg=\"zones loaded\"' '$T/$n.log' | grep -c 'zones=1' | sed 's/^[1-9][0-9]*$/1/'"
done
elapsed=$(( $(date +%s) - t0 ))
[ "$elapsed" -le 5 ] || fail "the zone took ${elapsed}s to reach the ingest replicas"
grep -q 'msg="zones file changed; reloading"' "$T/ing1.log" || fail "no reload line"
# v-103 leaves its road for the hub: 4 fixes outside, 6 inside.
"$PY" - "$T/zone.txt" "$base" <<'EOF'
import json, sys
out, base = sys.argv[1], int(sys.argv[2])
import time
iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
lines = []
for j in range(10):
    lat, lng = (23.802, 90.4014) if j < 4 else (23.95, 90.6)
    p = {"v": 1, "ts": iso(base + 200 + 10 * j), "lat": lat, "lng": lng, "speed": 20}
    lines.append("fleet/v-103/telemetry\t%s" % json.dumps(p))
open(out, "w").write("\n".join(lines) + "\n")
EOF
publish "$T/zone.txt"
hub_events() {
  influx_rows telemetry_downsampled "SELECT * FROM geofence_events WHERE vehicle_id='v-103'" |
    grep -c '"hub"' | sed 's/^[1-9][0-9]*$/1/'
}
wait_value 1 "geofence event of the zone created on the gateway" hub_events
wait_value "$((published + 10))" "telemetry points in InfluxDB" raw_count
log "zone from the gateway applied by the ingest replicas"

# A user added on the shared volume (fleetctl in any pod) logs in on the
# gateway without a signal.
echo bob-pass | "$FLEETCTL" user add bob --role viewer --state-dir "$S" >/dev/null
login_bob() {
  curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"username":"bob","password":"bob-pass"}' "$GW/api/auth/login"
}
wait_value 200 "login of a user added while the gateway runs" login_bob

# ---- a broken zones file keeps the zones; SIGHUP reloads ------------------------------------
cp "$S/zones.geojson" "$T/zones.good"
printf '{"type": "FeatureCollection", "features": [' >"$S/zones.geojson.tmp"
mv "$S/zones.geojson.tmp" "$S/zones.geojson"
for n in gw ing1 ing2; do
  wait_value 1 "$n refused the broken zones file" sh -c \
    "grep 'msg=\"invalid zones file; keeping the current zones\"' '$T/$n.log' | grep -c 'zones=1' | sed 's/^[1-9][0-9]*$/1/'"
done
code=$(curl -s -o "$T/zones.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$GW/api/zones")
[ "$code" = 200 ] && grep -q '"hub"' "$T/zones.json" || fail "gateway lost its zones: $code"
# A zone change now would overwrite what someone is fixing by hand: refused, file untouched.
cp "$S/zones.geojson" "$T/zones.broken"
code=$(curl -s --max-time 10 -o "$T/zone.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' "$GW/api/zones" --data \
  '{"type":"Feature","id":"late","properties":{"radius_m":100},"geometry":{"type":"Point","coordinates":[90.8,23.9]}}')
[ "$code" = 500 ] && grep -q 'zones file unreadable' "$T/zone.out" ||
  fail "zone change over a broken file: $code $(cat "$T/zone.out")"
cmp -s "$S/zones.geojson" "$T/zones.broken" || fail "the broken zones file was overwritten"
cp "$T/zones.good" "$S/zones.geojson.tmp"
mv "$S/zones.geojson.tmp" "$S/zones.geojson"
kill -HUP "$(cat "$T/ing1.pid")"
wait_value 1 "SIGHUP reload" sh -c \
  "grep -c 'msg=\"reloading zones and rules\"' '$T/ing1.log' | sed 's/^[1-9][0-9]*$/1/'"
log "broken file refused, SIGHUP reloads"

# ---- two gateways change the zones at once: no change is lost -------------------------------
# gw3 never polls the files (reload_interval_s=0): when it changes a zone, the
# file holds a change gw made since gw3 read it, which its edit must keep.
start_fleetd gw3 --role gateway --http 127.0.0.1:0 --state-dir "$S" --client-id fleetd-gw3 \
  --set reload_interval_s=0
p3=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/gw3.log" | tail -n 1)
GW3=http://127.0.0.1:$p3
# zone_req BASE METHOD PATH [BODY]: the HTTP status.
zone_req() {
  curl -s --max-time 10 -o "$T/zreq.out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' "$1$3" ${4:+--data "$4"}
}
circle() {
  printf '{"type":"Feature","id":"%s","properties":{"radius_m":200},"geometry":{"type":"Point","coordinates":[%s,23.9]}}' "$1" "$2"
}
zone_ids() {
  "$PY" -c 'import json, sys
print(",".join(sorted(f["id"] for f in json.load(open(sys.argv[1]))["features"])))' "$1"
}
[ "$(zone_req "$GW" POST /api/zones "$(circle east 90.7)")" = 201 ] || fail "POST east: $(cat "$T/zreq.out")"
[ "$(zone_req "$GW3" POST /api/zones "$(circle west 90.5)")" = 201 ] || fail "POST west: $(cat "$T/zreq.out")"
[ "$(zone_ids "$S/zones.geojson")" = east,hub,west ] ||
  fail "zones file after two gateways' changes: $(zone_ids "$S/zones.geojson")"
curl -s -H "Authorization: Bearer $token" "$GW3/api/zones" >"$T/gw3zones.json"
[ "$(zone_ids "$T/gw3zones.json")" = east,hub,west ] || fail "gw3 zones: $(zone_ids "$T/gw3zones.json")"
# A deletion on one and a change on the other: both kept.
[ "$(zone_req "$GW" DELETE /api/zones/west)" = 204 ] || fail "DELETE west: $(cat "$T/zreq.out")"
[ "$(zone_req "$GW3" PUT /api/zones/east "$(circle east 90.71)")" = 200 ] ||
  fail "PUT east: $(cat "$T/zreq.out")"
[ "$(zone_ids "$S/zones.geojson")" = east,hub ] || fail "zones file: $(zone_ids "$S/zones.geojson")"
grep -q '90.71' "$S/zones.geojson" || fail "gw3's change of east is not in the file"
# Concurrent POSTs from both replicas: every zone stored. (Waiting for these
# requests only: a bare `wait` would wait for the fleetd processes too.)
reqs=""
for i in 1 2 3 4 5 6; do
  zone_req "$GW" POST /api/zones "$(circle "a$i" "90.6$i")" >"$T/za$i.code" &
  reqs="$reqs $!"
  zone_req "$GW3" POST /api/zones "$(circle "b$i" "90.5$i")" >"$T/zb$i.code" &
  reqs="$reqs $!"
done
for p in $reqs; do wait "$p" || true; done
for i in 1 2 3 4 5 6; do
  [ "$(cat "$T/za$i.code")" = 201 ] && [ "$(cat "$T/zb$i.code")" = 201 ] || fail "concurrent POST $i"
done
[ "$(zone_ids "$S/zones.geojson")" = a1,a2,a3,a4,a5,a6,b1,b2,b3,b4,b5,b6,east,hub ] ||
  fail "after concurrent POSTs: $(zone_ids "$S/zones.geojson")"
for n in a1 a2 a3 a4 a5 a6 b1 b2 b3 b4 b5 b6 east; do
  zone_req "$GW" DELETE "/api/zones/$n" >/dev/null
done
[ "$(zone_ids "$S/zones.geojson")" = hub ] || fail "zones file: $(zone_ids "$S/zones.geojson")"
stop_fleetd gw3
log "zone changes of two gateways all kept"

# ---- the ingest replicas stored everything; the gateway stores nothing --------------------
stop_fleetd ing1
stop_fleetd ing2
p1=$(final_stat ing1 points_raw)
p2=$(final_stat ing2 points_raw)
[ "$p1" -gt 0 ] && [ "$p2" -gt 0 ] || fail "a replica got nothing: $p1 + $p2"
[ $((p1 + p2)) = $((published + 10)) ] || fail "replicas wrote $p1 + $p2, published $((published + 10))"
stored=$(raw_count)
[ "$stored" = $((published + 10)) ] || fail "InfluxDB holds $stored, published $((published + 10))"
printf 'fleet/v-200/telemetry\t{"v":1,"ts":"%s","lat":23.7,"lng":90.3,"speed":90}\n' \
  "$(date -u -d "@$((base + 400))" +%Y-%m-%dT%H:%M:%SZ)" >"$T/solo.txt"
publish "$T/solo.txt"
"$PY" "$IT/test_fleetd_roles.py" vehicles "$GW" "$token" \
  "{\"v-200\": [\"$(date -u -d "@$((base + 400))" +%Y-%m-%dT%H:%M:%SZ)\", 23.7, 90.3]}" ||
  fail "the gateway did not take v-200"
# The gateway has no writer; give a writer's flush interval (1 s) twice over.
sleep 2
[ "$(raw_count)" = "$stored" ] || fail "points written while only the gateway ran"
stop_fleetd gw
[ "$(final_stat gw points_raw)" = 0 ] || fail "gateway points_raw $(final_stat gw points_raw)"
[ -d "$S/ingest" ] && fail "the gateway opened an ingest log"
# Every alert the ingest replicas stored reached the gateway's clients, and
# the gateway raised none itself (its tracker has the same rules).
n_alerts=$(influx_q telemetry_downsampled "SELECT count(*) FROM alerts")
[ "$n_alerts" -ge 1 ] && [ "$(final_stat gw alerts_forwarded)" = "$n_alerts" ] ||
  fail "gateway forwarded $(final_stat gw alerts_forwarded) alerts, $n_alerts stored"
[ "$(final_stat gw alerts_published)" = 0 ] || fail "the gateway published alerts"
log "ok: $p1 + $p2 = $stored stored, gateway wrote nothing"
