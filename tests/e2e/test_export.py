#!/usr/bin/env python3
"""End-to-end tests of the export check: the real proxy buffers bulk reads
of memories (both dialects), checks their shape and scope before the
client sees them, archives them and has the mock Wingman verify the file
(the mock, like the real verifier, checks that the file exists on its own
host: it runs on this one, so an archived file verifies TRUE). Each test
checks what the client got, what Mem0 and Wingman received, the archive
directory, and the exact claims, with no test PII in any claim.

Run: tests/e2e/test_export.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import gzip
import http.server
import json
import os
import socketserver
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, free_port, http_json, wait_for  # noqa: E402
from test_proxy import ALICE, BOB, assert_no_pii, eq, split, main as run_main  # noqa: E402

AUTH = {"Authorization": "Token secret-api-key"}
Q_ALICE = "user_id=alice%40example.com"
# What the proxy itself says in a refusal: never memory text.
TEXTS = ["I love pizza", "allergic to peanuts", "bob likes chess"]


def seed(s, who_what):
    """Store memories directly in the mock: [(user_id, text), ...] -> ids."""
    st, body = s.mem0.call("POST", "/_mock/seed", {
        "memories": [{"memory": t, "user_id": u} for u, t in who_what]})
    eq(st, 200, "seed")
    return body["ids"]


def seed_two(s):
    """Alice has two memories, Bob one."""
    return seed(s, [(ALICE, "I love pizza"), (ALICE, "I am allergic to peanuts"),
                    (BOB, "bob likes chess")])


def mem0_fault(s, **f):
    f.setdefault("count", 1)
    st, _ = s.mem0.call("POST", "/_mock/fault", f)
    eq(st, 200, "fault")


def verdict_fault(s, verdict, count=1):
    st, _ = s.wingman.call("POST", "/_mock/fault", {
        "path_prefix": "/verify", "mode": "status", "status": 200, "count": count,
        "content_type": "application/json",
        "body": {"verdict": verdict, "details": "mock", "verifier": "simple"}})
    eq(st, 200, "wingman fault")


def rj(raw):
    return json.loads(raw)


def refused(st, hdrs, raw, status, error):
    """The proxy's own JSON error, correlated, and no memory text in it."""
    eq(st, status, "status")
    j = rj(raw)
    eq(j["error"], error, "error code")
    eq(j["request_id"], hdrs["x-request-id"], "request id in the body")
    assert j["message"], "a message"
    for t in TEXTS:
        assert t not in raw.decode(), "memory text in the refusal: %r" % raw
    return j


def export_claims(s, n):
    """The last n claims, as (text, tail dict)."""
    return [split(c) for c in s.wait_claims(n)][-n:]


def archive_stack(export_keys="", top="", **kw):
    """A stack whose proxy archives exports in STACK_TMP/exports."""
    s = Stack(**kw)
    s.archive = os.path.join(s.tmp, "exports")
    s.config = "%sexport:\n  archive_dir: %s\n%s" % (top, s.archive, export_keys)
    return s


# Wingman stays down: do not wait 10 s at the end for claims to deliver.
SHORT_STOP = "shutdown_timeout_ms: 300\n"


def archive_files(s):
    try:
        return sorted(os.listdir(s.archive))
    except FileNotFoundError:
        return []


def verify_calls(s):
    st, reqs = s.wingman.call("GET", "/_mock/requests")
    eq(st, 200)
    return [json.loads(r["body"]) for r in reqs if r["path"] == "/verify"]


# --- clean exports -------------------------------------------------------------

def test_clean_export_oss_list_is_checked_and_claimed_as_export():
    with Stack() as s:
        seed_two(s)
        u = s.hash(ALICE)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        eq(st, 200)
        # Byte for byte what Mem0 answers the same request.
        st2, _, direct = http_json("127.0.0.1", s.mem0.port, "GET", "/memories?" + Q_ALICE)
        eq((st2, raw), (200, direct), "body unchanged")
        eq(len(rj(raw)["results"]), 2)
        eq(int(hdrs["content-length"]), len(raw))
        text, d = export_claims(s, 1)[0]
        eq((text, d["op"], d["method"], d["status"], d["error"]),
           ("Exported 2 memories to /memories for user %s..." % u, "list", "GET", "200", None))
        eq(d["rid"], hdrs["x-request-id"])
        assert_no_pii(s.claims())


def test_oss_admin_read_of_everything_is_an_export():
    with Stack() as s:
        seed_two(s)
        st, _, raw = s.request("GET", "/memories")
        eq((st, len(rj(raw)["results"])), (200, 3), "no ids: every memory, nothing to scope")
        text, d = export_claims(s, 1)[0]
        eq((text, d["op"], d["status"]), ("Exported 3 memories to /memories", "list", "200"))


def test_clean_exports_platform_every_route():
    with Stack() as s:
        seed_two(s)
        u = s.hash(ALICE)
        st, _, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        eq((st, len(rj(raw)["results"])), (200, 2), "v3 list")
        st, _, raw = s.request("POST", "/v2/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        eq(st, 200, "v2 list")
        st, _, raw = s.request("GET", "/v1/memories/?" + Q_ALICE, headers=AUTH)
        eq(st, 200, "v1 list")
        st, _, raw = s.request("GET", "/v1/memories/user/alice%40example.com/", headers=AUTH)
        eq(st, 200, "entity list")
        schema = {"type": "object", "properties": {"memories": {"type": "array", "items": {
            "type": "object", "properties": {"id": {}, "memory": {}, "user_id": {}}}}}}
        st, _, raw = s.request("POST", "/v1/exports/", {"schema": schema, "filters": {"user_id": ALICE}},
                               headers=AUTH)
        eq(st, 201, "export job")
        st, _, raw = s.request("POST", "/v1/exports/get/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        eq(st, 200, "exports/get")
        eq(len(rj(raw)["memories"]), 2)
        got = [(t, d["op"], d["method"], d["status"]) for t, d in export_claims(s, 6)]
        want = [
            ("Exported 2 memories to /v3/memories/ for user %s..." % u, "list", "POST", "200"),
            ("Exported 2 memories to /v2/memories/ for user %s..." % u, "list", "POST", "200"),
            ("Exported 2 memories to /v1/memories/ for user %s..." % u, "list", "GET", "200"),
            ("Exported 2 memories to /v1/memories/{entity_type}/{entity_id}/ for user %s..." % u,
             "list", "GET", "200"),
            ("Exported unknown memories to /v1/exports/ for user %s..." % u, "export", "POST", "201"),
            ("Exported 2 memories to /v1/exports/get/ for user %s..." % u, "export", "POST", "200"),
        ]
        # Several claims are in flight at a time: Wingman's order may differ.
        eq(sorted(got), sorted(want))
        assert_no_pii(s.claims())


def test_an_export_without_owner_keys_is_refused_for_a_named_user():
    """The export is found by its id, whatever the filters of exports/get
    say, and its schema decides the records' keys: bob's export read as
    alice's, with no user_id in the records, must not pass as hers."""
    with Stack() as s:
        seed_two(s)
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
            "type": "object", "properties": {"memory": {"type": "string"}}}}}}
        st, _, raw = s.request("POST", "/v1/exports/", {"schema": schema, "filters": {"user_id": BOB}},
                               headers=AUTH)
        eq(st, 201, raw)
        xid = rj(raw)["id"]
        for body in ({"memory_export_id": xid, "filters": {"user_id": ALICE}},
                     {"memory_export_id": xid, "user_id": ALICE}):
            st, _, raw = s.request("POST", "/v1/exports/get/", body, headers=AUTH)
            eq((st, rj(raw).get("error")), (502, "export_scope_violation"), (body, raw))
            assert b"chess" not in raw, raw
        # Without a named entity it is the admin's read of that export.
        st, _, raw = s.request("POST", "/v1/exports/get/", {"memory_export_id": xid}, headers=AUTH)
        eq(st, 200, raw)
        claims = s.wait_claims(4)
        blocked = [c for c in claims if "Blocked export of 1 memories for user %s..." % s.hash(ALICE) in c]
        eq(len(blocked), 2, claims)


def test_search_results_are_checked_like_exports():
    """A search returns memories too: a result of another user is blocked
    (502 search_scope_violation), clean results pass and are claimed with
    their count, a search of every user is claimed so; export.check_search:
    false passes them through."""
    with Stack() as s:
        seed_two(s)
        u = s.hash(ALICE)
        mem0_fault(s, path_prefix="/search", mode="status", status=200,
                   body={"results": [{"id": "1", "memory": "x", "user_id": BOB}]})
        st, hdrs, raw = s.request("POST", "/search", {"query": "pizza", "user_id": ALICE})
        refused(st, hdrs, raw, 502, "search_scope_violation")
        st, _, raw = s.request("POST", "/search", {"query": "pizza", "user_id": ALICE})
        eq(st, 200)
        n = len(rj(raw)["results"])
        st, _, raw = s.request("POST", "/v3/memories/search/", {"query": "pizza", "filters": {
            "user_id": "*"}}, headers=AUTH)
        eq(st, 200)
        texts = [t for t, _ in export_claims(s, 3)]
        assert texts[0].startswith("Attempt failed: Blocked search results: 1 memories for user %s...: "
                                   "1 foreign items" % u), texts[0]
        assert texts[1].startswith("Searched memories for user %s...: %d results" % (u, n)), texts[1]
        assert texts[2].startswith("Searched memories for all users: "), texts[2]
    with Stack(config="export:\n  check_search: false\n") as s:
        mem0_fault(s, path_prefix="/search", mode="status", status=200,
                   body={"results": [{"id": "1", "memory": "x", "user_id": BOB}]})
        st, _, raw = s.request("POST", "/search", {"query": "pizza", "user_id": ALICE})
        eq(st, 200, "not checked with check_search: false")


def test_allow_list_steering_attempts_are_refused():
    """What a client could steer: an OR filter reaching other users, a
    projection hiding the owner, a memory owned only by an agent: every
    memory released carries an id the request named."""
    with Stack() as s:
        seed(s, [(ALICE, "I love pizza"), (BOB, "bob likes chess")])
        st, body = s.mem0.call("POST", "/_mock/seed", {"memories": [
            {"memory": "agent only fact", "agent_id": "support-bot"}]})
        eq(st, 200)
        steer = {"filters": {"OR": [{"user_id": ALICE}, {"created_at": {"gte": "1970-01-01"}}]}}
        for path in ("/v3/memories/", "/v2/memories/"):
            st, hdrs, raw = s.request("POST", path, steer, headers=AUTH)
            refused(st, hdrs, raw, 502, "export_scope_violation")
            # Bob's memory and the agent-only one: 2 of 3 are not Alice's
            # (claims arrive asynchronously, several in flight at a time).
            want = ("Attempt failed: Blocked export of 3 memories for user %s...: 2 foreign items"
                    % s.hash(ALICE))
            n = 1 if path == "/v3/memories/" else 2
            wait_for(lambda: sum(c.startswith(want) for c in s.claims()) == n, 10,
                     "%d blocked-export claims" % n)
            st, hdrs, raw = s.request("POST", path, dict(steer, fields=["id", "memory"]), headers=AUTH)
            refused(st, hdrs, raw, 400, "export_fields_without_owner")
        st, hdrs, raw = s.request("POST", "/v3/memories/search/",
                                  {"query": "fact", "filters": steer["filters"], "fields": ["id"]},
                                  headers=AUTH)
        refused(st, hdrs, raw, 400, "export_fields_without_owner")
        st, hdrs, raw = s.request("GET", "/v1/memories/?user_id=%s&fields=id,memory" % Q_ALICE.split("=")[1],
                                  headers=AUTH)
        refused(st, hdrs, raw, 400, "export_fields_without_owner")
        # Keeping the owner's key in the projection is fine.
        st, _, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE},
                                                          "fields": ["id", "memory", "user_id"]},
                               headers=AUTH)
        eq(st, 200)
        # Naming the agent too makes its memory part of the scope.
        st, _, raw = s.request("POST", "/v3/memories/", {"filters": {"OR": [
            {"user_id": ALICE}, {"agent_id": "support-bot"}]}}, headers=AUTH)
        eq(st, 200)
        for t in TEXTS:
            assert all(t not in c for c in s.claims())


def test_bodies_the_proxy_cannot_read_as_mem0_are_400():
    """Python's json takes NaN, Infinity and lone surrogates, cJSON does
    not: such a body is refused, never forwarded best-effort (a create
    claimed "for no entity", a list read as an add). A UTF-8 BOM is read
    past, as Starlette does."""
    with Stack() as s:
        seed_two(s)
        for raw_body in (b'{"filters":{"user_id":"alice"},"page_size":NaN}',
                         b'{"messages":[{"role":"user","content":"x"}],"user_id":"a","x":Infinity}',
                         b'{"user_id":"\\ud800","messages":[]}',
                         b'{"messages": [1,]}'):
            for path in ("/v3/memories/", "/memories"):
                st, hdrs, raw = s.request("POST", path, raw_body,
                                          headers=dict(AUTH, **{"Content-Type": "application/json"}))
                refused(st, hdrs, raw, 400, "bad_request_body")
        eq([r for r in s.upstream_requests() if r["method"] == "POST"], [], "nothing forwarded")
        st, _, raw = s.request("POST", "/memories", b"\xef\xbb\xbf" + json.dumps(
            {"messages": [{"role": "user", "content": "I like tea"}], "user_id": ALICE}).encode(),
            headers={"Content-Type": "application/json"})
        eq(st, 200, "a BOM is read past")
        text, _ = export_claims(s, 9)[-1]
        assert "for user %s..." % s.hash(ALICE) in text, text


# --- blocked exports ------------------------------------------------------------

FOREIGN_OSS = {"results": [
    {"id": "0b5e1c3a-1111-4a2b-9c3d-222233334441", "memory": "I love pizza", "user_id": ALICE},
    {"id": "0b5e1c3a-1111-4a2b-9c3d-222233334442", "memory": "allergic to peanuts", "user_id": ALICE},
    {"id": "0b5e1c3a-1111-4a2b-9c3d-222233334443", "memory": "bob likes chess", "user_id": BOB}]}


def test_foreign_memory_is_blocked_oss():
    with Stack() as s:
        u = s.hash(ALICE)
        mem0_fault(s, path_prefix="/memories", mode="status", status=200, body=FOREIGN_OSS)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        refused(st, hdrs, raw, 502, "export_scope_violation")
        text, d = export_claims(s, 1)[0]
        eq((text, d["op"], d["status"], d["error"]),
           ("Attempt failed: Blocked export of 3 memories for user %s...: 1 foreign items" % u,
            "list", "502", "export_scope_violation"))
        assert_no_pii(s.claims(), TEXTS)
        out = s.proxy_output()
        for p in [ALICE, BOB] + TEXTS:
            assert p not in out, "%r in the proxy log" % p


def test_foreign_memory_is_blocked_platform():
    with Stack() as s:
        u = s.hash(ALICE)
        body = {"count": 3, "next": None, "previous": None, "results": [
            dict(m, user_id=m["user_id"]) for m in FOREIGN_OSS["results"]]}
        body["results"][0]["user_id"] = BOB
        mem0_fault(s, path_prefix="/v3/memories/", mode="status", status=200, body=body)
        st, hdrs, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        refused(st, hdrs, raw, 502, "export_scope_violation")
        # exports/get: a foreign record anywhere in the structure.
        mem0_fault(s, path_prefix="/v1/exports/get/", mode="status", status=200,
                   body={"memories": [{"id": "1", "memory": "I love pizza", "user_id": ALICE},
                                      {"id": "2", "memory": "bob likes chess", "user_id": BOB}]})
        st, hdrs, raw = s.request("POST", "/v1/exports/get/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        refused(st, hdrs, raw, 502, "export_scope_violation")
        got = sorted(t for t, _ in export_claims(s, 2))
        eq(got, ["Attempt failed: Blocked export of 2 memories for user %s...: 1 foreign items" % u,
                 "Attempt failed: Blocked export of 3 memories for user %s...: 2 foreign items" % u])
        assert_no_pii(s.claims(), TEXTS)


def test_malformed_is_blocked_in_both_dialects():
    with Stack() as s:
        cases = [
            ("GET", "/memories?" + Q_ALICE, None, {"mode": "malformed"}),
            ("GET", "/v1/memories/?" + Q_ALICE, None, {"mode": "malformed"}),
            # Valid JSON, but not a shape known for the route.
            ("POST", "/v3/memories/", {"filters": {"user_id": ALICE}},
             {"mode": "status", "status": 200, "body": [{"id": "1", "memory": "I love pizza"}]}),
            ("GET", "/memories?" + Q_ALICE, None,
             {"mode": "status", "status": 200, "body": {"results": [{"memory": "I love pizza"}]}}),
            ("GET", "/memories?" + Q_ALICE, None,
             {"mode": "status", "status": 200, "body": "", "content_type": "application/json"}),
        ]
        for method, path, body, fault in cases:
            mem0_fault(s, **fault)
            st, hdrs, raw = s.request(method, path, body, headers=AUTH)
            refused(st, hdrs, raw, 502, "export_malformed")
        for text, d in export_claims(s, len(cases)):
            eq((d["status"], d["error"]), ("502", "export_malformed"))
            assert text.startswith("Attempt failed: Exported unknown memories to /"), text


def test_mem0_error_is_passed_through_unchanged():
    with Stack() as s:
        mem0_fault(s, mode="status", status=404, body={"detail": "Not Found"})
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        eq((st, rj(raw)), (404, {"detail": "Not Found"}))
        text, d = export_claims(s, 1)[0]
        eq((d["status"], d["error"]), ("404", None))


def test_oversized_export_is_502_never_truncated():
    cfg = "export:\n  max_bytes: 2KiB\n  check_search: false\n"
    with Stack(config=cfg) as s:
        seed(s, [(ALICE, "fact %d about a long and winding road" % i) for i in range(40)])
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        refused(st, hdrs, raw, 502, "export_too_large")
        st, hdrs, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        refused(st, hdrs, raw, 502, "export_too_large")
        # The same amount of data on a route that is not an export passes.
        st, _, raw = s.request("POST", "/search", {"query": "road", "filters": {"user_id": ALICE}})
        eq(st, 200)
        assert len(raw) > 2048, len(raw)
        # A small export still passes.
        st, _, raw = s.request("GET", "/memories?user_id=nobody")
        eq((st, rj(raw)["results"]), (200, []))
        claims = export_claims(s, 4)
        eq(sorted((d["status"], d["error"]) for _, d in claims if d["op"] == "list"),
           [("200", None), ("502", "export_too_large"), ("502", "export_too_large")])


def test_export_disabled_passes_through_as_a_list():
    with Stack(config="export:\n  enabled: false\n") as s:
        u = s.hash(ALICE)
        mem0_fault(s, path_prefix="/memories", mode="status", status=200, body=FOREIGN_OSS)
        st, _, raw = s.request("GET", "/memories?" + Q_ALICE)
        eq(st, 200, "not checked")
        text, _ = export_claims(s, 1)[0]
        eq(text, "Listed 3 memories for user %s..." % u)


def test_head_is_not_checked():
    with Stack() as s:
        st, _, raw = s.request("HEAD", "/memories?" + Q_ALICE)
        assert st != 502, st
        eq(raw, b"")


# --- compressed upstream bodies ---------------------------------------------------

def test_gzip_from_mem0_is_decoded_and_checked():
    # Searches unchecked here: a route the check leaves alone.
    with Stack(mem0_args=["--gzip"], config="export:\n  check_search: false\n") as s:
        seed_two(s)
        u = s.hash(ALICE)
        enc = {"Accept-Encoding": "gzip, deflate"}   # as the official SDK sends
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE, headers=enc)
        eq(st, 200)
        assert "content-encoding" not in hdrs, hdrs
        eq(len(rj(raw)["results"]), 2, "decoded JSON handed back")
        eq(int(hdrs["content-length"]), len(raw))
        sent = [r for r in s.upstream_requests() if r["path"].startswith("/memories?")][-1]
        ae = {k.lower(): v for k, v in sent["headers"]}.get("accept-encoding", "")
        assert "gzip" in ae and ae != "gzip, deflate", "curl's own Accept-Encoding, got %r" % ae
        # The check sees the decoded bytes: a gzip'd foreign memory is blocked.
        mem0_fault(s, path_prefix="/memories", mode="status", status=200, body=FOREIGN_OSS)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE, headers=enc)
        refused(st, hdrs, raw, 502, "export_scope_violation")
        mem0_fault(s, path_prefix="/v3/memories/", mode="malformed")
        st, hdrs, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}},
                                  headers=dict(AUTH, **enc))
        refused(st, hdrs, raw, 502, "export_malformed")
        # Not an export: the compressed body passes through as before.
        st, hdrs, raw = s.request("POST", "/search", {"query": "pizza", "filters": {"user_id": ALICE}},
                                  headers=enc)
        eq((st, hdrs.get("content-encoding")), (200, "gzip"))
        assert json.loads(gzip.decompress(raw))["results"]
        texts = sorted(t for t, _ in export_claims(s, 4))
        assert "Exported 2 memories to /memories for user %s..." % u in texts, texts


class _Encoded(http.server.BaseHTTPRequestHandler):
    """A Mem0 stand-in that answers every request with ENCODED."""
    encoding = "x-proprietary"
    payload = b"\x00\x01not a known encoding"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", self.encoding)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *a):
        pass


def test_undecodable_encoding_never_passes():
    for encoding, payload in [("x-proprietary", b"\x00\x01opaque"),
                              ("gzip", b"this is not gzip at all"),
                              ("br", b"\xff\xfe not brotli")]:
        handler = type("H", (_Encoded,), {"encoding": encoding, "payload": payload})
        srv = socketserver.ThreadingTCPServer(("127.0.0.1", free_port()), handler)
        srv.daemon_threads = True
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d" % srv.server_address[1]
            with Stack(mem0=False, env={"MEM0_URL": url}) as s:
                st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
                refused(st, hdrs, raw, 502, "upstream_bad_response")
                assert payload not in raw
        finally:
            srv.shutdown()
            srv.server_close()


# --- archive and verification ------------------------------------------------------

def test_archive_verified_true_releases_and_claims_created_file():
    with archive_stack() as s:
        seed_two(s)
        u = s.hash(ALICE)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE, headers={"X-Request-Id": "e0000000000000e1"})
        eq(st, 200)
        assert "x-export-unverified" not in hdrs
        path = os.path.join(s.archive, "e0000000000000e1.json")
        eq(archive_files(s), ["e0000000000000e1.json"])
        with open(path, "rb") as f:
            eq(f.read(), raw, "the archive holds exactly what was released")
        eq(os.stat(path).st_mode & 0o777, 0o600, "file mode")
        eq(verify_calls(s), [{"claim": "Created file " + path}])
        got = sorted((t, d["op"], d["status"]) for t, d in export_claims(s, 2))
        eq(got, sorted([("Created file " + path, "list", None),
                        ("Exported 2 memories to %s for user %s..." % (path, u), "list", "200")]))
        # Platform too; a second request with the same id gets its own file.
        st, _, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}},
                               headers=dict(AUTH, **{"X-Request-Id": "e0000000000000e1"}))
        eq(st, 200)
        files = archive_files(s)
        eq(len(files), 2)
        assert files[0] != "e0000000000000e1.json" or files[1] != "e0000000000000e1.json"
        assert_no_pii(s.claims())


def test_archive_verdict_false_is_502_and_file_removed():
    with archive_stack() as s:
        seed_two(s)
        verdict_fault(s, "FALSE")
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE, headers={"X-Request-Id": "e0000000000000ef"})
        refused(st, hdrs, raw, 502, "export_verification_failed")
        eq(archive_files(s), [], "a refused export leaves no file")
        path = os.path.join(s.archive, "e0000000000000ef.json")
        got = sorted((t, d["status"], d["error"]) for t, d in export_claims(s, 3))
        eq(got, sorted([
            ("Created file " + path, None, None),
            ("Removed file " + path, None, None),
            ("Attempt failed: Exported 2 memories to %s for user %s..." % (path, s.hash(ALICE)),
             "502", "export_verification_failed")]))


def test_archive_unverifiable_released_unless_required():
    with archive_stack() as s:
        seed_two(s)
        verdict_fault(s, "UNVERIFIABLE")
        st, _, raw = s.request("GET", "/memories?" + Q_ALICE)
        eq(st, 200, "UNVERIFIABLE releases by default")
        eq(len(archive_files(s)), 1)
    with archive_stack("  require_verified: true\n") as s:
        seed_two(s)
        verdict_fault(s, "UNVERIFIABLE")
        st, hdrs, raw = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        refused(st, hdrs, raw, 502, "export_unverifiable")
        eq(archive_files(s), [])
        # TRUE still releases under require_verified.
        st, _, _ = s.request("POST", "/v3/memories/", {"filters": {"user_id": ALICE}}, headers=AUTH)
        eq(st, 200)


def test_wingman_down_for_verify_is_503_fail_closed():
    with archive_stack(wingman=False) as s:
        seed_two(s)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        refused(st, hdrs, raw, 503, "wingman_unavailable")
        assert int(hdrs["retry-after"]) >= 1
        eq(archive_files(s), [])
        # Claims wait in the spool; once Wingman is back they arrive.
        s.start_wingman()
        texts = [t for t, _ in (split(c) for c in s.wait_claims(3, timeout=20))]
        assert any(t.startswith("Removed file ") for t in texts), texts
        assert any(t.startswith("Attempt failed: Exported 2 memories to ") for t in texts), texts


def test_wingman_500_and_malformed_for_verify_are_503():
    with archive_stack() as s:
        seed_two(s)
        for fault in ({"mode": "status", "status": 500, "body": {"error": "boom"}},
                      {"mode": "malformed"},
                      {"mode": "status", "status": 200, "body": {"verdict": "ERROR"}},
                      {"mode": "hang", "delay_ms": 3000}):
            st, _ = s.wingman.call("POST", "/_mock/fault", dict(fault, path_prefix="/verify", count=1))
            eq(st, 200)
            st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
            refused(st, hdrs, raw, 503, "wingman_unavailable")
        eq(archive_files(s), [])


def test_wingman_down_with_fail_open_releases_with_marker():
    with archive_stack("  fail_open: true\n", top=SHORT_STOP, wingman=False) as s:
        seed_two(s)
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE, headers={"X-Request-Id": "e0000000000000e0"})
        eq(st, 200)
        eq(hdrs.get("x-export-unverified"), "1")
        eq(len(rj(raw)["results"]), 2)
        eq(archive_files(s), ["e0000000000000e0.json"], "released exports stay archived")
        assert "export released unverified" in s.proxy_output()
        st, _, metrics = s.admin("GET", "/metrics")
        assert b'mem0_proxy_export_checks_total{outcome="fail_open"} 1\n' in metrics, metrics


def test_archive_retention_keeps_the_newest():
    with archive_stack("  archive_max_files: 2\n") as s:
        seed_two(s)
        for i in range(4):
            st, _, _ = s.request("GET", "/memories?" + Q_ALICE, headers={"X-Request-Id": "0000000000000a0%d" % i})
            eq(st, 200)
        eq(archive_files(s), ["0000000000000a02.json", "0000000000000a03.json"])


def test_archive_unwritable_is_500_and_nothing_released():
    """The archive directory was fine at start (else the proxy refuses to
    start) and then became unusable: a file in its place, then a symlink."""
    s = Stack()
    archive = os.path.join(s.tmp, "exports")
    s.config = "export:\n  archive_dir: %s\n" % archive
    with s:
        seed_two(s)
        os.rmdir(archive)
        with open(archive, "w") as f:
            f.write("x")
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        refused(st, hdrs, raw, 500, "export_archive_failed")
        os.unlink(archive)
        os.makedirs(archive + ".elsewhere", mode=0o700)
        os.symlink(archive + ".elsewhere", archive)
        os.lchown(archive, 4242, 4242)      # another user's symlink
        st, hdrs, raw = s.request("GET", "/memories?" + Q_ALICE)
        refused(st, hdrs, raw, 500, "export_archive_failed")
        eq(os.listdir(archive + ".elsewhere"), [], "nothing written through the symlink")
        eq(verify_calls(s), [], "nothing to verify")


def test_relative_archive_dir_is_a_config_error():
    s = Stack(config="export:\n  archive_dir: exports\n")
    try:
        s.start()
        raise AssertionError("the proxy started with a relative archive_dir")
    except RuntimeError as e:
        assert "export.archive_dir: must be an absolute path" in str(e), str(e)
    finally:
        s.stop()


def test_shutdown_while_verifying_answers_503():
    with archive_stack() as s:
        seed_two(s)
        st, _ = s.wingman.call("POST", "/_mock/fault", {"path_prefix": "/verify", "mode": "hang",
                                                        "delay_ms": 400, "count": 1})
        out = {}

        def run():
            out["r"] = s.request("GET", "/memories?" + Q_ALICE)
        t = threading.Thread(target=run)
        t.start()
        wait_for(lambda: archive_files(s), 5, "archive file")
        eq(s.stop_proxy(), 0)
        t.join(10)
        st, hdrs, raw = out["r"]
        assert st in (503,), st
        assert rj(raw)["error"] in ("wingman_unavailable", "shutting_down"), raw


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
