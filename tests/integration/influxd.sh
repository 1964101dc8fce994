#!/bin/sh
# Start and stop a throw-away InfluxDB 1.x server (Debian's influxd) for tests
# and benchmarks, on free loopback ports, with all its state in one directory.
#
#   influxd.sh start DIR [--https CERT KEY]
#                           start (or restart on the same ports) and print the URL
#   influxd.sh stop DIR     stop it (SIGTERM, then SIGKILL after 10 s)
#   influxd.sh url DIR      print the URL of a server started in DIR
#
# DIR is created when missing and holds influxd.conf, meta/, data/, wal/,
# influxd.log, influxd.pid and url. A second `start` on the same DIR reuses the
# ports of the first (a test that stops and restarts the server keeps its URL).
# Both listeners are moved: the HTTP API and the backup/RPC service, which
# influxd 1.x binds to 8088 on every interface unless told otherwise. Reporting
# to InfluxData and the _internal monitor database are off.
#
# --https serves the HTTP API over TLS only (https-enabled) with the PEM
# certificate CERT and its key KEY, both copied into DIR; the URL is then
# https://127.0.0.1:PORT (CERT must name 127.0.0.1, as scripts/make-pki.sh's
# server certificates do). The start-up poll of /ping does not verify the
# certificate (it only waits for the listener); clients must, with their CA.
#
# C tests call it with system() or posix_spawn() and read DIR/url.
set -eu

. "$(dirname "$0")/lib.sh"

INFLUXD=${INFLUXD:-influxd}

die() { echo "influxd.sh: $*" >&2; exit 1; }

write_conf() {
  dir=$1 http_port=$2 rpc_port=$3 https=$4
  scheme=http tls_conf=""
  if [ "$https" != 0 ]; then
    scheme=https
    tls_conf="  https-enabled = true
  https-certificate = \"$dir/https.crt\"
  https-private-key = \"$dir/https.key\""
  fi
  cat >"$dir/influxd.conf" <<EOF
reporting-enabled = false
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"

[meta]
  dir = "$dir/meta"
  logging-enabled = false

[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "10s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$http_port"
  log-enabled = false
  pprof-enabled = false
$tls_conf

[continuous_queries]
  enabled = false
  log-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
EOF
  echo "$http_port $rpc_port" >"$dir/ports"
  echo "$scheme://127.0.0.1:$http_port" >"$dir/url"
}

running() {
  pid_alive "$1/influxd.pid"
}

# ping_ok URL: the server answers /ping with 204.
ping_ok() {
  [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$1/ping" 2>/dev/null || true)" = 204 ]
}

# Wait until /ping answers 204 (bounded: 20 s), or the process died.
wait_ping() {
  wait_ready "$1/influxd.pid" 200 ping_ok "$(cat "$1/url")"
}

start() {
  dir=$1 cert=${2:-} key=${3:-}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  running "$dir" && die "a server is already running in $dir (pid $(cat "$dir/influxd.pid"))"
  command -v "$INFLUXD" >/dev/null 2>&1 || die "$INFLUXD not found (Debian package influxdb)"
  https=0
  if [ -n "$cert" ]; then
    https=1
    cp "$cert" "$dir/https.crt" || die "--https: cannot read '$cert'"
    (umask 077 && cp "$key" "$dir/https.key") || die "--https: cannot read '$key'"
  fi
  tries=1
  [ -f "$dir/influxd.conf" ] || tries=3 # fresh ports: retry if one was taken meanwhile
  while :; do
    if [ ! -f "$dir/influxd.conf" ]; then
      write_conf "$dir" "$(free_port)" "$(free_port)" "$https"
    fi
    "$INFLUXD" run -config "$dir/influxd.conf" >>"$dir/influxd.log" 2>&1 &
    echo $! >"$dir/influxd.pid"
    if wait_ping "$dir"; then
      cat "$dir/url"
      return 0
    fi
    stop "$dir" >/dev/null 2>&1 || true
    tries=$((tries - 1))
    if [ $tries -le 0 ]; then
      tail -n 20 "$dir/influxd.log" >&2 || true
      die "influxd did not answer /ping on $(cat "$dir/url")"
    fi
    rm -f "$dir/influxd.conf"
  done
}

stop() {
  stop_pid "$1/influxd.pid" TERM
}

[ $# -eq 2 ] || { [ $# -eq 5 ] && [ "$1" = start ] && [ "$3" = --https ]; } ||
  die "usage: influxd.sh start DIR [--https CERT KEY] | stop DIR | url DIR"
case $1 in
  start) start "$2" "${4:-}" "${5:-}" ;;
  stop) stop "$2" ;;
  url) cat "$2/url" ;;
  *) die "unknown command '$1'" ;;
esac
