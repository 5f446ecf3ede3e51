"""agent/rules/dns.py for CNAME loops and wrong-ID answers, fed by the real probe run
against a loopback nameserver, so the facts the rules read are the ones the probe writes."""

from __future__ import annotations

import dns.message
import dns.rrset

from agent.deadline import Deadline
from agent.rules.catalog import all_rules
from agent.rules.engine import evaluate
from agent.rules.model import Severity
from agent.verdict import walk as judge
from probes import dns as dns_probe
from probes.base import ProbeContext
from tests.agent.builders import HOST, obs, working
from tests.support.nameserver import Nameserver, answer


def _ctx(tmp_path, server):
    (tmp_path / "hosts").write_text("")
    (tmp_path / "resolv.conf").write_text(f"nameserver {server}\n")
    return ProbeContext(deadline=Deadline(10), timeout_s=0.5, hosts_path=str(tmp_path / "hosts"),
                        resolv_conf_path=str(tmp_path / "resolv.conf"))


def _views(tmp_path, handler):
    with Nameserver(handler) as ns:
        c = _ctx(tmp_path, ns.spec)
        return (dns_probe.system_view(c, HOST),
                dns_probe.single_view(c, HOST, ns.spec, probe="dns.nameserver"))


def _wrong_id(query):
    response = dns.message.make_response(query)
    response.id = (query.id + 7) & 0xFFFF
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.1.0.4"))
    return response


def _loop(query):
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "CNAME", f"a.{HOST}."))
    response.answer.append(dns.rrset.from_text(f"a.{HOST}.", 60, "IN", "CNAME", f"{HOST}."))
    return response


def test_wrong_id_answers_are_a_blocker_naming_the_resolver(tmp_path):
    system, view = _views(tmp_path, _wrong_id)
    findings = {f.code: f for f in evaluate(all_rules(), obs(system, view))}
    assert findings["dns.id_mismatch"].severity is Severity.BLOCKER
    assert "wrong query ID" in findings["dns.id_mismatch"].detail
    assert "NAT" in findings["dns.id_mismatch"].fix
    assert judge(obs(system, view))[0] == "unreachable"


def test_wrong_id_from_the_system_view_alone_is_still_a_finding(tmp_path):
    system, _ = _views(tmp_path, _wrong_id)
    blockers = [f for f in evaluate(all_rules(), obs(system)) if f.severity is Severity.BLOCKER]
    assert [f.code for f in blockers] == ["dns.id_mismatch"]
    assert "127.0.0.1:" in blockers[0].detail


def test_wrong_id_from_a_secondary_resolver_is_a_warning(tmp_path):
    with Nameserver(_wrong_id) as bad, Nameserver(answer({HOST: "10.1.0.4"})) as good:
        c = _ctx(tmp_path, good.spec)
        system = dns_probe.system_view(c, HOST)
        view = dns_probe.single_view(c, HOST, bad.spec, probe="dns.nameserver")
    findings = {f.code: f for f in evaluate(all_rules(), obs(system, view, *working("10.1.0.4")))}
    assert findings["dns.id_mismatch"].severity is Severity.WARNING


def test_a_cname_loop_is_a_blocker_that_shows_the_loop(tmp_path):
    system, view = _views(tmp_path, _loop)
    findings = {f.code: f for f in evaluate(all_rules(), obs(system, view))}
    assert findings["dns.cname_loop"].severity is Severity.BLOCKER
    assert f"{HOST} -> a.{HOST} -> {HOST}" in findings["dns.cname_loop"].detail
    assert "dns.no_answer" not in findings
