"""Plain-data records: telemetry, trips, stops, alerts, hourly aggregates,
tracker events, vehicle states and stored history.

Records are ordinary Python objects: attributes (``rec.lat``), a dict view
(``rec.to_dict()``), equality by value, ``repr`` and pickling. They hold
copies of what the C library produced; nothing in them points into C memory,
so they may be kept as long as needed. Lists of records come as
:class:`RecordList`, whose ``to_records()`` gives a list of dicts ready for
``pandas.DataFrame``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import _fleet, _swig

__all__ = [
    "Record",
    "RecordList",
    "Telemetry",
    "Trip",
    "Stop",
    "Alert",
    "Hourly",
    "TrackerEvent",
    "VehicleState",
    "Position",
    "HistoryTrip",
    "ZoneEvent",
    "HistoryAlert",
    "Row",
    "TimeLike",
    "to_ns",
    "from_ns",
]

TimeLike = Union[int, str, _dt.datetime]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def to_ns(value: TimeLike) -> int:
    """Nanoseconds since the Unix epoch of ``value``.

    Accepts an int (already ns), RFC 3339 text (``"2026-05-21T10:30:00Z"``,
    parsed exactly, up to 9 fraction digits) or a ``datetime`` (naive ones
    are taken as UTC).
    """
    if isinstance(value, bool):
        raise TypeError("time: expected int ns, RFC 3339 str or datetime, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _swig.time_parse(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    raise TypeError(
        "time: expected int ns, RFC 3339 str or datetime, got %s" % type(value).__name__
    )


def from_ns(ns: int) -> _dt.datetime:
    """A UTC ``datetime`` for ``ns`` (truncated to microseconds)."""
    return _EPOCH + _dt.timedelta(microseconds=ns // 1000)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Record:
    """Base class of the records: attributes with a dict view."""

    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def to_dict(self) -> Dict[str, Any]:
        """The attributes as a new dict (nested records become dicts too)."""
        return {k: _plain(v) for k, v in self.__dict__.items()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join("%s=%r" % (k, v) for k, v in self.__dict__.items() if v is not None)
        return "%s(%s)" % (type(self).__name__, parts)


class RecordList(list):
    """A list of records with conversions for data analysis."""

    def to_records(self) -> List[Dict[str, Any]]:
        """Each record as a dict: ``pandas.DataFrame(lst.to_records())``."""
        return [r.to_dict() if isinstance(r, Record) else dict(r) for r in self]

    def to_dataframe(self) -> Any:
        """A ``pandas.DataFrame`` of the records (pandas must be installed)."""
        try:
            import pandas  # type: ignore[import]
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ImportError("to_dataframe() needs pandas; to_records() does not") from exc
        return pandas.DataFrame(self.to_records())


_OPTIONAL = ("speed", "heading", "ignition", "odometer", "battery_v", "engine_temp",
             "fuel_level", "driver_id")
_PAYLOAD_KEYS = frozenset(("v", "vehicle_id", "ts", "ts_ns", "lat", "lng", "extras",
                           "warnings") + _OPTIONAL)


_FIELDS = ("vehicle_id", "ts_ns", "lat", "lng") + _OPTIONAL + ("extras", "warnings")


def _telemetry_from_fields(cls: Any, fields: Tuple[Any, ...], extra: Dict[str, Any]) -> "Telemetry":
    rec: Telemetry = cls.__new__(cls)
    for name, value in zip(_FIELDS, fields):
        setattr(rec, name, value)
    rec.__dict__.update(extra)
    return rec


class Telemetry(_fleet.TelemetryBase, Record):  # type: ignore[misc]
    """One telemetry record, as in the v1 payload.

    Attributes:
        vehicle_id: the vehicle, ``""`` when unknown.
        ts_ns: device time, ns since the epoch (``ts`` gives a datetime,
            ``time`` the exact RFC 3339 text).
        lat, lng: WGS84 degrees.
        speed (km/h), heading (degrees), odometer (km), battery_v (V),
        engine_temp (C), fuel_level (%): floats, or None when absent.
        ignition: bool or None. driver_id: str or None.
        extras: further numeric / boolean CAN fields, ``{name: float|bool}``.
        warnings: what the parser dropped, one message per optional field.

    The fields live in fixed slots of a small C base type, so that the
    parser builds records without a per-record attribute dict; any other
    attribute may still be set on a record.
    """

    vehicle_id: str
    ts_ns: int
    lat: float
    lng: float
    speed: Optional[float]
    heading: Optional[float]
    ignition: Optional[bool]
    odometer: Optional[float]
    battery_v: Optional[float]
    engine_temp: Optional[float]
    fuel_level: Optional[float]
    driver_id: Optional[str]
    extras: Dict[str, Union[float, bool]]
    warnings: List[str]

    def __init__(
        self,
        vehicle_id: str = "",
        ts: TimeLike = 0,
        lat: float = 0.0,
        lng: float = 0.0,
        *,
        speed: Optional[float] = None,
        heading: Optional[float] = None,
        ignition: Optional[bool] = None,
        odometer: Optional[float] = None,
        battery_v: Optional[float] = None,
        engine_temp: Optional[float] = None,
        fuel_level: Optional[float] = None,
        driver_id: Optional[str] = None,
        extras: Optional[Mapping[str, Union[float, bool]]] = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.ts_ns = to_ns(ts)
        self.lat = lat
        self.lng = lng
        self.speed = speed
        self.heading = heading
        self.ignition = ignition
        self.odometer = odometer
        self.battery_v = battery_v
        self.engine_temp = engine_temp
        self.fuel_level = fuel_level
        self.driver_id = driver_id
        self.extras = dict(extras) if extras else {}
        self.warnings = []

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Telemetry":
        """A record from a payload-shaped dict (``ts`` as text, ns or
        datetime, or ``ts_ns``); other numeric or boolean members become
        extras, as the parser does. Not validated: call validate()."""
        ts = data.get("ts_ns", data.get("ts", 0))
        extras = dict(data.get("extras") or {})
        for k, v in data.items():
            if k not in _PAYLOAD_KEYS and isinstance(v, (int, float, bool)):
                extras[k] = v
        return cls(
            data.get("vehicle_id") or "",
            ts,
            data.get("lat", 0.0),
            data.get("lng", 0.0),
            extras=extras,
            **{k: data.get(k) for k in _OPTIONAL},
        )

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    @property
    def ts(self) -> _dt.datetime:
        """Device time as a UTC datetime (microsecond precision)."""
        return from_ns(self.ts_ns)

    @ts.setter
    def ts(self, value: TimeLike) -> None:
        self.ts_ns = to_ns(value)

    @property
    def time(self) -> str:
        """Device time as RFC 3339 UTC text, exact to the nanosecond."""
        return _swig.time_format(self.ts_ns)

    def to_dict(self, ts: str = "iso") -> Dict[str, Any]:  # type: ignore[override]
        """A flat dict: vehicle_id, ts, lat, lng, the optional fields that are
        present and the extras (warnings are left out).

        ts: ``"iso"`` (RFC 3339 text), ``"ns"`` (int) or ``"datetime"``.
        """
        out: Dict[str, Any] = {"vehicle_id": self.vehicle_id}
        if ts == "iso":
            out["ts"] = _swig.time_format(self.ts_ns)
        elif ts == "ns":
            out["ts"] = self.ts_ns
        elif ts == "datetime":
            out["ts"] = from_ns(self.ts_ns)
        else:
            raise ValueError("ts: 'iso', 'ns' or 'datetime', not %r" % (ts,))
        out["lat"] = self.lat
        out["lng"] = self.lng
        for k in _OPTIONAL:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        out.update(self.extras or {})
        return out

    def to_json(self, include_vehicle_id: bool = True) -> str:
        """The record as a compact v1 JSON payload (validated first)."""
        return _swig.telemetry_encode_json(self, include_vehicle_id)

    def to_line(self, measurement: Optional[str] = None,
                tags: Optional[Mapping[str, Optional[str]]] = None) -> str:
        """The record as one line of InfluxDB line protocol (ending in a
        newline): tag vehicle_id plus ``tags``, fields lat, lng, the
        optional fields and the extras, timestamp ts_ns."""
        return _swig.lp_encode_telemetry(self, measurement, dict(tags) if tags else None)

    def validate(self) -> None:
        """Check the record as the parser would; raises the matching Error."""
        _swig.telemetry_validate(self)

    def copy(self) -> "Telemetry":
        """A copy (extras and warnings copied too)."""
        new = _telemetry_from_fields(type(self), self._fields(), dict(self.__dict__))
        new.extras = dict(self.extras or {})
        new.warnings = list(self.warnings or [])
        return new

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_telemetry_from_fields, (type(self), self._fields(), dict(self.__dict__)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Telemetry):
            return NotImplemented
        return (self._fields()[:-1] == other._fields()[:-1]
                and self.__dict__ == other.__dict__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ["vehicle_id=%r" % self.vehicle_id,
                 "ts=%r" % _swig.time_format(self.ts_ns or 0),
                 "lat=%r" % self.lat, "lng=%r" % self.lng]
        parts += ["%s=%r" % (k, getattr(self, k)) for k in _OPTIONAL
                  if getattr(self, k) is not None]
        if self.extras:
            parts.append("extras=%r" % (self.extras,))
        return "%s(%s)" % (type(self).__name__, ", ".join(parts))


class Trip(Record):
    """A trip summary (trip.h's fleet_trip_t).

    ``event`` is ``"trip_start"`` (the figures so far, when the trip
    qualified) or ``"trip_end"`` (final). Times are ns since the epoch
    (``start``/``end`` give datetimes); distances metres; durations seconds;
    speeds km/h; ``fuel_l`` litres; ``end_reason`` one of "none", "parked",
    "ignition_off", "data_gap", "flush". Odometer and fuel-level readings
    are None unless both end fixes reported them.
    """

    event: str
    vehicle_id: str
    start_ns: int
    start_lat: float
    start_lng: float
    end_ns: int
    end_lat: float
    end_lng: float
    duration_s: float
    distance_m: float
    gps_distance_m: float
    moving_s: float
    idle_s: float
    max_speed_kmh: float
    avg_speed_kmh: float
    avg_moving_speed_kmh: float
    fuel_l: float
    start_odometer_km: Optional[float]
    end_odometer_km: Optional[float]
    start_fuel_pct: Optional[float]
    end_fuel_pct: Optional[float]
    fixes: int
    flags: int
    end_reason: str

    type = "trip"

    @property
    def start(self) -> _dt.datetime:
        """start_ns as a UTC datetime."""
        return from_ns(self.start_ns)

    @property
    def end(self) -> _dt.datetime:
        """end_ns as a UTC datetime."""
        return from_ns(self.end_ns)

    @property
    def distance_source(self) -> str:
        """``"odometer"`` when distance_m is the odometer difference, else ``"gps"``."""
        return "odometer" if self.flags & _swig.FLEET_TRIP_DISTANCE_ODOMETER else "gps"

    @property
    def fuel_source(self) -> Optional[str]:
        """``"level"`` (fuel-level drop x tank), ``"estimate"`` (consumption
        rates) or None (no figure)."""
        if self.flags & _swig.FLEET_TRIP_FUEL_FROM_LEVEL:
            return "level"
        if self.flags & _swig.FLEET_TRIP_FUEL_ESTIMATED:
            return "estimate"
        return None


class Stop(Record):
    """A stop between two trips (trip.h's fleet_stop_t): start_ns, end_ns,
    duration_s, where it started (lat, lng) and flags."""

    event: str
    vehicle_id: str
    start_ns: int
    end_ns: int
    duration_s: float
    lat: float
    lng: float
    flags: int

    type = "stop"

    @property
    def start(self) -> _dt.datetime:
        """start_ns as a UTC datetime."""
        return from_ns(self.start_ns)

    @property
    def end(self) -> _dt.datetime:
        """end_ns as a UTC datetime."""
        return from_ns(self.end_ns)

    @property
    def open(self) -> bool:
        """Still going on when the stream was flushed."""
        return bool(self.flags & _swig.FLEET_STOP_OPEN)

    @property
    def from_first_fix(self) -> bool:
        """Starts at the first fix seen: the vehicle may have stood longer."""
        return bool(self.flags & _swig.FLEET_STOP_FROM_FIRST_FIX)

    @property
    def after_data_gap(self) -> bool:
        """Started because of a data gap."""
        return bool(self.flags & _swig.FLEET_STOP_DATA_GAP)


class Alert(Record):
    """An alert raised by a rule: rule_id, rule_type, severity, message,
    value, limit, zone_id and zone_name (zone rules)."""

    rule_id: str
    rule_type: str
    severity: str
    message: str
    value: float
    limit: float
    zone_id: Optional[str]
    zone_name: Optional[str]


class Hourly(Record):
    """One vehicle-hour of aggregates (downsample.h's fleet_hourly_t);
    optional figures (speeds, fuel, battery) are None when not reported."""

    vehicle_id: str
    hour_ns: int
    revision: int
    count: int
    speed_count: int
    speed_mean_kmh: Optional[float]
    speed_max_kmh: Optional[float]
    distance_m: float
    gps_distance_m: float
    moving_s: float
    idle_s: float
    last_ts_ns: int
    last_lat: float
    last_lng: float
    fuel_min_pct: Optional[float]
    fuel_max_pct: Optional[float]
    battery_min_v: Optional[float]
    battery_max_v: Optional[float]
    present: int

    @property
    def hour(self) -> _dt.datetime:
        """The start of the hour as a UTC datetime."""
        return from_ns(self.hour_ns)


class TrackerEvent(Record):
    """One tracker event. ``type`` is "zone_enter", "zone_exit",
    "trip_start", "trip_end", "stop", "alert", "late" or "hourly"; members
    that do not belong to the type are None: zone_key / zone_id / zone_name /
    dwell_s (zones), trip, stop, alert, record (the late fix), hourly."""

    type: str
    vehicle_id: str
    ts_ns: int
    lat: float
    lng: float
    zone_key: Optional[int]
    zone_id: Optional[str]
    zone_name: Optional[str]
    dwell_s: Optional[float]
    trip: Optional[Trip]
    stop: Optional[Stop]
    alert: Optional[Alert]
    record: Optional[Telemetry]
    hourly: Optional[Hourly]

    @property
    def ts(self) -> _dt.datetime:
        """ts_ns as a UTC datetime."""
        return from_ns(self.ts_ns)


class VehicleState(Record):
    """A vehicle's last-known state as the tracker sees it: position, speed,
    heading, ignition, status ("moving", "idle", "stopped", "offline"),
    in_trip, the number of zones it is in and its accepted fixes."""

    vehicle_id: str
    ts_ns: int
    lat: float
    lng: float
    speed: Optional[float]
    heading: Optional[float]
    ignition: Optional[bool]
    status: str
    in_trip: bool
    zones: int
    fixes: int

    @property
    def ts(self) -> _dt.datetime:
        """ts_ns as a UTC datetime."""
        return from_ns(self.ts_ns)


class Position(Telemetry):
    """A stored position read back from InfluxDB: a Telemetry record plus
    ``tier`` ("raw" or "hourly"), the ``fleet_id`` and ``device_type`` tags
    and, for the hourly tier, ``hourly`` (a dict of the hour's aggregates)."""

    tier: str
    fleet_id: str
    device_type: str
    hourly: Optional[Dict[str, Any]]

    def to_dict(self, ts: str = "iso") -> Dict[str, Any]:  # type: ignore[override]
        out = super().to_dict(ts)
        out["tier"] = self.tier
        out["fleet_id"] = self.fleet_id
        out["device_type"] = self.device_type
        if self.hourly:
            out.update(self.hourly)
        return out


class HistoryTrip(Record):
    """A finished trip as stored in the ``trips`` measurement."""

    vehicle_id: str
    start_ns: int
    end_ns: int
    distance_m: float
    duration_s: float
    moving_s: float
    idle_s: float
    max_speed_kmh: float
    avg_speed_kmh: float
    fuel_l: Optional[float]
    start_lat: float
    start_lng: float
    end_lat: float
    end_lng: float


class ZoneEvent(Record):
    """A zone transition as stored in ``geofence_events``."""

    vehicle_id: str
    ts_ns: int
    zone_id: str
    zone_name: Optional[str]
    event: str
    dwell_s: Optional[float]
    lat: Optional[float]
    lng: Optional[float]


class HistoryAlert(Record):
    """An alert as stored in ``alerts``."""

    vehicle_id: str
    ts_ns: int
    rule: str
    type: str
    severity: str
    message: str
    value: float
    limit: float
    zone_id: Optional[str]
    zone_name: Optional[str]
    lat: Optional[float]
    lng: Optional[float]


class Row(Record):
    """One row of an InfluxQL result: ``statement``, ``measurement``,
    ``tags`` (a dict), ``time_ns`` and ``values`` (column -> value)."""

    statement: int
    measurement: str
    tags: Dict[str, str]
    time_ns: int
    values: Dict[str, Any]


def _register(classes: Iterable[type]) -> None:
    for cls in classes:
        _swig.register_class(cls.__name__, cls)


_register((Telemetry, Trip, Stop, Alert, Hourly, TrackerEvent, VehicleState, Position,
           HistoryTrip, ZoneEvent, HistoryAlert, Row))
