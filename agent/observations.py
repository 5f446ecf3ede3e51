"""Everything the rules may read, typed: the target, the probe results, and what was
decided once without a probe (the proxy decision, the kubeconfig's problems, the cloud
context, which addresses kubectl would dial).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.target import Target
from probes.base import ProbeResult, Status
from probes.proxy import ProxyDecision

if TYPE_CHECKING:  # the cloud package imports httpx: only rules that use it load it
    from agent.cloud.context import CloudContext

DIRECT = ProxyDecision(used=False, url=None, source="none", reason="no proxy configured")


@dataclass(frozen=True)
class Observations:
    target: Target
    results: tuple[ProbeResult, ...]
    proxy: ProxyDecision = DIRECT  # how kubectl would reach the server: directly or through a proxy
    kubeconfig_problems: tuple[str, ...] = ()  # why kubectl would refuse the kubeconfig, one sentence each
    cloud: CloudContext | None = None  # the cloud's description, when any was given or discovered
    # The addresses kubectl would dial, in its order: the system resolver's answer, unless a
    # proxy resolves the name instead (then none).
    dials: tuple[str, ...] = field(default=())

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
        return list(self.dials)

    def proxy_used(self) -> bool:
        return self.proxy.used
