"""API Server VNet Integration from another VNet: a private VNet-integrated cluster has no
private endpoint of its own, so the user's Private Link Service on ``kube-apiserver``, a
private endpoint in that VNet and a linked zone with its A record are the only way in."""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.fields import norm_id, parse_id
from agent.cloud.inventory import (
    Inventory,
    PlsConnection,
    PrivateEndpoint,
    PrivateLinkService,
    VNet,
)
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
from agent.rules.vnet_integration import (
    KUBE_APISERVER_FRONTEND,
    KUBE_APISERVER_LB,
    elsewhere_private,
)
from probes.base import Status


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


RULES = (apiserver_private_endpoint_missing,)

EXPLAINS: dict[str, tuple[str, ...]] = {
    apiserver_private_endpoint_missing.code: ("dns.nxdomain", "net.filtered", "net.no_route"),
}
