#!/usr/bin/env python3
"""Self-test of the loopback mocks, and a conformance test for Wingman.

Without options it starts mock_wingman.py (several configurations) and
mock_mem0.py on free loopback ports and checks them.  With --wingman-url it
runs the Wingman checks for ONE server configuration (--config) against any
Wingman, e.g. the real Flask server, so both can be held to the same
assertions; mock-only checks (/_mock/*) are skipped unless the target is a mock.

Last line of output: "N passed, M failed"; exit status 1 on any failure.

Examples:
  python3 tests/mocks/test_mocks.py
  python3 tests/mocks/test_mocks.py --wingman-url http://127.0.0.1:8101 --config roles --ttl 2 \
      --ledger /path/to/data/claims_audit.jsonl
Configurations (the server must be started with the matching environment):
  roles       WINGMAN_APPROVAL_READ_KEYS=rk1,rk2 WINGMAN_APPROVAL_DECIDE_KEY=dk1
              WINGMAN_APPROVAL_REQUEST_KEYS=qk1 WINGMAN_APPROVAL_API_KEY=legacy DEPLOYMENT_ENV=test
              (plus WINGMAN_APPROVAL_PENDING_TTL_SEC=N when --ttl N is given)
  legacy      WINGMAN_APPROVAL_API_KEY=legacy DEPLOYMENT_ENV=test
  open        DEPLOYMENT_ENV=test (no keys)
  noapproval  WINGMAN_REQUIRE_APPROVAL=0 DEPLOYMENT_ENV=test (no keys)
  nodata      no keys, ledger directory missing
"""

import argparse
import gzip
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable or "/usr/bin/python3"
BAD_JSON = "400 Bad Request: The browser (or proxy) sent a request that this server could not understand."
APPROVAL_FIELDS = {"request_id", "created_at", "status", "fingerprint", "worker_id", "task_name", "instruction",
	"risk_level", "risk_reason", "decided_at", "decided_by", "decision_note"}
SECTIONS = ["DELIVERABLES", "SUCCESS_CRITERIA", "BOUNDARIES", "DEPENDENCIES", "MITIGATION", "TEST_PROCESS",
	"TEST_RESULTS_FORMAT", "RESOURCE_REQUIREMENTS", "RISK_ASSESSMENT", "QUALITY_METRICS"]
RK, DK, QK, LK = "rk1", "dk1", "qk1", "legacy"
NONCE = uuid.uuid4().hex[:10]

VERBOSE = False
TEMP_DIRS = []


def tmpdir(prefix):
	d = tempfile.mkdtemp(prefix=prefix)
	TEMP_DIRS.append(d)
	return d


class Result:
	passed = 0
	failed = 0
	skipped = 0


def _short(v, n=300):
	s = repr(v)
	return s if len(s) <= n else s[:n] + "..."


def check(name, cond, got=None, want=None):
	if cond:
		Result.passed += 1
		if VERBOSE:
			print("PASS %s" % name)
	else:
		Result.failed += 1
		print("FAIL %s: got %s, want %s" % (name, _short(got), _short(want)))
	return bool(cond)


def eq(name, got, want):
	return check(name, got == want, got, want)


def skip(name, why):
	Result.skipped += 1
	print("SKIP %s (%s)" % (name, why))


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------

class R:
	def __init__(self, status, reason, headers, body):
		self.status = status
		self.reason = reason
		self.headers = headers
		self.body = body
		try:
			self.json = json.loads(body.decode("utf-8")) if body else None
		except ValueError:
			self.json = None

	def h(self, name):
		for k, v in self.headers:
			if k.lower() == name.lower():
				return v
		return None

	def __repr__(self):
		return "<%d %s %s>" % (self.status, self.reason, _short(self.body, 200))


def req(base, method, path, body=None, headers=None, ctype="application/json", timeout=15):
	u = urlsplit(base)
	conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
	hdrs = dict(headers or {})
	data = None
	if body is not None:
		if isinstance(body, (dict, list)) or body is None:
			data = json.dumps(body).encode("utf-8")
		elif isinstance(body, str):
			data = body.encode("utf-8")
		else:
			data = body
		if ctype:
			hdrs.setdefault("Content-Type", ctype)
	try:
		conn.request(method, path, body=data, headers=hdrs)
		r = conn.getresponse()
		b = r.read()
		return R(r.status, r.reason, r.getheaders(), b)
	finally:
		conn.close()


def raw_exchange(base, payload, timeout=5.0):
	"""Send raw bytes, read until the server closes; returns (bytes, closed)."""
	u = urlsplit(base)
	s = socket.create_connection((u.hostname, u.port), timeout=timeout)
	s.sendall(payload)
	out = b""
	closed = False
	try:
		while True:
			d = s.recv(65536)
			if not d:
				closed = True
				break
			out += d
	except socket.timeout:
		pass
	finally:
		s.close()
	return out, closed


def start(script, args, env_extra=None, name=None):
	pf = os.path.join(tmpdir("mocktest."), "port")
	env = dict(os.environ)
	for k in list(env):
		if k.startswith("WINGMAN_") or k in ("DEPLOYMENT_ENV",) or k.startswith("MOCK_MEM0_"):
			del env[k]
	env.update(env_extra or {})
	log = open(pf + ".log", "w")
	p = subprocess.Popen([PY, os.path.join(HERE, script), "--port-file", pf] + list(args),
		stdout=log, stderr=log, env=env)
	deadline = time.time() + 15
	while time.time() < deadline:
		if os.path.exists(pf):
			with open(pf) as f:
				txt = f.read().strip()
			if txt:
				url = "http://127.0.0.1:%s" % txt
				p.log_path = pf + ".log"
				return p, url
		if p.poll() is not None:
			break
		time.sleep(0.05)
	raise RuntimeError("%s did not start (see %s)" % (script, pf + ".log"))


def stop(p, name):
	if p.poll() is None:
		p.send_signal(signal.SIGTERM)
		try:
			p.wait(10)
		except subprocess.TimeoutExpired:
			p.kill()
			p.wait()
	eq("%s: exits 0 on SIGTERM" % name, p.returncode, 0)


# --------------------------------------------------------------------------
# Wingman conformance (real server and mock)
# --------------------------------------------------------------------------

class WCtx:
	def __init__(self, url, config, ttl, ledger, is_mock, tag):
		self.url = url
		self.config = config
		self.ttl = ttl
		self.ledger = ledger
		self.is_mock = is_mock
		self.tag = tag

	def n(self, s):
		return "[wingman %s] %s" % (self.tag, s)

	@property
	def rkey(self):
		return {"X-Wingman-Approval-Read-Key": RK} if self.config == "roles" else \
			({"X-Wingman-Approval-Key": LK} if self.config == "legacy" else {})

	@property
	def dkey(self):
		return {"X-Wingman-Approval-Decide-Key": DK} if self.config == "roles" else \
			({"X-Wingman-Approval-Key": LK} if self.config == "legacy" else {})

	@property
	def qkey(self):
		return {"X-Wingman-Approval-Request-Key": QK} if self.config == "roles" else {}

	def request_approval(self, body, headers=None):
		h = dict(self.qkey)
		h.update(headers or {})
		return req(self.url, "POST", "/approvals/request", body, h)


def allow_set(v):
	"""Werkzeug builds Allow from a set: the order varies between runs."""
	return sorted(x.strip() for x in (v or "").split(",") if x.strip())


def is_naive_iso(s):
	return isinstance(s, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$", s) is not None


def is_utc_iso(s):
	return isinstance(s, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$", s) is not None


def is_uuid4(s):
	try:
		return uuid.UUID(s).version == 4 and str(uuid.UUID(s)) == s
	except (ValueError, TypeError, AttributeError):
		return False


def w_transport(c):
	n = c.n
	r = req(c.url, "GET", "/health")
	eq(n("health 200"), r.status, 200)
	eq(n("reason phrase upper-case (Werkzeug)"), r.reason, "OK")
	eq(n("Connection: close on 200"), (r.h("Connection") or "").lower(), "close")
	eq(n("ACAO * without Origin"), r.h("Access-Control-Allow-Origin"), "*")
	eq(n("content-type json"), r.h("Content-Type"), "application/json")
	check(n("body ends with newline (Flask jsonify)"), r.body.endswith(b"\n"), r.body[-3:], b"}\n")
	r = req(c.url, "GET", "/health", headers={"Origin": "http://a.example"})
	eq(n("ACAO echoes Origin"), r.h("Access-Control-Allow-Origin"), "http://a.example")
	eq(n("Vary: Origin when Origin sent"), r.h("Vary"), "Origin")
	r = req(c.url, "GET", "/no-such-path")
	eq(n("unknown path 404"), r.status, 404)
	eq(n("404 reason"), r.reason, "NOT FOUND")
	eq(n("404 is HTML"), r.h("Content-Type"), "text/html; charset=utf-8")
	eq(n("404 ACAO"), r.h("Access-Control-Allow-Origin"), "*")
	eq(n("404 Connection close"), (r.h("Connection") or "").lower(), "close")
	check(n("404 body html"), b"<title>404 Not Found</title>" in r.body, r.body, "<title>404 Not Found</title>")
	eq(n("trailing slash is 404"), req(c.url, "GET", "/health/").status, 404)
	eq(n("leading '//' collapsed by http.server"), req(c.url, "GET", "//health").status, 200)
	r = req(c.url, "GET", "/approvals//pending?limit=1", headers={"Host": "wm.example:5001"})
	eq(n("inner '//' -> 308 merge_slashes redirect"), (r.status, r.reason, r.h("Location")),
		(308, "PERMANENT REDIRECT", "http://wm.example:5001/approvals/pending?limit=1"))
	r = req(c.url, "POST", "/health", {})
	eq(n("wrong method 405"), r.status, 405)
	eq(n("405 Allow"), allow_set(r.h("Allow")), ["GET", "HEAD", "OPTIONS"])
	r = req(c.url, "DELETE", "/log_claim")
	eq(n("405 Allow on POST route"), allow_set(r.h("Allow")), ["OPTIONS", "POST"])
	r = req(c.url, "DELETE", "/approvals/request")
	eq(n("405 Allow union of /approvals/request and /approvals/<id>"), allow_set(r.h("Allow")), ["GET", "HEAD", "OPTIONS", "POST"])
	r = req(c.url, "OPTIONS", "/log_claim")
	eq(n("OPTIONS 200"), r.status, 200)
	eq(n("OPTIONS Allow"), allow_set(r.h("Allow")), ["OPTIONS", "POST"])
	eq(n("OPTIONS empty body"), r.body, b"")
	r = req(c.url, "OPTIONS", "/approvals/request", headers={"Origin": "http://a.b",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-wingman-approval-request-key"})
	eq(n("preflight allow-origin"), r.h("Access-Control-Allow-Origin"), "http://a.b")
	eq(n("preflight allow-headers"), r.h("Access-Control-Allow-Headers"), "content-type, x-wingman-approval-request-key")
	eq(n("preflight allow-methods"), r.h("Access-Control-Allow-Methods"), "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
	r = req(c.url, "HEAD", "/health")
	eq(n("HEAD 200"), r.status, 200)
	eq(n("HEAD no body"), r.body, b"")
	# keep-alive is refused: the server closes after one response, even pipelined
	payload = (b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
		b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	out, closed = raw_exchange(c.url, payload)
	check(n("closes connection after one response"), closed, closed, True)
	eq(n("only one response on a pipelined connection"), out.count(b"HTTP/1.1 200"), 1)
	check(n("raw response has Connection: close"), b"\r\nConnection: close\r\n" in out, out[:300], "Connection: close")
	out, closed = raw_exchange(c.url, b"GET /health HTTP/1.0\r\n\r\n")
	check(n("HTTP/1.0 request answered with HTTP/1.1 status line"), out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:40], b"HTTP/1.1 200 OK")
	body = json.dumps({"claim": "chunked %s" % NONCE}).encode()
	chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
	out, closed = raw_exchange(c.url, b"POST /log_claim HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
	check(n("chunked request body accepted"), out.startswith(b"HTTP/1.1 200"), out[:40], b"HTTP/1.1 200")


def w_basic_endpoints(c):
	n = c.n
	r = req(c.url, "GET", "/health")
	j = r.json or {}
	eq(n("health keys"), set(j), {"status", "phase", "verifiers", "database", "timestamp"})
	eq(n("health status"), j.get("status"), "healthy")
	eq(n("health phase"), j.get("phase"), "3")
	eq(n("health verifiers"), j.get("verifiers"), {"simple": "available", "enhanced": "unavailable"})
	eq(n("health database"), j.get("database"), "memory")
	check(n("health timestamp naive local"), is_naive_iso(j.get("timestamp")), j.get("timestamp"), "naive ISO")
	r = req(c.url, "GET", "/")
	j = r.json or {}
	eq(n("index status"), r.status, 200)
	eq(n("index name"), j.get("name"), "Wingman Verification API")
	eq(n("index version"), j.get("version"), "3.0.0")
	eq(n("index endpoints"), sorted((j.get("endpoints") or {}).keys()), sorted([
		"POST /check", "POST /log_claim", "POST /verify", "POST /approvals/request", "GET /approvals/pending",
		"GET /approvals/<id>", "POST /approvals/<id>/approve", "POST /approvals/<id>/reject", "GET /health",
		"GET /stats"]))
	r = req(c.url, "GET", "/stats?range=1h")
	j = r.json or {}
	eq(n("stats 200"), r.status, 200)
	eq(n("stats keys"), set(j), {"total_verifications", "verdicts", "time_range", "source", "timestamp"})
	eq(n("stats source"), j.get("source"), "memory")
	eq(n("stats time_range"), j.get("time_range"), "all_time")
	eq(n("stats verdict keys"), set(j.get("verdicts") or {}), {"TRUE", "FALSE", "UNVERIFIABLE"})


def w_log_claim(c):
	n = c.n
	claim = "DELETE /v1/memories/ user=a1b2c3d4... status=204 %s" % NONCE
	r = req(c.url, "POST", "/log_claim", {"worker_id": "mem0-proxy", "claim": claim, "extra": 1})
	j = r.json or {}
	eq(n("log_claim 200"), r.status, 200)
	eq(n("log_claim keys"), set(j), {"status", "entry"})
	eq(n("log_claim status"), j.get("status"), "logged")
	e = j.get("entry") or {}
	eq(n("log_claim entry keys"), set(e), {"timestamp", "worker_id", "claim", "status"})
	eq(n("log_claim entry claim"), e.get("claim"), claim)
	eq(n("log_claim entry worker"), e.get("worker_id"), "mem0-proxy")
	eq(n("log_claim entry status"), e.get("status"), "PENDING_VERIFICATION")
	check(n("log_claim timestamp naive local"), is_naive_iso(e.get("timestamp")), e.get("timestamp"), "naive ISO")
	r = req(c.url, "POST", "/log_claim", {"claim": ""})
	eq(n("empty claim accepted"), r.status, 200)
	eq(n("worker_id defaults to unknown"), ((r.json or {}).get("entry") or {}).get("worker_id"), "unknown")
	r = req(c.url, "POST", "/log_claim", {"claim": "x", "worker_id": None})
	eq(n("worker_id null kept as null"), ((r.json or {}).get("entry") or {}).get("worker_id"), None)
	for body, label in (({"worker_id": "w"}, "absent"), ({}, "{}"), (None, "null body")):
		r = req(c.url, "POST", "/log_claim", body if body is not None else "null")
		eq(n("missing claim 400 (%s)" % label), r.status, 400)
		eq(n("missing claim body (%s)" % label), r.json, {"error": "Missing 'claim' field"})
	r = req(c.url, "POST", "/log_claim", {"claim": 5})
	eq(n("non-string claim 500"), r.status, 500)
	eq(n("non-string claim error"), r.json, {"error": "'int' object is not subscriptable"})
	r = req(c.url, "POST", "/log_claim", {"claim": None})
	eq(n("null claim 500"), r.json, {"error": "'NoneType' object is not subscriptable"})
	r = req(c.url, "POST", "/log_claim", {"claim": ["a"]})
	eq(n("list claim 200"), r.status, 200)
	r = req(c.url, "POST", "/log_claim", ["claim"])
	eq(n("list body with 'claim' 500"), r.json, {"error": "'list' object has no attribute 'get'"})
	r = req(c.url, "POST", "/log_claim", '{"claim":"\\ud800 x"}')
	eq(n("lone surrogate claim -> 500 from the UTF-8 console print"), (r.status, r.json),
		(500, {"error": "'utf-8' codec can't encode character '\\ud800' in position 16: surrogates not allowed"}))
	r = req(c.url, "POST", "/log_claim", {"claim": "caf\u00e9 \u2705"})
	check(n("non-ASCII escaped in response"), b"caf\\u00e9 \\u2705" in r.body, r.body, "\\u00e9")
	r = req(c.url, "POST", "/log_claim", '{"claim":"plus"}', ctype="application/vnd.x+json")
	eq(n("+json content type accepted"), r.status, 200)
	r = req(c.url, "POST", "/log_claim", '{"claim":"cs"}', ctype="application/json; charset=utf-8")
	eq(n("json with charset accepted"), r.status, 200)
	if c.ledger:
		try:
			with open(c.ledger) as f:
				lines = [json.loads(x) for x in f if x.strip()]
		except OSError as e:
			lines = []
			check(n("ledger readable"), False, str(e), "readable")
		mine = [x for x in lines if x.get("claim") == claim]
		eq(n("ledger has the claim once"), len(mine), 1)
		if mine:
			eq(n("ledger key order"), list(mine[0].keys()), ["timestamp", "worker_id", "claim", "status"])
			eq(n("ledger status"), mine[0].get("status"), "PENDING_VERIFICATION")
			eq(n("ledger worker"), mine[0].get("worker_id"), "mem0-proxy")
		with open(c.ledger) as f:
			raw = f.read()
		check(n("ledger uses json.dumps default separators"), ('"claim": "%s"' % claim) in raw, raw[-300:], '"claim": "..."')
		check(n("ledger got the non-string claim before the 500"), '"claim": 5,' in raw, raw[-400:], '"claim": 5,')
	else:
		skip(n("ledger file checks"), "no --ledger given")


def w_non_json(c):
	n = c.n
	cases = [("no content type", b'{"claim":"x","instruction":"x"}', None),
		("text/plain", b'{"claim":"x","instruction":"x"}', "text/plain"),
		("invalid json", b"{bad", "application/json"),
		("empty body", b"", "application/json")]
	for path, extra in (("/log_claim", {}), ("/verify", {"timestamp": True}), ("/check", {"approved": False, "score": 0})):
		for label, body, ctype in cases:
			r = req(c.url, "POST", path, body, ctype=ctype)
			eq(n("%s non-JSON (%s) -> 500" % (path, label)), r.status, 500)
			j = r.json or {}
			eq(n("%s non-JSON (%s) error text" % (path, label)), j.get("error"), BAD_JSON)
			want_keys = {"error"} | set(extra)
			eq(n("%s non-JSON (%s) keys" % (path, label)), set(j), want_keys)
	r = c.request_approval(b'{"instruction":"x"}', {"Content-Type": "text/plain"})
	eq(n("/approvals/request non-JSON -> 500"), r.status, 500)
	eq(n("/approvals/request non-JSON error"), r.json, {"error": BAD_JSON})


def w_verify(c):
	n = c.n
	d = tempfile.mkdtemp(prefix="wmverify.")
	ok = os.path.join(d, "export-ok-%s.json" % NONCE)
	with open(ok, "w") as f:
		f.write("{}")
	missing = os.path.join(d, "export-missing-%s.json" % NONCE)
	before = (req(c.url, "GET", "/stats").json or {})
	cases = [
		("Created file %s" % ok, "TRUE"),
		("Created file %s" % missing, "FALSE"),
		("Exported 12 memories to %s" % ok, "UNVERIFIABLE"),
		("Deleted %s" % missing, "TRUE"),
		("Removed %s" % ok, "FALSE"),
		("Created %s, done." % ok, "TRUE"),
		("no path here at all", "UNVERIFIABLE"),
		("wrote notes_%s.txt" % NONCE, "FALSE"),
		("generated %s and %s" % (ok, missing), "FALSE"),
		("Stopped elasticsearch", "TRUE"),
		("Started elasticsearch", "FALSE"),
		("Started python", "TRUE"),
	]
	counts = {"TRUE": 0, "FALSE": 0, "UNVERIFIABLE": 0}
	for claim, want in cases:
		r = req(c.url, "POST", "/verify", {"claim": claim, "worker_id": "w", "source": "x"})
		j = r.json or {}
		eq(n("verify %r" % claim), j.get("verdict"), want)
		counts[want] += 1
	r = req(c.url, "POST", "/verify", {"claim": "Created file %s" % ok})
	j = r.json or {}
	counts["TRUE"] += 1
	eq(n("verify keys"), set(j), {"verdict", "details", "timestamp", "verifier", "processing_time_ms"})
	eq(n("verify details"), j.get("details"), "Simple verification completed with verdict: TRUE")
	eq(n("verify verifier"), j.get("verifier"), "simple")
	check(n("verify processing_time_ms int"), isinstance(j.get("processing_time_ms"), int), j.get("processing_time_ms"), "int")
	r = req(c.url, "POST", "/verify", {"claim": "Created file %s" % ok, "use_enhanced": True})
	j = r.json or {}
	counts["TRUE"] += 1
	eq(n("verify enhanced verdict"), j.get("verdict"), "TRUE")
	eq(n("verify enhanced verifier"), j.get("verifier"), "enhanced")
	eq(n("verify enhanced details"), j.get("details"), "Enhanced verification completed with verdict: TRUE")
	r = req(c.url, "POST", "/verify", {"claim": "erased %s" % missing, "use_enhanced": True})
	counts["TRUE"] += 1
	eq(n("verify enhanced 'erased' is a delete"), (r.json or {}).get("verdict"), "TRUE")
	r = req(c.url, "POST", "/verify", {"claim": ""})
	eq(n("verify empty claim 400"), r.status, 400)
	eq(n("verify empty claim error"), (r.json or {}).get("error"), "Missing 'claim' field")
	eq(n("verify 400 keys"), set(r.json or {}), {"error", "timestamp"})
	r = req(c.url, "POST", "/verify", {})
	eq(n("verify {} -> No JSON body provided"), (r.json or {}).get("error"), "No JSON body provided")
	r = req(c.url, "POST", "/verify", {"x": 1})
	eq(n("verify no claim key"), (r.json or {}).get("error"), "Missing 'claim' field")
	r = req(c.url, "POST", "/verify", '{"claim":"\\ud800 x"}')
	eq(n("verify lone surrogate 500"), (r.status, (r.json or {}).get("error")),
		(500, "'utf-8' codec can't encode character '\\ud800' in position 14: surrogates not allowed"))
	r = req(c.url, "POST", "/verify", {"claim": 5})
	eq(n("verify int claim 500"), r.status, 500)
	eq(n("verify int claim error"), (r.json or {}).get("error"), "expected string or bytes-like object, got 'int'")
	after = (req(c.url, "GET", "/stats").json or {})
	eq(n("stats total_verifications delta"), after.get("total_verifications", 0) - before.get("total_verifications", 0),
		sum(counts.values()))
	for k in counts:
		eq(n("stats verdict %s delta" % k), (after.get("verdicts") or {}).get(k, 0) - (before.get("verdicts") or {}).get(k, 0), counts[k])
	try:
		os.unlink(ok)
		os.rmdir(d)
	except OSError:
		pass


def w_check(c):
	n = c.n
	full = " ".join(s.lower() if i % 2 else s for i, s in enumerate(SECTIONS))
	r = req(c.url, "POST", "/check", {"instruction": full})
	j = r.json or {}
	eq(n("check 200"), r.status, 200)
	eq(n("check keys"), set(j), {"approved", "score", "missing_sections", "validation", "policy_checks"})
	eq(n("check full score (case-insensitive)"), j.get("score"), 100)
	eq(n("check full approved"), j.get("approved"), True)
	eq(n("check full missing"), j.get("missing_sections"), [])
	eq(n("check validation found"), (j.get("validation") or {}).get("DELIVERABLES"), "\u2705 Found")
	eq(n("check policy"), j.get("policy_checks"), {"no_hardcoded_secrets": True, "no_forbidden_actions": True,
		"has_mitigation_plan": True})
	check(n("check emoji escaped"), b"\\u2705 Found" in r.body, r.body[:200], "\\u2705")
	r = req(c.url, "POST", "/check", {"instruction": " ".join(SECTIONS[:8]) + " PassWord --Force"})
	j = r.json or {}
	eq(n("check 8 sections score"), j.get("score"), 80)
	eq(n("check 8 sections approved"), j.get("approved"), True)
	eq(n("check missing order"), j.get("missing_sections"), SECTIONS[8:])
	eq(n("check missing mark"), (j.get("validation") or {}).get("QUALITY_METRICS"), "\u274c Missing")
	eq(n("check policy case-insensitive"), j.get("policy_checks"), {"no_hardcoded_secrets": False,
		"no_forbidden_actions": False, "has_mitigation_plan": True})
	r = req(c.url, "POST", "/check", {"instruction": " ".join(SECTIONS[:7])})
	eq(n("check 70 not approved"), ((r.json or {}).get("score"), (r.json or {}).get("approved")), (70, False))
	r = req(c.url, "POST", "/check", {})
	eq(n("check missing 400"), r.status, 400)
	eq(n("check missing body"), r.json, {"error": "Missing 'instruction' field", "approved": False, "score": 0})
	r = req(c.url, "POST", "/check", {"instruction": 5})
	eq(n("check int 500"), r.status, 500)
	eq(n("check int body"), r.json, {"error": "'int' object has no attribute 'upper'", "approved": False, "score": 0})


def w_risk(c):
	n = c.n
	cases = [
		("Read-only listing of memories %s" % NONCE, "", None, "LOW", "No high-risk indicators detected"),
		("Bulk deletion of memories %s" % NONCE, "", None, "LOW", "No high-risk indicators detected"),
		("Delete all memories for user %s" % NONCE, "Bulk Memory Deletion", None, "HIGH", "High-risk keywords detected"),
		("Update product catalog %s" % NONCE, "", None, "HIGH", "High-risk keywords detected"),
		("Run the thing %s" % NONCE, "Schema change", None, "MEDIUM", "Medium-risk keywords detected"),
		("Notify william %s" % NONCE, "", None, "MEDIUM", "Medium-risk keywords detected"),
		("deploy then wipe %s" % NONCE, "", None, "HIGH", "High-risk keywords detected"),
		("harmless %s" % NONCE, "", "prd", "HIGH", "Deployment environment is PRD"),
		("harmless two %s" % NONCE, "", " PRD ", "HIGH", "Deployment environment is PRD"),
		("harmless three %s" % NONCE, "", "production", "HIGH", "High-risk keywords detected"),
		("harmless four %s" % NONCE, "", "staging", "LOW", "No high-risk indicators detected"),
	]
	if c.config == "noapproval":
		cases = [(i, t, e, "LOW", "Approval disabled via WINGMAN_REQUIRE_APPROVAL=0") for i, t, e, _, _ in cases]
	for instr, task, env, level, reason in cases:
		body = {"worker_id": "w-risk", "task_name": task, "instruction": instr}
		if env is not None:
			body["deployment_env"] = env
		r = c.request_approval(body)
		j = r.json or {}
		eq(n("risk %r/%r/%r level" % (instr[:24], task, env)), (j.get("risk") or {}).get("risk_level"), level)
		eq(n("risk %r reason" % instr[:24]), (j.get("risk") or {}).get("risk_reason"), reason)
		want_status = "AUTO_APPROVED" if level == "LOW" else "PENDING"
		eq(n("risk %r status" % instr[:24]), (j.get("status"), j.get("needs_approval")), (want_status, level != "LOW"))
		eq(n("risk %r row status" % instr[:24]), (j.get("request") or {}).get("status"), want_status)
		eq(n("risk %r row level" % instr[:24]), (j.get("request") or {}).get("risk_level"), level)


def w_approvals(c):
	n = c.n
	instr = "DELIVERABLES: Delete all memories for user %s\nQUALITY_METRICS: none" % NONCE
	body = {"worker_id": "mem0-proxy", "task_name": "  Bulk Memory Deletion  ", "instruction": "  %s  " % instr,
		"deployment_env": "test"}
	r = c.request_approval(body)
	j = r.json or {}
	eq(n("request 200"), r.status, 200)
	eq(n("request top keys"), set(j), {"needs_approval", "status", "request", "risk"})
	eq(n("request needs_approval"), j.get("needs_approval"), True)
	eq(n("request status"), j.get("status"), "PENDING")
	row = j.get("request") or {}
	eq(n("approval object fields"), set(row), APPROVAL_FIELDS)
	check(n("request_id uuid4"), is_uuid4(row.get("request_id")), row.get("request_id"), "uuid4")
	check(n("created_at UTC +00:00"), is_utc_iso(row.get("created_at")), row.get("created_at"), "...+00:00")
	eq(n("instruction stripped"), row.get("instruction"), instr)
	eq(n("task_name stripped"), row.get("task_name"), "Bulk Memory Deletion")
	eq(n("risk HIGH"), row.get("risk_level"), "HIGH")
	eq(n("risk object"), j.get("risk"), {"risk_level": "HIGH", "risk_reason": "High-risk keywords detected"})
	want_fp = hashlib.sha256(("mem0-proxy\nBulk Memory Deletion\nHIGH\n%s" % instr).encode()).hexdigest()
	eq(n("fingerprint = sha256(worker\\ntask\\nrisk\\ninstruction)"), row.get("fingerprint"), want_fp)
	eq(n("decided fields null"), (row.get("decided_at"), row.get("decided_by"), row.get("decision_note")), (None, None, None))
	rid = row.get("request_id")
	# pending list right away (before any TTL could pass)
	r = req(c.url, "GET", "/approvals/pending?limit=1000", headers=c.rkey)
	j = r.json or {}
	eq(n("pending 200"), r.status, 200)
	eq(n("pending keys"), set(j), {"pending", "count"})
	items = j.get("pending") or []
	eq(n("pending count == len"), j.get("count"), len(items))
	check(n("pending lists the request"), rid in [x.get("request_id") for x in items], [x.get("request_id") for x in items][-3:], rid)
	check(n("pending only PENDING"), all(x.get("status") == "PENDING" for x in items), [x.get("status") for x in items], "PENDING")
	created = [x.get("created_at") for x in items]
	eq(n("pending ordered by created_at asc"), created, sorted(created))
	r = req(c.url, "GET", "/approvals/pending?limit=1", headers=c.rkey)
	check(n("pending limit=1"), (r.json or {}).get("count", 99) <= 1, r.json, "count<=1")
	r = req(c.url, "GET", "/approvals/pending?limit=1&limit=zzz", headers=c.rkey)
	eq(n("pending repeated limit: first wins"), r.status, 200)
	r = req(c.url, "GET", "/approvals/pending?limit=abc", headers=c.rkey)
	eq(n("pending non-integer limit 500"), r.status, 500)
	eq(n("pending non-integer limit error"), r.json, {"error": "invalid literal for int() with base 10: 'abc'"})
	r = req(c.url, "GET", "/approvals/pending?limit=", headers=c.rkey)
	eq(n("pending empty limit 500"), r.status, 500)
	# dedup
	r = c.request_approval(body)
	j = r.json or {}
	eq(n("dedup same request_id"), (j.get("request") or {}).get("request_id"), rid)
	eq(n("dedup flag"), j.get("deduped"), True)
	eq(n("dedup keys"), set(j), {"needs_approval", "status", "request", "risk", "deduped"})
	eq(n("dedup status"), (j.get("status"), j.get("needs_approval")), ("PENDING", True))
	r = c.request_approval(dict(body, worker_id="other-worker"))
	j = r.json or {}
	check(n("different worker -> new request"), (j.get("request") or {}).get("request_id") not in (None, rid), j, "new id")
	eq(n("different worker not deduped"), "deduped" in j, False)
	other = (j.get("request") or {}).get("request_id")
	r = c.request_approval(dict(body, deployment_env="prd"))
	j = r.json or {}
	check(n("different risk reason same level still dedups"), (j.get("request") or {}).get("request_id") == rid and j.get("deduped") is True,
		j.get("request", {}).get("request_id"), rid)
	eq(n("dedup returns current risk"), (j.get("risk") or {}).get("risk_reason"), "Deployment environment is PRD")
	# worker_id conversions
	r = c.request_approval({"worker_id": None, "instruction": "wipe null %s" % NONCE})
	eq(n("worker_id null -> 'None'"), ((r.json or {}).get("request") or {}).get("worker_id"), "None")
	r = c.request_approval({"instruction": "wipe absent %s" % NONCE})
	eq(n("worker_id absent -> 'unknown'"), ((r.json or {}).get("request") or {}).get("worker_id"), "unknown")
	eq(n("task_name absent -> ''"), ((r.json or {}).get("request") or {}).get("task_name"), "")
	r = c.request_approval({"worker_id": 7, "task_name": None, "instruction": "wipe int %s" % NONCE})
	eq(n("worker_id 7 -> '7'"), ((r.json or {}).get("request") or {}).get("worker_id"), "7")
	# request errors
	for b, label in (({"worker_id": "w"}, "absent"), ({"instruction": "   "}, "blank"), ([], "empty list"), ("null", "null")):
		r = c.request_approval(b)
		eq(n("request missing instruction 400 (%s)" % label), r.status, 400)
		eq(n("request missing instruction body (%s)" % label), r.json, {"error": "Missing 'instruction' field"})
	r = c.request_approval({"instruction": 5})
	eq(n("request int instruction 500"), (r.status, r.json), (500, {"error": "'int' object has no attribute 'strip'"}))
	r = c.request_approval([1])
	eq(n("request list body 500"), (r.status, r.json), (500, {"error": "'list' object has no attribute 'get'"}))
	# GET one
	r = req(c.url, "GET", "/approvals/%s" % rid, headers=c.rkey)
	eq(n("get 200"), r.status, 200)
	eq(n("get object"), set(r.json or {}), APPROVAL_FIELDS)
	eq(n("get status"), (r.json or {}).get("status"), "PENDING")
	r = req(c.url, "GET", "/approvals/%s" % uuid.uuid4(), headers=c.rkey)
	eq(n("get unknown 404"), (r.status, r.json), (404, {"error": "Not found"}))
	r = req(c.url, "GET", "/approvals/request", headers=c.rkey)
	eq(n("GET /approvals/request is a lookup of id 'request'"), (r.status, r.json), (404, {"error": "Not found"}))
	r = req(c.url, "GET", "/approvals/%s/" % rid, headers=c.rkey)
	eq(n("get with trailing slash 404 html"), (r.status, r.h("Content-Type")), (404, "text/html; charset=utf-8"))
	r = req(c.url, "GET", "/approvals/%s/approve" % rid, headers=c.dkey)
	eq(n("GET on approve 405"), r.status, 405)
	# decisions
	r = req(c.url, "POST", "/approvals/%s/approve" % rid, b"", headers=c.dkey, ctype=None)
	eq(n("approve without JSON body 500"), (r.status, r.json), (500, {"error": BAD_JSON}))
	r = req(c.url, "POST", "/approvals/%s/approve" % uuid.uuid4(), b"", headers=c.dkey, ctype=None)
	eq(n("approve unknown without JSON 500 (JSON parsed before lookup)"), r.status, 500)
	r = req(c.url, "POST", "/approvals/%s/approve" % uuid.uuid4(), {}, headers=c.dkey)
	eq(n("approve unknown 404"), (r.status, r.json), (404, {"error": "Not found"}))
	r = req(c.url, "POST", "/approvals/%s/approve" % rid, {"decided_by": 5}, headers=c.dkey)
	eq(n("approve int decided_by 500"), (r.status, r.json), (500, {"error": "'int' object has no attribute 'strip'"}))
	r = req(c.url, "POST", "/approvals/%s/approve" % rid, {"decided_by": "  operator ", "note": "  "}, headers=c.dkey)
	j = r.json or {}
	eq(n("approve 200"), r.status, 200)
	eq(n("approve status"), j.get("status"), "APPROVED")
	eq(n("approve decided_by stripped"), j.get("decided_by"), "operator")
	eq(n("approve blank note -> null"), j.get("decision_note"), None)
	check(n("approve decided_at UTC"), is_utc_iso(j.get("decided_at")), j.get("decided_at"), "...+00:00")
	decided_at = j.get("decided_at")
	r = req(c.url, "POST", "/approvals/%s/reject" % rid, {"decided_by": "x", "note": "y"}, headers=c.dkey)
	j = r.json or {}
	eq(n("reject after approve: 200"), r.status, 200)
	eq(n("reject after approve: unchanged"), (j.get("status"), j.get("decided_by"), j.get("decision_note"), j.get("decided_at")),
		("APPROVED", "operator", None, decided_at))
	r = req(c.url, "POST", "/approvals/%s/approve" % rid, "null", headers=c.dkey)
	eq(n("approve with JSON null body is fine"), (r.status, (r.json or {}).get("status")), (200, "APPROVED"))
	r = req(c.url, "GET", "/approvals/%s" % rid, headers=c.rkey)
	eq(n("poll after approve"), (r.json or {}).get("status"), "APPROVED")
	r = req(c.url, "GET", "/approvals/pending?limit=-1", headers=c.rkey)
	check(n("approved not in pending"), rid not in [x.get("request_id") for x in (r.json or {}).get("pending", [])], r.json, "absent")
	# approved request no longer dedups
	r = c.request_approval(body)
	j = r.json or {}
	check(n("after decision a new request is created"), (j.get("request") or {}).get("request_id") not in (None, rid) and "deduped" not in j,
		j, "new id, no deduped")
	# reject path
	r = req(c.url, "POST", "/approvals/%s/reject" % other, {"decided_by": "bob", "note": " no "}, headers=c.dkey)
	j = r.json or {}
	eq(n("reject status"), (j.get("status"), j.get("decided_by"), j.get("decision_note")), ("REJECTED", "bob", "no"))
	r = req(c.url, "POST", "/approvals/%s/approve" % other, {}, headers=c.dkey)
	eq(n("approve after reject stays REJECTED"), (r.json or {}).get("status"), "REJECTED")
	# LOW: stored as AUTO_APPROVED; no dedup; decisions idempotent
	low = {"worker_id": "w-low", "instruction": "Read-only listing %s" % NONCE}
	r1 = c.request_approval(low).json or {}
	r2 = c.request_approval(low).json or {}
	a1 = (r1.get("request") or {}).get("request_id")
	a2 = (r2.get("request") or {}).get("request_id")
	check(n("LOW requests are not deduped"), a1 and a2 and a1 != a2 and "deduped" not in r2, (a1, a2), "two ids")
	eq(n("LOW top keys"), set(r1), {"needs_approval", "status", "request", "risk"})
	eq(n("LOW fingerprint set"), (r1.get("request") or {}).get("fingerprint"),
		hashlib.sha256(("w-low\n\nLOW\nRead-only listing %s" % NONCE).encode()).hexdigest())
	r = req(c.url, "GET", "/approvals/%s" % a1, headers=c.rkey)
	eq(n("LOW row stored"), (r.json or {}).get("status"), "AUTO_APPROVED")
	r = req(c.url, "POST", "/approvals/%s/reject" % a1, {}, headers=c.dkey)
	eq(n("reject AUTO_APPROVED stays"), (r.json or {}).get("status"), "AUTO_APPROVED")


def w_ttl(c):
	n = c.n
	if not c.ttl or c.ttl <= 0:
		skip(n("lazy expiry"), "server TTL unknown; pass --ttl N")
		return
	body = {"worker_id": "w-ttl", "task_name": "ttl", "instruction": "wipe ttl %s" % NONCE}
	r = c.request_approval(body)
	rid = ((r.json or {}).get("request") or {}).get("request_id")
	time.sleep(c.ttl + 0.7)
	r = req(c.url, "GET", "/approvals/%s" % rid, headers=c.rkey)
	eq(n("after TTL, GET still PENDING (lazy)"), (r.json or {}).get("status"), "PENDING")
	r = c.request_approval(body)
	j = r.json or {}
	eq(n("after TTL, before sweep: still deduped"), ((j.get("request") or {}).get("request_id"), j.get("deduped")), (rid, True))
	r = req(c.url, "GET", "/approvals/pending", headers=c.rkey)
	check(n("pending sweep hides expired"), rid not in [x.get("request_id") for x in (r.json or {}).get("pending", [])], r.json, "absent")
	r = req(c.url, "GET", "/approvals/%s" % rid, headers=c.rkey)
	j = r.json or {}
	eq(n("after sweep EXPIRED"), j.get("status"), "EXPIRED")
	check(n("expired decided_at set"), is_utc_iso(j.get("decided_at")), j.get("decided_at"), "UTC iso")
	eq(n("expired decided_by null"), j.get("decided_by"), None)
	r = req(c.url, "POST", "/approvals/%s/approve" % rid, {"decided_by": "late"}, headers=c.dkey)
	eq(n("approve EXPIRED stays EXPIRED"), ((r.json or {}).get("status"), (r.json or {}).get("decided_by")), ("EXPIRED", None))
	r = c.request_approval(body)
	j = r.json or {}
	check(n("after expiry a new request is created"), (j.get("request") or {}).get("request_id") != rid and "deduped" not in j, j, "new id")


def w_auth(c):
	n = c.n
	instr = {"instruction": "wipe auth %s" % NONCE}
	if c.config == "roles":
		eq(n("request: no key 401"), (lambda r: (r.status, r.json))(req(c.url, "POST", "/approvals/request", instr)), (401, {"error": "Unauthorized"}))
		eq(n("request: no key + non-JSON -> 401 first"), req(c.url, "POST", "/approvals/request", b"x", ctype=None).status, 401)
		for hdr, label in (({"X-Wingman-Approval-Key": LK}, "legacy"), ({"X-Wingman-Approval-Read-Key": RK}, "read key"),
				({"X-Wingman-Approval-Request-Key": "nope"}, "wrong key"), ({"X-Wingman-Approval-Request-Key": ""}, "empty"),
				({"X-Wingman-Approval-Request-Key": "qk1,qk2"}, "list")):
			eq(n("request: %s 401" % label), req(c.url, "POST", "/approvals/request", instr, hdr).status, 401)
		eq(n("request: key with spaces 200"), req(c.url, "POST", "/approvals/request", instr,
			{"X-Wingman-Approval-Request-Key": "  %s  " % QK}).status, 200)
		rid = ((req(c.url, "POST", "/approvals/request", instr, {"X-Wingman-Approval-Request-Key": QK}).json or {})
			.get("request") or {}).get("request_id")
		for hdr, label in (({}, "no key"), ({"X-Wingman-Approval-Key": LK}, "legacy"),
				({"X-Wingman-Approval-Request-Key": QK}, "request key"), ({"X-Wingman-Approval-Decide-Key": DK}, "decide key")):
			eq(n("read one: %s 401" % label), req(c.url, "GET", "/approvals/%s" % rid, headers=hdr).status, 401)
			eq(n("pending: %s 401" % label), req(c.url, "GET", "/approvals/pending", headers=hdr).status, 401)
		for k in ("rk1", "rk2"):
			eq(n("read one: %s 200" % k), req(c.url, "GET", "/approvals/%s" % rid, headers={"X-Wingman-Approval-Read-Key": k}).status, 200)
			eq(n("pending: %s 200" % k), req(c.url, "GET", "/approvals/pending", headers={"X-Wingman-Approval-Read-Key": k}).status, 200)
		eq(n("read unknown id without key -> 401 before 404"), req(c.url, "GET", "/approvals/nope").status, 401)
		eq(n("pending bad limit without key -> 401 first"), req(c.url, "GET", "/approvals/pending?limit=x").status, 401)
		for hdr, label in (({}, "no key"), ({"X-Wingman-Approval-Key": LK}, "legacy"),
				({"X-Wingman-Approval-Read-Key": RK}, "read key"), ({"X-Wingman-Approval-Request-Key": QK}, "request key")):
			eq(n("approve: %s 401" % label), req(c.url, "POST", "/approvals/%s/approve" % rid, {}, hdr).status, 401)
		eq(n("approve: no key + non-JSON -> 401 first"), req(c.url, "POST", "/approvals/%s/approve" % rid, b"", ctype=None).status, 401)
		r = req(c.url, "POST", "/approvals/%s/reject" % rid, {}, {"X-Wingman-Approval-Decide-Key": DK})
		eq(n("reject: decide key 200"), (r.status, (r.json or {}).get("status")), (200, "REJECTED"))
	elif c.config == "legacy":
		r = req(c.url, "POST", "/approvals/request", instr)
		eq(n("legacy: request is open"), r.status, 200)
		rid = ((r.json or {}).get("request") or {}).get("request_id")
		eq(n("legacy: pending without key 401"), req(c.url, "GET", "/approvals/pending").status, 401)
		eq(n("legacy: get without key 401"), req(c.url, "GET", "/approvals/%s" % rid).status, 401)
		eq(n("legacy: wrong legacy key 401"), req(c.url, "GET", "/approvals/pending", headers={"X-Wingman-Approval-Key": "nope"}).status, 401)
		eq(n("legacy: role read header ignored 401"), req(c.url, "GET", "/approvals/pending",
			headers={"X-Wingman-Approval-Read-Key": LK}).status, 401)
		eq(n("legacy: pending with legacy key 200"), req(c.url, "GET", "/approvals/pending", headers={"X-Wingman-Approval-Key": LK}).status, 200)
		eq(n("legacy: get with legacy key 200"), req(c.url, "GET", "/approvals/%s" % rid, headers={"X-Wingman-Approval-Key": LK}).status, 200)
		eq(n("legacy: approve without key 401"), req(c.url, "POST", "/approvals/%s/approve" % rid, {}).status, 401)
		eq(n("legacy: approve with decide-role header 401"), req(c.url, "POST", "/approvals/%s/approve" % rid, {},
			{"X-Wingman-Approval-Decide-Key": LK}).status, 401)
		r = req(c.url, "POST", "/approvals/%s/approve" % rid, {}, {"X-Wingman-Approval-Key": " %s " % LK})
		eq(n("legacy: approve with legacy key 200"), (r.status, (r.json or {}).get("status")), (200, "APPROVED"))
	else:
		r = req(c.url, "POST", "/approvals/request", instr)
		eq(n("open: request 200"), r.status, 200)
		rid = ((r.json or {}).get("request") or {}).get("request_id")
		eq(n("open: pending 200"), req(c.url, "GET", "/approvals/pending").status, 200)
		eq(n("open: get 200"), req(c.url, "GET", "/approvals/%s" % rid).status, 200)
		eq(n("open: approve 200"), req(c.url, "POST", "/approvals/%s/approve" % rid, {}).status, 200)
	for path, method, body in (("/log_claim", "POST", {"claim": "auth-free"}), ("/verify", "POST", {"claim": "x"}),
			("/check", "POST", {"instruction": "x"}), ("/health", "GET", None), ("/stats", "GET", None), ("/", "GET", None)):
		eq(n("%s needs no key" % path), req(c.url, method, path, body).status, 200)


def w_nodata(c):
	n = c.n
	r = req(c.url, "POST", "/log_claim", {"claim": "x"})
	eq(n("missing ledger dir -> 500"), r.status, 500)
	err = (r.json or {}).get("error") or ""
	check(n("missing ledger dir error"), err.startswith("[Errno 2] No such file or directory: '") and err.endswith("claims_audit.jsonl'"),
		err, "[Errno 2] No such file or directory: '.../claims_audit.jsonl'")
	eq(n("missing ledger dir: other endpoints fine"), req(c.url, "GET", "/health").status, 200)


def run_wingman_suite(c):
	if c.config == "nodata":
		w_nodata(c)
		return
	w_transport(c)
	w_basic_endpoints(c)
	w_log_claim(c)
	w_non_json(c)
	w_verify(c)
	w_check(c)
	w_risk(c)
	if c.config != "noapproval":
		w_approvals(c)
	w_auth(c)
	if c.config == "roles":
		w_ttl(c)


# --------------------------------------------------------------------------
# mock-only checks (control endpoints, faults, extra modes)
# --------------------------------------------------------------------------

def faults_suite(url, tag, probe_path, probe_method, probe_body, headers=None):
	n = lambda s: "[%s faults] %s" % (tag, s)
	h = dict(headers or {})
	eq(n("reset"), req(url, "POST", "/_mock/reset").status, 200)
	r = req(url, "POST", "/_mock/fault", {"mode": "status", "status": 503, "body": '{"error":"down"}', "count": 2})
	eq(n("add status fault"), r.status, 200)
	eq(n("status fault #1"), req(url, probe_method, probe_path, probe_body, h).status, 503)
	r = req(url, probe_method, probe_path, probe_body, h)
	eq(n("status fault #2 body"), (r.status, r.json), (503, {"error": "down"}))
	check(n("after count exhausted normal"), req(url, probe_method, probe_path, probe_body, h).status < 500, None, "<500")
	req(url, "POST", "/_mock/fault", {"mode": "malformed"})
	r = req(url, probe_method, probe_path, probe_body, h)
	eq(n("malformed is 200"), r.status, 200)
	eq(n("malformed is not JSON"), r.json, None)
	check(n("malformed has a body"), len(r.body) > 0, r.body, "non-empty")
	req(url, "POST", "/_mock/fault", {"mode": "close"})
	try:
		req(url, probe_method, probe_path, probe_body, h, timeout=5)
		check(n("close: no response"), False, "a response", "connection closed")
	except (http.client.HTTPException, ConnectionError, OSError):
		check(n("close: no response"), True)
	req(url, "POST", "/_mock/fault", {"mode": "hang", "delay_ms": 5000})
	t0 = time.time()
	try:
		req(url, probe_method, probe_path, probe_body, h, timeout=1.0)
		check(n("hang: client times out"), False, "a response", "timeout")
	except socket.timeout:
		check(n("hang: client times out"), True)
	except (http.client.HTTPException, OSError) as e:
		check(n("hang: client times out"), False, repr(e), "timeout")
	check(n("hang held at least 0.9s"), time.time() - t0 >= 0.9, time.time() - t0, ">=0.9")
	req(url, "POST", "/_mock/fault", {"mode": "delay", "delay_ms": 400})
	t0 = time.time()
	r = req(url, probe_method, probe_path, probe_body, h)
	dt = time.time() - t0
	check(n("delay then normal answer"), r.status < 500 and dt >= 0.38, (r.status, dt), "<500 after >=0.4s")
	req(url, "POST", "/_mock/fault", {"mode": "status", "status": 500, "path_prefix": "/nowhere"})
	check(n("path_prefix does not match others"), req(url, probe_method, probe_path, probe_body, h).status < 500, None, "<500")
	req(url, "DELETE", "/_mock/fault")
	req(url, "POST", "/_mock/fault", {"mode": "status", "status": 502, "method": "PATCH"})
	check(n("method filter"), req(url, probe_method, probe_path, probe_body, h).status < 500, None, "<500")
	req(url, "DELETE", "/_mock/fault")
	req(url, "POST", "/_mock/fault", {"mode": "status", "status": 500, "count": -1, "path_prefix": probe_path})
	eq(n("count -1 #1"), req(url, probe_method, probe_path, probe_body, h).status, 500)
	eq(n("count -1 #2"), req(url, probe_method, probe_path, probe_body, h).status, 500)
	eq(n("count -1 #3"), req(url, probe_method, probe_path, probe_body, h).status, 500)
	eq(n("fault listed"), len((req(url, "GET", "/_mock/fault").json or {}).get("faults", [])), 1)
	eq(n("DELETE fault"), req(url, "DELETE", "/_mock/fault").status, 200)
	check(n("cleared"), req(url, probe_method, probe_path, probe_body, h).status < 500, None, "<500")
	eq(n("bad fault spec 400"), req(url, "POST", "/_mock/fault", {"mode": "explode"}).status, 400)
	r = req(url, "GET", "/_mock/requests")
	recs = r.json or []
	check(n("requests recorded"), len(recs) >= 10, len(recs), ">=10")
	last = recs[-1] if recs else {}
	eq(n("record keys"), {"method", "path", "headers", "body"} <= set(last), True)
	eq(n("record method"), last.get("method"), probe_method)
	check(n("record path"), str(last.get("path", "")).startswith(probe_path), last.get("path"), probe_path)
	check(n("record headers are pairs"), all(isinstance(x, list) and len(x) == 2 for x in last.get("headers", [])), last.get("headers"), "[[k,v]]")
	check(n("no /_mock/ requests recorded"), not any(x.get("path", "").startswith("/_mock") for x in recs), None, "none")
	req(url, "POST", "/_mock/reset")
	eq(n("reset clears requests"), req(url, "GET", "/_mock/requests").json, [])


def wingman_mock_extras(url, data_dir, tag):
	n = lambda s: "[wingman %s mock] %s" % (tag, s)
	req(url, "POST", "/_mock/reset")
	qk = {"X-Wingman-Approval-Request-Key": QK}
	req(url, "POST", "/log_claim", {"claim": "c1", "worker_id": "w1"})
	req(url, "POST", "/log_claim", {"claim": "c2"})
	req(url, "POST", "/log_claim", {"claim": 5})
	r = req(url, "GET", "/_mock/claims")
	cl = (r.json or {}).get("claims", [])
	eq(n("claims in order"), [x.get("claim") for x in cl], ["c1", "c2", 5])
	eq(n("claims worker ids"), [x.get("worker_id") for x in cl], ["w1", "unknown", "unknown"])
	check(n("claims have timestamp"), all(is_naive_iso(x.get("timestamp")) for x in cl), cl, "timestamps")
	eq(n("claim http_status"), [x.get("http_status") for x in cl], [200, 200, 500])
	with open(os.path.join(data_dir, "claims_audit.jsonl")) as f:
		eq(n("ledger lines after reset"), len([x for x in f if x.strip()]), 3)
	r = req(url, "POST", "/approvals/request", {"instruction": "wipe x"}, qk)
	rid = ((r.json or {}).get("request") or {}).get("request_id")
	r = req(url, "GET", "/_mock/approvals")
	eq(n("approvals listed"), [x.get("request_id") for x in (r.json or {}).get("approvals", [])], [rid])
	r = req(url, "POST", "/_mock/expire", {"request_id": rid})
	eq(n("force expire"), (r.json or {}).get("status"), "EXPIRED")
	req(url, "POST", "/_mock/config", {"auto_decide": "APPROVED", "auto_decide_after_ms": 100})
	r = req(url, "POST", "/approvals/request", {"instruction": "wipe auto"}, qk)
	rid = ((r.json or {}).get("request") or {}).get("request_id")
	time.sleep(0.5)
	r = req(url, "GET", "/approvals/%s" % rid, headers={"X-Wingman-Approval-Read-Key": RK})
	eq(n("auto_decide approves"), ((r.json or {}).get("status"), (r.json or {}).get("decided_by")), ("APPROVED", "mock-auto"))
	req(url, "POST", "/_mock/config", {"auto_decide": None, "auto_reject_mode": "quarantine"})
	r = req(url, "POST", "/approvals/request", {"instruction": "anything", "worker_id": "q"}, qk)
	j = r.json or {}
	eq(n("quarantine 403"), r.status, 403)
	eq(n("quarantine body"), (j.get("needs_approval"), j.get("status"), j.get("rejection_reason")),
		(False, "AUTO_REJECTED", "WORKER_QUARANTINED"))
	eq(n("quarantine checked before instruction"), req(url, "POST", "/approvals/request", {}, qk).status, 403)
	req(url, "POST", "/_mock/config", {"auto_reject_mode": "validation"})
	r = req(url, "POST", "/approvals/request", {"instruction": "read only"}, qk)
	j = r.json or {}
	eq(n("validation 422"), r.status, 422)
	eq(n("validation body"), (j.get("status"), j.get("rejection_reason"), (j.get("request") or {}).get("risk_level"),
		(j.get("request") or {}).get("status")), ("AUTO_REJECTED", "VALIDATION_FAILED", "CRITICAL", "AUTO_REJECTED"))
	eq(n("validation: missing instruction still 400"), req(url, "POST", "/approvals/request", {}, qk).status, 400)
	req(url, "POST", "/_mock/config", {"auto_reject_mode": None})
	eq(n("auto-reject off again"), req(url, "POST", "/approvals/request", {"instruction": "read only"}, qk).status, 200)
	faults_suite(url, "wingman", "/log_claim", "POST", {"claim": "fault probe"})


# --------------------------------------------------------------------------
# mock_mem0 checks (mock only)
# --------------------------------------------------------------------------

def m_oss(url):
	n = lambda s: "[mem0 oss] %s" % s
	req(url, "POST", "/_mock/reset")
	r = req(url, "POST", "/memories", {"messages": [{"role": "user", "content": "I love pizza"},
		{"role": "assistant", "content": "noted"}], "user_id": "alice"})
	eq(n("add 200"), r.status, 200)
	res = (r.json or {}).get("results") or []
	eq(n("add one memory per user message"), [(x.get("memory"), x.get("event")) for x in res], [("I love pizza", "ADD")])
	mid = res[0]["id"] if res else ""
	check(n("memory id uuid4"), is_uuid4(mid), mid, "uuid4")
	check(n("x-request-id 8 hex"), re.match(r"^[0-9a-f]{8}$", r.h("X-Request-ID") or "") is not None, r.h("X-Request-ID"), "8 hex")
	eq(n("server uvicorn"), r.h("Server"), "uvicorn")
	r = req(url, "POST", "/memories", {"messages": [{"role": "user", "content": "Likes tea", "name": "al"}], "user_id": "alice",
		"run_id": "r1", "infer": False})
	x = ((r.json or {}).get("results") or [{}])[0]
	eq(n("infer false item"), (x.get("memory"), x.get("actor_id"), x.get("role")), ("Likes tea", "al", "user"))
	eq(n("trailing slash 404"), (lambda r: (r.status, r.json))(req(url, "POST", "/memories/", {})), (404, {"detail": "Not Found"}))
	r = req(url, "PATCH", "/memories", {})
	eq(n("wrong method 405"), (r.status, r.json), (405, {"detail": "Method Not Allowed"}))
	check(n("405 has x-request-id"), r.h("X-Request-ID") is not None, r.headers, "x-request-id")
	r = req(url, "POST", "/memories", {"user_id": "alice"})
	eq(n("422 shape"), (r.status, (r.json or {}).get("detail", [{}])[0].get("loc"), (r.json or {}).get("detail", [{}])[0].get("type")),
		(422, ["body", "messages"], "missing"))
	r = req(url, "POST", "/memories", {"messages": [{"role": "user", "content": "x"}]})
	eq(n("400 no identifier"), (r.status, r.json), (400, {"detail": "At least one identifier (user_id, agent_id, run_id) is required."}))
	r = req(url, "GET", "/memories?user_id=alice")
	eq(n("list scoped"), sorted(x.get("memory") for x in (r.json or {}).get("results", [])), ["I love pizza", "Likes tea"])
	item = [x for x in (r.json or {}).get("results", []) if x.get("id") == mid][0] if r.json else {}
	eq(n("item hash md5"), item.get("hash"), hashlib.md5(b"I love pizza").hexdigest())
	check(n("item keys"), {"id", "memory", "hash", "metadata", "created_at", "updated_at", "user_id"} <= set(item), item, "keys")
	r = req(url, "GET", "/memories/%s" % mid)
	eq(n("get one"), (r.json or {}).get("memory"), "I love pizza")
	r = req(url, "GET", "/memories/%s" % uuid.uuid4())
	eq(n("get unknown -> 200 null"), (r.status, r.body), (200, b"null"))
	eq(n("put unknown 404"), req(url, "PUT", "/memories/%s" % uuid.uuid4(), {"text": "x"}).status, 404)
	eq(n("delete unknown 404"), req(url, "DELETE", "/memories/%s" % uuid.uuid4()).status, 404)
	r = req(url, "PUT", "/memories/%s" % mid, {"text": "I love pasta"})
	eq(n("put"), r.json, {"message": "Memory updated successfully!"})
	r = req(url, "GET", "/memories/%s/history" % mid)
	eq(n("history events"), [h.get("event") for h in (r.json or [])], ["ADD", "UPDATE"])
	r = req(url, "POST", "/search", {"query": "pasta", "user_id": "alice"})
	res = (r.json or {}).get("results", [])
	eq(n("search with deprecated top-level id"), [x.get("memory") for x in res], ["I love pasta"])
	check(n("search score"), res and isinstance(res[0].get("score"), float), res, "score float")
	r = req(url, "POST", "/search", {"query": "pasta", "filters": {"user_id": "alice"}})
	eq(n("search with filters"), len((r.json or {}).get("results", [])), 1)
	eq(n("search without id 400"), req(url, "POST", "/search", {"query": "pasta"}).status, 400)
	r = req(url, "GET", "/entities")
	eq(n("entities"), sorted((x.get("type"), x.get("id"), x.get("total_memories")) for x in (r.json or [])),
		[("run", "r1", 1), ("user", "alice", 2)])
	eq(n("delete all without id 400"), (lambda r: (r.status, r.json))(req(url, "DELETE", "/memories")),
		(400, {"detail": "At least one identifier is required."}))
	eq(n("delete all by run"), (req(url, "DELETE", "/memories?run_id=r1").json), {"message": "All relevant memories deleted"})
	eq(n("delete all really deleted"), len((req(url, "GET", "/memories?user_id=alice").json or {}).get("results", [])), 1)
	eq(n("delete entity"), req(url, "DELETE", "/entities/user/alice").json, {"message": "Entity deleted"})
	eq(n("entity delete really deleted"), (req(url, "GET", "/memories?user_id=alice").json or {}).get("results"), [])
	eq(n("entity bad type 422"), req(url, "DELETE", "/entities/app/x").status, 422)
	req(url, "POST", "/memories", {"messages": [{"role": "user", "content": "z"}], "agent_id": "a"})
	eq(n("reset"), req(url, "POST", "/reset").json, {"message": "All memories reset"})
	eq(n("reset wiped"), (req(url, "GET", "/memories").json or {}).get("results"), [])
	eq(n("root redirect 307"), (lambda r: (r.status, r.h("Location")))(req(url, "GET", "/")), (307, "/docs"))
	# keep-alive: two requests on one connection
	u = urlsplit(url)
	conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
	conn.request("GET", "/entities")
	r1 = conn.getresponse()
	r1.read()
	sock1 = conn.sock
	conn.request("GET", "/entities")
	r2 = conn.getresponse()
	r2.read()
	check(n("keep-alive reuses the connection"), sock1 is not None and conn.sock is sock1 and r2.status == 200, (r2.status,), "same socket")
	conn.close()
	out, closed = raw_exchange(url, b"GET /entities HTTP/1.1\r\nHost: x\r\n\r\nGET /entities HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	eq(n("pipelined keep-alive answers both"), out.count(b"HTTP/1.1 200"), 2)
	check(n("closes after Connection: close"), closed, closed, True)


def m_oss_auth(url):
	n = lambda s: "[mem0 oss auth] %s" % s
	r = req(url, "GET", "/entities")
	eq(n("no key 401"), (r.status, r.json), (401, {"detail": "Authentication required. Provide a Bearer token or X-API-Key header."}))
	eq(n("www-authenticate"), r.h("WWW-Authenticate"), "Bearer")
	eq(n("wrong key 401"), req(url, "GET", "/entities", headers={"X-API-Key": "nope"}).json, {"detail": "Invalid API key."})
	eq(n("bearer 401"), req(url, "GET", "/entities", headers={"Authorization": "Bearer x"}).json, {"detail": "Invalid or expired token."})
	eq(n("admin key 200"), req(url, "GET", "/entities", headers={"X-API-Key": "adminkey-0123456789"}).status, 200)
	eq(n("404 needs no auth"), req(url, "GET", "/nope").status, 404)


def m_platform(url):
	n = lambda s: "[mem0 platform] %s" % s
	A = {"Authorization": "Token m0-test"}
	req(url, "POST", "/_mock/reset")
	r = req(url, "GET", "//v1/ping/", headers=A)
	eq(n("ping with // 200"), (r.status, r.json), (200, {"status": "ok", "org_id": "org-mock", "project_id": "proj-mock",
		"user_email": "owner@example.com"}))
	r = req(url, "GET", "/v1/ping/")
	eq(n("ping without token 401"), r.status, 401)
	check(n("401 detail"), isinstance((r.json or {}).get("detail"), str), r.json, "detail")
	eq(n("missing slash 301"), (lambda r: (r.status, r.h("Location")))(req(url, "GET", "/v1/ping", headers=A)), (301, "/v1/ping/"))
	eq(n("unknown path 404"), req(url, "GET", "/v1/nothing/", headers=A).status, 404)
	eq(n("wrong method 405"), req(url, "DELETE", "/v1/ping/", headers=A).status, 405)
	r = req(url, "POST", "/v3/memories/add/", {"messages": [{"role": "user", "content": "Bob likes green tea"},
		{"role": "assistant", "content": "ok"}], "user_id": "bob@example.com", "run_id": "s1"}, A)
	j = r.json or {}
	eq(n("add async shape"), (set(j), j.get("status")), ({"event_id", "status"}, "PENDING"))
	ev = j.get("event_id")
	r = req(url, "GET", "/v1/event/%s/" % ev, headers=A)
	eq(n("event SUCCEEDED"), (r.json or {}).get("status"), "SUCCEEDED")
	r = req(url, "POST", "/v3/memories/add/", {"messages": [{"role": "user", "content": "Bob works at ACME"}],
		"user_id": "bob@example.com", "infer": False}, A)
	j = r.json or {}
	eq(n("add sync shape"), (j.get("status"), [(x.get("event"), (x.get("data") or {}).get("memory")) for x in j.get("results", [])]),
		("SUCCEEDED", [("ADD", "Bob works at ACME")]))
	sync_id = (j.get("results") or [{}])[0].get("id")
	r = req(url, "POST", "/v3/memories/?page=1&page_size=1", {"filters": {"AND": [{"user_id": "bob@example.com"}]}}, A)
	j = r.json or {}
	eq(n("v3 list envelope"), (set(j), j.get("count"), len(j.get("results", []))), ({"count", "next", "previous", "results"}, 2, 1))
	check(n("v3 list next url"), "page=2" in (j.get("next") or ""), j.get("next"), "page=2")
	r = req(url, "POST", "/v3/memories/", {"filters": {"user_id": "bob@example.com", "run_id": "s1"}}, A)
	x = ((r.json or {}).get("results") or [{}])[0]
	eq(n("run id returned as session_id"), (x.get("session_id"), "run_id" in x), ("s1", False))
	eq(n("v3 list without entity 400"), req(url, "POST", "/v3/memories/", {"filters": {}}, A).status, 400)
	r = req(url, "POST", "/v3/memories/search/", {"query": "TEA please", "filters": {"user_id": "bob@example.com"}}, A)
	res = (r.json or {}).get("results", [])
	eq(n("search word match"), [x.get("memory") for x in res], ["Bob likes green tea"])
	check(n("search score + run_id"), res and "score" in res[0] and res[0].get("run_id") == "s1", res, "score, run_id")
	eq(n("v2 search array"), type(req(url, "POST", "/v2/memories/search/", {"query": "tea", "filters": {"user_id": "bob@example.com"},
		"threshold": 0.1}, A).json).__name__, "list")
	eq(n("v1 search array"), len(req(url, "POST", "/v1/memories/search/", {"query": "tea", "user_id": "bob@example.com"}, A).json or []), 1)
	eq(n("get non-uuid 400"), (lambda r: (r.status, r.json))(req(url, "GET", "/v1/memories/abc/", headers=A)),
		(400, {"error": "memory_id should be a valid UUID"}))
	eq(n("get unknown 404"), (lambda r: (r.status, r.json))(req(url, "GET", "/v1/memories/%s/" % uuid.uuid4(), headers=A)),
		(404, {"error": "Memory not found!"}))
	r = req(url, "PUT", "/v1/memories/%s/" % sync_id, {"text": "Bob works at Initech"}, A)
	eq(n("update returns object"), (r.json or {}).get("memory"), "Bob works at Initech")
	r = req(url, "GET", "/v1/memories/%s/history/" % sync_id, headers=A)
	eq(n("history"), [h.get("event") for h in (r.json or [])], ["ADD", "UPDATE"])
	r = req(url, "GET", "/v1/memories/?user_id=bob%40example.com", headers=A)
	eq(n("v1 list array"), len(r.json or []), 2)
	eq(n("v1 list without filter 400 array"), req(url, "GET", "/v1/memories/", headers=A).json,
		["One of the filters: app_id, user_id, agent_id, run_id is required!"])
	r = req(url, "GET", "/v1/entities/", headers=A)
	j = r.json or {}
	check(n("entities envelope"), {"count", "next", "previous", "results", "total_users", "total_agents", "total_apps",
		"total_runs"} <= set(j) and j.get("total_users") == 1 and j.get("total_runs") == 1, j, "envelope")
	# delete_linked
	r = req(url, "POST", "/v3/memories/add/", {"messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"},
		{"role": "user", "content": "three"}], "agent_id": "ag", "infer": False}, A)
	ids = [x["id"] for x in (r.json or {}).get("results", [])]
	r = req(url, "DELETE", "/v1/memories/%s/?delete_linked=true" % ids[0], headers=A)
	eq(n("delete_linked cascade_count"), r.json, {"message": "Memory deleted successfully!", "cascade_count": 2})
	r = req(url, "DELETE", "/v1/memories/%s/" % sync_id, headers=A)
	eq(n("delete one"), r.json, {"message": "Memory deleted successfully!"})
	# bulk delete with wildcard
	req(url, "POST", "/_mock/seed", {"memories": [{"memory": "a", "user_id": "u1"}, {"memory": "b", "user_id": "u2"},
		{"memory": "c", "agent_id": "x"}]})
	eq(n("delete_all without filter 400"), req(url, "DELETE", "/v1/memories/", headers=A).status, 400)
	r = req(url, "DELETE", "/v1/memories/?user_id=*", headers=A)
	j = r.json or {}
	eq(n("delete_all message"), j.get("message"), "Delete in progress. This may take some time.")
	check(n("delete_all event_id"), is_uuid4(j.get("event_id")), j.get("event_id"), "uuid4")
	left = [m.get("memory") for m in (req(url, "GET", "/_mock/memories").json or {}).get("memories", [])]
	eq(n("'*' deleted every user memory"), sorted(left), ["c"])
	# batch
	req(url, "POST", "/_mock/reset")
	ids = (req(url, "POST", "/_mock/seed", {"memories": [{"memory": "m%d" % i, "user_id": "b"} for i in range(3)]}).json or {}).get("ids", [])
	r = req(url, "PUT", "/v1/batch/", {"memories": [{"memory_id": i, "text": "new"} for i in ids]}, A)
	eq(n("batch update"), r.json, {"message": "Successfully updated 3 memories"})
	r = req(url, "DELETE", "/v1/batch/", {"memories": [{"memory_id": i} for i in ids[:2]]}, A)
	eq(n("batch delete"), r.json, {"message": "Successfully deleted 2 memories"})
	r = req(url, "DELETE", "/v1/batch/", {"memories": [{"memory_id": str(uuid.uuid4())}] * 1001}, A)
	eq(n("batch > 1000 400"), r.status, 400)
	# entities v2 / v1
	req(url, "POST", "/_mock/seed", {"memories": [{"memory": "e1", "user_id": "carol@example.com"}]})
	r = req(url, "DELETE", "/v2/entities/user/carol%40example.com/", headers=A)
	eq(n("v2 entity delete"), (r.status, (r.json or {}).get("message")), (200, "Delete in progress. This may take some time."))
	eq(n("v2 entity delete really deleted"), [m.get("memory") for m in (req(url, "GET", "/_mock/memories").json or {}).get("memories", [])], ["new"])
	eq(n("v2 entity bad type 400"), req(url, "DELETE", "/v2/entities/planet/x/", headers=A).status, 400)
	ents = (req(url, "GET", "/v1/entities/", headers=A).json or {}).get("results", [])
	eid = [e["id"] for e in ents if e.get("name") == "b"]
	eq(n("v1 entity delete by int"), req(url, "DELETE", "/v1/entities/user/%s/" % (eid[0] if eid else "0"), headers=A).status, 200)
	eq(n("v1 entity non-int 400"), req(url, "DELETE", "/v1/entities/user/bob/", headers=A).status, 400)
	# exports
	req(url, "POST", "/_mock/seed", {"memories": [{"memory": "Dana is a nurse", "user_id": "dana"}]})
	schema = {"type": "object", "properties": {"memories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}}}
	r = req(url, "POST", "/v1/exports/", {"schema": schema, "filters": {"AND": [{"user_id": "dana"}]}}, A)
	j = r.json or {}
	eq(n("export create 201"), (r.status, set(j)), (201, {"message", "id"}))
	r = req(url, "POST", "/v1/exports/get/", {"memory_export_id": j.get("id")}, A)
	eq(n("export get keyed by schema properties"), r.json, {"memories": ["Dana is a nurse"], "summary": "Dana is a nurse"})
	r = req(url, "POST", "/v1/exports/get/", {"memory_export_id": str(uuid.uuid4())}, A)
	eq(n("export get unknown 404"), (r.status, r.json), (404, {"error": "No memory export request found"}))
	eq(n("export flat filters accepted"), req(url, "POST", "/v1/exports/", {"schema": schema, "filters": {"user_id": "dana"}}, A).status, 201)
	eq(n("export without filters 400"), req(url, "POST", "/v1/exports/", {"schema": schema}, A).status, 400)
	eq(n("memories by entity"), (req(url, "GET", "/v1/memories/user/dana/", headers=A).json or {}).get("count"), 1)


def m_platform_opts(url):
	n = lambda s: "[mem0 platform options] %s" % s
	r = req(url, "GET", "/v1/ping/", headers={"Authorization": "Token wrong"})
	eq(n("--platform-key: wrong key 401"), r.status, 401)
	check(n("401 invalid key text"), "Invalid API key" in ((r.json or {}).get("detail") or ""), r.json, "Invalid API key")
	A = {"Authorization": "Token right"}
	eq(n("--platform-key: right key 200"), req(url, "GET", "/v1/ping/", headers=A).status, 200)
	req(url, "POST", "/_mock/seed", {"memories": [{"memory": "w%d" % i, "user_id": "u%d" % i} for i in range(3)]})
	r = req(url, "DELETE", "/v1/memories/", headers=A)
	eq(n("--legacy-wipe: no filter wipes"), (r.status, len((req(url, "GET", "/_mock/memories").json or {}).get("memories", []))), (200, 0))
	req(url, "POST", "/_mock/seed", {"memories": [{"memory": "gz " * 50, "user_id": "g"}]})
	r = req(url, "GET", "/v1/memories/?user_id=g", headers=dict(A, **{"Accept-Encoding": "gzip, deflate"}))
	eq(n("--gzip: content-encoding"), r.h("Content-Encoding"), "gzip")
	try:
		body = json.loads(gzip.decompress(r.body))
	except Exception as e:
		body = repr(e)
	eq(n("--gzip: body decodes"), isinstance(body, list) and len(body), 1)
	r = req(url, "GET", "/v1/memories/?user_id=g", headers=A)
	eq(n("--gzip: identity without Accept-Encoding"), r.h("Content-Encoding"), None)
	sch = {"type": "object", "properties": {"m": {"type": "array"}}}
	x = (req(url, "POST", "/v1/exports/", {"schema": sch, "filters": {"user_id": "g"}}, A).json or {}).get("id")
	eq(n("--export-not-ready 1: first get 404"), req(url, "POST", "/v1/exports/get/", {"memory_export_id": x}, A).status, 404)
	eq(n("--export-not-ready 1: second get 200"), req(url, "POST", "/v1/exports/get/", {"memory_export_id": x}, A).status, 200)


def m_default_gzip_off(url):
	r = req(url, "GET", "/v1/ping/", headers={"Authorization": "Token k", "Accept-Encoding": "gzip"})
	eq("[mem0] gzip off by default", r.h("Content-Encoding"), None)


# --------------------------------------------------------------------------

WINGMAN_CONFIGS = {
	"roles": {"WINGMAN_APPROVAL_READ_KEYS": "rk1,rk2", "WINGMAN_APPROVAL_DECIDE_KEY": DK,
		"WINGMAN_APPROVAL_REQUEST_KEYS": QK, "WINGMAN_APPROVAL_API_KEY": LK, "DEPLOYMENT_ENV": "test"},
	"legacy": {"WINGMAN_APPROVAL_API_KEY": LK, "DEPLOYMENT_ENV": "test"},
	"open": {"DEPLOYMENT_ENV": "test"},
	"noapproval": {"WINGMAN_REQUIRE_APPROVAL": "0", "DEPLOYMENT_ENV": "test"},
	"nodata": {"DEPLOYMENT_ENV": "test"},
}


def self_started(args):
	procs = []
	try:
		for cfg in ("roles", "legacy", "open", "noapproval", "nodata"):
			env = dict(WINGMAN_CONFIGS[cfg])
			ttl = 0
			if cfg == "roles":
				ttl = args.ttl if args.ttl is not None else 2
				env["WINGMAN_APPROVAL_PENDING_TTL_SEC"] = str(ttl)
			data_dir = tmpdir("mockwm.")
			if cfg == "nodata":
				data_dir = os.path.join(data_dir, "missing")
			p, url = start("mock_wingman.py", ["--data-dir", data_dir], env)
			procs.append((p, "mock_wingman " + cfg))
			c = WCtx(url, cfg, ttl, os.path.join(data_dir, "claims_audit.jsonl") if cfg != "nodata" else None, True, cfg + " mock")
			run_wingman_suite(c)
			if cfg == "roles":
				wingman_mock_extras(url, data_dir, cfg)
		# the CLI spelling of the env options
		p, url = start("mock_wingman.py", ["--approval-read-keys", "a,b", "--approval-decide-key", "d",
			"--require-approval", "0", "--auto-reject-mode", "quarantine", "--auto-reject-workers", "bad"])
		procs.append((p, "mock_wingman cli"))
		eq("[wingman cli] --approval-read-keys", req(url, "GET", "/approvals/pending", headers={"X-Wingman-Approval-Read-Key": "b"}).status, 200)
		eq("[wingman cli] read key enforced", req(url, "GET", "/approvals/pending").status, 401)
		r = req(url, "POST", "/approvals/request", {"instruction": "wipe prod"})
		eq("[wingman cli] --require-approval 0", ((r.json or {}).get("status"), (r.json or {}).get("risk", {}).get("risk_level")), ("AUTO_APPROVED", "LOW"))
		eq("[wingman cli] --auto-reject-workers", req(url, "POST", "/approvals/request", {"instruction": "x", "worker_id": "bad"}).status, 403)
		if not args.skip_mem0:
			p, url = start("mock_mem0.py", [])
			procs.append((p, "mock_mem0"))
			m_oss(url)
			m_platform(url)
			m_default_gzip_off(url)
			faults_suite(url, "mem0 oss", "/entities", "GET", None)
			faults_suite(url, "mem0 platform", "/v1/ping/", "GET", None, {"Authorization": "Token k"})
			p, url = start("mock_mem0.py", ["--oss-admin-key", "adminkey-0123456789", "--platform-key", "right", "--legacy-wipe",
				"--gzip", "--export-not-ready", "1"])
			procs.append((p, "mock_mem0 options"))
			m_oss_auth(url)
			m_platform_opts(url)
	finally:
		for p, name in procs:
			stop(p, name)


def main():
	global VERBOSE
	ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
	ap.add_argument("--wingman-url", help="test this Wingman instead of starting the mocks")
	ap.add_argument("--config", default="roles", choices=sorted(WINGMAN_CONFIGS),
		help="environment the --wingman-url server was started with (see above)")
	ap.add_argument("--ttl", type=float, default=None,
		help="WINGMAN_APPROVAL_PENDING_TTL_SEC of the server (roles config); 0/absent skips expiry checks in URL mode")
	ap.add_argument("--ledger", help="path of the server's claims_audit.jsonl, to check the ledger file")
	ap.add_argument("--skip-mem0", action="store_true", help="do not run the mock_mem0 checks")
	ap.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
	args = ap.parse_args()
	VERBOSE = args.verbose
	try:
		if args.wingman_url:
			url = args.wingman_url.rstrip("/")
			is_mock = req(url, "GET", "/_mock/claims").status == 200
			c = WCtx(url, args.config, args.ttl or 0, args.ledger, is_mock, args.config + (" mock" if is_mock else ""))
			run_wingman_suite(c)
		else:
			self_started(args)
	except Exception as e:  # a crash is a failure, never a silent pass
		import traceback
		traceback.print_exc()
		check("test run completed without exception", False, repr(e), "no exception")
	import shutil
	for d in TEMP_DIRS:
		shutil.rmtree(d, ignore_errors=True)
	print("%d passed, %d failed" % (Result.passed, Result.failed))
	return 1 if Result.failed else 0


if __name__ == "__main__":
	sys.exit(main())
