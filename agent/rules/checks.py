"""Steps on kubectl's path that could not be checked: never a silent pass."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence
from agent.rules.model import Hit, Severity, rule
from probes.base import Status

_PATH_PROBES = ("dns.system", "tcp", "tls", "http", "proxy.connect")


@rule("check.incomplete", Severity.WARNING, "A step on kubectl's path could not be checked",
      "Re-run with a longer --timeout and --verbose; if a probe crashed, report it with the --verbose output.")
def incomplete(obs: Observations) -> Iterator[Hit]:
    for r in obs.results:
        if r.probe not in _PATH_PROBES or r.status not in (Status.ERROR, Status.SKIPPED):
            continue
        if r.facts.get("kubectl_refuses"):
            continue  # kubectl stops at the kubeconfig first: kubeconfig.invalid says why
        if r.probe in ("tcp", "tls", "http") and not (r.facts.get("kubectl_path") or r.facts.get("via") == "proxy"):
            continue
        yield Hit(f"{r.probe} {r.subject}", f"{r.probe} for {r.subject}: {r.reason or r.status.value}.",
                  (evidence(r, r.reason or r.status.value),))


RULES = (incomplete,)
