"""End to end on loopback: the real command against a real TLS API server stand-in with a
real CA, next to the real kubectl with the same kubeconfig. No namespaces needed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import yaml

from agent.lab import pki
from tests.support.servers import REPO, apiserver, closed_port

HOST = "aks-e2e-dns-5f2c1a9b.hcp.westeurope.azmk8s.io"
TOKEN = "kr-e2e-bearer-token-0123456789abcdef"


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca("ca")




def write_kubeconfig(path, port, ca_pem, **cluster):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "e2e",
           "clusters": [{"name": "e2e", "cluster": {
               "server": f"https://127.0.0.1:{port}", "tls-server-name": HOST,
               "certificate-authority-data": base64.b64encode(ca_pem).decode(), **cluster}}],
           "users": [{"name": "e2e", "user": {"token": TOKEN}}],
           "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def kubereach(kubeconfig, *extra, env=None):
    proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kubeconfig),
                           "--format", "json", "--timeout", "2", *extra],
                          capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "KUBEREACH_DMI_DIR": "/nonexistent",
                               "KUBEREACH_RESOLV_CONF": str(REPO / "tests" / "support" / "resolv.loopback.conf"),
                               **(env or {})})
    assert TOKEN not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert (proc.returncode == 0) == (doc["verdict"] == "reachable")
    return doc


def kubectl_ok(binary, kubeconfig, tmp_path) -> bool:
    proc = subprocess.run([binary, "--kubeconfig", str(kubeconfig), "get", "--raw", "/version",
                           "--request-timeout=5s"], capture_output=True, text=True, timeout=30,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    return proc.returncode == 0


def blockers(doc):
    return sorted(f["code"] for f in doc["findings"] if f["severity"] == "blocker")


def agree(kubectl, doc, kubeconfig, tmp_path):
    ok = kubectl_ok(kubectl, kubeconfig, tmp_path)
    assert ok == (doc["verdict"] == "reachable"), "kubereach disagrees with kubectl"


def test_healthy(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem)
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert doc["verdict"] == "reachable"
    assert blockers(doc) == []
    assert [s["status"] for s in doc["path"]] == ["ok"] * 6


def test_stale_ca(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, pki.make_ca("ca").cert_pem)
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["tls.ca_mismatch"]


def test_intercepting_ca(tmp_path, ca, kubectl):
    middlebox = pki.make_ca("Contoso TLS Inspection Root CA", "Contoso")
    leaf = pki.make_server_cert(middlebox, HOST, [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem)
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["tls.intercepted"]


def test_intercepting_ca_that_this_machine_trusts(tmp_path, ca, kubectl):
    """A corporate root with a plain name, trusted through SSL_CERT_FILE, re-signing a copy of
    the API server's names: only the machine's trust in it tells the middlebox apart."""
    corporate = pki.make_ca("Corp Root CA 2", "Example Corp")
    (tmp_path / "roots.pem").write_bytes(corporate.cert_pem)
    names = [HOST, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local"]
    leaf = pki.make_server_cert(corporate, "kube-apiserver", names, ["10.0.0.1"])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem)
        trusted = kubereach(kc, env={"SSL_CERT_FILE": str(tmp_path / "roots.pem")})
        untrusted = kubereach(kc)
        agree(kubectl, trusted, kc, tmp_path)
    assert blockers(trusted) == ["tls.intercepted"]
    assert blockers(untrusted) == ["tls.ca_mismatch"]


def test_block_page_behind_a_valid_certificate(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, mode="blockpage") as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem)
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["http.not_kubernetes"]


def test_refused(tmp_path, ca, kubectl):
    kc = write_kubeconfig(tmp_path / "kc", closed_port(), ca.cert_pem)
    doc = kubereach(kc)
    agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["net.refused", "net.tunnel_down"]  # 127.0.0.1 + tls-server-name: a tunnel


def test_insecure_flag_next_to_a_ca_is_refused_by_kubectl(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem, **{"insecure-skip-tls-verify": True})
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["kubeconfig.invalid"]


def test_rooted_tls_server_name_verifies_as_in_kubectl(tmp_path, ca, kubectl):
    # A trailing dot (a rooted name) is dropped for SNI and verification by Go; OpenSSL
    # would call the certificate's name a mismatch.
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem, **{"tls-server-name": HOST + "."})
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    assert doc["verdict"] == "reachable", doc["findings"]
    assert blockers(doc) == []
