"""Inventory parsing over real ARM and CLI payloads, in every envelope they come in."""

from __future__ import annotations

import pytest

from agent.cloud.cluster import NotAClusterError, parse_cluster
from agent.cloud.inventory import (
    T_A,
    T_LINK,
    T_NIC,
    T_PEERING,
    T_VNET,
    InventoryParseError,
    classify,
    parse_inventory,
)

VNET = "azure_vnet_get_no-peerings_2024-07-01_spec-example.json"
VNET_GW = "azure_vnet_get_gatewaysubnet_empty-dnsservers_2021-03-01_azcli-recording.json"
PEER_CONNECTED = "azure_vnet-peering_get_connected_use-remote-gateways_2021-03-01_azcli-recording.json"
PEER_INITIATED = "azure_vnet-peering_get_initiated_remote-not-in-sync_2021-03-01_azcli-recording.json"
PEER_SPEC = "azure_vnet-peering_get_initiated_2024-05-01_spec-example.json"
PEER_LIST = "azure_vnet-peering_list_two-initiated_2023-09-01_spec-example.json"
ZONE = "azure_private-dns-zone_get_2024-06-01_spec-example.json"
LINK = "azure_private-dns-vnet-link_get_completed_2024-06-01_spec-example.json"
LINKS = "azure_private-dns-vnet-link_list_completed-and-inprogress_2024-06-01_spec-example.json"
RECORDS = "azure_private-dns-recordset-a_list_2024-06-01_spec-example.json"
NIC = "azure_nic_get_private-and-public-ip-ref_2024-05-01_spec-example.json"
PIP = "azure_public-ip_get_dynamic-no-address_2024-05-01_spec-example.json"


def test_vnet_with_subnets_and_no_dhcp_options(fixture_json):
    inv = parse_inventory([("v", fixture_json(VNET))])
    (v,) = inv.vnets
    assert (v.name, v.resource_group, v.subscription) == ("test-vnet", "rg1", "subid")
    assert v.prefixes == ("10.0.0.0/16",) and v.dns_servers == () and v.peerings_listed
    assert v.subnets[0].prefixes == ("10.0.1.0/24",)
    assert v.contains("10.0.200.1") and not v.contains("10.1.0.1")


def test_vnet_with_empty_dns_servers_means_azure_dns(fixture_json):
    (v,) = parse_inventory([("v", fixture_json(VNET_GW))]).vnets
    assert v.dns_servers == () and v.prefixes == ("11.0.0.0/16",)


def test_custom_dns_servers_are_read(fixture_json):
    doc = fixture_json(VNET_GW)
    doc["properties"]["dhcpOptions"]["dnsServers"] = ["10.0.0.4", "10.0.0.5"]
    (v,) = parse_inventory([("v", doc)]).vnets
    assert v.dns_servers == ("10.0.0.4", "10.0.0.5")


def test_peerings_keep_state_sync_and_flags(fixture_json):
    inv = parse_inventory([("a", fixture_json(PEER_CONNECTED)), ("b", fixture_json(PEER_INITIATED))])
    connected, initiated = inv.peerings
    assert (connected.name, connected.state, connected.sync_level) == (
        "peering1", "Connected", "FullyInSync")
    assert connected.vnet_id.endswith("/virtualNetworks/vnet1")
    assert connected.remote_vnet_id.endswith("/virtualNetworks/vnet2")
    assert connected.use_remote_gateways and connected.allow_forwarded_traffic
    assert not connected.allow_vnet_access
    assert (initiated.state, initiated.sync_level) == ("Initiated", "RemoteNotInSync")
    assert initiated.allow_gateway_transit and initiated.remote_prefixes == ("10.0.0.0/16",)


def test_spec_peerings_without_type_are_told_by_their_id(fixture_json):
    assert classify(fixture_json(PEER_SPEC)) == T_PEERING
    inv = parse_inventory([("one", fixture_json(PEER_SPEC)), ("list", fixture_json(PEER_LIST))])
    # The GET and the list's first item are the same peering: kept once.
    assert [p.name for p in inv.peerings] == ["peer", "peer2"]  # id wins over the spec's "peer"
    assert inv.peerings[0].allow_forwarded_traffic and not inv.peerings[1].allow_forwarded_traffic


def test_vnet_carries_its_peerings_inline(fixture_json):
    vnet = fixture_json(VNET)
    peering = fixture_json(PEER_SPEC)
    peering["id"] = vnet["id"] + "/virtualNetworkPeerings/to-hub"
    vnet["properties"]["virtualNetworkPeerings"] = [peering]
    inv = parse_inventory([("v", vnet)])
    assert inv.peerings[0].vnet_id == vnet["id"] and inv.peerings_known(vnet["id"])
    assert inv.peering(vnet["id"].upper(), peering["properties"]["remoteVirtualNetwork"]["id"])


def test_zone_links_and_records(fixture_json):
    inv = parse_inventory([("z", fixture_json(ZONE)), ("l", fixture_json(LINK)),
                           ("ls", fixture_json(LINKS)), ("r", fixture_json(RECORDS))])
    assert inv.zone("PrivateZone1.com").resource_group == "resourceGroup1"
    assert [k.name for k in inv.links_of("privatezone1.com")] == ["virtualNetworkLink1"]
    contoso = inv.links_of("privatelink.contoso.com")
    assert [(k.name, k.completed) for k in contoso] == [
        ("virtualNetworkLink1", True), ("virtualNetworkLink2", False)]
    assert contoso[1].registration
    assert inv.addresses_of("recorda1.privatezone1.com.") == ("1.2.3.4",)
    assert inv.zone_for_host("x.recorda2.privatezone1.com") == "privatezone1.com"
    assert inv.zone_for_host("api.privatelink.contoso.com") == "privatelink.contoso.com"
    assert inv.zone_for_host("example.com") is None


def test_nic_and_public_ip_without_address(fixture_json):
    inv = parse_inventory([("n", fixture_json(NIC)), ("p", fixture_json(PIP))])
    (nic,) = inv.nics
    assert nic.private_ips == ("172.20.2.4", "172.20.2.16")  # the /28 ipconfig, address part
    assert nic.subnet_ids[0].endswith("/virtualNetworks/rg1-vnet/subnets/default")
    assert inv.public_ips[0].address is None


def test_aws_vpcs_attributes_dhcp_and_peerings(fixture_json):
    inv = parse_inventory([
        (n, fixture_json(n)) for n in (
            "aws_ec2_describe-vpcs_awscli.json",
            "aws_ec2_describe-vpc-attribute_enableDnsSupport_awscli.json",
            "aws_ec2_describe-vpc-attribute_enableDnsHostnames_awscli.json",
            "aws_ec2_describe-dhcp-options_amazonprovideddns_awscli.json",
            "aws_ec2_describe-vpc-peering-connections_active-and-pending_awscli.json",
        )
    ])
    assert inv.vpc("vpc-06e4ab6c6cEXAMPLE").contains("10.0.3.3")
    assert inv.vpc_attribute("vpc-a01106c2", "enableDnsSupport") is True
    assert inv.vpc_attribute("vpc-a01106c2", "enableDnsHostnames") is True
    assert inv.dhcp_options[0].name_servers == ("AmazonProvidedDNS",)
    assert [p.status for p in inv.vpc_peerings] == ["active", "pending-acceptance"]


def test_every_fixture_together_parses_and_ignores_the_unknown(fixtures_dir, fixture_json):
    docs = [(p.name, fixture_json(p.name)) for p in sorted(fixtures_dir.glob("*.json"))]
    inv = parse_inventory(docs)
    assert len(inv.vnets) == 2 and len(inv.zones) == 1 and len(inv.links) == 3
    assert {c.provider for c in inv.clusters} == {"aks", "eks"}
    assert not inv.empty and len(inv.sources) == len(docs)


def az_flatten(resource: dict) -> dict:
    """What an az CLI list prints: properties at the top level (no `properties` key)."""
    flat = {k: v for k, v in resource.items() if k != "properties"}
    flat.update(resource.get("properties", {}))
    return flat


def test_cli_lists_are_json_arrays_classified_by_shape(fixture_json):
    links = [az_flatten(r) for r in fixture_json(LINKS)["value"]]
    peerings = [az_flatten(r) for r in fixture_json(PEER_LIST)["value"]]
    for item in links + peerings:
        item.pop("type", None)
    records = [az_flatten(r) for r in fixture_json(RECORDS)["value"]]
    nic = az_flatten(fixture_json(NIC))
    nic.pop("type")
    vnet = az_flatten(fixture_json(VNET))
    vnet.pop("type")
    # Shape alone (the ids are stripped of their type too) still tells them apart.
    for item in (links[0], peerings[0], records[0], nic, vnet):
        item["id"] = "/subscriptions/s/resourceGroups/g/x"
    assert [classify(x) for x in (links[0], peerings[0], records[0], nic, vnet)] == [
        T_LINK, T_PEERING, T_A, T_NIC, T_VNET]


def test_cli_flattened_resources_parse(fixture_json):
    links = [az_flatten(r) for r in fixture_json(LINKS)["value"]]
    vnet = az_flatten(fixture_json(VNET))
    inv = parse_inventory([("links", links), ("vnet", [vnet])])
    assert len(inv.links) == 2 and inv.vnets[0].prefixes == ("10.0.0.0/16",)


@pytest.mark.parametrize("break_it, message", [
    (lambda d: d.pop("id"), "without an ARM id"),
    (lambda d: d["properties"]["addressSpace"].update(addressPrefixes=["10.0.0.300/16"]),
     "is not an address prefix"),
    (lambda d: d["properties"].pop("addressSpace"), "has no addressSpace"),
])
def test_malformed_known_resource_is_an_error_naming_the_source(fixture_json, break_it, message):
    doc = fixture_json(VNET)
    break_it(doc)
    with pytest.raises(InventoryParseError, match=message) as err:
        parse_inventory([("inv/vnet.json", doc)])
    assert str(err.value).startswith("inv/vnet.json: ")


def test_link_without_vnet_is_an_error(fixture_json):
    doc = fixture_json(LINK)
    del doc["properties"]["virtualNetwork"]
    with pytest.raises(InventoryParseError, match=r"no virtualNetwork\.id"):
        parse_inventory([("l", doc)])


# --- strict about required fields and JSON types (hand-written documents, no fixtures) ----

SUB_RG = "/subscriptions/s1/resourceGroups/rg1/providers"
VNET_ID = f"{SUB_RG}/Microsoft.Network/virtualNetworks/vnet1"
ZONE_ID = f"{SUB_RG}/Microsoft.Network/privateDnsZones/privatelink.eastus.azmk8s.io"


def arm_vnet() -> dict:
    return {"id": VNET_ID, "name": "vnet1", "type": "Microsoft.Network/virtualNetworks",
            "location": "eastus", "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "dhcpOptions": {"dnsServers": []},
                "subnets": [{"id": f"{VNET_ID}/subnets/s1", "name": "s1",
                             "properties": {"addressPrefix": "10.0.1.0/24"}}],
                "virtualNetworkPeerings": []}}


def arm_peering() -> dict:
    return {"id": f"{VNET_ID}/virtualNetworkPeerings/to-hub", "name": "to-hub", "properties": {
        "peeringState": "Connected", "allowForwardedTraffic": True,
        "remoteVirtualNetwork": {"id": f"{SUB_RG}/Microsoft.Network/virtualNetworks/hub"},
        "remoteAddressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}}


def arm_link() -> dict:
    return {"id": f"{ZONE_ID}/virtualNetworkLinks/l1", "name": "l1", "properties": {
        "virtualNetwork": {"id": VNET_ID}, "virtualNetworkLinkState": "Completed",
        "registrationEnabled": False}}


def arm_records() -> dict:
    return {"id": f"{ZONE_ID}/A/api", "name": "api", "properties": {
        "fqdn": "api.privatelink.eastus.azmk8s.io.", "aRecords": [{"ipv4Address": "10.0.1.4"}]}}


def arm_nic() -> dict:
    return {"id": f"{SUB_RG}/Microsoft.Network/networkInterfaces/nic1", "name": "nic1",
            "properties": {"ipConfigurations": [{"name": "ip1", "properties": {
                "privateIPAddress": "10.0.1.5", "subnet": {"id": f"{VNET_ID}/subnets/s1"}}}],
                "dnsSettings": {"dnsServers": []}}}


def arm_zone() -> dict:
    return {"id": ZONE_ID, "name": "privatelink.eastus.azmk8s.io",
            "type": "Microsoft.Network/privateDnsZones"}


def aws_vpcs() -> dict:
    return {"Vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.1.0.0/16", "DhcpOptionsId": "dopt-1",
                      "CidrBlockAssociationSet": [{"CidrBlock": "10.1.0.0/16",
                                                   "CidrBlockState": {"State": "associated"}}],
                      "Tags": [{"Key": "Name", "Value": "main"}]}]}


def aws_dhcp() -> dict:
    return {"DhcpOptions": [{"DhcpOptionsId": "dopt-1", "DhcpConfigurations": [
        {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]}]}]}


def aws_pcx() -> dict:
    return {"VpcPeeringConnections": [{"VpcPeeringConnectionId": "pcx-1",
                                       "Status": {"Code": "active"},
                                       "RequesterVpcInfo": {"VpcId": "vpc-1"},
                                       "AccepterVpcInfo": {"VpcId": "vpc-2"}}]}


def aws_attribute() -> dict:
    return {"VpcId": "vpc-1", "EnableDnsSupport": {"Value": True}}


def aks_show() -> dict:
    return {"id": f"{SUB_RG}/Microsoft.ContainerService/managedClusters/aks1", "name": "aks1",
            "type": "Microsoft.ContainerService/managedClusters", "location": "eastus",
            "properties": {"fqdn": "aks1-dns.hcp.eastus.azmk8s.io",
                           "powerState": {"code": "Running"},
                           "apiServerAccessProfile": {"enablePrivateCluster": False,
                                                      "authorizedIPRanges": ["198.51.100.0/24"]}}}


def eks_describe() -> dict:
    return {"cluster": {"name": "eks1", "arn": "arn:aws:eks:us-east-2:111122223333:cluster/eks1",
                        "endpoint": "https://ABC.gr7.us-east-2.eks.amazonaws.com",
                        "status": "ACTIVE", "resourcesVpcConfig": {
                            "vpcId": "vpc-1", "endpointPublicAccess": True,
                            "endpointPrivateAccess": False,
                            "publicAccessCidrs": ["198.51.100.0/24"]}}}


def _set(path: str, value):
    """Set (or with value=DELETE, remove) a field at a path like "properties.subnets"."""
    def change(doc):
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return change


DELETE = object()

STRICT_CASES = [
    # (document builder, change, what the message must name)
    (arm_vnet, _set("properties.subnets", "default"), r"virtual network vnet1: subnets is a string, not a list"),
    (arm_vnet, _set("properties.subnets", [{"name": "s2", "properties": {"addressPrefix": 24}}]),
     r"virtual network vnet1: addressPrefix is a number, not a string"),
    (arm_vnet, _set("properties.subnets", [{"properties": {"addressPrefix": "10.0.2.0/24"}}]),
     r"a subnet without id or name"),
    (arm_vnet, _set("properties.subnets.0.properties.addressPrefix", "10.0.1.0/33"),
     r"subnet s1: '10.0.1.0/33' is not an address prefix"),
    (arm_vnet, _set("properties.addressSpace", ["10.0.0.0/16"]), r"addressSpace is a list, not an object"),
    (arm_vnet, _set("properties.addressSpace.addressPrefixes", "10.0.0.0/16"),
     r"addressPrefixes is a string, not a list"),
    (arm_vnet, _set("properties.dhcpOptions.dnsServers", [10]), r"dnsServers holds a number, not a string"),
    (arm_vnet, _set("properties.virtualNetworkPeerings", ["peer"]),
     r"virtualNetworkPeerings holds a string, not an object"),
    (arm_vnet, _set("properties", "flattened?"), r"properties is a string, not an object"),
    (arm_vnet, _set("location", 1), r"location is a number, not a string"),
    (arm_vnet, _set("id", 42), r"a virtual network: id is a number, not a string"),
    (arm_peering, _set("properties.remoteVirtualNetwork", DELETE), r"no remoteVirtualNetwork\.id"),
    (arm_peering, _set("properties.remoteVirtualNetwork.id", 7), r"id is a number, not a string"),
    (arm_peering, _set("properties.peeringState", 1), r"peeringState is a number, not a string"),
    (arm_peering, _set("properties.allowForwardedTraffic", "yes"),
     r"allowForwardedTraffic is a string, not true or false"),
    (arm_link, _set("properties.virtualNetwork", DELETE), r"no virtualNetwork\.id"),
    (arm_link, _set("properties.virtualNetwork", "vnet1"), r"virtualNetwork is a string, not an object"),
    (arm_records, _set("properties.aRecords", {"ipv4Address": "10.0.1.4"}),
     r"A record set api: aRecords is an object, not a list"),
    (arm_records, _set("properties.aRecords", "10.0.1.4"), r"aRecords is a string, not a list"),
    (arm_records, _set("properties.aRecords", [{"ipv4Address": None}]), r"None is not an IPv4 address"),
    (arm_nic, _set("properties.ipConfigurations", {}), r"ipConfigurations is an object, not a list"),
    (arm_nic, _set("properties.ipConfigurations.0.properties.privateIPAddress", ["10.0.1.5"]),
     r"privateIPAddress is a list, not a string"),
    (arm_zone, _set("name", 5), r"private DNS zone .*: name is a number, not a string"),
    (aws_vpcs, _set("Vpcs.0.VpcId", DELETE), r"a VPC without VpcId"),
    (aws_vpcs, _set("Vpcs.0.CidrBlockAssociationSet", "10.1.0.0/16"),
     r"VPC vpc-1: CidrBlockAssociationSet is a string, not a list"),
    (aws_vpcs, _set("Vpcs.0.Tags", {"Name": "main"}), r"VPC vpc-1: Tags is an object, not a list"),
    (aws_dhcp, _set("DhcpOptions.0.DhcpOptionsId", DELETE), r"DHCP options without DhcpOptionsId"),
    (aws_dhcp, _set("DhcpOptions.0.DhcpConfigurations.0.Values", [{"Value": None}]),
     r"DHCP options dopt-1: Value is missing"),
    (aws_pcx, _set("VpcPeeringConnections.0.VpcPeeringConnectionId", DELETE),
     r"a VPC peering connection without VpcPeeringConnectionId"),
    (aws_pcx, _set("VpcPeeringConnections.0.AccepterVpcInfo", {}),
     r"VPC peering pcx-1 AccepterVpcInfo without VpcId"),
    (aws_pcx, _set("VpcPeeringConnections.0.Status", "active"), r"Status is a string, not an object"),
    (aws_attribute, _set("EnableDnsSupport", {"Value": "maybe"}),
     r"EnableDnsSupport of vpc-1: Value is a string, not true or false"),
    (aws_attribute, _set("EnableDnsSupport", {}), r"EnableDnsSupport of vpc-1 has no boolean Value"),
    (aks_show, _set("properties.apiServerAccessProfile.privateDNSZone", 5),
     r"AKS cluster aks1: privateDNSZone is a number, not a string"),
    (aks_show, _set("properties.apiServerAccessProfile.authorizedIPRanges", "198.51.100.0/24"),
     r"authorizedIPRanges is a string, not a list"),
    (aks_show, _set("properties.powerState", "Running"), r"powerState is a string, not an object"),
    (eks_describe, _set("cluster.resourcesVpcConfig.publicAccessCidrs", "0.0.0.0/0"),
     r"EKS cluster eks1: publicAccessCidrs is a string, not a list"),
    (eks_describe, _set("cluster.resourcesVpcConfig.endpointPublicAccess", 1),
     r"endpointPublicAccess is a number, not true or false"),
    (eks_describe, _set("cluster.endpoint", ["https://x"]), r"endpoint is a list, not a string"),
]


def test_the_hand_written_documents_parse():
    docs = [aks_show(), eks_describe(), arm_vnet(), arm_peering(), arm_link(), arm_records(),
            arm_nic(), arm_zone(), aws_vpcs(), aws_dhcp(), aws_pcx(), aws_attribute()]
    inv = parse_inventory([(f"doc{i}.json", d) for i, d in enumerate(docs)])
    assert [len(x) for x in (inv.clusters, inv.vnets, inv.peerings, inv.links, inv.records, inv.nics,
                              inv.zones, inv.vpcs, inv.dhcp_options, inv.vpc_peerings,
                              inv.vpc_attributes)] == [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert inv.vnets[0].subnets[0].prefixes == ("10.0.1.0/24",)
    assert inv.vpcs[0].name == "main" and inv.vpc_attribute("vpc-1", "enableDnsSupport") is True


@pytest.mark.parametrize(("build", "change", "message"), STRICT_CASES)
def test_wrong_or_missing_field_is_an_error_naming_document_and_field(build, change, message):
    doc = build()
    change(doc)
    with pytest.raises(InventoryParseError, match=message) as err:
        parse_inventory([("inv/doc.json", doc)])
    assert str(err.value).startswith("inv/doc.json: ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("build", "change", "message"),
                         [c for c in STRICT_CASES if c[0] in (aks_show, eks_describe)])
def test_cluster_with_wrong_field_types_is_not_a_cluster(build, change, message):
    doc = build()
    change(doc)
    with pytest.raises(NotAClusterError, match=message):
        parse_cluster(doc)
