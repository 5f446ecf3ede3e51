"""Interception or a changed cluster CA? Real certificates minted here, served by the lab's
API server stand-in on loopback, probed by probes/tls.py and judged by agent/rules/tls.py.

The kubeconfig's CA refuses the server in every case; what tells the two causes apart is
whether the certificate carries the in-cluster names an API server's own certificate has,
and whether this machine's trust store (or SSL_CERT_FILE) accepts its chain."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from agent.deadline import Deadline
from agent.lab import pki
from agent.rules.catalog import all_rules
from agent.rules.engine import evaluate
from agent.rules.model import Severity
from probes import tls
from probes.base import ProbeContext, ProbeResult
from tests.agent import builders as b
from tests.support.servers import apiserver

HOST = b.HOST
IN_CLUSTER = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
              "kubernetes.default.svc.cluster.local"]
API_NAMES = [HOST, *IN_CLUSTER]  # what AKS puts in an API server certificate
API_IPS = ["10.0.0.1", "127.0.0.1"]  # the kubernetes service IP, and the endpoint


@pytest.fixture(scope="module")
def kubeconfig_ca() -> pki.KeyPair:
    return pki.make_ca("ca")


def probe(tmp_path, leaf: pki.KeyPair, ca: pki.KeyPair) -> ProbeResult:
    with apiserver(tmp_path, leaf) as port:
        r = tls.handshake(ProbeContext(deadline=Deadline(10), timeout_s=2.0), f"127.0.0.1:{port}",
                          lambda: socket.create_connection(("127.0.0.1", port), timeout=2),
                          sni=HOST, ca_pem=ca.cert_pem, insecure=False)
    assert r.kind == "tls.ca_mismatch", r.failure
    return r


def judged(r: ProbeResult) -> dict:
    on_path = dataclasses.replace(r, facts={**r.facts, "kubectl_path": True})
    o = b.obs(b.dns(addrs=["127.0.0.1"]), b.step("tcp", "127.0.0.1"), on_path)
    return {f.code: f for f in evaluate(all_rules(), o) if f.severity is Severity.BLOCKER}


def test_api_server_certificate_from_another_ca_is_a_ca_mismatch(tmp_path, kubeconfig_ca):
    # The kubeconfig belongs to another cluster: its CA has another name (EKS names its
    # CAs "kubernetes"), which alone was once taken for interception.
    cluster_ca = pki.make_ca("kubernetes")
    r = probe(tmp_path, pki.make_server_cert(cluster_ca, "kube-apiserver", API_NAMES, API_IPS),
              kubeconfig_ca)
    assert r.facts["issuer_is_a_kubeconfig_ca_name"] is False
    assert r.facts["sans_have_in_cluster_names"] is True
    assert r.facts["san_count"] == 7
    assert r.facts["verifies_with_system_trust"] is False
    found = judged(r)
    assert list(found) == ["tls.ca_mismatch"]
    assert "in-cluster names (kubernetes.default.svc...)" in found["tls.ca_mismatch"].detail


def test_middlebox_certificate_trusted_by_the_machine_is_intercepted(tmp_path, kubeconfig_ca,
                                                                      monkeypatch):
    # A corporate root with a plain name, installed for this machine through SSL_CERT_FILE;
    # like many middleboxes it copies every name of the real certificate, in-cluster ones too.
    corporate = pki.make_ca("Corp Root CA 2", "Example Corp")
    bundle = tmp_path / "corp-roots.pem"
    bundle.write_bytes(corporate.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    r = probe(tmp_path, pki.make_server_cert(corporate, "kube-apiserver", API_NAMES, API_IPS),
              kubeconfig_ca)
    assert r.facts["verifies_with_system_trust"] is True
    assert r.facts["sans_have_in_cluster_names"] is True
    found = judged(r)
    assert list(found) == ["tls.intercepted"]
    assert "this machine's trust store accepts its chain" in found["tls.intercepted"].detail


def test_the_same_middlebox_certificate_untrusted_is_a_ca_mismatch(tmp_path, kubeconfig_ca):
    corporate = pki.make_ca("Corp Root CA 2", "Example Corp")
    r = probe(tmp_path, pki.make_server_cert(corporate, "kube-apiserver", API_NAMES, API_IPS),
              kubeconfig_ca)
    assert r.facts["verifies_with_system_trust"] is False
    assert list(judged(r)) == ["tls.ca_mismatch"]


@pytest.mark.parametrize("vendor", ["Zscaler Intermediate Root CA", "FortiGate CA",
                                    "Palo Alto Networks Forward Trust"])
def test_vendor_named_issuer_without_in_cluster_names_is_intercepted(tmp_path, kubeconfig_ca, vendor):
    middlebox = pki.make_ca(vendor)
    r = probe(tmp_path, pki.make_server_cert(middlebox, HOST, [HOST], []), kubeconfig_ca)
    assert r.facts["sans_have_in_cluster_names"] is False
    assert r.facts["san_count"] == 1
    assert r.facts["verifies_with_system_trust"] is False  # the name is the only clue
    found = judged(r)
    assert list(found) == ["tls.intercepted"]
    assert "named like a TLS-inspection product" in found["tls.intercepted"].detail


def test_plain_issuer_without_in_cluster_names_is_a_ca_mismatch(tmp_path, kubeconfig_ca):
    # The control for the vendor case: same shape of certificate, a name that says nothing.
    r = probe(tmp_path, pki.make_server_cert(pki.make_ca("Example Issuing CA"), HOST, [HOST], []),
              kubeconfig_ca)
    assert list(judged(r)) == ["tls.ca_mismatch"]


def test_vendor_named_issuer_of_a_certificate_with_in_cluster_names_is_a_ca_mismatch(
        tmp_path, kubeconfig_ca):
    # A name is weak evidence: the SANs of an API server's own certificate outweigh it.
    r = probe(tmp_path, pki.make_server_cert(pki.make_ca("Sophos Appliance CA"), "kube-apiserver",
                                             API_NAMES, API_IPS), kubeconfig_ca)
    assert list(judged(r)) == ["tls.ca_mismatch"]


def test_a_custom_cluster_domain_counts_as_in_cluster(tmp_path, kubeconfig_ca):
    leaf = pki.make_server_cert(pki.make_ca("ca"), "kube-apiserver",
                                [HOST, "kubernetes.default.svc.corp.internal"], [])
    r = probe(tmp_path, leaf, kubeconfig_ca)
    assert r.facts["sans_have_in_cluster_names"] is True
