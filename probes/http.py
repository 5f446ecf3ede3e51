"""Is it a Kubernetes API server that answers? Anonymous GET /version and /readyz.

AKS answers 401 with a Kubernetes ``Status`` body on every anonymous path; EKS answers 200
on health endpoints and (from 1.32) 401 on /version. A Status body, a version document or
a plain ``ok`` from /readyz proves the API server was reached; an HTML block page or some
other JSON does not. Credentials are never sent. Needs: TLS that verified, or
insecure-skip-tls-verify. Failure kinds: http.not_kubernetes, http.timeout, http.error.
Facts: per path the status, content type, server header and what the body looked like.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from probes.base import Failure, ProbeContext, ProbeResult, Status

PATHS = ("/version", "/readyz")
MAX_BODY_BYTES = 256 * 1024  # a Status or version document is under 1 kB
_H11_HEAD_LIMIT_KB = 100  # httpcore caps an incomplete response head at 100 kB


def classify_body(path: str, status: int, content_type: str, body: bytes) -> str:
    """'kubernetes-status', 'kubernetes-version', 'kubernetes-health', 'html', 'json', 'other'."""
    text = body[:4096].decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            if doc.get("kind") == "Status" and doc.get("apiVersion") == "v1":
                return "kubernetes-status"
            if path == "/version" and "gitVersion" in doc:
                return "kubernetes-version"
            return "json"
    if path == "/readyz" and status == 200 and text.strip() == "ok":
        return "kubernetes-health"
    if "html" in content_type or "<html" in text[:512].lower():
        return "html"
    return "other"


def _title(body: bytes) -> str | None:
    match = re.search(rb"<title>(.{0,120}?)</title>", body[:8192], re.I | re.S)
    return match.group(1).decode("utf-8", "replace").strip() if match else None


class _Watchdog:
    """Ends every request of the probe when its budget runs out.

    httpx's timeouts apply to each read, so a server that sends a byte just before each
    read would time out would hold the probe for ever; a blocked read is woken instead by
    shutting its connection down from a timer thread. The socket is duplicated as soon as
    it connects, in the probe's own thread, so the timer never acts on a descriptor number
    that may since have been closed and reused by another probe.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for s in self._socks:
                s.close()
            self._socks.clear()

    def trace(self, event: str, info: dict) -> None:
        """The httpx ``trace`` extension; the event name is pinned by the tests."""
        if event != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        raw = stream.get_extra_info("socket") if stream is not None else None
        if raw is None:
            return
        dup = socket.socket(fileno=os.dup(raw.fileno()))
        with self._lock:
            self._socks.append(dup)
            if self.fired:
                _hang_up(dup)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for s in self._socks:
                _hang_up(s)


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


def _read_body(response: Any, deadline: float) -> tuple[bytes, str | None]:
    """At most MAX_BODY_BYTES of the body; why it was cut ("size"/"time"), or None."""
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk[: MAX_BODY_BYTES - len(body)]
        if len(body) >= MAX_BODY_BYTES:
            return bytes(body), "size"
        if time.monotonic() >= deadline:
            return bytes(body), "time"
    return bytes(body), None


def _path_facts(path: str, response: Any, body: bytes, cut: str | None) -> dict:
    ctype = response.headers.get("content-type", "")
    return {"status": response.status_code, "content_type": ctype,
            "server": response.headers.get("server"),
            "body": classify_body(path, response.status_code, ctype, body),
            "title": _title(body), "body_bytes": len(body), "body_truncated": cut is not None}


class BodyTooLarge(Exception):
    """A response body past the reader's cap: a hostile or broken server, never a real
    answer to these requests."""


def cap_body(limit: int) -> Callable[[Any], None]:
    """An httpx response hook: the body may be read (``.content``, ``.json()``) up to
    ``limit`` bytes; past that reading raises BodyTooLarge, an endless body included."""
    import httpx

    class _Capped(httpx.SyncByteStream):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __iter__(self) -> Any:
            seen = 0
            for chunk in self.inner:
                seen += len(chunk)
                if seen > limit:
                    raise BodyTooLarge(f"the response body passed {limit // 1024} kB")
                yield chunk

        def close(self) -> None:
            self.inner.close()

    def hook(response: Any) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"the response announces {int(declared) // 1024} kB, over {limit // 1024} kB")
        response.stream = _Capped(response.stream)

    return hook


def tunnel_transport(verify: object, tunnel: Callable[[], socket.socket]) -> Any:
    """An httpx transport whose every connection is a fresh ``tunnel()`` socket (a SOCKS5
    CONNECT made by probes/socks.py, as Go makes it), on which httpx does TLS and HTTP.
    httpx has no public seam for a network backend: its pool is replaced, and the SOCKS
    tests in tests/probes/test_socks.py fail the day that stops working."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport(verify=verify)  # type: ignore[arg-type]
    if not hasattr(transport, "_pool"):
        raise RuntimeError("this httpx has no _pool to route through a SOCKS tunnel")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify),  # type: ignore[arg-type]
        network_backend=_TunnelBackend(tunnel), max_connections=1)
    return transport


def _stream_class() -> Any:
    import httpcore

    class _SocketStream(httpcore.NetworkStream):
        def __init__(self, sock: socket.socket) -> None:
            self.sock = sock

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            self.sock.settimeout(timeout)
            try:
                return self.sock.recv(max_bytes)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.ReadError(str(exc)) from exc

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self.sock.settimeout(timeout)
            try:
                self.sock.sendall(buffer)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc

        def close(self) -> None:
            self.sock.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:
            self.sock.settimeout(timeout)
            try:
                return _SocketStream(ssl_context.wrap_socket(self.sock, server_hostname=server_hostname))
            except TimeoutError as exc:
                self.sock.close()
                raise httpcore.ConnectTimeout(str(exc)) from exc
            except OSError as exc:  # ssl.SSLError is an OSError
                self.sock.close()
                raise httpcore.ConnectError(str(exc)) from exc

        def get_extra_info(self, info: str) -> Any:
            if info == "socket":
                return self.sock
            if info == "ssl_object":
                return self.sock if hasattr(self.sock, "selected_alpn_protocol") else None
            return None

    return _SocketStream


class _TunnelBackend:
    """httpcore's network backend interface: connect_tcp opens a new tunnel."""

    def __init__(self, tunnel: Callable[[], socket.socket]) -> None:
        self.tunnel = tunnel

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> Any:
        import httpcore

        try:
            sock = self.tunnel()
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _stream_class()(sock)

    def connect_unix_socket(self, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def probe(ctx: ProbeContext, subject: str, *, url_host: str, port: int, host_header: str,
          sni: str, verify: object, proxy: str | None = None, via: str = "direct",
          tunnel: Callable[[], socket.socket] | None = None, scheme: str = "https") -> ProbeResult:
    """``url_host`` is the address dialled (an IP, or the name when a proxy resolves it);
    ``verify`` an ``ssl.SSLContext`` or False for insecure-skip-tls-verify; ``tunnel``, when
    given, opens each connection (a SOCKS5 tunnel) instead of dialling ``url_host``;
    ``scheme`` "http" for a server URL written http://, which kubectl talks to without TLS."""
    import httpx  # imported here so `kubereach --help` stays fast

    started = time.monotonic()
    budget = ctx.deadline.cap(ctx.timeout_s)
    ends = started + budget
    netloc = f"[{url_host}]" if ":" in url_host else url_host
    paths: dict[str, dict] = {}
    failure: Failure | None = None
    # trust_env=False: the proxy decision is kubectl's (probes/proxy.py), not httpx's.
    # identity: a compressed body would be inflated past MAX_BODY_BYTES before it is cut.
    headers = {"Host": host_header, "Accept": "application/json", "Accept-Encoding": "identity"}
    transport = tunnel_transport(verify, tunnel) if tunnel is not None else None
    with _Watchdog(budget) as dog, httpx.Client(verify=verify, trust_env=False, proxy=proxy,
                                                 transport=transport, follow_redirects=False) as client:
        for path in PATHS:
            left = ends - time.monotonic()
            if left <= 0:
                failure = Failure("http.timeout", f"GET {path}: not sent, the {budget:g} s budget was spent")
                break
            response = None
            body, cut = b"", None
            try:
                with client.stream("GET", f"{scheme}://{netloc}:{port}{path}", headers=headers,
                                   timeout=httpx.Timeout(left),
                                   extensions={"sni_hostname": sni, "trace": dog.trace}) as response:
                    body, cut = _read_body(response, ends)
            except httpx.HTTPError as exc:
                if response is not None:
                    cut = "time" if dog.fired or isinstance(exc, httpx.TimeoutException) else "error"
                failure = _failure(path, exc, dog.fired, budget, response is not None)
            if response is not None:
                paths[path] = _path_facts(path, response, body, cut)
            if cut == "time" and failure is None:
                failure = _failure(path, None, True, budget, True)
            if failure is not None:
                break
    kube = [p for p, v in paths.items() if v["body"].startswith("kubernetes")]
    facts = {"paths": paths, "kubernetes": bool(kube), "via": via, "scheme": scheme}
    elapsed = time.monotonic() - started
    if kube:
        return ProbeResult("http", subject, Status.OK, elapsed, facts=facts)
    if failure is None:
        seen = ", ".join(f"{p} -> {v['status']} {v['body']}" for p, v in paths.items())
        failure = Failure("http.not_kubernetes", f"no Kubernetes API answer ({seen})")
    return ProbeResult("http", subject, Status.FAILED, elapsed, facts=facts, failure=failure)


def _failure(path: str, exc: Exception | None, out_of_time: bool, budget: float,
             had_head: bool) -> Failure:
    import httpx

    if out_of_time or isinstance(exc, httpx.TimeoutException):
        if had_head:
            return Failure("http.timeout", f"GET {path}: the body was still arriving when the "
                                           f"{budget:g} s budget ran out")
        return Failure("http.timeout", f"GET {path}: no complete response within the {budget:g} s budget")
    if not had_head and "Receive buffer too long" in str(exc):
        return Failure("http.error", f"GET {path}: the response headers grew past "
                                     f"{_H11_HEAD_LIMIT_KB} kB without ending (an endless header line)")
    return Failure("http.error", f"GET {path}: {type(exc).__name__}")
