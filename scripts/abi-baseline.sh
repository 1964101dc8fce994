#!/usr/bin/env bash
# Writes the stored ABI baseline of libfleet, abi/libfleet.so.<SOVERSION>.abi,
# which the test abi.check compares every build against (see docs/ABI.md).
#
#   scripts/abi-baseline.sh [--rev REV]
#                                    build libfleet (RelWithDebInfo) in a
#                                    temporary directory and write the baseline;
#                                    from the working tree, or from the commit
#                                    REV (git archive), leaving out uncommitted
#                                    work in a shared checkout
#   scripts/abi-baseline.sh --dump LIB BUILD_INCLUDE_DIR OUT
#                                    only describe an existing libfleet.so.N
#                                    (used by tests/install/check-abi.sh)
#
# Only what the public headers declare counts: abidw reads the DWARF of the
# library but keeps the types of include/fleet/ (and the generated version.h).
# The output carries no paths, line numbers or dependency list, and type ids
# are hashes, so the same ABI gives the same file whoever builds it and where:
# a diff of the baseline in review shows real API changes only.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
tree=$src # the sources built; another tree with --rev

die() { echo "abi-baseline.sh: $*" >&2; exit 1; }
command -v abidw >/dev/null || die "abidw not found (Debian package abigail-tools)"

# dump LIB BUILD_INCLUDE_DIR OUT
dump() {
  local lib binc out=$3
  # abidw matches header paths against the DWARF's absolute ones.
  lib=$(realpath "$1") binc=$(realpath "$2")
  abidw --headers-dir "$tree/include/fleet" --headers-dir "$binc/fleet" \
    --drop-private-types --drop-undefined-syms --no-show-locs --no-corpus-path \
    --no-comp-dir-path --no-elf-needed --type-id-style hash \
    --out-file "$out.tmp" "$lib"
  # Translation units are named by their source paths: make them relative.
  sed -i "s|path='$tree/|path='|" "$out.tmp"
  mv "$out.tmp" "$out"
}

if [ "${1:-}" = "--dump" ]; then
  [ $# -eq 4 ] || die "usage: abi-baseline.sh --dump LIB BUILD_INCLUDE_DIR OUT"
  dump "$2" "$3" "$4"
  exit 0
fi
rev=""
if [ "${1:-}" = "--rev" ] && [ $# -eq 2 ]; then
  rev=$2
elif [ $# -ne 0 ]; then
  die "usage: abi-baseline.sh [--rev REV] | --dump LIB BUILD_INCLUDE_DIR OUT"
fi

build=$(mktemp -d /tmp/fleet-abi.XXXXXX)
trap 'rm -rf "$build"' EXIT
if [ -n "$rev" ]; then
  tree=$build/src
  mkdir -p "$tree"
  git -C "$src" archive --format=tar "$rev" | tar -x -C "$tree" ||
    die "cannot export $rev from git"
  echo "abi-baseline.sh: building libfleet from $rev ($(git -C "$src" rev-parse --short "$rev")) in $build"
else
  echo "abi-baseline.sh: building libfleet from the working tree in $build"
fi
soversion=$(sed -n 's/^set(FLEET_SOVERSION \([0-9]\+\)).*/\1/p' "$tree/CMakeLists.txt")
[ -n "$soversion" ] || die "no set(FLEET_SOVERSION N) in CMakeLists.txt"

cmake -S "$tree" -B "$build/b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON \
  -DFLEET_BUILD_TESTS=OFF -DFLEET_BUILD_APPS=OFF -DFLEET_BUILD_BENCH=OFF \
  -DFLEET_BUILD_PYTHON=OFF -DFLEET_BUILD_EXAMPLES=OFF -DFLEET_BUILD_WEB=OFF \
  -DFLEET_SANITIZE= -DFLEET_FUZZ=OFF >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; die "configure failed"; }
cmake --build "$build/b" --target fleet -j"${JOBS:-2}" >"$build/build.log" 2>&1 ||
  { tail -n 40 "$build/build.log" >&2; die "build failed"; }

lib=$(find "$build/b" -name "libfleet.so.$soversion" -print -quit)
[ -n "$lib" ] && [ -e "$lib" ] || die "libfleet.so.$soversion not built"

mkdir -p "$src/abi"
out=$src/abi/libfleet.so.$soversion.abi
dump "$lib" "$build/b/include" "$out"
nfun=$(grep -c '<elf-symbol name=.*type=.func-type' "$out" || true)
echo "abi-baseline.sh: wrote ${out#"$src"/} ($nfun functions); commit it with the API change"
