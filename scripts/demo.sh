#!/usr/bin/env bash
# The main job: installs what is needed, builds libfleet and its programs, and
# runs them over the sample payloads (tests/data/sample-payloads.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DFLEET_BUILD_TESTS=OFF -DFLEET_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
fleetctl=build/apps/fleetctl
sample=tests/data/sample-payloads.jsonl

echo "== fleetctl validate $sample"
"$fleetctl" validate "$sample" || true
echo
echo "== fleetctl lp --tag fleet_id=demo $sample (valid payloads as InfluxDB line protocol)"
"$fleetctl" lp --tag fleet_id=demo "$sample" 2>/dev/null || true
echo
echo "Built: library build/libfleet/libfleet.so, programs in build/apps/."
echo "Try: $fleetctl validate --json $sample"
