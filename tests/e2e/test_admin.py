#!/usr/bin/env python3
"""End-to-end tests of the admin listener (admin_listen): what it serves,
what the client listener no longer serves, the status page's data, and
the page itself in headless Chromium (Debian's chromium and
chromium-driver, driven over the WebDriver protocol with the standard
library): it loads, shows a held approval, updates without a reload, and
logs no console error.

Run: tests/e2e/test_admin.py [-k SUBSTRING]; prints "N passed, M failed".
SKIP_BROWSER=1 skips the Chromium test (the Docker build stage has no
browser); make check runs it.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PROXY_BIN, Stack, free_port, wait_for  # noqa: E402
from test_proxy import ALICE, BOB, eq, main as run_main  # noqa: E402

HELD = ("gate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n"
        "wingman:\n  timeout_ms: 400\n")


def hold(s, user):
    """A bulk delete held until hold_max: 409 approval_pending; the
    approval stays pending in Wingman (and on the status page)."""
    st, _, raw = s.request("DELETE", "/memories?user_id=" + user.replace("@", "%40"))
    eq(st, 409, raw)
    return json.loads(raw)["approval_id"]


def status(s):
    st, h, raw = s.admin("GET", "/status.json")
    eq(st, 200, raw)
    assert h["content-type"].startswith("application/json"), h
    return json.loads(raw)


def test_client_listener_serves_only_health():
    with Stack() as s:
        for path in ("/_proxy/healthz", "/_proxy/readyz"):
            eq(s.request("GET", path)[0], 200, path)
        for path in ("/_proxy/metrics", "/_proxy/status", "/_proxy/status.json",
                     "/_proxy/approvals/0b5e1c3a-1111-4a2b-9c3d-222233334444"):
            st, _, raw = s.request("GET", path)
            j = json.loads(raw)
            eq((st, j["error"]), (404, "not_found"), path)
            assert "admin_listen" in j["message"], j
        eq(s.upstream_requests(), [])


def test_admin_endpoints_with_and_without_prefix():
    with Stack() as s:
        for prefix in ("", "/_proxy"):
            eq(s.admin("GET", prefix + "/healthz")[0], 200)
            eq(s.admin("GET", prefix + "/readyz")[0], 200)
            st, h, raw = s.admin("GET", prefix + "/metrics")
            eq(st, 200)
            assert h["content-type"].startswith("text/plain"), h
            assert b"mem0_proxy_approval_oldest_pending_seconds 0\n" in raw, raw[-400:]
            assert b"mem0_proxy_upstream_reachable 1\n" in raw
            st, h, raw = s.admin("GET", prefix + "/status")
            eq(st, 200)
            assert h["content-type"].startswith("text/html"), h
            assert "script-src 'self'" in h["content-security-policy"], h
            eq(h["x-content-type-options"], "nosniff")
            assert b'<script src="status.js">' in raw
            st, h, raw = s.admin("GET", prefix + "/status.js")
            eq(st, 200)
            assert h["content-type"].startswith("text/javascript"), h
            assert b"innerHTML" not in raw, "the page builds no markup from data"
        # DNS rebinding: on loopback only an address or localhost in Host.
        for host, want in (("evil.example", 421), ("evil.example:%d" % s.admin_port, 421),
                           ("127.0.0.1.evil.example", 421), ("localhost:%d" % s.admin_port, 200),
                           ("127.0.0.1", 200), ("[::1]:%d" % s.admin_port, 200),
                           ("[::1]x", 421), ("127.0.0.1:80x", 421)):
            st, _, raw = s.admin("GET", "/status.json", headers={"Host": host})
            eq(st, want, (host, raw[:120]))
        st, _, raw = s.admin("GET", "/nope")
        eq((st, json.loads(raw)["error"]), (404, "not_found"))
        for method in ("POST", "DELETE", "PUT"):
            st, _, raw = s.admin(method, "/status.json", body={})
            eq((st, json.loads(raw)["error"]), (405, "method_not_allowed"), method)
        # A Mem0 path on the admin port is not forwarded nor claimed.
        eq(s.admin("POST", "/reset", body={})[0], 405)
        eq(s.admin("GET", "/memories?user_id=x")[0], 404)
        eq(s.upstream_requests(), [])
        time.sleep(0.3)
        eq(s.claims(), [])


def test_status_shows_held_approvals_by_pseudonym_and_the_spool():
    with Stack(config=HELD) as s:
        s.request("POST", "/memories", {"messages": [{"role": "user", "content": "x"}],
                                        "user_id": ALICE})
        j = status(s)
        for k in ("version", "config_digest", "uptime_s", "ready", "spool", "claims",
                  "wingman", "upstream", "holds", "approvals", "approvals_waiting"):
            assert k in j, k
        eq((j["ready"], j["upstream"]["reachable"], j["wingman"]["breaker_open"]),
           (True, True, False))
        eq(len(j["config_digest"]), 16)
        aid = hold(s, ALICE)

        box = [None]

        def shown():
            box[0] = status(s)
            return [a for a in box[0]["approvals"] if a["id"] == aid]
        got = wait_for(shown, 5, "the approval on the status page")[0]
        j = box[0]
        eq((got["kind"], got["state"]), ("bulk-delete", "pending"))
        eq(got["link"], s.wingman.url + "/approvals/" + aid)
        assert "user=u:" in got["scope"], got
        assert got["age_s"] >= 0
        text = json.dumps(j)
        assert "alice" not in text.lower() and "example.com" not in text, text
        eq(j["approvals_waiting"], 1)
        # The metric says how long it has waited.
        time.sleep(1.2)
        raw = s.admin("GET", "/metrics")[2].decode()
        age = float([ln.split()[-1] for ln in raw.splitlines()
                     if ln.startswith("mem0_proxy_approval_oldest_pending_seconds ")][0])
        assert age >= 1, raw
        # A second approval is added.
        hold(s, BOB)
        wait_for(lambda: status(s)["approvals_waiting"] == 2, 5, "two approvals")
    # A different configuration has a different digest.
    with Stack(config=HELD + "claims:\n  max_inflight: 3\n") as s2:
        assert status(s2)["config_digest"] != j["config_digest"]


def test_claim_rates_and_drain_time_while_wingman_is_down():
    # Wingman never up: not even the chain's start checkpoint goes out.
    with Stack(wingman=False) as s:
        for i in range(20):
            s.request("GET", "/memories?user_id=r%d" % i)
        time.sleep(2.2)
        for i in range(20):
            s.request("GET", "/memories?user_id=q%d" % i)

        def rated():
            j = status(s)
            return j if j["claims"]["in_per_s"] is not None and j["spool"]["claims"] >= 40 else None
        j = wait_for(rated, 10, "claim rates")
        # 40 claims and the start checkpoint wait.
        assert j["claims"]["in_per_s"] > 0, j
        eq(j["claims"]["out_per_s"], 0.0)
        eq(j["claims"]["drain_s"], None, "not draining: no time to drain")
        eq(j["wingman"]["breaker_open"] or not j["ready"], True)


def test_admin_listen_off_and_busy_port():
    with Stack(env={"PROXY_ADMIN_LISTEN": "off"}) as s:
        eq(s.request("GET", "/_proxy/healthz")[0], 200)
        c = socket.socket()
        try:
            c.settimeout(1)
            refused = c.connect_ex(("127.0.0.1", s.admin_port)) != 0
        finally:
            c.close()
        assert refused, "admin_listen: off still listens"
    # The admin port taken: a clear error and exit 1, not a crash.
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    tmp = tempfile.mkdtemp()
    try:
        env = dict(os.environ, PROXY_LISTEN="127.0.0.1:%d" % free_port(),
                   PROXY_ADMIN_LISTEN="127.0.0.1:%d" % busy.getsockname()[1],
                   PROXY_STATE_DIR=os.path.join(tmp, "state"))
        r = subprocess.run([PROXY_BIN], env=env, capture_output=True, text=True, timeout=30)
        eq(r.returncode, 1, r.stderr[-2000:])
        assert "cannot listen on 127.0.0.1:%d" % busy.getsockname()[1] in r.stderr, r.stderr
    finally:
        busy.close()
        shutil.rmtree(tmp)


# --- the page in a real browser ---------------------------------------------

class WebDriver:
    """The few WebDriver calls the test needs, over HTTP (chromedriver)."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["chromedriver", "--port=%d" % self.port],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % self.port
        wait_for(self._up, 15, "chromedriver")
        self.profile = tempfile.mkdtemp()
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium"),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--user-data-dir=" + self.profile],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def _up(self):
        try:
            with urllib.request.urlopen(self.base + "/status", timeout=1) as r:
                return json.load(r)["value"]["ready"]
        except OSError:
            return False

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)["value"]

    def go(self, url):
        self.call("POST", "/session/%s/url" % self.sid, {"url": url})

    def js(self, script):
        return self.call("POST", "/session/%s/execute/sync" % self.sid,
                         {"script": script, "args": []})

    def console(self):
        return self.call("POST", "/session/%s/se/log" % self.sid, {"type": "browser"})

    def close(self):
        try:
            self.call("DELETE", "/session/%s" % self.sid)
        finally:
            self.proc.terminate()
            self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


ROWS = "return Array.from(document.querySelectorAll('#approvals tr')).map(r => r.textContent)"


def test_status_page_in_headless_chromium():
    if os.environ.get("SKIP_BROWSER") == "1":
        print("skip: SKIP_BROWSER=1")
        return
    assert shutil.which("chromium") and shutil.which("chromedriver"), \
        "chromium and chromium-driver are missing (scripts/install-deps.sh installs them)"
    with Stack(config=HELD) as s:
        aid = hold(s, ALICE)
        wd = WebDriver()
        try:
            wd.go("http://127.0.0.1:%d/status" % s.admin_port)
            wait_for(lambda: any(aid in r for r in wd.js(ROWS)), 15, "the held approval shown")
            rows = wd.js(ROWS)
            assert any("bulk-delete" in r and "u:" in r and "pending" in r for r in rows), rows
            assert not any("alice" in r.lower() for r in rows), rows
            eq(wd.js("return document.getElementById('ready').textContent"), "yes")
            href = wd.js("return document.querySelector('#approvals a').href")
            eq(href, s.wingman.url + "/approvals/" + aid)
            # Updates without a reload: a mark set in the page survives
            # while a second held approval appears.
            wd.js("window.__mark = 42; return 1")
            hold(s, BOB)
            wait_for(lambda: len(wd.js(ROWS)) == 2, 15, "the second approval shown")
            eq(wd.js("return window.__mark"), 42, "the page was reloaded")
            # The proxy goes away: the page says so, and logs no error.
            s.stop_proxy()
            wait_for(lambda: wd.js("return getComputedStyle(document.getElementById("
                                   "'banner')).display") == "block", 10, "the banner")
            errors = [e for e in wd.console() if e.get("level") == "SEVERE"
                      and "status.json" not in e.get("message", "")]
            eq(errors, [], "console errors")
        finally:
            wd.close()


def test_status_page_logs_no_error_while_the_proxy_is_up():
    if os.environ.get("SKIP_BROWSER") == "1":
        print("skip: SKIP_BROWSER=1")
        return
    with Stack() as s:
        wd = WebDriver()
        try:
            wd.go("http://127.0.0.1:%d/_proxy/status" % s.admin_port)
            wait_for(lambda: wd.js("return document.getElementById('updated')"
                                   ".textContent") != "never", 15, "first update")
            time.sleep(2.5)     # a second update
            eq(wd.console(), [], "console output")
            eq(wd.js("return document.getElementById('spool_claims').textContent"), "0")
        finally:
            wd.close()


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
