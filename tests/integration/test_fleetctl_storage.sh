#!/usr/bin/env bash
# fleetctl influx init / import / export / history / spool and the history
# reader (history_itest) against a real influxd (Debian's 1.6) started on free
# loopback ports in a temporary directory by influxd.sh.
#
# Checks: retention tiers as configured and idempotent (SHOW RETENTION
# POLICIES); a fixture with every field type and hostile tag values imported
# with exact stored/rejected counts and line numbers, read back exactly by
# export (JSON lines and CSV) and history (JSON, CSV, GPX), re-imported
# byte-identically; refusals by the server reported with line numbers; tier
# selection; streaming 20,000 points in 1,000-row chunks; injection attempts;
# events and last positions; spool status and replay.
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_SOURCE_DIR:?set by ctest}"
: "${FLEET_TEST_DATA_DIR:?set by ctest}"
F="$FLEET_BUILD_DIR/apps/fleetctl"
ITEST="$FLEET_BUILD_DIR/tests/integration/history_itest"
HARNESS="$FLEET_SOURCE_DIR/tests/integration/influxd.sh"
FX_JSON="$FLEET_TEST_DATA_DIR/history_fixture.jsonl"
FX_CSV="$FLEET_TEST_DATA_DIR/history_fixture.csv"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# A clean environment: only what each test sets.
for v in $(env | sed -n 's/^\(FLEET_INFLUX_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset FLEET_SPOOL_DIR || true

tmp=$(mktemp -d)
cleanup() {
  sh "$HARNESS" stop "$tmp/influxd" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
URL=$(sh "$HARNESS" start "$tmp/influxd")
export FLEET_INFLUX_URL="$URL"

. "$(dirname "$0")/lib.sh"

query() { # query DB INFLUXQL: the JSON answer
  curl -s -G "$URL/query" --data-urlencode "db=$1" --data-urlencode "q=$2"
}
write_lp() { # write_lp DB < lines
  local code
  code=$(curl -s -o "$tmp/write.out" -w '%{http_code}' -XPOST "$URL/write?db=$1&precision=ns" \
    --data-binary @-)
  [ "$code" = 204 ] || { echo "write to $1 failed: $code $(cat "$tmp/write.out")" >&2; exit 1; }
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- influx init ---------------------------------------------------------------
run "$F" influx init
expect_rc 0
expect_stdout <<'EOF'
telemetry_raw: created (retention policy autogen, duration 7d, default)
telemetry_downsampled: created (retention policy autogen, duration 365d, default)
EOF
query telemetry_raw 'SHOW RETENTION POLICIES ON telemetry_raw' >"$tmp/rp"
expect_grep "$tmp/rp" '["autogen","168h0m0s","24h0m0s",1,true]' 1
query telemetry_downsampled 'SHOW RETENTION POLICIES ON telemetry_downsampled' >"$tmp/rp"
expect_grep "$tmp/rp" '["autogen","8760h0m0s","168h0m0s",1,true]' 1
run "$F" influx init
expect_rc 0
expect_stdout <<'EOF'
telemetry_raw: unchanged (retention policy autogen, duration 7d, default)
telemetry_downsampled: unchanged (retention policy autogen, duration 365d, default)
EOF
query telemetry_raw 'SHOW RETENTION POLICIES ON telemetry_raw' >"$tmp/rp"
expect_grep "$tmp/rp" '"values":[["autogen","168h0m0s","24h0m0s",1,true]]' 1

# Names and durations from options; a named policy becomes the default.
run "$F" influx init --raw-db t2_raw --raw-rp r3d --raw-duration 3d \
  --downsampled-db t2_ds --downsampled-rp y1 --downsampled-duration 52w
expect_rc 0
expect_stdout <<'EOF'
t2_raw: created (retention policy r3d, duration 3d, default)
t2_ds: created (retention policy y1, duration 364d, default)
EOF
query t2_raw 'SHOW RETENTION POLICIES ON t2_raw' >"$tmp/rp"
expect_grep "$tmp/rp" '["r3d","72h0m0s","24h0m0s",1,true]' 1
expect_grep "$tmp/rp" '["autogen","0s","168h0m0s",1,false]' 1
query t2_ds 'SHOW RETENTION POLICIES ON t2_ds' >"$tmp/rp"
expect_grep "$tmp/rp" '["y1","8736h0m0s","168h0m0s",1,true]' 1
run "$F" influx init --raw-db t2_raw --raw-rp r3d --raw-duration 1d \
  --downsampled-db t2_ds --downsampled-rp y1 --downsampled-duration 52w
expect_rc 0
expect_stdout <<'EOF'
t2_raw: retention changed (retention policy r3d, duration 1d, default)
t2_ds: unchanged (retention policy y1, duration 364d, default)
EOF
query t2_raw 'SHOW RETENTION POLICIES ON t2_raw' >"$tmp/rp"
expect_grep "$tmp/rp" '["r3d","24h0m0s","1h0m0s",1,true]' 1

# v3 and v2: the equivalent commands.
run "$F" influx init --influx http://db.example:8181 --influx-api v3
expect_rc 0
expect_stdout <<'EOF'
influxdb3 create database --host http://db.example:8181 --retention-period 7d telemetry_raw
influxdb3 create database --host http://db.example:8181 --retention-period 365d telemetry_downsampled
EOF
run "$F" influx init --influx http://db.example:8086 --influx-api v2 --org 'my org' \
  --downsampled-duration INF
expect_rc 0
expect_stdout <<'EOF'
influx bucket create --host http://db.example:8086 --org 'my org' --name telemetry_raw --retention 7d
influx v1 dbrp create --host http://db.example:8086 --org 'my org' --db telemetry_raw --rp autogen --default --bucket-id BUCKET_ID_OF_telemetry_raw
influx bucket create --host http://db.example:8086 --org 'my org' --name telemetry_downsampled --retention 0
influx v1 dbrp create --host http://db.example:8086 --org 'my org' --db telemetry_downsampled --rp autogen --default --bucket-id BUCKET_ID_OF_telemetry_downsampled
EOF

# v3 --apply: POST /api/v3/configure/database, seen by a small stand-in server
# that answers 200 for a new database and 409 for an existing one.
cat >"$tmp/v3stub.py" <<'EOF'
import http.server, json, sys
log, portfile = sys.argv[1], sys.argv[2]
seen = set()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                                "type": self.headers.get("Content-Type"), "body": body}) + "\n")
        db = json.loads(body)["db"]
        code = 409 if db in seen else 200
        seen.add(db)
        out = b'{"error":"attempted to create a resource that already exists"}' if code == 409 else b""
        self.send_response(code)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOF
"$PY" "$tmp/v3stub.py" "$tmp/v3.log" "$tmp/v3.port" &
v3pid=$!
for _ in $(seq 100); do [ -s "$tmp/v3.port" ] && break; sleep 0.1; done
V3="http://127.0.0.1:$(cat "$tmp/v3.port")"
printf 'tok-3\n' >"$tmp/v3token"
run "$F" influx init --influx "$V3" --influx-api v3 --apply --token-file "$tmp/v3token" \
  --downsampled-duration INF
expect_rc 0
expect_stdout <<'EOF'
telemetry_raw: created (retention 7d)
telemetry_downsampled: created (retention INF)
EOF
run "$F" influx init --influx "$V3" --influx-api v3 --apply --token-file "$tmp/v3token"
expect_rc 0
expect_stdout <<'EOF'
telemetry_raw: exists already (InfluxDB 3 cannot change its retention; asked for 7d)
telemetry_downsampled: exists already (InfluxDB 3 cannot change its retention; asked for 365d)
EOF
kill "$v3pid" 2>/dev/null || true
wait "$v3pid" 2>/dev/null || true
expect_file "$tmp/v3.log" v3.log <<'EOF'
{"path": "/api/v3/configure/database", "auth": "Bearer tok-3", "type": "application/json", "body": "{\"db\":\"telemetry_raw\",\"retention_period\":\"7d\"}"}
{"path": "/api/v3/configure/database", "auth": "Bearer tok-3", "type": "application/json", "body": "{\"db\":\"telemetry_downsampled\"}"}
{"path": "/api/v3/configure/database", "auth": "Bearer tok-3", "type": "application/json", "body": "{\"db\":\"telemetry_raw\",\"retention_period\":\"7d\"}"}
{"path": "/api/v3/configure/database", "auth": "Bearer tok-3", "type": "application/json", "body": "{\"db\":\"telemetry_downsampled\",\"retention_period\":\"365d\"}"}
EOF

# Bad command lines.
run "$F" influx init --raw-duration 10m
expect_rc 2
run "$F" influx init --raw-duration 7x
expect_rc 2
run "$F" influx init --raw-db same --downsampled-db same
expect_rc 2
run "$F" history v-001 --token secret
expect_rc 2
expect_grep "$tmp/err" "use FLEET_INFLUX_TOKEN or --token-file FILE" 1
run "$F" history v-001 --token-file "$tmp/no-such-file"
expect_rc 2
run "$F" history "v-001' OR '1'='1"
expect_rc 2
run "$F" history v-001 --from yesterday
expect_rc 2
run "$F" history v-001 --from -1h --to -2h
expect_rc 2

# ---- import the fixture --------------------------------------------------------
"$F" influx init --raw-db hx_fx --downsampled-db hx_fx_ds --raw-duration INF >/dev/null
run "$F" import --db hx_fx "$FX_JSON" "$FX_CSV"
expect_rc 1
expect_stdout <<'EOF'
import: 16 records: 7 stored, 9 rejected (9 invalid, 0 refused by InfluxDB)
EOF
expect_grep "$tmp/err" "rejected" 9
expect_grep "$tmp/err" "history_fixture.jsonl:6: rejected: lat: 95 is outside [-90, 90]" 1
expect_grep "$tmp/err" "history_fixture.jsonl:7: rejected: not a JSON object" 1
expect_grep "$tmp/err" "history_fixture.jsonl:9: rejected: vehicle_id: missing" 1
expect_grep "$tmp/err" "history_fixture.jsonl:10: rejected: fleet_id and device_type must be strings" 1
expect_grep "$tmp/err" "history_fixture.jsonl:11: rejected: vehicle_id: missing" 1
expect_grep "$tmp/err" "history_fixture.jsonl:12: rejected: tag \"fleet_id\"" 1
expect_grep "$tmp/err" "history_fixture.csv:4: rejected: lat: not a number" 1
expect_grep "$tmp/err" "history_fixture.csv:5: rejected: ignition: expected true or false" 1
expect_grep "$tmp/err" "history_fixture.csv:6: rejected: 4 fields, the header has 15" 1
printf 'vehicle_id,ts,lat,lng\n\377v,2026-05-21T11:00:00Z,1,2\n' >"$tmp/utf8.csv"
run "$F" import --db hx_fx "$tmp/utf8.csv"
expect_rc 1
expect_grep "$tmp/err" "utf8.csv:2: rejected: vehicle_id: not valid UTF-8" 1

# ---- export reads back exactly ------------------------------------------------
DAY="--from 2026-05-21T00:00:00Z --to 2026-05-22T00:00:00Z"
run "$F" export --db hx_fx $DAY
expect_rc 0
cp "$tmp/out" "$tmp/export.jsonl"
expect_grep "$tmp/err" "export: 7 points" 1
cat >"$tmp/check_export.py" <<'EOF'
import json, sys
fixture, exported = sys.argv[1], sys.argv[2]
want = []
for line in open(fixture, encoding="utf-8").read().splitlines()[:5]:
    want.append(json.loads(line))
want += [
    {"v": 1, "vehicle_id": "csv-1", "ts": "2026-05-21T11:00:00Z", "lat": 10.5, "lng": 20.25,
     "speed": 55, "heading": 90, "ignition": True, "odometer": 1000.5, "battery_v": 12.1,
     "engine_temp": 70, "fuel_level": 50, "driver_id": 'Doe, "J"', "fleet_id": "fleet-c",
     "device_type": "dev,1", "rpm": 1500, "pto": True},
    {"v": 1, "vehicle_id": "csv-1", "ts": "2026-05-21T11:01:00Z", "lat": 10.6, "lng": 20.35},
]
want.sort(key=lambda o: o["ts"])
got = [json.loads(l) for l in open(exported, encoding="utf-8")]
def same(a, b):
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if type(x) is bool or type(y) is bool:
            if x is not y: return False
        elif x != y:
            return False
    return True
if len(got) != len(want):
    sys.exit("export has %d lines, want %d" % (len(got), len(want)))
for g, w in zip(got, want):
    if not same(g, w):
        sys.exit("mismatch:\n got  %r\n want %r" % (g, w))
EOF
what="export equals the fixture's valid records"
checks=$((checks + 1))
"$PY" "$tmp/check_export.py" "$FX_JSON" "$tmp/export.jsonl" || fail "see above"

# Selected vehicles only.
run "$F" export --db hx_fx $DAY --vehicle v-002 --vehicle truck_7.A
expect_rc 0
grep -c '"vehicle_id":"v-002"\|"vehicle_id":"truck_7.A"' "$tmp/out" >"$tmp/n" || true
what="export --vehicle"
checks=$((checks + 1))
{ [ "$(cat "$tmp/n")" = 3 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ]; } || fail "$(cat "$tmp/out")"

# The export re-imports and exports again byte for byte.
"$F" influx init --raw-db hx_copy --downsampled-db hx_copy_ds --raw-duration INF >/dev/null
run "$F" import --db hx_copy "$tmp/export.jsonl"
expect_rc 0
expect_stdout <<'EOF'
import: 7 records: 7 stored, 0 rejected (0 invalid, 0 refused by InfluxDB)
EOF
run "$F" export --db hx_copy $DAY
expect_rc 0
what="re-imported export is identical"
checks=$((checks + 1))
cmp -s "$tmp/out" "$tmp/export.jsonl" || fail "$(diff "$tmp/export.jsonl" "$tmp/out")"

# CSV export holds the same values as the JSON export.
run "$F" export --db hx_fx $DAY --format csv --output "$tmp/export.csv"
expect_rc 0
cat >"$tmp/check_csv.py" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8", newline="")))
objs = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(rows) == len(objs), (len(rows), len(objs))
for r, o in zip(rows, objs):
    for k, v in r.items():
        if k == "extras":
            extras = json.loads(v) if v else {}
            known = {"v", "vehicle_id", "ts", "lat", "lng", "speed", "heading", "ignition",
                     "odometer", "battery_v", "engine_temp", "fuel_level", "driver_id",
                     "fleet_id", "device_type"}
            assert extras == {x: y for x, y in o.items() if x not in known}, (extras, o)
        elif v == "":
            assert k not in o, (k, o)
        elif k == "ignition":
            assert o[k] is (v == "true"), (k, v, o)
        elif k in ("vehicle_id", "ts", "driver_id", "fleet_id", "device_type"):
            assert o[k] == v, (k, v, o)
        else:
            assert float(v) == o[k], (k, v, o)
EOF
what="CSV export matches the JSON export"
checks=$((checks + 1))
"$PY" "$tmp/check_csv.py" "$tmp/export.csv" "$tmp/export.jsonl" || fail "see above"
what="CSV export header"
checks=$((checks + 1))
[ "$(head -1 "$tmp/export.csv")" = "vehicle_id,ts,lat,lng,speed,heading,ignition,odometer,battery_v,engine_temp,fuel_level,driver_id,fleet_id,device_type,extras" ] || fail "$(head -1 "$tmp/export.csv")"

# history --json equals the export's lines of that vehicle; CSV and GPX.
run "$F" history v-001 --db hx_fx $DAY --json --tier raw
expect_rc 0
grep '"vehicle_id":"v-001"' "$tmp/export.jsonl" >"$tmp/want.v1"
what="history --json"
checks=$((checks + 1))
cmp -s "$tmp/out" "$tmp/want.v1" || fail "$(diff "$tmp/want.v1" "$tmp/out")"
expect_grep "$tmp/err" "history: 2 points of v-001 from the raw tier" 1
run "$F" history v-002 --db hx_fx $DAY --csv --tier raw
expect_rc 0
expect_stdout <<'EOF'
vehicle_id,ts,lat,lng,speed,heading,ignition,odometer,battery_v,engine_temp,fuel_level,driver_id,fleet_id,device_type,extras
v-002,2026-05-21T10:32:00.000001Z,-89.999999,179.999999,0,359.5,false,,,-40,,,f2,obd,
v-002,2026-05-21T10:34:00Z,1e-07,-1e-07,299.99,,,,,,,,,,"{""big"":12345678901234,""neg"":-0.5}"
EOF
run "$F" history v-001 --db hx_fx $DAY --gpx --tier raw --output "$tmp/v1.gpx"
expect_rc 0
cat >"$tmp/check_gpx.py" <<'EOF'
import sys
from xml.dom import minidom
doc = minidom.parse(sys.argv[1])
gpx = doc.documentElement
assert gpx.tagName == "gpx" and gpx.getAttribute("version") == "1.1"
assert gpx.getAttribute("xmlns") == "http://www.topografix.com/GPX/1/1"
assert doc.getElementsByTagName("name")[0].firstChild.data == "v-001"
pts = doc.getElementsByTagName("trkpt")
got = [(p.getAttribute("lat"), p.getAttribute("lon"),
        p.getElementsByTagName("time")[0].firstChild.data) for p in pts]
want = [("23.8103", "90.4125", "2026-05-21T10:30:00Z"),
        ("-0.5", "-179.25", "2026-05-21T10:31:00.500Z")]
assert got == want, got
assert not doc.getElementsByTagName("ele")
EOF
what="GPX is well-formed GPX 1.1 with the track"
checks=$((checks + 1))
"$PY" "$tmp/check_gpx.py" "$tmp/v1.gpx" || fail "see above"
run "$F" history nobody --db hx_fx $DAY --gpx --tier raw
expect_rc 0
what="empty GPX parses"
checks=$((checks + 1))
"$PY" -c 'import sys; from xml.dom import minidom; d = minidom.parse(sys.argv[1]); assert not d.getElementsByTagName("trkpt")' "$tmp/out" || fail "bad XML"
run "$F" history nobody --db hx_fx $DAY
expect_rc 0
expect_grep "$tmp/out" "vehicle_id,ts" 1
# A day long ago: the raw tier no longer holds it, so auto reads the hourly tier.
expect_grep "$tmp/err" "history: 0 points of nobody from the hourly tier" 1
# Token from the environment or a file is accepted (the server has no auth).
printf 'not-a-real-token\n' >"$tmp/token"
run "$F" history v-001 --db hx_fx $DAY --tier raw --token-file "$tmp/token"
expect_rc 0
run env FLEET_INFLUX_TOKEN=not-a-real-token "$F" history v-001 --db hx_fx $DAY --tier raw
expect_rc 0
run "$F" history v-001 --db no_such_db $DAY --tier raw
expect_rc 1
expect_grep "$tmp/err" "database not found: no_such_db" 1

# ---- the server's refusals come back with line numbers --------------------------
# telemetry_raw keeps 7 days: the fixture's May points are refused.
run "$F" import "$FX_JSON"
expect_rc 1
expect_stdout <<'EOF'
import: 11 records: 0 stored, 11 rejected (6 invalid, 5 refused by InfluxDB)
EOF
for n in 1 2 3 4 5; do
  expect_grep "$tmp/err" "history_fixture.jsonl:$n: rejected by InfluxDB:" 1
done

# ---- tier selection ------------------------------------------------------------
now=$(date +%s)
"$PY" - "$now" >"$tmp/recent.jsonl" <<'EOF'
import sys, datetime
now = int(sys.argv[1])
for i in range(30):
    t = datetime.datetime.fromtimestamp(now - 3600 + 120 * i, datetime.timezone.utc)
    print('{"v":1,"ts":"%s","lat":%s,"lng":1,"vehicle_id":"tier-v"}'
          % (t.strftime("%Y-%m-%dT%H:%M:%SZ"), i / 10))
EOF
run "$F" import "$tmp/recent.jsonl"
expect_rc 0
expect_grep "$tmp/out" "import: 30 records: 30 stored, 0 rejected" 1
hour=$((now / 3600 * 3600))
for k in $(seq 1 70); do
  echo "telemetry_hourly,vehicle_id=tier-v samples=${k}i,speed_mean=$k.5,lat=1,lng=2 $(((hour - 3600 * k) * 1000000000))"
done | write_lp telemetry_downsampled
TO=$(iso $((now + 60)))
run "$F" history tier-v --from "$(iso $((now - 7200)))" --to "$TO"
expect_rc 0
expect_grep "$tmp/err" "history: 30 points of tier-v from the raw tier" 1
run "$F" history tier-v --from -2h
expect_grep "$tmp/err" "history: 30 points of tier-v from the raw tier" 1
run "$F" history tier-v --from "$(iso $((now - 3 * 86400)))" --to "$TO"
expect_rc 0
expect_grep "$tmp/err" "history: 70 points of tier-v from the hourly tier" 1
what="hourly CSV header"
checks=$((checks + 1))
[ "$(head -1 "$tmp/out")" = "vehicle_id,ts,lat,lng,samples,last_ts,speed_mean,speed_max,distance_m,moving_s,idle_s,fuel_min,fuel_max,battery_min,battery_max,fleet_id,device_type" ] || fail "$(head -1 "$tmp/out")"
# From the start of the hour two hours before this one: exactly two hourly points.
run "$F" history tier-v --from "$(iso $((hour - 7200)))" --to "$TO" --tier hourly --json
expect_rc 0
expect_grep "$tmp/err" "history: 2 points of tier-v from the hourly tier" 1
expect_grep "$tmp/out" "\"hourly\":{\"samples\":" 2
expect_grep "$tmp/out" "\"speed\":2.5," 1
run "$F" history tier-v --from "$(iso $((now - 3 * 86400)))" --to "$TO" --tier raw
expect_grep "$tmp/err" "history: 30 points of tier-v from the raw tier" 1

# ---- the reader library: streaming, injection, events, errors ------------------
"$F" influx init --raw-db hx_stream --downsampled-db hx_events --raw-duration INF \
  --downsampled-duration INF >/dev/null
T0=$(((now - 600) * 1000000000))
N=20000
"$PY" - "$T0" "$N" <<'EOF' | write_lp hx_stream
import sys
t0, n = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(n):
    out.write("telemetry,vehicle_id=stream-v,fleet_id=f lat=%r,lng=1.25,speed=%di %d\n"
              % (i / 1000 - 10, i % 120, t0 + i * 1000000))
EOF
write_lp hx_events <<'EOF'
trips,vehicle_id=v-001,fleet_id=f1 start_ns=1000000000000i,end_ns=1600000000000i,distance_m=5400.5,duration_s=600,moving_s=540,idle_s=60,max_speed_kmh=92.5,avg_speed_kmh=32.403,fuel_l=0.75,start_lat=23.8,start_lng=90.4,end_lat=23.9,end_lng=90.5 1000000000000
trips,vehicle_id=v-002 start_ns=1500000000000i,end_ns=1700000000000i,distance_m=100,duration_s=200,moving_s=20,idle_s=180,max_speed_kmh=10,avg_speed_kmh=1.8,start_lat=1,start_lng=2,end_lat=1.001,end_lng=2.001 1500000000000
trips,vehicle_id=v-003 start_ns=2500000000000i,end_ns=2600000000000i,distance_m=1 2500000000000
geofence_events,vehicle_id=v-001 zone_id="depot-1",zone_name="Depot \"North\", gate 2",event="enter",lat=23.8,lng=90.4 1100000000000
geofence_events,vehicle_id=v-001 zone_id="depot-1",zone_name="Depot \"North\", gate 2",event="exit",dwell_s=300,lat=23.81,lng=90.41 1400000000000
alerts,vehicle_id=v-001 rule="speed-80",type="overspeed",severity="critical",message="speed 96.5 km/h over limit 80 km/h",value=96.5,limit=80,lat=1,lng=2 1200000000000
alerts,vehicle_id=v-002 rule="zone-watch",type="zone_exit",severity="info",message="left 'yard'",value=0,limit=0,zone_id="yard" 1300000000000
EOF
run env HX_FX_DB=hx_fx HX_STREAM_DB=hx_stream HX_STREAM_T0="$T0" HX_STREAM_N="$N" \
  HX_EVENTS_DB=hx_events "$ITEST"
expect_rc 0
grep '^#\|PASSED\|FAILED' "$tmp/out" || true
if [ "$rc" -ne 0 ]; then cat "$tmp/out" "$tmp/err" >&2; fi

# ---- spool status and replay ---------------------------------------------------
run "$ITEST" mkspool "$tmp/spool"
expect_rc 0
run "$F" spool status --spool-dir "$tmp/spool"
expect_rc 0
expect_grep "$tmp/out" "records: 2" 1
expect_grep "$tmp/out" "oldest: record 1 (" 1
expect_grep "$tmp/out" "2 lines), earliest point 2026-05-21T10:28:20Z" 1
"$F" influx init --raw-db hx_spool --downsampled-db hx_spool_ds --raw-duration INF >/dev/null
run "$F" spool replay --spool-dir "$tmp/spool" --db hx_spool --timeout-ms 20000
expect_rc 0
expect_stdout <<'EOF'
replay: 2 batches replayed, 3 points stored, 0 refused by InfluxDB, 0 records left in the spool
EOF
run "$F" history spool-v --db hx_spool $DAY --tier raw
expect_grep "$tmp/err" "history: 3 points of spool-v from the raw tier" 1
run "$F" spool status --spool-dir "$tmp/spool"
expect_rc 0
expect_grep "$tmp/out" "records: 0" 1
expect_grep "$tmp/out" "oldest: none (empty)" 1
run "$F" spool status --spool-dir "$tmp/no-spool"
expect_rc 1
run "$F" spool status
expect_rc 2

finish
