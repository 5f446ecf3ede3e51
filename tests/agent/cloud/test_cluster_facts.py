"""Cluster descriptions in the shapes the clouds really return."""

from __future__ import annotations

import pytest

from agent.cloud.cluster import AKS, EKS, NotAClusterError, parse_cluster

SYSTEM_2021 = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2021-10-01_azcli-recording.json"
SYSTEM_2024 = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2024-09-01_spec-example.json"
CUSTOM_ZONE = "azure_aks_managedcluster_private_custom-dns-zone_fqdn-subdomain_2024-09-01_spec-example.json"
RANGES = "azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json"
PUBLIC = "azure_aks_managedcluster_public_get_2024-09-01_spec-example.json"
AZ_FRAGMENT = "azure_aks_azcli-show_apiServerAccessProfile_private_dns-none_public-fqdn_blog-fragment.json"
EKS_BOTH = "aws_eks_describe-cluster_public-and-private_restricted-cidr_awscli.json"
EKS_PRIVATE = "aws_eks_create-cluster_private-only_creating_awscli.json"
EKS_OPEN = "aws_eks_delete-cluster_public-and-private_open-cidr_deleting_awscli.json"


def az_show(arm: dict, access_profile: dict) -> dict:
    """The az CLI's flattening of an ARM managedCluster (properties to the top level, SDK
    spelling, resourceGroup added), as SOURCES.md describes, with a real az access profile."""
    flat = {k: v for k, v in arm.items() if k != "properties"}
    props = dict(arm["properties"])
    renames = {"privateFQDN": "privateFqdn", "azurePortalFQDN": "azurePortalFqdn"}
    for k, v in props.items():
        flat[renames.get(k, k)] = v
    flat["apiServerAccessProfile"] = access_profile
    flat["resourceGroup"] = "rg1"
    return flat


def test_arm_2021_private_system_zone(fixture_json):
    c = parse_cluster(fixture_json(SYSTEM_2021))
    assert (c.provider, c.source, c.name) == (AKS, "arm", "cliakstest000001")
    assert c.private and c.public_fqdn_enabled and c.power_state == "Running"
    assert c.resource_group == "clitest000001" and c.location == "westus2"
    assert c.fqdn == "cliakstest-clitestarhqathbb-8ecadf-076102c2.hcp.westus2.azmk8s.io"
    assert c.private_zone_name == "7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io"
    assert c.private_zone_id == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
        "MC_clitest000001_cliakstest000001_westus2/providers/Microsoft.Network/privateDnsZones/"
        "7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io"
    )
    assert c.serves(c.private_fqdn.upper() + ".") and c.serves(c.fqdn)


def test_arm_2024_private_system_zone(fixture_json):
    c = parse_cluster(fixture_json(SYSTEM_2024))
    assert c.private and c.private_dns_zone == "system" and c.power_state is None
    assert c.private_zone_name == "5cef6058-b6b5-414d-8cb1-4bd14eb0b15c.privatelink.location1.azmk8s.io"


def test_custom_zone_with_fqdn_subdomain_has_no_public_fqdn(fixture_json):
    c = parse_cluster(fixture_json(CUSTOM_ZONE))
    assert c.fqdn is None and c.private_fqdn == "domain1.privatelink.location1.azmk8s.io"
    assert c.private_zone_name == "privatelink.location1.azmk8s.io"
    assert c.private_zone_id.endswith("/privateDnsZones/privatelink.location1.azmk8s.io")
    assert c.host_names == ("domain1.privatelink.location1.azmk8s.io",)


def test_public_cluster_with_authorized_ranges_rest_spelling(fixture_json):
    c = parse_cluster(fixture_json(RANGES))
    assert not c.private and c.authorized_ranges == ("1.2.3.4/32",)
    assert c.provisioning_state == "Creating" and c.private_zone_name is None


def test_public_cluster_without_access_profile(fixture_json):
    c = parse_cluster(fixture_json(PUBLIC))
    assert not c.private and c.authorized_ranges == () and c.private_zone_name is None


def test_az_cli_spelling_is_read_the_same(fixture_json):
    flat = az_show(fixture_json(SYSTEM_2024), fixture_json(AZ_FRAGMENT))
    flat["apiServerAccessProfile"]["authorizedIpRanges"] = ["20.1.2.0/24"]
    flat["apiServerAccessProfile"]["privateDnsZone"] = "system"
    c = parse_cluster(flat)
    assert c.source == "azcli" and c.resource_group == "rg1" and c.private
    assert c.public_fqdn_enabled is True and c.authorized_ranges == ("20.1.2.0/24",)
    assert c.private_fqdn == parse_cluster(fixture_json(SYSTEM_2024)).private_fqdn
    assert c.private_zone_name.endswith(".privatelink.location1.azmk8s.io")


def test_az_cli_private_dns_none_has_no_zone(fixture_json):
    c = parse_cluster(az_show(fixture_json(SYSTEM_2024), fixture_json(AZ_FRAGMENT)))
    assert c.private and c.private_dns_zone == "none" and c.private_zone_name is None


def test_eks_public_and_private_restricted(fixture_json):
    c = parse_cluster(fixture_json(EKS_BOTH))
    assert (c.provider, c.name, c.location, c.subscription) == (
        EKS, "my-eks-cluster", "us-east-2", "111122223333")
    assert c.endpoint == "jsa79429hjdaskjdj8223829mndnasw.yl4.us-east-2.eks.amazonaws.com"
    assert c.endpoint_public_access and c.endpoint_private_access and not c.private
    assert c.public_access_cidrs == ("22.19.18.2/32",) and c.vpc_id == "vpc-0012b8e1cc0abb17d"


def test_eks_private_only_without_endpoint(fixture_json):
    c = parse_cluster(fixture_json(EKS_PRIVATE))
    assert c.private and c.endpoint is None and c.provisioning_state == "CREATING"


def test_eks_query_cluster_body(fixture_json):
    c = parse_cluster(fixture_json(EKS_OPEN)["cluster"])
    assert c.public_access_cidrs == ("0.0.0.0/0",) and c.provisioning_state == "DELETING"


@pytest.mark.parametrize("name", [
    "aws_eks_update-cluster-config_endpoint-access_awscli.json",
    "azure_vnet_get_no-peerings_2024-07-01_spec-example.json",
    AZ_FRAGMENT,
])
def test_other_documents_are_not_clusters(fixture_json, name):
    with pytest.raises(NotAClusterError):
        parse_cluster(fixture_json(name))
