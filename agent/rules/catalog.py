"""Every rule kubereach knows, in one explicit list: the README's code table mirrors it."""

from __future__ import annotations

from agent.rules import auth, checks, dns, http, kubeconfig, net, proxy, tls
from agent.rules.model import Rule

CORE_RULES: tuple[Rule, ...] = (
    *kubeconfig.RULES,
    *auth.RULES,
    *dns.RULES,
    *proxy.RULES,
    *net.RULES,
    *tls.RULES,
    *http.RULES,
    *checks.RULES,
)


def all_rules() -> tuple[Rule, ...]:
    """The core rules plus those of optional areas (cloud context, packet evidence)."""
    # cloud reads Observations.cloud, packet the packet.* results: both are
    # silent without them.
    from agent.rules import cloud, packet

    return CORE_RULES + cloud.RULES + packet.RULES


def all_explains() -> dict[str, tuple[str, ...]]:
    """Cause code -> the symptom codes it explains, from every area that has causes."""
    from agent.rules import cloud, packet

    return {**cloud.EXPLAINS, **packet.EXPLAINS, **net.EXPLAINS}
