"""MQTT: the libmosquitto client of libfleet.

Subscribe to the telemetry of a fleet and print positions as they arrive::

    for msg in fleet.mqtt.subscribe("mqtt://127.0.0.1:1883", count=10, timeout=30):
        rec = msg.telemetry()
        print(rec.vehicle_id, rec.lat, rec.lng)

Or drive a client yourself: ``start()`` runs a network thread that calls
``on_message`` (an exception it raises goes to sys.unraisablehook, and is
counted in ``handler_errors``); ``connect()`` + ``loop()`` run the callbacks
on the calling thread, where an exception raised by a callback comes out of
``loop()``. Messages carry the vehicle id of their topic
(``fleet/{vehicle_id}/telemetry``), already checked.

libmosquitto acknowledges a QoS 1 message before the callback runs: make it
durable first thing in ``on_message`` when losing it on a crash matters.
"""

from __future__ import annotations

import collections
import json
import time
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Union

from . import _fleet, _swig
from ._handle import Handle
from .errors import Error, error_class
from .records import Record, Telemetry

__all__ = ["MqttMessage", "MqttClient", "subscribe", "parse_url", "partition_of",
           "TOPIC_TELEMETRY"]

TOPIC_TELEMETRY: str = _swig.FLEET_MQTT_TOPIC_TELEMETRY


class MqttMessage(Record):
    """A received message: topic, vehicle_id and kind (from the topic
    ``fleet/{vehicle_id}/{kind}``), payload (bytes), qos, retained (a
    last-known state sent on subscription) and mid."""

    topic: str
    vehicle_id: str
    kind: str
    payload: bytes
    qos: int
    retained: bool
    mid: int

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode("utf-8", "replace")

    def telemetry(self) -> Telemetry:
        """The payload parsed as a telemetry record, with the topic's vehicle id."""
        rec = _fleet.telemetry_parse(self.payload)
        rec.vehicle_id = self.vehicle_id
        return rec


_swig.register_class("MqttMessage", MqttMessage)


def parse_url(url: str) -> Dict[str, Any]:
    """The parts of a broker URL: ``{"tls": bool, "host": str, "port": int}``."""
    return _swig.mqtt_url_split(url)


def partition_of(vehicle_id: str, count: int) -> int:
    """The partition (0 .. count-1) of a vehicle among ``count`` instances
    (FNV-1a of the id, stable everywhere)."""
    return _swig.mqtt_partition_of(vehicle_id, count)


def _payload(payload: Union[str, bytes, bytearray, Dict[str, Any], List[Any], None]) -> Union[str, bytes, bytearray]:
    if payload is None:
        return b""
    if isinstance(payload, (dict, list)):
        return json.dumps(payload, separators=(",", ":"))
    return payload


def _ms(seconds: float) -> int:
    return max(0, min(int(seconds * 1000), 2**31 - 1))


def _status_callback(user: Optional[Callable[..., Any]], connect: bool) -> Optional[Callable[..., Any]]:
    """Adapt a user's on_connect(error, session_present) / on_disconnect(error)
    to the C callbacks, which get a status code and a detail text."""
    if user is None:
        return None
    fn: Callable[..., Any] = user
    if connect:
        def on_connect(status: int, session_present: bool, detail: str) -> None:
            fn(error_class(status)(detail) if status else None, session_present)
        return on_connect

    def on_disconnect(status: int, detail: str) -> None:
        fn(error_class(status)(detail) if status else None)
    return on_disconnect


class MqttClient(Handle, _swig.MqttClient):
    """An MQTT client (persistent sessions, QoS 1, reconnection with
    backoff, TLS, shared subscriptions, partitions).

    url: "mqtt://host[:port]" or "mqtts://..." (default mqtt://127.0.0.1:1883).
    client_id: fixed id for a persistent session; without one the session
        is clean (the broker forgets it) and the id random.
    topics: subscription filters (default ``fleet/+/telemetry``).
    on_message(msg): receives :class:`MqttMessage` objects (None: a
        publish-only client).
    on_connect(error, session_present): after each connection attempt;
        error is None on success, else the :class:`fleet.Error` of the failure.
    on_disconnect(error): when the connection ends (None when asked for).
    on_log(level, message): the client's log lines.
    Other options (fleet_mqtt_options_t): clean_session, protocol ("3.1.1"
    or "5"), keepalive_s, session_expiry_s, username, password, ca_file,
    ca_path, cert_file, key_file, tls_insecure, tls_version, qos,
    share_group, partition_index, partition_count, reconnect_min_ms,
    reconnect_max_ms, max_packet_size, max_inflight, status_topic, log_level.
    """

    def __init__(self, url: Optional[str] = None, *, client_id: Optional[str] = None,
                 topics: Optional[Union[str, Sequence[str]]] = None,
                 on_message: Optional[Callable[[MqttMessage], Any]] = None,
                 on_connect: Optional[Callable[[Optional[Error], bool], Any]] = None,
                 on_disconnect: Optional[Callable[[Optional[Error]], Any]] = None,
                 on_log: Optional[Callable[[str, str], Any]] = None,
                 clean_session: Optional[bool] = None, **options: Any) -> None:
        if clean_session is None:
            clean_session = client_id is None
        if isinstance(topics, str):
            topics = [topics]
        opts = dict(options, url=url, client_id=client_id, clean_session=clean_session,
                    topics=list(topics) if topics else None)
        super().__init__(opts, on_message, _status_callback(on_connect, True),
                         _status_callback(on_disconnect, False), on_log)

    def start(self) -> None:  # type: ignore[override]
        """Run the client on its own thread (returns at once; it connects,
        subscribes and reconnects by itself)."""
        _fleet.MqttClient_start(self)

    def connect(self) -> None:  # type: ignore[override]
        """Caller-thread mode: one connection attempt now (NetworkError when
        the broker cannot be reached); then call loop()."""
        _fleet.MqttClient_connect(self)

    def loop(self, timeout: float = 0.1) -> None:  # type: ignore[override]
        """Caller-thread mode: network work and callbacks for up to
        ``timeout`` seconds; reconnects by itself when needed."""
        _fleet.MqttClient_loop(self, _ms(timeout))

    def wait_connected(self, timeout: float = 10.0) -> None:  # type: ignore[override]
        """Wait until connected and subscribed (TimedOutError with the last
        connection error otherwise)."""
        _fleet.MqttClient_wait_connected(self, _ms(timeout))

    @property
    def connected(self) -> bool:
        """Whether the client is connected now."""
        return _fleet.MqttClient_is_connected(self)

    def publish(self, topic: str,  # type: ignore[override]
                payload: Union[str, bytes, bytearray, Dict[str, Any], List[Any], None],
                qos: int = 1, retain: bool = False) -> None:
        """Publish ``payload`` (bytes, text, or a dict/list sent as JSON).
        QoS 1/2 messages published while disconnected go out after the
        reconnect. Any thread."""
        _fleet.MqttClient_publish(self, topic, _payload(payload), qos, retain)

    def publish_telemetry(self, record: Telemetry, retain: bool = False) -> None:
        """Publish a record to ``fleet/{vehicle_id}/telemetry`` (QoS 1)."""
        _fleet.MqttClient_publish(self, "fleet/%s/telemetry" % record.vehicle_id,
                                  record.to_json(include_vehicle_id=False), 1, retain)

    def publish_alert(self, vehicle_id: str,  # type: ignore[override]
                      alert: Union[str, bytes, Dict[str, Any]]) -> None:
        """Publish an alert (JSON) to ``fleet/{vehicle_id}/alerts``, QoS 1."""
        _fleet.MqttClient_publish_alert(self, vehicle_id, _payload(alert))

    def publish_status(self, vehicle_id: str, online: bool) -> None:  # type: ignore[override]
        """Publish "online" / "offline" to ``fleet/{vehicle_id}/status``, retained."""
        _fleet.MqttClient_publish_status(self, vehicle_id, online)

    def wait_published(self, timeout: float = 10.0) -> None:  # type: ignore[override]
        """Wait until everything published so far is acknowledged."""
        _fleet.MqttClient_wait_published(self, _ms(timeout))

    def stop(self, timeout: float = 1.0) -> None:  # type: ignore[override]
        """Disconnect cleanly (waiting up to ``timeout`` s for
        acknowledgements) and stop; the client may be started again."""
        _fleet.MqttClient_stop(self, _ms(timeout))

    def stats(self) -> Dict[str, Any]:  # type: ignore[override]
        """The counters (received, delivered, handler_errors, connects, ...)."""
        return _fleet.MqttClient_stats(self)


def subscribe(url: Optional[str] = None, *, topics: Optional[Union[str, Sequence[str]]] = None,
              count: Optional[int] = None, timeout: Optional[float] = None,
              **options: Any) -> Iterator[MqttMessage]:
    """Connect, subscribe and yield messages as they arrive, on the calling
    thread, until ``count`` messages or ``timeout`` seconds (None: no limit).
    A clean session unless a client_id is given (then the broker keeps the
    subscription and queues messages between runs)."""
    queue: Deque[MqttMessage] = collections.deque()
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    with MqttClient(url, topics=topics, on_message=queue.append, **options) as client:
        client.connect()
        while count is None or seen < count:
            while queue and (count is None or seen < count):
                seen += 1
                yield queue.popleft()
            if count is not None and seen >= count:
                break
            step = 0.1
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                step = min(step, left)
            client.loop(step)
        client.stop()


_swig.set_proxy_class("fleetswig_mqtt *", MqttClient)
