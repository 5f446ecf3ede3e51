"""The lab: network namespaces wired to one router, real servers inside them, torn down
whatever happens.

Every host has one veth to the router namespace and a /32 address; the router holds a
/32 route per host, so every packet between two hosts crosses the router's FORWARD chain
and any path can be cut there. Links are created directly inside the lab's namespaces
and never appear in the root namespace; the router has no default route and no link out,
so nothing can leave the lab.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from agent.lab import addresses as A
from agent.lab import kubeconfigs, netns, pki, plugins, services
from agent.lab.netns import LabError

T = TypeVar("T")

OWNER_DIR = Path("/run/kubereach-lab")
# The directory holding the ``agent`` package: servers run as ``python -m agent.lab...``
# from here, so the lab works from a checkout without an install.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
ROUTER = "rtr"
FORWARD_CHAIN = "KR-FWD"  # scenario filter rules; FORWARD jumps here first
PREROUTING_CHAIN = "KR-PRE"  # scenario DNAT rules; nat PREROUTING jumps here first
BORDER_CHAIN = "KR-BORDER"  # the internet does not route private addresses
UNASSIGNED_LINK = "unassigned"  # the router's route for lab addresses no host holds
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_TLS_HOSTS = ("api", "pub", "mbx", "web")


@dataclass
class Daemon:
    name: str
    ns: str
    proc: subprocess.Popen[bytes]
    log_path: Path


@dataclass(frozen=True)
class IptablesRule:
    """A rule the lab added; pass it back to :meth:`Lab.delete_rule`."""

    host: str
    table: str
    chain: str
    spec: tuple[str, ...]


@dataclass(frozen=True)
class Secrets:
    token: str
    proxy_user: str
    proxy_password: str
    exec_secret: str
    expired_token: str = ""  # a token the API server does not (or no longer) accept
    client_key_line: str = ""  # a line of the foreign client certificate's key

    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.token, self.proxy_password, self.exec_secret, self.expired_token,
                                 self.client_key_line) if v)


def _pdeathsig() -> None:
    # If the lab's process dies without tearing down (SIGKILL), its daemons follow it
    # instead of living on inside namespaces nobody will delete.
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lab:
    """One lab instance. ``with Lab() as lab:`` builds it and always tears it down."""

    def __init__(self, *, prefix: str | None = None, workdir: str | None = None) -> None:
        self.prefix = prefix or f"kr{secrets.token_hex(2)}"
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"kubereach-lab-{self.prefix}-"))
        self.secrets = Secrets(
            token=secrets.token_hex(32),
            proxy_user="kreach",
            proxy_password=f"Pw-{secrets.token_urlsafe(12)}",
            exec_secret=f"spn-{secrets.token_urlsafe(24)}",
            expired_token=secrets.token_hex(32),
        )
        self.daemons: list[Daemon] = []
        self._rules: list[IptablesRule] = []
        self._namespaces: list[str] = []
        self._etc_dirs: list[Path] = []
        self._removed_routes: set[str] = set()
        self._up = False
        self._atexit_registered = False
        self.cluster_ca: pki.KeyPair | None = None
        self.stale_ca: pki.KeyPair | None = None
        self.inspection_ca: pki.KeyPair | None = None
        self.client_ca: pki.KeyPair | None = None
        self.foreign_client_ca: pki.KeyPair | None = None
        self.foreign_client: pki.KeyPair | None = None

    # ---- naming -------------------------------------------------------------------------

    def ns(self, key: str) -> str:
        """The namespace name of host ``key`` ("api", "in", ... or "rtr")."""
        if key != ROUTER:
            A.host(key)
        return f"{self.prefix}-{key}"

    @staticmethod
    def link(key: str) -> str:
        """The router-side interface name of host ``key``'s link (the host side is eth0)."""
        A.host(key)
        return key

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> Lab:
        """Build everything; on any failure tear down what was built and re-raise."""
        if self._up:
            return self
        self._up = True
        if not self._atexit_registered:
            atexit.register(self.down)
            self._atexit_registered = True
        try:
            self._write_owner_file()
            self._build_network()
            self._mint_certificates()
            self._write_netns_files()
            self._start_servers()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Idempotent teardown: processes, namespaces, /etc/netns dirs, files."""
        errors: list[str] = []
        for daemon in reversed(self.daemons):
            _stop(daemon.proc)
        self.daemons.clear()
        # Anything else still running inside a lab namespace was started through the lab
        # (a kubectl or kubereach run, a helper's probe): end it by pid before deleting.
        for ns in self._namespaces:
            for pid in netns.pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for ns in reversed(self._namespaces):
            netns.delete(ns)
            if netns.exists(ns):
                errors.append(f"namespace {ns} still exists")
        self._namespaces.clear()
        for d in self._etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._etc_dirs.clear()
        with contextlib.suppress(OSError):
            os.rmdir(netns.NETNS_ETC_DIR)  # only if empty: other users may keep theirs
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (OWNER_DIR / f"{self.prefix}.json").unlink()
        self._rules.clear()
        self._up = False
        if self._atexit_registered:
            atexit.unregister(self.down)
            self._atexit_registered = False
        if errors:
            raise LabError("; ".join(errors))

    def _write_owner_file(self) -> None:
        OWNER_DIR.mkdir(parents=True, exist_ok=True)
        owner = {"pid": os.getpid(), "workdir": str(self.workdir), "prefix": self.prefix}
        (OWNER_DIR / f"{self.prefix}.json").write_text(json.dumps(owner))

    # ---- network ------------------------------------------------------------------------

    def _add_ns(self, key: str) -> str:
        name = self.ns(key)
        netns.add(name)
        self._namespaces.append(name)
        self.ip(key, "link", "set", "lo", "up")
        # IPv6 off: the lab is an IPv4 world, and stray router solicitations or AAAA
        # fallbacks would only add noise to captures.
        self.sysctl(key, "net.ipv6.conf.all.disable_ipv6", "1")
        # The kernel rate-limits ICMP errors (1/s per peer): a diagnosis probing a
        # no-route path several times would silence the router for kubectl's run right
        # after, turning a fast "network is unreachable" into a retransmit and a timeout.
        self.sysctl(key, "net.ipv4.icmp_ratelimit", "0")
        return name

    def ip(self, key: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``ip -n <ns of key> ARGS``."""
        return netns.sh(["ip", "-n", self.ns(key), *args])

    def sysctl(self, key: str, name: str, value: str) -> None:
        netns.sh(netns.exec_argv(self.ns(key), ["sysctl", "-qw", f"{name}={value}"]))

    def _build_network(self) -> None:
        router = self._add_ns(ROUTER)
        self.sysctl(ROUTER, "net.ipv4.ip_forward", "1")
        for spec in A.HOSTS:
            self._add_ns(spec.key)
            self.ip(spec.key, "link", "add", "eth0", "type", "veth",
                    "peer", "name", spec.key, "netns", router)
            self.ip(spec.key, "addr", "add", f"{spec.address}/32", "dev", "eth0")
            self.ip(spec.key, "link", "set", "eth0", "up")
            self.ip(spec.key, "route", "add", spec.gateway, "dev", "eth0", "scope", "link")
            self.ip(spec.key, "route", "add", "default", "via", spec.gateway,
                    "dev", "eth0", "src", spec.address)
            # The same gateway address on several router links is fine: each link is a
            # point-to-point segment and the router answers ARP for it on each.
            self.ip(ROUTER, "addr", "add", f"{spec.gateway}/32", "dev", spec.key)
            self.ip(ROUTER, "link", "set", spec.key, "up")
            self._add_host_route(spec.key)
        self._router_baseline()

    def _add_host_route(self, key: str) -> None:
        spec = A.host(key)
        self.ip(ROUTER, "route", "replace", f"{spec.address}/32", "dev", spec.key,
                "src", spec.gateway)

    def _router_baseline(self) -> None:
        # Unassigned lab addresses (10.1.0.5, 10.0.0.9, ...) go to a link whose far end is
        # down, where KR-BORDER rejects them: the kernel's own "no route" answer is rate
        # limited by the global net.ipv4.route.error_cost (5 at once, then 1/s), which we
        # must not touch, and would turn a fast "network is unreachable" into a timeout.
        self.ip(ROUTER, "link", "add", UNASSIGNED_LINK, "type", "veth", "peer", "name",
                f"{UNASSIGNED_LINK}0")
        self.ip(ROUTER, "link", "set", UNASSIGNED_LINK, "up")
        for net in (*_PRIVATE, *A.INTERNET_NETS):
            self.ip(ROUTER, "route", "add", net, "dev", UNASSIGNED_LINK)
        ipt = self.iptables
        ipt(ROUTER, "-N", FORWARD_CHAIN)
        ipt(ROUTER, "-N", BORDER_CHAIN)
        ipt(ROUTER, "-A", "FORWARD", "-j", FORWARD_CHAIN)
        ipt(ROUTER, "-A", "FORWARD", "-j", BORDER_CHAIN)
        ipt(ROUTER, "-A", BORDER_CHAIN, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
            "-j", "RETURN")
        for src in A.INTERNET_NETS:
            for dst in _PRIVATE:
                ipt(ROUTER, "-A", BORDER_CHAIN, "-s", src, "-d", dst,
                    "-j", "REJECT", "--reject-with", "icmp-net-unreachable")
        ipt(ROUTER, "-A", BORDER_CHAIN, "-o", UNASSIGNED_LINK,
            "-j", "REJECT", "--reject-with", "icmp-net-unreachable")
        ipt(ROUTER, "-t", "nat", "-N", PREROUTING_CHAIN)
        ipt(ROUTER, "-t", "nat", "-A", "PREROUTING", "-j", PREROUTING_CHAIN)

    # ---- certificates and files ---------------------------------------------------------

    def path(self, *parts: str) -> Path:
        return self.workdir.joinpath(*parts)

    def _mint_certificates(self) -> None:
        self.cluster_ca = pki.make_ca("ca")
        self.stale_ca = pki.make_ca("ca")  # same subject, other key: a recreated cluster
        self.inspection_ca = pki.make_ca("Contoso TLS Inspection Root CA", "Contoso")
        names = [A.PRIVATE_FQDN, A.PRIVATE_PUBLIC_FQDN, A.PUBLIC_FQDN, "kubernetes",
                 "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local"]
        ips = ["10.0.0.1", A.API_IP, A.PUBLIC_API_IP]
        server = pki.make_server_cert(self.cluster_ca, "apiserver", names, ips)
        # An inspecting middlebox copies the real subject and names and signs with its own CA.
        forged = pki.make_server_cert(self.inspection_ca, "apiserver", names, ips)
        (self.workdir / "tls").mkdir(exist_ok=True)
        for label, pair in (("apiserver", server), ("inspected", forged)):
            kubeconfigs.write(self.path("tls", f"{label}.crt"), pair.cert_pem.decode())
            kubeconfigs.write(self.path("tls", f"{label}.key"), pair.key_pem.decode())
        for label, pair in (("cluster-ca", self.cluster_ca), ("stale-ca", self.stale_ca),
                            ("inspection-ca", self.inspection_ca)):
            kubeconfigs.write(self.path("tls", f"{label}.crt"), pair.cert_pem.decode())
        kubeconfigs.write(self.path("token"), self.secrets.token + "\n")
        # Client certificates: the cluster's client CA, and a look-alike from another cluster
        # (another subject: the stand-in's handshake must tell them apart, see apiserver.py).
        self.client_ca = pki.make_ca("client-ca")
        self.foreign_client_ca = pki.make_ca("client-ca-of-another-cluster")
        self.foreign_client = pki.make_client_cert(self.foreign_client_ca, "kreach-ci", ["devs"])
        key_lines = [ln for ln in self.foreign_client.key_pem.decode().splitlines() if "---" not in ln]
        self.secrets = dataclasses.replace(self.secrets, client_key_line=key_lines[0])
        for label, pair in (("client-ca", self.client_ca), ("foreign-client-ca", self.foreign_client_ca)):
            kubeconfigs.write(self.path("tls", f"{label}.crt"), pair.cert_pem.decode())
        plugins.write_lab_plugins(self.path("bin"))

    def ca_pem(self, which: str) -> bytes | None:
        pair = {"cluster": self.cluster_ca, "stale": self.stale_ca,
                "inspection": self.inspection_ca}.get(which)
        return pair.cert_pem if pair else None

    def _etc_dir(self, key: str) -> Path:
        return Path(netns.NETNS_ETC_DIR) / self.ns(key)

    def default_nameserver(self, key: str) -> str:
        # The cluster VNet and the hub are linked to the private zone; the peered VNet is
        # not, so its Azure DNS answers with the internet's view.
        if key in ("peer", "inet", "dnsp", "pub"):
            return A.PUBLIC_DNS_IP
        return A.LINKED_DNS_IP

    def write_client_files(
        self, key: str, *, nameservers: Sequence[str] | None = None,
        hosts: Mapping[str, str | tuple[str, ...]] | None = None,
        resolv_options: Sequence[str] = (),
    ) -> None:
        """Write /etc/netns/<ns>/{resolv.conf,hosts}; ``ip netns exec`` mounts them over
        /etc for every command run in that namespace from then on. ``resolv_options`` are
        added to resolv.conf's options line (``use-vc``, ``rotate``, ``ndots:3``...)."""
        d = self._etc_dir(key)
        d.mkdir(parents=True, exist_ok=True)
        if d not in self._etc_dirs:
            self._etc_dirs.append(d)
        servers = list(nameservers) if nameservers else [self.default_nameserver(key)]
        options = " ".join(("timeout:2", "attempts:2", *resolv_options))
        resolv = "".join(f"nameserver {s}\n" for s in servers) + f"options {options}\n"
        # A name may map to several addresses: one line each, in order, as Go reads them.
        extra = "".join(f"{ip}\t{name}\n" for name, ips in (hosts or {}).items()
                        for ip in ((ips,) if isinstance(ips, str) else ips))
        # Rewrite in place: a bind mount in a running `ip netns exec` keeps the old inode.
        for name, text in (("resolv.conf", resolv), ("hosts", DEFAULT_HOSTS + extra)):
            with open(d / name, "w", encoding="utf-8") as fh:
                fh.write(text)

    def _write_netns_files(self) -> None:
        for spec in A.HOSTS:
            self.write_client_files(spec.key)
        for key in A.CLIENTS:
            self.path("home", key).mkdir(parents=True, exist_ok=True)

    # ---- servers ------------------------------------------------------------------------

    def _start(self, key: str, name: str, argv: Sequence[str], *,
               ready_line: bool = False) -> Daemon:
        log_path = self.path("logs", f"{name}.log")
        log_path.parent.mkdir(exist_ok=True)
        log = open(log_path, "wb")  # noqa: SIM115 - owned by the child from here on
        try:
            proc = subprocess.Popen(
                netns.exec_argv(self.ns(key), argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if ready_line else log,
                stderr=log,
                preexec_fn=_pdeathsig,  # only ever called from the main thread: see _pdeathsig
                cwd=SOURCE_ROOT,
            )
        finally:
            log.close()
        daemon = Daemon(name, self.ns(key), proc, log_path)
        self.daemons.append(daemon)
        return daemon

    def _start_servers(self) -> None:
        w = self.workdir
        conf = {
            "dnsmasq-linked.conf": services.linked_resolver_conf(),
            "dnsmasq-custom.conf": services.custom_resolver_conf(),
            "unbound.conf": services.public_resolver_conf(str(w)),
            "tinyproxy.conf": services.proxy_conf(
                str(w), self.secrets.proxy_user, self.secrets.proxy_password),
        }
        for fname, text in conf.items():
            kubeconfigs.write(w / fname, text)
        dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        unbound = shutil.which("unbound") or "/usr/sbin/unbound"
        tinyproxy = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        servers: list[Daemon] = []
        servers.append(self._start("dnsp", "unbound", [unbound, "-d", "-c", str(w / "unbound.conf")]))
        servers.append(self._start("dnsl", "dnsmasq-linked", [
            dnsmasq, "-k", "--user=root", f"--conf-file={w / 'dnsmasq-linked.conf'}",
            f"--pid-file={w / 'dnsmasq-linked.pid'}"]))
        servers.append(self._start("dnsc", "dnsmasq-custom", [
            dnsmasq, "-k", "--user=root", f"--conf-file={w / 'dnsmasq-custom.conf'}",
            f"--pid-file={w / 'dnsmasq-custom.pid'}"]))
        servers.append(self._start("prx", "tinyproxy", [tinyproxy, "-d", "-c", str(w / "tinyproxy.conf")]))
        kubeconfigs.write(w / "proxy-credentials",
                          f"{self.secrets.proxy_user}:{self.secrets.proxy_password}\n")
        tls = w / "tls"
        layout = {
            "api": (A.API_IP, "apiserver", "kube"),
            "pub": (A.PUBLIC_API_IP, "apiserver", "kube"),
            "mbx": (A.MIDDLEBOX_IP, "inspected", "kube"),
            "web": (A.WEB_IP, "apiserver", "blockpage"),
        }
        tls_daemons: list[Daemon] = []  # each prints a ready line
        for key in _TLS_HOSTS:
            address, cert, mode = layout[key]
            tls_daemons.append(self._start(key, f"tls-{key}", [
                sys.executable, "-m", "agent.lab.apiserver",
                "--listen", f"{address}:{A.API_PORT}",
                "--cert", str(tls / f"{cert}.crt"), "--key", str(tls / f"{cert}.key"),
                "--token-file", str(w / "token"), "--mode", mode,
                "--client-ca", str(tls / "client-ca.crt"),
                "--known-client-ca", str(tls / "foreign-client-ca.crt"),
            ], ready_line=True))
        tls_daemons.append(self._start("prx", "authproxy", [
            sys.executable, "-m", "agent.lab.authproxy",
            "--listen", f"{A.PROXY_IP}:{A.PROXY_PORT}",
            "--credentials-file", str(w / "proxy-credentials"),
        ], ready_line=True))
        deadline = time.monotonic() + 15.0
        for d in tls_daemons:
            _wait_ready_line(d, deadline)
        for d in servers:
            if d.proc.poll() is not None:
                raise LabError(f"{d.name} exited at start: {_tail(d.log_path)}")
        self._wait_dns(A.LINKED_DNS_IP, "dnsl", deadline)
        self._wait_dns(A.CUSTOM_DNS_IP, "dnsc", deadline)
        self._wait_dns(A.PUBLIC_DNS_IP, "dnsp", deadline)
        self._wait_tcp("in", A.PROXY_IP, A.TINYPROXY_PORT, deadline)

    def _wait_dns(self, server: str, key: str, deadline: float) -> None:
        import dns.message
        import dns.query

        def ask() -> None:
            q = dns.message.make_query(A.PUBLIC_FQDN, "A")
            dns.query.udp(q, server, timeout=0.3)

        self._retry(lambda: self.call_in("in", ask), f"DNS server {server}", key, deadline)

    def _wait_tcp(self, key: str, address: str, port: int, deadline: float) -> None:
        import socket

        def dial() -> None:
            with socket.create_connection((address, port), timeout=0.3):
                pass

        self._retry(lambda: self.call_in(key, dial), f"{address}:{port}", key, deadline)

    def _retry(self, fn: Callable[[], object], what: str, key: str, deadline: float) -> None:
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                fn()
                return
            except Exception as exc:
                last = exc
                time.sleep(0.05)
        raise LabError(f"{what} not ready in time: {last}")

    # ---- driving the lab ----------------------------------------------------------------

    def start_daemon(self, key: str, name: str, argv: Sequence[str], *,
                     ready: tuple[str, int] | None = None, timeout_s: float = 10.0) -> Daemon:
        """Start a scenario's server in ``key``'s namespace; with ``ready``, wait until
        that address and port accept a connection from inside the namespace."""
        daemon = self._start(key, name, argv)
        if ready is not None:
            try:
                self._wait_tcp(key, ready[0], ready[1], time.monotonic() + timeout_s)
            except LabError:
                self.stop_daemon(daemon)
                raise
        return daemon

    def stop_daemon(self, daemon: Daemon) -> None:
        _stop(daemon.proc)
        with contextlib.suppress(ValueError):
            self.daemons.remove(daemon)

    def call_in(self, key: str, fn: Callable[[], T], *, timeout_s: float = 10.0) -> T:
        """Run a Python callable with its sockets inside host ``key``'s namespace."""
        return netns.call_in(self.ns(key), fn, timeout_s=timeout_s)

    def client_env(self, key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment for a client: PATH, HOME, and what the caller adds."""
        home = self.path("home", key) if key in A.CLIENTS else self.workdir
        env = {"PATH": PATH_ENV, "HOME": str(home), "LANG": "C.UTF-8"}
        env.update(extra or {})
        return env

    def exec_argv(self, key: str, argv: Sequence[str], env: Mapping[str, str] | None = None
                  ) -> list[str]:
        """argv running ``argv`` in ``key``'s namespace; with ``env``, under ``env -i``."""
        inner = list(argv)
        if env is not None:
            inner = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *inner]
        return netns.exec_argv(self.ns(key), inner)

    def run_in(
        self, key: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        timeout_s: float = 30.0, check: bool = False, cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in host ``key``'s namespace (its resolv.conf and hosts mounted).

        ``env=None`` inherits nothing but a clean client environment; pass a mapping to
        choose it exactly (see :meth:`client_env`).
        """
        env = env if env is not None else self.client_env(key)
        argv_full = self.exec_argv(key, argv, env)
        try:
            proc = subprocess.run(argv_full, capture_output=True, text=True, timeout=timeout_s,
                                  check=False, cwd=cwd)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{' '.join(argv)} in {key}: no exit within {timeout_s:g}s") from exc
        if check and proc.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {key}: exit {proc.returncode}: {proc.stderr}")
        return proc

    def router_exec(self, argv: Sequence[str], *, check: bool = True
                    ) -> subprocess.CompletedProcess[str]:
        """Run a command (``ip route ...``, ``tc ...``) in the router's namespace."""
        return netns.sh(netns.exec_argv(self.ns(ROUTER), argv), check=check)

    def iptables(self, key: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``iptables ARGS`` inside ``key``'s namespace (never the root namespace's)."""
        return netns.sh(netns.exec_argv(self.ns(key), ["iptables", "-w", "2", *args]),
                        check=check)

    def add_rule(self, *spec: str, table: str = "filter", chain: str | None = None,
                 host: str = ROUTER) -> IptablesRule:
        """Insert an iptables rule at the top of ``chain`` in ``host``'s namespace.

        By default the rule goes to the router's scenario chain (KR-FWD for filter, KR-PRE
        for nat), which every forwarded packet meets before anything else. Example:
        ``lab.add_rule("-s", INTERNET_IP, "-d", PUBLIC_API_IP, "-p", "tcp", "--dport",
        "443", "-j", "DROP")``.
        """
        if chain is None:
            chain = PREROUTING_CHAIN if table == "nat" else FORWARD_CHAIN
        self.iptables(host, "-t", table, "-I", chain, *spec)
        rule = IptablesRule(host, table, chain, tuple(spec))
        self._rules.append(rule)
        return rule

    def delete_rule(self, rule: IptablesRule) -> None:
        self.iptables(rule.host, "-t", rule.table, "-D", rule.chain, *rule.spec, check=False)
        with contextlib.suppress(ValueError):
            self._rules.remove(rule)

    def clear_rules(self) -> None:
        """Remove every rule added through :meth:`add_rule`; the baseline stays."""
        for rule in list(reversed(self._rules)):
            self.delete_rule(rule)

    @contextlib.contextmanager
    def rules(self, *rules: Sequence[str], table: str = "filter") -> Iterator[list[IptablesRule]]:
        added: list[IptablesRule] = []
        try:
            for spec in rules:
                added.append(self.add_rule(*spec, table=table))
            yield added
        finally:
            for rule in reversed(added):
                self.delete_rule(rule)

    def drop(self, *, src: str | None = None, dst: str | None = None, port: int | None = None,
             proto: str = "tcp") -> IptablesRule:
        """Silently drop forwarded packets (an NSG deny, a firewall without reject)."""
        return self.add_rule(*_match(src, dst, port, proto), "-j", "DROP")

    def reject(self, *, src: str | None = None, dst: str | None = None, port: int | None = None,
               proto: str = "tcp", with_: str = "tcp-reset") -> IptablesRule:
        """Reject forwarded packets: ``tcp-reset`` or an ICMP type such as
        ``icmp-host-unreachable``, ``icmp-net-unreachable``, ``icmp-admin-prohibited``."""
        return self.add_rule(*_match(src, dst, port, proto), "-j", "REJECT",
                             "--reject-with", with_)

    def dnat(self, *, src: str | None, dst: str, port: int, to: str) -> IptablesRule:
        """Send a client's connections to ``dst:port`` to ``to`` instead (a transparent
        middlebox)."""
        return self.add_rule(*_match(src, dst, port, "tcp"), "-j", "DNAT",
                             "--to-destination", to, table="nat")

    def remove_route(self, key: str) -> None:
        """Take away the router's route to ``key``: a ``throw`` route in its place ends
        the lookup as if nothing matched (not even the unassigned catch-all), so the
        kernel itself answers ICMP net unreachable, before any TTL check, as a router
        with no route does. That answer is rate limited by the global
        ``net.ipv4.route.error_cost`` (5 at once, then 1/s). :meth:`restore_route` undoes it.
        """
        spec = A.host(key)
        self.ip(ROUTER, "route", "replace", "throw", f"{spec.address}/32")
        self._removed_routes.add(key)

    def restore_route(self, key: str) -> None:
        self._add_host_route(key)
        self._removed_routes.discard(key)

    def set_mtu(self, key: str, mtu: int) -> None:
        """Set the MTU on both ends of ``key``'s link."""
        self.ip(key, "link", "set", "eth0", "mtu", str(mtu))
        self.ip(ROUTER, "link", "set", self.link(key), "mtu", str(mtu))

    def reset(self) -> None:
        """Undo every change made through this API since :meth:`up`: rules, routes, MTUs,
        client files. Scenarios call it between runs."""
        self.clear_rules()
        self.iptables(ROUTER, "-F", FORWARD_CHAIN, check=False)
        self.iptables(ROUTER, "-t", "nat", "-F", PREROUTING_CHAIN, check=False)
        for key in list(self._removed_routes):
            self.restore_route(key)
        for spec in A.HOSTS:
            self.ip(spec.key, "link", "set", "eth0", "mtu", "1500")
            self.ip(ROUTER, "link", "set", spec.key, "mtu", "1500")
            self.write_client_files(spec.key)
        self.forget_path_mtus()

    def forget_path_mtus(self) -> None:
        """Drop every namespace's learnt path MTUs.

        A 'fragmentation needed' that got through once leaves a route exception (10 minutes
        by default, ``net.ipv4.route.mtu_expires``) that survives MTU and rule resets: the API
        server then sends small segments to the client and a later black-hole scenario passes
        for kubectl, so the lab no longer builds what it claims.
        """
        for key in (ROUTER, *(spec.key for spec in A.HOSTS)):
            self.ip(key, "route", "flush", "cache")

    def kubeconfig(self, name: str, spec: kubeconfigs.KubeconfigSpec) -> Path:
        """Write a kubeconfig for ``spec`` into the lab and return its path."""
        text = kubeconfigs.render(spec, name=name, ca_pem=self.ca_pem(spec.ca),
                                  token=self.secrets.token, expired_token=self.secrets.expired_token,
                                  client=self.foreign_client, plugin_dir=self.path("bin"))
        d = self.path("kubeconfigs")
        d.mkdir(exist_ok=True)
        return kubeconfigs.write(d / f"{name}.yaml", text)


def _match(src: str | None, dst: str | None, port: int | None, proto: str) -> list[str]:
    out: list[str] = []
    if src:
        out += ["-s", src]
    if dst:
        out += ["-d", dst]
    out += ["-p", proto]
    if port is not None:
        out += ["--dport", str(port)]
    return out


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 2.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace_s)
    if proc.stdout:
        proc.stdout.close()


def _wait_ready_line(daemon: Daemon, deadline: float) -> None:
    stream: IO[bytes] | None = daemon.proc.stdout
    assert stream is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LabError(f"{daemon.name} did not report ready: {_tail(daemon.log_path)}")
        readable, _, _ = select.select([stream], [], [], remaining)
        if readable:
            line = stream.readline()
            if line.strip() == b"ready":
                return
            if not line:
                raise LabError(f"{daemon.name} exited at start: {_tail(daemon.log_path)}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cleanup_stale(prefix_filter: str = "kr") -> list[str]:
    """Tear down labs whose owning process has died (killed before it could clean up).

    Only labs that recorded an owner file are touched, and only when that pid is gone.
    """
    removed: list[str] = []
    if not OWNER_DIR.is_dir():
        return removed
    for owner_file in OWNER_DIR.glob(f"{prefix_filter}*.json"):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(int(owner.get("pid", 0))):
            continue
        prefix = str(owner["prefix"])
        for ns in netns.listed(f"{prefix}-"):
            for pid in netns.pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            netns.delete(ns)
            shutil.rmtree(Path(netns.NETNS_ETC_DIR) / ns, ignore_errors=True)
        workdir = str(owner.get("workdir", ""))
        if workdir.startswith(tempfile.gettempdir() + "/kubereach-lab-"):
            shutil.rmtree(workdir, ignore_errors=True)
        owner_file.unlink(missing_ok=True)
        removed.append(prefix)
    return removed
