"""AKS API server authorized IP ranges: who may connect to the public endpoint.

A source outside the ranges is dropped silently, so kubectl sees ``i/o timeout``, not a
refusal. The ranges do not apply to a private endpoint. AKS takes at most 200 ranges, and
``az aks update --api-server-authorized-ip-ranges`` replaces the whole list.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    aks_target,
    blocked_tcp,
    connected_tcp,
    kubectl_addresses,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import address_class, in_ranges, ip_network, merged_ranges

AKS_RANGE_LIMIT = 200
NEAR_LIMIT = 180


def _private_path(obs: Observations, v: View) -> bool:
    """kubectl goes to a private endpoint, where authorized ranges do not apply."""
    if v.aks is not None and v.aks.private and not v.aks.vnet_integration:
        return True
    addresses = kubectl_addresses(obs)
    return bool(addresses) and all(address_class(a) == "private" for a in addresses)


def _public_addresses(obs: Observations) -> list[str]:
    return [a for a in kubectl_addresses(obs) if address_class(a) == "public"]


def _update_command(v: View, ranges: list[str]) -> str:
    rg, name = aks_target(v)
    return (f"az aks update -g {rg} -n {name} --api-server-authorized-ip-ranges "
            f"{','.join(ranges)}")


@rule(
    "acl.source_ip_not_authorized",
    Severity.BLOCKER,
    "Egress IP not in the API server's authorized IP ranges",
    "Add {add} to the authorized ranges (the list is replaced, so pass all of it): {command}",
)
def source_ip_not_authorized(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.ctx.egress is None or (v.cluster and v.cluster.provider != "aks"):
        return
    ranges = list(v.ctx.authorized_ranges)
    egress = v.ctx.egress
    if not ranges or _private_path(obs, v) or in_ranges(egress.address, ranges):
        return
    public = _public_addresses(obs)
    if connected_tcp(obs, public):
        return  # it connected after all: the ranges or the egress IP given are stale
    blocked = blocked_tcp(obs, public) if public else blocked_tcp(obs)
    add = f"{egress.address}/{32 if ':' not in egress.address else 128}"
    shown = ", ".join(ranges[:5]) + (f" and {len(ranges) - 5} more" if len(ranges) > 5 else "")
    detail = (
        f"The API server {v.host} accepts connections only from its authorized IP ranges "
        f"({shown}); this client's egress IP {egress.address} (from {egress.source}) is in none "
        f"of them, so the API server drops its connections without a reply."
        + why_sentence(blocked)
    )
    existing = list(v.aks.authorized_ranges) if v.aks and v.aks.authorized_ranges else ranges
    yield Hit(
        subject=egress.address,
        detail=detail,
        evidence=(Evidence("cloud", "authorized ranges", shown),
                  Evidence("cloud", "egress IP", f"{egress.address} from {egress.source}"),
                  *(tcp_evidence(r) for r in blocked)),
        fix_args={"add": add, "command": _update_command(v, [*existing, add])},
    )


@rule(
    "acl.egress_ip_unknown",
    Severity.INFO,
    "Authorized IP ranges set, but this client's egress IP is unknown",
    "Pass --egress-ip ADDRESS (the public address your traffic leaves from), or "
    "--egress-ip-url URL of a what-is-my-IP service you trust, to check it against the ranges.",
)
def egress_ip_unknown(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.ctx.egress is not None or (v.cluster and v.cluster.provider != "aks"):
        return
    ranges = v.ctx.authorized_ranges
    if ranges and not _private_path(obs, v):
        yield Hit(
            subject=v.host,
            detail=(f"The API server admits only {len(ranges)} authorized range(s), and "
                    f"whether this client's egress IP is among them could not be checked."),
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
    "Authorized IP range list near AKS's limit of 200",
    "Merge adjacent ranges ({merged} suffice for the same addresses), and remember that "
    "az aks update --api-server-authorized-ip-ranges replaces the whole list: pass every "
    "range you keep.",
)
def ranges_near_limit(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.aks is None:
        return
    ranges = v.aks.authorized_ranges
    if len(ranges) < NEAR_LIMIT:
        return
    merged = len(merged_ranges(ranges))
    yield Hit(
        subject=v.aks.name or v.host,
        detail=(f"{len(ranges)} authorized ranges are set; AKS accepts at most "
                f"{AKS_RANGE_LIMIT}, so few more can be added."),
        fix_args={"merged": merged},
    )


RULES = (
    source_ip_not_authorized,
    egress_ip_unknown,
    private_endpoint_ignores_ranges,
    range_not_aligned,
    ranges_near_limit,
)
