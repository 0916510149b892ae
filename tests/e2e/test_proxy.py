#!/usr/bin/env python3
"""End-to-end tests: real proxy process, mock Mem0, mock Wingman, curl.

Each test starts what it needs on loopback and asserts on three things:
what the client got, what Mem0 received, and the exact claims Wingman
recorded. Run: tests/e2e/test_proxy.py [-k SUBSTRING]. Prints
"N passed, M failed" last and exits non-zero on any failure.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PROXY_BIN, Stack, free_port, http_json, wait_for  # noqa: E402

ALICE = "alice@example.com"
BOB = "bob.smith@example.org"
PII = [ALICE, BOB, "alice", "bob.smith", "pizza", "allergic", "peanuts", "Alice Example",
       "owner@example.com", "secret-api-key"]
TAIL = re.compile(r" \[op=(?P<op>[a-z-]+) method=(?P<method>\S+)(?: status=(?P<status>\d+))?"
                  r"(?: error=(?P<error>\S+))?(?: approval=(?P<approval>[0-9a-f-]+))?"
                  r" request=(?P<rid>[A-Za-z0-9._:-]+)\]$")
# Wingman approves every request at once: for tests about other things.
AUTO_APPROVE = ["--require-approval", "0"]


def curl(stack, method, path, data=None, headers=()):
    """OSS-dialect requests go through curl, as an operator would send them."""
    args = ["curl", "-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}", stack.url + path]
    for h in headers:
        args += ["-H", h]
    if data is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary",
                 data if isinstance(data, str) else json.dumps(data)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    body, _, code = out.rpartition("\n")
    try:
        body = json.loads(body) if body else None
    except ValueError:
        pass
    return int(code), body


def split(claim):
    m = TAIL.search(claim)
    assert m, "claim without the correlation tail: %r" % claim
    return claim[:m.start()], m.groupdict()


def assert_no_pii(claims, extra=()):
    for c in claims:
        for p in list(PII) + list(extra):
            assert p.lower() not in c.lower(), "PII %r in claim %r" % (p, c)


def eq(got, want, what=""):
    assert got == want, "%s\n got:  %r\n want: %r" % (what, got, want)


# --- OSS dialect with curl ----------------------------------------------------

def test_oss_flow_claims_exact():
    with Stack(wingman_args=AUTO_APPROVE) as s:
        u = s.hash(ALICE)
        st, body = curl(s, "POST", "/memories", {
            "messages": [{"role": "user", "content": "I love pizza", "name": "Alice Example"},
                         {"role": "user", "content": "I am allergic to peanuts"}],
            "user_id": ALICE, "metadata": {"email": ALICE}})
        eq(st, 200, "add status")
        ids = [r["id"] for r in body["results"]]
        eq(len(ids), 2, "memories added")
        st, body = curl(s, "GET", "/memories?user_id=alice%40example.com")
        eq(st, 200)
        eq(len(body["results"]), 2, "list")
        st, body = curl(s, "GET", "/memories/" + ids[0])
        eq((st, body["id"]), (200, ids[0]), "read")
        st, body = curl(s, "POST", "/search", {"query": "pizza", "filters": {"user_id": ALICE}})
        eq(st, 200, "search")
        nsearch = len(body["results"])
        st, _ = curl(s, "PUT", "/memories/" + ids[0], {"text": "Loves pizza a lot"})
        eq(st, 200, "update")
        st, body = curl(s, "GET", "/memories/%s/history" % ids[0])
        eq(st, 200, "history")
        nhist = len(body)
        st, _ = curl(s, "DELETE", "/memories/" + ids[0])
        eq(st, 200, "delete")
        st, _ = curl(s, "DELETE", "/memories?user_id=alice%40example.com")
        eq(st, 200, "delete all")
        st, _ = curl(s, "POST", "/reset")
        eq(st, 200, "reset")
        claims = s.wait_claims(11)
        texts = [split(c) for c in claims]
        want = [
            ("Stored memories %s, %s for user %s..." % (ids[0], ids[1], u), "create", "POST"),
            ("Exported 2 memories to /memories for user %s..." % u, "list", "GET"),
            ("Read memory %s" % ids[0], "read", "GET"),
            ("Searched memories for user %s...: %d results" % (u, nsearch), "search", "POST"),
            ("Updated memory %s" % ids[0], "update", "PUT"),
            ("Read history of memory %s: %d entries" % (ids[0], nhist), "history", "GET"),
            ("Deleted memory %s" % ids[0], "delete-one", "DELETE"),
            ("Starting bulk delete for user %s...: 1 items" % u, "bulk-delete", "DELETE"),
            ("Bulk delete for user %s...: 1 items" % u, "bulk-delete", "DELETE"),
            ("Starting reset for all entities: 0 items", "reset", "POST"),   # pre-counted
            ("Reset all memories of all entities", "reset", "POST"),
        ]
        # Several claims are in flight at a time: Wingman's order may differ.
        eq(sorted((t, d["op"], d["method"]) for t, d in texts), sorted(want), "claims")
        for t, d in texts:
            eq(d["status"], None if t.startswith("Starting") else "200", "status in claim")
        eq(len({d["rid"] for _, d in texts}), 9, "one request id per request")
        bulk = [d for t, d in texts if "bulk delete" in t.lower()]
        eq(len({d["approval"] for d in bulk}), 1, "one approval id in both claims")
        assert bulk[0]["approval"], "approval id in the claim"
        assert_no_pii(claims)


def test_oss_trailing_slash_is_other_and_404():
    with Stack() as s:
        st, _ = curl(s, "DELETE", "/memories/?user_id=alice%40example.com")
        eq(st, 404, "FastAPI has no trailing-slash route")
        text, d = split(s.wait_claims(1)[0])
        eq((text, d["op"], d["status"]), ("Attempt failed: Forwarded unclassified request", "other", "404"))
        assert_no_pii(s.claims())


# --- forwarding fidelity ---------------------------------------------------

RID42 = "c11e470000000042"   # a client X-Request-Id the proxy keeps (hex)


def test_forwarding_is_byte_exact_and_headers_follow_rfc9110():
    with Stack() as s:
        body = '{"query":"pizza","filters":{"user_id":"alice@example.com"},"x":"\\u00e9"}'
        st, hdrs, raw = s.request("POST", "/search?b=1&a=x+y&c=%2F%41", body, {
            "X-Request-Id": RID42,
            "Connection": "keep-alive, X-Hop-Secret",
            "X-Hop-Secret": "must-not-pass",
            "Keep-Alive": "timeout=5",
            "Mem0-User-ID": "owner@example.com",
            "X-Forwarded-For": "203.0.113.7",
            "Authorization": "Token secret-api-key",
        })
        eq(st, 200, "status")
        eq(hdrs.get("x-request-id"), RID42, "request id returned")
        assert "x-upstream-request-id" in hdrs, "Mem0's own request id kept"
        got = s.upstream_requests()[-1]
        eq(got["method"], "POST")
        eq(got["path"], "/search?b=1&a=x+y&c=%2F%41", "path and query byte for byte")
        eq(got["body"], body, "body unchanged")
        h = {k.lower(): v for k, v in got["headers"]}
        eq(h.get("x-request-id"), RID42)
        eq(h.get("x-forwarded-for"), "203.0.113.7, 127.0.0.1")
        eq(h.get("mem0-user-id"), "owner@example.com", "end-to-end header forwarded")
        eq(h.get("authorization"), "Token secret-api-key")
        for hop in ("x-hop-secret", "keep-alive", "connection", "expect"):
            assert hop not in h or (hop == "connection" and h[hop].lower() in ("keep-alive", "close")), \
                "hop-by-hop %s forwarded: %r" % (hop, h.get(hop))
        assert_no_pii(s.wait_claims(1))


def test_request_id_generated_when_missing_or_invalid():
    with Stack() as s:
        _, hdrs, _ = s.request("GET", "/memories?user_id=x")
        rid = hdrs.get("x-request-id", "")
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        _, hdrs2, _ = s.request("GET", "/memories?user_id=x", headers={"X-Request-Id": "bad id\"<>"})
        assert re.fullmatch(r"[0-9a-f]{32}", hdrs2["x-request-id"]), hdrs2
        reqs = s.upstream_requests()
        eq({k.lower(): v for k, v in reqs[-2]["headers"]}["x-request-id"], rid, "forwarded id")
        claims = s.wait_claims(2)
        eq(split(claims[0])[1]["rid"], rid)
        assert_no_pii(claims)
        # Kept: a UUID, 16 to 64 hex digits. Anything else may carry
        # personal data: replaced, and only its keyed hash is logged.
        for kept in ("0b5e1c3a-1111-4a2b-9c3d-222233334444", "ab" * 8, "AB" * 32):
            _, h, _ = s.request("GET", "/memories?user_id=x", headers={"X-Request-Id": kept})
            eq(h["x-request-id"], kept)
        for replaced in ("ab" * 7 + "a", "ab" * 33, "client-req-42", ALICE, "0b5e1c3a-1111-4a2b-9c3d-22223333444g"):
            _, h, _ = s.request("GET", "/memories?user_id=x", headers={"X-Request-Id": replaced})
            assert re.fullmatch(r"[0-9a-f]{32}", h["x-request-id"]), (replaced, h)
        s.wait_claims(10)
        assert ALICE not in s.proxy_output() and "client-req-42" not in s.proxy_output()
        assert "client_request_id_hash" in s.proxy_output()


def test_upstream_keepalive_reused():
    with Stack() as s:
        for _ in range(5):
            st, _, _ = s.request("GET", "/memories?user_id=k")
            eq(st, 200)
        peers = {r["client_port"] for r in s.upstream_requests()}
        eq(len(peers), 1, "one upstream connection for sequential requests")


def test_large_bodies_pass_through():
    with Stack() as s:
        big = "x" * (2 * 1024 * 1024)
        st, _, raw = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": big}], "user_id": "u-large"})
        eq(st, 200, "2 MiB request")
        eq(len(s.upstream_requests()[-1]["body"]) > 2 * 1024 * 1024, True)
        st, _, raw = s.request("GET", "/memories?user_id=u-large")
        eq(st, 200)
        assert len(raw) > 2 * 1024 * 1024, len(raw)


# --- failure branches -------------------------------------------------------

def error_json(raw):
    j = json.loads(raw)
    assert set(j) >= {"error", "message", "request_id"}, j
    return j


def test_413_body_over_cap_still_claimed():
    with Stack(config="limits:\n  max_request_bytes: 1024\n") as s:
        body = {"messages": [{"role": "user", "content": "y" * 4000}], "user_id": ALICE}
        st, hdrs, raw = s.request("POST", "/memories", body)
        eq(st, 413)
        eq(error_json(raw)["error"], "request_too_large")
        eq(len(s.upstream_requests()), 0, "nothing reached Mem0")
        # Chunked (no Content-Length): refused after reading the cap.
        args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                "Transfer-Encoding: chunked", "-H", "Content-Type: application/json",
                "--data-binary", json.dumps(body), s.url + "/memories"]
        eq(subprocess.run(args, capture_output=True, text=True).stdout, "413")
        claims = s.wait_claims(2)
        for c in claims:
            text, d = split(c)
            eq((d["op"], d["status"], d["error"]), ("create", "413", "request_too_large"))
        assert_no_pii(claims)


def test_502_upstream_unreachable():
    with Stack(mem0=False) as s:
        st, hdrs, raw = s.request("DELETE", "/memories/3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11")
        eq(st, 502)
        j = error_json(raw)
        eq(j["error"], "upstream_unreachable")
        eq(j["request_id"], hdrs["x-request-id"])
        text, d = split(s.wait_claims(1)[0])
        eq(text, "Attempt failed: Deleted memory 3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11")
        eq((d["status"], d["error"]), ("502", "upstream_unreachable"))


def test_504_upstream_timeout():
    with Stack(config="upstream:\n  timeout_ms: 300\n  connect_timeout_ms: 200\n") as s:
        s.mem0.call("POST", "/_mock/fault", {"mode": "delay", "delay_ms": 2000, "count": 1,
                                             "path_prefix": "/memories"})
        t0 = time.monotonic()
        st, _, raw = s.request("GET", "/memories?user_id=alice%40example.com")
        eq(st, 504)
        assert time.monotonic() - t0 < 1.8, "timeout not enforced"
        eq(error_json(raw)["error"], "upstream_timeout")
        text, d = split(s.wait_claims(1)[0])
        eq((d["op"], d["status"], d["error"]), ("list", "504", "upstream_timeout"))
        assert_no_pii(s.claims())


def test_502_upstream_closes_without_answer():
    with Stack() as s:
        s.mem0.call("POST", "/_mock/fault", {"mode": "close", "count": 1})
        st, _, raw = s.request("GET", "/memories?user_id=x")
        eq(st, 502)
        eq(error_json(raw)["error"], "upstream_bad_response")
        eq(split(s.wait_claims(1)[0])[1]["error"], "upstream_bad_response")


def test_upstream_5xx_passes_through():
    with Stack() as s:
        s.mem0.call("POST", "/_mock/fault", {"mode": "status", "status": 503, "count": 1,
                                             "body": '{"detail":"busy"}'})
        st, _, raw = s.request("GET", "/memories?user_id=x")
        eq((st, json.loads(raw)), (503, {"detail": "busy"}), "Mem0's own error is Mem0's")
        eq(split(s.wait_claims(1)[0])[1]["status"], "503")


def test_bad_request_target():
    with Stack() as s:
        import socket
        c = socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5)
        c.sendall(b"GET http://evil.example/memories HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        c.close()
        assert data.startswith(b"HTTP/1.1 400"), data[:100]
        eq(len(s.upstream_requests()), 0, "nothing forwarded")


# --- Wingman failures: claims are never lost, clients never wait -------------

def test_wingman_down_then_up_delivers_every_claim():
    with Stack(wingman=False, config="claims:\n  retry_initial_ms: 50\n  retry_max_ms: 200\n") as s:
        t0 = time.monotonic()
        for i in range(5):
            st, _, _ = s.request("GET", "/memories?user_id=user-%d" % i)
            eq(st, 200)
        assert time.monotonic() - t0 < 2, "clients waited for Wingman"
        time.sleep(0.5)
        s.start_wingman()
        claims = s.wait_claims(5)
        eq(sorted(split(c)[0] for c in claims),
           sorted("Exported 0 memories to /memories for user %s..." % s.hash("user-%d" % i)
                  for i in range(5)))


def test_wingman_500_and_malformed_are_retried():
    with Stack(config="claims:\n  retry_initial_ms: 50\n  retry_max_ms: 200\n") as s:
        s.wingman.call("POST", "/_mock/fault", {"mode": "status", "status": 500, "count": 2,
                                                "path_prefix": "/log_claim"})
        s.request("GET", "/memories?user_id=a")
        s.wait_claims(1)
        s.wingman.call("POST", "/_mock/fault", {"mode": "malformed", "count": 2,
                                                "path_prefix": "/log_claim"})
        s.request("GET", "/memories?user_id=b")
        claims = s.wait_claims(2)
        s.wingman.call("POST", "/_mock/fault", {"mode": "status", "status": 400, "count": 2,
                                                "path_prefix": "/log_claim",
                                                "body": '{"error":"Missing \'claim\' field"}'})
        s.request("GET", "/memories?user_id=c")
        claims = s.wait_claims(3)
        # Every claim arrives whatever failed first (500, malformed 200, 400).
        eq({split(c)[0] for c in claims}, {"Exported 0 memories to /memories for user %s..." %
                                           s.hash(u) for u in ("a", "b", "c")})


def test_wingman_hang_does_not_slow_requests():
    with Stack(config="wingman:\n  timeout_ms: 200\nclaims:\n  retry_initial_ms: 50\n"
                      "  retry_max_ms: 100\n") as s:
        s.wingman.call("POST", "/_mock/fault", {"mode": "hang", "count": 2,
                                                "path_prefix": "/log_claim"})
        t0 = time.monotonic()
        for _ in range(10):
            st, _, _ = s.request("GET", "/memories?user_id=h")
            eq(st, 200)
        assert time.monotonic() - t0 < 2, "requests slowed by a hanging Wingman"
        s.wait_claims(10, timeout=15)


def test_concurrent_requests_each_claimed():
    with Stack() as s:
        errors = []

        def worker(i):
            try:
                st, _, _ = s.request("POST", "/memories", {
                    "messages": [{"role": "user", "content": "fact %d" % i}], "user_id": "c-%d" % i})
                if st != 200:
                    errors.append(st)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eq(errors, [], "errors")
        claims = s.wait_claims(40)
        eq(len(claims), 40)
        eq(len({split(c)[1]["rid"] for c in claims}), 40)


def test_log_lines_are_json_and_free_of_ids():
    with Stack() as s:
        s.request("POST", "/memories", {"messages": [{"role": "user", "content": "I love pizza"}],
                                        "user_id": ALICE})
        s.request("GET", "/memories?user_id=alice%40example.com", headers={"X-Request-Id": 'q"uote'})
        s.request("GET", '/memories/"quoted\\path')
        s.wait_claims(3)
        eq(s.stop_proxy(), 0)
        lines = s.proxy_output().splitlines()
        reqs = [json.loads(line) for line in lines if line.strip()]
        reqs = [r for r in reqs if r.get("msg") == "request"]
        eq(len(reqs), 3)
        for r in reqs:
            assert set(r) >= {"time", "level", "request_id", "method", "kind", "status",
                              "duration_ms", "bytes_in", "bytes_out"}, r
        # What Mem0's exchange took, in ms to the microsecond: the rest
        # of duration_ms is the proxy's (and the claim's fsync's).
        ups = [r["upstream_ms"] for r in reqs if r.get("upstream_ms") is not None]
        assert len(ups) >= 2, reqs
        for u in ups:
            assert re.match(r"^\d+\.\d{3}$", u), u
        assert_no_pii(lines)


def test_sigterm_delivers_queued_claims_and_exits_0():
    with Stack() as s:
        for i in range(3):
            s.request("GET", "/memories?user_id=t%d" % i)
        eq(s.stop_proxy(), 0, "exit code")
        eq(len(s.claims()), 3, "claims delivered before exit")
        log = s.proxy_output()
        for line in log.splitlines():
            json.loads(line)  # every log line is JSON
        assert "stopping" in log


# --- platform dialect with curl ----------------------------------------------

def test_platform_paths_normalized_and_ids_pseudonymized():
    with Stack(wingman_args=AUTO_APPROVE) as s:
        auth = ["Authorization: Token secret-api-key"]
        st, body = curl(s, "GET", "//v1/ping/", headers=auth)
        eq((st, body["status"]), (200, "ok"), "double slash ping")
        st, body = curl(s, "POST", "/v3/memories/add/", {
            "messages": [{"role": "user", "content": "I love pizza"}], "user_id": ALICE}, auth)
        eq((st, body["status"]), (200, "PENDING"))
        event = body["event_id"]
        st, _ = curl(s, "DELETE", "/v2/entities/user/alice%40example.com/", headers=auth)
        eq(st, 200)
        st, _ = curl(s, "DELETE", "/v1/memories/?user_id=alice%40example.com&agent_id=*", headers=auth)
        eq(st, 200)
        claims = s.wait_claims(6)
        u = s.hash(ALICE)
        eq(sorted(split(c)[0] for c in claims), sorted([
            "Ping",
            "Stored memory event %s for user %s..." % (event, u),
            "Starting bulk delete for user %s...: 1 items" % u,
            "Bulk delete for user %s...: 1 items" % u,
            "Starting bulk delete for user %s..., all agents: 0 items" % u,
            "Bulk delete for user %s..., all agents: 0 items" % u,
        ]))
        assert_no_pii(claims)


# --- health and metrics ---------------------------------------------------

def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("metric %s missing:\n%s" % (name, text))


def test_metrics_and_readiness():
    with Stack(config="claims:\n  retry_initial_ms: 20\n  retry_max_ms: 40\n"
                      "shutdown_timeout_ms: 200\n") as s:
        for i in range(3):
            s.request("GET", "/memories?user_id=m%d" % i)
        s.request("DELETE", "/memories/3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11")
        s.wait_claims(4)
        # Wingman has them (and the chain's start checkpoint); the proxy
        # counts each once its reply is read.
        wait_for(lambda: b'mem0_proxy_claims_total{state="sent"} 5\n' in
                 s.admin("GET", "/metrics")[2], 5, "5 claims counted as sent")
        st, hdrs, raw = s.admin("GET", "/metrics")
        eq(st, 200)
        assert hdrs["content-type"].startswith("text/plain"), hdrs
        text = raw.decode()
        eq(metric(text, 'mem0_proxy_requests_total{kind="list",code="2xx"}'), 3.0)
        eq(metric(text, 'mem0_proxy_requests_total{kind="delete-one",code="4xx"}'), 1.0)
        eq(metric(text, 'mem0_proxy_upstream_duration_seconds_count'), 4.0)
        eq(metric(text, 'mem0_proxy_claims_total{state="sent"}'), 5.0, "4 claims and the start checkpoint")
        eq(metric(text, "mem0_proxy_spool_claims"), 0.0)
        eq(metric(text, "mem0_proxy_wingman_breaker_open"), 0.0)
        for name in ("mem0_proxy_build_info", "mem0_proxy_approvals_total",
                     "mem0_proxy_export_checks_total", "mem0_proxy_holds",
                     "mem0_proxy_wingman_duration_seconds_bucket"):
            assert "# TYPE %s " % name.replace("_bucket", "") in text, name
        st, _, raw = s.request("GET", "/_proxy/readyz")
        eq((st, json.loads(raw)["status"]), (200, "ready"))
        # Wingman fails: claims wait in the spool, the breaker opens.
        s.wingman.stop()
        for i in range(3):
            s.request("GET", "/memories?user_id=n%d" % i)

        def not_ready():
            st, _, raw = s.request("GET", "/_proxy/readyz")
            return st == 503 and json.loads(raw)["wingman_breaker_open"]
        wait_for(not_ready, 10, "breaker open")
        text = s.admin("GET", "/metrics")[2].decode()
        eq(metric(text, "mem0_proxy_wingman_breaker_open"), 1.0)
        eq(metric(text, "mem0_proxy_spool_claims"), 3.0)
    with Stack(mem0=False) as s:
        s.request("GET", "/memories?user_id=x")
        st, _, raw = s.request("GET", "/_proxy/readyz")
        eq((st, json.loads(raw)["upstream_reachable"]), (503, False))


# --- command line -----------------------------------------------------------

def test_check_config_reports_every_error_with_position():
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("listen: nowhere\nupstream:\n  url: ftp://x\n  bogus: 1\n")
        path = f.name
    try:
        r = subprocess.run([PROXY_BIN, "-c", path, "--check-config"], capture_output=True, text=True)
        eq(r.returncode, 1, "exit code")
        for pos in (":1:", ":3:", ":4:"):
            assert path + pos in r.stderr, "missing %s in %r" % (pos, r.stderr)
        with open(path, "w") as f:
            f.write("upstream:\n  url: http://127.0.0.1:1\n")
        r = subprocess.run([PROXY_BIN, "-c", path, "--check-config"], capture_output=True, text=True)
        eq((r.returncode, r.stdout.strip()), (0, "configuration OK"))
    finally:
        os.unlink(path)


def test_secret_files_readable_by_others_are_refused():
    import tempfile
    d = tempfile.mkdtemp()
    key = os.path.join(d, "hmac.key")
    with open(key, "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    os.chmod(key, 0o644)
    s = Stack(env={"PROXY_HMAC_KEY_FILE": key})
    try:
        s.start()
        raise AssertionError("started with a world-readable HMAC key")
    except RuntimeError as e:
        assert "group or others" in str(e) and key in str(e), str(e)
    finally:
        s.stop()
    os.chmod(key, 0o600)
    with Stack(env={"PROXY_HMAC_KEY_FILE": key}) as s:
        eq(s.request("GET", "/_proxy/healthz")[0], 200)


def test_hash_matches_claims_and_needs_existing_key():
    import tempfile
    d = tempfile.mkdtemp()
    env = dict(os.environ, PROXY_STATE_DIR=d)
    r = subprocess.run([PROXY_BIN, "hash", ALICE], capture_output=True, text=True, env=env)
    eq(r.returncode, 1, "no key yet: refuse rather than invent one")
    assert "hmac.key" in r.stderr, r.stderr
    with Stack() as s:
        s.request("GET", "/memories?user_id=alice%40example.com")
        text, _ = split(s.wait_claims(1)[0])
        h = s.hash(ALICE)
        assert re.fullmatch(r"u:[0-9a-f]{8}", h), h
        eq(text, "Exported 0 memories to /memories for user %s..." % h)
        eq(s.hash(ALICE, "agent")[:2], "a:")
        st = os.stat(os.path.join(s.state_dir, "hmac.key"))
        eq(st.st_mode & 0o777, 0o600, "key file mode")


def main(argv, namespace=None, label="e2e"):
    only = argv[argv.index("-k") + 1] if "-k" in argv else ""
    namespace = namespace if namespace is not None else globals()
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_") and only in n]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001
            failed += 1
            print("FAIL %s (%.1fs)" % (name, time.monotonic() - t0))
            traceback.print_exc()
        else:
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.monotonic() - t0))
        sys.stdout.flush()
    print("%s: %d passed, %d failed" % (label, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
