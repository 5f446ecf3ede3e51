"""Real servers on loopback for unit and end-to-end tests: a CA-signed Kubernetes
stand-in (the lab's own, run as a process) and a scripted CONNECT proxy."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.lab import pki

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    return free_port()


@contextmanager
def apiserver(tmp: Path, leaf: pki.KeyPair, *, mode: str = "kube", token: str = "t0k3n-secret",
              client_ca: pki.KeyPair | None = None, known_client_cas: tuple[pki.KeyPair, ...] = (),
              forbidden_token: str | None = None, selfsubjectreview: bool = True) -> Iterator[int]:
    """Runs agent.lab.apiserver on 127.0.0.1; yields its port. ``client_ca`` signs the
    client certificates it accepts; ``known_client_cas`` get through the handshake, then 401."""
    cert, key, tok = tmp / "srv.crt", tmp / "srv.key", tmp / "token"
    cert.write_bytes(leaf.cert_pem)
    key.write_bytes(leaf.key_pem)
    tok.write_text(token)
    extra: list[str] = []
    for i, ca in enumerate((client_ca, *known_client_cas) if client_ca else ()):
        path = tmp / f"client-ca-{i}.crt"
        path.write_bytes(ca.cert_pem)
        extra += ["--client-ca" if i == 0 else "--known-client-ca", str(path)]
    if forbidden_token:
        (tmp / "forbidden-token").write_text(forbidden_token)
        extra += ["--forbidden-token-file", str(tmp / "forbidden-token")]
    if not selfsubjectreview:
        extra.append("--no-selfsubjectreview")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent.lab.apiserver", "--listen", f"127.0.0.1:{port}",
                             "--cert", str(cert), "--key", str(key), "--token-file", str(tok), "--mode", mode,
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"apiserver did not start: {line!r}"
        yield port
    finally:
        proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def scripted_proxy(reply: Callable[[bytes], bytes | None]) -> Iterator[int]:
    """A TCP server that reads one request head and sends ``reply(head)`` (None: silence)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                head = b""
                try:
                    # A real proxy answers a TLS ClientHello (0x16) with 400 at once.
                    while b"\r\n\r\n" not in head and not head.startswith(b"\x16"):
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    answer = reply(head)
                    if answer is not None:
                        conn.sendall(answer)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        srv.close()
