#!/bin/sh
# InfluxDB stopped for a while mid-run: fleetd keeps taking messages into its
# writers' spools, and once InfluxDB is back every message is stored exactly
# once.
#
#   test_fleetd_influx_outage.sh [durable|flush]   the ingest_log.checkpoint mode
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
start_fleetd fd --set influx.flush_interval_ms=200 --set ingest_log.checkpoint="${1:-durable}"

load --vehicles 40 --count 16000 --interval 2 --end-ago 60 "$T/load.tsv"
publish "$T/load.tsv" --client-id outage-pub --count 4000
wait_value 4000 "raw points before the outage" raw_count
sh "$IT/influxd.sh" stop "$T/influxd"
log "influxd stopped"
publish "$T/load.tsv" --client-id outage-pub --from 4000 --count 8000
# The writer noticed: its failed attempts are logged (the lines wait in its spool).
wait_value 1 "writer failure logged" sh -c \
  "grep -c 'component=influx tier=raw' '$T/fd.log' | awk '{ print (\$1 > 0) }'"
sh "$IT/influxd.sh" start "$T/influxd" >/dev/null || fail "influxd restart"
log "influxd back"
publish "$T/load.tsv" --client-id outage-pub --from 12000
wait_value 16000 "raw points after the outage" raw_count
stop_fleetd fd
[ "$(raw_count)" = 16000 ] || fail "raw count: $(raw_count)"
[ "$(final_stat fd raw_net_errors)" -gt 0 ] || fail "the outage was not noticed"
[ "$(final_stat fd raw_spool_records)" = 0 ] || fail "spool not drained"
[ "$(final_stat fd raw_lost)" = 0 ] || fail "lines lost"

# Started while InfluxDB is down: fleetd comes up (it connected to the broker in
# start_fleetd) and says why nothing is stored yet.
if [ "${1:-durable}" = durable ]; then
  sh "$IT/influxd.sh" stop "$T/influxd"
  start_fleetd fd2 --client-id fleetd-fd2
  wait_value 1 "start-up warning about InfluxDB" sh -c \
    "grep -c 'level=warn msg=\"InfluxDB is not reachable yet; the writers spool until it is\"' '$T/fd2.log'"
  stop_fleetd fd2
fi
log "ok"
