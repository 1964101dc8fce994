#!/bin/sh
# The broker restarted while the simulator publishes: fleetd reconnects, its
# persistent session brings what the broker queued meanwhile, and InfluxDB
# ends with exactly the messages the broker acknowledged.
set -eu
. "$(dirname "$0")/fleetd_common.sh"

start_servers
start_fleetd fd --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=1000

# 16,000 messages of 40 simulated vehicles over 4 connections, two hours ago.
start=$(date -u -d '-2 hour' +%Y-%m-%dT%H:%M:%SZ)
"$SIM" --mqtt "$MQTT_URL" --vehicles 40 --connections 4 --count 16000 --rate 4000 --fast \
  --interval 2 --start "$start" --report "$T/sim.json" --quiet >"$T/sim.out" 2>&1 &
sim=$!
sleep 1.5
log "restarting the broker"
sh "$IT/mosquitto.sh" restart "$T/mosquitto" >/dev/null || fail "broker restart"
wait "$sim" || fail "fleet-sim: $(cat "$T/sim.out")"
acked=$(json_get "$T/sim.json" acked)
[ "$acked" = 16000 ] || fail "fleet-sim: only $acked acknowledged"
wait_value 16000 "raw points" raw_count
stop_fleetd fd
[ "$(raw_count)" = 16000 ] || fail "raw count: $(raw_count)"
[ "$(final_stat fd mqtt_reconnects)" -ge 1 ] || fail "no reconnect counted"
log "ok: $(json_get "$T/sim.json" connection_losses) simulator connection losses, fleetd reconnected"
