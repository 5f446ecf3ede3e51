"""agent/lab/runner.disagreements: the lab's verdict on one scenario run, as a unit."""

from __future__ import annotations

import json
from pathlib import Path

from agent.lab.runner import DiagnoseOutcome, KubectlOutcome, disagreements
from agent.lab.scenarios import Prepared, by_name

KUBECTL_FAILED = KubectlOutcome(1, "", "Unable to connect to the server: x509", 0.1)


def run(scenario: str, blockers: list[str]) -> list[str]:
    report = {"verdict": "unreachable",
              "findings": [{"code": c, "severity": "blocker"} for c in blockers]}
    diag = DiagnoseOutcome(1, json.dumps(report), "", 0.1, report)
    prep = Prepared(by_name(scenario), "in", Path("/nonexistent/kubeconfig"), {}, ())
    return disagreements(prep, KUBECTL_FAILED, diag)


def test_the_expected_blocker_alone_agrees():
    assert run("stale-ca", ["tls.ca_mismatch"]) == []


def test_an_extra_wrong_blocker_is_a_disagreement():
    assert run("stale-ca", ["tls.ca_mismatch", "tls.intercepted"]) == [
        "unexpected blocker(s) ['tls.intercepted']; expected exactly ['tls.ca_mismatch']"]


def test_a_missing_blocker_is_a_disagreement():
    assert run("stale-ca", ["tls.intercepted"]) == [
        "missing blocker(s) ['tls.ca_mismatch']; blockers were ['tls.intercepted']",
        "unexpected blocker(s) ['tls.intercepted']; expected exactly ['tls.ca_mismatch']"]
