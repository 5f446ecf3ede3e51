"""A scripted network for the packet probes: no scapy, no sockets, no privilege.

``FakePath`` answers each :class:`probes.packet_io.Probe` the way a chain of Linux routers
would, in the kernel's order: route lookup (no route -> ICMP net unreachable), TTL check
(-> time exceeded), egress MTU (-> frag-needed, or silence when that ICMP is filtered),
then the filter rule of the hop that has one (drop / reject / reset), then the host.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from agent.deadline import Deadline
from probes.base import ProbeContext
from probes.packet_io import PacketIO, Probe, Reply, RouteInfo, Until
from probes.privilege import RawSocketAccess

SOURCE = "10.9.0.10"


@dataclass
class FakePath:
    hops: Sequence[str] = ("10.9.0.1", "10.0.0.4")  # routers, in order
    host: str = "10.1.0.4"
    host_answers: str = "open"  # "open" | "closed" | "silent" | "reject" (ICMP port unreachable)
    rule_at: int | None = None  # 1-based router index applying ``rule``
    rule: str = "drop"  # "drop" | "reject" | "reset" | "noroute"
    icmp_code: int = 13
    mtu_at: int | None = None  # router whose egress link has ``mtu``
    mtu: int = 1500
    frag_needed: bool = False  # False: the ICMP is filtered (a black hole)
    silent_routers: frozenset[int] = frozenset()  # routers that never send time exceeded
    payload_dropped: bool = False  # the host ignores SYNs that carry data
    sent: list[tuple[list[Probe], float]] = field(default_factory=list)

    def exchange(
        self, probes: Sequence[Probe], wait_s: float, until: Until | None = None
    ) -> Mapping[int, Reply]:
        self.sent.append((list(probes), wait_s))
        out = {}
        for p in probes:
            r = self.answer(p)
            if r is not None:
                out[p.seq] = r
        return out

    def answer(self, p: Probe) -> Reply | None:
        for i, hop in enumerate(self.hops, start=1):
            if self.rule == "noroute" and self.rule_at == i:
                return _icmp(hop, 3, 0, i)
            if p.ttl == i:
                return None if i in self.silent_routers else _icmp(hop, 11, 0, i)
            if self.mtu_at == i and p.size > self.mtu:
                return _icmp(hop, 3, 4, i, mtu=self.mtu) if self.frag_needed else None
            if self.rule_at == i:
                if self.rule == "drop":
                    return None
                if self.rule == "reject":
                    return _icmp(hop, 3, self.icmp_code, i)
                if self.rule == "reset":
                    return Reply("rst", self.host, 0.001 * i, ttl=65 - i)
        distance = len(self.hops) + 1
        if self.host_answers == "silent" or (self.payload_dropped and p.size > 44):
            return None
        if self.host_answers == "reject":
            return _icmp(self.host, 3, 3, distance)
        kind = "synack" if self.host_answers == "open" else "rst"
        return Reply(kind, self.host, 0.001 * distance, ttl=65 - distance)


def _icmp(src: str, icmp_type: int, code: int, hop: int, mtu: int | None = None) -> Reply:
    return Reply("icmp", src, 0.001 * hop, ttl=65 - hop, icmp_type=icmp_type, icmp_code=code,
                 next_hop_mtu=mtu)


def fake_io(
    path: FakePath, *, allowed: bool = True, local_mtu: int = 1500, no_route: bool = False
) -> PacketIO:
    ports = itertools.count(40000)

    @contextlib.contextmanager
    def reserve() -> Iterator[int]:
        yield next(ports)

    def route(dst: str) -> RouteInfo:
        if no_route:
            raise OSError(101, "Network is unreachable")
        return RouteInfo(SOURCE, local_mtu, "eth0")

    def access() -> RawSocketAccess:
        if allowed:
            return RawSocketAccess(True, "")
        return RawSocketAccess(False, "not running as root and CAP_NET_RAW is not granted",
                               "run kubereach with sudo; docker run --cap-add NET_RAW")

    return PacketIO(exchange=path.exchange, access=access, route=route, reserve_port=reserve)


def ctx(timeout_s: float = 5.0) -> ProbeContext:
    return ProbeContext(deadline=Deadline(30.0), timeout_s=timeout_s)
