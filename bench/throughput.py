#!/usr/bin/env python3
"""Benchmark: requests per second and latency through the proxy, against
the same upstream reached directly. The upstream is nginx answering fixed
Mem0-shaped JSON (so Mem0 is not the bottleneck); claims go to the mock
Wingman (they queue in the spool when it is slower than the load).

    bench/throughput.py [SECONDS]      (`make bench` runs it; needs nginx
                                        and wrk: scripts/install-deps.sh --bench)

Routes: a plain read (GET /memories/{id}: classify, forward, claim) and an
export (GET /memories?user_id=...: also buffered, checked, claim fsync'd).
Everything on 127.0.0.1; numbers, not pass/fail.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Stack, free_port, http_json, wait_for  # noqa: E402

MID = "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"
ITEM = '{"id":"%s","memory":"likes tea","user_id":"bench","created_at":"2026-01-01T00:00:00Z"}' % MID
NGINX_CONF = """
daemon off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %(dir)s/tmp;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%(port)d;
        default_type application/json;
        location = /memories { return 200 '{"results":[%(items)s]}'; }
        location /memories/ { return 200 '%(item)s'; }
    }
}
"""


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % seconds, "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(errs.group(1)) if errs else 0


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            print("needs %s: scripts/install-deps.sh --bench" % tool)
            return 2
    d = tempfile.mkdtemp(prefix="m0ap-bench-")
    os.makedirs(os.path.join(d, "tmp"))
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"dir": d, "port": port, "item": ITEM, "items": ",".join([ITEM] * 10)})
    nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c",
                              os.path.join(d, "nginx.conf"), "-p", d])
    try:
        wait_for(lambda: _up(port), 10, "nginx")
        with Stack(env={"MEM0_URL": "http://127.0.0.1:%d" % port}, mem0=False,
                   config="log:\n  level: warn\nspool:\n  max_bytes: 1GiB\n") as s:
            rows = []
            for name, path in (("read (forward + claim)", "/memories/" + MID),
                               ("export (+ check, fsync'd claim)", "/memories?user_id=bench")):
                direct = wrk("http://127.0.0.1:%d%s" % (port, path), seconds)
                proxied = wrk(s.url + path, seconds)
                rows.append((name, direct, proxied))
            threads = len(os.listdir("/proc/%d/task" % s.proxy.pid))
            with open("/proc/%d/status" % s.proxy.pid) as f:
                rss = [line.split()[1] for line in f if line.startswith("VmRSS")][0]
            print("%-34s %12s %18s %18s" % ("route (wrk -t2 -c32)", "", "req/s", "p50 / p99"))
            for name, direct, proxied in rows:
                print("%-34s %-12s %18.0f %18s" % (name, "nginx direct", direct[0],
                                                    "%s / %s" % direct[1:3]))
                print("%-34s %-12s %18.0f %18s%s" % ("", "via proxy", proxied[0],
                                                      "%s / %s" % proxied[1:3],
                                                      "  (%d non-2xx)" % proxied[3] if proxied[3] else ""))
            print("proxy: %d threads, RSS %.1f MiB after the run; claims queued in the spool: see "
                  "the admin listener's /metrics" % (threads, int(rss) / 1024))
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(d, ignore_errors=True)
    return 0


def _up(port):
    try:
        return http_json("127.0.0.1", port, "GET", "/memories/x", timeout=1)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
