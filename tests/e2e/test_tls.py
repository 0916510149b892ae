#!/usr/bin/env python3
"""End-to-end tests of TLS on the client listener (tls.cert_file,
tls.key_file, tls.client_ca_file), with a test CA made at test time by the
openssl command: curl and Python clients, plain HTTP refused, client
certificates required and checked, a renewed certificate taken on reload
while open connections go on, bad files refused by --check-config, at
start and on reload. (The npm mem0ai client runs over TLS too: tests/run.sh
runs it once more with M0AP_TLS=1.)

Run: tests/e2e/test_tls.py [-k SUBSTRING]; prints "N passed, M failed".
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PROXY_BIN, Stack, free_port, make_cert, wait_for  # noqa: E402
from test_proxy import ALICE, eq, main as run_main  # noqa: E402

ADD = {"messages": [{"role": "user", "content": "I like tea"}], "user_id": ALICE}


def peer_serial(s, ctx=None):
    """The serial number of the certificate the proxy presents now."""
    ctx = ctx or s.ssl_context
    with socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("=", 1)[1]


def cert_serial(pem):
    out = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-serial"],
                         capture_output=True, check=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def test_requests_over_tls_with_curl_and_python_are_claimed():
    with Stack(tls=True) as s:
        st, _, raw = s.request("POST", "/memories", ADD)
        eq(st, 200, raw)
        r = subprocess.run(["curl", "-sS", "--cacert", s.pki.ca, "-o", "/dev/null", "-w",
                            "%{http_code} %{ssl_verify_result}",
                            s.url + "/memories?user_id=alice%40example.com"],
                           capture_output=True, text=True, timeout=30)
        eq(r.stdout, "200 0", r.stderr)
        claims = s.wait_claims(2)
        assert any(c.startswith("Stored memory") for c in claims), claims
        # A client that does not trust the CA fails the handshake.
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", s.url + "/_proxy/healthz"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, "curl trusted an unknown CA"
        # The admin listener stays plain HTTP (loopback).
        eq(s.admin("GET", "/healthz")[0], 200)


def test_plain_http_on_the_tls_port_is_refused():
    with Stack(tls=True) as s:
        with socket.create_connection(("127.0.0.1", s.proxy_port), timeout=5) as c:
            c.sendall(b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            c.settimeout(5)
            try:
                got = c.recv(4096)
            except (ConnectionResetError, socket.timeout):
                got = b""
        assert not got.startswith(b"HTTP/1.1 2"), got
        eq(s.upstream_requests(), [])


def test_client_certificate_required_and_checked():
    with Stack(tls=True, client_ca=True) as s:
        st, _, raw = s.request("POST", "/memories", ADD)
        eq(st, 200, raw)
        # From the right CA, but for servers only (extendedKeyUsage).
        key, pem = make_cert(s.pki.dir, "serveronly", ca="clientca", server=True)
        wrong_use = ssl.create_default_context(cafile=s.pki.ca)
        wrong_use.load_cert_chain(pem, key)
        for who in (None, "stranger", wrong_use):
            ctx = who if isinstance(who, ssl.SSLContext) else s.pki.context(who)
            try:
                c = http.client.HTTPSConnection("127.0.0.1", s.proxy_port, context=ctx, timeout=10)
                c.request("POST", "/reset", body=b"{}", headers={"Content-Type": "application/json"})
                r = c.getresponse()
                st, body = r.status, json.loads(r.read())
                c.close()
            except (ssl.SSLError, ConnectionError) as e:
                st, body = "handshake", str(e)
            eq((st, body["error"] if isinstance(body, dict) else body),
               (403, "client_certificate_required"), who)
        eq([r for r in s.upstream_requests() if r["path"] == "/reset"], [])
        # Clients outside the trust boundary write nothing to the trail.
        time.sleep(0.5)
        claims = s.claims()
        eq(len(claims), 1, claims)
        assert not any("client_certificate_required" in c for c in claims), claims


def test_renewed_certificate_is_taken_on_reload_and_open_connections_go_on():
    with Stack(tls=True) as s:
        old = cert_serial(s.pki.server_pem)
        eq(peer_serial(s), old)
        keep = http.client.HTTPSConnection("127.0.0.1", s.proxy_port, context=s.ssl_context,
                                           timeout=10)
        keep.request("GET", "/_proxy/healthz")
        eq(keep.getresponse().read(), b'{"status":"ok"}')
        # Renew in place (a new key and certificate at the same paths).
        tmp = tempfile.mkdtemp(dir=s.pki.dir)
        shutil.copy(os.path.join(s.pki.dir, "ca.pem"), tmp)
        shutil.copy(os.path.join(s.pki.dir, "ca.key"), tmp)
        key, pem = make_cert(tmp, "server", ca="ca", server=True)
        os.replace(key, s.pki.server_key)
        os.replace(pem, s.pki.server_pem)
        new = cert_serial(s.pki.server_pem)
        assert new != old
        s.proxy.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificate reloaded" in s.proxy_output(), 5, "the reload")
        eq(peer_serial(s), new)
        # The connection opened before the reload still works, and is
        # closed after that answer (the next one goes to the new listener).
        keep.request("GET", "/_proxy/healthz")
        r = keep.getresponse()
        eq((r.read(), r.getheader("Connection")), (b'{"status":"ok"}', "close"))
        keep.close()
        st, _, raw = s.request("POST", "/memories", ADD)
        eq(st, 200, raw)
        # A key that does not fit: the reload fails, the certificate stays.
        make_cert(tmp, "wrong", ca="ca", server=True)
        shutil.copy(os.path.join(tmp, "wrong.key"), s.pki.server_key)
        s.proxy.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload failed: TLS" in s.proxy_output(), 5, "the refused reload")
        eq(peer_serial(s), new)
        eq(s.request("GET", "/_proxy/healthz")[0], 200)
        # Many reloads, with a keep-alive client busy all along: the old
        # listeners are stopped, not piled up (no pinning by keep-alive).
        busy = http.client.HTTPSConnection("127.0.0.1", s.proxy_port, context=s.ssl_context,
                                           timeout=10)
        for i in range(20):
            busy.request("GET", "/_proxy/healthz")
            eq(busy.getresponse().read(), b'{"status":"ok"}')
            k, p = make_cert(tmp, "s%d" % i, ca="ca", server=True)
            shutil.copy(k, s.pki.server_key)
            shutil.copy(p, s.pki.server_pem)
            s.proxy.send_signal(signal.SIGHUP)
            want = cert_serial(p)
            wait_for(lambda: peer_serial(s) == want, 5, "reload %d" % i)
        busy.close()
        assert "older certificates still serve" not in s.proxy_output()
        threads = len(os.listdir("/proc/%d/task" % s.proxy.pid))
        assert threads <= 12, "threads after 20 reloads: %d" % threads


def test_bad_tls_files_fail_check_config_and_start():
    tmp = tempfile.mkdtemp()
    try:
        make_cert(tmp, "ca")
        make_cert(tmp, "a", ca="ca", server=True)
        make_cert(tmp, "b", ca="ca", server=True)
        fifo = os.path.join(tmp, "fifo.pem")
        os.mkfifo(fifo)
        loose = os.path.join(tmp, "loose.key")
        shutil.copy(os.path.join(tmp, "a.key"), loose)
        os.chmod(loose, 0o644)
        cases = [
            ({"PROXY_TLS_CERT_FILE": os.path.join(tmp, "a.pem"),
              "PROXY_TLS_KEY_FILE": os.path.join(tmp, "b.key")}, "tls.cert_file and tls.key_file:"),
            ({"PROXY_TLS_CERT_FILE": os.path.join(tmp, "a.pem"),
              "PROXY_TLS_KEY_FILE": loose}, "loose.key"),
            ({"PROXY_TLS_CERT_FILE": os.path.join(tmp, "nope.pem"),
              "PROXY_TLS_KEY_FILE": os.path.join(tmp, "a.key")}, "tls.cert_file"),
            ({"PROXY_TLS_CERT_FILE": os.path.join(tmp, "a.pem")}, "go together"),
            ({"PROXY_TLS_CERT_FILE": fifo,     # must not hang on open
              "PROXY_TLS_KEY_FILE": os.path.join(tmp, "a.key")}, "not a regular file"),
            ({"PROXY_TLS_CERT_FILE": os.path.join(tmp, "a.pem"),
              "PROXY_TLS_KEY_FILE": os.path.join(tmp, "a.key"),
              "PROXY_TLS_CLIENT_CA_FILE": os.path.join(tmp, "a.key")}, "tls.client_ca_file"),
        ]
        for extra, want in cases:
            env = dict(os.environ, PROXY_STATE_DIR=os.path.join(tmp, "state"),
                       PROXY_LISTEN="127.0.0.1:%d" % free_port(),
                       PROXY_ADMIN_LISTEN="127.0.0.1:%d" % free_port(), **extra)
            for args in ([PROXY_BIN, "--check-config"], [PROXY_BIN]):
                r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
                eq(r.returncode, 1, (args, extra, r.stdout, r.stderr[-800:]))
                assert want in r.stderr, (args, want, r.stderr[-800:])
        env = dict(os.environ, PROXY_STATE_DIR=os.path.join(tmp, "state"),
                   PROXY_TLS_CERT_FILE=os.path.join(tmp, "a.pem"),
                   PROXY_TLS_KEY_FILE=os.path.join(tmp, "a.key"))
        r = subprocess.run([PROXY_BIN, "--check-config"], env=env, capture_output=True,
                           text=True, timeout=30)
        eq((r.returncode, r.stdout), (0, "configuration OK\n"), r.stderr)
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv, globals()))
