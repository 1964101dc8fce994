#!/bin/sh
# fleetd killed with SIGKILL while lines wait in its writers (in memory and,
# in the durable checkpoint mode, in their spools) and past its last
# checkpoint, more messages queued at the broker meanwhile: after a restart
# (ingest log replay, spool replay, the persistent session) InfluxDB holds
# every message exactly once.
#
#   test_fleetd_crash.sh [durable|flush]   the ingest_log.checkpoint mode
set -eu
. "$(dirname "$0")/fleetd_common.sh"
mode=${1:-durable}

start_servers
# Long writer batches and checkpoints: the kill finds plenty undelivered.
opts="--set ingest_log.checkpoint=$mode --set influx.flush_interval_ms=4000
  --set ingest_log.checkpoint_interval_ms=60000"
start_fleetd fd $opts

load --vehicles 50 --count 20000 --interval 2 --end-ago 60 "$T/load.tsv"
publish "$T/load.tsv" --client-id crash-pub --count 12000 --rate 6000
sleep 0.5
stop_fleetd fd KILL
log "killed fleetd after $(raw_count) of 12000 points reached InfluxDB"
# Published while fleetd is down: the broker queues them in its session.
publish "$T/load.tsv" --client-id crash-pub --from 12000

start_fleetd fd $opts
wait_value 20000 "raw points after restart" raw_count
stop_fleetd fd
[ "$(raw_count)" = 20000 ] || fail "raw count: $(raw_count)"
replayed=$(final_stat fd replayed)
[ "${replayed:-0}" -gt 0 ] || fail "nothing was replayed from the ingest log"
# The second run read the queued messages from the broker.
[ "$(final_stat fd received)" -ge 8000 ] || fail "received: $(final_stat fd received)"
log "ok: replayed $replayed records"
