"""Name resolution as kubectl's Go resolver does it, and the same name through each
resolver alone, so disagreements between views are visible side by side.

Measures:
- ``dns.system``: the hosts file first, then resolv.conf's nameservers in order, with its
  search list and ndots, like Go (NXDOMAIN from one server is final for that name;
  SERVFAIL, REFUSED and timeouts move on to the next server).
- ``dns.nameserver``: the name through one resolv.conf nameserver, hosts file ignored.
- ``dns.resolver``: the name through one ``--resolver`` given by the user.
Needs: UDP (and TCP on truncation, as Go retries) to the resolvers. Failure kinds:
dns.nxdomain, dns.no_answer, dns.cname_loop, dns.invalid_name, dns.id_mismatch, dns.timeout, dns.servfail,
dns.refused, dns.error. Facts: addresses (each with its class, at most MAX_ADDRESSES),
addresses_truncated (how many more the answer held), cname_chain, nameserver, rcode,
names_tried, source.

Like Go, an answer whose ID (or question) does not match the query is ignored and the wait
goes on; if only such answers came, the failure is dns.id_mismatch, not a plain timeout.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

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


# Go's fallback when resolv.conf lists no usable nameserver (src/net/dnsconfig.go).
DEFAULT_NAMESERVERS = ("127.0.0.1", "::1")
MAX_NAMESERVERS = 3  # Go, like glibc, uses the first three
_BIG = 0xFFFFFF  # Go's dtoi stops there


@dataclass(frozen=True)
class ResolvConf:
    """resolv.conf as Go's dnsReadConfig reads it (src/net/dnsconfig_unix.go, go1.27.3)."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()  # rooted or not; names_to_try roots them as Go does
    ndots: int = 1
    timeout_s: float = 5.0
    attempts: int = 2
    rotate: bool = False
    use_tcp: bool = False  # options use-vc / usevc / tcp: DNS over TCP only
    single_request: bool = False
    ignored: tuple[str, ...] = ()  # nameserver lines Go skips, and why


def _dtoi(text: str) -> int | None:
    """Go's dtoi: the leading decimal digits ("5x" is 5), capped; None without one."""
    digits = ""
    for ch in text:
        if not "0" <= ch <= "9":
            break
        digits += ch
        if int(digits) >= _BIG:
            return _BIG
    return int(digits) if digits else None


def default_search(hostname: str | None) -> tuple[str, ...]:
    """Go's dnsDefaultSearch: the domain of the machine's host name, if it has one."""
    if not hostname:
        return ()
    dot = hostname.find(".")
    if 0 <= dot < len(hostname) - 1:
        return (_rooted(hostname[dot + 1:]),)
    return ()


def _rooted(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _server_with_port(spec: str) -> bool:
    try:
        split_server(spec)
    except ValueError:
        return False
    return True


def parse_resolv_conf(text: str, hostname: str | None = None, *, ports: bool = False) -> ResolvConf:
    """Go's reading, line by line. ``hostname`` gives the default search list when the file
    has none (Go: os.Hostname()); None leaves it empty. ``ports`` accepts ``ip:port`` and
    ``[ip]:port`` nameservers, which Go skips: a seam for tests only (see read_resolv_conf).
    """
    servers: list[str] = []
    ignored: list[str] = []
    search: list[str] = []
    ndots, timeout_s, attempts = 1, 5.0, 2
    rotate = use_tcp = single_request = False
    for line in text.split("\n"):
        # Only a line that starts with ';' or '#' is a comment; elsewhere they are text.
        if line[:1] in (";", "#"):
            continue
        fields = line.replace("\r", " ").replace("\t", " ").split(" ")
        fields = [f for f in fields if f]
        if not fields:
            continue
        key, args = fields[0], fields[1:]
        if key == "nameserver":
            if not args or len(servers) >= MAX_NAMESERVERS:
                if args:
                    ignored.append(f"{args[0]}: only the first {MAX_NAMESERVERS} nameservers are used")
                continue
            try:
                # netip.ParseAddr: an IPv6 zone (fe80::1%eth0) is kept; Go always uses port 53.
                servers.append(str(ipaddress.ip_address(args[0])))
            except ValueError:
                if ports and _server_with_port(args[0]):
                    servers.append(args[0])
                else:
                    ignored.append(f"{args[0]}: not an IP address")
        elif key == "domain":
            if args:
                search = [_rooted(args[0])]
        elif key == "search":
            search = [_rooted(a) for a in args if _rooted(a) != "."]
        elif key == "options":
            for opt in args:
                if opt.startswith("ndots:"):
                    n = _dtoi(opt[6:]) or 0
                    ndots = min(n, 15)
                elif opt.startswith("timeout:"):
                    timeout_s = float(max(1, _dtoi(opt[8:]) or 0))
                elif opt.startswith("attempts:"):
                    attempts = max(1, _dtoi(opt[9:]) or 0)
                elif opt == "rotate":
                    rotate = True
                elif opt in ("single-request", "single-request-reopen"):
                    single_request = True
                elif opt in ("use-vc", "usevc", "tcp"):
                    use_tcp = True
    if not search:
        search = list(default_search(hostname))
    return ResolvConf(tuple(servers) or DEFAULT_NAMESERVERS, tuple(search), ndots, timeout_s,
                      attempts, rotate, use_tcp, single_request, tuple(ignored))


# Tests point resolv.conf at nameservers on loopback ports other than 53, which Go (and
# glibc) would skip; this variable lets them, and nothing else sets it.
TEST_PORTS_ENV = "KUBEREACH_TEST_RESOLV_PORTS"


def read_resolv_conf(path: str, hostname: str | None = None) -> ResolvConf:
    """The file as Go reads it; a missing or unreadable file is Go's defaults (local
    nameservers, the host name's domain as search list)."""
    if hostname is None:
        hostname = socket.gethostname()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(hosts.MAX_FILE_CHARS)
    except OSError:
        text = ""
    return parse_resolv_conf(text, hostname, ports=os.environ.get(TEST_PORTS_ENV) == "1")


def _avoid_dns(name: str) -> bool:
    # Go never sends .onion names to DNS (RFC 7686).
    return not name or name.removesuffix(".").lower().endswith(".onion")


def is_domain_name(name: str) -> bool:
    """Go's isDomainName: what Go accepts as a name to look up at all (RFC 1035, 3696);
    anything else is "no such host" without a query."""
    if name == ".":
        return True
    if not name or len(name) > 254 or (len(name) == 254 and not name.endswith(".")):
        return False
    last, non_numeric, part = ".", False, 0
    for ch in name:
        if "a" <= ch <= "z" or "A" <= ch <= "Z" or ch == "_":
            non_numeric = True
            part += 1
        elif "0" <= ch <= "9":
            part += 1
        elif ch == "-":
            if last == ".":
                return False
            part += 1
            non_numeric = True
        elif ch == ".":
            if last in (".", "-") or part > 63 or part == 0:
                return False
            part = 0
        else:
            return False
        last = ch
    return last != "-" and part <= 63 and non_numeric


def names_to_try(name: str, search: Sequence[str], ndots: int) -> list[str]:
    """Go's nameList: a rooted name alone; with at least ndots dots the name first, then the
    search suffixes; with fewer, the suffixes first. A candidate over 254 bytes is dropped
    (Go counts bytes of the rooted name); .onion names are never asked."""
    rooted = name.endswith(".")
    size = len(name.encode())
    if size > 254 or (size == 254 and not rooted):
        return []
    if rooted:
        return [] if _avoid_dns(name) else [name]
    has_ndots = name.count(".") >= ndots
    name += "."
    out = [name] if has_ndots and not _avoid_dns(name) else []
    for suffix in search:
        fqdn = name + _rooted(suffix)
        if not _avoid_dns(fqdn) and len(fqdn.encode()) <= 254:
            out.append(fqdn)
    if not has_ndots and not _avoid_dns(name):
        out.append(name)
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
    # Go asks AAAA beside A and waits for both: how long that lane took for the name that
    # answered, and whether every server left it unanswered (a resolver that drops AAAA).
    aaaa_wait_s: float = 0.0
    aaaa_unanswered: bool = False


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


def _query(qname: str, rdtype: int, server: str, port: int, timeout_s: float, tcp: bool = False
           ) -> tuple[dns.message.Message, str]:
    """The answer and the transport that carried it: "udp", or "tcp" after truncation as
    Go retries, or "tcp" alone when resolv.conf says use-vc (Go then never sends UDP)."""
    ends = time.monotonic() + timeout_s
    query = dns.message.make_query(qname, rdtype)
    if not tcp:
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
             per_try: float, tcp: bool = False) -> dict[tuple[str, str, int], tuple[object, float, str]]:
    """Send every query Go might send (each name to each server, A and AAAA) at once and
    wait for all: (qname, server, rdtype) -> (response or exception, seconds, transport).
    Go asks one after another; asking at once costs one timeout however many servers are
    dead, and :func:`resolve` then replays Go's order over the answers."""
    out: dict[tuple[str, str, int], tuple[object, float, str]] = {}
    lock = threading.Lock()

    def ask(qname: str, spec: str, rdtype: int) -> None:
        started = time.monotonic()
        transport = "tcp" if tcp else "udp"
        try:
            server, port = split_server(spec)
            answer, transport = _query(qname, rdtype, server, port, ctx.deadline.cap(per_try), tcp)
        except Exception as exc:  # data for the replay, not a crash
            answer = exc
        with lock:
            out[(qname, spec, rdtype)] = (answer, time.monotonic() - started, transport)

    threads = [threading.Thread(target=ask, args=(q, s, t), daemon=True, name="dns-query")
               for q in qnames for s in servers for t in (dns.rdatatype.A, dns.rdatatype.AAAA)]
    for t in threads:
        t.start()
    for t in threads:
        # Each query is bounded by its own socket timeout; the join bound only guards a bug.
        t.join(ctx.deadline.cap(per_try) + 0.5)
    return out


def resolve(ctx: ProbeContext, name: str, servers: Sequence[str], conf: ResolvConf) -> _Lookup:
    """Resolve A (then AAAA) through ``servers`` in Go's order, from answers gathered at
    once. ``go_wait_s`` is how long Go itself would take: every silent server costs it
    resolv.conf's full timeout, once per attempt, before the next is asked.

    Go's order (tryOneName): for each candidate name, ``attempts`` rounds over the servers,
    each round starting at the same server. With ``rotate`` that start moves by one for
    every query kubectl's process makes; Go asks A and AAAA for a name at once (two
    queries), so in a fresh kubectl the A query for the i-th name starts at server 2i or
    2i+1, whichever goroutine runs first: the replay takes 2i. With use-vc every query is
    TCP only."""
    out = _Lookup()
    per_try = min(conf.timeout_s, ctx.timeout_s)
    qnames = names_to_try(name, conf.search, conf.ndots) if is_domain_name(name) else []
    if not qnames:
        out.failure = Failure("dns.invalid_name",
                              f"{name[:80]!r} is not a name Go's resolver looks up (too long, an invalid "
                              "character or label, all digits, or .onion): kubectl says 'no such host' "
                              "without asking DNS")
        return out
    answers = _ask_all(ctx, qnames, servers, per_try, conf.use_tcp)
    plain = "tcp" if conf.use_tcp else "udp"
    saw_not_found: Failure | None = None
    last: Failure | None = None
    for index, qname in enumerate(qnames):
        out.names_tried.append(qname.rstrip("."))
        answered = False
        start = (2 * index) % len(servers) if conf.rotate and servers else 0
        order = [*servers[start:], *servers[:start]]
        # Go's two lanes for this name, A (replayed below, step by step) and AAAA: it takes
        # the name's addresses only once both have ended, so the slower lane sets the wait.
        aaaa = _aaaa_lane(answers, qname, order, conf, per_try, plain)
        a_wait = 0.0
        for attempt in range(conf.attempts):
            for spec in order:
                response, elapsed, transport = answers.get((qname, spec, dns.rdatatype.A),
                                                           (TimeoutError(), per_try, plain))
                server, port = split_server(spec)
                endpoint = f"{server}:{port}/{plain}"
                if isinstance(response, Exception):
                    failure = _classify_exception(response)
                    more = {"mismatched_answers": response.count} if isinstance(response, WrongIDs) else {}
                    # A server that did not answer would not answer Go's retry either.
                    a_wait += conf.timeout_s if failure.kind in _SILENT else elapsed
                    if attempt == 0:
                        out.attempts.append(Attempt(endpoint, Status.FAILED, elapsed, failure, more))
                    last = failure
                    continue
                assert isinstance(response, dns.message.Message)
                a_wait += elapsed
                endpoint = f"{server}:{port}/{transport}"
                rcode = dns.rcode.to_text(response.rcode())
                if response.rcode() == dns.rcode.NOERROR:
                    found = _extract(response)
                    addresses = found.addresses + ([] if found.loop else aaaa.addresses)
                    if addresses:
                        out.attempts.append(
                            Attempt(endpoint, Status.OK, elapsed, facts={"rcode": rcode})
                        )
                        _found(out, addresses, a_wait, aaaa)
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
        if aaaa.addresses:  # the A lane found nothing, the AAAA lane did: IPv6 only
            out.attempts.append(Attempt(f"{aaaa.server}/{plain}", Status.OK, aaaa.wait_s,
                                        facts={"rcode": "NOERROR", "qtype": "AAAA"}))
            _found(out, aaaa.addresses, a_wait, aaaa)
            out.nameserver, out.rcode = aaaa.server, "NOERROR"
            return out
        out.go_wait_s += max(a_wait, aaaa.wait_s)
    out.failure = saw_not_found or last or Failure("dns.error", "no nameserver to ask")
    return out


@dataclass
class _Lane:
    wait_s: float = 0.0
    addresses: list[str] = field(default_factory=list)
    answered: bool = False  # some server answered the AAAA query at all
    server: str | None = None


def _aaaa_lane(answers: Mapping[tuple[str, str, int], tuple[object, float, str]], qname: str,
               order: Sequence[str], conf: ResolvConf, per_try: float, plain: str) -> _Lane:
    """Go's AAAA lane for one name (tryOneName): the servers in turn, ``attempts`` rounds;
    an answer (NOERROR or NXDOMAIN) ends it, silence costs the full timeout, SERVFAIL and
    REFUSED move on."""
    lane = _Lane()
    for _ in range(conf.attempts):
        for spec in order:
            response, elapsed, _ = answers.get((qname, spec, dns.rdatatype.AAAA), (TimeoutError(), per_try, plain))
            if isinstance(response, Exception):
                lane.wait_s += conf.timeout_s if _classify_exception(response).kind in _SILENT else elapsed
                continue
            assert isinstance(response, dns.message.Message)
            lane.wait_s += elapsed
            lane.answered = True
            if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                server, port = split_server(spec)
                lane.server = f"{server}:{port}"
                if response.rcode() == dns.rcode.NOERROR:
                    lane.addresses = _extract(response).addresses
                return lane
    return lane


def _found(out: _Lookup, addresses: list[str], a_wait: float, aaaa: _Lane) -> None:
    out.addresses = addresses[:MAX_ADDRESSES]
    out.addresses_truncated = max(0, len(addresses) - MAX_ADDRESSES)
    out.go_wait_s += max(a_wait, aaaa.wait_s)
    out.aaaa_wait_s = aaaa.wait_s
    out.aaaa_unanswered = not aaaa.answered


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
        "aaaa_wait_s": round(lookup.aaaa_wait_s, 3),
        "aaaa_unanswered": lookup.aaaa_unanswered,
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
                # A hosts file may list a name any number of times: kept as DNS answers are.
                "addresses": [{"address": a, "class": address_class(a)} for a in from_hosts[:MAX_ADDRESSES]],
                "addresses_truncated": max(0, len(from_hosts) - MAX_ADDRESSES),
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
            "search": [s.rstrip(".") for s in conf.search],
            "ndots": conf.ndots,
            "transport": "tcp" if conf.use_tcp else "udp",
            "rotate": conf.rotate,
            "nameservers_ignored": list(conf.ignored),
        },
    )


def single_view(
    ctx: ProbeContext, name: str, server: str, *, probe: str, label: str | None = None
) -> ProbeResult:
    """dns.nameserver / dns.resolver: ``name`` through one server alone, hosts file ignored."""
    started = time.monotonic()
    conf = read_resolv_conf(ctx.resolv_conf_path)
    # One try per server: a second attempt would only double the wait on a dead resolver.
    solo = replace(conf, nameservers=(server,), attempts=1, rotate=False)
    subject = f"{label}={server}" if label else server
    lookup = resolve(ctx, name, solo.nameservers, solo)
    return _result(probe, subject, lookup, started, {"server": server, "label": label or server})

