#!/bin/sh
# TLS everywhere, end to end, with real servers (tls_stack.sh): a PKI from
# scripts/make-pki.sh; mosquitto with the deployed TLS configuration
# (require_certificate, use_identity_as_username, the ACL); influxd over HTTPS
# only; fleetd with mqtts:// and its own client certificate, InfluxDB over
# HTTPS with the CA, and its gateway on HTTPS/WSS; fleet-sim with one
# certificate per vehicle.
# - every published message is stored (counted over HTTPS);
# - /healthz and /readyz over HTTPS, login over HTTPS (Secure cookie), a WSS
#   client receives each vehicle's updates;
# - refused: plain HTTP on the HTTPS port, clients that do not trust the CA
#   (curl, Python HTTPS and WSS), fleetctl without the CA (it says why);
# - fleetd without a client certificate: the broker refuses it and fleetd's
#   log says a certificate is missing;
# - fleetd with a wrong CA for InfluxDB: an error at start that says why,
#   /readyz 503 with the reason from the start, failed writes that say why.
set -eu
. "$(dirname "$0")/fleetd_common.sh"
. "$IT/tls_stack.sh"

for tool in openssl /usr/sbin/mosquitto influxd curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

VEHICLES=v-00000,v-00001,v-00002 # fleet-sim --vehicles 3 --vehicle-prefix v-
PER_VEHICLE=10
TOTAL=$((3 * PER_VEHICLE))
checks=0
ok() {
  checks=$((checks + 1))
  log "ok - $*"
}

t0=$(date +%s)
tls_stack_start "$T" --device-ids "$VEHICLES" || fail "the TLS stack did not start"
MQTT_URL=$TLS_MQTT_URL
INFLUX_URL=$TLS_INFLUX_URL
log "mosquitto $MQTT_URL (health $TLS_MQTT_HEALTH), influxd $INFLUX_URL"
# A second CA, which nothing trusts.
"$FLEET_SOURCE_DIR/scripts/make-pki.sh" "$T/rogue" --device-ids v-00000 --days 2 >/dev/null

# ---- InfluxDB over HTTPS ------------------------------------------------------------

[ "$(tls_curl -o /dev/null -w '%{http_code}' "$INFLUX_URL/ping")" = 204 ] ||
  fail "influxd /ping over HTTPS with the CA"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
  "http://127.0.0.1:${INFLUX_URL##*:}/ping" || true)
[ "$code" != 204 ] || fail "influxd answers plain HTTP"
ok "influxd: HTTPS with the test CA, plain HTTP refused ($code)"
# tls_stack_start ran `fleetctl influx init --ca-file`; without the CA it
# must fail and say why.
if "$FLEETCTL" influx init --influx "$INFLUX_URL" >"$T/init.out" 2>&1; then
  fail "fleetctl influx init trusted influxd without the CA"
fi
grep -q 'SSL certificate problem: unable to get local issuer certificate' "$T/init.out" ||
  fail "fleetctl without the CA does not say why: $(cat "$T/init.out")"
ok "fleetctl without the CA: $(cat "$T/init.out")"

# ---- fleetd with TLS everywhere -----------------------------------------------------

mkdir -p "$T/fd"
echo secret-pass | "$FLEETCTL" user add admin --role admin --state-dir "$T/fd" >/dev/null 2>"$T/user.err" ||
  fail "fleetctl user add: $(cat "$T/user.err")"
# shellcheck disable=SC2046 # the options split on purpose (no blanks in $T)
start_fleetd fd $(tls_fleetd_opts) --http 127.0.0.1:0
grep -q "New client connected from 127.0.0.1:[0-9]* as fleetd (.*u'fleetd')" \
  "$T/mosquitto/mosquitto.log" || fail "the broker did not take fleetd's certificate CN as its user"
ok "fleetd connected over mqtts:// with its certificate (user fleetd from the CN)"
port=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/fd.log" | tail -n 1)
[ -n "$port" ] || fail "no HTTP port in the log"
grep -q "msg=\"listening on https://127.0.0.1:$port\"" "$T/fd.log" || fail "the gateway is not HTTPS"
BASE=https://127.0.0.1:$port

[ "$(tls_curl "$BASE/healthz")" = ok ] || fail "/healthz over HTTPS"
i=0
until [ "$(tls_curl -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; do
  i=$((i + 1))
  [ $i -lt $((WAIT_S * 4)) ] || fail "/readyz over HTTPS: $(tls_curl "$BASE/readyz")"
  sleep 0.25
done
ok "/healthz and /readyz over HTTPS with the CA"

# Refused: plain HTTP on the HTTPS port; clients that do not trust the CA.
rc=0
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/healthz") ||
  rc=$?
[ "$rc" != 0 ] || fail "plain HTTP on the HTTPS port answered $code"
ok "plain HTTP on the HTTPS port: no answer (curl exit $rc)"
rc=0
curl -s --max-time 10 -o /dev/null "$BASE/healthz" || rc=$?
[ "$rc" = 60 ] || fail "curl with the system's CAs: exit $rc, expected 60 (peer certificate)"
rc=0
curl -s --max-time 10 -o /dev/null --cacert "$T/rogue/ca.crt" "$BASE/healthz" || rc=$?
[ "$rc" = 60 ] || fail "curl with another CA: exit $rc, expected 60 (peer certificate)"
ok "curl without the test CA (system CAs, another CA): handshake refused"

# The WSS client logs in, checks untrusted clients, subscribes, then waits
# for the vehicles.
"$PY" "$IT/tls_wss_client.py" "$BASE" "$TLS_CA" admin secret-pass "$VEHICLES" "$T/wss.ready" \
  >"$T/wss.out" 2>&1 &
wss_pid=$!
i=0
while [ ! -f "$T/wss.ready" ]; do
  kill -0 "$wss_pid" 2>/dev/null || fail "WSS client: $(cat "$T/wss.out")"
  i=$((i + 1))
  [ $i -lt $((WAIT_S * 10)) ] || fail "WSS client not subscribed: $(cat "$T/wss.out")"
  sleep 0.1
done

"$SIM" --mqtt "$MQTT_URL" --cafile "$TLS_CA" --cert-dir "$TLS_PKI/devices" --vehicles 3 \
  --vehicle-prefix v- --interval 1 --fast --count "$TOTAL" --report "$T/sim.json" --quiet ||
  fail "fleet-sim over mqtts:// with per-device certificates"
[ "$(json_get "$T/sim.json" acked)" = "$TOTAL" ] || fail "fleet-sim: $(cat "$T/sim.json")"
for id in $(echo "$VEHICLES" | tr , ' '); do
  grep -q "New client connected from .* as fleet-sim-$id (.*u'$id')" "$T/mosquitto/mosquitto.log" ||
    fail "$id did not connect with its own certificate"
done
ok "fleet-sim: $TOTAL messages acknowledged, each vehicle with its own certificate"

wait_value "$TOTAL" "positions stored (counted over HTTPS)" \
  tls_influx_count telemetry_raw 'SELECT count(lat) FROM telemetry'
ok "all $TOTAL positions stored in InfluxDB over HTTPS"

# The gateway reads history from InfluxDB over HTTPS too (its own reader).
tls_curl -o "$T/login.json" "$BASE/api/auth/login" -H "Content-Type: application/json" \
  -d '{"username":"admin","password":"secret-pass"}' || fail "login with curl"
token=$(json_get "$T/login.json" access_token) || fail "login: $(cat "$T/login.json")"
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
tls_curl -o "$T/history.json" -H "Authorization: Bearer $token" \
  "$BASE/api/vehicles/v-00001/history?from=$from&to=$to" || fail "history request"
got=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["points"]))' \
  "$T/history.json") || fail "history: $(cat "$T/history.json")"
[ "$got" = "$PER_VEHICLE" ] || fail "history of v-00001: $got points, expected $PER_VEHICLE"
ok "REST history over HTTPS, read from InfluxDB over HTTPS: $got points of v-00001"

st=0
wait "$wss_pid" || st=$?
sed 's/^/    /' "$T/wss.out"
[ "$st" = 0 ] || fail "WSS client checks"
ok "HTTPS login, WSS feed of every vehicle, untrusted HTTPS and WSS refused"

stop_fleetd fd
[ "$(final_stat fd rejected)" = 0 ] || fail "payloads rejected"
[ "$(final_stat fd accepted)" = "$TOTAL" ] || fail "accepted $(final_stat fd accepted)"
ok "fleetd stopped cleanly: $TOTAL accepted, none rejected"

# ---- fleetd misconfigured -----------------------------------------------------------

# spawn_fleetd NAME OPTIONS...: in the background, cleaned up at exit.
spawn_fleetd() {
  name=$1
  shift
  FLEETD_NAMES="$FLEETD_NAMES $name"
  ${FLEETD_WRAPPER:-} "$FLEETD" --state-dir "$T/$name" --stats-interval 0 "$@" \
    >>"$T/$name.out" 2>>"$T/$name.log" &
  echo $! >"$T/$name.pid"
}
# wait_log NAME TEXT: until TEXT is in NAME's log.
wait_log() {
  i=0
  until grep -qF -- "$2" "$T/$1.log"; do
    kill -0 "$(cat "$T/$1.pid")" 2>/dev/null || fail "fleetd $1 exited"
    i=$((i + 1))
    [ $i -lt $((WAIT_S * 10)) ] || fail "fleetd $1: no '$2' in its log"
    sleep 0.1
  done
}

# No client certificate: the TLS handshake is refused.
spawn_fleetd nocert --mqtt "$MQTT_URL" --set "mqtt.ca_file=$TLS_CA" --client-id fleetd-nocert \
  --influx "$INFLUX_URL" --set "influx.ca_file=$TLS_CA"
wait_log nocert 'msg="broker connection failed"'
wait_log nocert 'no client certificate was offered'
grep -q 'peer did not return a certificate' "$T/mosquitto/mosquitto.log" ||
  fail "the broker's log does not say the certificate was missing"
grep -q "as fleetd-nocert" "$T/mosquitto/mosquitto.log" && fail "fleetd-nocert was let in"
ok "fleetd without a client certificate refused: $(grep -m1 'msg="broker connection failed"' \
  "$T/nocert.log" | sed 's/.*detail=//')"
stop_fleetd nocert

# A CA that did not sign influxd's certificate: an error at start, /readyz
# 503 with the reason before any write, then every write fails with it.
mkdir -p "$T/badca"
echo secret-pass | "$FLEETCTL" user add admin --role admin --state-dir "$T/badca" >/dev/null 2>"$T/user.err" ||
  fail "fleetctl user add: $(cat "$T/user.err")"
# shellcheck disable=SC2046
spawn_fleetd badca $(tls_fleetd_opts) --set "influx.ca_file=$T/rogue/ca.crt" \
  --client-id fleetd-badca --http 127.0.0.1:0 --set shutdown_timeout_ms=500
wait_log badca 'msg="connected to the broker"'
wait_log badca 'level=error msg="InfluxDB refuses fleetd'
grep 'level=error msg="InfluxDB refuses fleetd' "$T/badca.log" |
  grep -q 'unable to get local issuer certificate' ||
  fail "no start-up error naming the certificate problem"
ok "wrong InfluxDB CA: $(grep -m1 'msg="InfluxDB refuses' "$T/badca.log" | sed 's/^ts=[^ ]* //')"
bport=$(sed -n 's/.*msg="HTTP gateway listening".* port=\([0-9]*\).*/\1/p' "$T/badca.log")
# readyz_503 WHEN: /readyz answers 503 naming the certificate problem.
readyz_503() {
  i=0
  until [ "$(tls_curl -o "$T/readyz.out" -w '%{http_code}' "https://127.0.0.1:$bport/readyz")" = 503 ]; do
    i=$((i + 1))
    [ $i -lt $((WAIT_S * 4)) ] || fail "/readyz with a wrong InfluxDB CA ($1): $(cat "$T/readyz.out")"
    sleep 0.25
  done
  grep -q 'unable to get local issuer certificate' "$T/readyz.out" ||
    fail "/readyz 503 ($1) does not say why: $(cat "$T/readyz.out")"
}
readyz_503 "before any write"
grep -q 'influx: write failed' "$T/badca.log" && fail "a write was attempted before any message"
ok "wrong InfluxDB CA, before any write: /readyz 503 ($(cat "$T/readyz.out"))"
"$SIM" --mqtt "$MQTT_URL" --cafile "$TLS_CA" --cert-dir "$TLS_PKI/devices" --vehicles 3 \
  --vehicle-prefix v- --interval 1 --fast --count 3 --seed 2 --quiet ||
  fail "fleet-sim (second run)"
wait_log badca 'influx: write failed'
grep 'influx: write failed' "$T/badca.log" | grep -q 'unable to get local issuer certificate' ||
  fail "the failed writes do not say why"
readyz_503 "after failed writes"
ok "wrong InfluxDB CA: writes fail with the reason, /readyz still 503"
stop_fleetd badca

log "$checks checks passed in $(($(date +%s) - t0)) s"
