"""Runs every rule over the observations and orders the findings deterministically."""

from __future__ import annotations

import string
from collections.abc import Iterable
from typing import Any

from agent.observations import Observations
from agent.rules.model import Finding, Hit, Rule


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _fix_text(rule: Rule, hit: Hit) -> str:
    template = hit.fix if hit.fix is not None else rule.fix
    args: dict[str, Any] = _Lenient(hit.fix_args)
    return string.Formatter().vformat(template, (), args)


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
