"""Rules turn observations into findings. A rule is data plus one pure function."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agent.observations import Observations


class Severity(str, Enum):
    BLOCKER = "blocker"  # kubectl cannot connect because of this
    WARNING = "warning"  # works now, or may not matter, but is a trap
    INFO = "info"  # context, or a check that could not be made

    @property
    def rank(self) -> int:
        return {"blocker": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Evidence:
    probe: str
    subject: str
    fact: str  # what was seen, one short phrase: "NXDOMAIN from 10.0.0.10:53"

    def as_dict(self) -> dict[str, str]:
        return {"probe": self.probe, "subject": self.subject, "fact": self.fact}


@dataclass(frozen=True)
class Hit:
    """What a rule's function yields: the subject, a detail sentence, its evidence, and
    values for the rule's fix template."""

    subject: str
    detail: str
    evidence: tuple[Evidence, ...] = ()
    fix_args: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # overrides the rule's when the case decides it


@dataclass(frozen=True)
class Rule:
    code: str  # never renamed, never reused
    severity: Severity
    title: str
    # What to do, in words the catalogue shows; {placeholders} only for the values a run
    # fills from Hit.fix_args (names, addresses, commands with real names in them).
    fix: str
    evaluate: Callable[[Observations], Iterable[Hit]]


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    title: str
    subject: str
    detail: str
    fix: str
    evidence: tuple[Evidence, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "subject": self.subject,
            "detail": self.detail,
            "fix": self.fix,
            "evidence": [e.as_dict() for e in self.evidence],
        }


def rule(code: str, severity: Severity, title: str, fix: str):
    """Decorator: ``@rule("dns.nxdomain", BLOCKER, "...", "...")`` over the evaluate
    function turns it into a :class:`Rule`."""

    def wrap(fn: Callable[[Observations], Iterable[Hit]]) -> Rule:
        return Rule(code, severity, title, fix, fn)

    return wrap
