"""Runs probes on daemon threads under one deadline, lets a finished probe schedule the
next ones (DNS answers -> TCP -> TLS -> HTTP), and keeps results in plan order.

The deadline is hard: :meth:`Runner.wait` returns when every probe is done or when the
deadline has passed (plus a small grace for results already on their way), whichever
comes first. A probe still running then is reported as unfinished, never waited for.

Threads are daemons on purpose: a probe stuck past the deadline must not keep the
process alive once the report is out.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.base import Failure, ProbeResult, Status

# What a probe still running at the deadline is reported as (failure kind ``unfinished``).
UNFINISHED = "unfinished"
# Results that land within this long after the deadline are still taken: a probe capped by
# the deadline returns a few milliseconds after it, and its evidence is worth having.
GRACE_S = 0.1


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
        thread = threading.Thread(target=self._work, args=(slot, fn, then),
                                  name=f"probe-{probe}", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # "can't start new thread": a low process limit
            slot.result = ProbeResult(probe, subject, Status.ERROR, 0.0,
                                      failure=Failure("internal", f"could not start: {exc}"),
                                      reason="no thread could be started for this probe "
                                             "(process or memory limit)")
            self._done()

    def _work(self, slot: _Slot, fn: Callable[[], ProbeResult],
              then: Callable[[ProbeResult], None] | None) -> None:
        try:
            try:
                result = fn()
            except Exception as exc:  # a probe bug must not sink the diagnosis
                if self._log:
                    self._log(f"probe {slot.probe} crashed:\n{traceback.format_exc(limit=3)}")
                result = ProbeResult(slot.probe, slot.subject, Status.ERROR,
                                     time.monotonic() - slot.started,
                                     failure=Failure("internal", f"probe crashed: {type(exc).__name__}"),
                                     reason="the probe itself failed; this is a kubereach bug")
            slot.result = result
            if self._log:
                outcome = result.failure.kind if result.failure else result.status.value
                self._log(f"{slot.probe} {slot.subject}: {outcome} in {result.duration_s * 1000:.0f} ms")
            if then is not None and not self._deadline.expired():
                then(result)
        except Exception:  # a scheduling bug shows up as missing probes, not a crash
            if self._log:
                self._log(f"scheduling after {slot.probe} failed:\n{traceback.format_exc(limit=3)}")
        finally:
            self._done()

    def _done(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def wait(self, grace_s: float = GRACE_S) -> None:
        """Until every probe is done, or the deadline plus ``grace_s`` has passed."""
        end = time.monotonic() + self._deadline.remaining() + grace_s
        with self._cond:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=left)

    def results(self) -> list[ProbeResult]:
        with self._cond:
            slots = sorted(self._slots, key=lambda s: s.order)
        out = []
        for slot in slots:
            if slot.result is None:
                out.append(ProbeResult(slot.probe, slot.subject, Status.ERROR,
                                       time.monotonic() - slot.started,
                                       failure=Failure(UNFINISHED, "did not finish before the deadline"),
                                       reason="did not finish before the overall deadline"))
            else:
                out.append(slot.result)
        return out
