"""From inside the cluster: the lab's jump box in the cluster VNet plays a node running the
Job of `kubereach remote` (a pod's variables, a service-account folder with the cluster CA),
a client outside runs the normal diagnosis, and `kubereach compare` must name the real
difference: the DNS answer of an unlinked zone, the TCP outcome (and source) of a client
outside the authorized ranges, the TCP outcome across a disconnected peering.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from agent import compare
from agent.lab import addresses as A
from agent.lab.runner import (
    NODE_POD,
    in_cluster_reports,
    node_service_rule,
    run_diagnose,
    run_in_cluster,
)
from agent.lab.scenarios import AUTHORIZED_EXCLUDING, by_name, prepared
from agent.lab.topology import Lab

PRIVATE_SERVERS = (f"private=https://{A.PRIVATE_FQDN}:443", f"public=https://{A.PRIVATE_PUBLIC_FQDN}:443")
COLLECTED: list[dict] = []  # every report of the private cluster, for the all-pairs test


def _node(lab: Lab, servers: tuple[str, ...]) -> dict[str, dict]:
    spec, table = node_service_rule(A.API_IP)
    lab.add_rule(*spec, table=table)
    outcome = run_in_cluster(lab, "in", servers)
    reports = in_cluster_reports(outcome)
    assert lab.secrets.token not in outcome.stdout + outcome.stderr  # the SA token is never read
    return reports


def _outside(lab: Lab, prep, extra: tuple[str, ...] = ()) -> dict:
    diag = run_diagnose(lab, prep, extra=extra)
    assert diag.report is not None, diag.stderr
    return diag.report


def _explaining(result: compare.Comparison) -> list[str]:
    return [d.aspect for d in result.differences if d.explains]


def test_node_vantage_says_where_it_runs_and_reaches_all_three_addresses(lab: Lab) -> None:
    with prepared(lab, by_name("healthy-inside")) as prep:
        reports = _node(lab, PRIVATE_SERVERS)
        jump = _outside(lab, prep)
    assert set(reports) == {"private", "public", "service"}
    for label, r in reports.items():
        assert r["verdict"] == "reachable", (label, r["path"])
        v = r["vantage"]
        assert (v["pod"], v["pod_name"], v["node_name"], v["namespace"]) == (
            True, NODE_POD["POD_NAME"], NODE_POD["NODE_NAME"], "default")
        assert v["source_ips"] == [A.INSIDE_IP]
    assert reports["service"]["target"]["server"] == "https://10.0.0.1:443"
    assert reports["private"]["target"]["ca_source"].startswith("certificate-authority:")
    COLLECTED.extend([*reports.values(), jump])


def test_unlinked_zone_is_named_by_the_dns_difference(lab: Lab) -> None:
    with prepared(lab, by_name("peer-unlinked")) as prep:
        peer = _outside(lab, prep)
        node = _node(lab, PRIVATE_SERVERS)["private"]
    result = compare.compare(peer, node)
    assert result.verdicts == ("unreachable", "reachable") and result.exit_code == 1
    assert _explaining(result) == ["dns"]
    dns = next(d for d in result.differences if d.aspect == "dns")
    assert dns.a.startswith("NXDOMAIN") and A.PUBLIC_DNS_IP in dns.a
    assert dns.b == f"{A.API_IP} from {A.LINKED_DNS_IP}:53"
    assert "dns.nxdomain" in result.only[0]
    COLLECTED.extend([peer, node])


def test_client_outside_the_authorized_ranges_is_named_by_tcp_and_source(lab: Lab) -> None:
    with prepared(lab, by_name("authorized-ranges-exclude")) as prep:
        # AKS puts the cluster's own outbound IP in the authorized ranges: the node gets in.
        lab.add_rule("-s", A.INSIDE_IP, "-d", A.PUBLIC_API_IP, "-j", "ACCEPT")
        inet = _outside(lab, prep, extra=("--authorized-range", AUTHORIZED_EXCLUDING,
                                          "--egress-ip", A.INTERNET_IP))
        node = _node(lab, (f"public=https://{A.PUBLIC_FQDN}:443",))["public"]
    result = compare.compare(inet, node)
    assert result.verdicts == ("unreachable", "reachable")
    assert _explaining(result) == ["tcp"]
    tcp = next(d for d in result.differences if d.aspect == "tcp")
    assert tcp.a.startswith(f"{A.PUBLIC_API_IP} tcp.") and tcp.b == f"{A.PUBLIC_API_IP} connected"
    source = next(d for d in result.differences if d.aspect == "source")
    assert A.INTERNET_IP in source.a and A.INSIDE_IP in source.b
    # The client's own finding about the ranges is one only it has.
    assert any(code.startswith("acl.") for code in result.only[0]), result.only
    text = compare.render_text(result)
    assert "A cannot connect and B can" in " ".join(text.split())


def test_disconnected_peering_is_named_by_tcp(lab: Lab) -> None:
    with prepared(lab, by_name("peering-disconnected")) as prep:
        peer = _outside(lab, prep)
        node = _node(lab, PRIVATE_SERVERS)["private"]
    result = compare.compare(peer, node)
    assert result.verdicts == ("unreachable", "reachable")
    # Both resolve the name to the same private endpoint: DNS is not the difference.
    assert "dns" not in [d.aspect for d in result.differences]
    assert _explaining(result) == ["tcp"]
    tcp = next(d for d in result.differences if d.aspect == "tcp")
    assert tcp.a.startswith(f"{A.API_IP} tcp.") and tcp.b == f"{A.API_IP} connected"
    assert "net.filtered" in result.only[0]
    COLLECTED.extend([peer, node])


@pytest.mark.parametrize("name", ["custom-dns", "stale-ca", "proxy-auth", "port-refused", "tls-inspection"])
def test_more_reports_of_the_private_cluster(lab: Lab, name: str) -> None:
    with prepared(lab, by_name(name)) as prep:
        report = _outside(lab, prep)
    assert report["verdict"] == "unreachable"
    COLLECTED.append(report)


def test_compare_over_every_pair_never_crashes_and_a_report_equals_itself(tmp_path: Path) -> None:
    assert len(COLLECTED) >= 12, "the tests above collect the reports: run the whole module"
    for a, b in itertools.product(COLLECTED, repeat=2):
        result = compare.compare(a, b)
        assert compare.render_text(result) and json.loads(compare.render_json(result))
        assert result.exit_code == (0 if a["verdict"] == b["verdict"] else 1)
    for a in COLLECTED:
        result = compare.compare(a, dict(a))
        assert not result.differences and result.explanation.startswith("No difference")
