#!/bin/sh
# fleetd with its HTTP gateway (--http): login, the WebSocket feed, the REST
# API over stored data, zones and rules changes, metrics (docs/API.md), with
# real mosquitto and influxd; test_fleetd_http.py holds the checks.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
DATA=$FLEET_SOURCE_DIR/tests/data/fleetd
mkdir -p "$T/fd"
cp "$DATA/zones.geojson" "$DATA/rules.json" "$T/fd/"
echo secret-pass | "$FLEETCTL" user add admin --role admin --state-dir "$T/fd" >/dev/null
echo viewer-pass | "$FLEETCTL" user add eve --role viewer --vehicles v-001 --state-dir "$T/fd" \
  >/dev/null
web=""
[ -f "$FLEET_SOURCE_DIR/web/dist/index.html" ] && web="--set web_root=$FLEET_SOURCE_DIR/web/dist"
start_fleetd fd --http 127.0.0.1:0 $web
port=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/fd.log" | tail -n 1)
[ -n "$port" ] || fail "no HTTP port in the log"

base=$(( $(date +%s) / 10 * 10 - 1200 ))
expand_times "$DATA/scenario.tsv" "$T/scenario.tsv" "$base"
"$PY" "$IT/test_fleetd_http.py" "http://127.0.0.1:$port" "$MQTT_URL" "$PUB" "$T/scenario.tsv" \
  "$T/fd" "$base" || fail "HTTP checks"
# A row in `alerts` that is not an alert (no rule, written by something else):
# /api/alerts lists the others, says how many it left out, and logs why.
curl -sf -XPOST "$INFLUX_URL/write?db=telemetry_downsampled" \
  --data-binary "alerts,vehicle_id=v-001 severity=\"info\" $(date +%s)000000000" ||
  fail "cannot write the foreign row"
tok=$(curl -sf -H 'Content-Type: application/json' \
        -d '{"username":"admin","password":"secret-pass"}' \
        "http://127.0.0.1:$port/api/auth/login" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/api/alerts" >"$T/alerts.json" ||
  fail "/api/alerts with a foreign row"
"$PY" - "$T/alerts.json" <<'PY' || fail "/api/alerts with a foreign row: $(cat "$T/alerts.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [a["rule"] for a in d["alerts"]] == ["speeding", "depot-in"], d
assert d["skipped"] == 1, d
PY
grep -q 'msg="alert rows left out: they are not alerts".*rows=1.*rule missing' "$T/fd.log" ||
  fail "no log line for the row left out"
if [ -n "$web" ]; then
  curl -sf "http://127.0.0.1:$port/" | grep -qi '<html' || fail "dashboard not served"
fi
stop_fleetd fd
log "ok"
