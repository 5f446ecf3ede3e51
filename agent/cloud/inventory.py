"""ARM resources and cloud CLI output -> a frozen :class:`Inventory`. Pure: opens nothing.

A document may be one resource, an ARM list (``{"value": [...], "nextLink": ...}``), a CLI
list (a JSON array), or an AWS CLI answer (``{"Vpcs": [...]}``). Each resource is told by
its ARM ``type``, else by the type its id spells, else by its shape (az CLI lists). Resources
of other types are ignored: an inventory is whatever the user had to hand. A resource of a
known type that lacks what we need (an id, a valid prefix) raises :class:`InventoryParseError`,
because silently skipping it would make the rules conclude from a hole.

VNets carry their peerings inline (``virtualNetworkPeerings``); those are lifted out so a
peering read from its own file and one read from its VNet are the same thing. The same
resource seen twice (by id, case-insensitively) is kept once, first seen first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from netaddr import AddrFormatError, IPAddress, IPNetwork

from agent.cloud.cluster import ClusterFacts, NotAClusterError, parse_cluster
from agent.cloud.fields import flag, norm_id, parse_id, pick, props, resource_type, strings
from probes.base import is_ip_address

T_VNET = "microsoft.network/virtualnetworks"
T_PEERING = "microsoft.network/virtualnetworks/virtualnetworkpeerings"
T_ZONE = "microsoft.network/privatednszones"
T_LINK = "microsoft.network/privatednszones/virtualnetworklinks"
T_A = "microsoft.network/privatednszones/a"
T_NIC = "microsoft.network/networkinterfaces"
T_PIP = "microsoft.network/publicipaddresses"
T_AKS = "microsoft.containerservice/managedclusters"


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
        return _in_any(address, self.prefixes)


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
        return _in_any(address, self.cidrs)


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


# --- documents -> resources -------------------------------------------------------------


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
        return "aws:eks-cluster"
    for key, aws_kind in (
        ("Vpcs", "aws:vpcs"),
        ("VpcPeeringConnections", "aws:vpc-peerings"),
        ("DhcpOptions", "aws:dhcp-options"),
    ):
        if isinstance(resource.get(key), list):
            return aws_kind
    if "VpcId" in resource and any(
        k in resource for k in ("EnableDnsSupport", "EnableDnsHostnames")
    ):
        return "aws:vpc-attribute"
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
    return ""


def parse_inventory(documents: Iterable[tuple[str, Any]]) -> Inventory:
    """``documents``: (where it came from, parsed JSON) pairs. Errors name the source."""
    acc = _Accumulator()
    sources: list[str] = []
    for source, doc in documents:
        sources.append(source)
        for resource in resources_in(doc):
            try:
                acc.add(resource)
            except InventoryParseError as exc:
                raise InventoryParseError(f"{source}: {exc}") from None
    return replace(acc.build(), sources=tuple(sources))


class _Accumulator:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, bucket: str, key: str, item: Any) -> None:
        self.items.setdefault(bucket, {}).setdefault(key, item)

    def add(self, r: Mapping[str, Any]) -> None:
        kind = classify(r)
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, r)

    def build(self) -> Inventory:
        def values(bucket: str) -> tuple[Any, ...]:
            return tuple(self.items.get(bucket, {}).values())

        return Inventory(
            vnets=values("vnets"),
            peerings=values("peerings"),
            zones=values("zones"),
            links=values("links"),
            records=values("records"),
            nics=values("nics"),
            public_ips=values("public_ips"),
            clusters=values("clusters"),
            vpcs=values("vpcs"),
            vpc_attributes=values("vpc_attributes"),
            dhcp_options=values("dhcp_options"),
            vpc_peerings=values("vpc_peerings"),
        )


def _require_id(r: Mapping[str, Any], what: str) -> str:
    rid = pick(r, "id")
    if not isinstance(rid, str) or not rid.startswith("/"):
        raise InventoryParseError(f"a {what} without an ARM id")
    return rid


def _name(r: Mapping[str, Any], rid: str) -> str:
    name = pick(r, "name")
    # The spec's peering list names "…/peer2" "peer": the id is the truth.
    return parse_id(rid).name or (name if isinstance(name, str) else rid)


def _prefixes(values: Iterable[str], what: str) -> tuple[str, ...]:
    out = []
    for v in values:
        try:
            IPNetwork(v)
        except (AddrFormatError, ValueError, TypeError):
            raise InventoryParseError(f"{what}: {v!r} is not an address prefix") from None
        out.append(v)
    return tuple(out)


def _add_vnet(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "virtual network")
    p = props(r)
    name = _name(r, rid)
    space = pick(p, "addressSpace", default={})
    prefixes = _prefixes(strings(pick(space, "addressPrefixes")), f"virtual network {name}")
    if not prefixes:
        raise InventoryParseError(f"virtual network {name} has no addressSpace.addressPrefixes")
    subnets = []
    for s in pick(p, "subnets", default=[]) or []:
        sid = pick(s, "id") or f"{rid}/subnets/{pick(s, 'name')}"
        sp = props(s)
        sprefixes = strings(pick(sp, "addressPrefixes")) or strings([pick(sp, "addressPrefix")])
        subnets.append(Subnet(sid, str(pick(s, "name") or parse_id(sid).name), sprefixes))
    parsed = parse_id(rid)
    inline = pick(p, "virtualNetworkPeerings")
    acc.put(
        "vnets",
        norm_id(rid),
        VNet(
            id=rid,
            name=name,
            resource_group=pick(r, "resourceGroup") or parsed.resource_group,
            subscription=parsed.subscription,
            location=pick(r, "location"),
            prefixes=prefixes,
            dns_servers=strings(pick(pick(p, "dhcpOptions"), "dnsServers")),
            subnets=tuple(subnets),
            peerings_listed=isinstance(inline, list),
        ),
    )
    for peering in inline or []:
        if isinstance(peering, Mapping):
            _add_peering(acc, peering)


def _add_peering(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "virtual network peering")
    p = props(r)
    remote = pick(pick(p, "remoteVirtualNetwork"), "id")
    if not isinstance(remote, str):
        raise InventoryParseError(f"peering {rid} has no remoteVirtualNetwork.id")
    remote_space = pick(p, "remoteVirtualNetworkAddressSpace", "remoteAddressSpace", default={})

    def bool_of(key: str, default: bool) -> bool:
        value = flag(pick(p, key))
        return default if value is None else value

    acc.put(
        "peerings",
        norm_id(rid),
        Peering(
            id=rid,
            name=_name(r, rid),
            vnet_id=parse_id(rid).ancestor(1),
            remote_vnet_id=remote,
            state=str(pick(p, "peeringState") or "Unknown"),
            sync_level=pick(p, "peeringSyncLevel"),
            allow_vnet_access=bool_of("allowVirtualNetworkAccess", True),
            allow_forwarded_traffic=bool_of("allowForwardedTraffic", False),
            allow_gateway_transit=bool_of("allowGatewayTransit", False),
            use_remote_gateways=bool_of("useRemoteGateways", False),
            remote_prefixes=strings(pick(remote_space, "addressPrefixes")),
        ),
    )


def _add_zone(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "private DNS zone")
    parsed = parse_id(rid)
    name = str(pick(r, "name") or parsed.name).lower().rstrip(".")
    acc.put(
        "zones",
        norm_id(rid),
        PrivateZone(rid, name, pick(r, "resourceGroup") or parsed.resource_group,
                    parsed.subscription),
    )


def _add_link(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "private DNS zone link")
    parsed = parse_id(rid)
    p = props(r)
    vnet = pick(pick(p, "virtualNetwork"), "id")
    if not isinstance(vnet, str):
        raise InventoryParseError(f"private DNS zone link {rid} has no virtualNetwork.id")
    zone_name = (parsed.name_at(-2) or "").lower()
    acc.put(
        "links",
        norm_id(rid),
        VNetLink(
            id=rid,
            name=_name(r, rid),
            zone_id=parsed.ancestor(1),
            zone_name=zone_name,
            vnet_id=vnet,
            state=pick(p, "virtualNetworkLinkState"),
            registration=bool(flag(pick(p, "registrationEnabled"))),
        ),
    )


def _add_a_records(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "private DNS A record set")
    parsed = parse_id(rid)
    p = props(r)
    zone = (parsed.name_at(-2) or "").lower()
    name = str(pick(r, "name") or parsed.name)
    fqdn = pick(p, "fqdn") or (zone if name == "@" else f"{name}.{zone}")
    addresses = []
    for a in pick(p, "aRecords", default=[]) or []:
        address = pick(a, "ipv4Address")
        if not is_ip_address(address):
            raise InventoryParseError(f"A record set {name}: {address!r} is not an IPv4 address")
        addresses.append(address)
    acc.put("records", norm_id(rid),
            ARecordSet(rid, name, zone, str(fqdn).lower().rstrip("."), tuple(addresses)))


def _add_nic(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "network interface")
    p = props(r)
    ips, subnets, pips = [], [], []
    for config in pick(p, "ipConfigurations", default=[]) or []:
        cp = props(config)
        address = pick(cp, "privateIPAddress")
        if isinstance(address, str) and address:
            # A prefix-delegating ipconfig shows "172.20.2.16/28": keep the address part.
            ips.append(address.split("/", 1)[0])
        subnet = pick(pick(cp, "subnet"), "id")
        if isinstance(subnet, str):
            subnets.append(subnet)
        pip = pick(pick(cp, "publicIPAddress"), "id")
        if isinstance(pip, str):
            pips.append(pip)
    dns = pick(p, "dnsSettings", default={})
    acc.put(
        "nics",
        norm_id(rid),
        Nic(rid, _name(r, rid), tuple(ips), tuple(dict.fromkeys(subnets)), tuple(pips),
            strings(pick(dns, "appliedDnsServers")) or strings(pick(dns, "dnsServers"))),
    )


def _add_public_ip(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    rid = _require_id(r, "public IP address")
    address = pick(props(r), "ipAddress")
    acc.put("public_ips", norm_id(rid),
            PublicIp(rid, _name(r, rid), address if is_ip_address(address) else None))


def _add_cluster(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    try:
        facts = parse_cluster(r)
    except NotAClusterError as exc:
        raise InventoryParseError(str(exc)) from None
    acc.put("clusters", (facts.resource_id or facts.name).lower(), facts)


def _add_vpcs(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    for vpc in r["Vpcs"]:
        vpc_id = pick(vpc, "VpcId")
        if not isinstance(vpc_id, str):
            raise InventoryParseError("a VPC without VpcId")
        cidrs = [pick(a, "CidrBlock") for a in pick(vpc, "CidrBlockAssociationSet", default=[])
                 if (pick(pick(a, "CidrBlockState"), "State") or "associated") == "associated"]
        cidrs = [c for c in cidrs if isinstance(c, str)] or strings([pick(vpc, "CidrBlock")])
        name = next((pick(t, "Value") for t in pick(vpc, "Tags", default=[])
                     if pick(t, "Key") == "Name"), None)
        acc.put("vpcs", vpc_id,
                Vpc(vpc_id, _prefixes(cidrs, f"VPC {vpc_id}"), pick(vpc, "DhcpOptionsId"), name))


def _add_vpc_attribute(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        if attribute in r:
            value = flag(pick(r[attribute], "Value"))
            if value is None:
                raise InventoryParseError(f"{attribute} of {r['VpcId']} has no boolean Value")
            name = attribute[0].lower() + attribute[1:]
            acc.put("vpc_attributes", f"{r['VpcId']}/{name}",
                    VpcAttribute(str(r["VpcId"]), name, value))


def _add_dhcp_options(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    for options in r["DhcpOptions"]:
        servers: list[str] = []
        for config in pick(options, "DhcpConfigurations", default=[]):
            if pick(config, "Key") == "domain-name-servers":
                servers += [str(pick(v, "Value")) for v in pick(config, "Values", default=[])]
        oid = str(pick(options, "DhcpOptionsId"))
        acc.put("dhcp_options", oid, DhcpOptions(oid, tuple(servers)))


def _add_vpc_peerings(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    for pcx in r["VpcPeeringConnections"]:
        pid = str(pick(pcx, "VpcPeeringConnectionId"))
        acc.put("vpc_peerings", pid, VpcPeering(
            pid,
            str(pick(pick(pcx, "Status"), "Code") or "unknown"),
            str(pick(pick(pcx, "RequesterVpcInfo"), "VpcId")),
            str(pick(pick(pcx, "AccepterVpcInfo"), "VpcId")),
        ))


def _add_eks_cluster(acc: _Accumulator, r: Mapping[str, Any]) -> None:
    _add_cluster(acc, r)


_HANDLERS = {
    T_VNET: _add_vnet,
    T_PEERING: _add_peering,
    T_ZONE: _add_zone,
    T_LINK: _add_link,
    T_A: _add_a_records,
    T_NIC: _add_nic,
    T_PIP: _add_public_ip,
    T_AKS: _add_cluster,
    "aws:eks-cluster": _add_eks_cluster,
    "aws:vpcs": _add_vpcs,
    "aws:vpc-attribute": _add_vpc_attribute,
    "aws:dhcp-options": _add_dhcp_options,
    "aws:vpc-peerings": _add_vpc_peerings,
}


def _in_any(address: str, prefixes: Iterable[str]) -> bool:
    try:
        ip = IPAddress(address)
    except (AddrFormatError, ValueError):
        return False
    for prefix in prefixes:
        try:
            if ip in IPNetwork(prefix):
                return True
        except (AddrFormatError, ValueError):
            continue
    return False
