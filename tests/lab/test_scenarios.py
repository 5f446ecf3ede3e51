"""Each scenario end to end: kubectl and ``kubereach diagnose`` from the client's namespace
with the client's environment, and the diagnosis checked against kubectl and the cause.

For every scenario: (1) the verdict agrees with kubectl (reachable iff kubectl succeeded),
(2) the expected blocker codes name the cause the scenario built, (3) no secret the lab
planted (token, proxy password, exec plugin secret) appears on stdout or stderr.
"""

from __future__ import annotations

import pytest

from agent.lab import Lab
from agent.lab.runner import (
    KubectlOutcome,
    diagnose_missing,
    disagreements,
    run_diagnose,
    run_kubectl,
)
from agent.lab.scenarios import SCENARIOS, Scenario, prepared

_KUBECTL: dict[str, KubectlOutcome] = {}
_IDS = [s.name for s in SCENARIOS]

# Disagreements between the core and a scenario, reported to the core's owner. Strict: the
# day the core gets it right, the XPASS fails and the entry must go.
KNOWN_CORE_GAPS: dict[str, str] = {}


def _with_gaps(scenarios: tuple[Scenario, ...]) -> list[object]:
    return [
        pytest.param(s, id=s.name, marks=pytest.mark.xfail(
            reason=KNOWN_CORE_GAPS[s.name], strict=True)) if s.name in KNOWN_CORE_GAPS
        else pytest.param(s, id=s.name)
        for s in scenarios
    ]


def test_at_least_ten_scenarios_with_unique_names() -> None:
    assert len(SCENARIOS) >= 10
    assert len(set(_IDS)) == len(_IDS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=_IDS)
def test_kubectl_meets_the_cause(lab: Lab, kubectl: str, scenario: Scenario) -> None:
    """The lab half: the scenario really breaks (or does not break) kubectl."""
    with prepared(lab, scenario) as prep:
        outcome = run_kubectl(lab, prep, kubectl=kubectl)
    _KUBECTL[scenario.name] = outcome
    assert outcome.ok == scenario.expect.kubectl_ok, outcome.stderr


@pytest.mark.parametrize("scenario", _with_gaps(SCENARIOS))
def test_diagnose_agrees_with_kubectl(lab: Lab, kubectl: str, scenario: Scenario, tmp_path) -> None:
    reason = diagnose_missing()
    if reason:
        pytest.skip(reason)
    text_report = tmp_path / "report.txt"
    with prepared(lab, scenario) as prep:
        outcome = _KUBECTL.get(scenario.name) or run_kubectl(lab, prep, kubectl=kubectl)
        # The same run writes the text report for people: 80 columns, whatever the scenario.
        diag = run_diagnose(lab, prep, extra=("--output", f"text={text_report}"))
        problems = disagreements(prep, outcome, diag)
    wide = [line for line in text_report.read_text().splitlines() if len(line) > 80]
    assert not wide, f"{scenario.name}: text report lines over 80 columns: {wide}"
    findings = [(f.get("severity"), f.get("code"), f.get("subject"))
                for f in (diag.report or {}).get("findings", [])]
    assert not problems, (
        f"{scenario.name}: {scenario.cause}\n  kubectl: {outcome.summary}\n"
        f"  kubereach: {diag.verdict} {findings}\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_other_formats_keep_secrets_out(lab: Lab, fmt: str) -> None:
    reason = diagnose_missing()
    if reason:
        pytest.skip(reason)
    for name in ("proxy-auth", "exec-plugin-missing", "healthy-inside"):
        scenario = next(s for s in SCENARIOS if s.name == name)
        with prepared(lab, scenario) as prep:
            diag = run_diagnose(lab, prep, fmt=fmt)
            text = diag.stdout + diag.stderr
            assert diag.returncode in (0, 1), text[-500:]
            assert not [s for s in prep.secrets if s in text], f"{name}: secret in {fmt} output"
