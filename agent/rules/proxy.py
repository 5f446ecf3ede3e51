"""The proxy kubectl would use: whether it is there, reachable, and willing to tunnel, an
HTTP proxy's CONNECT or a SOCKS5 proxy's (probes/socks.py); and the proxy settings that
surprise: HTTPS_PROXY ignored for a loopback server, NO_PROXY IP entries that never match
a host name."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import addresses, evidence, works_end_to_end
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import ProbeResult, is_ip_address, is_loopback_host


def _bypass_hint(obs: Observations) -> str:
    direct = [entry["address"] for r in obs.all("dns.system") for entry in r.facts.get("addresses", [])]
    working = [a for a in direct if works_end_to_end(obs, a)]
    if working:
        return (f" Without the proxy, {', '.join(working)} answers as the API server directly: add "
                f"{obs.target.host} to NO_PROXY.")
    return ""


def _socks_port_closed(r: ProbeResult) -> bool:
    return r.facts.get("scheme") in ("socks5", "socks5h") and r.kind == "proxy.unreachable" \
        and r.facts.get("tcp_kind") == "tcp.refused"


def _connect_failure(obs: Observations, kinds: tuple[str, ...]) -> Iterator[Hit]:
    r = obs.one("proxy.connect")
    if r is not None and r.kind in kinds and not _socks_port_closed(r):
        yield Hit(r.subject, f"{r.failure.detail}; kubectl fails with 'proxyconnect' errors.{_bypass_hint(obs)}",
                  (evidence(r),), fix_args={"host": obs.target.host, "proxy": r.subject})


@rule("proxy.in_path", Severity.INFO, "kubectl sends its traffic through a proxy",
      "If the API server is private or reachable directly, exempt it: NO_PROXY={host} (or remove proxy-url "
      "from the kubeconfig).")
def in_path(obs: Observations) -> Iterator[Hit]:
    decision = obs.proxy
    if decision.used:
        yield Hit(str(decision.redacted),
                  f"{decision.reason}; kubectl asks {decision.redacted} for a tunnel "
                  f"to {obs.target.host}:{obs.target.port}, and the proxy resolves the name, not this host.",
                  (Evidence("proxy", obs.target.host, f"from {decision.source}"),),
                  fix_args={"host": obs.target.host})


@rule("proxy.unreachable", Severity.BLOCKER, "The proxy kubectl would use cannot be reached",
      "Correct HTTPS_PROXY / proxy-url ({proxy}), start the proxy, or exempt the API server with NO_PROXY={host}.")
def unreachable(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.unreachable",))


@rule("proxy.refused_connect", Severity.BLOCKER, "The proxy refuses to tunnel to the API server",
      "Allow CONNECT to {host} on the proxy (its port and destination allow-lists), fix the proxy URL's "
      "scheme, or exempt the API server with NO_PROXY={host}.")
def refused_connect(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.refused_connect", "proxy.scheme_mismatch", "proxy.error"))


@rule("proxy.auth_required", Severity.BLOCKER, "The proxy requires authentication",
      "Put credentials the proxy accepts in the proxy URL (http://USER:PASSWORD@proxy:port; kubectl supports "
      "only Basic; socks5://USER:PASSWORD@host:port for a SOCKS5 proxy), or exempt the API server with "
      "NO_PROXY={host}.")
def auth_required(obs: Observations) -> Iterator[Hit]:
    yield from _connect_failure(obs, ("proxy.auth_required",))


@rule("proxy.tunnel_down", Severity.BLOCKER, "Nothing listens on the SOCKS port: the tunnel is not running",
      "Start the SOCKS tunnel before running kubectl: {start}; or point proxy-url at the port it really "
      "listens on.")
def tunnel_down(obs: Observations) -> Iterator[Hit]:
    r = obs.one("proxy.connect")
    if r is None or not _socks_port_closed(r):
        return
    where = str(r.facts.get("proxy_address", ""))
    host, _, port = where.rpartition(":")
    local = is_loopback_host(host)
    start = (f"`ssh -D {port} -N -f USER@JUMPBOX` (a jump box in the cluster's network), or "
             f"whatever opens your SOCKS port {port}" if local else
             f"start the SOCKS service on the bastion {host} (port {port})")
    yield Hit(r.subject,
              f"proxy-url is {r.subject}, and {where} refuses connections: no SOCKS server is "
              f"running there ({'the local end of an `ssh -D` tunnel' if local else 'the bastion'}). "
              f"kubectl reports this as 'The connection to the server {obs.target.host}:{obs.target.port} "
              f"was refused', which reads as if the API server refused; it never got that far.",
              (evidence(r),), fix_args={"start": start})


# What each SOCKS5 reply means for this cluster, and what to do on the SOCKS server.
_SOCKS_MEANING: dict[int, tuple[str, str]] = {
    0x01: ("the SOCKS server failed on its own: often it could not resolve {host} (its DNS does not "
           "see the private zone) or could not open the connection",
           "check that {host} resolves on the SOCKS host (`getent hosts {host}` there) and its logs"),
    0x02: ("the SOCKS server's rules forbid this destination: {host}:{port} is not on its allow list",
           "allow {host}:{port} (or the API server's address) in the SOCKS server's rules "
           "(dante: a `socks pass` rule before the block)"),
    0x03: ("the SOCKS host has no route to the API server's network: it is not in the cluster's "
           "VNet/VPC or a peered one",
           "run the SOCKS server on a host inside or peered with the cluster's network"),
    0x04: ("the SOCKS host cannot reach {host}: the name does not resolve there, or no host answers "
           "at its address",
           "check that {host} resolves on the SOCKS host to the API server's address, and its route"),
    0x05: ("the SOCKS host reached the API server's address and was refused: wrong port, or the "
           "cluster is stopped",
           "check the port in the kubeconfig's server URL and that the cluster is running"),
    0x06: ("the SOCKS host's connection to {host} timed out: a firewall, NSG or the authorized IP "
           "ranges drop the SOCKS host's traffic",
           "allow the SOCKS host's address to the API server (authorized IP ranges, NSG, firewall)"),
    0x07: ("the SOCKS server does not support CONNECT", "use a SOCKS server that supports CONNECT"),
    0x08: ("the SOCKS server does not accept a host name, and kubectl always sends the name "
           "(the proxy must resolve it)",
           "use a SOCKS5 server that resolves names (`ssh -D`, dante, microsocks)"),
}


@rule("proxy.socks_refused", Severity.BLOCKER, "The SOCKS proxy refuses to connect to the API server",
      "On the SOCKS server {proxy}: {remedy}.")
def socks_refused(obs: Observations) -> Iterator[Hit]:
    r = obs.one("proxy.connect")
    if r is None or r.kind != "proxy.socks_refused":
        return
    code = int(r.facts.get("reply_code", 1))
    meaning, remedy = _SOCKS_MEANING.get(code, ("the SOCKS server answered with a code RFC 1928 does "
                                                "not define", "check the SOCKS server's logs"))
    names = {"host": obs.target.host, "port": obs.target.port}
    yield Hit(r.subject,
              f"{r.failure.detail}: {meaning.format(**names)}. kubectl sent the name {obs.target.host} "
              f"and the SOCKS server resolves it; kubectl fails with 'socks connect ... unknown error "
              f"{r.facts.get('reply')}'.",
              (evidence(r),), fix_args={"proxy": r.subject, "remedy": remedy.format(**names)})


@rule("proxy.ignored_for_loopback", Severity.INFO, "HTTPS_PROXY is set, but kubectl ignores it for a loopback server",
      "Nothing to do if the local tunnel is how you reach the cluster; to send kubectl through a proxy "
      "anyway, set proxy-url in the kubeconfig.")
def ignored_for_loopback(obs: Observations) -> Iterator[Hit]:
    d = obs.proxy
    if d.used or d.source not in ("HTTPS_PROXY", "https_proxy") or not is_loopback_host(obs.target.host):
        return
    yield Hit(obs.target.host,
              f"{d.source} is set, but the server is {obs.target.host}: Go never sends a request for "
              f"localhost or a loopback address through a proxy from the environment, so kubectl "
              f"connects to {obs.target.host}:{obs.target.port} directly, and so does this diagnosis.",
              (Evidence("proxy", obs.target.host, d.reason),))


def _cidr_entries(no_proxy: str) -> list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    out = []
    for raw in no_proxy.split(","):
        entry = raw.strip()
        text = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry  # "10.0.0.0/8:443"
        try:
            out.append((entry, ipaddress.ip_network(text.strip("[]"), strict=False)))
        except ValueError:
            continue
    return out


@rule("proxy.no_proxy_cidr_trap", Severity.WARNING,
      "A NO_PROXY IP or CIDR entry covers the API server's address, but kubectl sends the name",
      "NO_PROXY IP and CIDR entries match only a URL whose host is an IP: add a domain entry, "
      "NO_PROXY={entries},{domain} (keep the existing ones).")
def no_proxy_cidr_trap(obs: Observations) -> Iterator[Hit]:
    d = obs.proxy
    if not d.used or d.source not in ("HTTPS_PROXY", "https_proxy") or obs.no_proxy is None \
            or is_ip_address(obs.target.host):
        return
    variable, value = obs.no_proxy
    system = obs.one("dns.system")
    resolved = addresses(system) if system is not None and system.ok else []
    if not resolved:
        resolved = sorted({a for r in obs.results if r.probe.startswith("dns.") and r.ok for a in addresses(r)})
    covered = [(entry, a) for entry, net in _cidr_entries(value) for a in resolved
               if ipaddress.ip_address(a) in net]
    if not covered:
        return
    entry, address = covered[0]
    on_path = [r for r in obs.results if r.facts.get("via") == "proxy" or r.probe == "proxy.connect"]
    tunnel_fails = any(not r.ok for r in on_path if r.status.value != "skipped")
    direct = [a for a in resolved if works_end_to_end(obs, a)]
    blocked = tunnel_fails and bool(direct)
    detail = (f"{obs.target.host} resolves to {address}, inside the {variable} entry {entry!r}, but Go "
              f"compares IP and CIDR entries with the URL's host only, and that is a name: kubectl "
              f"sends it through {d.redacted}.")
    if blocked:
        detail += (f" The tunnel through the proxy fails while {', '.join(direct)} answers as the API "
                   f"server directly: this entry was meant to send kubectl direct, and does not.")
    elif tunnel_fails:
        detail += " The tunnel through the proxy fails."
    parts = obs.target.host.split(".")
    domain = _domain_entry(obs.target.host) or "." + ".".join(parts[1:])
    yield Hit(entry, detail,
              (Evidence("proxy", obs.target.host, d.reason), *(evidence(r) for r in on_path if not r.ok)),
              fix_args={"entries": value, "domain": domain},
              severity=Severity.BLOCKER if blocked else None)


def _domain_entry(host: str) -> str | None:
    """The NO_PROXY domain entry that covers a managed API server's name and nothing
    broader than its private zone: .privatelink.<region>.azmk8s.io, .eks.amazonaws.com..."""
    h = host.lower().rstrip(".")
    labels = h.split(".")
    if "privatelink" in labels:
        return "." + ".".join(labels[labels.index("privatelink"):])
    for zone in ("azmk8s.io", "eks.amazonaws.com", "eks.amazonaws.com.cn"):
        if h.endswith("." + zone):
            if zone == "azmk8s.io" and len(labels) >= 4:
                return "." + ".".join(labels[-4:])  # .hcp.<region>.azmk8s.io
            return "." + zone
    return None


RULES = (in_path, unreachable, refused_connect, auth_required, tunnel_down, socks_refused,
         ignored_for_loopback, no_proxy_cidr_trap)
