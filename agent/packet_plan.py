"""When to run the packet probes (probes/packet.py, traceroute.py, pmtu.py) for one address.

* ``packet.syn`` and ``packet.trace`` when TCP to the address fails or has not connected
  within ``QUICK_CONNECT_S``: they then run alongside the TCP probe's own wait, so a
  dropped SYN costs about one timeout, not two. A path that connects at once gets none.
* ``packet.pmtu`` when TCP connected but the TLS handshake timed out (``tls.timeout``).

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
from probes.base import ProbeContext, ProbeResult, Status

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
    """Starts SYN + trace for one address once TCP fails or stays silent for ``quick_s``.

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
        submit: Callable[[PacketTask], None],
        quick_s: float = QUICK_CONNECT_S,
        eligible: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ctx = ctx
        self._eligible = eligible
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
            if not tasks or not self._eligible():
                return
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
        tasks = self._plan(tcp, tls)
        if tasks and self._eligible():
            for t in tasks:
                self._submit(t)
