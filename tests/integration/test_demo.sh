#!/bin/sh
# The README's main command in its bounded mode: scripts/demo.sh --duration
# runs the whole local system (mosquitto, influxd, fleetd, fleet-sim) from
# this build, stops it cleanly and reports what was stored.
#
#   test_demo.sh [tls]
#
# With "tls": scripts/demo.sh --tls, the same checks, and that every link used
# TLS (the broker took certificates' CNs as user names, InfluxDB and the
# gateway spoke HTTPS, the hints name the CA).
set -eu
: "${FLEET_BUILD_DIR:?}" "${FLEET_SOURCE_DIR:?}"
tls=0
case ${1:-} in
  "") ;;
  tls) tls=1 ;;
  *) echo "usage: test_demo.sh [tls]" >&2; exit 2 ;;
esac
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -n 30 "$T/demo.out" "$T/run/fleetd.log" >&2 2>/dev/null || true
  exit 1
}

scheme=http opts="" duration=20
if [ "$tls" = 1 ]; then
  # Shorter: making 100 device certificates comes first.
  scheme=https opts=--tls duration=15
fi
# shellcheck disable=SC2086
"$FLEET_SOURCE_DIR/scripts/demo.sh" $opts --duration "$duration" --no-deps --no-build \
  --vehicles 100 --build-dir "$FLEET_BUILD_DIR" --run-dir "$T/run" >"$T/demo.out" 2>&1 ||
  fail "demo.sh failed"

# It told the user how to query and how to stop.
grep -q "fleetctl history v-00001 --influx $scheme://127.0.0.1:[0-9]* .*--from -10m --to now" \
  "$T/demo.out" || fail "no query hint"
grep -q 'Ctrl-C stops everything' "$T/demo.out" || fail "no stop hint"
grep -q "^Dashboard: .*$scheme://127.0.0.1:[0-9]*" "$T/demo.out" || fail "no $scheme dashboard URL"
# Positions arrived: about 100 vehicles x duration / 2 s; at least 3 per second.
n=$(sed -n 's/^demo: stored \([0-9]*\) positions.*/\1/p' "$T/demo.out")
[ -n "$n" ] && [ "$n" -ge $((duration * 15)) ] || fail "positions stored: '${n:-none}'"
# Everything stopped cleanly: fleetd flushed and exited 0, the servers are gone.
grep -q '^fleetd stopped (exit status 0)' "$T/demo.out" || fail "fleetd did not stop cleanly"
grep -q 'msg="final stats"' "$T/run/fleetd.log" || fail "no final stats"
grep -q 'rejected=0 ' "$T/run/fleetd.log" || fail "payloads rejected"
for p in "$T/run/mosquitto/mosquitto.pid" "$T/run/influxd/influxd.pid"; do
  [ ! -f "$p" ] || fail "$p still there"
done

if [ "$tls" = 1 ]; then
  ca=$T/run/pki/ca.crt
  [ -f "$ca" ] && [ "$(find "$T/run/pki/devices" -name '*.crt' | wc -l)" = 100 ] ||
    fail "no PKI with 100 device certificates in the run directory"
  grep -q "own CA, $ca. A browser must" "$T/demo.out" &&
    grep -q "trust it (import it as an authority) or you accept its warning" "$T/demo.out" ||
    fail "no word on trusting $ca"
  grep -q -- "--cacert $ca" "$T/demo.out" || fail "the hints do not pass the CA to curl"
  log=$T/run/mosquitto/mosquitto.log
  grep -q "as fleetd (.*u'fleetd')" "$log" || fail "fleetd did not connect with its certificate"
  grep -q "as fleet-sim-v-00042 (.*u'v-00042')" "$log" ||
    fail "v-00042 did not connect with its own certificate"
  grep -q '^require_certificate true$' "$T/run/mosquitto/mosquitto.conf" ||
    fail "the broker did not run the deployed TLS configuration"
  grep -q 'msg="listening on https://127.0.0.1:' "$T/run/fleetd.log" || fail "gateway not HTTPS"
  grep -q '^  https-enabled = true$' "$T/run/influxd/influxd.conf" || fail "influxd not HTTPS"
  grep -q 'level=error' "$T/run/fleetd.log" && fail "fleetd logged errors"
fi
echo "ok: $n positions ($scheme)"
