"""API Server VNet Integration rules over hand-built observations and an inventory composed
from real payloads: a cluster whose API server is the kube-apiserver load balancer at
10.224.255.4 in the delegated subnet of aks-vnet, clients in aks-vnet, a peered jump-vnet,
or the internet."""

from __future__ import annotations

import pytest

from agent.cloud.cluster import parse_cluster
from agent.cloud.context import CloudContext
from agent.cloud.inventory import parse_inventory
from agent.observations import DIRECT, Observations
from agent.planner import kubectl_dials
from agent.rules.engine import evaluate
from agent.rules.model import Finding, Severity
from agent.target import Target
from probes.base import ProbeResult, Status
from tests.agent.rules.test_cloud_rules import (
    PRIVATE,
    SUB,
    load,
    nxdomain,
    peering,
    resolved,
    tcp,
    vantage,
    vnet,
    vnet_id,
)

HOST = "kreach-dns-5f3a9c1e.4b7d2e10.private.location1.azmk8s.io"
ZONE = HOST.split(".", 1)[1]
API = "10.224.255.4"
API_SUBNET = f"{vnet_id('aks-vnet')}/subnets/aks-apiserver-subnet"
NODES = f"{vnet_id('aks-vnet')}/subnets/subnet1"
JUMP = "10.2.0.5"
INSIDE = "10.224.0.10"
NSG_ID = f"/subscriptions/{SUB}/resourceGroups/MC_rg1/providers/Microsoft.Network/networkSecurityGroups/api-nsg"
PLS_ID = f"/subscriptions/{SUB}/resourceGroups/MC_rg1/providers/Microsoft.Network/privateLinkServices/api-pls"


def cluster(private: bool = True, zone: str | None = "system", ranges: int = 0, vni: bool = True):
    doc = load(PRIVATE)
    access = doc["properties"]["apiServerAccessProfile"]
    access.update(enablePrivateCluster=private, enableVnetIntegration=vni, subnetId=API_SUBNET,
                  privateDNSZone=zone)
    if ranges:
        access["authorizedIPRanges"] = [f"20.{i // 250}.{i % 250}.0/24" for i in range(ranges)]
    doc["properties"]["privateFQDN"] = HOST
    doc["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = NODES
    return parse_cluster(doc)


def api_subnet(nsg: bool = True) -> dict:
    doc = load("azure_vnet-subnet_get_aks-apiserver-delegated_azcli-capture.json")
    doc["id"], doc["addressPrefix"] = API_SUBNET, "10.224.255.0/28"
    if nsg:
        doc["networkSecurityGroup"]["id"] = NSG_ID
    else:
        del doc["networkSecurityGroup"]
    return doc


def nsg(*rules: dict) -> dict:
    doc = load("azure_nsg_get_default-rules_2024-05-01_spec-example.json")
    doc["id"], doc["name"] = NSG_ID, "api-nsg"
    base = doc["properties"]["securityRules"][0]
    doc["properties"]["securityRules"] = [
        {"name": f"r{i}", "id": f"{NSG_ID}/securityRules/r{i}",
         "properties": {**base["properties"], "protocol": "Tcp", **r}}
        for i, r in enumerate(rules)]
    return doc


def pls(lb: str = "kube-apiserver") -> dict:
    doc = load("azure_private-link-service_get_lb-frontend_2024-05-01_spec-example.json")
    doc["id"], doc["name"] = PLS_ID, "api-pls"
    doc["properties"]["loadBalancerFrontendIpConfigurations"][0]["id"] = (
        f"/subscriptions/{SUB}/resourceGroups/MC_rg1/providers/Microsoft.Network/loadBalancers/"
        f"{lb}/frontendIPConfigurations/kube-apiserver-frontend")
    return doc


def endpoint(status: str = "Approved", address: str = "10.2.0.100", vnet_name: str = "jump-vnet"):
    doc = load("azure_private-endpoint_get_pls-connection-approved_2024-05-01_spec-example.json")
    doc["id"] = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/privateEndpoints/jump-pe"
    doc["name"] = "jump-pe"
    p = doc["properties"]
    p["subnet"]["id"] = f"{vnet_id(vnet_name)}/subnets/subnet1"
    p["customDnsConfigs"], p["ipConfigurations"] = [], [
        {"name": "c", "properties": {"privateIPAddress": address}}]
    conn = p["privateLinkServiceConnections"][0]["properties"]
    conn["privateLinkServiceId"] = PLS_ID
    conn["privateLinkServiceConnectionState"]["status"] = status
    return doc


def network(*extra: dict, peered: bool = True) -> list[dict]:
    aks = vnet("aks-vnet", *([peering("aks-vnet", "jump-vnet")] if peered else []))
    aks["properties"]["subnets"][0]["properties"]["addressPrefix"] = "10.224.0.0/24"
    jump = vnet("jump-vnet", *([peering("jump-vnet", "aks-vnet")] if peered else []))
    return [aks, jump, api_subnet(), *extra]


def context(*docs, facts=None, **kw) -> CloudContext:
    facts = cluster() if facts is None else facts
    inventory = parse_inventory([(f"doc{i}", d) for i, d in enumerate(docs)])
    return CloudContext(cluster=facts, inventory=inventory, **kw)


def observe(ctx, *results: ProbeResult) -> Observations:
    target = Target(server=f"https://{HOST}:443", host=HOST, port=443)
    return Observations(target, tuple(results), cloud=ctx, dials=kubectl_dials(results, DIRECT))


def findings(obs: Observations) -> dict[str, Finding]:
    from agent.rules.cloud import RULES

    out = {f.code: f for f in evaluate(RULES, obs)}
    for f in out.values():
        assert "{" not in f.fix or "{guid}" in f.fix, f"unfilled placeholder in {f.code}: {f.fix}"
    return out


def at(address: str, kind: str | None = "tcp.timeout", source: str = JUMP) -> tuple:
    return (resolved(address, subject=HOST), tcp(address, kind, source=source), vantage(source))


# --- the topology, said once ----------------------------------------------------------


@pytest.mark.parametrize(("source", "said"), [
    (INSIDE, "This client (10.224.0.10) is in the same VNet."),
    (JUMP, "This client (10.2.0.5) is in another VNet, jump-vnet (10.2.0.0/16), peered."),
    ("198.51.100.10", "This client (198.51.100.10) is in none of the inventory's VNets."),
])
def test_topology_from_the_clients_point_of_view(source, said):
    f = findings(observe(context(*network()), *at(API, None, source)))[
        "cloud.apiserver_vnet_integration"]
    assert f.severity is Severity.INFO and said in f.detail
    assert (f"the internal load balancer kube-apiserver at {API} in the delegated subnet "
            "aks-apiserver-subnet (10.224.255.0/28) of aks-vnet (10.224.0.0/16)") in f.detail


@pytest.mark.parametrize(("zone", "said"), [
    ("system", f"privateDNSZone is system (AKS's default): the zone would be {ZONE}; the "
               "inventory does not have that zone."),
    ("none", "privateDNSZone is none"),
    (f"/subscriptions/{SUB}/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/"
     "private.location1.azmk8s.io", "a zone of your own, private.location1.azmk8s.io."),
    (f"/subscriptions/{SUB}/resourceGroups/dns/providers/Microsoft.Network/privateDnsZones/"
     "privatelink.location1.azmk8s.io", "not of the shape AKS documents"),
])
def test_zone_setup_the_cluster_json_shows(zone, said):
    ctx = context(*network(), facts=cluster(zone=zone))
    f = findings(observe(ctx, *at(API, None, INSIDE)))["cloud.apiserver_vnet_integration"]
    assert said in f.detail


def test_public_vnet_integrated_cluster_keeps_its_public_fqdn():
    facts = cluster(private=False)
    f = findings(observe(context(*network(), facts=facts), *at("20.1.2.3", None)))[
        "cloud.apiserver_vnet_integration"]
    assert "(public API server)" in f.detail and "up to 2,000 authorized IP ranges" in f.detail
    assert "privateDNSZone" not in f.detail


def test_a_cluster_without_vnet_integration_is_not_described():
    ctx = context(*network(), facts=cluster(vni=False))
    assert not {c for c in findings(observe(ctx, *at(API, None, INSIDE)))
                if "apiserver" in c}


# --- NSG ------------------------------------------------------------------------------


DENY_JUMP = {"priority": 200, "access": "Deny", "sourceAddressPrefix": "10.2.0.0/16",
             "destinationPortRange": "443"}


def test_nsg_rule_that_drops_the_client_is_named():
    ctx = context(*network(nsg(DENY_JUMP)))
    found = findings(observe(ctx, *at(API)))
    f = found["net.nsg_denies_apiserver"]
    assert f.severity is Severity.BLOCKER and f.subject == API
    assert ("its first matching inbound rule is r0 (priority 200, Deny Tcp from 10.2.0.0/16 to "
            "port 443)") in f.detail
    assert f.detail.endswith(f"This is why {API}:443 timed out (net.filtered).")
    assert ("az network nsg rule create -g MC_rg1 --nsg-name api-nsg -n allow-kubectl-443 "
            "--priority 199 --direction Inbound --access Allow --protocol Tcp "
            f"--source-address-prefixes {JUMP}/32 --destination-address-prefixes "
            "10.224.255.0/28 --destination-port-ranges 443") in f.fix
    # peered, and the VNet is not private-only: the peering rules have nothing to add
    assert "net.not_peered" not in found and "net.peering_not_connected" not in found


def test_an_earlier_allow_wins():
    allow = {"priority": 150, "access": "Allow", "sourceAddressPrefix": JUMP,
             "destinationPortRange": "443"}
    assert "net.nsg_denies_apiserver" not in findings(
        observe(context(*network(nsg(allow, DENY_JUMP))), *at(API)))


def test_a_connection_that_worked_overrides_the_nsg():
    assert "net.nsg_denies_apiserver" not in findings(
        observe(context(*network(nsg(DENY_JUMP))), *at(API, None)))


def test_default_deny_drops_the_internet():
    f = findings(observe(context(*network(nsg())), *at(API, source="198.51.100.10")))[
        "net.nsg_denies_apiserver"]
    assert "DenyAllInBound (priority 65500" in f.detail and "--priority 65499" in f.fix


def test_an_asg_rule_before_the_deny_makes_it_a_warning():
    asg = {"priority": 100, "access": "Allow", "sourceAddressPrefix": None,
           "sourceApplicationSecurityGroups": [{"id": "/subscriptions/s/asg/jumpboxes"}],
           "destinationPortRange": "443"}
    f = findings(observe(context(*network(nsg(asg, DENY_JUMP))), *at(API)))[
        "net.nsg_denies_apiserver"]
    assert f.severity is Severity.WARNING and "(r0: application security groups" in f.detail


def test_nsg_closing_the_node_and_probe_ports():
    closing = [{"priority": 300, "access": "Deny", "sourceAddressPrefix": "VirtualNetwork",
                "destinationPortRange": "4443"},
               {"priority": 310, "access": "Deny", "sourceAddressPrefix": "AzureLoadBalancer",
                "destinationPortRange": "9988"}]
    found = findings(observe(context(*network(nsg(*closing))), *at(API, None, INSIDE)))
    f = found["net.nsg_apiserver_ports_closed"]
    assert f.severity is Severity.WARNING and f.subject == "api-nsg"
    assert "subnet1 (10.224.0.0/24) on TCP 4443 (r0 denies it)" in f.detail
    assert "AzureLoadBalancer on TCP 9988 (r1 denies it)" in f.detail
    assert "subnet1 (10.224.0.0/24) on TCP 443" not in f.detail
    assert ("--source-address-prefixes 10.224.0.0/24 --destination-address-prefixes "
            "10.224.255.0/28 --destination-port-ranges 4443") in f.fix
    assert "--source-address-prefixes AzureLoadBalancer" in f.fix
    assert "net.nsg_denies_apiserver" not in found


def test_default_rules_admit_nodes_and_probes():
    assert "net.nsg_apiserver_ports_closed" not in findings(
        observe(context(*network(nsg())), *at(API, None, INSIDE)))


# --- another VNet: the user's private endpoint ------------------------------------------


def test_peered_vnet_without_a_private_endpoint():
    found = findings(observe(context(*network()), *at(API)))
    f = found["cloud.apiserver_private_endpoint_missing"]
    assert f.severity is Severity.BLOCKER and f.subject == HOST
    assert "The inventory has no Private Link Service on kube-apiserver" in f.detail
    assert "az network private-link-service create -g MC_rg1_clustername1_location1" in f.fix
    assert "--lb-name kube-apiserver --lb-frontend-ip-configs kube-apiserver-frontend" in f.fix
    assert (f"az network private-endpoint create -g rg-net -n jump-vnet-apiserver-pe --subnet "
            f"{vnet_id('jump-vnet')}/subnets/subnet1") in f.fix
    assert f"az network private-dns zone create -g rg-net -n {ZONE}" in f.fix
    assert f.detail.endswith(f"This is why {API}:443 timed out (net.filtered).")
    # Peering is there and would not be the way in: the peering rules stay silent.
    assert not {c for c in found if c.startswith("net.")}


def test_unpeered_vnet_gets_the_private_endpoint_advice_not_peering():
    found = findings(observe(context(*network(peered=False)), *at(API)))
    assert "cloud.apiserver_private_endpoint_missing" in found and "net.not_peered" not in found


def test_zone_not_linked_is_not_suggested_for_another_vnet():
    zone = load("azure_private-dns-zone_get_2024-06-01_spec-example.json")
    zone["name"] = ZONE
    zone["id"] = f"/subscriptions/{SUB}/resourceGroups/MC_rg1/providers/Microsoft.Network/privateDnsZones/{ZONE}"
    found = findings(observe(context(*network(zone)), nxdomain(subject=HOST), vantage(JUMP)))
    assert "dns.private_zone_not_linked" not in found
    f = found["cloud.apiserver_private_endpoint_missing"]
    assert f"This is why {HOST} was not found (dns.nxdomain)." in f.detail


def test_pls_without_an_endpoint_in_this_vnet():
    f = findings(observe(context(*network(pls(), endpoint(vnet_name="other-vnet"))), *at(API)))[
        "cloud.apiserver_private_endpoint_missing"]
    assert "The Private Link Service api-pls on kube-apiserver exists, but no private endpoint "\
           "in jump-vnet connects to it." in f.detail
    assert f"--private-connection-resource-id {PLS_ID}" in f.fix
    assert "private-link-service create" not in f.fix.split(":\n", 1)[1]


def test_pending_connection():
    f = findings(observe(context(*network(pls(), endpoint("Pending"))), *at(API)))[
        "cloud.apiserver_private_endpoint_missing"]
    assert "the connection is Pending, not Approved" in f.detail
    assert "--service-name api-pls -n <the pending connection> --connection-status Approved" in f.fix


def test_approved_endpoint_in_use_is_the_way_in():
    found = findings(observe(context(*network(pls(), endpoint())), *at("10.2.0.100")))
    assert "cloud.apiserver_private_endpoint_missing" not in found


def test_approved_endpoint_but_the_name_gives_the_load_balancer():
    f = findings(observe(context(*network(pls(), endpoint())), *at(API)))[
        "cloud.apiserver_private_endpoint_missing"]
    assert ("Your private endpoint jump-pe (10.2.0.100) is in jump-vnet and approved, but "
            f"kubectl dials {API}") in f.detail
    label = HOST.split(".", 1)[0]
    assert f"record-set a add-record -g rg-net -z {ZONE} -n {label} -a 10.2.0.100" in f.fix


def test_endpoint_to_an_unrelated_service_does_not_count():
    f = findings(observe(context(*network(pls("other-lb"), endpoint())), *at(API)))
    assert "cloud.apiserver_private_endpoint_missing" in f


def test_public_vnet_integrated_cluster_needs_no_endpoint():
    found = findings(observe(context(*network(), facts=cluster(private=False)), *at(API)))
    assert "cloud.apiserver_private_endpoint_missing" not in found


# --- an address from before the conversion ------------------------------------------------


def hosts_pin(address: str) -> ProbeResult:
    return ProbeResult("dns.system", HOST, Status.OK, 0.0, facts={
        "source": "hosts", "hosts_file": "/etc/hosts",
        "addresses": [{"address": address, "class": "private"}]})


def test_hosts_pin_from_before_the_conversion():
    obs = observe(context(*network()), hosts_pin("10.224.0.4"),
                  resolved(API, probe="dns.nameserver", subject="168.63.129.16"),
                  tcp("10.224.0.4", "tcp.timeout", source=INSIDE), vantage(INSIDE))
    f = findings(obs)["cloud.apiserver_address_changed"]
    assert f.severity is Severity.WARNING and f.subject == HOST
    assert ("/etc/hosts pins " + HOST + " to 10.224.0.4, which is not the API server's address "
            "in the API server subnet aks-apiserver-subnet (10.224.255.0/28); it is now at "
            + API) in f.detail
    assert "Remove or correct the " + HOST + " line in /etc/hosts (the API server is now at " \
           + API + ")" in f.fix


def test_hosts_pin_to_the_load_balancer_is_fine():
    obs = observe(context(*network()), hosts_pin(API), tcp(API, None, source=INSIDE),
                  vantage(INSIDE))
    assert "cloud.apiserver_address_changed" not in findings(obs)


# --- authorized ranges limit ------------------------------------------------------------


@pytest.mark.parametrize(("vni", "count", "warned"), [
    (True, 1900, True), (True, 190, False), (False, 190, True),
])
def test_range_limit_depends_on_vnet_integration(vni, count, warned):
    facts = cluster(private=False, ranges=count, vni=vni)
    found = findings(observe(context(facts=facts), *at("20.1.2.3", None)))
    assert ("acl.ranges_near_limit" in found) is warned
    if warned:
        limit = "2,000 with API Server VNet Integration" if vni else "200,"
        assert limit in found["acl.ranges_near_limit"].detail


def test_hosts_pin_to_another_clusters_load_balancer_in_the_shared_subnet():
    # The delegated subnet may hold several clusters' API servers: inside it is not enough.
    other = "10.224.255.9"
    obs = observe(context(*network()), hosts_pin(other),
                  resolved(API, probe="dns.nameserver", subject="168.63.129.16"),
                  tcp(other, "tcp.timeout", source=INSIDE), vantage(INSIDE))
    f = findings(obs)["cloud.apiserver_address_changed"]
    assert f"pins {HOST} to {other}, which is not the API server's address" in f.detail
    assert f"it is now at {API}" in f.detail
