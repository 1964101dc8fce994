#!/usr/bin/env bash
# abi.check: compares the freshly built libfleet.so.N with the stored baseline
# abi/libfleet.so.N.abi (scripts/abi-baseline.sh), counting only what the
# public headers declare.
#
#   check-abi.sh SOURCE_DIR LIB BUILD_INCLUDE_DIR
#
# The library is described exactly as the baseline was (abi-baseline.sh
# --dump: abidw keeping only the types of the public headers), and abidiff
# compares the two descriptions. Filtering on both sides at abidw time rather
# than with abidiff --headers-dir2: the baseline carries no source locations,
# and abidiff's header filter then takes every type of the baseline for a
# private one and hides real changes (a member inserted into a public struct).
#
# Passes when the only differences are additions: new functions or variables,
# and members appended to a versioned struct (one whose first member is
# `unsigned int version`, which grows only at the end; see docs/ABI.md).
# Fails on
# - an incompatible change: abidiff's exit status bit 8
#   (ABIDIFF_ABI_INCOMPATIBLE_CHANGE), i.e. a function or variable removed;
# - any other ABI change (bit 4 still set once added symbols are left out):
#   abidiff does not call a struct layout change, a changed parameter type or
#   a renumbered enumerator incompatible, but each breaks callers;
# - an abidiff error (bits 1 and 2).
set -uo pipefail

[ $# -eq 3 ] || { echo "usage: check-abi.sh SOURCE_DIR LIB BUILD_INCLUDE_DIR" >&2; exit 2; }
src=$(realpath "$1") lib=$(realpath "$2") binc=$(realpath "$3")

command -v abidiff >/dev/null || {
  echo "abi.check: abidiff not found: install abigail-tools (scripts/deps.sh)" >&2
  exit 1
}
# The SONAME's number picks the baseline: a bumped SONAME needs a new one.
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
case $soname in
  libfleet.so.[0-9]*) ;;
  *) echo "abi.check: $lib has no libfleet.so.N SONAME ('$soname')" >&2; exit 1 ;;
esac
baseline=$src/abi/$soname.abi
if [ ! -f "$baseline" ]; then
  echo "abi.check: no baseline for $soname (${baseline#"$src"/})." >&2
  echo "  After a SONAME bump, write it with scripts/abi-baseline.sh and commit it." >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/abi-baseline.sh" --dump "$lib" "$binc" "$tmp/current.abi" || {
  echo "abi.check: abidw could not describe $lib (built without -g?)" >&2
  exit 1
}

# Versioned structs, from the headers: `typedef struct NAME {` followed by
# `unsigned int version;`.
versioned=$(awk 'p && /^[[:space:]]*unsigned int version;/ { print n } { p = 0 }
  /^typedef struct [a-z_0-9]+ \{/ { n = $3; p = 1 }' "$src"/include/fleet/*.h | paste -sd'|')
: >"$tmp/suppr"
if [ -n "$versioned" ]; then
  cat >"$tmp/suppr" <<EOF
[suppress_type]
  label = members appended to a versioned struct
  type_kind = struct
  name_regexp = ^($versioned)\$
  has_data_member_inserted_at = end
EOF
fi

abidiff --suppressions "$tmp/suppr" --no-show-locs "$baseline" "$tmp/current.abi" \
  >"$tmp/report" 2>&1
rc=$?
abidiff --suppressions "$tmp/suppr" --no-added-syms "$baseline" "$tmp/current.abi" \
  >/dev/null 2>&1
rc_changed=$?

if [ $((rc & 3)) -ne 0 ] || [ $((rc_changed & 3)) -ne 0 ]; then
  cat "$tmp/report"
  echo "abi.check: abidiff failed (exit status $rc)" >&2
  exit 1
fi
if [ $((rc & 8)) -ne 0 ] || [ $((rc_changed & 4)) -ne 0 ]; then
  cat "$tmp/report"
  kind="changed"
  [ $((rc & 8)) -eq 0 ] || kind="INCOMPATIBLE (removed)"
  cat >&2 <<EOF
abi.check: $kind API against ${baseline#"$src"/} (abidiff exit status $rc).
  Programs built against $soname would break. Either undo the change (keep the
  old function and add a _v2 one beside it; append struct members at the end
  of versioned structs only), or bump the SONAME as docs/ABI.md says and write
  the new baseline with scripts/abi-baseline.sh.
EOF
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  cat "$tmp/report"
  echo "abi.check: additions only (abidiff exit status $rc): OK. Regenerate the" \
    "baseline (scripts/abi-baseline.sh) in the commit that adds this API."
  exit 0
fi
echo "abi.check: $soname matches ${baseline#"$src"/}"
exit 0
