#!/bin/sh
# fleetd configuration: --check-config output and exit codes, precedence
# (defaults < file < environment < command line), redaction of secrets, and
# SIGHUP reloads of zones and rules (a bad file keeps the current set).
set -eu
. "$(dirname "$0")/fleetd_common.sh"

# Run fleetd --check-config in a clean environment.
check() {
  env -i PATH="$PATH" HOME="$T" "$@"
}

# No file: the local defaults, exit 0.
out=$(check "$FLEETD" --check-config) || fail "defaults: exit $?"
echo "$out" >"$T/defaults.json"
[ "$(json_get "$T/defaults.json" mqtt.url)" = mqtt://127.0.0.1:1883 ] || fail "default mqtt.url"
[ "$(json_get "$T/defaults.json" influx.url)" = http://127.0.0.1:8086 ] || fail "default influx.url"
[ "$(json_get "$T/defaults.json" influx.database)" = telemetry_raw ] || fail "default database"
[ "$(json_get "$T/defaults.json" mqtt.client_id)" = fleetd ] || fail "default client id"
[ "$(json_get "$T/defaults.json" state_dir)" = fleetd-state ] || fail "default state dir"

# A file, the environment and the command line, each overriding the one before.
printf 'hunter2-mqtt\n' >"$T/mqtt-pass"
cat >"$T/fleetd.json" <<JSON
{
  "state_dir": "$T/from-file",
  "log_level": "debug",
  "mqtt": {"url": "mqtt://file.example:1884", "username": "fleetd",
           "password_file": "$T/mqtt-pass", "partition": "1/4"},
  "influx": {"url": "http://file.example:8087", "token": "s3cr3t-token",
             "downsampled_database": "ds_file"},
  "tags": {"fleet_id": "north"},
  "tracker": {"offline_after_s": 120},
  "trip": {"min_parking_s": 60}
}
JSON
out=$(check FLEET_MQTT_URL=mqtt://env.example:1885 FLEET_LOG_LEVEL=warn \
  FLEET_INFLUX_DOWNSAMPLED_DB=ds_env "$FLEETD" --config "$T/fleetd.json" \
  --mqtt mqtt://cli.example:1886 --set tracker.offline_after_s=300 --check-config) ||
  fail "layered config: exit $?"
echo "$out" >"$T/layered.json"
expect() {
  got=$(json_get "$T/layered.json" "$1")
  [ "$got" = "$2" ] || fail "$1: '$got', expected '$2'"
}
expect mqtt.url mqtt://cli.example:1886   # command line over environment over file
expect log_level warn                     # environment over file
expect influx.url http://file.example:8087 # file over default
expect influx.downsampled_database ds_env
expect state_dir "$T/from-file"
expect zones_file "$T/from-file/zones.geojson"
expect mqtt.partition 1/4
expect mqtt.client_id fleetd-p1of4
expect tags.fleet_id north
expect tracker.offline_after_s 300.0
expect trip.min_parking_s 60.0
expect mqtt.password "(redacted)"
expect influx.token "(redacted)"
grep -q 's3cr3t-token\|hunter2' "$T/layered.json" && fail "a secret was printed"

# FLEETD_CONFIG names the file when --config is absent; env over file again.
out=$(check FLEETD_CONFIG="$T/fleetd.json" FLEET_INFLUX_URL=http://env.example:9 \
  "$FLEETD" --check-config) || fail "FLEETD_CONFIG: exit $?"
echo "$out" >"$T/layered.json"
expect influx.url http://env.example:9
expect mqtt.url mqtt://file.example:1884

# Invalid configurations: exit 1 and a message naming the problem.
bad() {
  want=$1
  shift
  if out=$(check "$@" --check-config 2>&1); then
    fail "accepted: $*"
  fi
  case $out in *"$want"*) ;; *) fail "message for '$*': $out (expected '$want')" ;; esac
}
echo '{"mqtt": {"urll": "mqtt://x"}}' >"$T/typo.json"
bad "unknown option 'mqtt.urll'" "$FLEETD" --config "$T/typo.json"
echo '{"mqtt": {"qos": "1"}}' >"$T/type.json"
bad "mqtt.qos must be a number" "$FLEETD" --config "$T/type.json"
echo '{"mqtt": ' >"$T/broken.json"
bad "broken.json:" "$FLEETD" --config "$T/broken.json"
bad "not I/N" "$FLEETD" --partition 2/2
bad "mqtt.url" "$FLEETD" --mqtt http://wrong:1
bad "exclude each other" "$FLEETD" --partition 0/2 --share-group g
bad "is not ADDR:PORT" "$FLEETD" --http localhost
bad "no readable index.html" "$FLEETD" --http 127.0.0.1:0 --set "web_root=$T"
bad "not usable as an InfluxDB tag value" "$FLEETD" --set "tags.fleet_id=$(printf 'a\rb')"
bad "exclude each other" env FLEET_MQTT_SHARE_GROUP=g "$FLEETD" --partition 1/2
bad "FLEET_LOG_LEVEL" env FLEET_LOG_LEVEL=loud "$FLEETD"
bad "cannot open" "$FLEETD" --set "influx.token_file=$T/missing"
bad "unknown option 'nope'" "$FLEETD" --set nope=1
echo '{"type":"FeatureCollection","features":[{"type":"Feature","id":"z","geometry":{"type":"Point","coordinates":[0,0]}}]}' \
  >"$T/zones-bad.geojson"
bad "radius_m" "$FLEETD" --zones "$T/zones-bad.geojson"
echo '{"rules":[{"id":"r","type":"overspeed"}]}' >"$T/rules-bad.json"
bad "threshold_kmh" "$FLEETD" --rules "$T/rules-bad.json"
"$FLEETD" --version | grep -q '^fleetd ' || fail "--version"
"$FLEETD" --help | grep -q -- '--check-config' || fail "--help"

# SIGHUP: a good zones file replaces the set, a bad one keeps it.
start_servers
mkdir -p "$T/fd"
cat >"$T/fd/zones.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","id":"old","properties":{"radius_m":100},
 "geometry":{"type":"Point","coordinates":[90.0,23.0]}}]}
JSON
start_fleetd fd
grep -q 'msg="zones loaded".*zones=1' "$T/fd.log" || fail "initial zones"
cat >"$T/fd/zones.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","id":"new","properties":{"radius_m":100},
 "geometry":{"type":"Point","coordinates":[91.0,24.0]}}]}
JSON
kill -HUP "$(cat "$T/fd.pid")"
wait_value 1 "reload" sh -c "grep -c 'msg=\"reloading zones and rules\"' '$T/fd.log'"
wait_value 2 "zones loaded twice" sh -c "grep -c 'msg=\"zones loaded\"' '$T/fd.log'"
now=$(date +%s)
ts() { date -u -d "@$((now - $1))" +%Y-%m-%dT%H:%M:%SZ; }
printf 'fleet/h-1/telemetry\t{"v":1,"ts":"%s","lat":24.0,"lng":91.0}\n' "$(ts 100)" >"$T/in-new.tsv"
publish "$T/in-new.tsv"
wait_value 1 "enter of the reloaded zone" influx_q telemetry_downsampled \
  "SELECT count(event) FROM geofence_events WHERE zone_id='new' AND vehicle_id='h-1'"

echo '{"type":"FeatureCollection","features":[' >"$T/fd/zones.geojson"
echo '{"rules": [{"id": "x", "type": "nonsense"}]}' >"$T/fd/rules.json"
kill -HUP "$(cat "$T/fd.pid")"
wait_value 2 "second reload" sh -c "grep -c 'msg=\"reloading zones and rules\"' '$T/fd.log'"
wait_value 1 "bad zones reported" sh -c "grep -c 'invalid zones file; keeping the current zones' '$T/fd.log'"
wait_value 1 "bad rules reported" sh -c "grep -c 'invalid rules file; keeping the current rules' '$T/fd.log'"
# The zone loaded before the bad file is still in force.
printf 'fleet/h-2/telemetry\t{"v":1,"ts":"%s","lat":24.0,"lng":91.0}\n' "$(ts 90)" >"$T/in-new2.tsv"
publish "$T/in-new2.tsv"
wait_value 1 "enter with the kept zones" influx_q telemetry_downsampled \
  "SELECT count(event) FROM geofence_events WHERE zone_id='new' AND vehicle_id='h-2'"
stop_fleetd fd
[ "$(final_stat fd reloads)" = 2 ] || fail "reloads: $(final_stat fd reloads)"
[ "$(final_stat fd reload_failures)" = 1 ] || fail "reload_failures: $(final_stat fd reload_failures)"
log "ok"
