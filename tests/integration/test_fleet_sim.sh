#!/usr/bin/env bash
# fleet-sim against a real mosquitto (mosquitto.sh): exact message counts at
# QoS 1, every payload valid per `fleetctl validate`, malformed payloads
# counted exactly, the report, determinism per seed, plausible motion,
# real-time pacing, the rate cap, shared connections, the status file and
# reconnects after a broker restart, acks per vehicle, ts anchored at the end of
# the connect phase, per-vehicle TLS client certificates, 2,000 connections at
# once, usage errors.
set -euo pipefail

: "${FLEET_BUILD_DIR:?set by ctest}" "${FLEET_SOURCE_DIR:?set by ctest}"
sim="$FLEET_BUILD_DIR/apps/fleet-sim"
fleetctl="$FLEET_BUILD_DIR/apps/fleetctl"
harness="$FLEET_SOURCE_DIR/tests/integration/mosquitto.sh"
py=/usr/bin/python3
tmp=$(mktemp -d)
broker="$tmp/broker"
tls="$tmp/tls"
cleanup() {
  "$harness" stop "$broker" >/dev/null 2>&1 || true
  "$harness" stop "$tls" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
checks=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  checks=$((checks + 1))
  "$@" || fail "$what"
}
eq() { [ "$1" = "$2" ] || { echo "  got '$1', expected '$2'" >&2; return 1; }; }

port=$("$harness" start "$broker")
url="mqtt://127.0.0.1:$port"
start=2026-05-21T10:00:00Z

# Exact counts need a subscriber that acknowledges everything it read before
# it leaves (see mqtt_sub.c) and a persistent session created before the run,
# so that nothing published before the drain starts can be missed.
sub="$FLEET_BUILD_DIR/tests/integration/mqtt_sub"
make_session() { "$sub" "$url" "$1" --create; }
drain() { "$sub" "$url" "$1" "$2" "$3" 60; } # drain ID COUNT OUT: exactly COUNT
json() { "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- 200 vehicles, 2,000 messages, QoS 1, fast mode ------------------------------
make_session run1
timeout 60 "$sim" --mqtt "$url" --vehicles 200 --count 2000 --qos 1 --seed 7 --fast \
  --start "$start" --report "$tmp/r1.json" --dump "$tmp/d1.txt" >"$tmp/out1" 2>"$tmp/err1" ||
  fail "fleet-sim run 1 exited $? ($(cat "$tmp/err1"))"
check "run 1: subscriber got exactly 2000" drain run1 2000 "$tmp/s1.txt"
check "run 1: 2000 lines" eq "$(wc -l <"$tmp/s1.txt")" 2000
check "run 1: report published" eq "$(json "$tmp/r1.json" "r['published']")" 2000
check "run 1: report acked" eq "$(json "$tmp/r1.json" "r['acked']")" 2000
check "run 1: report errors" eq "$(json "$tmp/r1.json" "r['errors']")" 0
check "run 1: report bad" eq "$(json "$tmp/r1.json" "r['bad_published']")" 0
check "run 1: per-vehicle sum" eq "$(json "$tmp/r1.json" "sum(r['per_vehicle'].values())")" 2000
check "run 1: 200 vehicles in the report" eq "$(json "$tmp/r1.json" "len(r['per_vehicle'])")" 200
check "run 1: rate and elapsed" eq "$(json "$tmp/r1.json" "r['elapsed_s'] > 0 and r['rate'] > 0")" True
check "run 1: summary line" grep -q "^fleet-sim: 2000 messages (0 malformed) from 200 vehicles over 200 connections in .*QoS 1 acked 2000/2000; 0 errors$" "$tmp/out1"
cut -d' ' -f2- "$tmp/s1.txt" >"$tmp/p1.jsonl"
"$fleetctl" validate "$tmp/p1.jsonl" >"$tmp/v1.txt" || true
check "run 1: every payload valid" eq "$(grep -vc ': ok$' "$tmp/v1.txt" || true)" 0
check "run 1: validate saw 2000" eq "$(wc -l <"$tmp/v1.txt")" 2000
# Topic and dump agree: the broker delivered what was generated, per vehicle in order.
sort -s -k1,1 "$tmp/s1.txt" >"$tmp/s1.sorted"
sed 's#^\([^\t]*\)\t#fleet/\1/telemetry #' "$tmp/d1.txt" | sort -s -k1,1 >"$tmp/d1.sorted"
check "run 1: broker stream equals the generated stream per vehicle" cmp -s "$tmp/s1.sorted" "$tmp/d1.sorted"

# ---- determinism: same seed, same payloads; another seed, others -------------------
make_session run2
timeout 60 "$sim" --mqtt "$url" --vehicles 200 --count 2000 --qos 1 --seed 7 --fast \
  --start "$start" --quiet --dump "$tmp/d2.txt" || fail "fleet-sim run 2 exited $?"
check "run 2: subscriber got exactly 2000" drain run2 2000 "$tmp/s2.txt"
sort -s -k1,1 "$tmp/s2.txt" >"$tmp/s2.sorted"
check "same seed: identical streams per vehicle (broker)" cmp -s "$tmp/s1.sorted" "$tmp/s2.sorted"
check "same seed: identical generation order" cmp -s "$tmp/d1.txt" "$tmp/d2.txt"
timeout 60 "$sim" --mqtt "$url" --vehicles 200 --count 2000 --qos 0 --seed 8 --fast \
  --start "$start" --quiet --dump "$tmp/d3.txt" || fail "fleet-sim run 3 exited $?"
checks=$((checks + 1))
if cmp -s "$tmp/d1.txt" "$tmp/d3.txt"; then fail "another seed gave the same payloads"; fi

# ---- malformed payloads: counted exactly, a mix of kinds ---------------------------
make_session bad
timeout 60 "$sim" --mqtt "$url" --vehicles 100 --count 1000 --qos 1 --seed 11 --fast \
  --bad-ratio 0.2 --start "$start" --quiet --report "$tmp/rb.json" || fail "bad run exited $?"
check "bad run: subscriber got exactly 1000" drain bad 1000 "$tmp/sb.txt"
cut -d' ' -f2- "$tmp/sb.txt" >"$tmp/pb.jsonl"
"$fleetctl" validate "$tmp/pb.jsonl" >"$tmp/vb.txt" || true
nbad=$(json "$tmp/rb.json" "r['bad_published']")
check "bad run: some malformed" test "$nbad" -gt 100
check "bad run: fleetctl errors == report bad_published" eq "$(grep -c ': error: ' "$tmp/vb.txt")" "$nbad"
check "bad run: invalid JSON present" grep -q 'error: payload: invalid JSON' "$tmp/vb.txt"
check "bad run: lat out of range present" grep -q 'error: lat: .* is outside \[-90, 90\]' "$tmp/vb.txt"
check "bad run: missing ts present" grep -q 'error: ts: missing' "$tmp/vb.txt"
check "bad run: wrong type present" grep -q 'error: lat: expected a number, got a string' "$tmp/vb.txt"
check "bad run: per-vehicle sum" eq "$(json "$tmp/rb.json" "sum(r['per_vehicle'].values())")" 1000

# ---- plausible motion (one simulated hour of 20 vehicles) --------------------------
timeout 60 "$sim" --mqtt "$url" --vehicles 20 --count 36000 --qos 0 --interval 2 --seed 3 \
  --fast --start "$start" --center 23.8103,90.4125 --radius-km 10 --quiet \
  --dump "$tmp/dm.txt" || fail "motion run exited $?"
check "motion: plausible" "$py" - "$tmp/dm.txt" <<'EOF'
import collections, json, math, sys
R = 6371008.8
def dist(a, b):
    p1, p2 = math.radians(a['lat']), math.radians(b['lat'])
    dl = math.radians(b['lng'] - a['lng'])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R * math.asin(math.sqrt(h))
def bearing(a, b):
    p1, p2 = math.radians(a['lat']), math.radians(b['lat'])
    dl = math.radians(b['lng'] - a['lng'])
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360) % 360
tracks = collections.defaultdict(list)
for line in open(sys.argv[1]):
    vid, p = line.rstrip('\n').split('\t', 1)
    tracks[vid].append(json.loads(p))
centre = {'lat': 23.8103, 'lng': 90.4125}
bad = []
kinds = collections.Counter()
for vid, m in tracks.items():
    if len(m) != 1800: bad.append(f'{vid}: {len(m)} messages')
    path = 0.0
    for a, b in zip(m, m[1:]):
        d = dist(a, b)
        if b['odometer'] < a['odometer']: bad.append(f'{vid}: odometer went back')
        if b['fuel_level'] > a['fuel_level'] and not (a['fuel_level'] < 12.5 and b['fuel_level'] > 90):
            bad.append(f'{vid}: fuel rose without a refuel {a["fuel_level"]} -> {b["fuel_level"]}')
        if not b['ignition'] and b['speed'] != 0: bad.append(f'{vid}: moving with ignition off')
        if d > 140 / 3.6 * 2 + 10: bad.append(f'{vid}: jumped {d:.0f} m in 2 s')
        if not a['ignition'] and not b['ignition'] and d > 6: bad.append(f'{vid}: parked car moved {d:.0f} m')
        if a['speed'] > 15 and b['speed'] > 15 and d > 20:
            off = abs((b['heading'] - bearing(a, b) + 180) % 360 - 180)
            if off > 45: bad.append(f'{vid}: heading {b["heading"]} vs travel {bearing(a, b):.0f}')
        if a['speed'] > 0 or b['speed'] > 0: path += d
        kinds['parked' if not b['ignition'] else 'idle' if b['speed'] == 0 else 'moving'] += 1
        if b['speed'] > 100: kinds['overspeed'] += 1
        if dist(b, centre) > 10500: bad.append(f'{vid}: {dist(b, centre):.0f} m from the centre')
    odo = (m[-1]['odometer'] - m[0]['odometer']) * 1000
    if abs(odo - path) > 0.02 * path + 200: bad.append(f'{vid}: odometer {odo:.0f} m vs path {path:.0f} m')
for k in ('parked', 'idle', 'moving', 'overspeed'):
    if kinds[k] == 0: bad.append(f'no {k} messages at all')
if bad:
    print('\n'.join(bad[:20]), file=sys.stderr)
    sys.exit(1)
EOF

# ---- real time: 5 vehicles every 0.2 s for 1 s, and the rate cap -------------------
make_session rt
t0=$(date +%s%N)
timeout 30 "$sim" --mqtt "$url" --vehicles 5 --interval 0.2 --duration 1 --qos 1 --seed 1 \
  --quiet --report "$tmp/rt.json" || fail "real-time run exited $?"
t1=$(date +%s%N)
nrt=$(json "$tmp/rt.json" "r['published']")
check "real time: about 25 messages in 1 s (got $nrt)" test "$nrt" -ge 20 -a "$nrt" -le 30
check "real time: took about a second" test $(((t1 - t0) / 1000000)) -ge 900
check "real time: all acked" eq "$(json "$tmp/rt.json" "r['acked']")" "$nrt"
check "real time: subscriber got them" drain rt "$nrt" "$tmp/srt.txt"
timeout 30 "$sim" --mqtt "$url" --vehicles 10 --count 300 --rate 1000 --fast --qos 1 \
  --quiet --report "$tmp/rate.json" || fail "rate run exited $?"
check "rate cap: 300 messages at 1000/s take >= 0.25 s" \
  eq "$(json "$tmp/rate.json" "r['elapsed_s'] >= 0.25 and r['published'] == 300")" True

# ---- shared connections, random intervals ------------------------------------------
make_session shared
timeout 60 "$sim" --mqtt "$url" --vehicles 500 --connections 5 --count 1500 --qos 1 --fast \
  --interval-min 1 --interval-max 30 --seed 5 --quiet --report "$tmp/rs.json" ||
  fail "shared run exited $?"
check "shared: subscriber got exactly 1500" drain shared 1500 "$tmp/ss.txt"
check "shared: 5 connections" eq "$(json "$tmp/rs.json" "r['connections']")" 5
check "shared: all acked" eq "$(json "$tmp/rs.json" "r['acked']")" 1500

# ---- 2,000 connections at once -----------------------------------------------------
t0=$(date +%s)
timeout 120 "$sim" --mqtt "$url" --vehicles 2000 --count 6000 --qos 1 --fast --seed 9 \
  --quiet --report "$tmp/r2k.json" || fail "2000-connection run exited $?"
t1=$(date +%s)
check "2000 connections: all acked" eq "$(json "$tmp/r2k.json" "r['acked']")" 6000
check "2000 connections: no connection errors" \
  eq "$(json "$tmp/r2k.json" "r['connect_failures'] + r['connection_losses']")" 0
check "2000 connections: bounded time ($((t1 - t0)) s)" test $((t1 - t0)) -le 60

# ---- --status-file, reconnects after a broker restart, acks per vehicle -------------
"$sim" --mqtt "$url" --vehicles 50 --interval 0.5 --duration 10 --qos 1 --seed 4 --quiet \
  --status-file "$tmp/status.json" --report "$tmp/rst.json" >"$tmp/outst" 2>&1 &
simpid=$!
st() { json "$tmp/status.json" "$1" 2>/dev/null || echo none; }
# wait_st EXPR: until the status file makes EXPR true (at most 20 s).
wait_st() {
  local i
  for i in $(seq 200); do
    [ "$(st "$1")" = True ] && return 0
    sleep 0.1
  done
  echo "  status: $(cat "$tmp/status.json" 2>/dev/null)" >&2
  return 1
}
check "status: publishing with 50 connections up" \
  wait_st "r['phase'] == 'publishing' and r['connected'] == 50 and r['connections'] == 50"
check "status: messages acknowledged while publishing" wait_st "r['acked'] > 0"
"$harness" restart "$broker" >/dev/null
check "status: 50 connections lost and 50 up again after the broker restart" \
  wait_st "r['connection_losses'] >= 50 and r['connected'] == 50 and r['ever_connected'] == 50"
checks=$((checks + 1))
wait "$simpid" || fail "status run exited $? ($(cat "$tmp/outst"))"
check "status: last phase done" eq "$(st "r['phase']")" done
check "status: final counts agree with the report" \
  eq "$(st "[r['published'], r['acked'], r['generated']]")" \
  "$(json "$tmp/rst.json" "[r['published'], r['acked'], r['generated']]")"
check "status: everything acked" eq "$(json "$tmp/rst.json" "r['acked'] == r['published'] > 0")" True
check "report: per-vehicle acks equal the per-vehicle counts" \
  eq "$(json "$tmp/rst.json" "r['per_vehicle_acked'] == r['per_vehicle'] and len(r['per_vehicle']) == 50")" True
check "report: the losses counted" eq "$(json "$tmp/rst.json" "r['connection_losses'] >= 50")" True
check "report: no per-vehicle acks with shared connections" \
  eq "$(json "$tmp/rs.json" "'per_vehicle_acked' in r")" False

# ---- without --start, ts starts when the connections are up ------------------------
# Nothing listens on the port: the connect phase lasts --connect-timeout (2 s),
# and the first payload, due within 0.5 s after that, carries a ts at least 2 s
# after the process started (it was the start time rounded down to the second).
deadport=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t0=$(date +%s%3N)
timeout 30 "$sim" --mqtt "mqtt://127.0.0.1:$deadport" --vehicles 1 --interval 0.5 --duration 1 \
  --connect-timeout 2 --ack-timeout 0 --quiet --dump "$tmp/dts.txt" 2>/dev/null || true
t1=$(date +%s%3N)
first_ts=$(head -n 1 "$tmp/dts.txt" | cut -f2 | "$py" -c '
import datetime, json, sys
ts = json.load(sys.stdin)["ts"]
print(int(datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000))')
check "ts: first payload after the connect phase ($((first_ts - t0)) ms after start)" \
  test $((first_ts - t0)) -ge 2000 -a "$first_ts" -le "$t1"

# ---- TLS with one client certificate per vehicle -----------------------------------
"$harness" start "$tls" --tls >/dev/null
tport=$("$harness" tls-port "$tls")
for i in 0 1 2; do "$harness" cert "$tls" "tls-0000$i"; done
timeout 30 mosquitto_sub -h 127.0.0.1 -p "$tport" --cafile "$tls/pki/ca.crt" \
  --cert "$tls/pki/fleetd.crt" --key "$tls/pki/fleetd.key" -c -i tlssub -q 1 \
  -t 'fleet/+/telemetry' -E
timeout 60 "$sim" --mqtt "mqtts://localhost:$tport" --cafile "$tls/pki/ca.crt" \
  --cert-dir "$tls/pki" --vehicle-prefix tls- --vehicles 3 --count 30 --qos 1 --fast --quiet \
  --report "$tmp/rtls.json" || fail "TLS run exited $?"
check "TLS: all acked" eq "$(json "$tmp/rtls.json" "r['acked']")" 30
timeout 60 mosquitto_sub -h 127.0.0.1 -p "$tport" --cafile "$tls/pki/ca.crt" \
  --cert "$tls/pki/fleetd.crt" --key "$tls/pki/fleetd.key" -c -i tlssub -q 1 \
  -t 'fleet/+/telemetry' -v -C 30 -W 20 >"$tmp/stls.txt" || true
check "TLS: subscriber got 30 (the ACL let each device publish its own topic)" \
  eq "$(wc -l <"$tmp/stls.txt")" 30
# A wrong CA: nothing connects, the run fails (exit 1) within its timeouts.
checks=$((checks + 1))
if timeout 60 "$sim" --mqtt "mqtts://localhost:$tport" --cert-dir "$tls/pki" \
  --vehicle-prefix tls- --vehicles 1 --count 1 --quiet --connect-timeout 2 --ack-timeout 1 \
  2>"$tmp/errtls"; then
  fail "TLS with the system CAs (not the test CA) succeeded"
fi

# ---- usage -------------------------------------------------------------------------
"$sim" --help >"$tmp/help"
check "--help" grep -q '^usage: fleet-sim \[OPTIONS\]' "$tmp/help"
check "--help lists --mqtt" grep -q '^  --mqtt URL' "$tmp/help"
check "--version" eq "$("$sim" --version | cut -d' ' -f1)" fleet-sim
for args in "--qos 2" "--vehicles 0" "--mqtt http://x" "--interval 1 --interval-min 1 --interval-max 2" \
  "--interval-min 5 --interval-max 2" "--connections 20 --vehicles 10" "--cert a" \
  "--cafile /etc/hostname" "--bad-ratio 1.5" "--center 91,0" "--vehicle-prefix bad/" \
  "--start 2026-13-01T00:00:00Z" "--nope" "extra"; do
  checks=$((checks + 1))
  set +e
  # shellcheck disable=SC2086
  "$sim" $args >/dev/null 2>"$tmp/uerr"
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "fleet-sim $args: exit $rc, expected 2"
  [ -s "$tmp/uerr" ] || fail "fleet-sim $args: no message"
done

echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
