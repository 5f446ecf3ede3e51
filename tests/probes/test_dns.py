import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

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


def _aaaa_dropped(table):
    """A resolver (or a filter before it) that answers A and never AAAA."""
    inner = answer(table)

    def handle(query):
        return None if query.question[0].rdtype == dns.rdatatype.AAAA else inner(query)
    return handle


def test_a_resolver_that_drops_aaaa_costs_go_its_full_timeout(tmp_path):
    # Go asks A and AAAA at once and takes the answer only when both lanes end: the silent
    # AAAA lane costs timeout x attempts, on every lookup, though A answered at once.
    with Nameserver(_aaaa_dropped({NAME: "10.1.0.4"})) as ns:
        c = ctx(tmp_path)
        (tmp_path / "resolv.conf").write_text(f"nameserver {ns.spec}\noptions timeout:1 attempts:2\n")
        r = dns_probe.system_view(c, NAME)
    assert r.status is Status.OK
    assert [a["address"] for a in r.facts["addresses"]] == ["10.1.0.4"]
    assert r.facts["aaaa_unanswered"] is True
    assert r.facts["go_wait_s"] == r.facts["aaaa_wait_s"] == 2.0


def test_an_answer_with_both_families_keeps_both(tmp_path):
    def both(query):
        response = dns.message.make_response(query)
        q = query.question[0]
        value = "10.1.0.4" if q.rdtype == dns.rdatatype.A else "fd00::4"
        response.answer.append(dns.rrset.from_text(q.name, 60, "IN", dns.rdatatype.to_text(q.rdtype), value))
        return response

    with Nameserver(both) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
    assert [a["address"] for a in r.facts["addresses"]] == ["10.1.0.4", "fd00::4"]
    assert r.facts["aaaa_unanswered"] is False and r.facts["go_wait_s"] < 1


def test_an_ipv6_only_name_resolves_through_the_aaaa_lane(tmp_path):
    def only_aaaa(query):
        response = dns.message.make_response(query)
        q = query.question[0]
        if q.rdtype == dns.rdatatype.AAAA:
            response.answer.append(dns.rrset.from_text(q.name, 60, "IN", "AAAA", "fd00::4"))
        return response

    with Nameserver(only_aaaa) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
    assert r.status is Status.OK
    assert [a["address"] for a in r.facts["addresses"]] == ["fd00::4"]
