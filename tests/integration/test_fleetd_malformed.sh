#!/bin/sh
# Malformed payloads mixed into the stream: each is counted under its reason,
# logged (at a bounded rate) with its vehicle id, and every good message is
# stored exactly once.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
start_fleetd fd --set reject_log_per_s=5

load --vehicles 30 --count 7000 --interval 5 --end-ago 60 --bad-every 10 \
  --summary "$T/summary.json" "$T/load.tsv"
good=$(json_get "$T/summary.json" good)
publish "$T/load.tsv" --client-id bad-pub
wait_value "$good" "raw points" raw_count
stop_fleetd fd
[ "$(raw_count)" = "$good" ] || fail "raw count: $(raw_count), expected $good"

total=0
for r in parse missing type range version toobig vehicle_id; do
  want=$(json_get "$T/summary.json" "rejected.$r")
  got=$(final_stat fd "rejected_$r")
  [ "$got" = "$want" ] || fail "rejected_$r: $got, expected $want"
  total=$((total + want))
done
[ "$(final_stat fd rejected)" = "$total" ] || fail "rejected: $(final_stat fd rejected)"
[ "$(final_stat fd accepted)" = "$good" ] || fail "accepted: $(final_stat fd accepted)"

# The log names the vehicle and the reason, and is bounded: 700 rejections
# in a couple of seconds give far fewer lines, with a count of the others.
lines=$(grep -c 'msg="payload rejected"' "$T/fd.log")
[ "$lines" -ge 5 ] && [ "$lines" -lt 200 ] || fail "rejection log lines: $lines"
grep 'msg="payload rejected"' "$T/fd.log" | grep -q 'vehicle_id=v-[0-9]* reason=range detail=' ||
  fail "no range rejection logged with its vehicle"
sup=$(grep 'msg="payload rejected"\|msg="rejected payloads not logged' "$T/fd.log" |
  grep -o 'suppressed=[0-9]*' | awk -F= '{s += $2} END {print s + 0}')
[ $((sup + lines)) = "$total" ] || fail "logged $lines + suppressed $sup rejections, expected $total"
log "ok: $total rejected, $good stored"
