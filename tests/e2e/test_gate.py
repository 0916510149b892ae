#!/usr/bin/env python3
"""End-to-end tests of the approval gate: the real proxy holds bulk deletes
until the mock Wingman (faithful to the real one: role keys, dedup, lazy
expiry) decides. Each test checks what the client got, whether Mem0 saw
the destructive request at all, and the claims.

Run: tests/e2e/test_gate.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, wait_for  # noqa: E402
from test_proxy import ALICE, BOB, assert_no_pii, eq, split, main as run_main  # noqa: E402

FAST = ("gate:\n  poll_interval_ms: 100\n  hold_max_ms: 3000\n"
        "wingman:\n  timeout_ms: 400\n")
SECTIONS = ["DELIVERABLES", "SUCCESS_CRITERIA", "BOUNDARIES", "DEPENDENCIES", "MITIGATION",
            "TEST_PROCESS", "TEST_RESULTS_FORMAT", "RESOURCE_REQUIREMENTS", "RISK_ASSESSMENT",
            "QUALITY_METRICS"]
AUTH = {"Authorization": "Token secret-api-key"}


def approvals(s):
    st, body = s.wingman.call("GET", "/_mock/approvals")
    eq(st, 200)
    return body["approvals"]


def decide(s, rid, how="approve", who="operator", note="ok for test"):
    st, body = s.wingman.call("POST", "/approvals/%s/%s" % (rid, how),
                              {"decided_by": who, "note": note})
    eq(st, 200, "decision")
    return body


def decide_when_pending(s, how="approve", after=0.2, count=1):
    """In the background: decide the next `count` pending approvals."""
    def run():
        done = set()
        deadline = time.monotonic() + 20
        while len(done) < count and time.monotonic() < deadline:
            time.sleep(after)
            try:
                pending = approvals(s)
            except OSError:
                return      # the test is over, its Wingman gone
            for a in pending:
                if a["status"] == "PENDING" and a["request_id"] not in done:
                    decide(s, a["request_id"], how)
                    done.add(a["request_id"])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def deletes_seen(s, path_prefix):
    return [r for r in s.upstream_requests()
            if r["method"].upper() == "DELETE" and r["path"].startswith(path_prefix)]


def add(s, user, n=2):
    for i in range(n):
        st, _, _ = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": "fact %d about pizza" % i}], "user_id": user})
        eq(st, 200, "add")


# --- decisions ---------------------------------------------------------------

def test_approved_after_polls_oss_bulk_delete():
    with Stack(config=FAST) as s:
        add(s, ALICE, 3)
        decide_when_pending(s, after=0.5)
        t0 = time.monotonic()
        st, hdrs, raw = s.request("DELETE", "/memories?user_id=alice%40example.com",
                                  headers={"X-Mem0-Reason": "GDPR erasure request"})
        eq(st, 200, "forwarded after approval")
        assert time.monotonic() - t0 >= 0.4, "answered before the approval"
        eq(len(deletes_seen(s, "/memories?")), 1, "Mem0 saw the delete once")
        ap = approvals(s)
        eq(len(ap), 1, "one approval request")
        a = ap[0]
        eq((a["task_name"], a["worker_id"], a["status"]),
           ("Bulk Memory Deletion", "mem0-service", "APPROVED"))
        instr = a["instruction"]
        for sec in SECTIONS:
            assert sec + ":" in instr, "section %s missing" % sec
        u = s.hash(ALICE)
        assert "USER: user %s" % u in instr, instr
        assert "REASON: GDPR erasure request" in instr
        assert "AFFECTED: 3 memories" in instr, instr
        assert re.search(r"EXPIRES: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", instr)
        assert re.search(r"SCOPE: DELETE /memories oss user=%s digest=[0-9a-f]{32}$" % u, instr), instr
        assert ALICE not in instr and "alice" not in instr, "raw id in the instruction"
        claims = s.wait_claims(5)
        text = [split(c) for c in claims[3:]]
        eq([t for t, _ in text], ["Starting bulk delete for user %s...: 3 items" % u,
                                  "Bulk delete for user %s...: 3 items" % u])
        eq({d["approval"] for _, d in text}, {a["request_id"]})
        assert_no_pii(claims)


def test_auto_approved_forwards_at_once():
    with Stack(config=FAST, wingman_args=["--require-approval", "0"]) as s:
        st, _, _ = s.request("POST", "/reset")
        eq(st, 200)
        eq(approvals(s)[0]["status"], "AUTO_APPROVED")
        eq(approvals(s)[0]["task_name"], "Memory Reset")
        claims = s.wait_claims(2)
        eq(split(claims[0])[0], "Starting reset for all entities: 0 items")


def test_rejected_is_403_and_never_reaches_mem0():
    with Stack(config=FAST) as s:
        add(s, ALICE, 1)
        decide_when_pending(s, "reject")
        st, hdrs, raw = s.request("DELETE", "/v1/memories/?user_id=alice%40example.com", headers=AUTH)
        eq(st, 403)
        j = json.loads(raw)
        eq((j["error"], j["status"], j["decided_by"], j["note"]),
           ("approval_rejected", "REJECTED", "operator", "ok for test"))
        eq(j["approval_id"], approvals(s)[0]["request_id"])
        eq(j["request_id"], hdrs["x-request-id"])
        eq(deletes_seen(s, "/v1/memories/"), [], "Mem0 never saw the delete")
        claims = s.wait_claims(2)
        text, d = split(claims[-1])
        eq((d["op"], d["status"], d["error"], d["approval"]),
           ("bulk-delete", "403", "approval_rejected", j["approval_id"]))
        assert text.startswith("Attempt failed: Bulk delete for user "), text


def test_expired_in_wingman_is_403():
    with Stack(config=FAST, wingman_args=["--pending-ttl-sec", "1"]) as s:
        def sweep():
            time.sleep(1.3)
            s.wingman.call("GET", "/approvals/pending")  # the lazy expiry runs here
        threading.Thread(target=sweep, daemon=True).start()
        st, _, raw = s.request("DELETE", "/entities/user/alice%40example.com")
        eq(st, 403)
        eq(json.loads(raw)["error"], "approval_expired")
        eq(deletes_seen(s, "/entities/"), [])


def test_older_than_proxy_ttl_is_403_even_if_approved():
    with Stack(config=FAST + "gate:\n  ttl_ms: 1000\n  poll_interval_ms: 100\n  hold_max_ms: 3000\n"
               .replace("gate:\n", "", 0) if False else
               "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 4000\n  ttl_ms: 1000\n") as s:
        decide_when_pending(s, after=2.1)
        st, _, raw = s.request("DELETE", "/memories?user_id=u1")
        eq(st, 403)
        eq(json.loads(raw)["error"], "approval_expired")
        eq(deletes_seen(s, "/memories"), [])


def test_auto_rejected_by_newer_wingman_is_403():
    for mode in ("quarantine", "validation"):
        with Stack(config=FAST, wingman_args=["--auto-reject-mode", mode]) as s:
            st, _, raw = s.request("DELETE", "/v1/batch/", {"memories": [
                {"memory_id": "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"}]}, headers=AUTH)
            eq(st, 403, mode)
            eq(json.loads(raw)["error"], "approval_rejected")
            eq(deletes_seen(s, "/v1/batch/"), [])


# --- hold timeout and resume ------------------------------------------------

def test_hold_timeout_409_then_resume_by_plain_retry_and_admin_lookup():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n"
    with Stack(config=cfg) as s:
        add(s, ALICE, 2)
        path = "/v1/memories/?user_id=alice%40example.com"
        st, hdrs, raw = s.request("DELETE", path, headers=AUTH)
        eq(st, 409, "not 2xx: an SDK must not take it for success")
        j = json.loads(raw)
        eq((j["error"], j["status"]), ("approval_pending", "PENDING"))
        aid = j["approval_id"]
        assert "location" not in hdrs and "location" not in j, (hdrs, j)
        assert int(hdrs["retry-after"]) >= 1
        eq(deletes_seen(s, "/v1/memories/"), [])
        # The lookup is on the admin listener only (it shows decided_by).
        st, _, raw = s.request("GET", "/_proxy/approvals/" + aid)
        eq((st, json.loads(raw)["error"]), (404, "not_found"), "no lookup on the client port")
        for lookup in ("/approvals/" + aid, "/_proxy/approvals/" + aid):
            st, _, raw = s.admin("GET", lookup)
            eq((st, json.loads(raw)["status"]), (200, "PENDING"), lookup)
        for bad in ("/approvals/../log_claim", "/approvals/x%2F..%2Fstats",
                    "/approvals/"):
            st, _, raw = s.admin("GET", bad)
            eq((st, json.loads(raw)["error"]), (404, "approval_not_found"), bad)
        st, _, raw = s.admin("GET", "/approvals/0b5e1c3a-1111-4a2b-9c3d-222233334444")
        eq((st, json.loads(raw)["error"]), (404, "approval_not_found"), "unknown id")
        # Still pending: the retry finds the same approval, no new request.
        st, _, raw = s.request("DELETE", path, headers=AUTH)
        eq((st, json.loads(raw).get("approval_id")), (409, aid), raw)
        decide(s, aid)
        st, _, raw = s.admin("GET", "/approvals/" + aid)
        eq(json.loads(raw)["status"], "APPROVED")
        st, _, _ = s.request("DELETE", path, headers=AUTH)
        eq(st, 200, "the plain retry executes the approved delete")
        eq(len(approvals(s)), 1, "one approval for the whole exchange")
        eq(len(deletes_seen(s, "/v1/memories/")), 1)
        # The approval is used up: the same request again needs a new one.
        st, _, raw = s.request("DELETE", path, headers=AUTH)
        eq(st, 409)
        assert json.loads(raw)["approval_id"] != aid
        eq(len(deletes_seen(s, "/v1/memories/")), 1)


def test_resume_by_approval_id_and_replay_refused():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        path = "/v2/entities/user/alice%40example.com/"
        st, _, raw = s.request("DELETE", path, headers=AUTH)
        eq(st, 409)
        aid = json.loads(raw)["approval_id"]
        decide(s, aid)
        st, hdrs, _ = s.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": aid}))
        eq(st, 200)
        eq(hdrs["x-approval-id"], aid)
        st, _, raw = s.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": aid}))
        eq((st, json.loads(raw)["error"]), (409, "approval_consumed"))
        eq(len(deletes_seen(s, "/v2/entities/")), 1, "executed once")
        st, _, raw = s.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": "not an id!"}))
        eq((st, json.loads(raw)["error"]), (400, "bad_approval_id"))


def test_approval_for_another_scope_is_refused():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        st, _, raw = s.request("DELETE", "/memories?user_id=alice%40example.com")
        aid = json.loads(raw)["approval_id"]
        decide(s, aid)
        st, _, raw = s.request("DELETE", "/memories?user_id=bob.smith%40example.org",
                               headers={"X-Approval-Id": aid})
        eq((st, json.loads(raw)["error"]), (403, "approval_scope_mismatch"),
           "an approval for user A never deletes user B")
        st, _, raw = s.request("DELETE", "/memories?user_id=alice%40example.com&agent_id=x",
                               headers={"X-Approval-Id": aid})
        eq((st, json.loads(raw)["error"]), (403, "approval_scope_mismatch"), "narrower is another scope")
        eq(deletes_seen(s, "/memories"), [])
        st, _, raw = s.request("DELETE", "/memories?user_id=alice%40example.com",
                               headers={"X-Approval-Id": "0b5e1c3a-1111-4a2b-9c3d-222233334444"})
        eq((st, json.loads(raw)["error"]), (403, "approval_unknown"), "never asked for by this proxy")
        assert_no_pii(s.wait_claims(4))


# --- every gated spelling -----------------------------------------------------

def test_every_gated_route_is_held_in_both_dialects():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    mid = "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"
    cases = [
        ("DELETE", "/memories?user_id=a", None),
        ("DELETE", "/memories?agent_id=x&run_id=r", None),
        ("DELETE", "/entities/user/a", None),
        ("DELETE", "/entities/agent/x", None),
        ("POST", "/reset", None),
        ("delete", "/memories?user_id=a", None),
        ("DELETE", "//memories?user_id=a", None),
        ("DELETE", "/v1/memories/?user_id=a", None),
        ("DELETE", "/v1/memories/?user_id=*&agent_id=*&app_id=*&run_id=*", None),
        ("DELETE", "/v1/memories/", None),
        ("DELETE", "/v1/memories", None),
        ("DELETE", "/v1//memories/?user_id=a", None),
        ("DELETE", "/%761/memories/?user_id=a", None),
        ("DELETE", "/v1%2Fmemories%2F?user_id=a", None),
        ("DELETE", "/v1/batch/", {"memories": [{"memory_id": mid}]}),
        ("DELETE", "/v2/entities/user/a/", None),
        ("DELETE", "/v1/entities/user/42/", None),
        ("DELETE", "/v1/memories/%s/?delete_linked=true" % mid, None),
        ("DELETE", "/api/v1/orgs/organizations/org1/", None),
        ("DELETE", "/api/v1/orgs/organizations/org1/projects/p1/", None),
    ]
    with Stack(config=cfg) as s:
        for method, path, body in cases:
            st, _, raw = s.request(method, path, body, headers=AUTH)
            eq((st, json.loads(raw).get("error")), (409, "approval_pending"), "%s %s" % (method, path))
        seen = [r for r in s.upstream_requests() if r["method"].upper() in ("DELETE", "POST")
                and "/v3/memories/" not in r["path"] and not r["path"].startswith("/memories?")]
        eq(seen, [], "nothing destructive reached Mem0")
        # "delete" and "DELETE" of the same target are two requests as sent
        # (an approval binds the method's bytes): one approval each.
        eq(len(approvals(s)), len(cases))
        for a in approvals(s):
            assert "SCOPE: " in a["instruction"]
        # Not gated: single delete, batch update (by default), reads.
        st, _, _ = s.request("DELETE", "/v1/memories/%s/" % mid, headers=AUTH)
        eq(st, 404, "delete-one goes straight to Mem0")


def test_sdk_delete_all_without_arguments_is_a_project_wipe_and_held():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        st, _, raw = s.request("DELETE", "/v1/memories/?", headers=AUTH)
        eq(st, 409)
        instr = approvals(s)[0]["instruction"]
        assert "\nUSER: ALL memories of the project (no user, agent, app or run filter)\n" in instr, instr


# --- Wingman failures: never forward -----------------------------------------

def fail_closed(s, path="/memories?user_id=a", method="DELETE"):
    t0 = time.monotonic()
    st, hdrs, raw = s.request(method, path)
    eq(st, 503)
    eq(json.loads(raw)["error"], "wingman_unavailable")
    assert int(hdrs["retry-after"]) > 0
    eq(deletes_seen(s, "/memories"), [], "fail closed: nothing forwarded")
    return time.monotonic() - t0


def test_wingman_down_is_503():
    with Stack(config=FAST + "shutdown_timeout_ms: 300\n", wingman=False) as s:
        fail_closed(s)


def test_wingman_slow_is_503_within_timeout():
    with Stack(config=FAST) as s:
        s.wingman.call("POST", "/_mock/fault", {"mode": "hang", "count": 1,
                                                "path_prefix": "/approvals/request"})
        assert fail_closed(s) < 2.0


def test_wingman_500_401_malformed_are_503():
    with Stack(config=FAST) as s:
        s.wingman.call("POST", "/_mock/fault", {"mode": "status", "status": 500, "count": 1,
                                                "path_prefix": "/approvals/request"})
        fail_closed(s)
        s.wingman.call("POST", "/_mock/fault", {"mode": "malformed", "count": 1,
                                                "path_prefix": "/approvals/request"})
        fail_closed(s)
        s.wingman.call("POST", "/_mock/fault", {"mode": "status", "status": 500, "count": 1,
                                                "path_prefix": "/approvals/"})
    with Stack(config=FAST, wingman_args=["--approval-request-keys", "qk1"]) as s:
        fail_closed(s)   # 401: the proxy has no request key


def test_poll_failure_is_503_and_retry_resumes():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 2000\nwingman:\n  timeout_ms: 400\n"
    with Stack(config=cfg) as s:
        def later():
            time.sleep(0.3)
            s.wingman.call("POST", "/_mock/fault", {"mode": "status", "status": 502, "count": 1,
                                                    "path_prefix": "/approvals/", "method": "GET"})
        threading.Thread(target=later, daemon=True).start()
        fail_closed(s)
        aid = approvals(s)[0]["request_id"]
        decide(s, aid)
        st, _, _ = s.request("DELETE", "/memories?user_id=a")
        eq(st, 200, "the retry finds the approval again")
        eq(len(approvals(s)), 1)


def test_role_keys_from_files():
    d = tempfile.mkdtemp()
    rk, qk = os.path.join(d, "read.key"), os.path.join(d, "request.key")
    for path, key in ((rk, "rk2\n"), (qk, "qk1\n")):
        with open(path, "w") as f:
            f.write(key)
        os.chmod(path, 0o600)
    cfg = FAST + "  read_key_file: %s\n  request_key_file: %s\n" % (rk, qk)
    keys = ["--approval-read-keys", "rk1,rk2", "--approval-request-keys", "qk1",
            "--approval-decide-keys", "dk1"]
    with Stack(config=cfg, wingman_args=keys) as s:
        def approve():
            time.sleep(0.3)
            for a in approvals(s):
                s.wingman.call("POST", "/approvals/%s/approve" % a["request_id"], {"decided_by": "op"},
                               headers={"X-Wingman-Approval-Decide-Key": "dk1"})
        threading.Thread(target=approve, daemon=True).start()
        st, _, _ = s.request("DELETE", "/memories?user_id=a")
        eq(st, 200)
        reqs = s.wingman.call("GET", "/_mock/requests")[1]
        polls = [r for r in reqs if r["method"] == "GET" and r["path"].startswith("/approvals/")
                 and "pending" not in r["path"]]
        assert polls, "polled"
        for r in polls:
            eq({k.lower(): v for k, v in r["headers"]}.get("x-wingman-approval-read-key"), "rk2")
    os.chmod(rk, 0o644)
    s = Stack(config=cfg)
    try:
        s.start()
        raise AssertionError("the proxy started with a world-readable key file")
    except RuntimeError as e:
        assert "group or others" in str(e), str(e)
    finally:
        s.stop()


# --- capacity and shutdown ----------------------------------------------------

def test_holds_use_no_thread_and_cap_is_enforced():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 3000\n  max_holds: 3\n"
    with Stack(config=cfg) as s:
        results = []

        def held(i):
            st, _, raw = s.request("DELETE", "/memories?user_id=h%d" % i)
            results.append(st)
        ts = [threading.Thread(target=held, args=(i,)) for i in range(3)]
        for t in ts:
            t.start()
        wait_for(lambda: len(approvals(s)) == 3, 5, "3 holds")
        threads = len(os.listdir("/proc/%d/task" % s.proxy.pid))
        st, _, raw = s.request("DELETE", "/memories?user_id=h9")
        eq((st, json.loads(raw)["error"]), (503, "too_many_holds"))
        # main, front, admin listener, engine, spool writer, approval
        # store: no more (ThreadSanitizer adds a thread of its own).
        limit = 7 if "tsan" in os.environ.get("BUILD", "") else 6
        assert threads <= limit, "threads while 3 requests are held: %d" % threads
        for a in approvals(s):
            decide(s, a["request_id"])
        for t in ts:
            t.join()
        eq(sorted(results), [200, 200, 200])


def test_shutdown_answers_held_requests_with_503():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 30000\n"
    with Stack(config=cfg) as s:
        out = {}

        def held():
            out["r"] = s.request("DELETE", "/memories?user_id=a")
        t = threading.Thread(target=held)
        t.start()
        wait_for(lambda: approvals(s), 5, "held")
        t0 = time.monotonic()
        eq(s.stop_proxy(), 0)
        t.join(10)
        assert time.monotonic() - t0 < 5, "shutdown waited for the hold"
        st, hdrs, raw = out["r"]
        eq((st, json.loads(raw)["error"]), (503, "shutting_down"))
        eq(deletes_seen(s, "/memories"), [])



class Replica:
    """A second proxy beside a Stack's: same Mem0, Wingman, HMAC key and
    (unless told otherwise) approvals directory, its own state dir."""

    def __init__(self, stack, name="replica-b", approvals_dir=None, config=None):
        import subprocess
        from harness import PROXY_BIN, free_port
        self.port = free_port()
        cfg_path = os.path.join(stack.tmp, "proxy.yaml") if stack.config else None
        if config is not None:
            cfg_path = os.path.join(stack.tmp, name + ".yaml")
            with open(cfg_path, "w") as f:
                f.write(config)
        env = stack.proxy_env(stack.mem0_url)
        env.update({"PROXY_LISTEN": "127.0.0.1:%d" % self.port,
                    "PROXY_ADMIN_LISTEN": "127.0.0.1:%d" % free_port(),
                    "PROXY_STATE_DIR": os.path.join(stack.tmp, name),
                    "PROXY_HMAC_KEY_FILE": os.path.join(stack.state_dir, "hmac.key"),
                    "PROXY_APPROVALS_DIR": approvals_dir or os.path.join(stack.state_dir, "approvals")})
        self.log = open(os.path.join(stack.tmp, name + ".log"), "wb")
        args = [PROXY_BIN] + (["-c", cfg_path] if cfg_path else [])
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log)
        wait_for(self.up, 10, name)

    def up(self):
        from harness import http_json
        if self.proc.poll() is not None:
            raise RuntimeError("replica exited with %d" % self.proc.returncode)
        try:
            return http_json("127.0.0.1", self.port, "GET", "/_proxy/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    def request(self, method, path, body=None, headers=None):
        from harness import http_json
        st, hdrs, raw = http_json("127.0.0.1", self.port, method, path, body, headers)
        return st, {k.lower(): v for k, v in hdrs}, raw

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(10)
        self.log.close()
        return code


def test_two_replicas_resume_by_approval_id_on_the_other():
    """A held delete started on replica A resumes on replica B by its id:
    replicas share Mem0, Wingman, the HMAC key and the approvals
    directory. A replica with a directory of its own does not know the
    approval and refuses it."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as a:
        path = "/v1/memories/?user_id=alice%40example.com"
        st, _, raw = a.request("DELETE", path, headers=AUTH)
        eq(st, 409)
        aid = json.loads(raw)["approval_id"]
        decide(a, aid)
        alone = Replica(a, "replica-c", approvals_dir=os.path.join(a.tmp, "own-approvals"))
        try:
            st, _, raw = alone.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": aid}))
            eq((st, json.loads(raw)["error"]), (403, "approval_unknown"))
        finally:
            eq(alone.stop(), 0)
        b = Replica(a)
        try:
            st, _, raw = b.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": aid}))
            eq(st, 200, "resumed on the other replica")
            eq(len(deletes_seen(a, "/v1/memories/")), 1)
            eq(len(approvals(a)), 1, "no second approval request")
            st, _, raw = a.request("DELETE", path, headers=dict(AUTH, **{"X-Approval-Id": aid}))
            eq((st, json.loads(raw)["error"]), (409, "approval_consumed"), "used on B, refused on A")
        finally:
            eq(b.stop(), 0)


# --- gate integrity: one approval, this proxy's, exactly once -----------------

def test_forged_approval_is_refused_and_the_real_one_works():
    """Whoever can create approvals in Wingman copies a held request's
    SCOPE line into one of their own, which Wingman auto-approves (LOW
    risk). It names no approval this proxy asked for: refused."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        st, _, raw = s.request("POST", "/reset")
        eq(st, 409)
        real = json.loads(raw)["approval_id"]
        instr = approvals(s)[0]["instruction"]
        scope_line = [ln for ln in instr.split("\n") if ln.startswith("SCOPE: ")][0]
        forged = []
        for task, text in (("Read-only listing", scope_line),
                           ("Read-only listing", "Listing only.\n" + scope_line),
                           ("Memory Reset", instr.replace("Delete", "List").replace("delete", "list")
                            .replace("wipe", "view"))):
            st, body = s.wingman.call("POST", "/approvals/request",
                                      {"worker_id": "mem0-service", "task_name": task,
                                       "instruction": text, "deployment_env": "dev"})
            eq((st, body["status"]), (200, "AUTO_APPROVED"), "Wingman auto-approves the forgery")
            forged.append(body["request"]["request_id"])
        # And one a human approved: a PENDING copy of the whole instruction.
        st, body = s.wingman.call("POST", "/approvals/request",
                                  {"worker_id": "mem0-service", "task_name": "Memory Reset",
                                   "instruction": instr + "\nNOTE: a copy", "deployment_env": "dev"})
        decide(s, body["request"]["request_id"])
        forged.append(body["request"]["request_id"])
        for fid in forged:
            st, _, raw = s.request("POST", "/reset", headers={"X-Approval-Id": fid})
            eq((st, json.loads(raw)["error"]), (403, "approval_unknown"), fid)
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [], "no forged reset reached Mem0")
        decide(s, real)
        st, hdrs, _ = s.request("POST", "/reset", headers={"X-Approval-Id": real})
        eq((st, hdrs["x-approval-id"]), (200, real), "the proxy's own approval still works")
        eq(len([r for r in s.upstream_requests() if r["path"] == "/reset"]), 1)


def test_wingman_copy_changed_behind_the_proxy_is_refused():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        for field, value in (("instruction", "something else"), ("task_name", "Other"),
                             ("worker_id", "another-worker")):
            path = "/memories?user_id=" + field
            st, _, raw = s.request("DELETE", path)
            eq(st, 409)
            aid = json.loads(raw)["approval_id"]
            decide(s, aid)
            st, row = s.wingman.call("POST", "/_mock/edit", {"request_id": aid, field: value})
            eq(st, 200)
            st, _, raw = s.request("DELETE", path, headers={"X-Approval-Id": aid})
            eq((st, json.loads(raw)["error"]), (403, "approval_invalid"), field)
            st, _, raw = s.request("DELETE", path)
            eq(st, 409, "a plain retry asks again: " + field)
        eq(deletes_seen(s, "/memories"), [])


def test_auto_approved_counts_only_as_the_immediate_answer():
    """An approval that was AUTO_APPROVED is used by the request that got
    it; naming it again is a replay (409), and AUTO_APPROVED met on a
    later read is never a decision of this proxy's."""
    with Stack(config=FAST, wingman_args=["--require-approval", "0"]) as s:
        st, hdrs, _ = s.request("POST", "/reset")
        eq(st, 200)
        aid = hdrs["x-approval-id"]
        eq(approvals(s)[0]["status"], "AUTO_APPROVED")
        st, _, raw = s.request("POST", "/reset", headers={"X-Approval-Id": aid})
        eq((st, json.loads(raw)["error"]), (409, "approval_consumed"))
        eq(len([r for r in s.upstream_requests() if r["path"] == "/reset"]), 1)
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        st, _, raw = s.request("POST", "/reset")
        aid = json.loads(raw)["approval_id"]
        s.wingman.call("POST", "/_mock/edit", {"request_id": aid, "status": "AUTO_APPROVED"})
        st, _, raw = s.request("POST", "/reset", headers={"X-Approval-Id": aid})
        eq((st, json.loads(raw)["error"]), (403, "approval_invalid"))
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [])


def test_require_human():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 3000\n  require_human: true\n"
    with Stack(config=cfg, wingman_args=["--require-approval", "0"]) as s:
        st, _, raw = s.request("POST", "/reset")
        eq((st, json.loads(raw)["error"]), (403, "approval_not_human"))
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [])
    with Stack(config="gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n  require_human: true\n") as s:
        st, _, raw = s.request("POST", "/reset")
        aid = json.loads(raw)["approval_id"]
        st, body = s.wingman.call("POST", "/approvals/%s/approve" % aid, {})
        eq((st, body["decided_by"]), (200, None), "approved by nobody in particular")
        st, _, raw = s.request("POST", "/reset")
        eq((st, json.loads(raw)["error"]), (403, "approval_not_human"))
        st, _, raw = s.request("DELETE", "/memories?user_id=a")
        aid = json.loads(raw)["approval_id"]
        decide(s, aid, who="alice-operator")
        st, _, _ = s.request("DELETE", "/memories?user_id=a")
        eq(st, 200, "a named human approved it")


def test_three_held_duplicates_on_one_approval_forward_once():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 8000\n"
    with Stack(config=cfg) as s:
        add(s, ALICE, 2)
        path = "/v1/memories/?user_id=alice%40example.com"
        out = []

        def send(headers):
            st, _, raw = s.request("DELETE", path, headers=dict(AUTH, **headers))
            out.append((st, json.loads(raw).get("error") if st != 200 else None))
        ts = [threading.Thread(target=send, args=({},))]
        ts[0].start()
        wait_for(lambda: approvals(s), 5, "the first approval")
        aid = approvals(s)[0]["request_id"]
        ts.append(threading.Thread(target=send, args=({},)))
        ts.append(threading.Thread(target=send, args=({"X-Approval-Id": aid},)))
        for t in ts[1:]:
            t.start()
        time.sleep(0.5)   # all three wait on the one approval
        eq(len(approvals(s)), 1, "one approval for the three")
        decide(s, aid)
        for t in ts:
            t.join(15)
        eq(sorted(out, key=str), sorted([(200, None), (409, "approval_consumed"),
                                         (409, "approval_consumed")], key=str))
        eq(len(deletes_seen(s, "/v1/memories/")), 1, "forwarded exactly once")


def test_replay_after_restart_is_refused():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        path = "/entities/user/alice%40example.com"
        st, _, raw = s.request("DELETE", path)
        aid = json.loads(raw)["approval_id"]
        # Approved but not executed before a restart: executes once after.
        decide(s, aid)
        eq(s.stop_proxy(), 0)
        s.start_proxy()
        st, _, _ = s.request("DELETE", path, headers={"X-Approval-Id": aid})
        eq(st, 200)
        eq(s.stop_proxy(), 0)
        s.start_proxy()
        for headers in ({"X-Approval-Id": aid}, {}):
            st, _, raw = s.request("DELETE", path, headers=headers)
            j = json.loads(raw)
            if headers:
                eq((st, j["error"]), (409, "approval_consumed"), "replayed after a restart")
            else:
                eq((st, j["error"]), (409, "approval_pending"), "a plain retry asks anew")
                assert j["approval_id"] != aid
        eq(len(deletes_seen(s, "/entities/")), 1)


def test_two_proxies_sharing_approvals_forward_once():
    cfg = "gate:\n  poll_interval_ms: 50\n  hold_max_ms: 5000\n"
    with Stack(config=cfg) as a:
        path = "/v2/entities/user/alice%40example.com/"
        st, _, raw = a.request("DELETE", path, headers=AUTH)
        eq(st, 200 if False else st)
        b = Replica(a)
        try:
            out = []

            def send(node, headers):
                st, _, raw = node.request("DELETE", path, headers=dict(AUTH, **headers))
                out.append((st, json.loads(raw).get("error") if st != 200 else None))
            # Both hold the same request at once, one of them by id.
            wait_for(lambda: approvals(a), 5, "approval")
            aid = approvals(a)[0]["request_id"]
            ts = [threading.Thread(target=send, args=(a, {})),
                  threading.Thread(target=send, args=(b, {})),
                  threading.Thread(target=send, args=(b, {"X-Approval-Id": aid}))]
            for t in ts:
                t.start()
            time.sleep(0.5)
            eq(len(approvals(a)), 1, "the replica found the same approval")
            decide(a, aid)
            for t in ts:
                t.join(15)
            eq(sorted(x[0] for x in out), [200, 409, 409], out)
            eq(len(deletes_seen(a, "/v2/entities/")), 1, "forwarded exactly once across replicas")
        finally:
            eq(b.stop(), 0)


def test_body_filtered_delete_all_is_shown_as_the_project_wipe_it_is():
    """Mem0 reads delete-all's filter from the query only: a body filter
    narrows nothing, and the approver is told, with the project's count."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg, mem0_args=["--legacy-wipe"]) as s:
        st, _ = s.mem0.call("POST", "/_mock/seed", {"memories": [
            {"memory": "a1", "user_id": ALICE}, {"memory": "a2", "user_id": ALICE},
            {"memory": "b1", "user_id": BOB}, {"memory": "x", "agent_id": "bot"}]})
        eq(st, 200)
        u = s.hash(ALICE)
        for ctype, body in (("application/json", json.dumps({"user_id": ALICE})),
                            ("application/x-www-form-urlencoded", "user_id=" + ALICE.replace("@", "%40"))):
            s.wingman.call("POST", "/_mock/reset")
            st, _, raw = s.request("DELETE", "/v1/memories/", body, dict(AUTH, **{"Content-Type": ctype}))
            eq(st, 409, ctype)
            instr = approvals(s)[0]["instruction"]
            assert "\nUSER: ALL memories of the project (no user, agent, app or run filter)\n" in instr, instr
            assert "\nIGNORED: the request also names user %s in its body;" % u in instr, instr
            assert "\nAFFECTED: 4 memories\n" in instr, instr
            assert "alice" not in instr
        # A repeated query parameter: the last value is the filter.
        s.wingman.call("POST", "/_mock/reset")
        st, _, raw = s.request("DELETE", "/v1/memories/?user_id=%s&user_id=%s" %
                               (BOB.replace("@", "%40"), ALICE.replace("@", "%40")), headers=AUTH)
        instr = approvals(s)[0]["instruction"]
        assert "\nUSER: user %s\n" % u in instr and "\nAFFECTED: 2 memories\n" in instr, instr
        eq(deletes_seen(s, "/v1/memories/"), [])


def test_batch_body_must_be_json_to_be_approved():
    with Stack(config=FAST) as s:
        body = json.dumps({"memories": [{"memory_id": "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"}]})
        for ctype, data, want in (("text/plain", body, (415, "unsupported_media_type")),
                                  ("application/x-www-form-urlencoded", "memories=x",
                                   (415, "unsupported_media_type")),
                                  ("application/json", "{\"memories\":[", (400, "bad_request_body"))):
            st, _, raw = s.request("DELETE", "/v1/batch/", data, dict(AUTH, **{"Content-Type": ctype}))
            eq((st, json.loads(raw)["error"]), want, ctype)
        eq(approvals(s), [])
        eq(deletes_seen(s, "/v1/batch/"), [])


def test_every_gated_kind_is_rated_high_by_wingman():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n  bulk_update: true\n  config_write: true\n"
    mid = "3f1c2b7e-9d7a-4a39-8d3b-0c6f3f0b8a11"
    cases = [("DELETE", "/memories?user_id=a", None), ("DELETE", "/entities/agent/x", None),
             ("POST", "/reset", None), ("POST", "/configure", {"llm": {}}),
             ("DELETE", "/v1/memories/?user_id=*", None), ("DELETE", "/v1/memories/", None),
             ("DELETE", "/v1/batch/", {"memories": [{"memory_id": mid}]}),
             ("PUT", "/v1/batch/", {"memories": [{"memory_id": mid, "text": "x"}]}),
             ("DELETE", "/v2/entities/run/r1/", None), ("DELETE", "/v1/entities/user/42/", None),
             ("DELETE", "/v1/memories/%s/?delete_linked=true" % mid, None),
             ("DELETE", "/api/v1/orgs/organizations/o1/", None),
             ("DELETE", "/api/v1/orgs/organizations/o1/projects/p1/", None),
             ("PATCH", "/api/v1/orgs/organizations/o1/projects/p1/", {"custom_instructions": "x"})]
    with Stack(config=cfg) as s:
        for method, path, body in cases:
            st, _, raw = s.request(method, path, body, headers=AUTH)
            eq((st, json.loads(raw).get("error")), (409, "approval_pending"), path)
        got = [(a["risk_level"], a["status"]) for a in approvals(s)]
        eq(got, [("HIGH", "PENDING")] * len(cases))


def test_approval_requests_are_capped_per_client_and_overall():
    """100 distinct bulk deletes from one client page the approvers at most
    gate.max_pending_per_client (20) times; the rest get 429. The cap
    holds per address and per credential; gate.max_pending overall."""
    import http.client
    import socket
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n  max_pending: 30\n"
    with Stack(config=cfg) as s:
        def send(addr, token, n=[0]):
            n[0] += 1
            c = socket.create_connection(("127.0.0.1", s.proxy_port), source_address=(addr, 0))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", s.proxy_port)
                conn.sock = c
                conn.request("DELETE", "/memories?user_id=flood-%d" % n[0],
                             headers={"Authorization": "Token " + token})
                r = conn.getresponse()
                if r.status == 429:
                    assert int(r.getheader("Retry-After")) > 0
                return r.status, json.loads(r.read()).get("error")
            finally:
                c.close()
        got = [send("127.0.0.1", "T1") for _ in range(100)]
        eq(got.count((409, "approval_pending")), 20, "the per-client cap (default 20)")
        eq(got.count((429, "too_many_pending_approvals")), 80)
        eq(len(approvals(s)), 20, "no more approvals reached Wingman")
        eq(send("127.0.0.2", "T1"), (429, "too_many_pending_approvals"), "same credential, other address")
        eq(send("127.0.0.2", "T2"), (409, "approval_pending"), "other credential, other address")
        for i in range(9):
            eq(send("127.0.0.3", "T3-%d" % i)[0], 409)
        eq(send("127.0.0.4", "T4"), (429, "too_many_pending_approvals"), "gate.max_pending overall")
        eq(len(approvals(s)), 30)
        # Decided approvals stop counting: the try at the cap asks Wingman.
        for a in approvals(s)[:5]:
            decide(s, a["request_id"], "reject")
        eq(send("127.0.0.1", "T1")[0], 429, "the first try at the cap refreshes")
        wait_for(lambda: send("127.0.0.1", "T1")[0] == 409, 5, "room after the decisions")
        # Every refusal is claimed: 80 + other address + overall + refresh.
        s.wait_claims(114)
        wait_for(lambda: len([c for c in s.claims() if "error=too_many_pending_approvals" in c]) >= 83,
                 5, "83 claims of refusals")
        eq(deletes_seen(s, "/memories"), [])


def test_reason_and_request_id_never_leak_personal_data():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n"
    with Stack(config=cfg) as s:
        decide_when_pending(s, after=0.1)
        st, hdrs, _ = s.request("DELETE", "/v1/memories/?user_id=alice%40example.com", headers=dict(AUTH, **{
            "X-Mem0-Reason": "GDPR erasure for alice@example.com (Alice Example), call +49 170 1234567",
            "X-Request-Id": ALICE}))
        eq(st, 200)
        assert hdrs["x-request-id"] != ALICE
        instr = approvals(s)[0]["instruction"]
        u = s.hash(ALICE)
        assert "REASON: GDPR erasure for %s (Alice Example), call [redacted]\n" % u in instr, instr
        claims = s.wait_claims(2)
        eq(s.stop_proxy(), 0)
        spool = b""
        for root, _, files in os.walk(s.state_dir):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    spool += fh.read()
        for where, text in (("approval", instr), ("claims", "\n".join(claims)),
                            ("log", s.proxy_output()), ("state dir", spool.decode("latin-1"))):
            for pii in (ALICE, "alice%40example.com", "1234567"):
                assert pii not in text, "%r in the %s" % (pii, where)


def test_a_replica_with_a_shorter_ttl_never_makes_an_approval_run_twice():
    """Replica B (gate.ttl_ms 1 s, or a clock ahead) prunes the record and
    use mark of an approval replica A still holds a duplicate for: the
    duplicate is refused (403 approval_expired), never forwarded again."""
    # A polls every 3 s: its duplicate looks 1 s after the first forward.
    cfg = "gate:\n  poll_interval_ms: 3000\n  hold_max_ms: 20000\n  ttl_ms: 3600000\n"
    with Stack(config=cfg) as s:
        add(s, "alice", 3)
        b = Replica(s, config="gate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n  ttl_ms: 1000\n")
        try:
            res = {}

            def send(tag):
                res[tag] = s.request("DELETE", "/memories?user_id=alice", timeout=40)
            t1 = threading.Thread(target=send, args=("first",))
            t1.start()
            wait_for(lambda: len(approvals(s)) == 1, 5, "the approval request")
            time.sleep(1.0)
            t2 = threading.Thread(target=send, args=("duplicate",))
            t2.start()
            time.sleep(0.5)            # older than B's ttl now
            decide(s, approvals(s)[0]["request_id"])
            wait_for(lambda: deletes_seen(s, "/memories"), 10, "the first forward")
            # B asks for an approval of its own: it finds (and reads) A's
            # record, judges it expired by its ttl, prunes it and its mark.
            b.request("DELETE", "/memories?user_id=someone-else")
            t1.join(30)
            t2.join(30)
            eq(len(deletes_seen(s, "/memories")), 1, "one approval, one delete")
            # Whichever looked first forwarded; the other found no record.
            got = sorted((st, json.loads(raw).get("error") if st != 200 else None)
                         for st, _, raw in res.values())
            eq(got, [(200, None), (403, "approval_expired")])
        finally:
            eq(b.stop(), 0)


def test_held_duplicates_share_one_poll():
    """Thirty clients hold the same delete (one approval): Wingman is asked
    about it about once per poll interval, not thirty times."""
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 2500\n"
    with Stack(config=cfg) as s:
        def gets():
            return len([r for r in s.wingman.call("GET", "/_mock/requests")[1]
                        if r["method"] == "GET" and r["path"].startswith("/approvals/")])
        ts = [threading.Thread(target=lambda: s.request("DELETE", "/memories?user_id=alice", timeout=20))
              for _ in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        eq(len(approvals(s)), 1)
        n = gets()
        # One lookup each on arrival, then one per interval: not 30 x 12.
        assert n <= 60, "%d polls for 30 holds over 2.5 s at 200 ms" % n


def test_polls_of_many_holds_come_due_together():
    """Six holds made 25 ms apart (too few to list): their polls by id
    are not spread over the interval, one wakeup each, but come due
    together, on the same slot (an eighth of the interval), and every
    one still polls once per interval or so."""
    n = 6
    cfg = "gate:\n  poll_interval_ms: 1600\n  hold_max_ms: 20000\n"
    with Stack(config=cfg) as s:
        answers = {}

        def hold(i):
            answers[i] = s.request("DELETE", "/memories?user_id=due-%d" % i, timeout=30)[0]
        ts = []
        for i in range(n):
            ts.append(threading.Thread(target=hold, args=(i,), daemon=True))
            ts[-1].start()
            time.sleep(0.025)
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        t0 = time.time()
        time.sleep(4.0)
        times = sorted(r["time"] for r in polls_by_id(s) if r["time"] >= t0)
        assert len(times) >= 2 * n, "%d polls by id in 4 s" % len(times)
        # Polls closer than 15 ms apart are one wakeup.
        wakeups = 1 + len([1 for a, b in zip(times, times[1:]) if b - a > 0.015])
        assert wakeups <= len(times) // 3, "%d polls in %d wakeups" % (len(times), wakeups)
        eq(answers, {})
        approve_all(s, answers, ts, n)


def hold_many(s, prefix, n, timeout=30):
    """n different bulk deletes (user_id=PREFIX-i), each held in a thread:
    (answers {i: status}, filled as they come; the threads)."""
    answers = {}

    def hold(i):
        answers[i] = s.request("DELETE", "/memories?user_id=%s-%d" % (prefix, i), timeout=timeout)[0]
    ts = [threading.Thread(target=hold, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    return answers, ts


def polls_by_id(s, since=0):
    """Wingman's GET /approvals/{id} requests, from the since-th request
    it logged on."""
    return [r for r in s.wingman.call("GET", "/_mock/requests")[1][since:]
            if r["method"] == "GET" and r["path"].startswith("/approvals/")
            and not r["path"].startswith("/approvals/pending")]


def serve_pending_list(s, change):
    """From now on Wingman's pending list shows change(a) for each
    approval a it holds (a forged or broken list)."""
    items = [change(a) for a in approvals(s)]
    st, _ = s.wingman.call("POST", "/_mock/fault", {
        "path_prefix": "/approvals/pending", "mode": "status", "status": 200, "count": -1,
        "content_type": "application/json", "body": {"pending": items, "count": len(items)}})
    eq(st, 200)


def slow_polls_no_list(s, delay_ms):
    """From now on listing pending approvals fails (500) and each poll
    by id takes delay_ms: the holds wait for the proxy's poll slots."""
    st, _ = s.wingman.call("POST", "/_mock/fault", [
        {"path_prefix": "/approvals/pending", "mode": "status", "status": 500, "count": -1},
        {"path_prefix": "/approvals/", "method": "GET", "mode": "delay", "delay_ms": delay_ms,
         "count": -1}])
    eq(st, 200)


def approve_all(s, answers, ts, n):
    """Approve every pending approval: each of the n held requests goes."""
    for a in approvals(s):
        if a["status"] == "PENDING":
            decide(s, a["request_id"])
    for t in ts:
        t.join(10)
    eq(sorted(answers.values()), [200] * n)


def test_many_pending_approvals_are_listed_not_polled_one_by_one():
    """Twelve different deletes wait for twelve approvals: the proxy lists
    the pending approvals (GET /approvals/pending) instead of asking for
    each one every interval; a listed approval is never a release, so an
    approved one is found (it leaves the list and is asked for by id) and
    only its request goes. When listing fails, polls by id take over."""
    n = 12
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 15000\n"
    with Stack(config=cfg) as s:
        answers, threads = hold_many(s, "sweep-user", n)
        users = ["sweep-user-%d" % i for i in range(n)]
        ts = dict(zip(users, threads))
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        by_user = {}
        for a in approvals(s):
            for u in users:
                if s.hash(u) in a["instruction"]:
                    by_user[u] = a["request_id"]
        eq(len(by_user), n, "each approval names its user")

        def calls():
            reqs = s.wingman.call("GET", "/_mock/requests")[1]
            by_id = len([r for r in reqs if r["method"] == "GET" and r["path"].startswith("/approvals/")
                         and not r["path"].startswith("/approvals/pending")])
            listed = len([r for r in reqs if r["method"] == "GET"
                          and r["path"].startswith("/approvals/pending?limit=")])
            return by_id, listed
        time.sleep(0.5)
        by_id0, listed0 = calls()
        time.sleep(2.0)                     # 10 poll intervals
        by_id1, listed1 = calls()
        assert listed1 - listed0 >= 5, "listed %d times in 2 s" % (listed1 - listed0)
        # Without the list: 12 holds x 10 intervals = 120 asks by id.
        assert by_id1 - by_id0 <= 24, "%d asks by id in 2 s" % (by_id1 - by_id0)
        eq(answers, {}, "nothing released while all are pending")

        # One approved: only its request goes, within a few intervals.
        decide(s, by_user[users[3]])
        ts[users[3]].join(5)
        eq(answers, {3: 200})
        time.sleep(0.6)
        eq(answers, {3: 200}, "the others still wait")

        # Listing fails from now on: the holds ask by id again, and a
        # decision still reaches its request (a rejection: 403).
        st, _ = s.wingman.call("POST", "/_mock/fault", {
            "path_prefix": "/approvals/pending", "mode": "status", "status": 500, "count": -1})
        eq(st, 200)
        by_id2, _ = calls()
        time.sleep(1.0)
        by_id3, _ = calls()
        assert by_id3 - by_id2 >= 20, "only %d asks by id once listing fails" % (by_id3 - by_id2)
        decide(s, by_user[users[5]], how="reject")
        ts[users[5]].join(5)
        eq(answers.get(5), 403)
        s.wingman.call("DELETE", "/_mock/fault")
        for i, u in enumerate(users):
            if i not in answers:
                decide(s, by_user[u])
        for t in ts.values():
            t.join(10)
        eq(sorted(answers.values()), [200] * (n - 1) + [403])
        assert "listing pending approvals failed" in s.proxy_output(), "the failure is logged"


def test_a_list_saying_approved_releases_nothing():
    """The pending list only ever answers 'still pending': a list that
    shows the proxy's approvals as APPROVED (a Wingman bug, or a forged
    list) releases nothing; the approvals asked for by id still say
    PENDING, and the requests go only when those say APPROVED."""
    n = 9
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 15000\n"
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "listed", n)
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        serve_pending_list(s, lambda a: dict(a, status="APPROVED", decided_by="nobody",
                                             decided_at=a["created_at"]))
        time.sleep(2.0)
        eq(answers, {}, "a list saying APPROVED released nothing")
        s.wingman.call("DELETE", "/_mock/fault")
        approve_all(s, answers, ts, n)


LISTS = 'mem0_proxy_approval_lists_total{result="%s"}'


def test_an_unchanged_pending_list_is_not_parsed_again():
    """Ten holds wait: while nothing changes, the pending list Wingman
    sends every half interval is the same bytes, and the proxy does not
    parse it again (its digest matches: 'unchanged'), yet the holds keep
    waiting without polls by id. An approval changes the list: it is
    parsed, and only that request goes."""
    n = 10
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 20000\n"
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "unchanged", n)
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        time.sleep(0.6)
        parsed0, same0 = s.metric(LISTS % "parsed"), s.metric(LISTS % "unchanged")
        since = len(s.wingman.call("GET", "/_mock/requests")[1])
        time.sleep(2.0)                     # 20 lists at 100 ms
        parsed1, same1 = s.metric(LISTS % "parsed"), s.metric(LISTS % "unchanged")
        by_id = polls_by_id(s, since)
        assert same1 - same0 >= 10, "unchanged lists: %d in 2 s" % (same1 - same0)
        eq(parsed1, parsed0, "an unchanged list was parsed")
        assert len(by_id) <= 2, "%d polls by id while listed" % len(by_id)
        eq(answers, {}, "nothing released")
        eq(s.metric(LISTS % "failed"), 0.0)

        first = approvals(s)[0]
        decide(s, first["request_id"])
        wait_for(lambda: len(answers) == 1, 5, "the approved request went")
        eq(list(answers.values()), [200])
        assert s.metric(LISTS % "parsed") > parsed1, "the changed list was parsed"
        time.sleep(0.6)
        eq(len(answers), 1, "the others still wait")
        approve_all(s, answers, ts, n)


def test_a_listed_approval_other_than_asked_is_not_trusted():
    """The pending list shows the proxy's approvals as PENDING, but with
    another instruction than the one asked for: the list is not taken as
    their answer (the holds ask Wingman by id, whose copies are the real
    ones), and nothing is released or refused because of it."""
    n = 9
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 20000\n"
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "forged", n)
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        serve_pending_list(s, lambda a: dict(a, instruction=a["instruction"] + " and everything else"))
        time.sleep(0.5)
        since = len(s.wingman.call("GET", "/_mock/requests")[1])
        time.sleep(1.0)
        by_id = polls_by_id(s, since)
        # Trusted, the list would leave no poll by id at all.
        assert len(by_id) >= 2 * n, "only %d polls by id in 1 s" % len(by_id)
        eq(answers, {}, "nothing released or refused")
        s.wingman.call("DELETE", "/_mock/fault")
        approve_all(s, answers, ts, n)


def test_a_pending_list_that_is_not_a_list_changes_nothing():
    """Wingman answers the pending list 200 with something that is not a
    list (cut JSON; an object without "pending" as an array; the right
    list followed by more bytes, which a prefix parser would take): each
    reply counts as a failed list, the holds are asked for by id, nothing
    is released or refused, and an approval still releases its request."""
    n = 8
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 20000\n"
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "notalist", n)
        wait_for(lambda: len(approvals(s)) == n, 10, "%d approvals asked" % n)
        wait_for(lambda: s.metric(LISTS % "parsed") >= 1, 5, "a good list first")
        listed = json.dumps({"pending": approvals(s), "count": n})
        for body in ('{"pending": [{"request_id": "x"', {"pending": "all of them", "count": n},
                     listed + ' {"not": "json"} ]]}', listed + "\u0000trailing"):
            s.wingman.call("DELETE", "/_mock/fault")
            st, _ = s.wingman.call("POST", "/_mock/fault", {
                "path_prefix": "/approvals/pending", "mode": "status", "status": 200,
                "count": -1, "content_type": "application/json", "body": body})
            eq(st, 200)
            failed0 = s.metric(LISTS % "failed")
            wait_for(lambda: s.metric(LISTS % "failed") >= failed0 + 2, 5, "failed lists")
            since = len(s.wingman.call("GET", "/_mock/requests")[1])
            time.sleep(0.8)
            by_id = polls_by_id(s, since)
            assert len(by_id) >= n, "%r: only %d polls by id in 0.8 s" % (body, len(by_id))
            eq(answers, {}, "nothing released or refused")
        s.wingman.call("DELETE", "/_mock/fault")
        approve_all(s, answers, ts, n)


def test_polls_by_id_are_bounded_and_the_rest_wait_in_the_proxy():
    """Forty approvals pending, listing them fails and Wingman takes 400 ms
    a poll: at most 32 polls by id are in flight (arrivals in any 380 ms
    stay at or under 32); the others wait in the proxy, not in Wingman, so
    none times out, and when all are approved every request goes."""
    n = 40
    cfg = ("gate:\n  poll_interval_ms: 200\n  hold_max_ms: 20000\n  max_pending_per_client: 0\n"
           "wingman:\n  timeout_ms: 3000\n")
    with Stack(config=cfg) as s:
        slow_polls_no_list(s, 400)
        answers, ts = hold_many(s, "bounded", n, timeout=40)
        wait_for(lambda: len(approvals(s)) == n, 15, "%d approvals asked" % n)
        time.sleep(2.5)
        for a in approvals(s):
            decide(s, a["request_id"])
        for t in ts:
            t.join(30)
        eq(sorted(answers.values()), [200] * n, "every approved request went")
        times = sorted(r["time"] for r in s.wingman.call("GET", "/_mock/requests")[1]
                       if r["method"] == "GET" and r["path"].startswith("/approvals/")
                       and not r["path"].startswith("/approvals/pending"))
        assert len(times) > n, "polled by id: %d" % len(times)
        most, j = 0, 0
        for i, t in enumerate(times):
            while times[j] < t - 0.38:
                j += 1
            most = max(most, i - j + 1)
        assert most <= 32, "%d polls by id began within 380 ms" % most
        assert "Wingman unavailable" not in s.proxy_output(), "a poll timed out"


def test_holds_queued_for_a_poll_slot_still_end_at_hold_max():
    """120 holds, listing fails and every poll by id takes 900 ms: most
    wait in the proxy for one of the 32 poll slots. Each one still gets
    its 409 about gate.hold_max_ms after it came, not when a slot frees
    for it (seconds later)."""
    n = 120
    cfg = ("gate:\n  poll_interval_ms: 100\n  hold_max_ms: 3000\n  max_pending_per_client: 0\n"
           "wingman:\n  timeout_ms: 1500\n")
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "queued", n, timeout=40)
        wait_for(lambda: len(approvals(s)) == n, 20, "%d approvals asked" % n)
        t0 = time.monotonic()
        slow_polls_no_list(s, 900)
        for t in ts:
            t.join(30)
        late = time.monotonic() - t0
        eq(sorted(set(answers.values())), [409])
        eq(len(answers), n)
        # All came within 3 s of each other; the last hold_max ends
        # about 3 s after the faults, plus a tick and a poll.
        assert late < 3.0 + 2.5, "the last 409 came %.1f s after the faults" % late


def test_held_duplicates_share_a_failed_poll():
    """Thirty clients hold the same delete and Wingman stops answering
    polls: every one of them gets 503 (Wingman unavailable) within about
    one timeout, none waits out hold_max for a 409 that claims the
    approval is still pending."""
    n = 30
    cfg = "gate:\n  poll_interval_ms: 200\n  hold_max_ms: 6000\nwingman:\n  timeout_ms: 400\n"
    with Stack(config=cfg) as s:
        res = {}

        def send(i):
            st, _, raw = s.request("DELETE", "/memories?user_id=alice", timeout=20)
            res[i] = (st, json.loads(raw).get("error"))
        ts = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(n)]
        for t in ts:
            t.start()
        wait_for(lambda: len(approvals(s)) == 1 and s.metric("mem0_proxy_holds") == n, 10,
                 "%d duplicates held" % n)
        st, _ = s.wingman.call("POST", "/_mock/fault", {
            "path_prefix": "/approvals/", "method": "GET", "mode": "delay", "delay_ms": 5000,
            "count": -1})
        eq(st, 200)
        t0 = time.monotonic()
        for t in ts:
            t.join(20)
        took = time.monotonic() - t0
        eq(sorted(set(res.values())), [(503, "wingman_unavailable")])
        assert took < 2.0, "the last 503 came %.1f s after Wingman stopped answering" % took
        eq(deletes_seen(s, "/memories"), [])


def test_an_approval_that_cannot_be_recorded_is_not_named():
    """The approval store cannot write the new approval's record: 503,
    and the answer names no approval id (this proxy will never honour
    it); the log names it for the operator, and a retry once the store
    works is held again."""
    with Stack(faults=True) as s:
        s.faults("linkat EIO path=approvals")
        st, _, raw = s.request("DELETE", "/memories?user_id=unrecorded")
        body = json.loads(raw)
        eq((st, body.get("error")), (503, "approval_store_unavailable"))
        assert "approval_id" not in body, body
        aid = approvals(s)[0]["request_id"]
        assert any(aid in line and "could not be recorded" in line
                   for line in s.proxy_output().splitlines()), "the log names the approval"
        s.faults("")
        res = {}
        t = threading.Thread(target=lambda: res.update(
            st=s.request("DELETE", "/memories?user_id=unrecorded", timeout=20)[0]), daemon=True)
        t.start()
        wait_for(lambda: s.metric("mem0_proxy_holds") == 1, 5, "held again")
        for a in approvals(s):
            decide(s, a["request_id"])
        t.join(10)
        eq(res, {"st": 200})
        eq(len(deletes_seen(s, "/memories")), 1)


def test_stop_answers_the_holds_waiting_for_a_poll_slot():
    """Forty holds, listing fails and each poll takes 1.5 s, so most wait
    for one of the 32 poll slots inside the proxy: SIGTERM answers every
    one of them 503 (none left hanging) and the proxy exits 0."""
    n = 40
    cfg = ("gate:\n  poll_interval_ms: 100\n  hold_max_ms: 20000\n  max_pending_per_client: 0\n"
           "wingman:\n  timeout_ms: 5000\nshutdown_timeout_ms: 3000\n")
    with Stack(config=cfg) as s:
        answers, ts = hold_many(s, "stopped", n, timeout=30)
        wait_for(lambda: len(approvals(s)) == n, 15, "%d approvals asked" % n)
        slow_polls_no_list(s, 1500)
        time.sleep(1.0)                     # polls in flight, more queued
        eq(s.stop_proxy(), 0)
        for t in ts:
            t.join(10)
        eq(sorted(answers.values()), [503] * n, "every hold answered at stop")


def test_a_legacy_entity_delete_names_the_number_not_a_user():
    """DELETE /v1/entities/user/1/ deletes the entity Mem0 numbers 1, not the
    user named "1": the approver and the claims say "user #1"."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        st, _, _ = s.request("DELETE", "/v1/entities/user/1/", headers=AUTH)
        eq(st, 409)
        instr = approvals(s)[0]["instruction"]
        assert "\nUSER: user #1 (Mem0's internal number" in instr, instr
        assert s.hash("1") not in instr, instr
        claim = s.wait_claims(1)[0]
        assert "user #1" in claim and s.hash("1") not in claim, claim


def test_repeated_query_parameters_are_read_as_mem0_reads_them():
    """?user_id=alice&user_id=bob: Mem0 (Starlette, Django) takes the last
    value and deletes Bob's memories; the approver sees Bob and his count."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        eq(s.mem0.call("POST", "/_mock/seed", {"memories": [
            {"memory": "a%d" % i, "user_id": "alice"} for i in range(2)] + [
            {"memory": "b%d" % i, "user_id": "bob"} for i in range(3)]})[0], 200)
        for path in ("/v1/memories/?user_id=alice&user_id=bob", "/memories?user_id=alice&user_id=bob"):
            st, _, _ = s.request("DELETE", path, headers=AUTH)
            eq(st, 409, path)
        for a in approvals(s):
            instr = a["instruction"]
            assert "\nUSER: user %s\n" % s.hash("bob") in instr, instr
            assert "\nAFFECTED: 3 memories\n" in instr, instr


# --- the request as sent, and as Mem0 reads it --------------------------------

def test_approval_binds_method_spelling_credential_and_type():
    """An approval covers the request as sent: the same delete with another
    credential, no credential, the credential in another header, another
    body type, or the method spelled in another case is another request."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as s:
        path = "/v1/memories/?user_id=alice"
        st, _, raw = s.request("DELETE", path, headers={"Authorization": "Token T1"})
        eq(st, 409)
        aid = json.loads(raw)["approval_id"]
        decide(s, aid)
        for method, headers in (("DELETE", {"Authorization": "Token T2"}),
                                ("DELETE", {}),
                                ("DELETE", {"X-API-Key": "Token T1"}),
                                ("DELETE", {"Authorization": "Token T1", "X-API-Key": "k"}),
                                ("DELETE", {"Authorization": "Token T1", "Content-Type": "text/plain"}),
                                ("DELETE", {"Authorization": "Token T1", "Content-Encoding": "gzip"}),
                                ("delete", {"Authorization": "Token T1"}),
                                ("Delete", {"Authorization": "Token T1"})):
            st, _, raw = s.request(method, path, headers=dict(headers, **{"X-Approval-Id": aid}))
            eq((st, json.loads(raw)["error"]), (403, "approval_scope_mismatch"), (method, headers))
        eq(deletes_seen(s, "/v1/memories/"), [], "no other spelling reached Mem0")
        st, _, _ = s.request("DELETE", path, headers={"Authorization": "Token T1", "X-Approval-Id": aid})
        eq(st, 200, "the request as approved")
        eq(len(deletes_seen(s, "/v1/memories/")), 1)


def test_precount_counts_expired_memories_in_the_named_project():
    """A delete removes expired memories too, and the platform's legacy
    org_id/project_id say which project: the approver's count reads the
    same."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        items = [{"memory": "live fact", "user_id": "alice"}]
        items += [{"memory": "old fact %d" % i, "user_id": "alice", "expiration_date": "2020-01-01"}
                  for i in range(4)]
        eq(s.mem0.call("POST", "/_mock/seed", {"memories": items})[0], 200)
        for path in ("/memories?user_id=alice", "/entities/user/alice",
                     "/v1/memories/?user_id=alice&org_id=o1&org_id=o9&project_id=p9",
                     "/v2/entities/user/alice/"):
            st, _, raw = s.request("DELETE", path, headers=AUTH)
            eq(st, 409, path)
        for a in approvals(s):
            assert "\nAFFECTED: 5 memories\n" in a["instruction"], a["instruction"]
        pcs = [r for r in s.upstream_requests() if r["method"] in ("GET", "POST")]
        oss = [r for r in pcs if r["path"].startswith("/memories?")]
        eq(len(oss), 2)
        for r in oss:
            assert "show_expired=true" in r["path"], r["path"]
        plat = [json.loads(r["body"]) for r in pcs if r["path"].startswith("/v3/memories/")]
        eq(len(plat), 2)
        eq([b.get("show_expired") for b in plat], [True, True])
        eq((plat[0].get("org_id"), plat[0].get("project_id")), ("o9", "p9"), "the last value, as Django")
        eq(("org_id" in plat[1], "project_id" in plat[1]), (False, False))
        eq(deletes_seen(s, "/"), [])


def test_padded_entity_ids():
    """The OSS server trims entity ids (Python's str.strip()): " alice " is
    alice, in the SCOPE, the count and the claims. Whether the platform
    trims is unknown: a gated platform request with a padded id is 400."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        eq(s.mem0.call("POST", "/_mock/seed", {"memories": [
            {"memory": "fact %d" % i, "user_id": "alice"} for i in range(3)]})[0], 200)
        st, _, raw = s.request("DELETE", "/memories?user_id=%20alice%C2%A0%09")
        eq(st, 409)
        instr = approvals(s)[0]["instruction"]
        assert "\nUSER: user %s\n" % s.hash("alice") in instr, instr
        assert "\nAFFECTED: 3 memories\n" in instr, instr
        scope = [ln for ln in instr.split("\n") if ln.startswith("SCOPE: ")][0]
        eq(scope.split(" digest=")[0], "SCOPE: DELETE /memories oss user=" + s.hash("alice"))
        for path in ("/v1/memories/?user_id=%20alice", "/v1/memories/?user_id=alice%C2%A0",
                     "/v2/entities/user/alice%09/"):
            st, _, raw = s.request("DELETE", path, headers=AUTH)
            eq((st, json.loads(raw)["error"]), (400, "bad_entity_id"), path)
        eq(len(approvals(s)), 1, "no approval asked for a padded platform id")
        eq(deletes_seen(s, "/"), [])


def test_dot_segment_ids_are_held():
    """uvicorn routes the path as sent: in /entities/user/.. the id is "..".
    Every reading of the path is classified; the most harmful counts."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n"
    with Stack(config=cfg) as s:
        import socket
        for target in ("/entities/user/..", "/entities/user/.", "/entities/user/%2e%2e",
                       "/v2/entities/user/../", "/v2/entities/user%2F..%2F"):
            with socket.create_connection(("127.0.0.1", s.proxy_port), timeout=10) as c:
                c.sendall(b"DELETE " + target.encode() + b" HTTP/1.1\r\nHost: p\r\n"
                          b"Authorization: Token T1\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            eq(data.split(b" ", 2)[1], b"409", target)
        eq(len(approvals(s)), 5)
        eq(deletes_seen(s, "/"), [], "nothing deleted unapproved")


def test_refresh_at_the_cap_does_not_flood_wingman():
    """A client at its cap retrying in a loop: each try answers 429, and
    Wingman is asked about each pending approval at most once per 5 s."""
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 0\n  max_pending_per_client: 3\n"
    with Stack(config=cfg) as s:
        for i in range(3):
            eq(s.request("DELETE", "/memories?user_id=cap-%d" % i)[0], 409)
        before = len([r for r in s.wingman.call("GET", "/_mock/requests")[1]
                      if r["method"] == "GET" and r["path"].startswith("/approvals/")])
        t0 = time.monotonic()
        for i in range(60):
            eq(s.request("DELETE", "/memories?user_id=more-%d" % i)[0], 429)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        gets = len([r for r in s.wingman.call("GET", "/_mock/requests")[1]
                    if r["method"] == "GET" and r["path"].startswith("/approvals/")]) - before
        assert gets <= 3 * (1 + int(elapsed / 5) + 1), "%d lookups for 60 tries in %.1f s" % (gets, elapsed)
        assert gets >= 3, "the first try at the cap still looks (%d)" % gets


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
