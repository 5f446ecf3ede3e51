"""The one I/O seam of the packet probes: send hand-made TCP SYNs, collect what answers.

The probes (``packet.py``, ``traceroute.py``, ``pmtu.py``) describe packets as
:class:`Probe` values and receive :class:`Reply` values keyed by ``Probe.seq``; they never
see a socket. :class:`PacketIO` bundles the seams so unit tests pass a fake ``exchange``
that returns SYN-ACK, RST, ICMP unreachable or nothing, and scapy never touches a network.

How the real exchange works, and why:

* scapy builds and dissects the packets, and is imported only inside these functions
  (it takes about a second to import and logs at import time).
* Packets are sent through one ``AF_INET/SOCK_RAW/IPPROTO_RAW`` socket, so the *kernel*
  routes them: the same interface, source address and policy-routing rules a ``connect()``
  from kubectl would get. scapy's own ``conf.route`` does not model ``ip rule`` (WireGuard,
  Tailscale and many VPN clients use it) and its ``sr()`` opens AF_PACKET sockets on an
  interface; neither is wanted here. No interface is put into promiscuous mode.
* Replies are read from raw ``IPPROTO_TCP`` and ``IPPROTO_ICMP`` sockets, which receive
  copies of packets addressed to this host only, and kept only when they match a probe's
  5-tuple (and its sequence number). A cheap byte-level check runs before scapy dissects
  anything, because on a busy host the TCP socket sees all inbound TCP.
* The kernel answers a SYN-ACK for a port it does not know with a RST, as for nmap -sS.
  That RST goes out, not in, so it can never be mistaken for the server's answer.
* The source port is reserved with a bound (never listening) TCP socket for the duration,
  so no concurrent connect (the tcp probe's) can be given the same port.

IPv4 only; the probes return SKIPPED for IPv6 addresses.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import selectors
import socket
import struct
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probes.privilege import RawSocketAccess, raw_socket_access

SYN_BYTES = 44  # IPv4 header 20 + TCP header 20 + MSS option 4
RESEND_AT = 2 / 3  # of the wait: see raw_exchange


@dataclass(frozen=True)
class Probe:
    """One TCP SYN to send. ``seq`` is its tag: unique within one exchange."""

    dst: str
    dport: int
    sport: int
    seq: int
    ttl: int = 64
    size: int = SYN_BYTES  # total IP length; the SYN carries zero padding beyond 44 bytes
    df: bool = True


@dataclass(frozen=True)
class Reply:
    """The first answer to one probe."""

    kind: str  # "synack" | "rst" | "icmp" | "local" (this host refused to send it)
    src: str  # the address that answered (for ICMP: the hop that sent it)
    rtt_s: float
    ttl: int | None = None  # the reply's IP TTL as received
    icmp_type: int | None = None
    icmp_code: int | None = None
    next_hop_mtu: int | None = None  # ICMP "fragmentation needed" only
    detail: str = ""  # for "local": the errno text


# exchange(probes, wait_s, until=None) -> {probe.seq: first reply}; ``until(replies)`` may
# end the wait early once the answer is clear (a trace that reached its end).
Exchange = Callable[..., Mapping[int, Reply]]
Until = Callable[[Mapping[int, Reply]], bool]


@dataclass(frozen=True)
class RouteInfo:
    source_ip: str
    mtu: int  # the route's MTU as the kernel knows it (interface MTU or a learned PMTU)
    interface: str | None = None


def kernel_route(dst: str) -> RouteInfo:
    """Ask the kernel which source address and MTU a connection to ``dst`` would use.

    A connected UDP socket sends nothing; it only makes the kernel pick a route.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((dst, 9))
        source = s.getsockname()[0]
        mtu = s.getsockopt(socket.IPPROTO_IP, getattr(socket, "IP_MTU", 14))
    return RouteInfo(source, mtu, _interface_of(source))


def _interface_of(source_ip: str) -> str | None:
    # Reported for the reader only; sending never depends on it.
    try:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _, name in socket.if_nameindex():
                req = struct.pack("256s", name.encode()[:15])
                try:
                    addr = fcntl.ioctl(s.fileno(), 0x8915, req)[20:24]  # SIOCGIFADDR
                except OSError:
                    continue
                if socket.inet_ntoa(addr) == source_ip:
                    return name
    except OSError:
        return None
    return None


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        yield s.getsockname()[1]


@dataclass(frozen=True)
class PacketIO:
    """The seams: how to check privilege, send probes, and ask the kernel about a route."""

    exchange: Exchange
    access: Callable[[], RawSocketAccess] = raw_socket_access
    route: Callable[[str], RouteInfo] = kernel_route
    reserve_port: Callable[[], contextlib.AbstractContextManager[int]] = reserved_port


def real_io() -> PacketIO:
    return PacketIO(exchange=raw_exchange)


def new_seq() -> int:
    # Leave room above so seq + index never wraps.
    return random.randrange(1 << 16, (1 << 31))


def load_scapy() -> Any:
    """Import scapy quietly and return its inet layer module.

    scapy logs warnings at import (missing libpcap, IPv6 routes) and some versions trigger
    CryptographyDeprecationWarning; neither must reach the user or a warnings-as-errors run.
    """
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    logging.getLogger("scapy.loading").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scapy.config import conf
        from scapy.layers import inet

    conf.verb = 0
    return inet


def build(probe: Probe, source_ip: str) -> bytes:
    inet = load_scapy()
    from scapy.packet import Raw

    pkt = inet.IP(
        src=source_ip,
        dst=probe.dst,
        ttl=probe.ttl,
        flags="DF" if probe.df else 0,
        id=probe.seq & 0xFFFF,
    ) / inet.TCP(
        sport=probe.sport,
        dport=probe.dport,
        flags="S",
        seq=probe.seq,
        window=64240,
        options=[("MSS", 1460)],
    )
    pad = probe.size - SYN_BYTES
    if pad > 0:
        pkt = pkt / Raw(b"\x00" * pad)
    return bytes(pkt)


def _ip(addr: bytes) -> str:
    return socket.inet_ntoa(addr)


def parse_reply(
    data: bytes, probes: Sequence[Probe], sent_at: Mapping[int, float], now: float
) -> tuple[int, Reply] | None:
    """Match one received IPv4 packet to a probe; None if it is someone else's."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    proto = data[9]
    src = _ip(data[12:16])
    if proto == socket.IPPROTO_TCP:
        if len(data) < ihl + 14:
            return None
        sport, dport, _, ack = struct.unpack("!HHII", data[ihl : ihl + 12])
        flags = data[ihl + 13]
        for p in probes:
            if (src, sport, dport) != (p.dst, p.dport, p.sport):
                continue
            pad = max(0, p.size - SYN_BYTES)
            # A RST to a SYN with data acknowledges the data too (RFC 793).
            if ack not in ((p.seq + 1) & 0xFFFFFFFF, (p.seq + 1 + pad) & 0xFFFFFFFF):
                continue
            if flags & 0x04:
                kind = "rst"
            elif flags & 0x12 == 0x12:
                kind = "synack"
            else:
                return None
            return p.seq, Reply(kind, src, now - sent_at.get(p.seq, now), ttl=data[8])
        return None
    if proto == socket.IPPROTO_ICMP:
        if len(data) < ihl + 8 + 20 or data[ihl] not in (3, 11, 12):
            return None
        inner = data[ihl + 8 :]
        inner_ihl = (inner[0] & 0x0F) * 4
        if inner[9] != socket.IPPROTO_TCP or len(inner) < inner_ihl + 8:
            return None
        dst = _ip(inner[16:20])
        sport, dport, seq = struct.unpack("!HHI", inner[inner_ihl : inner_ihl + 8])
        for p in probes:
            if (dst, sport, dport, seq) == (p.dst, p.sport, p.dport, p.seq):
                return p.seq, _icmp_reply(data, now - sent_at.get(p.seq, now))
        return None
    return None


def _icmp_reply(data: bytes, rtt_s: float) -> Reply:
    # Only packets already matched to a probe reach scapy's dissector.
    inet = load_scapy()
    pkt = inet.IP(data)
    icmp = pkt[inet.ICMP]
    mtu = int(icmp.nexthopmtu) if icmp.type == 3 and icmp.code == 4 else None
    return Reply(
        "icmp",
        pkt.src,
        rtt_s,
        ttl=pkt.ttl,
        icmp_type=int(icmp.type),
        icmp_code=int(icmp.code),
        next_hop_mtu=mtu,
    )


def raw_exchange(
    probes: Sequence[Probe],
    wait_s: float,
    until: Until | None = None,
) -> dict[int, Reply]:
    """Send every probe at once, then collect first replies until all answered, ``until``
    says the rest does not matter, or ``wait_s`` is up.

    Unanswered probes are sent once more two thirds into the wait: one lost packet must
    not read as a silent hop. Not sooner, and not more often: routers rate-limit ICMP
    errors per source (Linux: a burst of about six, then one a second), and Linux charges
    a "no route" error twice against that bucket, so a retry that comes after about one
    second gets nothing either; one after two seconds gets its answer.
    """
    if not probes:
        return {}
    # The wait counts from the call: building packets (the first scapy import) is part of
    # the caller's budget, or the exchange would overrun the window it was given.
    start = time.monotonic()
    source = kernel_route(probes[0].dst).source_ip
    wire = {p.seq: build(p, source) for p in probes}
    replies: dict[int, Reply] = {}
    sent_at: dict[int, float] = {}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        )
        ins = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_RAW, proto))
            for proto in (socket.IPPROTO_TCP, socket.IPPROTO_ICMP)
        ]
        # A poll-based selector, not select(): select() refuses descriptors >= 1024, and a
        # process run as root may well have that many open.
        selector = stack.enter_context(selectors.DefaultSelector())
        for s in ins:
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ)
        resend_at = [start + wait_s * RESEND_AT]

        def send(batch: Sequence[Probe]) -> None:
            for p in batch:
                sent_at.setdefault(p.seq, time.monotonic())  # RTT from the first try
                try:
                    out.sendto(wire[p.seq], (p.dst, 0))
                except OSError as exc:
                    # EMSGSIZE: bigger than this host's own interface MTU.
                    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                    replies[p.seq] = Reply("local", source, 0.0, detail=f"{name}: {exc.strerror}")

        send(probes)
        while len(replies) < len(probes) and not (until and until(replies)):
            now = time.monotonic()
            if now >= start + wait_s:
                break
            if resend_at and now >= resend_at[0]:
                resend_at.pop(0)
                send([p for p in probes if p.seq not in replies])
                continue
            wake = min([start + wait_s, *resend_at[:1]])
            ready = [key.fileobj for key, _ in selector.select(max(0.0, wake - now))]
            for s in ready:
                while True:
                    try:
                        data = s.recv(65535)
                    except BlockingIOError:
                        break
                    hit = parse_reply(data, probes, sent_at, time.monotonic())
                    if hit and hit[0] not in replies:
                        replies[hit[0]] = hit[1]
    return replies
