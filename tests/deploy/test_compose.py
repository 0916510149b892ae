#!/usr/bin/env python3
"""Properties of deploy/docker-compose.yml, read as YAML (no Docker needed).

- Mem0 publishes no port and shares its networks only with the proxy and
  its database; a network shared with anyone else is internal.
- Every published port is bound to 127.0.0.1; the proxy publishes one.
- The proxy is built from this repository's Dockerfile; its environment
  points MEM0_URL at the mem0 service's port and WINGMAN_URL at wingman.
- The export archive: PROXY_EXPORT_ARCHIVE_DIR is a path where one named
  volume is mounted in the proxy and, at the same path, in Wingman.
- Secrets are compose secrets backed by files; the proxy's *_KEY_FILE
  variables name mounted secrets; no key value is in any environment.
- Every long-running service has a healthcheck and a restart policy.
- deploy/make-secrets.sh writes 0600 key files the proxy accepts, and
  keeps existing ones.

Prints "compose: N passed, M failed" last.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
COMPOSE = os.environ.get("COMPOSE_UNDER_TEST") or os.path.join(DEPLOY, "docker-compose.yml")
BUILD = os.environ.get("BUILD", "build")
PROXY_BIN = os.path.join(ROOT, BUILD, "mem0-audit-proxy")

try:
    import yaml
except ImportError:
    print("python3-yaml is missing (scripts/install-deps.sh installs it)")
    print("compose: 0 passed, 1 failed")
    sys.exit(1)

with open(COMPOSE) as f:
    DOC = yaml.safe_load(f)
SERVICES = DOC.get("services") or {}
NETWORKS = DOC.get("networks") or {}
VOLUMES = DOC.get("volumes") or {}
SECRETS = DOC.get("secrets") or {}
ONE_SHOT = {"volume-init"}


def env_of(svc):
    """A service's environment as a dict (list or mapping form)."""
    env = SERVICES[svc].get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = item.partition("=")
            out[k] = v
        return out
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def networks_of(svc):
    nets = SERVICES[svc].get("networks")
    if SERVICES[svc].get("network_mode"):
        return []
    if nets is None:
        return ["default"]
    return list(nets) if isinstance(nets, (list, dict)) else []


def published(svc):
    """(host_ip, host_port, container_port) for each published port."""
    out = []
    for p in SERVICES[svc].get("ports") or []:
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), str(p.get("published", "")), str(p.get("target"))))
            continue
        parts = str(p).split(":")
        if len(parts) == 3:
            out.append((parts[0], parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(("", parts[0], parts[1]))
        else:
            out.append(("", "", parts[0]))
    return out


def mounts(svc):
    """(source, target, read_only) for each volume entry."""
    out = []
    for v in SERVICES[svc].get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source"), v.get("target"), bool(v.get("read_only"))))
            continue
        parts = str(v).split(":")
        ro = len(parts) > 2 and "ro" in parts[2].split(",")
        out.append((parts[0], parts[1] if len(parts) > 1 else parts[0], ro))
    return out


def secret_names(svc):
    out = []
    for s in SERVICES[svc].get("secrets") or []:
        out.append(s["source"] if isinstance(s, dict) else s)
    return out


def secret_target(svc, name):
    for s in SERVICES[svc].get("secrets") or []:
        if isinstance(s, dict) and s.get("source") == name:
            t = s.get("target", name)
            return t if t.startswith("/") else "/run/secrets/" + t
    return "/run/secrets/" + name


# -- tests -------------------------------------------------------------------

def test_services_present():
    for s in ("proxy", "mem0", "wingman"):
        assert s in SERVICES, "service %s missing; have %s" % (s, sorted(SERVICES))


def test_mem0_not_published():
    m = SERVICES["mem0"]
    assert not m.get("ports"), "mem0 publishes %r, want no ports" % m.get("ports")
    assert m.get("network_mode") is None, "mem0 network_mode %r, want none" % m.get("network_mode")


def test_mem0_reachable_only_through_proxy():
    allowed = {"mem0", "proxy", "mem0-db"}
    for net in networks_of("mem0"):
        members = {s for s in SERVICES if net in networks_of(s)}
        others = members - allowed
        assert not others, "network %s joins mem0 with %s" % (net, sorted(others))
        if members & {"proxy"}:
            cfg = NETWORKS.get(net) or {}
            assert cfg.get("internal") is True, \
                "network %s (proxy and mem0) is not internal: %r" % (net, cfg)
    assert set(networks_of("mem0")) & set(networks_of("proxy")), \
        "proxy and mem0 share no network"


def test_ports_on_loopback_only():
    assert published("proxy"), "the proxy publishes no port"
    for svc in SERVICES:
        for host_ip, host_port, target in published(svc):
            assert host_ip == "127.0.0.1", \
                "%s publishes %s->%s on %r, want 127.0.0.1" % (svc, host_port, target, host_ip)


def test_proxy_port_matches_listen():
    listen = env_of("proxy").get("PROXY_LISTEN", "")
    port = listen.rsplit(":", 1)[-1]
    targets = [t for _, _, t in published("proxy")]
    assert port in targets, "PROXY_LISTEN %r, published targets %r" % (listen, targets)


def test_admin_port_published_on_loopback():
    """The admin listener (metrics, status page) is published, on the
    host's loopback like everything else, never beside the client port on
    another interface."""
    listen = env_of("proxy").get("PROXY_ADMIN_LISTEN", "")
    port = listen.rsplit(":", 1)[-1]
    assert port.isdigit(), "PROXY_ADMIN_LISTEN %r" % listen
    pubs = [(ip, t) for ip, _, t in published("proxy") if t == port]
    assert pubs and all(ip == "127.0.0.1" for ip, _ in pubs), \
        "PROXY_ADMIN_LISTEN %r, published %r" % (listen, published("proxy"))


def test_proxy_built_from_this_repo():
    b = SERVICES["proxy"].get("build")
    assert isinstance(b, dict), "proxy build %r, want a mapping" % b
    ctx = os.path.normpath(os.path.join(DEPLOY, b.get("context", ".")))
    assert ctx == ROOT, "proxy build context %s, want %s" % (ctx, ROOT)
    df = os.path.join(ctx, b.get("dockerfile", "Dockerfile"))
    assert os.path.isfile(df), "no Dockerfile at %s" % df


def test_proxy_env_points_at_services():
    env = env_of("proxy")
    m = re.match(r"^http://([A-Za-z0-9_.-]+):(\d+)/?$", env.get("MEM0_URL", ""))
    assert m, "MEM0_URL %r, want http://SERVICE:PORT" % env.get("MEM0_URL")
    assert m.group(1) == "mem0", "MEM0_URL host %r, want the mem0 service" % m.group(1)
    assert m.group(2) == "8000", "MEM0_URL port %s, want 8000 (Mem0's server port)" % m.group(2)
    m = re.match(r"^http://([A-Za-z0-9_.-]+):(\d+)/?$", env.get("WINGMAN_URL", ""))
    assert m and m.group(1) == "wingman", "WINGMAN_URL %r, want http://wingman:PORT" % env.get("WINGMAN_URL")
    wport = env_of("wingman").get("API_INTERNAL_PORT", "5000")
    assert m.group(2) == wport, "WINGMAN_URL port %s, Wingman listens on %s" % (m.group(2), wport)
    assert set(networks_of("wingman")) & set(networks_of("proxy")), "proxy and wingman share no network"


def test_export_archive_shared_at_same_path():
    path = env_of("proxy").get("PROXY_EXPORT_ARCHIVE_DIR")
    assert path and path.startswith("/"), "PROXY_EXPORT_ARCHIVE_DIR %r, want an absolute path" % path
    p = {t: s for s, t, _ in mounts("proxy")}
    w = {t: s for s, t, _ in mounts("wingman")}
    assert path in p, "proxy mounts nothing at %s: %r" % (path, mounts("proxy"))
    assert path in w, "wingman mounts nothing at %s: %r" % (path, mounts("wingman"))
    assert p[path] == w[path], "proxy mounts %s, wingman %s at %s" % (p[path], w[path], path)
    assert p[path] in VOLUMES, "%s is not a named volume (%r)" % (p[path], sorted(VOLUMES))
    ro = [r for s, t, r in mounts("proxy") if t == path]
    assert ro == [False], "the proxy must write the archive, mount read_only=%r" % ro


def test_state_dir_on_volume():
    state = env_of("proxy").get("PROXY_STATE_DIR", "/var/lib/mem0-audit-proxy")
    srcs = [s for s, t, _ in mounts("proxy") if t == state]
    assert srcs and srcs[0] in VOLUMES, "state dir %s not on a named volume: %r" % (state, mounts("proxy"))


def test_secrets_are_files():
    assert SECRETS, "no top-level secrets"
    for name, cfg in SECRETS.items():
        assert isinstance(cfg, dict) and "file" in cfg, "secret %s is %r, want file:" % (name, cfg)
        # Under deploy/secrets/: ignored by git and by the image build.
        assert os.path.normpath(cfg["file"]).startswith("secrets/"), \
            "secret %s file %s, want secrets/..." % (name, cfg["file"])
        assert "environment" not in cfg, "secret %s from the environment" % name


def test_proxy_key_files_are_mounted_secrets():
    env = env_of("proxy")
    names = secret_names("proxy")
    for var in ("PROXY_HMAC_KEY_FILE", "WINGMAN_REQUEST_KEY_FILE", "WINGMAN_READ_KEY_FILE"):
        val = env.get(var)
        assert val, "proxy environment has no %s" % var
        targets = {secret_target("proxy", n): n for n in names}
        assert val in targets, "%s=%s is not a mounted secret (%r)" % (var, val, sorted(targets))
        assert targets[val] in SECRETS, "secret %s not declared" % targets[val]


def test_wingman_gets_same_key_files():
    shared = set(secret_names("proxy")) & set(secret_names("wingman"))
    for n in ("wingman_request_key", "wingman_read_key"):
        assert n in shared, "secret %s not given to both proxy and wingman (%r)" % (n, sorted(shared))


def test_no_key_values_in_environment():
    for svc in SERVICES:
        for k, v in env_of(svc).items():
            if re.search(r"(KEY|SECRET|TOKEN)", k) and not k.endswith("_FILE"):
                # Only interpolations from the operator's .env, never literals.
                assert v == "" or v.startswith("${"), "%s: %s has a literal value" % (svc, k)


def test_secret_files_not_in_image_context():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        ign = f.read().split()
    assert "deploy/secrets" in ign, ".dockerignore %r lacks deploy/secrets" % ign


def test_healthchecks_and_restart():
    for svc, cfg in SERVICES.items():
        if svc in ONE_SHOT:
            continue
        hc = cfg.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), "%s has no healthcheck" % svc
        assert cfg.get("restart") in ("unless-stopped", "always", "on-failure"), \
            "%s restart %r" % (svc, cfg.get("restart"))


def test_proxy_healthcheck_is_readyz():
    test = SERVICES["proxy"]["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert "/_proxy/readyz" in text, "proxy healthcheck %r, want /_proxy/readyz" % text


def test_stop_grace_above_shutdown_timeout():
    g = str(SERVICES["proxy"].get("stop_grace_period", "10s"))
    m = re.match(r"^(\d+)s$", g)
    assert m, "stop_grace_period %r, want Ns" % g
    with open(os.path.join(ROOT, "conf", "mem0-audit-proxy.yaml")) as f:
        ms = int(re.search(r"^shutdown_timeout_ms:\s*(\d+)", f.read(), re.M).group(1))
    assert int(m.group(1)) * 1000 > ms, "stop_grace_period %s not above shutdown_timeout_ms %d" % (g, ms)


def test_top_level_keys_work_with_every_compose():
    """Debian 12's docker-compose 1.29.2 refuses a top-level `name:` (it
    needs Compose >= 2.3.3): the project name comes from .env instead."""
    extra = set(DOC) - {"services", "networks", "volumes", "secrets", "configs"}
    extra = {k for k in extra if not k.startswith("x-")}
    assert not extra, "top-level keys %s: Compose 1.29 rejects them" % sorted(extra)
    env = read_env_example()
    assert env.get("COMPOSE_PROJECT_NAME"), "env.example sets no COMPOSE_PROJECT_NAME"


def read_env_example():
    out = {}
    with open(os.path.join(DEPLOY, "env.example")) as f:
        for ln in f:
            ln = ln.strip()
            if ln and not ln.startswith("#") and "=" in ln:
                k, _, v = ln.partition("=")
                out[k] = v
    return out


def test_debian_compose_accepts_the_file():
    """`docker-compose config` (Debian 12's 1.29.2, scripts/install-deps.sh
    installs it; no engine needed) validates the file against its schema,
    with env.example's settings and the two it leaves to the user."""
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is missing (scripts/install-deps.sh installs it)"
    tmp = tempfile.mkdtemp()
    try:
        env = read_env_example()
        env.update(OPENAI_API_KEY="sk-test", MEM0_DB_PASSWORD="pw")
        path = os.path.join(tmp, ".env")
        with open(path, "w") as f:
            f.writelines("%s=%s\n" % kv for kv in env.items())
        r = subprocess.run([exe, "--env-file", path, "-f", COMPOSE, "config"],
                           capture_output=True, text=True, timeout=120,
                           cwd=os.path.dirname(COMPOSE))
        assert r.returncode == 0, "docker-compose config: exit %d\n%s" % (r.returncode, r.stderr)
        assert "proxy:" in r.stdout and "mem0:" in r.stdout, r.stdout[:400]
    finally:
        shutil.rmtree(tmp)


def test_make_secrets():
    tmp = tempfile.mkdtemp(prefix="m0ap-secrets-")
    d = os.path.join(tmp, "s")
    env = dict(os.environ, SECRETS_DIR=d, SECRETS_UID=str(os.getuid()))
    r = subprocess.run([os.path.join(DEPLOY, "make-secrets.sh")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, "make-secrets.sh: %d %s" % (r.returncode, r.stderr)
    for name, cfg in SECRETS.items():
        f = os.path.join(d, os.path.basename(cfg["file"]))
        assert os.path.isfile(f), "make-secrets.sh did not create %s (for %s)" % (f, name)
        mode = stat.S_IMODE(os.stat(f).st_mode)
        assert mode == 0o600, "%s mode %04o, want 0600" % (f, mode)
        with open(f) as fh:
            val = fh.read()
        assert re.match(r"^[0-9a-f]{64}\n$", val), "%s holds %d bytes, want 64 hex + newline" % (f, len(val))
    first = open(os.path.join(d, "hmac.key")).read()
    r = subprocess.run([os.path.join(DEPLOY, "make-secrets.sh")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "kept" in r.stdout, "second run: %r" % r.stdout
    assert open(os.path.join(d, "hmac.key")).read() == first, "second run replaced hmac.key"
    # The proxy accepts the HMAC key the script wrote.
    if os.path.exists(PROXY_BIN):
        env = dict(os.environ, PROXY_STATE_DIR=os.path.join(tmp, "state"),
                   PROXY_HMAC_KEY_FILE=os.path.join(d, "hmac.key"))
        r = subprocess.run([PROXY_BIN, "hash", "alice"], env=env, capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("u:"), \
            "proxy with the generated key: %d %r %r" % (r.returncode, r.stdout, r.stderr)
    subprocess.run(["rm", "-rf", tmp])


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc(limit=1, file=sys.stdout)
        else:
            passed += 1
            print("ok   %s" % name)
    print("compose: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
