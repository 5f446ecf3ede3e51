"""Nameservers that misbehave: huge answers, CNAME loops, wrong query IDs, truncation."""

import time

import dns.message
import dns.rrset

from agent.deadline import Deadline
from probes import dns as dns_probe
from probes.base import ProbeContext, Status
from tests.support.nameserver import Nameserver, answer

NAME = "aks-1.privatelink.eastus.azmk8s.io"


def ctx(tmp_path, timeout=1.0):
    (tmp_path / "hosts").write_text("")
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    return ProbeContext(deadline=Deadline(10), timeout_s=timeout, hosts_path=str(tmp_path / "hosts"),
                        resolv_conf_path=str(tmp_path / "resolv.conf"))


def many(count):
    addresses = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(1, count + 1)]

    def handle(query):
        response = dns.message.make_response(query)
        if query.question[0].rdtype == 1:
            response.answer.append(dns.rrset.from_text_list(query.question[0].name, 60, "IN", "A", addresses))
        return response
    return handle


def test_an_answer_with_4000_addresses_is_capped_and_counted(tmp_path):
    with Nameserver(many(4000)) as ns:
        started = time.monotonic()
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
        took = time.monotonic() - started
    assert r.status is Status.OK
    assert took < 1.0
    assert len(r.facts["addresses"]) == dns_probe.MAX_ADDRESSES
    kept = [a["address"] for a in r.facts["addresses"]]
    assert len(set(kept)) == len(kept) and all(a["class"] == "private" for a in r.facts["addresses"])
    assert r.facts["addresses_truncated"] == 4000 - dns_probe.MAX_ADDRESSES


def test_a_small_answer_is_not_marked_truncated(tmp_path):
    with Nameserver(answer({NAME: "10.1.0.4"})) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
    assert r.facts["addresses_truncated"] == 0


def test_a_truncated_udp_answer_is_asked_again_over_tcp(tmp_path):
    with Nameserver(many(100), udp_limit=512) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
        queries = list(ns.queries)
    assert r.status is Status.OK
    assert len(r.facts["addresses"]) == dns_probe.MAX_ADDRESSES
    # A and AAAA go out together, each over UDP first, then TCP after the truncated answer.
    assert queries.index(f"{NAME}./udp") < queries.index(f"{NAME}./tcp")
    assert r.attempts[-1].endpoint.endswith("/tcp")


def cname_loop(query):
    response = dns.message.make_response(query)
    loop = f"loop.{NAME}."
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "CNAME", loop))
    response.answer.append(dns.rrset.from_text(loop, 60, "IN", "CNAME", f"{NAME}."))
    return response


def test_a_cname_loop_is_named(tmp_path):
    with Nameserver(cname_loop) as ns:
        r = dns_probe.single_view(ctx(tmp_path), NAME, ns.spec, probe="dns.nameserver")
    assert r.status is Status.FAILED
    assert r.kind == "dns.cname_loop"
    assert f"{NAME} -> loop.{NAME} -> {NAME}" in r.failure.detail
    assert r.facts["cname_chain"] == [f"loop.{NAME}", NAME]


def wrong_id(query):
    response = dns.message.make_response(query)
    response.id = (query.id + 1) & 0xFFFF
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.1.0.4"))
    return response


def test_answers_with_the_wrong_query_id_are_ignored_like_go_and_reported(tmp_path):
    with Nameserver(wrong_id) as ns:
        started = time.monotonic()
        r = dns_probe.single_view(ctx(tmp_path, timeout=0.5), NAME, ns.spec, probe="dns.nameserver")
        took = time.monotonic() - started
    assert r.status is Status.FAILED
    assert r.kind == "dns.id_mismatch"
    assert "wrong query ID" in r.failure.detail
    assert r.attempts[0].facts["mismatched_answers"] >= 1
    assert took < 1.5


def test_the_system_view_moves_past_a_wrong_id_server_like_go(tmp_path):
    c = ctx(tmp_path, timeout=0.5)
    with Nameserver(wrong_id) as bad, Nameserver(answer({NAME: "10.1.0.4"})) as good:
        conf = dns_probe.ResolvConf((bad.spec, good.spec), (), 1, 0.5, 1)
        out = dns_probe.resolve(c, NAME, conf.nameservers, conf)
    assert out.addresses == ["10.1.0.4"]
    assert out.attempts[0].failure.kind == "dns.id_mismatch"


def test_a_hosts_file_listing_the_name_a_thousand_times_keeps_32(tmp_path):
    from agent.deadline import Deadline
    from probes import dns
    from probes.base import ProbeContext

    hosts = tmp_path / "hosts"
    hosts.write_text("".join(f"10.9.{i // 250}.{i % 250 + 1} api.example.internal\n" for i in range(1000)))
    ctx = ProbeContext(deadline=Deadline(5), timeout_s=1.0, hosts_path=str(hosts), resolv_conf_path="/nonexistent")
    r = dns.system_view(ctx, "api.example.internal")
    assert r.facts["source"] == "hosts"
    assert len(r.facts["addresses"]) == dns.MAX_ADDRESSES
    assert r.facts["addresses_truncated"] == 1000 - dns.MAX_ADDRESSES
