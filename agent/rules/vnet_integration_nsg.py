"""API Server VNet Integration: NSG rules on the API server's delegated subnet that drop
kubectl's 443, or the ports nodes and the load balancer's health probe need (443 and 4443
from the cluster subnet, 9988 from AzureLoadBalancer)."""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.fields import norm_id, parse_id
from agent.cloud.inventory import (
    Inventory,
    Nsg,
    SecurityRule,
    Subnet,
)
from agent.cloud.nsg import Flow, decide
from agent.observations import Observations
from agent.rules.cloud_view import (
    blocked_tcp,
    connected_tcp,
    names,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from agent.rules.vnet_integration import (
    NODE_PORTS,
    PROBE_PORT,
    ApiServer,
    apiserver,
    virtual_network_space,
)
from probes.base import ip_network


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


RULES = (nsg_denies_apiserver, nsg_apiserver_ports_closed)

EXPLAINS: dict[str, tuple[str, ...]] = {nsg_denies_apiserver.code: ("net.filtered",)}
