"""TCP reachability of one address and port, told apart by how the kernel reports it.

Measures: connected, refused (RST), timed out (silently dropped), no route to host, network
unreachable; the time it took and the local source address the kernel chose. Needs:
nothing special. Failure kinds: tcp.refused, tcp.timeout, tcp.no_route,
tcp.net_unreachable, tcp.error.
"""

from __future__ import annotations

import errno
import socket
import time

from probes.base import Failure, ProbeContext, ProbeResult, Status, address_class, endpoint

_ERRNO_KIND = {
    errno.ECONNREFUSED: ("tcp.refused", "connection refused (TCP reset)"),
    errno.ETIMEDOUT: ("tcp.timeout", "no answer: the SYN was dropped somewhere"),
    errno.EHOSTUNREACH: ("tcp.no_route", "no route to host"),
    errno.ENETUNREACH: ("tcp.net_unreachable", "network is unreachable"),
    errno.EACCES: ("tcp.error", "permission denied by a local firewall rule"),
    errno.EPERM: ("tcp.error", "operation not permitted by a local firewall rule"),
}


def classify_os_error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, (TimeoutError, socket.timeout)) and not getattr(exc, "errno", None):
        return "tcp.timeout", "no answer before the timeout: the SYN was dropped somewhere"
    code = getattr(exc, "errno", None)
    if code in _ERRNO_KIND:
        return _ERRNO_KIND[code]
    if isinstance(exc, socket.gaierror):
        return "tcp.error", f"cannot resolve: {exc.strerror}"
    return "tcp.error", str(getattr(exc, "strerror", None) or exc)


def dial(host: str, port: int, timeout_s: float) -> socket.socket:
    """A connected socket, or the OSError that says why not. IP literals are not resolved."""
    return socket.create_connection((host, port), timeout=timeout_s)


def source_address_for(address: str, port: int) -> str | None:
    """The local address the kernel routes from (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((address, port))
            return s.getsockname()[0]
    except OSError:
        return None


def probe(ctx: ProbeContext, address: str, port: int) -> ProbeResult:
    subject = endpoint(address, port)
    facts = {"address": address, "port": port, "class": address_class(address),
             "source_ip": source_address_for(address, port)}
    started = time.monotonic()
    try:
        sock = dial(address, port, ctx.deadline.cap(ctx.timeout_s))
    except OSError as exc:
        kind, why = classify_os_error(exc)
        elapsed = time.monotonic() - started
        return ProbeResult("tcp", subject, Status.FAILED, elapsed, facts=facts,
                           phases={"connect": None}, failure=Failure(kind, why))
    elapsed = time.monotonic() - started
    facts["source_ip"] = sock.getsockname()[0]
    sock.close()
    return ProbeResult("tcp", subject, Status.OK, elapsed, facts=facts, phases={"connect": elapsed})
