"""packet.syn, packet.trace and packet.pmtu against a scripted network (no scapy, no root)."""

from __future__ import annotations

import pytest

from probes.base import Status
from probes.packet import reply_hops, syn_probe
from probes.pmtu import fine_sizes, pmtu_probe
from probes.traceroute import path_ended, trace_probe
from tests.support.packet_fakes import FakePath, ctx, fake_io

HOST = "10.1.0.4"
SUBJECT = f"{HOST}:443"


# ---- packet.syn ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "outcome", "kind", "icmp_from", "icmp_code"),
    [
        (FakePath(), Status.OK, "open", None, None, None),
        (FakePath(host_answers="closed"), Status.FAILED, "reset", "tcp.refused", None, None),
        (FakePath(rule_at=2, rule="drop"), Status.FAILED, "silent", "tcp.timeout", None, None),
        (FakePath(host_answers="silent"), Status.FAILED, "silent", "tcp.timeout", None, None),
        (FakePath(rule_at=2, rule="reject", icmp_code=13), Status.FAILED, "icmp",
         "icmp.admin_prohibited", "10.0.0.4", 13),
        (FakePath(rule_at=1, rule="reject", icmp_code=10), Status.FAILED, "icmp",
         "icmp.admin_prohibited", "10.9.0.1", 10),
        (FakePath(rule_at=2, rule="reject", icmp_code=1), Status.FAILED, "icmp",
         "icmp.host_unreachable", "10.0.0.4", 1),
        (FakePath(rule_at=2, rule="reject", icmp_code=3), Status.FAILED, "icmp",
         "icmp.port_unreachable", "10.0.0.4", 3),
        (FakePath(rule_at=1, rule="noroute"), Status.FAILED, "icmp", "icmp.net_unreachable",
         "10.9.0.1", 0),
        (FakePath(rule_at=2, rule="reset"), Status.FAILED, "reset", "tcp.refused", None, None),
    ],
    ids=["open", "closed", "dropped", "host-silent", "admin-prohibited", "host-prohibited",
         "host-unreachable", "port-unreachable", "no-route", "middlebox-reset"],
)
def test_syn_classifies_every_answer(path, status, outcome, kind, icmp_from, icmp_code):
    r = syn_probe(ctx(), HOST, 443, io=fake_io(path))
    assert (r.probe, r.subject, r.status, r.kind) == ("packet.syn", SUBJECT, status, kind)
    assert r.facts["outcome"] == outcome
    assert r.facts["icmp_from"] == icmp_from
    assert r.facts["icmp_code"] == icmp_code
    assert r.facts["source_ip"] == "10.9.0.10"


def test_syn_names_the_rejecting_hop_in_its_detail():
    r = syn_probe(ctx(), HOST, 443, io=fake_io(FakePath(rule_at=2, rule="reject")))
    assert r.failure.detail == (
        "10.0.0.4 answered a SYN to 10.1.0.4:443 with ICMP communication administratively "
        "prohibited (a firewall rejects) (type 3, code 13)"
    )
    assert r.facts["icmp_type"] == 3


def test_syn_reply_hops_tell_a_forged_reset_from_the_hosts_own():
    host = syn_probe(ctx(), HOST, 443, io=fake_io(FakePath(host_answers="closed")))
    forged = syn_probe(ctx(), HOST, 443, io=fake_io(FakePath(rule_at=1, rule="reset")))
    assert host.facts["reply_hops"] == 3
    assert forged.facts["reply_hops"] == 1
    assert forged.failure.detail.endswith("(the reply travelled 1 hop)")


def test_syn_time_exceeded_is_a_routing_loop():
    path = FakePath(hops=tuple(f"10.9.{i}.1" for i in range(70)))
    r = syn_probe(ctx(), HOST, 443, io=fake_io(path))
    assert r.kind == "tcp.no_route"
    assert "routing loop" in r.failure.detail


def test_syn_wait_comes_from_the_deadline():
    path = FakePath()
    syn_probe(ctx(timeout_s=1.0), HOST, 443, io=fake_io(path))
    (probes, wait_s), = path.sent
    assert wait_s == 1.0
    assert [(p.dst, p.dport, p.ttl, p.size) for p in probes] == [(HOST, 443, 64, 44)]


def test_syn_without_a_local_route():
    r = syn_probe(ctx(), HOST, 443, io=fake_io(FakePath(), no_route=True))
    assert (r.status, r.kind, r.facts["outcome"]) == (Status.FAILED, "tcp.no_route", "local")


@pytest.mark.parametrize("probe", [syn_probe, trace_probe, pmtu_probe])
def test_unprivileged_probes_skip_with_how_to_enable_and_send_nothing(probe):
    path = FakePath()
    r = probe(ctx(), HOST, 443, io=fake_io(path, allowed=False))
    assert r.status is Status.SKIPPED
    assert "CAP_NET_RAW" in r.reason and "sudo" in r.reason and "--cap-add NET_RAW" in r.reason
    assert r.facts["needs"] == "CAP_NET_RAW"
    assert path.sent == []


@pytest.mark.parametrize("probe", [syn_probe, trace_probe, pmtu_probe])
def test_ipv6_is_skipped_not_failed(probe):
    r = probe(ctx(), "fd00::4", 443, io=fake_io(FakePath()))
    assert r.status is Status.SKIPPED
    assert "IPv4 only" in r.reason


def test_a_bad_address_is_an_error_not_evidence():
    r = syn_probe(ctx(), "not-an-ip", 443, io=fake_io(FakePath()))
    assert r.status is Status.ERROR


@pytest.mark.parametrize(("ttl", "hops"), [(64, 1), (62, 3), (128, 1), (120, 9), (250, 6),
                                          (0, None), (None, None)])
def test_reply_hops(ttl, hops):
    assert reply_hops(ttl) == hops


# ---- packet.trace -------------------------------------------------------------------------


def _trace(path: FakePath, **kw):
    return trace_probe(ctx(), HOST, 443, io=fake_io(path), **kw)


def test_trace_reaches_the_host_and_lists_every_hop():
    r = _trace(FakePath())
    assert r.status is Status.OK
    f = r.facts
    assert f["reached"] and f["reached_ttl"] == 3 and f["stopped"] == "reached"
    assert [(h["ttl"], h["address"], h["reply"]) for h in f["hops"]] == [
        (1, "10.9.0.1", "time-exceeded"), (2, "10.0.0.4", "time-exceeded"), (3, HOST, "syn-ack"),
    ]
    assert f["last_hop"] == "10.0.0.4" and f["reset_by_hop"] is None


def test_trace_names_the_last_hop_before_a_drop():
    r = _trace(FakePath(rule_at=2, rule="drop"))
    assert (r.status, r.kind) == (Status.FAILED, "tcp.timeout")
    f = r.facts
    assert (f["last_hop"], f["last_hop_ttl"], f["first_silent_ttl"]) == ("10.0.0.4", 2, 3)
    assert f["hops"][-1] == {"ttl": 3, "address": None, "rtt_s": None, "reply": "silent"}
    assert r.failure.detail == (
        "dropped after 10.0.0.4 (hop 2, the last hop that answered); nothing answered from TTL 3 on"
    )


def test_trace_when_nothing_answers_says_it_never_left_the_subnet():
    r = _trace(FakePath(rule_at=1, rule="drop", silent_routers=frozenset({1})))
    assert r.facts["last_hop"] is None and r.facts["first_silent_ttl"] == 1
    assert "never left this subnet" in r.failure.detail


def test_trace_stops_at_an_icmp_reject_and_names_its_hop():
    r = _trace(FakePath(rule_at=2, rule="reject", icmp_code=13))
    assert (r.status, r.kind) == (Status.FAILED, "icmp.admin_prohibited")
    stop = r.facts["stop_icmp"]
    assert (stop["ttl"], stop["hop"], stop["from"], stop["code"]) == (3, 2, "10.0.0.4", 13)
    assert r.facts["last_hop"] == "10.0.0.4" and r.facts["stopped"] == "icmp"
    assert r.failure.detail.startswith("10.0.0.4 (hop 2) answered TTL 3 with ICMP communication")


def test_trace_no_route_at_the_first_router():
    r = _trace(FakePath(rule_at=1, rule="noroute"))
    assert r.kind == "icmp.net_unreachable"
    stop = r.facts["stop_icmp"]
    assert (stop["ttl"], stop["hop"], stop["from"]) == (1, 1, "10.9.0.1")
    assert r.facts["last_hop"] is None
    assert len(r.facts["hops"]) == 1


def test_trace_spots_a_reset_forged_in_front_of_the_host():
    r = _trace(FakePath(rule_at=2, rule="reset"))
    assert r.status is Status.OK and r.facts["reached_ttl"] == 3  # the RST carries the host's address
    assert r.facts["reset_by_hop"] == {"ttl": 2, "address": "10.0.0.4", "destination_ttl": 3}


def test_trace_host_reset_is_not_a_middlebox():
    r = _trace(FakePath(host_answers="closed"))
    assert r.facts["reached"] and r.facts["reset_by_hop"] is None


def test_trace_skips_over_silent_routers():
    r = _trace(FakePath(hops=("10.9.0.1", "10.8.0.1", "10.0.0.4"), silent_routers=frozenset({2})))
    assert [h["address"] for h in r.facts["hops"]] == ["10.9.0.1", None, "10.0.0.4", HOST]
    assert r.facts["reached_ttl"] == 4


def test_trace_is_bounded_and_sends_one_flow_per_ttl():
    path = FakePath(rule_at=1, rule="drop")
    r = _trace(path, max_hops=8)
    (probes, wait_s), = path.sent
    assert [p.ttl for p in probes] == list(range(1, 9))
    assert len({p.sport for p in probes}) == 8 and len({p.seq for p in probes}) == 8
    assert wait_s <= 3.0
    assert r.facts["max_hops"] == 8


@pytest.mark.parametrize(
    ("kinds", "ended"),
    [
        ({1: "te", 2: "te"}, False),
        ({1: "te", 3: "synack"}, False),  # hop 2 may still answer
        ({1: "te", 2: "te", 3: "synack"}, True),
        ({1: "unreach"}, True),
        ({}, False),
    ],
)
def test_path_ended(kinds, ended):
    from probes.packet_io import Reply

    def reply(k: str) -> Reply:
        if k == "te":
            return Reply("icmp", "10.9.0.1", 0.001, icmp_type=11, icmp_code=0)
        if k == "unreach":
            return Reply("icmp", "10.9.0.1", 0.001, icmp_type=3, icmp_code=0)
        return Reply(k, HOST, 0.001)

    assert path_ended({ttl: reply(k) for ttl, k in kinds.items()}) is ended


# ---- packet.pmtu --------------------------------------------------------------------------


def _pmtu(path: FakePath, **kw):
    return pmtu_probe(ctx(), HOST, 443, io=fake_io(path, **kw))


def test_pmtu_clear_path():
    r = _pmtu(FakePath())
    assert r.status is Status.OK
    f = r.facts
    assert (f["largest_ok_bytes"], f["first_failing_bytes"], f["blackhole"]) == (1500, None, False)
    assert f["suggested_mss"] is None and f["conclusive"]


def test_pmtu_finds_a_black_hole_to_the_byte():
    path = FakePath(mtu_at=2, mtu=1400 - 13)
    r = _pmtu(path)
    assert (r.status, r.kind) == (Status.FAILED, "tcp.timeout")
    f = r.facts
    assert (f["largest_ok_bytes"], f["first_failing_bytes"]) == (1387, 1388)
    assert f["blackhole"] and f["suggested_mss"] == 1347
    assert r.failure.detail == (
        "packets of 1388 bytes or more to 10.1.0.4:443 vanish without an ICMP 'fragmentation "
        "needed'; 1387 bytes pass (path MTU black hole)"
    )
    assert len(path.sent) == 2  # a coarse round, then a fine one
    assert all(p.df for probes, _ in path.sent for p in probes)


def test_pmtu_with_working_path_mtu_discovery_is_not_a_black_hole():
    r = _pmtu(FakePath(mtu_at=1, mtu=1400, frag_needed=True))
    assert r.status is Status.OK
    f = r.facts
    assert (f["largest_ok_bytes"], f["next_hop_mtu"], f["frag_needed_from"]) == (1400, 1400, "10.9.0.1")
    assert not f["blackhole"]
    assert {"bytes": 1420, "result": "frag_needed"} in f["sizes"]


def test_pmtu_never_sends_above_the_local_mtu():
    path = FakePath()
    r = _pmtu(path, local_mtu=1280)
    assert max(p.size for probes, _ in path.sent for p in probes) == 1280
    assert r.facts["largest_ok_bytes"] == 1280 and r.status is Status.OK


def test_pmtu_jumbo_frames_probe_beyond_1500():
    path = FakePath(mtu_at=1, mtu=1500)
    r = _pmtu(path, local_mtu=9001)
    assert r.facts["largest_ok_bytes"] == 1500 and r.facts["blackhole"]


def test_pmtu_host_ignoring_syns_with_data_is_inconclusive_not_a_black_hole():
    r = _pmtu(FakePath(payload_dropped=True))
    assert r.status is Status.SKIPPED
    assert r.facts["conclusive"] is False and r.facts["blackhole"] is False
    assert "not measurable" in r.reason


def test_pmtu_each_size_is_its_own_flow():
    path = FakePath()
    _pmtu(path)
    (probes, _), = path.sent
    assert len({p.sport for p in probes}) == len(probes)


@pytest.mark.parametrize(("lo", "hi", "sizes"), [
    (1280, 1300, list(range(1281, 1300))),
    (1200, 1280, list(range(1204, 1280, 4))),
    (1400, 1401, []),
])
def test_fine_sizes(lo, hi, sizes):
    assert fine_sizes(lo, hi) == sizes


def test_pmtu_fine_rounds_wait_a_few_round_trips_not_the_full_wait():
    path = FakePath(mtu_at=2, mtu=1387)
    _pmtu(path)
    waits = [w for _, w in path.sent]
    assert waits[0] == 1.5 and all(w == 0.4 for w in waits[1:])  # the fake answers in 3 ms


def test_pmtu_fine_wait_follows_a_slow_path():
    from probes.packet_io import Reply
    from probes.pmtu import fine_wait

    assert fine_wait({44: Reply("synack", HOST, 0.2), 1500: None}) == 1.0
    assert fine_wait({44: Reply("synack", HOST, 0.9)}) == 1.5
    assert fine_wait({44: None}) == 1.5
