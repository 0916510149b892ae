#!/usr/bin/env python3
"""End-to-end tests of durable claims: the spool survives Wingman outages,
kill -9 and a corrupt tail; a full spool follows spool.overflow.

Run: tests/e2e/test_spool.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import glob
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, wait_for  # noqa: E402
from test_proxy import eq, split, main as run_main  # noqa: E402

RETRY = "claims:\n  retry_initial_ms: 50\n  retry_max_ms: 200\nshutdown_timeout_ms: 300\n"


def rids(claims):
    return {split(c)[1]["rid"] for c in claims}


def test_wingman_down_whole_run_then_up_every_claim_arrives_after_restart():
    with Stack(wingman=False, config=RETRY) as s:
        sent = set()
        for i in range(30):
            st, h, _ = s.request("GET", "/memories?user_id=w%d" % i)
            eq(st, 200)
            sent.add(h["x-request-id"])
        eq(s.stop_proxy(), 0, "clean stop with claims still undelivered")
        assert "stay in the spool" in s.proxy_output()
        s.start_wingman()
        s.start_proxy()
        claims = s.wait_claims(30)
        eq(rids(claims), sent, "every claim, after a restart")


def test_kill_9_under_load_loses_no_acknowledged_request():
    with Stack(config=RETRY) as s:
        # Wingman is slow: claims pile up in the spool while requests flow.
        s.wingman.call("POST", "/_mock/fault", {"mode": "delay", "delay_ms": 300, "count": -1,
                                                "path_prefix": "/log_claim"})
        answered, stop = set(), threading.Event()
        lock = threading.Lock()

        def load(k):
            i = 0
            while not stop.is_set():
                try:
                    st, h, _ = s.request("POST", "/memories", {
                        "messages": [{"role": "user", "content": "load %d" % i}],
                        "user_id": "k%d" % k}, timeout=5)
                except OSError:
                    return
                if st == 200:
                    with lock:
                        answered.add(h["x-request-id"])
                i += 1
        ts = [threading.Thread(target=load, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        wait_for(lambda: len(answered) >= 150, 30, "load")
        s.stop_proxy(signal.SIGKILL)
        stop.set()
        for t in ts:
            t.join()
        s.wingman.call("DELETE", "/_mock/fault")
        s.start_proxy()
        with lock:
            want = set(answered)
        # Wait for the set, not a count: requests in flight at the kill
        # leave claims too, so a count is reached before the last one.
        eq(s.missing_claims(want, 60), set(),
           "requests answered before kill -9 without a claim")


def test_corrupt_tail_is_skipped_and_counted():
    with Stack(wingman=False, config=RETRY) as s:
        sent = set()
        for i in range(5):
            _, h, _ = s.request("GET", "/memories?user_id=c%d" % i)
            sent.add(h["x-request-id"])
        eq(s.stop_proxy(), 0)
        segs = sorted(glob.glob(os.path.join(s.state_dir, "spool", "seg-*.log")))
        assert segs, "segments on disk"
        with open(segs[-1], "ab") as f:
            f.write(b"M0\x00garbage-tail-of-a-torn-write" * 3)
        s.start_wingman()
        s.start_proxy()
        claims = s.wait_claims(5)
        eq(rids(claims), sent, "the good records are all delivered")
        _, h, _ = s.request("GET", "/memories?user_id=after")
        wait_for(lambda: len(s.claims()) >= 6, 10, "new claims after replay")
        assert "corrupt" in s.proxy_output(), "corrupt records are logged"


def test_full_spool_blocks_with_503_then_recovers():
    cfg = RETRY + "spool:\n  max_bytes: 64KiB\n  segment_bytes: 4KiB\n"
    with Stack(wingman=False, config=cfg) as s:
        statuses = []
        for i in range(2000):
            st, h, raw = s.request("GET", "/memories?user_id=full%d" % i)
            statuses.append(st)
            if st == 503:
                j = json.loads(raw)
                eq(j["error"], "audit_unavailable")
                assert int(h["retry-after"]) > 0
                break
        eq(statuses[-1], 503, "a full spool refuses requests")
        n_ok = statuses.count(200)
        # The export whose claim did not fit was read from Mem0 but never
        # released; from then on requests are refused before Mem0.
        before = len(s.upstream_requests())
        assert before in (n_ok, n_ok + 1), (before, n_ok)
        st, h, raw = s.request("GET", "/memories?user_id=refused")
        eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"))
        eq(len(s.upstream_requests()), before, "the refused request never reached Mem0")
        s.start_wingman()
        wait_for(lambda: s.request("GET", "/memories?user_id=again")[0] == 200, 20, "room again")
        s.wait_claims(n_ok, timeout=30)


def test_drop_oldest_keeps_serving_and_counts():
    cfg = RETRY + "spool:\n  max_bytes: 64KiB\n  segment_bytes: 4KiB\n  overflow: drop_oldest\n"
    with Stack(wingman=False, config=cfg) as s:
        last = None
        for i in range(600):
            st, h, _ = s.request("GET", "/memories?user_id=drop%d" % i)
            eq(st, 200, "drop_oldest never refuses")
            last = h["x-request-id"]
        s.start_wingman()
        wait_for(lambda: last in rids(s.claims()), 30, "newest claim delivered")
        assert len(s.claims()) < 600, "the oldest were dropped"


def test_unusable_state_dir_refuses_to_start():
    """A state directory another local user could change (or plant a key
    in) is refused with a message saying what to fix."""
    def state_file(state):
        with open(state, "w") as f:
            f.write("not a directory")

    def state_mode(mode):
        def setup(state):
            os.makedirs(state)
            os.chmod(state, mode)
        return setup

    def state_owner(state):
        os.makedirs(state, mode=0o700)
        os.chown(state, 4242, 4242)

    # Symlinks another user made (systemd's own, root's, are followed).
    def state_link(state):
        os.makedirs(state + ".real", mode=0o700)
        os.symlink(state + ".real", state)
        os.lchown(state, 4242, 4242)

    def key_owner(state):
        os.makedirs(state, mode=0o700)
        with open(os.path.join(state, "hmac.key"), "w") as f:
            f.write("k" * 32)
        os.chmod(os.path.join(state, "hmac.key"), 0o600)
        os.chown(os.path.join(state, "hmac.key"), 4242, 4242)

    def archive_link(state):
        os.makedirs(state, mode=0o700)
        os.makedirs(state + ".elsewhere", mode=0o700)
        os.symlink(state + ".elsewhere", os.path.join(state, "exports"))
        os.lchown(os.path.join(state, "exports"), 4242, 4242)

    cases = [(state_file, "not a directory"),
             (state_mode(0o777), "writable by group or others (mode 0777)"),
             (state_mode(0o775), "writable by group or others"),
             (state_owner, "owned by uid 4242"),
             (state_link, "a symlink"),
             (key_owner, "owned by uid 4242"),
             (archive_link, "a symlink")]
    for setup, want in cases:
        s = Stack()
        try:
            os.makedirs(s.tmp, exist_ok=True)
            state = os.path.join(s.tmp, "state")
            s.extra_env["PROXY_EXPORT_ARCHIVE_DIR"] = os.path.join(state, "exports")
            setup(state)
            try:
                s.start()
                raise AssertionError("started with %s" % setup.__name__)
            except RuntimeError as e:
                assert want in str(e), (setup.__name__, str(e))
        finally:
            s.stop()


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
