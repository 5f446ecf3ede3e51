"""TLS handshakes with servers that stall: each ends within the probe's budget and says so."""

import socket

from agent.deadline import Deadline
from agent.lab import pki
from probes import tls
from probes.base import ProbeContext, Status
from tests.support import hostile

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"
BUDGET = 1.5
SLACK = 1.0


def handshake_with(behaviour, ca_pem=None):
    with hostile.serve(behaviour) as port:
        ctx = ProbeContext(deadline=Deadline(30), timeout_s=BUDGET)
        return hostile.run_bounded(lambda: tls.handshake(
            ctx, f"127.0.0.1:{port}", lambda: socket.create_connection(("127.0.0.1", port), timeout=BUDGET),
            sni=HOST, ca_pem=ca_pem, insecure=False), BUDGET + 6)


def test_a_server_that_never_speaks():
    r, took = handshake_with(hostile.silent)
    assert r is not None
    assert took < BUDGET + SLACK
    assert r.kind == "tls.timeout"
    assert "no ServerHello" in r.failure.detail


def test_a_server_that_dribbles_a_byte_at_a_time():
    # A handshake record header announcing 16 kB, then the body a byte every 0.2 s.
    r, took = handshake_with(hostile.dribbler(b"\x16\x03\x03\x40\x00" + b"\x02" * 16384, after_head=False))
    assert r is not None, "the handshake waited for a server dribbling a byte at a time"
    assert took < BUDGET + SLACK
    assert r.kind == "tls.timeout"
    assert "incomplete" in r.failure.detail


def test_a_stall_after_part_of_the_handshake_counts_what_arrived():
    r, _ = handshake_with(hostile.dribbler(b"\x16\x03\x03\x40\x00" + b"\x02" * 16384, after_head=False))
    assert r.facts["handshake_bytes_received"] > 0


def test_a_certificate_with_5000_sans_is_unverifiable_here_not_a_network_failure(tmp_path):
    # kubectl 1.32.5 (Go crypto/tls takes certificate messages up to 256 kB) verified a
    # certificate built like this one (175 kB) served by openssl s_server; OpenSSL's client
    # stops at 100 kB.
    ca = pki.make_ca("ca")
    names = [HOST] + [f"node-{i:05d}.apiserver.example.test" for i in range(4999)]
    leaf = pki.make_server_cert(ca, "apiserver", names, [])
    with hostile.serve(hostile.silent, hostile.tls_context(tmp_path, leaf)) as port:
        ctx = ProbeContext(deadline=Deadline(30), timeout_s=BUDGET)
        r = tls.handshake(ctx, f"127.0.0.1:{port}",
                          lambda: socket.create_connection(("127.0.0.1", port), timeout=BUDGET),
                          sni=HOST, ca_pem=ca.cert_pem, insecure=False)
    assert r.status is Status.SKIPPED
    assert r.failure is None
    assert "kubectl" in r.reason and "would accept" in r.reason
    assert "100 kB" in r.reason
    assert r.facts["certificate_too_large_for_openssl"] is True
