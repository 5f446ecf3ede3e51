"""Who may connect to the API server's public endpoint: AKS authorized IP ranges, EKS public
access CIDRs.

A source outside the ranges is dropped silently, so kubectl sees ``i/o timeout``, not a
refusal. The ranges do not apply to a private endpoint. AKS takes at most 200 ranges, and
``az aks update --api-server-authorized-ip-ranges`` replaces the whole list.

Both providers filter the same way, so one piece of logic (:func:`denied`) decides whether
the egress IP is outside the ranges and builds the hit; each provider supplies an
:class:`Allowlist`: its ranges, whether kubectl's path bypasses them, its wording and the
values for its fix. ``acl.source_ip_not_authorized`` (AKS) and
``cloud.eks_public_cidr_denied`` (in ``eks.py``) are that logic with each provider's list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agent.cloud.cluster import AKS, EKS, ClusterFacts
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    aks_target,
    blocked_tcp,
    connected_tcp,
    eks_target,
    inside_vpc,
    kubectl_addresses,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import address_class, in_ranges, ip_network, merged_ranges

AKS_RANGE_LIMIT = 200
# AKS documents up to 2,000 authorized IP ranges for public clusters with API Server VNet
# Integration, 200 otherwise.
AKS_VNET_INTEGRATION_RANGE_LIMIT = 2000
NEAR = 0.9  # "near" the limit: 90% of it used


def range_limit(cluster: ClusterFacts) -> int:
    return AKS_VNET_INTEGRATION_RANGE_LIMIT if cluster.vnet_integration else AKS_RANGE_LIMIT


@dataclass(frozen=True)
class Allowlist:
    """The source ranges one provider's public endpoint admits, and how to speak of them."""

    provider: str  # AKS | EKS
    ranges: tuple[str, ...]  # in force, as written
    private_path: bool  # kubectl goes a way the ranges do not apply to
    intro: str  # "The API server X accepts connections only from ... (ranges)"
    noun: str  # what the ranges are called: "authorized range(s)"
    evidence: Evidence  # where the ranges were read
    fix_args: Callable[[str], Mapping[str, Any]]  # the rule's fix values, given the range to add

    @property
    def restricted(self) -> bool:
        """Whether the ranges leave some source out (0.0.0.0/0 admits every IPv4 source)."""
        networks = [ip_network(r) for r in self.ranges]
        return bool(self.ranges) and not any(n is not None and n.prefixlen == 0 for n in networks)


def _shown(ranges: tuple[str, ...]) -> str:
    return ", ".join(ranges[:5]) + (f" and {len(ranges) - 5} more" if len(ranges) > 5 else "")


def _private_path(obs: Observations, v: View) -> bool:
    """kubectl goes to a private AKS endpoint, where authorized ranges do not apply."""
    if v.aks is not None and v.aks.private and not v.aks.vnet_integration:
        return True
    addresses = kubectl_addresses(obs)
    return bool(addresses) and all(address_class(a) == "private" for a in addresses)


def _public_addresses(obs: Observations) -> list[str]:
    return [a for a in kubectl_addresses(obs) if address_class(a) == "public"]


def aks_allowlist(obs: Observations, v: View) -> Allowlist | None:
    """AKS's configured authorized IP ranges and those the user named (--authorized-range)."""
    if v.cluster is not None and v.cluster.provider != AKS:
        return None
    ranges = v.ctx.authorized_ranges
    existing = v.aks.authorized_ranges if v.aks and v.aks.authorized_ranges else ranges
    rg, name = aks_target(v)

    def fix_args(add: str) -> dict[str, str]:
        return {"add": add, "rg": rg, "name": name, "ranges": ",".join([*existing, add])}

    return Allowlist(
        provider=AKS,
        ranges=ranges,
        private_path=_private_path(obs, v),
        intro=(f"The API server {v.host} accepts connections only from its authorized IP "
               f"ranges ({_shown(ranges)})"),
        noun="authorized range(s)",
        evidence=Evidence("cloud", "authorized ranges", _shown(ranges)),
        fix_args=fix_args,
    )


def eks_allowlist(obs: Observations, v: View) -> Allowlist | None:
    """An EKS cluster's publicAccessCidrs, when its public endpoint is on."""
    cluster = v.cluster
    if cluster is None or cluster.provider != EKS or cluster.endpoint_public_access is not True:
        return None
    # EKS applies 0.0.0.0/0 when public access is on and no CIDRs were given.
    cidrs = cluster.public_access_cidrs or ("0.0.0.0/0",)
    addresses = kubectl_addresses(obs)
    resolved_private = bool(addresses) and not any(
        address_class(a) == "public" for a in addresses)
    in_vpc = bool(cluster.endpoint_private_access and inside_vpc(v, cluster))
    return Allowlist(
        provider=EKS,
        ranges=cidrs,
        private_path=resolved_private or in_vpc,
        intro=(f"EKS cluster {cluster.name} admits its public endpoint only from "
               f"{', '.join(cidrs)}"),
        noun="public access CIDR(s)",
        evidence=Evidence("cloud", cluster.name, f"publicAccessCidrs {', '.join(cidrs)}"),
        fix_args=lambda add: {"add": add, "where": eks_target(cluster),
                              "cidrs": ",".join([*cluster.public_access_cidrs, add])},
    )


def denied(obs: Observations, v: View, allowed: Allowlist | None) -> Iterator[Hit]:
    """The hit when this client's known egress IP is outside ``allowed``'s ranges on a public
    path, and no connection to a public address got through (which would mean the ranges or
    the egress IP given are stale)."""
    egress = v.ctx.egress
    if allowed is None or egress is None or not allowed.ranges or allowed.private_path:
        return
    if in_ranges(egress.address, allowed.ranges):
        return
    public = _public_addresses(obs)
    if connected_tcp(obs, public):
        return
    blocked = blocked_tcp(obs, public) if public else blocked_tcp(obs)
    add = f"{egress.address}/{32 if ':' not in egress.address else 128}"
    yield Hit(
        subject=egress.address,
        detail=(f"{allowed.intro}; this client's egress IP {egress.address} (from "
                f"{egress.source}) is in none of them, so the API server drops its connections "
                f"without a reply." + why_sentence(blocked)),
        evidence=(allowed.evidence,
                  Evidence("cloud", "egress IP", f"{egress.address} from {egress.source}"),
                  *(tcp_evidence(r) for r in blocked)),
        fix_args=allowed.fix_args(add),
    )


@rule(
    "acl.source_ip_not_authorized",
    Severity.BLOCKER,
    "Egress IP not in the API server's authorized IP ranges",
    "Add {add} to the authorized ranges (the list is replaced, so pass all of it): az aks update "
    "-g {rg} -n {name} --api-server-authorized-ip-ranges {ranges}",
)
def source_ip_not_authorized(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is not None:
        yield from denied(obs, v, aks_allowlist(obs, v))


@rule(
    "acl.egress_ip_unknown",
    Severity.INFO,
    "Source ranges restrict the API server, but this client's egress IP is unknown",
    "Pass --egress-ip ADDRESS (the public address your traffic leaves from), or "
    "--egress-ip-url URL of a what-is-my-IP service you trust, to check it against the ranges.",
)
def egress_ip_unknown(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.ctx.egress is not None:
        return
    allowed = aks_allowlist(obs, v) or eks_allowlist(obs, v)
    if allowed is not None and allowed.restricted and not allowed.private_path:
        yield Hit(
            subject=v.host,
            detail=(f"The API server admits only {len(allowed.ranges)} {allowed.noun}, and "
                    f"whether this client's egress IP is among them could not be checked."),
            evidence=(allowed.evidence,),
        )


@rule(
    "acl.private_endpoint_ignores_ranges",
    Severity.INFO,
    "Authorized IP ranges do not apply to the private path",
    "Control private access with NSGs and peering instead; the ranges matter only for the "
    "public endpoint.",
)
def private_endpoint_ignores_ranges(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or not v.ctx.authorized_ranges or not _private_path(obs, v):
        return
    addresses = [a for a in kubectl_addresses(obs) if address_class(a) == "private"]
    target = f"the private address {', '.join(addresses)}" if addresses else "a private endpoint"
    yield Hit(
        subject=v.host,
        detail=(f"Authorized IP ranges are set ({len(v.ctx.authorized_ranges)}), but kubectl "
                f"reaches {v.host} through {target}, where they neither admit nor block it."),
    )


@rule(
    "acl.range_not_aligned",
    Severity.WARNING,
    "Authorized range has host bits set",
    "Write {network} if the whole block is meant, or {address}/{bits} for the one address.",
)
def range_not_aligned(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    ranges = list(v.ctx.authorized_ranges)
    if v.cluster is not None:
        ranges += v.cluster.public_access_cidrs
    for text in dict.fromkeys(ranges):
        network = ip_network(text)
        if network is None or network.ip == network.network:
            continue
        yield Hit(
            subject=text,
            detail=(f"{text} has host bits set: as a range it means {network.cidr} "
                    f"({network.network} to {network.broadcast or network[-1]}, {network.size} "
                    f"addresses), not just {network.ip}."),
            evidence=(Evidence("cloud", "authorized ranges", text),),
            fix_args={"network": str(network.cidr), "address": str(network.ip),
                      "bits": 32 if network.version == 4 else 128},
        )


@rule(
    "acl.ranges_near_limit",
    Severity.WARNING,
    "Authorized IP range list near AKS's limit (200, or 2,000 with API Server VNet Integration)",
    "Merge adjacent ranges ({merged} suffice for the same addresses), and remember that "
    "az aks update --api-server-authorized-ip-ranges replaces the whole list: pass every "
    "range you keep.",
)
def ranges_near_limit(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.aks is None:
        return
    ranges = v.aks.authorized_ranges
    limit = range_limit(v.aks)
    if len(ranges) < limit * NEAR:
        return
    merged = len(merged_ranges(ranges))
    why = " with API Server VNet Integration" if v.aks.vnet_integration else ""
    yield Hit(
        subject=v.aks.name or v.host,
        detail=(f"{len(ranges)} authorized ranges are set; AKS accepts at most "
                f"{limit:,}{why}, so few more can be added."),
        fix_args={"merged": merged},
    )


RULES = (
    source_ip_not_authorized,
    egress_ip_unknown,
    private_endpoint_ignores_ranges,
    range_not_aligned,
    ranges_near_limit,
)
