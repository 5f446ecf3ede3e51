"""Cloud context end to end: the lab's scenarios with an inventory that describes the lab
truthfully (its VNets, peering, private DNS zone and link), composed from the real ARM
payloads in tests/fixtures. kubereach must name the cloud-level cause."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from agent.lab import Lab
from agent.lab import addresses as A
from agent.lab.runner import diagnose_missing, run_diagnose
from agent.lab.scenarios import by_name, prepared

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SUB = "00000000-0000-0000-0000-000000000000"
NET_RG = "kreach-net"
NODE_RG = "MC_kreach_kreach_westeurope"
ZONE = A.PRIVATE_FQDN.split(".", 1)[1]  # the AKS "system" zone: all but the first label
ZONE_ID = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateDnsZones/{ZONE}"
VNETS = {"cluster-vnet": A.CLUSTER_NET, "peer-vnet": A.PEER_NET, "hub-vnet": A.HUB_NET}


def _load(name: str) -> dict:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def _vnet_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{NET_RG}/providers/Microsoft.Network/virtualNetworks/{name}"


def _vnet(name: str, *peers: str, dns: tuple[str, ...] = ()) -> dict:
    doc = _load("azure_vnet_get_no-peerings_2024-07-01_spec-example.json")
    doc["name"], doc["id"], doc["location"] = name, _vnet_id(name), A.REGION
    doc["properties"]["addressSpace"]["addressPrefixes"] = [VNETS[name]]
    subnet = doc["properties"]["subnets"][0]
    subnet["id"] = f"{doc['id']}/subnets/default"
    subnet["properties"]["addressPrefix"] = VNETS[name]
    doc["properties"]["dhcpOptions"] = {"dnsServers": list(dns)}  # empty: Azure-provided DNS
    doc["properties"]["virtualNetworkPeerings"] = [_peering(name, p) for p in peers]
    return doc


def _peering(local: str, remote: str) -> dict:
    doc = _load("azure_vnet-peering_get_connected_use-remote-gateways_2021-03-01_azcli-recording.json")
    doc["name"] = f"{local}-to-{remote}"
    doc["id"] = f"{_vnet_id(local)}/virtualNetworkPeerings/{doc['name']}"
    p = doc["properties"]
    p.update(allowVirtualNetworkAccess=True, useRemoteGateways=False, remoteGateways=[])
    p["remoteVirtualNetwork"]["id"] = _vnet_id(remote)
    p["remoteAddressSpace"]["addressPrefixes"] = [VNETS[remote]]
    p["remoteVirtualNetworkAddressSpace"]["addressPrefixes"] = [VNETS[remote]]
    return doc


def _write_lab_description(folder: Path, cluster_dns: tuple[str, ...] = ()) -> Path:
    """The lab as Azure would describe it; returns the --cluster file."""
    cluster = _load(
        "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2024-09-01_spec-example.json")
    cluster["name"], cluster["location"] = "kreach", A.REGION
    cluster["id"] = (f"/subscriptions/{SUB}/resourceGroups/kreach/providers/"
                     "Microsoft.ContainerService/managedClusters/kreach")
    cluster["properties"].update(fqdn=A.PRIVATE_PUBLIC_FQDN, privateFQDN=A.PRIVATE_FQDN,
                                 nodeResourceGroup=NODE_RG)
    zone = _load("azure_private-dns-zone_get_2024-06-01_spec-example.json")
    zone["name"], zone["id"] = ZONE, ZONE_ID
    link = _load("azure_private-dns-vnet-link_get_completed_2024-06-01_spec-example.json")
    link["name"] = "cluster-vnet-link"
    link["id"] = f"{ZONE_ID}/virtualNetworkLinks/cluster-vnet-link"
    link["properties"]["virtualNetwork"]["id"] = _vnet_id("cluster-vnet")
    record = _load("azure_private-dns-recordset-a_list_2024-06-01_spec-example.json")["value"][0]
    label = A.PRIVATE_FQDN.split(".", 1)[0]
    record["name"], record["id"] = label, f"{ZONE_ID}/A/{label}"
    record["properties"].update(fqdn=A.PRIVATE_FQDN + ".", aRecords=[{"ipv4Address": A.API_IP}])
    folder.mkdir()
    docs = {
        "vnets.json": {"value": [_vnet("cluster-vnet", "peer-vnet", dns=cluster_dns),
                                 _vnet("peer-vnet", "cluster-vnet"), _vnet("hub-vnet")]},
        "zone.json": zone,
        "links.json": {"value": [link]},
        "records.json": {"value": [record]},
    }
    for name, doc in docs.items():
        (folder / name).write_text(json.dumps(doc))
    path = folder.parent / "cluster.json"
    path.write_text(json.dumps(cluster))
    return path


@pytest.fixture
def described(tmp_path: Path) -> list[str]:
    reason = diagnose_missing()
    if reason:
        pytest.skip(reason)
    cluster = _write_lab_description(tmp_path / "inventory")
    return ["--cluster", str(cluster), "--inventory", str(tmp_path / "inventory")]


def _findings(diag) -> dict[str, dict]:
    assert diag.report is not None, diag.stderr[-500:]
    return {f["code"]: f for f in diag.report["findings"]}


def test_peered_vnet_not_linked_to_the_private_zone(lab: Lab, described: list[str]) -> None:
    with prepared(lab, by_name("peer-unlinked")) as prep:
        diag = run_diagnose(lab, prep, extra=described)
    found = _findings(diag)
    assert diag.returncode == 1 and diag.report["verdict"] == "unreachable"
    cause = found["dns.private_zone_not_linked"]
    assert cause["severity"] == "blocker" and cause["subject"] == A.PRIVATE_FQDN
    assert f"not to peer-vnet ({A.PEER_NET})" in cause["detail"]
    assert (f"-g {NODE_RG} -z {ZONE} -n peer-vnet-link -v {_vnet_id('peer-vnet')} -e false"
            in cause["fix"])
    assert found["dns.nxdomain"]["severity"] == "blocker"  # the core symptom it explains
    assert not {c for c in found if c.startswith("net.")}  # peered and Connected: no net cause


def test_private_cluster_from_the_internet(lab: Lab, described: list[str]) -> None:
    with prepared(lab, by_name("public-fqdn-private-ip")) as prep:
        diag = run_diagnose(lab, prep, extra=described)
    found = _findings(diag)
    cause = found["cloud.private_cluster_outside_network"]
    assert cause["severity"] == "blocker"
    assert f"This client ({A.INTERNET_IP}) is not in any of the 3 VNets" in cause["detail"]
    assert f"whose private endpoint at {A.API_IP}" in cause["detail"]
    assert "(net.no_route)" in cause["detail"] or "(net.filtered)" in cause["detail"]
    assert "az aks command invoke -g kreach -n kreach" in cause["fix"]


def test_custom_dns_that_does_not_forward_the_zone(lab: Lab, tmp_path: Path) -> None:
    """The cluster VNet's DNS setting names the customer's server (as the scenario's
    resolv.conf does); that server sits in the linked VNet but forwards elsewhere."""
    if diagnose_missing():
        pytest.skip(diagnose_missing())
    cluster = _write_lab_description(tmp_path / "inventory", cluster_dns=(A.CUSTOM_DNS_IP,))
    with prepared(lab, by_name("custom-dns")) as prep:
        diag = run_diagnose(lab, prep, extra=["--cluster", str(cluster),
                                              "--inventory", str(tmp_path / "inventory")])
    found = _findings(diag)
    cause = found["dns.custom_dns_not_forwarding"]
    assert cause["severity"] == "blocker"
    assert f"{A.CUSTOM_DNS_IP} runs in cluster-vnet, which is linked to {ZONE}" in cause["detail"]
    assert f"on {A.CUSTOM_DNS_IP}, forward {ZONE} to 168.63.129.16" in cause["fix"]
    assert "dns.private_zone_not_linked" not in found


def test_authorized_ranges_exclude_the_egress_ip(lab: Lab, tmp_path: Path) -> None:
    if diagnose_missing():
        pytest.skip(diagnose_missing())
    from agent.lab.scenarios import AUTHORIZED_EXCLUDING

    doc = _load("azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json")
    doc["properties"]["fqdn"] = A.PUBLIC_FQDN
    doc["properties"]["apiServerAccessProfile"]["authorizedIPRanges"] = [AUTHORIZED_EXCLUDING]
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps(doc))
    with prepared(lab, by_name("authorized-ranges-exclude")) as prep:
        # The lab's internet client has no NAT: its egress IP is its own address.
        diag = run_diagnose(lab, prep, extra=["--cluster", str(cluster),
                                              "--egress-ip", A.INTERNET_IP])
    found = _findings(diag)
    cause = found["acl.source_ip_not_authorized"]
    assert cause["severity"] == "blocker" and cause["subject"] == A.INTERNET_IP
    assert f"This is why {A.PUBLIC_API_IP}:443 timed out (net.filtered)." in cause["detail"]
    assert cause["fix"].endswith(f"--api-server-authorized-ip-ranges {AUTHORIZED_EXCLUDING},"
                                 f"{A.INTERNET_IP}/32")
    assert found["net.filtered"]["severity"] == "blocker"


# --- API Server VNet Integration ----------------------------------------------------------

API_SUBNET_ID = f"{_vnet_id('cluster-vnet')}/subnets/aks-apiserver-subnet"
NSG_ID = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/networkSecurityGroups/aks-apiserver-nsg"


def _write_vnet_integration(folder: Path, *deny_from: str) -> list[str]:
    """The lab as a private VNet-integrated cluster: the API server stand-in is the
    kube-apiserver load balancer in a delegated /28 of cluster-vnet, whose NSG denies 443
    from ``deny_from``. Returns the diagnose arguments."""
    cluster_file = _write_lab_description(folder)
    cluster = json.loads(cluster_file.read_text())
    cluster["properties"]["apiServerAccessProfile"].update(enableVnetIntegration=True,
                                                           subnetId=API_SUBNET_ID)
    cluster_file.write_text(json.dumps(cluster))
    subnet = _load("azure_vnet-subnet_get_aks-apiserver-delegated_azcli-capture.json")
    subnet["id"], subnet["addressPrefix"] = API_SUBNET_ID, A.APISERVER_SUBNET
    subnet["networkSecurityGroup"]["id"] = NSG_ID
    nsg = _load("azure_nsg_get_default-rules_2024-05-01_spec-example.json")
    nsg["id"], nsg["name"] = NSG_ID, "aks-apiserver-nsg"
    base = nsg["properties"]["securityRules"][0]
    nsg["properties"]["securityRules"] = [
        {"name": f"deny-{i}", "id": f"{NSG_ID}/securityRules/deny-{i}",
         "properties": {**base["properties"], "protocol": "Tcp", "access": "Deny",
                        "priority": 200 + i, "sourceAddressPrefix": source,
                        "destinationPortRange": str(A.API_PORT)}}
        for i, source in enumerate(deny_from)]
    (folder / "subnet.json").write_text(json.dumps(subnet))
    (folder / "nsg.json").write_text(json.dumps(nsg))
    return ["--cluster", str(cluster_file), "--inventory", str(folder)]


def _blockers(found: dict[str, dict]) -> set[str]:
    return {c for c, f in found.items() if f["severity"] == "blocker"}


def test_vnet_integration_peer_without_its_own_private_endpoint(lab: Lab, tmp_path: Path,
                                                                 kubectl: str) -> None:
    if diagnose_missing():
        pytest.skip(diagnose_missing())
    from agent.lab.runner import run_kubectl

    args = _write_vnet_integration(tmp_path / "inventory")
    with prepared(lab, by_name("vnet-integration-peer-no-endpoint")) as prep:
        outcome = run_kubectl(lab, prep, kubectl=kubectl)
        diag = run_diagnose(lab, prep, extra=args)
    found = _findings(diag)
    assert not outcome.ok and diag.report["verdict"] == "unreachable"
    assert _blockers(found) == {"cloud.apiserver_private_endpoint_missing", "net.filtered"}
    cause = found["cloud.apiserver_private_endpoint_missing"]
    assert cause["subject"] == A.PRIVATE_FQDN
    assert "The inventory has no Private Link Service on kube-apiserver" in cause["detail"]
    assert f"This is why {A.API_IP}:443 timed out (net.filtered)." in cause["detail"]
    assert "--lb-name kube-apiserver" in cause["fix"]
    topology = found["cloud.apiserver_vnet_integration"]
    assert (f"This client ({A.PEER_IP}) is in another VNet, peer-vnet ({A.PEER_NET}), peered."
            in topology["detail"])
    assert "privateDNSZone is system (AKS's default)" in topology["detail"]


def test_vnet_integration_nsg_drops_the_jump_box(lab: Lab, tmp_path: Path, kubectl: str) -> None:
    if diagnose_missing():
        pytest.skip(diagnose_missing())
    from agent.lab.runner import run_kubectl

    args = _write_vnet_integration(tmp_path / "inventory", A.JUMP_SUBNET)
    with prepared(lab, by_name("vnet-integration-nsg-drops-client")) as prep:
        outcome = run_kubectl(lab, prep, kubectl=kubectl)
        diag = run_diagnose(lab, prep, extra=args)
    found = _findings(diag)
    assert not outcome.ok and diag.report["verdict"] == "unreachable"
    assert _blockers(found) == {"net.nsg_denies_apiserver", "net.filtered"}
    cause = found["net.nsg_denies_apiserver"]
    assert cause["subject"] == A.API_IP
    assert (f"first matching inbound rule is deny-0 (priority 200, Deny Tcp from "
            f"{A.JUMP_SUBNET} to port 443)") in cause["detail"]
    assert (f"--priority 199 --direction Inbound --access Allow --protocol Tcp "
            f"--source-address-prefixes {A.INSIDE_IP}/32") in cause["fix"]
    assert "net.nsg_denies_apiserver" in found["net.filtered"]["detail"].split(" Cause: ", 1)[1]
    assert "This client (10.1.1.10) is in the same VNet." in \
        found["cloud.apiserver_vnet_integration"]["detail"]


@pytest.mark.parametrize(("scenario", "ranges", "kubectl_ok", "blockers"), [
    ("authorized-ranges-include", "198.51.100.0/28", True, set()),
    ("authorized-ranges-exclude", "203.0.113.64/26", False, {"acl.source_ip_not_authorized", "net.filtered"}),
], ids=["ranges-include-the-client", "ranges-exclude-the-client"])
def test_public_vnet_integrated_cluster_from_the_internet(lab: Lab, tmp_path: Path, kubectl: str, scenario: str,
                                                          ranges: str, kubectl_ok: bool, blockers: set[str]) -> None:
    # The public topology of API Server VNet Integration: the public FQDN stays, behind
    # authorized ranges; the lab's public endpoint plays it. The access profile is the real
    # `az aks show` capture of a public VNet-integrated cluster, with ranges and a subnet.
    if diagnose_missing():
        pytest.skip(diagnose_missing())
    from agent.lab.runner import run_kubectl

    doc = _load("azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json")
    doc["properties"]["fqdn"] = A.PUBLIC_FQDN
    profile = _load("azure_aks_azcli-show_apiServerAccessProfile_vnet-integration_public_managed-subnet_capture.json")
    doc["properties"]["apiServerAccessProfile"] = {**profile, "authorizedIpRanges": [ranges],
                                                   "subnetId": API_SUBNET_ID}
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps(doc))
    with prepared(lab, by_name(scenario)) as prep:
        outcome = run_kubectl(lab, prep, kubectl=kubectl)
        diag = run_diagnose(lab, prep, extra=["--cluster", str(cluster), "--egress-ip", A.INTERNET_IP])
    found = _findings(diag)
    assert (outcome.ok, diag.report["verdict"]) == (kubectl_ok, "reachable" if kubectl_ok else "unreachable")
    assert _blockers(found) == blockers
    topology = found["cloud.apiserver_vnet_integration"]
    assert "uses API Server VNet Integration (public API server)" in topology["detail"]
    assert f"Its public FQDN {A.PUBLIC_FQDN} stays, with up to 2,000 authorized IP ranges." in topology["detail"]
