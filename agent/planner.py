"""One diagnosis, start to end: read the inputs, run every probe under one deadline, hand
typed observations to the judge, return the report.

    kubeconfig + cloud files  ->  Target, CloudInputs   (errors here are exit 2)
    proxy decision            ->  made once, here
    probes, concurrently      ->  agent/runner.py, one Deadline for all of them
    Observations              ->  agent/judge.py (rules + verdict)  ->  agent/report.py

Probes start as soon as what they need is known: every DNS view at once; each address any
view returns gets route, TCP, then TLS, then HTTP; packet evidence starts while TCP or TLS
is still waiting; the tunnel through a proxy when kubectl would use one; cloud discovery
beside all of it. Results come back in plan order, never completion order:

    order                               probes
    (VANTAGE,)                          vantage
    (AUTH,)                             auth
    (AUTH, 1), (AUTH, 2)                auth.exec, auth.review (--check-auth: the plugin run,
                                        then one request on the first path, direct or
                                        through the proxy, whose TLS verified against
                                        the kubeconfig's CA)
    (CLOUD, n)                          cloud.imds, cloud.arm, egress
    (DNS, SYSTEM | NAMESERVER | RESOLVER, i)   dns.system, dns.nameserver, dns.resolver
    (PROXY, Step)                       proxy.connect, tls, http through the proxy
    (ADDRESS, i, Step[, slot])          route, tcp, tls, http, packet.* per address
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from agent import redact
from agent.deadline import Deadline
from agent.judge import judge
from agent.observations import Observations, no_proxy_from
from agent.packet_plan import PacketGate, PacketTask, packet_addresses
from agent.report import Report, build_report
from agent.runner import Runner
from agent.target import Target
from probes import auth, credentials, dns, proxy, route, socks, tcp, tls, vantage
from probes import http as http_probe
from probes.base import (
    ProbeContext,
    ProbeResult,
    Status,
    endpoint,
    endpoint_address,
    is_ip_address,
    is_loopback_host,
)
from probes.ci import detect_ci


class Stage(IntEnum):
    VANTAGE = 0
    AUTH = 1
    CLOUD = 2
    DNS = 3
    PROXY = 4
    ADDRESS = 5


class View(IntEnum):
    SYSTEM = 0
    NAMESERVER = 1
    RESOLVER = 2


class Step(IntEnum):
    ROUTE = 0
    TCP = 1  # or the CONNECT through a proxy
    TLS = 2
    HTTP = 3
    PACKET = 4


@dataclass(frozen=True)
class Resolver:
    label: str
    server: str  # "IP" or "IP:PORT"


@dataclass(frozen=True)
class Request:
    """What the user asked for, as options; read and validated by :func:`diagnose`."""

    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    resolvers: tuple[Resolver, ...] = ()
    timeout_s: float = 5.0
    deadline_s: float | None = None  # None: default_deadline(timeout_s)
    request_timeout_s: float | None = None  # the --request-timeout kubectl runs with; None: none
    hosts_path: str = "/etc/hosts"
    resolv_conf_path: str = "/etc/resolv.conf"
    cloud: Mapping[str, Any] = field(default_factory=dict)  # read_inputs keyword arguments
    check_auth: bool = False  # run the exec plugin and present kubectl's credential once


@dataclass(frozen=True)
class Diagnosis:
    report: Report
    secrets: tuple[str, ...]  # what every output must be scrubbed of


def default_deadline(timeout_s: float, check_auth: bool = False) -> float:
    """Every probe runs concurrently and gets at most ``timeout_s``; a step that waits for
    another (TCP after DNS, TLS after TCP) gets what is left, so the whole run fits in one
    timeout. Results that land just after it are still taken (``runner.GRACE_S``). The
    credential check is two waits in a row, the plugin then the request, as in kubectl."""
    return timeout_s * 2 if check_auth else timeout_s


@dataclass(frozen=True)
class RequestPath:
    """How kubectl's request reaches the API server once TLS verified there: an address
    dialled directly, or the host name through an HTTP proxy (``proxy``, a URL) or a SOCKS5
    tunnel (``tunnel`` opens one)."""

    subject: str
    url_host: str
    proxy: str | None = None
    tunnel: Callable[[], Any] | None = None


class _Plan:
    def __init__(self, target: Target, ctx: ProbeContext, runner: Runner, *, proxied: bool = False) -> None:
        self.target = target
        self.ctx = ctx
        self.runner = runner
        self.lock = threading.Lock()
        self.addresses: dict[str, int] = {}  # address -> order in which it was first seen
        self.system_addresses: list[str] = []  # the system resolver's answer: kubectl's
        self.packet_gates: dict[str, PacketGate] = {}
        self.on_tls_verified: Callable[[RequestPath], None] | None = None  # the credential check
        self.proxied = proxied  # kubectl goes through a proxy: the direct probes are what-ifs
        self.verified: list[RequestPath] = []  # direct paths whose TLS verified, in that order

    def on_view(self, result: ProbeResult) -> None:
        found = [entry["address"] for entry in result.facts.get("addresses", [])]
        if result.probe == "dns.system":
            with self.lock:
                self.system_addresses = found
            self._offer_verified()
        for address in found:
            self.schedule_address(address)

    def schedule_address(self, address: str) -> None:
        with self.lock:
            if address in self.addresses:
                return
            self.addresses[address] = index = len(self.addresses)
        port = self.target.port
        subject = endpoint(address, port)
        at = (Stage.ADDRESS, index)
        gate = self.packet_gates[address] = self._packet_gate(at, address, port)
        self.runner.add((*at, Step.ROUTE), route.probe(self.ctx, address))
        self.runner.submit((*at, Step.TCP), "tcp", subject,
                           lambda: tcp.probe(self.ctx, address, port),
                           then=lambda r: self._after_tcp(at, address, r))
        gate.start()

    def _packet_gate(self, at: tuple, address: str, port: int) -> PacketGate:
        """Packet evidence (agent/packet_plan.py): SYN + traceroute while TCP is slow or
        after it failed, path MTU while TLS is slow; SKIPPED at once without CAP_NET_RAW.
        Each shares the window of the step it explains, so it costs no extra wait."""
        slots = {"packet.syn": 0, "packet.trace": 1, "packet.pmtu": 2}

        def submit(task: PacketTask, window: Any) -> None:
            ctx = dataclasses.replace(self.ctx, deadline=window)
            self.runner.submit((*at, Step.PACKET, slots[task.probe]), task.probe, task.subject,
                               lambda: task.run(ctx))

        def eligible() -> bool:  # packet evidence for a few addresses, kubectl's first
            return address in packet_addresses(self.system_addresses, list(self.addresses))

        return PacketGate(self.ctx, address, port, submit, eligible=eligible)

    def _after_tcp(self, at: tuple, address: str, result: ProbeResult) -> None:
        gate = self.packet_gates[address]
        gate.tcp_done(result)
        if not result.ok:
            return
        port = self.target.port
        subject = endpoint(address, port)
        if self.target.scheme == "http":
            self._plain_http(at, subject, lambda: tcp.dial(address, port, self.ctx.deadline.cap(self.ctx.timeout_s)),
                             url_host=address)
            return
        gate.tls_started()
        self.runner.submit((*at, Step.TLS), "tls", subject,
                           lambda: tls.handshake(self.ctx, subject,
                                                 lambda: tcp.dial(address, port, self.ctx.deadline.cap(self.ctx.timeout_s)),
                                                 sni=self.target.sni, ca_pem=self.target.ca_pem,
                                                 insecure=self.target.insecure_skip_tls_verify),
                           then=lambda r: self._after_tls(at, subject, address, r, tcp_result=result))

    def _after_tls(self, at: tuple, subject: str, address: str, result: ProbeResult,
                   tcp_result: ProbeResult) -> None:
        self.packet_gates[address].tls_done(tcp_result, result)
        if not result.ok:
            return
        if not result.facts.get("insecure_skip_tls_verify"):
            with self.lock:
                self.verified.append(RequestPath(subject, address))
            self._offer_verified()
        self.runner.submit((*at, Step.HTTP), "http", subject,
                           lambda: http_probe.probe(self.ctx, subject, url_host=address, port=self.target.port,
                                                    host_header=self._host_header(), sni=self.target.sni,
                                                    verify=self._verify()))

    def _offer_verified(self) -> None:
        """Hand the credential check the direct paths whose TLS verified, once they are
        known to be kubectl's: an address its resolver gave (the system view may answer after
        another view's address verified), never when kubectl uses a proxy (then the direct
        path is a what-if)."""
        if self.on_tls_verified is None or self.proxied:
            return
        with self.lock:
            ready = [p for p in self.verified if p.url_host in self.system_addresses]
        for path in ready:
            self.on_tls_verified(path)

    def _plain_http(self, at: tuple, subject: str, connect: Callable[[], Any], *, url_host: str,
                    proxy: str | None = None, tunnel: Callable[[], Any] | None = None,
                    via: str = "direct") -> None:
        """An http:// server URL: kubectl sends its request without TLS. When that gets no
        Kubernetes answer, one handshake tells whether the port speaks TLS instead (then the
        URL's scheme is the fault)."""
        def after_http(result: ProbeResult) -> None:
            if result.ok:
                return
            self.runner.submit((*at, Step.TLS), "tls.spoken", subject,
                               lambda: dataclasses.replace(
                                   tls.handshake(self.ctx, subject, connect, sni=self.target.sni, ca_pem=None,
                                                 insecure=True, via=via), probe="tls.spoken"))

        self.runner.submit((*at, Step.HTTP), "http", subject,
                           lambda: http_probe.probe(self.ctx, subject, url_host=url_host, port=self.target.port,
                                                    host_header=self._host_header(), sni=self.target.sni,
                                                    verify=False, via=via, proxy=proxy, tunnel=tunnel,
                                                    scheme="http"),
                           then=after_http)

    def _host_header(self) -> str:
        host = f"[{self.target.host}]" if ":" in self.target.host else self.target.host
        return host if self.target.port == 443 else f"{host}:{self.target.port}"

    def _verify(self) -> Any:
        return False if self.target.insecure_skip_tls_verify else tls.verifying_context(self.target.ca_pem)

    def via_proxy(self, decision: proxy.ProxyDecision) -> None:
        host, port = self.target.host, self.target.port
        subject = f"{host}:{port} via proxy"
        opener = _tunnel_opener(decision)
        # Through a SOCKS tunnel httpx's own proxy support is not used: each HTTP
        # connection is a tunnel opened as kubectl opens it (probes/socks.py).
        by_socks = opener is socks.connect

        def connect() -> ProbeResult:
            result, sock = opener(self.ctx, decision, host, port)
            if sock is not None:
                sock.close()
            return result

        def tunnel():  # a fresh tunnel per call: the TLS probe may need two handshakes
            result, sock = opener(self.ctx, decision, host, port)
            if sock is None:
                raise OSError(result.failure.detail if result.failure else "the proxy refused the tunnel")
            return sock

        def after_connect(result: ProbeResult) -> None:
            if not result.ok:
                return
            if self.target.scheme == "http":
                self._plain_http((Stage.PROXY,), subject, tunnel, url_host=host, tunnel=tunnel, via="proxy")
                return
            self.runner.submit((Stage.PROXY, Step.TLS), "tls", subject,
                               lambda: tls.handshake(self.ctx, subject, tunnel, sni=self.target.sni,
                                                     ca_pem=self.target.ca_pem,
                                                     insecure=self.target.insecure_skip_tls_verify,
                                                     via="proxy"),
                               then=after_tls)

        def after_tls(result: ProbeResult) -> None:
            if not result.ok:
                return
            if self.on_tls_verified is not None and not result.facts.get("insecure_skip_tls_verify"):
                self.on_tls_verified(RequestPath(subject, host, proxy=None if by_socks else decision.url,
                                           tunnel=tunnel if by_socks else None))
            self.runner.submit((Stage.PROXY, Step.HTTP), "http", subject,
                               lambda: http_probe.probe(self.ctx, subject, url_host=host, port=port,
                                                        host_header=self._host_header(), sni=self.target.sni,
                                                        verify=self._verify(), via="proxy",
                                                        proxy=None if by_socks else decision.url,
                                                        tunnel=tunnel if by_socks else None))

        if self.target.scheme == "http" and not by_socks:
            # Go sends a plain-HTTP request to an HTTP proxy as 'GET http://host/...', with
            # no CONNECT (httpx does the same with proxy=): there is no tunnel to probe.
            self._plain_http((Stage.PROXY,), subject, tunnel, url_host=host, proxy=decision.url, via="proxy")
            return
        self.runner.submit((Stage.PROXY, Step.TCP), "proxy.connect", decision.redacted or "", connect,
                           then=after_connect)


def _tunnel_opener(decision: proxy.ProxyDecision) -> Callable[..., tuple[ProbeResult, Any]]:
    """The tunnel kubectl opens for this proxy URL's scheme: a SOCKS5 CONNECT by name for
    socks5:// (and socks5h://, which Go's transport takes from HTTPS_PROXY), an HTTP CONNECT otherwise (http://, https://; anything else is reported
    by proxy.connect as not probed)."""
    scheme = (decision.url or "").split("://", 1)[0].lower()
    return socks.connect if scheme in ("socks5", "socks5h") else proxy.connect


def kubectl_dials(results: Sequence[ProbeResult], decision: proxy.ProxyDecision) -> tuple[str, ...]:
    """The addresses kubectl would dial: the system resolver's, unless a proxy resolves."""
    if decision.used:
        return ()
    system = next((r for r in results if r.probe == "dns.system"), None)
    if system is None or not system.ok:
        return ()
    return tuple(a["address"] for a in system.facts.get("addresses", []))


def _tag_addresses(results: Sequence[ProbeResult], dials: tuple[str, ...]) -> list[ProbeResult]:
    """Each direct tcp/tls/http result names its address, the DNS views that returned it,
    and whether kubectl would dial it: known only once every view has answered."""
    views: dict[str, list[str]] = {}
    for r in results:
        if r.probe.startswith("dns."):
            for entry in r.facts.get("addresses", []):
                views.setdefault(entry["address"], []).append(
                    r.probe if r.probe == "dns.system" else f"{r.probe}:{r.subject}")
    out = []
    for r in results:
        if r.probe in ("tcp", "tls", "tls.spoken", "http") and r.facts.get("via", "direct") == "direct":
            address = endpoint_address(r.subject)
            r = dataclasses.replace(r, facts={**r.facts, "address": address,
                                              "views": views.get(address, []),
                                              "kubectl_path": address in dials})
        out.append(r)
    return out


def _cloud_inputs(request: Request, env: Mapping[str, str]) -> Any:
    """The cloud options read and checked (no traffic), or None when none apply. Automatic
    discovery asks IMDS only where the firmware says this is an Azure VM."""
    options = dict(request.cloud)
    if options.get("discover", "off") == "auto":
        from agent.cloud.dmi import on_azure_vm

        if not on_azure_vm(env.get("KUBEREACH_DMI_DIR", "/sys/class/dmi/id")):
            options["discover"] = "off"
    if not any(v for k, v in options.items() if k != "discover") and options.get("discover", "off") == "off":
        return None
    from agent.cloud.context import read_inputs

    return read_inputs(env=env, **options)


def diagnose(request: Request, *, env: Mapping[str, str],
             log: Callable[[str], None] | None = None) -> Diagnosis:
    """Bad input raises :class:`agent.errors.KubereachError` before any probe runs."""
    from agent.kubeconfig import load

    started = time.monotonic()
    loaded = load(kubeconfig=request.kubeconfig, context=request.context, server=request.server, env=env,
                  with_credentials=request.check_auth)
    target = loaded.target
    # A list, so that a credential the plugin returns is scrubbed from every later line too.
    secrets = [*loaded.secrets, *redact.from_env(env)]
    say = (lambda m: log(redact.scrub(f"kubereach: {m}", secrets))) if log else None
    cloud_inputs = _cloud_inputs(request, env)
    decision = proxy.decide(target.proxy_url, env, target.host, target.port, target.scheme)

    deadline = Deadline(request.deadline_s or default_deadline(request.timeout_s, request.check_auth))
    if say:
        say(f"diagnosing {target.server} with a {request.timeout_s:g} s timeout per probe, "
            f"{deadline.seconds:g} s in all")
    ctx = ProbeContext(deadline=deadline, timeout_s=request.timeout_s, env=dict(env),
                       hosts_path=request.hosts_path, resolv_conf_path=request.resolv_conf_path, log=say)
    runner = Runner(deadline, say)
    plan = _Plan(target, ctx, runner, proxied=decision.used)

    runner.add((Stage.VANTAGE,), vantage.probe(ctx))
    a = target.auth
    runner.add((Stage.AUTH,), auth.probe(ctx, a.method, a.exec_command, a.provider, exec_args=a.exec_args,
                                         exec_env_names=a.exec_env_names, exec_settings=dict(a.exec_settings),
                                         stdin_tty=credentials.stdin_is_terminal()))
    check = _CredentialCheck(plan, loaded.credentials, secrets) if request.check_auth else None
    found = None
    if cloud_inputs is not None:
        from agent.cloud.discovery import Found, schedule

        found = Found()
        schedule(runner, ctx, cloud_inputs, found, order=(Stage.CLOUD,), api_host=target.host,
                 egress_proxy=decision.url if decision.used else None)

    runner.submit((Stage.DNS, View.SYSTEM), "dns.system", target.host,
                  lambda: dns.system_view(ctx, target.host), then=plan.on_view)
    # localhost names are never the DNS's business (RFC 6761): no what-if views for them.
    if not is_ip_address(target.host) and not is_loopback_host(target.host):
        conf = dns.read_resolv_conf(request.resolv_conf_path)
        for i, server in enumerate(conf.nameservers):
            runner.submit((Stage.DNS, View.NAMESERVER, i), "dns.nameserver", server,
                          lambda s=server: dns.single_view(ctx, target.host, s, probe="dns.nameserver"),
                          then=plan.on_view)
        for i, res in enumerate(request.resolvers):
            runner.submit((Stage.DNS, View.RESOLVER, i), "dns.resolver", f"{res.label}={res.server}",
                          lambda r=res: dns.single_view(ctx, target.host, r.server, probe="dns.resolver",
                                                        label=r.label),
                          then=plan.on_view)
    if decision.used and proxy.parse_proxy_url(decision.url or "") == decision.url:
        plan.via_proxy(decision)
    elif decision.used:
        # Only a kubeconfig proxy-url gets here (an environment value that does not parse is
        # ignored, as Go ignores it): kubectl refuses the kubeconfig, and so no tunnel is tried.
        runner.add((Stage.PROXY, Step.TCP), ProbeResult(
            "proxy.connect", decision.redacted or "", Status.SKIPPED, 0.0, facts={"kubectl_refuses": True},
            reason="the proxy URL does not parse (a password with an unescaped '/', '#' or '@'?): "
                   "kubectl refuses it; percent-encode the password"))

    runner.wait()
    results = runner.results()
    if check is not None:
        results = check.finish(results, decision)
    dials = kubectl_dials(results, decision)
    cloud = None
    if cloud_inputs is not None and found is not None:
        from agent.cloud.context import assemble

        assembled = assemble(cloud_inputs, found, env)
        cloud = None if assembled.empty else assembled
    obs = Observations(target=target, results=tuple(_tag_addresses(results, dials)), proxy=decision,
                       kubeconfig_problems=tuple(loaded.problems), cloud=cloud, dials=dials,
                       request_timeout_s=request.request_timeout_s, no_proxy=no_proxy_from(env),
                       credentials_checked=check is not None)
    report = build_report(obs, judge(obs), elapsed_s=time.monotonic() - started,
                          timeout_s=request.timeout_s, deadline_s=deadline.seconds)
    return Diagnosis(report, tuple(secrets))


class _CredentialCheck:
    """--check-auth: the plugin runs at once (or the kubeconfig's token or certificate is
    taken as it is); the credential is presented once, on the first path whose TLS verified
    against kubectl's CA (a direct address, or the tunnel through kubectl's proxy), when both
    are ready, whichever comes last."""

    def __init__(self, plan: _Plan, user: credentials.UserSecrets | None, secrets: list[str]) -> None:
        self.plan, self.secrets = plan, secrets
        self.lock = threading.Lock()
        self.credential: credentials.Credential | None = (user.static_credential() if user else None)
        self.route: RequestPath | None = None
        self.sent = False
        target, ctx = plan.target, plan.ctx
        if self.credential is not None:
            secrets.extend(self.credential.secrets())
        if user is not None and user.exec is not None:
            spec = user.exec
            info = credentials.ClusterInfo(target.server, target.ca_pem, target.tls_server_name,
                                           target.insecure_skip_tls_verify, target.proxy_url)
            ci = detect_ci(ctx.env) is not None

            def run() -> ProbeResult:
                result, cred = credentials.run_exec(ctx, spec, cluster=info, in_ci=ci,
                                                    stdin_tty=credentials.stdin_is_terminal(),
                                                    secrets=list(self.secrets), echo=_echo)
                if cred is not None:
                    self.secrets.extend(cred.secrets())
                    with self.lock:
                        self.credential = cred
                return result

            plan.runner.submit((Stage.AUTH, 1), "auth.exec", spec.command.rsplit("/", 1)[-1], run,
                               then=lambda r: self._maybe_send())
        plan.on_tls_verified = self._tls_verified

    def _tls_verified(self, route: RequestPath) -> None:
        with self.lock:
            self.route = self.route or route
        self._maybe_send()

    def _maybe_send(self) -> None:
        with self.lock:
            if self.sent or self.credential is None or self.route is None:
                return
            self.sent = True
            credential, route = self.credential, self.route
        plan, target = self.plan, self.plan.target
        plan.runner.submit((Stage.AUTH, 2), "auth.review", route.subject,
                           lambda: credentials.review(plan.ctx, route.subject, credential,
                                                      url_host=route.url_host, port=target.port,
                                                      host_header=plan._host_header(), sni=target.sni,
                                                      ca_pem=target.ca_pem, secrets=list(self.secrets),
                                                      proxy=route.proxy, tunnel=route.tunnel))

    def finish(self, results: list[ProbeResult], decision: proxy.ProxyDecision) -> list[ProbeResult]:
        """Say why the credential was not presented, when it was not and nothing failed first."""
        if self.sent or any(r.probe == "auth.exec" and not r.ok for r in results):
            return results
        why = None
        if self.plan.target.scheme == "http":
            why = ("the server URL is http://: kubectl would send the credential in clear text, and "
                   "kubereach sends one only inside TLS verified against the kubeconfig's CA")
        elif self.plan.target.insecure_skip_tls_verify:
            why = ("TLS is not verified (insecure-skip-tls-verify), and kubereach sends a credential only "
                   "to a server that proved it holds a certificate from the kubeconfig's CA")
        elif self.credential is None and not any(r.probe == "auth.exec" for r in results):
            why = "the user entry has no credential kubereach can present (or none at all)"
        if why is None:
            return results  # the network failed first: the path shows where
        return [*results, credentials.not_run(self.plan.target.host, why)]


def _echo(line: str) -> None:
    # An interactive plugin talks to the person at the terminal (a device code to enter),
    # as it does under kubectl.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
