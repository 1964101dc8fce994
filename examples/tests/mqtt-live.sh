#!/bin/sh
# Run the live-position example against a real mosquitto: start a broker on a
# free loopback port (tests/integration/mosquitto.sh), start the example
# bounded by --count 3 --timeout 30, publish three messages with
# mosquitto_pub once it listens, and compare what it printed.
#
#   mqtt-live.sh SOURCE_DIR EXPECTED_FILE COMMAND [ARGS...]
set -eu
src=$1 expected=$2
shift 2
work=$(mktemp -d)
harness=$src/tests/integration/mosquitto.sh
cleanup() {
  if [ -f "$work/mosquitto.pid" ] && [ -x "$harness" ]; then
    "$harness" stop "$work" >/dev/null 2>&1 || true
  elif [ -f "$work/broker.pid" ]; then
    kill "$(cat "$work/broker.pid")" 2>/dev/null || true
  fi
  [ -f "$work/example.pid" ] && kill "$(cat "$work/example.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The broker must not inherit a sanitizer runtime preloaded for Python.
if [ -x "$harness" ]; then
  port=$(env -u LD_PRELOAD -u ASAN_OPTIONS -u PYTHONMALLOC "$harness" start "$work" | tail -n 1)
else
  port=$(${FLEET_PYTHON:-/usr/bin/python3} -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/m.conf"
  env -u LD_PRELOAD /usr/sbin/mosquitto -c "$work/m.conf" >/dev/null 2>&1 &
  echo $! >"$work/broker.pid"
  sleep 1
fi

"$@" --url "mqtt://127.0.0.1:$port" --count 3 --timeout 30 >"$work/out" 2>"$work/err" &
echo $! >"$work/example.pid"
i=0
until grep -q "listening on" "$work/err" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 200 ] || ! kill -0 "$(cat "$work/example.pid")" 2>/dev/null; then
    echo "FAIL: the example did not start listening" >&2
    cat "$work/err" >&2
    exit 1
  fi
  sleep 0.05
done
pub() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -m "$2"; }
pub fleet/van-7/telemetry '{"v":1,"ts":"2026-05-21T07:05:30Z","lat":51.5,"lng":-0.095666,"speed":36}'
pub fleet/van-8/telemetry '{"v":1,"ts":"2026-05-21T07:05:31Z","lat":95,"lng":0}'
pub fleet/van-7/telemetry '{"v":1,"ts":"2026-05-21T07:06:00Z","lat":51.5,"lng":-0.091332}'
set +e
wait "$(cat "$work/example.pid")"
status=$?
set -e
rm -f "$work/example.pid"
if [ "$status" -ne 0 ]; then
  echo "FAIL: exit status $status" >&2
  cat "$work/err" >&2
  exit 1
fi
diff -u "$expected" "$work/out" >&2 || { echo "FAIL: unexpected output of: $*" >&2; exit 1; }
echo "ok: $*"
