"""The judge: every rule over the observations, then the walk along kubectl's path that
gives the verdict. Pure: it reads :class:`Observations` and never probes.

Where to add a rule: a function with ``@rule`` in the area's module under ``agent/rules/``,
listed in that module's ``RULES`` (``agent/rules/catalog.py`` gathers them), and a row in
README's code table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from agent.observations import Observations
from agent.rules.catalog import all_explains, all_rules
from agent.rules.engine import annotate_explained, evaluate
from agent.rules.model import Finding, Severity
from agent.verdict import Step, walk


@dataclass(frozen=True)
class Judgement:
    verdict: str  # "reachable" | "unreachable"
    path: tuple[Step, ...]
    findings: tuple[Finding, ...]


def judge(obs: Observations) -> Judgement:
    # A cause (acl.source_ip_not_authorized, net.dropped_at_hop) is named on the symptom it
    # explains (net.filtered), so the report reads as one explanation.
    findings = annotate_explained(evaluate(all_rules(), obs), all_explains())
    verdict, path = walk(obs)
    if verdict == "reachable":
        findings = [_not_blocking(f) for f in findings]
    return Judgement(verdict, tuple(path), tuple(findings))


def _not_blocking(finding: Finding) -> Finding:
    """The walk follows kubectl's path step by step: when every step works, nothing on it
    blocks kubectl, so a blocker found elsewhere (an address kubectl's dial moves past, a
    what-if view) is at most a trap. The rules aim to say so themselves; this is the
    guarantee that a report never says reachable beside a blocker."""
    if finding.severity is not Severity.BLOCKER:
        return finding
    return dataclasses.replace(finding, severity=Severity.WARNING,
                               detail=f"{finding.detail} It does not stop kubectl now: its path works.")
