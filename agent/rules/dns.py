"""Name resolution: the system view kubectl uses, compared with every other view."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import (
    addresses,
    attempt_evidence,
    dns_views,
    evidence,
    view_name,
    works_end_to_end,
)
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import ProbeResult, Status, is_loopback_host


def _what_if(obs: Observations) -> tuple[str, list[Evidence]]:
    """What the other views found, and whether those addresses work end to end."""
    found = [(v, addresses(v)) for v in dns_views(obs) if v.ok]
    if not found:
        return " No other resolver asked knows the name either.", []
    parts, ev = [], []
    for view, addrs in found:
        working = [a for a in addrs if works_end_to_end(obs, a)]
        verdict = (f"{', '.join(working)} answers TLS with the cluster's certificate and a Kubernetes API, "
                   "so DNS is the only problem" if working else "but that address does not work from here either, "
                   "so fixing DNS alone would not be enough")
        parts.append(f" {view_name(view)} resolves it to {', '.join(addrs)}: {verdict}.")
        ev.append(evidence(view, f"resolves to {', '.join(addrs)}"))
    return "".join(parts), ev


def _zone_of(host: str) -> dict[str, str]:
    return {"zone": host.split(".", 1)[1] if "." in host else host}


PRIVATE_ZONE_FIX = ("If the name is in a private DNS zone ({zone}), resolve it where that zone is visible: link "
                    "this network to the zone, or point resolv.conf (or the VNet's DNS servers) at a resolver "
                    "that forwards the zone to Azure DNS (168.63.129.16) from a linked VNet; for a one-off test, "
                    "add the address to /etc/hosts.")


@rule("dns.nxdomain", Severity.BLOCKER, "The API server name does not exist for this resolver",
      "Check the server name in the kubeconfig (a deleted, stopped or renamed cluster loses its name); re-fetch "
      "credentials with `az aks get-credentials` or `aws eks update-kubeconfig`. " + PRIVATE_ZONE_FIX)
def nxdomain(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    r = obs.one("dns.system")
    if r is None or r.kind != "dns.nxdomain":
        return
    tried = r.facts.get("names_tried", [])
    also = f" (names tried: {', '.join(tried)})" if tried != [obs.target.host] else ""
    more, ev = _what_if(obs)
    yield Hit(obs.target.host,
              f"{r.facts.get('nameserver')} says NXDOMAIN for the API server name{also}; kubectl "
              f"fails with 'no such host'.{more}",
              (evidence(r), *attempt_evidence(r), *ev), fix_args=_zone_of(obs.target.host))


@rule("dns.no_answer", Severity.BLOCKER, "The name exists but has no address",
      "Add the A record for the API server to the zone this resolver serves, or use a resolver that has it. "
      + PRIVATE_ZONE_FIX)
def no_answer(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    r = obs.one("dns.system")
    if r is None or r.kind != "dns.no_answer":
        return
    more, ev = _what_if(obs)
    yield Hit(obs.target.host, f"{r.failure.detail}: the zone is there but holds no A record for the API "
              f"server.{more}", (evidence(r), *ev), fix_args=_zone_of(obs.target.host))


@rule("dns.cname_loop", Severity.BLOCKER, "The API server name is a CNAME loop",
      "Break the loop in the zones of the names shown: the last CNAME must point at a name that has an A "
      "record (for a private cluster, the A record in its privatelink zone), not back into the chain.")
def cname_loop(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    r = obs.one("dns.system")
    if r is None or r.kind != "dns.cname_loop":
        return
    more, ev = _what_if(obs)
    yield Hit(obs.target.host, f"{r.failure.detail}; kubectl finds no address at the end of the chain and fails "
              f"with 'no such host'.{more}", (evidence(r), *attempt_evidence(r), *ev))


@rule("dns.invalid_name", Severity.BLOCKER, "Go refuses the API server name without asking DNS",
      "Correct the server name in the kubeconfig: Go looks up only valid DNS names (labels of letters, digits, "
      "'-' and '_' up to 63 bytes, 253 bytes in all, not all digits, not .onion); re-fetch credentials with "
      "`az aks get-credentials` or `aws eks update-kubeconfig`.")
def invalid_name(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    r = obs.one("dns.system")
    if r is None or r.kind != "dns.invalid_name":
        return
    yield Hit(obs.target.host, r.failure.detail, (evidence(r),))


@rule("dns.id_mismatch", Severity.WARNING, "A resolver answers with the wrong query ID",
      "Something between this host and {server} rewrites DNS answers: a broken NAT (UDP port or ID "
      "translation), DNS proxy or security appliance. Fix or bypass it, or use another resolver.")
def id_mismatch(obs: Observations) -> Iterator[Hit]:
    """Go drops answers whose ID or question does not match its query and keeps waiting,
    so such a resolver looks dead to kubectl although it answers."""
    system = obs.one("dns.system")
    system_failed = system is not None and system.kind == "dns.id_mismatch" and not obs.proxy_used()
    named = False
    for view in dns_views(obs):
        if view.kind == "dns.id_mismatch":
            named = True
            yield Hit(view.subject, f"{view_name(view)} answers, but never with the query's ID: "
                      f"{view.failure.detail}.", (evidence(view), *attempt_evidence(view)),
                      fix_args={"server": view.facts.get("server", view.subject)},
                      severity=Severity.BLOCKER if system_failed else None)
    if system_failed and not named:
        bad = [a.endpoint for a in system.attempts if a.failure and a.failure.kind == "dns.id_mismatch"]
        yield Hit(obs.target.host, f"{', '.join(bad) or 'The resolver'} answered only with the wrong query ID: "
                  f"{system.failure.detail}.", (evidence(system), *attempt_evidence(system)),
                  fix_args={"server": ", ".join(bad) or "the resolver"}, severity=Severity.BLOCKER)


@rule("dns.server_failure", Severity.BLOCKER, "The resolver failed instead of answering",
      "The resolver answers SERVFAIL or REFUSED: check its forwarders (a conditional forwarder for the zone "
      "pointing at a server that cannot reach Azure DNS fails like this) or use another resolver.")
def server_failure(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    r = obs.one("dns.system")
    if r is None or r.kind not in ("dns.servfail", "dns.refused"):
        return
    more, ev = _what_if(obs)
    yield Hit(obs.target.host, f"{r.failure.detail}; kubectl fails with 'server misbehaving'.{more}",
              (evidence(r), *attempt_evidence(r), *ev))


@rule("dns.resolver_unreachable", Severity.WARNING, "A resolver does not answer",
      "Check that the resolver at {server} is running and reachable on port 53 (UDP and TCP) from here, or "
      "remove it from resolv.conf / the VNet's DNS servers.")
def resolver_unreachable(obs: Observations) -> Iterator[Hit]:
    system = obs.one("dns.system")
    system_timed_out = system is not None and system.kind == "dns.timeout" and not obs.proxy_used()
    # Go asks the nameservers in turn: a silent one costs every lookup its full timeout.
    wait_s = system.facts.get("go_wait_s") if system is not None and system.ok else None
    slow = f" Asking the nameservers in turn, kubectl waits {wait_s:g} s for silent ones before one answers, on every lookup." \
        if isinstance(wait_s, (int, float)) and wait_s >= 1 else ""
    # That wait counts against --request-timeout: past it, kubectl connects too late.
    blocks = bool(slow) and obs.too_slow()
    if blocks:
        slow += (f" With --request-timeout {obs.request_timeout_s:g} s, kubectl needs {obs.connect_s():.1f} s "
                 "to connect and its request fails.")
    for view in dns_views(obs):
        if view.kind == "dns.timeout":
            server = view.facts.get("server", view.subject)
            yield Hit(view.subject, f"{view_name(view)} did not answer: {view.failure.detail}.{slow}",
                      (evidence(view),), fix_args={"server": server},
                      severity=Severity.BLOCKER if system_timed_out or blocks else None)
    if system_timed_out and not dns_views(obs):
        yield Hit(obs.target.host, f"No resolver answered: {system.failure.detail}.",
                  (evidence(system), *attempt_evidence(system)), fix_args={"server": "each nameserver"},
                  severity=Severity.BLOCKER)


@rule("dns.aaaa_unanswered", Severity.WARNING, "The resolver never answers kubectl's AAAA queries",
      "Make {server} answer AAAA queries (an empty NOERROR answer is enough); whatever drops them (a "
      "firewall, a DNS proxy) costs every Go program the resolver's full timeout on each lookup. "
      "Meanwhile `options timeout:1` in resolv.conf shortens the wait.")
def aaaa_unanswered(obs: Observations) -> Iterator[Hit]:
    """Go sends AAAA beside A and takes the addresses only when both are answered: a resolver
    that drops AAAA delays every lookup by timeout x attempts though A came back at once."""
    system = obs.one("dns.system")
    if system is None or not system.ok or obs.proxy_used() or not system.facts.get("aaaa_unanswered"):
        return
    wait = system.facts.get("aaaa_wait_s") or 0.0
    server = str(system.facts.get("nameserver") or "the resolver")
    detail = (f"{server} answers A for {obs.target.host} but no server answers the AAAA query kubectl "
              f"sends beside it: Go waits for both, so every lookup takes {wait:g} s.")
    blocks = obs.too_slow()
    if blocks:
        detail += (f" With --request-timeout {obs.request_timeout_s:g} s, kubectl needs {obs.connect_s():.1f} s "
                   "to connect and its request fails.")
    yield Hit(obs.target.host, detail, (evidence(system, f"AAAA unanswered for {wait:g} s"),),
              fix_args={"server": server.rsplit(":", 1)[0]}, severity=Severity.BLOCKER if blocks else None)


@rule("dns.hosts_override", Severity.WARNING, "/etc/hosts overrides DNS for the API server",
      "Remove or correct the {host} line in {hosts_file}: private endpoint addresses change when a cluster "
      "is recreated or stopped and started.")
def hosts_override(obs: Observations) -> Iterator[Hit]:
    system = obs.one("dns.system")
    if system is None or system.facts.get("source") != "hosts" or obs.proxy_used():
        return
    if is_loopback_host(obs.target.host):
        return  # localhost's own line: nothing to go stale
    pinned = addresses(system)
    dns_addrs = sorted({a for v in dns_views(obs) if v.ok for a in addresses(v)})
    if dns_addrs and set(dns_addrs) == set(pinned):
        return
    pinned_work = any(works_end_to_end(obs, a) for a in pinned)
    dns_work = [a for a in dns_addrs if works_end_to_end(obs, a)]
    detail = (f"{system.facts.get('hosts_file')} pins {obs.target.host} to {', '.join(pinned)}, so kubectl never "
              "asks DNS")
    if dns_addrs:
        detail += f"; DNS says {', '.join(dns_addrs)}"
    detail += "."
    severity = None
    if not pinned_work:
        detail += " The pinned address does not work from here"
        if dns_work:
            detail += f", while {', '.join(dns_work)} from DNS does: the hosts entry is stale"
            severity = Severity.BLOCKER
        detail += "."
    yield Hit(obs.target.host, detail, (evidence(system, f"hosts file gives {', '.join(pinned)}"),),
              fix_args={"host": obs.target.host, "hosts_file": system.facts.get("hosts_file")},
              severity=severity)


def _answer(view: ProbeResult) -> str:
    if view.ok:
        return ", ".join(sorted(addresses(view)))
    return view.failure.kind.split(".", 1)[1].upper() if view.failure else view.status.value


@rule("dns.split_horizon", Severity.WARNING, "Resolvers disagree about the API server name",
      "Make the resolver kubectl uses ({system}) give the private answer: that is the one that works from here "
      "if any does; see the other findings.")
def split_horizon(obs: Observations) -> Iterator[Hit]:
    views = [v for v in dns_views(obs) if v.status in (Status.OK, Status.FAILED) and v.kind != "dns.timeout"]
    system = obs.one("dns.system")
    if system is not None and system.facts.get("source") == "dns" and system.kind != "dns.timeout":
        views = [system, *views]
    answers = {view_name(v): _answer(v) for v in views}
    if len(set(answers.values())) < 2:
        return
    shown = "; ".join(f"{name}: {answer}" for name, answer in answers.items())
    classes = {a["class"] for v in views if v.ok for a in v.facts.get("addresses", [])}
    extra = " One view gives a public address and another a private one." if {"public", "private"} <= classes else ""
    yield Hit(obs.target.host, f"Different resolvers give different answers for the API server name: {shown}.{extra}",
              tuple(evidence(v, _answer(v)) for v in views),
              fix_args={"system": "the system resolver"})


RULES = (nxdomain, no_answer, cname_loop, invalid_name, id_mismatch, server_failure, resolver_unreachable,
         aaaa_unanswered, hosts_override, split_horizon)
