#!/usr/bin/env python3
"""End-to-end tests of the request target: what the proxy classifies is
exactly what Mem0 receives. A target with a '#' (libcurl and Mem0 drop
everything from it on), a space, a control or non-ASCII byte, or one that
is not in origin form is refused with 400 bad_request_target before
anything is forwarded, pre-counted or asked of Wingman, and the refusal
is claimed as the operation it would have been.

Run: tests/e2e/test_target.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402
from test_proxy import assert_no_pii, eq, split, main as run_main  # noqa: E402

AUTH = "Authorization: Token secret-api-key\r\n"
MID = "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"


def raw(s, method, target, body=b"", headers=""):
    """Send one request as raw bytes; (status, json body or None)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    req = (method.encode() + b" " + target + b" HTTP/1.1\r\nHost: proxy\r\n" +
           headers.encode() + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    with socket.create_connection(("127.0.0.1", s.proxy_port), timeout=10) as c:
        c.sendall(req)
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(rest) if rest else None
    except ValueError:
        return status, rest


def mem0_saw(s):
    return [(r["method"], r["path"]) for r in s.upstream_requests()]


# Every '#' spelling: gated routes of both dialects, the export routes,
# mixed with encoding, queries, trailing slashes and a doubled slash.
FRAGMENTS = [
    ("POST", "/reset#", "reset"),
    ("POST", "/reset#/x", "reset"),
    ("DELETE", "/memories?user_id=a#", "bulk-delete"),
    ("DELETE", "/memories#?user_id=a", "bulk-delete"),
    ("DELETE", "/entities/user/alice#x/y", "bulk-delete"),
    ("DELETE", "/entities/user/alice%40example.com#", "bulk-delete"),
    ("DELETE", "/v1/memories/#", "bulk-delete"),
    ("DELETE", "/v1/memories#/", "bulk-delete"),
    ("DELETE", "/v1/memories/?user_id=*#", "bulk-delete"),
    ("DELETE", "/v1//memories/#frag", "bulk-delete"),
    ("DELETE", "/%761/memories/%23#", "delete-one"),   # memory id "#"
    ("DELETE", "/v1/batch/#x", "bulk-delete"),
    ("DELETE", "/v2/entities/user/alice/#", "bulk-delete"),
    ("DELETE", "/v1/entities/user/42/#", "bulk-delete"),
    ("DELETE", "/v1/memories/%s/?delete_linked=true#" % MID, "bulk-delete"),
    ("DELETE", "/api/v1/orgs/organizations/o1/#", "destroy"),
    ("POST", "/v3/memories/#", "list"),
    ("POST", "/v2/memories/#", "list"),
    ("GET", "/v1/memories/#", "list"),
    ("GET", "/memories#", "list"),
    ("POST", "/v1/exports/get/#", "export"),
    ("GET", "/v1/memories/user/alice/#", "list"),
    ("GET", "/_proxy/healthz#", "other"),
    ("DELETE", "#/v1/memories/", "other"),
]


def test_fragment_anywhere_is_400_and_nothing_reaches_mem0():
    with Stack() as s:
        body = json.dumps({"memories": [{"memory_id": MID}], "filters": {"user_id": "bob"}}).encode()
        for method, target, _ in FRAGMENTS:
            st, j = raw(s, method, target, body, AUTH + "Content-Type: application/json\r\n")
            eq((st, j and j.get("error")), (400, "bad_request_target"), "%s %s" % (method, target))
            assert "'#'" in j["message"] or not target.startswith("/"), j
        eq(mem0_saw(s), [], "nothing reached Mem0")
        st, body = s.wingman.call("GET", "/_mock/approvals")
        eq(body["approvals"], [], "no approval was asked for")
        claims = s.wait_claims(len(FRAGMENTS))
        got = sorted((split(c)[1]["op"], split(c)[1]["status"], split(c)[1]["error"]) for c in claims)
        want = sorted((op, "400", "bad_request_target") for _, _, op in FRAGMENTS)
        eq(got, want, "each refusal claimed as what it would have been")
        for c in claims:
            assert c.startswith("Attempt failed: "), c
        assert_no_pii(claims)


def test_other_bytes_libcurl_would_change_are_400():
    bad = [
        b"/memories?user_id=a b",            # a space (a second "version")
        b"/v1/memories/?user_id=\xc3\xa9",     # curl would percent-encode it
        b"/v1/memories/\xc3\xa9/",
        b"/reset\t",
        b"/v1/batch/\x0b",
        b"/memories\x7f",
        b"/v1/memories/x\\y/",
        b"/v1/memories/{x}/",
        b"/memories/%zz",
        b"http://mem0/reset",                # absolute form
        b"*",
        b"reset",
        b"/memories?user_id=a\x00b",         # libmicrohttpd cuts at a NUL
        b"/v1/memories/\x00/",
        b"/reset\x00",
    ]
    with Stack() as s:
        for target in bad:
            st, j = raw(s, "DELETE", target, b"", AUTH)
            assert st == 400, (target, st, j)
            if isinstance(j, dict):
                eq(j.get("error"), "bad_request_target", repr(target))
        eq(mem0_saw(s), [], "nothing reached Mem0")
        st, body = s.wingman.call("GET", "/_mock/approvals")
        eq(body["approvals"], [])


def test_valid_targets_reach_mem0_byte_for_byte():
    """The bytes accepted are the bytes Mem0 gets (path and query)."""
    targets = [
        "/memories?user_id=alice%40example.com&agent_id=x+y",
        "/v1/memories/%s/" % MID,
        "/v1/memories/?user_id=a&filters={%22x%22:1}|^`[]",
        "/search?q=%2F%41;b=c&d='()*,!$",
        "//memories?user_id=a",
        "/v1/memories/?",
        "/memories/a;b=c:@",
    ]
    with Stack() as s:
        for t in targets:
            st, j = raw(s, "GET", t, b"", AUTH)
            assert not isinstance(j, dict) or j.get("error") != "bad_request_target", (t, st, j)
        got = [p for _, p in mem0_saw(s)]
        eq(got, targets)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
