"""packet.pmtu: the largest packet that reaches ADDR:PORT, and whether bigger ones vanish.

Run when TCP connects but the TLS handshake stalls: the classic VPN / ExpressRoute / IPsec
symptom, where a link on the way has a smaller MTU and the ICMP "fragmentation needed"
that should tell the sender is filtered, so the server's large packets (its certificate
flight) are lost without a word (a path MTU black hole).

Method: SYNs with the Don't Fragment bit, padded with zero bytes to sizes from this
host's own route MTU down to 576, each its own flow, all sent at once; any answer from
the far end (SYN-ACK or RST) means that size got through. Up to two more rounds narrow the gap
between the largest that passed and the smallest that failed. A bare SYN (44 bytes) and a
128-byte one are controls: if they fail too, the host or a middlebox simply ignores SYNs
carrying data and nothing can be concluded (SKIPPED with that reason, not a false alarm).

It measures the path towards the server; tunnels usually shrink both directions alike.

=================================  ======================================================
result                             status
=================================  ======================================================
all sizes pass                     OK (blackhole False)
bigger sizes get ICMP frag-needed  OK: path MTU discovery works (``next_hop_mtu``)
bigger sizes vanish silently       FAILED tcp.timeout (blackhole True, ``largest_ok_bytes``)
the controls fail                  SKIPPED (conclusive False)
=================================  ======================================================

Needs raw sockets; SKIPPED otherwise (see probes/privilege.py). IPv4 only.

Facts: address, port, source_ip, interface, local_mtu, sizes ([{bytes, result}]),
largest_ok_bytes, first_failing_bytes, next_hop_mtu, frag_needed_from, blackhole,
conclusive, suggested_mss.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from probes.base import ProbeContext, ProbeResult, Status, failed, ok
from probes.packet import prepare
from probes.packet_io import SYN_BYTES, PacketIO, Probe, Reply, new_seq, real_io

NAME = "packet.pmtu"
ROUND_WAIT_S = 1.5
FINE_WAIT_MIN_S = 0.4
CONTROLS = (SYN_BYTES, 128)
# Sizes seen in the wild: Ethernet, PPPoE, IPsec/GRE/VXLAN/WireGuard overheads, IPv6 minimum.
GRID = (
    576,
    1000,
    1200,
    1280,
    1300,
    1340,
    1360,
    1380,
    1400,
    1420,
    1440,
    1460,
    1472,
    1480,
    1492,
    1500,
    2000,
    4000,
    8000,
    9000,
)
FINE_STEPS = 24
FINE_ROUNDS = 2  # each failing round costs one wait; two reach 1 byte from any gap
TCP_IP_HEADERS = 40


def pmtu_probe(
    ctx: ProbeContext, address: str, port: int = 443, io: PacketIO | None = None
) -> ProbeResult:
    subject = f"{address}:{port}"
    io = io or real_io()
    start = time.monotonic()
    route = prepare(NAME, subject, address, io, {"address": address, "port": port})
    if isinstance(route, ProbeResult):
        return route
    results: dict[int, Reply | None] = {}
    coarse = sorted({*CONTROLS, *(s for s in GRID if s < route.mtu), route.mtu})
    results.update(_round(ctx, io, address, port, coarse, ROUND_WAIT_S))
    verdict = judge(results)
    for _ in range(FINE_ROUNDS):
        lo, hi = verdict["largest_ok_bytes"], verdict["first_failing_bytes"]
        if not verdict["blackhole"] or lo is None or hi is None or hi - lo <= 1:
            break
        wait_s = fine_wait(results)
        if ctx.deadline.remaining() < wait_s:
            break  # a cut-short round would read slow answers as lost: keep the coarser bounds
        results.update(_round(ctx, io, address, port, fine_sizes(lo, hi), wait_s))
        verdict = judge(results)
    facts: dict[str, Any] = {
        "address": address,
        "port": port,
        "source_ip": route.source_ip,
        "interface": route.interface,
        "local_mtu": route.mtu,
        "sizes": [{"bytes": s, "result": size_result(results[s])} for s in sorted(results)],
        **verdict,
    }
    took = time.monotonic() - start
    ctx.say(f"packet.pmtu {subject}: largest ok {facts['largest_ok_bytes']}")
    if not verdict["conclusive"]:
        return ProbeResult(
            NAME,
            subject,
            Status.SKIPPED,
            took,
            facts=facts,
            reason=(
                f"path MTU not measurable: even {SYN_BYTES}- and 128-byte SYNs to {subject} "
                "got no answer, so the host or a middlebox ignores such probes"
            ),
        )
    if verdict["blackhole"]:
        lo, hi = verdict["largest_ok_bytes"], verdict["first_failing_bytes"]
        return failed(
            NAME,
            subject,
            took,
            "tcp.timeout",
            f"packets of {hi} bytes or more to {subject} vanish without an ICMP "
            f"'fragmentation needed'; {lo} bytes pass (path MTU black hole)",
            facts=facts,
        )
    return ok(NAME, subject, took, facts=facts)


def fine_wait(results: Mapping[int, Reply | None]) -> float:
    """The coarse round measured the round trip; later rounds wait a few times that, not
    the full round wait, because every round has sizes that will never be answered."""
    rtts = [r.rtt_s for r in results.values() if passed(r)]  # type: ignore[union-attr]
    return min(ROUND_WAIT_S, max(FINE_WAIT_MIN_S, 5 * max(rtts, default=ROUND_WAIT_S)))


def _round(
    ctx: ProbeContext,
    io: PacketIO,
    address: str,
    port: int,
    sizes: Iterable[int],
    wait_s: float,
) -> dict[int, Reply | None]:
    seq = new_seq()
    with contextlib.ExitStack() as stack:
        probes = [
            Probe(address, port, stack.enter_context(io.reserve_port()), seq + i, size=size)
            for i, size in enumerate(sizes)
        ]
        replies = io.exchange(probes, ctx.deadline.cap(min(ctx.timeout_s, wait_s)))
    return {p.size: replies.get(p.seq) for p in probes}


def fine_sizes(lo: int, hi: int) -> list[int]:
    """Sizes strictly between the largest that passed and the smallest that failed."""
    step = max(1, math.ceil((hi - lo) / FINE_STEPS))
    return list(range(lo + step, hi, step))


def size_result(r: Reply | None) -> str:
    if r is None:
        return "silent"
    if passed(r):
        return "ok"
    if r.kind == "icmp" and r.icmp_type == 3 and r.icmp_code == 4:
        return "frag_needed"
    if r.kind == "local":
        return "local_error"
    return f"icmp {r.icmp_type}/{r.icmp_code}"


def passed(r: Reply | None) -> bool:
    # Any answer from the far end proves the packet arrived; an ICMP error does not.
    return r is not None and r.kind in ("synack", "rst")


def judge(results: Mapping[int, Reply | None]) -> dict[str, Any]:
    """Largest size that passed, smallest failing above it, and what that means. Pure."""
    ok_sizes = [s for s, r in results.items() if passed(r)]
    conclusive = all(passed(results.get(c)) for c in CONTROLS if c in results)
    lo = max(ok_sizes) if ok_sizes else None
    above = sorted(s for s, r in results.items() if not passed(r) and (lo is None or s > lo))
    hi = above[0] if above else None
    frag = [
        r
        for s, r in results.items()
        if s in above and r is not None and size_result(r) == "frag_needed"
    ]
    silent_above = any(results[s] is None for s in above)
    return {
        "largest_ok_bytes": lo,
        "first_failing_bytes": hi,
        "next_hop_mtu": min((r.next_hop_mtu for r in frag if r.next_hop_mtu), default=None),
        "frag_needed_from": frag[0].src if frag else None,
        "blackhole": bool(conclusive and silent_above and not frag),
        "conclusive": conclusive,
        "suggested_mss": lo - TCP_IP_HEADERS if lo and hi else None,
    }
