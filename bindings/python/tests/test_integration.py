"""End to end against a real mosquitto and influxd: messages published with
mosquitto_pub go through the Python MQTT client, the Python writer and back
out of the Python history reader, with exact counts."""

import subprocess
import sys
import threading
import time

import pytest

import fleet
from conftest import server_env

pytestmark = pytest.mark.integration

VEHICLES = ("bus-1", "bus-2", "bus-3")
FIXES = 20


def wait_for(cond, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def payload(i, base_ns):
    return ('{"v":1,"ts":"%s","lat":%.4f,"lng":%.4f,"speed":%d,"ignition":true,"rpm":%d}'
            % (fleet.format_time(base_ns + i * 10**9), 23.8 + i / 1000, 90.4 + i / 1000,
               20 + i, 1000 + i))


def test_mqtt_to_influx_and_back(broker, influxd):
    # Recent device times: the raw database keeps them whatever its retention.
    base = (time.time_ns() // 10**9 - 600) * 10**9
    raw = fleet.InfluxConfig(url=influxd.url, database="telemetry_raw")
    with fleet.History(raw) as h:
        assert h.ensure_database("telemetry_raw") == "created"
        assert h.ensure_database("telemetry_raw") == "unchanged"

    received = []
    lock = threading.Lock()
    writer = fleet.InfluxWriter(raw, flush_interval_ms=50)

    def on_message(msg):
        rec = msg.telemetry()
        writer.write(rec, tags={"fleet_id": "north"})
        with lock:
            received.append(rec)

    client = fleet.MqttClient(broker.url, client_id="py-e2e", on_message=on_message)
    client.start()
    client.wait_connected(timeout=10)
    for vid in VEHICLES:
        lines = "\n".join(payload(i, base) for i in range(FIXES)) + "\n"
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                        "-t", "fleet/%s/telemetry" % vid, "-l"], input=lines.encode(),
                       check=True, timeout=30, env=server_env())
    assert wait_for(lambda: len(received) == len(VEHICLES) * FIXES)
    client.stop()
    stats = client.stats()
    client.close()
    assert stats["delivered"] == len(VEHICLES) * FIXES and stats["handler_errors"] == 0

    writer.flush(timeout=20)
    wstats = writer.stats()
    writer.close()
    assert wstats["points_enqueued"] == wstats["points_written"] == len(VEHICLES) * FIXES

    with fleet.History(raw) as h:
        points = h.positions(base, base + 3600 * 10**9, tier="raw")
        assert len(points) == len(VEHICLES) * FIXES
        for vid in VEHICLES:
            mine = [p for p in points if p.vehicle_id == vid]
            assert len(mine) == FIXES
            assert [p.ts_ns for p in mine] == [base + i * 10**9 for i in range(FIXES)]
        first = [p for p in points if p.vehicle_id == "bus-2"][0]
        assert isinstance(first, fleet.Position)
        assert (first.tier, first.fleet_id, first.lat, first.lng, first.speed) == (
            "raw", "north", 23.8, 90.4, 20.0)
        assert first.ignition is True and first.extras == {"rpm": 1000.0}
        records = points.to_records()
        assert records[0]["fleet_id"] == "north" and "rpm" in records[0]

        only_two = h.positions(base, base + 3600 * 10**9, vehicles=["bus-1", "bus-3"],
                               tier="raw", limit=5)
        assert {p.vehicle_id for p in only_two} <= {"bus-1", "bus-3"} and len(only_two) == 5

        last = h.last_positions(vehicles=list(VEHICLES))
        assert [p.vehicle_id for p in last] == list(VEHICLES)
        assert all(p.ts_ns == base + (FIXES - 1) * 10**9 for p in last)

        rows = h.query("SELECT count(lat) FROM telemetry GROUP BY vehicle_id", db="telemetry_raw")
        assert sorted((r.tags["vehicle_id"], r.values["count"]) for r in rows) == [
            (vid, FIXES) for vid in VEHICLES]
        assert h.stats()["rows"] == 3


def test_events_round_trip(influxd):
    """Trips, zone events and alerts written as line protocol with the
    history schema come back as records."""
    events = fleet.InfluxConfig(url=influxd.url, database="telemetry_downsampled")
    t0 = (time.time_ns() // 10**9 - 3600) * 10**9
    lines = [
        fleet.line("trips", {"start_ns": t0, "end_ns": t0 + 600 * 10**9, "distance_m": 5337.4,
                             "duration_s": 600.0, "moving_s": 480.0, "idle_s": 60.0,
                             "max_speed_kmh": 45.0, "avg_speed_kmh": 32.0, "start_lat": 0.0,
                             "start_lng": 0.0, "end_lat": 0.0, "end_lng": 0.048},
                   {"vehicle_id": "v-1"}, t0),
        fleet.line("geofence_events", {"zone_id": "depot", "zone_name": "Depot",
                                       "event": "exit", "dwell_s": 60.0, "lat": 0.0, "lng": 0.018},
                   {"vehicle_id": "v-1"}, t0 + 60 * 10**9),
        fleet.line("alerts", {"rule": "speeding", "type": "overspeed", "severity": "critical",
                              "message": "speed 96.5 km/h over limit 80 km/h", "value": 96.5,
                              "limit": 80.0}, {"vehicle_id": "v-1"}, t0 + 120 * 10**9),
    ]
    with fleet.History(events) as h:
        h.ensure_database("telemetry_downsampled")
        with fleet.InfluxWriter(events) as w:
            w.write_lines("".join(lines))
            w.flush(timeout=20)
        span = (t0 - 10**9, t0 + 3600 * 10**9)
        trips = h.trips(*span)
        assert len(trips) == 1
        t = trips[0]
        assert (t.vehicle_id, t.start_ns, t.distance_m, t.fuel_l, t.end_lng) == (
            "v-1", t0, 5337.4, None, 0.048)
        zone = h.zone_events(*span, vehicles="v-1")
        assert [(z.zone_id, z.event, z.dwell_s, z.lat) for z in zone] == [("depot", "exit", 60.0, 0.0)]
        alerts = h.alerts(*span)
        assert [(a.rule, a.type, a.value, a.limit, a.zone_id, a.lat) for a in alerts] == [
            ("speeding", "overspeed", 96.5, 80.0, None, None)]
        assert h.alerts(*span, vehicles="v-2") == []


def test_subscribe_generator_and_retained(broker):
    broker.publish("fleet/r-1/telemetry", payload(0, 0), retain=True)
    broker.publish("fleet/r-2/telemetry", payload(1, 0), retain=True)
    got = list(fleet.mqtt.subscribe(broker.url, topics="fleet/+/telemetry", count=2, timeout=10))
    assert sorted(m.vehicle_id for m in got) == ["r-1", "r-2"]
    assert all(m.retained and m.kind == "telemetry" for m in got)
    assert {m.telemetry().speed for m in got} == {20.0, 21.0}
    # A bounded wait with nothing to read ends by itself.
    t = time.monotonic()
    assert list(fleet.mqtt.subscribe(broker.url, topics="fleet/+/nothing", timeout=0.5)) == []
    assert time.monotonic() - t < 5


def test_callback_errors(broker, monkeypatch):
    # Thread mode: the exception is reported (sys.unraisablehook) and counted.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(u.exc_value))
    seen = []

    def on_message(msg):
        seen.append(msg.vehicle_id)
        if msg.vehicle_id == "bad":
            raise LookupError("cannot handle")

    with fleet.MqttClient(broker.url, topics="fleet/+/probe", on_message=on_message) as c:
        c.start()
        c.wait_connected(10)
        broker.publish("fleet/bad/probe", "x")
        broker.publish("fleet/good/probe", "x")
        assert wait_for(lambda: len(seen) == 2)
        assert c.stats()["handler_errors"] == 1
        c.stop()
    assert [type(e) for e in unraisable] == [LookupError]

    # Caller-thread mode: it comes out of loop().
    def raising(msg):
        raise KeyError(msg.vehicle_id)

    c = fleet.MqttClient(broker.url, topics="fleet/+/probe2", on_message=raising)
    c.connect()
    c.wait_connected(10)
    broker.publish("fleet/v-5/probe2", "x")
    with pytest.raises(KeyError, match="v-5"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            c.loop(0.05)
    with pytest.raises(fleet.StateError):
        c.start()
    c.close()


def test_controlling_calls_refused_from_callbacks(broker):
    outcome = []
    client = None

    def on_message(msg):
        for call in (client.stop, client.close):
            try:
                call()
            except fleet.StateError:
                outcome.append(call.__name__)
        client.publish("fleet/%s/alerts" % msg.vehicle_id, b"{}")  # allowed anywhere

    client = fleet.MqttClient(broker.url, topics="fleet/+/probe3", on_message=on_message)
    client.start()
    client.wait_connected(10)
    broker.publish("fleet/v-6/probe3", "x")
    assert wait_for(lambda: len(outcome) == 2)
    client.wait_published(10)
    client.close()
    assert outcome == ["stop", "close"]


def test_client_collected_inside_its_own_callback(broker):
    """The last reference dropped on the client's own network thread: it is
    freed from another thread once the callback returns (no deadlock, no
    use after free), and stops cleanly: its status topic says offline."""
    holder = []
    done = threading.Event()

    def on_message(msg):
        holder.clear()  # drops the last reference: collected right here
        done.set()

    client = fleet.MqttClient(broker.url, topics="fleet/+/gc", on_message=on_message,
                              status_topic="fleet/gc-test/status")
    client.start()
    client.wait_connected(10)
    holder.append(client)
    del client
    broker.publish("fleet/v-9/gc", "x")
    assert done.wait(10)

    def status():
        got = list(fleet.mqtt.subscribe(broker.url, topics="fleet/gc-test/status", count=1,
                                        timeout=5))
        return got[0].payload if got else None

    assert wait_for(lambda: status() == b"offline", 15)
