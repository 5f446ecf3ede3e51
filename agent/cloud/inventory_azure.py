"""ARM resources and az CLI output -> inventory resources. Pure: opens nothing.

Each parser takes one resource and yields (key, resource) pairs: the key (the ARM id,
lower-cased) is what tells the same resource seen twice. A resource that lacks what the rules
need (an id, a valid prefix) or holds a field of the wrong JSON type raises
:class:`~agent.cloud.fields.FieldError`; the caller names the document.

VNets carry their peerings inline (``virtualNetworkPeerings``); those are lifted out so a
peering read from its own file and one read from its VNet are the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from agent.cloud.fields import (
    FieldError,
    boolean,
    norm_id,
    obj,
    objects,
    parse_id,
    pick,
    props,
    string_list,
    text,
)
from agent.cloud.inventory_kinds import T_A, T_LINK, T_NIC, T_PEERING, T_PIP, T_VNET, T_ZONE
from agent.cloud.inventory_model import (
    ARecordSet,
    Nic,
    Peering,
    PrivateZone,
    PublicIp,
    Subnet,
    VNet,
    VNetLink,
)
from probes.base import ip_network, is_ip_address

Found = tuple[str, Any]  # (the key that tells duplicates, the resource)


def require_id(r: Mapping[str, Any], what: str) -> str:
    try:
        rid = text(r, "id")
    except FieldError as exc:
        raise FieldError(f"a {what}: {exc}") from None
    if not rid or not rid.startswith("/"):
        raise FieldError(f"a {what} without an ARM id")
    return rid


def prefixes(values: Iterable[str], what: str) -> tuple[str, ...]:
    """``values`` when every one is an address prefix."""
    values = tuple(values)
    for v in values:
        if ip_network(v) is None:
            raise FieldError(f"{what}: {v!r} is not an address prefix")
    return values


def _props(r: Mapping[str, Any]) -> Mapping[str, Any]:
    obj(r, "properties")  # a `properties` that is not an object is an error, not "flattened"
    return props(r)


def _name(r: Mapping[str, Any], rid: str) -> str:
    # The spec's peering list names "…/peer2" "peer": the id is the truth.
    return parse_id(rid).name or text(r, "name") or rid


def vnet(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "virtual network")
    name = _name(r, rid)
    what = f"virtual network {name}"
    try:
        p = _props(r)
        found = prefixes(string_list(obj(p, "addressSpace"), "addressPrefixes"), what)
        if not found:
            raise FieldError(f"{what} has no addressSpace.addressPrefixes")
        subnets = tuple(_subnet(s, rid) for s in objects(p, "subnets"))
        inline = pick(p, "virtualNetworkPeerings")
        peerings = objects(p, "virtualNetworkPeerings")
        parsed = parse_id(rid)
        yield norm_id(rid), VNet(
            id=rid,
            name=name,
            resource_group=text(r, "resourceGroup") or parsed.resource_group,
            subscription=parsed.subscription,
            location=text(r, "location"),
            prefixes=found,
            dns_servers=string_list(obj(p, "dhcpOptions"), "dnsServers"),
            subnets=subnets,
            peerings_listed=inline is not None,
        )
    except FieldError as exc:
        raise _about(exc, what) from None
    for inline_peering in peerings:
        yield from peering(inline_peering)


def _subnet(s: Mapping[str, Any], vnet_id: str) -> Subnet:
    name = text(s, "name")
    sid = text(s, "id") or (f"{vnet_id}/subnets/{name}" if name else None)
    if sid is None:
        raise FieldError("a subnet without id or name")
    sp = _props(s)
    label = name or parse_id(sid).name or sid
    listed = string_list(sp, "addressPrefixes") or tuple(
        x for x in [text(sp, "addressPrefix")] if x)
    return Subnet(sid, label, prefixes(listed, f"subnet {label}"))


def peering(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "virtual network peering")
    try:
        p = _props(r)
        remote = text(obj(p, "remoteVirtualNetwork"), "id")
        if remote is None:
            raise FieldError("no remoteVirtualNetwork.id")
        remote_space = obj(p, "remoteVirtualNetworkAddressSpace", "remoteAddressSpace")

        def bool_of(key: str, default: bool) -> bool:
            value = boolean(p, key)
            return default if value is None else value

        yield norm_id(rid), Peering(
            id=rid,
            name=_name(r, rid),
            vnet_id=parse_id(rid).ancestor(1),
            remote_vnet_id=remote,
            state=text(p, "peeringState") or "Unknown",
            sync_level=text(p, "peeringSyncLevel"),
            allow_vnet_access=bool_of("allowVirtualNetworkAccess", True),
            allow_forwarded_traffic=bool_of("allowForwardedTraffic", False),
            allow_gateway_transit=bool_of("allowGatewayTransit", False),
            use_remote_gateways=bool_of("useRemoteGateways", False),
            remote_prefixes=string_list(remote_space, "addressPrefixes"),
        )
    except FieldError as exc:
        raise _about(exc, f"peering {rid}") from None


def zone(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "private DNS zone")
    parsed = parse_id(rid)
    try:
        name = (text(r, "name") or parsed.name or "").lower().rstrip(".")
        group = text(r, "resourceGroup") or parsed.resource_group
    except FieldError as exc:
        raise _about(exc, f"private DNS zone {rid}") from None
    yield norm_id(rid), PrivateZone(rid, name, group, parsed.subscription)


def link(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "private DNS zone link")
    parsed = parse_id(rid)
    try:
        p = _props(r)
        vnet_id = text(obj(p, "virtualNetwork"), "id")
        if vnet_id is None:
            raise FieldError("no virtualNetwork.id")
        yield norm_id(rid), VNetLink(
            id=rid,
            name=_name(r, rid),
            zone_id=parsed.ancestor(1),
            zone_name=(parsed.name_at(-2) or "").lower(),
            vnet_id=vnet_id,
            state=text(p, "virtualNetworkLinkState"),
            registration=bool(boolean(p, "registrationEnabled")),
        )
    except FieldError as exc:
        raise _about(exc, f"private DNS zone link {rid}") from None


def a_records(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "private DNS A record set")
    parsed = parse_id(rid)
    zone_name = (parsed.name_at(-2) or "").lower()
    name = parsed.name or rid
    try:
        name = text(r, "name") or name
        p = _props(r)
        fqdn = text(p, "fqdn") or (zone_name if name == "@" else f"{name}.{zone_name}")
        addresses = []
        for a in objects(p, "aRecords"):
            address = text(a, "ipv4Address")
            if not is_ip_address(address):
                raise FieldError(f"{address!r} is not an IPv4 address")
            addresses.append(address)
    except FieldError as exc:
        raise _about(exc, f"A record set {name}") from None
    yield norm_id(rid), ARecordSet(rid, name, zone_name, fqdn.lower().rstrip("."),
                                   tuple(addresses))


def nic(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "network interface")
    try:
        p = _props(r)
        ips, subnets, pips = [], [], []
        for config in objects(p, "ipConfigurations"):
            cp = _props(config)
            address = text(cp, "privateIPAddress")
            if address:
                # A prefix-delegating ipconfig shows "172.20.2.16/28": keep the address part.
                ips.append(address.split("/", 1)[0])
            subnet = text(obj(cp, "subnet"), "id")
            if subnet:
                subnets.append(subnet)
            pip = text(obj(cp, "publicIPAddress"), "id")
            if pip:
                pips.append(pip)
        dns = obj(p, "dnsSettings")
        servers = string_list(dns, "appliedDnsServers") or string_list(dns, "dnsServers")
    except FieldError as exc:
        raise _about(exc, f"network interface {rid}") from None
    yield norm_id(rid), Nic(rid, _name(r, rid), tuple(ips), tuple(dict.fromkeys(subnets)),
                            tuple(pips), servers)


def public_ip(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "public IP address")
    try:
        address = text(_props(r), "ipAddress")
    except FieldError as exc:
        raise _about(exc, f"public IP address {rid}") from None
    # A Dynamic address not yet allocated has none (or a placeholder).
    yield norm_id(rid), PublicIp(rid, _name(r, rid), address if is_ip_address(address) else None)


def _about(exc: FieldError, what: str) -> FieldError:
    message = str(exc)
    return exc if message.startswith(what) else FieldError(f"{what}: {message}")


PARSERS: dict[str, Callable[[Mapping[str, Any]], Iterable[Found]]] = {
    T_VNET: vnet,
    T_PEERING: peering,
    T_ZONE: zone,
    T_LINK: link,
    T_A: a_records,
    T_NIC: nic,
    T_PIP: public_ip,
}
