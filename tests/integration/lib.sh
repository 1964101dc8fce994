# lib.sh: shell helpers of the integration tests, sourced (not run) by the test
# scripts and by the server harnesses (influxd.sh, mosquitto.sh):
#
#   . "$(dirname "$0")/lib.sh"
#
# Plain POSIX sh, so that sh and bash scripts can both use it.

# ---- checks ---------------------------------------------------------------------
#
# A test script sets tmp (its temporary directory) before the first run. Each
# expect_* counts one check in `checks` and a failed one in `failures`; a
# script's own check does `checks=$((checks + 1))` and calls fail on failure.
# finish prints the totals and fails when a check did.

checks=0
failures=0
what=""

# run CMD... : runs it with stdin from $tmp/in (empty unless set by input), keeps
# stdout in $tmp/out, stderr in $tmp/err and the exit status in rc.
run() {
  [ -f "$tmp/in" ] || : >"$tmp/in"
  set +e
  "$@" <"$tmp/in" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  rm -f "$tmp/in"
  what="$*"
}

# input TEXT: the next run's standard input (a printf format, so \n and \000 work).
input() {
  # shellcheck disable=SC2059
  printf "$1" >"$tmp/in"
}

fail() {
  echo "FAIL: $what: $1" >&2
  failures=$((failures + 1))
}

expect_rc() {
  checks=$((checks + 1))
  [ "$rc" -eq "$1" ] || { fail "exit status $rc, expected $1"; sed 's/^/  stderr: /' "$tmp/err" >&2; }
}

# expect_file FILE NAME [WANT]: FILE equals the file WANT, or the here-document
# on stdin; NAME is what FILE holds, for the message.
expect_file() {
  checks=$((checks + 1))
  if [ $# -gt 2 ]; then cp "$3" "$tmp/want"; else cat >"$tmp/want"; fi
  diff -u "$tmp/want" "$1" >"$tmp/diff" || { fail "unexpected $2"; sed 's/^/  /' "$tmp/diff" >&2; }
}
expect_stdout() { expect_file "$tmp/out" stdout "$@"; }
expect_stderr() { expect_file "$tmp/err" stderr "$@"; }

expect_stdout_has() {
  checks=$((checks + 1))
  grep -qF -- "$1" "$tmp/out" || { fail "stdout lacks '$1'"; sed 's/^/  stdout: /' "$tmp/out" >&2; }
}

expect_stderr_has() {
  checks=$((checks + 1))
  grep -qF -- "$1" "$tmp/err" || { fail "stderr lacks '$1'"; sed 's/^/  stderr: /' "$tmp/err" >&2; }
}

# expect_stderr_lines N: stderr holds exactly N lines.
expect_stderr_lines() {
  checks=$((checks + 1))
  set -- "$1" "$(wc -l <"$tmp/err")"
  [ "$2" -eq "$1" ] || { fail "$2 lines on stderr, expected $1"; sed 's/^/  stderr: /' "$tmp/err" >&2; }
}

# expect_grep FILE TEXT COUNT: TEXT (a fixed string) is on exactly COUNT lines of FILE.
expect_grep() {
  checks=$((checks + 1))
  set -- "$1" "$2" "$3" "$(grep -cF -- "$2" "$1" || true)"
  [ "$4" -eq "$3" ] || fail "'$2' found $4 times in $(basename "$1"), expected $3"
}

# expect_true CMD...: CMD succeeds.
expect_true() {
  checks=$((checks + 1))
  "$@" || fail "check failed: $*"
}

# finish: print "P passed, F failed" and return non-zero when a check failed.
finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# ---- servers ----------------------------------------------------------------------
#
# For the harnesses that start a throw-away server on a free loopback port and
# keep its pid in a file.

# free_port: print a TCP port of 127.0.0.1 that is free now.
free_port() {
  "${FLEET_PYTHON:-/usr/bin/python3}" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# pid_alive PIDFILE: the process of PIDFILE runs.
pid_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_ready PIDFILE N CMD...: run CMD every 0.1 s until it succeeds, at most N
# times; fails at once when the process of PIDFILE is gone.
wait_ready() {
  _pidfile=$1 _n=$2 _i=0
  shift 2
  while [ $_i -lt "$_n" ]; do
    pid_alive "$_pidfile" || return 1
    "$@" && return 0
    sleep 0.1
    _i=$((_i + 1))
  done
  return 1
}

# stop_pid PIDFILE [SIG]: send SIG (TERM) to the process of PIDFILE, SIGKILL it
# when still there 10 s later, reap it when it is our child (so that its port
# is free for a restart), and remove PIDFILE.
stop_pid() {
  [ -f "$1" ] || return 0
  _pid=$(cat "$1")
  if kill -0 "$_pid" 2>/dev/null; then
    kill "-${2:-TERM}" "$_pid" 2>/dev/null || true
    _i=0
    while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ]; do
      sleep 0.1
      _i=$((_i + 1))
    done
    kill -KILL "$_pid" 2>/dev/null || true
    wait "$_pid" 2>/dev/null || true
  fi
  rm -f "$1"
}
