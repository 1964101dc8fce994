#!/bin/sh
# Run an example and compare its standard output with the expected text and
# its exit status with the expected one.
#
#   check-output.sh EXPECTED_FILE STATUS [--stdin FILE] COMMAND [ARGS...]
set -eu
expected=$1 want_status=$2
shift 2
input=/dev/null
if [ "$1" = "--stdin" ]; then
  input=$2
  shift 2
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
"$@" <"$input" >"$out"
status=$?
set -e
fail=0
if [ "$status" -ne "$want_status" ]; then
  echo "FAIL: exit status $status, expected $want_status: $*" >&2
  fail=1
fi
if ! diff -u "$expected" "$out" >&2; then
  echo "FAIL: unexpected output of: $*" >&2
  fail=1
fi
[ "$fail" -eq 0 ] && echo "ok: $*"
exit "$fail"
