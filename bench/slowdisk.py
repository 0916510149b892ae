#!/usr/bin/env python3
"""Benchmark: what a slow disk costs the requests that do not wait for it.

The proxy runs with tests/faults/faultshim.c preloaded. A steady load of
reads (GET /memories/{id} on the mock Mem0: classify, forward, claim
appended, answer not held) runs twice against the same proxy, beside a trickle of exports
(whose claims are fsync'd before the answer leaves): once with a normal
disk, once with every spool fsync sleeping FSYNC_MS (default 200). The
spool's fsyncs run on its own writer thread, so the reads' p99 should
move by no more than noise (the target is 2 ms); the exports take about
one fsync each, shared by a group commit.

    bench/slowdisk.py [SECONDS] [FSYNC_MS]     (`make bench` runs it)

Everything on 127.0.0.1; numbers, not pass/fail.
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Stack  # noqa: E402

READERS = 4
EXPORTERS = 2
CONFIG = "log:\n  level: warn\nspool:\n  max_bytes: 1GiB\n"


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))]


def load(port, path, seconds, out, errors):
    """One keep-alive client sending path for seconds; latencies to out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
        except (OSError, http.client.HTTPException):
            errors.append("io")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        out.append(time.monotonic() - t0)
    conn.close()


def phase(s, read, seconds):
    reads, exports, errors = [], [], []
    ts = [threading.Thread(target=load, args=(s.proxy_port, read,
                                              seconds, reads, errors))
          for _ in range(READERS)]
    ts += [threading.Thread(target=load, args=(s.proxy_port, "/memories?user_id=bench%d" % i,
                                               seconds, exports, errors))
           for i in range(EXPORTERS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return reads, exports, errors


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    fsync_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with Stack(config=CONFIG, faults=True) as s:
        st, _, body = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": "I like tea"}], "user_id": "bench0"})
        if st != 200:
            print("cannot create the memory to read: %d %s" % (st, body))
            return 1
        read = "/memories/" + json.loads(body)["results"][0]["id"]
        phase(s, read, 1)     # warm up: connections, segment files, caches
        rows = [("normal disk", phase(s, read, seconds))]
        s.faults("fdatasync sleep=%d path=/spool/\nfsync sleep=%d path=/spool\n"
                 % (fsync_ms, fsync_ms))
        rows.append(("fsync sleeps %d ms" % fsync_ms, phase(s, read, seconds)))
        s.faults("")
    print("%-22s %-8s %8s %10s %10s %8s" % ("disk", "route", "requests", "p50 ms", "p99 ms", "errors"))
    for name, (reads, exports, errors) in rows:
        for route, xs in (("read", reads), ("export", exports)):
            print("%-22s %-8s %8d %10.2f %10.2f %8s" % (
                name if route == "read" else "", route, len(xs),
                pct(xs, 50) * 1e3, pct(xs, 99) * 1e3, len(errors) if route == "read" else ""))
    added = (pct(rows[1][1][0], 99) - pct(rows[0][1][0], 99)) * 1e3
    print("reads' added p99 under the slow disk: %.2f ms (target: within 2 ms)" % added)
    return 0


if __name__ == "__main__":
    sys.exit(main())
