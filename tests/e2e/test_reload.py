#!/usr/bin/env python3
"""End-to-end tests of SIGHUP: the configuration is re-read, validated and
swapped at once; a bad file keeps the running one; held requests survive.

Run: tests/e2e/test_reload.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Mock, Stack, wait_for  # noqa: E402
from test_proxy import eq, main as run_main  # noqa: E402

SHORT = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
LONG = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 8000\n"


def rewrite(s, text):
    with open(os.path.join(s.tmp, "proxy.yaml"), "w") as f:
        f.write(text)


def hup(s, expect):
    before = s.proxy_output().count(expect)
    s.proxy.send_signal(signal.SIGHUP)
    wait_for(lambda: s.proxy_output().count(expect) > before, 10, expect)
    return [json.loads(line) for line in s.proxy_output().splitlines()
            if expect in line][-1]


def approve_pending_after(s, delay):
    def run():
        time.sleep(delay)
        for a in s.wingman.call("GET", "/_mock/approvals")[1]["approvals"]:
            if a["status"] == "PENDING":
                s.wingman.call("POST", "/approvals/%s/approve" % a["request_id"], {"decided_by": "op"})
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_reload_applies_new_settings():
    with Stack(config=SHORT) as s:
        st, _, _ = s.request("DELETE", "/memories?user_id=a")
        eq(st, 409, "short hold")
        rewrite(s, LONG + "log:\n  level: warn\n")
        line = hup(s, "configuration reloaded")
        eq(line["level"], "info")
        approve_pending_after(s, 0.6)
        st, _, _ = s.request("DELETE", "/memories?user_id=b")
        eq(st, 200, "the longer hold of the new file is in force")
        n = s.proxy_output().count('"msg":"request"')
        s.request("GET", "/memories?user_id=c")
        time.sleep(0.2)
        eq(s.proxy_output().count('"msg":"request"'), n, "log.level warn: no request lines")


def test_bad_file_keeps_the_running_configuration():
    with Stack(config=SHORT) as s:
        rewrite(s, "gate:\n  hold_max_ms: lots\nbogus: 1\n")
        line = hup(s, "reload failed")
        assert ":2:" in line["errors"] and ":3:" in line["errors"], line
        assert "hold_max_ms" in line["errors"] and "bogus" in line["errors"], line
        st, _, _ = s.request("DELETE", "/memories?user_id=a")
        eq(st, 409, "still the old configuration")
        st, _, _ = s.request("GET", "/_proxy/healthz")
        eq(st, 200)


def test_held_request_survives_a_reload():
    with Stack(config=LONG) as s:
        out = {}
        t = threading.Thread(target=lambda: out.update(r=s.request("DELETE", "/memories?user_id=h")))
        t.start()
        wait_for(lambda: s.wingman.call("GET", "/_mock/approvals")[1]["approvals"], 5, "held")
        rewrite(s, LONG.replace("8000", "7000"))
        hup(s, "configuration reloaded")
        approve_pending_after(s, 0.1)
        t.join(10)
        eq(out["r"][0], 200, "released after the reload")


def test_held_request_keeps_its_configuration():
    """A request reads the configuration it started with, to its answer: a
    reload while it is held changes the next request, not this one."""
    first = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 1500\n  pending_status: 409\n"
    with Stack(config=first) as s:
        out = {}
        t = threading.Thread(target=lambda: out.update(r=s.request("DELETE", "/memories?user_id=h")))
        t.start()
        wait_for(lambda: s.wingman.call("GET", "/_mock/approvals")[1]["approvals"], 5, "held")
        rewrite(s, "gate:\n  poll_interval_ms: 3000\n  hold_max_ms: 200\n  pending_status: 428\n")
        hup(s, "configuration reloaded")
        t.join(10)
        st, hdr, _ = out["r"]
        eq((st, hdr.get("retry-after")), (409, "1"), "held before the reload: its own status and Retry-After")
        st, hdr, _ = s.request("DELETE", "/memories?user_id=n")
        eq((st, hdr.get("retry-after")), (428, "3"), "a request after the reload: the new ones")


def test_a_held_request_keeps_the_wingman_it_asked():
    """wingman.url moves by reload while a request is held: the hold keeps
    polling the Wingman it asked, and goes when that one approves; the
    next request asks the new one (here nobody listens: 503)."""
    # shutdown_timeout_ms: at the end, claims for the dead Wingman wait
    # for nobody.
    gate = "shutdown_timeout_ms: 500\ngate:\n  poll_interval_ms: 100\n  hold_max_ms: 8000\n"
    with Stack(config=gate, env={"WINGMAN_URL": ""}) as s:
        rewrite(s, gate + "wingman:\n  url: %s\n" % s.wingman.url)
        hup(s, "configuration reloaded")
        out = {}
        t = threading.Thread(target=lambda: out.update(r=s.request("DELETE", "/memories?user_id=w")))
        t.start()
        wait_for(lambda: s.wingman.call("GET", "/_mock/approvals")[1]["approvals"], 5, "held")
        rewrite(s, gate + "wingman:\n  url: http://127.0.0.1:9\n  timeout_ms: 500\n")
        hup(s, "configuration reloaded")
        time.sleep(0.5)                 # several polls after the move
        approve_pending_after(s, 0)
        t.join(10)
        eq(out["r"][0], 200, "released by the Wingman it asked")
        st, _, _ = s.request("DELETE", "/memories?user_id=x")
        eq(st, 503, "a new request asks the new Wingman")


def test_the_cap_is_refreshed_at_the_wingman_that_was_asked():
    """A client at gate.max_pending_per_client has one approval pending in
    Wingman A; wingman.url moves to Wingman B by reload. Its next try is
    refused at the cap and refreshes the pending one: asked of A (still
    pending, still counted: refused again), not of B, whose 404 would
    read as "decided" and free the cap."""
    gate = ("shutdown_timeout_ms: 500\ngate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n"
            "  max_pending_per_client: 1\n")
    with Stack(config=gate, env={"WINGMAN_URL": ""}) as s:
        other = os.path.join(s.tmp, "wingman-b")
        os.makedirs(os.path.join(other, "data"))
        b = Mock("mock_wingman.py", other, ["--data-dir", os.path.join(other, "data")]).start()
        try:
            rewrite(s, gate + "wingman:\n  url: %s\n" % s.wingman.url)
            hup(s, "configuration reloaded")
            st, _, _ = s.request("DELETE", "/memories?user_id=a")
            eq(st, 409, "pending at Wingman A, past hold_max")
            rewrite(s, gate + "wingman:\n  url: %s\n" % b.url)
            hup(s, "configuration reloaded")
            st, _, body = s.request("DELETE", "/memories?user_id=c")
            eq(st, 429, "at the cap")
            time.sleep(0.5)             # the refresh answers
            st, _, body = s.request("DELETE", "/memories?user_id=c")
            eq(st, 429, "still at the cap: A says the approval is pending")
            eq([r for r in b.call("GET", "/_mock/requests")[1] if "/approvals/" in r.get("path", "")], [],
               "Wingman B was asked nothing about A's approval")
        finally:
            b.stop()


def test_restart_only_keys_are_reported_and_kept():
    with Stack(config=SHORT) as s:
        rewrite(s, SHORT + "limits:\n  max_connections: 7\n")
        line = hup(s, "configuration reloaded")
        eq((line["level"], line["restart_needed_for"]), ("warn", "limits.max_connections"))
        st, _, _ = s.request("GET", "/_proxy/healthz")
        eq(st, 200, "still listening where it was")


def test_unsafe_key_file_fails_the_reload():
    with Stack(config=SHORT) as s:
        key = os.path.join(s.tmp, "read.key")
        with open(key, "w") as f:
            f.write("rk1\n")
        os.chmod(key, 0o644)
        rewrite(s, SHORT + "wingman:\n  read_key_file: %s\n" % key)
        line = hup(s, "reload failed")
        assert "group or others" in line["detail"], line


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
