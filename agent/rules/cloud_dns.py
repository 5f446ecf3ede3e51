"""Private DNS in Azure: why a private cluster's name does not resolve from here.

An Azure private DNS zone answers only for VNets linked to it, and only through Azure DNS
(168.63.129.16, reachable only from inside Azure). So the name fails when the client's VNet
is not linked, or when the VNet's custom DNS servers cannot get the answer from Azure DNS
in a linked VNet.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.fields import norm_id, parse_id
from agent.cloud.inventory import Inventory, VNet, VNetLink
from agent.cloud.topology import place
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    dns_evidence,
    dns_failure,
    names,
    uses_custom_dns,
    view,
    vnet_label,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from agent.rules.vnet_integration import elsewhere_private
from probes.base import Status

LINK_FIX = (
    "Link the zone to the client's VNet: az network private-dns link vnet create"
    "{subscription} -g {zone_rg} -z {zone} -n {link} -v {vnet_id} -e false"
)


def _zone_place(inv: Inventory, v: View, zone: str) -> tuple[str, str]:
    """(resource group, " --subscription S" or "") of the zone, from the inventory or the
    cluster description."""
    known = inv.zone(zone)
    zone_id = known.id if known else next((k.zone_id for k in inv.links_of(zone)), None)
    if zone_id is None and v.cluster is not None:
        zone_id = v.cluster.private_zone_id
    parsed = parse_id(zone_id) if zone_id else None
    rg = (parsed.resource_group if parsed else None) or "<zone-resource-group>"
    sub = f" --subscription {parsed.subscription}" if parsed and parsed.subscription else ""
    return rg, sub


def _links_to(inv: Inventory, zone: str, vnet: VNet) -> list[VNetLink]:
    return [k for k in inv.links_of(zone) if norm_id(k.vnet_id) == norm_id(vnet.id)]


def _linked(inv: Inventory, zone: str, vnet: VNet) -> bool:
    return any(k.completed for k in _links_to(inv, zone, vnet))


def _link_fix(inv: Inventory, v: View, zone: str, vnet: VNet) -> dict[str, str]:
    rg, sub = _zone_place(inv, v, zone)
    return {"subscription": sub, "zone_rg": rg, "zone": zone, "link": f"{vnet.name}-link",
            "vnet_id": vnet.id}


def _preconditions(obs: Observations) -> Iterator[tuple[View, str, VNet, Evidence]]:
    """A name in a known private zone failed to resolve, and we know the client's VNet."""
    v = view(obs)
    if v is None:
        return
    zone = v.zone_name
    failure = dns_failure(obs, v.host)
    vnet = v.client_vnet
    if zone is None or failure is None or vnet is None:
        return
    if not v.ctx.inventory.knows_zone(zone):
        return
    if elsewhere_private(obs, v) is not None:
        # Linking the cluster's zone would give this VNet the load balancer's address, which
        # it does not reach: its own zone, pointing at its own private endpoint, is the way.
        return
    yield v, zone, vnet, dns_evidence(failure)


@rule(
    "dns.private_zone_not_linked",
    Severity.BLOCKER,
    "Private DNS zone not linked to this client's VNet",
    LINK_FIX,
)
def private_zone_not_linked(obs: Observations) -> Iterator[Hit]:
    for v, zone, vnet, dns_seen in _preconditions(obs):
        inv = v.ctx.inventory
        if uses_custom_dns(vnet, v.ctx.azure_dns_ip) or _linked(inv, zone, vnet):
            continue
        links = inv.links_of(zone)
        present = [inv.vnet(k.vnet_id) for k in links]
        linked = sorted({x.name for x in present if x is not None})
        dangling = sorted(parse_id(k.vnet_id).name or k.vnet_id
                          for k, x in zip(links, present, strict=True) if x is None)
        pending = [k for k in _links_to(inv, zone, vnet) if not k.completed]
        detail = (
            f"{v.host} did not resolve ({dns_seen.fact}). It is a record in the private DNS "
            f"zone {zone}, which answers only in VNets linked to it: it is linked to "
            f"{names(linked) or 'no VNet in the inventory'}, but not to {vnet_label(vnet)}, "
            f"the VNet this client ({v.client.address if v.client else '?'}) is in."
        )
        if pending:
            detail += f" A link to it exists ({pending[0].name}) but is {pending[0].state}."
        if dangling:
            detail += (f" Its links to {names(dangling)} point at VNets the inventory does not "
                       "have (deleted, or not exported).")
        detail += " This is why the name was not found (dns.nxdomain)."
        yield Hit(
            subject=v.host,
            detail=detail,
            evidence=(dns_seen,
                      Evidence("cloud", zone, f"links: {names(linked) or 'none'}"),
                      Evidence("cloud", vnet.name, f"client {v.client.address} in "
                               f"{', '.join(vnet.prefixes)} ({v.client.how})")),
            fix_args=_link_fix(inv, v, zone, vnet),
        )


@rule(
    "dns.custom_dns_not_forwarding",
    Severity.BLOCKER,
    "Custom DNS servers do not resolve the private zone",
    "Make the custom DNS servers ({servers}) resolve {zone}: each must forward it to Azure DNS "
    "({azure_dns}) from a VNet linked to {zone} (a server outside Azure forwards it to a DNS "
    "forwarder or Private Resolver inbound endpoint in such a VNet; a server in an unlinked VNet "
    "needs that VNet linked: az network private-dns link vnet create):\n{steps}",
)
def custom_dns_not_forwarding(obs: Observations) -> Iterator[Hit]:
    for v, zone, vnet, dns_seen in _preconditions(obs):
        inv = v.ctx.inventory
        servers = [s for s in vnet.dns_servers if s != v.ctx.azure_dns_ip]
        if not servers:
            continue
        reasons, fixes, evidence = [], [], [dns_seen]
        for server in servers:
            where = place(inv, server).vnet
            answer = obs.one("dns.nameserver", server)
            said_no = answer is not None and answer.status is Status.FAILED
            if answer is not None:
                evidence.append(Evidence(answer.probe, server,
                                         answer.kind or answer.status.value))
            if where is None:
                reasons.append(
                    f"{server} is outside every VNet in the inventory (on-premises?) and cannot "
                    f"ask Azure DNS, which answers only inside Azure"
                )
                fixes.append(f"on {server}, forward {zone} to a DNS forwarder or Private "
                             f"Resolver inbound endpoint in a VNet linked to {zone}")
            elif not _linked(inv, zone, where):
                reasons.append(f"{server} runs in {where.name}, which is not linked to {zone}")
                a = _link_fix(inv, v, zone, where)
                fixes.append(f"on {server}, forward {zone} to {v.ctx.azure_dns_ip}")
                fixes.append(
                    f"link {where.name}: az network private-dns link vnet create"
                    f"{a['subscription']} -g {a['zone_rg']} -z {zone} -n {a['link']} "
                    f"-v {where.id} -e false"
                )
            else:
                if said_no:
                    reasons.append(f"{server} runs in {where.name}, which is linked to {zone}, "
                                   f"yet answers {answer.kind}: it does not forward {zone} to "
                                   f"{v.ctx.azure_dns_ip}")
                else:
                    reasons.append(f"{server} runs in {where.name}, which is linked to {zone}, "
                                   f"so it must forward {zone} to {v.ctx.azure_dns_ip}")
                fixes.append(f"on {server}, forward {zone} to {v.ctx.azure_dns_ip}")
        azure = next((r for r in obs.all("dns.resolver")
                      if r.subject.endswith("=" + v.ctx.azure_dns_ip) and r.ok), None)
        detail = (
            f"{v.host} did not resolve ({dns_seen.fact}). {vnet_label(vnet)} uses custom DNS "
            f"servers {names(servers)} instead of Azure DNS, so the private zone {zone} is "
            f"visible only if they get it from Azure DNS ({v.ctx.azure_dns_ip}) in a VNet "
            f"linked to the zone: {'; '.join(reasons)}."
        )
        if azure is not None:
            detail += f" Azure DNS itself answers the name ({azure.subject})."
            evidence.append(Evidence(azure.probe, azure.subject, "answered"))
        detail += " This is why the name was not found (dns.nxdomain)."
        yield Hit(
            subject=v.host,
            detail=detail,
            evidence=tuple(evidence),
            fix_args={"servers": names(servers), "zone": zone, "azure_dns": v.ctx.azure_dns_ip,
                      "steps": "\n".join(fixes)},
        )


RULES = (private_zone_not_linked, custom_dns_not_forwarding)
