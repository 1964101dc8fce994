#!/bin/sh
# The dashboard's browser figures against the real stack: mosquitto + influxd
# + fleetd (stack.sh, --http serving web/dist) and fleet-sim with N vehicles at
# 1 Hz, measured by perf.mjs in headless Chromium logged in as admin (first the
# idle map with no feed, then the simulator starts). Prints the machine's load
# average before and after, and the size of the bundle served.
#
#   FLEET_BUILD_DIR=build-web web/e2e/perf_live.sh [--vehicles 10000] [--connections 100]
#       [--seconds 30] [--baseline-seconds 15] [--width 1400 --height 900]
#
# A benchmark, not a test: it needs web/dist (npm run build) and the apps built.
set -eu

: "${FLEET_BUILD_DIR:?set FLEET_BUILD_DIR to a build directory with apps/fleetd, fleet-sim and fleetctl}"
FLEET_BUILD_DIR=$(cd "$FLEET_BUILD_DIR" && pwd)
FLEET_SOURCE_DIR=${FLEET_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
STACK_NAME=perf_live
. "$FLEET_SOURCE_DIR/web/e2e/stack.sh"

VEHICLES=10000 CONNECTIONS=100 SECONDS=30 BASE_SECONDS=15
pass=""
while [ $# -gt 0 ]; do
  case $1 in
    --vehicles) VEHICLES=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --seconds) SECONDS=$2; shift 2 ;;
    --baseline-seconds) BASE_SECONDS=$2; shift 2 ;;
    --width|--height) pass="$pass $1 $2"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

stack_check
trap stack_cleanup EXIT INT TERM
echo "load before: $(cat /proc/loadavg) ($(nproc) cores)"
stack_start
# Long enough for the whole run (perf.mjs stops it at the end): baselines,
# the live views, and up to three minutes for every vehicle to appear.
duration=$((BASE_SECONDS * 3 + SECONDS * 2 + 300))
sim="$SIM --mqtt $mqtt_url --vehicles $VEHICLES --connections $CONNECTIONS --interval 1 --duration $duration"
sim="$sim --center 23.8103,90.4125 --radius-km 10 --seed 7 --quiet"
status=0
# shellcheck disable=SC2086 # $pass holds option pairs
node "$WEB/e2e/perf.mjs" --url "$http_url" --user admin --password "$password" --vehicles "$VEHICLES" \
  --seconds "$SECONDS" --baseline-seconds "$BASE_SECONDS" --sim-cmd "$sim" $pass || status=$?
echo "load after: $(cat /proc/loadavg)"
echo "fleetd: $(grep -c . "$tmp/fleetd.log") log lines; last: $(tail -n 1 "$tmp/fleetd.log")"
node "$WEB/scripts/bundle-size.mjs" "$WEB/dist" | tail -n 1
exit $status
