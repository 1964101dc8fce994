"""MQTT client: URLs, partitions, options and failures without a broker
(the tests against a real mosquitto are in test_integration.py)."""

import pytest

import fleet
from fleet import mqtt


def fnv1a(text):
    h = 2166136261
    for b in text.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def test_parse_url():
    assert mqtt.parse_url("mqtt://broker.example") == {"tls": False, "host": "broker.example",
                                                       "port": 1883}
    assert mqtt.parse_url("MQTTS://10.0.0.1") == {"tls": True, "host": "10.0.0.1", "port": 8883}
    assert mqtt.parse_url("mqtt://[::1]:1884") == {"tls": False, "host": "::1", "port": 1884}
    for bad in ("http://x", "mqtt://", "mqtt://h:0", "mqtt://h:70000", "mqtt://u@h",
                "mqtt://h/path"):
        with pytest.raises(fleet.InvalidArgument):
            mqtt.parse_url(bad)


def test_partition_of_is_fnv1a():
    for vid in ("v-001", "truck-17", "a", "x" * 64):
        for n in (2, 3, 7, 64):
            assert mqtt.partition_of(vid, n) == fnv1a(vid) % n
    assert mqtt.partition_of("v-001", 1) == 0
    assert mqtt.partition_of("v-001", 0) == 0


@pytest.mark.parametrize("kwargs,text", [
    (dict(clean_session=False), "client_id: required for a persistent session"),
    (dict(url="http://x", client_id="t"), "url"),
    (dict(url="mqtt://127.0.0.1", client_id="t", ca_file="/tmp/ca.pem"), "mqtts"),
    (dict(client_id="t", qos=3), "qos"),
    (dict(client_id="t", partition_index=2, partition_count=2), "partition_index"),
    (dict(client_id="a\tb"), "printable"),
])
def test_option_errors(kwargs, text):
    with pytest.raises(fleet.InvalidArgument, match=text):
        fleet.MqttClient(**kwargs)


def test_option_types_are_checked():
    with pytest.raises(fleet.InvalidArgument, match="unknown member 'keepalive'"):
        fleet.MqttClient(keepalive=5)
    with pytest.raises(fleet.WrongTypeError, match="on_message"):
        fleet.MqttClient(on_message="print")
    with pytest.raises(fleet.InvalidArgument, match="protocol"):
        fleet.MqttClient(protocol="4.0")


def test_unreachable_broker(closed_port):
    errors = []
    c = fleet.MqttClient("mqtt://127.0.0.1:%d" % closed_port,
                         on_connect=lambda err, sp: errors.append(err))
    with pytest.raises(fleet.NetworkError):
        c.connect()
    assert not c.connected
    with pytest.raises(fleet.NetworkError):
        c.publish("fleet/v-1/telemetry", b"x", qos=0)
    # QoS 1 waits in the client's queue for a connection.
    c.publish("fleet/v-1/telemetry", b"x", qos=1)
    with pytest.raises(fleet.TimedOutError):
        c.wait_published(timeout=0.2)
    with pytest.raises(fleet.InvalidArgument):
        c.publish("fleet/+/telemetry", b"x")
    with pytest.raises(fleet.InvalidArgument):
        c.publish_status("bad id", True)
    stats = c.stats()
    assert stats["connected"] is False and stats["published"] == 1
    c.close()
    with pytest.raises(fleet.ClosedError):
        c.publish("t", b"x")


def test_start_then_connect_is_a_state_error(closed_port):
    with fleet.MqttClient("mqtt://127.0.0.1:%d" % closed_port, reconnect_min_ms=50) as c:
        c.start()
        with pytest.raises(fleet.StateError):
            c.connect()
        with pytest.raises(fleet.StateError):
            c.loop(0.01)
        with pytest.raises(fleet.TimedOutError):
            c.wait_connected(timeout=0.2)
        c.stop()
