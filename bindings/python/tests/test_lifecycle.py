"""Handle lifetimes (close, with, use after close, garbage-collection order)
and reference counting over many iterations."""

import ctypes
import gc
import sys
import tracemalloc
import weakref

import pytest

import fleet
from fleet import auth

PAYLOAD = (b'{"v":1,"vehicle_id":"v-001","ts":"2026-05-21T10:30:00Z","lat":23.8103,'
           b'"lng":90.4125,"speed":45.2,"heading":180,"ignition":true,"rpm":2100,'
           b'"heading_x":true,"bad_field":"text"}')


def _handles(tmp_path):
    """One open object of every handle class, with a call that uses it."""
    zs = fleet.ZoneSet()
    zs.add(fleet.Zone.circle("c", 0, 0, 10))
    cfg = fleet.InfluxConfig(database="db", url="http://127.0.0.1:9")
    a = auth.Auth(str(tmp_path))
    return [
        (fleet.Zone.circle("z", 0, 0, 10), lambda h: h.contains(0, 0)),
        (zs, lambda h: h.lookup(0, 0)),
        (zs.snapshot(), lambda h: h.keys()),
        (fleet.RuleSet(), lambda h: len(h)),
        (fleet.TripDetector(lambda ev: None), lambda h: h.stats()),
        (fleet.Downsampler(lambda ev: None), lambda h: h.stats()),
        (fleet.Tracker(lambda ev: None), lambda h: h.stats()),
        (fleet.InfluxWriter(cfg), lambda h: h.stats()),
        (fleet.History(cfg), lambda h: h.stats()),
        (fleet.MqttClient(), lambda h: h.stats()),
        (auth.Claims("alice"), lambda h: h.subject),
        (auth.Verifier(), lambda h: len(h)),
        (auth.Signer(b"k" * 32), lambda h: h.ttl()),
        (auth.Users(str(tmp_path / "users.json")), lambda h: len(h)),
        (a, lambda h: h.users),
        (fleet.Gateway(auth.Verifier()), lambda h: h.stats()),
        (fleet.Spool(str(tmp_path / "spool")), lambda h: h.stats()),
        (fleet.IngestLog(str(tmp_path / "wal")), lambda h: h.stats()),
    ]


def test_every_handle_refuses_calls_after_close(tmp_path):
    for handle, use in _handles(tmp_path):
        name = type(handle).__name__
        use(handle)
        assert not handle.closed, name
        assert repr(handle).endswith("open>") or "closed" not in repr(handle), name
        handle.close()
        assert handle.closed, name
        assert "closed" in repr(handle), name
        with pytest.raises(fleet.ClosedError, match="%s is closed" % name):
            use(handle)
        handle.close()  # a second close does nothing


def test_with_closes(tmp_path):
    with fleet.Tracker(lambda ev: None) as t:
        t.feed(fleet.Telemetry("v", 0, 0.0, 0.0))
    assert t.closed
    with pytest.raises(RuntimeError):
        with fleet.ZoneSet() as zs:
            raise RuntimeError("inside")
    assert zs.closed


def test_garbage_collection_order_cannot_free_a_parent_first(tracking_dir, tmp_path):
    zones = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    alive = weakref.ref(zones)
    events = []
    tracker = fleet.Tracker(events.append, zones=zones)
    del zones
    gc.collect()
    # The tracker holds the set: the Python object and its C object live on.
    assert alive() is not None
    tracker.feed(fleet.Telemetry("v", 0, 0.0, 0.012))
    assert [e.zone_id for e in events] == ["depot"]
    del tracker
    gc.collect()
    assert alive() is None

    # The parts of an auth bundle outlive the Python object of the bundle.
    bundle = auth.Auth(str(tmp_path))
    users = bundle.users
    signer = bundle.signer
    del bundle
    gc.collect()
    users.add("eve", "password1")
    assert auth.Auth(str(tmp_path)).verify(signer.issue(users.claims_of("eve"))).subject == "eve"


def test_parts_refuse_calls_once_their_parent_is_closed(tmp_path):
    bundle = auth.Auth(str(tmp_path))
    users, verifier, signer = bundle.users, bundle.verifier, bundle.signer
    bundle.close()
    with pytest.raises(fleet.ClosedError, match="Users: its Auth was closed"):
        len(users)
    with pytest.raises(fleet.ClosedError, match="Verifier: its Auth was closed"):
        verifier.verify("x.y.z")
    with pytest.raises(fleet.ClosedError, match="Signer: its Auth was closed"):
        signer.ttl()
    with pytest.raises(fleet.ClosedError):
        bundle.users
    # The parts can still be closed (the bundle is freed after the last one).
    users.close()
    verifier.close()
    signer.close()


def _mallinfo_used():
    """Bytes in use in the C heap (glibc mallinfo2), or None."""
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                     "uordblks", "fordblks", "keepcost")]

    fn.restype = Mallinfo2
    info = fn()
    return info.uordblks + info.hblkhd


def _measure(fn, n):
    """Growth over n calls, after warming up: (Python blocks still allocated,
    their bytes, C heap bytes or None). A per-call leak of any Python object
    shows as n or more blocks; the bytes may also hold one-off growth of
    interpreter tables. The C heap is measured in a pass of its own, since
    tracemalloc keeps its records there."""
    for _ in range(max(200, n // 10)):
        fn()
    gc.collect()
    c_before = _mallinfo_used()
    for _ in range(n):
        fn()
    gc.collect()
    c_after = _mallinfo_used()
    c_grown = None if c_before is None else c_after - c_before
    tracemalloc.start()
    snap = tracemalloc.take_snapshot()
    for _ in range(n):
        fn()
    gc.collect()
    diff = tracemalloc.take_snapshot().compare_to(snap, "filename")
    tracemalloc.stop()
    blocks = sum(s.count_diff for s in diff)
    size = sum(s.size_diff for s in diff)
    return blocks, size, c_grown


def _assert_flat(name, blocks, size, c_grown, n):
    assert blocks < n // 100, "%s: %d Python blocks more after %d calls" % (name, blocks, n)
    assert size < 2_000_000, "%s: %d bytes more after %d calls" % (name, size, n)
    if c_grown is not None:
        assert c_grown < 4 * n, "%s: C heap grew %d bytes over %d calls" % (name, c_grown, n)


def test_no_growth_over_10000_parse_calls():
    cls_refs = sys.getrefcount(fleet.Telemetry)
    payload_refs = sys.getrefcount(PAYLOAD)

    def parse():
        rec = fleet.parse(PAYLOAD)
        assert rec.warnings and rec.extras
        rec.to_dict()

    _assert_flat("parse", *_measure(parse, 10_000), 10_000)
    # (counted outside the asserts: pytest's rewriting holds a temporary reference)
    now_cls, now_payload = sys.getrefcount(fleet.Telemetry), sys.getrefcount(PAYLOAD)
    assert now_cls == cls_refs
    assert now_payload == payload_refs

    def fail():
        with pytest.raises(fleet.RangeError):
            fleet.parse(b'{"v":1,"ts":"2026-05-21T10:30:00Z","lat":95,"lng":0}')

    _assert_flat("failing parse", *_measure(fail, 10_000), 10_000)


def test_no_growth_over_1000_tracker_feeds_with_callbacks(tracking_dir):
    events = {"n": 0}
    kept = []

    def on_event(ev):
        events["n"] += 1
        if len(kept) < 5:
            kept.append(ev)

    cb_refs = sys.getrefcount(on_event)
    zones = fleet.ZoneSet.from_file(str(tracking_dir / "zones.geojson"))
    rules = fleet.RuleSet([{"id": "on", "type": "ignition_on"},
                           {"id": "off", "type": "ignition_off"},
                           {"id": "depot", "type": "zone_enter"}])
    tracker = fleet.Tracker(on_event, zones=zones, rules=rules,
                            trip=dict(min_trip_duration_s=0, min_trip_distance_m=0))
    held = sys.getrefcount(on_event)
    assert held == cb_refs + 1  # the tracker holds it once
    state = {"i": 0}

    def feed():
        i = state["i"]
        state["i"] += 1
        # Back and forth through the depot, the ignition switching: events
        # (zone, alert, trip, stop) on most fixes.
        tracker.feed(fleet.Telemetry("v-1", i * 10**9, 0.0, 0.012 if i % 2 else 0.0,
                                     speed=30.0, ignition=bool(i % 4 < 2)))

    _assert_flat("tracker feed", *_measure(feed, 1000), 1000)
    assert events["n"] > 1000
    held = sys.getrefcount(on_event)
    assert held == cb_refs + 1
    events_ref = weakref.ref(kept[0])
    kept.clear()
    gc.collect()
    assert events_ref() is None  # events are plain objects, freed when dropped
    tracker.close()
    released = sys.getrefcount(on_event)
    assert released == cb_refs  # close() releases the callback


def test_callback_exceptions_do_not_leak():
    def on_event(ev):
        raise ValueError("no")

    tracker = fleet.Tracker(on_event, rules=fleet.RuleSet([{"id": "on", "type": "ignition_on"}]))
    state = {"i": 0}

    def feed():
        i = state["i"]
        state["i"] += 1
        try:
            tracker.feed(fleet.Telemetry("v", i * 10**9, 0.0, 0.0, ignition=bool(i % 2)))
        except ValueError:
            pass

    _assert_flat("raising callback", *_measure(feed, 1000), 1000)


def test_handles_are_freed_without_close():
    def make():
        zs = fleet.ZoneSet()
        zs.add(fleet.Zone.circle("c", 0, 0, 10))
        t = fleet.Tracker(lambda ev: None, zones=zs)
        t.feed(fleet.Telemetry("v", 0, 0.0, 0.0))
        snap = zs.snapshot()
        del t, zs, snap

    _assert_flat("handles", *_measure(make, 1000), 1000)
