"""Packet evidence in the lab: DROP, REJECT (ICMP admin-prohibited, TCP reset), a missing
route and MTU black holes are told apart and the hop is named; without CAP_NET_RAW the
probes skip at once.

Every probe runs in a subprocess inside the client namespace ``in`` (10.1.1.10), so raw
packets only ever leave from a lab namespace; the router (10.1.0.1 on the client's link)
is the hop that filters, routes and forwards to the API server 10.1.0.4.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from agent.lab import addresses as A
from agent.lab.topology import SOURCE_ROOT

pytestmark = [pytest.mark.lab, pytest.mark.privileged]

ROUTER = A.host("in").gateway  # the router's address as the client sees it
API = A.API_IP
DROP_CAP = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw", "--"]

_RUN = r"""
import dataclasses, json, sys, time
from agent.deadline import Deadline
from probes.base import ProbeContext
from probes import packet, pmtu, traceroute
probes = {"syn": packet.syn_probe, "trace": traceroute.trace_probe, "pmtu": pmtu.pmtu_probe}
address, port = sys.argv[1], int(sys.argv[2])
out = {}
for name in sys.argv[3:]:
    start = time.monotonic()
    r = probes[name](ProbeContext(deadline=Deadline(20.0), timeout_s=5.0), address, port)
    out[name] = {**dataclasses.asdict(r), "wall_s": time.monotonic() - start,
                 "scapy_loaded": any(m.startswith("scapy") for m in sys.modules)}
print(json.dumps(out))
"""


def probe_from_client(lab, *names: str, address: str = API, port: int = A.API_PORT,
                      prefix: tuple[str, ...] = ()) -> dict:
    argv = [*prefix, sys.executable, "-c", _RUN, address, str(port), *names]
    proc = lab.run_in("in", argv, cwd=SOURCE_ROOT, timeout_s=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # scapy stays quiet
    return json.loads(proc.stdout)


@pytest.fixture
def clean_lab(lab):
    lab.reset()
    yield lab
    lab.reset()


def test_open_path_reaches_the_host_through_the_router(clean_lab):
    r = probe_from_client(clean_lab, "syn", "trace")
    assert r["syn"]["status"] == "ok" and r["syn"]["facts"]["outcome"] == "open"
    trace = r["trace"]["facts"]
    assert [(h["ttl"], h["address"], h["reply"]) for h in trace["hops"]] == [
        (1, ROUTER, "time-exceeded"), (2, API, "syn-ack")]
    assert trace["source_ip"] == A.INSIDE_IP
    assert r["trace"]["wall_s"] < 1.0  # ends when the host answers, not at the timeout


def test_drop_is_silence_after_the_router(clean_lab):
    clean_lab.drop(dst=API, port=A.API_PORT)
    r = probe_from_client(clean_lab, "syn", "trace")
    syn, trace = r["syn"], r["trace"]
    assert (syn["status"], syn["failure"]["kind"], syn["facts"]["outcome"]) == (
        "failed", "tcp.timeout", "silent")
    assert (trace["facts"]["last_hop"], trace["facts"]["last_hop_ttl"]) == (ROUTER, 1)
    assert trace["facts"]["first_silent_ttl"] == 2
    assert trace["failure"]["detail"].startswith(f"dropped after {ROUTER} (hop 1")
    assert syn["wall_s"] < 3.5 and trace["wall_s"] < 3.5  # bounded by the probe's wait


def test_reject_admin_prohibited_names_the_firewall(clean_lab):
    clean_lab.reject(dst=API, port=A.API_PORT, with_="icmp-admin-prohibited")
    r = probe_from_client(clean_lab, "syn", "trace")
    syn = r["syn"]["facts"]
    assert (r["syn"]["failure"]["kind"], syn["outcome"]) == ("icmp.admin_prohibited", "icmp")
    assert (syn["icmp_type"], syn["icmp_code"], syn["icmp_from"]) == (3, 13, ROUTER)
    stop = r["trace"]["facts"]["stop_icmp"]
    # The router forwards TTL 2 and then rejects it; it is itself hop 1.
    assert (stop["ttl"], stop["hop"], stop["from"], stop["code"]) == (2, 1, ROUTER, 13)


def test_reject_tcp_reset_is_told_apart_from_the_hosts_own_reset(clean_lab):
    clean_lab.reject(dst=API, port=A.API_PORT, with_="tcp-reset")
    forged = probe_from_client(clean_lab, "syn", "trace")
    assert (forged["syn"]["failure"]["kind"], forged["syn"]["facts"]["outcome"]) == (
        "tcp.refused", "reset")
    assert forged["syn"]["facts"]["reply_hops"] == 1
    assert forged["trace"]["facts"]["reset_by_hop"] == {
        "ttl": 1, "address": ROUTER, "destination_ttl": 2}

    clean_lab.reset()
    own = probe_from_client(clean_lab, "syn", "trace", port=A.CLOSED_PORT)
    assert own["syn"]["facts"]["outcome"] == "reset" and own["syn"]["facts"]["reply_hops"] == 2
    assert own["trace"]["facts"]["reset_by_hop"] is None


def test_missing_route_is_net_unreachable_from_the_router(clean_lab):
    clean_lab.remove_route("api")
    r = probe_from_client(clean_lab, "syn", "trace")
    syn = r["syn"]["facts"]
    assert r["syn"]["failure"]["kind"] == "icmp.net_unreachable"
    assert (syn["icmp_type"], syn["icmp_code"], syn["icmp_from"]) == (3, 0, ROUTER)
    stop = r["trace"]["facts"]["stop_icmp"]
    # Usually TTL 1 draws the error; if the router's ICMP rate limit swallowed that one, a
    # later TTL does, and the hop is still 1.
    assert (stop["hop"], stop["from"], stop["kind"]) == (1, ROUTER, "icmp.net_unreachable")


def _drop_frag_needed(lab) -> None:
    # The router's own ICMP leaves through OUTPUT: filtering it there makes the black hole.
    lab.add_rule("-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP", chain="OUTPUT")


def test_lowered_mtu_towards_the_server_is_found_to_the_byte(clean_lab):
    clean_lab.set_mtu("api", 1280)
    _drop_frag_needed(clean_lab)
    r = probe_from_client(clean_lab, "pmtu")["pmtu"]
    f = r["facts"]
    assert (r["status"], r["failure"]["kind"]) == ("failed", "tcp.timeout")
    assert (f["largest_ok_bytes"], f["first_failing_bytes"]) == (1280, 1281)
    assert f["blackhole"] and f["suggested_mss"] == 1240 and f["local_mtu"] == 1500
    assert r["wall_s"] < 5.0


def test_frag_needed_allowed_means_no_black_hole(clean_lab):
    clean_lab.set_mtu("api", 1280)
    r = probe_from_client(clean_lab, "pmtu")["pmtu"]
    f = r["facts"]
    assert r["status"] == "ok" and not f["blackhole"]
    assert (f["next_hop_mtu"], f["frag_needed_from"], f["largest_ok_bytes"]) == (1280, ROUTER, 1280)


def _tls_handshake(address: str, timeout_s: float) -> str:
    import socket
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, A.API_PORT), timeout=timeout_s) as sock:
        try:
            ctx.wrap_socket(sock, server_hostname=A.PRIVATE_FQDN).close()
        except TimeoutError:
            return "stalled"
    return "ok"


def test_tls_stall_from_a_black_hole_is_measured(clean_lab):
    # The router's end of the client's link takes only 576 bytes and says nothing: the API
    # server's certificate flight never arrives, while the small SYN and ClientHello do.
    clean_lab.router_exec(["ip", "link", "set", "in", "mtu", "576"])
    _drop_frag_needed(clean_lab)
    assert clean_lab.call_in("in", lambda: _tls_handshake(API, 2.0)) == "stalled"
    r = probe_from_client(clean_lab, "pmtu")["pmtu"]
    f = r["facts"]
    assert f["blackhole"]
    # veth accepts a few bytes over its MTU (room for a VLAN tag): the probe reports what
    # really passes.
    assert 576 <= f["largest_ok_bytes"] <= 580 and f["first_failing_bytes"] == f["largest_ok_bytes"] + 1


def test_without_cap_net_raw_every_probe_skips_at_once(clean_lab):
    clean_lab.drop(dst=API, port=A.API_PORT)
    start = time.monotonic()
    r = probe_from_client(clean_lab, "syn", "trace", "pmtu", prefix=tuple(DROP_CAP))
    assert time.monotonic() - start < 10  # python start-up; no probe waits
    for name in ("syn", "trace", "pmtu"):
        res = r[name]
        assert res["status"] == "skipped", res
        assert "root but without CAP_NET_RAW" in res["reason"]
        assert "--cap-add NET_RAW" in res["reason"] and "setcap cap_net_raw+ep" in res["reason"]
        assert res["wall_s"] < 0.1
        assert not res["scapy_loaded"]


# ---- end to end: kubereach diagnose from the client ----------------------------------------


def diagnose_from_client(lab, *, timeout_s: float = 3.0, prefix: tuple[str, ...] = ()) -> tuple[dict, float]:
    from agent.lab.kubeconfigs import KubeconfigSpec

    kubeconfig = lab.kubeconfig("packet-e2e", KubeconfigSpec(host=A.PRIVATE_FQDN))
    argv = [*prefix, sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kubeconfig),
            "--format", "json", "--timeout", str(timeout_s)]
    start = time.monotonic()
    proc = lab.run_in("in", argv, cwd=SOURCE_ROOT, timeout_s=60)
    took = time.monotonic() - start
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout), took


def _by_code(report: dict) -> dict[str, dict]:
    return {f["code"]: f for f in report["findings"]}


def test_diagnose_names_the_hop_that_drops(clean_lab):
    clean_lab.drop(dst=API, port=A.API_PORT)
    report, took = diagnose_from_client(clean_lab)
    found = _by_code(report)
    assert report["verdict"] == "unreachable"
    assert "net.filtered" in found
    assert found["net.dropped_at_hop"]["detail"].startswith(
        f"SYNs to {API}:443 are silently dropped after {ROUTER} (hop 1")
    assert "packet.checks_skipped" not in found
    assert took < 10  # the packet probes ran alongside the TCP probe's wait


def test_diagnose_tells_a_rejecting_firewall_from_a_missing_route(clean_lab):
    clean_lab.reject(dst=API, port=A.API_PORT, with_="icmp-admin-prohibited")
    found = _by_code(diagnose_from_client(clean_lab)[0])
    assert "net.rejected_at_hop" in found and "net.unreachable_at_hop" not in found
    assert found["net.rejected_at_hop"]["detail"].startswith(f"{ROUTER} (hop 1) answers SYNs")


def test_diagnose_finds_the_mtu_black_hole_behind_a_tls_stall(clean_lab):
    clean_lab.router_exec(["ip", "link", "set", "in", "mtu", "576"])
    _drop_frag_needed(clean_lab)
    report, _ = diagnose_from_client(clean_lab, timeout_s=4.0)
    found = _by_code(report)
    assert report["verdict"] == "unreachable"
    pmtu = [p for p in report["probes"] if p["probe"] == "packet.pmtu"]
    assert "net.mtu_blackhole" in found, (sorted(found), pmtu)
    assert found["net.mtu_blackhole"]["severity"] == "blocker"
    assert "TLS handshake stalls" in found["net.mtu_blackhole"]["detail"]


def test_diagnose_without_cap_net_raw_still_gives_a_verdict_and_says_what_it_skipped(clean_lab):
    clean_lab.drop(dst=API, port=A.API_PORT)
    report, took = diagnose_from_client(clean_lab, prefix=tuple(DROP_CAP))
    found = _by_code(report)
    assert report["verdict"] == "unreachable"
    assert "net.filtered" in found and "net.dropped_at_hop" not in found
    skipped = found["packet.checks_skipped"]
    assert skipped["severity"] == "info"
    assert "root but without CAP_NET_RAW" in skipped["detail"]
    assert "--cap-add NET_RAW" in skipped["fix"]
    assert took < 10
