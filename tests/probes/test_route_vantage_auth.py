
from agent.deadline import Deadline
from probes import auth, route, vantage
from probes.base import ProbeContext, Status

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
docker0\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_parse_routes_and_longest_prefix_wins():
    routes = route.parse_routes(ROUTES)
    assert routes[0] == {"interface": "eth0", "prefix": "0.0.0.0/0", "gateway": "10.0.0.1"}
    assert route.best_route(routes, "10.1.0.4")["interface"] == "docker0"
    assert route.best_route(routes, "10.0.3.4")["interface"] == "eth0"
    assert route.best_route(routes, "203.0.113.10")["prefix"] == "0.0.0.0/0"


def test_route_probe_flags_a_shadowing_bridge(tmp_path):
    table = tmp_path / "route"
    table.write_text(ROUTES)
    ctx = ProbeContext(deadline=Deadline(1), timeout_s=1)
    shadowed = route.probe(ctx, "10.1.0.4", str(table))
    normal = route.probe(ctx, "10.0.3.4", str(table))
    default = route.probe(ctx, "203.0.113.10", str(table))
    assert (shadowed.facts["shadowed"], normal.facts["shadowed"], default.facts["shadowed"]) == (True, False, False)


def test_vantage_probe_has_its_facts():
    r = vantage.probe(ProbeContext(deadline=Deadline(1), timeout_s=1, env={}))
    assert r.status is Status.OK
    assert set(r.facts) >= {"hostname", "source_ips", "container", "pod", "ci", "aks_command_invoke"}


def test_exec_plugin_found_or_missing(tmp_path):
    plugin = tmp_path / "kubelogin"
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    found = ProbeContext(deadline=Deadline(1), timeout_s=1, env={"PATH": str(tmp_path)})
    missing = ProbeContext(deadline=Deadline(1), timeout_s=1, env={"PATH": "/nonexistent"})
    assert auth.probe(found, "exec", "kubelogin", None).status is Status.OK
    r = auth.probe(missing, "exec", "kubelogin", None)
    assert r.kind == "auth.exec_missing"
    assert auth.probe(missing, "auth-provider", None, "azure").kind == "auth.provider_removed"
    assert auth.probe(missing, "token", None, None).status is Status.OK
