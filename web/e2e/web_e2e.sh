#!/bin/sh
# web.e2e: the dashboard in headless Chromium against a real stack started here:
# mosquitto and influxd (the integration harnesses, free loopback ports, a
# temporary directory), fleetd with its HTTP gateway serving web/dist, and
# fleet-sim (a backfilled half hour of history, then live vehicles at 1 Hz).
# Screenshots of every step go to $FLEET_BUILD_DIR/web-e2e/.
#
# Exit 77 (ctest: skipped) only when fleetd has no HTTP gateway in this build.
set -eu

: "${FLEET_BUILD_DIR:?set by ctest}"
: "${FLEET_SOURCE_DIR:?set by ctest}"
WEB=$FLEET_SOURCE_DIR/web
IT=$FLEET_SOURCE_DIR/tests/integration
FLEETD=$FLEET_BUILD_DIR/apps/fleetd
SIM=$FLEET_BUILD_DIR/apps/fleet-sim
ART=$FLEET_BUILD_DIR/web-e2e
VEHICLES=${FLEET_E2E_VEHICLES:-12}
PY=${FLEET_PYTHON:-/usr/bin/python3}

die() { echo "web_e2e: $*" >&2; exit 1; }
[ -x "$FLEETD" ] || die "$FLEETD not built"
[ -x "$SIM" ] || die "$SIM not built"
FLEETCTL=$FLEET_BUILD_DIR/apps/fleetctl
[ -x "$FLEETCTL" ] || die "$FLEETCTL not built"
[ -f "$WEB/dist/index.html" ] || die "web/dist is missing: web.build builds it"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing (Debian package chromium, scripts/deps.sh)"

help=$("$FLEETD" --help 2>&1 || true)
case $help in
  *--http*) ;;
  *) echo "SKIP: fleetd has no --http option (no HTTP gateway in this build)"; exit 77 ;;
esac
case $help in
  *"not in this build"*)
    echo "SKIP: fleetd's --http gateway is reserved but not part of this build ('fleetd --help')"
    exit 77 ;;
esac

free_port() {
  "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-web-e2e.XXXXXX")
fleetd_pid="" sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null || true
  if [ -n "$fleetd_pid" ]; then
    kill -TERM "$fleetd_pid" 2>/dev/null || true
    i=0
    while kill -0 "$fleetd_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$fleetd_pid" 2>/dev/null || true
  fi
  "$IT/mosquitto.sh" stop "$tmp/mqtt" >/dev/null 2>&1 || true
  "$IT/influxd.sh" stop "$tmp/influx" >/dev/null 2>&1 || true
  if [ "${FLEET_E2E_KEEP:-0}" = 1 ]; then echo "web_e2e: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

mqtt_port=$("$IT/mosquitto.sh" start "$tmp/mqtt")
influx_url=$("$IT/influxd.sh" start "$tmp/influx")
mqtt_url="mqtt://127.0.0.1:$mqtt_port"
# fleetd writes into databases it does not create (fleetctl influx init does, as in production).
"$FLEETCTL" influx init --influx "$influx_url" >/dev/null || die "fleetctl influx init failed"

# Users (auth.h's users file, crypt(3) SHA-512 hashes) and an overspeed rule
# low enough that the simulated traffic raises alerts within seconds. The live
# simulation starts with a burst of alerts before the browser has logged in;
# a short cooldown keeps them coming once it listens (with 60 s every vehicle
# was silenced for the first minute the dashboard was open).
state=$tmp/state
mkdir -p "$state"
password=e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
admin_hash=$(openssl passwd -6 "$password")
viewer_hash=$(openssl passwd -6 "$password")
cat >"$state/users.json" <<JSON
{"version":1,"users":[
 {"name":"admin","hash":"$admin_hash","role":"admin","vehicles":"*","created":"$now","updated":"$now"},
 {"name":"viewer","hash":"$viewer_hash","role":"viewer","vehicles":"*","created":"$now","updated":"$now"}]}
JSON
chmod 600 "$state/users.json"
cat >"$state/rules.json" <<'JSON'
{"rules":[{"id":"e2e-overspeed","type":"overspeed","threshold_kmh":30,"severity":"warning",
  "cooldown_s":5,"description":"end-to-end test"}]}
JSON

http_port=$(free_port)
set -- --mqtt "$mqtt_url" --influx "$influx_url" --state-dir "$state" --http "127.0.0.1:$http_port"
case $help in
  *--web-root*) set -- "$@" --web-root "$WEB/dist" ;;
  *)
    opt=$(printf '%s\n' "$help" | grep -o '[a-z_.]*web_root' | head -n 1 || true)
    [ -n "$opt" ] || die "fleetd has --http but no --web-root / *web_root option to serve web/dist"
    set -- "$@" --set "$opt=$WEB/dist" ;;
esac

# Half an hour of history before the browser opens: trips to list, replay and report.
start=$(date -u -d '-35 min' +%Y-%m-%dT%H:%M:%SZ)
"$FLEETD" "$@" >"$tmp/fleetd.log" 2>&1 &
fleetd_pid=$!
i=0
# Ready = subscribed to the broker and talking to InfluxDB: the backfill must not
# be published before fleetd listens.
until curl -sf --max-time 1 "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; do
  kill -0 "$fleetd_pid" 2>/dev/null || { tail -n 30 "$tmp/fleetd.log" >&2; die "fleetd exited"; }
  i=$((i + 1)); [ $i -lt 300 ] || die "fleetd was not ready (/readyz) within 30 s"
  sleep 0.1
done

"$SIM" --mqtt "$mqtt_url" --vehicles "$VEHICLES" --interval 1 --start "$start" --fast \
  --count $((VEHICLES * 2000)) --center 23.8103,90.4125 --radius-km 3 --seed 7 --quiet \
  || die "fleet-sim backfill failed"
"$SIM" --mqtt "$mqtt_url" --vehicles "$VEHICLES" --interval 1 --duration 540 \
  --center 23.8103,90.4125 --radius-km 3 --seed 7 --quiet >"$tmp/sim.log" 2>&1 &
sim_pid=$!

rm -rf "$ART"
mkdir -p "$ART"
status=0
node "$WEB/e2e/run-e2e.mjs" --url "http://127.0.0.1:$http_port" --user admin --password "$password" \
  --artifacts "$ART" || status=$?
if [ $status -ne 0 ]; then
  echo "--- fleetd log (last 40 lines)"
  tail -n 40 "$tmp/fleetd.log" || true
fi
exit $status
