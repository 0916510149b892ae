#!/usr/bin/env python3
"""A Wingman-like claim sink for the claim drain benchmark (bench/compare.py).

POST /log_claim answers 200 {"status":"logged"} after sleeping COST_MS
(default 1.5 ms), with `Connection: close` on every answer, as Wingman's
development server does: one thread and one TCP connection per claim.
GET /_stats answers {"logged": N, "first": T, "last": T, "started": T}
(time.monotonic() of the first and last claim logged and of the moment it
started listening; CLOCK_MONOTONIC, the same for every process).

    bench/slow_sink.py --port PORT [--cost-ms 1.5] [--port-file FILE]

127.0.0.1 only. Python 3 standard library only.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"logged": 0, "first": None, "last": None, "started": None}
COST = 0.0015


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path != "/log_claim":
            self._answer(404, {"error": "not found"})
            return
        time.sleep(COST)
        now = time.monotonic()
        with LOCK:
            STATS["logged"] += 1
            if STATS["first"] is None:
                STATS["first"] = now
            STATS["last"] = now
        self._answer(200, {"status": "logged"})

    def do_GET(self):
        if self.path == "/_stats":
            with LOCK:
                self._answer(200, dict(STATS))
        else:
            self._answer(404, {"error": "not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    global COST
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cost-ms", type=float, default=1.5)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    COST = a.cost_ms / 1000.0
    srv = Server(("127.0.0.1", a.port), Handler)
    STATS["started"] = time.monotonic()
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        import os
        os.replace(a.port_file + ".tmp", a.port_file)
    try:
        srv.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
