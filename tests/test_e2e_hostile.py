"""The real command against hostile loopback servers: it ends, in bounded memory, with a
finding that says what the server did."""

from __future__ import annotations

import base64
import json
import resource
import subprocess
import sys
import time

import dns.message
import dns.rrset
import pytest
import yaml

from agent.lab import pki
from tests.support import hostile
from tests.support.nameserver import Nameserver
from tests.support.servers import REPO

HOST = "aks-hostile-dns-5f2c.hcp.westeurope.azmk8s.io"
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca("ca")


def _kubeconfig(path, server, ca_pem, **cluster):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "h",
           "clusters": [{"name": "h", "cluster": {"server": server,
                                                  "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                                                  **cluster}}],
           "users": [{"name": "h", "user": {"token": "hostile-token-value"}}],
           "contexts": [{"name": "h", "context": {"cluster": "h", "user": "h"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(kubeconfig, **env):
    """(report, seconds) of one diagnose run, whose memory must stay bounded: the peak RSS
    of any child this test process has waited for stays under 400 MB (an unbounded body
    read took 3.7 GB before the fix)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kubeconfig),
                             "--format", "json", "--timeout", str(TIMEOUT), "--discover", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env={"PATH": "/usr/bin:/bin", "KUBEREACH_DMI_DIR": "/nonexistent", **env})
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    took = time.monotonic() - started
    assert proc.returncode in (0, 1), err.decode()
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024
    return json.loads(out), took


def _serve_https(tmp_path, ca, behaviour):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], ["127.0.0.1"])
    return hostile.serve(behaviour, hostile.tls_context(tmp_path, leaf))


def _codes(doc):
    return sorted(f["code"] for f in doc["findings"] if f["severity"] == "blocker")


def test_an_endless_body_ends_the_run_quickly(tmp_path, ca):
    with _serve_https(tmp_path, ca, hostile.http_endless_body) as port:
        kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}", ca.cert_pem, **{"tls-server-name": HOST})
        doc, took = _run(kc)
    assert took < 15
    assert _codes(doc) == ["http.not_kubernetes"]
    http = next(p for p in doc["probes"] if p["probe"] == "http")
    assert http["facts"]["paths"]["/version"]["body_truncated"] is True


def test_a_body_at_a_byte_a_second_ends_the_run_within_its_budget(tmp_path, ca):
    with _serve_https(tmp_path, ca, hostile.http_slow_body) as port:
        kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{port}", ca.cert_pem, **{"tls-server-name": HOST})
        doc, took = _run(kc)
    assert took < 15
    assert _codes(doc) == ["http.no_response"]


def _wrong_id(query):
    response = dns.message.make_response(query)
    response.id = (query.id + 1) & 0xFFFF
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "127.0.0.1"))
    return response


def test_wrong_id_dns_answers_end_with_a_finding(tmp_path, ca):
    with Nameserver(_wrong_id) as ns:
        (tmp_path / "resolv.conf").write_text(f"nameserver {ns.spec}\noptions timeout:1 attempts:1\n")
        (tmp_path / "hosts").write_text("")
        kc = _kubeconfig(tmp_path / "kc", f"https://{HOST}:443", ca.cert_pem)
        doc, _ = _run(kc, KUBEREACH_RESOLV_CONF=str(tmp_path / "resolv.conf"),
                         KUBEREACH_HOSTS_FILE=str(tmp_path / "hosts"), KUBEREACH_TEST_RESOLV_PORTS="1")
    assert doc["verdict"] == "unreachable"
    assert "dns.id_mismatch" in _codes(doc)


@pytest.mark.parametrize("behaviour", [hostile.http_endless_body, hostile.http_huge_length],
                         ids=["endless", "huge-length"])
def test_an_egress_ip_service_with_an_endless_body_is_cut(tmp_path, ca, behaviour):
    # The egress-IP answer is a line; unbounded, this body took 0.9 to 2.4 GB.
    kc = _kubeconfig(tmp_path / "kc", "https://127.0.0.1:9", ca.cert_pem, **{"tls-server-name": HOST})
    with hostile.serve(behaviour) as port:
        proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kc),
                               "--format", "json", "--timeout", "4", "--egress-ip-url", f"http://127.0.0.1:{port}/"],
                              capture_output=True, timeout=60, cwd=REPO,
                              env={"PATH": "/usr/bin:/bin", "KUBEREACH_DMI_DIR": "/nonexistent"})
    assert proc.returncode == 1, proc.stderr.decode()
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 400 * 1024
    egress = next(p for p in json.loads(proc.stdout)["probes"] if p["probe"] == "egress")
    assert egress["status"] == "failed", egress
    assert "kB" in json.dumps(egress), egress
