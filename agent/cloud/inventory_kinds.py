"""What a document is: the resources it holds, whatever its envelope, and the kind of each.

A document may be one resource, an ARM list (``{"value": [...], "nextLink": ...}``), a CLI
list (a JSON array), or an AWS CLI answer (``{"Vpcs": [...]}``). Each resource is told by its
ARM ``type``, else by the type its id spells, else by its shape (az CLI lists print neither).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.cloud.fields import pick, props, resource_type

T_VNET = "microsoft.network/virtualnetworks"
T_PEERING = "microsoft.network/virtualnetworks/virtualnetworkpeerings"
T_ZONE = "microsoft.network/privatednszones"
T_LINK = "microsoft.network/privatednszones/virtualnetworklinks"
T_A = "microsoft.network/privatednszones/a"
T_NIC = "microsoft.network/networkinterfaces"
T_PIP = "microsoft.network/publicipaddresses"
T_SUBNET = "microsoft.network/virtualnetworks/subnets"
T_NSG = "microsoft.network/networksecuritygroups"
T_PE = "microsoft.network/privateendpoints"
T_PLS = "microsoft.network/privatelinkservices"
T_AKS = "microsoft.containerservice/managedclusters"
K_EKS = "aws:eks-cluster"
K_VPCS = "aws:vpcs"
K_VPC_ATTRIBUTE = "aws:vpc-attribute"
K_DHCP_OPTIONS = "aws:dhcp-options"
K_VPC_PEERINGS = "aws:vpc-peerings"


def resources_in(doc: Any) -> list[Mapping[str, Any]]:
    """The resources a document holds, whatever its envelope."""
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, Mapping)]
    if not isinstance(doc, Mapping):
        return []
    value = doc.get("value")
    if isinstance(value, list) and set(doc) <= {"value", "nextLink", "@odata.nextLink"}:
        return [r for r in value if isinstance(r, Mapping)]
    return [doc]


def classify(resource: Mapping[str, Any]) -> str:
    """The lower-cased ARM type, or an ``aws:`` kind, or "" when unknown."""
    kind = resource_type(resource)
    if kind:
        return kind
    if isinstance(pick(resource, "cluster"), Mapping) or pick(resource, "resourcesVpcConfig"):
        return K_EKS
    for key, aws_kind in (
        ("Vpcs", K_VPCS),
        ("VpcPeeringConnections", K_VPC_PEERINGS),
        ("DhcpOptions", K_DHCP_OPTIONS),
    ):
        if isinstance(resource.get(key), list):
            return aws_kind
    if "VpcId" in resource and any(
        k in resource for k in ("EnableDnsSupport", "EnableDnsHostnames")
    ):
        return K_VPC_ATTRIBUTE
    return _by_shape(props(resource))


def _by_shape(p: Mapping[str, Any]) -> str:
    # az CLI lists without a type: told by the one field each kind cannot do without.
    if pick(p, "peeringState") is not None:
        return T_PEERING
    if pick(p, "virtualNetworkLinkState") is not None:
        return T_LINK
    if pick(p, "aRecords") is not None:
        return T_A
    if pick(p, "addressSpace") is not None:
        return T_VNET
    if pick(p, "ipConfigurations") is not None and pick(p, "macAddress") is not None:
        return T_NIC
    if pick(p, "defaultSecurityRules") is not None or pick(p, "securityRules") is not None:
        return T_NSG
    if pick(p, "privateLinkServiceConnections", "manualPrivateLinkServiceConnections") is not None:
        return T_PE
    if pick(p, "loadBalancerFrontendIpConfigurations") is not None:
        return T_PLS
    return ""
