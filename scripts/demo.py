#!/usr/bin/env python3
"""`make demo`: mock Mem0 + mock Wingman + the proxy, a few requests, and
the claim each one produced at Wingman. Everything runs on 127.0.0.1 and
stops at the end."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Stack  # noqa: E402

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
    with Stack() as s:
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
        _, n = show(s, n, "DELETE", "/v1/memories/?user_id=alice%40example.com",
                    headers={"Authorization": "Token demo-key"}, note="bulk delete")
        print("pseudonym of alice@example.com (`mem0-audit-proxy hash alice@example.com`): %s"
              % s.hash("alice@example.com"))
        print("\nThe approval gate for bulk deletes is not built yet (issue 5): the bulk delete\n"
              "above was forwarded and audited, not held.")
        code = s.stop_proxy()
        print("proxy stopped (exit %d); %d claims delivered." % (code, len(s.claims())))
        return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
