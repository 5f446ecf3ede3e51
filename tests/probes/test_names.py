import pytest

from probes.base import address_class
from probes.dns import names_to_try, parse_resolv_conf, split_server
from probes.hosts import parse_hosts


@pytest.mark.parametrize(("name", "search", "ndots", "expected"), [
    ("aks-1.hcp.eastus.azmk8s.io", ["corp.example"], 1,
     ["aks-1.hcp.eastus.azmk8s.io.", "aks-1.hcp.eastus.azmk8s.io.corp.example."]),
    ("api", ["corp.example", "svc.local"], 1, ["api.corp.example.", "api.svc.local.", "api."]),
    ("a.b", ["s"], 5, ["a.b.s.", "a.b."]),
    ("rooted.example.", ["s"], 1, ["rooted.example."]),
])
def test_names_to_try_follows_go_order(name, search, ndots, expected):
    assert names_to_try(name, search, ndots) == expected


def test_parse_resolv_conf_reads_servers_search_and_options():
    conf = parse_resolv_conf("""# comment
nameserver 10.0.0.10
nameserver 168.63.129.16  # azure
domain ignored.example
search a.example b.example
options ndots:5 timeout:2 attempts:3 rotate
""")
    assert conf.nameservers == ("10.0.0.10", "168.63.129.16")
    assert conf.search == ("a.example.", "b.example.")  # rooted, as Go keeps them
    assert (conf.ndots, conf.timeout_s, conf.attempts) == (5, 2.0, 3)


@pytest.mark.parametrize(("spec", "expected"), [
    ("10.0.0.10", ("10.0.0.10", 53)), ("10.0.0.10:5353", ("10.0.0.10", 5353)),
    ("[fd00::1]:53", ("fd00::1", 53)), ("fd00::1", ("fd00::1", 53))])
def test_split_server(spec, expected):
    assert split_server(spec) == expected


def test_split_server_rejects_names():
    with pytest.raises(ValueError):
        split_server("dns.example")


def test_parse_hosts_keeps_file_order_and_ignores_comments():
    table = parse_hosts("""127.0.0.1 localhost
10.1.0.5  aks-1.privatelink.eastus.azmk8s.io  # stale
10.1.0.4  AKS-1.privatelink.eastus.azmk8s.io.
not-an-ip name
fe80::1%eth0 v6.example
""")
    assert table["aks-1.privatelink.eastus.azmk8s.io."] == ["10.1.0.5", "10.1.0.4"]
    assert table["v6.example."] == ["fe80::1%eth0"]  # Go keeps the zone
    assert "name" not in table


@pytest.mark.parametrize(("address", "cls"), [
    ("10.1.0.4", "private"), ("172.16.3.4", "private"), ("192.168.1.1", "private"),
    ("100.64.0.1", "private"), ("fd12::1", "private"), ("127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("203.0.113.10", "public"), ("20.1.2.3", "public")])
def test_address_class(address, cls):
    assert address_class(address) == cls
