"""packet.syn: one hand-made TCP SYN to an address kubectl would dial, and what answered.

Where the tcp probe can only say "timed out" or "refused", this says who and how:

=========  ===================================  ==========================================
outcome    what came back                       Failure.kind (status)
=========  ===================================  ==========================================
open       SYN-ACK                              (OK)
reset      RST                                  tcp.refused: the host, or a middlebox
                                                that resets; ``reply_hops`` helps tell
icmp       ICMP destination unreachable         icmp.admin_prohibited (a firewall that
           (``icmp_from`` = the hop that sent     rejects), icmp.net_unreachable /
           it)                                  icmp.host_unreachable (no route at that
                                                hop), icmp.port_unreachable
icmp       ICMP time exceeded at TTL 64         tcp.no_route (a routing loop)
silent     nothing within the wait              tcp.timeout: dropped somewhere
local      this host refused to send it         tcp.no_route
=========  ===================================  ==========================================

Needs raw sockets (root or CAP_NET_RAW); without them returns SKIPPED with how to enable
them, after one ``socket()`` call and without importing scapy. IPv4 only.

Facts: address, port, source_ip, interface, outcome, rtt_s, reply_from, reply_ttl,
reply_hops (hops the reply travelled, guessed from its TTL), icmp_type, icmp_code,
icmp_meaning, icmp_from.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from probes.base import ProbeContext, ProbeResult, Status, failed, ok, skipped
from probes.packet_io import PacketIO, Probe, Reply, RouteInfo, new_seq, real_io

NAME = "packet.syn"
WAIT_S = 3.0  # one resend at a third of it; a silent SYN costs this, in parallel with tcp

# ICMP destination-unreachable codes (RFC 792, 1122, 1812): kind and a plain meaning.
UNREACHABLE: dict[int, tuple[str, str]] = {
    0: ("icmp.net_unreachable", "network unreachable (no route at that hop)"),
    1: ("icmp.host_unreachable", "host unreachable (no route or no ARP answer at that hop)"),
    2: ("icmp.port_unreachable", "protocol unreachable"),
    3: ("icmp.port_unreachable", "port unreachable"),
    4: ("tcp.error", "fragmentation needed"),
    5: ("icmp.host_unreachable", "source route failed"),
    6: ("icmp.net_unreachable", "destination network unknown"),
    7: ("icmp.host_unreachable", "destination host unknown"),
    9: ("icmp.admin_prohibited", "network administratively prohibited (a firewall rejects)"),
    10: ("icmp.admin_prohibited", "host administratively prohibited (a firewall rejects)"),
    11: ("icmp.net_unreachable", "network unreachable for this TOS"),
    12: ("icmp.host_unreachable", "host unreachable for this TOS"),
    13: ("icmp.admin_prohibited", "communication administratively prohibited (a firewall rejects)"),
    14: ("icmp.admin_prohibited", "host precedence violation"),
    15: ("icmp.admin_prohibited", "precedence cutoff"),
}


def icmp_meaning(icmp_type: int | None, icmp_code: int | None) -> tuple[str, str]:
    """(failure kind, plain meaning) for an ICMP error answering a SYN."""
    if icmp_type == 3 and icmp_code in UNREACHABLE:
        return UNREACHABLE[icmp_code]
    if icmp_type == 3:
        return "icmp.host_unreachable", f"destination unreachable (code {icmp_code})"
    if icmp_type == 11:
        return "tcp.no_route", "TTL expired in transit (a routing loop?)"
    return "tcp.error", f"ICMP type {icmp_type} code {icmp_code}"


def reply_hops(ttl: int | None) -> int | None:
    """How many hops a reply travelled, guessing the sender started at 64, 128 or 255.

    1 means the sender is directly connected: the same count a traceroute needs as TTL to
    reach it. A reset that travelled fewer hops than the destination is away came from
    something in front of it.
    """
    if ttl is None or ttl <= 0:
        return None
    initial = next(t for t in (64, 128, 255) if ttl <= t)
    return initial - ttl + 1


def precheck(name: str, subject: str, address: str, io: PacketIO) -> ProbeResult | None:
    """SKIPPED when these probes cannot run here; None when they can."""
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        return ProbeResult(
            name, subject, Status.ERROR, 0.0, reason=f"not an IP address: {address!r}"
        )
    if version != 4:
        return skipped(name, subject, "packet probes support IPv4 only")
    access = io.access()
    if not access.allowed:
        return skipped(
            name,
            subject,
            f"needs raw sockets: {access.reason}. To enable: {access.how_to_enable}",
            facts={"needs": "CAP_NET_RAW", "how_to_enable": access.how_to_enable},
        )
    return None


def prepare(
    name: str, subject: str, address: str, io: PacketIO, facts: dict[str, Any]
) -> RouteInfo | ProbeResult:
    """The kernel's route to ``address``, or the result that ends the probe before it
    sends: SKIPPED without privilege or for IPv6, FAILED when there is no route (``facts``
    go into that result)."""
    early = precheck(name, subject, address, io)
    if early is not None:
        return early
    start = time.monotonic()
    try:
        return io.route(address)
    except OSError as exc:
        return failed(
            name,
            subject,
            time.monotonic() - start,
            "tcp.no_route",
            f"this host has no route to {address} ({exc.strerror or exc})",
            facts=facts,
        )


def reply_facts(reply: Reply | None) -> dict[str, Any]:
    """The facts every packet probe reports about one answer, all keys always present."""
    is_icmp = reply is not None and reply.kind == "icmp"
    return {
        "outcome": outcome_of(reply),
        "rtt_s": round(reply.rtt_s, 6) if reply else None,
        "reply_from": reply.src if reply else None,
        "reply_ttl": reply.ttl if reply else None,
        "reply_hops": reply_hops(reply.ttl) if reply else None,
        "icmp_type": reply.icmp_type if is_icmp else None,
        "icmp_code": reply.icmp_code if is_icmp else None,
        "icmp_meaning": icmp_meaning(reply.icmp_type, reply.icmp_code)[1] if is_icmp else None,
        "icmp_from": reply.src if is_icmp else None,
    }


def outcome_of(reply: Reply | None) -> str:
    if reply is None:
        return "silent"
    return {"synack": "open", "rst": "reset"}.get(reply.kind, reply.kind)


def syn_probe(
    ctx: ProbeContext, address: str, port: int, io: PacketIO | None = None
) -> ProbeResult:
    subject = f"{address}:{port}"
    io = io or real_io()
    start = time.monotonic()
    base: dict[str, Any] = {"address": address, "port": port}
    route = prepare(NAME, subject, address, io, {**base, **reply_facts(None), "outcome": "local"})
    if isinstance(route, ProbeResult):
        return route
    base.update(source_ip=route.source_ip, interface=route.interface)
    with io.reserve_port() as sport:
        probe = Probe(address, port, sport, new_seq())
        reply = io.exchange([probe], ctx.deadline.cap(min(ctx.timeout_s, WAIT_S))).get(probe.seq)
    facts = {**base, **reply_facts(reply)}
    took = time.monotonic() - start
    ctx.say(f"packet.syn {subject}: {facts['outcome']}")
    return _judge(subject, took, reply, facts)


def _hops(n: int | None) -> str:
    return "an unknown number of hops" if n is None else f"{n} hop{'s' if n != 1 else ''}"


def _judge(subject: str, took: float, reply: Reply | None, facts: dict[str, Any]) -> ProbeResult:
    if reply is None:
        return failed(
            NAME,
            subject,
            took,
            "tcp.timeout",
            f"a SYN to {subject} got no answer at all: dropped on the way or at the host",
            facts=facts,
        )
    if reply.kind == "synack":
        return ok(NAME, subject, took, facts=facts)
    if reply.kind == "rst":
        return failed(
            NAME,
            subject,
            took,
            "tcp.refused",
            f"a SYN to {subject} was answered with a TCP reset "
            f"(the reply travelled {_hops(facts['reply_hops'])})",
            facts=facts,
        )
    if reply.kind == "local":
        return failed(
            NAME,
            subject,
            took,
            "tcp.no_route",
            f"this host would not send to {subject}: {reply.detail}",
            facts=facts,
        )
    kind, meaning = icmp_meaning(reply.icmp_type, reply.icmp_code)
    return failed(
        NAME,
        subject,
        took,
        kind,
        f"{reply.src} answered a SYN to {subject} with ICMP {meaning} "
        f"(type {reply.icmp_type}, code {reply.icmp_code})",
        facts=facts,
    )
