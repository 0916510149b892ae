#!/usr/bin/env python3
"""End-to-end tests of the audit trail under faults: a full disk, failing
and slow fsyncs, read errors, damaged records and ack state, and a name
lookup that never answers. The faults come from a real tmpfs and from
tests/faults/faultshim.c, preloaded into the proxy (rules set while it
runs). The promise checked every time: every answered request's claim
reaches Wingman, or is in the log in replayable form (and `replay` sends
it); no restart is needed after any fault.

Run: tests/e2e/test_faults.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PROXY_BIN, Stack, wait_for  # noqa: E402
from test_proxy import eq, split, main as run_main  # noqa: E402

RETRY = "claims:\n  retry_initial_ms: 20\n  retry_max_ms: 100\nshutdown_timeout_ms: 2000\n"
MID = "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"


def rids(claims):
    return {split(c)[1]["rid"] for c in claims}


def fallback_lines(s):
    """The claims the proxy could not store: in its log, for replay."""
    out = []
    for line in s.proxy_output().splitlines():
        if '"claim not stored"' in line:
            out.append(json.loads(line[line.index("{"):])["log_claim"])
    return out


def metric(s, name):
    st, _, raw = s.request("GET", "/_proxy/metrics")
    for line in raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric " + name)


def ready(s):
    return s.request("GET", "/_proxy/readyz")[0] == 200


def mount_tmpfs(path, size):
    """A small tmpfs, or None when this machine does not allow it."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return path if r.returncode == 0 else None


def load_until_refused(s, answered, exports_refused, limit=5000):
    """Ordinary requests and exports until the spool refuses; note what
    was answered (2xx) and which exports were refused for the audit."""
    for i in range(limit):
        if i % 3 == 2:
            st, h, raw = s.request("GET", "/memories?user_id=full%d" % i)
            if st == 503 and json.loads(raw)["error"] == "audit_unavailable":
                exports_refused.append(h["x-request-id"])
        else:
            st, h, raw = s.request("POST", "/memories", {
                "messages": [{"role": "user", "content": "fact %d" % i}], "user_id": "full%d" % i})
        if 200 <= st < 300:
            answered.add(h["x-request-id"])
        elif st == 503:
            eq(json.loads(raw)["error"], "audit_unavailable")
            # Refused early from now on: nothing reaches Mem0.
            before = len(s.upstream_requests())
            st2, _, raw2 = s.request("POST", "/memories", {
                "messages": [{"role": "user", "content": "x"}], "user_id": "refused"})
            eq((st2, json.loads(raw2)["error"]), (503, "audit_unavailable"))
            eq(len(s.upstream_requests()), before, "refused before Mem0")
            return
        else:
            raise AssertionError("unexpected status %d" % st)
    raise AssertionError("the spool never filled up")


def replay_and_check(s, answered):
    """Everything answered reaches Wingman: delivered from the spool, or
    replayed from the log with `mem0-audit-proxy replay`."""
    fb = fallback_lines(s)
    log = os.path.join(s.tmp, "proxy-copy.log")
    with open(log, "w") as f:
        f.write(s.proxy_output())
    r = subprocess.run([PROXY_BIN, "replay", log], capture_output=True, text=True,
                       env=s.proxy_env(s.mem0_url))
    eq(r.returncode, 0, "replay: " + r.stdout + r.stderr)
    assert "replayed %d of %d claims" % (len(fb), len(fb)) in r.stdout, r.stdout
    got = set()

    def all_there():
        got.update(rids(s.claims()))
        return answered <= got
    try:
        wait_for(all_there, 30, "every answered request's claim")
    except TimeoutError:
        pass
    eq(answered - got, set(), "answered requests without a claim")
    return fb


def test_full_disk_recovers_without_restart():
    """The state dir on a 256 KiB tmpfs, Wingman down: the disk fills up.
    Ordinary answers go out with their claims in the log; exports are
    refused; then everything is refused, readiness says so. Wingman comes
    back: delivered segments are removed, the spool takes writes again by
    itself, and every answered request's claim reaches Wingman."""
    base = tempfile.mkdtemp(prefix="m0ap-tmpfs-")
    fs = mount_tmpfs(os.path.join(base, "fs"), "256k")
    faults = fs is None
    state = os.path.join(fs, "state") if fs else None
    try:
        with Stack(wingman=False, config=RETRY, state_dir=state, faults=faults) as s:
            if faults:
                # No tmpfs here: a disk that is full until told otherwise.
                print("  (no tmpfs allowed: ENOSPC comes from the fault shim)")
                s.faults("write ENOSPC path=/spool/ after=300\nwritev ENOSPC path=/spool/ after=300\n"
                         "openat ENOSPC path=/spool/probe after=0")
            answered, exports_refused = set(), []
            load_until_refused(s, answered, exports_refused)
            assert not ready(s)
            st, _, raw = s.request("GET", "/_proxy/readyz")
            eq(json.loads(raw)["spool_writable"], False)
            assert "a write failed" in s.proxy_output()
            fb = fallback_lines(s)
            assert fb, "some claims went to the log for replay"
            eq(metric(s, 'mem0_proxy_claims_total{state="fallback"}'), float(len(fb)))
            # Wingman is back: claims drain, space frees, no restart.
            if faults:
                s.faults("")
            s.start_wingman()
            wait_for(lambda: ready(s), 30, "ready again without a restart")
            assert "takes writes again" in s.proxy_output()
            assert metric(s, "mem0_proxy_spool_unwritable_seconds_total") > 0
            eq(metric(s, "mem0_proxy_spool_writable"), 1.0)
            st, h, _ = s.request("GET", "/memories?user_id=after")
            eq(st, 200, "exports work again")
            answered.add(h["x-request-id"])
            replay_and_check(s, answered)
            # A refused export is claimed as refused; none was released.
            for c in fb:
                assert not c["claim"].startswith("Exported"), c
    finally:
        if fs:
            subprocess.run(["umount", "-l", fs])


def test_injected_enospc_then_eio_on_fsync():
    """Writes fail (ENOSPC), then fsyncs fail (EIO): exports and gated
    answers wait for their claim and are refused; ordinary answers go out
    with their claims in the log. Both recover when the faults end."""
    with Stack(config=RETRY + "gate:\n  poll_interval_ms: 50\n  hold_max_ms: 2000\n", faults=True,
               wingman_args=["--require-approval", "0"]) as s:
        answered = set()
        st, h, _ = s.request("GET", "/memories?user_id=before")
        eq(st, 200)
        answered.add(h["x-request-id"])
        s.faults("writev ENOSPC path=/spool/")
        st, h, raw = s.request("GET", "/memories?user_id=e1")
        eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"), "an export never leaves unstored")
        st, h, raw = s.request("POST", "/reset")
        eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"), "nothing gated happens unaudited")
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [])
        s.faults("")
        wait_for(lambda: ready(s), 10, "writable again")
        # fsync fails: the claim is written but not known to be on disk.
        s.faults("fdatasync EIO path=/spool/seg-")
        st, h, raw = s.request("GET", "/memories?user_id=e2")
        eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"), "export waits for its fsync")
        s.faults("")
        wait_for(lambda: ready(s), 10, "writable again after EIO")
        st, h, _ = s.request("POST", "/reset")
        eq(st, 200, "gated requests work again")
        answered.add(h["x-request-id"])
        st, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "x"}],
                                                  "user_id": "after"})
        eq(st, 200)
        answered.add(h["x-request-id"])
        replay_and_check(s, answered)


def test_read_errors_lose_nothing_and_count_nothing_corrupt():
    """Records read back after a restart hit EMFILE, EIO and short reads:
    they stay in the spool, are retried, and every one is delivered; none
    is counted corrupt."""
    with Stack(wingman=False, config=RETRY, faults=True) as s:
        sent = set()
        for i in range(20):
            st, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "r%d" % i}],
                                                      "user_id": "r%d" % i})
            eq(st, 200)
            sent.add(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        s.start_proxy()            # nothing cached now: read from disk
        s.faults("openat EMFILE path=/spool/seg- count=3\npreadv EIO path=/spool/seg- count=3\n"
                 "preadv short path=/spool/seg- count=3")
        s.start_wingman()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or sent <= got, 30, "all 20 claims")
        eq(metric(s, "mem0_proxy_spool_corrupt_records_total"), 0.0)
        assert metric(s, "mem0_proxy_spool_io_errors_total") >= 3


def test_damaged_record_is_quarantined_and_the_rest_delivered():
    with Stack(wingman=False, config=RETRY) as s:
        sent = []
        for i in range(10):
            st, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "q%d" % i}],
                                                      "user_id": "q%d" % i})
            sent.append(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        seg = [p for p in sorted(glob.glob(os.path.join(s.state_dir, "spool", "seg-*.log")))
               if os.path.getsize(p) > 0][0]
        with open(seg, "r+b") as f:
            data = f.read()
            pos = data.index(sent[4].encode())   # inside record 5's payload
            f.seek(pos)
            f.write(b"X")
        s.start_wingman()
        s.start_proxy()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or set(sent) - {sent[4]} <= got, 20, "9 claims")
        assert sent[4] not in got, "the damaged record is not delivered"
        eq(metric(s, "mem0_proxy_spool_corrupt_records_total"), 1.0)
        q = glob.glob(os.path.join(s.state_dir, "spool", "quarantine", "*"))
        eq(len(q), 1, "its bytes are kept")
        with open(q[0], "rb") as f:
            assert b"X" + sent[4].encode()[1:] in f.read()
        assert "quarantine" in s.proxy_output()


def test_damaged_acked_file_replays_everything():
    with Stack(config=RETRY) as s:
        first = []
        for i in range(5):
            _, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "a%d" % i}],
                                                     "user_id": "a%d" % i})
            first.append(h["x-request-id"])
        s.wait_claims(5)
        s.wingman.stop()
        pending = set()
        for i in range(5):
            _, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "b%d" % i}],
                                                     "user_id": "b%d" % i})
            pending.add(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        acked = os.path.join(s.state_dir, "spool", "acked")
        with open(acked) as f:
            text = f.read()
        low = re.search(r"^low (\d+)$", text, re.M)
        assert low, text
        with open(acked, "w") as f:       # one digit changed: low 99999999
            f.write(text.replace(low.group(0), "low 99999999"))
        s.start_wingman()
        s.start_proxy()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or pending <= got, 20, "the pending claims")
        assert "acked file is not used" in s.proxy_output()


def test_slow_disk_delays_only_durable_answers():
    """Every spool fsync takes 200 ms: reads keep their latency, exports
    wait for their group commit (and share it)."""
    with Stack(config=RETRY, faults=True) as s:
        def timed(method, path, n):
            out = []
            for _ in range(n):
                t0 = time.monotonic()
                st, _, _ = s.request(method, path)
                out.append(time.monotonic() - t0)
            return sorted(out)
        base = timed("GET", "/v1/memories/%s/" % MID, 30)
        s.faults("fdatasync sleep=200 path=/spool/\nfsync sleep=200 path=/spool")
        slow = timed("GET", "/v1/memories/%s/" % MID, 30)
        assert slow[-2] - base[-2] < 0.05, "reads slowed by the disk: %.3f vs %.3f" % (slow[-2], base[-2])
        one = timed("GET", "/memories?user_id=slow", 3)
        assert one[0] >= 0.15, "an export waits for its fsync: %.3f" % one[0]
        done = []

        def export(i):
            t0 = time.monotonic()
            st, _, _ = s.request("GET", "/memories?user_id=par%d" % i)
            done.append((st, time.monotonic() - t0))
        t0 = time.monotonic()
        ts = [threading.Thread(target=export, args=(i,)) for i in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.monotonic() - t0
        eq([st for st, _ in done], [200] * 12)
        assert took < 12 * 0.2 * 0.6, "12 exports share fsyncs (group commit): %.2f s" % took
        s.faults("")


def test_name_lookup_that_never_answers():
    """Mem0's host name hangs in getaddrinfo: 504 within the connect
    timeout, the proxy keeps serving, and SIGTERM exits in time."""
    cfg = RETRY + "upstream:\n  connect_timeout_ms: 1000\n"
    with Stack(config=cfg, faults=True) as s:
        s.faults("getaddrinfo sleep=8000 path=mem0.hang.test")
        s.stop_proxy()
        s.start_proxy("http://mem0.hang.test:%d" % s.mem0.port)
        out = {}

        def slow():
            t0 = time.monotonic()
            out["r"] = s.request("GET", "/v1/memories/%s/" % MID)
            out["t"] = time.monotonic() - t0
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        eq(s.request("GET", "/_proxy/healthz")[0], 200)
        assert time.monotonic() - t0 < 0.5, "the proxy answers while a lookup hangs"
        th.join(10)
        st, _, raw = out["r"]
        eq((st, json.loads(raw)["error"]), (504, "upstream_timeout"))
        assert out["t"] < 2.5, "504 after %.1f s, want the 1 s connect timeout" % out["t"]
        wait_for(lambda: any("error=upstream_timeout" in c for c in s.claims()), 5, "its claim")
        # Another lookup is hanging at the stop: the exit does not wait.
        threading.Thread(target=lambda: s.request("GET", "/v1/memories/%s/" % MID), daemon=True).start()
        time.sleep(0.3)
        t0 = time.monotonic()
        s.proxy.send_signal(signal.SIGTERM)
        code = s.proxy.wait(10)
        took = time.monotonic() - t0
        eq(code, 0)
        assert took < 2.0 + 1.5, "SIGTERM took %.1f s with a lookup hanging" % took


def test_kill_9_at_random_points_loses_nothing():
    import random
    with Stack(config=RETRY) as s:
        s.wingman.call("POST", "/_mock/fault", {"mode": "delay", "delay_ms": 100, "count": -1,
                                                "path_prefix": "/log_claim"})
        answered = set()
        for round_ in range(3):
            stop = threading.Event()
            lock = threading.Lock()

            def load(k):
                i = 0
                while not stop.is_set():
                    try:
                        st, h, _ = s.request("GET" if i % 2 else "POST",
                                             "/memories?user_id=k%d" % k if i % 2 else "/memories",
                                             None if i % 2 else {"messages": [{"role": "user", "content": "x"}],
                                                                 "user_id": "k%d" % k}, timeout=5)
                    except OSError:
                        return
                    if 200 <= st < 300:
                        with lock:
                            answered.add(h["x-request-id"])
                    i += 1
            ts = [threading.Thread(target=load, args=(k,)) for k in range(6)]
            for t in ts:
                t.start()
            time.sleep(random.uniform(0.3, 1.5))
            s.stop_proxy(signal.SIGKILL)
            stop.set()
            for t in ts:
                t.join()
            s.start_proxy()
        s.wingman.call("DELETE", "/_mock/fault")
        got = set()
        try:
            wait_for(lambda: got.update(rids(s.claims())) or answered <= got, 60, "every claim")
        except TimeoutError:
            pass
        eq(answered - got, set(), "answered before a kill -9, never claimed")


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
