"""Runs every rule over the observations and orders the findings deterministically."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from agent.observations import Observations
from agent.rules.model import Finding, Hit, Rule
from probes.base import endpoint_address

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fix_text(rule: Rule, hit: Hit) -> str:
    """The fix with each ``{name}`` that has a value replaced, in one pass, and nothing else
    touched. Not str.format: a rule's own fix text is often built from data (a host name
    like ``{x!z}.example``), which str.format would parse as a field and crash on; and a
    substituted value is never scanned again."""
    template = rule.fix
    args: Mapping[str, Any] = hit.fix_args

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(args[name]) if name in args else match.group(0)
    return _PLACEHOLDER.sub(fill, template)


def evaluate(rules: Iterable[Rule], obs: Observations) -> list[Finding]:
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for rule in rules:
        for hit in rule.evaluate(obs):
            if (rule.code, hit.subject) in seen:
                continue
            seen.add((rule.code, hit.subject))
            findings.append(
                Finding(
                    code=rule.code,
                    severity=hit.severity or rule.severity,
                    title=rule.title,
                    subject=hit.subject,
                    detail=hit.detail,
                    fix=_fix_text(rule, hit),
                    evidence=hit.evidence,
                )
            )
    findings.sort(key=lambda f: (f.severity.rank, f.code, f.subject))
    return findings


def _explains(cause: Finding, symptom: Finding, explains: Mapping[str, tuple[str, ...]]) -> bool:
    if symptom.code not in explains.get(cause.code, ()):
        return False
    subjects = {cause.subject, *(e.subject for e in cause.evidence)}
    return symptom.subject in subjects or endpoint_address(symptom.subject) in {endpoint_address(s) for s in subjects}


def annotate_explained(findings: Iterable[Finding], explains: Mapping[str, tuple[str, ...]]) -> list[Finding]:
    """One explanation, not two: a symptom (net.filtered on 20.1.2.3:443) that a cause
    (acl.source_ip_not_authorized, net.dropped_at_hop) explains for the same subject gets
    "Cause: CODE" appended to its detail. ``explains`` maps a cause code to the symptom
    codes it explains; nothing is dropped and the order is kept."""
    findings = list(findings)
    causes = [f for f in findings if f.code in explains]
    out = []
    for f in findings:
        by = sorted({c.code for c in causes if _explains(c, f, explains)})
        if by:
            f = replace(f, detail=f"{f.detail} Cause: {', '.join(by)} (see that finding).")
        out.append(f)
    return out
