#!/usr/bin/env python3
"""fleetd's HTTP gateway end to end (docs/API.md), driven by test_fleetd_http.sh.

  test_fleetd_http.py BASE_URL MQTT_URL FLEETD_PUB SCENARIO STATE_DIR SCENARIO_BASE_S

Users (created by the shell script): admin/secret-pass (admin, every vehicle),
eve/viewer-pass (viewer, v-001 only). The scenario is tests/data/fleetd's:
one trip of v-001 through the depot zone, two alerts; v-002 parked.
"""
import asyncio
import faulthandler
import json
import subprocess
import sys
import time

import requests
import websockets

BASE, MQTT, PUB, SCENARIO, STATE, T0 = sys.argv[1:7]
# Every request bounded: a server that never answers fails the test.
_request = requests.Session.request
requests.Session.request = lambda self, *a, **k: _request(self, *a, **{"timeout": 30, **k})
T0 = int(T0)
WS = BASE.replace("http://", "ws://") + "/ws"


TRIP_KEYS = ["vehicle_id", "start", "end", "start_lat", "start_lng", "end_lat", "end_lng",
             "distance_m", "duration_s", "moving_s", "idle_s", "max_speed_kmh", "avg_speed_kmh",
             "fuel_l"]
ALERT_KEYS = ["vehicle_id", "ts", "rule", "rule_type", "severity", "message", "value", "limit",
              "lat", "lng"]


def iso(s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def login(user, password):
    r = requests.post(BASE + "/api/auth/login", json={"username": user, "password": password})
    check(r.status_code == 200, "login %s: %s %s" % (user, r.status_code, r.text))
    d = r.json()
    check(d["token_type"] == "Bearer" and d["expires_in"] > 0, d)
    check("fleet_token=" in r.headers.get("Set-Cookie", "") and
          "HttpOnly" in r.headers["Set-Cookie"], r.headers)
    return d


def get(path, token, **params):
    return requests.get(BASE + path, params=params,
                        headers={"Authorization": "Bearer " + token} if token else {})


async def collect(token, until, seconds=30):
    """Subscribe to every vehicle and collect messages until `until(msgs)`."""
    msgs = []
    async with websockets.connect(WS, extra_headers={"Authorization": "Bearer " + token}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "vehicles": "*", "interval_ms": 100}))
        end = time.time() + seconds
        while time.time() < end and not until(msgs):
            try:
                msgs.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
            except asyncio.TimeoutError:
                pass
    return msgs


async def live_feed(admin, viewer):
    def done(msgs):
        ups = {m["vehicle_id"] for m in msgs if m["type"] == "telemetry_update"}
        alerts = [m for m in msgs if m["type"] == "alert"]
        return {"v-001", "v-002"} <= ups and len(alerts) >= 2

    def done_viewer(msgs):
        return len([m for m in msgs if m["type"] == "alert"]) >= 2

    tasks = [asyncio.create_task(collect(admin, done)),
             asyncio.create_task(collect(viewer, done_viewer))]
    await asyncio.sleep(1.0)  # both subscribed before the data comes
    # In a thread: asyncio's child watchers are not needed for one process.
    pub = await asyncio.get_running_loop().run_in_executor(
        None, lambda: subprocess.run([PUB, "--url", MQTT, SCENARIO], stdout=subprocess.DEVNULL,
                                     timeout=60))
    check(pub.returncode == 0, "fleetd_pub failed")
    return await asyncio.gather(*tasks)


def main():
    # Bounded: a hang shows where it is and ends the test.
    faulthandler.dump_traceback_later(120, exit=True)
    # Unauthenticated: health only.
    check(requests.get(BASE + "/healthz").text == "ok\n", "healthz")
    r = get("/api/vehicles", None)
    check(r.status_code == 401, "no token: %s" % r.status_code)
    r = requests.post(BASE + "/api/auth/login", json={"username": "admin", "password": "nope"})
    check(r.status_code == 401 and r.json() == {"error": "invalid credentials"}, r.text)
    r = requests.post(BASE + "/api/auth/login", data="{")
    check(r.status_code == 400, "malformed login: %s" % r.status_code)
    for _ in range(50):
        if requests.get(BASE + "/readyz").status_code == 200:
            break
        time.sleep(0.2)
    check(requests.get(BASE + "/readyz").text == "ok\n", "readyz")

    a = login("admin", "secret-pass")
    v = login("eve", "viewer-pass")
    admin, viewer = a["access_token"], v["access_token"]
    check(a["user"] == {"username": "admin", "role": "admin", "vehicles": "*"}, a["user"])
    check(get("/api/me", viewer).json() ==
          {"username": "eve", "role": "viewer", "vehicles": ["v-001"]}, "me")
    r = requests.post(BASE + "/api/auth/refresh", json={"refresh_token": a["refresh_token"]})
    check(r.status_code == 200 and r.json()["access_token"], "refresh: %s" % r.text)
    check(requests.post(BASE + "/api/auth/refresh",
                        json={"refresh_token": admin}).status_code == 401,
          "an access token must not refresh")
    cfg = requests.get(BASE + "/api/config").json()
    check(len(cfg["center"]) == 2 and cfg["zoom"] > 0, cfg)

    # The live feed: the admin sees both vehicles, the viewer only v-001.
    amsgs, vmsgs = asyncio.run(live_feed(admin, viewer))
    check(amsgs[0]["type"] == "snapshot", amsgs[0])
    up = [m for m in amsgs if m["type"] == "telemetry_update" and m["vehicle_id"] == "v-001"]
    check(up and "status" in up[-1]["data"] and "zones" in up[-1]["data"], up[-1:])
    alerts = [m for m in amsgs if m["type"] == "alert"]
    check(sorted(m["rule"] for m in alerts) == ["depot-in", "speeding"], alerts)
    for m in alerts:
        zone = ["zone_id", "zone_name"] if m["rule"] == "depot-in" else []
        check(list(m) == ["type"] + ALERT_KEYS[:-2] + zone + ["lat", "lng"], m)
    check({m["vehicle_id"] for m in vmsgs if "vehicle_id" in m} == {"v-001"},
          "viewer saw %s" % {m.get("vehicle_id") for m in vmsgs})

    # REST over the same data (once fleetd has taken the last fix).
    for _ in range(150):
        d = get("/api/vehicles", admin).json()
        if d["total"] == 2 and d["vehicles"][0]["ts"] == iso(T0 + 810):
            break
        time.sleep(0.2)
    check(d["total"] == 2 and [x["vehicle_id"] for x in d["vehicles"]] == ["v-001", "v-002"], d)
    last = d["vehicles"][0]
    check(last["ts"] == iso(T0 + 810) and last["lng"] == 90.434, last)
    check(get("/api/vehicles", viewer).json()["total"] == 1, "viewer list")
    check(get("/api/vehicles", admin, status="moving").json()["total"] == 0, "status filter")
    check(get("/api/vehicles", admin, q="002").json()["total"] == 1, "q filter")
    check(get("/api/vehicles/v-002", viewer).status_code == 403, "viewer v-002")
    check(get("/api/vehicles/v-404", admin).status_code == 404, "unknown vehicle")

    frm, to = iso(T0 - 60), iso(T0 + 3600)
    trips = None
    for _ in range(100):  # the trip is stored when the tracker closes it
        trips = get("/api/vehicles/v-001/trips", admin, **{"from": frm, "to": to}).json()
        if trips["trips"]:
            break
        time.sleep(0.2)
    check(len(trips["trips"]) == 1, trips)
    t = trips["trips"][0]
    check(t["start"] == iso(T0 + 70) and t["end"] == iso(T0 + 410) and t["max_speed_kmh"] == 95, t)
    # docs/API.md's TRIP, members in its order (the library's eventjson form).
    check(list(t) == TRIP_KEYS, list(t))
    h = get("/api/vehicles/v-001/history", admin, **{"from": frm, "to": to, "limit": "5"}).json()
    check(h["tier"] == "raw" and len(h["points"]) == 5 and h["truncated"], h)
    for _ in range(100):
        full = get("/api/vehicles/v-001/history", admin, **{"from": frm, "to": to}).json()
        if len(full["points"]) == 82:
            break
        time.sleep(0.2)
    check(len(full["points"]) == 82 and not full["truncated"], len(full["points"]))
    ev = get("/api/vehicles/v-001/events", admin, **{"from": frm, "to": to}).json()["events"]
    check([e["type"] for e in ev] == ["zone_enter", "alert", "zone_exit", "alert"], ev)
    check(list(ev[0]) == ["type", "vehicle_id", "ts", "zone_id", "zone_name", "lat", "lng"] and
          list(ev[2]) == ["type", "vehicle_id", "ts", "zone_id", "zone_name", "dwell_s", "lat",
                          "lng"], ev)
    # A stored alert reads back exactly as the WebSocket delivered it live.
    live = {m["rule"]: m for m in alerts}
    for e in (ev[1], ev[3]):
        check(e == live[e["rule"]], (e, live[e["rule"]]))
    check(get("/api/vehicles/v-001/history", admin, **{"from": "yesterday"}).status_code == 400,
          "bad time")
    al = get("/api/alerts", admin).json()["alerts"]
    check([x["rule"] for x in al] == ["speeding", "depot-in"], al)  # newest first
    speeding = {k: v for k, v in live["speeding"].items() if k != "type"}
    check(al[0] == speeding and list(al[0]) == ALERT_KEYS, (al[0], speeding))
    # The zone alert too, zone_name included: the list gives what /events gives.
    depot_in = {k: v for k, v in live["depot-in"].items() if k != "type"}
    check(al[1] == depot_in and list(al[1]) == ALERT_KEYS[:-2] + ["zone_id", "zone_name", "lat",
                                                                  "lng"], (al[1], depot_in))
    check(len(get("/api/alerts", viewer).json()["alerts"]) == 2, "viewer alerts")
    rep = get("/api/reports/trips", admin, vehicles="v-001", **{"from": frm, "to": to}).json()
    check(rep["totals"]["trips"] == 1, rep)
    csv = get("/api/reports/trips", admin, vehicles="*", format="csv", **{"from": frm, "to": to})
    check(csv.headers["Content-Type"].startswith("text/csv") and
          csv.text.splitlines()[0].startswith("vehicle_id,start,end") and
          len(csv.text.splitlines()) == 2, csv.text)
    check(get("/api/reports/trips", viewer, vehicles="v-002").status_code == 403, "report 403")

    # Zones: admins change them, the file follows, the tracker uses them.
    yard = {"type": "Feature", "id": "yard", "properties": {"name": "Yard", "radius_m": 300},
            "geometry": {"type": "Point", "coordinates": [90.5, 23.9]}}
    hdr = {"Authorization": "Bearer " + admin}
    check(requests.post(BASE + "/api/zones", json=yard,
                        headers={"Authorization": "Bearer " + viewer}).status_code == 403,
          "viewer may not add zones")
    r = requests.post(BASE + "/api/zones", json=yard, headers=hdr)
    check(r.status_code == 201 and r.json()["id"] == "yard", r.text)
    check(requests.post(BASE + "/api/zones", json=yard, headers=hdr).status_code == 409, "409")
    bad = dict(yard, geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]})
    r = requests.put(BASE + "/api/zones/yard", json=bad, headers=hdr)
    check(r.status_code == 400 and r.json()["error"] == "invalid zone", r.text)
    ids = [f["id"] for f in get("/api/zones", viewer).json()["features"]]
    check(ids == ["depot", "yard"], ids)
    check("yard" in open(STATE + "/zones.geojson").read(), "zones file not saved")
    check(requests.delete(BASE + "/api/zones/yard", headers=hdr).status_code == 204, "delete")
    check(requests.delete(BASE + "/api/zones/yard", headers=hdr).status_code == 404, "delete 404")

    # Rules: validated, saved, applied.
    r = requests.put(BASE + "/api/rules", json={"rules": [{"id": "x", "type": "overspeed"}]},
                     headers=hdr)
    check(r.status_code == 400 and "threshold_kmh" in r.json()["detail"], r.text)
    new = {"rules": [{"id": "fast", "type": "overspeed", "threshold_kmh": 60}]}
    check(requests.put(BASE + "/api/rules", json=new, headers=hdr).status_code == 200, "put")
    check([x["id"] for x in get("/api/rules", viewer).json()["rules"]] == ["fast"], "rules")
    check(json.load(open(STATE + "/rules.json"))["rules"][0]["id"] == "fast", "rules file")

    m = requests.get(BASE + "/metrics").text
    check("fleetd_messages_accepted_total 96" in m, m[:400])
    check('fleetd_messages_rejected_total{reason="parse"} 0' in m, "reject metric")
    r = requests.post(BASE + "/api/auth/logout")
    check(r.status_code == 204 and "Max-Age=0" in r.headers["Set-Cookie"], r.headers)
    print("http ok")


if __name__ == "__main__":
    main()
