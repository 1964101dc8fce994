#!/usr/bin/env bash
# Load test of the whole stack over TLS (a benchmark that prints figures, not a
# test): DEVICES simulated devices, each with its own client certificate and
# its own MQTT-over-TLS connection, against mosquitto (the deployed
# deploy/mosquitto/mosquitto-tls.conf: require_certificate,
# use_identity_as_username, ACL, CRL), influxd, fleetd (mqtts with its client
# certificate, HTTP gateway) and WS_CLIENTS WebSocket clients subscribed to
# every vehicle, everything on 127.0.0.1 in a temporary directory.
#
#   bench/load_tls.sh [BUILD_DIR]          (default: ./build)
#
# Phases (two fleet-sim runs, each starting with DEVICES TLS handshakes, timed):
#   p1     random intervals of 1-30 s per device for P1_S seconds
#   p2     every device at 1 Hz for P2_S seconds, then, in the same run:
#   storm  mosquitto is stopped (SIGTERM: it saves its persistence) and started
#          again with the same configuration and persistence, under the 1 Hz
#          load; timed: broker back, every device connection back (fleet-sim
#          --status-file, 1 s resolution), fleetd back (/readyz 200); the 1 Hz
#          load goes on for POST_STORM_S seconds after that, then the
#          simulator is stopped and waits for its last PUBACKs
# The WebSocket clients (build/bench/bench_ws_clients) measure publish-to-
# WebSocket latency (receipt time - payload ts; fleet-sim stamps each payload
# with the moment it is due) in every phase. Every SAMPLE_S seconds the CPU %
# and RSS of mosquitto, influxd, fleetd, fleet-sim and the WebSocket client
# process are read from /proc. At the end, after fleetd has drained:
# published = stored, exactly: the sum of fleet-sim's acknowledged messages
# against count(lat) of telemetry in InfluxDB, per phase (by time range) and
# per vehicle (mismatches listed).
#
# Environment: DEVICES (10000), P1_S (120), P2_S (180), POST_STORM_S (30),
# STORM_MAX_S (longest wait for the reconnections, 900), WS_CLIENTS (20),
# WS_INTERVAL_MS (1000), WS_BATCH (1: "batch":true as the dashboard; 0: one
# update a frame), WSS (0: plain WS; 1: WSS with the PKI's gateway
# certificate), MQ_EXTRA (broker settings added to the deployed ones),
# CONNECT_BURST (fleet-sim
# connection attempts in progress at once, 256), SAMPLE_S (5),
# LOAD_PKI_DIR (the PKI, made once by scripts/make-pki.sh and reused:
# ~/.cache/libfleet-load/pki), LOAD_KEEP=1 keeps the temporary directory (logs,
# samples, reports). Every command is printed before it runs; figures are on
# lines starting with RESULT.
set -euo pipefail

SRC=${FLEET_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
B=$(cd "${1:-$SRC/build}" && pwd)
DEVICES=${DEVICES:-10000}
P1_S=${P1_S:-120}
P2_S=${P2_S:-180}
POST_STORM_S=${POST_STORM_S:-30}
STORM_MAX_S=${STORM_MAX_S:-900}
WS_CLIENTS=${WS_CLIENTS:-20}
WS_INTERVAL_MS=${WS_INTERVAL_MS:-1000}
WS_BATCH=${WS_BATCH:-1}
WSS=${WSS:-0}
CONNECT_BURST=${CONNECT_BURST:-256}
SAMPLE_S=${SAMPLE_S:-5}
PKI=${LOAD_PKI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/libfleet-load/pki}
PY=${FLEET_PYTHON:-/usr/bin/python3}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
FLEETD=$B/apps/fleetd
FLEETCTL=$B/apps/fleetctl
SIM=$B/apps/fleet-sim
WSB=$B/bench/bench_ws_clients

die() { echo "load_tls.sh: $*" >&2; exit 1; }
for p in "$FLEETD" "$FLEETCTL" "$SIM" "$MOSQUITTO"; do
  [ -x "$p" ] || die "missing $p (build the apps; Debian package mosquitto)"
done
command -v influxd >/dev/null || die "influxd not found (Debian package influxdb)"
isnum() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }
for v in DEVICES P1_S P2_S POST_STORM_S STORM_MAX_S WS_CLIENTS WS_INTERVAL_MS CONNECT_BURST SAMPLE_S; do
  isnum "${!v}" && [ "${!v}" -gt 0 ] || die "$v='${!v}' is not a positive whole number"
done
# fleet-sim names vehicles PREFIX + 5 digits below 100,000 vehicles.
[ "$DEVICES" -lt 100000 ] || die "DEVICES must be below 100000"
have_ws=1
[ -x "$WSB" ] || have_ws=0

# One descriptor per connection in mosquitto and in fleet-sim.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((DEVICES + 1024)) ] ||
  die "ulimit -n is $(ulimit -n): $DEVICES connections need $((DEVICES + 1024)) (raise the hard limit)"

T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-load-tls.XXXXXX")
mkdir -p "$T/pids"
. "$SRC/bench/lib.sh"
PIDS=()
cleanup() {
  status=$?
  trap - EXIT INT TERM
  # Ours only, by pid: the sampler, clients, simulators, fleetd, then the servers.
  for f in "$T"/pids/*; do
    [ -f "$f" ] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    i=0
    while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  stop_servers
  if [ "${LOAD_KEEP:-0}" = 1 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bg NAME CMD...: start CMD in the background (its output in $T/NAME.out and
# .err), record its pid for the sampler and the cleanup.
bg() {
  local name=$1
  shift
  echo "\$ $* &" >&2
  "$@" >"$T/$name.out" 2>"$T/$name.err" &
  echo $! >"$T/pids/$name"
  PIDS+=("$!")
}
# reap NAME: wait for it; its exit status in rc.
reap() {
  rc=0
  wait "$(cat "$T/pids/$1")" || rc=$?
  rm -f "$T/pids/$1"
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
free_port() {
  "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}
json() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
phase() { echo "$1" >"$T/phase"; }
phase setup

echo "== machine"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "uptime: $(uptime)"
echo "cpus: $(nproc), memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "mosquitto $("$MOSQUITTO" -h 2>&1 | sed -n 's/^mosquitto version //p' | head -n 1)," \
  "$(influxd version 2>&1 | head -n 1), $(openssl version)"
echo "devices $DEVICES, p1 ${P1_S}s (1-30 s intervals), p2 ${P2_S}s (1 Hz), then a broker restart" \
  "(1 Hz goes on, ${POST_STORM_S}s after all are back), $WS_CLIENTS WebSocket clients" \
  "($([ "$WSS" = 1 ] && echo WSS || echo plain WS), $([ "$WS_BATCH" = 1 ] && echo batched || echo one update a frame)," \
  "interval_ms $WS_INTERVAL_MS)"

# ---- the PKI: made once, reused ---------------------------------------------------------
echo
echo "== PKI ($PKI)"
ids=$(seq -f 'v-%05g' 0 $((DEVICES - 1)) | paste -sd,)
t0=$(now_ms)
echo "\$ $SRC/scripts/make-pki.sh $PKI --device-ids v-00000,...,v-$(printf '%05d' $((DEVICES - 1))) --jobs $(nproc)" >&2
"$SRC/scripts/make-pki.sh" "$PKI" --device-ids "$ids" --jobs "$(nproc)"
echo "RESULT pki: $(secs "$t0" "$(now_ms)") s for the CA, server and $DEVICES device certificates" \
  "(0 s of it when cached)"

# ---- mosquitto: the deployed configuration on loopback ports ------------------------------
# mosquitto.sh --pki runs deploy/mosquitto/mosquitto-tls.conf (TLS 1.2, client
# certificate required, CN = user name, the deployed ACL and CRL, persistence)
# with paths and ports moved into $MQ; max_connections stays at its default,
# -1 (no limit), and the harness raises `ulimit -n` to the hard limit.
# MQ_EXTRA: broker settings added after the deployed ones (mosquitto.sh's
# extra.conf), e.g. MQ_EXTRA='max_inflight_messages 1000'.
MQ=$T/mosquitto
mkdir -p "$MQ"
[ -z "${MQ_EXTRA:-}" ] || printf '%s\n' "$MQ_EXTRA" >"$MQ/extra.conf"
start_mosquitto() {
  run sh "$IT/mosquitto.sh" start "$MQ" --pki "$PKI" >/dev/null
  cp "$MQ/mosquitto.pid" "$T/pids/mosquitto"
}
stop_mosquitto() {
  run sh "$IT/mosquitto.sh" stop "$MQ"
  rm -f "$T/pids/mosquitto"
}

echo
echo "== servers"
start_mosquitto
MQ_PORT=$(cat "$MQ/tls_port")
INFLUX_URL=$(run sh "$IT/influxd.sh" start "$T/influxd")
cp "$T/influxd/influxd.pid" "$T/pids/influxd"
run "$FLEETCTL" influx init --influx "$INFLUX_URL" >/dev/null

FD=$T/fleetd
mkdir -p "$FD"
echo bench-pass | run "$FLEETCTL" user add bench --role viewer --state-dir "$FD" >/dev/null
TOKEN=$("$FLEETCTL" token bench --ttl 86400 --state-dir "$FD")
http_tls=()
scheme=ws
if [ "$WSS" = 1 ]; then
  http_tls=(--set "http_tls_cert=$PKI/gateway.crt" --set "http_tls_key=$PKI/gateway.key")
  scheme=wss
fi
bg fleetd "$FLEETD" --mqtt "mqtts://127.0.0.1:$MQ_PORT" --influx "$INFLUX_URL" --state-dir "$FD" \
  --set "mqtt.ca_file=$PKI/ca.crt" --set "mqtt.cert_file=$PKI/fleetd.crt" \
  --set "mqtt.key_file=$PKI/fleetd.key" --http 127.0.0.1:0 "${http_tls[@]}" --stats-interval 10
HTTP_PORT=""
for _ in $(seq 300); do
  HTTP_PORT=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/fleetd.err" | tail -n 1)
  [ -n "$HTTP_PORT" ] && break
  kill -0 "$(cat "$T/pids/fleetd")" 2>/dev/null || { tail "$T/fleetd.err" >&2; die "fleetd exited"; }
  sleep 0.1
done
[ -n "$HTTP_PORT" ] || die "no HTTP port in fleetd's log"
HTTP=http://127.0.0.1:$HTTP_PORT
[ "$WSS" = 1 ] && HTTP=https://127.0.0.1:$HTTP_PORT
curl_fd() { curl -s --max-time 5 --cacert "$PKI/ca.crt" "$@"; }
ready() { [ "$(curl_fd -o /dev/null -w '%{http_code}' "$HTTP/readyz" 2>/dev/null || true)" = 200 ]; }
metric() { curl_fd "$HTTP/metrics" | awk -v m="$1" '$1 == m { print $2; exit }'; }
for _ in $(seq 600); do ready && break; sleep 0.1; done
ready || { tail "$T/fleetd.err" >&2; die "fleetd not ready (/readyz)"; }
[ -z "${MQ_EXTRA:-}" ] || echo "mosquitto: deployed configuration plus: $MQ_EXTRA"
echo "mosquitto mqtts://127.0.0.1:$MQ_PORT (pid $(cat "$T/pids/mosquitto")), influxd $INFLUX_URL," \
  "fleetd $HTTP (WebSocket $scheme://127.0.0.1:$HTTP_PORT/ws)"

# ---- the sampler: raw /proc readings, turned into CPU % afterwards ------------------------
# cpu_ticks NAME: user + system clock ticks of process NAME (0 when gone).
cpu_ticks() {
  local t
  t=$(proc_ticks "$(cat "$T/pids/$1" 2>/dev/null)")
  [ "$t" = - ] && t=0
  echo "$t"
}
sampler() {
  while :; do
    local now ph f name pid ticks rss
    now=$(now_ms)
    ph=$(cat "$T/phase")
    for f in "$T"/pids/*; do
      [ -f "$f" ] || continue
      name=${f##*/}
      [ "$name" = sampler ] && continue
      pid=$(cat "$f" 2>/dev/null) || continue
      ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) || continue
      rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
      [ -n "$ticks" ] && [ -n "$rss" ] && echo "$now $ph ${name%%.*} $pid $ticks $rss"
    done >>"$T/samples.txt"
    sleep "$SAMPLE_S"
  done
}
sampler &
echo $! >"$T/pids/sampler"
PIDS+=("$!")

# ---- one phase ------------------------------------------------------------------------
ACKED_TOTAL=0
# start_sim NAME fleet-sim options...: DEVICES connections, one certificate each.
start_sim() {
  local name=$1
  shift
  bg "sim.$name" "$SIM" --mqtt "mqtts://127.0.0.1:$MQ_PORT" --cafile "$PKI/ca.crt" \
    --cert-dir "$PKI/devices" --vehicle-prefix v- --vehicles "$DEVICES" --qos 1 --seed 1 \
    --connect-burst "$CONNECT_BURST" --connect-timeout 600 --ack-timeout 120 \
    --status-file "$T/status.$name.json" --report "$T/report.$name.json" "$@"
}
st() { json "$T/status.$1.json" "$2" 2>/dev/null || echo none; }
# wait_publishing NAME: until the simulator has connected everything (or
# given up waiting); prints the seconds its connect phase took.
wait_publishing() {
  local i=0
  until [ "$(st "$1" "r['phase'] != 'connecting'")" = True ]; do
    kill -0 "$(cat "$T/pids/sim.$1")" 2>/dev/null || { cat "$T/sim.$1.err" >&2; die "fleet-sim $1 exited"; }
    i=$((i + 1))
    [ $i -lt 6500 ] || die "fleet-sim $1 still connecting after 650 s"
    sleep 0.1
  done
  st "$1" "r['elapsed_s']"
}
# start_ws NAME DURATION
start_ws() {
  [ "$have_ws" = 1 ] || return 0
  local ca=()
  [ "$WSS" = 1 ] && ca=(--cafile "$PKI/ca.crt")
  [ "$WS_BATCH" = 1 ] && ca+=(--batch)
  bg "ws.$1" "$WSB" --url "$scheme://127.0.0.1:$HTTP_PORT/ws" --token "$TOKEN" \
    --clients "$WS_CLIENTS" --duration "$2" --warmup 5 --interval-ms "$WS_INTERVAL_MS" \
    --vehicles '*' "${ca[@]}" --report "$T/ws.$1.json"
}
# finish_ws NAME [stop]: its figures, after its duration or at once with
# "stop" (SIGTERM: it prints what it measured until then and exits with 1).
finish_ws() {
  [ "$have_ws" = 1 ] || { echo "RESULT $1 latency: not measured (no $WSB)"; return 0; }
  [ "${2:-}" = stop ] && kill -TERM "$(cat "$T/pids/ws.$1")"
  reap "ws.$1"
  [ "$rc" = 0 ] || [ "${2:-}" = stop ] ||
    echo "bench_ws_clients $1 exited with status $rc: $(tail -n 3 "$T/ws.$1.err")"
  sed "s/^/RESULT $1 latency: /" "$T/ws.$1.out"
}
# finish_sim NAME: its figures; adds its acknowledged messages to ACKED_TOTAL.
finish_sim() {
  local name=$1
  reap "sim.$name"
  echo "fleet-sim $name: $(cat "$T/sim.$name.out") (exit status $rc)"
  [ -s "$T/sim.$name.err" ] && sed 's/^/  stderr: /' "$T/sim.$name.err" | tail -n 5
  local r=$T/report.$name.json
  echo "RESULT $name published: $(json "$r" "'published %d, acked %d, resent %d, unsent %d, connect failures %d, connection losses %d, %.0f msg/s over %.1f s' % (r['published'], r['acked'], r['resent'], r['unsent'], r['connect_failures'], r['connection_losses'], r['rate'], r['elapsed_s'])")"
  ACKED_TOTAL=$((ACKED_TOTAL + $(json "$r" "r['acked']")))
}

# phase_run NAME fleet-sim options...: the simulator, its handshakes timed.
phase_run() {
  local name=$1
  shift
  echo
  phase "$name"
  local conn_s mq0 mq1 sim1
  mq0=$(cpu_ticks mosquitto)
  start_sim "$name" "$@"
  conn_s=$(wait_publishing "$name")
  now_ms >"$T/t_pub.$name"
  mq1=$(cpu_ticks mosquitto)
  sim1=$(cpu_ticks "sim.$name")
  echo "RESULT $name handshakes: $(st "$name" "r['ever_connected']") of $DEVICES TLS connections" \
    "(TCP + TLS 1.2 with a client certificate + MQTT CONNECT) up in $conn_s s," \
    "connect burst $CONNECT_BURST; CPU per connection: mosquitto" \
    "$(awk -v d=$((mq1 - mq0)) -v hz="$HZ" -v n="$DEVICES" 'BEGIN { printf "%.2f", d * 1000 / hz / n }') ms," \
    "fleet-sim $(awk -v d="$sim1" -v hz="$HZ" -v n="$DEVICES" 'BEGIN { printf "%.2f", d * 1000 / hz / n }') ms"
}

# ---- phase 1: random intervals ----------------------------------------------------------
echo "== p1: $DEVICES devices, random 1-30 s intervals, ${P1_S}s"
phase_run p1 --duration "$P1_S" --interval-min 1 --interval-max 30
start_ws p1 $((P1_S > 20 ? P1_S - 10 : P1_S))
finish_ws p1
finish_sim p1
now_ms >"$T/t_end.p1"

# ---- phase 2: 1 Hz, then the reconnect storm in the same run ----------------------------
# The simulator runs until told to stop (SIGTERM: it stops generating, then
# waits for every PUBACK), so that the storm lasts as long as it takes.
echo "== p2: $DEVICES devices at 1 Hz, ${P2_S}s; then mosquitto restarted under that load"
phase_run p2 --interval 1
start_ws p2 $((P2_S > 20 ? P2_S - 10 : P2_S))
finish_ws p2
while [ $(($(now_ms) - $(cat "$T/t_pub.p2"))) -lt $((P2_S * 1000)) ]; do sleep 0.2; done

echo
echo "== storm: mosquitto stopped (SIGTERM) and started again with the same configuration and persistence"
phase storm
# Did one simulator keep the pace? Messages due by now vs generated.
echo "RESULT p2 pace: $(st p2 "r['generated']") messages generated in the first ${P2_S}s" \
  "(due: $((DEVICES * P2_S))), $(st p2 "r['queued']") queued, $(st p2 "r['inflight']") in flight"
losses0=$(st p2 "r['connection_losses']")
acked0=$(st p2 "r['acked']")
reconnects0=$(metric fleetd_mqtt_reconnects_total)
# Its clients stay connected to fleetd through the storm: their latency
# includes what the restart delayed.
start_ws storm $((STORM_MAX_S + POST_STORM_S + 60))
sleep 8
t_stop=$(now_ms)
stop_mosquitto
t_stopped=$(now_ms)
start_mosquitto
t_up=$(now_ms)
t_all="" t_ready="" t_mq=""
while [ $(($(now_ms) - t_up)) -lt $((STORM_MAX_S * 1000)) ]; do
  now=$(now_ms)
  if [ -z "$t_all" ] && [ "$(st p2 "r['connected'] == $DEVICES and r['connection_losses'] >= $losses0 + $DEVICES")" = True ]; then
    t_all=$now
  fi
  if [ -z "$t_mq" ] && [ "$(metric fleetd_mqtt_connected)" = 1 ] &&
    [ "$(metric fleetd_mqtt_reconnects_total)" -gt "$reconnects0" ]; then
    t_mq=$now
  fi
  [ -z "$t_ready" ] && [ -n "$t_mq" ] && ready && t_ready=$now
  [ -n "$t_all" ] && [ -n "$t_ready" ] && break
  kill -0 "$(cat "$T/pids/sim.p2")" 2>/dev/null || break
  sleep 0.2
done
echo "RESULT storm broker: SIGTERM to exit $(secs "$t_stop" "$t_stopped") s (saves its persistence)," \
  "restart to listening $(secs "$t_stopped" "$t_up") s"
if [ -n "$t_all" ]; then
  echo "RESULT storm devices: all $DEVICES device connections back $(secs "$t_up" "$t_all") s after the" \
    "broker listened again ($(secs "$t_stop" "$t_all") s after the stop; status file: 1 s resolution)"
else
  echo "RESULT storm devices: NOT all back within ${STORM_MAX_S}s: $(cat "$T/status.p2.json")"
fi
if [ -n "$t_ready" ]; then
  echo "RESULT storm fleetd: connected again $(secs "$t_up" "$t_mq") s, /readyz 200" \
    "$(secs "$t_up" "$t_ready") s after the broker listened again"
else
  echo "RESULT storm fleetd: NOT back (/readyz, fleetd_mqtt_connected)"
fi
echo "storm: connection losses $(st p2 "r['connection_losses'] - $losses0"), connect failures" \
  "$(st p2 "r['connect_failures']") (attempts while the broker was away or busy)"
# Publishing goes on at 1 Hz for POST_STORM_S after everything is back.
sleep "$POST_STORM_S"
finish_ws storm stop
kill -TERM "$(cat "$T/pids/sim.p2")"
finish_sim p2
echo "storm: acknowledged after the restart $(($(json "$T/report.p2.json" "r['acked']") - acked0))"
now_ms >"$T/t_end.p2"
phase drain

# ---- published = stored ------------------------------------------------------------------
echo
echo "== published = stored"
influx() {
  curl -sG --max-time 60 "$INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "q=$2"
}
raw_count() {
  influx telemetry_raw "SELECT count(lat) FROM telemetry${1:-}" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
try:
    print(d["results"][0]["series"][0]["values"][0][1])
except (KeyError, IndexError):
    print(0)'
}
# fleetd has drained when InfluxDB holds every acknowledged message, or when
# nothing moved for 30 s (then the difference is the loss).
t_d=$(now_ms)
last=-1 still=0
while :; do
  n=$(raw_count)
  [ "$n" -ge "$ACKED_TOTAL" ] && break
  if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
  [ $still -lt 30 ] || break
  [ $(($(now_ms) - t_d)) -lt 600000 ] || break
  last=$n
  sleep 1
done
echo "drained in $(secs "$t_d" "$(now_ms)") s after the last phase;" \
  "fleetd queue raw=$(curl_fd "$HTTP/metrics" | awk '$1 ~ /^fleetd_influx_queue_points/ && /raw/ { print $2 }')," \
  "spool bytes $(curl_fd "$HTTP/metrics" | awk '$1 ~ /^fleetd_influx_spool_bytes/ && /raw/ { print $2 }')"
stored=$(raw_count)
echo "RESULT published = stored: fleet-sim acknowledged $ACKED_TOTAL, InfluxDB telemetry count(lat)" \
  "$stored: $([ "$stored" = "$ACKED_TOTAL" ] && echo EXACT || echo "DIFFERENCE $((stored - ACKED_TOTAL))")"
from=0
for ph in p1 p2; do
  # ts of a phase: after the end of the previous one (its payloads are
  # stamped from the end of its own connect phase on) to the end of its
  # publishing.
  to=$(cat "$T/t_end.$ph")
  n=$(raw_count " WHERE time >= ${from}ms AND time <= ${to}ms")
  a=$(json "$T/report.$ph.json" "r['acked']")
  echo "RESULT $ph stored: acked $a, stored $n: $([ "$n" = "$a" ] && echo EXACT || echo "DIFFERENCE $((n - a))")"
  from=$((to + 1))
done
influx telemetry_raw 'SELECT count(lat) FROM telemetry GROUP BY vehicle_id' >"$T/per_vehicle.json"
"$PY" - "$T/per_vehicle.json" "$T"/report.p1.json "$T"/report.p2.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
stored = {s["tags"]["vehicle_id"]: s["values"][0][1] for s in d["results"][0].get("series", [])}
acked = {}
for f in sys.argv[2:]:
    r = json.load(open(f))
    per = r.get("per_vehicle_acked") or {}
    for k, v in per.items():
        acked[k] = acked.get(k, 0) + v
bad = [(k, acked.get(k, 0), stored.get(k, 0)) for k in sorted(set(acked) | set(stored))
       if acked.get(k, 0) != stored.get(k, 0)]
print("RESULT per vehicle: %d vehicles acknowledged, %d stored, %d mismatches" %
      (len(acked), len(stored), len(bad)))
for k, a, s in bad[:50]:
    print("  %s: acked %d, stored %d" % (k, a, s))
EOF
echo "fleetd counters: received $(metric fleetd_messages_received_total)," \
  "accepted $(metric fleetd_messages_accepted_total), duplicates $(metric fleetd_fixes_duplicate_total)," \
  "late $(metric fleetd_fixes_late_total), dead-lettered raw" \
  "$(curl_fd "$HTTP/metrics" | awk '$1 ~ /^fleetd_influx_points_dead_lettered_total/ && /raw/ { print $2 }')," \
  "WebSocket messages sent $(metric fleetd_ws_messages_sent_total), slow disconnects $(metric fleetd_ws_slow_disconnects_total)"
for db in telemetry_raw telemetry_downsampled; do
  influx "$db" 'SHOW MEASUREMENTS' | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(v[0] for s in d["results"][0].get("series", []) for v in s["values"]))' |
    tr ' ' '\n' | while read -r m; do
    [ -n "$m" ] || continue
    c=$(influx "$db" "SELECT count(*) FROM \"$m\"" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
try:
    print(max(v for v in d["results"][0]["series"][0]["values"][0][1:] if v is not None))
except (KeyError, IndexError, ValueError):
    print(0)')
    echo "  $db.$m: $c points"
  done
done

# ---- CPU and memory -----------------------------------------------------------------------
kill -TERM "$(cat "$T/pids/sampler")" 2>/dev/null || true
rm -f "$T/pids/sampler"
echo
echo "== CPU % (of one core) and RSS (MB) per process, sampled every ${SAMPLE_S}s (mean / max)"
# CPU % between consecutive samples of the same process; RSS as sampled.
awk -v hz="$HZ" '
  { key = $3 " " $4 }
  (key in t) && $1 > t[key] {
    cpu = ($5 - k[key]) * 100000 / hz / ($1 - t[key])
    id = $2 " " $3
    n[id]++; sc[id] += cpu; if (cpu > mc[id]) mc[id] = cpu
    sr[id] += $6; if ($6 > mr[id]) mr[id] = $6
    if (!(id in seen)) { seen[id] = 1; order[++m] = id }
  }
  { t[key] = $1; k[key] = $5 }
  END {
    for (i = 1; i <= m; i++) {
      id = order[i]
      split(id, a, " ")
      printf "RESULT resources %-6s %-10s cpu %5.1f / %5.1f %%  rss %7.1f / %7.1f MB  (%d samples)\n",
        a[1], a[2], sc[id] / n[id], mc[id], sr[id] / n[id] / 1024, mr[id] / 1024, n[id]
    }
  }' "$T/samples.txt"
