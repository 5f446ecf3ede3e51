"""Builders with defaults for hand-made observations: rule tests are tables of these."""

from __future__ import annotations

from agent.observations import Observations
from agent.planner import kubectl_dials
from agent.target import Auth, Target
from probes.base import Attempt, Failure, ProbeResult, Status, address_class
from probes.proxy import ProxyDecision

HOST = "aks-1-dns-1a2b.privatelink.eastus.azmk8s.io"


def target(**kw) -> Target:
    base = dict(server=f"https://{HOST}:443", host=HOST, port=443, ca_pem=b"x", ca_source="certificate-authority-data",
                auth=Auth("token"), context="prod", cluster="aks-1")
    base.update(kw)
    return Target(**base)


def _addr(a: str) -> dict:
    return {"address": a, "class": address_class(a)}


def dns(probe: str = "dns.system", subject: str = HOST, addrs: list[str] | None = None, kind: str | None = None,
        source: str = "dns", server: str = "10.0.0.10") -> ProbeResult:
    facts = {"addresses": [_addr(a) for a in addrs or []], "source": source, "nameserver": f"{server}:53",
             "names_tried": [HOST], "cname_chain": [], "server": server, "hosts_file": "/etc/hosts"}
    if kind:
        attempt = Attempt(f"{server}:53/udp", Status.FAILED, 0.01, Failure(kind, f"{server} said {kind}"))
        return ProbeResult(probe, subject, Status.FAILED, 0.01, facts=facts, attempts=(attempt,),
                           failure=Failure(kind, f"{server} answered {kind} for {HOST}"))
    return ProbeResult(probe, subject, Status.OK, 0.01, facts=facts)


def step(probe: str, address: str, kind: str | None = None, kubectl_path: bool = True, via: str = "direct",
         **facts) -> ProbeResult:
    subject = f"{address}:443" if via == "direct" else f"{HOST}:443 via proxy"
    f = {"address": address, "port": 443, "kubectl_path": kubectl_path, "via": via, "source_ip": "10.2.0.4",
         **facts}
    if kind:
        return ProbeResult(probe, subject, Status.FAILED, 0.5, facts=f, failure=Failure(kind, f"{subject}: {kind}"))
    return ProbeResult(probe, subject, Status.OK, 0.01, facts=f)


def working(address: str, kubectl_path: bool = True) -> list[ProbeResult]:
    return [step("tcp", address, kubectl_path=kubectl_path),
            step("tls", address, kubectl_path=kubectl_path, issuer="CN=ca"),
            step("http", address, kubectl_path=kubectl_path, paths={"/version": {"status": 401}})]


def proxy_decision(used: bool) -> ProxyDecision:
    if used:
        return ProxyDecision(True, "http://proxy.corp:3128", "HTTPS_PROXY", "test")
    return ProxyDecision(False, None, "none", "test")


def obs(*results: ProbeResult, proxy: bool = False, problems: tuple[str, ...] = (), cloud=None,
        **target_kw) -> Observations:
    base = [ProbeResult("auth", "token", Status.OK, 0.0)]
    decision = proxy_decision(proxy)
    all_results = tuple(base + list(results))
    return Observations(target=target(**target_kw), results=all_results, proxy=decision,
                        kubeconfig_problems=problems, cloud=cloud, dials=kubectl_dials(all_results, decision))
