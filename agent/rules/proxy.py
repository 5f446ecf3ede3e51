"""The proxy kubectl would use: whether it is there, reachable, and willing to tunnel."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence, works_end_to_end
from agent.rules.model import Evidence, Hit, Severity, rule


def _bypass_hint(obs: Observations) -> str:
    direct = [entry["address"] for r in obs.all("dns.system") for entry in r.facts.get("addresses", [])]
    working = [a for a in direct if works_end_to_end(obs, a)]
    if working:
        return (f" Without the proxy, {', '.join(working)} answers as the API server directly: add "
                f"{obs.target.host} to NO_PROXY.")
    return ""


def _connect_failure(obs: Observations, kinds: tuple[str, ...]) -> Iterator[Hit]:
    r = obs.one("proxy.connect")
    if r is not None and r.kind in kinds:
        yield Hit(r.subject, f"{r.failure.detail}; kubectl fails with 'proxyconnect' errors.{_bypass_hint(obs)}",
                  (evidence(r),), fix_args={"host": obs.target.host, "proxy": r.subject})


@rule("proxy.in_path", Severity.INFO, "kubectl sends its traffic through a proxy",
      "If the API server is private or reachable directly, exempt it: NO_PROXY={host} (or remove proxy-url "
      "from the kubeconfig).")
def in_path(obs: Observations) -> Iterator[Hit]:
    decision = obs.proxy
    if decision.used:
        yield Hit(str(decision.redacted),
                  f"{decision.reason}; kubectl asks {decision.redacted} for a tunnel "
                  f"to {obs.target.host}:{obs.target.port}, and the proxy resolves the name, not this host.",
                  (Evidence("proxy", obs.target.host, f"from {decision.source}"),),
                  fix_args={"host": obs.target.host})


@rule("proxy.unreachable", Severity.BLOCKER, "The proxy kubectl would use cannot be reached",
      "Correct HTTPS_PROXY / proxy-url ({proxy}), start the proxy, or exempt the API server with NO_PROXY={host}.")
def unreachable(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.unreachable",))


@rule("proxy.refused_connect", Severity.BLOCKER, "The proxy refuses to tunnel to the API server",
      "Allow CONNECT to {host} on the proxy (its port and destination allow-lists), fix the proxy URL's "
      "scheme, or exempt the API server with NO_PROXY={host}.")
def refused_connect(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.refused_connect", "proxy.scheme_mismatch", "proxy.error"))


@rule("proxy.auth_required", Severity.BLOCKER, "The proxy requires authentication",
      "Put credentials the proxy accepts in the proxy URL (http://USER:PASSWORD@proxy:port; kubectl supports "
      "only Basic), or exempt the API server with NO_PROXY={host}.")
def auth_required(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.auth_required",))


RULES = (in_path, unreachable, refused_connect, auth_required)
