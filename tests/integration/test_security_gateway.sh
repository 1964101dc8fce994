#!/usr/bin/env bash
# Security tests of fleetd's gateway over HTTPS/WSS (test_security_gateway.py):
# the JWT matrix, REST authorisation and allow-lists, oversize and malformed
# input, path traversal and a slow-client flood, against the real fleetd with
# mosquitto, influxd and fleet-sim. Debian's python3 has the modules it needs.
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_SOURCE_DIR:?set by ctest}"
py=/usr/bin/python3
if ! "$py" -c 'import pytest, websockets, requests, cryptography' 2>/dev/null; then
  echo "test_security_gateway: $py lacks pytest, websockets, requests or cryptography" >&2
  exit 1
fi
command -v openssl >/dev/null || { echo "test_security_gateway: openssl is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export FLEET_BUILD_DIR FLEET_SOURCE_DIR
"$py" -m pytest -q -p no:cacheprovider --basetemp="$tmp/pytest" "$@" \
  "$FLEET_SOURCE_DIR/tests/integration/test_security_gateway.py"
