"""When to run the packet probes (probes/packet.py, traceroute.py, pmtu.py) for one address.

* ``packet.syn`` and ``packet.trace`` when TCP to the address fails or has not connected
  within ``QUICK_CONNECT_S``: they then run alongside the TCP probe's own wait, so a
  dropped SYN costs about one timeout, not two. A path that connects at once gets none.
* ``packet.pmtu`` when TCP connected but the TLS handshake timed out (``tls.timeout``) or
  has not finished within ``QUICK_CONNECT_S``, in the handshake's own window.

Unprivileged runs still schedule them: they return SKIPPED at once and the report says
what could not be checked and how to enable it. :func:`packet_probes_for` is the pure
rule; :class:`PacketGate` applies it around a running TCP probe.

Only a few addresses get packet probes (:func:`packet_addresses`): a name with dozens of
addresses would otherwise send a traceroute to each, all at once.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probes import packet as syn
from probes import pmtu, traceroute
from probes.base import Failure, ProbeContext, ProbeResult, Status

QUICK_CONNECT_S = 0.5
MAX_PACKET_ADDRESSES = 4


def packet_addresses(kubectl_addresses: Sequence[str], other_addresses: Sequence[str] = (),
                     limit: int = MAX_PACKET_ADDRESSES) -> list[str]:
    """The addresses that may get packet probes, at most ``limit``: the first ones kubectl
    would dial (the system view's, in its order), then other views' addresses while room
    is left, so a resolver that is not kubectl's can never crowd kubectl's out."""
    chosen: list[str] = []
    for address in (*kubectl_addresses, *other_addresses):
        if len(chosen) >= limit:
            break
        if address not in chosen:
            chosen.append(address)
    return chosen


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
    """Starts packet evidence for one address while the step it explains still waits.

    SYN + trace once TCP fails or stays silent for ``quick_s``; path MTU once the TLS
    handshake over a connected socket stays silent for ``quick_s`` (or timed out). Each
    task gets the window of the step it explains (``submit(task, window)``), so a dropped
    SYN or a stalled handshake costs one timeout, not two.

    ``tcp_done`` must be called from the TCP probe's completion callback, before the
    runner counts the TCP probe finished: the decision is taken under a lock, so either
    the timer submitted while TCP was still pending or the callback decides, and the
    runner can never stop waiting with a packet probe about to be submitted.

    ``eligible`` is asked when the gate decides (not when it is made, since DNS answers
    may still be arriving): False submits nothing. Pass e.g.
    ``lambda: address in packet_addresses(kubectl_addresses, all_addresses)``.
    """

    def __init__(
        self,
        ctx: ProbeContext,
        address: str,
        port: int,
        submit: Callable[[PacketTask, object], None],
        quick_s: float = QUICK_CONNECT_S,
        eligible: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ctx = ctx
        self._eligible = eligible
        self._plan = functools.partial(packet_probes_for, address, port)
        self._submit = submit
        self._quick_s = quick_s
        self._lock = threading.Lock()
        self._decided: set[str] = set()  # "tcp", "tls": the steps already decided
        self._window = ctx.deadline.child(ctx.timeout_s)
        self._timer = threading.Timer(quick_s, self._slow_tcp)
        self._timer.daemon = True
        self._tls_timer: threading.Timer | None = None
        self._tls_window = self._window

    def start(self) -> None:
        self._timer.start()

    def _decide(self, step: str, tasks: list[PacketTask], window: object) -> None:
        with self._lock:
            if step in self._decided:
                return
            self._decided.add(step)
            if not tasks or not self._eligible():
                return
            for t in tasks:
                self._submit(t, window)

    def _slow_tcp(self) -> None:
        if not self._ctx.deadline.expired():
            self._decide("tcp", self._plan(), self._window)

    def tcp_done(self, tcp: ProbeResult) -> None:
        self._timer.cancel()
        self._decide("tcp", self._plan(tcp), self._window)

    def tls_started(self) -> None:
        """TCP connected and the handshake begins: if it stays silent, look at the path MTU
        while it still waits."""
        self._tls_window = self._ctx.deadline.child(self._ctx.timeout_s)
        connected = ProbeResult("tcp", "", Status.OK, 0.0)
        stalled = ProbeResult("tls", "", Status.FAILED, 0.0, failure=Failure("tls.timeout", "slow"))

        def slow() -> None:
            if not self._ctx.deadline.expired():
                self._decide("tls", self._plan(connected, stalled), self._tls_window)

        self._tls_timer = threading.Timer(self._quick_s, slow)
        self._tls_timer.daemon = True
        self._tls_timer.start()

    def tls_done(self, tcp: ProbeResult, tls: ProbeResult) -> None:
        """After the handshake over a connection TCP made: pmtu when it stalled."""
        if self._tls_timer is not None:
            self._tls_timer.cancel()
        self._decide("tls", self._plan(tcp, tls), self._tls_window)
