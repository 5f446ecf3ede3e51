"""agent/rules/packet.py: packet evidence in, codes and sentences out.

The packet results come from the real probes run against a scripted network
(tests/support/packet_fakes.py), so the facts the rules read are the ones the probes write.
"""

from __future__ import annotations

import pytest

from agent.rules.engine import evaluate
from agent.rules.model import Severity
from agent.rules.packet import RULES
from probes.packet import syn_probe
from probes.pmtu import pmtu_probe
from probes.traceroute import trace_probe
from tests.agent.builders import obs, step, working
from tests.support.packet_fakes import FakePath, ctx, fake_io

ADDR = "10.1.0.4"
SUBJECT = f"{ADDR}:443"


def _packets(path: FakePath, *, allowed: bool = True, address: str = ADDR):
    io = fake_io(path, allowed=allowed)
    return [syn_probe(ctx(), address, 443, io=io), trace_probe(ctx(), address, 443, io=io)]


def _findings(*results, proxy: bool = False):
    return evaluate(RULES, obs(*results, proxy=proxy))


def _codes(*results, **kw):
    return [(f.code, f.subject) for f in _findings(*results, **kw)]


@pytest.mark.parametrize(
    ("path", "tcp_kind", "codes"),
    [
        (FakePath(rule_at=2, rule="drop"), "tcp.timeout", ["net.dropped_at_hop"]),
        (FakePath(rule_at=2, rule="reject", icmp_code=13), "tcp.no_route", ["net.rejected_at_hop"]),
        (FakePath(rule_at=2, rule="reject", icmp_code=3), "tcp.refused", ["net.rejected_at_hop"]),
        (FakePath(rule_at=2, rule="reset"), "tcp.refused", ["net.rejected_at_hop"]),
        (FakePath(rule_at=1, rule="noroute"), "tcp.net_unreachable", ["net.unreachable_at_hop"]),
        (FakePath(rule_at=2, rule="reject", icmp_code=1), "tcp.no_route", ["net.unreachable_at_hop"]),
        (FakePath(host_answers="closed"), "tcp.refused", []),  # the host's own reset: core net.refused
        (FakePath(), None, []),
    ],
    ids=["drop", "admin-prohibited", "port-unreachable", "forged-reset", "no-route",
         "host-unreachable", "host-reset", "open"],
)
def test_each_path_gets_its_code(path, tcp_kind, codes):
    results = [step("tcp", ADDR, kind=tcp_kind), *_packets(path)]
    assert _codes(*results) == [(c, SUBJECT) for c in codes]


def test_drop_names_the_last_hop():
    (f,) = _findings(step("tcp", ADDR, kind="tcp.timeout"), *_packets(FakePath(rule_at=2, rule="drop")))
    assert f.severity is Severity.WARNING
    assert f.detail == (
        "SYNs to 10.1.0.4:443 are silently dropped after 10.0.0.4 (hop 2, the last hop that answered "
        "a TCP traceroute); nothing answered from hop 3 on, so the drop is at or just beyond 10.0.0.4."
    )
    assert f.fix.startswith("Look at the device right after 10.0.0.4 on the way to 10.1.0.4 (")
    assert "a firewall, NSG or security group there drops TCP 443" in f.fix
    assert "TCP 443 from 10.9.0.10" in f.fix
    assert [e.probe for e in f.evidence] == ["packet.syn", "packet.trace"]


def test_drop_before_the_first_router_says_it_never_left_the_subnet():
    path = FakePath(rule_at=1, rule="drop", silent_routers=frozenset({1}))
    (f,) = _findings(step("tcp", ADDR, kind="tcp.timeout"), *_packets(path))
    assert "never got past the first router" in f.detail
    assert "NSG / security group of its subnet" in f.fix


def test_reject_names_the_firewall_and_says_it_is_not_a_missing_route():
    results = [step("tcp", ADDR, kind="tcp.no_route"), *_packets(FakePath(rule_at=2, rule="reject"))]
    (f,) = _findings(*results)
    assert f.detail.startswith(
        "10.0.0.4 (hop 2) answers SYNs to 10.1.0.4:443 with ICMP communication administratively "
        "prohibited (a firewall rejects) (type 3, code 13): a firewall that rejects, not a missing route"
    )
    assert f.fix.startswith("The rejection comes from 10.0.0.4, not from the API server")


def test_the_hosts_own_reject_is_called_that():
    syn, _ = _packets(FakePath(host_answers="reject"))
    (f,) = _findings(step("tcp", ADDR, kind="tcp.refused"), syn)
    assert f.code == "net.rejected_at_hop"
    assert "10.1.0.4 (the host itself) answers SYNs to 10.1.0.4:443 with ICMP port unreachable" in f.detail
    assert "the host's own firewall rejects" in f.detail


def test_forged_reset_names_the_hop_that_sent_it():
    results = [step("tcp", ADDR, kind="tcp.refused"), *_packets(FakePath(rule_at=2, rule="reset"))]
    (f,) = _findings(*results)
    assert f.code == "net.rejected_at_hop"
    assert f.detail.startswith("The TCP reset for 10.1.0.4:443 was sent by 10.0.0.4 (its TTL says it "
                               "travelled 2 hops), in front of the host, which is 3 hops away")


def test_no_route_names_the_router():
    results = [step("tcp", ADDR, kind="tcp.net_unreachable"), *_packets(FakePath(rule_at=1, rule="noroute"))]
    (f,) = _findings(*results)
    assert f.detail.startswith("10.9.0.1 (hop 1) answers SYNs to 10.1.0.4:443 with ICMP network unreachable")
    assert f.fix.startswith("10.9.0.1 has no route to 10.1.0.4")


def test_syn_alone_is_enough_to_name_a_rejecting_hop():
    # Without a trace, the ICMP error's own TTL says how far its sender is.
    syn, _ = _packets(FakePath(rule_at=2, rule="reject"))
    (f,) = _findings(step("tcp", ADDR, kind="tcp.no_route"), syn)
    assert f.detail.startswith("10.0.0.4 (hop 2) answers SYNs")


def test_addresses_kubectl_does_not_dial_and_proxied_runs_get_nothing():
    drop = FakePath(rule_at=2, rule="drop")
    assert _codes(step("tcp", ADDR, kind="tcp.timeout", kubectl_path=False), *_packets(drop)) == []
    assert _codes(step("tcp", ADDR, kind="tcp.timeout"), *_packets(drop), proxy=True) == []


# ---- net.mtu_blackhole --------------------------------------------------------------------


def _pmtu(path: FakePath):
    return pmtu_probe(ctx(), ADDR, 443, io=fake_io(path))


def test_mtu_black_hole_behind_a_stalled_handshake_is_a_blocker():
    results = [step("tcp", ADDR), step("tls", ADDR, kind="tls.timeout"), _pmtu(FakePath(mtu_at=2, mtu=1350))]
    (f,) = _findings(*results)
    assert (f.code, f.severity, f.subject) == ("net.mtu_blackhole", Severity.BLOCKER, SUBJECT)
    assert f.detail.startswith(
        "TCP to 10.1.0.4:443 connects but the TLS handshake stalls, and packets of 1351 bytes or more "
        "vanish without an ICMP 'fragmentation needed', while 1350 bytes pass"
    )
    assert "--set-mss 1310" in f.fix and "ip link set dev eth0 mtu 1350" in f.fix
    assert "type 3 code 4" in f.fix


def test_mtu_black_hole_without_a_stall_is_a_warning():
    (f,) = _findings(*working(ADDR), _pmtu(FakePath(mtu_at=2, mtu=1350)))
    assert f.severity is Severity.WARNING and f.detail.startswith("Packets to 10.1.0.4:443 of 1351")


@pytest.mark.parametrize("path", [FakePath(), FakePath(mtu_at=1, mtu=1400, frag_needed=True),
                                  FakePath(payload_dropped=True)],
                         ids=["clear", "pmtud-works", "inconclusive"])
def test_no_black_hole_no_finding(path):
    assert _codes(step("tcp", ADDR), step("tls", ADDR, kind="tls.timeout"), _pmtu(path)) == []


# ---- packet.checks_skipped ----------------------------------------------------------------


def test_skipped_checks_say_which_and_how_to_enable():
    results = [step("tcp", ADDR, kind="tcp.timeout"), *_packets(FakePath(), allowed=False),
               *_packets(FakePath(), allowed=False, address="10.1.0.5")]
    (f,) = _findings(*results)
    assert (f.code, f.severity, f.subject) == ("packet.checks_skipped", Severity.INFO, "raw sockets")
    assert f.detail.startswith(
        "packet.syn, packet.trace for 10.1.0.4:443, 10.1.0.5:443 did not run (needs raw sockets: not "
        "running as root and CAP_NET_RAW is not granted): without them kubereach cannot name the hop"
    )
    assert f.fix == ("Give kubereach raw-socket privilege (root or CAP_NET_RAW) and run it again. "
                     "To enable: run kubereach with sudo; docker run --cap-add NET_RAW")
    assert len(f.evidence) == 4


def test_inconclusive_pmtu_is_not_a_privilege_problem():
    assert _codes(step("tcp", ADDR), _pmtu(FakePath(payload_dropped=True))) == []


def test_codes_are_well_formed_and_unique():
    import re

    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", c) for c in codes)
    assert all(r.title and r.fix for r in RULES)


def test_explains_maps_packet_codes_to_core_codes_that_exist():
    from agent.rules.catalog import CORE_RULES
    from agent.rules.packet import EXPLAINS

    core = {r.code for r in CORE_RULES}
    assert set(EXPLAINS) <= {r.code for r in RULES}
    assert all(set(v) <= core for v in EXPLAINS.values())
