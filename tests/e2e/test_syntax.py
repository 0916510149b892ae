#!/usr/bin/env python3
"""End-to-end tests of the request line and header section as a server
behind the proxy could read them. The proxy forwards through libcurl,
which writes its own request: what reaches Mem0 is what the proxy
classified, never a second reading. Anything libmicrohttpd lets through
that another parser might read differently is refused with 400 before
anything is forwarded, pre-counted or asked of Wingman: a method that is
not a token (POST<TAB> is POST to uvicorn), a header name or value with a
control, CR or NUL, a repeated Content-Length, Content-Type or credential,
Content-Length with Transfer-Encoding. A request libmicrohttpd refuses on
its own (a header section over its memory limit) leaves nothing behind.

Run: tests/e2e/test_syntax.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, wait_for  # noqa: E402
from test_proxy import assert_no_pii, eq, main as run_main  # noqa: E402

BODY = b'{"messages":[{"role":"user","content":"I like tea"}],"user_id":"alice"}'


def send(s, data, timeout=10):
    """Raw bytes in, every response's status line out (a list)."""
    with socket.create_connection(("127.0.0.1", s.proxy_port), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    return out


def statuses(out):
    return [int(line.split(b" ", 2)[1]) for line in out.split(b"\r\n")
            if line.startswith(b"HTTP/1.1 ")]


def error_of(out):
    body = out.partition(b"\r\n\r\n")[2]
    try:
        return json.loads(body).get("error")
    except ValueError:
        return None


def request(method, target, headers=b"", body=b"", close=True):
    return (method + b" " + target + b" HTTP/1.1\r\nHost: proxy\r\n" + headers +
            (b"Content-Length: %d\r\n" % len(body) if body else b"") +
            (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


def seed(s, user="alice", n=3):
    eq(s.mem0.call("POST", "/_mock/seed", {"memories": [
        {"memory": "fact %d" % i, "user_id": user} for i in range(n)]})[0], 200)


def left(s):
    return len(s.mem0.call("GET", "/_mock/memories")[1]["memories"])


# A method that is not an RFC 9110 token: uvicorn and others strip or
# split it, and would run DELETE, POST /reset, ... unapproved.
BAD_METHODS = [b"DELETE\t", b"DELETE\x0b", b"DELETE\x0c", b"DELETE\x1f", b"\x0bDELETE",
               b"DELETE\x01", b"DELETE\r", b"DELE(TE", b"DELETE\x7f", b"DEL\xc3\xa9TE", b"POST\t",
               b"HEAD\t"]


def test_a_method_that_is_not_a_token_is_400():
    with Stack() as s:
        seed(s)
        for m in BAD_METHODS:
            for target in (b"/memories?user_id=alice", b"/reset", b"/v1/memories/?user_id=alice"):
                out = send(s, request(m, target, b"Authorization: Token k\r\n"))
                eq((statuses(out), error_of(out)), ([400], "bad_request_method"), (m, target))
        eq(s.upstream_requests(), [], "nothing reached Mem0, not even a pre-count")
        eq(s.wingman.call("GET", "/_mock/approvals")[1]["approvals"], [], "no approval asked for")
        eq(left(s), 3)
        claims = s.wait_claims(len(BAD_METHODS) * 3)
        for c in claims:
            assert c.startswith("Attempt failed: ") and "method=(invalid)" in c and \
                "error=bad_request_method" in c, c
        assert_no_pii(claims)


def test_methods_in_any_case_are_classified_and_held():
    """delete is DELETE to Django (it upper-cases the method): gated."""
    with Stack(config="gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n") as s:
        seed(s)
        for m in (b"delete", b"Delete", b"dElEtE"):
            out = send(s, request(m, b"/memories?user_id=alice"))
            eq(statuses(out), [409], m)
        eq(left(s), 3)


BAD_HEADERS = [
    b"X Foo: bar\r\n",          # a space in the name
    b"X-Foo : bar\r\n",         # a space before the colon
    b"X-Foo\t: bar\r\n",
    b"X-F\x80oo: bar\r\n",      # non-ASCII in the name
    b"X-F\x0boo: bar\r\n",
    b"X(Foo): bar\r\n",         # a separator in the name
    b"X-Foo: b\x0bar\r\n",      # a control in the value
    b"X-Foo: a\rb\r\n",         # a bare CR in the value
    b"X-Foo\x00: a\r\n",        # NUL in the name
    b"X-Foo: a\x7fb\r\n",
    b"X-Foo: a\x00b\r\n",         # NUL in the value (libmicrohttpd cuts it)
    b"X-Foo: a\x00\x00/reset\r\n",
    b"X-Api-Key: K1\r\n FOLD1\r\n",  # obs-fold (RFC 9112 5.2)
    b"X-Foo: a\r\n\tb\r\n",
    b"X-Foo:\r\n b\r\n",
]


def test_a_malformed_header_is_400():
    with Stack() as s:
        for h in BAD_HEADERS:
            out = send(s, request(b"POST", b"/memories", h + b"Content-Type: application/json\r\n", BODY))
            eq(statuses(out), [400], h)
            assert error_of(out) in ("bad_request_header", None), (h, out[:200])
        eq(s.upstream_requests(), [], "no malformed header reached Mem0")
        # obs-text in a value is allowed (RFC 9110), and an empty value,
        # blanks around a value, bare LF line ends.
        for h in (b"X-Foo: caf\xc3\xa9\r\n", b"X-Foo:\r\n", b"X-Foo: \t a b \t\r\n",
                  b"X-Foo: a\nX-Bar: b\n"):
            out = send(s, request(b"POST", b"/memories", h + b"Content-Type: application/json\r\n", BODY))
            eq(statuses(out), [200], h)


def test_a_repeated_singleton_header_is_400():
    """The proxy reads the first Authorization, Mem0 might read the last:
    never both."""
    with Stack(config="gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n") as s:
        seed(s)
        for h in (b"Authorization: Token a\r\nAuthorization: Token b\r\n",
                  b"X-API-Key: a\r\nx-api-key: b\r\n",
                  b"Content-Type: application/json\r\nContent-Type: text/plain\r\n",
                  b"X-Approval-Id: a\r\nX-Approval-Id: b\r\n",
                  b"Host: other\r\n",
                  b"Content-Length: 0\r\nContent-Length: 0\r\n",
                  b"Content-Encoding: gzip\r\nContent-Encoding: br\r\n"):
            out = send(s, request(b"DELETE", b"/memories?user_id=alice", h))
            eq(statuses(out), [400], h)
            assert error_of(out) in ("bad_request_header", None), (h, out[:200])
        eq(s.upstream_requests(), [])
        eq(left(s), 3)


def test_content_length_with_transfer_encoding_is_400():
    """The smuggling classic: the proxy would read one body, a server
    behind a naive hop another."""
    with Stack() as s:
        seed(s)
        inner = b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        chunked = b"0\r\n\r\n" + inner
        data = (b"POST /search HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                % len(chunked) + chunked)
        out = send(s, data)
        eq(statuses(out)[:1], [400])
        eq([r["path"] for r in s.upstream_requests()], [], "neither /search nor /reset")
        eq(left(s), 3)


def test_http11_without_host_is_400():
    with Stack() as s:
        out = send(s, b"GET /v1/ping/ HTTP/1.1\r\nConnection: close\r\n\r\n")
        eq(statuses(out), [400])
        eq(s.upstream_requests(), [])


def test_requests_refused_by_libmicrohttpd_leave_nothing_behind():
    """A header section over libmicrohttpd's memory limit (431) or a
    request line too long (414) is refused before the proxy's handler
    runs: no request state may leak (SANITIZE=1 checks the exit), and
    shutdown does not wait for requests that never started."""
    with Stack(config="shutdown_timeout_ms: 5000\n") as s:
        for _ in range(30):
            send(s, request(b"GET", b"/v1/ping/", b"X-A: " + b"a" * 70000 + b"\r\n"), timeout=2)
            send(s, request(b"GET", b"/memories?" + b"&".join(b"user_id=%d" % i for i in range(9000))),
                 timeout=2)
        out = send(s, request(b"GET", b"/_proxy/healthz"))
        eq(statuses(out), [200], "still serving")
        t0 = time.monotonic()
        eq(s.stop_proxy(), 0)
        assert time.monotonic() - t0 < 3, "shutdown waited %.1f s for requests that never were" % (
            time.monotonic() - t0)


def test_connection_may_not_name_an_end_to_end_header():
    """A hop drops what Connection names: naming Content-Type or the
    credential would make Mem0 get another request than the one approved."""
    with Stack() as s:
        for v in (b"Content-Type", b"close, Authorization", b"x-api-key", b"Content-Length",
                  b"keep-alive,Content-Encoding"):
            out = send(s, request(b"POST", b"/memories", b"Connection: " + v + b"\r\n"
                                  b"Content-Type: application/json\r\nAuthorization: Token k\r\n", BODY))
            eq((statuses(out), error_of(out)), ([400], "bad_request_header"), v)
        eq(s.upstream_requests(), [])
        out = send(s, request(b"POST", b"/memories", b"Connection: keep-alive, Upgrade\r\n"
                              b"Content-Type: application/json\r\n", BODY))
        eq(statuses(out), [200], "ordinary hop-by-hop names")


def test_a_json_body_with_a_nul_is_400():
    """cJSON ends a key at \\u0000, Python does not: "memories\\u0000" would be
    another key to Mem0 (a batch of 50 shown to the approver as 1, a list
    read as a create)."""
    with Stack(config="gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n") as s:
        for path, body in (
                (b"/v1/batch/", b'{"memories":[{"memory_id":"m1","memory_id\\u0000":"m2"}],'
                                b'"memories\\u0000":[{"memory_id":"m3"}]}'),
                (b"/v3/memories/", b'{"filters":{"user_id":"*"},"messages\\u0000":1}'),
                (b"/memories", b'{"messages":[{"role":"user","content":"x"}],"user_id":"a\\u0000b"}')):
            method = b"DELETE" if path == b"/v1/batch/" else b"POST"
            out = send(s, request(method, path, b"Content-Type: application/json\r\n"
                                  b"Authorization: Token k\r\n", body))
            eq((statuses(out), error_of(out)), ([400], "bad_request_body"), path)
        eq(s.upstream_requests(), [])
        eq(s.wingman.call("GET", "/_mock/approvals")[1]["approvals"], [])
        # An escaped backslash before u0000 is text, not a NUL.
        out = send(s, request(b"POST", b"/memories", b"Content-Type: application/json\r\n",
                              b'{"messages":[{"role":"user","content":"a\\\\u0000"}],"user_id":"a"}'))
        eq(statuses(out), [200])


def test_a_request_id_that_could_be_a_card_number_is_replaced():
    with Stack() as s:
        for rid in ("4111111111111111", "1234567890123456789012", "alice@example.com"):
            st, h, _ = s.request("GET", "/v1/ping/", headers={"X-Request-Id": rid,
                                                              "Authorization": "Token k"})
            assert h["x-request-id"] != rid, rid
        st, h, _ = s.request("GET", "/v1/ping/", headers={"X-Request-Id": "0123456789abcdef",
                                                          "Authorization": "Token k"})
        eq(h["x-request-id"], "0123456789abcdef")
        out = s.proxy_output() + "\n".join(s.wait_claims(4))
        assert "4111111111111111" not in out and "1234567890123456789012" not in out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([ln.split()[1] for ln in f if ln.startswith("VmRSS")][0])


def metric(s, name):
    return s.metric(name)


def test_a_long_target_is_414_and_costs_nothing():
    """1 000 requests whose query has 3 000 arguments (libmicrohttpd alone
    would drop them without an answer): each gets 414, claimed; memory
    stays flat; SIGTERM is immediate; nothing reaches Mem0."""
    with Stack() as s:
        big = b"/memories?" + b"&".join(b"a=%d" % i for i in range(3000))
        for n in (3000, 9000):
            out = send(s, request(b"GET", b"/memories?" + b"&".join(b"a=%d" % i for i in range(n))))
            eq((statuses(out), error_of(out)), ([414], "uri_too_long"), n)
        before = rss_kib(s.proxy.pid)
        for _ in range(1000):
            out = send(s, request(b"GET", big))
            assert out.startswith(b"HTTP/1.1 414 "), out[:60]
        grown = rss_kib(s.proxy.pid) - before
        # Under ASan freed memory sits in quarantine and TSan keeps shadow
        # memory, so RSS says nothing there; LeakSanitizer's exit check
        # (the clean stop below) is the stronger test in that build.
        if os.environ.get("SANITIZE", "0") != "1" and os.environ.get("TSAN", "0") != "1":
            assert grown < 4096, "RSS grew by %d KiB" % grown
        eq(s.upstream_requests(), [])
        claims = s.wait_claims(1002)
        assert all("status=414 error=uri_too_long" in c for c in claims), claims[:3]
        t0 = time.monotonic()
        eq(s.stop_proxy(), 0)
        assert time.monotonic() - t0 < 2, "shutdown took %.1f s" % (time.monotonic() - t0)


def test_many_query_parameters_are_414_not_a_hang():
    """A short target with hundreds of parameters: 512 are read (Mem0
    answers), 513 and more get 414 too_many_query_parameters, claimed,
    where libmicrohttpd alone (past about 830 in its 64 KiB per
    connection) would drop the request without a word."""
    with Stack() as s:
        hdrs = b"".join(b"X-Extra-%d: value-%d\r\n" % (i, i) for i in range(40))
        for n, want in ((512, 200), (513, 414), (900, 414), (4000, 414)):
            q = b"&".join([b"user_id=alice"] + [b"a"] * (n - 1))
            assert len(q) < 16384, len(q)
            out = send(s, request(b"GET", b"/memories?" + q, hdrs + b"Authorization: Token k\r\n"),
                       timeout=5)
            eq(statuses(out), [want], n)
            if want == 414:
                eq(error_of(out), "too_many_query_parameters", n)
        claims = s.wait_claims(4)
        eq(sorted("error=too_many_query_parameters" in c for c in claims), [False, True, True, True])


def test_a_transfer_coding_other_than_chunked_is_501():
    with Stack() as s:
        body = b"2\r\n{}\r\n0\r\n\r\n"
        for te, want in ((b"gzip, chunked", 501), (b"chunked, chunked", 501), (b"deflate", 501),
                         (b"chunked", 422), (b"Chunked", 422)):
            out = send(s, b"POST /search HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: " + te + b"\r\nConnection: close\r\n\r\n" + body)
            eq(statuses(out), [want], te)
            if want == 501:
                eq(error_of(out), "unsupported_transfer_encoding")
        eq(len(s.upstream_requests()), 2, "only the chunked ones reach Mem0 (422: no query)")


def test_one_address_cannot_take_every_connection():
    """2 000 idle connections from 127.0.0.2: it gets its share
    (limits.max_connections_per_client), and a client from 127.0.0.1 and
    the health endpoint are served at once."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    # 2 000 where the hard limit allows (a container build may allow only
    # 1 024): always several times the per-client limit of 100.
    n = max(400, min(2000, min(hard, 8192) - 300))
    cfg = "limits:\n  max_connections: 300\n  max_connections_per_client: 100\n"
    with Stack(config=cfg) as s:
        held = []
        try:
            for _ in range(n):
                c = socket.socket()
                c.setblocking(False)
                c.bind(("127.0.0.2", 0))
                try:
                    c.connect(("127.0.0.1", s.proxy_port))
                except BlockingIOError:
                    pass
                held.append(c)
            time.sleep(0.5)
            t0 = time.monotonic()
            eq(s.request("GET", "/_proxy/healthz", timeout=5)[0], 200)
            eq(s.request("GET", "/v1/ping/", headers={"Authorization": "Token k"}, timeout=5)[0], 200)
            assert time.monotonic() - t0 < 1.0, "served after %.1f s" % (time.monotonic() - t0)
            assert metric(s, "mem0_proxy_connections") <= 102, metric(s, "mem0_proxy_connections")
        finally:
            for c in held:
                c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_slow_headers_are_cut_at_the_deadline():
    """A client sending its headers a byte at a time, never finishing: cut
    after limits.header_timeout_ms although it is never idle."""
    with Stack(config="limits:\n  header_timeout_ms: 800\n") as s:
        c = socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5)
        t0 = time.monotonic()
        closed = None
        for b in b"GET /v1/ping/ HTTP/1.1\r\nHost: p\r\nX-Slow: " + b"a" * 100:
            try:
                c.sendall(bytes([b]))
            except OSError:
                closed = time.monotonic() - t0
                break
            time.sleep(0.1)
            c.setblocking(False)
            try:
                if c.recv(1) == b"":
                    closed = time.monotonic() - t0
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = time.monotonic() - t0
                break
            c.setblocking(True)
        c.close()
        assert closed is not None and 0.7 < closed < 2.5, closed
        eq(metric(s, "mem0_proxy_header_timeouts_total"), 1.0)
        # A keep-alive client that is idle between requests is cut too,
        # after its request was served.
        c = socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5)
        c.sendall(b"GET /v1/ping/ HTTP/1.1\r\nHost: p\r\nAuthorization: Token k\r\n\r\n")
        assert c.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        eq(c.recv(1), b"")
        assert 0.7 < time.monotonic() - t0 < 2.5
        c.close()
        # A request held for approval is past its headers: never cut,
        # while a client that came after it and never finishes is.
        held = {}

        def hold():
            held["status"] = s.request("DELETE", "/memories?user_id=slow-held", timeout=15)[0]
        t = threading.Thread(target=hold, daemon=True)
        t.start()
        wait_for(lambda: s.metric("mem0_proxy_holds") == 1, 5, "the delete is held")
        c = socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5)
        c.sendall(b"GET /v1/ping/ HTTP/1.1\r\n")
        t0 = time.monotonic()
        eq(c.recv(1), b"")
        assert 0.7 < time.monotonic() - t0 < 2.5
        c.close()
        time.sleep(1.0)
        eq((held, s.metric("mem0_proxy_holds")), ({}, 1.0), "the held request is still held")
        eq(metric(s, "mem0_proxy_header_timeouts_total"), 3.0)
        for a in s.wingman.call("GET", "/_mock/approvals")[1]["approvals"]:
            s.wingman.call("POST", "/approvals/%s/approve" % a["request_id"], {"decided_by": "op"})
        t.join(10)
        eq(held, {"status": 200})


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
