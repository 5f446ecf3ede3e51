"""ARM resources and az CLI output -> inventory resources. Pure: opens nothing.

Each parser takes one resource and yields (key, resource) pairs: the key (the ARM id,
lower-cased) is what tells the same resource seen twice. A resource that lacks what the rules
need (an id, a valid prefix) or holds a field of the wrong JSON type raises
:class:`~agent.cloud.fields.FieldError`; the caller names the document.

VNets carry their peerings inline (``virtualNetworkPeerings``); those are lifted out so a
peering read from its own file and one read from its VNet are the same thing.
"""

from __future__ import annotations

import re
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
from agent.cloud.inventory_kinds import (
    T_A,
    T_LINK,
    T_NIC,
    T_NSG,
    T_PE,
    T_PEERING,
    T_PIP,
    T_PLS,
    T_SUBNET,
    T_VNET,
    T_ZONE,
)
from agent.cloud.inventory_model import (
    ARecordSet,
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
    what = f"subnet {label}"
    try:
        delegations = []
        for d in objects(sp, "delegations"):
            service = text(_props(d), "serviceName")
            if not service:
                raise FieldError("a delegation without serviceName")
            delegations.append(service)
        configs = [i for c in objects(sp, "ipConfigurations") if (i := text(c, "id"))]
        return Subnet(sid, label, prefixes(listed, what), tuple(delegations),
                      text(obj(sp, "networkSecurityGroup"), "id"), tuple(configs))
    except FieldError as exc:
        raise _about(exc, what) from None


def subnet(r: Mapping[str, Any]) -> Iterator[Found]:
    """A subnet on its own (``az network vnet subnet show``)."""
    rid = require_id(r, "subnet")
    found = _subnet(r, parse_id(rid).ancestor(1))
    if not found.prefixes:
        raise FieldError(f"subnet {found.name} has no addressPrefix")
    yield norm_id(rid), found


_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9.\-]*")


def _choice(p: Mapping[str, Any], key: str, allowed: Mapping[str, str]) -> str:
    value = text(p, key, required=True) or ""
    if value.lower() not in allowed:
        raise FieldError(f"{key} is {value!r}, not one of {', '.join(allowed.values())}")
    return allowed[value.lower()]


def _addresses(p: Mapping[str, Any], one: str, many: str) -> tuple[str, ...]:
    values = string_list(p, many) or tuple(x for x in [text(p, one)] if x)
    for v in values:
        if v == "*" or ip_network(v) is not None:
            continue
        if "/" in v or v[0].isdigit() or not _TAG.fullmatch(v):
            raise FieldError(f"{one}: {v!r} is neither a prefix, a service tag nor *")
    return values


def _ports(p: Mapping[str, Any]) -> tuple[str, ...]:
    values = string_list(p, "destinationPortRanges") or tuple(
        x for x in [text(p, "destinationPortRange")] if x)
    for v in values:
        low, _, high = v.partition("-")
        ok = v == "*" or (low.isdigit() and (not high or high.isdigit()))
        if not ok or any(int(x) > 65535 for x in (low, high) if x.isdigit()):
            raise FieldError(f"destinationPortRange: {v!r} is not *, a port or a range")
    return values or ("*",)


def _asgs(p: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(i for a in objects(p, key) if (i := text(a, "id")))


def _security_rule(r: Mapping[str, Any], default: bool) -> SecurityRule:
    name = text(r, "name") or parse_id(text(r, "id") or "").name or "?"
    try:
        p = _props(r)
        priority = pick(p, "priority")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise FieldError("priority is missing or not a whole number")
        source_asgs = _asgs(p, "sourceApplicationSecurityGroups")
        destination_asgs = _asgs(p, "destinationApplicationSecurityGroups")
        sources = _addresses(p, "sourceAddressPrefix", "sourceAddressPrefixes")
        destinations = _addresses(p, "destinationAddressPrefix", "destinationAddressPrefixes")
        if not sources and not source_asgs:
            raise FieldError("no sourceAddressPrefix(es) nor sourceApplicationSecurityGroups")
        if not destinations and not destination_asgs:
            raise FieldError("no destinationAddressPrefix(es) nor "
                             "destinationApplicationSecurityGroups")
        return SecurityRule(
            name=name, priority=priority,
            direction=_choice(p, "direction", {"inbound": "Inbound", "outbound": "Outbound"}),
            access=_choice(p, "access", {"allow": "Allow", "deny": "Deny"}),
            protocol=_choice(p, "protocol", _PROTOCOLS),
            sources=sources, destinations=destinations, ports=_ports(p),
            source_asgs=source_asgs, destination_asgs=destination_asgs, default=default,
        )
    except FieldError as exc:
        raise _about(exc, f"security rule {name}") from None


def nsg(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "network security group")
    name = _name(r, rid)
    try:
        p = _props(r)
        rules = [_security_rule(x, False) for x in objects(p, "securityRules")]
        rules += [_security_rule(x, True) for x in objects(p, "defaultSecurityRules")]
        subnets = tuple(i for s in objects(p, "subnets") if (i := text(s, "id")))
    except FieldError as exc:
        raise _about(exc, f"network security group {name}") from None
    rules.sort(key=lambda x: (x.direction, x.priority))
    yield norm_id(rid), Nsg(rid, name, tuple(rules), subnets)


def private_endpoint(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "private endpoint")
    name = _name(r, rid)
    try:
        p = _props(r)
        addresses: list[str] = []
        for config in objects(p, "ipConfigurations"):
            address = text(_props(config), "privateIPAddress")
            if address is not None and not is_ip_address(address):
                raise FieldError(f"privateIPAddress {address!r} is not an IP address")
            if address:
                addresses.append(address)
        for config in objects(p, "customDnsConfigs"):
            for address in string_list(config, "ipAddresses"):
                if not is_ip_address(address):
                    raise FieldError(f"customDnsConfigs: {address!r} is not an IP address")
                addresses.append(address)
        connections = []
        for key, manual in (("privateLinkServiceConnections", False),
                            ("manualPrivateLinkServiceConnections", True)):
            for c in objects(p, key):
                cp = _props(c)
                service = text(cp, "privateLinkServiceId")
                if not service:
                    raise FieldError(f"{key} entry without privateLinkServiceId")
                state = text(obj(cp, "privateLinkServiceConnectionState"), "status")
                connections.append(PlsConnection(service, state, manual))
        subnet_id = text(obj(p, "subnet"), "id")
    except FieldError as exc:
        raise _about(exc, f"private endpoint {name}") from None
    yield norm_id(rid), PrivateEndpoint(rid, name, subnet_id, tuple(dict.fromkeys(addresses)),
                                        tuple(connections))


def private_link_service(r: Mapping[str, Any]) -> Iterator[Found]:
    rid = require_id(r, "private link service")
    name = _name(r, rid)
    try:
        p = _props(r)
        frontends = tuple(i for f in objects(p, "loadBalancerFrontendIpConfigurations")
                          if (i := text(f, "id")))
        endpoints = []
        for c in objects(p, "privateEndpointConnections"):
            cp = _props(c)
            pe = text(obj(cp, "privateEndpoint"), "id")
            if pe:
                endpoints.append((pe, text(obj(cp, "privateLinkServiceConnectionState"),
                                           "status")))
        alias = text(p, "alias")
    except FieldError as exc:
        raise _about(exc, f"private link service {name}") from None
    yield norm_id(rid), PrivateLinkService(rid, name, frontends, alias, tuple(endpoints))


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
    T_SUBNET: subnet,
    T_NSG: nsg,
    T_PE: private_endpoint,
    T_PLS: private_link_service,
}
