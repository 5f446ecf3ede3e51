"""The cloud's own description of the cluster -> :class:`ClusterFacts`. Pure: opens nothing.

Accepted, detected by shape:

- ``az aks show -o json``: properties flattened to the top, SDK spelling (``privateFqdn``,
  ``authorizedIpRanges``, ``privateDnsZone``), plus ``resourceGroup``;
- an ARM GET of ``Microsoft.ContainerService/managedClusters`` (any recent API version):
  ``properties`` nested, REST spelling (``privateFQDN``, ``authorizedIPRanges``);
- ``aws eks describe-cluster`` (``{"cluster": {...}}``) or its ``--query cluster`` body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agent.cloud.fields import (
    FieldError,
    boolean,
    obj,
    objects,
    parse_id,
    pick,
    props,
    string_list,
    text,
)

AKS = "aks"
EKS = "eks"


@dataclass(frozen=True)
class ClusterFacts:
    provider: str  # AKS | EKS
    source: str  # "arm" | "azcli" | "awscli"
    name: str
    resource_id: str | None = None  # ARM id, or the EKS ARN
    subscription: str | None = None  # AKS subscription id, EKS account id
    resource_group: str | None = None
    location: str | None = None  # Azure location or AWS region
    provisioning_state: str | None = None  # AKS provisioningState, EKS status
    power_state: str | None = None  # AKS powerState.code: "Running" | "Stopped"
    # AKS endpoint
    private: bool = False  # enablePrivateCluster (AKS), private-only endpoint (EKS)
    fqdn: str | None = None  # the public hcp name; absent when the public FQDN is disabled
    private_fqdn: str | None = None
    public_fqdn_enabled: bool | None = None
    private_dns_zone: str | None = None  # "system" | "none" | a zone resource id | None
    authorized_ranges: tuple[str, ...] = ()
    node_resource_group: str | None = None
    vnet_integration: bool = False  # API Server VNet Integration: ranges also apply privately
    # The delegated subnet the API server's internal load balancer sits in (API Server VNet
    # Integration with a bring-your-own subnet); None when AKS made the subnet itself (the
    # az CLI then prints "").
    apiserver_subnet_id: str | None = None
    node_subnet_ids: tuple[str, ...] = ()  # agentPoolProfiles[].vnetSubnetID
    # EKS endpoint
    endpoint: str | None = None  # the API host name
    endpoint_public_access: bool | None = None
    endpoint_private_access: bool | None = None
    public_access_cidrs: tuple[str, ...] = ()
    vpc_id: str | None = None
    cluster_security_group: str | None = None

    @property
    def host_names(self) -> tuple[str, ...]:
        """Every name under which this cluster's API server is published."""
        names = (self.fqdn, self.private_fqdn, self.endpoint)
        return tuple(dict.fromkeys(n.lower() for n in names if n))

    def serves(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.host_names

    @property
    def private_zone_name(self) -> str | None:
        """The private DNS zone that holds the private FQDN, when AKS uses one."""
        zone = self.private_dns_zone
        if not zone or zone.lower() == "none" or not self.private:
            return None
        if zone.lower() == "system":
            # <prefix>-<hash>.<guid>.privatelink.<region>.azmk8s.io: the zone is all but the
            # first label.
            if self.private_fqdn and "." in self.private_fqdn:
                return self.private_fqdn.split(".", 1)[1].lower()
            return None
        return (parse_id(zone).name or "").lower() or None

    @property
    def zone_setup(self) -> str | None:
        """How the private FQDN is published: "system" (a zone AKS makes and links to the
        cluster VNet), "byo" (the user's zone, given as a resource id), "none" (no private
        zone: the name resolves publicly); None for a public endpoint."""
        if not self.private:
            return None
        zone = (self.private_dns_zone or "").lower()
        if zone == "none":
            return "none"
        if zone.startswith("/"):
            return "byo"
        # AKS's default when privateDNSZone is not given is "system".
        return "system"

    @property
    def private_zone_id(self) -> str | None:
        zone = self.private_dns_zone
        if not zone:
            return None
        if zone.startswith("/"):
            return zone
        name = self.private_zone_name
        if zone.lower() == "system" and name and self.subscription and self.node_resource_group:
            return (
                f"/subscriptions/{self.subscription}/resourceGroups/{self.node_resource_group}"
                f"/providers/Microsoft.Network/privateDnsZones/{name}"
            )
        return None


class NotAClusterError(ValueError):
    """The document is none of the cluster shapes we know."""


def parse_cluster(doc: Any) -> ClusterFacts:
    """Detect the shape and parse it; :class:`NotAClusterError` when it is none of them."""
    if isinstance(doc, Mapping):
        eks = pick(doc, "cluster")
        if isinstance(eks, Mapping) and _looks_eks(eks):
            return parse_eks(eks)
        if _looks_eks(doc):
            return parse_eks(doc)
        if _looks_aks(doc):
            return parse_aks(doc)
    raise NotAClusterError(
        "neither `az aks show -o json`, an ARM managedCluster, nor `aws eks describe-cluster`"
    )


def _looks_eks(doc: Mapping[str, Any]) -> bool:
    arn = pick(doc, "arn")
    return isinstance(pick(doc, "resourcesVpcConfig"), Mapping) or (
        isinstance(arn, str) and arn.startswith("arn:aws:eks:")
    )


def _looks_aks(doc: Mapping[str, Any]) -> bool:
    kind = pick(doc, "type")
    rid = pick(doc, "id")
    if isinstance(kind, str) and kind.lower() == "microsoft.containerservice/managedclusters":
        return True
    return isinstance(rid, str) and "/managedclusters/" in rid.lower()


def parse_aks(doc: Mapping[str, Any]) -> ClusterFacts:
    try:
        return _parse_aks(doc)
    except FieldError as exc:
        raise NotAClusterError(f"AKS cluster {_label(doc)}: {exc}") from None


def _parse_aks(doc: Mapping[str, Any]) -> ClusterFacts:
    obj(doc, "properties")  # a `properties` that is not an object is an error, not "flattened"
    p = props(doc)
    source = "arm" if isinstance(pick(doc, "properties"), Mapping) else "azcli"
    access = obj(p, "apiServerAccessProfile")
    rid = text(doc, "id")
    parsed = parse_id(rid) if rid else None
    return ClusterFacts(
        provider=AKS,
        source=source,
        name=text(doc, "name") or (parsed.name if parsed else "") or "",
        resource_id=rid,
        subscription=parsed.subscription if parsed else None,
        resource_group=text(doc, "resourceGroup") or (parsed.resource_group if parsed else None),
        location=text(doc, "location"),
        provisioning_state=text(p, "provisioningState"),
        power_state=text(obj(p, "powerState"), "code"),
        private=bool(boolean(access, "enablePrivateCluster")),
        fqdn=_lower(text(p, "fqdn")),
        private_fqdn=_lower(text(p, "privateFQDN")),
        public_fqdn_enabled=boolean(access, "enablePrivateClusterPublicFQDN"),
        private_dns_zone=text(access, "privateDNSZone"),
        authorized_ranges=string_list(access, "authorizedIPRanges"),
        node_resource_group=text(p, "nodeResourceGroup"),
        vnet_integration=bool(boolean(access, "enableVnetIntegration")),
        apiserver_subnet_id=text(access, "subnetId") or None,
        node_subnet_ids=tuple(dict.fromkeys(
            sid for pool in objects(p, "agentPoolProfiles")
            if (sid := text(pool, "vnetSubnetID")))),
    )


def parse_eks(doc: Mapping[str, Any]) -> ClusterFacts:
    try:
        return _parse_eks(doc)
    except FieldError as exc:
        raise NotAClusterError(f"EKS cluster {_label(doc)}: {exc}") from None


def _parse_eks(doc: Mapping[str, Any]) -> ClusterFacts:
    vpc = obj(doc, "resourcesVpcConfig")
    arn = text(doc, "arn")
    account = region = None
    if arn and arn.count(":") >= 5:
        _, _, _, region, account, _ = arn.split(":", 5)
    endpoint = text(doc, "endpoint")
    host = urlsplit(endpoint).hostname if endpoint else None
    public = boolean(vpc, "endpointPublicAccess")
    private_access = boolean(vpc, "endpointPrivateAccess")
    return ClusterFacts(
        provider=EKS,
        source="awscli",
        name=text(doc, "name") or "",
        resource_id=arn,
        subscription=account or None,
        location=region or None,
        provisioning_state=text(doc, "status"),
        private=public is False and bool(private_access),
        endpoint=host.lower() if host else None,
        endpoint_public_access=public,
        endpoint_private_access=private_access,
        # EKS applies 0.0.0.0/0 when public access is on and no CIDRs were given.
        public_access_cidrs=string_list(vpc, "publicAccessCidrs"),
        vpc_id=text(vpc, "vpcId"),
        cluster_security_group=text(vpc, "clusterSecurityGroupId"),
    )


def _label(doc: Mapping[str, Any]) -> str:
    name = pick(doc, "name")
    return name if isinstance(name, str) and name else "description"


def _lower(value: Any) -> str | None:
    return value.lower().rstrip(".") if isinstance(value, str) and value else None
