#!/usr/bin/env bash
# The main job: a complete fleet tracking system on this machine.
#
#   scripts/demo.sh [--tls] [--duration SECONDS] [--vehicles N] [--no-deps]
#                   [--no-build] [--build-dir DIR] [--run-dir DIR]
#
# Installs the Debian packages (scripts/deps.sh), builds libfleet and its
# programs, then starts, on loopback only and with all data under ./run/ (not
# system services):
#   - mosquitto, the MQTT broker (persistent sessions, saved every second);
#   - influxd (InfluxDB 1.x), with the retention tiers made by
#     `fleetctl influx init`;
#   - fleetd, the ingest daemon, with the demo geofences and alert rules of
#     deploy/demo/ (Dhaka: a depot, districts with speed limits, the airport,
#     a corridor), and its HTTP gateway: the dashboard (web/dist, when built),
#     the REST API and the live WebSocket feed, with an admin user;
#   - fleet-sim, a few hundred simulated vehicles driving around the city
#     centre and publishing telemetry every 2 seconds.
# It prints what runs where, the logs and how to query the data, and keeps
# running in the foreground until Ctrl-C (or --duration), which stops
# everything cleanly: the simulator, fleetd (which flushes what it holds),
# then the servers. Running it again reuses ./run/ (data and ports).
#
# --tls runs the same system with TLS everywhere, as deployed (docs/deploy.md):
# a PKI in RUN_DIR/pki (scripts/make-pki.sh: a CA, server certificates, a
# client certificate for fleetd and one per simulated vehicle); mosquitto with
# deploy/mosquitto/mosquitto-tls.conf (client certificates required, the CN is
# the user name, the ACL lets a vehicle publish only to its own topics);
# influxd over HTTPS only; fleetd connecting with mqtts:// and its own
# certificate, writing to InfluxDB over HTTPS with the CA, and serving the
# dashboard, API and WebSocket over HTTPS/WSS; fleet-sim with each vehicle's
# own certificate. Browsers must trust RUN_DIR/pki/ca.crt (or accept the
# warning). Switching between --tls and plain keeps the data, not the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

duration=0
vehicles=300
deps=1
build=1
build_dir=$SRC/build
run_dir=$SRC/run
usage() {
  sed -n '3,4p' "$0" | sed 's/^# *//'
}
tls=0
while [ $# -gt 0 ]; do
  case $1 in
    --tls) tls=1; shift ;;
    --duration) duration=$2; shift 2 ;;
    --vehicles) vehicles=$2; shift 2 ;;
    --no-deps) deps=0; shift ;;
    --no-build) build=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --run-dir) run_dir=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case $duration in *[!0-9]* | "") echo "demo.sh: --duration takes whole seconds" >&2; exit 2 ;; esac
case $vehicles in *[!0-9]* | "" | 0) echo "demo.sh: --vehicles takes a positive number" >&2; exit 2 ;; esac

if [ "$deps" = 1 ]; then
  scripts/deps.sh
fi
if [ "$build" = 1 ]; then
  echo "== building in $build_dir"
  cmake -S . -B "$build_dir" -DFLEET_BUILD_TESTS=OFF -DFLEET_BUILD_BENCH=OFF \
    -DFLEET_BUILD_PYTHON=OFF -DFLEET_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build_dir" -j"$(nproc)" --target fleetd fleetctl fleet-sim >/dev/null
  # The dashboard needs Node.js >= 20.19 (Vite 8); without it the API still runs.
  if command -v npm >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' 2>/dev/null; then
    echo "== building the dashboard (web/dist)"
    (cd web && npm ci --prefer-offline --no-audit --no-fund >/dev/null && npm run build >/dev/null)
  else
    echo "== Node.js >= 20.19 with npm not found: the dashboard is not built"
  fi
fi
build_dir=$(cd "$build_dir" && pwd)
FLEETD=$build_dir/apps/fleetd
FLEETCTL=$build_dir/apps/fleetctl
SIM=$build_dir/apps/fleet-sim
for p in "$FLEETD" "$FLEETCTL" "$SIM"; do
  [ -x "$p" ] || { echo "demo.sh: $p is missing (build first)" >&2; exit 1; }
done

mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
HARNESS=$SRC/tests/integration
sim_pid=""
fleetd_pid=""
stopping=0

stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap - INT TERM
  echo
  echo "== stopping"
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    echo "fleet-sim stopped"
  fi
  if [ -n "$fleetd_pid" ] && kill -0 "$fleetd_pid" 2>/dev/null; then
    kill -TERM "$fleetd_pid" 2>/dev/null || true
    st=0
    wait "$fleetd_pid" 2>/dev/null || st=$?
    echo "fleetd stopped (exit status $st)"
  fi
  summary
  sh "$HARNESS/mosquitto.sh" stop "$run_dir/mosquitto" >/dev/null 2>&1 || true
  sh "$HARNESS/influxd.sh" stop "$run_dir/influxd" >/dev/null 2>&1 || true
  echo "mosquitto and influxd stopped; data kept in $run_dir"
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

influx_count() {
  curl -sG --max-time 5 "${curl_ca[@]}" "$INFLUX_URL/query" --data-urlencode "db=$1" \
    --data-urlencode "q=$2" |
    sed -n 's/.*"values":\[\[[^,]*,\([0-9]*\)\]\].*/\1/p'
}

summary() {
  [ -n "${INFLUX_URL:-}" ] || return 0
  raw=$(influx_count telemetry_raw 'SELECT count(lat) FROM telemetry')
  trips=$(influx_count telemetry_downsampled 'SELECT count(start_ns) FROM trips')
  geo=$(influx_count telemetry_downsampled 'SELECT count(event) FROM geofence_events')
  alerts=$(influx_count telemetry_downsampled 'SELECT count(rule) FROM alerts')
  echo "demo: stored ${raw:-0} positions, ${trips:-0} trips, ${geo:-0} geofence events," \
       "${alerts:-0} alerts"
}

# The simulator's vehicle ids (fleet-sim --vehicle-prefix v-: v-00000 ...,
# wider from 100,000 vehicles on), which are also the devices' certificate names.
width=5
for ((x = vehicles - 1; x >= 100000; x /= 10)); do width=$((width + 1)); done
vid() { printf 'v-%0*d' "$width" "$1"; }

pki=$run_dir/pki
curl_ca=()
mqtt_tls=() influx_tls=() http_tls=() sim_tls=() ctl_tls=()
if [ "$tls" = 1 ]; then
  echo "== PKI in $pki ($vehicles device certificates; existing ones are kept)"
  ids=$(for ((i = 0; i < vehicles; i++)); do vid "$i"; echo; done | paste -sd,)
  scripts/make-pki.sh "$pki" --device-ids "$ids"
  curl_ca=(--cacert "$pki/ca.crt")
  mqtt_tls=(--set "mqtt.ca_file=$pki/ca.crt" --set "mqtt.cert_file=$pki/fleetd.crt"
    --set "mqtt.key_file=$pki/fleetd.key")
  influx_tls=(--set "influx.ca_file=$pki/ca.crt")
  http_tls=(--set "http_tls_cert=$pki/gateway.crt" --set "http_tls_key=$pki/gateway.key")
  sim_tls=(--cafile "$pki/ca.crt" --cert-dir "$pki/devices")
  ctl_tls=(--ca-file "$pki/ca.crt")
fi

echo "== servers (loopback only, data in $run_dir)"
# A previous run stopped with SIGKILL may have left them behind.
sh "$HARNESS/mosquitto.sh" stop "$run_dir/mosquitto" >/dev/null 2>&1 || true
sh "$HARNESS/influxd.sh" stop "$run_dir/influxd" >/dev/null 2>&1 || true
# Switching between plain and TLS: new server configurations (and ports), the
# same data.
mode=plain
[ "$tls" = 0 ] || mode=tls
if [ "$(cat "$run_dir/mode" 2>/dev/null || echo plain)" != "$mode" ]; then
  rm -f "$run_dir/mosquitto/mosquitto.conf" "$run_dir/influxd/influxd.conf"
fi
echo "$mode" >"$run_dir/mode"
# Each service runs in a session of its own, so the SIGINT of a Ctrl-C reaches
# only this script, which then stops them in order (simulator, fleetd, servers).
if [ "$tls" = 1 ]; then
  setsid sh "$HARNESS/mosquitto.sh" start "$run_dir/mosquitto" --pki "$pki" >/dev/null
  MQTT_PORT=$(cat "$run_dir/mosquitto/tls_port")
  MQTT_URL=mqtts://127.0.0.1:$MQTT_PORT
  # influxd serves HTTPS with the gateway's server certificate (localhost,
  # 127.0.0.1): both are this host's services.
  INFLUX_URL=$(setsid sh "$HARNESS/influxd.sh" start "$run_dir/influxd" \
    --https "$pki/gateway.crt" "$pki/gateway.key")
else
  setsid sh "$HARNESS/mosquitto.sh" start "$run_dir/mosquitto" >/dev/null
  MQTT_URL=$(cat "$run_dir/mosquitto/url")
  MQTT_PORT=$(cat "$run_dir/mosquitto/port")
  INFLUX_URL=$(setsid sh "$HARNESS/influxd.sh" start "$run_dir/influxd")
fi
INFLUX_PORT=${INFLUX_URL##*:}
"$FLEETCTL" influx init --influx "$INFLUX_URL" "${ctl_tls[@]}"

echo "== fleetd"
# Zones and rules live in the state directory (the API edits them there); the
# first run starts from the demo's.
state=$run_dir/fleetd
mkdir -p "$state"
chmod 700 "$state"
for f in zones.geojson rules.json; do
  [ -f "$state/$f" ] || cp "deploy/demo/$f" "$state/$f"
done
if [ ! -f "$state/users.json" ]; then
  head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$run_dir/admin-password"
  chmod 600 "$run_dir/admin-password"
  "$FLEETCTL" user add admin --role admin --state-dir "$state" <"$run_dir/admin-password" >/dev/null
fi
web=()
[ -f web/dist/index.html ] && web=(--set "web_root=$SRC/web/dist")
log_lines=0
[ -f "$run_dir/fleetd.log" ] && log_lines=$(wc -l <"$run_dir/fleetd.log")
setsid "$FLEETD" --config deploy/demo/fleetd.json --mqtt "$MQTT_URL" --influx "$INFLUX_URL" \
  --state-dir "$state" --http 127.0.0.1:0 "${web[@]}" "${mqtt_tls[@]}" "${influx_tls[@]}" \
  "${http_tls[@]}" 2>>"$run_dir/fleetd.log" &
fleetd_pid=$!
for _ in $(seq 100); do
  tail -n +"$((log_lines + 1))" "$run_dir/fleetd.log" | grep -q 'msg="connected to the broker"' &&
    break
  kill -0 "$fleetd_pid" 2>/dev/null || { tail "$run_dir/fleetd.log" >&2; exit 1; }
  sleep 0.1
done
HTTP_PORT=$(tail -n +"$((log_lines + 1))" "$run_dir/fleetd.log" |
  sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' | tail -n 1)
HTTP_URL=http://127.0.0.1:$HTTP_PORT
[ "$tls" = 0 ] || HTTP_URL=https://127.0.0.1:$HTTP_PORT

echo "== fleet-sim: $vehicles vehicles"
setsid "$SIM" --mqtt "$MQTT_URL" --vehicles "$vehicles" --vehicle-prefix v- --interval 2 --retain \
  "${sim_tls[@]}" --report "$run_dir/fleet-sim.json" >>"$run_dir/fleet-sim.log" 2>&1 &
sim_pid=$!
first=$(vid 1)

echo
echo "Running (Ctrl-C stops everything):"
row() { printf '  %-10s %-28s pid %-8s log %s\n' "$@"; }
row mosquitto "$MQTT_URL" "$(cat "$run_dir/mosquitto/mosquitto.pid")" \
  "$run_dir/mosquitto/mosquitto.log"
row influxd "$INFLUX_URL" "$(cat "$run_dir/influxd/influxd.pid")" "$run_dir/influxd/influxd.log"
row fleetd "$HTTP_URL" "$fleetd_pid" "$run_dir/fleetd.log"
row fleet-sim "$vehicles vehicles $(vid 0)..." "$sim_pid" "$run_dir/fleet-sim.log"
echo
if [ ${#web[@]} -gt 0 ]; then
  echo "Dashboard: $HTTP_URL  (user admin, password in $run_dir/admin-password)"
else
  echo "Dashboard: not built (cd web && npm ci && npm run build); the API is at $HTTP_URL"
  echo "  (user admin, password in $run_dir/admin-password)"
fi
if [ "$tls" = 1 ]; then
  cat <<EOF
TLS: the certificates come from the demo's own CA, $pki/ca.crt. A browser must
  trust it (import it as an authority) or you accept its warning for $HTTP_URL.
  Devices connect to $MQTT_URL with their certificate ($pki/devices/ID.crt,
  CN = vehicle id) and may publish only to fleet/ID/telemetry and fleet/ID/status.
EOF
fi
ca=""
[ "$tls" = 0 ] || ca=" --cacert $pki/ca.crt"
echo
echo "Query:"
if [ "$tls" = 1 ]; then
  cat <<EOF
  $FLEETCTL history $first --influx $INFLUX_URL --ca-file $pki/ca.crt --from -10m --to now
  curl -sG$ca $INFLUX_URL/query --data-urlencode db=telemetry_raw \\
    --data-urlencode 'q=SELECT count(lat) FROM telemetry'
  curl -sG$ca $INFLUX_URL/query --data-urlencode db=telemetry_downsampled \\
    --data-urlencode 'q=SELECT * FROM alerts ORDER BY time DESC LIMIT 10'
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT --cafile $pki/ca.crt \\
    --cert $pki/fleetd.crt --key $pki/fleetd.key -t 'fleet/+/alerts' -v    # live alerts
EOF
else
  cat <<EOF
  $FLEETCTL history $first --influx $INFLUX_URL --from -10m --to now
  influx -host 127.0.0.1 -port $INFLUX_PORT -database telemetry_raw \\
    -execute 'SELECT count(lat) FROM telemetry'
  influx -host 127.0.0.1 -port $INFLUX_PORT -database telemetry_downsampled \\
    -execute 'SELECT * FROM alerts ORDER BY time DESC LIMIT 10'
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -t 'fleet/+/alerts' -v    # live alerts
EOF
fi
cat <<EOF
  curl -s$ca $HTTP_URL/metrics | grep fleetd_messages                   # counters
  TOKEN=\$(curl -s$ca $HTTP_URL/api/auth/login -H "Content-Type: application/json" -d "{\"username\":\"admin\",\"password\":\"\$(cat $run_dir/admin-password)\"}" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  curl -s$ca -H "Authorization: Bearer \$TOKEN" "$HTTP_URL/api/vehicles?limit=3"
  tail -f $run_dir/fleetd.log    # fleetd's counters every 30 s
Zones and rules: $state/zones.geojson and rules.json (edit them, then
  kill -HUP $fleetd_pid; or change them in the dashboard / REST API).
EOF

if [ "$duration" -gt 0 ]; then
  echo
  echo "(stopping by itself after $duration s)"
  end=$((SECONDS + duration))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$fleetd_pid" 2>/dev/null || { echo "fleetd exited" >&2; exit 1; }
    sleep 1
  done
  stop_all
  exit 0
fi
while kill -0 "$fleetd_pid" 2>/dev/null; do
  sleep 1
done
echo "fleetd exited; see $run_dir/fleetd.log" >&2
exit 1
