"""EKS endpoint access: public, private, or both, and who the public side admits.

With public access off, only clients inside the cluster's VPC (or a network joined to it
whose traffic the cluster security group admits) reach the API server. With public access
on, ``publicAccessCidrs`` filters by source address (0.0.0.0/0 when unset). The private
endpoint's name resolves inside the VPC only when the VPC has DNS support and DNS hostnames
enabled and its DHCP options use AmazonProvidedDNS.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.cluster import EKS, ClusterFacts
from agent.observations import Observations
from agent.rules.cloud_view import (
    View,
    blocked_tcp,
    connected_tcp,
    dns_evidence,
    dns_failure,
    kubectl_addresses,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import address_class, in_ranges


def _eks(obs: Observations) -> tuple[View, ClusterFacts] | None:
    v = view(obs)
    if v is None or v.cluster is None or v.cluster.provider != EKS:
        return None
    return v, v.cluster


def _inside_vpc(v: View, cluster: ClusterFacts) -> bool | None:
    """Whether a client address is in the cluster's VPC or an actively peered one; None when
    the inventory does not describe the VPC."""
    inv = v.ctx.inventory
    vpc = inv.vpc(cluster.vpc_id or "")
    if vpc is None:
        return None
    joined = {cluster.vpc_id}
    for pcx in inv.vpc_peerings:
        if pcx.status == "active" and cluster.vpc_id in (pcx.requester_vpc, pcx.accepter_vpc):
            joined |= {pcx.requester_vpc, pcx.accepter_vpc}
    vpcs = [x for x in inv.vpcs if x.id in joined]
    return any(x.contains(ip) for x in vpcs for ip in v.client_ips)


def _region_name(cluster: ClusterFacts) -> str:
    return f"--region {cluster.location or '<region>'} --name {cluster.name}"


@rule(
    "cloud.eks_public_access_disabled",
    Severity.BLOCKER,
    "EKS API server is private-only and this client is outside its VPC",
    "Run kubectl from inside VPC {vpc} or a network joined to it (peering, Transit Gateway, "
    "VPN) whose traffic the cluster security group admits on 443; or open the public "
    "endpoint to your egress only: aws eks update-cluster-config {where} "
    "--resources-vpc-config endpointPublicAccess=true,publicAccessCidrs={cidr},"
    "endpointPrivateAccess=true",
)
def eks_public_access_disabled(obs: Observations) -> Iterator[Hit]:
    found = _eks(obs)
    if found is None:
        return
    v, cluster = found
    if cluster.endpoint_public_access is not False:
        return
    inside = _inside_vpc(v, cluster)
    failure = dns_failure(obs, v.host)
    blocked = blocked_tcp(obs)
    if inside or (inside is None and failure is None and not blocked):
        return
    where = ("outside it" if inside is False else
             "and the connection failed, so it is evidently not inside it (the inventory does "
             "not describe the VPC)")
    detail = (f"EKS cluster {cluster.name} has public endpoint access disabled: its API server "
              f"answers only inside VPC {cluster.vpc_id}. This client "
              f"({', '.join(v.client_ips) or 'address unknown'}) is {where}.")
    evidence: list[Evidence] = [Evidence("cloud", cluster.name, "endpointPublicAccess false")]
    if failure is not None:
        evidence.append(dns_evidence(failure))
        detail += f" This is why {v.host} did not resolve (dns.nxdomain)."
    evidence += [tcp_evidence(r) for r in blocked]
    egress = v.ctx.egress.address if v.ctx.egress else "<your-egress-ip>"
    yield Hit(
        subject=cluster.name,
        detail=detail + why_sentence(blocked),
        evidence=tuple(evidence),
        fix_args={"vpc": cluster.vpc_id, "where": _region_name(cluster), "cidr": f"{egress}/32"},
    )


@rule(
    "cloud.eks_public_cidr_denied",
    Severity.BLOCKER,
    "Egress IP not in the EKS public access CIDRs",
    "Add {add}: aws eks update-cluster-config {where} --resources-vpc-config "
    "publicAccessCidrs={cidrs}",
)
def eks_public_cidr_denied(obs: Observations) -> Iterator[Hit]:
    found = _eks(obs)
    if found is None:
        return
    v, cluster = found
    egress = v.ctx.egress
    if cluster.endpoint_public_access is not True or egress is None:
        return
    cidrs = list(cluster.public_access_cidrs) or ["0.0.0.0/0"]
    if in_ranges(egress.address, cidrs):
        return
    addresses = kubectl_addresses(obs)
    public = [a for a in addresses if address_class(a) == "public"]
    if addresses and not public:
        return  # resolved to the private endpoint: the CIDRs do not apply
    if cluster.endpoint_private_access and _inside_vpc(v, cluster):
        return
    if connected_tcp(obs, public):
        return
    blocked = blocked_tcp(obs, public) if public else blocked_tcp(obs)
    add = f"{egress.address}/32"
    yield Hit(
        subject=egress.address,
        detail=(f"EKS cluster {cluster.name} admits its public endpoint only from "
                f"{', '.join(cidrs)}; this client's egress IP {egress.address} (from "
                f"{egress.source}) is not among them." + why_sentence(blocked)),
        evidence=(Evidence("cloud", cluster.name, f"publicAccessCidrs {', '.join(cidrs)}"),
                  Evidence("cloud", "egress IP", f"{egress.address} from {egress.source}"),
                  *(tcp_evidence(r) for r in blocked)),
        fix_args={"add": add, "where": _region_name(cluster),
                  "cidrs": ",".join([*cluster.public_access_cidrs, add])},
    )


@rule(
    "cloud.eks_private_dns_disabled",
    Severity.WARNING,
    "EKS private endpoint name cannot resolve inside the VPC",
    "{commands}",
)
def eks_private_dns_disabled(obs: Observations) -> Iterator[Hit]:
    found = _eks(obs)
    if found is None:
        return
    v, cluster = found
    if not cluster.endpoint_private_access or not cluster.vpc_id:
        return
    inv = v.ctx.inventory
    problems, commands = [], []
    for attribute, option in (("enableDnsSupport", "--enable-dns-support"),
                              ("enableDnsHostnames", "--enable-dns-hostnames")):
        if inv.vpc_attribute(cluster.vpc_id, attribute) is False:
            problems.append(f"{attribute} is false")
            commands.append(f"aws ec2 modify-vpc-attribute --vpc-id {cluster.vpc_id} "
                            f"{option} '{{\"Value\":true}}'")
    vpc = inv.vpc(cluster.vpc_id)
    options = next((d for d in inv.dhcp_options if vpc and d.id == vpc.dhcp_options_id), None)
    if options is not None and "AmazonProvidedDNS" not in options.name_servers:
        problems.append(f"its DHCP options {options.id} do not include AmazonProvidedDNS")
        commands.append(f"associate DHCP options whose domain-name-servers include "
                        f"AmazonProvidedDNS: aws ec2 associate-dhcp-options --vpc-id "
                        f"{cluster.vpc_id} --dhcp-options-id <options with AmazonProvidedDNS>")
    if not problems:
        return
    yield Hit(
        subject=cluster.vpc_id,
        detail=(f"EKS cluster {cluster.name} has a private endpoint, whose name resolves to "
                f"private addresses only through the VPC's Route 53 resolver; in VPC "
                f"{cluster.vpc_id} {' and '.join(problems)}, so clients in the VPC get the "
                f"public addresses or nothing."),
        evidence=tuple(Evidence("cloud", cluster.vpc_id, p) for p in problems),
        fix_args={"commands": "\n".join(commands)},
    )


RULES = (eks_public_access_disabled, eks_public_cidr_denied, eks_private_dns_disabled)
