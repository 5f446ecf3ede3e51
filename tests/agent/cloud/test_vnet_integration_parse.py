"""API Server VNet Integration inputs over real payloads: the cluster's access profile (ARM
and az CLI casing), the delegated API server subnet, an NSG with its default rules, a
private endpoint and a Private Link Service; and NSG evaluation in priority order."""

from __future__ import annotations

import pytest

from agent.cloud.cluster import parse_cluster
from agent.cloud.inventory import InventoryParseError, classify, parse_inventory
from agent.cloud.inventory_kinds import T_NSG, T_PE, T_PLS, T_SUBNET
from agent.cloud.nsg import Flow, decide

PRIVATE = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2024-09-01_spec-example.json"
PUBLIC = "azure_aks_managedcluster_public_get_2024-09-01_spec-example.json"
AZ_VNI = "azure_aks_azcli-show_apiServerAccessProfile_vnet-integration_public_managed-subnet_capture.json"
SUBNET = "azure_vnet-subnet_get_aks-apiserver-delegated_azcli-capture.json"
NSG = "azure_nsg_get_default-rules_2024-05-01_spec-example.json"
PE = "azure_private-endpoint_get_pls-connection-approved_2024-05-01_spec-example.json"
PLS = "azure_private-link-service_get_lb-frontend_2024-05-01_spec-example.json"
SUBNET_ID = ("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/"
             "aks-vnet/subnets/apiserver")


def az_show(arm: dict, access_profile: dict) -> dict:
    """``az aks show``: properties flattened to the top, the real az access profile."""
    flat = {k: v for k, v in arm.items() if k != "properties"}
    flat.update(arm["properties"])
    flat["apiServerAccessProfile"] = access_profile
    return flat


def test_arm_vnet_integration_with_its_own_subnet(fixture_json):
    doc = fixture_json(PRIVATE)
    doc["properties"]["apiServerAccessProfile"].update(enableVnetIntegration=True,
                                                       subnetId=SUBNET_ID)
    doc["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = SUBNET_ID[:-9] + "nodes"
    c = parse_cluster(doc)
    assert c.vnet_integration and c.private and c.apiserver_subnet_id == SUBNET_ID
    assert c.node_subnet_ids == (SUBNET_ID[:-9] + "nodes",)
    assert c.zone_setup == "system"


def test_az_cli_capture_of_a_public_vnet_integrated_cluster(fixture_json):
    c = parse_cluster(az_show(fixture_json(PUBLIC), fixture_json(AZ_VNI)))
    # The real capture: AKS made the subnet itself, so the az CLI prints subnetId "".
    assert c.vnet_integration and not c.private and c.apiserver_subnet_id is None
    assert c.zone_setup is None and c.source == "azcli"


@pytest.mark.parametrize(("zone", "setup"), [
    ("system", "system"), ("None", "none"), (None, "system"),
    ("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateDnsZones/"
     "private.eastus.azmk8s.io", "byo"),
])
def test_zone_setup(fixture_json, zone, setup):
    doc = fixture_json(PRIVATE)
    doc["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    assert parse_cluster(doc).zone_setup == setup


def test_vnet_integration_flag_of_the_wrong_type_is_an_error(fixture_json):
    doc = fixture_json(PRIVATE)
    doc["properties"]["apiServerAccessProfile"]["enableVnetIntegration"] = "sometimes"
    with pytest.raises(ValueError, match="enableVnetIntegration"):
        parse_cluster(doc)


def test_delegated_api_server_subnet(fixture_json):
    doc = fixture_json(SUBNET)
    assert classify(doc) == T_SUBNET
    (s,) = parse_inventory([("subnet.json", doc)]).subnets
    assert s.name == "aks-apiserver-subnet" and s.prefixes == ("10.226.0.0/28",)
    assert s.delegated_to_aks and s.holds_kube_apiserver  # LB KUBE-APISERVER, upper-cased
    assert s.nsg_id.endswith("/networkSecurityGroups/aks-agentpool-68386414-nsg")
    assert s.vnet_id.endswith("/virtualNetworks/aks-vnet-68386414")


def test_nsg_rules_custom_and_default(fixture_json):
    doc = fixture_json(NSG)
    assert classify(doc) == T_NSG
    (nsg,) = parse_inventory([("nsg.json", doc)]).nsgs
    inbound = [(r.name, r.priority, r.default) for r in nsg.rules if r.direction == "Inbound"]
    assert inbound == [("rule1", 130, False), ("AllowVnetInBound", 65000, True),
                       ("AllowAzureLoadBalancerInBound", 65001, True),
                       ("DenyAllInBound", 65500, True)]
    assert len(nsg.rules) == 7


def test_private_endpoint_and_private_link_service(fixture_json):
    pe_doc, pls_doc = fixture_json(PE), fixture_json(PLS)
    assert (classify(pe_doc), classify(pls_doc)) == (T_PE, T_PLS)
    inv = parse_inventory([("pe.json", pe_doc), ("pls.json", pls_doc)])
    (pe,), (pls,) = inv.private_endpoints, inv.private_link_services
    assert pe.vnet_id.endswith("/virtualNetworks/myVnet")
    assert pe.addresses == ("192.168.0.6", "192.168.0.7", "192.168.0.4", "192.168.0.5")
    (conn,) = pe.connections
    assert conn.approved and conn.service_id == pls.id and not conn.manual
    assert pls.load_balancers == ("lb",) and not pls.on_kube_apiserver
    assert pls.endpoint_ids == ((pe.id, "Approved"),)


def test_a_pls_on_kube_apiserver(fixture_json):
    doc = fixture_json(PLS)
    doc["properties"]["loadBalancerFrontendIpConfigurations"][0]["id"] = (
        "/subscriptions/s/resourceGroups/MC_rg/providers/Microsoft.Network/loadBalancers/"
        "kube-apiserver/frontendIPConfigurations/kube-apiserver-frontend")
    assert parse_inventory([("pls", doc)]).private_link_services[0].on_kube_apiserver


def _rule(doc: dict) -> dict:
    return doc["properties"]["securityRules"][0]["properties"]


@pytest.mark.parametrize(("change", "field"), [
    ({"priority": "130"}, "priority"),
    ({"priority": True}, "priority"),
    ({"access": "Permit"}, "access"),
    ({"direction": "Sideways"}, "direction"),
    ({"protocol": "Sctp"}, "protocol"),
    ({"destinationPortRange": "44x"}, "destinationPortRange"),
    ({"destinationPortRange": "70000"}, "destinationPortRange"),
    ({"sourceAddressPrefix": "10.0.0.300/24"}, "sourceAddressPrefix"),
    ({"sourceAddressPrefix": None}, "sourceAddressPrefix"),
])
def test_malformed_security_rule_names_the_document_and_field(fixture_json, change, field):
    doc = fixture_json(NSG)
    _rule(doc).update(change)
    with pytest.raises(InventoryParseError, match=rf"^nsg\.json: network security group testnsg: "
                                                   rf"security rule rule1: .*{field}"):
        parse_inventory([("nsg.json", doc)])


def test_malformed_private_endpoint_address(fixture_json):
    doc = fixture_json(PE)
    doc["properties"]["customDnsConfigs"][0]["ipAddresses"] = ["192.168.0.x"]
    with pytest.raises(InventoryParseError, match=r"^pe\.json: private endpoint testPe: "
                                                   r"customDnsConfigs"):
        parse_inventory([("pe.json", doc)])


def test_subnet_delegation_without_service_name(fixture_json):
    doc = fixture_json(SUBNET)
    del doc["delegations"][0]["serviceName"]
    with pytest.raises(InventoryParseError, match="subnet aks-apiserver-subnet: a delegation"):
        parse_inventory([("s.json", doc)])


# --- NSG evaluation ---------------------------------------------------------------------

VNET_SPACE = ("10.224.0.0/16", "10.2.0.0/16")
API = "10.224.255.4"


def nsg_with(fixture_json, *rules: dict):
    doc = fixture_json(NSG)
    base = doc["properties"]["securityRules"][0]
    doc["properties"]["securityRules"] = []
    for i, change in enumerate(rules):
        r = {"name": f"r{i}", "id": base["id"][:-5] + f"r{i}",
             "properties": {**base["properties"], **change}}
        doc["properties"]["securityRules"].append(r)
    return parse_inventory([("nsg", doc)]).nsgs[0]


def test_default_rules_admit_the_vnet_and_drop_the_internet(fixture_json):
    nsg = nsg_with(fixture_json)
    assert decide(nsg, Flow("10.2.0.5", API, 443), VNET_SPACE).rule.name == "AllowVnetInBound"
    d = decide(nsg, Flow("198.51.100.10", API, 443), VNET_SPACE)
    assert d.rule.name == "DenyAllInBound" and d.allowed is False and d.certain
    probe = decide(nsg, Flow("AzureLoadBalancer", API, 9988), VNET_SPACE)
    assert probe.rule.name == "AllowAzureLoadBalancerInBound"


def test_priority_order_prefix_lists_and_port_ranges(fixture_json):
    nsg = nsg_with(
        fixture_json,
        {"priority": 300, "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*",
         "destinationPortRange": "443"},
        {"priority": 200, "access": "Deny", "protocol": "Tcp", "sourceAddressPrefix": None,
         "sourceAddressPrefixes": ["10.9.0.0/16", "10.2.0.0/24"], "destinationPortRange": None,
         "destinationPortRanges": ["22", "400-500"]},
    )
    assert decide(nsg, Flow("10.2.0.5", API, 443), VNET_SPACE).rule.name == "r1"
    assert decide(nsg, Flow("10.2.1.5", API, 443), VNET_SPACE).rule.name == "r0"
    assert decide(nsg, Flow("10.2.0.5", API, 4443), VNET_SPACE).rule.name == "AllowVnetInBound"
    udp = decide(nsg, Flow("10.2.0.5", API, 443, protocol="Udp"), VNET_SPACE)
    assert udp.rule.name == "AllowVnetInBound"


def test_service_tags(fixture_json):
    nsg = nsg_with(fixture_json,
                   {"priority": 100, "access": "Deny", "sourceAddressPrefix": "Internet",
                    "destinationPortRange": "443"},
                   {"priority": 110, "access": "Deny", "sourceAddressPrefix": "VirtualNetwork",
                    "destinationAddressPrefix": "VirtualNetwork", "destinationPortRange": "4443"})
    assert decide(nsg, Flow("203.0.113.9", API, 443), VNET_SPACE).rule.name == "r0"
    assert decide(nsg, Flow("10.2.0.5", API, 443), VNET_SPACE).rule.name == "AllowVnetInBound"
    assert decide(nsg, Flow("10.224.0.4", API, 4443), VNET_SPACE).rule.name == "r1"


def test_rules_the_inventory_cannot_evaluate_make_the_decision_uncertain(fixture_json):
    nsg = nsg_with(fixture_json,
                   {"priority": 100, "access": "Allow", "sourceAddressPrefix": None,
                    "sourceApplicationSecurityGroups": [{"id": "/subscriptions/s/asg/jump"}],
                    "destinationPortRange": "443"},
                   {"priority": 110, "access": "Allow", "sourceAddressPrefix": "AzureCloud",
                    "destinationPortRange": "443"},
                   {"priority": 120, "access": "Deny", "sourceAddressPrefix": "*",
                    "destinationPortRange": "443"})
    d = decide(nsg, Flow("10.2.0.5", API, 443), VNET_SPACE)
    assert d.rule.name == "r2" and [r.name for r in d.undecided] == ["r0", "r1"]
    assert not d.certain
