"""Whether kubectl would use a proxy, decided as Go decides it, and a CONNECT through it.

``decide`` is pure: the kubeconfig's proxy-url always wins; otherwise HTTPS_PROXY (or
https_proxy) for an https server, never HTTP_PROXY; NO_PROXY entries are hosts, domains
(matching their subdomains too), ``.domain`` or ``*.domain`` (subdomains only), IPs, CIDRs,
each with an optional ``:port``, or ``*`` for everything; no other globs; localhost and
loopback addresses are never proxied from the environment.

``connect`` (probe ``proxy.connect``) dials the proxy and asks it for a tunnel. Needs: TCP
to the proxy. Failure kinds: proxy.unreachable, proxy.refused_connect,
proxy.auth_required, proxy.scheme_mismatch, proxy.error. Facts: proxy (redacted), status,
auth_scheme, server header.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from probes.base import Failure, ProbeContext, ProbeResult, Status
from probes.tcp import classify_os_error, dial


@dataclass(frozen=True)
class ProxyDecision:
    used: bool
    url: str | None  # with credentials; never printed: see redacted
    source: str  # "kubeconfig proxy-url" | "HTTPS_PROXY" | "https_proxy" | "none"
    reason: str

    @property
    def redacted(self) -> str | None:
        from agent.target import redact_url

        return redact_url(self.url) if self.url else None


def _env_any(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        if env.get(name):
            return name, env[name]
    return None


def no_proxy_matches(no_proxy: str, host: str, port: int) -> str | None:
    """The NO_PROXY entry that exempts host:port, or None."""
    host = host.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return entry
        try:
            net = ipaddress.ip_network(entry, strict=False) if "/" in entry else None
        except ValueError:
            net = None
        if net is not None:
            if ip is not None and ip in net:
                return entry
            continue
        try:
            if ip is not None and ipaddress.ip_address(entry) == ip:
                return entry
            ipaddress.ip_address(entry)
            continue
        except ValueError:
            pass
        entry_host, entry_port = entry, ""
        if entry.startswith("[") and "]" in entry:
            entry_host, _, rest = entry[1:].partition("]")
            entry_port = rest.lstrip(":")
        elif entry.count(":") == 1:
            entry_host, entry_port = entry.split(":")
        if entry_port and entry_port != str(port):
            continue
        try:
            entry_ip = ipaddress.ip_address(entry_host)
        except ValueError:
            entry_ip = None
        if entry_ip is not None:
            if entry_ip == ip:
                return entry
            continue
        if entry_host.startswith("*"):
            entry_host = entry_host[1:]
        if not entry_host:
            continue
        exact = not entry_host.startswith(".")
        suffix = entry_host if not exact else "." + entry_host
        if host.endswith(suffix) or (exact and host == entry_host):
            return entry
    return None


def decide(kubeconfig_proxy: str | None, env: Mapping[str, str], host: str, port: int,
           scheme: str = "https") -> ProxyDecision:
    if kubeconfig_proxy:
        return ProxyDecision(True, kubeconfig_proxy, "kubeconfig proxy-url",
                             "the kubeconfig's proxy-url is used for every request")
    names = ("HTTPS_PROXY", "https_proxy") if scheme == "https" else ("HTTP_PROXY", "http_proxy")
    found = _env_any(env, *names)
    if found is None:
        return ProxyDecision(False, None, "none", f"no {names[0]} in the environment")
    name, value = found
    if host.lower() == "localhost":
        return ProxyDecision(False, None, name, "localhost is never proxied")
    try:
        if ipaddress.ip_address(host).is_loopback:
            return ProxyDecision(False, None, name, "loopback addresses are never proxied")
    except ValueError:
        pass
    exempt = _env_any(env, "NO_PROXY", "no_proxy")
    if exempt is not None:
        entry = no_proxy_matches(exempt[1], host, port)
        if entry is not None:
            return ProxyDecision(False, None, name, f"{exempt[0]} entry {entry!r} exempts {host}")
    url = value if "://" in value else "http://" + value
    return ProxyDecision(True, url, name, f"{name} is set and no NO_PROXY entry matches {host}")


MAX_HEAD_BYTES = 64 * 1024  # a CONNECT answer is a few hundred bytes; no proxy needs more


def _read_head(sock: socket.socket, ends: float) -> tuple[bytes, str | None]:
    """The proxy's answer up to its blank line, read against one deadline for the whole
    (a socket timeout alone would restart with every byte a dribbling proxy sends).

    Returns the bytes and why reading stopped short: None (a complete head), "eof", "time",
    "size", or "not-http" (the first bytes already rule HTTP out, so waiting is pointless).
    """
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) >= MAX_HEAD_BYTES:
            return data[:MAX_HEAD_BYTES], "size"
        if (len(data) >= 5 and not data.startswith(b"HTTP/")) or data[:1] in (b"\x15", b"\x16"):
            return data, "not-http"
        left = ends - time.monotonic()
        if left <= 0:
            return data, "time"
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(4096, MAX_HEAD_BYTES - len(data)))
        except TimeoutError:
            return data, "time"
        if not chunk:
            return data, "eof"
        data += chunk
    return data, None


def connect(ctx: ProbeContext, decision: ProxyDecision, host: str, port: int
            ) -> tuple[ProbeResult, socket.socket | None]:
    """CONNECT host:port through the proxy. On success the tunnel socket is returned open."""
    started = time.monotonic()
    assert decision.url is not None
    parts = urlsplit(decision.url)
    shown = decision.redacted or ""
    facts: dict = {"proxy": shown, "source": decision.source, "scheme": parts.scheme}
    if parts.scheme not in ("http", "https"):
        return ProbeResult("proxy.connect", shown, Status.SKIPPED, 0.0, facts=facts,
                           reason=f"{parts.scheme} proxies are not probed yet"), None
    proxy_host = parts.hostname or ""
    proxy_port = parts.port or (443 if parts.scheme == "https" else 80)

    def fail(kind: str, detail: str, **more: object) -> tuple[ProbeResult, None]:
        return ProbeResult("proxy.connect", shown, Status.FAILED, time.monotonic() - started,
                           facts={**facts, **more}, failure=Failure(kind, detail)), None

    budget = ctx.deadline.cap(ctx.timeout_s)
    ends = started + budget
    try:
        sock = dial(proxy_host, proxy_port, budget)
    except OSError as exc:
        kind, why = classify_os_error(exc)
        return fail("proxy.unreachable", f"cannot reach the proxy {proxy_host}:{proxy_port}: {why}",
                    tcp_kind=kind)
    try:
        if parts.scheme == "https":
            tls = ssl.create_default_context()
            # CPython bounds the whole handshake by this one timeout, not each read.
            sock.settimeout(max(0.05, ends - time.monotonic()))
            try:
                sock = tls.wrap_socket(sock, server_hostname=proxy_host)
            except TimeoutError:
                sock.close()
                return fail("proxy.error", f"TLS to the proxy did not complete within {budget:g} s")
            except ssl.SSLError as exc:
                sock.close()
                if "WRONG_VERSION_NUMBER" in str(exc).upper():
                    return fail("proxy.scheme_mismatch",
                                "the proxy URL says https:// but the proxy speaks plain HTTP")
                return fail("proxy.error", f"TLS to the proxy failed: {exc.reason or exc}")
        request = f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        if parts.username is not None:
            secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            request += "Proxy-Authorization: Basic " + base64.b64encode(secret.encode()).decode() + "\r\n"
        sock.settimeout(max(0.05, ends - time.monotonic()))
        sock.sendall((request + "\r\n").encode())
        head, short = _read_head(sock, ends)
    except TimeoutError:
        sock.close()
        return fail("proxy.error", f"the proxy did not take the CONNECT request within {budget:g} s")
    except OSError as exc:
        sock.close()
        return fail("proxy.error", f"the proxy dropped the connection: {exc.strerror or exc}")

    facts["bytes_read"] = len(head)
    if head[:1] in (b"\x15", b"\x16"):  # a TLS record: the proxy expected TLS
        sock.close()
        return fail("proxy.scheme_mismatch", "the proxy URL says http:// but the proxy speaks TLS")
    if short is not None and short != "not-http":
        sock.close()
        first = head.split(b"\r\n", 1)[0][:80].decode("latin-1")
        if short == "time" and not head:
            return fail("proxy.error", f"the proxy accepted the connection but did not answer CONNECT "
                                       f"within {budget:g} s")
        if short == "time":
            return fail("proxy.error", f"the proxy's answer to CONNECT was still incomplete after "
                                       f"{budget:g} s ({len(head)} bytes, starting {first!r})")
        if short == "size":
            return fail("proxy.error", f"the proxy's answer to CONNECT grew past "
                                       f"{MAX_HEAD_BYTES // 1024} kB without ending its headers")
        if head:
            return fail("proxy.error", f"the proxy closed the connection in the middle of its answer "
                                       f"to CONNECT ({len(head)} bytes, starting {first!r})")
        return fail("proxy.error", "the proxy closed the connection without answering CONNECT")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
        sock.close()
        return fail("proxy.error", "the proxy's answer to CONNECT is not HTTP")
    status = int(status_line[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    facts.update({"status": status, "server": headers.get("server"),
                  "credentials_sent": parts.username is not None})
    if status == 200:
        return ProbeResult("proxy.connect", shown, Status.OK, time.monotonic() - started, facts=facts), sock
    sock.close()
    # 407 is the standard answer; some proxies (tinyproxy 1.11) answer CONNECT with 401 and
    # WWW-Authenticate instead. Either way the cause is proxy credentials.
    challenge = headers.get("proxy-authenticate") or (headers.get("www-authenticate") if status == 401 else None)
    if status == 407 or challenge:
        scheme = (challenge or "").split(" ", 1)[0] or "unknown"
        return fail("proxy.auth_required",
                    f"the proxy wants authentication ({scheme})"
                    + (" and rejected the credentials in the proxy URL" if parts.username else ""),
                    auth_scheme=scheme)
    return fail("proxy.refused_connect", f"the proxy answered CONNECT with HTTP {status}")
