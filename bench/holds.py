#!/usr/bin/env python3
"""Benchmark: hold N bulk deletes at once and measure the proxy while they
wait for approval: threads, resident memory and CPU. Then approve them all
and time how long until every client has its answer.

    bench/holds.py [N] [--wingman mock|fast] [--batch B] [--json FILE]

N: default 1000 (`make bench` runs 10 000 through bench/compare.py).
--wingman mock (default): tests/mocks/mock_wingman.py, approved one call
    per approval, as before. It answers about 1 500 calls a second, so
    it cannot keep up with the polls of many thousand holds (N / 5 a
    second at the 5 s poll interval used here).
--wingman fast: bench/fast_wingman.py (asyncio, keep-alive; never
    approves by itself), approved all at once by one call.
--batch B: open the held requests B at a time (default 250), each batch
    once the previous one has its approvals, so that Wingman's and Mem0's
    stand-ins are not asked 10 000 things in the same second.
--json FILE: also write the numbers as JSON.
HOLDS_PROXY_LOG=FILE (environment): keep the proxy's log there.

Mem0 is tests/mocks/mock_mem0.py (the precounts and, after approval, the
deletes). Everything runs on 127.0.0.1. Not a test: it prints numbers, it
asserts only that every request was answered.
"""
import argparse
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from harness import Stack, http_json, wait_for  # noqa: E402

IDLE_S = 10
# Long enough that no hold times out while the others are being opened
# and measured (they are released by the approval, or at the end).
HOLD_MAX_MS = 600000


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
        "t": time.monotonic(),
    }


def mem_parts(pid):
    """Resident KiB by kind of mapping: the main heap, 64 KiB anonymous
    mappings (libmicrohttpd's per-connection pools), other anonymous
    mappings (thread arenas, large mallocs, stacks), files."""
    parts = {"heap": 0, "pools": 0, "anon": 0, "files": 0}
    kind, size = None, 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                name = m.group(3).strip()
                kind = ("heap" if name == "[heap]" else
                        "files" if name.startswith("/") else
                        "pools" if not name and size == 64 * 1024 else "anon")
            elif line.startswith("Rss:") and kind:
                parts[kind] += int(line.split()[1])
    return parts


def cpu_pct(a, b):
    return 100.0 * (b["cpu_s"] - a["cpu_s"]) / (b["t"] - a["t"])


def metric(s, name):
    st, _, body = s.admin("GET", "/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), body.decode(), re.M)
    return int(m.group(1)) if m else 0


class FastWingman:
    def __init__(self, d):
        self.port_file = os.path.join(d, "fast_wingman.port")
        self.log = open(os.path.join(d, "fast_wingman.log"), "ab")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fast_wingman.py"),
                                      "--port-file", self.port_file],
                                     stdout=self.log, stderr=self.log)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("fast_wingman exited")
            try:
                with open(self.port_file) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.port = wait_for(ready, 15, "fast_wingman")
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        st, _, raw = http_json("127.0.0.1", self.port, method, path, body, timeout=60)
        return st, json.loads(raw) if raw else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1000)
    ap.add_argument("--wingman", choices=("mock", "fast"), default="mock")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--json")
    ap.add_argument("--budget", type=int, default=0,
                    help="stop opening holds after this many seconds (0: no limit)")
    ap.add_argument("--profile", action="store_true",
                    help="perf record the proxy for 3 s while holding; print its top symbols")
    a = ap.parse_args()
    n = a.n
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * n + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if n + 64 > want:
        print("holds: the open-files limit (%d) is too low for %d holds" % (hard, n))
        return 2
    cfg = ("limits:\n  max_connections: %d\n  max_connections_per_client: %d\n"
           "gate:\n  poll_interval_ms: 5000\n  hold_max_ms: %d\n  max_holds: %d\n"
           "  max_pending_per_client: 0\n  max_pending: %d\n  max_records: %d\n"
           "wingman:\n  timeout_ms: 5000\nlog:\n  level: warn\n"
           % (n + 64, n + 64, HOLD_MAX_MS, n + 16, n + 16, n + 16))
    tmp = tempfile.mkdtemp(prefix="m0ap-holds-")
    fast = FastWingman(tmp) if a.wingman == "fast" else None
    out = {"n": n, "wingman": a.wingman, "poll_interval_ms": 5000}
    try:
        kw = {"wingman": False, "env": {"WINGMAN_URL": fast.url}} if fast else {}
        with Stack(config=cfg, **kw) as s:
            pid = s.proxy.pid

            def approvals():
                if fast:
                    return fast.call("GET", "/_bench/stats")[1]["approvals"]
                st, body = s.wingman.call("GET", "/_mock/approvals")
                return len([x for x in body["approvals"] if x["status"] == "PENDING"])

            time.sleep(1)
            i0 = proc_stats(pid)
            time.sleep(IDLE_S)
            idle = proc_stats(pid)
            out.update(idle_threads=idle["threads"], idle_rss_kib=idle["rss_kib"],
                       idle_cpu_pct=cpu_pct(i0, idle))
            socks = []
            batches = []
            stopped = None
            t0 = time.monotonic()
            while len(socks) < n:
                tb, cb = time.monotonic(), proc_stats(pid)
                for i in range(len(socks), min(n, len(socks) + a.batch)):
                    c = socket.create_connection(("127.0.0.1", s.proxy_port))
                    c.sendall(("DELETE /memories?user_id=bench-%d HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n" % i).encode())
                    socks.append(c)
                deadline = tb + 60
                while approvals() < len(socks):
                    if time.monotonic() > deadline:
                        stopped = ("the last batch did not get its %d approvals within 60 s"
                                   % a.batch)
                        break
                    time.sleep(0.1 if fast else 0.5)
                ce = proc_stats(pid)
                held_now = metric(s, "mem0_proxy_holds")
                batches.append({"t": round(ce["t"] - t0, 2), "asked": len(socks), "held": held_now,
                                "batch_s": round(ce["t"] - tb, 2),
                                "cpu_pct": round(cpu_pct(cb, ce), 1)})
                if os.environ.get("HOLDS_VERBOSE"):
                    print("  %.1fs: %d asked, %d held, batch %.1fs, proxy CPU %.0f%%"
                          % tuple(batches[-1][k] for k in ("t", "asked", "held", "batch_s", "cpu_pct")),
                          flush=True)
                if stopped is None and held_now < len(socks):
                    stopped = ("%d of the %d requests were answered (not held) before any approval"
                               % (len(socks) - held_now, len(socks)))
                if stopped is None and a.budget and time.monotonic() - t0 > a.budget and len(socks) < n:
                    stopped = "opening %d holds took longer than the %d s budget" % (len(socks), a.budget)
                if stopped:
                    break
            out.update(batches=batches, stopped=stopped)
            held_after = time.monotonic() - t0
            holds = metric(s, "mem0_proxy_holds")
            a1 = proc_stats(pid)
            time.sleep(IDLE_S)
            b1 = proc_stats(pid)
            time.sleep(IDLE_S)
            b2 = proc_stats(pid)
            held_end = metric(s, "mem0_proxy_holds")
            out["mem_kib"] = mem_parts(pid)
            if os.environ.get("HOLDS_SMAPS"):
                with open("/proc/%d/smaps" % pid) as f, open(os.environ["HOLDS_SMAPS"], "w") as o:
                    o.write(f.read())
            per = max(holds, 1)
            out.update(held_s=held_after, asked=len(socks), holds_gauge=holds, holds_gauge_end=held_end,
                       threads=b2["threads"], rss_kib=b2["rss_kib"], rss_kib_first=b1["rss_kib"],
                       kib_per_hold=(b2["rss_kib"] - idle["rss_kib"]) / per,
                       cpu_pct_1=cpu_pct(a1, b1), cpu_pct_2=cpu_pct(b1, b2))
            if fast:
                st1 = fast.call("GET", "/_bench/stats")[1]
                time.sleep(4)
                st2 = fast.call("GET", "/_bench/stats")[1]
                out["polls_per_s"] = (st2["polls"] - st1["polls"]) / 4.0
                out["lists_per_s"] = (st2.get("lists", 0) - st1.get("lists", 0)) / 4.0
            if a.profile:
                out["profile"] = profile(pid, tmp)
            print("held %d of %d requests after %.1fs (proxy: %d held; %d after the idle windows)%s"
                  % (holds, n, held_after, holds, held_end,
                     "; stopped: " + stopped if stopped else ""))
            print("idle, nothing held: threads %d, RSS %.1f MiB, CPU %.2f%% of one core over %d s"
                  % (idle["threads"], idle["rss_kib"] / 1024, out["idle_cpu_pct"], IDLE_S))
            print("while holding: threads %d (idle %d), RSS %.1f MiB (idle %.1f MiB, %.1f KiB per hold), "
                  "CPU %.1f%% then %.1f%% of one core over two %d s windows (polls every 5 s%s)" % (
                      b2["threads"], idle["threads"], b2["rss_kib"] / 1024, idle["rss_kib"] / 1024,
                      out["kib_per_hold"], out["cpu_pct_1"], out["cpu_pct_2"], IDLE_S,
                      ", %.0f polls by id and %.1f lists of pending approvals a second seen by "
                      "Wingman" % (out["polls_per_s"], out["lists_per_s"]) if fast else ""))
            print("resident memory while holding, KiB: " +
                  ", ".join("%s %d" % kv for kv in out["mem_kib"].items()))
            if out.get("profile"):
                print("where the proxy's CPU goes while holding (perf, 3 s): " +
                      ", ".join("%s %.0f%%" % (sym, pc) for sym, pc in out["profile"]))
            t1 = time.monotonic()
            if fast:
                fast.call("POST", "/_bench/approve_all")
            else:
                st, body = s.wingman.call("GET", "/_mock/approvals")
                for ap_ in body["approvals"]:
                    s.wingman.call("POST", "/approvals/%s/approve" % ap_["request_id"],
                                   {"decided_by": "bench"})
            approved_s = time.monotonic() - t1
            # Every answer as it comes, whatever the order.
            sel = selectors.DefaultSelector()
            data = {}
            for c in socks:
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                data[c] = b""
            left, last = len(socks), t1
            deadline = time.monotonic() + 120
            while left and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    c = key.fileobj
                    try:
                        chunk = c.recv(65536)
                    except OSError:
                        chunk = b""
                    if chunk:
                        data[c] += chunk
                        continue
                    sel.unregister(c)
                    c.close()
                    left -= 1
                    last = time.monotonic()
            codes = {}
            for c, d in data.items():
                code = d[9:12].decode() if d.startswith(b"HTTP/1.1 ") else "none"
                codes[code] = codes.get(code, 0) + 1
            for c in socks:
                if c.fileno() != -1:
                    c.close()
            answered = codes.get("200", 0)
            # What the proxy logged (warn and up), by message and detail.
            if os.environ.get("HOLDS_PROXY_LOG"):
                with open(os.environ["HOLDS_PROXY_LOG"], "w") as f:
                    f.write(s.proxy_output())
            seen = {}
            for line in s.proxy_output().splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("msg") == "libmicrohttpd":
                    continue
                k = "%s (%s)" % (j.get("msg"), j.get("detail") or j.get("error") or "")
                seen[k] = seen.get(k, 0) + 1
            out["proxy_log"] = sorted(seen.items(), key=lambda kv: -kv[1])[:5]
            for k, v in out["proxy_log"]:
                print("proxy log: %d x %s" % (v, k))
            out.update(answered_200=answered, codes=codes, approve_s=approved_s,
                       release_s=last - t1, unanswered=left)
            print("approved all (%s, %.1fs): %d of the %d requests sent answered 200 (%s%s) "
                  "within %.1fs of the first approval"
                  % ("one call" if fast else "one call each", approved_s, answered, len(socks),
                     ", ".join("%s: %d" % kv for kv in sorted(codes.items())),
                     ", %d unanswered after 120 s" % left if left else "", last - t1))
    finally:
        if fast:
            fast.stop()
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if out.get("answered_200") == n else 1


def profile(pid, tmp):
    """The proxy's top symbols over 3 s (perf record), or None."""
    data = os.path.join(tmp, "perf.data")
    try:
        subprocess.run(["perf", "record", "-q", "-F", "999", "-p", str(pid), "-o", data, "--",
                        "sleep", "3"], capture_output=True, timeout=30, check=True)
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "symbol"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    top = []
    for line in rep.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)", line)
        if m:
            top.append((m.group(2), float(m.group(1))))
        if len(top) == 6:
            break
    return top


if __name__ == "__main__":
    sys.exit(main())
