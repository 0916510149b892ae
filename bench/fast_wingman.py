#!/usr/bin/env python3
"""A fast, bench-only stand-in for Wingman's approval and claim API.

tests/mocks/mock_wingman.py is faithful but answers about 1 500 requests
a second (a thread per connection); a proxy holding 10 000 bulk deletes
polls each approval every gate.poll_interval_ms, 2 000 polls a second at
5 s, more than that mock can answer within wingman.timeout_ms, so the
holds would be released as 503 by the mock's slowness, not the proxy's.
This one answers the same calls, shaped as the mock answers them, from
one asyncio loop with keep-alive:

    POST /log_claim                 200 {"status":"logged"}
    POST /approvals/request         200 PENDING (never approves by itself;
                                    a pending request with the same
                                    fingerprint is returned again)
    GET  /approvals/pending?limit=N the PENDING ones, oldest first:
                                    {"pending": [...], "count": N}
    GET  /approvals/ID              the approval, or 404
    POST /approvals/ID/approve      APPROVED (decided_by from the body)
    POST /_bench/approve_all        approve every PENDING one at once
    GET  /_bench/stats              {"approvals": N, "pending": N,
                                    "polls": N, "lists": N, "claims": N}

    bench/fast_wingman.py [--port PORT] [--port-file FILE]

127.0.0.1 only. Python 3 standard library only.
"""
import argparse
import asyncio
import hashlib
import json
import os
import sys
import uuid
from datetime import datetime, timezone

APPROVALS = {}
BY_FP = {}
STATS = {"polls": 0, "lists": 0, "claims": 0}
REASONS = {200: "OK", 400: "BAD REQUEST", 404: "NOT FOUND", 500: "INTERNAL SERVER ERROR"}


def now_iso():
    return datetime.now(timezone.utc).isoformat()


def jbody(obj):
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def decide(row, who, note=None):
    if row["status"] == "PENDING":
        row["status"] = "APPROVED"
        row["decided_at"] = now_iso()
        row["decided_by"] = who
        row["decision_note"] = note
        BY_FP.pop(row["fingerprint"], None)


def handle(method, path, body, query=""):
    if method == "POST" and path == "/log_claim":
        STATS["claims"] += 1
        return 200, {"status": "logged"}
    if method == "POST" and path == "/approvals/request":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "bad json"}
        instruction = (data.get("instruction") or "").strip()
        if not instruction:
            return 400, {"error": "Missing 'instruction' field"}
        worker = str(data.get("worker_id", "unknown"))
        task = (data.get("task_name") or "").strip()
        risk = {"risk_level": "HIGH", "risk_reason": "High-risk keywords detected"}
        fp = hashlib.sha256(("%s\n%s\n%s\n%s" % (worker, task, "HIGH", instruction)).encode()).hexdigest()
        if fp in BY_FP:
            return 200, {"needs_approval": True, "status": "PENDING", "request": dict(BY_FP[fp]),
                         "risk": risk, "deduped": True}
        row = {"request_id": str(uuid.uuid4()), "created_at": now_iso(), "status": "PENDING",
               "worker_id": worker, "task_name": task, "instruction": instruction,
               "risk_level": "HIGH", "risk_reason": risk["risk_reason"], "fingerprint": fp,
               "decided_at": None, "decided_by": None, "decision_note": None}
        APPROVALS[row["request_id"]] = row
        BY_FP[fp] = row
        return 200, {"needs_approval": True, "status": "PENDING", "request": dict(row), "risk": risk}
    if method == "GET" and path == "/approvals/pending":
        STATS["lists"] += 1
        args = dict(kv.partition("=")[::2] for kv in query.split("&") if kv)
        try:
            limit = int(args.get("limit", "20"))
        except ValueError:
            return 500, {"error": "invalid literal for int()"}
        rows = [dict(r) for r in APPROVALS.values() if r["status"] == "PENDING"]
        if limit >= 0:
            rows = rows[:limit]
        return 200, {"pending": rows, "count": len(rows)}
    if path.startswith("/approvals/"):
        parts = path.split("/")
        if method == "GET" and len(parts) == 3:
            STATS["polls"] += 1
            row = APPROVALS.get(parts[2])
            return (200, dict(row)) if row else (404, {"error": "Not found"})
        if method == "POST" and len(parts) == 4 and parts[3] == "approve":
            row = APPROVALS.get(parts[2])
            if row is None:
                return 404, {"error": "Not found"}
            try:
                who = (json.loads(body or b"{}").get("decided_by") or "").strip() or None
            except ValueError:
                who = None
            decide(row, who)
            return 200, dict(row)
    if method == "POST" and path == "/_bench/approve_all":
        n = 0
        for row in APPROVALS.values():
            if row["status"] == "PENDING":
                decide(row, "bench")
                n += 1
        return 200, {"approved": n}
    if method == "GET" and path == "/_bench/stats":
        return 200, {"approvals": len(APPROVALS), "pending": len(BY_FP),
                     "polls": STATS["polls"], "lists": STATS["lists"],
                     "claims": STATS["claims"]}
    return 404, {"error": "Not found"}


class Conn(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            try:
                method, target, _ = head[0].split(" ", 2)
            except ValueError:
                self.t.close()
                return
            hdrs = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length") or 0)
            if len(self.buf) < end + 4 + n:
                return
            body = self.buf[end + 4:end + 4 + n]
            self.buf = self.buf[end + 4 + n:]
            path, _, query = target.partition("?")
            status, obj = handle(method, path, body, query)
            out = jbody(obj)
            close = hdrs.get("connection", "").lower() == "close"
            self.t.write(("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n%s\r\n" % (
                              status, REASONS.get(status, "X"), len(out),
                              "Connection: close\r\n" if close else "")).encode() + out)
            if close:
                self.t.close()
                return


async def serve(port, port_file):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(Conn, "127.0.0.1", port, backlog=4096, reuse_address=True)
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write(str(srv.sockets[0].getsockname()[1]))
        os.replace(port_file + ".tmp", port_file)
    async with srv:
        await srv.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    try:
        asyncio.run(serve(a.port, a.port_file))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
