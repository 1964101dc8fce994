# The real stack behind the dashboard's browser runs, sourced (POSIX sh) by
# web_e2e.sh (the ctest test) and perf_live.sh (the benchmark): mosquitto and
# influxd (the tests/integration harnesses, free loopback ports, a temporary
# directory), databases created with `fleetctl influx init` as in production,
# a users file with admin and viewer sharing one random password, and fleetd
# with its HTTP gateway serving web/dist.
#
# Before sourcing: FLEET_BUILD_DIR, FLEET_SOURCE_DIR; `set -eu`.
# Then:
#   stack_check           exit 77 (skipped) when fleetd has no HTTP gateway
#   stack_start [RULES]   (after stack_check) start everything; RULES is rules.json's content
#                         (default: no rules); trap stack_cleanup first
#   stack_cleanup         stop what was started (FLEET_E2E_KEEP=1 keeps $tmp)
# After stack_start: $tmp, $mqtt_url, $influx_url, $http_url, $password, $SIM.

WEB=$FLEET_SOURCE_DIR/web
IT=$FLEET_SOURCE_DIR/tests/integration
FLEETD=$FLEET_BUILD_DIR/apps/fleetd
SIM=$FLEET_BUILD_DIR/apps/fleet-sim
FLEETCTL=$FLEET_BUILD_DIR/apps/fleetctl
PY=${FLEET_PYTHON:-/usr/bin/python3}
STACK_NAME=${STACK_NAME:-web_e2e}

die() { echo "$STACK_NAME: $*" >&2; exit 1; }

stack_check() {
  [ -x "$FLEETD" ] || die "$FLEETD not built"
  [ -x "$SIM" ] || die "$SIM not built"
  [ -x "$FLEETCTL" ] || die "$FLEETCTL not built"
  [ -f "$WEB/dist/index.html" ] || die "web/dist is missing: web.build (npm run build) builds it"
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing (Debian package chromium, scripts/deps.sh)"
  fleetd_help=$("$FLEETD" --help 2>&1 || true)
  case $fleetd_help in
    *--http*) ;;
    *) echo "SKIP: fleetd has no --http option (no HTTP gateway in this build)"; exit 77 ;;
  esac
  case $fleetd_help in
    *"not in this build"*)
      echo "SKIP: fleetd's --http gateway is reserved but not part of this build ('fleetd --help')"
      exit 77 ;;
  esac
}

free_port() {
  "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

tmp="" fleetd_pid=""
stack_cleanup() {
  if [ -n "$fleetd_pid" ]; then
    kill -TERM "$fleetd_pid" 2>/dev/null || true
    i=0
    while kill -0 "$fleetd_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$fleetd_pid" 2>/dev/null || true
  fi
  [ -n "$tmp" ] || return 0
  "$IT/mosquitto.sh" stop "$tmp/mqtt" >/dev/null 2>&1 || true
  "$IT/influxd.sh" stop "$tmp/influx" >/dev/null 2>&1 || true
  if [ "${FLEET_E2E_KEEP:-0}" = 1 ]; then echo "$STACK_NAME: kept $tmp"; else rm -rf "$tmp"; fi
}

stack_start() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-$STACK_NAME.XXXXXX")
  mqtt_port=$("$IT/mosquitto.sh" start "$tmp/mqtt")
  influx_url=$("$IT/influxd.sh" start "$tmp/influx")
  mqtt_url="mqtt://127.0.0.1:$mqtt_port"
  # fleetd writes into databases it does not create (fleetctl influx init does, as in production).
  "$FLEETCTL" influx init --influx "$influx_url" >/dev/null || die "fleetctl influx init failed"

  # Users (auth.h's users file, crypt(3) SHA-512 hashes).
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
  rules=${1:-}
  [ -n "$rules" ] || rules='{"rules":[]}'
  printf '%s\n' "$rules" >"$state/rules.json"

  http_port=$(free_port)
  http_url="http://127.0.0.1:$http_port"
  set -- --mqtt "$mqtt_url" --influx "$influx_url" --state-dir "$state" --http "127.0.0.1:$http_port"
  case $fleetd_help in
    *--web-root*) set -- "$@" --web-root "$WEB/dist" ;;
    *)
      opt=$(printf '%s\n' "$fleetd_help" | grep -o '[a-z_.]*web_root' | head -n 1 || true)
      [ -n "$opt" ] || die "fleetd has --http but no --web-root / *web_root option to serve web/dist"
      set -- "$@" --set "$opt=$WEB/dist" ;;
  esac
  "$FLEETD" "$@" >"$tmp/fleetd.log" 2>&1 &
  fleetd_pid=$!
  # Ready = subscribed to the broker and talking to InfluxDB: nothing may be
  # published before fleetd listens.
  i=0
  until curl -sf --max-time 1 "$http_url/readyz" >/dev/null 2>&1; do
    kill -0 "$fleetd_pid" 2>/dev/null || { tail -n 30 "$tmp/fleetd.log" >&2; die "fleetd exited"; }
    i=$((i + 1)); [ $i -lt 300 ] || die "fleetd was not ready (/readyz) within 30 s"
    sleep 0.1
  done
}
