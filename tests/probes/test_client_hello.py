"""The TLS probe's ClientHello is as large as kubectl's, read on a raw loopback listener,
and kubectl's own size is measured the same way so the constant cannot drift unseen."""

from __future__ import annotations

import base64
import socket
import subprocess
import threading

import pytest
import yaml

from agent.deadline import Deadline
from agent.lab import pki
from probes import tls
from probes.base import ProbeContext

NAMES = ["a.io", "kreach-dns-5f3a9c1e.4b7d2e10-9a8c-4f21-b3d6-7e5c1a0f9d42.privatelink.westeurope.azmk8s.io"]


def _first_record(run) -> int:
    """Listen on loopback, let ``run(port)`` connect, return the first TLS record's size."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(10)
    port = srv.getsockname()[1]
    worker = threading.Thread(target=run, args=(port,), daemon=True)
    worker.start()
    with srv:
        conn, _ = srv.accept()
    conn.settimeout(5)
    data = b""
    with conn:
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    worker.join(25)
    assert data[:1] == b"\x16", data[:8]
    return 5 + int.from_bytes(data[3:5], "big")


@pytest.mark.parametrize("sni", NAMES)
def test_the_probe_sends_a_hello_of_kubectls_size(sni):
    result = {}

    def run(port: int) -> None:
        ctx = ProbeContext(deadline=Deadline(5), timeout_s=1.0)
        result["r"] = tls.handshake(ctx, f"127.0.0.1:{port}",
                                    lambda: socket.create_connection(("127.0.0.1", port), 2),
                                    sni=sni, ca_pem=None, insecure=False)

    size = _first_record(run)
    assert size == tls.kubectl_hello_bytes(sni) == result["r"].facts["client_hello_bytes"]
    assert size > 3 * 450  # a default Python hello is 517 bytes


def test_an_unpadded_python_hello_is_a_third_of_that():
    ctx = tls.verifying_context(None)
    assert tls.hello_bytes(ctx, NAMES[1]) < 600


@pytest.mark.parametrize("sni", NAMES)
def test_kubectl_sends_the_size_the_probe_copies(tmp_path, sni, kubectl):

    def run(port: int) -> None:
        kc = tmp_path / "kc"
        kc.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {
                "server": f"https://127.0.0.1:{port}", "tls-server-name": sni,
                "certificate-authority-data": base64.b64encode(pki.make_ca("ca").cert_pem).decode()}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
        subprocess.run([kubectl, "--kubeconfig", str(kc), "get", "--raw", "/version", "--request-timeout=3s"],
                       capture_output=True, timeout=20, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})

    assert _first_record(run) == tls.kubectl_hello_bytes(sni)
