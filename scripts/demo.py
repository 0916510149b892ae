#!/usr/bin/env python3
"""`make demo`: mock Mem0 + mock Wingman + the proxy, a few requests, and
the claim each one produced at Wingman. Everything runs on 127.0.0.1 and
stops at the end."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import PROXY_BIN, Stack  # noqa: E402

BOLD, DIM, OFF = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def show(stack, seen, method, path, body=None, headers=None, note=""):
    print("%s$ curl -X %s %s%s%s" % (BOLD, method, stack.url, path, OFF)
          + (" -d '%s'" % json.dumps(body) if body is not None else ""))
    if note:
        print("  %s# %s%s" % (DIM, note, OFF))
    status, hdrs, raw = stack.request(method, path, body, headers)
    text = raw.decode("utf-8", "replace")
    print("  -> %d %s" % (status, text if len(text) < 160 else text[:157] + "..."))
    claims = stack.wait_claims(seen + 1)
    for c in claims[seen:]:
        print("  claim at Wingman: %s%s%s" % (BOLD, c, OFF))
    print()
    try:
        return json.loads(raw), len(claims)
    except ValueError:
        return None, len(claims)


def main():
    with Stack(config="gate:\n  poll_interval_ms: 300\n") as s:
        print("proxy %s -> mock Mem0 %s; claims -> mock Wingman %s\n" % (s.url, s.mem0.url, s.wingman.url))
        n = 0
        body, n = show(s, n, "POST", "/memories", {
            "messages": [{"role": "user", "content": "I love pizza"}], "user_id": "alice@example.com"},
            note="OSS dialect: add a memory; the claim names the memory, never the text or the email")
        mid = body["results"][0]["id"]
        _, n = show(s, n, "GET", "/memories?user_id=alice%40example.com",
                    note="the same user, percent-encoded, gets the same pseudonym")
        _, n = show(s, n, "PUT", "/memories/" + mid, {"text": "Loves pizza a lot"})
        _, n = show(s, n, "DELETE", "/memories/" + mid)
        _, n = show(s, n, "POST", "/v3/memories/add/", {
            "messages": [{"role": "user", "content": "Allergic to nuts"}], "user_id": "alice@example.com"},
            headers={"Authorization": "Token demo-key"},
            note="platform dialect (the official SDKs): asynchronous add, the claim names the event")
        print("%s$ curl -X DELETE '%s/v1/memories/?user_id=alice%%40example.com'%s" % (BOLD, s.url, OFF))
        print("  %s# a bulk delete: the proxy holds it until a human approves it in Wingman%s" % (DIM, OFF))
        result = {}
        t = threading.Thread(target=lambda: result.update(r=s.request(
            "DELETE", "/v1/memories/?user_id=alice%40example.com",
            headers={"Authorization": "Token demo-key", "X-Mem0-Reason": "user asked to be forgotten"})))
        t.start()
        pending = []
        while not pending:
            time.sleep(0.1)
            pending = [a for a in s.wingman.call("GET", "/_mock/approvals")[1]["approvals"]
                       if a["status"] == "PENDING"]
        ap = pending[0]
        print("  held: approval %s in Wingman, task %r, risk %s" % (ap["request_id"], ap["task_name"],
                                                                  ap["risk_level"]))
        for line in ap["instruction"].splitlines():
            if line.split(":")[0] in ("USER", "REASON", "AFFECTED", "SCOPE"):
                print("    %s" % line)
        time.sleep(1)
        print("  %s# the operator approves (Telegram bot or POST /approvals/{id}/approve)%s" % (DIM, OFF))
        s.wingman.call("POST", "/approvals/%s/approve" % ap["request_id"],
                       {"decided_by": "demo-operator", "note": "verified with the user"})
        t.join()
        status, _, raw = result["r"]
        print("  -> %d %s" % (status, raw.decode()))
        claims = s.wait_claims(n + 2)
        for c in claims[n:]:
            print("  claim at Wingman: %s%s%s" % (BOLD, c, OFF))
        n = len(claims)
        print()
        print("pseudonym of alice@example.com (`mem0-audit-proxy hash alice@example.com`): %s"
              % s.hash("alice@example.com"))
        code = s.stop_proxy()
        print("proxy stopped (exit %d); %d claims delivered." % (code, len(s.claims())))
        # For auditors: each claim is sealed into the proxy's chain, and
        # one command proves Wingman's ledger complete and unaltered.
        print()
        print("each claim as Wingman stores it is sealed, for example:")
        print("  %s" % [c for c in s.raw_claims() if "op=delete-one" in c][0])
        ledger = os.path.join(s.tmp, "wingman-data", "claims_audit.jsonl")
        print("%s$ mem0-audit-proxy verify-ledger claims_audit.jsonl%s" % (BOLD, OFF))
        r = subprocess.run([PROXY_BIN, "verify-ledger", ledger], capture_output=True, text=True,
                           env=s.proxy_env(s.mem0_url))
        print("  " + (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1])
        return 0 if code == 0 and r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
