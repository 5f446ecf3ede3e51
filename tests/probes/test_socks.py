"""The SOCKS5 CONNECT as Go's dialer makes it, against scripted loopback SOCKS servers: the
bytes sent, every reply code, authentication, and the bounds on a silent or foreign server."""

from __future__ import annotations

import socket
import time

import pytest

from agent.deadline import Deadline
from probes import socks
from probes.base import ProbeContext, Status
from probes.proxy import ProxyDecision
from tests.support.hostile import serve, silent, socks5
from tests.support.servers import closed_port, scripted_proxy

HOST = "aks-socks-dns-1a2b3c4d.privatelink.westeurope.azmk8s.io"


def _ctx(timeout: float = 1.0) -> ProbeContext:
    return ProbeContext(deadline=Deadline(5), timeout_s=timeout)


def _connect(url: str, host: str = HOST, port: int = 443, timeout: float = 1.0):
    decision = ProxyDecision(True, url, "kubeconfig proxy-url", "test")
    result, sock = socks.connect(_ctx(timeout), decision, host, port)
    if sock is not None:
        sock.close()
    return result


def test_connect_request_sends_the_name_and_ip_literals_as_addresses():
    name = HOST.encode()
    assert socks.connect_request(HOST, 443) == bytes([5, 1, 0, 3, len(name)]) + name + b"\x01\xbb"
    assert socks.connect_request("10.1.0.4", 6443) == bytes([5, 1, 0, 1, 10, 1, 0, 4, 0x19, 0x2b])
    assert socks.connect_request("fd00::1", 443)[:4] == bytes([5, 1, 0, 4])
    with pytest.raises(ValueError):
        socks.connect_request("a" * 256, 443)


def test_no_credentials_offers_no_auth_only_and_connects_by_name():
    seen: list[bytes] = []
    with serve(socks5(seen)) as port:
        r = _connect(f"socks5://127.0.0.1:{port}")
    assert r.status is Status.OK, r.failure
    assert seen[0] == bytes([5, 1, 0])
    assert seen[1] == socks.connect_request(HOST, 443)
    assert (r.facts["method"], r.facts["address_type"], r.facts["bound"]) == ("none", "name", "0.0.0.0:0")


def test_credentials_offer_both_methods_and_are_sent_rfc1929():
    seen: list[bytes] = []
    with serve(socks5(seen, method=0x02)) as port:
        r = _connect(f"socks5://alice:s%3Acret@127.0.0.1:{port}")
    assert r.status is Status.OK, r.failure
    assert seen[0] == bytes([5, 2, 0, 2])
    assert seen[1] == bytes([1, 5]) + b"alice" + bytes([6]) + b"s:cret"
    assert r.facts["credentials_sent"] is True
    assert "s:cret" not in repr(r) and "s%3Acret" not in repr(r)


def test_rejected_credentials_and_no_acceptable_method_are_auth_required():
    with serve(socks5([], method=0x02, auth_ok=False)) as port:
        r = _connect(f"socks5://alice:wrong@127.0.0.1:{port}")
    assert (r.kind, "rejected" in r.failure.detail) == ("proxy.auth_required", True)
    with serve(socks5([], method=0xFF)) as port:
        r = _connect(f"socks5://127.0.0.1:{port}")
    assert r.kind == "proxy.auth_required"
    assert "user name and password" in r.failure.detail


@pytest.mark.parametrize(("code", "text"), [*sorted(socks.REPLIES.items())[1:], (42, "unknown code: 42")])
def test_each_reply_code_is_named(code, text):
    with serve(socks5([], reply=code)) as port:
        r = _connect(f"socks5://127.0.0.1:{port}")
    assert r.kind == "proxy.socks_refused"
    assert (r.facts["reply_code"], r.facts["reply"]) == (code, text)
    assert text in r.failure.detail


def test_closed_port_is_unreachable_with_tcp_refused():
    r = _connect(f"socks5://127.0.0.1:{closed_port()}")
    assert (r.kind, r.facts["tcp_kind"]) == ("proxy.unreachable", "tcp.refused")


def test_an_http_proxy_behind_a_socks_url_is_a_scheme_mismatch():
    def http_proxy(conn: socket.socket, stop) -> None:
        conn.recv(16)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with serve(http_proxy) as port:
        r = _connect(f"socks5://127.0.0.1:{port}")
    assert r.kind == "proxy.scheme_mismatch"
    assert "speaks HTTP" in r.failure.detail


def test_a_server_waiting_for_more_than_the_greeting_says_so():
    # An HTTP proxy on the port reads on, waiting for a request line that never comes.
    with scripted_proxy(lambda head: None) as port:
        r = _connect(f"socks5://127.0.0.1:{port}", timeout=0.5)
    assert r.kind == "proxy.error"
    assert "is it a SOCKS5 server" in r.failure.detail


def test_a_silent_server_costs_the_budget_and_no_more():
    with serve(silent) as port:
        started = time.monotonic()
        r = _connect(f"socks5://127.0.0.1:{port}", timeout=0.5)
        took = time.monotonic() - started
    assert r.kind == "proxy.error" and "greeting" in r.failure.detail
    assert 0.4 < took < 1.5


def test_a_dribbling_reply_is_bounded_by_one_deadline():
    def dribble(conn: socket.socket, stop) -> None:
        conn.recv(16)
        conn.sendall(b"\x05\x00")
        conn.recv(300)
        for byte in b"\x05\x00\x00\x03\xff":  # a 255-byte name announced, then a trickle
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.2)
        while not stop.is_set():
            conn.sendall(b"a")
            time.sleep(0.2)

    with serve(dribble) as port:
        started = time.monotonic()
        r = _connect(f"socks5://127.0.0.1:{port}", timeout=0.8)
        took = time.monotonic() - started
    assert r.kind == "proxy.error"
    assert took < 1.6
