"""Packet evidence: which hop drops or rejects kubectl's connection, and MTU black holes.

The core rules (``net.filtered``, ``net.no_route``, ``net.refused``, ``tls.handshake_failed``)
say *what* kubectl meets, from the kernel's errno. These rules say *where and how*, from
the packet probes, as findings of their own on the same subject (``ADDR:PORT``), so they
work whether or not the core rule fired and never rewrite another area's sentence:

``net.dropped_at_hop``      silence: the last hop that answered a TCP traceroute, or
                            "never left this subnet" when none did
``net.rejected_at_hop``     a firewall that rejects: ICMP administratively prohibited from
                            a named hop, or a TCP reset forged by a device in front of the
                            host (its TTL says it travelled fewer hops than the host is away)
``net.unreachable_at_hop``  ICMP network/host unreachable: the named hop has no route
``net.mtu_blackhole``       TCP connects, TLS stalls, and DF packets above a size vanish
``packet.checks_skipped``   the packet probes could not run here (no CAP_NET_RAW, IPv6)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from agent.observations import Observations
from agent.rules.common import evidence, on_path
from agent.rules.model import Hit, Severity, rule
from probes.base import ProbeResult, Status


def _path_subjects(obs: Observations) -> set[str]:
    """Subjects (ADDR:PORT) kubectl would dial directly; none when a proxy dials instead."""
    if obs.proxy_used():
        return set()
    return {r.subject for r in on_path(obs, "tcp")}


def _evidence_for(obs: Observations, subject: str) -> tuple[ProbeResult | None, ProbeResult | None]:
    return obs.one("packet.syn", subject), obs.one("packet.trace", subject)


def _hop_phrase(ttl: int | None) -> str:
    return f"hop {ttl}" if ttl else "a hop"


@rule(
    "net.dropped_at_hop",
    Severity.WARNING,
    "Where the connection is silently dropped",
    "Look at the device right after {last_hop} on the way to {address} (when no hop answered, "
    "this host's own firewall and the NSG / security group of its subnet and network interface, "
    "and the subnet's route table): a firewall, NSG or security group there drops TCP {port} "
    "from {source}, or it has no route back to {source}. Allow the traffic there (or the "
    "return route) rather than on the API server.",
)
def dropped_at_hop(obs: Observations) -> Iterator[Hit]:
    for subject in sorted(_path_subjects(obs)):
        syn, trace = _evidence_for(obs, subject)
        if (
            trace is None
            or trace.status is not Status.FAILED
            or trace.facts.get("stopped") != "silent"
        ):
            continue
        if syn is not None and syn.facts.get("outcome") not in ("silent", None):
            continue  # the SYN got an answer after all: another rule explains it
        f = trace.facts
        ev = tuple(evidence(r) for r in (syn, trace) if r is not None)
        args = {
            "address": f.get("address"),
            "port": f.get("port"),
            "source": f.get("source_ip") or "this host",
        }
        if f.get("last_hop"):
            yield Hit(
                subject,
                f"SYNs to {subject} are silently dropped after {f['last_hop']} "
                f"(hop {f['last_hop_ttl']}, the last hop that answered a TCP traceroute); "
                f"nothing answered from hop {f.get('first_silent_ttl')} on, so the drop is at "
                f"or just beyond {f['last_hop']}.",
                ev,
                fix_args={**args, "last_hop": f["last_hop"]},
            )
        else:
            yield Hit(
                subject,
                f"SYNs to {subject} are silently dropped and no hop answered a TCP traceroute: "
                "they never got past the first router (a firewall on this host or its subnet, an "
                "NSG or security group), or every router on the way stays silent, as inside cloud "
                "virtual networks.",
                ev,
                fix_args={**args, "last_hop": "this host"},
            )


@rule(
    "net.rejected_at_hop",
    Severity.WARNING,
    "A firewall on the path rejects the connection",
    "The rejection comes from {hop}, not from the API server: find the rule there that rejects "
    "TCP {port} from {source} to {address} (an NVA, Azure Firewall, a security appliance, an "
    "on-premises firewall) and allow it.",
)
def rejected_at_hop(obs: Observations) -> Iterator[Hit]:
    for subject in sorted(_path_subjects(obs)):
        syn, trace = _evidence_for(obs, subject)
        ev = tuple(evidence(r) for r in (syn, trace) if r is not None)
        icmp = _icmp(syn, trace)
        if icmp and icmp["kind"] in ("icmp.admin_prohibited", "icmp.port_unreachable"):
            own = icmp["from"] == subject.rsplit(":", 1)[0]
            who = (
                "the host's own firewall rejects"
                if own
                else "a firewall that rejects, not a missing route and not the API server"
            )
            where = "the host itself" if own else _hop_phrase(icmp["hop"])
            yield Hit(
                subject,
                f"{icmp['from']} ({where}) answers SYNs to {subject} with ICMP "
                f"{icmp['meaning']} (type {icmp['type']}, code {icmp['code']}): {who}. kubectl "
                "reports it as 'no route to host' or 'connection refused'.",
                ev,
                fix_args=_args(syn, trace, hop=icmp["from"]),
            )
            continue
        reset = trace.facts.get("reset_by_hop") if trace is not None else None
        if reset:
            where = reset.get("address") or f"the device at hop {reset['ttl']}"
            yield Hit(
                subject,
                f"The TCP reset for {subject} was sent by {where} (its TTL says it travelled "
                f"{reset['ttl']} hop{'s' if reset['ttl'] != 1 else ''}), in front of the host, "
                f"which is {reset['destination_ttl']} hops away: a firewall resetting connections "
                "on the API server's behalf, not the API server refusing.",
                ev,
                fix_args=_args(syn, trace, hop=where),
            )


@rule(
    "net.unreachable_at_hop",
    Severity.WARNING,
    "A router on the path has no route to the API server",
    "{hop} has no route to {address}: add it there (a UDR / route table entry, a VPN or "
    "ExpressRoute advertisement, a peering route), or send {address} another way from {source}.",
)
def unreachable_at_hop(obs: Observations) -> Iterator[Hit]:
    for subject in sorted(_path_subjects(obs)):
        syn, trace = _evidence_for(obs, subject)
        icmp = _icmp(syn, trace)
        if not icmp or icmp["kind"] not in ("icmp.net_unreachable", "icmp.host_unreachable"):
            continue
        yield Hit(
            subject,
            f"{icmp['from']} ({_hop_phrase(icmp['hop'])}) answers SYNs to {subject} with ICMP "
            f"{icmp['meaning']} (type {icmp['type']}, code {icmp['code']}): the path ends at that "
            "router, which has no route onwards.",
            tuple(evidence(r) for r in (syn, trace) if r is not None),
            fix_args=_args(syn, trace, hop=icmp["from"]),
        )


@rule(
    "net.mtu_blackhole",
    Severity.BLOCKER,
    "Large packets to the API server vanish (path MTU black hole)",
    "Clamp the TCP MSS to {mss} on the VPN / ExpressRoute gateway, firewall or router on the path "
    "(Linux: iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS "
    "--clamp-mss-to-pmtu, or --set-mss {mss}), or lower this host's MTU to {mtu} "
    "(ip link set dev {interface} mtu {mtu}); and let ICMP 'fragmentation needed' (type 3 code 4) "
    "through NSGs and firewalls so path MTU discovery works.",
)
def mtu_blackhole(obs: Observations) -> Iterator[Hit]:
    path = _path_subjects(obs)
    for r in obs.all("packet.pmtu"):
        f = r.facts
        if r.subject not in path or r.status is not Status.FAILED or not f.get("blackhole"):
            continue
        tls = obs.one("tls", r.subject)
        stalled = tls is not None and tls.kind == "tls.timeout"
        lead = (
            f"TCP to {r.subject} connects but the TLS handshake stalls, and packets"
            if stalled
            else f"Packets to {r.subject}"
        )
        hello = tls.facts.get("client_hello_bytes") if tls is not None else None
        lost = ("so the server's large certificate packets are lost.")
        if stalled and not tls.facts.get("handshake_bytes_received") and isinstance(hello, int) \
                and hello + 40 >= f["first_failing_bytes"]:
            lost = (f"so kubectl's ClientHello ({hello} bytes, the size kubectl 1.32 sends with its "
                    "post-quantum key share; a default Python or OpenSSL hello is about 517) never "
                    "reaches the server, which never answers.")
        yield Hit(
            r.subject,
            f"{lead} of {f['first_failing_bytes']} bytes or more vanish without an ICMP "
            f"'fragmentation needed', while {f['largest_ok_bytes']} bytes pass: a link on the way "
            "has a smaller MTU (a VPN, IPsec or ExpressRoute tunnel) and the ICMP that would tell "
            f"the sender is filtered, {lost}",
            tuple(evidence(x) for x in (tls, r) if x is not None),
            fix_args={
                "mss": f.get("suggested_mss"),
                "mtu": f.get("largest_ok_bytes"),
                "interface": f.get("interface") or "IFACE",
            },
            severity=None if stalled else Severity.WARNING,
        )


@rule(
    "packet.checks_skipped",
    Severity.INFO,
    "Packet-level checks could not run",
    "Give kubereach raw-socket privilege (root or CAP_NET_RAW) and run it again. To enable: "
    "{how_to_enable}",
)
def checks_skipped(obs: Observations) -> Iterator[Hit]:
    skipped = [
        r
        for r in obs.results
        if r.probe.startswith("packet.") and r.status is Status.SKIPPED and r.facts.get("needs")
    ]
    if not skipped:
        return
    names = sorted({r.probe for r in skipped})
    subjects = sorted({r.subject for r in skipped})
    reason = (skipped[0].reason or "").split(". To enable:")[0]
    yield Hit(
        "raw sockets",
        f"{', '.join(names)} for {', '.join(subjects)} did not run ({reason}): without them "
        "kubereach cannot name the hop that drops or rejects the connection, tell a firewall's "
        "reject from a drop, or test for an MTU black hole.",
        tuple(evidence(r, r.reason or "skipped") for r in skipped),
        fix_args={"how_to_enable": str(skipped[0].facts.get("how_to_enable"))},
    )


def _icmp(syn: ProbeResult | None, trace: ProbeResult | None) -> dict[str, Any] | None:
    """The ICMP error that ended the path: the trace's (it knows the hop number), else the
    SYN probe's."""
    if trace is not None and trace.facts.get("stop_icmp"):
        return dict(trace.facts["stop_icmp"])
    if syn is not None and syn.facts.get("outcome") == "icmp":
        f: Mapping[str, Any] = syn.facts
        return {
            "hop": f.get("reply_hops"),
            "from": f.get("icmp_from"),
            "type": f.get("icmp_type"),
            "code": f.get("icmp_code"),
            "kind": syn.kind,
            "meaning": f.get("icmp_meaning"),
        }
    return None


def _args(syn: ProbeResult | None, trace: ProbeResult | None, hop: str) -> dict[str, Any]:
    f = (trace or syn).facts if (trace or syn) else {}  # type: ignore[union-attr]
    return {
        "hop": hop,
        "address": f.get("address"),
        "port": f.get("port"),
        "source": f.get("source_ip") or "this host",
    }


RULES = (dropped_at_hop, rejected_at_hop, unreachable_at_hop, mtu_blackhole, checks_skipped)

# Which core symptom each packet finding explains, on the same subject (ADDR:PORT), in the
# shape of agent.rules.cloud.EXPLAINS, so engine.annotate_explained can append "Cause: CODE" to
# the core finding. An admin-prohibited reject reaches kubectl as EHOSTUNREACH (net.no_route)
# and a forged reset as ECONNREFUSED (net.refused).
EXPLAINS: dict[str, tuple[str, ...]] = {
    dropped_at_hop.code: ("net.filtered",),
    rejected_at_hop.code: ("net.no_route", "net.refused"),
    unreachable_at_hop.code: ("net.no_route",),
    mtu_blackhole.code: ("tls.handshake_failed",),
}
