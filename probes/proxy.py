"""Whether kubectl would use a proxy, decided as Go decides it, and a CONNECT through it.

``decide`` is pure: the kubeconfig's proxy-url always wins; otherwise HTTPS_PROXY (or
https_proxy) for an https server, HTTP_PROXY for an http one; NO_PROXY entries as
:func:`no_proxy_matches` reads them; localhost and loopback addresses are never proxied
from the environment. tests/probes/test_go_rules.py holds Go's own cases.

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
        if env.get(name):  # Go's getEnvAny: an empty variable counts as unset
            return name, env[name]
    return None


def idna_ascii(name: str) -> str:
    """Go's idnaASCII (httpproxy): ASCII stays as it is; anything else through the IDNA
    Lookup profile (UTS 46, non-transitional, STD3 rules); on error, the name unchanged."""
    if name.isascii():
        return name
    import idna  # httpx's own dependency

    try:
        mapped = idna.uts46_remap(name, std3_rules=True, transitional=False)
        labels = [idna.alabel(label).decode() if label and not label.isascii() else label
                  for label in mapped.split(".")]
    except (idna.IDNAError, UnicodeError, ValueError):
        return name
    return ".".join(labels)


def _go_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as Go compares it: zone dropped, an IPv4-mapped IPv6 address as IPv4
    (net.IP.Equal and IPNet.Contains treat them alike)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id:
            ip = ipaddress.IPv6Address(text.split("%", 1)[0])
    return ip


def _go_cidr(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """net.ParseCIDR: an address without zone, '/', decimal prefix length; host bits allowed."""
    address, slash, bits = entry.partition("/")
    if not slash or not bits.isdigit() or not bits.isascii() or "%" in address:
        return None
    try:
        ip = ipaddress.ip_address(address)
        if int(bits) > ip.max_prefixlen:
            return None
        return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError:
        return None


def _split_host_port(text: str) -> tuple[str, str] | None:
    """net.SplitHostPort: 'host:port' or '[host]:port' (brackets removed), else None."""
    colon = text.rfind(":")
    if colon < 0:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host = text[1:end]
        if "[" in text[1:] or "]" in text[end + 1:]:
            return None
    else:
        host = text[:colon]
        if ":" in host or "[" in host or "]" in host:
            return None
    return host, text[colon + 1:]


def _sloppy_cidr(entry: str) -> ipaddress.IPv4Network | None:
    """client-go's extra check (apimachinery NewProxierWithNoProxyCIDR, ParseCIDRSloppy):
    the entry as written, not trimmed, where IPv4 parts may have leading zeros."""
    address, slash, bits = entry.partition("/")
    parts = address.split(".")
    if not slash or not bits.isdigit() or len(parts) != 4 or not all(
            p.isdigit() and p.isascii() and int(p) < 256 for p in parts):
        return None
    if int(bits) > 32:
        return None
    return ipaddress.ip_network(".".join(str(int(p)) for p in parts) + f"/{int(bits)}", strict=False)


def no_proxy_matches(no_proxy: str, host: str, port: int) -> str | None:
    """The NO_PROXY entry that exempts host:port, or None, as Go's httpproxy ``useProxy``
    decides (golang.org/x/net/http/httpproxy, vendored in go1.27.3) plus client-go's CIDR
    wrapper. Entries, lower-cased and trimmed:

    - ``*`` alone: everything;
    - an IP or CIDR (``10.0.0.0/8``, ``2001:db8::/32``, ``[::1]:443``, ``10.1.0.4:443``)
      matches only a host that is an IP literal: never a name, whatever it resolves to;
    - ``example.com`` matches the name and its subdomains; ``.example.com`` and
      ``*.example.com`` only subdomains; any other ``*`` is a literal character
      (``*example.com`` matches nothing real); entries and hosts compare in IDNA form;
    - a ``:port`` suffix limits the entry to that port.
    The host is compared as written apart from case: a trailing dot makes it a different
    name (``api.example.com.`` is not matched by ``example.com``), and a partial IP such as
    ``0.1`` is a name, not an address.
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ip = _go_ip(host)
    name = idna_ascii(host).strip().lower()
    wanted = str(port)
    ip_hits: list[str] = []
    domain_hits: list[str] = []
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return raw.strip()
        net = _go_cidr(entry)
        if net is not None:
            if ip is not None and ip.version == net.version and ip in net:
                ip_hits.append(raw.strip())
            continue
        split = _split_host_port(entry)
        entry_port = ""
        if split is not None:
            entry_host, entry_port = split
            if not entry_host:
                continue  # ":1" and the like: malformed, ignored as Go ignores it
        else:
            entry_host = entry
        entry_ip = _go_ip(entry_host) if "%" not in entry_host else None
        if entry_ip is not None:
            if ip is not None and entry_ip == ip and entry_port in ("", wanted):
                ip_hits.append(raw.strip())
            continue
        if entry_host.startswith("*."):
            entry_host = entry_host[1:]
        match_host = not entry_host.startswith(".")
        suffix = idna_ascii(entry_host if not match_host else "." + entry_host)
        if ip is None and (name.endswith(suffix) or (match_host and name == suffix[1:])) \
                and entry_port in ("", wanted):
            domain_hits.append(raw.strip())
    if ip_hits:
        return ip_hits[0]
    if domain_hits:
        return domain_hits[0]
    if ip is not None and ip.version == 4:
        for raw in no_proxy.split(","):
            net = _sloppy_cidr(raw)
            if net is not None and ip in net:
                return raw
    return None


def parse_proxy_url(value: str) -> str | None:
    """httpproxy's parseProxy: the value as a URL when it has a scheme and a host, else
    with http:// in front (so ``proxy:3128`` and ``localhost`` are HTTP proxies); None when
    neither parses (Go then ignores the variable)."""
    try:
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:
            parts.port  # noqa: B018 - raises on a bad port, as url.Parse fails
            return value
    except ValueError:
        pass
    try:
        urlsplit("http://" + value).port  # noqa: B018
    except ValueError:
        return None
    return "http://" + value


def decide(kubeconfig_proxy: str | None, env: Mapping[str, str], host: str, port: int,
           scheme: str = "https") -> ProxyDecision:
    """Whether kubectl uses a proxy for scheme://host:port. Go's httpproxy ProxyFunc:
    HTTPS_PROXY for https, HTTP_PROXY for http, none for anything else; ``localhost``
    (exactly, as written) and loopback addresses are never proxied from the environment.

    Not modelled, as kubectl cannot hit it: Go refuses HTTP_PROXY in a CGI environment
    (REQUEST_METHOD set); kubectl is never run as a CGI script.
    """
    if kubeconfig_proxy:
        return ProxyDecision(True, kubeconfig_proxy, "kubeconfig proxy-url",
                             "the kubeconfig's proxy-url is used for every request")
    if scheme == "https":
        names: tuple[str, str] = ("HTTPS_PROXY", "https_proxy")
    elif scheme == "http":
        names = ("HTTP_PROXY", "http_proxy")
    else:
        return ProxyDecision(False, None, "none", f"Go uses no proxy for {scheme}:// URLs")
    found = _env_any(env, *names)
    if found is None:
        return ProxyDecision(False, None, "none", f"no {names[0]} in the environment")
    name, value = found
    url = parse_proxy_url(value)
    if url is None:
        return ProxyDecision(False, None, name, f"{name} is not a URL Go can parse, so kubectl ignores it")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if idna_ascii(bare) == "localhost":
        return ProxyDecision(False, None, name, "localhost is never proxied")
    ip = _go_ip(bare)
    if ip is not None and ip.is_loopback:
        return ProxyDecision(False, None, name, "loopback addresses are never proxied")
    exempt = _env_any(env, "NO_PROXY", "no_proxy")
    if exempt is not None:
        entry = no_proxy_matches(exempt[1], host, port)
        if entry is not None:
            return ProxyDecision(False, None, name, f"{exempt[0]} entry {entry!r} exempts {host}")
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
