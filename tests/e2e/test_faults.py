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
    return s.metric(name)


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
    eq(s.missing_claims(answered), set(), "answered requests without a claim")
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
    """Records read back after a restart hit EMFILE, EIO and short reads,
    at start (replay) and while sending (the writer reads them back): they
    stay in the spool, are retried, and every one is delivered; none is
    counted corrupt or quarantined."""
    with Stack(wingman=False, config=RETRY, faults=True) as s:
        sent = set()
        for i in range(20):
            st, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "r%d" % i}],
                                                      "user_id": "r%d" % i})
            eq(st, 200)
            sent.add(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        # From the first instruction of the next start: nothing is cached.
        s.faults("openat EMFILE path=/spool/seg- count=2\npread EIO path=/spool/seg- count=2\n"
                 "pread short path=/spool/seg- count=1\n"
                 "preadv EIO path=/spool/seg- count=3\npreadv short path=/spool/seg- count=3")
        s.start_proxy()
        s.start_wingman()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or sent <= got, 30, "all 20 claims")
        eq(metric(s, "mem0_proxy_spool_corrupt_records_total"), 0.0)
        assert metric(s, "mem0_proxy_spool_io_errors_total") >= 3
        eq(os.listdir(os.path.join(s.state_dir, "spool", "quarantine"))
           if os.path.isdir(os.path.join(s.state_dir, "spool", "quarantine")) else [], [])
        assert "cannot read a queued claim" in s.proxy_output()


def test_read_error_that_never_clears_at_start_refuses_to_start():
    """A segment that cannot be read at all at start: the proxy refuses to
    start (saying so), and drops nothing; once the disk reads, it starts
    and delivers everything."""
    with Stack(wingman=False, config=RETRY, faults=True) as s:
        sent = set()
        for i in range(5):
            st, h, _ = s.request("POST", "/memories", {"messages": [{"role": "user", "content": "n%d" % i}],
                                                      "user_id": "n%d" % i})
            sent.add(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        s.faults("pread EIO path=/spool/seg-")
        try:
            s.start_proxy()
            raise AssertionError("started without reading its spool")
        except RuntimeError as e:
            assert "nothing was dropped" in str(e) or "nothing was dropped" in s.proxy_output(), str(e)
        s.faults("")
        s.start_proxy()
        s.start_wingman()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or sent <= got, 30, "all 5 claims")
        eq(metric(s, "mem0_proxy_spool_corrupt_records_total"), 0.0)


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


# --- faults found by attacking the spool -------------------------------------

def spool_files(s):
    return sorted(f for f in os.listdir(os.path.join(s.state_dir, "spool")) if f.startswith("seg-"))


def create(s, i, who="u"):
    return s.request("POST", "/memories", {"messages": [{"role": "user", "content": "fact %s" % i}],
                                          "user_id": "%s%s" % (who, i)})


def test_a_leftover_segment_file_does_not_wedge_the_spool():
    """A write fails into a fresh segment and removing that empty file
    fails too: the leftover has the next segment's name. The writer
    removes it and goes on; the proxy takes requests again at once."""
    with Stack(config=RETRY, faults=True) as s:
        eq(create(s, 0)[0], 200)
        s.faults("writev ENOSPC path=/spool/seg- count=1\nunlinkat EIO path=/spool/seg- count=1")
        for i in range(1, 4):
            create(s, i)
        s.faults("")
        wait_for(lambda: ready(s), 5, "writable again")
        for i in range(4, 20):
            eq(create(s, i)[0], 200, "request %d after the fault" % i)


def test_delivered_segments_never_leak_after_failed_writes():
    """Forty times: deliver everything, then a write fails. Delivered
    segments (the retired active one too) are removed: the disk holds no
    old segment and a full spool's worth of claims still fits."""
    with Stack(config=RETRY + "spool:\n  max_bytes: 64K\n  segment_bytes: 4K\n", faults=True) as s:
        n = 0
        for cycle in range(40):
            for _ in range(5):
                create(s, n)
                n += 1
            wait_for(lambda: metric(s, "mem0_proxy_spool_claims") == 0, 10, "delivered")
            s.faults("writev EIO path=/spool/seg- count=1")
            create(s, n)
            n += 1
            s.faults("")
            wait_for(lambda: ready(s), 5, "writable again")
        wait_for(lambda: metric(s, "mem0_proxy_spool_claims") == 0, 10, "delivered")
        wait_for(lambda: len(spool_files(s)) <= 2, 5, "old segments removed: %s" % spool_files(s))
        assert metric(s, "mem0_proxy_spool_bytes") < 8192, metric(s, "mem0_proxy_spool_bytes")
        s.wingman.stop()
        ok = 0
        while create(s, n)[0] == 200 and ok < 1000:
            ok += 1
            n += 1
        assert ok > 250, "a 64K spool took only %d claims" % ok


def test_drop_oldest_logs_every_dropped_claim():
    """overflow: drop_oldest with Wingman down: claims pushed out of a
    full spool go to the log in replayable form; every answered request
    (exports included) is delivered or replayable."""
    cfg = RETRY + "spool:\n  max_bytes: 64K\n  segment_bytes: 4K\n  overflow: drop_oldest\n"
    with Stack(wingman=False, config=cfg) as s:
        answered = set()
        for i in range(600):
            st, h, _ = (s.request("GET", "/memories?user_id=x%d" % i) if i % 4 == 0 else create(s, i))
            eq(st, 200)
            answered.add(h["x-request-id"])
        assert metric(s, 'mem0_proxy_claims_total{state="dropped"}') > 100
        wait_for(lambda: len(fallback_lines(s)) >= metric(s, 'mem0_proxy_claims_total{state="dropped"}'),
                 10, "every dropped claim in the log")
        assert all("drop_oldest" in line for line in s.proxy_output().splitlines()
                   if '"claim not stored"' in line and '"spool full' in line)
        s.start_wingman()
        replay_and_check(s, answered)


def test_a_failed_fsync_never_delivers_a_claim_it_refused():
    """The fsync of an export's claim, or of a gated request's start
    claim, fails: the client gets 503, and Wingman never receives the
    claim that said it happened (only the refusal, from the log)."""
    cfg = RETRY + "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 2000\n"
    with Stack(config=cfg, faults=True) as s:
        st, _, raw = s.request("POST", "/reset")
        aid = json.loads(raw)["approval_id"]
        s.wingman.call("POST", "/approvals/%s/approve" % aid, {"decided_by": "op", "note": "ok"})
        for what, method, path, headers in (("export", "GET", "/memories?user_id=alice", {}),
                                            ("reset", "POST", "/reset", {"X-Approval-Id": aid})):
            s.faults("fdatasync EIO path=/spool/seg- count=1\nfsync EIO path=/spool/seg- count=1")
            st, h, raw = s.request(method, path, headers=headers)
            eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"), what)
            rid = h["x-request-id"]
            s.faults("")
            wait_for(lambda: ready(s), 5, "writable again")
            time.sleep(0.5)
            mine = [c for c in s.claims() if "request=%s" % rid in c]
            eq([c for c in mine if not c.startswith("Attempt failed")], [], what + ": a false claim")
            assert any(rid in c["claim"] for c in fallback_lines(s)), what + ": the refusal is in the log"
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [], "nothing reset")


def test_a_refused_gated_request_never_says_mem0_did_it():
    with Stack(config=RETRY, faults=True) as s:
        s.faults("writev ENOSPC path=/spool/seg-\nopenat ENOSPC path=/spool/probe")
        create(s, 0)
        wait_for(lambda: not ready(s), 5, "unwritable")
        for method, path in (("POST", "/reset"), ("DELETE", "/memories?user_id=alice")):
            st, _, raw = s.request(method, path)
            body = json.loads(raw)
            eq((st, body["error"]), (503, "audit_unavailable"))
            assert "carried out" not in body["message"], body["message"]
        eq([r for r in s.upstream_requests() if r["method"] != "POST" or r["path"] == "/reset"], [])


def test_restart_on_a_full_disk_starts_and_drains():
    """kill -9 with a full disk, then restart: the proxy starts (refusing
    requests until it can write), sends its backlog, which frees space,
    and takes requests again, no operator needed."""
    base = tempfile.mkdtemp(prefix="m0ap-tmpfs-")
    fs = mount_tmpfs(os.path.join(base, "fs"), "256k")
    if fs is None:
        print("  (no tmpfs allowed here: skipped)")
        return
    try:
        with Stack(wingman=False, config=RETRY, state_dir=os.path.join(fs, "state")) as s:
            answered, refused = set(), []
            load_until_refused(s, answered, refused)
            s.stop_proxy(signal.SIGKILL)
            s.start_proxy()
            assert not ready(s)
            s.start_wingman()
            wait_for(lambda: ready(s), 30, "ready without an operator")
            eq(create(s, "after")[0], 200)
            replay_and_check(s, answered)
    finally:
        subprocess.run(["umount", "-l", fs])


def test_slow_reads_and_slow_file_creation_stall_no_request():
    """Reading a backlog back (every read sleeps 300 ms) and making new
    segment files (every create sleeps 2 s) happen on the spool's writer
    thread: reads through the proxy keep their latency."""
    with Stack(wingman=False, config=RETRY + "spool:\n  segment_bytes: 4K\n", faults=True) as s:
        # A backlog of a few segments: each opens 2 s late at start.
        for i in range(50):
            create(s, i)
        eq(s.stop_proxy(), 0)
        s.faults("preadv sleep=300 path=/spool/seg-\nopenat sleep=2000 path=/spool/seg-")
        s.start_proxy()
        s.start_wingman()
        worst = 0.0
        for i in range(30):
            t0 = time.monotonic()
            eq(s.request("GET", "/v1/memories/%s/" % MID)[0] in (200, 401, 404), True)
            create(s, "r%d" % i)
            worst = max(worst, time.monotonic() - t0)
        assert worst < 0.25, "a request waited %.2f s for the disk" % worst


def test_impossible_acked_file_replays_everything():
    """An acked file with a valid checksum but a next sequence number near
    2^64: refused (it would wrap), everything on disk is sent again."""
    with Stack(wingman=False, config=RETRY) as s:
        sent = set()
        for i in range(6):
            sent.add(create(s, i)[1]["x-request-id"])
        eq(s.stop_proxy(), 0)
        path = os.path.join(s.state_dir, "spool", "acked")
        with open(path) as f:
            lines = f.read().split("\n")
        body = "\n".join(["next %d" % (2 ** 64 - 3) if ln.startswith("next ") else
                          "low %d" % (2 ** 64 - 3) if ln.startswith("low ") else ln
                          for ln in lines if ln and not ln.startswith("crc ")]) + "\n"
        crc = crc32c(body.encode())
        with open(path, "w") as f:
            f.write(body + "crc %08x\n" % crc)
        s.start_proxy()
        assert "impossible sequence numbers" in s.proxy_output()
        s.start_wingman()
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or sent <= got, 10, "all 6 sent")


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82f63b78 if crc & 1 else crc >> 1
    return crc ^ 0xffffffff


def test_replay_reads_every_log_spelling_and_never_skips_quietly():
    """journalctl and syslog prefixes (with a '{' of their own), two lines
    glued together, docker's json-file lines: every claim is sent. A cut
    line is counted, named, and makes replay exit 1."""
    with Stack(config=RETRY) as s:
        body = {"msg": "claim not stored", "reason": "spool full",
                "log_claim": {"claim": "Ping [op=ping method=GET status=200 request=%s]", "worker_id": "w"}}

        def line(rid):
            b = json.loads(json.dumps(body))
            b["log_claim"]["claim"] = b["log_claim"]["claim"] % rid
            return json.dumps(b)
        rids_ = ["%032x" % i for i in range(1, 7)]
        text = "\n".join([
            line(rids_[0]),
            "Nov 28 10:00:00 host mem0-audit-proxy[42]: {x} " + line(rids_[1]),
            line(rids_[2]) + line(rids_[3]),
            json.dumps({"log": line(rids_[4]) + "\n", "stream": "stderr", "time": "2026-11-28T10:00:00Z"}),
            line(rids_[5])[:60],
            "an unrelated line {\"msg\":\"request\"}",
        ]) + "\n"
        log = os.path.join(s.tmp, "edges.log")
        with open(log, "w") as f:
            f.write(text)
        r = subprocess.run([PROXY_BIN, "replay", log], capture_output=True, text=True,
                           env=s.proxy_env(s.mem0_url))
        eq(r.returncode, 1, r.stdout + r.stderr)
        assert "replayed 5 of 6 claims" in r.stdout, r.stdout
        assert "edges.log:5:" in r.stderr and "cannot be read" in r.stderr, r.stderr
        got = set()
        wait_for(lambda: got.update(rids(s.claims())) or set(rids_[:5]) <= got, 10, "5 replayed")


def test_sigterm_with_a_hanging_fsync_exits_in_time():
    with Stack(config="shutdown_timeout_ms: 2000\n", faults=True) as s:
        eq(create(s, 0)[0], 200)
        s.faults("fdatasync sleep=15000 path=/spool/\nfsync sleep=15000 path=/spool")
        done = []
        t = threading.Thread(target=lambda: done.append(s.request("GET", "/memories?user_id=hang")[0]))
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        s.proxy.send_signal(signal.SIGTERM)
        s.proxy.wait(20)
        took = time.monotonic() - t0
        t.join(10)
        assert took < 5, "exit took %.1f s" % took
        eq(s.proxy.returncode, 0)
        eq(done, [503], "the export waiting for the disk is refused")
        s.stop_proxy()


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
