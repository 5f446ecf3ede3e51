"""Where an address sits in the inventory, and whether two VNets have a working path.

Pure functions over an :class:`Inventory`. Azure peering is not transitive: a spoke reaches
another spoke through a hub only when the hub forwards (an NVA or firewall, with
``allowForwardedTraffic`` on the spokes' peerings) or through the hub's gateway
(``allowGatewayTransit`` on the hub side, ``useRemoteGateways`` on the spoke side).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.cloud.fields import norm_id, parse_id
from agent.cloud.inventory import Inventory, Peering, VNet
from probes.base import in_ranges, ip_network


@dataclass(frozen=True)
class Placement:
    """The VNet an address is in: ``vnet`` when the inventory says so unambiguously."""

    address: str
    vnet: VNet | None
    candidates: tuple[VNet, ...] = ()  # more than one: overlapping address spaces
    how: str = ""  # "nic" | "subnet" | "address space" | ""

    @property
    def ambiguous(self) -> bool:
        return self.vnet is None and len(self.candidates) > 1


def place(inv: Inventory, address: str, subnet_prefix: str | None = None) -> Placement:
    """Find ``address``'s VNet: a NIC holding it, else the VNets whose address space holds
    it, narrowed by the subnet (IMDS reports one) when the spaces overlap."""
    for nic in inv.nics:
        if address in nic.private_ips:
            for subnet_id in nic.subnet_ids:
                vnet = inv.vnet(parse_id(subnet_id).ancestor(1))
                if vnet is not None:
                    return Placement(address, vnet, (vnet,), "nic")
    candidates = tuple(v for v in inv.vnets if v.contains(address))
    if len(candidates) == 1:
        return Placement(address, candidates[0], candidates, "address space")
    if len(candidates) > 1:
        narrowed = tuple(v for v in candidates if _has_subnet(v, address, subnet_prefix))
        if len(narrowed) == 1:
            return Placement(address, narrowed[0], candidates, "subnet")
    return Placement(address, None, candidates, "")


def _has_subnet(vnet: VNet, address: str, prefix: str | None) -> bool:
    wanted = ip_network(prefix) if prefix is not None else None
    for subnet in vnet.subnets:
        if wanted is not None and any(ip_network(p) == wanted.cidr for p in subnet.prefixes):
            return True
        if prefix is None and in_ranges(address, subnet.prefixes):
            return True
    return False


def place_client(
    inv: Inventory, addresses: Iterable[str], subnet_prefix: str | None = None
) -> Placement | None:
    """The first of the client's addresses that the inventory can place (or the first
    ambiguous one, so the rules can say so); None when none is in any VNet."""
    ambiguous = None
    for address in addresses:
        found = place(inv, address, subnet_prefix)
        if found.vnet is not None:
            return found
        if found.ambiguous and ambiguous is None:
            ambiguous = found
    return ambiguous


# --- paths between VNets -----------------------------------------------------------------

SAME = "same vnet"
DIRECT_OK = "peered"
DIRECT_BROKEN = "peering broken"
HUB_OK = "via hub"
HUB_NO_TRANSIT = "hub does not forward"
HUB_BROKEN = "hub peering broken"
NONE = "not peered"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LegProblem:
    """One thing wrong with the peering between two VNets, as data for the fix."""

    kind: str  # "missing" | "state" | "sync" | "no_access"
    local: VNet  # the VNet whose peering is missing or wrong
    remote: VNet
    peering: Peering | None  # None when missing
    text: str  # one sentence naming the peering


@dataclass(frozen=True)
class Path:
    verdict: str  # one of the constants above
    client: VNet
    endpoint: VNet
    peerings: tuple[Peering, ...] = ()  # those the verdict rests on
    problems: tuple[LegProblem, ...] = ()
    hub: VNet | None = None
    no_forwarding: tuple[Peering, ...] = ()  # spoke->hub peerings lacking forwarded traffic


def leg_problems(inv: Inventory, a: VNet, b: VNet) -> list[LegProblem]:
    """What is wrong with the peering between ``a`` and ``b`` (both directions)."""
    problems: list[LegProblem] = []
    ab, ba = inv.peering(a.id, b.id), inv.peering(b.id, a.id)
    for local, remote, p in ((a, b, ab), (b, a, ba)):
        if p is None:
            other = ab or ba
            # A side is missing when its VNet's own list says so, or when the other side
            # is still waiting for it (Initiated) or lost it (Disconnected).
            if inv.peerings_known(local.id) or (other and other.state != "Connected"):
                problems.append(LegProblem("missing", local, remote, None,
                                           f"{local.name} has no peering to {remote.name}"))
            continue
        if p.state != "Connected":
            problems.append(LegProblem("state", local, remote, p,
                                       f"peering {p.name} on {local.name} is {p.state}"))
        elif p.sync_level and p.sync_level != "FullyInSync":
            problems.append(LegProblem("sync", local, remote, p,
                                       f"peering {p.name} on {local.name} is {p.sync_level}"))
        if not p.allow_vnet_access:
            problems.append(LegProblem(
                "no_access", local, remote, p,
                f"peering {p.name} on {local.name} has allowVirtualNetworkAccess false"))
    return problems


def path_between(inv: Inventory, client: VNet, endpoint: VNet) -> Path:
    if norm_id(client.id) == norm_id(endpoint.id):
        return Path(SAME, client, endpoint)
    direct = tuple(p for p in (inv.peering(client.id, endpoint.id),
                               inv.peering(endpoint.id, client.id)) if p)
    if direct:
        problems = leg_problems(inv, client, endpoint)
        verdict = DIRECT_BROKEN if problems else DIRECT_OK
        return Path(verdict, client, endpoint, direct, tuple(problems))
    hubs = [_via_hub(inv, client, hub, endpoint) for hub in _common_neighbours(inv, client, endpoint)]
    for wanted in (HUB_OK, HUB_NO_TRANSIT, HUB_BROKEN):
        for path in hubs:
            if path.verdict == wanted:
                return path
    if inv.peerings_known(client.id) or inv.peerings_known(endpoint.id):
        return Path(NONE, client, endpoint)
    return Path(UNKNOWN, client, endpoint)


def _neighbours(inv: Inventory, vnet: VNet) -> set[str]:
    out = {norm_id(p.remote_vnet_id) for p in inv.peerings_from(vnet.id)}
    out |= {norm_id(p.vnet_id) for p in inv.peerings if norm_id(p.remote_vnet_id) == norm_id(vnet.id)}
    return out


def _common_neighbours(inv: Inventory, a: VNet, b: VNet) -> list[VNet]:
    shared = _neighbours(inv, a) & _neighbours(inv, b)
    return sorted((v for v in inv.vnets if norm_id(v.id) in shared), key=lambda v: v.name)


def _via_hub(inv: Inventory, client: VNet, hub: VNet, endpoint: VNet) -> Path:
    problems = [p for spoke in (client, endpoint) for p in leg_problems(inv, spoke, hub)]
    legs = tuple(
        p for p in (inv.peering(client.id, hub.id), inv.peering(hub.id, client.id),
                    inv.peering(endpoint.id, hub.id), inv.peering(hub.id, endpoint.id)) if p
    )
    if problems:
        return Path(HUB_BROKEN, client, endpoint, legs, tuple(problems), hub)
    if all(_gateway_transit(inv, spoke, hub) for spoke in (client, endpoint)):
        return Path(HUB_OK, client, endpoint, legs, hub=hub)
    lacking = tuple(
        p for spoke in (client, endpoint)
        if (p := inv.peering(spoke.id, hub.id)) is not None and not p.allow_forwarded_traffic
    )
    verdict = HUB_NO_TRANSIT if lacking else HUB_OK
    return Path(verdict, client, endpoint, legs, hub=hub, no_forwarding=lacking)


def _gateway_transit(inv: Inventory, spoke: VNet, hub: VNet) -> bool:
    out, back = inv.peering(spoke.id, hub.id), inv.peering(hub.id, spoke.id)
    return bool(out and back and out.use_remote_gateways and back.allow_gateway_transit)
