#!/bin/sh
# WebSocket fan-out benchmark of fleetd's gateway (a program that prints
# figures, not a test).
#
#   bench/fanout.sh [BUILD_DIR]      (default: ./build)
#
# Everything on 127.0.0.1 in a temporary directory: a throw-away mosquitto and
# influxd (tests/integration/*.sh), fleetd with --http on a free port, a user
# and an access token made with fleetctl, fleet-sim publishing real-time
# telemetry (payload ts = publish time, milliseconds), and
# build/bench/bench_ws_clients holding the WebSocket clients in one process.
# Latency is device publish -> client receipt: the receipt's wall clock minus
# the update's ts (one machine, one clock).
#
#  1. VEHICLES vehicles at 1 Hz (fleet-sim over SIM_CONNECTIONS MQTT
#     connections), CLIENTS clients subscribed to "*" at INTERVAL_MS (batch
#     frames unless BATCH=0) for DURATION s after a warm-up: p50/p90/p99/p99.9/
#     max latency, updates/s, and over the measured window the CPU (utime +
#     stime from /proc/PID/stat, % of one core) of fleetd, mosquitto, influxd,
#     fleet-sim and the client, and fleetd's RSS (VmRSS, max). Target: p99 <
#     250 ms. fleet-sim stamps ts with each message's scheduled time: when the
#     simulator or the broker cannot keep up (a loaded machine), messages
#     queue in fleet-sim and their age counts in the latency, so the
#     simulator's backlog (generated - published) is printed with the figures.
#  2. P2_VEHICLES vehicles at 1 Hz on a fresh fleetd; client counts from
#     P2_CLIENTS in turn, P2_DURATION s each, until p99 passes P2_LIMIT_MS or
#     a client fails or is dropped: the largest count held, and the table.
#
# Parameters (environment): DURATION (60), WARMUP (10: seconds of publishing
# before clients connect, and the client's own unmeasured first seconds: 5),
# VEHICLES (10000), CLIENTS (100), INTERVAL_MS (1000), BATCH (1), FLUSH_MS
# (fleetd's ws_flush_ms, 50), SIM_CONNECTIONS (100), SIM_QOS (1), P2_VEHICLES (1000),
# P2_CLIENTS ("100 250 500 1000 2000 4000 8000"), P2_DURATION (30),
# P2_LIMIT_MS (1000), PHASES ("1 2"). The open-files limit is raised to the
# hard limit (each client is a socket in fleetd and in the client).
# Every command is printed before it runs; all processes are stopped at exit.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-10}
VEHICLES=${VEHICLES:-10000}
CLIENTS=${CLIENTS:-100}
INTERVAL_MS=${INTERVAL_MS:-1000}
BATCH=${BATCH:-1}
FLUSH_MS=${FLUSH_MS:-50}
SIM_CONNECTIONS=${SIM_CONNECTIONS:-100}
SIM_QOS=${SIM_QOS:-1}
P2_VEHICLES=${P2_VEHICLES:-1000}
P2_CLIENTS=${P2_CLIENTS:-100 250 500 1000 2000 4000 8000}
P2_DURATION=${P2_DURATION:-30}
P2_LIMIT_MS=${P2_LIMIT_MS:-1000}
PHASES=${PHASES:-1 2}
PY=${FLEET_PYTHON:-/usr/bin/python3}
FLEETD=$B/apps/fleetd
FLEETCTL=$B/apps/fleetctl
SIM=$B/apps/fleet-sim
WSB=$B/bench/bench_ws_clients
for p in "$FLEETD" "$FLEETCTL" "$SIM" "$WSB"; do
  [ -x "$p" ] || { echo "missing $p (build with apps and benchmarks)" >&2; exit 1; }
done
[ "$SIM_CONNECTIONS" -le "$P2_VEHICLES" ] || SIM_CONNECTIONS=$P2_VEHICLES

T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-fanout.XXXXXX")
. "$SRC/bench/lib.sh"
FD_PID=""
SIM_PID=""
CL_PID=""
SAMPLER_PID=""
cleanup() {
  for p in $CL_PID $SIM_PID $FD_PID $SAMPLER_PID; do kill -KILL "$p" 2>/dev/null || true; done
  stop_servers
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every second: "ms cpu_ticks(fleetd) ... rss_kib(fleetd)" for the processes
# named in $T/pids ("name pid" lines), into $T/samples.
sampler() {
  while :; do
    line=$(now_ms)
    while read -r name pid; do
      line="$line $name=$(proc_ticks "$pid")"
    done <"$T/pids"
    r=$(awk '/^VmRSS/ { print $2 }' "/proc/$FD_PID/status" 2>/dev/null || echo 0)
    echo "$line rss=$r" >>"$T/samples"
    sleep 1
  done
}
start_sampler() {
  : >"$T/samples"
  sampler &
  SAMPLER_PID=$!
}
stop_sampler() {
  kill "$SAMPLER_PID" 2>/dev/null || true
  wait "$SAMPLER_PID" 2>/dev/null || true
  SAMPLER_PID=""
}
# window_stats FROM_MS TO_MS: "name=cpu% ... rss_max_mb=N" over the samples in the window.
window_stats() {
  awk -v from="$1" -v to="$2" -v hz="$HZ" '
    $1 >= from && $1 <= to {
      if (!seen) { t0 = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); c0[kv[1]] = kv[2] } }
      seen = 1; t1 = $1
      for (i = 2; i <= NF; i++) { split($i, kv, "="); c1[kv[1]] = kv[2] }
      if (c1["rss"] > rss) rss = c1["rss"]
    }
    END {
      if (!seen || t1 == t0) { print "no samples"; exit }
      out = ""
      for (k in c1) if (k != "rss" && c0[k] != "-" && c1[k] != "-")
        out = out sprintf("%s_cpu=%.1f%% ", k, 100 * (c1[k] - c0[k]) / hz / ((t1 - t0) / 1000))
      printf "%srss_max_mb=%.1f\n", out, rss / 1024
    }' "$T/samples"
}
jget() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("/"): d = d[k]
print(round(d, 1) if isinstance(d, float) else d)' "$@"; }

start_fleetd() {
  name=$1
  shift
  mkdir -p "$T/$name"
  echo "\$ $FLEETD --mqtt $MQTT_URL --influx $INFLUX_URL --state-dir $T/$name --http 127.0.0.1:0" \
       "--set ws_flush_ms=$FLUSH_MS --stats-interval 0 $*" >&2
  "$FLEETD" --mqtt "$MQTT_URL" --influx "$INFLUX_URL" --state-dir "$T/$name" \
    --http 127.0.0.1:0 --set "ws_flush_ms=$FLUSH_MS" --stats-interval 0 "$@" \
    2>>"$T/$name.log" &
  FD_PID=$!
  wait_connected "$T/$name.log" 0
  HTTP_PORT=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/$name.log" |
              tail -n 1)
  [ -n "$HTTP_PORT" ] || { echo "no HTTP port in the fleetd log" >&2; exit 1; }
}
stop_fleetd() {
  kill -TERM "$FD_PID"
  wait "$FD_PID" || true
  FD_PID=""
}
start_sim() {
  echo "\$ $SIM --mqtt $MQTT_URL --vehicles $1 --vehicle-prefix $2 --connections $SIM_CONNECTIONS" \
       "--interval 1 --qos $SIM_QOS --status-file $T/sim.status --quiet" >&2
  "$SIM" --mqtt "$MQTT_URL" --vehicles "$1" --vehicle-prefix "$2" \
    --connections "$SIM_CONNECTIONS" --interval 1 --qos "$SIM_QOS" --status-file "$T/sim.status" --quiet \
    >"$T/sim.out" 2>&1 &
  SIM_PID=$!
  SIM_N=$1
  n=0
  until grep -q '"publishing"' "$T/sim.status" 2>/dev/null; do
    n=$((n + 1))
    [ $n -lt 600 ] || { echo "fleet-sim did not start publishing" >&2; cat "$T/sim.out" >&2; exit 1; }
    sleep 0.1
  done
}
stop_sim() {
  kill -TERM "$SIM_PID" 2>/dev/null || true
  wait "$SIM_PID" 2>/dev/null || true
  SIM_PID=""
}
pids_file() {
  {
    echo "fleetd $FD_PID"
    echo "mosquitto $(cat "$MQTT_DIR/mosquitto.pid")"
    echo "influxd $(cat "$T/influxd/influxd.pid")"
    echo "fleet-sim $SIM_PID"
    [ -n "$CL_PID" ] && echo "client $CL_PID"
  } >"$T/pids"
}
# run_clients N DURATION REPORT: bench_ws_clients in the background, sampled; returns its status.
run_clients() {
  batch=""
  [ "$BATCH" = 1 ] && batch=--batch
  echo "\$ $WSB --url ws://127.0.0.1:$HTTP_PORT/ws --token \$TOKEN --clients $1 --duration $2" \
       "--warmup 5 --interval-ms $INTERVAL_MS $batch --vehicles '*' --connect-burst 200" \
       "--report $3" >&2
  "$WSB" --url "ws://127.0.0.1:$HTTP_PORT/ws" --token "$TOKEN" --clients "$1" --duration "$2" \
    --warmup 5 --interval-ms "$INTERVAL_MS" $batch --vehicles '*' --connect-burst 200 \
    --report "$3" >"$3.out" 2>"$3.err" &
  CL_PID=$!
  pids_file
  start_sampler
  rc=0
  wait "$CL_PID" || rc=$?
  t_end=$(now_ms)
  stop_sampler
  CL_PID=""
  cat "$3.out"
  [ -s "$3.err" ] && head -n 5 "$3.err" >&2
  if [ -s "$3" ]; then
    win=$(jget "$3" window_s)
    WSTATS=$(window_stats "$(echo "$t_end $win" | awk '{ printf "%d", $1 - $2 * 1000 }')" "$t_end")
  else
    WSTATS="no report"
  fi
  echo "processes over the measured window: $WSTATS"
  SIMLAG=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
print("fleet-sim: %d generated, %d published, backlog %d messages (%.1f s of publishing)" % (
    d["generated"], d["published"], d["generated"] - d["published"],
    (d["generated"] - d["published"]) / max(1, int(sys.argv[2]))))' "$T/sim.status" "$SIM_N")
  echo "$SIMLAG"
  return $rc
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "temporary directory $T"
echo "== setup ($(nproc) CPUs, open files $(ulimit -n), load average$(uptime | sed 's/.*load average//'))"
start_servers "$T/mosquitto1"
mkdir -p "$T/fd1" "$T/fd2"
for d in fd1 fd2; do
  echo "\$ echo PASSWORD | $FLEETCTL user add bench --role admin --state-dir $T/$d" >&2
  echo "bench-password-$$" | "$FLEETCTL" user add bench --role admin --state-dir "$T/$d" >/dev/null
done

P1=""
case " $PHASES " in *" 1 "*)
  echo
  echo "== 1. $VEHICLES vehicles at 1 Hz, $CLIENTS clients at ${INTERVAL_MS} ms (batch=$BATCH)," \
       "${DURATION}s measured"
  start_fleetd fd1 --client-id fanout-1
  TOKEN=$(run "$FLEETCTL" token bench --ttl 86400 --state-dir "$T/fd1")
  start_sim "$VEHICLES" v-
  echo "warm-up ${WARMUP}s"
  sleep "$WARMUP"
  load1=$(uptime | sed 's/.*load average: //')
  rc=0
  run_clients "$CLIENTS" "$DURATION" "$T/p1.json" || rc=$?
  P1="p50 $(jget "$T/p1.json" latency_ms/p50) ms, p99 $(jget "$T/p1.json" latency_ms/p99) ms,"
  P1="$P1 p99.9 $(jget "$T/p1.json" latency_ms/p99.9) ms, max $(jget "$T/p1.json" latency_ms/max) ms,"
  P1="$P1 $(jget "$T/p1.json" updates_per_s) updates/s, client exit $rc; $WSTATS; $SIMLAG; load average $load1"
  echo "RESULT phase 1: $P1 (target p99 < 250 ms)"
  stop_sim
  stop_fleetd
  ;;
esac

case " $PHASES " in *" 2 "*)
  echo
  echo "== 2. $P2_VEHICLES vehicles at 1 Hz: clients until p99 > ${P2_LIMIT_MS} ms (${P2_DURATION}s each)"
  if [ -n "$P1" ]; then
    # A broker of its own: phase 1's persistent session and leftovers would cost it CPU.
    run sh "$IT/mosquitto.sh" stop "$MQTT_DIR" >/dev/null
    MQTT_DIR=$T/mosquitto2
    MQTT_URL="mqtt://127.0.0.1:$(run sh "$IT/mosquitto.sh" start "$MQTT_DIR")"
  fi
  start_fleetd fd2 --client-id fanout-2
  TOKEN=$(run "$FLEETCTL" token bench --ttl 86400 --state-dir "$T/fd2")
  start_sim "$P2_VEHICLES" p2-
  echo "warm-up ${WARMUP}s"
  sleep "$WARMUP"
  held=0
  table="clients  p50_ms  p99_ms  p99.9_ms  max_ms  updates/s  failed  dropped  processes; publisher (load average)"
  for n in $P2_CLIENTS; do
    echo
    echo "-- $n clients"
    load=$(uptime | sed 's/.*load average: //')
    rc=0
    run_clients "$n" "$P2_DURATION" "$T/p2-$n.json" || rc=$?
    if [ ! -s "$T/p2-$n.json" ]; then
      table="$table
$n  (no report, client exit $rc)"
      break
    fi
    p99=$(jget "$T/p2-$n.json" latency_ms/p99)
    row="$n  $(jget "$T/p2-$n.json" latency_ms/p50)  $p99  $(jget "$T/p2-$n.json" latency_ms/p99.9)"
    row="$row  $(jget "$T/p2-$n.json" latency_ms/max)  $(jget "$T/p2-$n.json" updates_per_s)"
    row="$row  $(jget "$T/p2-$n.json" failed)  $(jget "$T/p2-$n.json" disconnected)  $WSTATS; $SIMLAG ($load)"
    table="$table
$row"
    ok=$(echo "$p99 $P2_LIMIT_MS $rc" | awk '{ print ($1 <= $2 && $3 == 0) ? 1 : 0 }')
    [ "$ok" = 1 ] || break
    held=$n
    sleep 3 # let the closed connections go before the next step
  done
  echo
  echo "$table"
  echo "RESULT phase 2: largest client count held at $P2_VEHICLES vehicles x 1 Hz with p99 <=" \
       "${P2_LIMIT_MS} ms and no failure: $held (steps: $P2_CLIENTS)"
  stop_sim
  stop_fleetd
  ;;
esac
[ -z "$P1" ] || echo "RESULT phase 1: $P1"
