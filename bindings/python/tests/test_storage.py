"""The spool and the ingest log: order, acknowledgement, persistence across
reopening, bounds, repairs of a torn tail, callbacks."""

import glob
import os

import pytest

import fleet


def last_segment(directory):
    return sorted(glob.glob(os.path.join(directory, "*.seg")))[-1]


def test_spool_fifo_and_persistence(tmp_path):
    d = str(tmp_path / "spool")
    with fleet.Spool(d) as s:
        assert s.repairs is None
        assert [s.append(b"a"), s.append("b"), s.append(bytearray(b"c"))] == [1, 2, 3]
        assert s.peek() == (1, b"a")
        assert s.peek() == (1, b"a")  # again, until acknowledged
        s.ack(1)
        assert s.peek() == (2, b"b")
        with pytest.raises(fleet.InvalidArgument):
            s.ack(9)  # never appended
        stats = s.stats()
        assert (stats["records"], stats["next_seq"], stats["acked_seq"]) == (2, 4, 1)
    # Unacknowledged records survive a reopen; acknowledged ones do not come back.
    with fleet.Spool(d) as s:
        assert s.peek() == (2, b"b")
        delivered = []

        def send(data):
            if data == b"c":
                raise ConnectionError("server down")
            delivered.append(data)

        with pytest.raises(ConnectionError):
            s.drain(send)
        assert delivered == [b"b"]
        assert s.peek() == (3, b"c")  # not acknowledged: delivered again later
        assert s.drain(delivered.append) == 1
        assert s.peek() is None
        assert s.append(b"d") == 4  # numbers are never reused
    with pytest.raises(fleet.ClosedError):
        s.peek()


def test_spool_bounds(tmp_path):
    with fleet.Spool(str(tmp_path / "s"), segment_bytes=4096, max_bytes=8192) as s:
        with pytest.raises(fleet.TooBigError):
            s.append(b"x" * 9000)
        s.append(b"x" * 3000)
        s.append(b"x" * 3000)
        with pytest.raises(fleet.FullError):
            for _ in range(3):
                s.append(b"x" * 3000)
        assert s.stats()["rejected_full"] == 1
    events = []
    with fleet.Spool(str(tmp_path / "d"), segment_bytes=4096, max_bytes=8192, full="drop_oldest",
                     on_event=lambda *e: events.append(e)) as s:
        for _ in range(4):
            s.append(b"y" * 3000)
        assert s.stats()["dropped_records"] >= 1
    assert events and events[0][0] == "dropped" and events[0][1] >= 1 and "spool" in events[0][2]
    with pytest.raises(fleet.InvalidArgument, match="full_policy"):
        fleet.Spool(str(tmp_path / "e"), full="overwrite")


def test_spool_is_locked_and_repairs_a_torn_tail(tmp_path):
    d = str(tmp_path / "s")
    with fleet.Spool(d, fsync="always") as s:
        s.append(b"first")
        s.append(b"second")
        with pytest.raises(fleet.StateError):
            fleet.Spool(d)
    # A crash in the middle of an append: half a record at the end.
    with open(last_segment(d), "ab") as f:
        f.write(b"\x46\x4c\x53\x50\x00\x00")
    events = []
    with fleet.Spool(d, on_event=lambda *e: events.append(e)) as s:
        assert s.repairs and "torn" in s.repairs
        assert [e[0] for e in events] == ["torn_tail"]
        assert s.stats()["torn_truncated"] == 1
        assert s.peek() == (1, b"first")
        assert s.append(b"third") == 3


def test_spool_calls_from_its_event_callback_are_refused(tmp_path, monkeypatch):
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: unraisable.append(u.exc_value))
    spool = None

    def on_event(event, records, message):
        spool.stats()  # would deadlock on the spool's lock: refused

    spool = fleet.Spool(str(tmp_path / "s"), segment_bytes=4096, max_bytes=8192,
                        full="drop_oldest", on_event=on_event)
    for _ in range(4):
        spool.append(b"z" * 3000)
    spool.close()
    assert unraisable and isinstance(unraisable[0], fleet.StateError)


def test_ingest_log_replay_and_checkpoint(tmp_path):
    d = str(tmp_path / "wal")
    with fleet.IngestLog(d, sync_interval_ms=0) as log:
        seqs = [log.append("fleet/v-%d/telemetry" % i, b'{"i":%d}' % i) for i in range(5)]
        assert seqs == [1, 2, 3, 4, 5]
        log.checkpoint(2)
        log.sync()
        with pytest.raises(fleet.InvalidArgument):
            log.checkpoint(99)
        stats = log.stats()
        assert (stats["checkpoint_seq"], stats["synced_seq"], stats["appended"]) == (2, 5, 5)
    with fleet.IngestLog(d) as log:
        got = []
        log.replay(got.append)
        assert [(r.seq, r.topic, r.payload) for r in got] == [
            (3, "fleet/v-2/telemetry", b'{"i":2}'), (4, "fleet/v-3/telemetry", b'{"i":3}'),
            (5, "fleet/v-4/telemetry", b'{"i":4}')]
        assert all(r.recv_time_ns > 0 for r in got)

        def process(rec):
            if rec.seq == 4:
                raise RuntimeError("stop at 4")
            log.checkpoint(rec.seq)  # allowed from the replay callback

        with pytest.raises(RuntimeError, match="stop at 4"):
            log.replay(process)
        assert log.stats()["checkpoint_seq"] == 3
        assert log.append("fleet/v-9/telemetry", b"") == 6


def test_ingest_log_repairs_a_torn_tail(tmp_path):
    d = str(tmp_path / "wal")
    with fleet.IngestLog(d, sync_every=1) as log:
        log.append("fleet/v-1/telemetry", b"a" * 100)
        log.append("fleet/v-1/telemetry", b"b" * 100)
        end = log.stats()["appended_bytes"]
    # Damage the second record's payload, as a torn write would leave it.
    seg = last_segment(d)
    with open(seg, "r+b") as f:
        data = f.read()
        pos = data.rindex(b"b" * 100)
        f.seek(pos + 50)
        f.write(b"X")
    events = []
    with fleet.IngestLog(d, on_event=lambda *e: events.append(e)) as log:
        assert log.repairs is not None
        assert events and events[0][0] == "torn_tail"
        got = []
        log.replay(got.append)
        assert [r.payload for r in got] == [b"a" * 100]
    assert end == 200
