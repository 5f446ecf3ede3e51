"""Everything the rules may read, typed: the target, the probe results, and what was
decided once without a probe (the proxy decision, the kubeconfig's problems, the cloud
context, which addresses kubectl would dial).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.dial import Replay, replay
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
    # The request timeout the user's kubectl commands run with (--request-timeout); None: none.
    request_timeout_s: float | None = None
    # NO_PROXY (or no_proxy) as kubectl reads it, userinfo removed: (variable, value), or None.
    no_proxy: tuple[str, str] | None = None
    # Whether the credential check ran (--check-auth): then the verdict needs its answer.
    credentials_checked: bool = False

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

    @functools.cached_property
    def dial(self) -> Replay:
        """kubectl's serial dial over its addresses, replayed from the tcp results."""
        tcp = {r.facts.get("address", ""): r for r in self.results
               if r.probe == "tcp" and r.facts.get("via", "direct") == "direct"}
        return replay(self.dials, tcp)

    def resolve_wait_s(self) -> float:
        """How long kubectl's resolver takes to answer (Go asks nameservers in turn)."""
        system = self.one("dns.system")
        wait = system.facts.get("go_wait_s") if system is not None else None
        return float(wait) if isinstance(wait, (int, float)) else 0.0

    def connect_s(self) -> float:
        """How long kubectl needs before it has a connection: resolving, then dialling."""
        return self.resolve_wait_s() + self.dial.connect_s

    def too_slow(self) -> bool:
        """kubectl connects, but only after its --request-timeout has run out (the
        timeout does not cut the dial short, so the request fails once connected)."""
        return (self.request_timeout_s is not None and self.dial.connected is not None
                and self.connect_s() >= self.request_timeout_s)


def no_proxy_from(env: Mapping[str, str]) -> tuple[str, str] | None:
    """NO_PROXY as Go reads it (upper case first, then lower), each entry's userinfo cut
    off: a NO_PROXY entry is never a URL, but one pasted from a proxy URL would carry a
    password into the report."""
    for name in ("NO_PROXY", "no_proxy"):
        value = env.get(name)
        if value:
            return name, ",".join(e.rsplit("@", 1)[-1] for e in value.split(","))
    return None
