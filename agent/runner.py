"""Runs probes on daemon threads under one deadline, lets a finished probe schedule the
next ones (DNS answers -> TCP -> TLS -> HTTP), and keeps results in plan order.

Threads are daemons on purpose: a probe stuck past the deadline must not keep the
process alive once the report is out (every probe is bounded anyway).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.base import Failure, ProbeResult, Status


@dataclass
class _Slot:
    order: tuple
    probe: str
    subject: str
    result: ProbeResult | None = None
    started: float = field(default_factory=time.monotonic)


class Runner:
    def __init__(self, deadline: object, log: Callable[[str], None] | None = None) -> None:
        self._deadline = deadline
        self._log = log
        self._slots: list[_Slot] = []
        self._cond = threading.Condition()
        self._pending = 0

    def add(self, order: tuple, result: ProbeResult) -> None:
        """Record a result computed inline (pure checks need no thread)."""
        with self._cond:
            self._slots.append(_Slot(order, result.probe, result.subject, result))

    def submit(self, order: tuple, probe: str, subject: str,
               fn: Callable[[], ProbeResult],
               then: Callable[[ProbeResult], None] | None = None) -> None:
        slot = _Slot(order, probe, subject)
        with self._cond:
            self._slots.append(slot)
            self._pending += 1

        def work() -> None:
            try:
                result = fn()
            except Exception as exc:  # a probe bug must not sink the diagnosis
                if self._log:
                    self._log(f"probe {probe} crashed:\n{traceback.format_exc(limit=3)}")
                result = ProbeResult(probe, subject, Status.ERROR, time.monotonic() - slot.started,
                                     failure=Failure("internal", f"probe crashed: {type(exc).__name__}"),
                                     reason="the probe itself failed; this is a kubereach bug")
            slot.result = result
            if self._log:
                outcome = result.failure.kind if result.failure else result.status.value
                self._log(f"{probe} {subject}: {outcome} in {result.duration_s * 1000:.0f} ms")
            try:
                if then is not None and not self._deadline.expired():
                    then(result)
            except Exception:  # a scheduling bug shows up as missing probes, not a crash
                if self._log:
                    self._log(f"scheduling after {probe} failed:\n{traceback.format_exc(limit=3)}")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        threading.Thread(target=work, name=f"probe-{probe}", daemon=True).start()

    def wait(self, grace_s: float = 0.25) -> None:
        with self._cond:
            while self._pending:
                left = self._deadline.remaining() + grace_s
                if left <= 0:
                    break
                self._cond.wait(timeout=min(left, 0.5))

    def results(self) -> list[ProbeResult]:
        with self._cond:
            slots = sorted(self._slots, key=lambda s: s.order)
        out = []
        for slot in slots:
            if slot.result is None:
                out.append(ProbeResult(slot.probe, slot.subject, Status.ERROR,
                                       time.monotonic() - slot.started,
                                       failure=Failure("internal", "did not finish before the deadline"),
                                       reason="did not finish before the overall deadline"))
            else:
                out.append(slot.result)
        return out
