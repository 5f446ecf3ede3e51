"""Name resolution as kubectl's Go resolver does it, and the same name through each
resolver alone, so disagreements between views are visible side by side.

Measures:
- ``dns.system``: the hosts file first, then resolv.conf's nameservers in order, with its
  search list and ndots, like Go (NXDOMAIN from one server is final for that name;
  SERVFAIL, REFUSED and timeouts move on to the next server).
- ``dns.nameserver``: the name through one resolv.conf nameserver, hosts file ignored.
- ``dns.resolver``: the name through one ``--resolver`` given by the user.
Needs: UDP (and TCP on truncation) to the resolvers. Failure kinds: dns.nxdomain,
dns.no_answer, dns.timeout, dns.servfail, dns.refused, dns.error. Facts: addresses (each
with its class), cname_chain, nameserver, rcode, names_tried, source.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from probes import hosts
from probes.base import Attempt, Failure, ProbeContext, ProbeResult, Status, address_class


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    ndots: int = 1
    timeout_s: float = 5.0
    attempts: int = 2


def parse_resolv_conf(text: str) -> ResolvConf:
    servers: list[str] = []
    search: list[str] = []
    ndots, timeout_s, attempts = 1, 5.0, 2
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if not fields:
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver" and args:
            servers.append(args[0])
        elif key in ("search", "domain"):
            search = [a.rstrip(".") for a in args]  # the last of search/domain wins
        elif key == "options":
            for opt in args:
                name, _, value = opt.partition(":")
                if not value.isdigit():
                    continue
                if name == "ndots":
                    ndots = min(int(value), 15)
                elif name == "timeout":
                    timeout_s = float(max(1, int(value)))
                elif name == "attempts":
                    attempts = max(1, min(int(value), 5))
    return ResolvConf(tuple(servers), tuple(search), ndots, timeout_s, attempts)


def read_resolv_conf(path: str) -> ResolvConf:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            conf = parse_resolv_conf(fh.read())
    except OSError:
        conf = ResolvConf()
    if not conf.nameservers:
        # Go, like glibc, falls back to a local resolver when none is configured.
        conf = ResolvConf(
            ("127.0.0.1", "::1"), conf.search, conf.ndots, conf.timeout_s, conf.attempts
        )
    return conf


def names_to_try(name: str, search: Sequence[str], ndots: int) -> list[str]:
    """Go's order: a rooted name alone; with at least ndots dots the name first, then the
    search suffixes; with fewer, the suffixes first."""
    if name.endswith("."):
        return [name]
    has_ndots = name.count(".") >= ndots
    out = [name + "."] if has_ndots else []
    out += [f"{name}.{suffix}." for suffix in search if suffix]
    if not has_ndots:
        out.append(name + ".")
    return out


def split_server(spec: str) -> tuple[str, int]:
    """'10.0.0.10', '10.0.0.10:5353', '[fd00::1]:53' or 'fd00::1' -> (ip, port)."""
    if spec.startswith("["):
        host, _, port = spec[1:].partition("]")
        return str(ipaddress.ip_address(host)), int(port.lstrip(":") or 53)
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return str(ipaddress.ip_address(host)), int(port)
    return str(ipaddress.ip_address(spec)), 53


@dataclass
class _Lookup:
    addresses: list[str] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    nameserver: str | None = None
    rcode: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    names_tried: list[str] = field(default_factory=list)
    failure: Failure | None = None
    go_wait_s: float = 0.0  # how long Go's resolver, asking in turn, would take


def _query(
    qname: str, rdtype: int, server: str, port: int, timeout_s: float
) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype)
    response = dns.query.udp(query, server, port=port, timeout=timeout_s)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server, port=port, timeout=timeout_s)
    return response


def _extract(response: dns.message.Message) -> tuple[list[str], list[str]]:
    """Addresses at the end of the CNAME chain, and the chain itself."""
    try:
        chaining = response.resolve_chaining()
    except dns.exception.DNSException:
        return [], []
    chain = [rrset[0].target.to_text().rstrip(".") for rrset in chaining.cnames]
    if chaining.answer is None:
        return [], chain
    return [r.address for r in chaining.answer], chain


def _classify_exception(exc: Exception) -> Failure:
    if isinstance(exc, dns.exception.Timeout):
        return Failure("dns.timeout", "no answer before the timeout")
    if isinstance(exc, ConnectionRefusedError):
        return Failure(
            "dns.timeout", "port 53 refused (ICMP port unreachable): no DNS server there"
        )
    if isinstance(exc, OSError):
        return Failure("dns.timeout", f"cannot reach the server: {exc.strerror or exc}")
    return Failure("dns.error", f"unusable answer: {type(exc).__name__}")


def _ask_all(ctx: ProbeContext, qnames: Sequence[str], servers: Sequence[str],
             per_try: float) -> dict[tuple[str, str], tuple[object, float]]:
    """Send every query Go might send (each name to each server) at once and wait for all:
    (qname, server) -> (response or exception, seconds). Go asks one after another; asking
    at once costs one timeout however many servers are dead, and :func:`resolve` then
    replays Go's order over the answers."""
    out: dict[tuple[str, str], tuple[object, float]] = {}
    lock = threading.Lock()

    def ask(qname: str, spec: str) -> None:
        started = time.monotonic()
        try:
            server, port = split_server(spec)
            answer: object = _query(qname, dns.rdatatype.A, server, port, ctx.deadline.cap(per_try))
        except Exception as exc:  # data for the replay, not a crash
            answer = exc
        with lock:
            out[(qname, spec)] = (answer, time.monotonic() - started)

    threads = [threading.Thread(target=ask, args=(q, s), daemon=True, name="dns-query")
               for q in qnames for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        # Each query is bounded by its own socket timeout; the join bound only guards a bug.
        t.join(ctx.deadline.cap(per_try) + 0.5)
    return out


def resolve(ctx: ProbeContext, name: str, servers: Sequence[str], conf: ResolvConf) -> _Lookup:
    """Resolve A (then AAAA) through ``servers`` in Go's order, from answers gathered at
    once. ``go_wait_s`` is how long Go itself would take: every silent server costs it
    resolv.conf's full timeout, once per attempt, before the next is asked."""
    out = _Lookup()
    per_try = min(conf.timeout_s, ctx.timeout_s)
    qnames = names_to_try(name, conf.search, conf.ndots)
    answers = _ask_all(ctx, qnames, servers, per_try)
    saw_not_found: Failure | None = None
    last: Failure | None = None
    for qname in qnames:
        out.names_tried.append(qname.rstrip("."))
        answered = False
        for attempt in range(conf.attempts):
            for spec in servers:
                response, elapsed = answers.get((qname, spec), (TimeoutError(), per_try))
                server, port = split_server(spec)
                endpoint = f"{server}:{port}/udp"
                if isinstance(response, Exception):
                    failure = _classify_exception(response)
                    # A server that did not answer would not answer Go's retry either.
                    out.go_wait_s += conf.timeout_s if failure.kind == "dns.timeout" else elapsed
                    if attempt == 0:
                        out.attempts.append(Attempt(endpoint, Status.FAILED, elapsed, failure))
                    last = failure
                    continue
                assert isinstance(response, dns.message.Message)
                out.go_wait_s += elapsed
                rcode = dns.rcode.to_text(response.rcode())
                if response.rcode() == dns.rcode.NOERROR:
                    addresses, chain = _extract(response)
                    if not addresses:
                        v6 = _aaaa(qname, server, port, ctx, per_try)
                        addresses = v6 or []
                    if addresses:
                        out.attempts.append(
                            Attempt(endpoint, Status.OK, elapsed, facts={"rcode": rcode})
                        )
                        out.addresses, out.cname_chain = addresses, chain
                        out.nameserver, out.rcode = f"{server}:{port}", rcode
                        return out
                    failure = Failure(
                        "dns.no_answer",
                        f"{server} answered NOERROR with no address for {qname.rstrip('.')}",
                    )
                    out.attempts.append(
                        Attempt(endpoint, Status.FAILED, elapsed, failure, {"rcode": rcode})
                    )
                    saw_not_found, out.nameserver, out.rcode = failure, f"{server}:{port}", rcode
                    answered = True
                    break
                if response.rcode() == dns.rcode.NXDOMAIN:
                    failure = Failure(
                        "dns.nxdomain", f"{server} answered NXDOMAIN for {qname.rstrip('.')}"
                    )
                    out.attempts.append(
                        Attempt(endpoint, Status.FAILED, elapsed, failure, {"rcode": rcode})
                    )
                    if saw_not_found is None or saw_not_found.kind != "dns.no_answer":
                        saw_not_found = failure
                    out.nameserver, out.rcode = f"{server}:{port}", rcode
                    answered = True
                    break
                kind = "dns.refused" if response.rcode() == dns.rcode.REFUSED else "dns.servfail"
                failure = Failure(kind, f"{server} answered {rcode} for {qname.rstrip('.')}")
                if attempt == 0:
                    out.attempts.append(
                        Attempt(endpoint, Status.FAILED, elapsed, failure, {"rcode": rcode})
                    )
                last = failure
            if answered:
                break
    out.failure = saw_not_found or last or Failure("dns.error", "no nameserver to ask")
    return out


def _aaaa(qname: str, server: str, port: int, ctx: ProbeContext, per_try: float) -> list[str]:
    try:
        response = _query(
            qname, dns.rdatatype.AAAA, server, port, ctx.deadline.cap(min(per_try, 1.0))
        )
    except Exception:
        return []
    addresses, _ = _extract(response)
    return addresses


def _result(probe: str, subject: str, lookup: _Lookup, started: float, extra: dict) -> ProbeResult:
    facts = {
        **extra,
        "addresses": [{"address": a, "class": address_class(a)} for a in lookup.addresses],
        "cname_chain": lookup.cname_chain,
        "nameserver": lookup.nameserver,
        "rcode": lookup.rcode,
        "names_tried": lookup.names_tried,
        "go_wait_s": round(lookup.go_wait_s, 3),
    }
    status = Status.OK if lookup.addresses else Status.FAILED
    return ProbeResult(
        probe,
        subject,
        status,
        time.monotonic() - started,
        facts=facts,
        attempts=tuple(lookup.attempts),
        failure=None if lookup.addresses else lookup.failure,
    )


def system_view(ctx: ProbeContext, name: str) -> ProbeResult:
    """dns.system: what kubectl's resolver returns for ``name``."""
    started = time.monotonic()
    try:
        literal = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if literal is not None:
        return ProbeResult(
            "dns.system",
            name,
            Status.OK,
            0.0,
            facts={
                "source": "literal",
                "addresses": [{"address": str(literal), "class": address_class(str(literal))}],
                "cname_chain": [],
                "nameserver": None,
                "rcode": None,
                "names_tried": [],
            },
        )
    from_hosts = hosts.lookup(ctx.hosts_path, name)
    if from_hosts:
        return ProbeResult(
            "dns.system",
            name,
            Status.OK,
            time.monotonic() - started,
            facts={
                "source": "hosts",
                "hosts_file": ctx.hosts_path,
                "addresses": [{"address": a, "class": address_class(a)} for a in from_hosts],
                "cname_chain": [],
                "nameserver": None,
                "rcode": None,
                "names_tried": [name],
            },
        )
    conf = read_resolv_conf(ctx.resolv_conf_path)
    lookup = resolve(ctx, name, conf.nameservers, conf)
    return _result(
        "dns.system",
        name,
        lookup,
        started,
        {
            "source": "dns",
            "resolv_conf": ctx.resolv_conf_path,
            "nameservers": list(conf.nameservers),
            "search": list(conf.search),
            "ndots": conf.ndots,
        },
    )


def single_view(
    ctx: ProbeContext, name: str, server: str, *, probe: str, label: str | None = None
) -> ProbeResult:
    """dns.nameserver / dns.resolver: ``name`` through one server alone, hosts file ignored."""
    started = time.monotonic()
    conf = read_resolv_conf(ctx.resolv_conf_path)
    # One try per server: a second attempt would only double the wait on a dead resolver.
    solo = ResolvConf((server,), conf.search, conf.ndots, conf.timeout_s, 1)
    subject = f"{label}={server}" if label else server
    lookup = resolve(ctx, name, solo.nameservers, solo)
    return _result(probe, subject, lookup, started, {"server": server, "label": label or server})

