"""agent/packet_plan.py: which packet probes run for an address, and when."""

from __future__ import annotations

import threading
import time

import pytest

from agent.deadline import Deadline
from agent.packet_plan import MAX_PACKET_ADDRESSES, PacketGate, packet_addresses, packet_probes_for
from probes.base import ProbeContext, Status
from tests.agent.builders import step

ADDR = "10.1.0.4"


def _names(tasks):
    return [t.probe for t in tasks]


@pytest.mark.parametrize(
    ("tcp", "tls", "names"),
    [
        (None, None, ["packet.syn", "packet.trace"]),  # TCP still waiting: it is slow
        (step("tcp", ADDR, kind="tcp.timeout"), None, ["packet.syn", "packet.trace"]),
        (step("tcp", ADDR, kind="tcp.refused"), None, ["packet.syn", "packet.trace"]),
        (step("tcp", ADDR), None, []),
        (step("tcp", ADDR), step("tls", ADDR), []),
        (step("tcp", ADDR), step("tls", ADDR, kind="tls.timeout"), ["packet.pmtu"]),
        (step("tcp", ADDR), step("tls", ADDR, kind="tls.ca_mismatch"), []),
    ],
)
def test_packet_probes_for(tcp, tls, names):
    tasks = packet_probes_for(ADDR, 443, tcp, tls)
    assert _names(tasks) == names
    assert all(t.subject == f"{ADDR}:443" for t in tasks)


def test_skipped_tcp_gets_no_packet_probes():
    from probes.base import ProbeResult

    skipped = ProbeResult("tcp", f"{ADDR}:443", Status.SKIPPED, 0.0, reason="proxy")
    assert packet_probes_for(ADDR, 443, skipped) == []


def _gate(quick_s: float):
    submitted: list[str] = []
    ctx = ProbeContext(deadline=Deadline(10.0), timeout_s=5.0)
    gate = PacketGate(ctx, ADDR, 443, lambda t, _window: submitted.append(t.probe), quick_s=quick_s)
    return gate, submitted


def test_gate_quick_connect_runs_nothing():
    gate, submitted = _gate(0.2)
    gate.start()
    gate.tcp_done(step("tcp", ADDR))
    time.sleep(0.3)
    assert submitted == []


def test_gate_fast_failure_runs_syn_and_trace_once():
    gate, submitted = _gate(0.1)
    gate.start()
    gate.tcp_done(step("tcp", ADDR, kind="tcp.refused"))
    time.sleep(0.2)
    assert submitted == ["packet.syn", "packet.trace"]


def test_gate_slow_tcp_starts_evidence_while_tcp_waits():
    gate, submitted = _gate(0.05)
    gate.start()
    time.sleep(0.2)
    assert submitted == ["packet.syn", "packet.trace"]
    gate.tcp_done(step("tcp", ADDR, kind="tcp.timeout"))
    assert submitted == ["packet.syn", "packet.trace"]  # not twice


def test_gate_stalled_tls_runs_pmtu():
    gate, submitted = _gate(5.0)
    gate.start()
    gate.tcp_done(step("tcp", ADDR))
    gate.tls_done(step("tcp", ADDR), step("tls", ADDR, kind="tls.timeout"))
    assert submitted == ["packet.pmtu"]


def test_gate_decides_exactly_once_under_a_race():
    for _ in range(50):
        gate, submitted = _gate(0.001)
        gate.start()
        barrier = threading.Event()
        barrier.wait(0.001)
        gate.tcp_done(step("tcp", ADDR, kind="tcp.timeout"))
        time.sleep(0.005)
        assert submitted == ["packet.syn", "packet.trace"]


@pytest.mark.parametrize(("kubectl", "others", "chosen"), [
    ([], [], []),
    (["10.1.0.4"], ["10.1.0.5"], ["10.1.0.4", "10.1.0.5"]),
    ([f"10.1.0.{i}" for i in range(1, 33)], [], ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"]),
    # kubectl's addresses first, whatever order the views answered in; no duplicates
    (["10.1.0.9", "10.1.0.8"], ["10.2.0.1", "10.1.0.9", "10.2.0.2", "10.2.0.3"],
     ["10.1.0.9", "10.1.0.8", "10.2.0.1", "10.2.0.2"]),
])
def test_packet_addresses_caps_and_prefers_kubectl_s(kubectl, others, chosen):
    assert packet_addresses(kubectl, others) == chosen


def test_gate_submits_nothing_for_an_address_beyond_the_cap():
    submitted: list[str] = []
    ctx = ProbeContext(deadline=Deadline(10.0), timeout_s=5.0)
    kubectl = [f"10.1.0.{i}" for i in range(1, 10)]
    gates = {a: PacketGate(ctx, a, 443, lambda t, _window: submitted.append(t.subject), quick_s=5,
                           eligible=lambda a=a: a in packet_addresses(kubectl))
             for a in kubectl}
    for address, gate in gates.items():
        gate.tcp_done(step("tcp", address, kind="tcp.timeout"))
        gate.tls_done(step("tcp", address), step("tls", address, kind="tls.timeout"))
    assert sorted({s.split(":")[0] for s in submitted}) == kubectl[:MAX_PACKET_ADDRESSES]
    assert len(submitted) == 3 * MAX_PACKET_ADDRESSES  # syn + trace, then pmtu, for each
