# Shell functions shared by the benchmark scripts (bench/*.sh), sourced after
# they set SRC (the source tree) and T (their temporary directory). POSIX sh,
# so that bash scripts can use them too.
#
#   run CMD...            print "$ CMD..." on stderr, then run it
#   now_ms                wall clock, milliseconds since the epoch
#   proc_ticks PID        user + system CPU clock ticks of a process, "-" when gone
#   proc_cpu_s PID        the same in seconds (three decimals), "-" when gone
#   start_servers MQDIR   a throw-away mosquitto in MQDIR (MQTT_URL) and influxd in
#                         $T/influxd (INFLUX_URL) on 127.0.0.1, databases made
#                         with $FLEETCTL
#   stop_servers          stop every mosquitto below $T and the influxd; safe to
#                         call when none runs (the scripts' cleanup does)
#   wait_connected LOG N  wait until fleetd's LOG holds more than N "connected to
#                         the broker" lines (30 s at most, then exit 1 with the
#                         log's tail)

IT=$SRC/tests/integration
HZ=$(getconf CLK_TCK)

run() {
  echo "\$ $*" >&2
  "$@"
}

now_ms() { date +%s%3N; }

proc_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo -
}

proc_cpu_s() {
  awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat" \
    2>/dev/null || echo -
}

start_servers() {
  MQTT_DIR=$1
  MQTT_URL="mqtt://127.0.0.1:$(run sh "$IT/mosquitto.sh" start "$MQTT_DIR")"
  INFLUX_URL=$(run sh "$IT/influxd.sh" start "$T/influxd")
  run "$FLEETCTL" influx init --influx "$INFLUX_URL" >/dev/null
}

stop_servers() {
  for m in "$T"/mosquitto*; do
    [ -d "$m" ] && sh "$IT/mosquitto.sh" stop "$m" >/dev/null 2>&1 || true
  done
  sh "$IT/influxd.sh" stop "$T/influxd" >/dev/null 2>&1 || true
}

wait_connected() {
  n=0
  while :; do
    c=$(grep -c 'msg="connected to the broker"' "$1" 2>/dev/null) || c=${c:-0}
    [ "$c" -le "$2" ] || break
    n=$((n + 1))
    if [ $n -ge 300 ]; then
      echo "fleetd did not connect to the broker within 30 s; its log ($1) ends:" >&2
      tail -n 20 "$1" >&2
      exit 1
    fi
    sleep 0.1
  done
}
