"""``kubereach demo``: builds its own lab, agrees with kubectl, leaks nothing, cleans up."""

from __future__ import annotations

import io
import re

import pytest

from agent import demo
from agent.lab import netns


def test_demo_without_prerequisites_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.lab.preflight.lab_unavailable", lambda: "the lab needs root")
    out = io.StringIO()
    assert demo.run_demo(out=out) == 2
    assert "cannot build the lab: the lab needs root" in out.getvalue()


def test_demo_runs_scenarios_and_tears_down(
    lab_ready: None, kubectl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.lab.runner import diagnose_missing

    if diagnose_missing():
        pytest.skip(diagnose_missing() or "")
    # Three quick ones keep this test short; the full list runs in test_scenarios.
    monkeypatch.setattr(demo, "DEMO_SCENARIOS", ("healthy-inside", "stale-ca", "proxy-auth"))
    before = set(netns.listed("kr"))
    out = io.StringIO()
    assert demo.run_demo(out=out, timeout_s=2.0, kubectl=kubectl) == 0
    text = out.getvalue()
    assert "[3/3]" in text and "agreed with kubectl in 3" in text
    assert "tls.ca_mismatch" in text and "proxy.auth_required" in text
    assert "Lab torn down." in text
    assert "\x1b[" not in text
    # The lab's secrets are random; their shapes are not (see Lab.secrets).
    assert ":Wrong-Pw-" not in text and "spn-" not in text
    assert not re.search(r"[0-9a-f]{64}", text)
    assert set(netns.listed("kr")) <= before


def test_demo_without_kubectl_shows_kubereach_alone(lab_ready: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_SCENARIOS", ("healthy-inside", "port-refused"))
    monkeypatch.setattr(demo, "_default_kubectl", lambda: None)
    out = io.StringIO()
    assert demo.run_demo(out=out, timeout_s=2.0) == 0
    text = out.getvalue()
    assert "kubectl is not installed here" in text
    assert "matched what the lab built in 2" in text
    assert "net.refused" in text
