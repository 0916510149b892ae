#!/usr/bin/env python3
"""mock_mem0: a loopback Mem0 server speaking both HTTP dialects.

Bare paths (/memories, /search, /reset, /entities, ...) behave like the OSS
REST server (FastAPI + uvicorn, mem0ai/mem0 server/main.py).  Paths under
/v1/, /v2/, /v3/ and /api/v1/ behave like the hosted platform (Django/DRF,
api.mem0.ai).  See /work/shared/reference/mem0-api.md and tests/mocks/README.md.

Test-only control endpoints live under /_mock/ (never part of a real API).

Python 3 standard library only; runs with Debian 12's /usr/bin/python3.
"""

import argparse
import copy
import gzip
import hashlib
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from datetime import date, datetime, timezone
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mockcore import BodyError, FaultTable, MockServer, Recorder, Resp  # noqa: E402
from mockcore import serve as serve_mock  # noqa: E402

MAX_BODY = 64 * 1024 * 1024
DEFAULT_HANG_MS = 60000
SHUTDOWN = threading.Event()
PROG = "mock_mem0"


# --------------------------------------------------------------------------
# generic harness (the same shape as in mock_wingman.py; kept self-contained)
# --------------------------------------------------------------------------

class Request:
	"""A parsed request handed to the application."""

	def __init__(self, method, target, path, query, headers, body, client):
		self.method = method
		self.target = target
		self.path = path
		self.query = query
		self.headers = headers
		self.body = body
		self.client = client

	def header(self, name, default=None):
		v = self.headers.get(name)
		return default if v is None else v

	def qlist(self):
		return parse_qsl(self.query, keep_blank_values=True)

	def qget(self, name, default=None):
		val = default
		for k, v in self.qlist():
			if k == name:
				val = v
		return val

	def qhas(self, name):
		return any(k == name for k, _ in self.qlist())


def json_dumps(obj):
	"""Compact JSON, UTF-8, no key sorting (FastAPI / DRF style)."""
	return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def parse_target(target):
	"""Split a raw request target into (path, query) without urlsplit's
	'//host' interpretation."""
	if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
		s = urlsplit(target)
		return (s.path or "/"), s.query
	path, _, query = target.partition("?")
	path = path.partition("#")[0]
	return path, query


class MockHandler(BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	server_version = "uvicorn"
	sys_version = ""
	timeout = 5  # uvicorn's default keep-alive timeout

	def do_GET(self):
		self._dispatch()

	do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

	def log_message(self, fmt, *args):
		sys.stderr.write("[%s] %s %s\n" % (PROG, self.address_string(), fmt % args))
		sys.stderr.flush()

	def log_request(self, code="-", size="-"):
		pass  # we log one line ourselves in _dispatch

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
		parts = self.requestline.split()
		target = parts[1] if len(parts) >= 2 else self.path
		method = self.command
		try:
			body = self._read_body()
		except BodyError as e:
			self.close_connection = True
			self._send(Resp(e.status, str(e) + "\n", [("Content-Type", "text/plain")]), method, t0, target, note="body-error")
			return
		path, query = parse_target(target)
		req = Request(method, target, path, query, self.headers, body, self.client_address)
		if path == "/_mock" or path.startswith("/_mock/"):
			try:
				resp = app.control(req)
			except Exception as e:  # control endpoints must never kill the connection
				resp = Resp(500, json_dumps({"error": "mock control error: %s" % e}), [("Content-Type", "application/json")])
			self._send(resp, method, t0, target, note="control")
			return
		app.recorder.add({
			"time": t0,
			"method": method,
			"path": target,
			"headers": [[k, v] for k, v in self.headers.items()],
			"body": body.decode("utf-8", "replace"),
			"client_port": self.client_address[1],
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
				resp = Resp(500, json_dumps({"detail": "mock internal error: %s" % e}), [("Content-Type", "application/json")])
		self._send(resp, method, t0, target)

	def _apply_fault(self, f, req, method, t0, target):
		app = self.server.app
		mode = f["mode"]
		if mode in ("delay", "status", "malformed") and f["delay_ms"] > 0:
			SHUTDOWN.wait(f["delay_ms"] / 1000.0)
		if mode == "delay":
			return app.handle(req)
		if mode == "status":
			body = f["body"] if f["body"] is not None else json.dumps({"detail": "mock fault injected", "error": "mock fault injected"})
			ctype = f["content_type"] or self._guess_type(body)
			return Resp(f["status"], body, [("Content-Type", ctype)])
		if mode == "malformed":
			body = f["body"] if f["body"] is not None else '{"results": [ this is not json'
			ctype = f["content_type"] or "application/json"
			return Resp(200, body, [("Content-Type", ctype)])
		self.close_connection = True
		if mode == "hang":
			limit = f["delay_ms"] if f["delay_ms"] > 0 else DEFAULT_HANG_MS
			deadline = time.time() + limit / 1000.0
			sock = self.connection
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
				self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			except OSError:
				pass
			self._log(method, target, "-", 0, t0, "fault=reset")
			return None
		# close
		try:
			self.connection.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		self._log(method, target, "-", 0, t0, "fault=close")
		return None

	@staticmethod
	def _guess_type(body):
		try:
			json.loads(body)
			return "application/json"
		except ValueError:
			return "text/plain; charset=utf-8"

	def _log(self, method, target, status, size, t0, note=""):
		sys.stderr.write("[%s] %s:%s \"%s %s %s\" %s %s %.1fms%s\n" % (
			PROG, self.client_address[0], self.client_address[1], method, target,
			self.request_version, status, size, (time.time() - t0) * 1000.0,
			(" " + note) if note else ""))
		sys.stderr.flush()

	def _send(self, resp, method, t0, target, note=""):
		app = self.server.app
		if self.request_version == "HTTP/1.0" and (self.headers.get("Connection") or "").lower() != "keep-alive":
			self.close_connection = True
		if self.request_version == "HTTP/1.0":
			self.close_connection = True  # h11 does not keep HTTP/1.0 alive
		body = resp.body
		headers = list(resp.headers)
		names = {k.lower() for k, _ in headers}
		if body and app.gzip_enabled and "content-encoding" not in names and accepts_gzip(self.headers.get("Accept-Encoding")):
			body = gzip.compress(body)
			headers.append(("Content-Encoding", "gzip"))
			headers.append(("Vary", "Accept-Encoding"))
		lower = app.lowercase_headers(resp)
		reason = resp.reason
		if reason is None:
			try:
				reason = HTTPStatus(resp.status).phrase
			except ValueError:
				reason = "Unknown"
		out = ["HTTP/1.1 %d %s\r\n" % (resp.status, reason)]
		server = getattr(resp, "server", app.server_header)
		pre = [("date", self.date_time_string()), ("server", server)] if lower else \
			[("Date", self.date_time_string()), ("Server", server)]
		for k, v in pre:
			out.append("%s: %s\r\n" % (k, v))
		has_cl = False
		for k, v in headers:
			if k.lower() == "content-length":
				has_cl = True
			out.append("%s: %s\r\n" % (k.lower() if lower else k, v))
		if not has_cl and not (100 <= resp.status < 200 or resp.status in (204, 304)):
			out.append("%s: %d\r\n" % ("content-length" if lower else "Content-Length", len(body)))
		if self.close_connection:
			out.append("%s: close\r\n" % ("connection" if lower else "Connection"))
		out.append("\r\n")
		data = "".join(out).encode("latin-1", "replace")
		if method != "HEAD":
			data += body
		try:
			self.wfile.write(data)
			self.wfile.flush()
		except OSError:
			self.close_connection = True
		self._log(method, target, resp.status, len(body), t0, note)


def accepts_gzip(value):
	if not value:
		return False
	for part in value.split(","):
		bits = [b.strip() for b in part.split(";")]
		if bits[0].lower() in ("gzip", "x-gzip", "*"):
			q = 1.0
			for b in bits[1:]:
				if b.lower().startswith("q="):
					try:
						q = float(b[2:])
					except ValueError:
						q = 0.0
			if q > 0:
				return True
	return False


def json_body_or_error(req):
	"""Parse a control-endpoint body; empty → {}."""
	if not req.body.strip():
		return {}
	return json.loads(req.body.decode("utf-8"))


# --------------------------------------------------------------------------
# helpers shared by both dialects
# --------------------------------------------------------------------------

ENTITY_KEYS = ("user_id", "agent_id", "app_id", "run_id")
ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}
CAMEL = {
	"userId": "user_id", "agentId": "agent_id", "appId": "app_id", "runId": "run_id",
	"sessionId": "run_id", "session_id": "run_id", "createdAt": "created_at",
	"updatedAt": "updated_at", "memoryIds": "memory_ids", "expirationDate": "expiration_date",
}


def now_utc():
	return datetime.now(timezone.utc)


def iso_oss(dt):
	return dt.isoformat()


def iso_drf(dt):
	s = dt.isoformat()
	if s.endswith("+00:00"):
		s = s[:-6] + "Z"
	return s


def is_uuid(s):
	try:
		uuid.UUID(str(s))
		return True
	except (ValueError, AttributeError, TypeError):
		return False


def norm_uuid(s):
	return str(uuid.UUID(str(s)))


def words(text):
	return re.findall(r"\w+", str(text).lower())


def word_score(query, text):
	q = words(query)
	if not q:
		return 0.0
	t = set(words(text))
	hit = sum(1 for w in q if w in t)
	return round(hit / float(len(q)), 4)


def is_expired(m, today=None):
	exp = m.get("expiration_date")
	if not exp:
		return False
	today = today or date.today().isoformat()
	return str(exp)[:10] < today


def _cmp_values(a, b):
	"""Compare memory value a with filter operand b; dates compare by prefix."""
	if isinstance(a, datetime):
		a = iso_drf(a)
	if isinstance(a, str) and isinstance(b, str) and len(b) == 10 and re.match(r"^\d{4}-\d\d-\d\d$", b):
		a = a[:10]
	try:
		return (a > b) - (a < b)
	except TypeError:
		sa, sb = str(a), str(b)
		return (sa > sb) - (sa < sb)


def _value_of(m, key):
	if key in ENTITY_KEYS or key in ("actor_id", "role", "expiration_date", "id"):
		return m.get(key)
	if key in ("created_at", "updated_at"):
		return m.get(key)
	if key == "memory":
		return m.get("memory")
	md = m.get("metadata") or {}
	return md.get(key)


def _match_cond(val, cond):
	if isinstance(cond, dict):
		for op, arg in cond.items():
			if op == "eq":
				if val != arg:
					return False
			elif op == "ne":
				if val == arg:
					return False
			elif op == "in":
				if isinstance(val, list):
					if not set(map(str, val)) & set(map(str, arg or [])):
						return False
				elif val not in (arg or []):
					return False
			elif op == "nin":
				if isinstance(val, list):
					if set(map(str, val)) & set(map(str, arg or [])):
						return False
				elif val in (arg or []):
					return False
			elif op in ("gt", "gte", "lt", "lte"):
				if val is None:
					return False
				c = _cmp_values(val, arg)
				if op == "gt" and not c > 0:
					return False
				if op == "gte" and not c >= 0:
					return False
				if op == "lt" and not c < 0:
					return False
				if op == "lte" and not c <= 0:
					return False
			elif op == "contains":
				if val is None or str(arg) not in (" ".join(map(str, val)) if isinstance(val, list) else str(val)):
					return False
			elif op == "icontains":
				if val is None or str(arg).lower() not in (" ".join(map(str, val)) if isinstance(val, list) else str(val)).lower():
					return False
			elif op == "*":
				continue
			else:
				# nested plain dict (e.g. metadata sub-object): equality
				return val == cond
		return True
	if cond == "*":
		return val is not None and val != ""
	if isinstance(cond, list):
		if isinstance(val, list):
			return bool(set(map(str, val)) & set(map(str, cond)))
		return val in cond
	if isinstance(val, list):
		return cond in val
	return val == cond


def match_filters(m, f):
	"""Evaluate the platform/OSS filter grammar against one memory."""
	if not f:
		return True
	if not isinstance(f, dict):
		return False
	for raw_key, cond in f.items():
		key = CAMEL.get(raw_key, raw_key)
		up = key.upper()
		if up == "AND":
			if not all(match_filters(m, x) for x in (cond or [])):
				return False
		elif up == "OR":
			if not any(match_filters(m, x) for x in (cond or [])):
				return False
		elif up == "NOT":
			items = cond if isinstance(cond, list) else [cond]
			if any(match_filters(m, x) for x in items):
				return False
		elif key == "metadata":
			md = m.get("metadata") or {}
			if not isinstance(cond, dict):
				return False
			for mk, mv in cond.items():
				if not _match_cond(md.get(mk), mv):
					return False
		elif key == "categories":
			if not _match_cond(m.get("categories") or [], cond):
				return False
		elif key == "keywords":
			text = m.get("memory") or ""
			if isinstance(cond, dict):
				if not _match_cond(text, cond):
					return False
			elif str(cond).lower() not in text.lower():
				return False
		elif key in ("memory_ids", "memory_id"):
			ids = cond.get("in") if isinstance(cond, dict) else cond
			if not isinstance(ids, list):
				ids = [ids]
			if m["id"] not in [str(x) for x in ids]:
				return False
		else:
			if not _match_cond(_value_of(m, key), cond):
				return False
	return True


def filters_have_entity(f, keys=ENTITY_KEYS):
	"""True when the filter positively scopes at least one entity id."""
	if not isinstance(f, dict):
		return False
	for raw_key, cond in f.items():
		key = CAMEL.get(raw_key, raw_key)
		if key.upper() in ("AND", "OR"):
			if isinstance(cond, list) and any(filters_have_entity(x, keys) for x in cond):
				return True
		elif key in keys and cond not in (None, "", {}, []):
			return True
	return False


# --------------------------------------------------------------------------
# FastAPI-style (pydantic v2) validation for the OSS dialect
# --------------------------------------------------------------------------

TRUE_STR = {"1", "on", "t", "true", "y", "yes"}
FALSE_STR = {"0", "off", "f", "false", "n", "no"}


def _err(typ, loc, msg, inp, ctx=None):
	e = {"type": typ, "loc": list(loc), "msg": msg, "input": inp}
	if ctx is not None:
		e["ctx"] = ctx
	return e


def coerce(kind, val, loc, errs, from_query=False):
	"""Validate/coerce one value like pydantic v2 lax mode. Returns value."""
	if kind == "str":
		if isinstance(val, str):
			return val
		errs.append(_err("string_type", loc, "Input should be a valid string", val))
		return None
	if kind == "dict":
		if isinstance(val, dict):
			return val
		errs.append(_err("dict_type", loc, "Input should be a valid dictionary", val))
		return None
	if kind == "bool":
		if isinstance(val, bool):
			return val
		if isinstance(val, int) and val in (0, 1):
			return bool(val)
		if isinstance(val, float) and val in (0.0, 1.0):
			return bool(val)
		if isinstance(val, str):
			if val.lower() in TRUE_STR:
				return True
			if val.lower() in FALSE_STR:
				return False
			errs.append(_err("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input", val))
			return None
		errs.append(_err("bool_type", loc, "Input should be a valid boolean", val))
		return None
	if kind == "int":
		if isinstance(val, bool):
			return int(val)
		if isinstance(val, int):
			return val
		if isinstance(val, float):
			if val == int(val):
				return int(val)
			errs.append(_err("int_from_float", loc, "Input should be a valid integer, got a number with a fractional part", val))
			return None
		if isinstance(val, str):
			try:
				return int(val.strip())
			except ValueError:
				errs.append(_err("int_parsing", loc, "Input should be a valid integer, unable to parse string as an integer", val))
				return None
		errs.append(_err("int_type", loc, "Input should be a valid integer", val))
		return None
	if kind == "float":
		if isinstance(val, bool):
			return float(val)
		if isinstance(val, (int, float)):
			return float(val)
		if isinstance(val, str):
			try:
				return float(val.strip())
			except ValueError:
				errs.append(_err("float_parsing", loc, "Input should be a valid number, unable to parse string as a number", val))
				return None
		errs.append(_err("float_type", loc, "Input should be a valid number", val))
		return None
	raise AssertionError(kind)


def validate_model(obj, fields, loc=("body",)):
	"""fields: list of (name, kind, required).  Returns (values, errors)."""
	errs = []
	if not isinstance(obj, dict):
		errs.append(_err("model_attributes_type", loc, "Input should be a valid dictionary or object to extract fields from", obj))
		return {}, errs
	out = {}
	for name, kind, required in fields:
		if name not in obj:
			if required:
				errs.append(_err("missing", loc + (name,), "Field required", obj))
			continue
		val = obj[name]
		if val is None and not required:
			out[name] = None
			continue
		if kind == "messages":
			if not isinstance(val, list):
				errs.append(_err("list_type", loc + (name,), "Input should be a valid list", val))
				continue
			msgs = []
			for i, m in enumerate(val):
				if not isinstance(m, dict):
					errs.append(_err("model_type", loc + (name, i), "Input should be a valid dictionary or instance of Message", m, {"class_name": "Message"}))
					continue
				mv, me = validate_model(m, [("role", "str", True), ("content", "str", True)], loc + (name, i))
				errs.extend(me)
				if not me:
					msgs.append(m)
			out[name] = msgs
			continue
		out[name] = coerce(kind, val, loc + (name,), errs)
	return out, errs


MEMORY_CREATE = [
	("messages", "messages", True), ("user_id", "str", False), ("agent_id", "str", False),
	("run_id", "str", False), ("metadata", "dict", False), ("expiration_date", "str", False),
	("infer", "bool", False), ("memory_type", "str", False), ("prompt", "str", False),
]
MEMORY_UPDATE = [("text", "str", False), ("metadata", "dict", False), ("expiration_date", "str", False)]
SEARCH_REQUEST = [
	("query", "str", True), ("user_id", "str", False), ("run_id", "str", False),
	("agent_id", "str", False), ("filters", "dict", False), ("top_k", "int", False),
	("threshold", "float", False), ("explain", "bool", False), ("show_expired", "bool", False),
]


# --------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------

DJANGO_404 = (
	"\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
	"<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
	"</body>\n</html>\n")
PLATFORM_BAD_KEY = "Invalid API key. You can find your API key on https://app.mem0.ai/dashboard/api-keys."
PLATFORM_NO_KEY = "Authentication credentials were not provided."
DELETE_QUEUED = "Delete in progress. This may take some time."
EXPORT_CREATED = "Memory export request received. The export will be ready in a few seconds."


class Mem0App:
	def __init__(self, args):
		self.args = args
		self.gzip_enabled = bool(args.gzip)
		self.server_header = "uvicorn"
		self.lock = threading.RLock()
		self.recorder = Recorder()
		self.faults = FaultTable()
		self.reset_state()

	def lowercase_headers(self, resp):
		return getattr(resp, "oss", False)

	def reset_state(self):
		with self.lock:
			self.memories = {}     # id -> record (insertion ordered)
			self.history = {}      # memory id -> [history entries]
			self.events = {}       # event id -> event
			self.exports = {}      # export id -> export job
			self.entities = {}     # (type, name) -> entity record
			self.entity_seq = 0
			self.seq = 0
			self.counters = {"adds": 0, "searches": 0}

	# ------------------------------------------------------------------
	# state helpers (call with self.lock held)
	# ------------------------------------------------------------------

	def _touch_entity(self, etype, name, when, metadata=None):
		key = (etype, name)
		ent = self.entities.get(key)
		if ent is None:
			self.entity_seq += 1
			ent = {"id": self.entity_seq, "name": name, "type": etype, "created_at": when,
				"updated_at": when, "metadata": metadata or {}, "owner": "owner@example.com"}
			self.entities[key] = ent
		else:
			ent["updated_at"] = when
			if metadata:
				ent["metadata"].update(metadata)
		return ent

	def _new_memory(self, text, ids, metadata=None, role=None, actor_id=None, messages=None,
			event_id=None, expiration_date=None, categories=None, immutable=False):
		self.seq += 1
		when = now_utc()
		mid = str(uuid.uuid4())
		text = str(text)
		m = {
			"id": mid, "memory": text, "hash": hashlib.md5(text.encode("utf-8")).hexdigest(),
			"metadata": copy.deepcopy(metadata) if metadata else None,
			"categories": list(categories or []),
			"user_id": ids.get("user_id"), "agent_id": ids.get("agent_id"),
			"app_id": ids.get("app_id"), "run_id": ids.get("run_id"),
			"actor_id": actor_id, "role": role, "expiration_date": expiration_date,
			"created_at": when, "updated_at": when, "input": copy.deepcopy(messages or []),
			"event_id": event_id, "seq": self.seq, "immutable": bool(immutable),
		}
		self.memories[mid] = m
		for etype, key in ENTITY_TYPES.items():
			if m.get(key):
				self._touch_entity(etype, m[key], when)
		self._add_history(m, None, text, "ADD")
		return m

	def _add_history(self, m, old, new, event):
		when = now_utc()
		self.history.setdefault(m["id"], []).append({
			"id": str(uuid.uuid4()), "memory_id": m["id"], "old_memory": old, "new_memory": new,
			"event": event, "created_at": m["created_at"], "updated_at": when,
			"is_deleted": 1 if event == "DELETE" else 0, "actor_id": m.get("actor_id"),
			"role": m.get("role"), "input": copy.deepcopy(m.get("input") or []),
			"user_id": m.get("user_id"), "agent_id": m.get("agent_id"), "app_id": m.get("app_id"),
			"run_id": m.get("run_id"), "categories": list(m.get("categories") or []),
			"metadata": copy.deepcopy(m.get("metadata")),
		})

	def _delete_memory(self, mid):
		m = self.memories.pop(mid, None)
		if m is not None:
			self._add_history(m, m["memory"], None, "DELETE")
		return m

	def _update_memory(self, m, text=None, metadata=None, set_metadata=False, expiration=None, set_exp=False):
		old = m["memory"]
		if text is not None:
			m["memory"] = str(text)
			m["hash"] = hashlib.md5(m["memory"].encode("utf-8")).hexdigest()
		if set_metadata:
			if metadata is None:
				pass
			else:
				md = m.get("metadata") or {}
				md.update(metadata)
				m["metadata"] = md
		if set_exp:
			m["expiration_date"] = expiration
		m["updated_at"] = now_utc()
		self._add_history(m, old, m["memory"], "UPDATE")

	def _new_event(self, etype, payload, results, status="SUCCEEDED"):
		when = now_utc()
		eid = str(uuid.uuid4())
		ev = {"id": eid, "event_type": etype, "status": status, "payload": payload, "metadata": None,
			"results": results, "created_at": when, "updated_at": when, "started_at": when,
			"completed_at": when, "latency": 1.0, "graph_status": None, "error": None}
		self.events[eid] = ev
		return ev

	def _ordered(self, newest_first=False):
		ms = sorted(self.memories.values(), key=lambda m: m["seq"])
		if newest_first:
			ms.reverse()
		return ms

	# ------------------------------------------------------------------
	# control endpoints
	# ------------------------------------------------------------------

	def control(self, req):
		p, m = req.path, req.method
		J = [("Content-Type", "application/json")]
		if p == "/_mock/requests" and m == "GET":
			return Resp(200, json_dumps(self.recorder.list()), J)
		if p == "/_mock/reset" and m == "POST":
			self.recorder.clear()
			self.faults.clear()
			self.reset_state()
			return Resp(200, json_dumps({"ok": True}), J)
		if p == "/_mock/fault":
			if m == "POST":
				try:
					spec = json_body_or_error(req)
					specs = spec if isinstance(spec, list) else [spec]
					added = [self.faults.add(s) for s in specs]
				except (ValueError, TypeError) as e:
					return Resp(400, json_dumps({"error": str(e)}), J)
				return Resp(200, json_dumps({"ok": True, "faults": added}), J)
			if m == "DELETE":
				self.faults.clear()
				return Resp(200, json_dumps({"ok": True}), J)
			if m == "GET":
				return Resp(200, json_dumps({"faults": self.faults.list()}), J)
		if p == "/_mock/memories" and m == "GET":
			with self.lock:
				rows = [self._raw_row(x) for x in self._ordered()]
			return Resp(200, json_dumps({"memories": rows, "count": len(rows)}), J)
		if p == "/_mock/seed" and m == "POST":
			try:
				spec = json_body_or_error(req)
			except ValueError as e:
				return Resp(400, json_dumps({"error": str(e)}), J)
			items = spec.get("memories") if isinstance(spec, dict) else spec
			if not isinstance(items, list):
				return Resp(400, json_dumps({"error": "expected {\"memories\":[...]}"}), J)
			out = []
			with self.lock:
				for it in items:
					if not isinstance(it, dict) or not isinstance(it.get("memory"), str):
						return Resp(400, json_dumps({"error": "each memory needs a string 'memory'"}), J)
					ids = {k: it.get(k) for k in ENTITY_KEYS if it.get(k)}
					mm = self._new_memory(it["memory"], ids, metadata=it.get("metadata"),
						role=it.get("role"), categories=it.get("categories"),
						expiration_date=it.get("expiration_date"))
					out.append(mm["id"])
			return Resp(200, json_dumps({"ids": out}), J)
		if p == "/_mock/events" and m == "GET":
			with self.lock:
				evs = [self._fmt_event(e) for e in self.events.values()]
			return Resp(200, json_dumps({"events": evs}), J)
		if p == "/_mock/exports" and m == "GET":
			with self.lock:
				exps = [dict(e, created_at=iso_drf(e["created_at"])) for e in self.exports.values()]
			return Resp(200, json_dumps({"exports": exps}), J)
		return Resp(404, json_dumps({"error": "unknown mock control endpoint"}), J)

	def _raw_row(self, m):
		d = {k: v for k, v in m.items() if k not in ("seq",)}
		d["created_at"] = iso_oss(m["created_at"])
		d["updated_at"] = iso_oss(m["updated_at"])
		return d

	# ------------------------------------------------------------------
	# dispatch
	# ------------------------------------------------------------------

	def handle(self, req):
		collapsed = re.sub(r"/+", "/", req.path)
		for pre in ("/v1/", "/v2/", "/v3/", "/api/v1/"):
			if collapsed.startswith(pre) or collapsed + "/" == pre:
				r = self.platform(req, collapsed)
				r.server = "mock_mem0 (platform dialect)"
				return r
		return self.oss(req)

	# ==================================================================
	# OSS dialect (FastAPI)
	# ==================================================================

	def _oss_resp(self, status, obj, extra=None):
		r = Resp(status, json_dumps(obj), [("content-type", "application/json")] + list(extra or []))
		return self._oss_finish(r)

	def _oss_finish(self, r):
		r.oss = True
		r.headers.append(("x-request-id", uuid.uuid4().hex[:8]))
		return r

	OSS_ROUTES = [
		(re.compile(r"^/memories$"), ("POST", "GET", "DELETE"), "memories"),
		(re.compile(r"^/memories/([^/]+)$"), ("GET", "PUT", "DELETE"), "memory"),
		(re.compile(r"^/memories/([^/]+)/history$"), ("GET",), "history"),
		(re.compile(r"^/search$"), ("POST",), "search"),
		(re.compile(r"^/reset$"), ("POST",), "reset"),
		(re.compile(r"^/entities$"), ("GET",), "entities"),
		(re.compile(r"^/entities/([^/]+)/([^/]+)$"), ("DELETE",), "entity"),
		(re.compile(r"^/configure$"), ("GET", "POST"), "configure"),
		(re.compile(r"^/configure/providers$"), ("GET",), "providers"),
		(re.compile(r"^/$"), ("GET",), "root"),
		(re.compile(r"^/docs$"), ("GET",), "docs"),
		(re.compile(r"^/openapi\.json$"), ("GET",), "openapi"),
	]

	def oss(self, req):
		path = unquote(req.path)
		partial = None
		for rx, methods, name in self.OSS_ROUTES:
			mt = rx.match(path)
			if not mt:
				continue
			if req.method in methods:
				return getattr(self, "oss_" + name)(req, *mt.groups())
			if partial is None:
				partial = methods
		if partial is not None:
			allow = ", ".join(partial)
			return self._oss_resp(405, {"detail": "Method Not Allowed"}, [("allow", allow)])
		return self._oss_resp(404, {"detail": "Not Found"})

	def _oss_auth(self, req, admin=False):
		"""Returns a Resp on failure, None when allowed (server/auth.py order)."""
		authz = req.header("Authorization")
		if authz:
			scheme, _, cred = authz.partition(" ")
			if scheme.lower() == "bearer" and cred.strip():
				return self._oss_resp(401, {"detail": "Invalid or expired token."})
		key = req.header("X-API-Key")
		admin_key = self.args.oss_admin_key
		if key is not None:
			if admin_key and key == admin_key:
				return None
			return self._oss_resp(401, {"detail": "Invalid API key."})
		if not admin_key:
			return None  # AUTH_DISABLED=true: open, callers count as admin
		return self._oss_resp(401, {"detail": "Authentication required. Provide a Bearer token or X-API-Key header."},
			[("www-authenticate", "Bearer")])

	def _oss_body(self, req):
		"""FastAPI body decoding. Returns (obj, error_resp)."""
		raw = req.body
		if not raw:
			return None, None
		ctype = req.header("Content-Type")
		is_json = True
		if ctype:
			msg = Message()
			msg["content-type"] = ctype
			if msg.get_content_maintype() != "application":
				is_json = False
			else:
				sub = msg.get_content_subtype()
				is_json = sub == "json" or sub.endswith("+json")
		if not is_json:
			return raw.decode("utf-8", "replace"), None
		try:
			# FastAPI hands json.loads the bytes: a BOM and UTF-16/32
			# are detected, NaN and Infinity accepted (Python's json).
			return json.loads(raw), None
		except (ValueError, UnicodeDecodeError) as e:
			pos = getattr(e, "pos", 0)
			m = getattr(e, "msg", str(e))
			return None, self._oss_resp(422, {"detail": [_err("json_invalid", ("body", pos), "JSON decode error", {}, {"error": m})]})

	def _oss_validate(self, req, fields):
		obj, err = self._oss_body(req)
		if err is not None:
			return None, err
		if obj is None and not req.body:
			return None, self._oss_resp(422, {"detail": [_err("missing", ("body",), "Field required", None)]})
		vals, errs = validate_model(obj, fields)
		if errs:
			return None, self._oss_resp(422, {"detail": errs})
		return vals, None

	def _oss_query(self, req, spec):
		"""spec: list of (name, kind, ge, le). Returns (values, errors)."""
		errs = []
		out = {}
		for name, kind, ge, le in spec:
			if not req.qhas(name):
				continue
			raw = req.qget(name)
			if kind == "str":
				out[name] = raw
				continue
			v = coerce(kind, raw, ("query", name), errs, True)
			if v is None:
				continue
			if ge is not None and v < ge:
				errs.append(_err("greater_than_equal", ("query", name), "Input should be greater than or equal to %d" % ge, raw, {"ge": ge}))
				continue
			if le is not None and v > le:
				errs.append(_err("less_than_equal", ("query", name), "Input should be less than or equal to %d" % le, raw, {"le": le}))
				continue
			out[name] = v
		return out, errs

	def _oss_item(self, m, score=None, with_score_key=False):
		d = {"id": m["id"], "memory": m["memory"], "hash": m["hash"], "metadata": m["metadata"] or None}
		if with_score_key or score is not None:
			d["score"] = score
		d["created_at"] = iso_oss(m["created_at"])
		d["updated_at"] = iso_oss(m["updated_at"])
		for k in ("user_id", "agent_id", "run_id", "actor_id", "role", "expiration_date"):
			if m.get(k) is not None:
				d[k] = m[k]
		return d

	def oss_root(self, req):
		r = Resp(307, b"", [("location", "/docs")])
		return self._oss_finish(r)

	def oss_docs(self, req):
		r = Resp(200, "<!DOCTYPE html><html><head><title>Mem0 REST APIs - Swagger UI</title></head><body>mock</body></html>",
			[("content-type", "text/html; charset=utf-8")])
		return self._oss_finish(r)

	def oss_openapi(self, req):
		return self._oss_resp(200, {"openapi": "3.1.0", "info": {"title": "Mem0 REST APIs", "version": "1.0.0"}, "paths": {}})

	def oss_configure(self, req):
		if req.method == "GET":
			err = self._oss_auth(req)
			if err:
				return err
			return self._oss_resp(200, {"version": "v1.1", "vector_store": {"provider": "pgvector", "config": {"password": "[redacted]"}},
				"llm": {"provider": "openai", "config": {"api_key": "[redacted]", "model": "gpt-5-mini"}},
				"embedder": {"provider": "openai", "config": {"api_key": "[redacted]", "model": "text-embedding-3-small"}}})
		err = self._oss_auth(req, admin=True)
		if err:
			return err
		obj, err = self._oss_body(req)
		if err:
			return err
		if not isinstance(obj, dict):
			return self._oss_resp(422, {"detail": [_err("dict_type", ("body",), "Input should be a valid dictionary", obj)]})
		return self._oss_resp(200, {"message": "Configuration set successfully"})

	def oss_providers(self, req):
		err = self._oss_auth(req)
		if err:
			return err
		return self._oss_resp(200, {"llm": ["openai", "anthropic", "gemini"], "embedder": ["openai", "gemini"]})

	def oss_memories(self, req):
		if req.method == "POST":
			return self._oss_add(req)
		if req.method == "GET":
			return self._oss_list(req)
		return self._oss_delete_all(req)

	def _oss_add(self, req):
		err = self._oss_auth(req)
		if err:
			return err
		vals, err = self._oss_validate(req, MEMORY_CREATE)
		if err:
			return err
		if not any(vals.get(k) for k in ("user_id", "agent_id", "run_id")):
			return self._oss_resp(400, {"detail": "At least one identifier (user_id, agent_id, run_id) is required."})
		mt = vals.get("memory_type")
		if mt is not None and mt != "procedural_memory":
			return self._oss_resp(400, {"detail": "Invalid 'memory_type'. Please pass procedural_memory to create procedural memories."})
		for k in ("user_id", "agent_id", "run_id"):
			v = vals.get(k)
			if v is not None and (v.strip() == "" or any(c.isspace() for c in v.strip())):
				return self._oss_resp(400, {"detail": "Invalid %s: cannot be empty or contain whitespace. Provide a valid identifier." % k})
		ids = {k: vals[k].strip() for k in ("user_id", "agent_id", "run_id") if vals.get(k)}
		infer = vals.get("infer")
		infer = True if infer is None else infer
		msgs = vals["messages"]
		results = []
		with self.lock:
			self.counters["adds"] += 1
			for msg in msgs:
				role = msg["role"]
				if role == "system":
					continue
				if infer and role != "user":
					continue
				actor = msg.get("name") if isinstance(msg.get("name"), str) else None
				m = self._new_memory(msg["content"], ids, metadata=vals.get("metadata"),
					role=role if not infer else None, actor_id=actor if not infer else None,
					messages=msgs, expiration_date=vals.get("expiration_date"))
				item = {"id": m["id"], "memory": m["memory"], "event": "ADD"}
				if not infer:
					item["actor_id"] = actor
					item["role"] = role
				results.append(item)
		return self._oss_resp(200, {"results": results})

	def _oss_list(self, req):
		err = self._oss_auth(req)
		if err:
			return err
		q, errs = self._oss_query(req, [("user_id", "str", None, None), ("run_id", "str", None, None),
			("agent_id", "str", None, None), ("top_k", "int", 0, 1000), ("show_expired", "bool", None, None)])
		if errs:
			return self._oss_resp(422, {"detail": errs})
		ids = {k: q[k] for k in ("user_id", "agent_id", "run_id") if q.get(k)}
		with self.lock:
			if not ids:
				limit = q.get("top_k", 1000)
				rows = []
				for m in self._ordered()[:limit]:
					md = dict(m["metadata"] or {})
					for k in ("actor_id", "role"):
						if m.get(k) is not None:
							md[k] = m[k]
					rows.append({"id": m["id"], "memory": m["memory"], "user_id": m["user_id"],
						"agent_id": m["agent_id"], "run_id": m["run_id"], "hash": m["hash"],
						"expiration_date": m["expiration_date"], "metadata": md,
						"created_at": iso_oss(m["created_at"]), "updated_at": iso_oss(m["updated_at"])})
				return self._oss_resp(200, {"results": rows})
			for k, v in ids.items():
				if v.strip() == "" or any(c.isspace() for c in v.strip()):
					return self._oss_resp(400, {"detail": "Invalid %s: cannot contain whitespace. Provide a valid identifier." % k})
			limit = q.get("top_k", 20)
			show_exp = q.get("show_expired", False)
			out = []
			for m in self._ordered():
				if not all(m.get(k) == v.strip() for k, v in ids.items()):
					continue
				if not show_exp and is_expired(m):
					continue
				out.append(self._oss_item(m))
				if len(out) >= limit:
					break
		return self._oss_resp(200, {"results": out})

	def _oss_delete_all(self, req):
		err = self._oss_auth(req, admin=True)
		if err:
			return err
		q, errs = self._oss_query(req, [("user_id", "str", None, None), ("run_id", "str", None, None), ("agent_id", "str", None, None)])
		ids = {k: q[k].strip() for k in ("user_id", "agent_id", "run_id") if q.get(k)}
		if not ids:
			return self._oss_resp(400, {"detail": "At least one identifier is required."})
		with self.lock:
			for m in list(self._ordered()):
				if all(m.get(k) == v for k, v in ids.items()):
					self._delete_memory(m["id"])
		return self._oss_resp(200, {"message": "All relevant memories deleted"})

	def oss_memory(self, req, mid):
		err = self._oss_auth(req)
		if err:
			return err
		if req.method == "GET":
			with self.lock:
				m = self.memories.get(mid)
				if m is None:
					return self._oss_resp(200, None)
				return self._oss_resp(200, self._oss_item(m, with_score_key=True))
		if req.method == "PUT":
			vals, err = self._oss_validate(req, MEMORY_UPDATE)
			if err:
				return err
			obj = json.loads(req.body)
			if obj.get("text") is None and obj.get("metadata") is None and "expiration_date" not in obj:
				return self._oss_resp(400, {"detail": "At least one of text, metadata, or expiration_date must be provided."})
			with self.lock:
				m = self.memories.get(mid)
				if m is None:
					return self._oss_resp(404, {"detail": "Memory with id %s not found. Please provide a valid 'memory_id'" % mid})
				self._update_memory(m, text=vals.get("text"), metadata=vals.get("metadata"),
					set_metadata="metadata" in obj, expiration=vals.get("expiration_date"),
					set_exp="expiration_date" in obj)
			return self._oss_resp(200, {"message": "Memory updated successfully!"})
		with self.lock:
			if mid not in self.memories:
				return self._oss_resp(404, {"detail": "Memory with id %s not found" % mid})
			self._delete_memory(mid)
		return self._oss_resp(200, {"message": "Memory deleted successfully"})

	def oss_history(self, req, mid):
		err = self._oss_auth(req)
		if err:
			return err
		with self.lock:
			out = []
			for h in self.history.get(mid, []):
				out.append({"id": h["id"], "memory_id": h["memory_id"], "old_memory": h["old_memory"],
					"new_memory": h["new_memory"], "event": h["event"],
					"created_at": iso_oss(h["created_at"]), "updated_at": iso_oss(h["updated_at"]),
					"is_deleted": h["is_deleted"], "actor_id": h["actor_id"], "role": h["role"]})
		return self._oss_resp(200, out)

	def oss_search(self, req):
		err = self._oss_auth(req)
		if err:
			return err
		vals, err = self._oss_validate(req, SEARCH_REQUEST)
		if err:
			return err
		filters = dict(vals.get("filters") or {})
		for k in ("user_id", "agent_id", "run_id"):
			if vals.get(k):
				filters[k] = vals[k]
		query = vals["query"]
		if not query.strip():
			return self._oss_resp(400, {"detail": "Invalid query: cannot be empty or whitespace-only."})
		if not any(k in filters for k in ("user_id", "agent_id", "run_id")):
			return self._oss_resp(400, {"detail": "filters must contain at least one of: user_id, agent_id, run_id. Example: filters={'user_id': 'u1'}"})
		top_k = vals.get("top_k")
		top_k = 20 if top_k is None else top_k
		if top_k < 0:
			return self._oss_resp(400, {"detail": "Invalid top_k: %d. Must be a non-negative integer." % top_k})
		threshold = vals.get("threshold")
		threshold = 0.1 if threshold is None else threshold
		if threshold < 0 or threshold > 1:
			return self._oss_resp(400, {"detail": "Invalid threshold: %s. Must be between 0 and 1 (inclusive)." % threshold})
		with self.lock:
			self.counters["searches"] += 1
			hits = []
			for m in self._ordered():
				if not match_filters(m, filters):
					continue
				if not vals.get("show_expired") and is_expired(m):
					continue
				s = word_score(query, m["memory"])
				if s <= 0 or s < threshold:
					continue
				item = self._oss_item(m, score=s)
				if vals.get("explain"):
					item["score_details"] = {"semantic": s, "bm25": s, "entity": 0.0}
				hits.append((s, -m["seq"], item))
			hits.sort(key=lambda t: (-t[0], t[1]))
		return self._oss_resp(200, {"results": [h[2] for h in hits[:top_k]]})

	def oss_reset(self, req):
		err = self._oss_auth(req, admin=True)
		if err:
			return err
		with self.lock:
			self.memories = {}
			self.history = {}
			self.entities = {}
		return self._oss_resp(200, {"message": "All memories reset"})

	def oss_entities(self, req):
		err = self._oss_auth(req)
		if err:
			return err
		buckets = {}
		with self.lock:
			for m in self._ordered():
				for etype in ("user", "agent", "run"):
					v = m.get(ENTITY_TYPES[etype])
					if not v:
						continue
					b = buckets.setdefault((etype, v), {"total_memories": 0, "created_at": None, "updated_at": None})
					b["total_memories"] += 1
					if b["created_at"] is None or m["created_at"] < b["created_at"]:
						b["created_at"] = m["created_at"]
					if b["updated_at"] is None or m["updated_at"] > b["updated_at"]:
						b["updated_at"] = m["updated_at"]
		out = []
		for (etype, eid) in sorted(buckets):
			b = buckets[(etype, eid)]
			out.append({"id": eid, "type": etype, "total_memories": b["total_memories"],
				"created_at": iso_drf(b["created_at"]), "updated_at": iso_drf(b["updated_at"])})
		return self._oss_resp(200, out)

	def oss_entity(self, req, etype, eid):
		err = self._oss_auth(req, admin=True)
		if err:
			return err
		if etype not in ("user", "agent", "run"):
			return self._oss_resp(422, {"detail": [_err("literal_error", ("path", "entity_type"),
				"Input should be 'user', 'agent' or 'run'", etype, {"expected": "'user', 'agent' or 'run'"})]})
		key = ENTITY_TYPES[etype]
		with self.lock:
			for m in list(self._ordered()):
				if m.get(key) == eid:
					self._delete_memory(m["id"])
		return self._oss_resp(200, {"message": "Entity deleted"})

	# ==================================================================
	# Platform dialect (Django / DRF)
	# ==================================================================

	def _p_resp(self, status, obj, extra=None):
		return Resp(status, json_dumps(obj), [("Content-Type", "application/json"), ("Vary", "Accept")] + list(extra or []))

	def _p_404_html(self):
		return Resp(404, DJANGO_404, [("Content-Type", "text/html; charset=utf-8")])

	def _p_auth(self, req):
		authz = req.header("Authorization")
		hdr = [("WWW-Authenticate", "Token")]
		if not authz:
			return self._p_resp(401, {"detail": PLATFORM_NO_KEY}, hdr)
		parts = authz.split()
		if not parts or parts[0].lower() != "token":
			return self._p_resp(401, {"detail": PLATFORM_NO_KEY}, hdr)
		if len(parts) == 1:
			return self._p_resp(401, {"detail": "Invalid token header. No credentials provided."}, hdr)
		if len(parts) > 2:
			return self._p_resp(401, {"detail": "Invalid token header. Token string should not contain spaces."}, hdr)
		want = self.args.platform_key
		if want is not None and parts[1] != want:
			return self._p_resp(401, {"detail": PLATFORM_BAD_KEY}, hdr)
		return None

	def _p_data(self, req):
		"""DRF request.data. Returns (data, error_resp)."""
		raw = req.body
		if not raw.strip():
			return {}, None
		ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
		if ctype == "application/json" or ctype.endswith("+json"):
			try:
				def _bad_const(c):
					raise ValueError("Out of range float values are not JSON compliant: %s" % c)
				return json.loads(raw.decode("utf-8"), parse_constant=_bad_const), None
			except (ValueError, UnicodeDecodeError) as e:
				return None, self._p_resp(400, {"detail": "JSON parse error - %s" % e})
		if ctype == "application/x-www-form-urlencoded":
			return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)), None
		return None, self._p_resp(415, {"detail": "Unsupported media type \"%s\" in request." % (req.header("Content-Type") or "")})

	# route table: (pattern segments, methods, handler); '*' = any segment,
	# '#' = one of user/agent/app/run
	P_ROUTES = [
		(("v1", "ping"), ("GET",), "ping"),
		(("v1", "memories", "search"), ("POST",), "search_v1"),
		(("v2", "memories", "search"), ("POST",), "search_v2"),
		(("v3", "memories", "search"), ("POST",), "search_v3"),
		(("v3", "memories", "add"), ("POST",), "add_v3"),
		(("v1", "memories", "events"), ("GET",), "memory_events"),
		(("v1", "memories", "*", "history"), ("GET",), "history"),
		(("v1", "memories", "*", "*"), ("GET",), "entity_memories"),
		(("v1", "memories", "*"), ("GET", "PUT", "DELETE"), "memory"),
		(("v1", "memories"), ("GET", "POST", "DELETE"), "memories_v1"),
		(("v3", "memories"), ("POST",), "list_v3"),
		(("v2", "memories"), ("POST",), "list_v2"),
		(("v1", "batch"), ("PUT", "DELETE"), "batch"),
		(("v1", "entities", "filters"), ("GET",), "entity_filters"),
		(("v1", "entities"), ("GET",), "entities"),
		(("v1", "entities", "*", "*"), ("DELETE",), "entity_v1"),
		(("v2", "entities", "*", "*"), ("GET", "DELETE"), "entity_v2"),
		(("v1", "exports"), ("POST",), "export_create"),
		(("v1", "exports", "get"), ("POST",), "export_get"),
		(("v1", "event", "*"), ("GET",), "event"),
		(("v1", "events"), ("GET",), "events"),
		(("v1", "stats"), ("GET",), "stats"),
		(("v1", "summary"), ("POST",), "summary"),
		(("v1", "feedback"), ("POST",), "feedback"),
		(("v1", "users"), ("POST",), "create_entity"),
		(("v1", "agents"), ("POST",), "create_entity"),
		(("v1", "apps"), ("POST",), "create_entity"),
		(("v1", "runs"), ("POST",), "create_entity"),
	]

	def _p_match(self, segs):
		hits = []
		for pat, methods, name in self.P_ROUTES:
			if len(pat) != len(segs):
				continue
			params = []
			ok = True
			for p, s in zip(pat, segs):
				if p == "*":
					if s == "":
						ok = False
						break
					params.append(s)
				elif p != s:
					ok = False
					break
			if ok:
				hits.append((methods, name, params))
		return hits

	def platform(self, req, collapsed):
		trailing = collapsed.endswith("/")
		raw_segs = collapsed.strip("/").split("/")
		segs = [unquote(s) for s in raw_segs]
		if not trailing:
			if self._p_match(segs):
				loc = collapsed + "/" + ("?" + req.query if req.query else "")
				return Resp(301, b"", [("Content-Type", "text/html; charset=utf-8"), ("Location", loc)])
			return self._p_404_html()
		hits = self._p_match(segs)
		if not hits:
			return self._p_404_html()
		# Django resolves the first matching URL pattern, whatever the method
		hits = hits[:1]
		method = "GET" if req.method == "HEAD" else req.method
		chosen = None
		for methods, name, params in hits:
			if method in methods:
				chosen = (name, params)
				break
		err = self._p_auth(req)
		if err:
			return err
		if req.method == "OPTIONS":
			allowed = sorted({m for h in hits for m in h[0]} | {"OPTIONS"})
			return self._p_resp(200, {"name": "Mock", "description": "", "renders": ["application/json"],
				"parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]},
				[("Allow", ", ".join(allowed))])
		if chosen is None:
			allowed = sorted({m for h in hits for m in h[0]} | {"OPTIONS"})
			return self._p_resp(405, {"detail": "Method \"%s\" not allowed." % req.method}, [("Allow", ", ".join(allowed))])
		data, err = self._p_data(req)
		if err:
			return err
		name, params = chosen
		return getattr(self, "p_" + name)(req, data, *params)

	# ---- formatting ----------------------------------------------------

	def _p_mem(self, m, run_key="session_id", fields=None):
		d = {"id": m["id"], "memory": m["memory"], "user_id": m["user_id"], "agent_id": m["agent_id"],
			"app_id": m["app_id"], run_key: m["run_id"], "metadata": m["metadata"],
			"categories": list(m["categories"]), "created_at": iso_drf(m["created_at"]),
			"updated_at": iso_drf(m["updated_at"]), "expiration_date": m["expiration_date"],
			"structured_attributes": None, "replaced_by": None, "synthesized": False,
			"lifecycle_state": "active"}
		if m.get("immutable"):
			d["immutable"] = True
		if fields:
			d = {k: v for k, v in d.items() if k in fields}
		return d

	def _p_search_item(self, m, score):
		return {"id": m["id"], "memory": m["memory"], "user_id": m["user_id"], "agent_id": m["agent_id"],
			"app_id": m["app_id"], "run_id": m["run_id"], "score": score,
			"score_breakdown": {"semantic": score, "bm25": score, "entity": 0.0},
			"metadata": m["metadata"], "categories": list(m["categories"]),
			"expiration_date": m["expiration_date"], "created_at": iso_drf(m["created_at"]),
			"updated_at": iso_drf(m["updated_at"])}

	def _fmt_event(self, ev):
		d = dict(ev)
		for k in ("created_at", "updated_at", "started_at", "completed_at"):
			d[k] = iso_drf(ev[k])
		return d

	def _page_url(self, req, page, page_size=None):
		host = req.header("Host") or "127.0.0.1"
		pairs = [(k, v) for k, v in req.qlist() if k not in ("page",)]
		if page_size is not None:
			pairs = [(k, v) for k, v in pairs if k != "page_size"]
		if page > 1 or page_size is not None:
			pairs.append(("page", str(page)))
		if page_size is not None:
			pairs.append(("page_size", str(page_size)))
		path = re.sub(r"/+", "/", req.path)
		q = urlencode(pairs)
		return "http://%s%s%s" % (host, path, ("?" + q) if q else "")

	def _paginate(self, req, items, page, page_size, always_size_in_url=True):
		"""DRF PageNumberPagination. Returns envelope dict or None for 'Invalid page.'."""
		try:
			page = int(page)
		except (TypeError, ValueError):
			if page in (None, "last"):
				page = 1
			else:
				return None
		count = len(items)
		pages = max(1, (count + page_size - 1) // page_size)
		if page < 1 or page > pages:
			return None
		start = (page - 1) * page_size
		res = items[start:start + page_size]
		ps = page_size if always_size_in_url else None
		nxt = self._page_url(req, page + 1, ps) if page < pages else None
		prev = self._page_url(req, page - 1, ps) if page > 1 else None
		return {"count": count, "next": nxt, "previous": prev, "results": res}

	@staticmethod
	def _page_size(raw, default, maximum):
		try:
			n = int(raw)
		except (TypeError, ValueError):
			return default
		if n < 1:
			return default
		return min(n, maximum)

	# ---- ping ------------------------------------------------------------

	def p_ping(self, req, data):
		return self._p_resp(200, {"status": "ok", "org_id": "org-mock", "project_id": "proj-mock",
			"user_email": "owner@example.com"})

	# ---- add -------------------------------------------------------------

	def _p_add_common(self, req, data, legacy=False):
		"""Validate an add body; returns (ids, msgs, error_resp)."""
		def bad(msg):
			if legacy:
				return self._p_resp(400, {"error": "400 Bad Request", "details": {"message": msg}})
			return self._p_resp(400, {"error": msg})
		if not isinstance(data, dict):
			return None, None, bad("Invalid request body.")
		msgs = data.get("messages")
		if isinstance(msgs, str):
			msgs = [{"role": "user", "content": msgs}]
		if not isinstance(msgs, list) or not msgs:
			return None, None, bad("messages is required and must be a non-empty list.")
		for m in msgs:
			if not isinstance(m, dict) or "role" not in m or "content" not in m:
				return None, None, bad("Each message must be an object with 'role' and 'content'.")
			if m["role"] not in ("user", "assistant", "system"):
				return None, None, bad("Invalid role '%s'. Allowed roles: user, assistant, system." % m["role"])
		ids = {}
		for k in ENTITY_KEYS:
			v = data.get(k)
			if v not in (None, ""):
				ids[k] = str(v)
		flt = data.get("filters")
		if isinstance(flt, dict):
			for k in ENTITY_KEYS:
				v = flt.get(k)
				if v not in (None, "") and k not in ids:
					ids[k] = str(v)
		if not ids:
			return None, None, bad("At least one of user_id, agent_id, app_id or run_id is required.")
		return ids, msgs, None

	@staticmethod
	def _msg_text(content):
		if isinstance(content, str):
			return content
		if isinstance(content, dict):
			url = (content.get("image_url") or {}).get("url") if isinstance(content.get("image_url"), dict) else None
			if url:
				return "image: %s" % url
			return json.dumps(content, ensure_ascii=False)
		return str(content)

	def _p_store_add(self, data, ids, msgs, infer):
		"""Store memories for one add call; returns (event, created memories)."""
		created = []
		eid = str(uuid.uuid4())
		meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else None
		for msg in msgs:
			role = msg["role"]
			if role == "system":
				continue
			if infer and role != "user":
				continue
			m = self._new_memory(self._msg_text(msg["content"]), ids, metadata=meta, role=role,
				actor_id=msg.get("name") if isinstance(msg.get("name"), str) else None,
				messages=msgs, event_id=eid, expiration_date=data.get("expiration_date"),
				immutable=bool(data.get("immutable")))
			created.append(m)
		when = now_utc()
		results = [{"id": m["id"], "data": {"memory": m["memory"]}, "event": "ADD"} for m in created]
		ev = {"id": eid, "event_type": "ADD", "status": "SUCCEEDED", "payload": copy.deepcopy(data),
			"metadata": None, "results": results, "created_at": when, "updated_at": when,
			"started_at": when, "completed_at": when, "latency": 1.0, "graph_status": None, "error": None}
		self.events[eid] = ev
		self.counters["adds"] += 1
		return ev, created

	def p_add_v3(self, req, data):
		ids, msgs, err = self._p_add_common(req, data)
		if err:
			return err
		infer = data.get("infer", True)
		infer = infer not in (False, "false", "False", 0)
		with self.lock:
			ev, created = self._p_store_add(data, ids, msgs, infer)
		if infer:
			return self._p_resp(200, {"event_id": ev["id"], "status": "PENDING"})
		return self._p_resp(200, {"message": "Memory processing has been completed.", "status": "SUCCEEDED",
			"event_id": ev["id"], "results": ev["results"]})

	def _p_add_legacy(self, req, data):
		ids, msgs, err = self._p_add_common(req, data, legacy=True)
		if err:
			return err
		infer = data.get("infer", True) not in (False, "false", "False", 0)
		async_mode = data.get("async_mode", True) not in (False, "false", "False", 0)
		with self.lock:
			ev, created = self._p_store_add(data, ids, msgs, infer)
		v11 = data.get("output_format") == "v1.1"
		if async_mode:
			items = [{"message": "Memory processing has been queued for background execution",
				"status": "PENDING", "event_id": ev["id"]}]
			if v11:
				out = {"results": items}
				if data.get("version") == "v2":
					out["relations"] = []
				return self._p_resp(200, out)
			return self._p_resp(200, items)
		items = [{"id": m["id"], "memory": m["memory"], "event": "ADD"} for m in created]
		if v11:
			return self._p_resp(200, {"results": items})
		return self._p_resp(200, items)

	# ---- list ------------------------------------------------------------

	def _p_visible(self, flt, show_expired=False, start_date=None, end_date=None, categories=None, keywords=None):
		out = []
		for m in self._ordered(newest_first=True):
			if not match_filters(m, flt):
				continue
			if not show_expired and is_expired(m):
				continue
			day = iso_drf(m["created_at"])[:10]
			if start_date and day < str(start_date)[:10]:
				continue
			if end_date and day > str(end_date)[:10]:
				continue
			if categories and not set(categories) & set(m["categories"]):
				continue
			if keywords and str(keywords).lower() not in m["memory"].lower():
				continue
			out.append(m)
		return out

	def _p_top_level_ids(self, data):
		return [k for k in ENTITY_KEYS if isinstance(data, dict) and k in data and data[k] not in (None, "")]

	def p_list_v3(self, req, data):
		if isinstance(data, dict) and "messages" in data:
			return self.p_add_v3(req, data)  # 2.0.0b0 / 3.0.0-beta.0 add
		if not isinstance(data, dict):
			return self._p_resp(400, {"error": "Invalid request body."})
		top = self._p_top_level_ids(data)
		if top:
			return self._p_resp(400, {"error": "Top-level entity parameters (%s) are not supported. Pass them inside 'filters'." % ", ".join(top)})
		flt = data.get("filters")
		if not isinstance(flt, dict) or not flt:
			return self._p_resp(400, {"error": "filters is required and must be a non-empty object."})
		if not filters_have_entity(flt):
			return self._p_resp(400, {"error": "filters must contain at least one of: user_id, agent_id, app_id, run_id."})
		page = req.qget("page") if req.qhas("page") else data.get("page", 1)
		ps_raw = req.qget("page_size") if req.qhas("page_size") else data.get("page_size")
		page_size = self._page_size(ps_raw, 100, 200)
		with self.lock:
			ms = self._p_visible(flt, bool(data.get("show_expired")), data.get("start_date"), data.get("end_date"),
				data.get("categories"), data.get("keywords"))
			items = [self._p_mem(m, "session_id", data.get("fields")) for m in ms]
		env = self._paginate(req, items, page, page_size)
		if env is None:
			return self._p_resp(404, {"detail": "Invalid page."})
		return self._p_resp(200, env)

	def p_list_v2(self, req, data):
		if not isinstance(data, dict):
			return self._p_resp(400, {"error": "Invalid request body."})
		flt = data.get("filters")
		flt = dict(flt) if isinstance(flt, dict) else {}
		for k in self._p_top_level_ids(data):
			flt[k] = data[k]
		if not filters_have_entity(flt):
			return self._p_resp(400, {"error": "One of the filters: app_id, user_id, agent_id, run_id is required!"})
		with self.lock:
			ms = self._p_visible(flt, bool(data.get("show_expired")))
			items = [self._p_mem(m, "session_id", data.get("fields")) for m in ms]
		page = req.qget("page") if req.qhas("page") else data.get("page")
		ps = req.qget("page_size") if req.qhas("page_size") else data.get("page_size")
		if page is not None and ps is not None:
			env = self._paginate(req, items, page, self._page_size(ps, 100, 200))
			if env is None:
				return self._p_resp(404, {"detail": "Invalid page."})
			return self._p_resp(200, env)
		return self._p_resp(200, items)

	def p_memories_v1(self, req, data):
		if req.method == "POST":
			return self._p_add_legacy(req, data)
		if req.method == "DELETE":
			return self._p_delete_all(req)
		flt = {}
		for k in ENTITY_KEYS:
			v = req.qget(k)
			if v not in (None, ""):
				flt[k] = v
		if not flt:
			return self._p_resp(400, ["One of the filters: app_id, user_id, agent_id, run_id is required!"])
		md = req.qget("metadata")
		if md:
			try:
				flt["metadata"] = json.loads(md)
			except ValueError:
				return self._p_resp(400, {"error": "metadata must be valid JSON"})
		limit = req.qget("limit")
		if limit is not None:
			try:
				limit = int(limit)
			except ValueError:
				return self._p_resp(400, {"error": "limit must be an integer"})
			if limit > 200:
				return self._p_resp(400, {"error": "limit must be <= 200"})
		else:
			limit = 100
		cats = [c for v in [vv for kk, vv in req.qlist() if kk == "categories"] for c in v.split(",") if c]
		fields = [c for v in [vv for kk, vv in req.qlist() if kk == "fields"] for c in v.split(",") if c]
		with self.lock:
			ms = self._p_visible(flt, req.qget("show_expired") in ("true", "True", "1"),
				req.qget("start_date"), req.qget("end_date"), cats or None, req.qget("keywords"))
			items = [self._p_mem(m, "session_id", fields or None) for m in ms]
		if req.qhas("page") and req.qhas("page_size"):
			env = self._paginate(req, items, req.qget("page"), self._page_size(req.qget("page_size"), 100, 200))
			if env is None:
				return self._p_resp(404, {"detail": "Invalid page."})
			return self._p_resp(200, env)
		return self._p_resp(200, items[:limit])

	def _p_delete_all(self, req):
		flt = {}
		for k in ENTITY_KEYS:
			v = req.qget(k)
			if v not in (None, ""):
				flt[k] = v
		md = req.qget("metadata")
		if md:
			try:
				flt["metadata"] = json.loads(md)
			except ValueError:
				return self._p_resp(400, {"error": "metadata must be valid JSON"})
		if not flt and not self.args.legacy_wipe:
			return self._p_resp(400, {"error": "At least one filter is required to delete memories: user_id, agent_id, app_id, run_id or metadata. Use '*' to match all entities of a type."})
		with self.lock:
			victims = [m for m in self._ordered() if match_filters(m, flt)]
			for m in victims:
				self._delete_memory(m["id"])
			ev = self._new_event("DELETE", {k: v for k, v in req.qlist()},
				[{"id": m["id"], "event": "DELETE", "data": {"memory": m["memory"]}} for m in victims])
		return self._p_resp(200, {"message": DELETE_QUEUED, "event_id": ev["id"]})

	# ---- search ----------------------------------------------------------

	def _p_search(self, flt, query, top_k, threshold, show_expired=False, categories=None):
		with self.lock:
			self.counters["searches"] += 1
			hits = []
			for m in self._ordered(newest_first=True):
				if not match_filters(m, flt):
					continue
				if not show_expired and is_expired(m):
					continue
				if categories and not set(categories) & set(m["categories"]):
					continue
				s = word_score(query, m["memory"])
				if s <= 0 or s < threshold:
					continue
				hits.append((s, -m["seq"], m))
			hits.sort(key=lambda t: (-t[0], t[1]))
			return [(h[0], h[2]) for h in hits[:top_k]]

	@staticmethod
	def _num(v, default, kind=float):
		if v is None:
			return default
		try:
			return kind(v)
		except (TypeError, ValueError):
			return None

	def p_search_v3(self, req, data):
		if not isinstance(data, dict):
			return self._p_resp(400, {"error": "Invalid request body."})
		q = data.get("query")
		if not isinstance(q, str) or not q.strip():
			return self._p_resp(400, {"error": "query is required and must be a non-empty string."})
		top = self._p_top_level_ids(data)
		if top:
			return self._p_resp(400, {"error": "Top-level entity parameters (%s) are not supported. Pass them inside 'filters'." % ", ".join(top)})
		flt = data.get("filters")
		if not isinstance(flt, dict) or not flt:
			return self._p_resp(400, {"error": "filters is required and must be a non-empty object."})
		if not filters_have_entity(flt):
			return self._p_resp(400, {"error": "filters must contain at least one of: user_id, agent_id, app_id, run_id."})
		top_k = self._num(data.get("top_k"), 10, int)
		if top_k is None or top_k < 1 or top_k > 1000:
			return self._p_resp(400, {"error": "top_k must be an integer between 1 and 1000."})
		thr = self._num(data.get("threshold"), 0.1)
		if thr is None:
			return self._p_resp(400, {"error": "threshold must be a number."})
		hits = self._p_search(flt, q, top_k, thr, bool(data.get("show_expired")), data.get("categories"))
		with self.lock:
			res = [self._p_search_item(m, s) for s, m in hits]
		fields = data.get("fields")
		if isinstance(fields, list) and fields:
			res = [{k: v for k, v in r.items() if k in fields} for r in res]
		return self._p_resp(200, {"results": res})

	def p_search_v2(self, req, data):
		if not isinstance(data, dict):
			return self._p_resp(400, {"error": "Invalid request body."})
		q = data.get("query")
		if not isinstance(q, str) or not q.strip():
			return self._p_resp(400, {"error": "query is required."})
		flt = data.get("filters")
		flt = dict(flt) if isinstance(flt, dict) else {}
		for k in self._p_top_level_ids(data):
			flt[k] = data[k]
		if not filters_have_entity(flt):
			return self._p_resp(400, {"error": "One of the filters: app_id, user_id, agent_id, run_id is required!"})
		top_k = self._num(data.get("top_k"), 10, int) or 10
		thr = self._num(data.get("threshold"), 0.3)
		thr = 0.3 if thr is None else thr
		hits = self._p_search(flt, q, top_k, thr, bool(data.get("show_expired")), data.get("categories"))
		with self.lock:
			res = [self._p_search_item(m, s) for s, m in hits]
		return self._p_resp(200, res)

	def p_search_v1(self, req, data):
		if not isinstance(data, dict):
			return self._p_resp(400, {"error": "Invalid request body."})
		q = data.get("query")
		if not isinstance(q, str) or not q.strip():
			return self._p_resp(400, {"error": "query is required."})
		flt = {}
		for k in ENTITY_KEYS:
			if data.get(k) not in (None, ""):
				flt[k] = data[k]
		if isinstance(data.get("filters"), dict):
			flt.update(data["filters"])
		if isinstance(data.get("metadata"), dict):
			flt["metadata"] = data["metadata"]
		if not filters_have_entity(flt):
			return self._p_resp(400, {"error": "One of the filters: app_id, user_id, agent_id, run_id is required!"})
		top_k = self._num(data.get("top_k"), 10, int) or 10
		thr = self._num(data.get("threshold"), 0.0)
		hits = self._p_search(flt, q, top_k, thr or 0.0, False, data.get("categories"))
		with self.lock:
			res = [self._p_search_item(m, s) for s, m in hits]
		if data.get("output_format") == "v1.1":
			return self._p_resp(200, {"results": res, "relations": []})
		return self._p_resp(200, res)

	# ---- single memory ---------------------------------------------------

	def p_memory(self, req, data, mid):
		if not is_uuid(mid):
			return self._p_resp(400, {"error": "memory_id should be a valid UUID"})
		mid = norm_uuid(mid)
		with self.lock:
			m = self.memories.get(mid)
			if m is None:
				return self._p_resp(404, {"error": "Memory not found!"})
			if req.method in ("GET", "HEAD"):
				return self._p_resp(200, self._p_mem(m))
			if req.method == "PUT":
				if not isinstance(data, dict):
					return self._p_resp(400, {"error": "Invalid request body."})
				if "text" in data and data["text"] is not None and not isinstance(data["text"], str):
					return self._p_resp(400, {"error": "text must be a string."})
				if "metadata" in data and data["metadata"] is not None and not isinstance(data["metadata"], dict):
					return self._p_resp(400, {"error": "metadata must be an object."})
				self._update_memory(m, text=data.get("text"), metadata=data.get("metadata"),
					set_metadata="metadata" in data, expiration=data.get("expiration_date"),
					set_exp="expiration_date" in data)
				return self._p_resp(200, self._p_mem(m))
			# DELETE
			linked = req.qget("delete_linked") in ("true", "True", "1")
			cascade = 0
			if linked and m.get("event_id"):
				for other in list(self._ordered()):
					if other["id"] != mid and other.get("event_id") == m["event_id"]:
						self._delete_memory(other["id"])
						cascade += 1
			self._delete_memory(mid)
		out = {"message": "Memory deleted successfully!"}
		if linked:
			out["cascade_count"] = cascade
		return self._p_resp(200, out)

	def p_history(self, req, data, mid):
		if not is_uuid(mid):
			return self._p_resp(400, {"error": "memory_id should be a valid UUID"})
		mid = norm_uuid(mid)
		with self.lock:
			out = [self._p_hist(h) for h in self.history.get(mid, [])]
		return self._p_resp(200, out)

	def _p_hist(self, h):
		return {"id": h["id"], "memory_id": h["memory_id"], "input": h["input"], "old_memory": h["old_memory"],
			"new_memory": h["new_memory"], "user_id": h["user_id"], "agent_id": h["agent_id"],
			"app_id": h["app_id"], "session_id": h["run_id"], "categories": h["categories"],
			"event": h["event"], "metadata": h["metadata"], "created_at": iso_drf(h["created_at"]),
			"updated_at": iso_drf(h["updated_at"])}

	def p_memory_events(self, req, data):
		with self.lock:
			allh = [h for hs in self.history.values() for h in hs]
			allh.sort(key=lambda h: h["updated_at"], reverse=True)
			items = [self._p_hist(h) for h in allh]
		env = self._paginate(req, items, req.qget("page", 1), self._page_size(req.qget("limit"), 50, 1000), False)
		if env is None:
			return self._p_resp(404, {"detail": "Invalid page."})
		return self._p_resp(200, env)

	def p_entity_memories(self, req, data, etype, eid):
		if etype not in ENTITY_TYPES:
			return self._p_resp(400, {"error": "Invalid entity type"})
		key = ENTITY_TYPES[etype]
		with self.lock:
			ms = [m for m in self._ordered(newest_first=True) if m.get(key) == eid]
			items = [{"id": m["id"], "memory": m["memory"], "metadata": m["metadata"],
				"categories": list(m["categories"]), "created_at": iso_drf(m["created_at"]),
				"updated_at": iso_drf(m["updated_at"]), "input": copy.deepcopy(m["input"]),
				"is_updated": m["updated_at"] != m["created_at"]} for m in ms]
		env = self._paginate(req, items, req.qget("page", 1), 100, False)
		if env is None:
			return self._p_resp(404, {"detail": "Invalid page."})
		return self._p_resp(200, env)

	# ---- batch -----------------------------------------------------------

	def p_batch(self, req, data):
		verb = "updated" if req.method == "PUT" else "deleted"
		mems = data.get("memories") if isinstance(data, dict) else None
		if not isinstance(mems, list) or not mems:
			return self._p_resp(400, {"error": "memories must be a non-empty list."})
		if len(mems) > 1000:
			return self._p_resp(400, {"error": "Maximum of 1000 memories can be %s in a single request" % verb})
		for it in mems:
			if not isinstance(it, dict) or not is_uuid(it.get("memory_id")):
				return self._p_resp(400, {"error": "memory_id should be a valid UUID"})
		n = 0
		with self.lock:
			for it in mems:
				mid = norm_uuid(it["memory_id"])
				m = self.memories.get(mid)
				if m is None:
					continue
				if req.method == "PUT":
					self._update_memory(m, text=it.get("text"), metadata=it.get("metadata"),
						set_metadata="metadata" in it)
				else:
					self._delete_memory(mid)
				n += 1
		return self._p_resp(200, {"message": "Successfully %s %d memories" % (verb, n)})

	# ---- entities --------------------------------------------------------

	def _p_entity(self, ent):
		total = sum(1 for m in self.memories.values() if m.get(ENTITY_TYPES[ent["type"]]) == ent["name"])
		return {"id": str(ent["id"]), "name": ent["name"], "created_at": iso_drf(ent["created_at"]),
			"updated_at": iso_drf(ent["updated_at"]), "owner": ent["owner"], "metadata": ent["metadata"],
			"type": ent["type"], "total_memories": total}

	def p_entities(self, req, data):
		with self.lock:
			ents = sorted(self.entities.values(), key=lambda e: e["id"])
			items = [self._p_entity(e) for e in ents]
			totals = {t: sum(1 for e in ents if e["type"] == t) for t in ENTITY_TYPES}
		env = self._paginate(req, items, req.qget("page", 1), self._page_size(req.qget("page_size"), 100, 1000),
			req.qhas("page_size"))
		if env is None:
			return self._p_resp(404, {"detail": "Invalid page."})
		env["total_users"] = totals["user"]
		env["total_agents"] = totals["agent"]
		env["total_apps"] = totals["app"]
		env["total_runs"] = totals["run"]
		return self._p_resp(200, env)

	def p_entity_filters(self, req, data):
		with self.lock:
			users = [e["name"] for e in sorted(self.entities.values(), key=lambda e: e["id"]) if e["type"] == "user"]
			cats = sorted({c for m in self.memories.values() for c in m["categories"]})
		return self._p_resp(200, {"event_type": ["ADD", "UPDATE", "DELETE"], "categories": cats,
			"users": users, "parameters": []})

	def _p_delete_entity(self, etype, name):
		key = ENTITY_TYPES[etype]
		victims = [m for m in self._ordered() if m.get(key) == name]
		for m in victims:
			self._delete_memory(m["id"])
		self.entities.pop((etype, name), None)
		ev = self._new_event("DELETE", {"entity_type": etype, "entity_id": name},
			[{"id": m["id"], "event": "DELETE", "data": {"memory": m["memory"]}} for m in victims])
		return ev

	def p_entity_v2(self, req, data, etype, name):
		if etype not in ENTITY_TYPES:
			return self._p_resp(400, {"message": "Invalid entity type"})
		with self.lock:
			if req.method in ("GET", "HEAD"):
				ent = self.entities.get((etype, name))
				return self._p_resp(200, [self._p_entity(ent)] if ent else [])
			ev = self._p_delete_entity(etype, name)
		return self._p_resp(200, {"message": DELETE_QUEUED, "event_id": ev["id"]})

	def p_entity_v1(self, req, data, etype, num):
		if etype not in ENTITY_TYPES:
			return self._p_resp(400, {"message": "Invalid entity type"})
		try:
			n = int(num)
		except ValueError:
			return self._p_resp(400, {"error": "Invalid entity ID. Must be an integer."})
		with self.lock:
			ent = next((e for e in self.entities.values() if e["id"] == n and e["type"] == etype), None)
			if ent is None:
				return self._p_resp(404, {"error": "Entity not found"})
			ev = self._p_delete_entity(etype, ent["name"])
		return self._p_resp(200, {"message": DELETE_QUEUED, "event_id": ev["id"]})

	def p_create_entity(self, req, data, *unused):
		kind = re.sub(r"/+", "/", req.path).strip("/").split("/")[-1][:-1]  # users -> user
		key = ENTITY_TYPES[kind]
		if not isinstance(data, dict) or not isinstance(data.get(key), str) or not data[key]:
			return self._p_resp(400, {"error": "%s is required" % key})
		with self.lock:
			ent = self._touch_entity(kind, data[key], now_utc(), data.get("metadata") if isinstance(data.get("metadata"), dict) else None)
			return self._p_resp(201, self._p_entity(ent))

	# ---- exports ---------------------------------------------------------

	@staticmethod
	def _export_filters(flt):
		"""Accept flat {"user_id":..} and {"AND":[..]} / {"OR":[..]} forms."""
		if not isinstance(flt, dict):
			return None
		return flt if filters_have_entity(flt) else None

	def _export_value(self, prop, ms):
		ptype = prop.get("type") if isinstance(prop, dict) else None
		if ptype == "array":
			items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
			if items.get("type") == "object":
				props = items.get("properties") or {}
				out = []
				for m in ms:
					flat = self._p_mem(m)
					out.append({k: flat.get(k, m["memory"]) for k in props} if props else {"memory": m["memory"]})
				return out
			return [m["memory"] for m in ms]
		if ptype == "object":
			props = prop.get("properties") or {}
			return {k: self._export_value(v, ms) for k, v in props.items()}
		if ptype in ("integer", "number"):
			return len(ms)
		if ptype == "boolean":
			return bool(ms)
		return "; ".join(m["memory"] for m in ms)

	def p_export_create(self, req, data):
		if not isinstance(data, dict):
			return self._p_resp(400, {"message": "Schema is required and must be a valid object"})
		schema = data.get("schema")
		if isinstance(schema, str):
			try:
				schema = json.loads(schema)
			except ValueError:
				schema = None
		if not isinstance(schema, dict):
			return self._p_resp(400, {"message": "Schema is required and must be a valid object"})
		flt = data.get("filters")
		if flt is None:
			flt = {k: data[k] for k in ENTITY_KEYS if data.get(k)}
		flt = self._export_filters(flt)
		if flt is None:
			return self._p_resp(400, {"error": "One of the filters: app_id, user_id, agent_id, run_id, memory_export_id is required!"})
		with self.lock:
			ms = [m for m in self._ordered() if match_filters(m, flt)]
			props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
			result = {k: self._export_value(v, ms) for k, v in props.items()}
			xid = str(uuid.uuid4())
			self.exports[xid] = {"id": xid, "schema": schema, "filters": flt, "result": result,
				"export_instructions": data.get("export_instructions"), "created_at": now_utc(),
				"gets": 0, "memory_ids": [m["id"] for m in ms]}
		return self._p_resp(201, {"message": EXPORT_CREATED, "id": xid})

	def p_export_get(self, req, data):
		if not isinstance(data, dict):
			data = {}
		xid = data.get("memory_export_id")
		flt = data.get("filters")
		with self.lock:
			exp = None
			if xid:
				exp = self.exports.get(str(xid))
			elif isinstance(flt, dict) and filters_have_entity(flt):
				for e in sorted(self.exports.values(), key=lambda e: e["created_at"], reverse=True):
					have = _flat_ids(e["filters"])
					if all(have.get(k) == v for k, v in _flat_ids(flt).items()):
						exp = e
						break
			else:
				return self._p_resp(400, {"message": "One of the filters: app_id, user_id, agent_id, run_id is required!"})
			if exp is None:
				return self._p_resp(404, {"error": "No memory export request found"})
			exp["gets"] += 1
			if exp["gets"] <= self.args.export_not_ready:
				return self._p_resp(404, {"error": "No memory export request found"})
			return self._p_resp(200, exp["result"])

	# ---- events / misc ---------------------------------------------------

	def p_event(self, req, data, eid):
		with self.lock:
			ev = self.events.get(eid)
			if ev is None:
				return self._p_resp(404, {"error": "Event not found or you don't have permission to access it."})
			return self._p_resp(200, self._fmt_event(ev))

	def p_events(self, req, data):
		with self.lock:
			evs = sorted(self.events.values(), key=lambda e: e["created_at"], reverse=True)
			items = [self._fmt_event(e) for e in evs]
		env = self._paginate(req, items, req.qget("page", 1), self._page_size(req.qget("page_size"), 50, 1000),
			req.qhas("page_size"))
		if env is None:
			return self._p_resp(404, {"detail": "Invalid page."})
		return self._p_resp(200, env)

	def p_stats(self, req, data):
		with self.lock:
			return self._p_resp(200, {"total_memories": len(self.memories),
				"total_users": sum(1 for e in self.entities.values() if e["type"] == "user"),
				"total_agents": sum(1 for e in self.entities.values() if e["type"] == "agent"),
				"total_apps": sum(1 for e in self.entities.values() if e["type"] == "app"),
				"total_runs": sum(1 for e in self.entities.values() if e["type"] == "run"),
				"add_events": self.counters["adds"], "search_events": self.counters["searches"]})

	def p_summary(self, req, data):
		flt = data.get("filters") if isinstance(data, dict) else None
		if not isinstance(flt, dict) or not filters_have_entity(flt):
			return self._p_resp(400, {"error": "filters with at least one of user_id, agent_id, app_id, run_id is required."})
		with self.lock:
			ms = [m for m in self._ordered() if match_filters(m, flt)]
			return self._p_resp(200, [{"summary": " ".join(m["memory"] for m in ms), "memory_count": len(ms)}])

	def p_feedback(self, req, data):
		if not isinstance(data, dict) or not data.get("memory_id"):
			return self._p_resp(400, {"error": "memory_id is required"})
		fb = data.get("feedback")
		if fb not in (None, "POSITIVE", "NEGATIVE", "VERY_NEGATIVE"):
			return self._p_resp(400, {"error": "Invalid feedback value"})
		return self._p_resp(200, {"id": str(data["memory_id"]), "feedback": fb,
			"feedback_reason": data.get("feedback_reason")})


def _flat_ids(flt):
	"""Entity ids named anywhere in a (possibly AND/OR) filter."""
	out = {}
	if not isinstance(flt, dict):
		return out
	for k, v in flt.items():
		k = CAMEL.get(k, k)
		if k.upper() in ("AND", "OR") and isinstance(v, list):
			for x in v:
				out.update(_flat_ids(x))
		elif k in ENTITY_KEYS and isinstance(v, str):
			out[k] = v
	return out


def main(argv=None):
	ap = argparse.ArgumentParser(description="Mock Mem0 server (OSS bare paths + hosted platform /v1-/v3 paths).")
	ap.add_argument("--host", default="127.0.0.1")
	ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
	ap.add_argument("--port-file", help="write the bound port here (atomically) once listening")
	ap.add_argument("--gzip", action="store_true", help="honour Accept-Encoding: gzip")
	ap.add_argument("--oss-admin-key", default=os.environ.get("MOCK_MEM0_OSS_ADMIN_KEY") or None,
		help="require X-API-Key == KEY on the OSS dialect (ADMIN_API_KEY); default open (AUTH_DISABLED)")
	ap.add_argument("--platform-key", default=os.environ.get("MOCK_MEM0_PLATFORM_KEY") or None,
		help="require Authorization: Token KEY on the platform dialect; default any non-empty key")
	ap.add_argument("--legacy-wipe", action="store_true",
		help="DELETE /v1/memories/ with no filter wipes the whole project (older servers) instead of 400")
	ap.add_argument("--export-not-ready", type=int, default=0,
		help="answer the first N POST /v1/exports/get/ per export with 404 (job still running)")
	args = ap.parse_args(argv)
	app = Mem0App(args)
	server = MockServer((args.host, args.port), MockHandler, app)
	serve_mock(server, args.port_file, PROG, SHUTDOWN)
	return 0


if __name__ == "__main__":
	sys.exit(main())
