#!/usr/bin/env python3
"""End-to-end tests of the provable audit trail (src/chain.h, ledger.h):
every claim the proxy stores is sealed into one chain per proxy; the
mock Wingman writes its ledger (claims_audit.jsonl) as the real one does;
`verify-ledger` proves it complete and unaltered, or names what is
missing or changed; `trail` lists one user's claims.

Run: tests/e2e/test_ledger.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PROXY_BIN, SEAL, Stack, wait_for  # noqa: E402
from test_proxy import eq, main as run_main  # noqa: E402

RETRY = "claims:\n  retry_initial_ms: 20\n  retry_max_ms: 100\nshutdown_timeout_ms: 3000\n"
ALICE = "alice@example.com"
BOB = "bob@example.com"


def ledger_path(s):
    return os.path.join(s.tmp, "wingman-data", "claims_audit.jsonl")


def ledger_lines(s):
    with open(ledger_path(s)) as f:
        return f.read().splitlines()


def write_ledger(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_cli(s, *args):
    """The proxy's command line with the stack's configuration."""
    return subprocess.run([PROXY_BIN] + list(args), capture_output=True, text=True, timeout=60,
                          env=s.proxy_env(getattr(s, "mem0_url", "")))


def verify(s, *files, extra=()):
    r = run_cli(s, "verify-ledger", "--json", *extra, *files)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("verify-ledger printed no JSON (exit %d):\n%s\n%s" %
                             (r.returncode, r.stdout, r.stderr))
    return r.returncode, rep


def mixed_traffic(s, n=5):
    """Creates, reads, lists, a delete: claims of several kinds."""
    for i in range(n):
        st, _, body = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": "fact %d" % i}], "user_id": ALICE})
        eq(st, 200)
        mid = json.loads(body)["results"][0]["id"]
        eq(s.request("GET", "/memories/%s" % mid)[0], 200)
        eq(s.request("GET", "/memories?user_id=%s" % BOB)[0], 200)
        if i % 2 == 0:
            eq(s.request("DELETE", "/memories/%s" % mid)[0], 200)


def settle(s):
    """Stop the proxy cleanly (its stop checkpoint), restart it to
    deliver, and wait until Wingman logged everything it stored."""
    eq(s.stop_proxy(), 0)
    s.start_proxy()
    eq(s.stop_proxy(), 0)
    s.start_proxy()
    wait_for(lambda: spool_empty(s), 20, "the spool drained")


def spool_empty(s):
    st, _, raw = s.admin("GET", "/metrics")
    m = re.search(rb"^mem0_proxy_spool_claims (\d+)", raw, re.M)
    return st == 200 and m is not None and int(m.group(1)) == 0


def test_oss_add_of_three_memories_names_all_three():
    with Stack() as s:
        st, _, body = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": "likes tea"},
                         {"role": "user", "content": "lives in Oslo"},
                         {"role": "user", "content": "has a cat"}],
            "user_id": ALICE})
        eq(st, 200)
        ids = [r["id"] for r in json.loads(body)["results"]]
        eq(len(ids), 3)
        claims = s.wait_claims(1)
        stored = [c for c in claims if c.startswith("Stored ")]
        text = "\n".join(stored)
        for mid in ids:
            eq(text.count(mid), 1, "memory %s named once in %r" % (mid, stored))
        assert stored[0].startswith("Stored memories "), stored


def test_batch_delete_of_300_names_every_id_across_parts():
    import uuid
    with Stack(wingman_args=["--require-approval", "0"]) as s:
        ids = [str(uuid.uuid4()) for _ in range(300)]
        st, _, _ = s.request("DELETE", "/v1/batch/", {"memories": [{"memory_id": m} for m in ids]},
                             headers={"Authorization": "Token secret-api-key"})
        parts = []

        def enough():
            parts[:] = [c for c in s.claims() if c.startswith(("Bulk delete", "Attempt failed: Bulk"))]
            m = re.search(r" part=\d+/(\d+)\]$", parts[0]) if parts else None
            return m is not None and len(parts) >= int(m.group(1))
        wait_for(enough, 10, "every part of the batch delete's claim")
        text = "\n".join(parts)
        missing = [m for m in ids if text.count(m) != 1]
        eq(missing, [], "ids not named exactly once (status %d)" % st)
        nums = sorted(int(re.search(r" part=(\d+)/", p).group(1)) for p in parts)
        eq(nums, list(range(1, len(parts) + 1)), "numbered parts")


def test_verify_passes_then_names_a_deleted_and_an_edited_line():
    with Stack(config=RETRY) as s:
        mixed_traffic(s)
        settle(s)
        path = ledger_path(s)
        rc, rep = verify(s, path)
        eq(rc, 0, "a clean trail: %r" % rep)
        eq(rep["ok"], True)
        lines = ledger_lines(s)
        ours = [i for i, ln in enumerate(lines) if SEAL.search(json.loads(ln)["claim"])]
        assert len(ours) > 15, len(ours)

        # One line removed from the middle: a gap, named by its seq.
        victim = ours[len(ours) // 2]
        seq = int(re.search(r" seq=(\d+) ", json.loads(lines[victim])["claim"]).group(1))
        cut = os.path.join(s.tmp, "cut.jsonl")
        write_ledger(cut, lines[:victim] + lines[victim + 1:])
        rc, rep = verify(s, cut)
        eq(rc, 1, "a line deleted")
        gaps = [g for st in rep["streams"] for g in st["gaps"]]
        assert any(g["from"] <= seq <= g["to"] and g["kind"] == "missing" for g in gaps), (seq, gaps)

        # One claim edited (a memory id changed): altered, at its line.
        edit = ours[3]
        e = json.loads(lines[edit])
        e["claim"] = re.sub(r"[0-9a-f]{8}-", "00000000-", e["claim"], count=1) \
            if re.search(r"[0-9a-f]{8}-", e["claim"]) else e["claim"].replace("[op=", "[op=x", 1)
        edited = os.path.join(s.tmp, "edited.jsonl")
        write_ledger(edited, lines[:edit] + [json.dumps(e)] + lines[edit + 1:])
        rc, rep = verify(s, edited)
        eq(rc, 1, "a line edited")
        altered = [a for st in rep["streams"] for a in st["altered_at"]]
        eq([a["at"] for a in altered], ["%s:%d" % (edited, edit + 1)], "the edited line, 1-based")

        # The text report says the same to a human.
        r = run_cli(s, "verify-ledger", cut)
        eq(r.returncode, 1)
        assert "FAILED" in r.stdout and "gap" in r.stdout.lower(), r.stdout


def test_restart_and_kill_9_keep_one_unbroken_chain():
    with Stack(config=RETRY) as s:
        mixed_traffic(s, 3)
        eq(s.stop_proxy(), 0)
        s.start_proxy()
        mixed_traffic(s, 3)
        eq(s.stop_proxy(signal.SIGKILL), -signal.SIGKILL)
        s.start_proxy()
        mixed_traffic(s, 3)
        settle(s)
        rc, rep = verify(s, ledger_path(s))
        eq(rc, 0, "one chain across a restart and a kill -9: %r" % rep)
        eq(len(rep["streams"]), 1, "one stream per proxy")
        st = rep["streams"][0]
        eq(st["gaps"], [])
        assert st["last_seq"] > 30, st


def test_two_proxies_interleave_two_streams_and_trimmed_tail_shows():
    with Stack(config=RETRY) as s:
        mixed_traffic(s, 2)
        # A second proxy (its own state dir, same key, same Wingman).
        other = Stack(config=RETRY)
        other.mem0, other.wingman, other.mem0_url = s.mem0, s.wingman, s.mem0_url
        os.makedirs(other.state_dir, mode=0o700)
        shutil.copy(os.path.join(s.state_dir, "hmac.key"), other.state_dir)
        os.chmod(os.path.join(other.state_dir, "hmac.key"), 0o600)
        try:
            other.start_proxy()
            mixed_traffic(other, 2)
            mixed_traffic(s, 1)
        finally:
            eq(other.stop_proxy(), 0)
        # The second one's claims must be delivered too.
        other.start_proxy()
        wait_for(lambda: spool_empty(other), 20, "the second spool drained")
        eq(other.stop_proxy(), 0)
        settle(s)
        rc, rep = verify(s, ledger_path(s))
        eq(rc, 0, "two interleaved streams: %r" % rep)
        eq(len(rep["streams"]), 2)
        # One of them alone (another key's stream, a rotation).
        one = rep["streams"][1]["stream"]
        rc, rep1 = verify(s, ledger_path(s), extra=("--stream", one))
        eq((rc, [x["stream"] for x in rep1["streams"]]), (0, [one]))
        assert rep1["other_streams"] > 0, rep1
        eq(run_cli(s, "verify-ledger", "--stream", "XYZ", ledger_path(s)).returncode, 2)

        # The newest lines of one stream cut off, its stop checkpoint
        # with them: the ledger goes on (the other stream) long past the
        # interval, so the missing checkpoint shows.
        lines = ledger_lines(s)
        first = json.loads(lines[0])["claim"]
        stream = re.search(r" stream=([0-9a-f]{16}) ", first).group(1)
        mine = [i for i, ln in enumerate(lines) if (" stream=%s " % stream) in ln]
        keep = [ln for i, ln in enumerate(lines) if i not in set(mine[-4:])]
        # The other stream's last line, dated an hour later.
        last = json.loads(keep[-1])
        last["timestamp"] = "2099-01-01T00:00:00.000000"
        keep.append(json.dumps(last))
        trimmed = os.path.join(s.tmp, "trimmed.jsonl")
        write_ledger(trimmed, keep)
        rc, rep = verify(s, trimmed)
        eq(rc, 1, "a trimmed tail: %r" % rep)
        cut = [st for st in rep["streams"] if st["stream"] == stream][0]
        eq(cut["overdue"], True, "checkpoint overdue: %r" % cut)


def test_state_dir_names_claims_still_queued():
    with Stack(config=RETRY) as s:
        mixed_traffic(s, 2)
        settle(s)
        s.wingman.stop()
        for i in range(3):
            eq(s.request("GET", "/memories?user_id=q%d" % i)[0], 200)
        time.sleep(0.3)
        rc, rep = verify(s, ledger_path(s), extra=("--state", s.state_dir))
        eq(rc, 1, "claims still queued: the ledger is not complete yet")
        eq(rep["pending_only"], True, "only claims still queued: %r" % rep)
        st = rep["streams"][0]
        pending = sum(g["to"] - g["from"] + 1 for g in st["gaps"] if g["kind"] == "pending")
        assert pending >= 3, st
        eq([g for g in st["gaps"] if g["kind"] != "pending"], [], "nothing else missing")


def test_trail_lists_one_users_claims():
    with Stack(config=RETRY) as s:
        mixed_traffic(s, 2)
        settle(s)
        r = run_cli(s, "trail", "--user", ALICE, "--json", ledger_path(s))
        eq(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        alice = s.hash(ALICE)
        assert len(rows) >= 2, rows
        for row in rows:
            assert ALICE not in row["claim"], row
            assert (alice in row["claim"]) == (row["match"] == "entity"), row
        # The reads and deletes of her memories name only the memory.
        kinds = {re.search(r"\[op=([a-z-]+)", row["claim"]).group(1) for row in rows
                 if row["match"] == "memory"}
        assert {"read", "delete-one"} <= kinds, rows
        seals = [(row["stream"], row["seq"]) for row in rows]
        eq(len(seals), len(set(seals)), "each claim once")
        r = run_cli(s, "trail", "--user", "nobody@example.com", ledger_path(s))
        eq(r.returncode, 1, "no claim names that user")


def test_a_ledger_that_is_not_ours_is_refused_clearly():
    with Stack(config=RETRY) as s:
        mixed_traffic(s, 1)
        settle(s)
        r = run_cli(s, "verify-ledger", os.path.join(s.tmp, "no-such-file"))
        eq(r.returncode, 2, "missing file: %s" % r.stderr)
        assert "no-such-file" in r.stderr, r.stderr


def test_gzip_answers_still_name_every_memory():
    """A client that takes gzip (the SDKs do): the proxy reads the add's
    answer anyway (curl decodes it), so its ids are in the claim."""
    with Stack(mem0_args=["--gzip"]) as s:
        st, h, body = s.request("POST", "/memories", {
            "messages": [{"role": "user", "content": "likes tea"},
                         {"role": "user", "content": "has a cat"}],
            "user_id": ALICE}, headers={"Accept-Encoding": "gzip, deflate"})
        eq(st, 200)
        ids = [r["id"] for r in json.loads(body)["results"]]
        eq(len(ids), 2)
        text = "\n".join(s.wait_claims(1))
        for mid in ids:
            assert mid in text, (mid, text)


def test_a_failed_fsync_is_voided_in_the_chain_and_the_trail_still_proves():
    """An export's claim is sealed, then its fsync fails: the spool drops
    it (the export is refused). Its seq never reaches Wingman; the next
    checkpoint says so (voided=, unstored= for the refusal logged for
    replay). After `replay`, verify-ledger passes and names the voided
    seq; without the replay, it fails and says to run it."""
    with Stack(config=RETRY, faults=True) as s:
        mixed_traffic(s, 1)
        # Let the writer sync what is there: the failing fsync is then
        # the export's own (else its claim is refused before it is
        # sealed: unstored only, no seq voided; both are checked below).
        time.sleep(0.5)
        s.faults("fdatasync EIO path=/spool/seg- count=1\nfsync EIO path=/spool/seg- count=1")
        st, h, raw = s.request("GET", "/memories?user_id=%s" % BOB)
        eq((st, json.loads(raw)["error"]), (503, "audit_unavailable"))
        s.faults("")
        wait_for(lambda: s.request("GET", "/_proxy/readyz")[0] == 200, 10, "writable again")
        mixed_traffic(s, 1)
        wait_for(lambda: any(" reason=loss " in c for c in s.raw_claims()), 10,
                 "the loss checkpoint")
        loss = [c for c in s.raw_claims() if " reason=loss " in c][0]
        voided = re.search(r" voided=([0-9a-f,:-]+)", loss) is not None
        print("     loss checkpoint: %s" % loss[loss.index("reason="):loss.index(" stream=")])
        assert voided or " unstored=" in loss, loss
        settle(s)
        rc, rep = verify(s, ledger_path(s))
        eq(rc, 1, "the refusal is only in the log: %r" % rep)
        eq(rep["unreplayed"], True)
        log = os.path.join(s.tmp, "proxy-copy.log")
        with open(log, "w") as f:
            f.write(s.proxy_output())
        r = subprocess.run([PROXY_BIN, "replay", log], capture_output=True, text=True,
                           env=s.proxy_env(s.mem0_url))
        eq(r.returncode, 0, r.stdout + r.stderr)
        rc, rep = verify(s, ledger_path(s))
        eq(rc, 0, "voided seqs are no gap once the refusal is replayed: %r" % rep)
        st = rep["streams"][0]
        eq(st["voided"] >= 1, voided, st)
        eq([g["kind"] for g in st["gaps"]], ["voided"] * len(st["gaps"]))


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals(), "e2e"))
