"""One overall deadline on the monotonic clock, from which every library timeout derives."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Deadline:
    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def remaining(self) -> float:
        return max(0.0, self.start + self.seconds - self.clock())

    def cap(self, per_attempt: float) -> float:
        """The smaller of ``per_attempt`` and what is left, never below a small floor so a
        socket call with timeout 0 does not turn into a non-blocking call."""
        return max(0.05, min(per_attempt, self.remaining()))

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def elapsed(self) -> float:
        return self.clock() - self.start

    def child(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now that never outlives this one."""
        return Deadline(min(seconds, self.remaining()), self.clock)
