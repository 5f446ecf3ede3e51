"""The overall deadline holds end to end, whatever the servers do: a TLS server that never
speaks, and cloud discovery whose ARM never answers. Loopback only; the real command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent.cloud.dmi import AZURE_ASSET_TAG
from tests.support.servers import REPO

TIMEOUT_S = 1.5


@contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts TCP and never sends a byte (a stalled TLS handshake, a hung ARM)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        srv.close()


class _Imds(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/metadata/instance"):
            body = {"compute": {"name": "jumpbox", "subscriptionId": "00000000-0000-0000-0000-000000000001",
                                "resourceGroupName": "rg", "location": "westeurope"},
                    "network": {"interface": []}}
        else:
            body = {"access_token": "imds-token-never-printed", "expires_on": "9999999999"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def imds() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Imds)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_stalled_tls_and_silent_arm_end_within_the_deadline(tmp_path):
    (tmp_path / "chassis_asset_tag").write_text(AZURE_ASSET_TAG)
    with silent_listener() as api, silent_listener() as arm, imds() as imds_port:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBEREACH_DMI_DIR": str(tmp_path),
               "KUBEREACH_IMDS_URL": f"http://127.0.0.1:{imds_port}",
               "KUBEREACH_ARM_URL": f"http://127.0.0.1:{arm}"}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--server",
                               f"https://127.0.0.1:{api}", "--timeout", str(TIMEOUT_S),
                               "--format", "json"],
                              capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
        took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    # The documented bound is --timeout for the probes; the rest is interpreter start and
    # rendering. Before the runner's deadline held, this kind of run took minutes.
    assert took < TIMEOUT_S + 1.5, took
    assert doc["timings"]["deadline_s"] == TIMEOUT_S
    probes = {p["probe"]: p for p in doc["probes"]}
    assert probes["cloud.imds"]["status"] == "ok"
    assert probes["cloud.arm"]["status"] in ("failed", "error")
    assert doc["timings"]["imds_s"] is not None and doc["timings"]["arm_s"] is not None
    assert probes["tls"]["failure"]["kind"] == "tls.timeout"
    assert "imds-token-never-printed" not in proc.stdout + proc.stderr
