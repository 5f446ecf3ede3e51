"""Name resolution as kubectl's Go resolver does it, and the same name through each
resolver alone, so disagreements between views are visible side by side.

Measures:
- ``dns.system``: the hosts file first, then resolv.conf's nameservers in order, with its
  search list and ndots, like Go (NXDOMAIN from one server is final for that name;
  SERVFAIL, REFUSED and timeouts move on to the next server).
- ``dns.nameserver``: the name through one resolv.conf nameserver, hosts file ignored.
- ``dns.resolver``: the name through one ``--resolver`` given by the user.
Needs: UDP (and TCP on truncation, as Go retries) to the resolvers. Failure kinds:
dns.nxdomain, dns.no_answer, dns.cname_loop, dns.id_mismatch, dns.timeout, dns.servfail,
dns.refused, dns.error. Facts: addresses (each with its class, at most MAX_ADDRESSES),
addresses_truncated (how many more the answer held), cname_chain, nameserver, rcode,
names_tried, source.

Like Go, an answer whose ID (or question) does not match the query is ignored and the wait
goes on; if only such answers came, the failure is dns.id_mismatch, not a plain timeout.
"""

from __future__ import annotations

import ipaddress
import socket
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
import dns.rdataclass
import dns.rdatatype

from probes import hosts
from probes.base import Attempt, Failure, ProbeContext, ProbeResult, Status, address_class

MAX_ADDRESSES = 32  # kept per answer: kubectl dials the first that connects


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
    addresses_truncated: int = 0
    cname_chain: list[str] = field(default_factory=list)
    nameserver: str | None = None
    rcode: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    names_tried: list[str] = field(default_factory=list)
    failure: Failure | None = None
    go_wait_s: float = 0.0  # how long Go's resolver, asking in turn, would take


class WrongIDs(Exception):
    """Only answers that did not match the query (wrong ID or question) arrived."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} answers with the wrong query ID")
        self.count = count


def _udp(query: dns.message.Message, server: str, port: int, ends: float) -> dns.message.Message:
    """One query over UDP, waiting until ``ends`` for the answer that matches it; others are
    skipped as Go skips them (a forged or misrouted datagram must not end the wait)."""
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    mismatched = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((server, port))  # the kernel then drops datagrams from other sources
        sock.send(query.to_wire())
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            try:
                response = dns.message.from_wire(data)
            except dns.exception.DNSException:
                mismatched += 1
                continue
            if not query.is_response(response):
                mismatched += 1
                continue
            return response
    if mismatched:
        raise WrongIDs(mismatched)
    raise dns.exception.Timeout()


def _query(qname: str, rdtype: int, server: str, port: int, timeout_s: float
           ) -> tuple[dns.message.Message, str]:
    """The answer and the transport that carried it ("udp", or "tcp" after truncation)."""
    ends = time.monotonic() + timeout_s
    query = dns.message.make_query(qname, rdtype)
    response = _udp(query, server, port, ends)
    if not response.flags & dns.flags.TC:
        return response, "udp"
    try:
        return dns.query.tcp(query, server, port=port, timeout=max(0.05, ends - time.monotonic())), "tcp"
    except dns.query.BadResponse:
        raise WrongIDs(1) from None


@dataclass(frozen=True)
class _Answer:
    addresses: list[str]
    chain: list[str]  # the CNAME targets followed, in order
    loop: bool  # the chain came back to a name already in it


def _extract(response: dns.message.Message) -> _Answer:
    """The addresses at the end of the CNAME chain in the answer section, and the chain.

    The answer's records are indexed once, so a long answer or chain costs linear time.
    """
    if not response.question:
        return _Answer([], [], False)
    question = response.question[0]
    records: dict[tuple[dns.name.Name, int], object] = {}
    for rrset in response.answer:
        if rrset.rdclass == dns.rdataclass.IN:
            records.setdefault((rrset.name, rrset.rdtype), rrset)
    name, seen, chain = question.name, {question.name}, []
    while True:
        final = records.get((name, question.rdtype))
        if final is not None:
            return _Answer([r.address for r in final], chain, False)
        cname = records.get((name, dns.rdatatype.CNAME))
        if cname is None:
            return _Answer([], chain, False)
        name = next(iter(cname)).target
        chain.append(name.to_text().rstrip("."))
        if name in seen:
            return _Answer([], chain, True)
        seen.add(name)


def _classify_exception(exc: Exception) -> Failure:
    if isinstance(exc, WrongIDs):
        return Failure("dns.id_mismatch",
                       f"only answers with the wrong query ID came back ({exc.count}); Go ignores "
                       "them, so kubectl times out")
    if isinstance(exc, dns.exception.Timeout):
        return Failure("dns.timeout", "no answer before the timeout")
    if isinstance(exc, ConnectionRefusedError):
        return Failure(
            "dns.timeout", "port 53 refused (ICMP port unreachable): no DNS server there"
        )
    if isinstance(exc, OSError):
        return Failure("dns.timeout", f"cannot reach the server: {exc.strerror or exc}")
    return Failure("dns.error", f"unusable answer: {type(exc).__name__}")


# Failures for which Go waits out the whole timeout (it ignores answers with a wrong ID).
_SILENT = ("dns.timeout", "dns.id_mismatch")


def _ask_all(ctx: ProbeContext, qnames: Sequence[str], servers: Sequence[str],
             per_try: float) -> dict[tuple[str, str], tuple[object, float, str]]:
    """Send every query Go might send (each name to each server) at once and wait for all:
    (qname, server) -> (response or exception, seconds, transport). Go asks one after
    another; asking at once costs one timeout however many servers are dead, and
    :func:`resolve` then replays Go's order over the answers."""
    out: dict[tuple[str, str], tuple[object, float, str]] = {}
    lock = threading.Lock()

    def ask(qname: str, spec: str) -> None:
        started = time.monotonic()
        transport = "udp"
        try:
            server, port = split_server(spec)
            answer, transport = _query(qname, dns.rdatatype.A, server, port, ctx.deadline.cap(per_try))
        except Exception as exc:  # data for the replay, not a crash
            answer = exc
        with lock:
            out[(qname, spec)] = (answer, time.monotonic() - started, transport)

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
                response, elapsed, transport = answers.get((qname, spec), (TimeoutError(), per_try, "udp"))
                server, port = split_server(spec)
                endpoint = f"{server}:{port}/udp"
                if isinstance(response, Exception):
                    failure = _classify_exception(response)
                    more = {"mismatched_answers": response.count} if isinstance(response, WrongIDs) else {}
                    # A server that did not answer would not answer Go's retry either.
                    out.go_wait_s += conf.timeout_s if failure.kind in _SILENT else elapsed
                    if attempt == 0:
                        out.attempts.append(Attempt(endpoint, Status.FAILED, elapsed, failure, more))
                    last = failure
                    continue
                assert isinstance(response, dns.message.Message)
                out.go_wait_s += elapsed
                endpoint = f"{server}:{port}/{transport}"
                rcode = dns.rcode.to_text(response.rcode())
                if response.rcode() == dns.rcode.NOERROR:
                    found = _extract(response)
                    addresses = found.addresses
                    if not addresses and not found.loop:
                        addresses = _aaaa(qname, server, port, ctx, per_try)
                    if addresses:
                        out.attempts.append(
                            Attempt(endpoint, Status.OK, elapsed, facts={"rcode": rcode})
                        )
                        out.addresses = addresses[:MAX_ADDRESSES]
                        out.addresses_truncated = max(0, len(addresses) - MAX_ADDRESSES)
                        out.cname_chain = found.chain
                        out.nameserver, out.rcode = f"{server}:{port}", rcode
                        return out
                    if found.loop:
                        loop = " -> ".join([qname.rstrip("."), *found.chain])
                        failure = Failure(
                            "dns.cname_loop",
                            f"{server} answered with a CNAME loop: {loop}; kubectl finds no address",
                        )
                    else:
                        failure = Failure(
                            "dns.no_answer",
                            f"{server} answered NOERROR with no address for {qname.rstrip('.')}",
                        )
                    out.attempts.append(
                        Attempt(endpoint, Status.FAILED, elapsed, failure, {"rcode": rcode})
                    )
                    saw_not_found, out.nameserver, out.rcode = failure, f"{server}:{port}", rcode
                    out.cname_chain = found.chain
                    answered = True
                    break
                if response.rcode() == dns.rcode.NXDOMAIN:
                    failure = Failure(
                        "dns.nxdomain", f"{server} answered NXDOMAIN for {qname.rstrip('.')}"
                    )
                    out.attempts.append(
                        Attempt(endpoint, Status.FAILED, elapsed, failure, {"rcode": rcode})
                    )
                    if saw_not_found is None or saw_not_found.kind == "dns.nxdomain":
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
        response, _ = _query(
            qname, dns.rdatatype.AAAA, server, port, ctx.deadline.cap(min(per_try, 1.0))
        )
    except Exception:
        return []
    return _extract(response).addresses


def _result(probe: str, subject: str, lookup: _Lookup, started: float, extra: dict) -> ProbeResult:
    facts = {
        **extra,
        "addresses": [{"address": a, "class": address_class(a)} for a in lookup.addresses],
        "addresses_truncated": lookup.addresses_truncated,
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

