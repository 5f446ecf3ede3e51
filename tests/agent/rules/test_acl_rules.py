"""Source IP vs the ranges the endpoint admits: one logic for AKS authorized IP ranges and
EKS public access CIDRs (hand-built cluster facts, no fixtures)."""

from __future__ import annotations

import pytest

from agent.cloud.cluster import AKS, EKS, ClusterFacts
from agent.cloud.context import CloudContext
from agent.cloud.egress import SOURCE_OPTION, EgressIp
from agent.cloud.inventory import Inventory, Vpc
from agent.observations import DIRECT, Observations
from agent.planner import kubectl_dials
from agent.rules.cloud import RULES
from agent.rules.engine import evaluate
from agent.rules.model import Finding, Severity
from agent.target import Target
from probes.base import Failure, ProbeResult, Status, address_class

EKS_HOST = "abc123.gr7.us-east-2.eks.amazonaws.com"
AKS_HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"
PUBLIC_IP = "3.14.15.92"  # what the API name resolves to
EGRESS = "198.51.100.5"


def eks(cidrs=("22.19.18.2/32",), public=True, private=False) -> ClusterFacts:
    return ClusterFacts(provider=EKS, source="awscli", name="eks1", location="us-east-2",
                        endpoint=EKS_HOST, endpoint_public_access=public,
                        endpoint_private_access=private, public_access_cidrs=tuple(cidrs),
                        vpc_id="vpc-1")


def aks(ranges=("22.19.18.2/32",)) -> ClusterFacts:
    return ClusterFacts(provider=AKS, source="azcli", name="aks1", resource_group="rg1",
                        fqdn=AKS_HOST, authorized_ranges=tuple(ranges))


def resolved(host: str, *addresses: str) -> ProbeResult:
    return ProbeResult("dns.system", host, Status.OK, 0.01, facts={
        "addresses": [{"address": a, "class": address_class(a)} for a in addresses]})


def tcp(address: str, kind: str | None = "tcp.timeout", source: str = "192.168.1.20") -> ProbeResult:
    facts = {"address": address, "port": 443, "source_ip": source}
    if kind is None:
        return ProbeResult("tcp", f"{address}:443", Status.OK, 0.01, facts=facts)
    return ProbeResult("tcp", f"{address}:443", Status.FAILED, 5.0, facts=facts,
                       failure=Failure(kind, "no answer"))


def run(cluster: ClusterFacts, *results: ProbeResult, egress: str | None = None,
        inventory: Inventory | None = None) -> dict[str, Finding]:
    host = cluster.endpoint or cluster.fqdn
    ctx = CloudContext(cluster=cluster, inventory=inventory or Inventory(),
                       egress=EgressIp(egress, SOURCE_OPTION) if egress else None)
    results = results or (resolved(host, PUBLIC_IP),)
    obs = Observations(Target(server=f"https://{host}:443", host=host, port=443),
                       results, cloud=ctx, dials=kubectl_dials(results, DIRECT))
    return {f.code: f for f in evaluate(RULES, obs)}


# --- acl.egress_ip_unknown now speaks for EKS too ------------------------------------------


def test_eks_restricted_cidrs_and_unknown_egress_is_said():
    f = run(eks())["acl.egress_ip_unknown"]
    assert f.severity is Severity.INFO and f.subject == EKS_HOST
    assert f.detail == ("The API server admits only 1 public access CIDR(s), and whether this "
                        "client's egress IP is among them could not be checked.")
    assert f.evidence[0].fact == "publicAccessCidrs 22.19.18.2/32"
    assert "--egress-ip" in f.fix


@pytest.mark.parametrize("cluster, results", [
    (eks(cidrs=("0.0.0.0/0",)), ()),  # open to every source: nothing to check
    (eks(cidrs=()), ()),  # unset means 0.0.0.0/0
    (eks(public=False, private=True), ()),  # no public endpoint: the CIDRs do not apply
    (eks(private=True), (resolved(EKS_HOST, "10.0.1.10"),)),  # kubectl goes to the private endpoint
])
def test_eks_egress_unknown_stays_silent_when_the_cidrs_do_not_apply(cluster, results):
    assert "acl.egress_ip_unknown" not in run(cluster, *results)


def test_eks_client_inside_the_vpc_with_private_access_is_not_asked_for_its_egress():
    inside = Inventory(vpcs=(Vpc("vpc-1", ("10.0.0.0/16",)),))
    vantage = ProbeResult("vantage", "host", Status.OK, 0.0, facts={"source_ips": ["10.0.5.5"]})
    found = run(eks(private=True), resolved(EKS_HOST, PUBLIC_IP), vantage, inventory=inside)
    assert "acl.egress_ip_unknown" not in found
    assert "acl.egress_ip_unknown" in run(eks(private=True), resolved(EKS_HOST, PUBLIC_IP), vantage)


def test_aks_egress_unknown_keeps_its_wording():
    f = run(aks())["acl.egress_ip_unknown"]
    assert f.detail.startswith("The API server admits only 1 authorized range(s), and whether")


# --- the two denied rules: one logic, each provider's ranges and command -------------------

DENIED = {AKS: "acl.source_ip_not_authorized", EKS: "cloud.eks_public_cidr_denied"}


@pytest.mark.parametrize("cluster", [aks(), eks()], ids=["aks", "eks"])
def test_egress_outside_the_ranges_is_denied_with_the_same_reasoning(cluster):
    host = cluster.endpoint or cluster.fqdn
    found = run(cluster, resolved(host, PUBLIC_IP), tcp(PUBLIC_IP), egress=EGRESS)
    hit = found[DENIED[cluster.provider]]
    other = DENIED[AKS if cluster.provider == EKS else EKS]
    assert other not in found and "acl.egress_ip_unknown" not in found
    assert hit.subject == EGRESS and hit.severity is Severity.BLOCKER
    assert hit.detail.endswith(
        f"this client's egress IP {EGRESS} (from --egress-ip) is in none of them, so the API "
        f"server drops its connections without a reply. This is why {PUBLIC_IP}:443 timed out "
        f"(net.filtered).")
    assert f"22.19.18.2/32,{EGRESS}/32" in hit.fix


@pytest.mark.parametrize("cluster", [aks(), eks()], ids=["aks", "eks"])
@pytest.mark.parametrize("egress, connected", [
    ("22.19.18.2", False),  # inside the ranges
    (EGRESS, True),  # it connected after all: the ranges or the egress IP given are stale
])
def test_not_denied(cluster, egress, connected):
    host = cluster.endpoint or cluster.fqdn
    found = run(cluster, resolved(host, PUBLIC_IP), tcp(PUBLIC_IP, None if connected else "tcp.timeout"),
                egress=egress)
    assert DENIED[cluster.provider] not in found


def test_fixes_name_each_providers_command():
    a = run(aks(), resolved(AKS_HOST, PUBLIC_IP), egress=EGRESS)[DENIED[AKS]]
    assert a.fix == ("Add 198.51.100.5/32 to the authorized ranges (the list is replaced, so pass "
                     "all of it): az aks update -g rg1 -n aks1 --api-server-authorized-ip-ranges "
                     "22.19.18.2/32,198.51.100.5/32")
    e = run(eks(), resolved(EKS_HOST, PUBLIC_IP), egress=EGRESS)[DENIED[EKS]]
    assert e.fix == ("Add 198.51.100.5/32: aws eks update-cluster-config --region us-east-2 --name eks1 "
                     "--resources-vpc-config publicAccessCidrs=22.19.18.2/32,198.51.100.5/32")
