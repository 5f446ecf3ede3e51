import dataclasses

import pytest

from agent.rules.catalog import all_rules
from agent.rules.engine import evaluate
from agent.rules.model import Severity
from agent.verdict import walk as judge
from probes.base import Failure, ProbeResult, Status
from tests.agent import builders as b


def codes(o, severity=None):
    return sorted(f.code for f in evaluate(all_rules(), o) if severity is None or f.severity is severity)


def blockers(o):
    return codes(o, Severity.BLOCKER)


def test_healthy_private_cluster_has_no_findings_and_is_reachable():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"))
    assert codes(o) == []
    assert judge(o)[0] == "reachable"


def test_nxdomain_with_a_linked_resolver_that_works_says_dns_is_the_only_problem():
    o = b.obs(b.dns(kind="dns.nxdomain"),
              b.dns("dns.resolver", "linked=10.1.0.53", addrs=["10.1.0.4"], server="10.1.0.53"),
              *b.working("10.1.0.4", kubectl_path=False))
    found = {f.code: f for f in evaluate(all_rules(), o)}
    assert blockers(o) == ["dns.nxdomain"]
    assert "dns.split_horizon" in found
    assert "DNS is the only problem" in found["dns.nxdomain"].detail
    assert "private DNS zone" in found["dns.nxdomain"].fix
    assert judge(o)[0] == "unreachable"


def test_nxdomain_when_the_other_address_does_not_work_either():
    o = b.obs(b.dns(kind="dns.nxdomain"),
              b.dns("dns.resolver", "linked=10.1.0.53", addrs=["10.1.0.4"], server="10.1.0.53"),
              b.step("tcp", "10.1.0.4", "tcp.timeout", kubectl_path=False))
    detail = next(f.detail for f in evaluate(all_rules(), o) if f.code == "dns.nxdomain")
    assert "fixing DNS alone would not be enough" in detail


@pytest.mark.parametrize(("kind", "code"), [
    ("dns.no_answer", "dns.no_answer"), ("dns.servfail", "dns.server_failure"),
    ("dns.refused", "dns.server_failure"), ("dns.timeout", "dns.resolver_unreachable")])
def test_other_system_dns_failures(kind, code):
    o = b.obs(b.dns(kind=kind))
    assert blockers(o) == [code]


def test_a_dead_secondary_nameserver_is_a_warning_only():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.dns("dns.nameserver", "10.0.0.11", kind="dns.timeout", server="10.0.0.11"),
              b.dns("dns.nameserver", "10.0.0.10", addrs=["10.1.0.4"]), *b.working("10.1.0.4"))
    assert codes(o, Severity.WARNING) == ["dns.resolver_unreachable"]
    assert judge(o)[0] == "reachable"


def test_stale_hosts_entry_is_the_blocker_when_dns_address_works():
    o = b.obs(b.dns(addrs=["10.1.0.5"], source="hosts"), b.dns("dns.nameserver", "10.0.0.10", addrs=["10.1.0.4"]),
              b.step("tcp", "10.1.0.5", "tcp.timeout"), *b.working("10.1.0.4", kubectl_path=False))
    assert blockers(o) == ["dns.hosts_override", "net.filtered"]


def test_hosts_entry_matching_dns_is_fine():
    o = b.obs(b.dns(addrs=["10.1.0.4"], source="hosts"), b.dns("dns.nameserver", "10.0.0.10", addrs=["10.1.0.4"]),
              *b.working("10.1.0.4"))
    assert codes(o) == []


@pytest.mark.parametrize(("kind", "code"), [
    ("tcp.timeout", "net.filtered"), ("tcp.refused", "net.refused"),
    ("tcp.no_route", "net.no_route"), ("tcp.net_unreachable", "net.no_route")])
def test_tcp_failures_on_the_path(kind, code):
    o = b.obs(b.dns(addrs=["203.0.113.10"]), b.step("tcp", "203.0.113.10", kind))
    assert blockers(o) == [code]
    verdict, path = judge(o)
    assert verdict == "unreachable"
    assert [s.status for s in path if s.name in ("tcp", "tls")] == ["failed", "not-reached"]


def test_a_failing_first_address_is_only_a_warning_when_the_second_connects():
    o = b.obs(b.dns(addrs=["10.1.0.9", "10.1.0.4"]), b.step("tcp", "10.1.0.9", "tcp.timeout"), *b.working("10.1.0.4"))
    assert codes(o, Severity.WARNING) == ["net.filtered", "net.slow_dial"]
    assert judge(o)[0] == "reachable"


def test_what_if_addresses_never_make_blockers():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"), b.step("tcp", "10.9.9.9", "tcp.timeout", kubectl_path=False))
    assert blockers(o) == []


def _tls_fail(kind, **facts):
    return b.step("tls", "10.1.0.4", kind, **facts)


def test_tls_rotated_ca_is_ca_mismatch():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"),
              _tls_fail("tls.ca_mismatch", issuer="CN=ca", issuer_is_a_kubeconfig_ca_name=True, name_matches=True))
    assert blockers(o) == ["tls.ca_mismatch"]


@pytest.mark.parametrize("issuer", ["CN=Contoso TLS Inspection Root CA,O=Contoso", "CN=Zscaler Intermediate Root CA"])
def test_tls_other_issuer_for_our_name_is_intercepted(issuer):
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"),
              _tls_fail("tls.ca_mismatch", issuer=issuer, issuer_is_a_kubeconfig_ca_name=False, name_matches=True))
    assert blockers(o) == ["tls.intercepted"]


@pytest.mark.parametrize(("issuer", "in_cluster", "system_trust", "code"), [
    ("CN=kubernetes", False, False, "tls.ca_mismatch"),  # another cluster's CA: a name proves nothing
    ("CN=kubernetes", True, None, "tls.ca_mismatch"),  # trust store unknown: no evidence of a middlebox
    ("CN=Corp Root,O=Example", True, True, "tls.intercepted"),  # the machine trusts it: a middlebox copied names
    ("CN=ZSCALER ROOT CA", False, None, "tls.intercepted"),  # vendor names match in any case
    ("CN=Zscaler Root CA", True, False, "tls.ca_mismatch"),  # an API server's own names outweigh a name
])
def test_tls_interception_needs_more_than_another_issuer_name(issuer, in_cluster, system_trust, code):
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"),
              _tls_fail("tls.ca_mismatch", issuer=issuer, issuer_is_a_kubeconfig_ca_name=False, name_matches=True,
                        sans_have_in_cluster_names=in_cluster, verifies_with_system_trust=system_trust))
    assert blockers(o) == [code]


@pytest.mark.parametrize(("kind", "code"), [("tls.name_mismatch", "tls.name_mismatch"), ("tls.expired", "tls.expired"),
                                            ("tls.handshake_failed", "tls.handshake_failed"),
                                            ("tls.timeout", "tls.handshake_failed")])
def test_other_tls_failures(kind, code):
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"), _tls_fail(kind, sans=["x"]))
    assert blockers(o) == [code]


def test_block_page_is_not_kubernetes():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"), b.step("tls", "10.1.0.4"),
              b.step("http", "10.1.0.4", "http.not_kubernetes",
                     paths={"/version": {"status": 403, "content_type": "text/html", "title": "Access Denied",
                                         "server": None}}))
    found = evaluate(all_rules(), o)
    assert [f.code for f in found if f.severity is Severity.BLOCKER] == ["http.not_kubernetes"]
    assert "Access Denied" in found[0].detail


def _proxy_connect(kind=None):
    if kind:
        return ProbeResult("proxy.connect", "http://proxy.corp:3128", Status.FAILED, 0.1, failure=Failure(kind, kind))
    return ProbeResult("proxy.connect", "http://proxy.corp:3128", Status.OK, 0.1)


@pytest.mark.parametrize(("kind", "code"), [
    ("proxy.unreachable", "proxy.unreachable"), ("proxy.auth_required", "proxy.auth_required"),
    ("proxy.refused_connect", "proxy.refused_connect"), ("proxy.scheme_mismatch", "proxy.refused_connect")])
def test_proxy_failures(kind, code):
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4", kubectl_path=False), _proxy_connect(kind), proxy=True)
    found = {f.code: f for f in evaluate(all_rules(), o)}
    assert blockers(o) == [code]
    assert found["proxy.in_path"].severity is Severity.INFO
    assert "NO_PROXY" in found[code].detail  # the direct path works: say so
    assert judge(o)[0] == "unreachable"


def test_working_proxy_path_is_reachable():
    o = b.obs(_proxy_connect(), b.step("tls", "", via="proxy"), b.step("http", "", via="proxy"), proxy=True)
    assert judge(o)[0] == "reachable"
    assert codes(o) == ["proxy.in_path"]


def test_missing_exec_plugin_blocks_but_network_still_judged():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"))
    o = _replace(o, "auth", ProbeResult(
        "auth", "exec", Status.FAILED, 0.0, facts={"exec_command": "kubelogin"},
        failure=Failure("auth.exec_missing", "kubelogin not on PATH")))
    found = evaluate(all_rules(), o)
    assert [f.code for f in found] == ["kubeconfig.exec_plugin_missing"]
    assert "kubelogin" in found[0].fix
    verdict, path = judge(o)
    assert verdict == "unreachable"
    assert [s.status for s in path if s.name in ("dns", "tcp", "tls", "http")] == ["ok"] * 4


def test_local_bridge_route_shadowing():
    route = ProbeResult("route", "10.1.0.4", Status.OK, 0.0,
                        facts={"interface": "docker0", "prefix": "10.1.0.0/16", "gateway": "0.0.0.0", "shadowed": True})
    o = b.obs(b.dns(addrs=["10.1.0.4"]), route, b.step("tcp", "10.1.0.4", "tcp.timeout"))
    assert blockers(o) == ["net.filtered", "net.local_route_shadowed"]


def test_unfinished_probe_on_the_path_is_never_a_pass():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"), b.step("tls", "10.1.0.4"),
              ProbeResult("http", "10.1.0.4:443", Status.ERROR, 5.0, facts={"kubectl_path": True},
                          reason="did not finish before the overall deadline"))
    assert judge(o)[0] == "unreachable"
    assert "check.incomplete" in codes(o)


def test_packet_cause_is_named_on_the_symptom_it_explains():
    from agent.rules.catalog import all_explains
    from agent.rules.engine import annotate_explained
    from agent.rules.model import Finding

    def finding(code, subject, severity=Severity.BLOCKER):
        return Finding(code, severity, "t", subject, "Detail.", "fix", ())
    out = annotate_explained([finding("net.dropped_at_hop", "10.1.0.4:443", Severity.WARNING),
                              finding("net.filtered", "10.1.0.4:443"), finding("net.filtered", "10.9.9.9:443")],
                             all_explains())
    assert out[1].detail == "Detail. Cause: net.dropped_at_hop (see that finding)."
    assert out[2].detail == "Detail."


def _replace(o, probe, result):
    return dataclasses.replace(o, results=tuple(result if r.probe == probe else r for r in o.results))


def test_unusable_kubeconfig_and_removed_auth_provider_are_kubeconfig_invalid():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"))
    o = dataclasses.replace(o, kubeconfig_problems=("certificate-authority-data is not valid base64",))
    found = evaluate(all_rules(), o)
    assert [(f.code, f.severity) for f in found] == [("kubeconfig.invalid", Severity.BLOCKER)]
    assert "not valid base64" in found[0].detail
    assert judge(o)[0] == "unreachable"

    o = _replace(b.obs(), "auth", ProbeResult("auth", "auth-provider", Status.FAILED, 0.0,
                                             facts={"migrate": "kubelogin convert-kubeconfig -l azurecli"},
                                             failure=Failure("auth.provider_removed", "removed")))
    found = evaluate(all_rules(), o)
    assert found[0].code == "kubeconfig.invalid"
    assert "kubelogin convert-kubeconfig" in found[0].fix


def test_http_without_an_answer():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"), b.step("tls", "10.1.0.4"),
              b.step("http", "10.1.0.4", "http.timeout"))
    assert blockers(o) == ["http.no_response"]


def test_insecure_skip_verify_is_a_warning_on_a_working_path():
    o = b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"), insecure_skip_tls_verify=True)
    assert codes(o, Severity.WARNING) == ["tls.verification_disabled"]
    assert judge(o)[0] == "reachable"


def test_a_silent_nameserver_says_how_long_kubectl_waits_for_it():
    system = b.dns(addrs=["10.1.0.4"])
    system = dataclasses.replace(system, facts={**system.facts, "go_wait_s": 4.0})
    o = b.obs(system, b.dns("dns.nameserver", "10.0.0.9", kind="dns.timeout", server="10.0.0.9"),
              *b.working("10.1.0.4"))
    found = [f for f in evaluate(all_rules(), o) if f.code == "dns.resolver_unreachable"]
    assert [f.severity for f in found] == [Severity.WARNING]
    assert "kubectl waits 4 s for silent ones before one answers" in found[0].detail


def test_a_reachable_report_never_carries_a_blocker(monkeypatch):
    # Whatever a rule gets wrong, a walk along a working path turns its blocker into a
    # warning that says so; on a broken path the blocker stays.
    from agent import judge as judge_module
    from agent.rules.model import Hit, rule

    @rule("test.always_blocks", Severity.BLOCKER, "A rule that always blocks", "Nothing.")
    def always(o):
        yield Hit("somewhere", "Something looked wrong.")

    monkeypatch.setattr(judge_module, "all_rules", lambda: (always,))
    works = judge_module.judge(b.obs(b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4")))
    assert works.verdict == "reachable"
    assert [(f.code, f.severity) for f in works.findings] == [("test.always_blocks", Severity.WARNING)]
    assert works.findings[0].detail.endswith("It does not stop kubectl now: its path works.")
    broken = judge_module.judge(b.obs(b.dns(addrs=[], kind="dns.nxdomain")))
    assert broken.verdict == "unreachable"
    assert [(f.code, f.severity) for f in broken.findings] == [("test.always_blocks", Severity.BLOCKER)]


def test_a_silent_nameserver_blocks_when_its_wait_passes_the_request_timeout():
    system = b.dns(addrs=["10.1.0.4"])
    system = dataclasses.replace(system, facts={**system.facts, "go_wait_s": 5.0})
    o = dataclasses.replace(
        b.obs(system, b.dns("dns.nameserver", "10.0.0.9", kind="dns.timeout", server="10.0.0.9"),
              *b.working("10.1.0.4")),
        request_timeout_s=2.0)
    found = [f for f in evaluate(all_rules(), o) if f.code == "dns.resolver_unreachable"]
    assert [f.severity for f in found] == [Severity.BLOCKER]
    assert "With --request-timeout 2 s, kubectl needs 5.0 s to connect" in found[0].detail
    assert judge(o)[0] == "unreachable"


@pytest.mark.parametrize(("request_timeout_s", "severity", "verdict"), [
    (None, Severity.WARNING, "reachable"),
    (3.0, Severity.BLOCKER, "unreachable"),
])
def test_unanswered_aaaa_costs_every_lookup_and_blocks_past_the_request_timeout(request_timeout_s, severity,
                                                                                 verdict):
    # Measured in the lab (dns-aaaa-dropped): kubectl takes 4.09 s where A answers at once
    # and AAAA never does, with timeout:2 attempts:2.
    system = b.dns(addrs=["10.1.0.4"])
    system = dataclasses.replace(system, facts={**system.facts, "go_wait_s": 4.0, "aaaa_wait_s": 4.0,
                                                "aaaa_unanswered": True})
    o = dataclasses.replace(b.obs(system, *b.working("10.1.0.4")), request_timeout_s=request_timeout_s)
    found = [f for f in evaluate(all_rules(), o) if f.code == "dns.aaaa_unanswered"]
    assert [f.severity for f in found] == [severity]
    assert "so every lookup takes 4 s" in found[0].detail
    assert judge(o)[0] == verdict
