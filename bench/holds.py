#!/usr/bin/env python3
"""Benchmark: hold N bulk deletes at once and measure the proxy while they
wait for approval: threads, resident memory and CPU. Then approve them all
and time how long until every client has its answer.

    bench/holds.py [N]        (default 1000; `make bench` runs it)

Everything runs on 127.0.0.1. Not a test: it prints numbers, it asserts
only that every request was answered.
"""
import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Stack, wait_for  # noqa: E402


def proc_stats(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "threads": int(st["Threads"].strip()),
        "rss_kib": int(st["VmRSS"].strip().split()[0]),
        "cpu_s": (int(fields[11]) + int(fields[12])) / ticks,
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * n + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    cfg = ("limits:\n  max_connections: %d\n"
           "gate:\n  poll_interval_ms: 5000\n  hold_max_ms: 120000\n  max_holds: %d\n"
           "  max_pending_per_client: 0\n  max_pending: %d\n  max_records: %d\n"
           "wingman:\n  timeout_ms: 5000\n" % (n + 64, n + 16, n + 16, n + 16))
    with Stack(config=cfg) as s:
        idle = proc_stats(s.proxy.pid)
        socks = []
        t0 = time.monotonic()
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", s.proxy_port))
            c.sendall(("DELETE /memories?user_id=bench-%d HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n" % i).encode())
            socks.append(c)

        def all_pending():
            st, body = s.wingman.call("GET", "/_mock/approvals")
            return len([a for a in body["approvals"] if a["status"] == "PENDING"]) >= n
        wait_for(all_pending, 120, "%d pending approvals" % n)
        held_after = time.monotonic() - t0
        a = proc_stats(s.proxy.pid)
        time.sleep(10)
        b = proc_stats(s.proxy.pid)
        cpu_pct = 100.0 * (b["cpu_s"] - a["cpu_s"]) / 10
        print("held %d requests in %.1fs" % (n, held_after))
        print("while holding: threads %d (idle %d), RSS %.1f MiB (idle %.1f MiB, %.1f KiB per hold), "
              "CPU %.1f%% of one core over 10 s (polls every 5 s)" % (
                  b["threads"], idle["threads"], b["rss_kib"] / 1024, idle["rss_kib"] / 1024,
                  (b["rss_kib"] - idle["rss_kib"]) / n, cpu_pct))
        st, body = s.wingman.call("GET", "/_mock/approvals")
        t1 = time.monotonic()
        for ap in body["approvals"]:
            s.wingman.call("POST", "/approvals/%s/approve" % ap["request_id"], {"decided_by": "bench"})
        answered = 0
        for c in socks:
            c.settimeout(30)
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            c.close()
            if data.startswith(b"HTTP/1.1 200"):
                answered += 1
        print("approved all: %d/%d answered 200 within %.1fs of the first approval"
              % (answered, n, time.monotonic() - t1))
        return 0 if answered == n else 1


if __name__ == "__main__":
    sys.exit(main())
