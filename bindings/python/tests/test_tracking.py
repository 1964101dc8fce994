"""Rules, trip detection, hourly aggregates and the tracker, over the scripted
scenario of tests/data/tracking (the same one fleetctl's integration test
checks): the Python objects must say exactly what fleetctl prints."""

import json
import threading

import pytest

import fleet

TRIP_PARAMS = dict(min_trip_duration_s=60, min_trip_distance_m=200, min_parking_s=300,
                   max_gap_s=3600)


def clean_records(tracking_dir):
    """The scenario without its three invalid lines (not JSON, lat 95, no vehicle id)."""
    recs = fleet.read_jsonl(str(tracking_dir / "fleet.jsonl"), errors="skip")
    return [r for r in recs if r.vehicle_id]


def expected(tracking_dir, name):
    with open(tracking_dir / name) as f:
        return [json.loads(line) for line in f if line.strip()]


def r(v, n):
    return round(v, n)


def trip_json(t):
    """A Trip in the shape `fleetctl trips --json` prints."""
    return {"type": "trip", "vehicle_id": t.vehicle_id, "start": fleet.format_time(t.start_ns),
            "end": fleet.format_time(t.end_ns), "distance_m": r(t.distance_m, 1),
            "duration_s": r(t.duration_s, 3), "moving_s": r(t.moving_s, 3),
            "idle_s": r(t.idle_s, 3), "max_speed_kmh": r(t.max_speed_kmh, 2),
            "avg_speed_kmh": r(t.avg_speed_kmh, 2), "fuel_l": r(t.fuel_l, 3) if t.fuel_source else None,
            "start_lat": r(t.start_lat, 7), "start_lng": r(t.start_lng, 7),
            "end_lat": r(t.end_lat, 7), "end_lng": r(t.end_lng, 7), "end_reason": t.end_reason,
            "fixes": t.fixes, "distance_source": t.distance_source}


def stop_json(s):
    return {"type": "stop", "vehicle_id": s.vehicle_id, "start": fleet.format_time(s.start_ns),
            "end": fleet.format_time(s.end_ns), "duration_s": r(s.duration_s, 3),
            "lat": r(s.lat, 7), "lng": r(s.lng, 7), "open": s.open,
            "after_data_gap": s.after_data_gap, "from_first_fix": s.from_first_fix}


def event_json(ev):
    """A TrackerEvent in the shape `fleetctl events` prints."""
    if ev.type == "stop":
        return stop_json(ev.stop)
    if ev.type == "trip_end":
        return trip_json(ev.trip)
    out = {"type": ev.type, "vehicle_id": ev.vehicle_id, "ts": fleet.format_time(ev.ts_ns)}
    if ev.type in ("zone_enter", "zone_exit"):
        out.update(zone_id=ev.zone_id, zone_name=ev.zone_name)
        if ev.type == "zone_exit":
            out["dwell_s"] = r(ev.dwell_s, 3)
    if ev.type == "alert":
        a = ev.alert
        out.update(rule=a.rule_id, rule_type=a.rule_type, severity=a.severity,
                   message=a.message, value=r(a.value, 3), limit=r(a.limit, 3))
        if a.zone_id is not None:
            out.update(zone_id=a.zone_id, zone_name=a.zone_name)
    out.update(lat=r(ev.lat, 7), lng=r(ev.lng, 7))
    return out


def run_events(tracking_dir, tick_s=1, **kw):
    """Feed the scenario as `fleetctl events` does: the clock (the newest ts
    seen) ticks the tracker before a fix that moves it by tick_s or more."""
    events = []
    tracker = fleet.Tracker(events.append, zones=fleet.ZoneSet.from_file(
        str(tracking_dir / "zones.geojson")), rules=fleet.RuleSet.from_file(
        str(tracking_dir / "rules.json")), trip=TRIP_PARAMS, **kw)
    clock = last_tick = None
    tick_ns = int(tick_s * 1e9)
    for rec in clean_records(tracking_dir):
        if tick_ns and clock is not None and rec.ts_ns > clock and rec.ts_ns - last_tick >= tick_ns:
            tracker.tick(rec.ts_ns)
            last_tick = rec.ts_ns
        if clock is None or rec.ts_ns > clock:
            if clock is None:
                last_tick = rec.ts_ns
            clock = rec.ts_ns
        tracker.feed(rec)
    tracker.flush()
    return tracker, events


# ---- trips -----------------------------------------------------------------

def test_trips_match_fleetctl(tracking_dir):
    got = fleet.trips(clean_records(tracking_dir), **TRIP_PARAMS)
    shaped = [trip_json(x) if isinstance(x, fleet.Trip) else stop_json(x) for x in got]
    assert shaped == expected(tracking_dir, "expected-trips.jsonl")
    trip = [x for x in got if isinstance(x, fleet.Trip)][0]
    assert trip.event == "trip_end" and trip.type == "trip"
    assert trip.fuel_source is None
    assert trip.start_odometer_km is None
    assert trip.to_dict()["fixes"] == 9
    assert len(got.to_records()) == 4


def test_trips_from_payload_lines_and_consumption(tracking_dir):
    lines = [r.to_json() + "\n" for r in clean_records(tracking_dir)] + ["\n"]
    got = fleet.trips(lines, stops=False, consumption_l_per_100km=10)
    assert [type(x) for x in got] == [fleet.Trip]
    # Default parameters (min 180 s) still make one trip: 5.3374 km x 10 l/100 km.
    assert round(got[0].fuel_l, 3) == 0.534
    assert got[0].fuel_source == "estimate"


def test_trips_minimum_duration_leaves_only_stops(tracking_dir):
    got = fleet.trips(clean_records(tracking_dir), min_trip_duration_s=600)
    assert [type(x) for x in got] == [fleet.Stop, fleet.Stop]
    assert (got[0].vehicle_id, got[0].duration_s) == ("v-1", 3000.0)


def test_trips_vehicle_id_for_records_without_one():
    recs = [{"ts": i * 60 * 10**9, "lat": 0.0, "lng": 0.006 * i, "speed": 40.0}
            for i in range(10)]
    got = fleet.trips(recs, vehicle_id="solo", min_trip_duration_s=60, stops=False)
    assert [t.vehicle_id for t in got] == ["solo"]
    assert got[0].end_reason == "flush"


@pytest.mark.parametrize("params,cls,text", [
    ({"min_parking_s": -1}, fleet.RangeError, "min_parking_s"),
    ({"min_parkng_s": 1}, fleet.InvalidArgument, "unknown member 'min_parkng_s'"),
    ({"min_parking_s": "long"}, fleet.WrongTypeError, "min_parking_s"),
    ({"use_ignition": 2}, fleet.WrongTypeError, "use_ignition"),
])
def test_trip_parameter_errors(params, cls, text):
    with pytest.raises(cls, match=text):
        fleet.check_trip_params(**params)
    with pytest.raises(cls, match=text):
        fleet.TripDetector(lambda ev: None, **params)
    fleet.check_trip_params(min_parking_s=10)


def test_trip_detector_statuses_and_stats(tracking_dir):
    events = []
    recs = fleet.read_jsonl(str(tracking_dir / "fleet.jsonl"), errors="skip")
    with fleet.TripDetector(events.append, **TRIP_PARAMS) as det:
        statuses = [det.feed(rec) for rec in recs if rec.vehicle_id and rec.lat < 90]
        det.tick("2026-05-21T09:00:00Z")
        det.flush("v-1")
        det.flush()
        stats = det.stats()
    # Line 7 repeats line 6's time, line 11 (08:03:30) is older than 08:05.
    assert statuses.count("duplicate") == 1 and statuses.count("stale") == 1
    assert stats == {"fixes": 20, "stale": 1, "duplicates": 1, "rejected": 0, "trips": 1,
                     "stops": 3, "vehicles": 2}
    assert [e.event for e in events] == ["stop", "trip_start", "trip_end", "stop", "stop"]
    with pytest.raises(fleet.ClosedError):
        det.feed(events and clean_records(tracking_dir)[0])


def test_trip_detector_vehicle_params():
    got = []
    det = fleet.TripDetector(got.append, min_trip_duration_s=60)
    det.set_vehicle_params("v-1", min_trip_duration_s=60, tank_l=50)
    for i in range(10):
        det.feed(fleet.Telemetry("v-1", i * 60 * 10**9, 0.0, 0.006 * i, speed=40.0,
                                 fuel_level=80.0 - i))
    det.flush()
    trip = [t for t in got if t.event == "trip_end"][0]
    assert trip.fuel_source == "level"
    # From the first fix (80 %, already moving) to the last (71 %) of a 50 l tank.
    assert trip.fuel_l == pytest.approx((80 - 71) / 100 * 50)
    with pytest.raises(fleet.RangeError, match="tank_l"):
        det.set_vehicle_params("v-1", tank_l=-1)


# ---- rules -----------------------------------------------------------------

def test_rule_sets(tracking_dir):
    rs = fleet.RuleSet.from_file(str(tracking_dir / "rules.json"))
    assert len(rs) == 5
    assert rs[0] == {"id": "speeding", "type": "overspeed", "severity": "critical",
                     "cooldown_s": 0.0, "threshold_kmh": 80.0, "hysteresis_kmh": 5.0,
                     "min_duration_s": 0.0, "zone_limits": True}
    assert rs[-1]["vehicles"] == ["v-2"]
    assert rs.find("depot-in")["zones"] == ["depot"]
    with pytest.raises(fleet.NotFoundError):
        rs.find("nope")
    with pytest.raises(IndexError):
        rs[5]
    again = fleet.RuleSet.from_json(rs.to_json())
    assert list(again) == list(rs)
    built = fleet.RuleSet(list(rs))
    assert list(built) == list(rs)
    assert list(fleet.RuleSet(json.loads(rs.to_json()))) == list(rs)


@pytest.mark.parametrize("rule,cls,text", [
    ({"id": "f", "type": "overspeed", "threshold_kmh": 0}, fleet.RangeError, "threshold_kmh"),
    ({"id": "f", "type": "teleport"}, fleet.InvalidArgument, "teleport"),
    ({"id": "f", "type": "offline"}, fleet.RangeError, "after_s"),
    ({"type": "offline", "after_s": 5}, fleet.MissingError, "id"),
    ({"id": "f", "type": "offline", "after_s": 5, "vehicles": ["bad id"]},
     fleet.InvalidArgument, "bad id"),
])
def test_rule_errors(rule, cls, text):
    rs = fleet.RuleSet()
    with pytest.raises(cls, match=text):
        rs.add(rule)
    assert len(rs) == 0


def test_rule_set_json_errors_and_freezing():
    with pytest.raises(fleet.ParseError):
        fleet.RuleSet.from_json("{")
    with pytest.raises(fleet.InputOutputError):
        fleet.RuleSet.from_file("/nonexistent/rules.json")
    rs = fleet.RuleSet([{"id": "a", "type": "ignition_on"}])
    with pytest.raises(fleet.ExistsError):
        rs.add({"id": "a", "type": "ignition_off"})
    fleet.Tracker(lambda ev: None, rules=rs)
    with pytest.raises(fleet.StateError):
        rs.add({"id": "b", "type": "ignition_off"})


# ---- hourly ----------------------------------------------------------------

def test_hourly_aggregates(tracking_dir):
    hours = fleet.hourly(clean_records(tracking_dir))
    by_vehicle = {h.vehicle_id: h for h in hours}
    assert sorted(by_vehicle) == ["v-1", "v-2"]
    v1, v2 = by_vehicle["v-1"], by_vehicle["v-2"]
    assert fleet.format_time(v1.hour_ns) == "2026-05-21T08:00:00Z"
    assert (v1.count, round(v1.distance_m, 1), v1.revision) == (15, 5337.4, 0)
    assert (v2.count, v2.distance_m) == (6, 0.0)
    assert v2.battery_min_v == 11.5 and v2.battery_max_v == 12.5
    assert v1.battery_min_v is None and v1.fuel_min_pct is None
    assert v1.hour.hour == 8


def test_downsampler_statuses():
    got = []
    with fleet.Downsampler(got.append, grace_s=0) as ds:
        base = fleet.parse_time("2026-05-21T08:00:00Z")
        assert ds.feed(fleet.Telemetry("v", base + 10**9, 0.0, 0.0, speed=10.0)) == "accepted"
        assert ds.feed(fleet.Telemetry("v", base + 10**9, 0.0, 0.0, speed=10.0)) == "duplicate"
        assert ds.feed(fleet.Telemetry("v", base, 0.0, 0.0, speed=20.0)) == "late"
        ds.tick(base + 3601 * 10**9)
        assert [h.count for h in got] == [2] and got[0].speed_mean_kmh == 15.0
        assert ds.stats()["hours"] == 1
    with pytest.raises(fleet.RangeError, match="grace_s"):
        fleet.check_hourly_params(grace_s=-1)


# ---- tracker ---------------------------------------------------------------

def test_tracker_events_match_fleetctl(tracking_dir):
    tracker, events = run_events(tracking_dir)
    assert [event_json(e) for e in events] == expected(tracking_dir, "expected-events.jsonl")
    late = [e for e in events if e.type == "late"][0]
    assert late.record.lng == 0.009 and late.record.vehicle_id == "v-1"
    assert tracker.stats() == {"fixes": 20, "late": 1, "duplicates": 1, "rejected": 0,
                               "vehicles": 2, "events": 18, "alerts": 6}


def test_tracker_without_ticks_has_no_offline_alerts(tracking_dir):
    _, events = run_events(tracking_dir, tick_s=0)
    want = [e for e in expected(tracking_dir, "expected-events.jsonl") if e.get("rule") != "silent"]
    assert [event_json(e) for e in events] == want


def test_tracker_debounce(tracking_dir):
    _, events = run_events(tracking_dir, tick_s=0, zone_debounce_fixes=2)
    zone = [event_json(e) for e in events if e.type.startswith("zone")]
    assert zone == [
        {"type": "zone_enter", "vehicle_id": "v-1", "ts": "2026-05-21T08:07:00Z",
         "zone_id": "bridge", "zone_name": "Bridge", "lat": 0, "lng": 0.03},
        {"type": "zone_exit", "vehicle_id": "v-1", "ts": "2026-05-21T08:09:00Z",
         "zone_id": "bridge", "zone_name": "Bridge", "dwell_s": 120, "lat": 0, "lng": 0.042}]


def test_tracker_hourly_events(tracking_dir):
    _, events = run_events(tracking_dir, tick_s=0, hourly=True)
    hours = [e.hourly for e in events if e.type == "hourly"]
    assert [(h.vehicle_id, h.count, round(h.distance_m, 1)) for h in hours] == [
        ("v-1", 15, 5337.4), ("v-2", 6, 0.0)]


def test_tracker_state_queries(tracking_dir):
    zones = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    tracker = fleet.Tracker(lambda ev: None, zones=zones, trip=TRIP_PARAMS)
    assert tracker.zones is zones
    for rec in clean_records(tracking_dir):
        tracker.feed(rec)
        if rec.vehicle_id == "v-1" and rec.time == "2026-05-21T08:08:00Z":
            assert tracker.vehicle_zones("v-1") == [zones.key("bridge")]
            assert [z.id for z in tracker.zones_of("v-1")] == ["bridge"]
            state = tracker.get("v-1")
            assert (state.status, state.in_trip, state.zones) == ("moving", True, 1)
    assert len(tracker) == 2
    states = tracker.vehicles()
    assert [s.vehicle_id for s in states] == ["v-1", "v-2"]
    v1 = tracker.get("v-1")
    assert (v1.time if hasattr(v1, "time") else fleet.format_time(v1.ts_ns)) == \
        "2026-05-21T08:50:00Z"
    assert (v1.lng, v1.speed, v1.ignition, v1.status, v1.fixes) == (0.048, 0.0, False,
                                                                   "stopped", 14)
    assert states.to_records()[1]["vehicle_id"] == "v-2"
    assert tracker.vehicle_zones("v-2") == []
    with pytest.raises(fleet.NotFoundError):
        tracker.get("v-3")
    with pytest.raises(fleet.NotFoundError):
        tracker.vehicle_zones("v-3")


def test_tracker_rejects_bad_records():
    tracker = fleet.Tracker(lambda ev: None)
    with pytest.raises(fleet.InvalidArgument, match="vehicle_id"):
        tracker.feed('{"v":1,"ts":"2026-05-21T10:30:00Z","lat":1,"lng":2}')
    with pytest.raises(fleet.RangeError):
        tracker.feed(fleet.Telemetry("v-1", 0, 95.0, 0.0))
    with pytest.raises(fleet.ParseError):
        tracker.feed("garbage")
    assert tracker.stats()["rejected"] == 2


def test_set_rules_and_vehicle_params():
    events = []
    tracker = fleet.Tracker(events.append)
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.0, ignition=True))
    tracker.set_rules(fleet.RuleSet([{"id": "off", "type": "ignition_off"}]))
    tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.0, ignition=False))
    assert [e.alert.rule_id for e in events if e.type == "alert"] == ["off"]
    tracker.set_rules(None)
    tracker.feed(fleet.Telemetry("v-1", 2 * 10**9, 0.0, 0.0, ignition=True))
    tracker.feed(fleet.Telemetry("v-1", 3 * 10**9, 0.0, 0.0, ignition=False))
    assert len([e for e in events if e.type == "alert"]) == 1
    tracker.set_vehicle_params("v-1", min_trip_duration_s=10)
    with pytest.raises(fleet.RangeError):
        tracker.set_vehicle_params("v-1", min_trip_duration_s=-10)


# ---- callbacks ---------------------------------------------------------------

class Boom(Exception):
    pass


def test_callback_exception_propagates_out_of_feed_tick_flush():
    seen = []
    raise_on = {"alert"}

    def on_event(ev):
        seen.append(ev.type)
        if ev.type in raise_on:
            raise Boom(ev.type)

    rules = fleet.RuleSet([{"id": "on", "type": "ignition_on"},
                           {"id": "quiet", "type": "offline", "after_s": 60}])
    tracker = fleet.Tracker(on_event, rules=rules, trip=dict(min_trip_duration_s=60))
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.0, speed=0.0, ignition=False))
    with pytest.raises(Boom, match="alert") as info:
        tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.0, speed=0.0, ignition=True))
    # The traceback reaches into the callback.
    assert info.traceback[-1].name == "on_event"
    # The tracker goes on afterwards.
    raise_on.clear()
    for i in range(2, 12):
        tracker.feed(fleet.Telemetry("v-1", i * 60 * 10**9, 0.0, 0.006 * i, speed=40.0,
                                     ignition=True))
    assert "trip_start" in seen
    raise_on.add("alert")
    with pytest.raises(Boom, match="alert"):
        tracker.tick(30 * 60 * 10**9)
    raise_on.clear()
    raise_on.add("trip_end")
    with pytest.raises(Boom, match="trip_end"):
        tracker.flush()
    assert seen.count("alert") == 2


def test_callback_exception_propagates_from_trip_detector_and_downsampler():
    def fail(ev):
        raise KeyError("no")

    det = fleet.TripDetector(fail, min_trip_duration_s=0, min_trip_distance_m=0)
    det.feed(fleet.Telemetry("v", 0, 0.0, 0.0, speed=0.0))
    with pytest.raises(KeyError):
        for i in range(1, 5):
            det.feed(fleet.Telemetry("v", i * 10**9, 0.0, 0.001 * i, speed=50.0))
    ds = fleet.Downsampler(fail)
    ds.feed(fleet.Telemetry("v", 0, 0.0, 0.0))
    with pytest.raises(KeyError):
        ds.flush()


def test_forbidden_and_allowed_calls_from_a_callback():
    outcome = {}
    tracker = None

    def on_event(ev):
        outcome["state"] = tracker.get("v-1").status   # a getter: allowed
        outcome["count"] = len(tracker)
        with pytest.raises(fleet.StateError, match="own callback"):
            tracker.feed(fleet.Telemetry("v-2", 0, 0.0, 0.0))
        outcome["checked"] = True

    tracker = fleet.Tracker(on_event, rules=fleet.RuleSet([{"id": "on", "type": "ignition_on"}]))
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.0, ignition=False))
    tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.0, ignition=True))
    assert outcome == {"state": "idle", "count": 1, "checked": True}


def test_close_from_a_callback_takes_effect_after_the_call():
    tracker = None

    def on_event(ev):
        tracker.close()

    tracker = fleet.Tracker(on_event, rules=fleet.RuleSet([{"id": "on", "type": "ignition_on"}]))
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.0, ignition=False))
    tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.0, ignition=True))
    assert tracker.closed
    with pytest.raises(fleet.ClosedError):
        tracker.feed(fleet.Telemetry("v-1", 2 * 10**9, 0.0, 0.0))


def test_callback_must_be_callable():
    with pytest.raises(fleet.WrongTypeError, match="callable"):
        fleet.Tracker(42)


# ---- parents and threads -----------------------------------------------------

def test_tracker_keeps_its_zone_set_alive(tracking_dir):
    events = []
    # The only reference to the set is the tracker's.
    tracker = fleet.Tracker(events.append, zones=(tracking_dir / "zones.geojson").read_text())
    import gc
    gc.collect()
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.0))
    tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.012))
    assert [e.zone_id for e in events if e.type == "zone_enter"] == ["depot"]


def test_tracker_after_its_zone_set_was_closed(tracking_dir):
    zones = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    tracker = fleet.Tracker(lambda ev: None, zones=zones)
    tracker.feed(fleet.Telemetry("v-1", 0, 0.0, 0.012))
    zones.close()
    with pytest.raises(fleet.ClosedError, match="its ZoneSet was closed"):
        tracker.feed(fleet.Telemetry("v-1", 10**9, 0.0, 0.0))
    # Reading state does not need the zones... but the tracker refuses
    # everything once its parent is gone, consistently.
    with pytest.raises(fleet.ClosedError):
        tracker.get("v-1")
    tracker.close()
    with pytest.raises(fleet.ClosedError):
        fleet.Tracker(lambda ev: None, zones=zones)


def test_tracker_used_by_several_threads_is_serialised():
    counts = {}
    lock = threading.Lock()

    def on_event(ev):
        with lock:
            counts[ev.type] = counts.get(ev.type, 0) + 1

    tracker = fleet.Tracker(on_event, rules=fleet.RuleSet(
        [{"id": "on", "type": "ignition_on"}, {"id": "off", "type": "ignition_off"}]))

    def worker(n):
        for i in range(300):
            tracker.feed(fleet.Telemetry("t-%d" % n, i * 10**9, 0.0, 0.0, ignition=bool(i % 2)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = tracker.stats()
    assert stats["fixes"] == 1200 and stats["vehicles"] == 4
    # Each vehicle: 299 ignition changes after its first report.
    assert counts["alert"] == 4 * 299 == stats["alerts"]
