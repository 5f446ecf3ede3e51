"""EKS endpoint access: public, private, or both, and who the public side admits.

With public access off, only clients inside the cluster's VPC (or a network joined to it
whose traffic the cluster security group admits) reach the API server. With public access
on, ``publicAccessCidrs`` filters by source address (0.0.0.0/0 when unset), judged by the
same logic as AKS's authorized ranges (``acl.denied``). The private
endpoint's name resolves inside the VPC only when the VPC has DNS support and DNS hostnames
enabled and its DHCP options use AmazonProvidedDNS.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.cloud.cluster import EKS, ClusterFacts
from agent.observations import Observations
from agent.rules.acl import denied, eks_allowlist
from agent.rules.cloud_view import (
    View,
    blocked_tcp,
    dns_evidence,
    dns_failure,
    eks_target,
    inside_vpc,
    tcp_evidence,
    view,
    why_sentence,
)
from agent.rules.model import Evidence, Hit, Severity, rule


def _eks(obs: Observations) -> tuple[View, ClusterFacts] | None:
    v = view(obs)
    if v is None or v.cluster is None or v.cluster.provider != EKS:
        return None
    return v, v.cluster


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
    inside = inside_vpc(v, cluster)
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
        fix_args={"vpc": cluster.vpc_id, "where": eks_target(cluster), "cidr": f"{egress}/32"},
    )


@rule(
    "cloud.eks_public_cidr_denied",
    Severity.BLOCKER,
    "Egress IP not in the EKS public access CIDRs",
    "Add {add}: aws eks update-cluster-config {where} --resources-vpc-config "
    "publicAccessCidrs={cidrs}",
)
def eks_public_cidr_denied(obs: Observations) -> Iterator[Hit]:
    v = view(obs)
    if v is not None:
        yield from denied(obs, v, eks_allowlist(obs, v))


@rule(
    "cloud.eks_private_dns_disabled",
    Severity.WARNING,
    "EKS private endpoint name cannot resolve inside the VPC",
    "Let the VPC's Route 53 resolver answer the private endpoint's name: turn on DNS support and "
    "DNS hostnames for VPC {vpc} (aws ec2 modify-vpc-attribute) and give it DHCP options whose "
    "domain-name-servers include AmazonProvidedDNS:\n{commands}",
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
        fix_args={"vpc": cluster.vpc_id, "commands": "\n".join(commands)},
    )


RULES = (eks_public_access_disabled, eks_public_cidr_denied, eks_private_dns_disabled)
