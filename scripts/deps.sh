#!/usr/bin/env bash
# Installs what libfleet needs to build, test and run on Debian 12 (all from
# Debian's archive). Safe to run again; uses sudo when not root.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
packages=(
  build-essential cmake pkg-config git
  libjansson-dev libcmocka-dev libgeos-dev libcurl4-openssl-dev zlib1g-dev
  libmosquitto-dev mosquitto mosquitto-clients
  influxdb influxdb-client
  libwebsockets-dev libjwt-dev libssl-dev libcrypt-dev openssl
  clang libclang-rt-14-dev
  swig python3 python3-dev python3-pytest python3-websockets python3-requests
  python3-cryptography
  curl valgrind abigail-tools procps
  chromium chromium-driver
  docker-compose yamllint logrotate
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
echo "deps: all packages present"
