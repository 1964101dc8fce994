"""Crash-safe on-disk logs: the spool (a bounded FIFO of opaque records, what
the InfluxDB writer keeps undeliverable batches in) and the ingest log (the
write-ahead log of received MQTT messages).

    with fleet.Spool("/var/lib/app/spool", max_bytes=1 << 30) as spool:
        spool.append(batch)
        spool.drain(send)            # peek, send, ack until empty or send raises

    with fleet.IngestLog("/var/lib/app/wal") as log:
        log.replay(process)          # at start: what was not checkpointed
        seq = log.append(topic, payload)
        ...
        log.checkpoint(seq)          # once stored downstream

Records are CRC-checked; a record torn by a crash is cut off at the next
open (``repairs`` says what was repaired). ``on_event(event, records,
message)`` hears of repairs and, for the spool, of records dropped when full
("torn_tail", "corrupt", "dropped", "checkpoint_reset"); it runs on the
thread of the call that found the event, and an exception it raises goes to
sys.unraisablehook.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Union

from . import _fleet, _swig
from ._handle import Handle
from .errors import NotFoundError
from .records import Record

__all__ = ["Spool", "IngestLog", "IngestRecord"]

Data = Union[str, bytes, bytearray, memoryview]
EventCallback = Callable[[str, int, str], Any]


class IngestRecord(Record):
    """A message read back from the ingest log: seq, recv_time_ns, topic, payload."""

    seq: int
    recv_time_ns: int
    topic: str
    payload: bytes


_swig.register_class("IngestRecord", IngestRecord)


def _opts(**members: Any) -> Optional[Dict[str, Any]]:
    opts = {k: v for k, v in members.items() if v is not None}
    return opts or None


class Spool(Handle, _swig.Spool):
    """A crash-safe, bounded, on-disk FIFO of opaque records (thread-safe).

    segment_bytes: roll segments at this size; max_bytes: cap on disk (0:
    none); fsync: "always" (survives power loss), "interval" (the default:
    at most fsync_interval_ms of appends at risk on power loss) or "never";
    full: "reject" (append raises FullError, the default) or "drop_oldest".
    """

    def __init__(self, dir: str, *, segment_bytes: Optional[int] = None,
                 max_bytes: Optional[int] = None, fsync: Optional[str] = None,
                 fsync_interval_ms: Optional[int] = None, full: Optional[str] = None,
                 on_event: Optional[EventCallback] = None) -> None:
        super().__init__(dir, _opts(segment_bytes=segment_bytes, max_bytes=max_bytes,
                                    fsync_policy=fsync, fsync_interval_ms=fsync_interval_ms,
                                    full_policy=full), on_event)

    @property
    def repairs(self) -> Optional[str]:  # type: ignore[override]
        """What opening repaired (torn tail, corrupt regions), or None."""
        return _fleet.Spool_repairs(self)

    def append(self, data: Data) -> int:  # type: ignore[override]
        """Append one record; its sequence number (from 1, never reused)."""
        return _fleet.Spool_append(self, data)

    def peek(self) -> Optional[Tuple[int, bytes]]:  # type: ignore[override]
        """(seq, data) of the oldest unacknowledged record, or None when every
        record is acknowledged. The same record again until it is acked."""
        try:
            data, seq = _fleet.Spool_peek(self)
        except NotFoundError:
            return None
        return seq, data

    def ack(self, seq: int) -> None:  # type: ignore[override]
        """Acknowledge every record up to and including seq."""
        _fleet.Spool_ack(self, seq)

    def drain(self, deliver: Callable[[bytes], Any]) -> int:
        """deliver(data) each unacknowledged record, oldest first, acking each
        one it returns from; stops (without acking) at the first exception,
        which propagates. Returns the number delivered."""
        n = 0
        while True:
            item = self.peek()
            if item is None:
                return n
            seq, data = item
            deliver(data)
            _fleet.Spool_ack(self, seq)
            n += 1

    def sync(self) -> None:  # type: ignore[override]
        """Force appended records and the acknowledged position to disk now."""
        _fleet.Spool_sync(self)

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """records, bytes, segments, next_seq, acked_seq and counters since open."""
        return _fleet.Spool_stats(self)


class IngestLog(Handle, _swig.IngestLog):
    """The write-ahead log of received MQTT messages (thread-safe): append
    first thing in the message callback (a copy into the page cache), sync
    from a timer, checkpoint what is stored downstream, replay the rest at
    start.

    segment_bytes: preallocated segment size; sync_every: sync from append
    every N records (0: off); sync_interval_ms: sync from append when that
    much time passed (0: off; default 1000).
    """

    def __init__(self, dir: str, *, segment_bytes: Optional[int] = None,
                 sync_every: Optional[int] = None, sync_interval_ms: Optional[int] = None,
                 on_event: Optional[EventCallback] = None) -> None:
        super().__init__(dir, _opts(segment_bytes=segment_bytes, sync_every=sync_every,
                                    sync_interval_ms=sync_interval_ms), on_event)

    @property
    def repairs(self) -> Optional[str]:  # type: ignore[override]
        """What opening repaired (a torn tail), or None."""
        return _fleet.IngestLog_repairs(self)

    def append(self, topic: str, payload: Data) -> int:  # type: ignore[override]
        """Log one message; its sequence number."""
        return _fleet.IngestLog_append(self, topic, payload)

    def sync(self) -> None:  # type: ignore[override]
        """fdatasync every record appended so far."""
        _fleet.IngestLog_sync(self)

    def checkpoint(self, seq: int) -> None:  # type: ignore[override]
        """Every message up to and including seq is stored downstream."""
        _fleet.IngestLog_checkpoint(self, seq)

    def replay(self, process: Callable[[IngestRecord], Any]) -> None:  # type: ignore[override]
        """process(record) for every record after the checkpoint, oldest
        first; an exception from process stops the replay and propagates."""
        _fleet.IngestLog_replay(self, process)

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """next_seq, checkpoint_seq, synced_seq, segments, bytes and counters."""
        return _fleet.IngestLog_stats(self)


_swig.set_proxy_class("fleetswig_spool *", Spool)
_swig.set_proxy_class("fleetswig_ingestlog *", IngestLog)
