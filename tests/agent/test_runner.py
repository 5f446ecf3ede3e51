"""The runner's promises: a hard deadline, and no hang when a thread cannot start."""

from __future__ import annotations

import threading
import time

from agent.deadline import Deadline
from agent.runner import UNFINISHED, Runner
from probes.base import ProbeResult, Status


def _slow(seconds: float) -> ProbeResult:
    time.sleep(seconds)
    return ProbeResult("tcp", "10.1.0.4:443", Status.OK, seconds)


def test_wait_ends_at_the_deadline_and_marks_what_is_still_running():
    runner = Runner(Deadline(0.3))
    runner.submit((0,), "tcp", "10.1.0.4:443", lambda: _slow(5))
    runner.submit((1,), "dns.system", "api", lambda: ProbeResult("dns.system", "api", Status.OK, 0.0))
    started = time.monotonic()
    runner.wait()
    took = time.monotonic() - started
    assert took < 0.6, took
    results = runner.results()
    assert [r.probe for r in results] == ["tcp", "dns.system"]  # plan order, not completion
    assert results[0].status is Status.ERROR and results[0].kind == UNFINISHED
    assert results[1].ok


def test_a_probe_that_schedules_more_work_after_the_deadline_is_not_waited_for():
    runner = Runner(Deadline(0.2))

    def then(_r: ProbeResult) -> None:
        runner.submit((1,), "tls", "x", lambda: _slow(5))

    runner.submit((0,), "tcp", "x", lambda: _slow(0.1), then=then)
    started = time.monotonic()
    runner.wait()
    assert time.monotonic() - started < 0.5
    assert [r.status for r in runner.results()] == [Status.OK, Status.ERROR]


def test_a_thread_that_cannot_start_is_an_error_result_not_a_hang(monkeypatch):
    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    runner = Runner(Deadline(30))
    runner.submit((0,), "tcp", "10.1.0.4:443", lambda: _slow(0))
    started = time.monotonic()
    runner.wait()
    assert time.monotonic() - started < 0.5
    (result,) = runner.results()
    assert result.status is Status.ERROR
    assert "can't start new thread" in result.failure.detail


def test_a_crashing_probe_is_an_error_and_the_run_goes_on():
    runner = Runner(Deadline(2))
    runner.submit((0,), "tcp", "x", lambda: 1 / 0)
    runner.wait()
    (result,) = runner.results()
    assert result.status is Status.ERROR and result.kind == "internal"
