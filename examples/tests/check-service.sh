#!/bin/sh
# Install the build into a temporary prefix, then build the custom service of
# examples/service outside the tree twice -- with its Makefile (pkg-config)
# and with its CMakeLists.txt (find_package) -- and run both on the example
# trace.
#
#   check-service.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
build=$1 src=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libfleet.so.0' | head -n 1)")
expected=$src/examples/data/expected/service.txt
run() {
  "$1" "$src/examples/data/zones.geojson" <"$src/examples/data/trace.jsonl" >"$work/out"
  diff -u "$expected" "$work/out" >&2 || { echo "FAIL: $2 build printed other events" >&2; exit 1; }
  echo "ok: $2 build"
}

# A copy, as a user would start from it: nothing of the libfleet tree is used.
cp -r "$src/examples/service" "$work/make"
PKG_CONFIG_PATH="$libdir/pkgconfig" make -s -C "$work/make" \
  CFLAGS="-O2 -Werror" LDFLAGS="-Wl,-rpath,$libdir" >"$work/make.log"
run "$work/make/fleet-geofenced" "Makefile (pkg-config)"

cp -r "$src/examples/service" "$work/cmake-src"
cmake -S "$work/cmake-src" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$libdir" -DCMAKE_C_FLAGS="-Werror -Wall -Wextra" >"$work/cmake.log"
cmake --build "$work/cmake-build" >>"$work/cmake.log"
run "$work/cmake-build/fleet-geofenced" "CMake (find_package)"
