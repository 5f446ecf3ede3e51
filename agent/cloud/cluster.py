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

from agent.cloud.fields import flag, parse_id, pick, props, strings

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
    p = props(doc)
    source = "arm" if isinstance(pick(doc, "properties"), Mapping) else "azcli"
    access = pick(p, "apiServerAccessProfile", default={})
    rid = pick(doc, "id")
    parsed = parse_id(rid) if isinstance(rid, str) else None
    power = pick(pick(p, "powerState"), "code")
    return ClusterFacts(
        provider=AKS,
        source=source,
        name=str(pick(doc, "name") or (parsed.name if parsed else "") or ""),
        resource_id=rid if isinstance(rid, str) else None,
        subscription=parsed.subscription if parsed else None,
        resource_group=pick(doc, "resourceGroup") or (parsed.resource_group if parsed else None),
        location=pick(doc, "location"),
        provisioning_state=pick(p, "provisioningState"),
        power_state=power if isinstance(power, str) else None,
        private=bool(flag(pick(access, "enablePrivateCluster"))),
        fqdn=_lower(pick(p, "fqdn")),
        private_fqdn=_lower(pick(p, "privateFQDN")),
        public_fqdn_enabled=flag(pick(access, "enablePrivateClusterPublicFQDN")),
        private_dns_zone=pick(access, "privateDNSZone"),
        authorized_ranges=strings(pick(access, "authorizedIPRanges")),
        node_resource_group=pick(p, "nodeResourceGroup"),
        vnet_integration=bool(flag(pick(access, "enableVnetIntegration"))),
    )


def parse_eks(doc: Mapping[str, Any]) -> ClusterFacts:
    vpc = pick(doc, "resourcesVpcConfig", default={})
    arn = pick(doc, "arn")
    account = region = None
    if isinstance(arn, str) and arn.count(":") >= 5:
        _, _, _, region, account, _ = arn.split(":", 5)
    endpoint = pick(doc, "endpoint")
    host = urlsplit(endpoint).hostname if isinstance(endpoint, str) else None
    public = flag(pick(vpc, "endpointPublicAccess"))
    private_access = flag(pick(vpc, "endpointPrivateAccess"))
    return ClusterFacts(
        provider=EKS,
        source="awscli",
        name=str(pick(doc, "name") or ""),
        resource_id=arn if isinstance(arn, str) else None,
        subscription=account or None,
        location=region or None,
        provisioning_state=pick(doc, "status"),
        private=public is False and bool(private_access),
        endpoint=host.lower() if host else None,
        endpoint_public_access=public,
        endpoint_private_access=private_access,
        # EKS applies 0.0.0.0/0 when public access is on and no CIDRs were given.
        public_access_cidrs=strings(pick(vpc, "publicAccessCidrs")),
        vpc_id=pick(vpc, "vpcId"),
        cluster_security_group=pick(vpc, "clusterSecurityGroupId"),
    )


def _lower(value: Any) -> str | None:
    return value.lower().rstrip(".") if isinstance(value, str) and value else None
