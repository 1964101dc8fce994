#!/usr/bin/env python3
"""The gateway replica's side of test_fleetd_roles.sh.

  test_fleetd_roles.py live GATEWAY_URL TOKEN FLEETD_PUB MQTT_URL MESSAGES VEHICLES ALERT_VEHICLE
      Subscribe to every vehicle on the gateway's WebSocket, publish MESSAGES
      (fleetd_pub file) and wait until every vehicle of VEHICLES (comma-separated)
      had an update and an overspeed alert of ALERT_VEHICLE came (raised by an
      ingest replica, forwarded through fleet/+/alerts). Prints the number of
      alerts seen.
  test_fleetd_roles.py vehicles GATEWAY_URL TOKEN EXPECTED_JSON
      Poll /api/vehicles until every vehicle of EXPECTED_JSON ({id: [ts, lat, lng]})
      is listed with that last position.
"""
import asyncio
import json
import subprocess
import sys
import time

import requests
import websockets

DEADLINE_S = 40


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def live(base, token, pub, mqtt, messages, vehicles, alert_vehicle):
    want = set(vehicles.split(","))
    seen, alerts = set(), []
    ws_url = base.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token},
                                  open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "subscribe", "vehicles": "*", "interval_ms": 100}))
        # The snapshot answers the subscription: from here on updates flow.
        end = time.time() + DEADLINE_S
        while time.time() < end:
            m = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE_S))
            if m["type"] == "snapshot":
                break
        p = subprocess.run([pub, "--url", mqtt, "--qos", "1", messages], capture_output=True,
                           text=True, timeout=DEADLINE_S)
        check(p.returncode == 0, "fleetd_pub: %s %s" % (p.stdout, p.stderr))
        while time.time() < end and not (want <= seen and alerts):
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except asyncio.TimeoutError:
                continue
            if m["type"] == "telemetry_update":
                seen.add(m["vehicle_id"])
            elif m["type"] == "snapshot":
                seen.update(v["vehicle_id"] for v in m.get("vehicles", []))
            elif m["type"] == "alert" and m["vehicle_id"] == alert_vehicle:
                alerts.append(m)
    check(want <= seen, "no update of %s" % sorted(want - seen))
    check(alerts, "no alert of %s" % alert_vehicle)
    # As the gateway's own alerts look (docs/API.md ALERT), member for member.
    a = alerts[0]
    check(list(a) == ["type", "vehicle_id", "ts", "rule", "rule_type", "severity", "message",
                      "value", "limit", "lat", "lng"], a)
    check(a["rule"] == "speeding" and a["rule_type"] == "overspeed" and a["value"] > 80, a)
    print(len(alerts))


def vehicles(base, token, expected):
    want = json.loads(expected)
    hdr = {"Authorization": "Bearer " + token}
    end = time.time() + DEADLINE_S
    got = {}
    while time.time() < end:
        r = requests.get(base + "/api/vehicles", params={"limit": 1000}, headers=hdr, timeout=10)
        check(r.status_code == 200, r.text)
        got = {v["vehicle_id"]: [v["ts"], v["lat"], v["lng"]] for v in r.json()["vehicles"]}
        if all(got.get(k) == v for k, v in want.items()):
            return
        time.sleep(0.2)
    raise AssertionError("/api/vehicles: want %s, got %s" % (want, got))


if __name__ == "__main__":
    if sys.argv[1] == "live":
        asyncio.run(live(*sys.argv[2:9]))
    else:
        vehicles(*sys.argv[2:5])
