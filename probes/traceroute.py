"""packet.trace: a TCP traceroute to ADDR:PORT, to name the hop where the path ends.

One SYN per TTL from 1 to ``max_hops``, all sent at once (one resend for the unanswered),
so the whole trace costs one wait however long the path. Each TTL uses its own reserved
source port: every probe is a fresh flow to stateful firewalls, and replies match exactly.
Routers answer an expiring TTL with ICMP time exceeded, naming themselves; the trace ends
at the first TTL answered by something else:

* the destination's SYN-ACK or RST (``reached``; a RST whose TTL says it travelled fewer
  hops than the destination is away came from a middlebox: ``reset_by_hop`` names it),
* an ICMP unreachable (``stop_icmp``: a firewall rejecting, or no route, at that hop),
* silence from some TTL on: the packets are dropped after ``last_hop``, the last hop
  that answered; if no hop answered, they never got past the first router (or every
  router on the way stays quiet, as inside cloud virtual networks).

Needs raw sockets; SKIPPED otherwise (see probes/privilege.py). IPv4 only.

Facts: address, port, source_ip, interface, max_hops, hops ([{ttl, address, rtt_s,
reply}] up to where the trace ended; silent TTLs have address None), reached,
reached_ttl, last_hop, last_hop_ttl, stopped ("reached" | "icmp" | "silent"), stop_icmp
({ttl, hop, from, type, code, kind, meaning}: ``hop`` is how far the sender is),
first_silent_ttl, reset_by_hop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from probes.base import ProbeContext, ProbeResult, failed, ok
from probes.packet import icmp_meaning, prepare, reply_hops
from probes.packet_io import PacketIO, Probe, Reply, new_seq, real_io

NAME = "packet.trace"
MAX_HOPS = 20
WAIT_S = 3.0


def trace_probe(
    ctx: ProbeContext,
    address: str,
    port: int = 443,
    io: PacketIO | None = None,
    max_hops: int = MAX_HOPS,
) -> ProbeResult:
    subject = f"{address}:{port}"
    io = io or real_io()
    start = time.monotonic()
    route = prepare(NAME, subject, address, io,
                    {"address": address, "port": port, "max_hops": max_hops, "hops": []})
    if isinstance(route, ProbeResult):
        return route
    seq = new_seq()
    with contextlib.ExitStack() as stack:
        probes = [
            Probe(address, port, stack.enter_context(io.reserve_port()), seq + ttl, ttl=ttl)
            for ttl in range(1, max_hops + 1)
        ]
        ttl_of = {p.seq: p.ttl for p in probes}
        replies = io.exchange(
            probes,
            ctx.deadline.cap(min(ctx.timeout_s, WAIT_S)),
            until=lambda got: path_ended({ttl_of[s]: r for s, r in got.items()}),
        )
    by_ttl = {p.ttl: replies.get(p.seq) for p in probes}
    facts: dict[str, Any] = {
        "address": address,
        "port": port,
        "source_ip": route.source_ip,
        "interface": route.interface,
        "max_hops": max_hops,
        **summarise(address, by_ttl),
    }
    took = time.monotonic() - start
    ctx.say(f"packet.trace {subject}: {facts['stopped']} after {facts['last_hop']}")
    if facts["reached"]:
        return ok(NAME, subject, took, facts=facts)
    if facts["stopped"] == "icmp":
        stop = facts["stop_icmp"]
        return failed(
            NAME,
            subject,
            took,
            stop["kind"],
            f"{stop['from']} (hop {stop['hop']}) answered TTL {stop['ttl']} with ICMP "
            f"{stop['meaning']}",
            facts=facts,
        )
    return failed(NAME, subject, took, "tcp.timeout", silence_sentence(facts), facts=facts)


def path_ended(by_ttl: Mapping[int, Reply]) -> bool:
    """True once a TTL got a final answer and every smaller TTL answered too: the probes
    beyond it can only repeat that answer (or be rate-limited into silence)."""
    for ttl in range(1, max(by_ttl, default=0) + 1):
        r = by_ttl.get(ttl)
        if r is None:
            return False
        if not (r.kind == "icmp" and r.icmp_type == 11):
            return True
    return False


def silence_sentence(facts: Mapping[str, Any]) -> str:
    if facts.get("last_hop"):
        return (
            f"dropped after {facts['last_hop']} (hop {facts['last_hop_ttl']}, the last hop "
            f"that answered); nothing answered from TTL {facts['first_silent_ttl']} on"
        )
    return (
        "no hop answered at all: dropped before or at the first router (it never left this "
        "subnet), or every router on the way stays silent"
    )


def summarise(address: str, by_ttl: Mapping[int, Reply | None]) -> dict[str, Any]:
    """Turn per-TTL replies into where the path ended. Pure, for the unit tests."""
    terminal: int | None = None
    for ttl in sorted(by_ttl):
        r = by_ttl[ttl]
        if r is not None and not (r.kind == "icmp" and r.icmp_type == 11):
            terminal = ttl
            break
    answered = [
        t for t, r in by_ttl.items() if r is not None and (terminal is None or t <= terminal)
    ]
    last_ttl = max(answered) if answered else None
    end = terminal if terminal is not None else min(max(by_ttl), (last_ttl or 0) + 1)
    hops = [_hop(ttl, by_ttl.get(ttl)) for ttl in range(1, end + 1)]
    end_reply = by_ttl[terminal] if terminal is not None else None
    reached = end_reply is not None and end_reply.kind in ("synack", "rst")
    stop_icmp = None
    if end_reply is not None and end_reply.kind == "icmp":
        kind, meaning = icmp_meaning(end_reply.icmp_type, end_reply.icmp_code)
        stop_icmp = {
            "ttl": terminal,
            "hop": _hop_of(end_reply, by_ttl) or terminal,
            "from": end_reply.src,
            "type": end_reply.icmp_type,
            "code": end_reply.icmp_code,
            "kind": kind,
            "meaning": meaning,
        }
    # The last hop that answered *before* the end: for a silent path, where it went dark.
    before = [t for t in answered if terminal is None or t < terminal]
    last_hop_ttl = max(before) if before else None
    silent_from = None
    if terminal is None:
        silent_from = (last_ttl or 0) + 1 if (last_ttl or 0) < max(by_ttl) else None
    return {
        "hops": hops,
        "reached": reached,
        "reached_ttl": terminal if reached else None,
        "last_hop": by_ttl[last_hop_ttl].src if last_hop_ttl else None,  # type: ignore[union-attr]
        "last_hop_ttl": last_hop_ttl,
        "stopped": "reached" if reached else ("icmp" if stop_icmp else "silent"),
        "stop_icmp": stop_icmp,
        "first_silent_ttl": silent_from,
        "reset_by_hop": _reset_by_hop(terminal, end_reply, by_ttl) if reached else None,
    }


def _hop_of(reply: Reply, by_ttl: Mapping[int, Reply | None]) -> int | None:
    """How far away the sender of an ICMP error is. A router that rejects forwards the
    probe first, so the TTL that drew the error is one more than the router's own hop: use
    the TTL at which the same address said "time exceeded", else the error's own TTL
    (a rate-limited router may have kept quiet at its own TTL)."""
    for ttl in sorted(by_ttl):
        r = by_ttl[ttl]
        if r is not None and r.kind == "icmp" and r.icmp_type == 11 and r.src == reply.src:
            return ttl
    return reply_hops(reply.ttl)


def _hop(ttl: int, r: Reply | None) -> dict[str, Any]:
    if r is None:
        return {"ttl": ttl, "address": None, "rtt_s": None, "reply": "silent"}
    reply = {"synack": "syn-ack", "rst": "reset"}.get(r.kind)
    if reply is None:
        reply = "time-exceeded" if r.icmp_type == 11 else f"icmp {r.icmp_type}/{r.icmp_code}"
    return {"ttl": ttl, "address": r.src, "rtt_s": round(r.rtt_s, 6), "reply": reply}


def _reset_by_hop(
    terminal: int | None, end: Reply | None, by_ttl: Mapping[int, Reply | None]
) -> dict[str, Any] | None:
    """A RST that travelled fewer hops than the destination is away was forged in front of
    it (iptables REJECT --reject-with tcp-reset, a cloud firewall); name that hop."""
    if terminal is None or end is None or end.kind != "rst":
        return None
    back = reply_hops(end.ttl)
    if back is None or back >= terminal:
        return None
    hop = by_ttl.get(back)
    address = hop.src if hop is not None and hop.kind == "icmp" else None
    return {"ttl": back, "address": address, "destination_ttl": terminal}
