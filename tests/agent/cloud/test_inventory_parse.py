"""Inventory parsing over real ARM and CLI payloads, in every envelope they come in."""

from __future__ import annotations

import pytest

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
