"""CONNECT through proxies that misbehave: each ends within the probe's budget, reads a
bounded number of bytes, and says what the proxy did."""

from agent.deadline import Deadline
from probes import proxy
from probes.base import ProbeContext, Status
from tests.support import hostile

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"
BUDGET = 1.5
SLACK = 1.0


def connect_through(behaviour, scheme="http"):
    with hostile.serve(behaviour) as port:
        decision = proxy.ProxyDecision(True, f"{scheme}://127.0.0.1:{port}", "HTTPS_PROXY", "test")
        ctx = ProbeContext(deadline=Deadline(30), timeout_s=BUDGET)

        def run():
            result, sock = proxy.connect(ctx, decision, HOST, 443)
            if sock is not None:
                sock.close()
            return result
        return hostile.run_bounded(run, BUDGET + 6)


def test_200_then_a_header_a_byte_at_a_time():
    r, took = connect_through(hostile.dribbler(
        b"HTTP/1.1 200 Connection established\r\n" + b"X-Slow: y\r\n" * 1000, after_head=False))
    assert r is not None, "the probe waited for a header dribbled a byte at a time"
    assert took < BUDGET + SLACK
    assert r.status is Status.FAILED
    assert r.kind == "proxy.error"
    assert "incomplete" in r.failure.detail
    assert r.facts["bytes_read"] > 0


def test_a_proxy_that_never_answers():
    r, took = connect_through(hostile.silent)
    assert r is not None
    assert took < BUDGET + SLACK
    assert r.kind == "proxy.error"
    assert "did not answer CONNECT" in r.failure.detail
    assert r.facts["bytes_read"] == 0


def test_a_proxy_that_answers_endless_garbage():
    r, took = connect_through(hostile.flood(b"\x00\xffgarbage", b"\x07" * 4096))
    assert r is not None
    assert took < BUDGET + SLACK
    assert r.kind == "proxy.error"
    assert "not HTTP" in r.failure.detail
    assert r.facts["bytes_read"] <= proxy.MAX_HEAD_BYTES


def test_a_proxy_with_an_endless_header():
    r, took = connect_through(hostile.flood(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"a" * 4096))
    assert r is not None
    assert took < BUDGET + SLACK
    assert r.kind == "proxy.error"
    assert f"{proxy.MAX_HEAD_BYTES // 1024} kB" in r.failure.detail
    assert r.facts["bytes_read"] == proxy.MAX_HEAD_BYTES


def test_an_https_proxy_that_dribbles_its_handshake():
    # A TLS record header, then the rest a byte at a time: every recv is quick.
    r, took = connect_through(hostile.dribbler(b"\x16\x03\x03\x40\x00" + b"\x02" * 16384,
                                               after_head=False), scheme="https")
    assert r is not None, "the probe waited for a TLS handshake dribbled a byte at a time"
    assert took < BUDGET + SLACK
    assert r.kind == "proxy.error"
    assert "TLS" in r.failure.detail
