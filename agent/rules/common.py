"""Small readers over Observations that several rule areas share."""

from __future__ import annotations

from agent.observations import Observations
from agent.rules.model import Evidence
from probes.base import ProbeResult


def evidence(result: ProbeResult, fact: str | None = None) -> Evidence:
    if fact is None:
        fact = result.failure.detail if result.failure else result.status.value
    return Evidence(result.probe, result.subject, fact)


def attempt_evidence(result: ProbeResult) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(result.probe, a.endpoint, a.failure.detail if a.failure else f"answered {a.facts.get('rcode', 'ok')}")
        for a in result.attempts
    )


def on_path(obs: Observations, probe: str) -> list[ProbeResult]:
    """Results of ``probe`` on the path kubectl takes: the addresses it would dial, or the
    tunnel through the proxy when it uses one."""
    if obs.proxy_used():
        return [r for r in obs.all(probe) if r.facts.get("via") == "proxy"]
    return [r for r in obs.all(probe) if r.facts.get("kubectl_path")]


def path_connects(obs: Observations) -> bool:
    """Does kubectl get past connect: an address it dials accepts TCP, in time for its
    --request-timeout (Go's serial dial may reach it only after a long wait)?"""
    return any(r.ok for r in on_path(obs, "tcp")) and not obs.too_slow()


def works_end_to_end(obs: Observations, address: str) -> bool:
    """TCP, TLS and a Kubernetes answer all succeeded for this address."""
    def ok(probe: str) -> bool:
        return any(r.ok and r.facts.get("address") == address and r.facts.get("via", "direct") == "direct"
                   for r in obs.all(probe))
    return ok("tcp") and ok("tls") and ok("http")


def dns_views(obs: Observations) -> list[ProbeResult]:
    return obs.all("dns.nameserver") + obs.all("dns.resolver")


def addresses(result: ProbeResult) -> list[str]:
    return [a["address"] for a in result.facts.get("addresses", [])]


def view_name(result: ProbeResult) -> str:
    if result.probe == "dns.system":
        return "the system resolver"
    if result.probe == "dns.resolver":
        return f"resolver {result.subject}"
    return f"nameserver {result.subject}"
