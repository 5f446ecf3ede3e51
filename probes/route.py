"""Which local route the kernel takes to an address, and whether a container bridge
shadows it (docker0 or br-* owning a range that overlaps the VNet).

Measures: the interface and prefix of the longest matching IPv4 route in
/proc/net/route. Needs: nothing. Facts: interface, prefix, gateway, shadowed.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from probes.base import ProbeContext, ProbeResult, Status, skipped

BRIDGE_PREFIXES = ("docker", "br-", "cni", "virbr", "podman", "cbr", "lxcbr", "kind")


def _hex_ip(value: str) -> str:
    return socket.inet_ntoa(struct.pack("<I", int(value, 16)))


def parse_routes(text: str) -> list[dict]:
    routes = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            net = ipaddress.ip_network(f"{_hex_ip(cols[1])}/{_hex_ip(cols[7])}", strict=False)
        except ValueError:
            continue
        routes.append({"interface": cols[0], "prefix": str(net), "gateway": _hex_ip(cols[2])})
    return routes


def best_route(routes: list[dict], address: str) -> dict | None:
    ip = ipaddress.ip_address(address)
    matches = [r for r in routes if ip in ipaddress.ip_network(r["prefix"])]
    return max(matches, key=lambda r: ipaddress.ip_network(r["prefix"]).prefixlen, default=None)


def probe(ctx: ProbeContext, address: str, route_table: str = "/proc/net/route") -> ProbeResult:
    if ":" in address:
        return skipped("route", address, "IPv6 routes are not inspected")
    try:
        with open(route_table, encoding="ascii") as fh:
            routes = parse_routes(fh.read())
    except OSError:
        return skipped("route", address, f"{route_table} is not readable")
    route = best_route(routes, address)
    if route is None:
        return ProbeResult("route", address, Status.OK, 0.0,
                           facts={"interface": None, "prefix": None, "gateway": None, "shadowed": False})
    shadowed = route["interface"].startswith(BRIDGE_PREFIXES) and route["prefix"] != "0.0.0.0/0"
    return ProbeResult("route", address, Status.OK, 0.0, facts={**route, "shadowed": shadowed})
