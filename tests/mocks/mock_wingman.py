#!/usr/bin/env python3
"""mock_wingman: a loopback stand-in for the Wingman audit/approval API.

Behaviour follows /work/shared/reference/wingman-api.md and what the real
server (mastermagoo/wingman @3a43b48, Flask 2.2 / Werkzeug 2.2 dev server)
was observed to do; tests/mocks/test_mocks.py checks the two side by side.
This is an independent re-implementation, not a copy of that project.

Test-only control endpoints live under /_mock/ (never part of the real API).

Python 3 standard library only; runs with Debian 12's /usr/bin/python3.
"""

import argparse
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockcore import BodyError, FaultTable, MockServer, Recorder, Resp  # noqa: E402
from mockcore import serve as serve_mock  # noqa: E402

MAX_BODY = 64 * 1024 * 1024
DEFAULT_HANG_MS = 60000
SHUTDOWN = threading.Event()
PROG = "mock_wingman"

HTML_404 = ("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
	"<p>The requested URL was not found on the server. If you entered the URL manually please check "
	"your spelling and try again.</p>\n")
HTML_405 = ("<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n"
	"<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n")
# Werkzeug 2.2 / Flask 2.2 (Debian 12) message when request.get_json() fails
BAD_JSON = "400 Bad Request: The browser (or proxy) sent a request that this server could not understand."


# --------------------------------------------------------------------------
# generic harness (shared parts in mockcore.py)
# --------------------------------------------------------------------------

class Request:
	def __init__(self, method, target, path, query, headers, body):
		self.method = method
		self.target = target
		self.path = path
		self.query = query
		self.headers = headers
		self.body = body

	def header(self, name):
		return self.headers.get(name)

	def arg(self, name, default=None):
		"""werkzeug MultiDict.get: the FIRST value wins."""
		for k, v in parse_qsl(self.query, keep_blank_values=True):
			if k == name:
				return v
		return default


def parse_target(target):
	if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
		s = urlsplit(target)
		return (s.path or "/"), s.query
	path, _, query = target.partition("?")
	return path.partition("#")[0], query


class MockHandler(BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	timeout = 120

	def do_GET(self):
		self._dispatch()

	do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

	def log_message(self, fmt, *args):
		sys.stderr.write("[%s] %s %s\n" % (PROG, self.address_string(), fmt % args))
		sys.stderr.flush()

	def log_request(self, code="-", size="-"):
		pass

	def _read_body(self):
		te = (self.headers.get("Transfer-Encoding") or "").lower()
		if "chunked" in te:
			out = bytearray()
			while True:
				line = self.rfile.readline(65537)
				if not line:
					raise BodyError(400, "truncated chunked body")
				try:
					n = int(line.split(b";", 1)[0].strip(), 16)
				except ValueError:
					raise BodyError(400, "bad chunk size")
				if n == 0:
					while True:
						t = self.rfile.readline(65537)
						if t in (b"\r\n", b"\n", b""):
							break
					break
				if len(out) + n > MAX_BODY:
					raise BodyError(413, "body too large")
				chunk = self.rfile.read(n)
				if len(chunk) != n:
					raise BodyError(400, "truncated chunk")
				out += chunk
				self.rfile.readline(3)
			return bytes(out)
		cl = self.headers.get("Content-Length")
		if cl is None:
			return b""
		try:
			n = int(cl)
		except ValueError:
			raise BodyError(400, "bad Content-Length")
		if n < 0:
			raise BodyError(400, "bad Content-Length")
		if n > MAX_BODY:
			raise BodyError(413, "body too large")
		data = self.rfile.read(n)
		if len(data) != n:
			raise BodyError(400, "truncated body")
		return data

	def _dispatch(self):
		app = self.server.app
		t0 = time.time()
		self.close_connection = True  # the Werkzeug dev server closes every connection
		parts = self.requestline.split()
		target = parts[1] if len(parts) >= 2 else self.path
		method = self.command
		try:
			body = self._read_body()
		except BodyError as e:
			self._send(Resp(e.status, str(e) + "\n", [("Content-Type", "text/plain")]), method, t0, target, "body-error")
			return
		path, query = parse_target(target)
		req = Request(method, target, path, query, self.headers, body)
		if path == "/_mock" or path.startswith("/_mock/"):
			try:
				resp = app.control(req)
			except Exception as e:
				resp = Resp(500, json.dumps({"error": "mock control error: %s" % e}), [("Content-Type", "application/json")])
			self._send(resp, method, t0, target, "control")
			return
		app.recorder.add({
			"time": t0,
			"method": method,
			"path": target,
			"headers": [[k, v] for k, v in self.headers.items()],
			"body": body.decode("utf-8", "replace"),
		})
		fault = app.faults.take(method, path)
		if fault is not None:
			resp = self._apply_fault(fault, req, method, t0, target)
			if resp is None:
				return
		else:
			try:
				resp = app.handle(req)
			except Exception as e:
				import traceback
				traceback.print_exc()
				resp = Resp(500, json.dumps({"error": "mock internal error: %s" % e}), [("Content-Type", "application/json")])
		self._send(resp, method, t0, target)

	def _apply_fault(self, f, req, method, t0, target):
		app = self.server.app
		mode = f["mode"]
		if mode in ("delay", "status", "malformed") and f["delay_ms"] > 0:
			SHUTDOWN.wait(f["delay_ms"] / 1000.0)
		if mode == "delay":
			return app.handle(req)
		if mode == "status":
			body = f["body"] if f["body"] is not None else json.dumps({"error": "mock fault injected"})
			ctype = f["content_type"] or _guess_type(body)
			return Resp(f["status"], body, [("Content-Type", ctype)])
		if mode == "malformed":
			body = f["body"] if f["body"] is not None else '{"status": "logged", this is not json'
			return Resp(200, body, [("Content-Type", f["content_type"] or "application/json")])
		sock = self.connection
		if mode == "hang":
			limit = f["delay_ms"] if f["delay_ms"] > 0 else DEFAULT_HANG_MS
			deadline = time.time() + limit / 1000.0
			while not SHUTDOWN.is_set() and time.time() < deadline:
				try:
					r, _, _ = select.select([sock], [], [], 0.2)
				except (OSError, ValueError):
					break
				if r:
					try:
						d = sock.recv(65536)
					except OSError:
						break
					if not d:
						break
			self._log(method, target, "-", 0, t0, "fault=hang")
			try:
				sock.shutdown(socket.SHUT_RDWR)
			except OSError:
				pass
			return None
		if mode == "reset":
			try:
				sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			except OSError:
				pass
			self._log(method, target, "-", 0, t0, "fault=reset")
			return None
		try:
			sock.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		self._log(method, target, "-", 0, t0, "fault=close")
		return None

	def _log(self, method, target, status, size, t0, note=""):
		sys.stderr.write("[%s] %s:%s \"%s %s %s\" %s %s %.1fms%s\n" % (
			PROG, self.client_address[0], self.client_address[1], method, target,
			self.request_version, status, size, (time.time() - t0) * 1000.0,
			(" " + note) if note else ""))
		sys.stderr.flush()

	def _send(self, resp, method, t0, target, note=""):
		try:
			reason = HTTPStatus(resp.status).phrase.upper()  # Werkzeug sends upper-case reasons
		except ValueError:
			reason = "UNKNOWN"
		body = resp.body
		out = ["HTTP/1.1 %d %s\r\n" % (resp.status, reason),
			"Server: %s\r\n" % self.server.app.server_header,
			"Date: %s\r\n" % self.date_time_string()]
		has_cl = False
		for k, v in resp.headers:
			if k.lower() == "content-length":
				has_cl = True
			out.append("%s: %s\r\n" % (k, v))
		if not has_cl:
			out.append("Content-Length: %d\r\n" % len(body))
		# flask-cors (origins='*', send_wildcard=False, always_send=True)
		origin = self.headers.get("Origin")
		if origin:
			out.append("Access-Control-Allow-Origin: %s\r\n" % origin)
			acrm = self.headers.get("Access-Control-Request-Method")
			if method == "OPTIONS" and acrm:
				acrh = self.headers.get("Access-Control-Request-Headers")
				if acrh:
					out.append("Access-Control-Allow-Headers: %s\r\n" % ", ".join(
						h.strip() for h in acrh.split(",") if h.strip()))
				out.append("Access-Control-Allow-Methods: DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT\r\n")
			out.append("Vary: Origin\r\n")
		else:
			out.append("Access-Control-Allow-Origin: *\r\n")
		out.append("Connection: close\r\n\r\n")
		data = "".join(out).encode("latin-1", "replace")
		if method != "HEAD":
			data += body
		try:
			self.wfile.write(data)
			self.wfile.flush()
		except OSError:
			pass
		self.close_connection = True
		self._log(method, target, resp.status, len(body), t0, note)


def _guess_type(body):
	try:
		json.loads(body)
		return "application/json"
	except ValueError:
		return "text/plain; charset=utf-8"


# --------------------------------------------------------------------------
# Wingman behaviour
# --------------------------------------------------------------------------

def flask_json(obj):
	"""flask.jsonify on Flask 2.2: sorted keys, compact, ASCII-escaped, newline."""
	return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def jresp(status, obj):
	return Resp(status, flask_json(obj), [("Content-Type", "application/json")])


def local_now_iso():
	return datetime.now().isoformat()


def utc_now_iso():
	return datetime.now(timezone.utc).isoformat()


class BadRequestJSON(Exception):
	def __str__(self):
		return BAD_JSON


def get_json(req):
	"""request.get_json() on Flask/Werkzeug 2.2: raises unless the mimetype is
	JSON and the body parses; a 'null' body yields None."""
	ctype = (req.header("Content-Type") or "").split(";", 1)[0].strip().lower()
	if not (ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))):
		raise BadRequestJSON()
	try:
		return json.loads(req.body)
	except (ValueError, UnicodeDecodeError):
		raise BadRequestJSON()


def _split_keys(raw):
	raw = (raw or "").strip()
	if not raw:
		return set()
	return {p.strip() for p in raw.split(",") if p.strip()}


SECTIONS = ["DELIVERABLES", "SUCCESS_CRITERIA", "BOUNDARIES", "DEPENDENCIES", "MITIGATION",
	"TEST_PROCESS", "TEST_RESULTS_FORMAT", "RESOURCE_REQUIREMENTS", "RISK_ASSESSMENT", "QUALITY_METRICS"]
HIGH_TERMS = ["prod", "production", "drop ", "truncate ", "delete ", "rm -", "wipe", "format ",
	"rotate key", "secret", "token", "password", "client secret", "--force", "--delete"]
MEDIUM_TERMS = ["migration", "deploy", "release", "schema", "postgres", "redis", "firewall",
	"permissions", "iam", "sudo"]
SIMPLE_SERVICES = ["docker", "nginx", "apache", "mysql", "postgres", "postgresql", "redis", "mongodb",
	"elasticsearch", "node", "python", "java"]
ENHANCED_SERVICES = ["docker", "nginx", "apache", "mysql", "postgres", "postgresql", "redis", "mongodb",
	"elasticsearch", "kibana", "grafana", "prometheus", "node", "python", "java", "tomcat", "jenkins"]
SIMPLE_PATH_RES = [re.compile(r"(?:^|\s)(/\S+)"),
	re.compile(r"([\w./-]+\.(?:txt|json|py|md|log|csv|sql|db|tar|zip|conf|cfg|yaml|yml))")]
ENHANCED_PATH_RES = [re.compile(r"/\S+"), re.compile(r"\w+\.(txt|json|py|md|log|csv|sql|db|tar|zip)"),
	re.compile(r"[A-Za-z]:\\\S+")]
STRIP_PUNCT = ".,;:!?\"'"


def console(text):
	"""The real server prints claims to a UTF-8 stdout; text it cannot encode
	(lone surrogates) raises UnicodeEncodeError there, which becomes a 500."""
	text.encode("utf-8", "surrogateescape")


def process_running(name):
	"""pgrep -f NAME: True/False, None when it cannot be checked."""
	try:
		r = subprocess.run(["pgrep", "-f", name], capture_output=True, timeout=5)
		return r.returncode == 0
	except Exception:
		return None


def verify_simple(claim):
	paths = []
	for rx in SIMPLE_PATH_RES:
		paths.extend(rx.findall(claim))  # TypeError for non-strings, like the real one
	files = set()
	for p in paths:
		p = p.rstrip(STRIP_PUNCT)
		if len(p) > 3 and ("/" in p or "\\" in p or "." in p):
			files.add(p)
	low = claim.lower()
	services = {s for s in SIMPLE_SERVICES if s in low}
	if not files and not services:
		return "UNVERIFIABLE"
	exists = {}
	for p in files:
		try:
			exists[p] = os.path.exists(p if os.path.isabs(p) else os.path.abspath(p))
		except Exception:
			exists[p] = False
	running = {s: process_running(s) for s in services}
	if files:
		if any(w in low for w in ("created", "made", "generated", "wrote")):
			return "FALSE" if not all(exists.values()) else "TRUE"
		if "deleted" in low or "removed" in low:
			return "FALSE" if any(exists.values()) else "TRUE"
	if services:
		if any(w in low for w in ("started", "launched", "running")):
			if any(v is False for v in running.values()):
				return "FALSE"
			if any(v is True for v in running.values()):
				return "TRUE"
		elif any(w in low for w in ("stopped", "killed", "terminated")):
			return "FALSE" if any(v is True for v in running.values()) else "TRUE"
	return "UNVERIFIABLE"


def verify_enhanced(claim):
	"""The enhanced verifier without Ollama (its analysis is print-only)."""
	found = []
	for rx in ENHANCED_PATH_RES:
		found.extend(rx.findall(claim))
	files = set()
	for p in found:
		p = p.rstrip(STRIP_PUNCT)
		if (len(p) > 3 and "/" in p) or "\\" in p or "." in p:
			files.add(p)
	low = claim.lower()
	services = {s for s in ENHANCED_SERVICES if s in low}
	for rx in (re.compile(r"(\w+)\s+service"), re.compile(r"service\s+(\w+)")):
		for m in rx.findall(low):
			if m not in ("the", "a", "an", "and", "or", "is", "was", "been"):
				services.add(m)
	if any(w in low for w in ("created", "made", "generated", "wrote")):
		action = "CREATE"
	elif any(w in low for w in ("deleted", "removed", "erased")):
		action = "DELETE"
	elif any(w in low for w in ("started", "launched", "running")):
		action = "START"
	elif any(w in low for w in ("stopped", "killed", "terminated")):
		action = "STOP"
	else:
		action = "OTHER"
	exists = {}
	for p in files:
		try:
			exists[p] = os.path.exists(p)
		except Exception:
			exists[p] = False
	running = {s: process_running(s) for s in services}
	if files:
		if action == "CREATE":
			return "FALSE" if not all(exists.values()) else "TRUE"
		if action == "DELETE":
			return "FALSE" if any(exists.values()) else "TRUE"
	if services:
		if action == "START":
			if any(v is False for v in running.values()):
				return "FALSE"
			return "TRUE" if any(v is True for v in running.values()) else "UNVERIFIABLE"
		if action == "STOP":
			return "FALSE" if any(v is True for v in running.values()) else "TRUE"
	return "UNVERIFIABLE"


def validate_instruction(text):
	upper = text.upper()  # AttributeError for non-strings, like the real one
	score = 0
	missing = []
	validation = {}
	for s in SECTIONS:
		if s in upper:
			score += 10
			validation[s] = "\u2705 Found"
		else:
			missing.append(s)
			validation[s] = "\u274c Missing"
	low = text.lower()
	return {"approved": score >= 80, "score": score, "missing_sections": missing, "validation": validation,
		"policy_checks": {"no_hardcoded_secrets": "password" not in low,
			"no_forbidden_actions": "--force" not in low, "has_mitigation_plan": "MITIGATION" in upper}}


ROW_FIELDS = ("request_id", "created_at", "status", "worker_id", "task_name", "instruction", "risk_level",
	"risk_reason", "fingerprint", "decided_at", "decided_by", "decision_note")


class WingmanApp:
	def __init__(self, args):
		self.args = args
		self.server_header = "mock_wingman (Werkzeug-like) Python/%d.%d" % sys.version_info[:2]
		self.lock = threading.RLock()
		self.recorder = Recorder()
		self.faults = FaultTable()
		self.data_dir = args.data_dir
		self.ledger = os.path.join(self.data_dir, "claims_audit.jsonl")
		self.read_keys = _split_keys(args.approval_read_keys) | _split_keys(args.approval_read_key)
		self.decide_keys = _split_keys(args.approval_decide_keys) | _split_keys(args.approval_decide_key)
		self.request_keys = _split_keys(args.approval_request_keys) | _split_keys(args.approval_request_key)
		self.legacy_key = (args.approval_api_key or "").strip()
		self.config = {
			"pending_ttl_sec": args.pending_ttl_sec or "0",
			"require_approval": args.require_approval or "",
			"deployment_env": args.deployment_env or "",
			"auto_reject_mode": args.auto_reject_mode,
			"auto_reject_workers": sorted(_split_keys(args.auto_reject_workers)),
			"auto_decide": None,
			"auto_decide_after_ms": 0,
		}
		self.reset_state()

	def reset_state(self):
		with self.lock:
			self.claims = []
			self.approvals = {}
			self.order = []
			self.stats = {"total_verifications": 0, "verdicts": {"TRUE": 0, "FALSE": 0, "UNVERIFIABLE": 0}}

	# ------------------------------------------------------------------
	# routing (Werkzeug rules; /_mock/ handled by control())
	# ------------------------------------------------------------------

	def _routes(self, path):
		"""All rules matching the (decoded) path: list of (methods, endpoint, args)."""
		out = []
		fixed = {"/": ("GET", "index"), "/health": ("GET", "health"), "/stats": ("GET", "stats"),
			"/verify": ("POST", "verify"), "/check": ("POST", "check"), "/log_claim": ("POST", "log_claim"),
			"/approvals/request": ("POST", "approvals_request"),
			"/approvals/pending": ("GET", "approvals_pending")}
		if path in fixed:
			m, ep = fixed[path]
			out.append((m, ep, ()))
		mt = re.match(r"^/approvals/([^/]+)$", path)
		if mt:
			out.append(("GET", "approvals_get", (mt.group(1),)))
		mt = re.match(r"^/approvals/([^/]+)/(approve|reject)$", path)
		if mt:
			out.append(("POST", "approvals_" + mt.group(2), (mt.group(1),)))
		return out

	@staticmethod
	def _allow(methods):
		order = []
		if "GET" in methods:
			order += ["HEAD", "GET"]
		if "POST" in methods:
			order.append("POST")
		return ", ".join(["OPTIONS"] + order)

	def handle(self, req):
		path = req.path
		if path.startswith("//"):
			path = "/" + path.lstrip("/")  # http.server (under Werkzeug) collapses a leading '//'
		path = unquote(path)
		rules = self._routes(path)
		if not rules and "//" in path:
			merged = re.sub(r"/+", "/", path)
			if self._routes(merged):
				# Werkzeug's merge_slashes: 308 to the merged URL
				loc = "http://%s%s%s" % (req.header("Host") or "localhost", quote(merged), ("?" + req.query) if req.query else "")
				html = ("<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
					"<p>You should be redirected automatically to the target URL: <a href=\"%s\">%s</a>. If not, click the link.\n"
					% (loc, loc))
				return Resp(308, html, [("Content-Type", "text/html; charset=utf-8"), ("Location", loc)])
		if not rules:
			return Resp(404, HTML_404, [("Content-Type", "text/html; charset=utf-8")])
		methods = {m for m, _, _ in rules}
		if req.method == "OPTIONS":
			return Resp(200, b"", [("Content-Type", "text/html; charset=utf-8"), ("Allow", self._allow(methods))])
		want = "GET" if req.method == "HEAD" else req.method
		for m, ep, args in rules:
			if m == want:
				return getattr(self, "ep_" + ep)(req, *args)
		return Resp(405, HTML_405, [("Content-Type", "text/html; charset=utf-8"), ("Allow", self._allow(methods))])

	# ------------------------------------------------------------------
	# auth (role keys, legacy key)
	# ------------------------------------------------------------------

	@staticmethod
	def _need(req, header, allowed):
		if not allowed:
			return None
		got = (req.header(header) or "").strip()
		if not got or got not in allowed:
			return jresp(401, {"error": "Unauthorized"})
		return None

	def _auth_read(self, req):
		if self.read_keys:
			return self._need(req, "X-Wingman-Approval-Read-Key", self.read_keys)
		if self.legacy_key:
			return self._need(req, "X-Wingman-Approval-Key", {self.legacy_key})
		return None

	def _auth_decide(self, req):
		if self.decide_keys:
			return self._need(req, "X-Wingman-Approval-Decide-Key", self.decide_keys)
		if self.legacy_key:
			return self._need(req, "X-Wingman-Approval-Key", {self.legacy_key})
		return None

	def _auth_request(self, req):
		if self.request_keys:
			return self._need(req, "X-Wingman-Approval-Request-Key", self.request_keys)
		return None

	# ------------------------------------------------------------------
	# endpoints
	# ------------------------------------------------------------------

	def ep_index(self, req):
		return jresp(200, {"name": "Wingman Verification API", "version": "3.0.0", "phase": "3",
			"endpoints": {
				"POST /check": "Validate instruction (Phase 2)",
				"POST /log_claim": "Record worker claim (Phase 3)",
				"POST /verify": "Verify a claim (Phase 1/3)",
				"POST /approvals/request": "Request human approval (Phase 4)",
				"GET /approvals/pending": "List pending approvals (Phase 4)",
				"GET /approvals/<id>": "Get approval request (Phase 4)",
				"POST /approvals/<id>/approve": "Approve (Phase 4)",
				"POST /approvals/<id>/reject": "Reject (Phase 4)",
				"GET /health": "Check API status",
				"GET /stats": "Get verification statistics"},
			"timestamp": local_now_iso()})

	def ep_health(self, req):
		return jresp(200, {"status": "healthy", "phase": "3",
			"verifiers": {"simple": "available", "enhanced": "unavailable"},
			"database": "memory", "timestamp": local_now_iso()})

	def ep_stats(self, req):
		with self.lock:
			return jresp(200, {"total_verifications": self.stats["total_verifications"],
				"verdicts": dict(self.stats["verdicts"]), "time_range": "all_time", "source": "memory",
				"timestamp": local_now_iso()})

	def ep_check(self, req):
		try:
			data = get_json(req)
			if not data or "instruction" not in data:
				return jresp(400, {"error": "Missing 'instruction' field", "approved": False, "score": 0})
			return jresp(200, validate_instruction(data["instruction"]))
		except Exception as e:
			return jresp(500, {"error": str(e), "approved": False, "score": 0})

	def ep_log_claim(self, req):
		try:
			data = get_json(req)
			if not data or "claim" not in data:
				return jresp(400, {"error": "Missing 'claim' field"})
			entry = {"timestamp": local_now_iso(), "worker_id": data.get("worker_id", "unknown"),
				"claim": data.get("claim"), "status": "PENDING_VERIFICATION"}
			line = json.dumps(entry) + "\n"
			with self.lock:
				with open(self.ledger, "a") as f:
					f.write(line)
				rec = {"claim": entry["claim"], "worker_id": entry["worker_id"], "timestamp": entry["timestamp"],
					"http_status": 200}
				self.claims.append(rec)
			try:
				# the real server prints claim[:50] after writing: non-sliceable claims and
				# lone surrogates (not encodable on a UTF-8 stdout) become a 500
				console("\U0001f4dd Claim Logged: %s..." % (data.get("claim")[:50],))
			except Exception:
				rec["http_status"] = 500
				raise
			return jresp(200, {"status": "logged", "entry": entry})
		except Exception as e:
			return jresp(500, {"error": str(e)})

	def ep_verify(self, req):
		try:
			data = get_json(req)
			if not data:
				return jresp(400, {"error": "No JSON body provided", "timestamp": local_now_iso()})
			claim = data.get("claim")
			use_enhanced = data.get("use_enhanced", False)
			if not claim:
				return jresp(400, {"error": "Missing 'claim' field", "timestamp": local_now_iso()})
			t0 = time.time()
			if isinstance(claim, str):
				console(("\n\U0001f50d Enhanced Verification: %s" if use_enhanced else "\n\U0001f50d Verifying: %s") % claim)
			verdict = verify_enhanced(claim) if use_enhanced else verify_simple(claim)
			ms = int((time.time() - t0) * 1000)
			with self.lock:
				self.stats["total_verifications"] += 1
				if verdict in self.stats["verdicts"]:
					self.stats["verdicts"][verdict] += 1
			kind = "enhanced" if use_enhanced else "simple"
			return jresp(200, {"verdict": verdict,
				"details": "%s verification completed with verdict: %s" % (kind.capitalize(), verdict),
				"timestamp": local_now_iso(), "verifier": kind, "processing_time_ms": ms})
		except Exception as e:
			return jresp(500, {"error": str(e), "timestamp": local_now_iso()})

	# ---- approvals ------------------------------------------------------

	def _assess(self, instruction, task_name, env_value):
		if (self.config["require_approval"] or "").strip() == "0":
			return {"risk_level": "LOW", "risk_reason": "Approval disabled via WINGMAN_REQUIRE_APPROVAL=0"}
		text = ("%s\n%s\n%s" % (task_name, instruction, env_value)).lower()
		env = (env_value or self.config["deployment_env"] or "").lower()
		if env == "prd":
			return {"risk_level": "HIGH", "risk_reason": "Deployment environment is PRD"}
		if any(t in text for t in HIGH_TERMS):
			return {"risk_level": "HIGH", "risk_reason": "High-risk keywords detected"}
		if any(t in text for t in MEDIUM_TERMS):
			return {"risk_level": "MEDIUM", "risk_reason": "Medium-risk keywords detected"}
		return {"risk_level": "LOW", "risk_reason": "No high-risk indicators detected"}

	@staticmethod
	def _fingerprint(worker_id, task_name, risk_level, instruction):
		raw = ("%s\n%s\n%s\n%s" % (worker_id, task_name, risk_level, instruction)).encode("utf-8", errors="ignore")
		return hashlib.sha256(raw).hexdigest()

	def _create(self, worker_id, task_name, instruction, risk_level, risk_reason, status):
		row = {"request_id": str(uuid.uuid4()), "created_at": utc_now_iso(), "status": status,
			"worker_id": str(worker_id), "task_name": task_name or "", "instruction": instruction or "",
			"risk_level": risk_level, "risk_reason": risk_reason,
			"fingerprint": self._fingerprint(str(worker_id), task_name or "", risk_level, instruction or ""),
			"decided_at": None, "decided_by": None, "decision_note": None}
		with self.lock:
			self.approvals[row["request_id"]] = row
			self.order.append(row["request_id"])
		return row

	def _find_pending(self, fp):
		with self.lock:
			rows = [r for r in self.approvals.values() if r["fingerprint"] == fp and r["status"] == "PENDING"]
		if not rows:
			return None
		return max(rows, key=lambda r: r["created_at"])

	def _ttl(self):
		try:
			return int(str(self.config["pending_ttl_sec"] or "0").strip() or "0")
		except ValueError:
			return 0

	def _sweep(self):
		ttl = self._ttl()
		if ttl <= 0:
			return
		now = datetime.now(timezone.utc)
		with self.lock:
			for r in self.approvals.values():
				if r["status"] != "PENDING":
					continue
				try:
					created = datetime.fromisoformat(r["created_at"])
					if created.tzinfo is None:
						created = created.replace(tzinfo=timezone.utc)
				except ValueError:
					continue
				if (now - created).total_seconds() > ttl:
					r["status"] = "EXPIRED"
					r["decided_at"] = utc_now_iso()

	def _decide(self, rid, decision, decided_by, note):
		decided_at = utc_now_iso()
		with self.lock:
			r = self.approvals.get(rid)
			if r is None:
				return None
			if r["status"] == "PENDING":
				r["status"] = decision
				r["decided_at"] = decided_at
				r["decided_by"] = decided_by
				r["decision_note"] = note
			return dict(r)

	def _schedule_auto_decide(self, rid):
		decision = self.config.get("auto_decide")
		if decision not in ("APPROVED", "REJECTED"):
			return
		delay = max(0, int(self.config.get("auto_decide_after_ms") or 0)) / 1000.0

		def run():
			if not SHUTDOWN.wait(delay):
				self._decide(rid, decision, "mock-auto", "decided by mock_wingman auto_decide")
		threading.Thread(target=run, daemon=True).start()

	def _auto_rejected_worker(self, worker_id):
		ws = self.config.get("auto_reject_workers") or []
		return not ws or worker_id in ws

	def ep_approvals_request(self, req):
		try:
			err = self._auth_request(req)
			if err is not None:
				return err
			data = get_json(req) or {}
			instruction = (data.get("instruction") or "").strip()
			worker_id = str(data.get("worker_id", "unknown"))
			task_name = (data.get("task_name") or "").strip()
			env_value = (data.get("deployment_env") or self.config["deployment_env"] or "").strip()
			mode = self.config.get("auto_reject_mode")
			if mode == "quarantine" and self._auto_rejected_worker(worker_id):
				return jresp(403, {"needs_approval": False, "status": "AUTO_REJECTED",
					"rejection_reason": "WORKER_QUARANTINED",
					"reason": "Worker quarantined: mock_wingman auto-reject-mode=quarantine",
					"quarantined_at": utc_now_iso(), "environment": env_value or "Unknown",
					"message": "Contact Mark to release this worker via /release_worker command or POST /watcher/release/{worker_id}"})
			if not instruction:
				return jresp(400, {"error": "Missing 'instruction' field"})
			if mode == "validation" and self._auto_rejected_worker(worker_id):
				reason = "Validation rejected (mock_wingman auto-reject-mode=validation)"
				row = self._create(worker_id, task_name, instruction, "CRITICAL", reason, "AUTO_REJECTED")
				return jresp(422, {"needs_approval": False, "status": "AUTO_REJECTED",
					"rejection_reason": "VALIDATION_FAILED", "request": dict(row),
					"validation": {"overall_score": 0, "recommendation": "REJECT", "risk_level": "CRITICAL",
						"reasoning": reason, "validator_scores": {}, "profile": "mock", "active_validators": []}})
			risk = self._assess(instruction, task_name, env_value)
			if risk["risk_level"] == "LOW":
				row = self._create(worker_id, task_name, instruction, risk["risk_level"], risk["risk_reason"], "AUTO_APPROVED")
				return jresp(200, {"needs_approval": False, "status": "AUTO_APPROVED", "request": dict(row), "risk": risk})
			with self.lock:
				fp = self._fingerprint(worker_id, task_name, risk["risk_level"], instruction)
				existing = self._find_pending(fp)
				if existing is not None:
					return jresp(200, {"needs_approval": True, "status": "PENDING", "request": dict(existing),
						"risk": risk, "deduped": True})
				row = self._create(worker_id, task_name, instruction, risk["risk_level"], risk["risk_reason"], "PENDING")
			self._schedule_auto_decide(row["request_id"])
			return jresp(200, {"needs_approval": True, "status": "PENDING", "request": dict(row), "risk": risk})
		except Exception as e:
			return jresp(500, {"error": str(e)})

	def ep_approvals_pending(self, req):
		err = self._auth_read(req)
		if err is not None:
			return err
		try:
			limit = int(req.arg("limit", "20"))
			if limit > 2 ** 63 - 1 or limit < -(2 ** 63):
				raise OverflowError("Python int too large to convert to SQLite INTEGER")
			self._sweep()
			with self.lock:
				rows = sorted((r for r in self.approvals.values() if r["status"] == "PENDING"),
					key=lambda r: r["created_at"])
			if limit >= 0:
				rows = rows[:limit]
			return jresp(200, {"pending": [dict(r) for r in rows], "count": len(rows)})
		except Exception as e:
			return jresp(500, {"error": str(e)})

	def ep_approvals_get(self, req, rid):
		err = self._auth_read(req)
		if err is not None:
			return err
		with self.lock:
			r = self.approvals.get(rid)
			if r is None:
				return jresp(404, {"error": "Not found"})
			return jresp(200, dict(r))

	def _decision(self, req, rid, decision):
		err = self._auth_decide(req)
		if err is not None:
			return err
		try:
			data = get_json(req) or {}
			decided_by = (data.get("decided_by") or "").strip() or None
			note = (data.get("note") or "").strip() or None
			r = self._decide(rid, decision, decided_by, note)
			if r is None:
				return jresp(404, {"error": "Not found"})
			return jresp(200, r)
		except Exception as e:
			return jresp(500, {"error": str(e)})

	def ep_approvals_approve(self, req, rid):
		return self._decision(req, rid, "APPROVED")

	def ep_approvals_reject(self, req, rid):
		return self._decision(req, rid, "REJECTED")

	# ------------------------------------------------------------------
	# /_mock/ control
	# ------------------------------------------------------------------

	def control(self, req):
		p, m = req.path, req.method

		def out(status, obj):
			return Resp(status, json.dumps(obj), [("Content-Type", "application/json")])

		def body():
			return json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
		if p == "/_mock/requests" and m == "GET":
			return out(200, self.recorder.list())
		if p == "/_mock/claims" and m == "GET":
			with self.lock:
				return out(200, {"claims": [dict(c) for c in self.claims]})
		if p == "/_mock/approvals" and m == "GET":
			with self.lock:
				return out(200, {"approvals": [dict(self.approvals[i]) for i in self.order]})
		if p == "/_mock/reset" and m == "POST":
			self.recorder.clear()
			self.faults.clear()
			self.reset_state()
			if os.path.exists(self.ledger):
				open(self.ledger, "w").close()
			return out(200, {"ok": True})
		if p == "/_mock/fault":
			if m == "POST":
				try:
					spec = body()
					specs = spec if isinstance(spec, list) else [spec]
					added = [self.faults.add(s) for s in specs]
				except (ValueError, TypeError) as e:
					return out(400, {"error": str(e)})
				return out(200, {"ok": True, "faults": added})
			if m == "DELETE":
				self.faults.clear()
				return out(200, {"ok": True})
			if m == "GET":
				return out(200, {"faults": self.faults.list()})
		if p == "/_mock/config":
			if m == "POST":
				try:
					spec = body()
				except ValueError as e:
					return out(400, {"error": str(e)})
				if not isinstance(spec, dict):
					return out(400, {"error": "expected a JSON object"})
				for k, v in spec.items():
					if k not in self.config:
						return out(400, {"error": "unknown config key %s" % k})
					if k == "auto_reject_mode" and v not in (None, "quarantine", "validation"):
						return out(400, {"error": "auto_reject_mode must be null, quarantine or validation"})
					if k == "auto_decide" and v not in (None, "APPROVED", "REJECTED"):
						return out(400, {"error": "auto_decide must be null, APPROVED or REJECTED"})
				with self.lock:
					for k, v in spec.items():
						self.config[k] = (str(v) if k in ("pending_ttl_sec", "require_approval", "deployment_env") and v is not None else v)
			with self.lock:
				return out(200, {"config": dict(self.config), "data_dir": self.data_dir, "ledger": self.ledger})
		if p == "/_mock/expire" and m == "POST":
			try:
				rid = body().get("request_id")
			except (ValueError, AttributeError) as e:
				return out(400, {"error": str(e)})
			with self.lock:
				r = self.approvals.get(rid)
				if r is None:
					return out(404, {"error": "Not found"})
				if r["status"] == "PENDING":
					r["status"] = "EXPIRED"
					r["decided_at"] = utc_now_iso()
				return out(200, dict(r))
		if p == "/_mock/edit" and m == "POST":
			# Tests only: rewrite fields of a stored approval, as a
			# Wingman database edited behind the proxy's back would.
			try:
				spec = body()
				rid = spec.pop("request_id")
			except (ValueError, AttributeError, KeyError) as e:
				return out(400, {"error": str(e)})
			with self.lock:
				r = self.approvals.get(rid)
				if r is None:
					return out(404, {"error": "Not found"})
				for k, v in spec.items():
					if k not in r:
						return out(400, {"error": "unknown field %s" % k})
					r[k] = v
				return out(200, dict(r))
		return out(404, {"error": "unknown mock control endpoint"})


def main(argv=None):
	env = os.environ.get
	ap = argparse.ArgumentParser(description="Mock Wingman API server (mastermagoo/wingman @3a43b48 behaviour).")
	ap.add_argument("--host", default="127.0.0.1")
	ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
	ap.add_argument("--port-file", help="write the bound port here (atomically) once listening")
	ap.add_argument("--data-dir", help="directory of claims_audit.jsonl (default: a new temp dir)")
	ap.add_argument("--approval-read-keys", default=env("WINGMAN_APPROVAL_READ_KEYS"))
	ap.add_argument("--approval-read-key", default=env("WINGMAN_APPROVAL_READ_KEY"))
	ap.add_argument("--approval-decide-keys", default=env("WINGMAN_APPROVAL_DECIDE_KEYS"))
	ap.add_argument("--approval-decide-key", default=env("WINGMAN_APPROVAL_DECIDE_KEY"))
	ap.add_argument("--approval-request-keys", default=env("WINGMAN_APPROVAL_REQUEST_KEYS"))
	ap.add_argument("--approval-request-key", default=env("WINGMAN_APPROVAL_REQUEST_KEY"))
	ap.add_argument("--approval-api-key", default=env("WINGMAN_APPROVAL_API_KEY"), help="legacy single key")
	ap.add_argument("--pending-ttl-sec", default=env("WINGMAN_APPROVAL_PENDING_TTL_SEC", "0"))
	ap.add_argument("--require-approval", default=env("WINGMAN_REQUIRE_APPROVAL", ""))
	ap.add_argument("--deployment-env", default=env("DEPLOYMENT_ENV", ""))
	ap.add_argument("--auto-reject-mode", choices=("quarantine", "validation"), default=None,
		help="answer /approvals/request like the newer 'main' branch: 403 or 422 AUTO_REJECTED")
	ap.add_argument("--auto-reject-workers", default="",
		help="comma list of worker ids the auto-reject mode applies to (default: all)")
	args = ap.parse_args(argv)
	own_dir = not args.data_dir
	if own_dir:
		args.data_dir = tempfile.mkdtemp(prefix="mock_wingman.")
	try:
		app = WingmanApp(args)
		server = MockServer((args.host, args.port), MockHandler, app)
		sys.stderr.write("[%s] ledger %s\n" % (PROG, app.ledger))
		serve_mock(server, args.port_file, PROG, SHUTDOWN)
	finally:
		if own_dir:	# a directory of its own: gone with it
			shutil.rmtree(args.data_dir, ignore_errors=True)
	return 0


if __name__ == "__main__":
	sys.exit(main())
