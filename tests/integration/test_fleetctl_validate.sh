#!/usr/bin/env bash
# fleetctl validate and fleetctl lp: exact output in text and JSON modes, exit
# codes 0/1/2, standard input, several files, blank and over-long lines, NUL
# bytes, line protocol of the sample file, --help and --version.
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_TEST_DATA_DIR:?set by ctest}"
fleetctl="$FLEET_BUILD_DIR/apps/fleetctl"
sample="$FLEET_TEST_DATA_DIR/sample-payloads.jsonl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib.sh"

# ---- validate, text mode, the sample file ----
run "$fleetctl" validate "$sample"
expect_rc 1
expect_stdout <<'EOF'
1: ok
2: ok
3: ok
4: ok (warning: speed: -3 is negative; field dropped)
5: ok (warning: heading: 400 is outside [0, 360); field dropped; fuel_level: expected a number, got a string ("high"); field dropped)
6: error: lat: 91.2 is outside [-90, 90]
7: error: ts: missing
8: error: v: 2 is not a supported payload version (this library reads 1)
9: error: ts: "2026-02-30T10:30:20Z" is not a valid date (February has 28 days in 2026)
10: error: payload: invalid JSON at line 1, column 67: '}' expected near end of file
EOF
expect_stderr </dev/null

# ---- validate --json ----
run "$fleetctl" validate --json "$sample"
expect_rc 1
expect_stdout <<'EOF'
{"line":1,"ok":true,"warnings":[]}
{"line":2,"ok":true,"warnings":[]}
{"line":3,"ok":true,"warnings":[]}
{"line":4,"ok":true,"warnings":["speed: -3 is negative; field dropped"]}
{"line":5,"ok":true,"warnings":["heading: 400 is outside [0, 360); field dropped","fuel_level: expected a number, got a string (\"high\"); field dropped"]}
{"line":6,"ok":false,"error":"lat: 91.2 is outside [-90, 90]","warnings":[]}
{"line":7,"ok":false,"error":"ts: missing","warnings":[]}
{"line":8,"ok":false,"error":"v: 2 is not a supported payload version (this library reads 1)","warnings":[]}
{"line":9,"ok":false,"error":"ts: \"2026-02-30T10:30:20Z\" is not a valid date (February has 28 days in 2026)","warnings":[]}
{"line":10,"ok":false,"error":"payload: invalid JSON at line 1, column 67: '}' expected near end of file","warnings":[]}
EOF
# Every output line is a JSON object when a JSON reader is at hand.
if command -v python3 >/dev/null; then
  checks=$((checks + 1))
  python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <"$tmp/out" ||
    fail "--json output does not parse"
fi

# ---- exit 0: accepted payloads, warnings included; options after operands ----
head -n 5 "$sample" >"$tmp/good.jsonl"
run "$fleetctl" validate "$tmp/good.jsonl" --json
expect_rc 0
checks=$((checks + 1))
[ "$(wc -l <"$tmp/out")" -eq 5 ] || fail "5 results expected"

# ---- standard input, "-", blank lines, CRLF, no final newline ----
ok='{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1.5,"lng":2.5}'
input "\n$ok\n  \t \n$ok\r\n\r\n{\"v\":1}\n$ok"
run "$fleetctl" validate
expect_rc 1
expect_stdout <<'EOF'
2: ok
4: ok
6: error: ts: missing
7: ok
EOF
input "$ok\n"
run "$fleetctl" validate -
expect_rc 0
expect_stdout <<'EOF'
1: ok
EOF
input ""
run "$fleetctl" validate
expect_rc 0
expect_stdout </dev/null

# ---- several inputs: FILE:LINE: and "file" ----
printf '%s\n' "$ok" '[1]' >"$tmp/b.jsonl"
input "$ok\n"
run "$fleetctl" validate "$tmp/good.jsonl" - "$tmp/b.jsonl"
expect_rc 1
expect_stdout <<EOF
$tmp/good.jsonl:1: ok
$tmp/good.jsonl:2: ok
$tmp/good.jsonl:3: ok
$tmp/good.jsonl:4: ok (warning: speed: -3 is negative; field dropped)
$tmp/good.jsonl:5: ok (warning: heading: 400 is outside [0, 360); field dropped; fuel_level: expected a number, got a string ("high"); field dropped)
(stdin):1: ok
$tmp/b.jsonl:1: ok
$tmp/b.jsonl:2: error: payload: expected a JSON object, got an array
EOF
run "$fleetctl" validate --json "$tmp/b.jsonl" "$tmp/b.jsonl"
expect_rc 1
expect_stdout <<EOF
{"file":"$tmp/b.jsonl","line":1,"ok":true,"warnings":[]}
{"file":"$tmp/b.jsonl","line":2,"ok":false,"error":"payload: expected a JSON object, got an array","warnings":[]}
{"file":"$tmp/b.jsonl","line":1,"ok":true,"warnings":[]}
{"file":"$tmp/b.jsonl","line":2,"ok":false,"error":"payload: expected a JSON object, got an array","warnings":[]}
EOF

# ---- a line over 4 KiB is one rejected payload, and reading goes on after it ----
pad=$(head -c 5000 /dev/zero | tr '\0' x)
big="{\"v\":1,\"ts\":\"2026-05-21T10:30:00Z\",\"lat\":1,\"lng\":2,\"note\":\"$pad\"}"
input "$ok\n$big\n$ok\n"
run "$fleetctl" validate
expect_rc 1
expect_stdout <<EOF
1: ok
2: error: payload: ${#big} bytes is over the limit of 4096
3: ok
EOF

# ---- NUL bytes and binary garbage are rejected payloads, not crashes ----
input '{"v":1,\000"ts":"x"}\n\377\376\001binary\n\000\n'
run "$fleetctl" validate --json
expect_rc 1
expect_stdout <<'EOF'
{"line":1,"ok":false,"error":"payload: NUL byte at offset 7","warnings":[]}
{"line":2,"ok":false,"error":"payload: invalid UTF-8 at offset 0 (unable to decode byte 0xff)","warnings":[]}
{"line":3,"ok":false,"error":"payload: NUL byte at offset 0","warnings":[]}
EOF

# ---- exit 2: usage and operational errors ----
run "$fleetctl" validate --bogus "$sample"
expect_rc 2
expect_stdout </dev/null
expect_stderr <<'EOF'
fleetctl validate: unknown option '--bogus'
Try 'fleetctl validate --help'.
EOF
run "$fleetctl" validate -x
expect_rc 2
expect_stderr_has "fleetctl validate: unknown option '-x'"
run "$fleetctl" validate "$sample" "$tmp/missing.jsonl"
expect_rc 2
expect_stdout </dev/null
expect_stderr <<EOF
fleetctl validate: cannot read '$tmp/missing.jsonl': No such file or directory
EOF
run "$fleetctl" validate "$tmp"
expect_rc 2
expect_stderr <<EOF
fleetctl validate: cannot read '$tmp': Is a directory
EOF
run "$fleetctl" bogus
expect_rc 2
expect_stderr_has "fleetctl: unknown command 'bogus'"
run "$fleetctl"
expect_rc 2

# ---- lp: the sample file ----
run "$fleetctl" lp --tag fleet_id=demo "$sample"
expect_rc 1
expect_stdout <<'EOF'
telemetry,fleet_id=demo,vehicle_id=v-001 lat=23.8103,lng=90.4125,speed=45.2,heading=180,ignition=true,odometer=123456.7,battery_v=12.4,engine_temp=88.5,fuel_level=63 1779359400000000000
telemetry,fleet_id=demo,vehicle_id=v-002 lat=23.7806,lng=90.2794 1779359402250000000
telemetry,fleet_id=demo,vehicle_id=truck-17 lat=51.5072,lng=-0.1276,speed=0,ignition=false,driver_id="D-0042",rpm=0,door_open=true 1779359405000000000
telemetry,fleet_id=demo,vehicle_id=v-001 lat=23.8109,lng=90.4131,heading=181 1779359410000000000
telemetry,fleet_id=demo,vehicle_id=v-002 lat=23.7811,lng=90.2802 1779359412000000000
EOF
expect_stderr <<'EOF'
4: warning: speed: -3 is negative; field dropped
5: warning: heading: 400 is outside [0, 360); field dropped; fuel_level: expected a number, got a string ("high"); field dropped
6: error: lat: 91.2 is outside [-90, 90]
7: error: ts: missing
8: error: v: 2 is not a supported payload version (this library reads 1)
9: error: ts: "2026-02-30T10:30:20Z" is not a valid date (February has 28 days in 2026)
10: error: payload: invalid JSON at line 1, column 67: '}' expected near end of file
EOF

# ---- lp: --vehicle, its absence, --measurement, tags sorted, empty tags left out ----
input "$ok\n{\"vehicle_id\":\"bus-9\",\"v\":1,\"ts\":\"1969-12-31T23:59:59Z\",\"lat\":-1,\"lng\":-2}\n"
run "$fleetctl" lp --vehicle v-7 --measurement "raw positions" --tag zone=north --tag fleet_id= --tag "device_type=obd 2"
expect_rc 0
expect_stdout <<'EOF'
raw\ positions,device_type=obd\ 2,vehicle_id=v-7,zone=north lat=1.5,lng=2.5 1779359400000000000
raw\ positions,device_type=obd\ 2,vehicle_id=v-7,zone=north lat=-1,lng=-2 -1000000000
EOF
expect_stderr </dev/null
input "$ok\n{\"vehicle_id\":\"bus-9\",\"v\":1,\"ts\":\"1969-12-31T23:59:59Z\",\"lat\":-1,\"lng\":-2}\n"
run "$fleetctl" lp
expect_rc 1
expect_stdout <<'EOF'
telemetry,vehicle_id=bus-9 lat=-1,lng=-2 -1000000000
EOF
expect_stderr <<'EOF'
1: error: no vehicle id: the payload has no vehicle_id member and --vehicle was not given
EOF

# ---- lp: bad command lines ----
run "$fleetctl" lp --vehicle "bad id"
expect_rc 2
expect_stderr_has "fleetctl lp: --vehicle: "
run "$fleetctl" lp --tag novalue
expect_rc 2
expect_stderr <<'EOF'
fleetctl lp: --tag 'novalue' is not KEY=VALUE
EOF
run "$fleetctl" lp --tag time=now
expect_rc 2
expect_stderr <<'EOF'
fleetctl lp: tag key "time": is reserved by InfluxDB (time, _field and _measurement cannot be keys)
EOF
run "$fleetctl" lp --tag vehicle_id=x
expect_rc 2
expect_stderr <<'EOF'
fleetctl lp: tag "vehicle_id" is given twice
EOF
run "$fleetctl" lp --measurement ""
expect_rc 2
expect_stderr_has 'fleetctl lp: measurement "": is empty'
run "$fleetctl" lp --vehicle
expect_rc 2
expect_stderr <<'EOF'
fleetctl lp: option '--vehicle' needs a value
Try 'fleetctl lp --help'.
EOF
run "$fleetctl" lp "$tmp/missing.jsonl"
expect_rc 2
expect_stdout </dev/null

# ---- --help and --version ----
for cmd in "validate --help" "validate -h" "lp --help" "--help" "help"; do
  # shellcheck disable=SC2086
  run "$fleetctl" $cmd
  expect_rc 0
  checks=$((checks + 1))
  grep -q '^usage: fleetctl' "$tmp/out" || fail "no usage text"
done
run "$fleetctl" validate --help
checks=$((checks + 1))
grep -q 'blank line' "$tmp/out" || fail "--help does not explain blank lines"
run "$fleetctl" --version
expect_rc 0
checks=$((checks + 1))
grep -Eq '^fleetctl [0-9]+\.[0-9]+\.[0-9]+ \(libfleet [0-9]+\.[0-9]+\.[0-9]+\)$' "$tmp/out" ||
  fail "unexpected version line: $(cat "$tmp/out")"

finish
