"""InfluxDB: connection configuration, the asynchronous batching writer and
the history reader.

    >>> cfg = fleet.InfluxConfig(url="http://127.0.0.1:8086", database="telemetry_raw")
    >>> with fleet.InfluxWriter(cfg) as w:
    ...     w.write(fleet.parse(payload, vehicle_id="v-001"))
    ...     w.flush(timeout=5)
    >>> with fleet.History(cfg) as h:
    ...     df = h.positions("2026-05-21T00:00:00Z", "2026-05-22T00:00:00Z").to_dataframe()

Every point carries its own timestamp, so writing the same record twice
stores it once (InfluxDB overwrites the same series and time).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Union

from . import _fleet, _swig
from ._handle import Handle
from .records import RecordList, Telemetry, TimeLike, to_ns

__all__ = ["InfluxConfig", "InfluxWriter", "History", "quote_string", "quote_ident",
           "format_duration", "parse_duration"]

_SECRETS = ("token", "password")


class InfluxConfig:
    """How to reach one InfluxDB database (influx.h's fleet_influx_config_t).

    url: base URL (default http://127.0.0.1:8086); api: "v1", "v2" or "v3";
    database (v1/v3 database, v2 bucket); retention_policy (v1); org (v2);
    token; username, password (v1); auth: "auto", "none", "token",
    "bearer" or "basic"; ca_file; insecure; timeout_ms; connect_timeout_ms.
    """

    def __init__(self, **members: Any) -> None:
        base = _swig.influx_config_defaults()
        unknown = set(members) - set(base)
        if unknown:
            raise TypeError("InfluxConfig: unknown member(s) %s" % ", ".join(sorted(unknown)))
        base.update({k: v for k, v in members.items() if v is not None})
        self._members: Dict[str, Any] = base

    @classmethod
    def from_env(cls, prefix: Optional[str] = None, **members: Any) -> "InfluxConfig":
        """``members`` overridden by the FLEET_INFLUX_* environment variables
        that are set (FLEET_INFLUX_URL, _API, _DB, _ORG, _TOKEN, _TOKEN_FILE,
        _USERNAME, _PASSWORD, ...); ``prefix`` replaces "FLEET_INFLUX_"."""
        start = cls(**members)
        new = cls.__new__(cls)
        new._members = _swig.influx_config_env(start._members, prefix)
        return new

    def validate(self) -> None:
        """Check the configuration; raises the Error naming the member."""
        _swig.influx_config_validate(self._members)

    def to_dict(self) -> Dict[str, Any]:
        """The members as a dict (secrets included)."""
        return dict(self._members)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_members"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_members":
            object.__setattr__(self, name, value)
        elif name in self._members:
            self._members[name] = value
        else:
            raise AttributeError("InfluxConfig has no member %r" % name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InfluxConfig) and other._members == self._members

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRETS and v else v) for k, v in self._members.items()}
        return "InfluxConfig(%s)" % ", ".join("%s=%r" % kv for kv in shown.items())


Config = Union[InfluxConfig, Mapping[str, Any]]


def _cfg(config: Config) -> Dict[str, Any]:
    if isinstance(config, InfluxConfig):
        return config.to_dict()
    return InfluxConfig(**config).to_dict()


def _ms(seconds: float) -> int:
    if seconds < 0:
        raise ValueError("timeout: %r is negative" % (seconds,))
    return min(int(seconds * 1000), 2**32 - 1)


class InfluxWriter(Handle, _swig.InfluxWriter):
    """The asynchronous, batching InfluxDB writer (thread-safe).

    Writes never wait for the network: lines are batched (batch_max_points,
    batch_max_bytes, flush_interval_ms), gzipped and POSTed by the writer's
    own thread, with retries; what cannot be delivered goes to the spool
    (spool_dir) and lines the server rejects to dead_letter_path.
    ``on_log(level, message)`` receives log lines on the writer's thread
    (level "error", "warning", "info" or "debug"); an exception it raises is
    reported through sys.unraisablehook. close() (or leaving a ``with``
    block) sends what is left, for at most ``close_timeout`` seconds.
    """

    def __init__(self, config: Config, *, on_log: Optional[Callable[[str, str], Any]] = None,
                 close_timeout: float = 10.0, **options: Any) -> None:
        self._close_timeout = close_timeout
        super().__init__(_cfg(config), options or None, on_log)

    def write_lines(self, lines: Union[str, bytes]) -> None:  # type: ignore[override]
        """Enqueue line protocol, one or more lines ("\\n"-separated)."""
        _fleet.InfluxWriter_write_lines(self, lines)

    def write(self, records: Union[Telemetry, Mapping[str, Any], Iterable[Any]],
              measurement: Optional[str] = None,
              tags: Optional[Mapping[str, Optional[str]]] = None) -> int:
        """Encode telemetry records (one, or an iterable) and enqueue them as
        line protocol of ``measurement`` (default "telemetry") with the
        extra ``tags`` (e.g. fleet_id, device_type). Returns the number of
        records written."""
        t = dict(tags) if tags else None
        if isinstance(records, (Telemetry, Mapping, str, bytes)):
            _fleet.InfluxWriter_write_telemetry(self, records, measurement, t)
            return 1
        encode = _swig.lp_encode_telemetry
        batch: List[str] = []
        n = 0
        for rec in records:
            batch.append(encode(rec, measurement, t))
            if len(batch) == 5000:
                _fleet.InfluxWriter_write_lines(self, "".join(batch))
                n += len(batch)
                batch.clear()
        if batch:
            _fleet.InfluxWriter_write_lines(self, "".join(batch))
            n += len(batch)
        return n

    def flush(self, timeout: float = 10.0) -> None:  # type: ignore[override]
        """Send the partial batch and wait until everything written so far is
        delivered (TimedOutError after ``timeout`` seconds: the writer keeps
        trying; nothing is lost)."""
        _fleet.InfluxWriter_flush(self, _ms(timeout))

    def close(self, timeout: Optional[float] = None) -> None:  # type: ignore[override]
        """Stop: send what is in memory (for at most ``timeout`` seconds,
        default close_timeout), spool the rest, release the writer."""
        t = self._close_timeout if timeout is None else timeout
        _fleet.InfluxWriter_close(self, _ms(t))

    def stats(self) -> Dict[str, Any]:  # type: ignore[override]
        """The writer's counters (points_enqueued, points_written, ...)."""
        return _fleet.InfluxWriter_stats(self)


def _filter(start: Optional[TimeLike], end: Optional[TimeLike], vehicles: Any, tier: str = "auto",
            limit: int = 0) -> Dict[str, Any]:
    if isinstance(vehicles, str):
        vehicles = [vehicles]
    return {
        "from_ns": 0 if start is None else to_ns(start),
        "to_ns": 0 if end is None else to_ns(end),
        "vehicle_ids": list(vehicles) if vehicles else None,
        "tier": tier,
        "limit": limit,
    }


class History(Handle, _swig.History):
    """Reads stored telemetry and events back from InfluxDB (InfluxQL over
    /query, streamed). Results come as :class:`RecordList` objects
    (``.to_records()`` / ``.to_dataframe()`` for pandas).

    Options: raw_db, raw_rp, downsampled_db, downsampled_rp, events_db,
    events_rp, chunk_size, raw_max_span_ns, raw_retention_ns, max_chunk_bytes.
    Times are ns, RFC 3339 text or datetimes; ranges are [start, end).
    """

    def __init__(self, config: Config, **options: Any) -> None:
        super().__init__(_cfg(config), options or None)

    def query(self, influxql: str, db: Optional[str] = None) -> RecordList:  # type: ignore[override]
        """Run InfluxQL (quote values with quote_string / quote_ident) and
        return its rows (:class:`fleet.Row`)."""
        out = RecordList()
        _fleet.History_query(self, db, influxql, out.append)
        return out

    def execute(self, influxql: str, db: Optional[str] = None) -> None:
        """Run a statement whose rows are not needed (CREATE, DROP...)."""
        _fleet.History_query(self, db, influxql, None)

    def positions(self, start: TimeLike, end: TimeLike, vehicles: Any = None,  # type: ignore[override]
                  tier: str = "auto", limit: int = 0) -> RecordList:
        """Stored positions in [start, end), oldest first, as
        :class:`fleet.Position` records; tier "auto", "raw" or "hourly"."""
        out = RecordList()
        _fleet.History_positions(self, _filter(start, end, vehicles, tier, limit), out.append)
        return out

    def last_positions(self, start: Optional[TimeLike] = None,  # type: ignore[override]
                       end: Optional[TimeLike] = None, vehicles: Any = None) -> RecordList:
        """The most recent raw position of each vehicle (in vehicle id order);
        without a range, over the raw tier's whole retention."""
        out = RecordList()
        _fleet.History_last_positions(self, _filter(start, end, vehicles), out.append)
        return out

    def trips(self, start: TimeLike, end: TimeLike, vehicles: Any = None,  # type: ignore[override]
              limit: int = 0) -> RecordList:
        """Stored trips that started in [start, end) (:class:`fleet.HistoryTrip`)."""
        out = RecordList()
        _fleet.History_trips(self, _filter(start, end, vehicles, limit=limit), out.append)
        return out

    def zone_events(self, start: TimeLike, end: TimeLike, vehicles: Any = None,  # type: ignore[override]
                    limit: int = 0) -> RecordList:
        """Stored geofence events (:class:`fleet.ZoneEvent`)."""
        out = RecordList()
        _fleet.History_zone_events(self, _filter(start, end, vehicles, limit=limit), out.append)
        return out

    def alerts(self, start: TimeLike, end: TimeLike, vehicles: Any = None,  # type: ignore[override]
               limit: int = 0) -> RecordList:
        """Stored alerts (:class:`fleet.HistoryAlert`)."""
        out = RecordList()
        _fleet.History_alerts(self, _filter(start, end, vehicles, limit=limit), out.append)
        return out

    def pick_tier(self, start: TimeLike, end: TimeLike, tier: str = "auto",  # type: ignore[override]
                  now: Optional[TimeLike] = None) -> str:
        """The tier ("raw" or "hourly") a positions() query for [start, end) reads."""
        if now is None:
            now = _dt.datetime.now(_dt.timezone.utc)
        return _fleet.History_pick_tier(self, tier, to_ns(start), to_ns(end), to_ns(now))

    def ensure_database(self, db: str, retention_s: int = 0,  # type: ignore[override]
                        rp: Optional[str] = None) -> str:
        """Make sure ``db`` exists with that retention (0: forever); returns
        "unchanged", "created", "altered" or "exists". Idempotent."""
        return _fleet.History_ensure_database(self, db, rp, retention_s)

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """Counters of the last query: rows, chunks, bytes, max_chunk_bytes."""
        return _fleet.History_stats(self)


def quote_string(s: str) -> str:
    """``s`` as an InfluxQL string literal ('...', escaped)."""
    return _swig.history_quote_string(s)


def quote_ident(s: str) -> str:
    """``s`` as a double-quoted InfluxQL identifier."""
    return _swig.history_quote_ident(s)


def format_duration(seconds: int) -> str:
    """An InfluxDB duration literal ("7d", "90m"; 0 gives "INF")."""
    return _swig.history_format_duration(seconds)


def parse_duration(text: str) -> int:
    """Seconds of an InfluxDB duration ("1h30m", "168h0m0s", "INF" -> 0)."""
    return _swig.history_parse_duration(text)


_swig.set_proxy_class("fleetswig_writer *", InfluxWriter)
_swig.set_proxy_class("fleetswig_history *", History)
