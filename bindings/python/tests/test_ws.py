"""The gateway: REST routes with Python handlers, token and role checks, the
WebSocket feed (python3-websockets as the client), parents and lifetimes."""

import asyncio
import http.client
import json
import urllib.error
import urllib.request

import pytest

import fleet
from fleet import auth

SECRET = b"g" * 32

websockets = pytest.importorskip("websockets")


@pytest.fixture
def verifier():
    with auth.Verifier(keys=[("HS256", SECRET)]) as v:
        yield v


def token(subject="alice", role="viewer", vehicles="*"):
    return auth.Signer(SECRET).issue(auth.Claims(subject, role, vehicles))


def get(gw, path, tok=None, method="GET", body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (gw.port, path), method=method,
                                 data=body)
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_routes_roles_and_results(verifier, monkeypatch):
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook", lambda u: unraisable.append(u.exc_value))
    gw = fleet.Gateway(verifier)

    @gw.route("GET", "/api/me")
    def me(req):
        return {"sub": req.claims["sub"], "subpath": req.subpath, "query": req.query,
                "ua": req.headers.get("User-Agent", "")[:6]}

    @gw.route("POST", "/api/echo", role="admin")
    def echo(req):
        return fleet.ws.Response(req.body, 201, "text/plain", [("X-Echo", "yes")])

    gw.route("GET", "/api/public", lambda req: "open", role="public")
    gw.route("GET", "/api/none", lambda req: None, role="public")
    gw.route("GET", "/api/tuple", lambda req: (418, {"teapot": True}), role="public")

    @gw.route("*", "/api/fail", role="public")
    def fail(req):
        raise RuntimeError("handler bug")

    with pytest.raises(fleet.ExistsError):
        gw.route("GET", "/api/me", me)
    with pytest.raises(fleet.InvalidArgument):
        gw.route("GET", "no-slash", me)
    with pytest.raises(fleet.InvalidArgument, match="role"):
        gw.route("GET", "/x", me, role="root")

    with gw:
        gw.start()
        assert gw.port > 0
        with pytest.raises(fleet.StateError):
            gw.route("GET", "/late", me)
        viewer, admin = token(), token("root", "admin")
        status, _, body = get(gw, "/api/me/v-1/history?from=2026&to=x+y", viewer)
        assert status == 200
        assert json.loads(body) == {"sub": "alice", "subpath": "/v-1/history",
                                    "query": {"from": "2026", "to": "x y"}, "ua": "Python"}
        assert get(gw, "/api/me")[0] == 401
        assert get(gw, "/api/me", viewer + "x")[0] == 401
        assert get(gw, "/api/echo", viewer, "POST", b"hello")[0] == 403
        status, headers, body = get(gw, "/api/echo", admin, "POST", b"hello")
        assert (status, body, headers["X-Echo"], headers["Content-Type"]) == (
            201, b"hello", "yes", "text/plain")
        assert get(gw, "/api/echo", admin)[0] == 405
        assert get(gw, "/api/public")[2] == b"open"
        assert get(gw, "/api/none")[0] == 204
        status, _, body = get(gw, "/api/tuple")
        assert (status, json.loads(body)) == (418, {"teapot": True})
        assert get(gw, "/api/fail")[0] == 500
        assert get(gw, "/healthz")[2] == b"ok\n"
        stats = gw.stats()
        assert stats["handler_errors"] == 1 and stats["auth_failures"] == 2
        assert stats["forbidden"] == 1
    assert [type(e) for e in unraisable] == [RuntimeError]
    assert gw.closed


async def feed(port, tok, gw):
    headers = {"Authorization": "Bearer " + tok}
    async with websockets.connect("ws://127.0.0.1:%d/ws" % port, extra_headers=headers) as ws:
        await ws.send(json.dumps({"type": "subscribe", "vehicles": ["v-1"], "interval_ms": 100}))
        snap = json.loads(await asyncio.wait_for(ws.recv(), 10))
        gw.publish(fleet.Telemetry("v-1", "2026-05-21T10:30:01Z", 1.5, 2.5, speed=30.0),
                   status="moving")
        update = json.loads(await asyncio.wait_for(ws.recv(), 10))
        gw.publish_alert("v-1", {"rule": "speeding", "message": "too fast"})
        gw.publish_alert("v-2", {"rule": "other", "message": "not subscribed"})
        alert = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return snap, update, alert, pong


def test_websocket_feed(verifier):
    gw = fleet.Gateway(verifier)
    gw.start()
    try:
        # A state published before anyone connects comes in the snapshot.
        gw.publish_state("v-1", {"ts": "2026-05-21T10:30:00Z", "lat": 1.0, "lng": 2.0})
        snap, update, alert, pong = asyncio.run(feed(gw.port, token(), gw))
    finally:
        gw.close()
    assert snap["type"] == "snapshot" and snap["interval_ms"] == 100
    assert [v["vehicle_id"] for v in snap["vehicles"]] == ["v-1"]
    assert update["type"] == "telemetry_update" and update["vehicle_id"] == "v-1"
    assert (update["data"]["lat"], update["data"]["speed"], update["data"]["status"]) == (
        1.5, 30, "moving")
    assert alert == {"type": "alert", "vehicle_id": "v-1", "rule": "speeding",
                     "message": "too fast"}
    assert pong == {"type": "pong"}


def test_publish_errors_and_lifetimes(verifier):
    gw = fleet.Gateway(verifier)
    with pytest.raises(fleet.InvalidArgument):
        gw.publish(fleet.Telemetry("", 0, 1.0, 2.0))
    with pytest.raises(fleet.ParseError):
        gw.publish_state("v-1", "{")
    with pytest.raises(fleet.InvalidArgument):
        gw.publish_alert("v-1", {"type": "mine"})
    # The gateway keeps its verifier alive and refuses calls once it is closed.
    verifier.close()
    with pytest.raises(fleet.ClosedError, match="Gateway: its Verifier was closed"):
        gw.start()
    gw.close()
    with pytest.raises(fleet.ClosedError):
        gw.stats()
    with pytest.raises(fleet.InvalidArgument, match="listen"):
        fleet.Gateway(auth.Verifier(), listen="localhost")


def test_handler_may_publish_but_not_stop(verifier):
    gw = fleet.Gateway(verifier)
    outcome = []

    @gw.route("POST", "/api/positions", role="public")
    def positions(req):
        gw.publish(fleet.Telemetry.from_dict(req.json()))
        try:
            gw.stop()
        except fleet.StateError as e:
            outcome.append(str(e))
        return {"ok": True}

    gw.start()
    try:
        status, _, body = get(gw, "/api/positions", method="POST", body=json.dumps(
            {"vehicle_id": "v-3", "ts": "2026-05-21T10:30:00Z", "lat": 1, "lng": 2}).encode())
        assert (status, json.loads(body)) == (200, {"ok": True})
        assert gw.stats()["telemetry_published"] == 1
    finally:
        gw.close()
    assert outcome and "cannot be called from a route handler" in outcome[0]


def test_gateway_collected_inside_a_handler(verifier):
    holder = []
    answered = []

    def handler(req):
        holder.clear()  # the last reference: the gateway goes on another thread
        answered.append(True)
        return {"bye": True}

    gw = fleet.Gateway(verifier)
    gw.route("GET", "/api/last", handler, role="public")
    gw.start()
    port = gw.port
    holder.append(gw)
    del gw
    # The gateway may be gone before the reply is written: either is fine.
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/last" % port, timeout=10) as r:
            assert json.loads(r.read()) == {"bye": True}
    except (OSError, http.client.HTTPException):
        pass
    assert answered == [True]
    # Freed shortly after: the port stops answering.
    import time
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1)
        except OSError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the gateway still answers")
