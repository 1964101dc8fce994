#!/bin/sh
# web.e2e: the dashboard in headless Chromium against a real stack started here
# (stack.sh: mosquitto, influxd, fleetd with its HTTP gateway serving web/dist)
# and fleet-sim (a backfilled half hour of history, then live vehicles at 1 Hz).
# Screenshots of every step go to $FLEET_BUILD_DIR/web-e2e/.
#
# Exit 77 (ctest: skipped) only when fleetd has no HTTP gateway in this build.
set -eu

: "${FLEET_BUILD_DIR:?set by ctest}"
: "${FLEET_SOURCE_DIR:?set by ctest}"
. "$FLEET_SOURCE_DIR/web/e2e/stack.sh"
ART=$FLEET_BUILD_DIR/web-e2e
VEHICLES=${FLEET_E2E_VEHICLES:-12}

stack_check
sim_pid=""
cleanup() {
  [ -n "$sim_pid" ] && kill -TERM "$sim_pid" 2>/dev/null || true
  stack_cleanup
}
trap cleanup EXIT INT TERM

# An overspeed rule low enough that the simulated traffic raises alerts within
# seconds. The live simulation starts with a burst of alerts before the browser
# has logged in; a short cooldown keeps them coming once it listens (with 60 s
# every vehicle was silenced for the first minute the dashboard was open).
stack_start '{"rules":[{"id":"e2e-overspeed","type":"overspeed","threshold_kmh":30,"severity":"warning",
  "cooldown_s":5,"description":"end-to-end test"}]}'

# Half an hour of history before the browser opens: trips to list, replay and report.
start=$(date -u -d '-35 min' +%Y-%m-%dT%H:%M:%SZ)
"$SIM" --mqtt "$mqtt_url" --vehicles "$VEHICLES" --interval 1 --start "$start" --fast \
  --count $((VEHICLES * 2000)) --center 23.8103,90.4125 --radius-km 3 --seed 7 --quiet \
  || die "fleet-sim backfill failed"
"$SIM" --mqtt "$mqtt_url" --vehicles "$VEHICLES" --interval 1 --duration 540 \
  --center 23.8103,90.4125 --radius-km 3 --seed 7 --quiet >"$tmp/sim.log" 2>&1 &
sim_pid=$!

rm -rf "$ART"
mkdir -p "$ART"
status=0
node "$WEB/e2e/run-e2e.mjs" --url "$http_url" --user admin --password "$password" \
  --artifacts "$ART" || status=$?
if [ $status -ne 0 ]; then
  echo "--- fleetd log (last 40 lines)"
  tail -n 40 "$tmp/fleetd.log" || true
fi
exit $status
