"""API Server VNet Integration: the API server as an internal load balancer in the user's VNet.

Facts relied on (AKS documentation, "API Server VNet Integration" and "Connect to an API
Server VNet Integration cluster using Azure Private Link"):

- the API server sits behind an internal load balancer ``kube-apiserver`` (in the node
  resource group) with an IP in a subnet delegated to
  ``Microsoft.ContainerService/managedClusters``; nodes reach it by that IP, without DNS;
- NSG rules on that subnet must admit the cluster subnet on TCP 443 and 4443, and the
  ``AzureLoadBalancer`` tag on TCP 9988;
- a private VNet-integrated cluster has no private endpoint: another VNet reaches it only
  through the user's own Private Link Service on ``kube-apiserver``, a private endpoint in
  that VNet and a private DNS zone, linked to that VNet, with an A record for the
  endpoint's address;
- a bring-your-own zone is ``private.<region>.azmk8s.io`` or
  ``<subzone>.private.<region>.azmk8s.io`` (not ``privatelink``), and the private FQDN has
  the shape ``<label>.<label>.private.<region>.azmk8s.io``;
- converting a cluster (``az aks update --enable-apiserver-vnet-integration``) keeps its
  host name but changes the API server's IP.

The NSG rules on the API server subnet are in vnet_integration_nsg.py, the user's Private
Link path from another VNet in vnet_integration_endpoint.py. Every rule reads ``obs.cloud`` through :func:`~agent.rules.cloud_view.view` and is silent
without a VNet-integrated cluster (from ``--cluster``, or a kubectl address inside an
AKS-delegated subnet of the inventory).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from agent.cloud.cluster import ClusterFacts
from agent.cloud.fields import norm_id, parse_id
from agent.cloud.inventory import (
    Inventory,
    Subnet,
    VNet,
)
from agent.cloud.topology import NONE, SAME, UNKNOWN, path_between
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    blocked_tcp,
    kubectl_addresses,
    names,
    tcp_evidence,
    view,
    vnet_label,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule

KUBE_APISERVER_LB = "kube-apiserver"
KUBE_APISERVER_FRONTEND = "kube-apiserver-frontend"
NODE_PORTS = (443, 4443)  # cluster subnet -> API server subnet, TCP
PROBE_PORT = 9988  # AzureLoadBalancer -> API server subnet, TCP
_BYO_ZONE = re.compile(r"^(?:[a-z0-9-]+\.)?private\.[a-z0-9]+\.azmk8s\.io$")


@dataclass(frozen=True)
class ApiServer:
    """Where a VNet-integrated API server sits, as far as the inputs tell."""

    cluster: ClusterFacts | None
    subnet: Subnet | None
    vnet: VNet | None
    addresses: tuple[str, ...]  # its private (load balancer) addresses, when known

    @property
    def private(self) -> bool:
        return bool(self.cluster and self.cluster.private)


def _recorded(v: View) -> list[str]:
    out: list[str] = []
    for name in (v.host, v.cluster.private_fqdn if v.cluster else None):
        if name:
            out.extend(v.ctx.inventory.addresses_of(name))
    return out


def apiserver(obs: Observations, v: View) -> ApiServer | None:
    """The VNet-integrated API server this run is about, or None when there is none."""
    inv = v.ctx.inventory
    cluster = v.aks if v.aks is not None and v.aks.vnet_integration else None
    known = list(dict.fromkeys([*kubectl_addresses(obs), *_recorded(v)]))
    subnet = inv.subnet(cluster.apiserver_subnet_id) if cluster and cluster.apiserver_subnet_id \
        else None
    if subnet is None:
        subnet = next((s for a in known if (s := inv.subnet_of(a)) is not None
                       and (s.delegated_to_aks or s.holds_kube_apiserver)), None)
    if subnet is None and cluster is not None:
        holding = [s for s in inv.all_subnets() if s.holds_kube_apiserver]
        subnet = holding[0] if len(holding) == 1 else None
    if cluster is None and subnet is None:
        return None
    if v.aks is not None and not v.aks.vnet_integration:
        return None  # the cluster says it is not VNet-integrated: a stale subnet is not it
    addresses = tuple(a for a in known if subnet is not None and subnet.contains(a))
    vnet = inv.vnet(subnet.vnet_id) if subnet is not None else None
    return ApiServer(cluster, subnet, vnet, addresses)


def virtual_network_space(inv: Inventory, vnet: VNet | None, subnet: Subnet | None) -> tuple[str, ...]:
    """What the ``VirtualNetwork`` tag stands for at the API server subnet: its VNet's space
    and the address spaces of VNets peered with it (Connected)."""
    if vnet is None:
        return subnet.prefixes if subnet else ()
    space = list(vnet.prefixes)
    for p in inv.peerings_from(vnet.id):
        if p.state == "Connected":
            space.extend(p.remote_prefixes)
            remote = inv.vnet(p.remote_vnet_id)
            space.extend(remote.prefixes if remote else ())
    for p in inv.peerings:
        if norm_id(p.remote_vnet_id) == norm_id(vnet.id) and p.state == "Connected":
            local = inv.vnet(p.vnet_id)
            space.extend(local.prefixes if local else ())
    return tuple(dict.fromkeys(space))


def elsewhere_private(obs: Observations, v: View) -> ApiServer | None:
    """A private VNet-integrated API server and a client in another inventory VNet: the case
    where peering and linking the cluster's zone are not the documented way in (a private
    endpoint of the user's own is), so the peering and zone-link rules leave it to
    ``cloud.apiserver_private_endpoint_missing``."""
    api = apiserver(obs, v)
    if api is None or not api.private or api.vnet is None or v.client_vnet is None:
        return None
    if norm_id(api.vnet.id) == norm_id(v.client_vnet.id):
        return None
    return api


# --- the topology, said once ----------------------------------------------------------


def zone_sentence(v: View, cluster: ClusterFacts | None) -> str:
    if cluster is None or not cluster.private:
        return ""
    setup, zone = cluster.zone_setup, cluster.private_zone_name
    inv = v.ctx.inventory
    if setup == "none":
        return (" privateDNSZone is none: AKS makes no private zone, and the name must "
                "resolve some other way (public DNS, or a zone of your own).")
    if setup == "byo":
        shape = ("" if zone and _BYO_ZONE.match(zone) else
                 " That name is not of the shape AKS documents for VNet-integrated clusters "
                 "(private.<region>.azmk8s.io or <subzone>.private.<region>.azmk8s.io).")
        return f" privateDNSZone is a zone of your own, {zone}.{shape}"
    # AKS's documentation does not say clearly whether it makes and links a system zone for
    # private VNet-integrated clusters as it does for Private Link ones: say what is seen.
    where = (f"; the inventory has it, linked to "
             f"{names(sorted({parse_id(k.vnet_id).name or k.vnet_id for k in inv.links_of(zone)})) or 'no VNet'}"
             if zone and inv.knows_zone(zone) else "; the inventory does not have that zone")
    return (f" privateDNSZone is system (AKS's default): the zone would be "
            f"{zone or 'the private FQDN less its first label'}{where}.")


def _relation(v: View, api: ApiServer) -> str:
    client = v.client_vnet
    who = f"This client ({', '.join(v.client_ips) or 'address unknown'})"
    if client is None:
        return f"{who} is in none of the inventory's VNets."
    if api.vnet is None:
        return f"{who} is in {vnet_label(client)}; the API server's VNet is not in the inventory."
    path = path_between(v.ctx.inventory, client, api.vnet)
    if path.verdict == SAME:
        return f"{who} is in the same VNet."
    if path.verdict in (NONE, UNKNOWN):
        state = "not peered with it" if path.verdict == NONE else "of unknown peering to it"
        return f"{who} is in another VNet, {vnet_label(client)}, {state}."
    via = f" through the hub {path.hub.name}" if path.hub else ""
    return f"{who} is in another VNet, {vnet_label(client)}, {path.verdict}{via}."


@rule(
    "cloud.apiserver_vnet_integration",
    Severity.INFO,
    "API Server VNet Integration: the API server is a load balancer in the cluster's VNet",
    "Reach a private VNet-integrated API server from its own VNet ({vnet}), or from another "
    "VNet through your Private Link Service on the kube-apiserver load balancer and a private "
    "endpoint in that VNet; a public one through its public FQDN and authorized ranges.",
)
def apiserver_vnet_integration(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    api = apiserver(obs, v)
    if api is None:
        return
    c = api.cluster
    kind = "private" if api.private else "public"
    at = f" at {names(list(api.addresses))}" if api.addresses else ""
    where = (f" in the delegated subnet {api.subnet.name} ({', '.join(api.subnet.prefixes)})"
             if api.subnet else " in a subnet delegated to Microsoft.ContainerService/managedClusters")
    of = f" of {vnet_label(api.vnet)}" if api.vnet else ""
    name = c.name if c and c.name else v.host
    detail = (f"{name} uses API Server VNet Integration ({kind} API server): the API server is "
              f"the internal load balancer {KUBE_APISERVER_LB}{at}{where}{of}; nodes reach it "
              f"by IP without DNS. {_relation(v, api)}")
    if c is not None and not c.private and c.fqdn:
        detail += (f" Its public FQDN {c.fqdn} stays, with up to 2,000 authorized IP ranges.")
    detail += zone_sentence(v, c)
    evidence = [Evidence("cloud", name, "enableVnetIntegration true")] if c else []
    if api.subnet is not None:
        evidence.append(Evidence("cloud", api.subnet.name,
                                 "delegated to " + (", ".join(api.subnet.delegations) or "?")))
    yield Hit(v.host, detail, tuple(evidence),
              {"vnet": api.vnet.name if api.vnet else "the cluster's VNet"})


# --- NSG on the API server subnet -----------------------------------------------------


@rule(
    "cloud.apiserver_address_changed",
    Severity.WARNING,
    "An address pinned for the API server is no longer its address",
    "Remove or correct the {host} line in {hosts_file} (the API server is now at {current}); "
    "check firewall rules and NO_PROXY entries written for {pinned} too: converting a cluster "
    "to API Server VNet Integration keeps its name and changes its IP.",
)
def apiserver_address_changed(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    api = apiserver(obs, v)
    system = obs.one("dns.system", v.host) or obs.one("dns.system")
    if api is None or system is None or system.facts.get("source") != "hosts":
        return
    pinned = [a["address"] for a in system.facts.get("addresses", []) if "address" in a]
    answers = [a["address"] for p in ("dns.nameserver", "dns.resolver") for r in obs.all(p)
               if r.ok for a in r.facts.get("addresses", []) if "address" in a]
    current = list(dict.fromkeys([*answers, *_recorded(v)]))
    if api.subnet is not None:
        inside = [a for a in current if api.subnet.contains(a)]
        # Several clusters of a VNet may share the subnet: with the current address known,
        # a pin to another address in it (another cluster's load balancer) is wrong too.
        outside = ([a for a in pinned if a not in inside] if inside
                   else [a for a in pinned if not api.subnet.contains(a)])
        current = inside or current
    else:
        outside = [a for a in pinned if current and a not in current]
    if not pinned or not outside or (api.subnet is None and not current):
        return
    where = (f" in the API server subnet {api.subnet.name} ({', '.join(api.subnet.prefixes)})"
             if api.subnet else "")
    blocked = blocked_tcp(obs, outside)
    now = f"; it is now at {names(current)}" if current else ""
    detail = (f"{system.facts.get('hosts_file', 'The hosts file')} pins {v.host} to "
              f"{names(outside)}, which is not the API server's address{where}{now}. The "
              f"cluster uses API Server VNet Integration, and converting a cluster to it keeps "
              f"the name but moves the API server to a load balancer IP in the delegated subnet: "
              f"hosts lines, firewall rules and NO_PROXY IP entries made for the old address "
              f"break.")
    yield Hit(
        subject=v.host,
        detail=detail + why_sentence(blocked),
        evidence=(Evidence(system.probe, system.subject, f"hosts file gives {names(pinned)}"),
                  *(tcp_evidence(r) for r in blocked)),
        fix_args={"host": v.host, "hosts_file": system.facts.get("hosts_file", "/etc/hosts"),
                  "current": names(current) or "the address DNS gives",
                  "pinned": names(outside)},
    )


RULES = (apiserver_vnet_integration, apiserver_address_changed)

EXPLAINS: dict[str, tuple[str, ...]] = {
    apiserver_address_changed.code: ("dns.hosts_override", "net.filtered", "net.no_route"),
}
