#!/usr/bin/env python3
"""Benchmark: what reading a large list of pending approvals costs the
requests that have nothing to do with it.

With many requests held, the gate lists Wingman's pending approvals every
half poll interval (GET /approvals/pending) instead of polling each one.
A list that changed is digested, parsed and each item's identity computed:
for APPROVALS approvals of about 1 KiB each that is tens of milliseconds
of CPU. This script holds 8 bulk deletes (the gate lists from 8 pending
approvals on), then makes the mock Wingman answer the list with those 8
and APPROVALS others, a different list each round, while one keep-alive
client reads GET /memories?user_id=probe every 10 ms through the proxy.
It prints the reads' p50 and max per round, and how many lists the proxy
parsed. Where the list is read on the engine thread, the reads wait for
it (their max is the list's cost); on a thread of its own, they do not.

    bench/liststall.py [APPROVALS] [ROUNDS]     (`make bench` runs it)

Everything on 127.0.0.1; the mock Wingman (Python) builds each list
itself, which costs a core too: numbers, not pass/fail.
"""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Stack, wait_for  # noqa: E402

CONFIG = "log:\n  level: warn\ngate:\n  poll_interval_ms: 1000\n  hold_max_ms: 600000\n"
HELD = 8
PROBE_S = 2.5


def approvals(s):
    return s.wingman.call("GET", "/_mock/approvals")[1]["approvals"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with Stack(config=CONFIG) as s:
        for i in range(HELD):
            threading.Thread(target=lambda i=i: s.request(
                "DELETE", "/memories?user_id=held-%d" % i, timeout=600), daemon=True).start()
        wait_for(lambda: len(approvals(s)) >= HELD, 20, "%d held" % HELD)
        real = approvals(s)
        others = [{"request_id": "other-%06d" % i, "status": "PENDING",
                   "task_name": "Bulk Memory Deletion", "worker_id": "another-proxy",
                   "instruction": "i" * 900, "created_at": "2026-11-29T00:00:00Z"}
                  for i in range(n + rounds)]
        conn = http.client.HTTPConnection("127.0.0.1", s.proxy_port, timeout=30)
        print("%d held requests; each round: a list of %d pending approvals, different "
              "from the last; reads every 10 ms for %.1f s" % (HELD, HELD + n, PROBE_S))
        for r in range(rounds):
            items = real + others[r:r + n]
            s.wingman.call("DELETE", "/_mock/fault")
            s.wingman.call("POST", "/_mock/fault", {
                "path_prefix": "/approvals/pending", "mode": "status", "status": 200,
                "count": -1, "content_type": "application/json",
                "body": {"pending": items, "count": len(items)}})
            lat = []
            end = time.time() + PROBE_S
            while time.time() < end:
                t0 = time.perf_counter()
                conn.request("GET", "/memories?user_id=probe")
                conn.getresponse().read()
                lat.append((time.perf_counter() - t0) * 1000.0)
                time.sleep(0.01)
            lat.sort()
            print("round %d: reads %d, p50 %.1f ms, max %.1f ms" % (
                r + 1, len(lat), lat[len(lat) // 2], lat[-1]))
        print("lists of pending approvals: parsed %d, unchanged %d, failed %d" % tuple(
            int(s.metric('mem0_proxy_approval_lists_total{result="%s"}' % k) or 0)
            for k in ("parsed", "unchanged", "failed")))
        conn.close()


if __name__ == "__main__":
    main()
