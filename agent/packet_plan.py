"""When to run the packet probes (probes/packet.py, traceroute.py, pmtu.py) for one address.

* ``packet.syn`` and ``packet.trace`` when TCP to the address fails or has not connected
  within ``QUICK_CONNECT_S``: they then run alongside the TCP probe's own wait, so a
  dropped SYN costs about one timeout, not two. A path that connects at once gets none.
* ``packet.pmtu`` when TCP connected but the TLS handshake timed out (``tls.timeout``).

Unprivileged runs still schedule them: they return SKIPPED at once and the report says
what could not be checked and how to enable it. :func:`packet_probes_for` is the pure
rule; :class:`PacketGate` applies it around a running TCP probe.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from probes import packet as syn
from probes import pmtu, traceroute
from probes.base import ProbeContext, ProbeResult, Status

QUICK_CONNECT_S = 0.5


@dataclass(frozen=True)
class PacketTask:
    probe: str  # "packet.syn" | "packet.trace" | "packet.pmtu"
    subject: str  # "ADDR:PORT", as the tcp probe names it
    run: Callable[[ProbeContext], ProbeResult]


def packet_probes_for(
    address: str, port: int, tcp: ProbeResult | None = None, tls: ProbeResult | None = None
) -> list[PacketTask]:
    """``tcp=None`` means TCP has not answered yet (it is slow): evidence is worth taking."""
    subject = f"{address}:{port}"

    def task(name: str, fn: Callable[..., ProbeResult]) -> PacketTask:
        return PacketTask(name, subject, lambda ctx: fn(ctx, address, port))

    if tcp is None or tcp.status is Status.FAILED:
        return [task(syn.NAME, syn.syn_probe), task(traceroute.NAME, traceroute.trace_probe)]
    if tcp.ok and tls is not None and tls.kind == "tls.timeout":
        return [task(pmtu.NAME, pmtu.pmtu_probe)]
    return []


class PacketGate:
    """Starts SYN + trace for one address once TCP fails or stays silent for ``quick_s``.

    ``tcp_done`` must be called from the TCP probe's completion callback, before the
    runner counts the TCP probe finished: the decision is taken under a lock, so either
    the timer submitted while TCP was still pending or the callback decides, and the
    runner can never stop waiting with a packet probe about to be submitted.
    """

    def __init__(
        self,
        ctx: ProbeContext,
        address: str,
        port: int,
        submit: Callable[[PacketTask], None],
        quick_s: float = QUICK_CONNECT_S,
    ) -> None:
        self._ctx = ctx
        self._plan = functools.partial(packet_probes_for, address, port)
        self._submit = submit
        self._lock = threading.Lock()
        self._decided = False
        self._timer = threading.Timer(quick_s, self._slow)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def _decide(self, tasks: list[PacketTask]) -> None:
        with self._lock:
            if self._decided:
                return
            self._decided = True
            for t in tasks:
                self._submit(t)

    def _slow(self) -> None:
        if not self._ctx.deadline.expired():
            self._decide(self._plan())

    def tcp_done(self, tcp: ProbeResult) -> None:
        self._timer.cancel()
        self._decide(self._plan(tcp))

    def tls_done(self, tcp: ProbeResult, tls: ProbeResult) -> None:
        """After the handshake over a connection TCP made: pmtu when it stalled."""
        for t in self._plan(tcp, tls):
            self._submit(t)
