#!/bin/sh
# Fails when the shared library exports any dynamic symbol not named fleet_*.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^$')
[ -n "$syms" ] || { echo "no exported symbols found in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^fleet_' | grep -v '^FLEET_0$' || true)
if [ -n "$bad" ]; then
  echo "symbols exported from $lib that are not fleet_*:"
  printf '%s\n' "$bad"
  exit 1
fi
count=$(printf '%s\n' "$syms" | grep -c '^fleet_')
echo "ok: $count exported symbols, all fleet_*"
