# Shared by the test_fleetd_*.sh scripts (sourced, not run): a temporary
# directory, a throw-away mosquitto and influxd on free loopback ports, fleetd
# instances, the fleetd_pub publisher and InfluxDB queries. Everything is
# stopped and removed at exit (FLEETD_TEST_KEEP=1 keeps the directory).
#
# Environment from ctest: FLEET_BUILD_DIR, FLEET_SOURCE_DIR.

: "${FLEET_BUILD_DIR:?set FLEET_BUILD_DIR to the build directory}"
: "${FLEET_SOURCE_DIR:?set FLEET_SOURCE_DIR to the source directory}"
PY=${FLEET_PYTHON:-/usr/bin/python3}
IT=$FLEET_SOURCE_DIR/tests/integration
FLEETD=$FLEET_BUILD_DIR/apps/fleetd
FLEETCTL=$FLEET_BUILD_DIR/apps/fleetctl
PUB=$FLEET_BUILD_DIR/tests/integration/fleetd_pub
SIM=$FLEET_BUILD_DIR/apps/fleet-sim
load() { "$PY" "$IT/fleetd_load.py" "$@"; }
T=$(mktemp -d "${TMPDIR:-/tmp}/fleetd-test.XXXXXX")
# Sanitizer builds are several times slower: scale the waits.
WAIT_S=${FLEETD_TEST_WAIT_S:-90}
MQTT_URL=""
INFLUX_URL=""
FLEETD_NAMES=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

dump_logs() {
  for n in $FLEETD_NAMES; do
    if [ -f "$T/$n.log" ]; then
      echo "---- $n.log (last 40 lines)"
      tail -n 40 "$T/$n.log"
    fi
  done
}

fail() {
  echo "FAIL: $*" >&2
  dump_logs >&2
  exit 1
}

cleanup() {
  status=$?
  trap - EXIT INT TERM
  for n in $FLEETD_NAMES; do
    if [ -f "$T/$n.pid" ]; then
      pid=$(cat "$T/$n.pid")
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  [ -d "$T/mosquitto" ] && sh "$IT/mosquitto.sh" stop "$T/mosquitto" >/dev/null 2>&1 || true
  [ -d "$T/influxd" ] && sh "$IT/influxd.sh" stop "$T/influxd" >/dev/null 2>&1 || true
  if [ "${FLEETD_TEST_KEEP:-0}" = 1 ]; then
    echo "kept $T"
  else
    rm -rf "$T"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_servers() {
  sh "$IT/mosquitto.sh" start "$T/mosquitto" >/dev/null || fail "mosquitto did not start"
  MQTT_URL=$(cat "$T/mosquitto/url")
  INFLUX_URL=$(sh "$IT/influxd.sh" start "$T/influxd") || fail "influxd did not start"
  "$FLEETCTL" influx init --influx "$INFLUX_URL" >/dev/null || fail "fleetctl influx init failed"
  log "mosquitto $MQTT_URL, influxd $INFLUX_URL"
}

# start_fleetd NAME [fleetd options...]: state in $T/NAME, log in $T/NAME.log.
# Waits until it is connected to the broker.
start_fleetd() {
  name=$1
  shift
  case " $FLEETD_NAMES " in *" $name "*) ;; *) FLEETD_NAMES="$FLEETD_NAMES $name" ;; esac
  # FLEETD_WRAPPER runs fleetd under a tool, e.g. "valgrind --error-exitcode=99".
  ${FLEETD_WRAPPER:-} "$FLEETD" --mqtt "$MQTT_URL" --influx "$INFLUX_URL" --state-dir "$T/$name" \
    --stats-interval 0 "$@" >>"$T/$name.out" 2>>"$T/$name.log" &
  echo $! >"$T/$name.pid"
  i=0
  before=$(grep -c 'msg="connected to the broker"' "$T/$name.log" 2>/dev/null || true)
  while :; do
    now=$(grep -c 'msg="connected to the broker"' "$T/$name.log" 2>/dev/null || true)
    [ "${now:-0}" -gt "${before:-0}" ] && break
    kill -0 "$(cat "$T/$name.pid")" 2>/dev/null || fail "fleetd $name exited at start"
    i=$((i + 1))
    [ $i -lt $((WAIT_S * 10)) ] || fail "fleetd $name did not connect"
    sleep 0.1
  done
}

# stop_fleetd NAME [SIGNAL]: TERM (default) must end with status 0.
stop_fleetd() {
  name=$1 sig=${2:-TERM}
  pid=$(cat "$T/$name.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  st=0
  wait "$pid" || st=$?
  rm -f "$T/$name.pid"
  if [ "$sig" = TERM ] && [ "$st" != 0 ]; then
    fail "fleetd $name exited with status $st after SIGTERM"
  fi
}

# The value of one key of fleetd NAME's last "final stats" log line.
final_stat() {
  grep 'msg="final stats"' "$T/$1.log" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# influx_q DB QUERY: the first value of the first row (0 when no rows).
influx_q() {
  curl -sG --max-time 10 "$INFLUX_URL/query" --data-urlencode "db=$1" \
    --data-urlencode "q=$2" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
try:
    print(d["results"][0]["series"][0]["values"][0][1])
except (KeyError, IndexError):
    if "error" in d.get("results", [{}])[0] or "error" in d:
        print("error: %s" % d, file=sys.stderr)
    print(0)'
}

# influx_rows DB QUERY: every row as JSON lines {"col": value, ..., "tags"...}.
influx_rows() {
  curl -sG --max-time 10 "$INFLUX_URL/query" --data-urlencode "db=$1" \
    --data-urlencode "epoch=ns" --data-urlencode "q=$2" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
for s in d["results"][0].get("series", []):
    for v in s["values"]:
        row = dict(zip(s["columns"], v))
        row.update(s.get("tags", {}))
        print(json.dumps(row, sort_keys=True))'
}

raw_count() {
  influx_q telemetry_raw 'SELECT count(lat) FROM telemetry'
}

# wait_value EXPECTED DESCRIPTION COMMAND...: poll until COMMAND prints EXPECTED.
wait_value() {
  want=$1 what=$2
  shift 2
  i=0
  while :; do
    got=$("$@" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    i=$((i + 1))
    [ $i -lt $((WAIT_S * 4)) ] || fail "$what: expected $want, got '$got' after ${WAIT_S}s"
    sleep 0.25
  done
}

# publish FILE [fleetd_pub options...]
publish() {
  file=$1
  shift
  "$PUB" --url "$MQTT_URL" "$@" "$file" >"$T/pub.out" || fail "fleetd_pub: $(cat "$T/pub.out")"
  log "published: $(cat "$T/pub.out")"
}

json_get() {
  "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k] if not isinstance(v, list) else v[int(k)]
print(v)' "$@"
}

# expand_times IN OUT BASE_EPOCH_S: replace each @T+N@ with the RFC 3339 time
# BASE + N seconds.
expand_times() {
  "$PY" -c '
import re, sys, time
base = int(sys.argv[3])
def iso(m):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + int(m.group(1))))
open(sys.argv[2], "w").write(re.sub(r"@T\+(\d+)@", iso, open(sys.argv[1]).read()))' "$@"
}
