"""Loopback servers that misbehave on purpose: a TCP (or TLS) listener whose conduct on
each connection is one function, and a few such functions (slow, endless, silent).

Every server thread stops writing once the test leaves the ``with`` block, so a probe that
hung up early never leaves a writer spinning behind it.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from agent.lab import pki

# behave(conn, stop) talks to one accepted connection; ``stop`` is set when the test ends.
Behaviour = Callable[[socket.socket, threading.Event], None]


def read_head(conn: socket.socket, limit: int = 65536) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def dribble(conn: socket.socket, stop: threading.Event, data: bytes, every_s: float) -> None:
    """Send ``data`` one byte at a time, ``every_s`` apart, until done or stopped."""
    for i in range(len(data)):
        if stop.wait(every_s):
            return
        conn.sendall(data[i:i + 1])


def endless(conn: socket.socket, stop: threading.Event, chunk: bytes) -> None:
    while not stop.is_set():
        conn.sendall(chunk)


def run_bounded(fn: Callable[[], object], limit: float) -> tuple[object, float]:
    """Run ``fn`` in a thread; (its result, seconds taken), or (None, limit) if it was still
    running at ``limit``, so a test of a hang fails instead of hanging (leaving the server's
    ``with`` block then cuts the connection and frees the thread)."""
    out: list[object] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    thread.join(limit)
    return (out[0] if out else None), time.monotonic() - started


def tls_context(tmp: Path, leaf: pki.KeyPair) -> ssl.SSLContext:
    cert, key = tmp / "hostile.crt", tmp / "hostile.key"
    cert.write_bytes(leaf.cert_pem)
    key.write_bytes(leaf.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


@contextmanager
def serve(behave: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Listen on 127.0.0.1 (TLS when ``tls`` is given); yield the port. Each connection is
    handled in its own thread by ``behave``; the handshake is done before it is called."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    stop = threading.Event()
    workers: list[threading.Thread] = []
    conns: list[socket.socket] = []

    def one(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            conns.append(conn)
            behave(conn, stop)
        except (OSError, ssl.SSLError):
            pass  # the probe hung up: that is the point
        finally:
            conn.close()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            t = threading.Thread(target=one, args=(conn,), daemon=True)
            t.start()
            workers.append(t)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(2)
        for c in conns:
            with suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 3
        for t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
        srv.close()


# --- HTTP behaviours -------------------------------------------------------------------

def http_endless_body(conn: socket.socket, stop: threading.Event) -> None:
    """200 with no length and a body that never ends."""
    read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    endless(conn, stop, b"x" * 65536)


def http_huge_length(conn: socket.socket, stop: threading.Event) -> None:
    """Claims a 1 GB body and sends it as fast as it can."""
    read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1073741824\r\n\r\n")
    endless(conn, stop, b" " * 65536)


def http_slow_body(conn: socket.socket, stop: threading.Event) -> None:
    """A Kubernetes-looking reply whose body comes at a byte a second."""
    read_head(conn)
    body = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":401}' * 100
    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body))
    dribble(conn, stop, body, 1.0)


def http_endless_header(conn: socket.socket, stop: threading.Event) -> None:
    """A status line, then one header line that never ends."""
    read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    endless(conn, stop, b"a" * 4096)


def http_dribbled_headers(conn: socket.socket, stop: threading.Event) -> None:
    """Headers one byte every 0.2 s: each read is quick, the whole never arrives in time."""
    read_head(conn)
    dribble(conn, stop, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 1000 + b"\r\n", 0.2)


# --- raw behaviours (CONNECT proxies, TLS servers) -------------------------------------

def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept and never say a word."""
    stop.wait(30)


def dribbler(data: bytes, every_s: float = 0.2, *, after_head: bool = True) -> Behaviour:
    """Read the request head (unless ``after_head`` is False), then send ``data`` a byte at a time."""
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        if after_head:
            read_head(conn)
        dribble(conn, stop, data, every_s)
        stop.wait(30)
    return behave


def flood(prefix: bytes, filler: bytes) -> Behaviour:
    """Read the request head, send ``prefix``, then ``filler`` for ever."""
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_head(conn)
        conn.sendall(prefix)
        endless(conn, stop, filler)
    return behave


def tunnel_to(port: int) -> Behaviour:
    """A CONNECT proxy that tunnels every request to 127.0.0.1:``port``, whatever it asks."""
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        read_head(conn)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pumps = [threading.Thread(target=_pump, args=(a, b, stop), daemon=True)
                     for a, b in ((conn, upstream), (upstream, conn))]
            for t in pumps:
                t.start()
            for t in pumps:
                t.join(30)
    return behave


def _pump(src: socket.socket, dst: socket.socket, stop: threading.Event) -> None:
    src.settimeout(0.2)
    while not stop.is_set():
        try:
            data = src.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        try:
            dst.sendall(data)
        except OSError:
            break
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def socks5(seen: list[bytes], *, method: int = 0x00, auth_ok: bool = True, reply: int = 0x00,
           upstream: int | None = None) -> Behaviour:
    """A scripted SOCKS5 server: picks ``method``, accepts or refuses the RFC 1929
    credentials, answers CONNECT with ``reply`` (bound 0.0.0.0:0) and, when it succeeded,
    pumps bytes to 127.0.0.1:``upstream``. Each message received is appended to ``seen``."""
    def exactly(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise OSError("eof")
            data += chunk
        return data

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        head = exactly(conn, 2)
        seen.append(head + exactly(conn, head[1]))
        conn.sendall(bytes([5, method]))
        if method == 0xFF:
            return
        if method == 0x02:
            ver_ulen = exactly(conn, 2)
            user = exactly(conn, ver_ulen[1])
            plen = exactly(conn, 1)
            seen.append(ver_ulen + user + plen + exactly(conn, plen[0]))
            conn.sendall(bytes([1, 0 if auth_ok else 1]))
            if not auth_ok:
                return
        req = exactly(conn, 4)
        rest = {1: 4, 4: 16}.get(req[3])
        if rest is None:
            n = exactly(conn, 1)
            req += n
            rest = n[0]
        seen.append(req + exactly(conn, rest + 2))
        conn.sendall(bytes([5, reply, 0, 1, 0, 0, 0, 0, 0, 0]))
        if reply != 0 or upstream is None:
            return
        with socket.create_connection(("127.0.0.1", upstream), timeout=5) as up:
            pumps = [threading.Thread(target=_pump, args=(a, b, stop), daemon=True)
                     for a, b in ((conn, up), (up, conn))]
            for t in pumps:
                t.start()
            for t in pumps:
                t.join(30)
    return behave
