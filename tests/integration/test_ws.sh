#!/usr/bin/env bash
# ws gateway: test_ws.py against ws_testserver, with Debian's python3 (which has
# pytest, websockets and requests; the python3 first on PATH may not).
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_SOURCE_DIR:?set by ctest}"
py=/usr/bin/python3
if ! "$py" -c 'import pytest, websockets, requests' 2>/dev/null; then
  echo "test_ws: $py lacks pytest, websockets or requests (scripts/deps.sh installs them)" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "test_ws: curl is missing" >&2; exit 1; }
command -v openssl >/dev/null || { echo "test_ws: openssl is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export FLEET_BUILD_DIR
"$py" -m pytest -q -p no:cacheprovider --basetemp="$tmp/pytest" "$@" \
  "$FLEET_SOURCE_DIR/tests/integration/test_ws.py"
