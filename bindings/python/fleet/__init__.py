"""libfleet for Python: real-time fleet and asset tracking.

A small Python layer over the C library (through its SWIG module,
``fleet._swig`` / ``fleet._fleet``):

- telemetry: :func:`parse` validates a v1 payload into a :class:`Telemetry`
  record (attributes, ``to_dict()``, ``warnings``); JSON and InfluxDB line
  protocol encoding (:meth:`Telemetry.to_json`, :meth:`Telemetry.to_line`,
  :func:`line`); RFC 3339 time (:func:`parse_time`, :func:`format_time`).
- geo: :func:`distance_m`, :func:`bearing_deg`, :func:`destination`,
  :func:`segment_distance_m`, :class:`GeoProj`.
- zones: :class:`Zone`, :class:`ZoneSet`.
- tracking: :class:`Tracker` (zone, trip, alert and hourly events through a
  callback), :func:`trips`, :class:`TripDetector`, :class:`RuleSet`,
  :func:`hourly`, :class:`Downsampler`.
- storage: :class:`InfluxWriter`, :class:`History` (in ``fleet.influx``).
- messaging: :class:`MqttClient` (``fleet.mqtt``); the WebSocket/REST
  gateway, :class:`Gateway` (``fleet.ws``).
- auth: JWT issue and verify, password hashes, users (``fleet.auth``).
- durable logs: :class:`Spool`, :class:`IngestLog` (``fleet.storage``).

Every failure raises a subclass of :class:`Error` (see ``fleet.errors``)
carrying the status ``code`` and the library's precise message.

    >>> import fleet
    >>> rec = fleet.parse(b'{"v":1,"ts":"2026-05-21T10:30:00Z","lat":23.81,"lng":90.41,"speed":45.2}')
    >>> rec.lat, rec.speed, rec.to_dict()["ts"]
    (23.81, 45.2, '2026-05-21T10:30:00Z')
"""

from __future__ import annotations

from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Optional, Tuple, Union

from . import _fleet, _swig
from .errors import *  # noqa: F401,F403
from .errors import Error, __all__ as _errors_all
from .records import *  # noqa: F401,F403
from .records import RecordList, Telemetry, TimeLike, from_ns, to_ns
from .records import __all__ as _records_all
from .zones import Zone, ZoneSet, ZoneSnapshot
from .tracking import (Downsampler, RuleSet, Tracker, TripDetector, check_hourly_params,
                       check_trip_params, hourly, trips)
from .influx import History, InfluxConfig, InfluxWriter
from .mqtt import MqttClient, MqttMessage
from .ws import Gateway
from .storage import IngestLog, Spool
from . import auth, influx, mqtt, storage, ws

__version__ = _swig.version_string()

GeoProj = _swig.GeoProj

EARTH_RADIUS_M: float = _swig.FLEET_GEO_EARTH_RADIUS_M
"""Mean Earth radius used by every geo function, metres."""

__all__ = [
    "__version__",
    "version",
    "version_string",
    "parse",
    "validate",
    "encode_json",
    "encode_line",
    "line",
    "read_jsonl",
    "validate_vehicle_id",
    "is_vehicle_id",
    "topic_vehicle_id",
    "parse_time",
    "format_time",
    "to_ns",
    "from_ns",
    "wrap_lng",
    "distance_m",
    "bearing_deg",
    "destination",
    "segment_distance_m",
    "GeoProj",
    "EARTH_RADIUS_M",
    "Zone",
    "ZoneSet",
    "ZoneSnapshot",
    "RuleSet",
    "TripDetector",
    "Downsampler",
    "Tracker",
    "trips",
    "hourly",
    "check_trip_params",
    "check_hourly_params",
    "InfluxConfig",
    "InfluxWriter",
    "History",
    "MqttClient",
    "MqttMessage",
    "Gateway",
    "Spool",
    "IngestLog",
    "auth",
    "influx",
    "mqtt",
    "storage",
    "ws",
] + _errors_all + _records_all

_telemetry_parse = _fleet.telemetry_parse


def version() -> int:
    """The loaded library's version number (MAJOR * 10000 + MINOR * 100 + PATCH)."""
    return _swig.version()


def version_string() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _swig.version_string()


# fleet.parse is the C entry point itself: the hot path has no Python frame.
parse: Callable[..., Telemetry] = _fleet.parse


def validate(record: Union[Telemetry, Mapping[str, Any]]) -> None:
    """Check a record built in code as the parser would (required fields,
    ranges, ids, extras); raises the matching Error."""
    _swig.telemetry_validate(record)


def encode_json(record: Union[Telemetry, Mapping[str, Any]], include_vehicle_id: bool = True) -> str:
    """A record as a compact v1 JSON payload (it parses back to an equal record)."""
    return _swig.telemetry_encode_json(record, include_vehicle_id)


def encode_line(record: Union[Telemetry, Mapping[str, Any]], measurement: Optional[str] = None,
                tags: Optional[Mapping[str, Optional[str]]] = None) -> str:
    """A record as one line of InfluxDB line protocol (measurement
    "telemetry" unless given; tag vehicle_id plus ``tags``)."""
    return _swig.lp_encode_telemetry(record, measurement, dict(tags) if tags else None)


def line(measurement: str, fields: Mapping[str, Union[float, int, bool, str]],
         tags: Optional[Mapping[str, str]] = None, ts: TimeLike = 0) -> str:
    """One line of InfluxDB line protocol, escaped exactly.

    Field types follow the values: float, int (``i`` suffix), bool, str.
    Tags are written sorted by key. NaN, infinities, newlines, empty keys
    and empty tag values are refused (InvalidArgument / RangeError).
    """
    sorted_tags = {k: tags[k] for k in sorted(tags)} if tags else None
    return _swig.lp_encode_line(measurement, sorted_tags, dict(fields), to_ns(ts))


def read_jsonl(source: Union[str, IO[Any], Iterable[Union[str, bytes]]], *,
               vehicle_id: Optional[str] = None, errors: str = "raise") -> Iterator[Telemetry]:
    """Parse a JSON-lines file (a path, an open file or any iterable of
    lines) into Telemetry records, skipping blank lines.

    vehicle_id: set on records that carry none. errors: "raise" (an Error
    whose message starts with "line N: "), or "skip" invalid lines.
    """
    if errors not in ("raise", "skip"):
        raise ValueError("errors: 'raise' or 'skip', not %r" % (errors,))
    if isinstance(source, str):
        with open(source, "rb") as f:
            yield from read_jsonl(f, vehicle_id=vehicle_id, errors=errors)
        return
    for n, text in enumerate(source, 1):
        if not text.strip():
            continue
        try:
            rec = _telemetry_parse(text)
        except Error as exc:
            if errors == "skip":
                continue
            raise type(exc)("line %d: %s" % (n, exc.message)) from None
        if vehicle_id is not None and not rec.vehicle_id:
            rec.vehicle_id = vehicle_id
        yield rec


def validate_vehicle_id(vehicle_id: str) -> None:
    """Check a vehicle id (1-64 chars of [A-Za-z0-9._-]); InvalidArgument otherwise."""
    _swig.vehicle_id_validate(vehicle_id)


def is_vehicle_id(vehicle_id: str) -> bool:
    """Whether ``vehicle_id`` is a valid vehicle id."""
    try:
        _swig.vehicle_id_validate(vehicle_id)
    except Error:
        return False
    return True


def topic_vehicle_id(topic: str, kind: Optional[str] = None) -> str:
    """The vehicle id of a topic ``fleet/{id}/{kind}`` (ParseError for
    another shape or kind, InvalidArgument for a bad id)."""
    return _swig.topic_vehicle_id(topic, kind)


def parse_time(text: str) -> int:
    """RFC 3339 text to ns since the epoch (exact, calendar-checked)."""
    return _swig.time_parse(text)


def format_time(ns: int) -> str:
    """ns since the epoch as RFC 3339 UTC ("...Z"), exact to the ns."""
    return _swig.time_format(ns)


def wrap_lng(lng: float) -> float:
    """Wrap a longitude into [-180, 180)."""
    return _swig.geo_wrap_lng(lng)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    return _swig.geo_distance_m(lat1, lng1, lat2, lng2)


def bearing_deg(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Initial bearing from the first position to the second, degrees [0, 360)."""
    return _swig.geo_bearing_deg(lat1, lng1, lat2, lng2)


def destination(lat: float, lng: float, distance_m: float, bearing_deg: float) -> Tuple[float, float]:
    """The position (lat, lng) reached after distance_m metres along bearing_deg."""
    return tuple(_swig.geo_destination_of(lat, lng, distance_m, bearing_deg))  # type: ignore[return-value]


def segment_distance_m(lat: float, lng: float, lat1: float, lng1: float, lat2: float,
                       lng2: float) -> float:
    """Distance in metres from (lat, lng) to the segment (lat1, lng1)-(lat2, lng2)."""
    return _swig.geo_segment_distance_m(lat, lng, lat1, lng1, lat2, lng2)
