#!/usr/bin/env python3
"""Where a forwarded request's CPU and syscalls go, in mem0-audit-proxy.

    bench/profile.py [--seconds S] [--conns C]

The forwarding setup of bench/compare.py (nginx upstream answering a 1 KiB
memory object, nginx claim sink, the proxy with claims on), loaded with
wrk -t2 -cC for S seconds (default 8, 50 connections), while:
  - perf record -g samples the proxy (its symbols, top 25 by self time);
  - strace -c -f counts its syscalls over a second run, until the
    spool is empty again (the claims' posts included), per request.
Prints both. Not a benchmark (strace slows the proxy down a lot: the
syscall mix is what counts, not the rate); bench/compare.py is.
Everything on 127.0.0.1; every process it starts is stopped at the end.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--perf-data", help="keep perf record's data in this file")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="m0prof-")
    try:
        up_port, sink_port = compare.free_port(), compare.free_port()
        up = compare.start_nginx(tmp, "upstream", """
    server {
        listen 127.0.0.1:%d;
        location /v1/memories/ { return 200 '%s'; }
    }""" % (up_port, compare.memory_json()))
        sink = compare.start_nginx(tmp, "sink", """
    server {
        listen 127.0.0.1:%d;
        location = /log_claim { return 200 '{"status":"logged"}'; }
    }""" % sink_port)
        compare.wait_port(up_port, up, "upstream nginx")
        compare.wait_port(sink_port, sink, "sink nginx")
        p, port, admin = compare.start_proxy(tmp, "proxy", up_port, sink_port)
        url = "http://127.0.0.1:%d%s" % (port, compare.PATH)
        compare.wrk(url, 2)                         # warm up
        compare.spool_wait(admin, 60)
        data = os.path.join(tmp, "perf.data")
        rec = subprocess.Popen(["perf", "record", "-g", "-F", "999", "-o", data,
                                "-p", str(p.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        w = compare.wrk(url, a.seconds, conns=a.conns)
        rec.send_signal(signal.SIGINT)
        rec.wait(30)
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                              "--sort", "sym", "-g", "none", "--percent-limit", "0.7"],
                             capture_output=True, text=True).stdout
        print("== perf: %d requests, %.0f req/s; self time by symbol" % (w["requests"], w["rps"]))
        n = 0
        for line in rep.splitlines():
            if re.match(r"\s+\d+\.\d+%", line):
                print(line.rstrip())
                n += 1
                if n == 25:
                    break
        rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                              "--sort", "dso", "-g", "none", "--percent-limit", "1"],
                             capture_output=True, text=True).stdout
        print("== perf: self time by object (kernel, the proxy, each library)")
        for line in rep.splitlines():
            if re.match(r"\s+\d+\.\d+%", line):
                print(line.rstrip())
        if a.perf_data:
            shutil.copy(data, a.perf_data)
        # The claims of the perf run go first: their posts are not ours.
        compare.spool_wait(admin, 120)
        out = os.path.join(tmp, "strace.txt")
        st = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(p.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        w = compare.wrk(url, a.seconds, conns=a.conns)
        compare.spool_wait(admin, 120)         # their claims are posted
        st.send_signal(signal.SIGINT)
        st.wait(30)
        print("== strace -c -f: %d requests (slowed by strace); syscalls per request" % w["requests"])
        with open(out) as f:
            for line in f:
                m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", line)
                if m and w["requests"] > 0:
                    print("  %-20s %6.2f" % (m.group(2), int(m.group(1)) / w["requests"]))
                elif line.startswith("100.00"):
                    tot = line.split()
                    print("  %-20s %6.2f" % ("total", int(tot[3]) / w["requests"]))
    finally:
        compare.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
