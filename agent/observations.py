"""Everything the rules may read: the target, the probe results, and optional cloud facts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.target import Target
from probes.base import ProbeResult, Status


@dataclass(frozen=True)
class Observations:
    target: Target
    results: tuple[ProbeResult, ...]
    # Context that is not a probe: the cloud's description of the cluster and the network,
    # ranges the user gave, the vantage point. Keys are owned by the module that fills them.
    context: Mapping[str, Any] = field(default_factory=dict)

    def all(self, probe: str) -> list[ProbeResult]:
        return [r for r in self.results if r.probe == probe]

    def one(self, probe: str, subject: str | None = None) -> ProbeResult | None:
        for r in self.results:
            if r.probe == probe and (subject is None or r.subject == subject):
                return r
        return None

    def failed(self, probe: str) -> Iterator[ProbeResult]:
        return (r for r in self.results if r.probe == probe and r.status is Status.FAILED)

    def kubectl_addresses(self) -> list[str]:
        """The addresses kubectl would dial, in order (empty when resolution failed or a
        proxy resolves the name instead)."""
        system = self.one("dns.system")
        if system is None or not system.ok:
            return []
        return [a["address"] for a in system.facts.get("addresses", [])]

    def proxy_used(self) -> bool:
        decision = self.one("proxy")
        return bool(decision and decision.facts.get("used"))
