#!/bin/sh
# /readyz follows the InfluxDB databases fleetd writes to, with a real
# mosquitto and influxd: fleetd started before `fleetctl influx init` is not
# ready and names the missing databases; it is ready within seconds of the
# init; a database dropped later is noticed from the writer's 404 and named.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

# Not start_servers: it creates the databases, which is what this test must not.
sh "$IT/mosquitto.sh" start "$T/mosquitto" >/dev/null || fail "mosquitto did not start"
MQTT_URL=$(cat "$T/mosquitto/url")
INFLUX_URL=$(sh "$IT/influxd.sh" start "$T/influxd") || fail "influxd did not start"
log "mosquitto $MQTT_URL, influxd $INFLUX_URL"

start_fleetd fd --http 127.0.0.1:0
port=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/fd.log" | tail -n 1)
[ -n "$port" ] || fail "no HTTP port in the log"
base="http://127.0.0.1:$port"

# readyz: "STATUS DETAIL" (DETAIL: the body's "detail", or the body for 200).
readyz() {
  curl -s --max-time 5 -o "$T/readyz.body" -w '%{http_code}' "$base/readyz" >"$T/readyz.code" ||
    true
  "$PY" -c 'import json, sys
code, body = open(sys.argv[1]).read(), open(sys.argv[2]).read()
try:
    body = json.loads(body)["detail"]
except ValueError:
    body = body.strip()
print(code, body)' "$T/readyz.code" "$T/readyz.body"
}

# wait_ready EXPECTED: poll /readyz until it answers EXPECTED (WAIT_S at most).
wait_ready() {
  wait_value "$1" "readyz" readyz
}

influxql() {
  curl -s --max-time 10 -XPOST "$INFLUX_URL/query" --data-urlencode "q=$1" >/dev/null ||
    fail "InfluxDB: $1"
}

[ "$(curl -s --max-time 5 "$base/healthz")" = "ok" ] || fail "healthz"

# Every thread carries its name (top -H, /proc): both writers,
# the sync thread, the gateway's service and worker threads, the database check.
names=$(cat /proc/"$(cat "$T/fd.pid")"/task/*/comm | sort | tr '\n' ' ')
log "threads: $names"
for want in fleet-influx fleetd-sync fleet-ws fleetd-worker fleetd-dbcheck; do
  case " $names " in *" $want "*) ;; *) fail "no thread named $want (threads: $names)" ;; esac
done
[ "$(cat /proc/"$(cat "$T/fd.pid")"/task/*/comm | grep -c '^fleet-influx$')" -eq 2 ] ||
  fail "not two fleet-influx threads (threads: $names)"

# Both databases missing: 503 naming them (the first check runs at start).
wait_ready "503 InfluxDB databases 'telemetry_raw' and 'telemetry_downsampled' do not exist (fleetctl influx init creates them)"

# One of them made by hand: only the other one is named.
influxql 'CREATE DATABASE telemetry_raw'
wait_ready "503 InfluxDB database 'telemetry_downsampled' does not exist (fleetctl influx init creates it)"

# fleetctl influx init: ready within a few seconds (checks every 2 s).
"$FLEETCTL" influx init --influx "$INFLUX_URL" >/dev/null || fail "fleetctl influx init failed"
t0=$(date +%s)
wait_ready "200 ok"
took=$(( $(date +%s) - t0 ))
log "ready $took s after fleetctl influx init"
[ "$took" -le 15 ] || fail "ready only $took s after fleetctl influx init"
grep -q 'msg="InfluxDB databases present: ready"' "$T/fd.log" || fail "no log line for ready"

# Ready means fleetd writes: one fix reaches the raw tier.
ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf 'fleet/v-1/telemetry\t{"v":1,"ts":"%s","lat":1,"lng":2}\n' "$ts" >"$T/one.tsv"
publish "$T/one.tsv"
wait_value 1 "points in telemetry_raw" raw_count

# A database dropped while fleetd runs: the writer's 404 makes it look again.
influxql 'DROP DATABASE telemetry_raw'
ts=$(date -u -d '+1 second' +%Y-%m-%dT%H:%M:%SZ)
printf 'fleet/v-1/telemetry\t{"v":1,"ts":"%s","lat":1,"lng":2.001}\n' "$ts" >"$T/two.tsv"
publish "$T/two.tsv"
wait_ready "503 InfluxDB database 'telemetry_raw' does not exist (fleetctl influx init creates it)"

# Back: no database is named any more; the refused write waits for the
# writer's next attempt (config_retry_ms), until then its error is the reason.
"$FLEETCTL" influx init --influx "$INFLUX_URL" >/dev/null || fail "fleetctl influx init failed"
i=0
while :; do
  got=$(readyz)
  case $got in
    "200 ok" | "503 InfluxDB writes are failing"*) break ;;
  esac
  i=$((i + 1))
  [ $i -lt 150 ] || fail "readyz after the second init: '$got'"
  sleep 0.1
done
log "after the second init: $got"

stop_fleetd fd
log "ok"
