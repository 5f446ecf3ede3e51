"""What an inventory holds: frozen dataclasses for the resources the cloud rules read, and
:class:`Inventory` with its lookups. Built by :func:`agent.cloud.inventory.parse_inventory`."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.cloud.cluster import ClusterFacts
from agent.cloud.fields import norm_id, parse_id
from probes.base import in_ranges, ip_network


def _prefix_len(prefix: str) -> int:
    network = ip_network(prefix)
    return network.prefixlen if network is not None else 0


class InventoryParseError(ValueError):
    """A resource of a known type is malformed. The message is one line, no secrets."""


AKS_DELEGATION = "microsoft.containerservice/managedclusters"


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    prefixes: tuple[str, ...]
    delegations: tuple[str, ...] = ()  # serviceName of each delegation, as written
    nsg_id: str | None = None  # networkSecurityGroup.id
    # What holds addresses in it (NICs, load balancer frontends): the API server subnet of a
    # VNet-integrated cluster shows the kube-apiserver load balancer's frontend here.
    ip_configuration_ids: tuple[str, ...] = ()

    @property
    def vnet_id(self) -> str:
        return parse_id(self.id).ancestor(1)

    @property
    def delegated_to_aks(self) -> bool:
        return any(d.lower() == AKS_DELEGATION for d in self.delegations)

    @property
    def holds_kube_apiserver(self) -> bool:
        """An ipConfiguration of the ``kube-apiserver`` load balancer is in this subnet."""
        return any(_load_balancer(i) == "kube-apiserver" for i in self.ip_configuration_ids)

    def contains(self, address: str) -> bool:
        return in_ranges(address, self.prefixes)


def _load_balancer(resource_id: str) -> str | None:
    """The load balancer's name, lower-cased, when ``resource_id`` is one of its parts."""
    parsed = parse_id(resource_id)
    if parsed.types and parsed.types[0].lower() == "loadbalancers" and parsed.names:
        return parsed.names[0].lower()
    return None


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
class SecurityRule:
    """One NSG rule. Prefixes are CIDRs, addresses, service tags (``VirtualNetwork``,
    ``AzureLoadBalancer``, ``Internet``, ...) or ``*``; ports are ``*``, ``443`` or
    ``1000-2000``."""

    name: str
    priority: int
    direction: str  # "Inbound" | "Outbound"
    access: str  # "Allow" | "Deny"
    protocol: str  # "Tcp" | "Udp" | "Icmp" | "Esp" | "Ah" | "*"
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]  # destination ports
    source_asgs: tuple[str, ...] = ()  # application security groups: members unknown here
    destination_asgs: tuple[str, ...] = ()
    default: bool = False  # one of the defaultSecurityRules every NSG has

    @property
    def allows(self) -> bool:
        return self.access.lower() == "allow"


@dataclass(frozen=True)
class Nsg:
    id: str
    name: str
    rules: tuple[SecurityRule, ...]  # custom and default rules, by priority
    subnet_ids: tuple[str, ...] = ()  # the subnets it is attached to (its back-references)


@dataclass(frozen=True)
class PlsConnection:
    """A private endpoint's connection to a Private Link Service."""

    service_id: str
    status: str | None  # Approved | Pending | Rejected | Disconnected
    manual: bool = False

    @property
    def approved(self) -> bool:
        return (self.status or "").lower() == "approved"


@dataclass(frozen=True)
class PrivateEndpoint:
    id: str
    name: str
    subnet_id: str | None
    addresses: tuple[str, ...]  # from ipConfigurations and customDnsConfigs
    connections: tuple[PlsConnection, ...] = ()

    @property
    def vnet_id(self) -> str | None:
        return parse_id(self.subnet_id).ancestor(1) if self.subnet_id else None


@dataclass(frozen=True)
class PrivateLinkService:
    id: str
    name: str
    frontend_ids: tuple[str, ...]  # loadBalancerFrontendIpConfigurations[].id
    alias: str | None = None
    endpoint_ids: tuple[tuple[str, str | None], ...] = ()  # (private endpoint id, status)

    @property
    def load_balancers(self) -> tuple[str, ...]:
        """The (lower-cased) names of the load balancers it fronts."""
        return tuple(dict.fromkeys(n for f in self.frontend_ids if (n := _load_balancer(f))))

    @property
    def on_kube_apiserver(self) -> bool:
        return "kube-apiserver" in self.load_balancers


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
    subnets: tuple[Subnet, ...] = ()  # subnets read on their own (az network vnet subnet show)
    nsgs: tuple[Nsg, ...] = ()
    private_endpoints: tuple[PrivateEndpoint, ...] = ()
    private_link_services: tuple[PrivateLinkService, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)  # files it came from

    @property
    def empty(self) -> bool:
        return not any(
            (self.vnets, self.peerings, self.zones, self.links, self.records, self.nics,
             self.public_ips, self.clusters, self.vpcs, self.vpc_attributes,
             self.dhcp_options, self.vpc_peerings, self.subnets, self.nsgs,
             self.private_endpoints, self.private_link_services)
        )

    def all_subnets(self) -> tuple[Subnet, ...]:
        """Subnets read on their own first (they carry delegations and NSGs even when the
        VNet document was an older export), then those inside VNets, each id once."""
        seen: dict[str, Subnet] = {}
        for s in (*self.subnets, *(s for v in self.vnets for s in v.subnets)):
            seen.setdefault(norm_id(s.id), s)
        return tuple(seen.values())

    def subnet(self, subnet_id: str) -> Subnet | None:
        key = norm_id(subnet_id)
        return next((s for s in self.all_subnets() if norm_id(s.id) == key), None)

    def subnet_of(self, address: str) -> Subnet | None:
        """The most specific subnet holding ``address`` (None when none or several VNets')."""
        holding = [s for s in self.all_subnets() if s.contains(address)]
        if len({norm_id(s.vnet_id) for s in holding}) != 1:
            return None
        return max(holding, key=lambda s: max(_prefix_len(p) for p in s.prefixes))

    def nsg(self, nsg_id: str) -> Nsg | None:
        key = norm_id(nsg_id)
        return next((n for n in self.nsgs if norm_id(n.id) == key), None)

    def nsg_of(self, subnet: Subnet) -> Nsg | None:
        """The NSG on ``subnet``: from the subnet's reference, else the NSG's back-reference."""
        if subnet.nsg_id:
            return self.nsg(subnet.nsg_id)
        key = norm_id(subnet.id)
        return next((n for n in self.nsgs if key in {norm_id(i) for i in n.subnet_ids}), None)

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
