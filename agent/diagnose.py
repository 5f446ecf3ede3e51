"""Plans and runs the probes for one target, the way kubectl would connect, then judges.

The plan: kubeconfig and auth checks, the proxy decision and the vantage point at once;
every DNS view concurrently; each address any view returns is probed as soon as it is
known (route, TCP, then TLS, then HTTP), so a dead resolver delays only its own view.
When kubectl would use a proxy, the tunnel through it is probed as well.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.deadline import Deadline
from agent.observations import Observations
from agent.packet_plan import PacketGate, PacketTask
from agent.report import Report, build_report
from agent.runner import Runner
from agent.target import Target
from probes import auth, dns, proxy, route, tcp, tls, vantage
from probes import http as http_probe
from probes.base import (
    Failure,
    ProbeContext,
    ProbeResult,
    Status,
    endpoint,
    endpoint_address,
    is_ip_address,
)


@dataclass(frozen=True)
class Resolver:
    label: str
    server: str  # "IP" or "IP:PORT"


@dataclass(frozen=True)
class Options:
    timeout_s: float = 5.0
    resolvers: tuple[Resolver, ...] = ()
    hosts_path: str = "/etc/hosts"
    resolv_conf_path: str = "/etc/resolv.conf"


def overall_budget(timeout_s: float) -> float:
    """DNS, then TCP, TLS and HTTP each get up to one timeout, but a blackholed path stalls
    once, not at every step; this caps the rare case where several steps each stall."""
    return timeout_s * 2.5 + 0.5


class _Plan:
    def __init__(self, target: Target, ctx: ProbeContext, runner: Runner) -> None:
        self.target = target
        self.ctx = ctx
        self.runner = runner
        self.lock = threading.Lock()
        self.addresses: dict[str, int] = {}  # address -> order in which it was first seen
        self.packet_gates: dict[str, PacketGate] = {}

    def on_view(self, result: ProbeResult) -> None:
        for entry in result.facts.get("addresses", []):
            self.schedule_address(entry["address"])

    def schedule_address(self, address: str) -> None:
        with self.lock:
            if address in self.addresses:
                return
            self.addresses[address] = index = len(self.addresses)
        port = self.target.port
        subject = endpoint(address, port)
        base = (5, index)
        gate = self.packet_gates[address] = self._packet_gate(base, address, port)
        self.runner.add((*base, 0), route.probe(self.ctx, address))
        self.runner.submit((*base, 1), "tcp", subject,
                           lambda: tcp.probe(self.ctx, address, port, kubectl_path=False),
                           then=lambda r: self._after_tcp(base, address, r))
        gate.start()

    def _packet_gate(self, base: tuple, address: str, port: int) -> PacketGate:
        """Packet evidence (agent/packet_plan.py): SYN + traceroute when TCP is slow or
        fails, path MTU when TLS stalls; SKIPPED at once without CAP_NET_RAW."""
        slots = {"packet.syn": 0, "packet.trace": 1, "packet.pmtu": 2}

        # Packet evidence shares the TCP probe's window: started while TCP still waits, it
        # must end when TCP gives up, so a dropped SYN costs one timeout, not more.
        window = dataclasses.replace(self.ctx, deadline=self.ctx.deadline.child(self.ctx.timeout_s))

        def submit(task: PacketTask) -> None:
            ctx = window
            if task.probe == "packet.pmtu":  # after a stalled handshake: a window of its own
                ctx = dataclasses.replace(self.ctx, deadline=self.ctx.deadline.child(self.ctx.timeout_s))
            self.runner.submit((*base, 4, slots[task.probe]), task.probe, task.subject,
                               lambda: task.run(ctx))

        return PacketGate(self.ctx, address, port, submit)

    def _after_tcp(self, base: tuple, address: str, result: ProbeResult) -> None:
        self.packet_gates[address].tcp_done(result)
        if not result.ok:
            return
        port = self.target.port
        subject = endpoint(address, port)
        self.runner.submit((*base, 2), "tls", subject,
                           lambda: tls.handshake(self.ctx, subject,
                                                 lambda: tcp.dial(address, port, self.ctx.deadline.cap(self.ctx.timeout_s)),
                                                 sni=self.target.sni, ca_pem=self.target.ca_pem,
                                                 insecure=self.target.insecure_skip_tls_verify),
                           then=lambda r: self._after_tls(base, subject, address, r, tcp_result=result))

    def _after_tls(self, base: tuple, subject: str, address: str, result: ProbeResult,
                   tcp_result: ProbeResult | None = None) -> None:
        if tcp_result is not None:
            self.packet_gates[address].tls_done(tcp_result, result)
        if not result.ok:
            return
        self.runner.submit((*base, 3), "http", subject,
                           lambda: http_probe.probe(self.ctx, subject, url_host=address, port=self.target.port,
                                                    host_header=self._host_header(), sni=self.target.sni,
                                                    verify=self._verify()))

    def _host_header(self) -> str:
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        return host if self.target.port == 443 else f"{host}:{self.target.port}"

    def _verify(self) -> Any:
        return False if self.target.insecure_skip_tls_verify else tls.verifying_context(self.target.ca_pem)

    def via_proxy(self, decision: proxy.ProxyDecision) -> None:
        host, port = self.target.host, self.target.port
        subject = f"{host}:{port} via proxy"

        def connect() -> ProbeResult:
            result, sock = proxy.connect(self.ctx, decision, host, port)
            if sock is not None:
                sock.close()
            return result

        def tunnel():  # a fresh tunnel per call: the TLS probe may need two handshakes
            result, sock = proxy.connect(self.ctx, decision, host, port)
            if sock is None:
                raise OSError(result.failure.detail if result.failure else "the proxy refused the tunnel")
            return sock

        def after_connect(result: ProbeResult) -> None:
            if not result.ok:
                return
            self.runner.submit((4, 1), "tls", subject,
                               lambda: tls.handshake(self.ctx, subject, tunnel, sni=self.target.sni,
                                                     ca_pem=self.target.ca_pem,
                                                     insecure=self.target.insecure_skip_tls_verify,
                                                     via="proxy"),
                               then=after_tls)

        def after_tls(result: ProbeResult) -> None:
            if not result.ok:
                return
            self.runner.submit((4, 2), "http", subject,
                               lambda: http_probe.probe(self.ctx, subject, url_host=host, port=port,
                                                        host_header=self._host_header(), sni=self.target.sni,
                                                        verify=self._verify(), proxy=decision.url, via="proxy"))

        self.runner.submit((4, 0), "proxy.connect", decision.redacted or "", connect, then=after_connect)


def _kubeconfig_result(target: Target, problems: Sequence[str]) -> ProbeResult:
    facts = target.public_view()
    if problems:
        return ProbeResult("kubeconfig", target.context or target.server, Status.FAILED, 0.0, facts=facts,
                           failure=Failure("kubeconfig.invalid", "; ".join(problems)))
    return ProbeResult("kubeconfig", target.context or target.server, Status.OK, 0.0, facts=facts)


def _mark_paths(results: list[ProbeResult], target: Target, proxied: bool) -> list[ProbeResult]:
    """Tag each address probe with the views that returned it and whether kubectl would
    dial it (the system view's addresses, when no proxy resolves the name instead)."""
    views: dict[str, list[str]] = {}
    kubectl_addresses: list[str] = []
    for r in results:
        if r.probe.startswith("dns."):
            for entry in r.facts.get("addresses", []):
                views.setdefault(entry["address"], []).append(
                    r.probe if r.probe == "dns.system" else f"{r.probe}:{r.subject}")
                if r.probe == "dns.system" and not proxied:
                    kubectl_addresses.append(entry["address"])
    out = []
    for r in results:
        if r.probe in ("tcp", "tls", "http") and "via proxy" not in r.subject:
            address = endpoint_address(r.subject)
            facts = {**r.facts, "address": address, "views": views.get(address, []),
                     "kubectl_path": address in kubectl_addresses}
            r = dataclasses.replace(r, facts=facts)
        out.append(r)
    return out


def diagnose(target: Target, problems: Sequence[str], options: Options, *,
             env: Mapping[str, str], context: Mapping[str, Any] | None = None,
             log: Callable[[str], None] | None = None) -> Report:
    started = time.monotonic()
    deadline = Deadline(overall_budget(options.timeout_s))
    ctx = ProbeContext(deadline=deadline, timeout_s=options.timeout_s, env=dict(env),
                       hosts_path=options.hosts_path, resolv_conf_path=options.resolv_conf_path, log=log)
    runner = Runner(deadline, log)
    plan = _Plan(target, ctx, runner)

    runner.add((0, 0), vantage.probe(ctx))
    runner.add((1, 0), _kubeconfig_result(target, problems))
    runner.add((1, 1), auth.probe(ctx, target.auth.method, target.auth.exec_command, target.auth.provider))
    decision = proxy.decide(target.proxy_url, env, target.host, target.port, target.scheme)
    runner.add((2, 0), ProbeResult("proxy", target.host, Status.OK, 0.0, facts={
        "used": decision.used, "proxy_url": decision.redacted, "source": decision.source,
        "reason": decision.reason}))

    runner.submit((3, 0), "dns.system", target.host, lambda: dns.system_view(ctx, target.host),
                  then=plan.on_view)
    conf = dns.read_resolv_conf(options.resolv_conf_path)
    if not is_ip_address(target.host):
        for i, server in enumerate(conf.nameservers):
            runner.submit((3, 1, i), "dns.nameserver", server,
                          lambda s=server: dns.single_view(ctx, target.host, s, probe="dns.nameserver"),
                          then=plan.on_view)
        for i, res in enumerate(options.resolvers):
            runner.submit((3, 2, i), "dns.resolver", f"{res.label}={res.server}",
                          lambda r=res: dns.single_view(ctx, target.host, r.server, probe="dns.resolver",
                                                        label=r.label),
                          then=plan.on_view)
    if decision.used:
        plan.via_proxy(decision)

    runner.wait()
    results = _mark_paths(runner.results(), target, decision.used)
    obs = Observations(target=target, results=tuple(results), context=dict(context or {}))
    return build_report(obs, elapsed_s=time.monotonic() - started, timeout_s=options.timeout_s,
                        deadline_s=deadline.seconds)
