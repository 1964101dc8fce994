#!/usr/bin/env python3
"""fleetd's gateway over HTTPS and WSS, for test_tls_stack.sh.

  tls_wss_client.py BASE_URL CA_FILE USER PASSWORD VEHICLES READY_FILE

BASE_URL is https://127.0.0.1:PORT. Logs in over HTTPS trusting only CA_FILE,
checks that a client with the system's CAs (which do not include the test CA)
fails the TLS handshake on both HTTPS and WSS, opens the WebSocket feed over
WSS, subscribes to every vehicle, creates READY_FILE and waits (at most 45 s)
for a telemetry_update of each of the comma-separated VEHICLES. Prints one
line per check; exits 1 when one fails.
"""
import asyncio
import json
import os
import ssl
import sys
import time

import requests
import websockets

BASE, CA, USER, PASSWORD, VEHICLES, READY = sys.argv[1:7]
WSS = BASE.replace("https://", "wss://") + "/ws"
want = set(VEHICLES.split(","))
failed = 0


def check(cond, what):
    global failed
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failed += 1


def login():
    r = requests.post(BASE + "/api/auth/login", json={"username": USER, "password": PASSWORD},
                      verify=CA, timeout=30)
    check(r.status_code == 200 and r.json().get("token_type") == "Bearer",
          "login over HTTPS: %s" % r.status_code)
    cookie = r.headers.get("Set-Cookie", "")
    check("HttpOnly" in cookie and "; Secure" in cookie,
          "the token cookie is Secure over HTTPS: %s" % cookie.split(";", 1)[-1])
    return r.json()["access_token"]


def untrusted_https():
    try:
        requests.get(BASE + "/healthz", timeout=10)
    except requests.exceptions.SSLError as e:
        check("CERTIFICATE_VERIFY_FAILED" in str(e),
              "HTTPS without the test CA: handshake refused (%s)" % type(e).__name__)
        return
    check(False, "HTTPS without the test CA: the request succeeded")


async def untrusted_wss(token):
    try:
        async with websockets.connect(WSS, ssl=ssl.create_default_context(),
                                      extra_headers={"Authorization": "Bearer " + token},
                                      open_timeout=10):
            pass
    except ssl.SSLCertVerificationError as e:
        check(e.verify_message == "unable to get local issuer certificate",
              "WSS without the test CA: handshake refused (%s)" % e.verify_message)
        return
    check(False, "WSS without the test CA: connected")


async def feed(token):
    ctx = ssl.create_default_context(cafile=CA)
    seen, updates = set(), 0
    async with websockets.connect(WSS, ssl=ctx,
                                  extra_headers={"Authorization": "Bearer " + token},
                                  open_timeout=10) as ws:
        check(ws.transport.get_extra_info("ssl_object") is not None, "the feed runs over TLS")
        await ws.send(json.dumps({"type": "subscribe", "vehicles": "*", "interval_ms": 100}))
        # The subscription is in place once the server answered anything; a
        # short pause lets it reach the feed before the publisher starts.
        await asyncio.sleep(0.5)
        with open(READY, "w") as f:
            f.write("subscribed\n")
        end = time.time() + 45
        while time.time() < end and not want <= seen:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except asyncio.TimeoutError:
                continue
            if m.get("type") == "telemetry_update":
                updates += 1
                seen.add(m.get("vehicle_id"))
    check(want <= seen, "WSS feed: updates of %s (got %s, %d updates)" %
          (",".join(sorted(want)), ",".join(sorted(x for x in seen if x)), updates))


def main():
    token = login()
    untrusted_https()
    asyncio.run(untrusted_wss(token))
    asyncio.run(feed(token))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    # The untrusted checks need the system's CAs alone.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        os.environ.pop(var, None)
    main()
