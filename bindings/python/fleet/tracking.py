"""Tracking: alert rules, trip and stop detection, hourly aggregates and the
tracker that combines them with zones.

    >>> for t in fleet.trips(open("trace.jsonl"), min_trip_duration_s=60):
    ...     print(t.type, t.start, t.end, round(t.distance_m))

Callbacks run on the thread that calls feed/tick/flush. An exception raised
by a callback stops that call (the C library's state has already advanced
past the event) and propagates out of it unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from . import _fleet, _swig
from ._handle import Handle, json_text
from .records import (Hourly, RecordList, Stop, Telemetry, TimeLike, TrackerEvent, Trip,
                      VehicleState, to_ns)
from .zones import Zone, ZoneSet

__all__ = [
    "RuleSet",
    "TripDetector",
    "Downsampler",
    "Tracker",
    "trips",
    "hourly",
    "check_trip_params",
    "check_hourly_params",
    "RecordInput",
]

RecordInput = Union[Telemetry, Mapping[str, Any], str, bytes]

# Rule members named per type in the JSON format (rules.h), and the generic
# fleet_rule_t member each one fills.
_RULE_MEMBERS: Dict[str, Dict[str, str]] = {
    "overspeed": {"threshold_kmh": "threshold", "hysteresis_kmh": "hysteresis",
                  "min_duration_s": "min_duration_s", "zone_limits": "zone_limits"},
    "low_battery": {"threshold_v": "threshold", "hysteresis_v": "hysteresis",
                    "min_duration_s": "min_duration_s"},
    "engine_temp": {"threshold_c": "threshold", "hysteresis_c": "hysteresis",
                    "min_duration_s": "min_duration_s"},
    "offline": {"after_s": "after_s"},
    "fuel_drop": {"drop_pct": "drop_pct", "window_s": "window_s",
                  "stationary": "stationary", "stationary_kmh": "stationary_kmh"},
    "zone_enter": {"zones": "zones"},
    "zone_exit": {"zones": "zones"},
    "ignition_on": {},
    "ignition_off": {},
}
_RULE_COMMON = ("id", "type", "severity", "cooldown_s", "description", "vehicles")


def _rule_to_c(rule: Mapping[str, Any]) -> Dict[str, Any]:
    members = _RULE_MEMBERS.get(rule.get("type"), {})  # type: ignore[arg-type]
    out: Dict[str, Any] = {}
    for k, v in rule.items():
        if k == "vehicles" and v == "*":
            continue
        out[members.get(k, k)] = v
    return out


def _rule_from_c(rule: Mapping[str, Any]) -> Dict[str, Any]:
    out = {k: rule[k] for k in _RULE_COMMON if rule.get(k) not in (None, [])}
    for json_name, member in _RULE_MEMBERS.get(rule.get("type"), {}).items():  # type: ignore[arg-type]
        if member == "zones" and not rule.get("zones"):
            continue
        out[json_name] = rule[member]
    return out


def _coerce(rec: RecordInput, vehicle_id: Optional[str] = None) -> Any:
    if vehicle_id is None:
        return rec
    if isinstance(rec, (str, bytes, bytearray)):
        out: Telemetry = _fleet.telemetry_parse(rec)
    elif isinstance(rec, Mapping):
        out = Telemetry.from_dict(rec)
    else:
        out = rec
    if not out.vehicle_id:
        out = out.copy()
        out.vehicle_id = vehicle_id
    return out


def _blank(rec: Any) -> bool:
    return isinstance(rec, (str, bytes, bytearray)) and not rec.strip()


def check_trip_params(**params: Any) -> None:
    """Check trip parameters; raises the matching Error naming the member.

    min_trip_distance_m (200), min_trip_duration_s (180), min_parking_s
    (300), max_gap_s (3600; 0 disables), speed_threshold_kmh (2),
    use_ignition (False), use_odometer (True), odometer_slack_m (100),
    tank_l (0), consumption_l_per_100km (0), idle_l_per_h (0).
    """
    _swig.trip_params_check(params)


def check_hourly_params(**params: Any) -> None:
    """Check hourly aggregate parameters: grace_s (300), speed_threshold_kmh
    (2), max_gap_s (3600), history_hours (2), use_odometer (True),
    odometer_slack_m (100)."""
    _swig.downsample_params_check(params)


class RuleSet(Handle, _swig.RuleSet):
    """A set of alert rules in the JSON format of rules.h, e.g.
    ``{"id": "fast", "type": "overspeed", "threshold_kmh": 80}``.

    ``RuleSet(rules)`` takes a list of such dicts (or the document
    ``{"rules": [...]}``, as text or dict). A tracker using the set freezes
    it: add() then raises StateError.
    """

    def __init__(self, rules: Optional[Union[str, bytes, List[Dict[str, Any]], Dict[str, Any]]] = None) -> None:
        super().__init__()
        if rules is not None:
            items: Any = json.loads(rules) if isinstance(rules, (str, bytes)) else rules
            if isinstance(items, Mapping):
                items = items.get("rules", [])
            for r in items:
                self.add(r)

    @classmethod
    def from_json(cls, text: Union[str, bytes, List[Any], Dict[str, Any]]) -> "RuleSet":
        """Rules from JSON: ``{"rules": [...]}`` or a bare array (text or
        Python objects). Errors name the rule and member."""
        return _fleet.RuleSet_load_json(json_text(text))

    @classmethod
    def from_file(cls, path: str) -> "RuleSet":
        """Rules from a JSON file."""
        return _fleet.RuleSet_load_file(path)

    def add(self, rule: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Validate a rule (a dict in the JSON format) and append it."""
        _fleet.RuleSet_add(self, _rule_to_c(rule))

    def __len__(self) -> int:
        return _fleet.RuleSet_count(self)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        if index < 0:
            index += len(self)
        if index < 0:
            raise IndexError(index)
        try:
            return _rule_from_c(_fleet.RuleSet_get(self, index))
        except LookupError:
            raise IndexError(index) from None

    def __iter__(self) -> Any:
        return iter([self[i] for i in range(len(self))])

    def find(self, id: str) -> Dict[str, Any]:  # type: ignore[override]
        """The rule with this id (NotFoundError when absent)."""
        return _rule_from_c(_fleet.RuleSet_find(self, id))

    def to_json(self) -> str:  # type: ignore[override]
        """The set as {"rules": [...]}, which from_json() reads back."""
        return _fleet.RuleSet_to_json(self)


def _params(params: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    return dict(params) if params else None


class TripDetector(Handle, _swig.TripDetector):
    """Trip and stop detection (one state per vehicle), with Traccar-like
    parameters (see :func:`check_trip_params`).

    ``on_event`` receives :class:`Trip` objects (``event`` "trip_start" when
    a trip qualifies, "trip_end" with the final summary) and :class:`Stop`
    objects.
    """

    def __init__(self, on_event: Callable[[Union[Trip, Stop]], Any], **params: Any) -> None:
        super().__init__(on_event, _params(params))

    def feed(self, record: RecordInput) -> str:  # type: ignore[override]
        """Feed one fix; "accepted", "stale" (older than the newest) or
        "duplicate" (same time as the newest)."""
        return _fleet.TripDetector_feed(self, record)

    def tick(self, now: TimeLike) -> None:  # type: ignore[override]
        """End trips of vehicles that went quiet, judged at device time ``now``."""
        _fleet.TripDetector_tick(self, to_ns(now))

    def flush(self, vehicle_id: Optional[str] = None) -> None:  # type: ignore[override]
        """End of input: end the trip and report the stop in progress."""
        _fleet.TripDetector_flush(self, vehicle_id)

    def set_vehicle_params(self, vehicle_id: str, **params: Any) -> None:  # type: ignore[override]
        """Other parameters for one vehicle (none: back to the detector's)."""
        _fleet.TripDetector_set_vehicle_params(self, vehicle_id, _params(params))

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """Counters: fixes, stale, duplicates, rejected, trips, stops, vehicles."""
        return _fleet.TripDetector_stats(self)


def trips(records: Iterable[RecordInput], *, stops: bool = True,
          vehicle_id: Optional[str] = None, **params: Any) -> RecordList:
    """Detect the trips (and stops) in a stream of records.

    records: Telemetry objects, dicts or payload lines (blank lines are
    skipped), e.g. an open JSON-lines file. vehicle_id: for records without
    one. params: trip parameters (see :func:`check_trip_params`).

    Returns a :class:`RecordList` of final :class:`Trip` and :class:`Stop`
    objects in the order they completed (per vehicle, time order).
    """
    out = RecordList()

    def on_event(ev: Union[Trip, Stop]) -> None:
        if ev.event == "trip_start" or (not stops and ev.event == "stop"):
            return
        out.append(ev)

    with TripDetector(on_event, **params) as det:
        for rec in records:
            if _blank(rec):
                continue
            det.feed(_coerce(rec, vehicle_id))
        det.flush()
    return out


class Downsampler(Handle, _swig.Downsampler):
    """Hourly aggregates per vehicle, delivered to ``on_hour`` as
    :class:`Hourly` objects when each hour closes (see
    :func:`check_hourly_params` for the parameters)."""

    def __init__(self, on_hour: Callable[[Hourly], Any], **params: Any) -> None:
        super().__init__(on_hour, _params(params))

    def feed(self, record: RecordInput) -> str:  # type: ignore[override]
        """Add one fix; "accepted", "late", "duplicate" or "dropped_late"."""
        return _fleet.Downsampler_feed(self, record)

    def tick(self, now: TimeLike) -> None:  # type: ignore[override]
        """Close the hours that ended (plus grace) before ``now``."""
        _fleet.Downsampler_tick(self, to_ns(now))

    def flush(self, vehicle_id: Optional[str] = None) -> None:  # type: ignore[override]
        """Deliver every open hour now."""
        _fleet.Downsampler_flush(self, vehicle_id)

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """Counters: fixes, late, duplicates, dropped_late, rejected, hours,
        corrections, vehicles."""
        return _fleet.Downsampler_stats(self)


def hourly(records: Iterable[RecordInput], *, vehicle_id: Optional[str] = None,
           **params: Any) -> RecordList:
    """The hourly aggregates of a stream of records (all hours, flushed at
    the end), as a :class:`RecordList` of :class:`Hourly`."""
    out = RecordList()
    with Downsampler(out.append, **params) as ds:
        for rec in records:
            if _blank(rec):
                continue
            ds.feed(_coerce(rec, vehicle_id))
        ds.flush()
    return out


class Tracker(Handle, _swig.Tracker):
    """The per-vehicle tracking engine.

    Feed records (Telemetry, dicts or payload text) one at a time; events go
    to ``on_event`` as :class:`TrackerEvent` objects: zone_enter, zone_exit,
    trip_start, trip_end, stop, alert, late and (with ``hourly``) hourly.

    zones: a ZoneSet (or GeoJSON for a new one); the tracker keeps it alive,
        and it may change meanwhile. Once it is closed, feed() raises
        ClosedError.
    rules: a RuleSet (or a list of rule dicts / JSON for a new one).
    trip: trip parameters (dict, see :func:`check_trip_params`).
    hourly: True or a dict of hourly parameters to get hourly events.
    zone_debounce_fixes, zone_debounce_s: confirm zone changes over that
        many fixes and seconds.
    offline_after_s: silence after which tick() marks a vehicle offline.
    """

    def __init__(self, on_event: Callable[[TrackerEvent], Any], *,
                 zones: Optional[Union[ZoneSet, str, bytes, Dict[str, Any]]] = None,
                 rules: Optional[Union[RuleSet, str, List[Dict[str, Any]], Dict[str, Any]]] = None,
                 trip: Optional[Mapping[str, Any]] = None,
                 hourly: Union[bool, Mapping[str, Any], None] = None,
                 zone_debounce_fixes: int = 1, zone_debounce_s: float = 0.0,
                 offline_after_s: float = 900.0) -> None:
        if zones is not None and not isinstance(zones, ZoneSet):
            zones = ZoneSet(zones)
        if rules is not None and not isinstance(rules, RuleSet):
            rules = RuleSet.from_json(rules) if isinstance(rules, (str, bytes)) else RuleSet(rules)
        hourly_params = None
        if hourly is True:
            hourly_params = {}
        elif hourly:
            hourly_params = dict(hourly)  # type: ignore[arg-type]
        opts = {"zone_debounce_fixes": zone_debounce_fixes, "zone_debounce_s": zone_debounce_s,
                "offline_after_s": offline_after_s}
        super().__init__(on_event, zones, rules, _params(trip or {}), hourly_params, opts)
        self._zones = zones

    @property
    def zones(self) -> Optional[ZoneSet]:
        """The zone set the tracker uses (None without zones)."""
        return self._zones

    def feed(self, record: RecordInput) -> None:  # type: ignore[override]
        """Feed one record of vehicle record.vehicle_id."""
        _fleet.Tracker_feed(self, record)

    def feed_many(self, records: Iterable[RecordInput]) -> int:
        """Feed records in order (blank payload lines are skipped); how many were fed."""
        n = 0
        feed = _fleet.Tracker_feed
        for rec in records:
            if _blank(rec):
                continue
            feed(self, rec)
            n += 1
        return n

    def tick(self, now: TimeLike) -> None:  # type: ignore[override]
        """Apply the clock at ``now``: end quiet trips, raise offline alerts,
        close hourly aggregates."""
        _fleet.Tracker_tick(self, to_ns(now))

    def flush(self, vehicle_id: Optional[str] = None) -> None:  # type: ignore[override]
        """End of input: end trips in progress, report stops, deliver open hours."""
        _fleet.Tracker_flush(self, vehicle_id)

    def set_rules(self, rules: Optional[RuleSet]) -> None:  # type: ignore[override]
        """Replace the rules (None removes them); rule state carries over by id."""
        _fleet.Tracker_set_rules(self, rules)

    def set_vehicle_params(self, vehicle_id: str, **params: Any) -> None:  # type: ignore[override]
        """Other trip parameters for one vehicle (none: back to the tracker's)."""
        _fleet.Tracker_set_vehicle_params(self, vehicle_id, _params(params))

    def get(self, vehicle_id: str) -> VehicleState:  # type: ignore[override]
        """A vehicle's last-known state (NotFoundError for an unknown one)."""
        return _fleet.Tracker_get(self, vehicle_id)

    def vehicles(self) -> RecordList:
        """Every vehicle's state, in order of first appearance."""
        return RecordList(_fleet.Tracker_vehicle_at(self, i) for i in range(len(self)))

    def vehicle_zones(self, vehicle_id: str) -> List[int]:  # type: ignore[override]
        """Keys of the zones the vehicle is in, ascending."""
        return _fleet.Tracker_vehicle_zones(self, vehicle_id)

    def zones_of(self, vehicle_id: str) -> List[Zone]:
        """The zones the vehicle is in (from the tracker's zone set)."""
        keys = _fleet.Tracker_vehicle_zones(self, vehicle_id)
        if not keys or self._zones is None:
            return []
        with self._zones.snapshot() as snap:
            return [snap.get(k) for k in keys]

    def __len__(self) -> int:
        return _fleet.Tracker_count(self)

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """Counters: fixes, late, duplicates, rejected, vehicles, events, alerts."""
        return _fleet.Tracker_stats(self)


_swig.set_proxy_class("fleetswig_ruleset *", RuleSet)
_swig.set_proxy_class("fleetswig_tripdet *", TripDetector)
_swig.set_proxy_class("fleetswig_downsampler *", Downsampler)
_swig.set_proxy_class("fleetswig_tracker *", Tracker)
