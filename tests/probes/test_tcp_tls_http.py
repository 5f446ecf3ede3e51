import datetime as dt
import errno
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from agent.deadline import Deadline
from agent.lab import pki
from probes import http as http_probe
from probes import tcp, tls
from probes.base import ProbeContext, Status
from tests.support.servers import apiserver, closed_port

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"


def ctx(timeout=2.0):
    return ProbeContext(deadline=Deadline(10), timeout_s=timeout)


@pytest.mark.parametrize(("exc", "kind"), [
    (OSError(errno.ECONNREFUSED, "refused"), "tcp.refused"),
    (OSError(errno.EHOSTUNREACH, "no route"), "tcp.no_route"),
    (OSError(errno.ENETUNREACH, "unreachable"), "tcp.net_unreachable"),
    (OSError(errno.ETIMEDOUT, "timed out"), "tcp.timeout"),
    (TimeoutError("timed out"), "tcp.timeout"),
    (OSError(errno.EPERM, "not permitted"), "tcp.error"),
])
def test_classify_os_error(exc, kind):
    assert tcp.classify_os_error(exc)[0] == kind


def test_tcp_connects_and_records_source_ip():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        r = tcp.probe(ctx(), "127.0.0.1", srv.getsockname()[1])
    assert r.status is Status.OK
    assert r.facts["source_ip"] == "127.0.0.1"
    assert r.phases["connect"] is not None


def test_tcp_refused_on_a_closed_port():
    r = tcp.probe(ctx(), "127.0.0.1", closed_port())
    assert r.kind == "tcp.refused"
    assert r.phases["connect"] is None  # never reached, not "0 ms"


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca("ca")


def _dial(port):
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=2)


def _handshake(port, ca_pem, sni=HOST, insecure=False):
    return tls.handshake(ctx(), f"127.0.0.1:{port}", _dial(port), sni=sni, ca_pem=ca_pem, insecure=insecure)


def test_tls_verifies_against_the_kubeconfig_ca(tmp_path, ca):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf) as port:
        r = _handshake(port, ca.cert_pem)
    assert r.status is Status.OK
    assert r.facts["verified"] is True
    assert r.facts["signed_by_kubeconfig_ca"] is True
    assert r.facts["issuer"] == "CN=ca"


def test_tls_rotated_ca_with_the_same_name_is_a_ca_mismatch(tmp_path, ca):
    stale = pki.make_ca("ca")
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf) as port:
        r = _handshake(port, stale.cert_pem)
    assert r.kind == "tls.ca_mismatch"
    assert r.facts["issuer_is_a_kubeconfig_ca_name"] is True
    assert r.facts["signed_by_kubeconfig_ca"] is False
    assert r.facts["name_matches"] is True


def test_tls_wrong_name(tmp_path, ca):
    leaf = pki.make_server_cert(ca, "apiserver", ["other.example"], [])
    with apiserver(tmp_path, leaf) as port:
        r = _handshake(port, ca.cert_pem)
    assert r.kind == "tls.name_mismatch"
    assert r.facts["sans"] == ["other.example"]


def test_tls_expired(tmp_path, ca):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(ca.key, hashes.SHA256()))
    leaf = pki._pair(cert, key)
    with apiserver(tmp_path, leaf) as port:
        r = _handshake(port, ca.cert_pem)
    assert r.kind == "tls.expired"
    assert r.facts["expired"] is True


def test_tls_insecure_skip_verify_accepts_any_certificate(tmp_path, ca):
    other = pki.make_ca("Contoso TLS Inspection Root CA", "Contoso")
    leaf = pki.make_server_cert(other, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf) as port:
        r = _handshake(port, ca.cert_pem, insecure=True)
    assert r.status is Status.OK
    assert r.facts["verified"] is False
    assert r.facts["signed_by_kubeconfig_ca"] is False


def test_tls_against_plain_tcp_fails_the_handshake():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]

        def connect():
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
            peer, _ = srv.accept()
            peer.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            peer.close()
            return c
        r = tls.handshake(ctx(), "x", connect, sni=HOST, ca_pem=None, insecure=False)
    assert r.kind == "tls.handshake_failed"


@pytest.mark.parametrize(("path", "status", "ctype", "body", "kind"), [
    ("/version", 401, "application/json",
     b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","code":401}', "kubernetes-status"),
    ("/version", 200, "application/json", b'{"major":"1","gitVersion":"v1.31.2"}', "kubernetes-version"),
    ("/readyz", 200, "text/plain", b"ok", "kubernetes-health"),
    ("/version", 403, "text/html", b"<html><title>Blocked</title></html>", "html"),
    ("/version", 200, "application/json", b'{"error":"nope"}', "json"),
    ("/readyz", 200, "text/plain", b"fine", "other"),
])
def test_classify_body(path, status, ctype, body, kind):
    assert http_probe.classify_body(path, status, ctype, body) == kind


def test_http_anonymous_401_status_proves_the_api_server(tmp_path, ca):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token="t0k3n-secret") as port:
        r = http_probe.probe(ctx(), "x", url_host="127.0.0.1", port=port, host_header=HOST, sni=HOST,
                             verify=tls.verifying_context(ca.cert_pem))
    assert r.status is Status.OK
    assert r.facts["paths"]["/version"]["status"] == 401
    assert r.facts["paths"]["/version"]["body"] == "kubernetes-status"


def test_http_block_page_is_not_kubernetes(tmp_path, ca):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, mode="blockpage") as port:
        r = http_probe.probe(ctx(), "x", url_host="127.0.0.1", port=port, host_header=HOST, sni=HOST,
                             verify=False)
    assert r.kind == "http.not_kubernetes"
    assert r.facts["paths"]["/version"]["title"] == "Access Denied"
