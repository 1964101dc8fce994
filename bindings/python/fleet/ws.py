"""The gateway: one HTTP(S) port serving the live WebSocket feed (``/ws``),
REST routes answered by Python handlers, static files and ``/healthz``;
every request that needs a user carries a JWT checked by a
:class:`fleet.auth.Verifier`.

    verifier = fleet.auth.Verifier(keys=[("HS256", secret)])
    gw = fleet.Gateway(verifier, listen="127.0.0.1:8080")

    @gw.route("GET", "/api/vehicles", role="viewer")
    def vehicles(req):
        return [s.to_dict() for s in tracker.vehicles()]    # JSON

    gw.start()
    gw.publish(record, status="moving")     # any thread: pushed to subscribers
    gw.publish_alert("v-001", {"rule": "speeding", "message": "..."})

Handlers run on the gateway's service thread, where every WebSocket client
waits while they run: keep them quick. A handler returns a dict or list
(sent as JSON), str (text), bytes, None (204), a :class:`Response`, or a
tuple (status, body[, headers]). An exception it raises answers 500 and
goes to sys.unraisablehook.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _fleet, _swig
from ._handle import Handle
from .auth import Verifier
from .records import Record, Telemetry

__all__ = ["Gateway", "Request", "Response"]


class Request(Record):
    """An HTTP request as a route handler sees it (a copy): method, path,
    subpath (after the route's prefix), query (first value per name),
    headers (common request headers; Authorization and Cookie never),
    body (bytes), claims (the verified token's, a dict, or None on a public
    route without a token) and peer (the client's address)."""

    method: str
    path: str
    subpath: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes
    claims: Optional[Dict[str, Any]]
    peer: str

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class Response:
    """A full response: status, body (bytes, str, or an object sent as
    JSON), content type and extra headers."""

    def __init__(self, body: Any = b"", status: int = 200, content_type: Optional[str] = None,
                 headers: Optional[Iterable[Tuple[str, str]]] = None) -> None:
        self.status = status
        self.headers: List[Tuple[str, str]] = list(headers or [])
        if isinstance(body, bytes):
            self.body = body
            self.content_type = content_type or "application/octet-stream"
        elif isinstance(body, str):
            self.body = body.encode()
            self.content_type = content_type or "text/plain; charset=utf-8"
        else:
            self.body = json.dumps(body, separators=(",", ":")).encode()
            self.content_type = content_type or "application/json"

    @classmethod
    def error(cls, status: int, error: str, detail: Optional[str] = None) -> "Response":
        """{"error": error[, "detail": detail]} with that status."""
        body = {"error": error}
        if detail is not None:
            body["detail"] = detail
        return cls(body, status)


def _normalise(result: Any) -> Tuple[int, Optional[str], bytes, List[Tuple[str, str]]]:
    if isinstance(result, Response):
        r = result
    elif result is None:
        r = Response(b"", 204)
        r.content_type = None  # type: ignore[assignment]
    elif isinstance(result, tuple):
        status, body, *rest = result
        r = Response(body, status, headers=rest[0] if rest else None)
    else:
        r = Response(result)
    return r.status, r.content_type, r.body, r.headers


def _adapter(handler: Callable[[Request], Any]) -> Callable[[Dict[str, Any]], Any]:
    def call(d: Dict[str, Any]) -> Tuple[int, Optional[str], bytes, List[Tuple[str, str]]]:
        claims = d["claims"]
        d["claims"] = json.loads(claims) if claims else None
        return _normalise(handler(Request(**d)))
    return call


class Gateway(Handle, _swig.Gateway):
    """The libfleet gateway (see the module's documentation).

    verifier: checks every token (kept alive by the gateway).
    listen: "IPv4:port" or "[IPv6]:port"; port 0 picks a free one (see port).
    static_root: a directory with index.html served for GET/HEAD.
    allowed_origins: origins allowed to use the cookie and to open the feed.
    on_log(level, message): the gateway's log lines (service thread).
    Other options (fleet_ws_options_t): tls_cert_file, tls_key_file,
    cookie_name, max_message_bytes, send_buffer_bytes, tcp_send_buffer_bytes,
    alert_queue_max, stuck_timeout_ms, interval_min_ms, interval_max_ms,
    interval_default_ms, ping_interval_s, idle_timeout_s, max_clients,
    max_vehicles, max_body_bytes, max_header_bytes, log_level.
    """

    def __init__(self, verifier: Verifier, *, listen: str = "127.0.0.1:0",
                 allowed_origins: Optional[Sequence[str]] = None,
                 on_log: Optional[Callable[[str, str], Any]] = None, **options: Any) -> None:
        opts = dict(options, listen=listen,
                    allowed_origins=list(allowed_origins) if allowed_origins else None)
        super().__init__(verifier, opts, on_log)
        self._verifier = verifier

    def route(self, method: str, prefix: str, handler: Optional[Callable[[Request], Any]] = None,
              *, role: str = "viewer") -> Any:
        """Register handler(request) for method ("GET", "POST", ..., "*") on
        paths equal to prefix or below it, for tokens of at least ``role``
        ("public" needs none). Without handler, a decorator. Only while the
        gateway is stopped."""
        def register(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
            _fleet.Gateway_route_add(self, method, prefix, role, _adapter(fn))
            return fn
        return register if handler is None else register(handler)

    def start(self) -> None:  # type: ignore[override]
        """Bind and start serving; returns once listening."""
        _fleet.Gateway_start(self)

    def stop(self) -> None:  # type: ignore[override]
        """Close every connection and stop serving (start() again resumes)."""
        _fleet.Gateway_stop(self)

    @property
    def port(self) -> int:  # type: ignore[override]
        """The port listened on while running, else 0."""
        return _fleet.Gateway_port(self)

    def publish(self, record: Union[Telemetry, Mapping[str, Any]], **extra: Any) -> None:
        """Publish a position (record.vehicle_id set): it becomes the
        vehicle's last-known state and is pushed to its subscribers; ``extra``
        members (status="moving", zones=[...]) are added to the update."""
        text = json.dumps(extra, separators=(",", ":")) if extra else None
        _fleet.Gateway_publish_telemetry(self, record, text)

    def publish_state(self, vehicle_id: str,  # type: ignore[override]
                      state: Union[str, bytes, Mapping[str, Any]]) -> None:
        """Publish a vehicle's state as a ready JSON object."""
        _fleet.Gateway_publish_state(self, vehicle_id, _json(state))

    def publish_alert(self, vehicle_id: str,  # type: ignore[override]
                      alert: Union[str, bytes, Mapping[str, Any]]) -> None:
        """Send an alert (a JSON object without "type") to the clients
        subscribed to the vehicle, at once."""
        _fleet.Gateway_publish_alert(self, vehicle_id, _json(alert))

    def stats(self) -> Dict[str, int]:  # type: ignore[override]
        """The counters (clients, connections, http_requests, ...)."""
        return _fleet.Gateway_stats(self)


def _json(value: Union[str, bytes, Mapping[str, Any]]) -> Union[str, bytes]:
    if isinstance(value, (str, bytes)):
        return value
    return json.dumps(value, separators=(",", ":"))


_swig.set_proxy_class("fleetswig_ws *", Gateway)
