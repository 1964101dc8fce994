#!/bin/sh
# The README's main command in its bounded mode: scripts/demo.sh --duration
# runs the whole local system (mosquitto, influxd, fleetd, fleet-sim) from
# this build, stops it cleanly and reports what was stored.
set -eu
: "${FLEET_BUILD_DIR:?}" "${FLEET_SOURCE_DIR:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/fleet-demo.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -n 30 "$T/demo.out" "$T/run/fleetd.log" >&2 2>/dev/null || true
  exit 1
}

"$FLEET_SOURCE_DIR/scripts/demo.sh" --duration 20 --no-deps --no-build --vehicles 100 \
  --build-dir "$FLEET_BUILD_DIR" --run-dir "$T/run" >"$T/demo.out" 2>&1 || fail "demo.sh failed"

# It told the user how to query and how to stop.
grep -q 'fleetctl history v-00001 --influx http://127.0.0.1:[0-9]* --from -10m --to now' \
  "$T/demo.out" || fail "no query hint"
grep -q 'Ctrl-C stops everything' "$T/demo.out" || fail "no stop hint"
# Positions arrived: about 100 vehicles x 20 s / 2 s; at least a few hundred.
n=$(sed -n 's/^demo: stored \([0-9]*\) positions.*/\1/p' "$T/demo.out")
[ -n "$n" ] && [ "$n" -ge 300 ] || fail "positions stored: '${n:-none}'"
# Everything stopped cleanly: fleetd flushed and exited 0, the servers are gone.
grep -q '^fleetd stopped (exit status 0)' "$T/demo.out" || fail "fleetd did not stop cleanly"
grep -q 'msg="final stats"' "$T/run/fleetd.log" || fail "no final stats"
grep -q 'rejected=0 ' "$T/run/fleetd.log" || fail "payloads rejected"
for p in "$T/run/mosquitto/mosquitto.pid" "$T/run/influxd/influxd.pid"; do
  [ ! -f "$p" ] || fail "$p still there"
done
echo "ok: $n positions"
