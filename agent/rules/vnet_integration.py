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

Every rule reads ``obs.cloud`` through :func:`~agent.rules.cloud_view.view` and is silent
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
    Nsg,
    PlsConnection,
    PrivateEndpoint,
    PrivateLinkService,
    SecurityRule,
    Subnet,
    VNet,
)
from agent.cloud.nsg import Flow, decide
from agent.cloud.topology import NONE, SAME, UNKNOWN, path_between
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    blocked_tcp,
    connected_tcp,
    kubectl_addresses,
    names,
    tcp_evidence,
    view,
    vnet_label,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import Status, ip_network

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


def _nsg(inv: Inventory, api: ApiServer) -> Nsg | None:
    return inv.nsg_of(api.subnet) if api.subnet is not None else None


def _rule_text(r: SecurityRule) -> str:
    ports = ",".join(r.ports)
    return (f"{r.name} (priority {r.priority}, {r.access} {r.protocol} from "
            f"{','.join(r.sources) or 'ASG'} to port {ports})")


def _free_priority(nsg: Nsg, below: int, direction: str = "Inbound") -> int | None:
    taken = {r.priority for r in nsg.rules if r.direction == direction}
    return next((p for p in range(below - 1, 99, -1) if p not in taken), None)


def _nsg_rg(nsg: Nsg) -> str:
    return parse_id(nsg.id).resource_group or "<nsg-resource-group>"


@rule(
    "net.nsg_denies_apiserver",
    Severity.BLOCKER,
    "NSG on the API server subnet drops this client",
    "Allow the client in the NSG {nsg} on the API server subnet, before {deny}: az network nsg "
    "rule create -g {rg} --nsg-name {nsg} -n allow-kubectl-{port} --priority {priority} "
    "--direction Inbound --access Allow --protocol Tcp --source-address-prefixes {source} "
    "--destination-address-prefixes {destination} --destination-port-ranges {port} (or narrow "
    "{deny} so it no longer covers the client)",
)
def nsg_denies_apiserver(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    api = apiserver(obs, v)
    if api is None or not api.addresses:
        return
    nsg = _nsg(v.ctx.inventory, api)
    if nsg is None:
        return
    space = virtual_network_space(v.ctx.inventory, api.vnet, api.subnet)
    for address in api.addresses:
        if connected_tcp(obs, [address]):
            continue
        blocked = blocked_tcp(obs, [address])
        source = next((r.facts.get("source_ip") for r in blocked
                       if isinstance(r.facts.get("source_ip"), str)), None)
        source = source or (v.client_ips[0] if v.client_ips else None)
        if source is None:
            continue
        decision = decide(nsg, Flow(source, address, obs.target.port), space)
        if decision.rule is None or decision.rule.allows:
            continue
        deny = decision.rule
        detail = (f"The API server subnet {api.subnet.name if api.subnet else ''} has the NSG "
                  f"{nsg.name}; for TCP from this client ({source}) to {address}:"
                  f"{obs.target.port} its first matching inbound rule is {_rule_text(deny)}, so "
                  f"the SYNs are dropped.")
        severity = None
        if decision.undecided:
            severity = Severity.WARNING
            detail += (f" Earlier rules could not be evaluated from the inventory "
                       f"({names([r.name for r in decision.undecided])}: application security "
                       f"groups or service tags): if one of them admits the client, this is not "
                       f"the cause.")
        priority = _free_priority(nsg, deny.priority)
        yield Hit(
            subject=address,
            detail=detail + why_sentence(blocked),
            evidence=(*(tcp_evidence(r) for r in blocked),
                      Evidence("cloud", nsg.name, _rule_text(deny))),
            fix_args={"nsg": nsg.name, "deny": deny.name, "rg": _nsg_rg(nsg),
                      "port": obs.target.port, "source": f"{source}/32",
                      "destination": ", ".join(api.subnet.prefixes) if api.subnet else address,
                      "priority": priority if priority is not None else "<a free priority>"},
            severity=severity,
        )


def _node_sources(inv: Inventory, api: ApiServer) -> list[Subnet]:
    """The cluster's node subnets: the agent pools' subnets, else the other, undelegated
    subnets of the API server's VNet (a managed VNet's node subnet)."""
    if api.cluster is not None and api.cluster.node_subnet_ids:
        found = [s for i in api.cluster.node_subnet_ids if (s := inv.subnet(i)) is not None]
        if found:
            return found
    if api.vnet is None or api.subnet is None:
        return []
    return [s for s in inv.all_subnets() if norm_id(s.vnet_id) == norm_id(api.vnet.id)
            and norm_id(s.id) != norm_id(api.subnet.id) and not s.delegations]


def _host_in(subnet: Subnet) -> str | None:
    network = ip_network(subnet.prefixes[0]) if subnet.prefixes else None
    if network is None or network.size < 8:
        return None
    return str(network.network + 4)  # Azure keeps the first four addresses for itself


@rule(
    "net.nsg_apiserver_ports_closed",
    Severity.WARNING,
    "NSG on the API server subnet closes a port AKS needs",
    "AKS needs the cluster subnet to reach the API server subnet on TCP 443 and 4443, and "
    "AzureLoadBalancer on TCP 9988; add the missing allow rules to {nsg} with az network nsg "
    "rule create:\n{commands}",
)
def nsg_apiserver_ports_closed(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    api = apiserver(obs, v)
    if api is None or api.subnet is None:
        return
    inv = v.ctx.inventory
    nsg = _nsg(inv, api)
    if nsg is None:
        return
    space = virtual_network_space(inv, api.vnet, api.subnet)
    target = api.addresses[0] if api.addresses else _host_in(api.subnet)
    if target is None:
        return
    flows: list[tuple[str, str, Flow]] = []
    for node in _node_sources(inv, api):
        host = _host_in(node)
        if host is not None:
            for port in NODE_PORTS:
                flows.append((f"{node.name} ({', '.join(node.prefixes)})", node.prefixes[0],
                              Flow(host, target, port)))
    flows.append(("AzureLoadBalancer", "AzureLoadBalancer",
                  Flow("AzureLoadBalancer", target, PROBE_PORT)))
    closed, commands, evidence = [], [], []
    priority = min((r.priority for r in nsg.rules if not r.default), default=1000)
    for label, source, flow in flows:
        decision = decide(nsg, flow, space)
        if decision.allowed is not False or decision.undecided:
            continue
        closed.append(f"{label} on TCP {flow.port} ({decision.rule.name} denies it)")
        evidence.append(Evidence("cloud", nsg.name, f"{_rule_text(decision.rule)} denies "
                                 f"{label} TCP {flow.port}"))
        priority = _free_priority(nsg, min(priority, decision.rule.priority)) or priority
        commands.append(
            f"az network nsg rule create -g {_nsg_rg(nsg)} --nsg-name {nsg.name} -n "
            f"allow-aks-{flow.port}-{len(commands) + 1} --priority {priority} --direction "
            f"Inbound --access Allow --protocol Tcp --source-address-prefixes {source} "
            f"--destination-address-prefixes {', '.join(api.subnet.prefixes)} "
            f"--destination-port-ranges {flow.port}")
        priority -= 1
    if not closed:
        return
    yield Hit(
        subject=nsg.name,
        detail=(f"The NSG {nsg.name} on the API server subnet {api.subnet.name} "
                f"({', '.join(api.subnet.prefixes)}) does not admit {names(closed)}: nodes or "
                f"the load balancer's health probes cannot reach the API server, which breaks "
                f"the cluster even where kubectl still connects."),
        evidence=tuple(evidence),
        fix_args={"nsg": nsg.name, "commands": "\n".join(commands)},
    )


# --- another VNet: the user's own Private Link Service and private endpoint -------------


def _services(inv: Inventory) -> list[PrivateLinkService]:
    return [s for s in inv.private_link_services if s.on_kube_apiserver]


def _candidates(inv: Inventory, vnet: VNet) -> list[tuple[PrivateEndpoint, PlsConnection]]:
    """Private endpoints in ``vnet`` connected to a Private Link Service that is on the
    kube-apiserver load balancer, or that the inventory does not describe."""
    known = {norm_id(s.id): s for s in inv.private_link_services}
    out = []
    for pe in inv.private_endpoints:
        if pe.vnet_id is None or norm_id(pe.vnet_id) != norm_id(vnet.id):
            continue
        for c in pe.connections:
            service = known.get(norm_id(c.service_id))
            if service is None or service.on_kube_apiserver:
                out.append((pe, c))
    return out


def _dns_steps(v: View, vnet: VNet, address: str) -> list[str]:
    host = v.cluster.private_fqdn if v.cluster and v.cluster.private_fqdn else v.host
    label, _, zone = host.partition(".")
    rg = vnet.resource_group or "<resource-group>"
    return [
        f"az network private-dns zone create -g {rg} -n {zone}",
        f"az network private-dns record-set a add-record -g {rg} -z {zone} -n {label} -a {address}",
        f"az network private-dns link vnet create -g {rg} -z {zone} -n {vnet.name}-link "
        f"-v {vnet.id} -e false",
    ]


@rule(
    "cloud.apiserver_private_endpoint_missing",
    Severity.BLOCKER,
    "No private endpoint of yours to the VNet-integrated API server in this VNet",
    "Give {client_vnet} its own way in, as AKS documents for private VNet-integrated "
    "clusters: a Private Link Service on the kube-apiserver load balancer, a private endpoint "
    "to it in {client_vnet}, and a private DNS zone with the API server's name at the "
    "endpoint's address, linked to {client_vnet} (az network private-link-service create, "
    "az network private-endpoint create, az network private-dns zone create, record-set a "
    "add-record, link vnet create):\n{steps}",
)
def apiserver_private_endpoint_missing(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    api = elsewhere_private(obs, v)
    client = v.client_vnet
    if api is None or client is None or api.vnet is None:
        return
    dialled = kubectl_addresses(obs)
    if connected_tcp(obs, dialled):
        return  # a path the inventory does not show works
    inv = v.ctx.inventory
    candidates = _candidates(inv, client)
    approved = [(pe, c) for pe, c in candidates if c.approved]
    blocked = blocked_tcp(obs)
    failure = obs.one("dns.system", v.host) or obs.one("dns.system")
    not_found = failure is not None and failure.status is Status.FAILED
    intro = (f"{v.host} is a private VNet-integrated API server in {vnet_label(api.vnet)}; this "
             f"client ({v.client.address if v.client else '?'}) is in {vnet_label(client)}. "
             f"Such a cluster has no private endpoint of its own: another VNet reaches it only "
             f"through a private endpoint of yours, connected to a Private Link Service on the "
             f"{KUBE_APISERVER_LB} load balancer, and a private zone with the name at that "
             f"endpoint's address.")
    evidence = [*(tcp_evidence(r) for r in blocked),
                Evidence("cloud", client.name, "client VNet"),
                Evidence("cloud", api.vnet.name, "API server VNet")]
    services = _services(inv)
    steps: list[str] = []
    rg_nodes = (api.cluster.node_resource_group if api.cluster else None) or "<node-resource-group>"
    cluster_name = api.cluster.name if api.cluster and api.cluster.name else "aks"
    pls_id = services[0].id if services else "<the Private Link Service's id>"
    if approved:
        pe, _ = approved[0]
        if not pe.addresses or not dialled or set(dialled) & set(pe.addresses):
            return  # the endpoint is there and used (or nothing says it is not)
        detail = (f"{intro} Your private endpoint {pe.name} ({names(list(pe.addresses))}) is in "
                  f"{client.name} and approved, but kubectl dials {names(dialled)}: the name does "
                  f"not resolve to the endpoint here.")
        evidence.append(Evidence("cloud", pe.name, f"private endpoint at {names(list(pe.addresses))}"))
        steps += _dns_steps(v, client, pe.addresses[0])
    elif candidates:
        pe, c = candidates[0]
        service = parse_id(c.service_id).name or c.service_id
        detail = (f"{intro} Your private endpoint {pe.name} in {client.name} connects to "
                  f"{service}, but the connection is {c.status or 'of unknown state'}, not "
                  f"Approved: no traffic passes until the service's owner approves it.")
        evidence.append(Evidence("cloud", pe.name, f"connection {c.status or 'unknown'}"))
        steps.append(f"az network private-link-service connection update -g "
                     f"{parse_id(c.service_id).resource_group or rg_nodes} --service-name "
                     f"{service} -n <the pending connection> --connection-status Approved")
    else:
        if services:
            have = (f" The Private Link Service {services[0].name} on {KUBE_APISERVER_LB} exists, "
                    f"but no private endpoint in {client.name} connects to it.")
            evidence.append(Evidence("cloud", services[0].name, "Private Link Service on "
                                     f"{KUBE_APISERVER_LB}"))
        else:
            have = (f" The inventory has no Private Link Service on {KUBE_APISERVER_LB} and no "
                    f"private endpoint in {client.name}.")
            subnet = api.subnet.id if api.subnet else "<a subnet of the cluster VNet>"
            steps.append(
                f"az network private-link-service create -g {rg_nodes} -n "
                f"{cluster_name}-apiserver-pls --lb-name {KUBE_APISERVER_LB} "
                f"--lb-frontend-ip-configs {KUBE_APISERVER_FRONTEND} --subnet "
                f"<a subnet of {api.vnet.name} other than {subnet.rsplit('/', 1)[-1]}, by id>")
        detail = intro + have
        target = client.subnets[0].id if client.subnets else f"<a subnet of {client.name}, by id>"
        steps.append(
            f"az network private-endpoint create -g {client.resource_group or '<resource-group>'}"
            f" -n {client.name}-apiserver-pe --subnet {target} --private-connection-resource-id "
            f"{pls_id} --connection-name {client.name}-apiserver")
        steps += _dns_steps(v, client, "<the private endpoint's IP>")
    if not_found and failure is not None:
        detail += f" This is why {v.host} was not found ({failure.kind or 'dns'})."
    yield Hit(
        subject=v.host,
        detail=detail + why_sentence(blocked),
        evidence=tuple(evidence),
        fix_args={"client_vnet": client.name, "steps": "\n".join(steps)},
    )


# --- an address fixed before the conversion ---------------------------------------------


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
        outside = [a for a in pinned if not api.subnet.contains(a)]
        inside = [a for a in current if api.subnet.contains(a)]
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


RULES = (
    apiserver_vnet_integration,
    nsg_denies_apiserver,
    nsg_apiserver_ports_closed,
    apiserver_private_endpoint_missing,
    apiserver_address_changed,
)

EXPLAINS: dict[str, tuple[str, ...]] = {
    nsg_denies_apiserver.code: ("net.filtered",),
    apiserver_private_endpoint_missing.code: ("dns.nxdomain", "net.filtered", "net.no_route"),
    apiserver_address_changed.code: ("dns.hosts_override", "net.filtered", "net.no_route"),
}
