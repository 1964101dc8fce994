#!/bin/sh
# Builds libfleet as a static library, installs it into a temporary prefix, and
# links the consumer program against it through pkg-config and through
# find_package(fleet), which must bring the private dependencies along.
set -eu
src=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake -S "$src" -B "$work/build" -DBUILD_SHARED_LIBS=OFF -DFLEET_BUILD_TESTS=OFF \
  -DFLEET_BUILD_APPS=OFF -DFLEET_BUILD_BENCH=OFF -DFLEET_BUILD_PYTHON=OFF \
  -DFLEET_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log"
cmake --build "$work/build" -j"$(nproc)" >"$work/build.log"
cmake --install "$work/build" >"$work/install.log"
lib=$(find "$prefix" -name 'libfleet.a' | head -n 1)
[ -n "$lib" ] || { echo "libfleet.a not installed"; exit 1; }
libdir=$(dirname "$lib")
expected='telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=45.2 1779359400000000000'

export PKG_CONFIG_PATH="$libdir/pkgconfig"
${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$work/consumer-pc" "$here/consumer/consumer.c" \
  $(pkg-config --cflags --libs libfleet)
out=$("$work/consumer-pc")
[ "$out" = "$expected" ] || { echo "static pkg-config consumer printed: $out"; exit 1; }
if ldd "$work/consumer-pc" | grep -q libfleet; then
  echo "static consumer is linked to a shared libfleet"; exit 1
fi
echo "ok: static pkg-config consumer"

cmake -S "$here/consumer" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log"
cmake --build "$work/consumer-cmake" >>"$work/cmake.log"
out=$("$work/consumer-cmake/consumer")
[ "$out" = "$expected" ] || { echo "static find_package consumer printed: $out"; exit 1; }
echo "ok: static find_package consumer"
