"""What an inventory holds: frozen dataclasses for the resources the cloud rules read, and
:class:`Inventory` with its lookups. Built by :func:`agent.cloud.inventory.parse_inventory`."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.cloud.cluster import ClusterFacts
from agent.cloud.fields import norm_id, parse_id
from probes.base import in_ranges


class InventoryParseError(ValueError):
    """A resource of a known type is malformed. The message is one line, no secrets."""


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class VNet:
    id: str
    name: str
    resource_group: str | None
    subscription: str | None
    location: str | None
    prefixes: tuple[str, ...]
    dns_servers: tuple[str, ...] = ()  # empty = Azure-provided DNS
    subnets: tuple[Subnet, ...] = ()
    peerings_listed: bool = False  # the document carried virtualNetworkPeerings: the full list

    def contains(self, address: str) -> bool:
        return in_ranges(address, self.prefixes)


@dataclass(frozen=True)
class Peering:
    id: str
    name: str
    vnet_id: str  # the VNet this peering belongs to (the local side)
    remote_vnet_id: str
    state: str  # Initiated | Connected | Disconnected
    sync_level: str | None = None  # FullyInSync | RemoteNotInSync | LocalNotInSync ...
    allow_vnet_access: bool = True
    allow_forwarded_traffic: bool = False
    allow_gateway_transit: bool = False
    use_remote_gateways: bool = False
    remote_prefixes: tuple[str, ...] = ()

    @property
    def resource_group(self) -> str | None:
        return parse_id(self.id).resource_group

    @property
    def vnet_name(self) -> str:
        return parse_id(self.vnet_id).name or self.vnet_id


@dataclass(frozen=True)
class PrivateZone:
    id: str
    name: str
    resource_group: str | None
    subscription: str | None


@dataclass(frozen=True)
class VNetLink:
    id: str
    name: str
    zone_id: str
    zone_name: str
    vnet_id: str
    state: str | None  # virtualNetworkLinkState: Completed | InProgress
    registration: bool = False

    @property
    def completed(self) -> bool:
        return (self.state or "completed").lower() == "completed"


@dataclass(frozen=True)
class ARecordSet:
    id: str
    name: str
    zone_name: str
    fqdn: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Nic:
    id: str
    name: str
    private_ips: tuple[str, ...]
    subnet_ids: tuple[str, ...]
    public_ip_ids: tuple[str, ...] = ()
    dns_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublicIp:
    id: str
    name: str
    address: str | None  # a Dynamic address not yet allocated has none


@dataclass(frozen=True)
class Vpc:
    id: str
    cidrs: tuple[str, ...]
    dhcp_options_id: str | None = None
    name: str | None = None

    def contains(self, address: str) -> bool:
        return in_ranges(address, self.cidrs)


@dataclass(frozen=True)
class VpcAttribute:
    vpc_id: str
    attribute: str  # "enableDnsSupport" | "enableDnsHostnames"
    value: bool


@dataclass(frozen=True)
class DhcpOptions:
    id: str
    name_servers: tuple[str, ...]


@dataclass(frozen=True)
class VpcPeering:
    id: str
    status: str  # active | pending-acceptance | ...
    requester_vpc: str
    accepter_vpc: str


@dataclass(frozen=True)
class Inventory:
    vnets: tuple[VNet, ...] = ()
    peerings: tuple[Peering, ...] = ()
    zones: tuple[PrivateZone, ...] = ()
    links: tuple[VNetLink, ...] = ()
    records: tuple[ARecordSet, ...] = ()
    nics: tuple[Nic, ...] = ()
    public_ips: tuple[PublicIp, ...] = ()
    clusters: tuple[ClusterFacts, ...] = ()
    vpcs: tuple[Vpc, ...] = ()
    vpc_attributes: tuple[VpcAttribute, ...] = ()
    dhcp_options: tuple[DhcpOptions, ...] = ()
    vpc_peerings: tuple[VpcPeering, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)  # files it came from

    @property
    def empty(self) -> bool:
        return not any(
            (self.vnets, self.peerings, self.zones, self.links, self.records, self.nics,
             self.public_ips, self.clusters, self.vpcs, self.vpc_attributes,
             self.dhcp_options, self.vpc_peerings)
        )

    def vnet(self, vnet_id: str) -> VNet | None:
        key = norm_id(vnet_id)
        return next((v for v in self.vnets if norm_id(v.id) == key), None)

    def links_of(self, zone_name: str) -> tuple[VNetLink, ...]:
        return tuple(k for k in self.links if k.zone_name == zone_name.lower())

    def zone(self, zone_name: str) -> PrivateZone | None:
        return next((z for z in self.zones if z.name == zone_name.lower()), None)

    def knows_zone(self, zone_name: str) -> bool:
        return self.zone(zone_name) is not None or bool(self.links_of(zone_name))

    def zone_for_host(self, host: str) -> str | None:
        """The most specific private zone (known to the inventory) that holds ``host``."""
        host = host.lower().rstrip(".")
        names = {z.name for z in self.zones} | {k.zone_name for k in self.links}
        under = [n for n in names if host == n or host.endswith("." + n)]
        return max(under, key=len) if under else None

    def peerings_from(self, vnet_id: str) -> tuple[Peering, ...]:
        key = norm_id(vnet_id)
        return tuple(p for p in self.peerings if norm_id(p.vnet_id) == key)

    def peering(self, local_id: str, remote_id: str) -> Peering | None:
        remote = norm_id(remote_id)
        return next(
            (p for p in self.peerings_from(local_id) if norm_id(p.remote_vnet_id) == remote), None
        )

    def peerings_known(self, vnet_id: str) -> bool:
        """Whether the inventory can say what peerings ``vnet_id`` has."""
        vnet = self.vnet(vnet_id)
        return bool((vnet and vnet.peerings_listed) or self.peerings_from(vnet_id))

    def addresses_of(self, fqdn: str) -> tuple[str, ...]:
        fqdn = fqdn.lower().rstrip(".")
        found: list[str] = []
        for r in self.records:
            if r.fqdn == fqdn:
                found.extend(r.addresses)
        return tuple(dict.fromkeys(found))

    def vpc(self, vpc_id: str) -> Vpc | None:
        return next((v for v in self.vpcs if v.id == vpc_id), None)

    def vpc_attribute(self, vpc_id: str, attribute: str) -> bool | None:
        for a in self.vpc_attributes:
            if a.vpc_id == vpc_id and a.attribute.lower() == attribute.lower():
                return a.value
        return None
