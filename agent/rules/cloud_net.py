"""VNet peering between this client and the API server's private endpoint.

The inventory places both ends in VNets and says whether a working peering joins them,
directly or through a hub. When a TCP probe actually connected, the network has a path the
inventory does not show (VPN, ExpressRoute, a stale export), and these rules stay silent.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.inventory import Peering, VNet
from agent.cloud.topology import (
    DIRECT_BROKEN,
    HUB_BROKEN,
    HUB_NO_TRANSIT,
    NONE,
    LegProblem,
    Path,
    path_between,
    place,
)
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    blocked_tcp,
    connected_tcp,
    names,
    private_endpoint_addresses,
    same_vnet,
    tcp_evidence,
    view,
    vnet_label,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from agent.rules.vnet_integration import elsewhere_private
from probes.base import overlap


def _paths(obs: Observations) -> Iterator[tuple[View, str, Path]]:
    """(view, endpoint address, path) for each private endpoint address in another VNet,
    once per endpoint VNet, unless a TCP probe reached that address."""
    v = view(obs)
    if v is None or v.client_vnet is None or elsewhere_private(obs, v) is not None:
        return  # a private VNet-integrated API server is not reached by peering alone
    seen: set[str] = set()
    for address in private_endpoint_addresses(obs, v):
        endpoint = place(v.ctx.inventory, address).vnet
        if endpoint is None or same_vnet(endpoint, v.client_vnet):
            continue
        if endpoint.id.lower() in seen or connected_tcp(obs, [address]):
            continue
        seen.add(endpoint.id.lower())
        yield v, address, path_between(v.ctx.inventory, v.client_vnet, endpoint)


def _intro(v: View, address: str, path: Path) -> str:
    return (f"The API server's private endpoint {address} is in {vnet_label(path.endpoint)}; "
            f"this client ({v.client.address if v.client else '?'}) is in "
            f"{vnet_label(path.client)}.")


def _evidence(obs: Observations, address: str, path: Path) -> tuple[Evidence, ...]:
    tcp = [tcp_evidence(r) for r in blocked_tcp(obs, [address])]
    places = (Evidence("cloud", path.client.name, "client VNet"),
              Evidence("cloud", path.endpoint.name, f"VNet of {address}"))
    return (*tcp, *places)


def create_peering(local: VNet, remote: VNet) -> str:
    return (f"az network vnet peering create -g {local.resource_group} -n "
            f"{local.name}-to-{remote.name} --vnet-name {local.name} --remote-vnet {remote.id} "
            f"--allow-vnet-access")


def _repair(problem: LegProblem) -> str:
    p, local = problem.peering, problem.local
    if problem.kind == "missing" or p is None:
        return create_peering(local, problem.remote)
    where = f"-g {p.resource_group} --vnet-name {local.name} -n {p.name}"
    if problem.kind == "state":
        # Initiated: the other side is missing (created above); Disconnected: the other
        # side was deleted, and this side must be deleted and recreated.
        if p.state.lower() == "disconnected":
            return (f"az network vnet peering delete {where}; then "
                    f"{create_peering(local, problem.remote)}")
        return f"az network vnet peering sync {where}"
    if problem.kind == "sync":
        return f"az network vnet peering sync {where}"
    return f"az network vnet peering update {where} --set allowVirtualNetworkAccess=true"


def _overlap(a: VNet, b: VNet) -> str | None:
    common = overlap(a.prefixes, b.prefixes)
    return ", ".join(common) if common else None


@rule(
    "net.not_peered",
    Severity.BLOCKER,
    "Client VNet not peered with the API server's VNet",
    "Peer the two VNets, both directions:\n"
    "az network vnet peering create -g {client_rg} -n {client_vnet}-to-{endpoint_vnet} "
    "--vnet-name {client_vnet} --remote-vnet {endpoint_id} --allow-vnet-access\n"
    "az network vnet peering create -g {endpoint_rg} -n {endpoint_vnet}-to-{client_vnet} "
    "--vnet-name {endpoint_vnet} --remote-vnet {client_id} --allow-vnet-access\nVNets whose address "
    "spaces overlap cannot be peered ({overlap}): then renumber one of {client_vnet} and "
    "{endpoint_vnet} first, or reach the cluster another way (az aks command invoke, a jump box "
    "in {endpoint_vnet}).",
)
def not_peered(obs: Observations) -> Iterator[Hit]:
    for v, address, path in _paths(obs):
        if path.verdict != NONE:
            continue
        detail = (f"{_intro(v, address, path)} No peering joins them, directly or through a "
                  f"hub, so packets from this client never reach it.")
        overlap = _overlap(path.client, path.endpoint)
        if overlap:
            detail += f" Their address spaces overlap ({overlap}), so they cannot be peered."
        yield Hit(
            subject=address,
            detail=detail + why_sentence(blocked_tcp(obs, [address])),
            evidence=_evidence(obs, address, path),
            fix_args={"client_rg": path.client.resource_group, "client_id": path.client.id,
                      "endpoint_rg": path.endpoint.resource_group, "endpoint_id": path.endpoint.id,
                      "overlap": f"these do, on {overlap}" if overlap else "these do not",
                      "client_vnet": path.client.name, "endpoint_vnet": path.endpoint.name},
        )


@rule(
    "net.peering_not_connected",
    Severity.BLOCKER,
    "VNet peering not connected on both sides",
    "Repair the peering so both sides exist, are Connected and in sync, and allow VNet access "
    "(az network vnet peering create / sync / update, or delete and create a Disconnected "
    "side):\n{repairs}",
)
def peering_not_connected(obs: Observations) -> Iterator[Hit]:
    for v, address, path in _paths(obs):
        if path.verdict not in (DIRECT_BROKEN, HUB_BROKEN):
            continue
        via = f" through the hub {path.hub.name}" if path.hub else ""
        detail = (f"{_intro(v, address, path)} They are peered{via}, but "
                  f"{names([p.text for p in path.problems])}; traffic flows only once both "
                  f"sides of a peering exist and are Connected.")
        repairs = list(dict.fromkeys(_repair(p) for p in path.problems))
        yield Hit(
            subject=address,
            detail=detail + why_sentence(blocked_tcp(obs, [address])),
            evidence=_evidence(obs, address, path)
            + tuple(Evidence("cloud", p.peering.name if p.peering else p.local.name, p.text)
                    for p in path.problems),
            fix_args={"repairs": "\n".join(repairs)},
        )


def _forwarding_fix(p: Peering) -> str:
    return (f"az network vnet peering update -g {p.resource_group} --vnet-name {p.vnet_name} "
            f"-n {p.name} --set allowForwardedTraffic=true")


@rule(
    "net.hub_transit_not_allowed",
    Severity.BLOCKER,
    "Hub-and-spoke path does not forward between spokes",
    "Allow forwarded traffic on the spokes' peerings:\n{allow_forwarding}\nand route each "
    "spoke's traffic for the other through the hub's firewall: az network route-table route "
    "create -g {client_rg} --route-table-name <route-table of {client_vnet}> -n "
    "to-{endpoint_vnet} --address-prefix {address}/32 --next-hop-type VirtualAppliance "
    "--next-hop-ip-address <firewall IP in {hub}>\nor peer {client_vnet} and {endpoint_vnet} "
    "directly: {create_direct} (and the reverse)",
)
def hub_transit_not_allowed(obs: Observations) -> Iterator[Hit]:
    for v, address, path in _paths(obs):
        if path.verdict != HUB_NO_TRANSIT or path.hub is None:
            continue
        hub = path.hub
        lacking = names([f"{p.name} on {p.vnet_name}" for p in path.no_forwarding])
        verb = "does" if len(path.no_forwarding) == 1 else "do"
        detail = (f"{_intro(v, address, path)} Both are peered with the hub {hub.name}, but "
                  f"peering is not transitive: spoke-to-spoke traffic must be forwarded by a "
                  f"firewall or NVA in the hub, and {lacking} {verb} not allow forwarded traffic "
                  f"(nor is gateway transit set up).")
        yield Hit(
            subject=address,
            detail=detail + why_sentence(blocked_tcp(obs, [address])),
            evidence=_evidence(obs, address, path)
            + tuple(Evidence("cloud", p.name, "allowForwardedTraffic false")
                    for p in path.no_forwarding),
            fix_args={"allow_forwarding": "\n".join(_forwarding_fix(p) for p in path.no_forwarding),
                      "client_rg": path.client.resource_group, "client_vnet": path.client.name,
                      "endpoint_vnet": path.endpoint.name, "address": address, "hub": hub.name,
                      "create_direct": create_peering(path.client, path.endpoint)},
        )


RULES = (not_peered, peering_not_connected, hub_transit_not_allowed)
