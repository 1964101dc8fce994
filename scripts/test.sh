#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the packages, then
#   1. a strict (-Werror) build and every ctest test (unit, integration, install,
#      python, web);
#   2. an ASan+UBSan build running the unit and integration tests;
#   3. a clang + libFuzzer build running every fuzz target for a bounded time.
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
status=0

cmake -S . -B build -DFLEET_WERROR=ON -DFLEET_BUILD_WEB=ON -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs") || status=1

cmake -S . -B build-asan -DFLEET_SANITIZE=address,undefined -DFLEET_WERROR=ON \
  -DFLEET_BUILD_BENCH=OFF -DFLEET_BUILD_PYTHON=OFF -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs" -L 'unit|integration') || status=1

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DFLEET_FUZZ=ON \
  -DFLEET_SANITIZE=address,undefined -DFLEET_BUILD_APPS=OFF -DFLEET_BUILD_BENCH=OFF \
  -DFLEET_BUILD_PYTHON=OFF -DFLEET_FUZZ_SECONDS="${FLEET_FUZZ_SECONDS:-30}" >/dev/null
cmake --build build-fuzz -j"$jobs"
(cd build-fuzz && ctest --output-on-failure -j"$jobs" -L fuzz) || status=1

exit "$status"
