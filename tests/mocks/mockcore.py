"""mockcore: what the two mock servers share (both stdlib only).

Responses, injected faults (POST /_mock/fault) and the request recorder
(GET /_mock/requests) behave the same in mock_mem0.py and mock_wingman.py;
request parsing does not (Starlette and Werkzeug read repeated query
parameters differently), so each mock keeps its own Request.
"""

import json
import os
import signal
import socket
import sys
import threading
from http.server import ThreadingHTTPServer

MAX_RECORDED = 100000


class Resp:
	"""One HTTP response: status, ordered header list, body bytes."""

	def __init__(self, status, body=b"", headers=None, reason=None):
		self.status = int(status)
		if isinstance(body, str):
			body = body.encode("utf-8")
		self.body = body
		self.headers = list(headers or [])
		self.reason = reason


class FaultTable:
	"""Injected faults, consumed by matching requests in order of creation."""

	MODES = ("status", "hang", "close", "reset", "malformed", "delay")

	def __init__(self):
		self.lock = threading.Lock()
		self.items = []
		self.seq = 0

	def add(self, spec):
		if not isinstance(spec, dict):
			raise ValueError("fault must be a JSON object")
		mode = spec.get("mode")
		if mode not in self.MODES:
			raise ValueError("mode must be one of " + ", ".join(self.MODES))
		f = {
			"path_prefix": spec.get("path_prefix"),
			"method": spec.get("method"),
			"mode": mode,
			"status": int(spec.get("status", 500)),
			"body": spec.get("body"),
			"content_type": spec.get("content_type"),
			"delay_ms": int(spec.get("delay_ms", 0) or 0),
			"count": int(spec.get("count", 1)),
		}
		if f["path_prefix"] is not None and not isinstance(f["path_prefix"], str):
			raise ValueError("path_prefix must be a string")
		if f["method"] is not None:
			f["method"] = str(f["method"]).upper()
		if f["body"] is not None and not isinstance(f["body"], str):
			f["body"] = json.dumps(f["body"])
		if f["count"] == 0 or f["count"] < -1:
			raise ValueError("count must be >= 1 or -1")
		with self.lock:
			self.seq += 1
			f["id"] = self.seq
			f["hits"] = 0
			self.items.append(f)
			return dict(f)

	def clear(self):
		with self.lock:
			self.items = []

	def list(self):
		with self.lock:
			return [dict(f) for f in self.items]

	def take(self, method, path):
		with self.lock:
			for f in self.items:
				if f["method"] and f["method"] != method:
					continue
				if f["path_prefix"] is not None and not path.startswith(f["path_prefix"]):
					continue
				f["hits"] += 1
				if f["count"] > 0:
					f["count"] -= 1
					if f["count"] == 0:
						self.items.remove(f)
				return dict(f)
		return None


class Recorder:
	"""Every non-control request, in arrival order."""

	def __init__(self):
		self.lock = threading.Lock()
		self.items = []

	def add(self, rec):
		with self.lock:
			if len(self.items) >= MAX_RECORDED:
				del self.items[0]
			self.items.append(rec)

	def list(self):
		with self.lock:
			return list(self.items)

	def clear(self):
		with self.lock:
			self.items = []


class BodyError(Exception):
	def __init__(self, status, msg):
		Exception.__init__(self, msg)
		self.status = status


class MockServer(ThreadingHTTPServer):
	daemon_threads = True
	allow_reuse_address = True
	request_queue_size = 128

	def __init__(self, addr, handler, app):
		if ":" in addr[0]:
			self.address_family = socket.AF_INET6
		ThreadingHTTPServer.__init__(self, addr, handler)
		self.app = app


def write_port_file(path, port):
	d = os.path.dirname(os.path.abspath(path))
	tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
	with open(tmp, "w") as f:
		f.write("%d\n" % port)
		f.flush()
		os.fsync(f.fileno())
	os.replace(tmp, path)


def serve(server, port_file, prog, shutdown):
	"""Serve until SIGTERM/SIGINT; write the bound port to port_file first."""
	stopping = threading.Event()

	def on_signal(signum, frame):
		if stopping.is_set():
			return
		stopping.set()
		shutdown.set()
		threading.Thread(target=server.shutdown, daemon=True).start()

	signal.signal(signal.SIGTERM, on_signal)
	signal.signal(signal.SIGINT, on_signal)
	port = server.server_address[1]
	sys.stderr.write("[%s] listening on %s:%d\n" % (prog, server.server_address[0], port))
	sys.stderr.flush()
	if port_file:
		write_port_file(port_file, port)
	try:
		server.serve_forever(poll_interval=0.2)
	finally:
		server.server_close()
	sys.stderr.write("[%s] stopped\n" % prog)
	sys.stderr.flush()
