#!/usr/bin/env bash
# deploy/mosquitto/mosquitto-tls.conf and its ACLs, with a PKI from
# scripts/make-pki.sh, against a real mosquitto on free loopback ports:
# - a device's telemetry on its own topic reaches a fleetd subscriber;
# - a device publishing as another vehicle is refused (MQTT 5: reason 135;
#   MQTT 3.1.1: acknowledged, never delivered);
# - a device subscribed to other vehicles' telemetry receives nothing;
# - no client certificate, another CA's certificate, an expired certificate
#   and a revoked one (CRL) cannot connect;
# - the loopback health listener answers the health check and nothing else.
set -euo pipefail

src=${FLEET_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=${FLEET_PYTHON:-/usr/bin/python3}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
for tool in "$MOSQUITTO" mosquitto_pub mosquitto_sub openssl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/fleet-mqtt-tls.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
fatal() {
  echo "FATAL: $*"
  tail -n 30 "$tmp/mosquitto.err" 2>/dev/null || true
  exit 1
}

free_port() {
  "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# The PKI, and a second one whose CA the broker does not know.
"$src/scripts/make-pki.sh" "$tmp/pki" --device-ids v-001,v-002 --days 2 >/dev/null
"$src/scripts/make-pki.sh" "$tmp/rogue" --device-ids v-001 --days 2 >/dev/null
pki=$tmp/pki

# The deployed configuration with its paths and ports moved into $tmp.
tls_port=$(free_port)
health_port=$(free_port)
mkdir -p "$tmp/data"
sed -e "s|/mosquitto/certs/|$pki/|g" -e "s|/mosquitto/config/|$tmp/|g" \
  -e "s|/mosquitto/data/|$tmp/data/|g" \
  -e "s|^listener 8883\$|listener $tls_port 127.0.0.1|" \
  -e "s|^listener 1880 127.0.0.1\$|listener $health_port 127.0.0.1|" \
  "$src/deploy/mosquitto/mosquitto-tls.conf" >"$tmp/mosquitto.conf"
# Started by root, mosquitto switches to the "mosquitto" user, who cannot read $tmp.
echo "user $(id -un)" >>"$tmp/mosquitto.conf"
cp "$src/deploy/mosquitto/acl" "$src/deploy/mosquitto/acl-health" "$tmp/"
if grep -v '^#' "$tmp/mosquitto.conf" | grep '/mosquitto/'; then fatal "a path was not rewritten"; fi
grep -q "^listener $tls_port " "$tmp/mosquitto.conf" || fatal "TLS listener not rewritten"
grep -q "^listener $health_port " "$tmp/mosquitto.conf" || fatal "health listener not rewritten"

"$MOSQUITTO" -c "$tmp/mosquitto.conf" 2>"$tmp/mosquitto.err" &
broker=$!
pids+=("$broker")
for _ in $(seq 100); do
  kill -0 "$broker" 2>/dev/null || fatal "mosquitto exited"
  grep -q "Opening ipv4 listen socket on port $tls_port" "$tmp/mosquitto.err" &&
    grep -q "Opening ipv4 listen socket on port $health_port" "$tmp/mosquitto.err" && break
  sleep 0.1
done
"$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)' "$tls_port" ||
  fatal "the TLS listener does not accept connections"

# tls NAME: client options for the identity NAME (a PKI file base name).
tls() {
  local base=$1 ca=${2:-$pki/ca.crt}
  echo "-h 127.0.0.1 -p $tls_port --cafile $ca --cert $base.crt --key $base.key"
}

# sub NAME OUT ARGS...: a subscriber in the background (at most 30 s), with
# debug output so that SUBACK and every PUBLISH show; waits for its SUBACK.
sub() {
  local out=$1
  shift
  timeout 30 stdbuf -oL mosquitto_sub -d -v -q 1 "$@" >"$out" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do
    grep -q 'received SUBACK' "$out" && return 0
    sleep 0.1
  done
  cat "$out"
  fatal "subscriber $out got no SUBACK"
}
# wait_for FILE TEXT: until TEXT is in FILE (at most 10 s).
wait_for() {
  for _ in $(seq 100); do
    grep -qF -- "$2" "$1" && return 0
    sleep 0.1
  done
  return 1
}
pub() { timeout 15 mosquitto_pub -q 1 "$@"; }

# The health check used by deploy/docker-compose.yml.
if timeout 10 mosquitto_sub -h 127.0.0.1 -p "$health_port" -t '$SYS/broker/uptime' -C 1 -W 5 \
  >"$tmp/health.out" 2>&1 && grep -q seconds "$tmp/health.out"; then
  ok "health listener answers \$SYS/broker/uptime"
else
  not_ok "health listener: $(cat "$tmp/health.out")"
fi

# shellcheck disable=SC2046 # the option strings split on purpose
{
  sub "$tmp/fleetd.out" $(tls "$pki/fleetd") -i fleetd-test -t 'fleet/+/telemetry' -t 'fleet/+/status'
  sub "$tmp/snoop.out" $(tls "$pki/devices/v-002") -i v-002-snoop -t 'fleet/+/telemetry' -t 'fleet/#'
  sub "$tmp/anon.out" -h 127.0.0.1 -p "$health_port" -i anon-snoop -t 'fleet/#'

  # 1. A device publishes on its own topics.
  if pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/telemetry -m '{"v":1,"n":"own"}' &&
    wait_for "$tmp/fleetd.out" 'fleet/v-001/telemetry {"v":1,"n":"own"}'; then
    ok "device v-001 -> fleet/v-001/telemetry delivered to fleetd"
  else
    not_ok "own telemetry not delivered"
  fi
  if pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/status -r -m online &&
    wait_for "$tmp/fleetd.out" 'fleet/v-001/status online'; then
    ok "device v-001 -> fleet/v-001/status delivered to fleetd"
  else
    not_ok "own status not delivered"
  fi

  # 2. Spoofing over MQTT 5: the PUBACK carries reason 135 (not authorized).
  out=$(pub $(tls "$pki/devices/v-001") -i v-001 -V mqttv5 -d -t fleet/v-002/telemetry \
    -m '{"v":1,"n":"spoof5"}' 2>&1) || true
  if grep -q "received PUBACK (Mid: [0-9]*, RC:135)" <<<"$out"; then
    ok "MQTT 5 spoofed publish refused with reason 135"
  else
    not_ok "MQTT 5 spoofed publish: no reason 135 in: $out"
  fi
  # 3. Spoofing over MQTT 3.1.1: acknowledged, then dropped. The sentinel that
  # follows on the same client's own topic arrives after anything the spoof
  # could have delivered.
  out=$(pub $(tls "$pki/devices/v-001") -i v-001 -V mqttv311 -d -t fleet/v-002/telemetry \
    -m '{"v":1,"n":"spoof311"}' 2>&1) || true
  if grep -q 'received PUBACK' <<<"$out"; then
    ok "MQTT 3.1.1 spoofed publish acknowledged (the protocol cannot say no)"
  else
    not_ok "MQTT 3.1.1 spoofed publish: no PUBACK in: $out"
  fi
  pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/telemetry -m '{"v":1,"n":"sentinel"}' || true
  wait_for "$tmp/fleetd.out" '"n":"sentinel"' || not_ok "sentinel not delivered"
  if grep -q spoof "$tmp/fleetd.out"; then
    not_ok "a spoofed message was delivered: $(grep spoof "$tmp/fleetd.out")"
  else
    ok "no spoofed message delivered (MQTT 5 and 3.1.1)"
  fi
  # fleetd may not publish as a device either.
  pub $(tls "$pki/fleetd") -i fleetd-pub -t fleet/v-001/telemetry -m '{"v":1,"n":"spoof-fleetd"}' || true
  pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/telemetry -m '{"v":1,"n":"sentinel2"}' || true
  wait_for "$tmp/fleetd.out" '"n":"sentinel2"' || not_ok "second sentinel not delivered"
  if grep -q spoof-fleetd "$tmp/fleetd.out"; then
    not_ok "fleetd could publish telemetry for a device"
  else
    ok "fleetd cannot publish telemetry for a device"
  fi
  # fleetd publishes alerts.
  if pub $(tls "$pki/fleetd") -i fleetd-pub -t fleet/v-001/alerts -m '{"rule":"x"}'; then
    ok "fleetd publishes fleet/v-001/alerts"
  else
    not_ok "fleetd cannot publish alerts"
  fi

  # 4. The device and the anonymous health client subscribed to everything:
  # the messages above have all been delivered to fleetd, and a further
  # bounded wait lets any stray delivery arrive.
  sleep 1
  if grep -q 'received PUBLISH' "$tmp/snoop.out"; then
    not_ok "device v-002 received other vehicles' messages: $(grep 'received PUBLISH' "$tmp/snoop.out")"
  else
    ok "device v-002 subscribed to fleet/# receives nothing"
  fi
  if grep -q 'received PUBLISH' "$tmp/anon.out"; then
    not_ok "the health listener delivered fleet/ messages"
  else
    ok "the health listener delivers no fleet/ message"
  fi

  # 5. Clients the broker must refuse: mosquitto_pub cannot connect, and the
  # broker's TLS alert (seen by openssl s_client over TLS 1.2, where it comes
  # within the handshake) names the reason.
  refuse() {
    local what=$1 alert=$2 base=$3 ca=${4:-$pki/ca.crt} opts
    if [ -n "$base" ]; then opts=$(tls "$base" "$ca"); else opts="-h 127.0.0.1 -p $tls_port --cafile $ca"; fi
    # shellcheck disable=SC2086
    if pub $opts -i "refused-$RANDOM" -t fleet/v-001/telemetry -m '{"v":1,"n":"refused"}' \
      >"$tmp/refused.out" 2>&1; then
      not_ok "$what: connected"
      return
    fi
    local cert=()
    [ -z "$base" ] || cert=(-cert "$base.crt" -key "$base.key")
    timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$tls_port" -CAfile "$ca" "${cert[@]}" \
      </dev/null >"$tmp/s_client.out" 2>&1 || true
    if grep -q "alert $alert" "$tmp/s_client.out"; then
      ok "$what: refused with TLS alert '$alert'"
    else
      not_ok "$what: refused, but not with alert '$alert': $(grep -i alert "$tmp/s_client.out")"
    fi
  }
  refuse "no client certificate" "handshake failure" ""
  refuse "certificate from another CA" "unknown ca" "$tmp/rogue/devices/v-001"
  refuse "expired certificate" "certificate expired" "$pki/test/expired"
  refuse "revoked certificate (CRL)" "certificate revoked" "$pki/test/revoked"
  # The same s_client check passes a valid certificate (the alerts above are
  # not an artefact of the method).
  timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$tls_port" -CAfile "$pki/ca.crt" \
    -cert "$pki/devices/v-002.crt" -key "$pki/devices/v-002.key" </dev/null >"$tmp/s_client.out" 2>&1 || true
  if grep -q 'Verify return code: 0 (ok)' "$tmp/s_client.out" && ! grep -q alert "$tmp/s_client.out"; then
    ok "a valid device certificate completes the handshake"
  else
    not_ok "valid certificate: $(grep -iE 'alert|error' "$tmp/s_client.out")"
  fi
  if pub -h 127.0.0.1 -p "$tls_port" -i plain -t fleet/v-001/telemetry -m '{"v":1,"n":"refused"}' \
    >"$tmp/refused.out" 2>&1; then
    not_ok "plain MQTT on the TLS port connected"
  else
    ok "plain MQTT on the TLS port refused"
  fi
  pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/telemetry -m '{"v":1,"n":"sentinel3"}' || true
  wait_for "$tmp/fleetd.out" '"n":"sentinel3"' || not_ok "third sentinel not delivered"
  if grep -q '"refused"' "$tmp/fleetd.out"; then
    not_ok "a refused client's message was delivered"
  else
    ok "nothing from refused clients was delivered"
  fi

  # 6. Revoking a device at run time: make-pki.sh --revoke, then SIGHUP makes
  # the broker read the new CRL (new connections only).
  pub $(tls "$pki/devices/v-002") -i v-002 -t fleet/v-002/telemetry -m '{"v":1,"n":"before-revoke"}' ||
    not_ok "v-002 cannot publish before its revocation"
  "$src/scripts/make-pki.sh" "$pki" --revoke v-002 >/dev/null
  kill -HUP "$broker"
  revoked=0
  for _ in $(seq 50); do
    if ! pub $(tls "$pki/devices/v-002") -i v-002 -t fleet/v-002/telemetry \
      -m '{"v":1,"n":"after-revoke"}' >/dev/null 2>&1; then
      revoked=1
      break
    fi
    sleep 0.1
  done
  [ $revoked = 1 ] && ok "v-002 refused after --revoke and SIGHUP" || not_ok "v-002 still connects after --revoke"
  if pub $(tls "$pki/devices/v-001") -i v-001 -t fleet/v-001/telemetry -m '{"v":1,"n":"sentinel4"}' &&
    wait_for "$tmp/fleetd.out" '"n":"sentinel4"'; then
    ok "v-001 still publishes after the reload"
  else
    not_ok "v-001 lost after the reload"
  fi
  grep -q before-revoke "$tmp/fleetd.out" && ok "v-002 delivered before its revocation" ||
    not_ok "v-002's message before revocation missing"
}

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
