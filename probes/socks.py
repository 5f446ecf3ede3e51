"""A CONNECT through a SOCKS5 proxy, byte for byte as Go's SOCKS5 dialer sends it.

kubectl (net/http, golang.org/x/net/internal/socks) greets the proxy offering "no
authentication" alone, or "no authentication" and "username/password" (RFC 1929) when the
proxy URL has a user; it then asks for a CONNECT to the server's **host name** (address
type 3), so the SOCKS server resolves it, never this host; only an IP literal is sent as
an address. Each reply code has its RFC 1928 meaning; Go reports any but "succeeded" as
"unknown error <meaning>", and kubectl turns a refused proxy port into "The connection to
the server HOST:PORT was refused".

``connect`` (probe ``proxy.connect``, the same step as an HTTP proxy's CONNECT). Needs: TCP
to the proxy. Failure kinds: proxy.unreachable (TCP to the proxy; ``tcp_kind`` says
refused, timeout...), proxy.auth_required (no acceptable method, or the credentials were
refused), proxy.socks_refused (a reply code other than "succeeded": ``reply_code`` and
``reply``), proxy.scheme_mismatch (the port does not speak SOCKS5), proxy.error. Facts:
proxy (redacted), source, scheme, method, credentials_sent, destination (the name sent),
address_type, reply_code, reply, bound.
Every read shares one deadline and the whole exchange is at most a few hundred bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from urllib.parse import unquote, urlsplit

from probes.base import Failure, ProbeContext, ProbeResult, Status
from probes.proxy import ProxyDecision
from probes.tcp import classify_os_error, dial

VERSION = 5
NO_AUTH, USER_PASS, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CMD_CONNECT = 0x01
ATYP_IPV4, ATYP_NAME, ATYP_IPV6 = 0x01, 0x03, 0x04

# RFC 1928 section 6, in Go's wording (x/net/internal/socks Reply.String).
REPLIES = {
    0x00: "succeeded",
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}

# The longest reply: 4 header bytes, a 255-byte name with its length, 2 port bytes.
MAX_REPLY_BYTES = 4 + 1 + 255 + 2


class _Short(Exception):
    """The proxy stopped sending before a complete message: ``why`` is "eof" or "time"."""

    def __init__(self, why: str, got: bytes) -> None:
        super().__init__(why)
        self.why = why
        self.got = got


def _read_exact(sock: socket.socket, n: int, ends: float) -> bytes:
    data = b""
    while len(data) < n:
        left = ends - time.monotonic()
        if left <= 0:
            raise _Short("time", data)
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except TimeoutError:
            raise _Short("time", data) from None
        if not chunk:
            raise _Short("eof", data)
        data += chunk
    return data


def reply_text(code: int) -> str:
    return REPLIES.get(code, f"unknown code: {code}")


def connect_request(host: str, port: int) -> bytes:
    """The CONNECT request Go sends: an IP literal as an address, anything else as a name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None:
        name = host.encode("idna") if not host.isascii() else host.encode()
        if len(name) > 255:
            raise ValueError("FQDN too long")
        addr = bytes([ATYP_NAME, len(name)]) + name
    elif ip.version == 4:
        addr = bytes([ATYP_IPV4]) + ip.packed
    else:
        addr = bytes([ATYP_IPV6]) + ip.packed
    return bytes([VERSION, CMD_CONNECT, 0]) + addr + struct.pack(">H", port)


def connect(ctx: ProbeContext, decision: ProxyDecision, host: str, port: int
            ) -> tuple[ProbeResult, socket.socket | None]:
    """CONNECT host:port through the SOCKS5 proxy. On success the tunnel socket is returned open."""
    started = time.monotonic()
    assert decision.url is not None
    parts = urlsplit(decision.url)
    shown = decision.redacted or ""
    proxy_host = parts.hostname or ""
    proxy_port = parts.port or 1080  # Go's default for socks5
    user = unquote(parts.username) if parts.username is not None else None
    facts: dict = {"proxy": shown, "source": decision.source, "scheme": parts.scheme,
                   "proxy_address": f"{proxy_host}:{proxy_port}", "destination": f"{host}:{port}",
                   "credentials_sent": False}

    def fail(kind: str, detail: str, **more: object) -> tuple[ProbeResult, None]:
        return ProbeResult("proxy.connect", shown, Status.FAILED, time.monotonic() - started,
                           facts={**facts, **more}, failure=Failure(kind, detail)), None

    budget = ctx.deadline.cap(ctx.timeout_s)
    ends = started + budget
    try:
        request = connect_request(host, port)
    except (ValueError, UnicodeError):
        return fail("proxy.error", f"the host name {host[:60]!r} cannot be sent to a SOCKS5 proxy "
                                   f"(over 255 bytes, or not a valid IDNA name)")
    facts["address_type"] = {ATYP_IPV4: "ipv4", ATYP_NAME: "name", ATYP_IPV6: "ipv6"}[request[3]]
    try:
        sock = dial(proxy_host, proxy_port, budget)
    except OSError as exc:
        kind, why = classify_os_error(exc)
        return fail("proxy.unreachable", f"cannot reach the SOCKS proxy {proxy_host}:{proxy_port}: {why}",
                    tcp_kind=kind)
    stage = "greeting"
    try:
        # Go offers username/password only when the URL has a user, and then both methods.
        methods = bytes([NO_AUTH, USER_PASS]) if user is not None else bytes([NO_AUTH])
        sock.settimeout(max(0.05, ends - time.monotonic()))
        sock.sendall(bytes([VERSION, len(methods)]) + methods)
        answer = _read_exact(sock, 2, ends)
        if answer[0] != VERSION:
            sock.close()
            first = answer[:1]
            if first in (b"\x15", b"\x16"):
                return fail("proxy.scheme_mismatch", "the proxy URL says socks5:// but the proxy speaks TLS")
            if first == b"H":
                return fail("proxy.scheme_mismatch",
                            "the proxy URL says socks5:// but the proxy speaks HTTP (use http://)")
            return fail("proxy.scheme_mismatch",
                        f"the proxy does not speak SOCKS5: it answered the greeting with version {answer[0]}")
        method = answer[1]
        facts["method"] = {NO_AUTH: "none", USER_PASS: "username/password"}.get(method, f"0x{method:02x}")
        if method == NO_ACCEPTABLE or method not in methods:
            sock.close()
            offered = "no authentication and username/password" if user is not None else "no authentication"
            return fail("proxy.auth_required",
                        f"the SOCKS proxy accepts none of the methods kubectl offers ({offered})"
                        + ("" if user is not None else ": it wants a user name and password in the proxy URL"),
                        auth_scheme="socks5")
        if method == USER_PASS:
            stage = "authentication"
            name = (user or "").encode()
            secret = unquote(parts.password or "").encode()
            if not 0 < len(name) <= 255 or len(secret) > 255:
                sock.close()
                return fail("proxy.error", "the proxy URL's user name or password is empty or over "
                                           "255 bytes, which SOCKS5 cannot carry")
            facts["credentials_sent"] = True
            sock.sendall(bytes([1, len(name)]) + name + bytes([len(secret)]) + secret)
            status = _read_exact(sock, 2, ends)
            if status[1] != 0:
                sock.close()
                return fail("proxy.auth_required",
                            "the SOCKS proxy rejected the user name and password in the proxy URL",
                            auth_scheme="socks5")
        stage = "connect"
        sock.sendall(request)
        head = _read_exact(sock, 4, ends)
        code = head[1]
        facts.update({"reply_code": code, "reply": reply_text(code)})
        if head[0] != VERSION:
            sock.close()
            return fail("proxy.error", f"the SOCKS proxy answered CONNECT with protocol version {head[0]}")
        if code != 0:
            sock.close()
            return fail("proxy.socks_refused",
                        f"the SOCKS proxy answered CONNECT {host}:{port} with "
                        f"{reply_text(code)} (reply code {code})")
        atyp = head[3]
        if atyp == ATYP_IPV4:
            raw = _read_exact(sock, 4 + 2, ends)
            bound = f"{ipaddress.ip_address(raw[:4])}:{struct.unpack('>H', raw[4:])[0]}"
        elif atyp == ATYP_IPV6:
            raw = _read_exact(sock, 16 + 2, ends)
            bound = f"[{ipaddress.ip_address(raw[:16])}]:{struct.unpack('>H', raw[16:])[0]}"
        elif atyp == ATYP_NAME:
            length = _read_exact(sock, 1, ends)[0]
            raw = _read_exact(sock, length + 2, ends)
            bound = f"{raw[:length].decode('latin-1')}:{struct.unpack('>H', raw[length:])[0]}"
        else:
            sock.close()
            return fail("proxy.error", f"the SOCKS proxy's reply has an unknown address type {atyp}")
        facts["bound"] = bound
    except _Short as short:
        sock.close()
        if short.why == "time" and stage == "greeting" and not short.got:
            return fail("proxy.error", f"the proxy accepted the connection but did not answer the SOCKS5 "
                                       f"greeting within {budget:g} s: is it a SOCKS5 server? (an HTTP "
                                       f"proxy waits for a request line)", stage=stage)
        if short.why == "time":
            return fail("proxy.error", f"the SOCKS proxy did not finish its answer to the {stage} "
                                       f"within {budget:g} s ({len(short.got)} bytes)", stage=stage)
        if stage == "greeting" and not short.got:
            return fail("proxy.scheme_mismatch",
                        "the proxy closed the connection on the SOCKS5 greeting: it does not "
                        "speak SOCKS5, or refuses this client", stage=stage)
        return fail("proxy.error", f"the SOCKS proxy closed the connection during the {stage}",
                    stage=stage)
    except OSError as exc:
        sock.close()
        return fail("proxy.error", f"the SOCKS proxy dropped the connection during the {stage}: "
                                   f"{exc.strerror or exc}", stage=stage)
    return ProbeResult("proxy.connect", shown, Status.OK, time.monotonic() - started, facts=facts), sock
