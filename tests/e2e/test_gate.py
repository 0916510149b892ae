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
            for a in approvals(s):
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
        eq(split(claims[0])[0], "Starting reset for all entities: unknown items")


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

def test_hold_timeout_409_then_resume_by_plain_retry_and_location():
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 300\n"
    with Stack(config=cfg) as s:
        add(s, ALICE, 2)
        path = "/v1/memories/?user_id=alice%40example.com"
        st, hdrs, raw = s.request("DELETE", path, headers=AUTH)
        eq(st, 409, "not 2xx: an SDK must not take it for success")
        j = json.loads(raw)
        eq((j["error"], j["status"]), ("approval_pending", "PENDING"))
        aid = j["approval_id"]
        eq(hdrs["location"], "/_proxy/approvals/" + aid)
        assert int(hdrs["retry-after"]) >= 1
        eq(deletes_seen(s, "/v1/memories/"), [])
        st, _, raw = s.request("GET", hdrs["location"])
        eq((st, json.loads(raw)["status"]), (200, "PENDING"), "Location polls the approval")
        for bad in ("/_proxy/approvals/../log_claim", "/_proxy/approvals/x%2F..%2Fstats",
                    "/_proxy/approvals/"):
            st, _, raw = s.request("GET", bad)
            eq((st, json.loads(raw)["error"]), (404, "approval_not_found"), bad)
        st, _, raw = s.request("GET", "/_proxy/approvals/0b5e1c3a-1111-4a2b-9c3d-222233334444")
        eq((st, json.loads(raw)["error"]), (404, "approval_not_found"), "unknown id")
        # Still pending: the retry finds the same approval, no new request.
        st, _, raw = s.request("DELETE", path, headers=AUTH)
        eq((st, json.loads(raw)["approval_id"]), (409, aid))
        decide(s, aid)
        st, _, raw = s.request("GET", hdrs["location"])
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
        eq((st, json.loads(raw)["error"]), (403, "approval_consumed"))
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
        eq((st, json.loads(raw)["error"]), (403, "approval_not_found"))
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
        # "delete" and "DELETE" of the same target are one scope: one approval.
        eq(len(approvals(s)), len(cases) - 1)
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
        assert "for all entities" in instr, instr


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
        assert threads <= 4, "threads while 3 requests are held: %d" % threads
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



def test_two_replicas_resume_by_approval_id_on_the_other():
    """A held delete started on replica A resumes on replica B by its id.

    Replicas share Mem0, Wingman and the HMAC key (the SCOPE's pseudonyms
    and digest are keyed), nothing else.
    """
    import subprocess
    from harness import PROXY_BIN, free_port, http_json
    cfg = "gate:\n  poll_interval_ms: 100\n  hold_max_ms: 200\n"
    with Stack(config=cfg) as a:
        path = "/v1/memories/?user_id=alice%40example.com"
        st, _, raw = a.request("DELETE", path, headers=AUTH)
        eq(st, 409)
        aid = json.loads(raw)["approval_id"]
        decide(a, aid)
        port = free_port()
        env = a.proxy_env(a.mem0_url)
        env.update({"PROXY_LISTEN": "127.0.0.1:%d" % port,
                    "PROXY_STATE_DIR": os.path.join(a.tmp, "replica-b"),
                    "PROXY_HMAC_KEY_FILE": os.path.join(a.state_dir, "hmac.key")})
        log = open(os.path.join(a.tmp, "replica-b.log"), "wb")
        b = subprocess.Popen([PROXY_BIN, "-c", os.path.join(a.tmp, "proxy.yaml")], env=env,
                             stdout=log, stderr=log)
        try:
            def up():
                try:
                    return http_json("127.0.0.1", port, "GET", "/_proxy/healthz", timeout=1)[0] == 200
                except OSError:
                    return False
            wait_for(up, 10, "replica b")
            st, _, raw = http_json("127.0.0.1", port, "DELETE", path,
                                   headers=dict(AUTH, **{"X-Approval-Id": aid}))
            eq(st, 200, "resumed on the other replica")
            eq(len(deletes_seen(a, "/v1/memories/")), 1)
            eq(len(approvals(a)), 1, "no second approval request")
        finally:
            b.terminate()
            eq(b.wait(10), 0)
            log.close()


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
