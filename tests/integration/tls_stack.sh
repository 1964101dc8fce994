# tls_stack.sh: libfleet's deployment with TLS everywhere, on loopback, for
# tests (sourced, not run; plain POSIX sh, after lib.sh or fleetd_common.sh):
#
#   . "$IT/tls_stack.sh"
#   tls_stack_start DIR [make-pki.sh options...]
#
# makes, under DIR:
#   pki/        scripts/make-pki.sh DIR/pki --days 2 OPTIONS (pass the devices:
#               --device-ids v-00000,v-00001 for fleet-sim --vehicle-prefix v-)
#   mosquitto/  mosquitto.sh start --pki: deploy/mosquitto/mosquitto-tls.conf,
#               client certificates required, CN = user name, the deployed ACL
#   influxd/    influxd.sh start --https: HTTPS only, with the PKI's gateway
#               certificate (a server certificate for localhost and 127.0.0.1)
# and creates the databases with `fleetctl influx init` over HTTPS (when
# FLEET_BUILD_DIR/apps/fleetctl exists). It sets:
#   TLS_PKI          DIR/pki (ca.crt, fleetd.crt/.key, gateway.crt/.key,
#                    devices/ID.crt/.key, test/expired.*, test/revoked.*)
#   TLS_CA           DIR/pki/ca.crt
#   TLS_MQTT_URL     mqtts://127.0.0.1:PORT (the TLS listener)
#   TLS_MQTT_HEALTH  mqtt://127.0.0.1:PORT (anonymous; $SYS/broker/uptime only)
#   TLS_INFLUX_URL   https://127.0.0.1:PORT
#
#   tls_fleetd_opts      prints fleetd's options for this stack: mqtts:// with its
#                        client certificate (fleetd.crt), InfluxDB over HTTPS with
#                        the CA, and the gateway on HTTPS/WSS (gateway.crt); add
#                        --http ADDR:PORT and --state-dir. Paths have no blanks
#                        when DIR has none, so $(tls_fleetd_opts) may be split.
#   tls_curl ARGS...     curl trusting only the test CA (-s, at most 10 s)
#   tls_influx_count DB QUERY   the first value of the first row over HTTPS
#                        (0 when no rows)
#   tls_stack_stop DIR   stops the broker and influxd (fleetd_common.sh's
#                        cleanup does it too when DIR is its $T)
#
# Returns non-zero, with the reason on stderr, when something does not start.

: "${FLEET_SOURCE_DIR:?set FLEET_SOURCE_DIR to the source directory}"
TLS_IT=$FLEET_SOURCE_DIR/tests/integration

tls_stack_start() {
  _dir=$1
  shift
  mkdir -p "$_dir"
  _dir=$(cd "$_dir" && pwd)
  "$FLEET_SOURCE_DIR/scripts/make-pki.sh" "$_dir/pki" --days 2 "$@" >/dev/null || {
    echo "tls_stack: make-pki.sh failed" >&2
    return 1
  }
  TLS_PKI=$_dir/pki
  TLS_CA=$TLS_PKI/ca.crt
  sh "$TLS_IT/mosquitto.sh" start "$_dir/mosquitto" --pki "$TLS_PKI" >/dev/null || {
    echo "tls_stack: mosquitto did not start" >&2
    return 1
  }
  TLS_MQTT_URL=mqtts://127.0.0.1:$(cat "$_dir/mosquitto/tls_port")
  # shellcheck disable=SC2034 # for the scripts that source this file
  TLS_MQTT_HEALTH=$(cat "$_dir/mosquitto/url")
  TLS_INFLUX_URL=$(sh "$TLS_IT/influxd.sh" start "$_dir/influxd" \
    --https "$TLS_PKI/gateway.crt" "$TLS_PKI/gateway.key") || {
    echo "tls_stack: influxd did not start" >&2
    return 1
  }
  if [ -n "${FLEET_BUILD_DIR:-}" ] && [ -x "$FLEET_BUILD_DIR/apps/fleetctl" ]; then
    "$FLEET_BUILD_DIR/apps/fleetctl" influx init --influx "$TLS_INFLUX_URL" \
      --ca-file "$TLS_CA" >/dev/null || {
      echo "tls_stack: fleetctl influx init over HTTPS failed" >&2
      return 1
    }
  fi
}

tls_fleetd_opts() {
  printf '%s ' --mqtt "$TLS_MQTT_URL" \
    --set "mqtt.ca_file=$TLS_CA" \
    --set "mqtt.cert_file=$TLS_PKI/fleetd.crt" --set "mqtt.key_file=$TLS_PKI/fleetd.key" \
    --influx "$TLS_INFLUX_URL" --set "influx.ca_file=$TLS_CA" \
    --set "http_tls_cert=$TLS_PKI/gateway.crt" --set "http_tls_key=$TLS_PKI/gateway.key"
}

tls_curl() {
  curl -s --max-time 10 --cacert "$TLS_CA" "$@"
}

tls_influx_count() {
  tls_curl -G "$TLS_INFLUX_URL/query" --data-urlencode "db=$1" --data-urlencode "q=$2" |
    "${FLEET_PYTHON:-/usr/bin/python3}" -c '
import json, sys
d = json.load(sys.stdin)
try:
    print(d["results"][0]["series"][0]["values"][0][1])
except (KeyError, IndexError):
    print(0)'
}

tls_stack_stop() {
  [ -d "$1/mosquitto" ] && sh "$TLS_IT/mosquitto.sh" stop "$1/mosquitto" >/dev/null 2>&1
  [ -d "$1/influxd" ] && sh "$TLS_IT/influxd.sh" stop "$1/influxd" >/dev/null 2>&1
  return 0
}
