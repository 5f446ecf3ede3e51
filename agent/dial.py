"""How long kubectl needs to connect, replayed from TCP evidence gathered at once.

Go dials a name's addresses one after another (``net.(*sysDialer).dialSerial``), each
with a share of what is left of the dial timeout (``partialDeadline``: the time left
divided by the addresses left, never below 2 s unless less than that is left); client-go's
dialer allows 30 s. When both IPv4 and IPv6 addresses come back, the other family starts
300 ms later in parallel (Happy Eyeballs, ``fallbackDelay``). A silently dropped first
address therefore costs kubectl 15 s of a two-address list before the second is tried,
while kubereach probed both at once.

Pure: :func:`replay` reads the addresses kubectl dials and the ``tcp`` results for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from probes.base import ProbeResult

DIAL_TIMEOUT_S = 30.0  # client-go's net.Dialer{Timeout: 30 * time.Second}
SANE_MINIMUM_S = 2.0  # Go's partialDeadline floor
FALLBACK_DELAY_S = 0.3  # Go's Happy Eyeballs delay before the other family starts


@dataclass(frozen=True)
class Leg:
    address: str
    outcome: str  # "connected", "dropped" (waits out its share), "failed" (fails at once), "unknown"
    cost_s: float  # what this address costs kubectl


@dataclass(frozen=True)
class Replay:
    legs: tuple[Leg, ...]  # in the order kubectl dials them
    connected: str | None  # the address kubectl ends up connected to
    connect_s: float  # how long kubectl takes to connect (or to give up)

    @property
    def waits_on(self) -> tuple[Leg, ...]:
        """The addresses that cost a wait before the connection (dropped ones)."""
        return tuple(leg for leg in self.legs if leg.outcome == "dropped")


def share(remaining_s: float, addresses_left: int) -> float:
    """Go's partialDeadline: the time one address gets."""
    timeout = remaining_s / addresses_left
    if timeout < SANE_MINIMUM_S:
        timeout = remaining_s if remaining_s < SANE_MINIMUM_S else SANE_MINIMUM_S
    return timeout


def _serial(addresses: Sequence[str], tcp: Mapping[str, ProbeResult], start_s: float
            ) -> tuple[list[Leg], str | None, float]:
    legs: list[Leg] = []
    now = start_s
    for i, address in enumerate(addresses):
        remaining = DIAL_TIMEOUT_S - now
        if remaining <= 0:
            break
        slot = share(remaining, len(addresses) - i)
        r = tcp.get(address)
        if r is not None and r.ok:
            cost = min(r.duration_s, slot)
            legs.append(Leg(address, "connected", cost))
            return legs, address, now + cost
        if r is not None and r.kind == "tcp.timeout":
            legs.append(Leg(address, "dropped", slot))
            now += slot
        elif r is not None and r.failure is not None:
            cost = min(r.duration_s, slot)
            legs.append(Leg(address, "failed", cost))
            now += cost
        else:  # not probed or unfinished: assume the worst Go could meet
            legs.append(Leg(address, "unknown", slot))
            now += slot
    return legs, None, now


def replay(dials: Sequence[str], tcp: Mapping[str, ProbeResult]) -> Replay:
    """``dials``: kubectl's addresses in its order; ``tcp``: address -> its tcp result."""
    if not dials:
        return Replay((), None, 0.0)
    first_v6 = ":" in dials[0]
    primaries = [a for a in dials if (":" in a) == first_v6]
    fallbacks = [a for a in dials if (":" in a) != first_v6]
    legs, connected, took = _serial(primaries, tcp, 0.0)
    if fallbacks and (connected is None or took > FALLBACK_DELAY_S):
        more, other, other_took = _serial(fallbacks, tcp, FALLBACK_DELAY_S)
        legs += more
        if other is not None and (connected is None or other_took < took):
            connected, took = other, other_took
        elif connected is None:
            took = max(took, other_took)
    return Replay(tuple(legs), connected, took)


def parse_duration(text: str) -> float:
    """kubectl's --request-timeout: bare seconds ("8") or a Go duration ("8s", "1m30s",
    "500ms"); 0 means none. Raises ValueError with a sentence for anything else."""
    value = text.strip()
    if value.isdigit():
        return float(value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, rest = 0.0, value
    if not rest:
        raise ValueError("empty duration")
    while rest:
        number = ""
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = next((u for u in sorted(units, key=len, reverse=True) if rest.startswith(u)), None)
        if not number or number.count(".") > 1 or unit is None:
            raise ValueError(f"{text!r} is not a duration like 8s, 1m or 500ms")
        total += float(number) * units[unit]
        rest = rest[len(unit):]
    return total
