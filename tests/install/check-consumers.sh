#!/bin/sh
# Installs the build into a temporary prefix, then builds and runs a consumer
# program against it twice: through pkg-config and through find_package(fleet).
set -eu
build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
libdir=$(dirname "$(find "$prefix" -name 'libfleet.so.0' | head -n 1)")
[ -e "$libdir/libfleet.so" ] || { echo "libfleet.so not installed"; exit 1; }
expected='telemetry,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=45.2 1779359400000000000'

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs libfleet)
${CC:-cc} -std=c17 -Wall -Wextra -Werror -o "$work/consumer-pc" "$here/consumer/consumer.c" \
  $flags -Wl,-rpath,"$libdir"
out=$("$work/consumer-pc")
[ "$out" = "$expected" ] || { echo "pkg-config consumer printed: $out"; exit 1; }
echo "ok: pkg-config consumer"

# find_package
cmake -S "$here/consumer" -B "$work/consumer-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$libdir" >"$work/cmake.log"
cmake --build "$work/consumer-cmake" >>"$work/cmake.log"
out=$("$work/consumer-cmake/consumer")
[ "$out" = "$expected" ] || { echo "find_package consumer printed: $out"; exit 1; }
echo "ok: find_package consumer"
