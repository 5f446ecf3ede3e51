"""The shared envelope every probe returns, and the closed vocabulary of failure kinds.

A probe observes one thing (a name through one resolver, one address and port, one TLS
handshake) and returns a :class:`ProbeResult`. Network outcomes are data: a refused
connection is ``Status.FAILED`` with ``Failure(kind="tcp.refused")``. A probe raises only
for bugs; the runner turns anything that escapes into ``Status.ERROR`` with kind
``internal`` and carries on.

Failure kinds, by area (a kind is never renamed, only added)::

    dns.    nxdomain  no_answer  timeout  servfail  refused  error  cname_loop  id_mismatch
    tcp.    refused   timeout    no_route  net_unreachable  error
    tls.    handshake_failed  timeout  ca_mismatch  name_mismatch  expired  error
    http.   timeout   not_kubernetes  error
    proxy.  unreachable  refused_connect  auth_required  scheme_mismatch  error
            socks_refused   a SOCKS5 proxy's CONNECT reply other than "succeeded"
                            (facts reply_code, reply: general failure, not allowed by
                            ruleset, network/host unreachable, connection refused, TTL
                            expired, command / address type not supported); a SOCKS port
                            where nothing listens is proxy.unreachable with
                            tcp_kind tcp.refused (finding proxy.tunnel_down)
    icmp.   admin_prohibited  host_unreachable  net_unreachable  port_unreachable
    auth.   exec_missing
    kubeconfig. invalid
    internal        a probe crashed: a bug, never evidence about the network
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from netaddr import AddrFormatError, IPAddress, IPNetwork, IPSet, cidr_merge

JSONValue = Any  # str | int | float | bool | None | list | dict of those


class Status(str, Enum):
    OK = "ok"  # the step worked
    FAILED = "failed"  # the network said no: refused, NXDOMAIN, timeout, bad certificate
    SKIPPED = "skipped"  # not applicable or not permitted; ``reason`` says why
    ERROR = "error"  # the probe itself broke: a bug or bad input, not evidence


@dataclass(frozen=True)
class Failure:
    kind: str  # from the vocabulary above
    detail: str  # one sentence, already redacted


@dataclass(frozen=True)
class Attempt:
    """One server asked or one address dialled within a probe."""

    endpoint: str  # "10.0.0.10:53/udp", "10.1.2.3:443"
    status: Status
    duration_s: float
    failure: Failure | None = None
    facts: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeResult:
    probe: str  # "dns.system", "tcp", "tls", ...
    subject: str  # the name, address or resolver probed
    status: Status
    duration_s: float
    facts: Mapping[str, JSONValue] = field(default_factory=dict)
    phases: Mapping[str, float | None] = field(default_factory=dict)  # None = never reached
    attempts: tuple[Attempt, ...] = ()
    failure: Failure | None = None
    reason: str | None = None  # why SKIPPED or ERROR

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def kind(self) -> str | None:
        return self.failure.kind if self.failure else None


def ok(probe: str, subject: str, duration_s: float, **kw: Any) -> ProbeResult:
    return ProbeResult(probe, subject, Status.OK, duration_s, **kw)


def failed(
    probe: str, subject: str, duration_s: float, kind: str, detail: str, **kw: Any
) -> ProbeResult:
    return ProbeResult(probe, subject, Status.FAILED, duration_s, failure=Failure(kind, detail), **kw)


def skipped(probe: str, subject: str, reason: str, **kw: Any) -> ProbeResult:
    return ProbeResult(probe, subject, Status.SKIPPED, 0.0, reason=reason, **kw)


# --- addresses and ranges: the project's one set of IP helpers ---------------------------
# Single addresses go through the standard library's ipaddress, which accepts IPv6 scope ids
# (fe80::1%eth0, as resolv.conf may list a nameserver) that netaddr rejects; ranges go through
# netaddr, the project's IP library, for prefixes with host bits as written, sets and merging.

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def endpoint(address: str, port: int) -> str:
    """How probes name an address and port: "10.1.0.4:443", "[fd00::1]:443"."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def endpoint_address(subject: str) -> str:
    """The address part of an :func:`endpoint` (or a bare address, returned as it is)."""
    if subject.startswith("["):
        return subject[1:].split("]", 1)[0]
    return subject.rsplit(":", 1)[0] if subject.count(":") == 1 else subject


def is_ip_address(value: object) -> bool:
    """True for an IPv4 or IPv6 address given as a string; False for anything else."""
    if not isinstance(value, str) or not value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: a server on this machine (a local tunnel, a
    `kubectl proxy`)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return is_ip_address(host) and ipaddress.ip_address(host).is_loopback


def address_class(address: str) -> str:
    """'private' (RFC 1918, 100.64/10, fc00::/7), 'loopback', 'link-local', or 'public'.

    Documentation ranges (198.51.100.0/24, 203.0.113.0/24) count as public: the lab uses
    them to stand for the internet.
    """
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.version == 4 and (ip in _SHARED or any(ip in n for n in _RFC1918)):
        return "private"
    if ip.version == 6 and ip in _ULA:
        return "private"
    return "public"


def valid_ip(text: object) -> str | None:
    """The address in canonical form ("2001:db8::1"), or None when ``text`` is not one."""
    try:
        return str(IPAddress(text.strip())) if isinstance(text, str) else None
    except (AddrFormatError, ValueError):
        return None


def ip_network(text: object) -> IPNetwork | None:
    """A prefix as written, host bits kept ("10.0.0.90/29"); None when ``text`` is not one."""
    if not isinstance(text, str):
        return None
    try:
        return IPNetwork(text)
    except (AddrFormatError, ValueError, TypeError):
        return None


def in_ranges(address: str, ranges: Iterable[str]) -> bool:
    """Whether ``address`` is in any of ``ranges``; what is not a prefix matches nothing."""
    try:
        ip = IPAddress(address)
    except (AddrFormatError, ValueError, TypeError):
        return False
    return any(n is not None and ip in n for n in map(ip_network, ranges))


def _valid(ranges: Iterable[str]) -> list[IPNetwork]:
    return [n for n in map(ip_network, ranges) if n is not None]


def merged_ranges(ranges: Iterable[str]) -> list[str]:
    """The fewest CIDRs covering the same addresses as ``ranges`` (prefixes only)."""
    return [str(n) for n in cidr_merge(_valid(ranges))]


def overlap(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """The CIDRs that ranges ``a`` and ranges ``b`` have in common."""
    return [str(n) for n in (IPSet(_valid(a)) & IPSet(_valid(b))).iter_cidrs()]


@dataclass(frozen=True)
class ProbeContext:
    """What every probe receives besides its subject: the time budget and the I/O seams.

    ``deadline`` is an ``agent.deadline.Deadline`` (typed loosely so probes do not import
    the agent package); every socket, resolver and HTTP timeout is ``deadline.cap(...)``.
    """

    deadline: Any
    timeout_s: float  # the per-probe budget the user asked for (--timeout)
    env: Mapping[str, str] = field(default_factory=dict)  # the process environment, for proxies and CI
    hosts_path: str = "/etc/hosts"
    resolv_conf_path: str = "/etc/resolv.conf"
    log: Any = None  # callable(str) for --verbose lines on stderr, or None

    def say(self, message: str) -> None:
        if self.log is not None:
            self.log(message)
