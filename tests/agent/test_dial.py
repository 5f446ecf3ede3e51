"""Go's serial dial replayed over TCP evidence: shares of the 30 s dial timeout, Happy
Eyeballs, and kubectl's --request-timeout syntax."""

from __future__ import annotations

import dataclasses

import pytest

from agent.dial import parse_duration, replay, share
from agent.rules.catalog import all_rules
from agent.rules.engine import evaluate
from agent.rules.model import Severity
from agent.verdict import walk
from probes.base import Failure, ProbeResult, Status
from tests.agent import builders as b


def tcp(address: str, kind: str | None = None, took: float = 0.01) -> ProbeResult:
    facts = {"address": address}
    if kind:
        return ProbeResult("tcp", f"{address}:443", Status.FAILED, took, facts=facts, failure=Failure(kind, kind))
    return ProbeResult("tcp", f"{address}:443", Status.OK, took, facts=facts)


@pytest.mark.parametrize(("remaining", "left", "expected"), [
    (30, 2, 15), (30, 3, 10), (20, 2, 10), (30, 20, 2), (1.5, 3, 1.5), (30, 1, 30)])
def test_share_is_go_partial_deadline(remaining, left, expected):
    assert share(remaining, left) == expected


def test_a_dropped_first_address_costs_half_the_dial_timeout():
    r = replay(["10.0.0.1", "10.0.0.2"], {"10.0.0.1": tcp("10.0.0.1", "tcp.timeout", 3.0),
                                          "10.0.0.2": tcp("10.0.0.2")})
    assert r.connected == "10.0.0.2"
    assert [leg.outcome for leg in r.legs] == ["dropped", "connected"]
    assert r.connect_s == pytest.approx(15.01)


def test_a_refused_first_address_costs_nothing_much():
    r = replay(["10.0.0.1", "10.0.0.2"], {"10.0.0.1": tcp("10.0.0.1", "tcp.refused", 0.002),
                                          "10.0.0.2": tcp("10.0.0.2")})
    assert r.connected == "10.0.0.2" and r.connect_s < 0.05 and not r.waits_on


def test_three_dropped_addresses_use_the_whole_dial_timeout():
    r = replay(["a", "b", "c"], {x: tcp(x, "tcp.timeout") for x in "abc"})
    assert r.connected is None and [leg.cost_s for leg in r.legs] == [10, 10, 10]


def test_happy_eyeballs_starts_the_other_family_after_300_ms():
    r = replay(["fd00::1", "10.0.0.2"], {"fd00::1": tcp("fd00::1", "tcp.timeout"),
                                         "10.0.0.2": tcp("10.0.0.2", took=0.02)})
    assert r.connected == "10.0.0.2" and r.connect_s == pytest.approx(0.32)


@pytest.mark.parametrize(("text", "seconds"), [
    ("8", 8), ("8s", 8), ("1m", 60), ("1m30s", 90), ("500ms", 0.5), ("1.5s", 1.5), ("0", 0), ("2h", 7200)])
def test_request_timeout_syntax(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "8x", "s", "1.2.3s", "-1s", "eight"])
def test_request_timeout_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def _two_addresses(**kw):
    o = b.obs(b.dns(addrs=["10.1.0.5", "10.1.0.4"]), b.step("tcp", "10.1.0.5", "tcp.timeout"),
              *b.working("10.1.0.4"))
    return dataclasses.replace(o, **kw)


def test_without_a_request_timeout_kubectl_gets_there_slowly():
    o = _two_addresses()
    assert walk(o)[0] == "reachable"
    found = {f.code: f for f in evaluate(all_rules(), o)}
    assert found["net.slow_dial"].severity is Severity.WARNING
    assert found["net.filtered"].severity is Severity.WARNING
    assert "10.1.0.5 is silent and costs its share, 15 s" in found["net.slow_dial"].detail
    assert not [f for f in found.values() if f.severity is Severity.BLOCKER]


def test_with_a_short_request_timeout_kubectl_fails_and_the_report_agrees():
    o = _two_addresses(request_timeout_s=8.0)
    verdict, path = walk(o)
    assert verdict == "unreachable"
    tcp_step = next(s for s in path if s.name == "tcp")
    assert tcp_step.status == "failed" and "more than its --request-timeout of 8 s" in tcp_step.detail
    found = {f.code: f for f in evaluate(all_rules(), o)}
    assert found["net.slow_dial"].severity is Severity.BLOCKER
    assert found["net.filtered"].severity is Severity.BLOCKER


def test_a_long_request_timeout_is_enough():
    o = _two_addresses(request_timeout_s=60.0)
    assert walk(o)[0] == "reachable"
    assert {f.code: f for f in evaluate(all_rules(), o)}["net.slow_dial"].severity is Severity.WARNING
