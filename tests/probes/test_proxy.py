import pytest

from agent.deadline import Deadline
from probes import proxy
from probes.base import ProbeContext, Status
from tests.support.servers import closed_port, scripted_proxy

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"


@pytest.mark.parametrize(("no_proxy", "host", "port", "exempt"), [
    ("azmk8s.io", HOST, 443, True),  # a domain matches its subdomains
    ("hcp.eastus.azmk8s.io", "hcp.eastus.azmk8s.io", 443, True),  # ... and itself
    (".azmk8s.io", HOST, 443, True),
    (".azmk8s.io", "azmk8s.io", 443, False),  # a leading dot: subdomains only
    ("*.azmk8s.io", HOST, 443, True),
    ("*", HOST, 443, True),
    ("*azmk8s.io", HOST, 443, False),  # only "*." is special: "*azmk8s.io" is literal
    ("10.*", "10.1.0.4", 443, False),  # no globs
    ("10.0.0.0/8", "10.1.0.4", 443, True),
    ("10.0.0.0/8", HOST, 443, False),  # a CIDR never matches a name
    ("10.1.0.4", "10.1.0.4", 443, True),
    ("azmk8s.io:443", HOST, 443, True),
    ("azmk8s.io:6443", HOST, 443, False),
    ("  Example.COM ,azmk8s.io", HOST, 443, True),
    ("other.example", HOST, 443, False),
])
def test_no_proxy_matches_like_go(no_proxy, host, port, exempt):
    assert (proxy.no_proxy_matches(no_proxy, host, port) is not None) is exempt


def test_kubeconfig_proxy_url_wins_over_environment_and_no_proxy():
    d = proxy.decide("http://kc-proxy:3128", {"HTTPS_PROXY": "http://env:3128", "NO_PROXY": "*"}, HOST, 443)
    assert (d.used, d.url, d.source) == (True, "http://kc-proxy:3128", "kubeconfig proxy-url")


def test_https_proxy_applies_without_scheme_and_http_proxy_is_ignored():
    assert proxy.decide(None, {"HTTP_PROXY": "http://p:1"}, HOST, 443).used is False
    d = proxy.decide(None, {"https_proxy": "p.corp:8080"}, HOST, 443)
    assert (d.used, d.url, d.source) == (True, "http://p.corp:8080", "https_proxy")


def test_upper_case_wins_and_loopback_is_never_proxied():
    d = proxy.decide(None, {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1"}, HOST, 443)
    assert d.url == "http://upper:1"
    assert proxy.decide(None, {"HTTPS_PROXY": "http://p:1"}, "127.0.0.1", 443).used is False
    assert proxy.decide(None, {"HTTPS_PROXY": "http://p:1"}, "localhost", 443).used is False


def test_redacted_hides_the_password():
    d = proxy.decide(None, {"HTTPS_PROXY": "http://alice:s3cr3t-pw@p:3128"}, HOST, 443)
    assert "s3cr3t-pw" not in d.redacted
    assert d.redacted == "http://alice:REDACTED@p:3128"


def _ctx():
    return ProbeContext(deadline=Deadline(5), timeout_s=1.0)


def _connect(url):
    decision = proxy.ProxyDecision(True, url, "HTTPS_PROXY", "test")
    result, sock = proxy.connect(_ctx(), decision, HOST, 443)
    if sock is not None:
        sock.close()
    return result


def test_connect_established():
    with scripted_proxy(lambda head: b"HTTP/1.1 200 Connection established\r\n\r\n") as port:
        r = _connect(f"http://127.0.0.1:{port}")
    assert r.status is Status.OK
    assert r.facts["status"] == 200


def test_connect_needs_auth_and_sends_basic_credentials():
    seen = []

    def reply(head):
        seen.append(head)
        return b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\n\r\n'
    with scripted_proxy(reply) as port:
        r = _connect(f"http://bob:pw%21x@127.0.0.1:{port}")
    assert r.kind == "proxy.auth_required"
    assert r.facts["auth_scheme"] == "Basic"
    assert b"Proxy-Authorization: Basic Ym9iOnB3IXg=" in seen[0]  # bob:pw!x
    assert "pw" not in r.subject


def test_connect_401_with_www_authenticate_is_auth_required():
    # tinyproxy 1.11 answers an unauthenticated CONNECT this way instead of with 407.
    answer = b'HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="tinyproxy"\r\n\r\n'
    with scripted_proxy(lambda head: answer) as port:
        r = _connect(f"http://127.0.0.1:{port}")
    assert (r.kind, r.facts["auth_scheme"]) == ("proxy.auth_required", "Basic")


def test_connect_forbidden_is_a_refused_connect():
    with scripted_proxy(lambda head: b"HTTP/1.1 403 Forbidden\r\n\r\n") as port:
        assert _connect(f"http://127.0.0.1:{port}").kind == "proxy.refused_connect"


def test_tls_speaking_proxy_behind_an_http_url_is_a_scheme_mismatch():
    with scripted_proxy(lambda head: b"\x15\x03\x01\x00\x02\x02\x46") as port:
        assert _connect(f"http://127.0.0.1:{port}").kind == "proxy.scheme_mismatch"


def test_plain_proxy_behind_an_https_url_is_a_scheme_mismatch():
    with scripted_proxy(lambda head: b"HTTP/1.1 400 Bad Request\r\n\r\n") as port:
        assert _connect(f"https://127.0.0.1:{port}").kind == "proxy.scheme_mismatch"


def test_nothing_listening_is_unreachable():
    r = _connect(f"http://127.0.0.1:{closed_port()}")
    assert r.kind == "proxy.unreachable"
    assert r.facts["tcp_kind"] == "tcp.refused"
