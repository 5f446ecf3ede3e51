"""http:// server URLs end to end on loopback, judged by the real kubectl: kubectl talks
plain HTTP to them. Behind a real `kubectl proxy` that works; against the API server's TLS
port it cannot."""

from __future__ import annotations

import socket
import subprocess
import time

import yaml

from agent.lab import pki
from tests.support.servers import apiserver, free_port
from tests.test_e2e_loopback import HOST, TOKEN, agree, blockers, kubereach, write_kubeconfig
from tests.test_e2e_loopback import ca as _ca_fixture

ca = _ca_fixture


def _plain_kubeconfig(path, server: str):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "plain",
           "clusters": [{"name": "plain", "cluster": {"server": server}}],
           "users": [{"name": "plain", "user": {}}],
           "contexts": [{"name": "plain", "context": {"cluster": "plain", "user": "plain"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _wait_listening(port: int, proc: subprocess.Popen, seconds: float = 10.0) -> None:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        assert proc.poll() is None, "kubectl proxy exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"kubectl proxy did not listen on {port}")


def _steps(doc) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in doc["path"]]


def test_kubectl_proxy_on_loopback_is_reachable_without_tls(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as api_port:
        upstream = write_kubeconfig(tmp_path / "upstream", api_port, ca.cert_pem)
        port = free_port()
        proxy = subprocess.Popen([kubectl, "--kubeconfig", str(upstream), "proxy", f"--port={port}"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
        try:
            _wait_listening(port, proxy)
            kc = _plain_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")
            doc = kubereach(kc)
            agree(kubectl, doc, kc, tmp_path)
        finally:
            proxy.kill()
            proxy.wait(5)
    assert doc["verdict"] == "reachable", doc["findings"]
    assert _steps(doc) == [("kubeconfig", "ok"), ("auth", "ok"), ("dns", "ok"), ("tcp", "ok"), ("http", "ok")]
    plain = {f["code"]: f["severity"] for f in doc["findings"]}
    assert plain.get("kubeconfig.plain_http") == "info"
    assert not any(p["probe"] in ("tls", "tls.spoken") for p in doc["probes"])


def test_http_url_on_the_api_servers_tls_port_is_the_blocker(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", ["localhost"], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as api_port:
        kc = _plain_kubeconfig(tmp_path / "kc", f"http://localhost:{api_port}")
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert doc["verdict"] == "unreachable"
    # One blocker, the cause: not also "the API server does not answer" for the request
    # that the scheme doomed, and no stale-hosts warning for localhost's own line.
    assert blockers(doc) == ["kubeconfig.plain_http"]
    assert [f["code"] for f in doc["findings"] if f["severity"] == "warning"] == []
    finding = next(f for f in doc["findings"] if f["code"] == "kubeconfig.plain_http")
    assert f"https://localhost:{api_port}" in finding["fix"]
    assert "speaks TLS" in finding["detail"]
    assert _steps(doc)[-2:] == [("tcp", "ok"), ("http", "failed")]


def test_http_url_through_http_proxy_is_a_forwarded_get(tmp_path, kubectl):
    # Go sends an http:// request to HTTP_PROXY as 'GET http://host:port/path' (no CONNECT);
    # this proxy answers it as a plain-HTTP API server behind it would.
    from tests.support.servers import scripted_proxy

    seen: list[bytes] = []
    version = b'{"major":"1","minor":"30","gitVersion":"v1.30.6"}'

    def forward(head: bytes) -> bytes:
        seen.append(head.split(b"\r\n", 1)[0])
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(version), version))

    with scripted_proxy(forward) as port:
        kc = _plain_kubeconfig(tmp_path / "kc", "http://api.plain-http.example.internal:8080")
        env = {"HTTP_PROXY": f"http://127.0.0.1:{port}"}
        doc = kubereach(kc, env=env)
        k = subprocess.run([kubectl, "--kubeconfig", str(kc), "get", "--raw", "/version", "--request-timeout=5s"],
                           capture_output=True, text=True, timeout=30,
                           env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", **env})
    assert k.returncode == 0, k.stderr
    assert doc["verdict"] == "reachable", doc["findings"]
    assert b"GET http://api.plain-http.example.internal:8080/version HTTP/1.1" in seen
    assert not [line for line in seen if line.startswith(b"CONNECT")]
    assert [s["step"] for s in doc["path"]] == ["kubeconfig", "auth", "http"]
    assert {f["code"]: f["severity"] for f in doc["findings"]}.get("kubeconfig.plain_http") == "warning"
