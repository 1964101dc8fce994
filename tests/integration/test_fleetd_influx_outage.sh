#!/bin/sh
# InfluxDB stopped for a while mid-run: fleetd spools, keeps taking messages,
# and once InfluxDB is back every message is stored exactly once.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
start_fleetd fd --set influx.flush_interval_ms=200

load --vehicles 40 --count 16000 --interval 2 --end-ago 60 "$T/load.tsv"
publish "$T/load.tsv" --client-id outage-pub --count 4000
wait_value 4000 "raw points before the outage" raw_count
sh "$IT/influxd.sh" stop "$T/influxd"
log "influxd stopped"
publish "$T/load.tsv" --client-id outage-pub --from 4000 --count 8000
sleep 2
# The spool holds what could not be delivered.
ls "$T/fd/spool-raw"/*.seg >/dev/null 2>&1 || fail "no spool segment while InfluxDB is down"
sh "$IT/influxd.sh" start "$T/influxd" >/dev/null || fail "influxd restart"
log "influxd back"
publish "$T/load.tsv" --client-id outage-pub --from 12000
wait_value 16000 "raw points after the outage" raw_count
stop_fleetd fd
[ "$(raw_count)" = 16000 ] || fail "raw count: $(raw_count)"
[ "$(final_stat fd raw_net_errors)" -gt 0 ] || fail "the outage was not noticed"
[ "$(final_stat fd raw_spool_records)" = 0 ] || fail "spool not drained"
[ "$(final_stat fd raw_lost)" = 0 ] || fail "lines lost"
log "ok"
