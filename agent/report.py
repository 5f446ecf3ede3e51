"""The report: one value that every renderer reads, built once from the observations.

JSON schema (schema_version 1): verdict, target, vantage, path, findings, probes, timings,
proxy (kubectl's proxy decision), kubeconfig_problems, plus schema_version and tool. Keys are stable; new keys may be added, none renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.observations import Observations
from agent.rules.model import Finding, Severity
from agent.verdict import Step

if TYPE_CHECKING:
    from agent.judge import Judgement
from probes.base import ProbeResult, Status

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Report:
    verdict: str
    target: dict[str, Any]
    vantage: dict[str, Any]
    path: tuple[Step, ...]
    findings: tuple[Finding, ...]
    probes: tuple[ProbeResult, ...]
    timings: dict[str, Any]
    proxy: dict[str, Any] = field(default_factory=dict)  # kubectl's proxy decision
    kubeconfig_problems: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "reachable" else 1

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity is severity]

    def not_checked(self) -> list[ProbeResult]:
        return [p for p in self.probes if p.status in (Status.SKIPPED, Status.ERROR)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "kubereach", "version": __version__},
            "verdict": self.verdict,
            "target": self.target,
            "vantage": self.vantage,
            "path": [s.as_dict() for s in self.path],
            "findings": [f.as_dict() for f in self.findings],
            "probes": [probe_dict(p) for p in self.probes],
            "timings": self.timings,
            "proxy": self.proxy,
            "kubeconfig_problems": list(self.kubeconfig_problems),
        }


def probe_dict(p: ProbeResult) -> dict[str, Any]:
    return {
        "probe": p.probe,
        "subject": p.subject,
        "status": p.status.value,
        "duration_s": round(p.duration_s, 4),
        "failure": {"kind": p.failure.kind, "detail": p.failure.detail} if p.failure else None,
        "reason": p.reason,
        "facts": dict(p.facts),
        "phases": {k: (round(v, 4) if v is not None else None) for k, v in p.phases.items()},
        "attempts": [
            {"endpoint": a.endpoint, "status": a.status.value, "duration_s": round(a.duration_s, 4),
             "failure": {"kind": a.failure.kind, "detail": a.failure.detail} if a.failure else None,
             "facts": dict(a.facts)}
            for a in p.attempts
        ],
    }


def build_report(obs: Observations, judgement: Judgement, *, elapsed_s: float, timeout_s: float,
                 deadline_s: float) -> Report:
    vantage = obs.one("vantage")
    by_step = {s.name: s for s in judgement.path}
    timings: dict[str, Any] = {"total_s": round(elapsed_s, 3), "timeout_s": timeout_s,
                               "deadline_s": round(deadline_s, 3)}
    for name, probe in (("dns_s", "dns.system"), ("proxy_s", "proxy.connect")):
        r = obs.one(probe)
        timings[name] = round(r.duration_s, 4) if r is not None and r.status is not Status.SKIPPED else None
    for name in ("tcp", "tls", "http"):
        step = by_step.get(name)
        r = obs.one(name, step.subject) if step and step.subject else None
        timings[f"{name}_s"] = round(r.duration_s, 4) if r is not None else None
    # kubectl's own time to a connection, replayed: Go's resolver and serial dial wait in turn.
    timings["kubectl_connect_s"] = round(obs.connect_s(), 3) if obs.dial.connected else None
    # Cloud discovery runs under the same deadline: its cost shows beside the path's.
    for name, probe in (("imds_s", "cloud.imds"), ("arm_s", "cloud.arm"), ("egress_s", "egress")):
        r = obs.one(probe)
        timings[name] = round(r.duration_s, 4) if r is not None else None
    return Report(verdict=judgement.verdict, target=obs.target.public_view(),
                  vantage=dict(vantage.facts) if vantage else {}, path=judgement.path,
                  findings=judgement.findings, probes=obs.results, timings=timings,
                  proxy={"used": obs.proxy.used, "proxy_url": obs.proxy.redacted,
                         "source": obs.proxy.source, "reason": obs.proxy.reason},
                  kubeconfig_problems=obs.kubeconfig_problems)
