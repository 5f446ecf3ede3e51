"""Cloud-context rules over real fixture payloads, composed into networks: a private AKS
cluster in aks-vnet, a client in jump-vnet, a hub, custom DNS, peerings in every state."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from agent.cloud.cluster import parse_cluster
from agent.cloud.context import CloudContext
from agent.cloud.egress import SOURCE_OPTION, EgressIp
from agent.cloud.imds import Instance
from agent.cloud.inventory import parse_inventory
from agent.observations import DIRECT, Observations
from agent.planner import kubectl_dials
from agent.rules.cloud import EXPLAINS, RULES
from agent.rules.engine import annotate_explained, evaluate
from agent.rules.model import Evidence, Finding, Severity
from agent.target import Target
from probes.base import Attempt, Failure, ProbeResult, Status, address_class
from probes.ci import CiRunner

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

PRIVATE = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2024-09-01_spec-example.json"
STOPPABLE = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2021-10-01_azcli-recording.json"
RANGES = "azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json"
EKS_BOTH = "aws_eks_describe-cluster_public-and-private_restricted-cidr_awscli.json"
EKS_PRIVATE = "aws_eks_create-cluster_private-only_creating_awscli.json"

SUB = "00000000-0000-0000-0000-000000000000"
HOST = "dnsprefix1-aae7e0f0.5cef6058-b6b5-414d-8cb1-4bd14eb0b15c.privatelink.location1.azmk8s.io"
ZONE = "5cef6058-b6b5-414d-8cb1-4bd14eb0b15c.privatelink.location1.azmk8s.io"
ZONE_RG = "MC_rg1_clustername1_location1"
ZONE_ID = f"/subscriptions/{SUB}/resourceGroups/{ZONE_RG}/providers/Microsoft.Network/privateDnsZones/{ZONE}"
ENDPOINT = "10.224.0.4"
CLIENT = "10.2.0.5"


def load(name: str):
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def vnet_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/{name}"


PREFIX = {"aks-vnet": "10.224.0.0/16", "jump-vnet": "10.2.0.0/16", "hub-vnet": "10.0.0.0/16"}


def vnet(name: str, *peerings: dict, prefix: str | None = None, dns: list[str] | None = None) -> dict:
    doc = load("azure_vnet_get_no-peerings_2024-07-01_spec-example.json")
    prefix = prefix or PREFIX[name]
    doc["name"], doc["id"] = name, vnet_id(name)
    doc["properties"]["addressSpace"]["addressPrefixes"] = [prefix]
    subnet = doc["properties"]["subnets"][0]
    subnet["id"] = f"{doc['id']}/subnets/subnet1"
    subnet["properties"]["addressPrefix"] = prefix
    if dns is not None:
        doc["properties"]["dhcpOptions"] = {"dnsServers": dns}
    doc["properties"]["virtualNetworkPeerings"] = list(peerings)
    return doc


def peering(local: str, remote: str, *, state: str = "Connected", sync: str = "FullyInSync",
            forwarded: bool = False, access: bool = True) -> dict:
    doc = load("azure_vnet-peering_get_connected_use-remote-gateways_2021-03-01_azcli-recording.json")
    doc["name"] = f"{local}-to-{remote}"
    doc["id"] = f"{vnet_id(local)}/virtualNetworkPeerings/{doc['name']}"
    p = doc["properties"]
    p.update(peeringState=state, peeringSyncLevel=sync, allowForwardedTraffic=forwarded,
             allowVirtualNetworkAccess=access, useRemoteGateways=False, remoteGateways=[])
    p["remoteVirtualNetwork"]["id"] = vnet_id(remote)
    p["remoteAddressSpace"]["addressPrefixes"] = [PREFIX.get(remote, "10.99.0.0/16")]
    return doc


def zone() -> dict:
    doc = load("azure_private-dns-zone_get_2024-06-01_spec-example.json")
    doc["name"], doc["id"] = ZONE, ZONE_ID
    return doc


def link(vnet_name: str, state: str = "Completed") -> dict:
    doc = load("azure_private-dns-vnet-link_get_completed_2024-06-01_spec-example.json")
    doc["name"] = f"{vnet_name}-link"
    doc["id"] = f"{ZONE_ID}/virtualNetworkLinks/{doc['name']}"
    doc["properties"]["virtualNetwork"]["id"] = vnet_id(vnet_name)
    doc["properties"]["virtualNetworkLinkState"] = state
    return doc


def a_record() -> dict:
    doc = load("azure_private-dns-recordset-a_list_2024-06-01_spec-example.json")["value"][0]
    label = HOST.split(".", 1)[0]
    doc["name"], doc["id"] = label, f"{ZONE_ID}/A/{label}"
    doc["properties"].update(fqdn=HOST + ".", aRecords=[{"ipv4Address": ENDPOINT}])
    return doc


def context(*docs, cluster=PRIVATE, **kw) -> CloudContext:
    facts = parse_cluster(load(cluster)) if isinstance(cluster, str) else cluster
    inventory = parse_inventory([(f"doc{i}", d) for i, d in enumerate(docs)])
    return CloudContext(cluster=facts, inventory=inventory, **kw)


# --- the core probes' side, hand-built ------------------------------------------------


def nxdomain(probe: str = "dns.system", subject: str = HOST, server: str = "168.63.129.16"):
    attempt = Attempt(f"{server}:53/udp", Status.FAILED, 0.01, Failure("dns.nxdomain", "NXDOMAIN"))
    return ProbeResult(probe, subject, Status.FAILED, 0.01, attempts=(attempt,),
                       failure=Failure("dns.nxdomain", f"{server} said NXDOMAIN"))


def resolved(*addresses: str, probe: str = "dns.system", subject: str = HOST):
    return ProbeResult(probe, subject, Status.OK, 0.01, facts={
        "addresses": [{"address": a, "class": address_class(a)} for a in addresses],
        "source": "dns"})


def tcp(address: str, kind: str | None = None, source: str = CLIENT):
    facts = {"address": address, "port": 443, "class": address_class(address),
             "source_ip": source, "kubectl_path": True}
    if kind:
        return ProbeResult("tcp", f"{address}:443", Status.FAILED, 5.0, facts=facts,
                           failure=Failure(kind, "no answer"))
    return ProbeResult("tcp", f"{address}:443", Status.OK, 0.01, facts=facts)


def vantage(*ips: str, ci: dict | None = None):
    return ProbeResult("vantage", "runner", Status.OK, 0.0,
                       facts={"hostname": "runner", "source_ips": list(ips), "container": False,
                              "ci": ci})


def observe(ctx: CloudContext | None, *results: ProbeResult, host: str = HOST) -> Observations:
    target = Target(server=f"https://{host}:443", host=host, port=443)
    return Observations(target, tuple(results), cloud=ctx, dials=kubectl_dials(results, DIRECT))


def findings(obs: Observations) -> dict[str, Finding]:
    out = {}
    for f in evaluate(RULES, obs):
        assert not re.search(r"\{[a-z_]+\}", f.fix), f"unfilled placeholder in {f.code}: {f.fix}"
        out[f.code] = f
    return out


# --- private DNS ----------------------------------------------------------------------


def test_zone_not_linked_to_the_clients_vnet():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("aks-vnet"), a_record())
    found = findings(observe(ctx, nxdomain(), vantage(CLIENT)))
    f = found["dns.private_zone_not_linked"]
    assert f.severity is Severity.BLOCKER and f.subject == HOST
    assert f.fix == (
        "Link the zone to the client's VNet: az network private-dns link vnet create "
        f"--subscription {SUB} -g {ZONE_RG} -z {ZONE} -n jump-vnet-link -v {vnet_id('jump-vnet')} "
        "-e false")
    assert "linked to aks-vnet, but not to jump-vnet (10.2.0.0/16)" in f.detail
    assert f"this client ({CLIENT})" in f.detail and "(dns.nxdomain)" in f.detail
    assert f.evidence[0] == Evidence("dns.system", HOST, "NXDOMAIN from 168.63.129.16:53/udp")
    # Once the name resolves, the next wall is the missing peering: said now, too.
    assert "net.not_peered" in found and "dns.custom_dns_not_forwarding" not in found


def test_zone_linked_to_the_clients_vnet_is_not_the_cause():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("aks-vnet"), link("jump-vnet"))
    assert "dns.private_zone_not_linked" not in findings(observe(ctx, nxdomain(), vantage(CLIENT)))


def test_link_in_progress_does_not_count_yet():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("jump-vnet", "InProgress"))
    f = findings(observe(ctx, nxdomain(), vantage(CLIENT)))["dns.private_zone_not_linked"]
    assert "A link to it exists (jump-vnet-link) but is InProgress." in f.detail


def test_link_to_a_deleted_vnet_is_named_as_dangling():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), link("aks-vnet"), link("old-jump-vnet"))
    f = findings(observe(ctx, nxdomain(), vantage(CLIENT)))["dns.private_zone_not_linked"]
    assert "Its links to old-jump-vnet point at VNets the inventory does not have" in f.detail
    assert f"-g {ZONE_RG} -z {ZONE}" in f.fix  # zone known from its links alone


def test_name_that_resolves_needs_no_dns_finding():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("aks-vnet"))
    found = findings(observe(ctx, resolved(ENDPOINT), tcp(ENDPOINT), vantage(CLIENT)))
    assert not {c for c in found if c.startswith("dns.")}


def test_unknown_zone_or_unknown_client_vnet_concludes_nothing():
    no_zone = context(vnet("aks-vnet"), vnet("jump-vnet"))
    assert "dns.private_zone_not_linked" not in findings(observe(no_zone, nxdomain(), vantage(CLIENT)))
    ctx = context(vnet("aks-vnet"), zone(), link("aks-vnet"))
    assert "dns.private_zone_not_linked" not in findings(observe(ctx, nxdomain(), vantage(CLIENT)))


def test_custom_dns_in_an_unlinked_hub():
    ctx = context(vnet("aks-vnet"), vnet("hub-vnet"), vnet("jump-vnet", dns=["10.0.0.4"]),
                  zone(), link("aks-vnet"))
    found = findings(observe(ctx, nxdomain(server="10.0.0.4"), vantage(CLIENT)))
    assert "dns.private_zone_not_linked" not in found  # linking jump-vnet would not help
    f = found["dns.custom_dns_not_forwarding"]
    assert "uses custom DNS servers 10.0.0.4 instead of Azure DNS" in f.detail
    assert "10.0.0.4 runs in hub-vnet, which is not linked to" in f.detail
    assert f"az network private-dns link vnet create --subscription {SUB} -g {ZONE_RG} -z {ZONE} " \
           f"-n hub-vnet-link -v {vnet_id('hub-vnet')} -e false" in f.fix


def test_custom_dns_in_a_linked_hub_that_does_not_forward():
    ctx = context(vnet("aks-vnet"), vnet("hub-vnet"), vnet("jump-vnet", dns=["10.0.0.4"]),
                  zone(), link("aks-vnet"), link("hub-vnet"))
    obs = observe(ctx, nxdomain(server="10.0.0.4"), nxdomain("dns.nameserver", "10.0.0.4"),
                  resolved(ENDPOINT, probe="dns.resolver", subject="azure=168.63.129.16"),
                  vantage(CLIENT))
    f = findings(obs)["dns.custom_dns_not_forwarding"]
    assert "yet answers dns.nxdomain: it does not forward" in f.detail
    assert "Azure DNS itself answers the name (azure=168.63.129.16)." in f.detail
    assert f"on 10.0.0.4, forward {ZONE} to 168.63.129.16" in f.fix


def test_custom_dns_on_premises():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet", dns=["192.168.10.53"]), zone(),
                  link("aks-vnet"), link("jump-vnet"))
    f = findings(observe(ctx, nxdomain(), vantage(CLIENT)))["dns.custom_dns_not_forwarding"]
    assert "192.168.10.53 is outside every VNet in the inventory" in f.detail
    assert "Private Resolver inbound endpoint" in f.fix


def test_azure_dns_address_is_taken_from_the_context():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet", dns=["10.99.0.53"]), zone(),
                  link("aks-vnet"), azure_dns_ip="10.99.0.53")
    found = findings(observe(ctx, nxdomain(), vantage(CLIENT)))
    # the VNet's "custom" server is the configured Azure DNS: it is the link that is missing
    assert "dns.private_zone_not_linked" in found and "dns.custom_dns_not_forwarding" not in found


# --- peering --------------------------------------------------------------------------


def hosts_resolved_timeout():
    return resolved(ENDPOINT), tcp(ENDPOINT, "tcp.timeout"), vantage(CLIENT)


def test_not_peered_explains_the_timeout():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("aks-vnet"), link("jump-vnet"))
    f = findings(observe(ctx, *hosts_resolved_timeout()))["net.not_peered"]
    assert f.subject == ENDPOINT
    assert f.detail.endswith(f"This is why {ENDPOINT}:443 timed out (net.filtered).")
    assert ("az network vnet peering create -g rg-net -n jump-vnet-to-aks-vnet --vnet-name "
            f"jump-vnet --remote-vnet {vnet_id('aks-vnet')} --allow-vnet-access") in f.fix
    assert "-n aks-vnet-to-jump-vnet --vnet-name aks-vnet" in f.fix
    assert Evidence("tcp", f"{ENDPOINT}:443", "timed out") in f.evidence


def test_overlapping_vnets_cannot_be_peered():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet", prefix="10.0.0.0/8"))
    obs = observe(ctx, resolved(ENDPOINT), tcp(ENDPOINT, "tcp.timeout", source="10.2.0.5"))
    # 10.2.0.5 is only in jump-vnet (10/8), the endpoint in both: ambiguous, no peering claim
    found = findings(obs)
    assert "net.not_peered" not in found


def test_one_sided_peering():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet", peering("jump-vnet", "aks-vnet",
                                                               state="Initiated")))
    f = findings(observe(ctx, *hosts_resolved_timeout()))["net.peering_not_connected"]
    assert "peering jump-vnet-to-aks-vnet on jump-vnet is Initiated" in f.detail
    assert "aks-vnet has no peering to jump-vnet" in f.detail
    assert "--vnet-name aks-vnet --remote-vnet " + vnet_id("jump-vnet") in f.fix
    assert "az network vnet peering sync -g rg-net --vnet-name jump-vnet -n jump-vnet-to-aks-vnet" in f.fix


def test_disconnected_peering_is_deleted_and_recreated():
    ctx = context(vnet("aks-vnet"),
                  vnet("jump-vnet", peering("jump-vnet", "aks-vnet", state="Disconnected")))
    f = findings(observe(ctx, *hosts_resolved_timeout()))["net.peering_not_connected"]
    assert ("az network vnet peering delete -g rg-net --vnet-name jump-vnet -n "
            "jump-vnet-to-aks-vnet; then az network vnet peering create") in f.fix


def test_peering_out_of_sync_and_without_vnet_access():
    ctx = context(vnet("aks-vnet", peering("aks-vnet", "jump-vnet", access=False)),
                  vnet("jump-vnet", peering("jump-vnet", "aks-vnet", sync="LocalNotInSync")))
    f = findings(observe(ctx, *hosts_resolved_timeout()))["net.peering_not_connected"]
    assert "peering jump-vnet-to-aks-vnet on jump-vnet is LocalNotInSync" in f.detail
    assert "aks-vnet-to-jump-vnet on aks-vnet has allowVirtualNetworkAccess false" in f.detail
    assert ("az network vnet peering update -g rg-net --vnet-name aks-vnet -n "
            "aks-vnet-to-jump-vnet --set allowVirtualNetworkAccess=true") in f.fix


def test_real_recorded_peering_pair():
    """The azure-cli recording: vnet1 -> vnet2 Connected with allowVirtualNetworkAccess
    false, vnet2 -> vnet1 Initiated/RemoteNotInSync (captured before sync)."""
    vnet2 = load("azure_vnet_get_gatewaysubnet_empty-dnsservers_2021-03-01_azcli-recording.json")
    vnet1 = copy.deepcopy(vnet2)
    vnet1["name"] = "vnet1"
    vnet1["id"] = vnet2["id"].replace("/vnet2", "/vnet1")
    vnet1["properties"]["addressSpace"]["addressPrefixes"] = ["10.0.0.0/16"]
    vnet1["properties"]["subnets"] = []
    inventory = [vnet1, vnet2,
                 load("azure_vnet-peering_get_connected_use-remote-gateways_2021-03-01_azcli-recording.json"),
                 load("azure_vnet-peering_get_initiated_remote-not-in-sync_2021-03-01_azcli-recording.json")]
    ctx = context(*inventory)
    obs = observe(ctx, resolved("11.0.0.4"), tcp("11.0.0.4", "tcp.timeout", source="10.0.0.4"))
    f = findings(obs)["net.peering_not_connected"]
    assert "peering peering1 on vnet1 has allowVirtualNetworkAccess false" in f.detail
    assert "peering peering2 on vnet2 is Initiated" in f.detail


def hub(forwarded: bool, broken: bool = False) -> CloudContext:
    return context(
        vnet("hub-vnet", peering("hub-vnet", "jump-vnet", forwarded=True),
             peering("hub-vnet", "aks-vnet", state="Initiated" if broken else "Connected")),
        vnet("jump-vnet", peering("jump-vnet", "hub-vnet", forwarded=forwarded)),
        vnet("aks-vnet", peering("aks-vnet", "hub-vnet", forwarded=forwarded)),
        zone(), link("aks-vnet"), link("jump-vnet"), a_record())


def test_hub_and_spoke_without_forwarding():
    f = findings(observe(hub(forwarded=False), *hosts_resolved_timeout()))
    assert "net.not_peered" not in f
    hit = f["net.hub_transit_not_allowed"]
    assert "Both are peered with the hub hub-vnet" in hit.detail
    assert ("az network vnet peering update -g rg-net --vnet-name jump-vnet -n "
            "jump-vnet-to-hub-vnet --set allowForwardedTraffic=true") in hit.fix
    assert "--vnet-name aks-vnet -n aks-vnet-to-hub-vnet --set allowForwardedTraffic=true" in hit.fix
    assert f"--address-prefix {ENDPOINT}/32 --next-hop-type VirtualAppliance" in hit.fix


def test_hub_and_spoke_with_forwarding_is_a_path():
    found = findings(observe(hub(forwarded=True), *hosts_resolved_timeout()))
    assert not {c for c in found if c.startswith("net.")}


def test_hub_and_spoke_with_a_broken_leg():
    f = findings(observe(hub(forwarded=True, broken=True), *hosts_resolved_timeout()))
    hit = f["net.peering_not_connected"]
    assert "They are peered through the hub hub-vnet" in hit.detail
    assert "peering hub-vnet-to-aks-vnet on hub-vnet is Initiated" in hit.detail


def test_a_connection_that_worked_overrides_the_inventory():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"))
    found = findings(observe(ctx, resolved(ENDPOINT), tcp(ENDPOINT), vantage(CLIENT)))
    assert not {c for c in found if c.startswith("net.")}


def test_peering_unknown_when_the_inventory_has_no_peering_lists():
    a, j = vnet("aks-vnet"), vnet("jump-vnet")
    del a["properties"]["virtualNetworkPeerings"], j["properties"]["virtualNetworkPeerings"]
    assert not {c for c in findings(observe(context(a, j), *hosts_resolved_timeout()))
                if c.startswith("net.")}


# --- inconsistent inventories: overlapping address spaces -----------------------------


def test_overlapping_client_vnets_are_ambiguous_and_said():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), vnet("jump-copy", prefix="10.2.0.0/16"),
                  zone(), link("aks-vnet"))
    found = findings(observe(ctx, nxdomain(), vantage(CLIENT)))
    assert found["cloud.client_vnet_ambiguous"].severity is Severity.INFO
    assert "jump-copy and jump-vnet" in found["cloud.client_vnet_ambiguous"].detail \
        or "jump-vnet and jump-copy" in found["cloud.client_vnet_ambiguous"].detail
    assert "dns.private_zone_not_linked" not in found
    assert "cloud.private_cluster_outside_network" not in found


def test_a_nic_settles_overlapping_vnets():
    nic = load("azure_nic_get_private-and-public-ip-ref_2024-05-01_spec-example.json")
    ipconfig = nic["properties"]["ipConfigurations"][0]["properties"]
    ipconfig["privateIPAddress"] = CLIENT
    ipconfig["subnet"]["id"] = vnet_id("jump-vnet") + "/subnets/subnet1"
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), vnet("jump-copy", prefix="10.2.0.0/16"),
                  nic, zone(), link("aks-vnet"))
    found = findings(observe(ctx, nxdomain(), vantage(CLIENT)))
    assert "cloud.client_vnet_ambiguous" not in found
    assert "-n jump-vnet-link" in found["dns.private_zone_not_linked"].fix


def test_imds_subnet_settles_overlapping_vnets():
    copy_vnet = vnet("jump-copy", prefix="10.2.0.0/16")
    copy_vnet["properties"]["subnets"][0]["properties"]["addressPrefix"] = "10.2.128.0/24"
    jump = vnet("jump-vnet")
    jump["properties"]["subnets"][0]["properties"]["addressPrefix"] = "10.2.0.0/24"
    ctx = context(vnet("aks-vnet"), jump, copy_vnet, zone(), link("aks-vnet"),
                  instance=Instance(private_ips=(CLIENT,), subnets=("10.2.0.0/24",)))
    found = findings(observe(ctx, nxdomain()))
    assert "-n jump-vnet-link" in found["dns.private_zone_not_linked"].fix


# --- outside the network, hosted CI ---------------------------------------------------


def test_private_cluster_from_the_internet():
    ctx = context(vnet("aks-vnet"), vnet("jump-vnet"), zone(), link("aks-vnet"), a_record())
    found = findings(observe(ctx, nxdomain(server="10.1.0.1"), vantage("172.17.0.2")))
    f = found["cloud.private_cluster_outside_network"]
    assert f"API server of private cluster clustername1, whose private endpoint at {ENDPOINT}" \
        in f.detail
    assert "not in any of the 2 VNets the inventory describes" in f.detail
    assert 'az aks command invoke -g rg1 -n clustername1 --command "kubectl get nodes"' in f.fix
    assert "peered with aks-vnet" in f.fix
    assert "dns.private_zone_not_linked" not in found


def test_github_hosted_runner_and_a_private_cluster():
    ctx = context(zone(), link("aks-vnet"))
    obs = observe(ctx, nxdomain(), vantage("10.1.0.4", ci={"name": "github-actions", "hosted": True}))
    found = findings(obs)
    assert "This GitHub-hosted runner (10.1.0.4) is on the CI vendor's network" in \
        found["cloud.private_cluster_outside_network"].detail
    hosted = found["cloud.hosted_ci_runner"]
    assert hosted.severity is Severity.WARNING
    assert "no path into the private network" in hosted.detail
    assert "az aks command invoke -g rg1 -n clustername1" in hosted.fix


def test_hosted_agent_from_the_environment_and_authorized_ranges():
    ctx = context(cluster=RANGES, ci=CiRunner("azure-pipelines", True))
    f = findings(observe(ctx, host=parse_cluster(load(RANGES)).fqdn))["cloud.hosted_ci_runner"]
    assert "Microsoft-hosted agent" in f.detail and "egress IP changes" in f.detail


def test_self_hosted_runner_is_not_flagged():
    ctx = context(cluster=RANGES)
    obs = observe(ctx, vantage("10.2.0.5", ci={"name": "github-actions", "hosted": False}),
                  host=parse_cluster(load(RANGES)).fqdn)
    assert "cloud.hosted_ci_runner" not in findings(obs)


# --- authorized ranges ----------------------------------------------------------------

PUBLIC_HOST = "cliaksdns000003-npf3cbus.hcp.westcentralus.azmk8s.io"
PUBLIC_IP = "20.62.1.1"


def acl_obs(ctx, *extra):
    return observe(ctx, resolved(PUBLIC_IP, subject=PUBLIC_HOST), *extra, host=PUBLIC_HOST)


def test_egress_outside_authorized_ranges_explains_the_timeout():
    ctx = context(cluster=RANGES, egress=EgressIp("203.0.113.7", SOURCE_OPTION))
    f = findings(acl_obs(ctx, tcp(PUBLIC_IP, "tcp.timeout", source="192.168.1.20")))
    hit = f["acl.source_ip_not_authorized"]
    assert hit.subject == "203.0.113.7"
    assert "(1.2.3.4/32)" in hit.detail and "from --egress-ip" in hit.detail
    assert hit.detail.endswith(f"This is why {PUBLIC_IP}:443 timed out (net.filtered).")
    assert hit.fix == ("Add 203.0.113.7/32 to the authorized ranges (the list is replaced, so pass "
                       "all of it): az aks update -g clitest000001 -n cliakstest000002 "
                       "--api-server-authorized-ip-ranges 1.2.3.4/32,203.0.113.7/32")


def test_egress_inside_authorized_ranges():
    ctx = context(cluster=RANGES, egress=EgressIp("1.2.3.4", SOURCE_OPTION))
    assert "acl.source_ip_not_authorized" not in findings(acl_obs(ctx, tcp(PUBLIC_IP, "tcp.timeout")))


def test_user_given_ranges_without_a_cluster_file():
    ctx = CloudContext(user_ranges=("198.51.100.0/24",),
                       egress=EgressIp("198.51.100.77", SOURCE_OPTION))
    assert "acl.source_ip_not_authorized" not in findings(acl_obs(ctx))
    ctx = CloudContext(user_ranges=("198.51.100.0/24",), egress=EgressIp("203.0.113.1", SOURCE_OPTION))
    hit = findings(acl_obs(ctx))["acl.source_ip_not_authorized"]
    assert "az aks update -g <resource-group> -n <cluster-name> --api-server-authorized-ip-ranges " \
           "198.51.100.0/24,203.0.113.1/32" in hit.fix


def test_a_connection_that_worked_means_the_ranges_admit_it():
    ctx = context(cluster=RANGES, egress=EgressIp("203.0.113.7", SOURCE_OPTION))
    assert "acl.source_ip_not_authorized" not in findings(acl_obs(ctx, tcp(PUBLIC_IP)))


def test_egress_unknown_is_said():
    found = findings(acl_obs(context(cluster=RANGES)))
    assert found["acl.egress_ip_unknown"].severity is Severity.INFO


def test_ranges_do_not_apply_to_the_private_path():
    ctx = context(user_ranges=("1.2.3.4/32",), egress=EgressIp("203.0.113.7", SOURCE_OPTION))
    found = findings(observe(ctx, resolved(ENDPOINT), tcp(ENDPOINT)))
    assert "acl.private_endpoint_ignores_ranges" in found
    assert "acl.source_ip_not_authorized" not in found


def test_range_with_host_bits():
    ctx = context(cluster=RANGES, user_ranges=("10.0.0.90/29",))
    f = findings(acl_obs(ctx))["acl.range_not_aligned"]
    assert f.detail == ("10.0.0.90/29 has host bits set: as a range it means 10.0.0.88/29 "
                        "(10.0.0.88 to 10.0.0.95, 8 addresses), not just 10.0.0.90.")
    assert f.fix == "Write 10.0.0.88/29 if the whole block is meant, or 10.0.0.90/32 for the one address."


def test_range_list_near_the_limit():
    doc = load(RANGES)
    doc["properties"]["apiServerAccessProfile"]["authorizedIPRanges"] = [
        f"198.51.{i // 256}.{i % 256}/32" for i in range(190)]
    f = findings(acl_obs(context(cluster=parse_cluster(doc))))["acl.ranges_near_limit"]
    assert "190 authorized ranges" in f.detail and "(6 suffice" in f.fix
    assert "replaces the whole list" in f.fix


# --- EKS ------------------------------------------------------------------------------


def eks_vpcs(vpc_id: str) -> dict:
    doc = load("aws_ec2_describe-vpcs_awscli.json")
    doc["Vpcs"][1]["VpcId"] = vpc_id  # the 10.0.0.0/16 one
    return doc


def test_eks_private_only_from_outside_the_vpc():
    ctx = context(eks_vpcs("vpc-0f622c01f68d4afec"), cluster=EKS_PRIVATE,
                  egress=EgressIp("203.0.113.7", SOURCE_OPTION))
    host = "example.gr7.us-west-2.eks.amazonaws.com"
    f = findings(observe(ctx, nxdomain(subject=host), vantage("192.168.1.20"), host=host))
    hit = f["cloud.eks_public_access_disabled"]
    assert "answers only inside VPC vpc-0f622c01f68d4afec" in hit.detail
    assert "(dns.nxdomain)" in hit.detail
    assert ("aws eks update-cluster-config --region us-west-2 --name example --resources-vpc-config "
            "endpointPublicAccess=true,publicAccessCidrs=203.0.113.7/32,endpointPrivateAccess=true"
            ) in hit.fix


def test_eks_private_only_from_inside_the_vpc():
    ctx = context(eks_vpcs("vpc-0f622c01f68d4afec"), cluster=EKS_PRIVATE)
    host = "example.gr7.us-west-2.eks.amazonaws.com"
    found = findings(observe(ctx, tcp("10.0.1.10", "tcp.timeout", source="10.0.5.5"), host=host))
    assert "cloud.eks_public_access_disabled" not in found


def test_eks_public_cidr_denied():
    host = parse_cluster(load(EKS_BOTH)).endpoint
    ctx = context(cluster=EKS_BOTH, egress=EgressIp("198.51.100.5", SOURCE_OPTION))
    obs = observe(ctx, resolved("3.14.15.92", subject=host),
                  tcp("3.14.15.92", "tcp.timeout", source="192.168.1.20"), host=host)
    hit = findings(obs)["cloud.eks_public_cidr_denied"]
    assert "only from 22.19.18.2/32" in hit.detail and "(net.filtered)" in hit.detail
    assert hit.fix == ("Add 198.51.100.5/32: aws eks update-cluster-config --region us-east-2 "
                       "--name my-eks-cluster --resources-vpc-config "
                       "publicAccessCidrs=22.19.18.2/32,198.51.100.5/32")
    allowed = context(cluster=EKS_BOTH, egress=EgressIp("22.19.18.2", SOURCE_OPTION))
    assert "cloud.eks_public_cidr_denied" not in findings(
        observe(allowed, resolved("3.14.15.92", subject=host), host=host))


def test_eks_inside_the_vpc_uses_the_private_endpoint():
    host = parse_cluster(load(EKS_BOTH)).endpoint
    ctx = context(cluster=EKS_BOTH, egress=EgressIp("198.51.100.5", SOURCE_OPTION))
    obs = observe(ctx, resolved("10.0.1.10", subject=host), host=host)
    assert "cloud.eks_public_cidr_denied" not in findings(obs)


def test_eks_vpc_dns_attributes():
    support = load("aws_ec2_describe-vpc-attribute_enableDnsSupport_awscli.json")
    hostnames = load("aws_ec2_describe-vpc-attribute_enableDnsHostnames_awscli.json")
    for doc in (support, hostnames):
        doc["VpcId"] = "vpc-0012b8e1cc0abb17d"
    hostnames["EnableDnsHostnames"]["Value"] = False
    host = parse_cluster(load(EKS_BOTH)).endpoint
    f = findings(observe(context(support, hostnames, cluster=EKS_BOTH), host=host))
    hit = f["cloud.eks_private_dns_disabled"]
    assert "enableDnsHostnames is false" in hit.detail
    assert hit.fix.startswith("Let the VPC's Route 53 resolver answer the private endpoint's name")
    assert hit.fix.endswith(":\naws ec2 modify-vpc-attribute --vpc-id vpc-0012b8e1cc0abb17d "
                            "--enable-dns-hostnames '{\"Value\":true}'")
    support["EnableDnsSupport"]["Value"] = True
    hostnames["EnableDnsHostnames"]["Value"] = True
    assert "cloud.eks_private_dns_disabled" not in findings(
        observe(context(support, hostnames, cluster=EKS_BOTH), host=host))


# --- stopped cluster ------------------------------------------------------------------


def test_stopped_cluster_from_its_description():
    doc = load(STOPPABLE)
    doc["properties"]["powerState"]["code"] = "Stopped"
    host = doc["properties"]["privateFQDN"]
    f = findings(observe(context(cluster=parse_cluster(doc)), nxdomain(subject=host),
                         host=host))["cloud.cluster_stopped"]
    assert f.detail.startswith("The cluster description says cliakstest000001 is Stopped")
    assert f.fix == ("Start it: az aks start -g clitest000001 -n cliakstest000001; then refresh "
                     "the kubeconfig, since the API server's address may change: az aks "
                     "get-credentials -g clitest000001 -n cliakstest000001 --overwrite-existing")


def test_public_name_gone_everywhere_while_the_inventory_has_the_cluster():
    ctx = context(load(RANGES), cluster=None)
    obs = observe(ctx, nxdomain(subject=PUBLIC_HOST), nxdomain("dns.nameserver", "10.0.0.10"),
                  nxdomain("dns.resolver", "google=8.8.8.8"), host=PUBLIC_HOST)
    f = findings(obs)["cloud.cluster_stopped"]
    assert "NXDOMAIN on every resolver asked (3)" in f.detail
    one_answers = observe(ctx, nxdomain(subject=PUBLIC_HOST),
                          resolved("20.62.1.1", probe="dns.resolver", subject="google=8.8.8.8"),
                          host=PUBLIC_HOST)
    assert "cloud.cluster_stopped" not in findings(one_answers)


def test_running_cluster_is_not_stopped():
    assert "cloud.cluster_stopped" not in findings(
        observe(context(cluster=STOPPABLE), nxdomain()))


# --- discovery notes, no context, explanations ----------------------------------------


def test_discovery_notes_are_visible():
    ctx = CloudContext(notes=("ARM GET /subscriptions/s/providers/Microsoft.Network/"
                              "virtualNetworks: HTTP 403 AuthorizationFailed",))
    f = findings(observe(ctx))["cloud.discovery_incomplete"]
    assert f.severity is Severity.INFO and "AuthorizationFailed" in f.detail


def test_without_cloud_context_no_cloud_rule_speaks():
    obs = observe(None, nxdomain(), tcp(ENDPOINT, "tcp.timeout"),
                  vantage(CLIENT, ci={"name": "github-actions", "hosted": True}))
    assert evaluate(RULES, obs) == []


def test_explains_covers_only_known_codes():
    codes = {r.code for r in RULES}
    assert set(EXPLAINS) <= codes
    assert all(c.split(".")[0] in ("dns", "net") for v in EXPLAINS.values() for c in v)


def test_core_finding_is_annotated_with_its_cause():
    ctx = context(cluster=RANGES, egress=EgressIp("203.0.113.7", SOURCE_OPTION))
    cloud = evaluate(RULES, acl_obs(ctx, tcp(PUBLIC_IP, "tcp.timeout")))
    core = Finding("net.filtered", Severity.BLOCKER, "Filtered", f"{PUBLIC_IP}:443",
                   f"{PUBLIC_IP}:443 timed out.", "Check firewalls.", ())
    unrelated = Finding("net.filtered", Severity.BLOCKER, "Filtered", "10.9.9.9:443",
                        "10.9.9.9:443 timed out.", "Check firewalls.", ())
    out = annotate_explained([core, unrelated, *cloud], EXPLAINS)
    assert out[0].detail.endswith("Cause: acl.source_ip_not_authorized (see that finding).")
    assert out[1] == unrelated and out[2:] == cloud
