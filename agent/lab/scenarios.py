"""The lab's scenarios: one real cause each, and what kubectl and kubereach should say.

A scenario is data: the client it runs from, its kubeconfig, resolver and hosts file, its
environment, the router rules that build the cause, and the expectation. :func:`prepared`
applies one to a running lab and undoes it afterwards, so one lab serves them all.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.lab import addresses as A
from agent.lab import kubeconfigs
from agent.lab.kubeconfigs import KubeconfigSpec
from agent.lab.topology import Daemon, Lab

# A secret-looking variable in the exec plugin's env: kubelogin's service principal secret.
EXEC_SECRET_VAR = "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET"

AUTHORIZED_INCLUDING = "198.51.100.0/28"  # contains the internet client
AUTHORIZED_EXCLUDING = "203.0.113.64/26"  # an office egress range that does not


@dataclass(frozen=True)
class Expect:
    kubectl_ok: bool
    blockers: frozenset[str] = frozenset()  # exactly the blocker findings
    warnings: frozenset[str] = frozenset()  # each must be a warning finding
    present: frozenset[str] = frozenset()  # each must be a finding of any severity

    @property
    def verdict(self) -> str:
        return "reachable" if self.kubectl_ok else "unreachable"


@dataclass(frozen=True)
class RouterRule:
    spec: tuple[str, ...]
    table: str = "filter"
    chain: str | None = None  # None: the scenario chain of the table (forwarded packets)


@dataclass(frozen=True)
class LabDaemon:
    """A server a scenario runs for its duration, in host ``key``'s namespace. ``argv`` and
    ``config`` may use {workdir}; ``config`` is written to {workdir}/<name>.conf first."""

    key: str
    name: str
    argv: tuple[str, ...]
    ready: tuple[str, int]  # address and port that accept connections once it runs
    config: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    cause: str  # what the lab built, one sentence
    client: str
    kubeconfig: KubeconfigSpec
    expect: Expect
    nameservers: tuple[str, ...] | None = None  # None: the client's default resolver
    resolv_options: tuple[str, ...] = ()  # added to resolv.conf's "options" line
    hosts: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    # Values may use {proxy_user} and {proxy_password}, filled from the lab's secrets, and
    # {tls_dir}, the folder of the lab's certificates.
    env: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[RouterRule, ...] = ()
    router_mtu: Mapping[str, int] = field(default_factory=dict)  # router's side of a host's link
    diagnose_args: tuple[str, ...] = ()
    daemons: tuple[LabDaemon, ...] = ()
    # Other hosts' resolvers for the scenario (a proxy that cannot see the private zone).
    host_nameservers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    scenario: Scenario
    client: str
    kubeconfig: Path
    env: dict[str, str]  # the client's whole environment
    secrets: tuple[str, ...]  # strings that must appear in no output


def _private(**kw: object) -> KubeconfigSpec:
    return KubeconfigSpec(host=A.PRIVATE_FQDN, **kw)  # type: ignore[arg-type]


def _tcp443(dst: str) -> tuple[str, ...]:
    return ("-d", dst, "-p", "tcp", "--dport", str(A.API_PORT))


_WRONG_CREDENTIALS = "http://{proxy_user}:Wrong-{proxy_password}@"


def _silent_dns(server: str) -> tuple[RouterRule, ...]:
    """A nameserver that never answers: its queries are dropped on the way, UDP and TCP."""
    return tuple(RouterRule(("-d", server, "-p", proto, "--dport", "53", "-j", "DROP"))
                 for proto in ("udp", "tcp"))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="healthy-inside",
        title="Private cluster from a jump box in its own VNet",
        cause="nothing is wrong: linked DNS, routed, right CA and token",
        client="in",
        kubeconfig=_private(),
        expect=Expect(kubectl_ok=True),
    ),
    Scenario(
        name="healthy-peer-linked",
        title="Private cluster from a peered VNet linked to the private zone",
        cause="nothing is wrong: the peered VNet uses the linked resolver",
        client="peer",
        kubeconfig=_private(),
        nameservers=(A.LINKED_DNS_IP,),
        expect=Expect(kubectl_ok=True),
    ),
    Scenario(
        name="peer-unlinked",
        title="Peered VNet not linked to the private DNS zone",
        cause="the peer's resolver has the public view: the privatelink name is NXDOMAIN",
        client="peer",
        kubeconfig=_private(),
        diagnose_args=("--resolver", f"linked={A.LINKED_DNS_IP}"),
        expect=Expect(
            kubectl_ok=False,
            blockers=frozenset({"dns.nxdomain"}),
            warnings=frozenset({"dns.split_horizon"}),
        ),
    ),
    Scenario(
        name="custom-dns",
        title="Custom DNS server that does not forward the private zone",
        cause="the VNet's custom DNS forwards to the internet, not to Azure DNS",
        client="in",
        kubeconfig=_private(),
        nameservers=(A.CUSTOM_DNS_IP,),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"dns.nxdomain"})),
    ),
    Scenario(
        name="public-fqdn-private-ip",
        title="Public FQDN of a private cluster, from the internet",
        cause="public DNS returns the private endpoint 10.1.0.4; the internet has no route",
        client="inet",
        kubeconfig=KubeconfigSpec(host=A.PRIVATE_PUBLIC_FQDN),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.no_route"})),
    ),
    Scenario(
        name="authorized-ranges-exclude",
        title="Public cluster whose authorized IP ranges exclude the client",
        cause=f"the endpoint silently drops sources outside {AUTHORIZED_EXCLUDING}",
        client="inet",
        kubeconfig=KubeconfigSpec(host=A.PUBLIC_FQDN),
        rules=(RouterRule(("!", "-s", AUTHORIZED_EXCLUDING, *_tcp443(A.PUBLIC_API_IP),
                           "-j", "DROP")),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.filtered"})),
    ),
    Scenario(
        name="authorized-ranges-include",
        title="Public cluster whose authorized IP ranges include the client",
        cause=f"the endpoint drops sources outside {AUTHORIZED_INCLUDING}, the client is inside",
        client="inet",
        kubeconfig=KubeconfigSpec(host=A.PUBLIC_FQDN),
        rules=(RouterRule(("!", "-s", AUTHORIZED_INCLUDING, *_tcp443(A.PUBLIC_API_IP),
                           "-j", "DROP")),),
        expect=Expect(kubectl_ok=True),
    ),
    Scenario(
        name="vnet-integration-peer-no-endpoint",
        title="Private VNet-integrated cluster from a peered VNet without a private endpoint",
        cause=(f"the API server is a load balancer at {A.API_IP} in the cluster VNet's delegated "
               "subnet; the peered VNet has no private endpoint of its own, so nothing gets "
               "through"),
        client="peer",
        kubeconfig=_private(),
        nameservers=(A.LINKED_DNS_IP,),
        rules=(RouterRule(("-s", A.PEER_NET, *_tcp443(A.API_IP), "-j", "DROP")),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.filtered"})),
    ),
    Scenario(
        name="peering-disconnected",
        title="Peered VNet whose peering is not Connected",
        cause=(f"the peering between {A.PEER_NET} and {A.CLUSTER_NET} is Disconnected: nothing "
               "crosses it, silently; name resolution still works"),
        client="peer",
        kubeconfig=_private(),
        nameservers=(A.LINKED_DNS_IP,),
        # The zone is linked to the peer VNet too, so the name resolves there; the lab's one
        # linked resolver sits in the cluster VNet, so DNS to it is let through (it stands in
        # for the peer VNet's own Azure DNS) and every other packet across is dropped.
        rules=(RouterRule(("-s", A.PEER_NET, "-d", A.CLUSTER_NET, "-j", "DROP")),
               *(RouterRule(("-s", A.PEER_NET, "-d", A.LINKED_DNS_IP, "-p", proto, "--dport", "53",
                             "-j", "ACCEPT")) for proto in ("udp", "tcp"))),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.filtered"})),
    ),
    Scenario(
        name="vnet-integration-nsg-drops-client",
        title="NSG on the API server subnet drops 443 from the jump box's subnet",
        cause=(f"an NSG-like rule drops TCP 443 from {A.JUMP_SUBNET} to the API server "
               f"subnet {A.APISERVER_SUBNET}"),
        client="in",
        kubeconfig=_private(),
        rules=(RouterRule(("-s", A.JUMP_SUBNET, "-d", A.APISERVER_SUBNET, "-p", "tcp",
                           "--dport", str(A.API_PORT), "-j", "DROP")),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.filtered"})),
    ),
    Scenario(
        name="tls-inspection",
        title="TLS-inspecting firewall between client and API server",
        cause="the firewall answers TLS itself with a certificate from the Contoso inspection CA",
        client="in",
        kubeconfig=_private(),
        # As on a managed corporate machine, the inspection root is in the client's trust
        # store (browsers would fail otherwise); kubectl still trusts only the kubeconfig's CA.
        env={"SSL_CERT_FILE": "{tls_dir}/inspection-ca.crt"},
        rules=(RouterRule(("-s", A.INSIDE_IP, *_tcp443(A.API_IP), "-j", "DNAT",
                           "--to-destination", f"{A.MIDDLEBOX_IP}:{A.API_PORT}"), "nat"),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"tls.intercepted"})),
    ),
    Scenario(
        name="stale-ca",
        title="Kubeconfig CA from before the cluster was recreated",
        cause="the kubeconfig's CA is CN=ca like the cluster's, but another key",
        client="in",
        kubeconfig=_private(ca="stale"),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"tls.ca_mismatch"})),
    ),
    Scenario(
        name="stale-hosts",
        title="Stale /etc/hosts entry for the API server",
        cause=f"/etc/hosts maps the FQDN to {A.STALE_API_IP}, the old endpoint; DNS is right",
        client="in",
        kubeconfig=_private(),
        hosts={A.PRIVATE_FQDN: A.STALE_API_IP},
        # The old endpoint has no route from here: that failure is a true blocker beside
        # its cause, and kubectl fails on exactly it ("network is unreachable").
        expect=Expect(kubectl_ok=False,
                      blockers=frozenset({"dns.hosts_override", "net.no_route"})),
    ),
    Scenario(
        name="healthy-via-proxy",
        title="Private cluster through the corporate proxy, right credentials",
        cause="nothing is wrong: HTTPS_PROXY with valid credentials tunnels to the endpoint",
        client="in",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": "http://{proxy_user}:{proxy_password}@" + f"{A.PROXY_IP}:{A.PROXY_PORT}"},
        expect=Expect(kubectl_ok=True, present=frozenset({"proxy.in_path"})),
    ),
    Scenario(
        name="proxy-auth",
        title="HTTPS_PROXY that wants other credentials",
        cause="HTTPS_PROXY points at a proxy that answers CONNECT with 407",
        client="in",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": _WRONG_CREDENTIALS + f"{A.PROXY_IP}:{A.PROXY_PORT}"},
        expect=Expect(
            kubectl_ok=False,
            blockers=frozenset({"proxy.auth_required"}),
            present=frozenset({"proxy.in_path"}),
        ),
    ),
    Scenario(
        name="proxy-auth-tinyproxy",
        title="HTTPS_PROXY is a tinyproxy that wants other credentials",
        cause="tinyproxy 1.11.1 answers CONNECT with 401 + WWW-Authenticate instead of 407",
        client="in",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": _WRONG_CREDENTIALS + f"{A.PROXY_IP}:{A.TINYPROXY_PORT}"},
        expect=Expect(
            kubectl_ok=False,
            blockers=frozenset({"proxy.auth_required"}),
            present=frozenset({"proxy.in_path"}),
        ),
    ),
    Scenario(
        name="proxy-unreachable",
        title="HTTPS_PROXY pointing at a proxy that is not there",
        cause=f"HTTPS_PROXY is {A.DEAD_PROXY_IP}:{A.PROXY_PORT}; no host has that address",
        client="in",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": f"http://{A.DEAD_PROXY_IP}:{A.PROXY_PORT}"},
        expect=Expect(
            kubectl_ok=False,
            blockers=frozenset({"proxy.unreachable"}),
            present=frozenset({"proxy.in_path"}),
        ),
    ),
    Scenario(
        name="exec-plugin-missing",
        title="kubelogin exec plugin not installed",
        cause="the kubeconfig user runs kubelogin, which is not on PATH",
        client="in",
        kubeconfig=_private(auth="exec"),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"kubeconfig.exec_plugin_missing"})),
    ),
    Scenario(
        name="expired-token",
        title="A static token the API server no longer accepts",
        cause="the kubeconfig's bearer token is expired (the API server answers 401); the network is fine",
        client="in",
        kubeconfig=_private(auth="token-expired"),
        diagnose_args=("--check-auth",),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"auth.unauthorized"})),
    ),
    Scenario(
        name="device-code-in-ci",
        title="kubelogin device-code login in a CI job",
        cause="kubelogin --login devicecode prints a code and waits for a person; a CI job has none",
        client="in",
        kubeconfig=_private(auth="exec-devicecode"),
        env={"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted"},
        diagnose_args=("--check-auth",),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"auth.interactive_required"}),
                      warnings=frozenset({"auth.interactive_login"})),
    ),
    Scenario(
        name="client-cert-wrong-ca",
        title="A client certificate signed by another cluster's CA",
        cause="the kubeconfig's client certificate comes from another cluster's client CA: 401",
        client="in",
        kubeconfig=_private(auth="client-cert-foreign"),
        diagnose_args=("--check-auth",),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"auth.unauthorized"})),
    ),
    Scenario(
        name="port-refused",
        title="Nothing listening on the kubeconfig's port",
        cause=f"the kubeconfig says port {A.CLOSED_PORT}; the API host resets the connection",
        client="in",
        kubeconfig=_private(port=A.CLOSED_PORT),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.refused"})),
    ),
    Scenario(
        name="not-kubernetes",
        title="A web server that is not Kubernetes answers on 443",
        cause="a firewall redirects 443 to a web server serving a 403 block page",
        client="in",
        kubeconfig=_private(),
        rules=(RouterRule(("-s", A.INSIDE_IP, *_tcp443(A.API_IP), "-j", "DNAT",
                           "--to-destination", f"{A.WEB_IP}:{A.API_PORT}"), "nat"),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"http.not_kubernetes"})),
    ),
    Scenario(
        name="dns-first-dead",
        title="The first nameserver in resolv.conf never answers",
        cause="queries to the first nameserver are dropped; the second one answers",
        client="in",
        kubeconfig=_private(),
        nameservers=(A.CUSTOM_DNS_IP, A.LINKED_DNS_IP),
        rules=_silent_dns(A.CUSTOM_DNS_IP),
        expect=Expect(kubectl_ok=True, warnings=frozenset({"dns.resolver_unreachable"})),
    ),
    Scenario(
        name="dns-all-dead",
        title="No nameserver in resolv.conf answers",
        cause="queries to every nameserver are dropped",
        client="in",
        kubeconfig=_private(),
        nameservers=(A.CUSTOM_DNS_IP, A.LINKED_DNS_IP),
        rules=_silent_dns(A.CUSTOM_DNS_IP) + _silent_dns(A.LINKED_DNS_IP),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"dns.resolver_unreachable"})),
    ),
    Scenario(
        name="dns-use-vc-udp-dropped",
        title="resolv.conf says use-vc and the path drops DNS over UDP",
        cause="UDP 53 to the resolver is dropped, TCP 53 passes; resolv.conf has options use-vc",
        client="in",
        kubeconfig=_private(),
        resolv_options=("use-vc",),
        rules=(RouterRule(("-d", A.LINKED_DNS_IP, "-p", "udp", "--dport", "53", "-j", "DROP")),),
        expect=Expect(kubectl_ok=True),
    ),
    Scenario(
        name="dns-udp-dropped",
        title="The path drops DNS over UDP and resolv.conf does not say use-vc",
        cause="UDP 53 to the resolver is dropped, TCP 53 passes; Go falls back to TCP only on truncation",
        client="in",
        kubeconfig=_private(),
        rules=(RouterRule(("-d", A.LINKED_DNS_IP, "-p", "udp", "--dport", "53", "-j", "DROP")),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"dns.resolver_unreachable"})),
    ),
    Scenario(
        name="dns-aaaa-dropped",
        title="A filter in front of the resolver drops AAAA queries",
        cause=("UDP queries for AAAA records to the resolver are dropped, A passes: Go asks both "
               "and waits out resolv.conf's timeout x attempts (4 s) for AAAA on every lookup"),
        client="in",
        kubeconfig=_private(),
        # QTYPE AAAA (0x001c) and QCLASS IN (0x0001) end the question of such a query.
        rules=(RouterRule(("-d", A.LINKED_DNS_IP, "-p", "udp", "--dport", "53", "-m", "string",
                           "--algo", "bm", "--hex-string", "|001c0001|", "-j", "DROP")),),
        expect=Expect(kubectl_ok=True, warnings=frozenset({"dns.aaaa_unanswered"})),
    ),
    Scenario(
        name="mtu-blackhole",
        title="A link with a small MTU whose ICMP 'fragmentation needed' is filtered",
        cause="the router's side of the client's link takes 576 bytes and its ICMP is dropped",
        client="in",
        kubeconfig=_private(),
        router_mtu={"in": 576},
        rules=(RouterRule(("-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP"),
                          chain="OUTPUT"),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.mtu_blackhole", "tls.handshake_failed"})),
    ),
    Scenario(
        name="two-addresses-first-dropped",
        title="The name has two addresses and the first one is silent",
        cause="the hosts file lists a dead address before the live one; kubectl runs with --request-timeout=5s",
        client="in",
        kubeconfig=_private(),
        hosts={A.PRIVATE_FQDN: (A.STALE_API_IP, A.API_IP)},
        rules=(RouterRule((*_tcp443(A.STALE_API_IP), "-j", "DROP")),),
        diagnose_args=("--request-timeout", "5s"),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.slow_dial", "net.filtered"}),
                      warnings=frozenset({"dns.hosts_override"})),
    ),
)


_DANTE_CONF = f"""logoutput: stderr
internal: {A.PROXY_IP} port = {A.DANTE_PORT}
external: {A.PROXY_IP}
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 0.0.0.0/0 to: 0.0.0.0/0 }}
socks block {{ from: 0.0.0.0/0 to: .{A.PRIVATE_ZONE} log: connect error }}
socks pass {{ from: 0.0.0.0/0 to: 0.0.0.0/0 }}
"""

MICROSOCKS = LabDaemon("prx", "microsocks", ("microsocks", "-i", A.PROXY_IP, "-p", str(A.SOCKS_PORT)),
                       (A.PROXY_IP, A.SOCKS_PORT))
DANTE = LabDaemon("prx", "danted", ("danted", "-f", "{workdir}/danted.conf", "-N", "1"),
                  (A.PROXY_IP, A.DANTE_PORT), config=_DANTE_CONF)
# The local end of a tunnel to the API server: what `az aks bastion` or `ssh -L` listens with.
FORWARDER = LabDaemon("in", "forwarder", (
    "socat", f"TCP-LISTEN:{A.TUNNEL_PORT},bind=127.0.0.1,fork,reuseaddr", f"TCP:{A.API_IP}:{A.API_PORT}"),
    ("127.0.0.1", A.TUNNEL_PORT))
_AUTH_PROXY = "http://{proxy_user}:{proxy_password}@" + f"{A.PROXY_IP}:{A.PROXY_PORT}"

TUNNEL_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="socks-bastion",
        title="SOCKS5 proxy-url through a bastion that resolves the private name",
        cause=("the peered VNet cannot resolve the private name, but kubectl sends it to the "
               "bastion's SOCKS server, which resolves it in the hub and connects"),
        client="peer",
        kubeconfig=_private(proxy_url=f"socks5://{A.PROXY_IP}:{A.SOCKS_PORT}"),
        daemons=(MICROSOCKS,),
        expect=Expect(kubectl_ok=True, present=frozenset({"proxy.in_path"})),
    ),
    Scenario(
        name="socks5h-from-env",
        title="HTTPS_PROXY=socks5h:// to the bastion's SOCKS server",
        cause=("nothing is wrong: Go's transport takes a socks5h proxy from the environment "
               "(a kubeconfig proxy-url may not say socks5h) and sends it the name"),
        client="peer",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": f"socks5h://{A.PROXY_IP}:{A.SOCKS_PORT}"},
        daemons=(MICROSOCKS,),
        expect=Expect(kubectl_ok=True, present=frozenset({"proxy.in_path"})),
    ),
    Scenario(
        name="socks-bastion-check-auth",
        title="--check-auth through the SOCKS5 bastion",
        cause=("nothing is wrong: the token is presented through the tunnel kubectl opens, "
               "the only way the private API server can be reached from the peered VNet"),
        client="peer",
        kubeconfig=_private(proxy_url=f"socks5://{A.PROXY_IP}:{A.SOCKS_PORT}"),
        daemons=(MICROSOCKS,),
        diagnose_args=("--check-auth",),
        expect=Expect(kubectl_ok=True, present=frozenset({"proxy.in_path"})),
    ),
    Scenario(
        name="expired-token-via-proxy",
        title="An expired token, checked through the corporate proxy",
        cause="the proxy tunnels fine; the API server answers the expired bearer token with 401",
        client="in",
        kubeconfig=_private(auth="token-expired"),
        env={"HTTPS_PROXY": _AUTH_PROXY},
        diagnose_args=("--check-auth",),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"auth.unauthorized"}),
                      present=frozenset({"proxy.in_path"})),
    ),
    Scenario(
        name="socks-tunnel-down",
        title="SOCKS5 proxy-url on a local port where no `ssh -D` runs",
        cause="proxy-url is socks5://127.0.0.1:1080 and nothing listens there",
        client="in",
        kubeconfig=_private(proxy_url=f"socks5://127.0.0.1:{A.SOCKS_PORT}"),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"proxy.tunnel_down"})),
    ),
    Scenario(
        name="socks-denied",
        title="SOCKS5 bastion whose rules block the API server",
        cause=f"dante on the bastion blocks .{A.PRIVATE_ZONE}: CONNECT is not allowed by ruleset",
        client="in",
        kubeconfig=_private(proxy_url=f"socks5://{A.PROXY_IP}:{A.DANTE_PORT}"),
        daemons=(DANTE,),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"proxy.socks_refused"})),
    ),
    Scenario(
        name="local-tunnel-up",
        title="Kubeconfig of a local tunnel (127.0.0.1 + tls-server-name), tunnel running",
        cause="socat on 127.0.0.1:8443 forwards to the API server, as az aks bastion or ssh -L does",
        client="in",
        kubeconfig=_private(tunnel_port=A.TUNNEL_PORT),
        daemons=(FORWARDER,),
        expect=Expect(kubectl_ok=True, present=frozenset({"net.local_tunnel"})),
    ),
    Scenario(
        name="local-tunnel-down",
        title="Kubeconfig of a local tunnel whose tunnel is not running",
        cause="the kubeconfig says https://127.0.0.1:8443 and nothing listens there",
        client="in",
        kubeconfig=_private(tunnel_port=A.TUNNEL_PORT),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.refused", "net.tunnel_down"})),
    ),
    Scenario(
        name="local-tunnel-ignores-proxy",
        title="HTTPS_PROXY set next to a local tunnel kubeconfig",
        cause="HTTPS_PROXY points at a dead proxy, but Go never proxies 127.0.0.1: kubectl goes direct",
        client="in",
        kubeconfig=_private(tunnel_port=A.TUNNEL_PORT),
        env={"HTTPS_PROXY": f"http://{A.DEAD_PROXY_IP}:{A.PROXY_PORT}"},
        daemons=(FORWARDER,),
        expect=Expect(kubectl_ok=True, present=frozenset({"proxy.ignored_for_loopback"})),
    ),
    Scenario(
        name="no-proxy-cidr-trap",
        title="NO_PROXY has the VNet's CIDR, the kubeconfig has a name, the proxy cannot resolve it",
        cause=(f"NO_PROXY={A.CLUSTER_NET} covers {A.API_IP}, but Go matches CIDRs against the URL's "
               "host, a name: kubectl uses the proxy, whose resolver lacks the private zone"),
        client="in",
        kubeconfig=_private(),
        env={"HTTPS_PROXY": _AUTH_PROXY, "NO_PROXY": f"localhost,{A.CLUSTER_NET}"},
        host_nameservers={"prx": (A.PUBLIC_DNS_IP,)},
        expect=Expect(kubectl_ok=False,
                      blockers=frozenset({"proxy.refused_connect", "proxy.no_proxy_cidr_trap"})),
    ),
    Scenario(
        name="large-hello-mtu",
        title="A small MTU towards the API server drops kubectl's 1.5 kB ClientHello",
        cause=("packets over 1000 bytes from the client to the API server vanish on the way, as on a "
               "smaller-MTU tunnel whose ICMP 'fragmentation needed' is filtered: a 517-byte hello "
               "passes, kubectl's does not"),
        client="in",
        kubeconfig=_private(),
        # One direction only, as a link in the middle: an MTU on a veth would also drop the
        # server's large answers, and an MTU on an end host would shrink the MSS it announces.
        rules=(RouterRule(("-s", A.INSIDE_IP, "-d", A.API_IP, "-m", "length", "--length", "1001:65535",
                           "-j", "DROP")),),
        expect=Expect(kubectl_ok=False, blockers=frozenset({"net.mtu_blackhole", "tls.handshake_failed"})),
    ),
)

SCENARIOS = SCENARIOS + TUNNEL_SCENARIOS


def by_name(name: str) -> Scenario:
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}")


@contextlib.contextmanager
def prepared(lab: Lab, scenario: Scenario) -> Iterator[Prepared]:
    """Apply ``scenario`` to ``lab`` and undo it on the way out, even on failure."""
    s = lab.secrets
    fill = {"proxy_user": s.proxy_user, "proxy_password": s.proxy_password,
            "tls_dir": str(lab.path("tls"))}
    spec = scenario.kubeconfig
    if spec.auth == "exec":
        spec = dataclasses.replace(spec, exec_env={EXEC_SECRET_VAR: s.exec_secret})
    started: list[Daemon] = []
    try:
        lab.forget_path_mtus()  # whatever ran before may have taught a host a smaller MTU
        lab.write_client_files(scenario.client, nameservers=scenario.nameservers,
                               hosts=scenario.hosts, resolv_options=scenario.resolv_options)
        for key, servers in scenario.host_nameservers.items():
            lab.write_client_files(key, nameservers=servers)
        for d in scenario.daemons:
            if d.config is not None:
                kubeconfigs.write(lab.path(f"{d.name}.conf"),
                                  d.config.replace("{workdir}", str(lab.workdir)))
            argv = [a.replace("{workdir}", str(lab.workdir)) for a in d.argv]
            started.append(lab.start_daemon(d.key, d.name, argv, ready=d.ready))
        for rule in scenario.rules:
            lab.add_rule(*rule.spec, table=rule.table, chain=rule.chain)
        for key, mtu in scenario.router_mtu.items():
            lab.router_exec(["ip", "link", "set", key, "mtu", str(mtu)])
        kubeconfig = lab.kubeconfig(scenario.name, spec)
        env = lab.client_env(scenario.client,
                             {k: v.format(**fill) for k, v in scenario.env.items()})
        yield Prepared(scenario, scenario.client, kubeconfig, env, s.values())
    finally:
        for daemon in reversed(started):
            lab.stop_daemon(daemon)
        lab.reset()
