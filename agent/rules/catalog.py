"""Every rule kubereach knows, in one explicit list: the README's code table mirrors it."""

from __future__ import annotations

from agent.rules import checks, dns, http, kubeconfig, net, proxy, tls
from agent.rules.model import Rule

CORE_RULES: tuple[Rule, ...] = (
    *kubeconfig.RULES,
    *dns.RULES,
    *proxy.RULES,
    *net.RULES,
    *tls.RULES,
    *http.RULES,
    *checks.RULES,
)


def all_rules() -> tuple[Rule, ...]:
    """The core rules plus those of optional areas (cloud context, packet evidence)."""
    from agent.rules import cloud  # reads Observations.context["cloud"]; silent without it

    return CORE_RULES + cloud.RULES
