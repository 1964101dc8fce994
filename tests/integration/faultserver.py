#!/usr/bin/python3
"""A scripted HTTP server that misbehaves on purpose, for testing InfluxDB clients.

Runs with Debian's /usr/bin/python3 and the standard library only. Listens on
127.0.0.1, answers every request outside /_control/ with the next scripted
action (the default action once the script is used up), and records each
request: method, path, query, headers, the body (gunzipped when the client
sent Content-Encoding: gzip), the status it answered and which lines it
pretends to have written.

    faultserver.py --port-file FILE [--port N] [--script JSON]

--port 0 (the default) lets the kernel pick a free port; the port is written
to FILE (atomically) once the server listens.

Actions (JSON objects; every key optional):
    {"status": 204}                         the status to answer (default 204)
    {"body": "text", "headers": {"Retry-After": "1"}}
    {"delay": 0.5}                          wait before answering (seconds)
    {"hang": true}                          never answer; drop the connection when
                                            the client goes away (or after 120 s)
    {"close": true}                         close the connection without an answer
    {"partial": {"match": "bad", "reason": "invalid number"}}
        InfluxDB 1.x partial write: lines containing `match` are rejected with
        400 {"error":"partial write: unable to parse 'LINE': reason\n... dropped=0"},
        the others count as written
    {"partial_v3": {"match": "bad", "reason": "..."}}
        the same, in InfluxDB 3's JSON shape (a "data" array with line numbers)
    {"drop": {"match": "x", "reason": "field type conflict"}}
        InfluxDB 1.x dropping points it parsed (type conflict, retention):
        400 {"error":"partial write: REASON dropped=K"} naming no line; the
        lines without `match` count as written; 204 when no line matches
    {"max_lines": N}                        413 when the body has more than N lines,
                                            else the action's status (204)
    {"repeat": K}                           use this action for K requests (default 1)

Control endpoints:
    POST /_control/script    {"actions": [...], "default": {...}} replaces the script
    GET  /_control/requests  the recorded requests as a JSON array
    POST /_control/reset     forget the recorded requests
    GET  /_control/health    200
"""

import argparse
import gzip
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATE = {"actions": [], "default": {"status": 204}, "requests": []}


def next_action():
    with LOCK:
        while STATE["actions"]:
            act = STATE["actions"][0]
            left = act.get("repeat", 1)
            if left <= 1:
                STATE["actions"].pop(0)
            else:
                act["repeat"] = left - 1
            return dict(act)
        return dict(STATE["default"])


def split_lines(text):
    return [line for line in text.split("\n") if line]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultserver/1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def send(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0") or "0")
        raw = self.rfile.read(n) if n > 0 else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip" and raw:
            raw = gzip.decompress(raw)
        return raw

    def control(self, url, raw):
        if url.path == "/_control/script" and self.command == "POST":
            spec = json.loads(raw or b"{}")
            with LOCK:
                STATE["actions"] = list(spec.get("actions", []))
                STATE["default"] = spec.get("default", {"status": 204})
            self.send(200, b"{}")
        elif url.path == "/_control/requests":
            with LOCK:
                data = json.dumps(STATE["requests"]).encode()
            self.send(200, data)
        elif url.path == "/_control/reset" and self.command == "POST":
            with LOCK:
                STATE["requests"] = []
            self.send(200, b"{}")
        elif url.path == "/_control/health":
            self.send(200, b"{}")
        else:
            self.send(404, b'{"error":"no such control endpoint"}')

    def handle_any(self):
        url = urlsplit(self.path)
        received = time.monotonic()
        received_wall = time.time()
        try:
            raw = self.read_body()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            self.send(400, json.dumps({"error": "bad body: %s" % exc}).encode())
            return
        if url.path.startswith("/_control/"):
            self.control(url, raw)
            return

        act = next_action()
        text = raw.decode("utf-8", errors="surrogateescape")
        lines = split_lines(text)
        status = act.get("status", 204)
        body = act.get("body", "").encode()
        written = []
        if "partial" in act or "partial_v3" in act:
            spec = act.get("partial") or act.get("partial_v3")
            bad = [(i, l) for i, l in enumerate(lines) if spec["match"] in l]
            written = [l for l in lines if spec["match"] not in l]
            reason = spec.get("reason", "invalid field format")
            if not bad:
                status, body = 204, b""
            elif "partial" in act:
                msg = "\n".join("unable to parse '%s': %s" % (l, reason) for _, l in bad)
                if written:
                    msg = "partial write: %s dropped=0" % msg
                status, body = 400, json.dumps({"error": msg}).encode()
            else:
                data = [{"original_line": l, "line_number": i + 1, "error_message": reason}
                        for i, l in bad]
                status = 400
                body = json.dumps({"error": "partial write of line protocol occurred",
                                   "data": data}).encode()
        elif "drop" in act:
            spec = act["drop"]
            written = [l for l in lines if spec["match"] not in l]
            dropped = len(lines) - len(written)
            if dropped:
                status = 400
                msg = "partial write: %s dropped=%d" % (spec.get("reason", "field type conflict"),
                                                       dropped)
                body = json.dumps({"error": msg}).encode()
            else:
                status, body = 204, b""
        elif "max_lines" in act and len(lines) > act["max_lines"]:
            status = 413
            body = json.dumps({"error": "Request Entity Too Large"}).encode()
        elif 200 <= status < 300:
            written = lines

        record = {
            "method": self.command,
            "path": url.path,
            "query": {k: v[0] for k, v in parse_qs(url.query).items()},
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": text,
            "time": received,
            "wall": received_wall,
            "status": status,
            "written": written,
        }
        if act.get("close"):
            record["status"] = 0
        if act.get("hang"):
            record["status"] = -1
        with LOCK:
            STATE["requests"].append(record)

        if act.get("delay"):
            time.sleep(float(act["delay"]))
        if act.get("hang"):
            self.hang()
            return
        if act.get("close"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send(status, body, act.get("headers"))

    def hang(self):
        self.close_connection = True
        self.connection.settimeout(0.2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if not self.connection.recv(1):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any
    do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--script", default=None, help="initial script, as for /_control/script")
    args = ap.parse_args()
    if args.script:
        spec = json.loads(args.script)
        STATE["actions"] = list(spec.get("actions", []))
        STATE["default"] = spec.get("default", {"status": 204})

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
