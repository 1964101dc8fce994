#!/bin/sh
# fleetd end-to-end benchmark (a program that prints figures, not a test).
#
#   bench/fleetd_pipeline.sh [BUILD_DIR]      (default: ./build)
#
# On a throw-away mosquitto and influxd (loopback, temporary directory):
#  1. CPU per message on one pre-generated load (MESSAGES messages of VEHICLES
#     vehicles, QoS 1), queued at the broker in a persistent session first and
#     then drained by
#       (a) bench_bare_sub: a bare libmosquitto subscriber that only counts;
#       (b) fleetd, from the first message to the last point confirmed in
#           InfluxDB (count(lat) = MESSAGES);
#     CPU = utime + stime of the process (getrusage / /proc/PID/stat), both
#     printed with their rates and the ratio (target: fleetd <= 1.5 x bare).
#     (b)'s rate is the maximum sustained end-to-end rate: the broker feeds
#     fleetd as fast as it takes messages (target >= 25,000 msg/s).
#  2. SUSTAIN_VEHICLES vehicles at 1 Hz for SUSTAIN_S seconds (fleet-sim, real
#     time): the lag (now - newest point in InfluxDB) sampled every 5 s, and
#     the final count against what fleet-sim had acknowledged.
#  3. RSS of fleetd once it knows RSS_VEHICLES vehicles (target < 200 MB).
# Every command is printed before it runs. Needs the build's fleetd, fleetctl,
# fleet-sim, bench_bare_sub and tests/integration/fleetd_pub.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
MESSAGES=${MESSAGES:-200000}
VEHICLES=${VEHICLES:-10000}
SUSTAIN_VEHICLES=${SUSTAIN_VEHICLES:-10000}
SUSTAIN_S=${SUSTAIN_S:-60}
RSS_VEHICLES=${RSS_VEHICLES:-100000}
PY=${FLEET_PYTHON:-/usr/bin/python3}
FLEETD=$B/apps/fleetd
FLEETCTL=$B/apps/fleetctl
SIM=$B/apps/fleet-sim
PUB=$B/tests/integration/fleetd_pub
BARE=$B/bench/bench_bare_sub
for p in "$FLEETD" "$SIM" "$PUB" "$BARE" "$FLEETCTL"; do
  [ -x "$p" ] || { echo "missing $p (build with tests, apps and benchmarks)" >&2; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/fleetd-bench.XXXXXX")
. "$SRC/bench/lib.sh"
FD_PID=""
cleanup() {
  [ -n "$FD_PID" ] && kill -KILL "$FD_PID" 2>/dev/null || true
  stop_servers
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

influx_q() {
  curl -sG --max-time 30 "$INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "epoch=ns" \
    --data-urlencode "q=$2" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
try:
    print(d["results"][0]["series"][0]["values"][0][int(sys.argv[1])])
except (KeyError, IndexError):
    print(0)' "${3:-1}"
}
raw_count() { influx_q telemetry_raw 'SELECT count(lat) FROM telemetry'; }

start_fleetd() {
  state=$1
  shift
  echo "\$ $FLEETD --mqtt $MQTT_URL --influx $INFLUX_URL --state-dir $state --stats-interval 0 $*" >&2
  "$FLEETD" --mqtt "$MQTT_URL" --influx "$INFLUX_URL" --state-dir "$state" --stats-interval 0 \
    "$@" 2>>"$T/fleetd.log" &
  FD_PID=$!
  wait_connected "$T/fleetd.log" "$connects"
  connects=$((connects + 1))
}
stop_fleetd() {
  kill -TERM "$FD_PID"
  wait "$FD_PID" || true
  FD_PID=""
}
connects=0

echo "== servers"
start_servers "$T/mosquitto"
echo "mosquitto $MQTT_URL, influxd $INFLUX_URL, $(nproc) CPUs"

echo
echo "== 1. CPU per message: $MESSAGES messages of $VEHICLES vehicles, QoS 1, queued then drained"
run "$PY" "$IT/fleetd_load.py" --vehicles "$VEHICLES" --count "$MESSAGES" --interval 1 \
  --end-ago 120 "$T/load.tsv"
echo "payload bytes: $(awk -F'\t' 'NR == 1 { print length($2) }' "$T/load.tsv") (first message)"

# (a) the bare subscriber
run "$BARE" --url "$MQTT_URL" --client-id bench-bare --setup
run "$PUB" --url "$MQTT_URL" --client-id bench-pub --window 2000 "$T/load.tsv"
bare=$(run "$BARE" --url "$MQTT_URL" --client-id bench-bare --count "$MESSAGES")
echo "bare subscriber: $bare"
bare_us=$(echo "$bare" | sed 's/.*cpu_us_per_msg=\([0-9.]*\).*/\1/')
bare_rate=$(echo "$bare" | sed 's/.* rate=\([0-9]*\).*/\1/')

# (b) fleetd: create its session, queue the same load, then drain it end to end
start_fleetd "$T/fd1"
stop_fleetd
run "$PUB" --url "$MQTT_URL" --client-id bench-pub --window 2000 "$T/load.tsv"
t0=$(now_ms)
start_fleetd "$T/fd1"
while [ "$(raw_count)" != "$MESSAGES" ]; do
  [ $(( $(now_ms) - t0 )) -lt 600000 ] || { echo "fleetd did not store everything" >&2; exit 1; }
  sleep 0.2
done
t1=$(now_ms)
fd_cpu=$(proc_cpu_s "$FD_PID")
stop_fleetd
secs=$(echo "$t0 $t1" | awk '{ printf "%.3f", ($2 - $1) / 1000 }')
fd_us=$(echo "$fd_cpu $MESSAGES" | awk '{ printf "%.3f", $1 * 1e6 / $2 }')
fd_rate=$(echo "$MESSAGES $secs" | awk '{ printf "%.0f", $1 / $2 }')
echo "fleetd end to end: messages=$MESSAGES seconds=$secs cpu_s=$fd_cpu cpu_us_per_msg=$fd_us rate=$fd_rate"
echo "$bare_us $fd_us $bare_rate $fd_rate" | awk '{
  printf "RESULT cpu/msg: bare %.2f us, fleetd %.2f us, ratio %.2f (target <= 1.5)\n", $1, $2, $2 / $1
  printf "RESULT rate: bare subscriber %d msg/s, fleetd end to end %d msg/s (target >= 25000)\n", $3, $4 }'

echo
echo "== 2. $SUSTAIN_VEHICLES vehicles at 1 Hz for ${SUSTAIN_S}s (fleet-sim, real time)"
start_fleetd "$T/fd2"
base=$(raw_count)
echo "\$ $SIM --mqtt $MQTT_URL --vehicles $SUSTAIN_VEHICLES --connections 100 --interval 1 --duration $SUSTAIN_S --report $T/sim.json --quiet" >&2
"$SIM" --mqtt "$MQTT_URL" --vehicles "$SUSTAIN_VEHICLES" --connections 100 --interval 1 \
  --duration "$SUSTAIN_S" --report "$T/sim.json" --quiet >"$T/sim.out" 2>&1 &
sim=$!
max_lag=0
while kill -0 "$sim" 2>/dev/null; do
  sleep 5
  # Only while the simulator publishes: afterwards the newest point just ages.
  kill -0 "$sim" 2>/dev/null || break
  last=$(influx_q telemetry_raw 'SELECT last(lat) FROM telemetry' 0)
  n=$(raw_count)
  lag=$(( $(now_ms) - last / 1000000 ))
  [ "$last" = 0 ] && lag=-1
  [ "$lag" -gt "$max_lag" ] && max_lag=$lag
  echo "  t+$(( ($(now_ms) - t1) / 1000 ))s points=$((n - base)) lag_ms=$lag"
done
wait "$sim" || true
acked=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["acked"])' "$T/sim.json")
i=0
while [ "$(( $(raw_count) - base ))" -lt "$acked" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
drain_ms=$((i * 200))
stored=$(( $(raw_count) - base ))
fd_cpu2=$(proc_cpu_s "$FD_PID")
stop_fleetd
echo "RESULT sustained: fleet-sim acked $acked, stored $stored, max lag ${max_lag} ms (newest point" \
     "age incl. the 1 s writer batching), drained ${drain_ms} ms after the publisher stopped," \
     "fleetd cpu ${fd_cpu2} s"

echo
echo "== 3. RSS with $RSS_VEHICLES known vehicles"
# Databases of their own: InfluxDB 1.x refuses more than 100,000 values of one
# tag per database by default (max-values-per-tag), and phases 1-2 used some.
run "$FLEETCTL" influx init --influx "$INFLUX_URL" --raw-db rss_raw \
  --downsampled-db rss_downsampled >/dev/null
run "$PY" "$IT/fleetd_load.py" --vehicles "$RSS_VEHICLES" --count $((RSS_VEHICLES * 2)) \
  --interval 30 --end-ago 120 --prefix r- "$T/rss.tsv"
start_fleetd "$T/fd3" --set influx.database=rss_raw --set influx.downsampled_database=rss_downsampled \
  --stats-interval 1
run "$PUB" --url "$MQTT_URL" --client-id bench-pub --window 2000 "$T/rss.tsv"
# fleetd's own count: every message taken (stored or not is InfluxDB's business).
t0=$(now_ms)
until [ "$(grep 'msg=stats' "$T/fleetd.log" | tail -n 1 | sed -n 's/.* accepted=\([0-9]*\) .*/\1/p')" \
        = $((RSS_VEHICLES * 2)) ]; do
  [ $(( $(now_ms) - t0 )) -lt 600000 ] || { echo "fleetd did not take every message" >&2; exit 1; }
  sleep 0.5
done
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$FD_PID/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$FD_PID/status")
anon=$(awk '/^RssAnon/ { print $2 }' "/proc/$FD_PID/status")
file=$(awk '/^RssFile/ { print $2 }' "/proc/$FD_PID/status")
stop_fleetd
stored=$(influx_q rss_raw 'SELECT count(lat) FROM telemetry')
echo "RESULT rss: $RSS_VEHICLES vehicles ($stored points stored): VmRSS $((rss / 1024)) MB" \
     "(heap and stacks $((anon / 1024)) MB, mapped files $((file / 1024)) MB: the ingest log" \
     "segment and libraries), peak $((hwm / 1024)) MB (target < 200 MB)"
