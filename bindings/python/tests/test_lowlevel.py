"""The small functions of the SWIG layer that the package does not use
directly: enum names, the per-thread error state, GEOS context cleanup."""

import threading

import pytest

import fleet
from fleet import _swig


def test_enum_names():
    assert _swig.zone_kind_name(_swig.FLEET_ZONE_CIRCLE) == "circle"
    assert _swig.zone_kind_name(99) == "unknown"
    assert _swig.rule_type_name(_swig.FLEET_RULE_FUEL_DROP) == "fuel_drop"
    assert _swig.rule_type_name(99) is None
    assert _swig.severity_name(_swig.FLEET_SEVERITY_CRITICAL) == "critical"
    assert _swig.trip_event_type_name(_swig.FLEET_TRIP_EVENT_STOP) == "stop"
    assert _swig.trip_end_reason_name(_swig.FLEET_TRIP_END_DATA_GAP) == "data_gap"
    assert _swig.vehicle_status_name(_swig.FLEET_VEHICLE_IDLE) == "idle"
    assert _swig.tracker_event_type_name(_swig.FLEET_TRACKER_EVENT_HOURLY) == "hourly"
    assert _swig.influx_api_name(_swig.FLEET_INFLUX_API_V3) == "v3"
    assert _swig.auth_alg_name("ES256") == "ES256"
    assert _swig.auth_alg_name(_swig.FLEET_AUTH_ALG_RS256) == "RS256"
    assert _swig.auth_role_name("admin") == "admin"
    assert _swig.auth_token_type_name("refresh") == "refresh"
    with pytest.raises(fleet.InvalidArgument):
        _swig.auth_alg_name("none")


def test_error_state_is_per_thread():
    with pytest.raises(fleet.RangeError):
        fleet.parse('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":95,"lng":0}')
    assert _swig.error_last_code() == _swig.FLEET_ERANGE
    assert _swig.error_last() == "lat: 95 is outside [-90, 90]"
    seen = []
    t = threading.Thread(target=lambda: seen.append(_swig.error_last_code()))
    t.start()
    t.join()
    assert seen == [0]
    _swig.error_clear()
    assert (_swig.error_last_code(), _swig.error_last()) == (0, "")


def test_zone_thread_cleanup_is_harmless():
    z = fleet.Zone.parse({"type": "Feature", "id": "p", "properties": {},
                          "geometry": {"type": "Polygon",
                                       "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}})
    _swig.zone_thread_cleanup()
    # A later zone call on the thread makes a new GEOS context.
    assert z.contains(0.25, 0.5) and not z.contains(0.5, 0.25)
