"""TCP to the addresses kubectl dials: dropped, refused, no route, or a shadowing route."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence, on_path, path_connects
from agent.rules.model import Hit, Severity, rule
from probes.base import ProbeResult, is_loopback_host


def _tcp_hits(obs: Observations, kinds: tuple[str, ...], sentence: str) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    connects = path_connects(obs)
    for r in on_path(obs, "tcp"):
        if r.kind in kinds:
            source = r.facts.get("source_ip")
            yield Hit(r.subject,
                      f"{r.failure.detail} (from {source or 'an unknown source address'}, "
                      f"{r.duration_s:.1f} s). {sentence}",
                      (evidence(r),),
                      fix_args={"address": r.facts.get("address"), "port": r.facts.get("port"),
                                "source": source or "this host"},
                      severity=Severity.WARNING if connects else None)


@rule("net.filtered", Severity.BLOCKER, "Connections to the API server are silently dropped",
      "Something between {source} and {address}:{port} drops the SYN: check the authorized IP ranges of a "
      "public endpoint (add this host's egress IP), NSGs / security groups and firewalls on the path, and "
      "that a route exists back to {source}.")
def filtered(obs: Observations) -> Iterator[Hit]:
    yield from _tcp_hits(obs, ("tcp.timeout",),
                         "kubectl waits and fails with 'i/o timeout'. Dropped packets usually mean a firewall, "
                         "an authorized-IP-range list, or a missing return route.")


@rule("net.refused", Severity.BLOCKER, "The API server address refuses connections",
      "Nothing accepts connections on {address}:{port}: check the port in the kubeconfig, that the cluster is "
      "running, and any firewall that rejects with TCP reset.")
def refused(obs: Observations) -> Iterator[Hit]:
    yield from _tcp_hits(obs, ("tcp.refused",),
                         "kubectl fails with 'connection refused': the host answered, but no service listens "
                         "there or a firewall resets the connection.")


@rule("net.no_route", Severity.BLOCKER, "There is no network path to the API server",
      "Give {source} a route to {address}: same VNet/VPC, a peering that is connected in both directions, "
      "or a VPN/ExpressRoute that carries the range; or run kubectl from inside that network (a jumpbox, a "
      "self-hosted runner, `az aks command invoke`).")
def no_route(obs: Observations) -> Iterator[Hit]:
    yield from _tcp_hits(obs, ("tcp.no_route", "tcp.net_unreachable"),
                         "kubectl fails with 'no route to host' or 'network is unreachable'.")


@rule("net.local_route_shadowed", Severity.BLOCKER, "A local container bridge captures the API server's address",
      "The route to {address} goes into {interface} ({prefix}), a container bridge whose range overlaps the "
      "cluster network. Move the bridge to another range (docker's `bip` / `default-address-pools` in "
      "/etc/docker/daemon.json, or remove the unused network).")
def local_route_shadowed(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    kubectl = set(obs.kubectl_addresses())
    for r in obs.all("route"):
        if r.subject in kubectl and r.facts.get("shadowed"):
            tcp = _tcp_for(obs, r.subject)
            works = tcp is not None and tcp.ok
            yield Hit(r.subject,
                      f"The kernel routes {r.subject} to local interface {r.facts['interface']} "
                      f"({r.facts['prefix']}), not towards the network the cluster is in.",
                      (evidence(r, f"route {r.facts['prefix']} dev {r.facts['interface']}"),),
                      fix_args={"address": r.subject, **r.facts},
                      severity=Severity.WARNING if works else None)


@rule("net.slow_dial", Severity.WARNING, "kubectl connects only after waiting on a silent address",
      "Make every address of {host} answer, or remove {address} from what {host} resolves to (DNS records, "
      "hosts file); until then kubectl needs {need_s} s to connect, so run it without --request-timeout or with "
      "one above that.")
def slow_dial(obs: Observations) -> Iterator[Hit]:
    if obs.proxy_used():
        return
    replay = obs.dial
    if replay.connected is None or not replay.waits_on:
        return
    waits = replay.waits_on
    order = ", ".join(leg.address for leg in replay.legs)
    waited = "; ".join(f"{leg.address} is silent and costs its share, {leg.cost_s:g} s" for leg in waits)
    need = obs.connect_s()
    detail = (f"{obs.target.host} resolves to {order}; kubectl (Go) dials them one after another with a "
              f"share of its 30 s dial timeout each: {waited}; it reaches {replay.connected} only after "
              f"{need:.1f} s.")
    if obs.too_slow():
        detail += (f" With --request-timeout {obs.request_timeout_s:g} s every request fails; without it "
                   f"kubectl works, slowly, and tools with short timeouts (helm, terraform) fail.")
    elif obs.request_timeout_s is None:
        detail += " kubectl without --request-timeout works, slowly; tools with short timeouts fail."
    tcp = [r for r in on_path(obs, "tcp") if r.facts.get("address") in {leg.address for leg in waits}]
    yield Hit(waits[0].address, detail, tuple(evidence(r) for r in tcp),
              fix_args={"host": obs.target.host, "address": waits[0].address, "need_s": f"{need:.0f}"},
              severity=Severity.BLOCKER if obs.too_slow() else None)


def _tcp_for(obs: Observations, address: str) -> ProbeResult | None:
    return next((t for t in obs.all("tcp") if t.facts.get("address") == address), None)


def local_tunnel_name(obs: Observations) -> str | None:
    """The real API server name when the kubeconfig has a local tunnel's shape (`az aks
    bastion`, `az network bastion tunnel`, `ssh -L`, a port-forward): the server is
    127.0.0.1 / ::1 / localhost and tls-server-name names the real, non-local server."""
    name = obs.target.tls_server_name or ""
    if not is_loopback_host(obs.target.host) or not name or is_loopback_host(name):
        return None
    return obs.target.tls_server_name


@rule("net.tunnel_down", Severity.BLOCKER, "The local tunnel to the API server is not running",
      "Start the tunnel that listens on {address}:{port}, and keep it running while kubectl works: "
      "`az aks bastion -g RG -n CLUSTER --bastion BASTION_ID` (it opens the tunnel and sets KUBECONFIG "
      "for its shell), `az network bastion tunnel ... --port {port} --resource-port 443`, or "
      "`ssh -N -L {port}:{name}:443 USER@JUMPBOX`.")
def tunnel_down(obs: Observations) -> Iterator[Hit]:
    name = local_tunnel_name(obs)
    if name is None or obs.proxy_used():
        return
    tcp = on_path(obs, "tcp")
    if any(r.ok for r in tcp):
        return  # it listens on another local address (127.0.0.1, not ::1): kubectl's dial gets there
    for r in tcp:
        if r.kind == "tcp.refused":
            yield Hit(r.subject,
                      f"The kubeconfig's server is {obs.target.server} with tls-server-name {name}: a local "
                      f"tunnel's end (bastion, `ssh -L`, port-forward) stands for {name}, and nothing listens "
                      f"on {r.subject}. kubectl says 'connection refused'; the API server was never asked.",
                      (evidence(r),),
                      fix_args={"address": r.facts.get("address"), "port": r.facts.get("port"), "name": name})


@rule("net.local_tunnel", Severity.INFO, "kubectl reaches the API server through a local tunnel",
      "If it fails, check the tunnel's far side (the bastion or jump box) reaches {name}:443.")
def local_tunnel(obs: Observations) -> Iterator[Hit]:
    name = local_tunnel_name(obs)
    if name is None or obs.proxy_used():
        return
    tcp = [r for r in on_path(obs, "tcp") if r.ok]
    tls = [r for r in on_path(obs, "tls") if r.facts.get("address") in {t.facts.get("address") for t in tcp}]
    if not tcp:
        return
    checked = (f"; the certificate behind it is checked against {name}, as kubectl does: "
               f"{'verified' if tls and tls[0].ok else 'see the TLS finding'}" if tls else "")
    yield Hit(tcp[0].subject,
              f"The server is {obs.target.server} and tls-server-name is {name}: a tunnel listens on "
              f"{tcp[0].subject} and carries kubectl to {name}{checked}.",
              (evidence(tcp[0]),), fix_args={"name": name})


RULES = (filtered, refused, no_route, slow_dial, local_route_shadowed, tunnel_down, local_tunnel)

# The tunnel that is not running is why the loopback address refuses (agent/rules/engine.py).
EXPLAINS: dict[str, tuple[str, ...]] = {tunnel_down.code: ("net.refused",)}
