#!/usr/bin/env python3
"""Start the proxy, the mock Mem0 and the mock Wingman on loopback.

Used by the end-to-end tests, the npm client test and `make demo`:

    with Stack() as s:
        status, headers, body = s.request("POST", "/memories", {...})
        claims = s.wait_claims(1)

As a command, it starts a stack, runs a command with the stack's addresses
in its environment (PROXY_URL, MOCK_MEM0_URL, MOCK_WINGMAN_URL, PROXY_BIN,
PROXY_STATE_DIR) and stops everything, returning the command's exit code:

    tests/e2e/harness.py run -- node --test tests/node/

Everything listens on 127.0.0.1 only. Nothing here outlives the stack.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCKS = os.environ.get("MOCKS_DIR") or os.path.join(ROOT, "tests", "mocks")
BUILD = os.environ.get("BUILD", "build")
PROXY_BIN = os.environ.get("PROXY_BIN", os.path.join(ROOT, BUILD, "mem0-audit-proxy"))
FAULTSHIM = os.path.join(ROOT, BUILD, "tests", "faultshim.so")
PYTHON = sys.executable or "python3"


def free_port():
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise TimeoutError("timed out waiting for " + what)


def http_json(url_host, port, method, path, body=None, headers=None, timeout=10, ssl_context=None):
    if ssl_context is not None:
        conn = http.client.HTTPSConnection(url_host, port, timeout=timeout, context=ssl_context)
    else:
        conn = http.client.HTTPConnection(url_host, port, timeout=timeout)
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, resp.getheaders(), raw


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_cert(d, name, ca=None, server=False, days=2):
    """A key and certificate in d (name.key mode 0600, name.pem), made
    with the openssl command at test time: a self-signed CA when ca is
    None, else signed by ca (a name made here before). Server
    certificates are for 127.0.0.1 and localhost."""
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    os.chmod(key, 0o600)
    if ca is None:
        openssl("req", "-x509", "-new", "-key", key, "-out", pem, "-days", str(days),
                "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return key, pem
    csr, ext = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n")
        if server:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, ca + ".pem"),
            "-CAkey", os.path.join(d, ca + ".key"), "-CAcreateserial", "-out", pem,
            "-days", str(days), "-extfile", ext)
    return key, pem


# The seal every stored claim ends with (src/chain.h).
SEAL = re.compile(r" stream=[0-9a-f]{16} seq=[1-9][0-9]{0,18} chain=[0-9a-f]{32}\]$")


def unseal(claim):
    """A claim without its seal (replayed fallback lines have one too)."""
    m = SEAL.search(claim)
    return claim[:m.start()] + "]" if m else claim


class Pki:
    """A test CA, a server certificate for the proxy, and client
    certificates from that CA (client) and from another (stranger)."""

    def __init__(self, d):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        make_cert(d, "ca")
        self.server_key, self.server_pem = make_cert(d, "server", ca="ca", server=True)
        make_cert(d, "clientca")
        self.client_key, self.client_pem = make_cert(d, "client", ca="clientca")
        make_cert(d, "otherca")
        self.stranger_key, self.stranger_pem = make_cert(d, "stranger", ca="otherca")
        self.ca = os.path.join(d, "ca.pem")
        self.client_ca = os.path.join(d, "clientca.pem")

    def context(self, client=None):
        """An SSL context trusting the test CA; client: "client" or
        "stranger" to present that certificate."""
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        if client == "client":
            ctx.load_cert_chain(self.client_pem, self.client_key)
        elif client == "stranger":
            ctx.load_cert_chain(self.stranger_pem, self.stranger_key)
        return ctx


class Mock:
    """One mock server process (mock_mem0.py or mock_wingman.py)."""

    def __init__(self, script, workdir, args=(), env=None, port=0):
        self.script = script
        self.workdir = workdir
        self.args = list(args)
        self.env = env
        self.port = port
        self.proc = None
        self.log_path = os.path.join(workdir, os.path.basename(script) + ".log")

    def start(self):
        port_file = os.path.join(self.workdir, os.path.basename(self.script) + ".port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        env = dict(os.environ)
        env.update(self.env or {})
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(MOCKS, self.script), "--host", "127.0.0.1",
             "--port", str(self.port), "--port-file", port_file] + self.args,
            stdout=self.log, stderr=self.log, env=env)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(self.script + " exited; see " + self.log_path)
            try:
                with open(port_file) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.port = wait_for(ready, 15, self.script)
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None, headers=None):
        status, _, raw = http_json("127.0.0.1", self.port, method, path, body, headers)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()


class Stack:
    """Proxy + mock Mem0 + mock Wingman. Options:

    config: YAML text for -c (env still wins); env: extra proxy env;
    mem0: False to point the proxy at a closed port; wingman: False to
    start no Wingman (its port stays reserved in wingman_port, start it
    later with start_wingman()); mem0_args / wingman_args: mock options.
    """

    def __init__(self, config=None, env=None, mem0=True, wingman=True,
                 mem0_args=(), wingman_args=(), wingman_env=None, faults=False,
                 state_dir=None, tls=False, client_ca=False):
        self.tmp = tempfile.mkdtemp(prefix="m0ap-e2e-")
        # tls: the client listener speaks TLS with a test CA's certificate
        # (self.pki); client_ca: and takes only clients with a certificate
        # of pki.client_ca. Requests then present pki's "client" one.
        self.pki = Pki(os.path.join(self.tmp, "pki")) if tls else None
        self.ssl_context = self.pki.context("client" if client_ca else None) if tls else None
        if tls:
            env = dict(env or {})
            env.update({"PROXY_TLS_CERT_FILE": self.pki.server_pem,
                        "PROXY_TLS_KEY_FILE": self.pki.server_key})
            if client_ca:
                env["PROXY_TLS_CLIENT_CA_FILE"] = self.pki.client_ca
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        # faults: the proxy runs with tests/faults/faultshim.c preloaded;
        # set its rules with faults() while it runs.
        self.faults_file = os.path.join(self.tmp, "faults") if faults else None
        self.config = config
        self.extra_env = env or {}
        self.want_mem0 = mem0
        self.want_wingman = wingman
        self.mem0 = Mock("mock_mem0.py", self.tmp, mem0_args)
        self.wingman = Mock("mock_wingman.py", self.tmp,
                            list(wingman_args) + ["--data-dir", os.path.join(self.tmp, "wingman-data")],
                            env=wingman_env)
        self.proxy = None
        self.proxy_port = free_port()
        self.admin_port = free_port()
        self.proxy_log_path = os.path.join(self.tmp, "proxy.log")
        self.exit_code = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        running = self.proxy is not None
        code = self.stop_proxy()
        out = self.proxy_output()
        self.stop()
        # A clean exit is part of every test: under SANITIZE=1 a leak or
        # any sanitizer report makes the proxy exit non-zero.
        if exc_type is None and running and code != 0:
            # A sanitizer's report, if there is one, else the log's end.
            at = min([i for i in (out.find("WARNING: ThreadSanitizer"), out.find("ERROR: AddressSanitizer"),
                                  out.find("ERROR: LeakSanitizer"), out.find("runtime error:")) if i >= 0]
                     or [max(0, len(out) - 4000)])
            raise AssertionError("proxy exited with %d:\n%s" % (code, out[at:at + 8000]))
        return False

    def start(self):
        os.makedirs(os.path.join(self.tmp, "wingman-data"), exist_ok=True)
        mem0_url = "http://127.0.0.1:%d" % free_port()
        if self.want_mem0:
            mem0_url = self.mem0.start().url
        if self.want_wingman:
            self.wingman.start()
        else:
            self.wingman.port = free_port()
        self.start_proxy(mem0_url)

    def start_wingman(self):
        self.wingman.start()

    def proxy_env(self, mem0_url):
        env = dict(os.environ)
        env.update({
            "MEM0_URL": mem0_url,
            "WINGMAN_URL": self.wingman.url,
            "PROXY_LISTEN": "127.0.0.1:%d" % self.proxy_port,
            "PROXY_ADMIN_LISTEN": "127.0.0.1:%d" % self.admin_port,
            "PROXY_STATE_DIR": self.state_dir,
        })
        env.update(self.extra_env)
        if self.faults_file is not None:
            if not os.path.exists(FAULTSHIM):
                raise RuntimeError("no %s: make %s" % (FAULTSHIM, FAULTSHIM))
            env["LD_PRELOAD"] = FAULTSHIM
            env["M0AP_FAULTS_FILE"] = self.faults_file
            # A sanitized proxy: its runtime need not come first.
            env["ASAN_OPTIONS"] = ":".join(filter(None, [
                env.get("ASAN_OPTIONS", ""), "verify_asan_link_order=0"]))
        return env

    def faults(self, rules=""):
        """Replace the fault rules (tests/faults/faultshim.c) at once."""
        tmp = self.faults_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(rules)
        os.replace(tmp, self.faults_file)
        time.sleep(0.05)   # the shim looks at the file every 20 ms

    def start_proxy(self, mem0_url=None):
        """Start the proxy and wait for its health. A port free_port()
        found can be taken by another process before the proxy binds it:
        then the proxy says "cannot listen on", and it is started again
        on new ports (at most twice)."""
        for attempt in range(3):
            at = len(self.proxy_output())
            try:
                return self._start_proxy_once(mem0_url)
            except RuntimeError:
                if attempt == 2 or "cannot listen on" not in self.proxy_output()[at:]:
                    raise
                self.proxy_log.close()
                self.proxy = None
                self.proxy_port, self.admin_port = free_port(), free_port()

    def _start_proxy_once(self, mem0_url=None):
        if mem0_url is not None:
            self.mem0_url = mem0_url
        args = [PROXY_BIN]
        if self.config is not None:
            cfg = os.path.join(self.tmp, "proxy.yaml")
            with open(cfg, "w") as f:
                f.write(self.config)
            args += ["-c", cfg]
        self.proxy_log = open(self.proxy_log_path, "ab")
        self.proxy = subprocess.Popen(args, stdout=self.proxy_log, stderr=self.proxy_log,
                                      env=self.proxy_env(self.mem0_url))

        # The admin listener too, unless it is off: the client listener
        # may answer a moment before it does (the daemons start in turn).
        admin = self.extra_env.get("PROXY_ADMIN_LISTEN", "") != "off" and \
            "admin_listen: off" not in (self.config or "")

        def healthy():
            if self.proxy.poll() is not None:
                raise RuntimeError("proxy exited with %d:\n%s" % (self.proxy.returncode, self.proxy_output()))
            try:
                st, _, _ = http_json("127.0.0.1", self.proxy_port, "GET", "/_proxy/healthz", timeout=1,
                                     ssl_context=self.ssl_context)
                if st == 200 and admin:
                    st, _, _ = http_json("127.0.0.1", self.admin_port, "GET", "/healthz", timeout=1)
                return st == 200
            except OSError:
                return False
        wait_for(healthy, 15, "proxy health")

    def stop_proxy(self, sig=signal.SIGTERM, timeout=20):
        """Stop the proxy; returns its exit code."""
        if self.proxy is None:
            return self.exit_code
        if self.proxy.poll() is None:
            self.proxy.send_signal(sig)
            try:
                self.proxy.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
                self.proxy.wait()
        self.exit_code = self.proxy.returncode
        self.proxy_log.close()
        self.proxy = None
        return self.exit_code

    def stop(self):
        self.stop_proxy()
        self.mem0.stop()
        self.wingman.stop()
        if os.environ.get("KEEP_E2E_TMP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------
    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.pki else "http", self.proxy_port)

    def proxy_output(self):
        try:
            with open(self.proxy_log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def request(self, method, path, body=None, headers=None, timeout=30):
        """Send through the proxy: (status, {lower-case header: value}, body bytes)."""
        st, hdrs, raw = http_json("127.0.0.1", self.proxy_port, method, path, body, headers, timeout,
                                  ssl_context=self.ssl_context)
        return st, {k.lower(): v for k, v in hdrs}, raw

    def admin(self, method, path, body=None, headers=None, timeout=30):
        """Ask the admin listener (metrics, approval lookups, status)."""
        st, hdrs, raw = http_json("127.0.0.1", self.admin_port, method, path, body, headers, timeout)
        return st, {k.lower(): v for k, v in hdrs}, raw

    def metric(self, name):
        """One sample of the admin /metrics exposition, by its name with
        labels ('mem0_proxy_holds', 'x_total{result="parsed"}')."""
        raw = self.admin("GET", "/metrics")[2].decode()
        for line in raw.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError("no metric %s in:\n%s" % (name, raw))

    def raw_claims(self):
        """Every claim Wingman logged, as sent: sealed (chain.h), with
        the chain's checkpoint claims."""
        st, body = self.wingman.call("GET", "/_mock/claims")
        assert st == 200, st
        return [c["claim"] for c in body["claims"]]

    def claims(self):
        """The claims about requests, each without its seal: what most
        tests look at (the chain's checkpoints left out), in the order
        the proxy stored them (its seq: Wingman may log two claims sent
        at once the other way round), each once (delivery is at least
        once). A claim that the spool refused was logged unsealed and
        replayed as is: those come last, as logged."""
        sealed, seen, plain = [], set(), []
        for c in self.raw_claims():
            m = SEAL.search(c)
            if m is None:
                plain.append(c)
                continue
            key = (c[m.start():].split()[0], int(c[m.start():].split()[1][4:]))
            if key in seen:
                continue
            seen.add(key)
            sealed.append((key, c))
        sealed.sort(key=lambda kc: kc[0])
        return [unseal(c) for _, c in sealed if not c.startswith("Checkpoint of stream ")] + plain

    def wait_claims(self, n, timeout=10):
        """Wait until Wingman holds at least n claims; return them all."""
        got = []

        def enough():
            got[:] = self.claims()
            return len(got) >= n
        try:
            wait_for(enough, timeout, "%d claims" % n)
        except TimeoutError:
            raise AssertionError("want %d claims, Wingman has %d: %r" % (n, len(got), got))
        return list(got)

    def missing_claims(self, request_ids, timeout=30):
        """Wait until Wingman holds a claim for each of request_ids (the
        set, not a count: requests in flight leave claims too); return
        the ids still without one."""
        want, got = set(request_ids), set()

        def all_there():
            for c in self.claims():
                m = re.search(r"request=([0-9A-Za-z._:-]+)\]", c)
                if m:
                    got.add(m.group(1))
            return want <= got
        try:
            wait_for(all_there, timeout, "the claims of %d requests" % len(want))
        except TimeoutError:
            pass
        return want - got

    def upstream_requests(self):
        st, body = self.mem0.call("GET", "/_mock/requests")
        assert st == 200, st
        return body

    def hash(self, value, kind="user"):
        """The proxy's own pseudonym for value (the `hash` command)."""
        out = subprocess.run([PROXY_BIN, "hash", "--type", kind, value], capture_output=True,
                             text=True, env=self.proxy_env(getattr(self, "mem0_url", "")), check=True)
        return out.stdout.strip()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: harness.py run -- COMMAND...", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    # M0AP_TLS=1: the client listener speaks TLS; Node.js trusts the
    # test CA through NODE_EXTRA_CA_CERTS.
    tls = os.environ.get("M0AP_TLS") == "1"
    with Stack(tls=tls) as s:
        env = dict(os.environ)
        env.update({"PROXY_URL": s.url, "MOCK_MEM0_URL": s.mem0.url,
                    "MOCK_WINGMAN_URL": s.wingman.url, "PROXY_BIN": PROXY_BIN,
                    "PROXY_STATE_DIR": s.state_dir})
        if tls:
            env["NODE_EXTRA_CA_CERTS"] = s.pki.ca
        rc = subprocess.call(cmd, env=env)
        code = s.stop_proxy()
        if code != 0:
            print("proxy exited with %d:\n%s" % (code, s.proxy_output()), file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
