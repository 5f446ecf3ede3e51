import dns.rcode

from agent.deadline import Deadline
from probes import dns as dns_probe
from probes.base import ProbeContext, Status
from tests.support.nameserver import Nameserver, answer, drop, rcode

NAME = "aks-1.privatelink.eastus.azmk8s.io"


def ctx(tmp_path, hosts="", timeout=1.0):
    (tmp_path / "hosts").write_text(hosts)
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    return ProbeContext(deadline=Deadline(5), timeout_s=timeout, hosts_path=str(tmp_path / "hosts"),
                        resolv_conf_path=str(tmp_path / "resolv.conf"))


def test_single_view_returns_private_address(tmp_path):
    with Nameserver(answer({NAME: "10.1.0.4"})) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.resolver", label="linked")
    assert r.status is Status.OK
    assert r.subject == f"linked={ns.spec}"
    assert r.facts["addresses"] == [{"address": "10.1.0.4", "class": "private"}]
    assert r.facts["rcode"] == "NOERROR"


def test_nxdomain_is_final_and_names_the_server(tmp_path):
    with Nameserver(answer({})) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
    assert r.status is Status.FAILED
    assert r.kind == "dns.nxdomain"
    assert "NXDOMAIN" in r.failure.detail
    assert r.facts["names_tried"] == [NAME]


def test_servfail_and_refused_are_told_apart(tmp_path):
    with Nameserver(rcode(dns.rcode.SERVFAIL)) as a, Nameserver(rcode(dns.rcode.REFUSED)) as b:
        servfail = dns_probe.single_view(ctx(tmp_path), NAME, a.spec, probe="dns.nameserver")
        refused = dns_probe.single_view(ctx(tmp_path), NAME, b.spec, probe="dns.nameserver")
    assert (servfail.kind, refused.kind) == ("dns.servfail", "dns.refused")


def test_dropping_server_times_out_within_the_budget(tmp_path):
    with Nameserver(drop) as ns:
        r = dns_probe.single_view(ctx(tmp_path, timeout=0.3), NAME, ns.spec, probe="dns.nameserver")
    assert r.kind == "dns.timeout"
    assert r.duration_s < 1.5
    assert r.attempts[0].failure.kind == "dns.timeout"


def test_resolve_moves_past_a_servfail_to_the_next_server(tmp_path):
    c = ctx(tmp_path)
    with Nameserver(rcode(dns.rcode.SERVFAIL)) as bad, Nameserver(answer({NAME: "10.1.0.4"})) as good:
        conf = dns_probe.ResolvConf((bad.spec, good.spec), (), 1, 1.0, 1)
        out = dns_probe.resolve(c, NAME, conf.nameservers, conf)
    assert out.addresses == ["10.1.0.4"]
    assert [a.status for a in out.attempts] == [Status.FAILED, Status.OK]


def test_resolve_stops_at_nxdomain_like_go(tmp_path):
    c = ctx(tmp_path)
    with Nameserver(answer({})) as first, Nameserver(answer({NAME: "10.1.0.4"})) as second:
        conf = dns_probe.ResolvConf((first.spec, second.spec), (), 1, 1.0, 1)
        out = dns_probe.resolve(c, NAME, conf.nameservers, conf)
    assert out.addresses == []
    assert out.failure.kind == "dns.nxdomain"
    # Both servers are asked at once, but Go's outcome is the first one's final NXDOMAIN.
    assert [a.endpoint for a in out.attempts] == [f"{first.spec}/udp"]


def test_system_view_prefers_hosts_file(tmp_path):
    r = dns_probe.system_view(ctx(tmp_path, hosts=f"10.1.0.5 {NAME}\n"), NAME)
    assert r.status is Status.OK
    assert r.facts["source"] == "hosts"
    assert r.facts["addresses"][0]["address"] == "10.1.0.5"


def test_system_view_of_an_ip_literal(tmp_path):
    r = dns_probe.system_view(ctx(tmp_path), "10.1.0.4")
    assert r.facts["source"] == "literal"


def test_a_dead_first_nameserver_costs_one_wait_and_go_s_wait_is_derived(tmp_path):
    """Go asks the dead server first and waits resolv.conf's timeout before the next one;
    kubereach asks both at once, gets Go's answer, and says how long Go would wait."""
    import time

    c = ctx(tmp_path, timeout=0.5)
    with Nameserver(drop) as dead, Nameserver(answer({NAME: "10.1.0.4"})) as good:
        conf = dns_probe.ResolvConf((dead.spec, good.spec), (), 1, 5.0, 2)
        started = time.monotonic()
        out = dns_probe.resolve(c, NAME, conf.nameservers, conf)
        took = time.monotonic() - started
    assert out.addresses == ["10.1.0.4"]
    assert [a.status for a in out.attempts] == [Status.FAILED, Status.OK]
    assert 5.0 <= out.go_wait_s < 5.5  # Go: one full resolv.conf timeout on the dead server
    assert took < 1.0  # kubereach: about one --timeout, not resolv.conf's 5 s


def test_all_nameservers_dead_costs_one_wait(tmp_path):
    import time

    c = ctx(tmp_path, timeout=0.5)
    with Nameserver(drop) as a, Nameserver(drop) as b:
        conf = dns_probe.ResolvConf((a.spec, b.spec), ("corp.example",), 5, 5.0, 2)
        started = time.monotonic()
        out = dns_probe.resolve(c, NAME, conf.nameservers, conf)
        took = time.monotonic() - started
    assert out.failure.kind == "dns.timeout"
    assert out.go_wait_s == 2 * 2 * 2 * 5.0  # two names, two attempts, two servers, 5 s each
    assert took < 1.0
