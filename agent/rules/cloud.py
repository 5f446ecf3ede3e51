"""Cloud context rules: what the cloud's description of the cluster and network explains.

This module holds the rules about the cluster and the vantage point, and gathers every
cloud-context rule (``cloud_dns``, ``cloud_net``, ``acl``, ``eks``, ``vnet_integration``) into :data:`RULES`. All
read ``obs.cloud`` (an ``agent.cloud.CloudContext``) and yield nothing without it.

:data:`EXPLAINS` maps each code to the core codes it is the cause of. A cloud finding lists
the probe results it explains in its evidence (same probe, same subject), so
:func:`agent.rules.engine.annotate_explained` can tie a core finding (``net.filtered`` on 20.1.2.3:443) to its
cause (``acl.source_ip_not_authorized``): one explanation, not two unrelated findings.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.topology import place
from agent.observations import Observations
from agent.rules import (
    acl,
    cloud_dns,
    cloud_net,
    eks,
    vnet_integration,
    vnet_integration_endpoint,
    vnet_integration_nsg,
)
from agent.rules.cloud_view import (
    RUNNER_NAMES,
    View,
    aks_target,
    blocked_tcp,
    dns_evidence,
    dns_failure,
    hosted_ci,
    names,
    private_endpoint_addresses,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Rule, Severity, rule
from probes.base import Status

COMMAND_INVOKE = 'az aks command invoke -g {rg} -n {name} --command "kubectl get nodes"'


@rule(
    "cloud.cluster_stopped",
    Severity.BLOCKER,
    "AKS cluster is stopped",
    "Start it: az aks start -g {rg} -n {name}; then refresh the kubeconfig, since the API "
    "server's address may change: az aks get-credentials -g {rg} -n {name} --overwrite-existing",
)
def cluster_stopped(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.aks is None:
        return
    cluster = v.aks
    failure = dns_failure(obs, v.host)
    evidence: list[Evidence] = []
    if (cluster.power_state or "").lower() == "stopped":
        detail = f"The cluster description says {cluster.name} is Stopped (powerState)."
        evidence.append(Evidence("cloud", cluster.name, "powerState Stopped"))
        if failure is not None:
            evidence.append(dns_evidence(failure))
    else:
        answers = [r for p in ("dns.system", "dns.nameserver", "dns.resolver")
                   for r in obs.all(p)]
        everywhere = bool(answers) and all(
            r.status is Status.FAILED and r.kind == "dns.nxdomain" for r in answers)
        if not (everywhere and cluster.fqdn == v.host and not cluster.private):
            return
        detail = (f"{v.host} is NXDOMAIN on every resolver asked ({len(answers)}), yet the "
                  f"cluster {cluster.name} still exists: a stopped AKS cluster's public name "
                  f"is withdrawn from DNS.")
        evidence += [dns_evidence(r) for r in answers]
    if failure is not None:
        detail += f" This is why {v.host} was not found (dns.nxdomain)."
    blocked = blocked_tcp(obs)
    evidence += [tcp_evidence(r) for r in blocked]
    rg, name = aks_target(v)
    yield Hit(cluster.name, detail + why_sentence(blocked), tuple(evidence),
              {"rg": rg, "name": name})


def _private(v: View) -> bool:
    if v.aks is not None:
        return v.aks.private
    return v.cluster is None and v.zone_name is not None


@rule(
    "cloud.private_cluster_outside_network",
    Severity.BLOCKER,
    "Private cluster, and this client is outside its network",
    "Run kubectl from inside the network: a self-hosted runner or jump box in a VNet peered "
    "with {vnet}; or without network access: " + COMMAND_INVOKE + "; or connect this network "
    "to the VNet by VPN or ExpressRoute and forward the private DNS zone to it.",
)
def private_cluster_outside_network(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or not _private(v):
        return
    if v.client is not None or v.ctx.instance is not None:
        return  # in a VNet (the peering and DNS rules speak), or in Azure somewhere unlisted
    ci = hosted_ci(obs, v)
    failure = dns_failure(obs, v.host)
    blocked = blocked_tcp(obs)
    if not ci and (not v.ctx.inventory.vnets or (failure is None and not blocked)):
        return
    endpoints = private_endpoint_addresses(obs, v)
    endpoint_vnet = next((p.vnet for a in endpoints if (p := place(v.ctx.inventory, a)).vnet),
                         None)
    who = (f"This {RUNNER_NAMES.get(ci[0], ci[0] + ' hosted runner')}" if ci else "This client")
    where = (f"not in any of the {len(v.ctx.inventory.vnets)} VNets the inventory describes"
             if v.ctx.inventory.vnets else "on the CI vendor's network")
    at = f" at {names(endpoints)}" if endpoints else ""
    cluster = f"private cluster {v.aks.name}" if v.aks and v.aks.name else "a private cluster"
    detail = (f"{v.host} is the API server of {cluster}, whose private endpoint{at} is "
              f"reachable only from its VNet and networks joined to it. {who} "
              f"({', '.join(v.client_ips) or 'address unknown'}) is {where}, so it has no "
              f"path to it.")
    evidence: list[Evidence] = []
    if failure is not None:
        evidence.append(dns_evidence(failure))
        detail += f" This is why {v.host} was not found (dns.nxdomain)."
    evidence += [tcp_evidence(r) for r in blocked]
    rg, name = aks_target(v)
    yield Hit(
        subject=v.host,
        detail=detail + why_sentence(blocked),
        evidence=tuple(evidence),
        fix_args={"vnet": endpoint_vnet.name if endpoint_vnet else "the cluster's VNet",
                  "rg": rg, "name": name},
    )


@rule(
    "cloud.hosted_ci_runner",
    Severity.WARNING,
    "Hosted CI runner: no private path and a changing egress IP",
    "Use a self-hosted runner in a VNet peered with the cluster's, or self-hosted runners "
    "behind a static NAT egress IP added to the authorized ranges, or run kubectl through "
    + COMMAND_INVOKE + ".",
)
def hosted_ci_runner(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None:
        return
    ci = hosted_ci(obs, v)
    if ci is None:
        return
    c = v.cluster
    reasons = []
    if c is not None and c.private:
        reasons.append("it has no path into the private network where the API server is")
    restricted = list(v.ctx.authorized_ranges)
    if c is not None and c.endpoint_public_access and c.public_access_cidrs != ("0.0.0.0/0",):
        restricted += list(c.public_access_cidrs)
    if restricted:
        reasons.append("its egress IP changes from run to run, drawn from the vendor's shared "
                       "ranges, so authorized IP ranges cannot admit it reliably")
    if not reasons:
        return
    rg, name = aks_target(v)
    label = RUNNER_NAMES.get(ci[0], ci[0])
    yield Hit(
        subject=ci[0],
        detail=f"This runs on a {label}: {'; and '.join(reasons)}.",
        evidence=(Evidence("vantage", ci[0], "hosted CI runner"),),
        fix_args={"rg": rg, "name": name},
    )


@rule(
    "cloud.client_vnet_ambiguous",
    Severity.INFO,
    "Inventory VNets overlap: this client's VNet is ambiguous",
    "Add this client's network interface (az network nic show) to --inventory, or remove "
    "stale VNets from it, so the VNet-based checks can run.",
)
def client_vnet_ambiguous(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or v.client is None or not v.client.ambiguous:
        return
    yield Hit(
        subject=v.client.address,
        detail=(f"{v.client.address} falls in the address space of "
                f"{names([c.name for c in v.client.candidates])}; overlapping VNets cannot be "
                f"told apart by address, so private DNS links and peerings were not checked."),
        evidence=tuple(Evidence("cloud", c.name, ", ".join(c.prefixes))
                       for c in v.client.candidates),
    )


@rule(
    "cloud.discovery_incomplete",
    Severity.INFO,
    "Cloud discovery could not read everything",
    "Grant this VM's managed identity Reader on the subscriptions holding the cluster, its "
    "VNets and private DNS zones, or pass those resources with --inventory.",
)
def discovery_incomplete(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is None or not v.ctx.notes:
        return
    yield Hit(subject="cloud discovery", detail="; ".join(v.ctx.notes) + ".")


RULES: tuple[Rule, ...] = (
    *cloud_dns.RULES,
    *cloud_net.RULES,
    *acl.RULES,
    *eks.RULES,
    *vnet_integration.RULES,
    *vnet_integration_nsg.RULES,
    *vnet_integration_endpoint.RULES,
    cluster_stopped,
    private_cluster_outside_network,
    hosted_ci_runner,
    client_vnet_ambiguous,
    discovery_incomplete,
)

_UNREACHED = ("net.filtered", "net.no_route")
EXPLAINS: dict[str, tuple[str, ...]] = {
    cloud_dns.private_zone_not_linked.code: ("dns.nxdomain", "dns.no_answer", "dns.split_horizon"),
    cloud_dns.custom_dns_not_forwarding.code: ("dns.nxdomain", "dns.no_answer",
                                               "dns.server_failure", "dns.split_horizon"),
    cloud_net.not_peered.code: _UNREACHED,
    cloud_net.peering_not_connected.code: _UNREACHED,
    cloud_net.hub_transit_not_allowed.code: _UNREACHED,
    acl.source_ip_not_authorized.code: ("net.filtered",),
    eks.eks_public_access_disabled.code: ("dns.nxdomain", *_UNREACHED),
    eks.eks_public_cidr_denied.code: ("net.filtered",),
    cluster_stopped.code: ("dns.nxdomain", *_UNREACHED),
    private_cluster_outside_network.code: ("dns.nxdomain", *_UNREACHED),
    **vnet_integration.EXPLAINS,
    **vnet_integration_nsg.EXPLAINS,
    **vnet_integration_endpoint.EXPLAINS,
}
