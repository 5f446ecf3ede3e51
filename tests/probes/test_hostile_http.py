"""The HTTP probe against servers that never finish: it ends within its budget, keeps
memory bounded and says what happened."""

import tracemalloc

import pytest

from agent.deadline import Deadline
from agent.lab import pki
from probes import http as http_probe
from probes import tls
from probes.base import ProbeContext, Status
from tests.support import hostile

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"
BUDGET = 1.5
SLACK = 1.0  # thread start, TLS handshake, scheduling on a busy 2-core machine


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca("ca")


def probe_against(behaviour, tmp_path, ca, limit=BUDGET + 6):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with hostile.serve(behaviour, hostile.tls_context(tmp_path, leaf)) as port:
        ctx = ProbeContext(deadline=Deadline(30), timeout_s=BUDGET)
        return hostile.run_bounded(lambda: http_probe.probe(
            ctx, f"127.0.0.1:{port}", url_host="127.0.0.1", port=port, host_header=HOST, sni=HOST,
            verify=tls.verifying_context(ca.cert_pem)), limit)


def test_an_endless_body_is_cut_and_recorded(tmp_path, ca):
    tracemalloc.start()
    try:
        r, took = probe_against(hostile.http_endless_body, tmp_path, ca)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r is not None, "the probe was still reading an endless body"
    assert took < BUDGET + SLACK
    assert peak < 16 * 2**20
    version = r.facts["paths"]["/version"]
    assert version["status"] == 200
    assert version["body_truncated"] is True
    assert version["body_bytes"] == http_probe.MAX_BODY_BYTES
    assert r.kind == "http.not_kubernetes"


def test_a_huge_content_length_is_cut(tmp_path, ca):
    tracemalloc.start()
    try:
        r, took = probe_against(hostile.http_huge_length, tmp_path, ca)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r is not None, "the probe was still reading a 1 GB body"
    assert took < BUDGET + SLACK
    assert peak < 16 * 2**20
    assert r.facts["paths"]["/version"]["body_truncated"] is True


def test_a_body_at_a_byte_a_second_ends_within_the_budget(tmp_path, ca):
    r, took = probe_against(hostile.http_slow_body, tmp_path, ca)
    assert r is not None, "the probe waited for a body dribbled a byte a second"
    assert took < BUDGET + SLACK
    assert r.status is Status.FAILED
    assert r.kind == "http.timeout"
    assert "/version" in r.failure.detail and "body" in r.failure.detail
    version = r.facts["paths"]["/version"]
    assert version["status"] == 401
    assert version["body_truncated"] is True


def test_an_endless_header_line_is_refused_quickly(tmp_path, ca):
    r, took = probe_against(hostile.http_endless_header, tmp_path, ca)
    assert r is not None
    assert took < BUDGET + SLACK
    assert r.kind == "http.error"
    assert "header" in r.failure.detail


def test_headers_dribbled_a_byte_at_a_time_end_within_the_budget(tmp_path, ca):
    r, took = probe_against(hostile.http_dribbled_headers, tmp_path, ca)
    assert r is not None, "the probe waited for headers dribbled a byte at a time"
    assert took < BUDGET + SLACK
    assert r.kind == "http.timeout"
    assert "/version" in r.failure.detail


def test_a_slow_body_through_a_proxy_tunnel_ends_within_the_budget(tmp_path, ca):
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with hostile.serve(hostile.http_slow_body, hostile.tls_context(tmp_path, leaf)) as port, \
            hostile.serve(hostile.tunnel_to(port)) as proxy_port:
        ctx = ProbeContext(deadline=Deadline(30), timeout_s=BUDGET)
        r, took = hostile.run_bounded(lambda: http_probe.probe(
            ctx, f"{HOST}:443 via proxy", url_host=HOST, port=443, host_header=HOST, sni=HOST,
            verify=tls.verifying_context(ca.cert_pem), proxy=f"http://127.0.0.1:{proxy_port}", via="proxy"),
            BUDGET + 6)
    assert r is not None, "the probe waited for a slow body through the tunnel"
    assert took < BUDGET + SLACK
    assert r.kind == "http.timeout"
    assert r.facts["paths"]["/version"]["status"] == 401
