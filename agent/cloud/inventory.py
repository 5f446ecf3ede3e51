"""ARM resources and cloud CLI output -> a frozen :class:`Inventory`. Pure: opens nothing.

The work is split by responsibility; this module is the entry point and re-exports what the
rest of kubereach imports:

    inventory_model.py   the resources (dataclasses) and Inventory with its lookups
    inventory_kinds.py   what a document holds and the kind of each resource
    inventory_azure.py   ARM / az CLI resources -> VNets, peerings, zones, links, subnets,
                         NSGs, private endpoints, Private Link Services, ...
    inventory_aws.py     aws ec2 answers -> VPCs, VPC attributes, DHCP options, peerings

Resources of other kinds are ignored: an inventory is whatever the user had to hand. A
resource of a known kind that lacks what we need (an id, a valid prefix) or holds a field of
the wrong JSON type raises :class:`InventoryParseError` naming the document, because silently
skipping it would make the rules conclude from a hole. The same resource seen twice (by id,
case-insensitively) is kept once, first seen first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent.cloud import inventory_aws, inventory_azure
from agent.cloud.cluster import ClusterFacts, NotAClusterError, parse_cluster
from agent.cloud.fields import FieldError
from agent.cloud.inventory_azure import Found
from agent.cloud.inventory_kinds import (
    K_EKS,
    T_A,
    T_AKS,
    T_LINK,
    T_NIC,
    T_PEERING,
    T_PIP,
    T_VNET,
    T_ZONE,
    classify,
    resources_in,
)
from agent.cloud.inventory_model import (
    ARecordSet,
    DhcpOptions,
    Inventory,
    InventoryParseError,
    Nic,
    Nsg,
    Peering,
    PlsConnection,
    PrivateEndpoint,
    PrivateLinkService,
    PrivateZone,
    PublicIp,
    SecurityRule,
    Subnet,
    VNet,
    VNetLink,
    Vpc,
    VpcAttribute,
    VpcPeering,
)

__all__ = [
    "T_A", "T_AKS", "T_LINK", "T_NIC", "T_PEERING", "T_PIP", "T_VNET", "T_ZONE",
    "ARecordSet", "DhcpOptions", "Inventory", "InventoryParseError", "Nic", "Nsg", "Peering",
    "PlsConnection", "PrivateEndpoint", "PrivateLinkService", "PrivateZone", "PublicIp",
    "SecurityRule", "Subnet", "VNet", "VNetLink", "Vpc", "VpcAttribute", "VpcPeering",
    "classify", "parse_inventory", "resources_in",
]


def _cluster(r: Mapping[str, Any]) -> Iterable[Found]:
    try:
        facts = parse_cluster(r)
    except NotAClusterError as exc:
        raise FieldError(str(exc)) from None
    yield (facts.resource_id or facts.name).lower(), facts


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Iterable[Found]]] = {
    **inventory_azure.PARSERS,
    **inventory_aws.PARSERS,
    T_AKS: _cluster,
    K_EKS: _cluster,
}

# Which Inventory field holds each kind of resource.
_FIELDS: dict[type, str] = {
    VNet: "vnets", Peering: "peerings", PrivateZone: "zones", VNetLink: "links",
    ARecordSet: "records", Nic: "nics", PublicIp: "public_ips", ClusterFacts: "clusters",
    Vpc: "vpcs", VpcAttribute: "vpc_attributes", DhcpOptions: "dhcp_options",
    VpcPeering: "vpc_peerings", Subnet: "subnets", Nsg: "nsgs",
    PrivateEndpoint: "private_endpoints", PrivateLinkService: "private_link_services",
}


def parse_inventory(documents: Iterable[tuple[str, Any]]) -> Inventory:
    """``documents``: (where it came from, parsed JSON) pairs. Errors name the source."""
    found: dict[str, dict[str, Any]] = {name: {} for name in _FIELDS.values()}
    sources: list[str] = []
    for source, doc in documents:
        sources.append(source)
        for resource in resources_in(doc):
            parser = _PARSERS.get(classify(resource))
            if parser is None:
                continue
            try:
                for key, item in parser(resource):
                    found[_FIELDS[type(item)]].setdefault(key, item)
            except FieldError as exc:
                raise InventoryParseError(f"{source}: {exc}") from None
    return Inventory(**{name: tuple(items.values()) for name, items in found.items()},
                     sources=tuple(sources))
