"""What the cloud rules read from :class:`Observations`: the cloud context, where this client
is, and the core probes' symptoms (a name that did not resolve, a connection dropped).

Every function is pure. Rules call :func:`view` and yield nothing when it returns None, so a
run without cloud context is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.cloud.cluster import AKS, ClusterFacts
from agent.cloud.context import CloudContext
from agent.cloud.fields import norm_id
from agent.cloud.inventory import VNet
from agent.cloud.topology import Placement, place_client
from agent.observations import Observations
from agent.rules.model import Evidence
from probes.base import ProbeResult, Status, address_class

DNS_NOT_FOUND = ("dns.nxdomain", "dns.no_answer", "dns.servfail")
TCP_BLOCKED = ("tcp.timeout", "tcp.no_route", "tcp.net_unreachable")
# The core finding each TCP failure kind becomes; what our findings explain.
CORE_CODE_OF = {
    "tcp.timeout": "net.filtered",
    "tcp.no_route": "net.no_route",
    "tcp.net_unreachable": "net.no_route",
    "dns.nxdomain": "dns.nxdomain",
    "dns.no_answer": "dns.no_answer",
    "dns.servfail": "dns.server_failure",
}
_KIND_WORDS = {
    "dns.nxdomain": "NXDOMAIN",
    "dns.no_answer": "no A/AAAA answer",
    "dns.servfail": "SERVFAIL",
    "tcp.timeout": "timed out",
    "tcp.no_route": "had no route",
    "tcp.net_unreachable": "was unreachable",
}


@dataclass(frozen=True)
class View:
    ctx: CloudContext
    host: str
    cluster: ClusterFacts | None
    client_ips: tuple[str, ...]
    client: Placement | None  # None: no client address is in any inventory VNet

    @property
    def client_vnet(self) -> VNet | None:
        return self.client.vnet if self.client else None

    @property
    def zone_name(self) -> str | None:
        """The private DNS zone that holds the API host name, if any."""
        if self.cluster is not None and self.cluster.private_zone_name:
            zone = self.cluster.private_zone_name
            if self.host == zone or self.host.endswith("." + zone):
                return zone
        return self.ctx.inventory.zone_for_host(self.host)

    @property
    def aks(self) -> ClusterFacts | None:
        return self.cluster if self.cluster and self.cluster.provider == AKS else None


def view(obs: Observations) -> View | None:
    ctx = obs.cloud
    if ctx is None:
        return None
    host = obs.target.host.lower().rstrip(".")
    ips = client_ips(obs, ctx)
    subnet = ctx.instance.subnets[0] if ctx.instance and ctx.instance.subnets else None
    client = place_client(ctx.inventory, ips, subnet) if ips else None
    return View(ctx, host, ctx.cluster_for(host), ips, client)


def client_ips(obs: Observations, ctx: CloudContext) -> tuple[str, ...]:
    """This client's own addresses, most telling first: the source the kernel chose toward
    the API server, then what IMDS says, then every local address the vantage probe saw."""
    found: list[str] = []
    for r in obs.all("tcp"):
        if isinstance(r.facts.get("source_ip"), str):
            found.append(r.facts["source_ip"])
    if ctx.instance is not None:
        found.extend(ctx.instance.private_ips)
    vantage = obs.one("vantage")
    if vantage is not None:
        found.extend(a for a in vantage.facts.get("source_ips", []) or [] if isinstance(a, str))
    usable = [a for a in found if _class(a) in ("private", "public")]
    return tuple(dict.fromkeys(usable))


def _class(address: str) -> str:
    try:
        return address_class(address)
    except ValueError:
        return "invalid"


def dns_failure(obs: Observations, host: str) -> ProbeResult | None:
    """The system resolver's answer for the API host, when it found nothing."""
    r = obs.one("dns.system", host) or obs.one("dns.system")
    if r is not None and r.status is Status.FAILED and r.kind in DNS_NOT_FOUND:
        return r
    return None


def dns_evidence(r: ProbeResult) -> Evidence:
    words = _KIND_WORDS.get(r.kind or "", r.kind or "failed")
    servers = [a.endpoint for a in r.attempts if a.failure and a.failure.kind == r.kind]
    where = f" from {', '.join(servers)}" if servers else ""
    return Evidence(r.probe, r.subject, f"{words}{where}")


def kubectl_addresses(obs: Observations) -> list[str]:
    return [a for a in obs.kubectl_addresses() if isinstance(a, str)]


def blocked_tcp(obs: Observations, addresses: Iterable[str] | None = None) -> list[ProbeResult]:
    """TCP probes to the API server that got no answer or no route (optionally to some
    addresses only)."""
    wanted = set(addresses) if addresses is not None else None
    return [r for r in obs.failed("tcp") if r.kind in TCP_BLOCKED
            and (wanted is None or r.facts.get("address") in wanted)]


def connected_tcp(obs: Observations, addresses: Iterable[str]) -> list[ProbeResult]:
    wanted = set(addresses)
    return [r for r in obs.all("tcp") if r.ok and r.facts.get("address") in wanted]


def tcp_evidence(r: ProbeResult) -> Evidence:
    return Evidence("tcp", r.subject, _KIND_WORDS.get(r.kind or "", r.kind or "failed"))


def why_sentence(results: Iterable[ProbeResult]) -> str:
    """ "This is why 1.2.3.4:443 timed out (net.filtered)." for the core results explained."""
    parts = []
    for r in results:
        code = CORE_CODE_OF.get(r.kind or "")
        parts.append(f"{r.subject} {_KIND_WORDS.get(r.kind or '', 'failed')}"
                     + (f" ({code})" if code else ""))
    return f" This is why {', '.join(parts)}." if parts else ""


def private_endpoint_addresses(obs: Observations, v: View) -> list[str]:
    """Where the API server's private endpoint is: the private addresses kubectl resolved,
    else the A records the inventory's private zone holds for the API host name."""
    # A VNet may use public ranges (11.0.0.0/16 in the azure-cli recordings): an address
    # inside an inventory VNet is private in every sense that matters here.
    resolved = [a for a in kubectl_addresses(obs)
                if _class(a) == "private" or any(n.contains(a) for n in v.ctx.inventory.vnets)]
    if resolved:
        return resolved
    names = [v.host] + ([v.cluster.private_fqdn] if v.cluster and v.cluster.private_fqdn else [])
    out: list[str] = []
    for name in names:
        out.extend(v.ctx.inventory.addresses_of(name))
    return list(dict.fromkeys(out))


def hosted_ci(obs: Observations, v: View) -> tuple[str, bool] | None:
    """(runner name, hosted) when this is a vendor-hosted CI runner. The vantage probe and
    the cloud context both carry :func:`probes.ci.detect_ci`'s answer; the probe's is read
    first because it saw the environment the probes ran in."""
    vantage = obs.one("vantage")
    ci = vantage.facts.get("ci") if vantage is not None else None
    if isinstance(ci, dict) and ci.get("name"):
        return (str(ci["name"]), True) if ci.get("hosted") else None
    if v.ctx.ci is not None and v.ctx.ci.hosted:
        return v.ctx.ci.name, True
    return None


RUNNER_NAMES = {"github-actions": "GitHub-hosted runner", "azure-pipelines": "Microsoft-hosted agent"}


def vnet_label(vnet: VNet) -> str:
    return f"{vnet.name} ({', '.join(vnet.prefixes)})"


def same_vnet(a: VNet, b: VNet) -> bool:
    return norm_id(a.id) == norm_id(b.id)


def uses_custom_dns(vnet: VNet, azure_dns_ip: str) -> bool:
    return any(s != azure_dns_ip for s in vnet.dns_servers)


def names(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def inside_vpc(v: View, cluster: ClusterFacts) -> bool | None:
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


def eks_target(cluster: ClusterFacts) -> str:
    """The options that name an EKS cluster in aws eks commands."""
    return f"--region {cluster.location or '<region>'} --name {cluster.name}"


def aks_target(v: View) -> tuple[str, str]:
    """(resource group, cluster name) for az commands, placeholders when unknown."""
    if v.aks is not None:
        return v.aks.resource_group or "<resource-group>", v.aks.name or "<cluster-name>"
    return "<resource-group>", "<cluster-name>"
