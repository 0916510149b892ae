#!/usr/bin/env python3
"""deploy/prometheus-rules.yml: valid for promtool, each alert unit-tested
(tests/deploy/prometheus-rules.test.yml: it fires, and does not fire
early), and every metric the rules read is one a live proxy exports on
its admin listener (a renamed metric would silence an alert for good).

Prints "alerts: N passed, M failed" last.
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "deploy", "prometheus-rules.yml")
TESTS = os.path.join(ROOT, "tests", "deploy", "prometheus-rules.test.yml")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))


def promtool(*args):
    exe = shutil.which("promtool")
    assert exe, "promtool is missing (scripts/install-deps.sh installs prometheus)"
    r = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "promtool %s: exit %d\n%s%s" % (
        " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:])


def rules():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"]]


def test_promtool_check_rules():
    promtool("check", "rules", RULES)


def test_promtool_test_rules():
    promtool("test", "rules", TESTS)


def test_every_alert_has_a_firing_and_a_quiet_case():
    with open(TESTS) as f:
        doc = yaml.safe_load(f)
    fires, quiet = set(), set()
    for t in doc["tests"]:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    names = {r["alert"] for r in rules()}
    assert names, "no alerts"
    assert names <= fires, "alerts never shown to fire: %s" % sorted(names - fires)
    assert names <= quiet, "alerts never shown to stay quiet: %s" % sorted(names - quiet)
    for r in rules():
        assert r.get("labels", {}).get("severity") in ("warning", "critical"), r["alert"]
        assert r.get("annotations", {}).get("summary"), r["alert"]


def test_rules_read_only_metrics_the_proxy_exports():
    from harness import Stack
    with Stack() as s:
        st, _, raw = s.admin("GET", "/metrics")
        assert st == 200, st
        exported = set(re.findall(r"^# TYPE (\S+) ", raw.decode(), re.M))
    used = set()
    for r in rules():
        used |= set(re.findall(r"\bmem0_proxy_[a-z_]+", r["expr"]))
    assert used, "the rules read no metric"
    assert used <= exported, "metrics the proxy does not export: %s" % sorted(used - exported)


if __name__ == "__main__":
    from test_proxy import main
    sys.exit(main(sys.argv, globals(), label="alerts"))
