"""In-cluster mode on loopback: the vantage point of a pod, `kubereach in-cluster` against a
real TLS API server stand-in, and the size of the worst report that travels back through
`az aks command invoke` (output cut at 512 kB)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dns.message
import dns.rrset
import pytest

from agent import cli
from agent.deadline import Deadline
from agent.lab import pki
from probes import vantage
from probes.base import ProbeContext
from tests.support.nameserver import Nameserver
from tests.support.servers import apiserver, closed_port

COMMAND_INVOKE_CAP = 512 * 1024
SA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.sa-token-that-must-never-be-read.sig"


def _sa_dir(tmp: Path, ca_pem: bytes | None, namespace: str = "aks-command") -> Path:
    sa = tmp / "serviceaccount"
    sa.mkdir()
    if ca_pem is not None:
        (sa / "ca.crt").write_bytes(ca_pem)
    (sa / "namespace").write_text(namespace)
    (sa / "token").write_text(SA_TOKEN)
    return sa


def _pod_env(monkeypatch, sa: Path, host: str, port: int) -> None:
    for name, value in {"KUBEREACH_SA_DIR": str(sa), "KUBERNETES_SERVICE_HOST": host,
                        "KUBERNETES_SERVICE_PORT": str(port), "HOSTNAME": "kubereach-x1-abcde",
                        "NODE_NAME": "aks-nodepool1-12345678-vmss000000",
                        "POD_IP": "10.244.0.17"}.items():
        monkeypatch.setenv(name, value)


def test_vantage_in_a_pod_names_pod_namespace_and_node(tmp_path):
    sa = _sa_dir(tmp_path, b"-----BEGIN CERTIFICATE-----\n")
    env = {"KUBEREACH_SA_DIR": str(sa), "KUBERNETES_SERVICE_HOST": "10.0.0.1",
           "KUBERNETES_SERVICE_PORT": "443", "HOSTNAME": "command-5f2a", "NODE_NAME": "aks-node-0"}
    facts = vantage.probe(ProbeContext(deadline=Deadline(1), timeout_s=1, env=env)).facts
    assert facts["pod"] is True
    assert facts["namespace"] == "aks-command"
    assert facts["aks_command_invoke"] is True
    assert facts["pod_name"] == "command-5f2a"
    assert facts["node_name"] == "aks-node-0"
    assert facts["kubernetes_service"] == "https://10.0.0.1:443"
    assert facts["service_account_ca"] is True


def test_vantage_outside_a_pod_has_no_pod_facts(tmp_path):
    sa = _sa_dir(tmp_path, None)
    facts = vantage.probe(ProbeContext(deadline=Deadline(1), timeout_s=1,
                                       env={"KUBEREACH_SA_DIR": str(sa), "HOSTNAME": "laptop"})).facts
    assert facts["pod"] is False and facts["namespace"] is None
    assert "pod_name" not in facts and "kubernetes_service" not in facts


@pytest.fixture()
def cluster(tmp_path):
    ca = pki.make_ca("ca")
    leaf = pki.make_server_cert(ca, "apiserver", ["kubernetes.default.svc", "localhost"], ["127.0.0.1"])
    with apiserver(tmp_path, leaf) as port:
        yield ca, port


def test_in_cluster_diagnoses_each_server_and_the_service_with_the_sa_ca(tmp_path, monkeypatch, capsys, cluster):
    ca, port = cluster
    sa = _sa_dir(tmp_path, ca.cert_pem)
    _pod_env(monkeypatch, sa, "127.0.0.1", port)
    code = cli.main(["in-cluster", "--server", f"public=https://127.0.0.1:{port}",
                     "--server", f"https://localhost:{closed_port()}", "--timeout", "2", "--format", "json"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 3, out
    reports = [json.loads(line) for line in lines]
    by_context = {r["target"]["context"]: r for r in reports}
    assert set(by_context) == {"public", "server-2", "service"}
    # The SA's ca.crt verifies both the FQDN stand-in and the service address.
    assert by_context["public"]["verdict"] == "reachable"
    assert by_context["service"]["verdict"] == "reachable"
    assert by_context["service"]["target"]["server"] == f"https://127.0.0.1:{port}"
    assert by_context["server-2"]["verdict"] == "unreachable"
    assert code == 1  # one target is unreachable
    for r in reports:
        assert r["compact"] is True and r["schema_version"] == 1
        v = r["vantage"]
        assert (v["pod_name"], v["node_name"], v["namespace"]) == (
            "kubereach-x1-abcde", "aks-nodepool1-12345678-vmss000000", "aks-command")
        assert r["target"]["auth"]["method"] == "none"  # no token, ever
    assert SA_TOKEN not in out + err


def test_in_cluster_exit_zero_and_ca_data(tmp_path, monkeypatch, capsys, cluster):
    ca, port = cluster
    sa = _sa_dir(tmp_path, None)  # no ca.crt: --ca-data must carry the CA
    _pod_env(monkeypatch, sa, "127.0.0.1", closed_port())
    code = cli.main(["in-cluster", "--server", f"public=https://127.0.0.1:{port}", "--no-service",
                     "--ca-data", base64.b64encode(ca.cert_pem).decode(), "--timeout", "2",
                     "--format", "json", "--exit-zero"])
    out, _ = capsys.readouterr()
    (report,) = [json.loads(line) for line in out.splitlines()]
    assert (code, report["verdict"]) == (0, "reachable")


@pytest.mark.parametrize("argv, message", [
    (["--ca-data", "not base64!"], "--ca-data is not base64"),
    (["--server", "Bad_Label=https://x"], "the label must be lowercase"),
    (["--service"], "KUBERNETES_SERVICE_HOST is not set"),
    ([], "nothing to diagnose"),
    (["--server", "a=https://x", "--server", "a=https://y"], "share a label"),
])
def test_in_cluster_bad_input_is_one_line_and_exit_2(capsys, monkeypatch, argv, message):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code = cli.main(["in-cluster", *argv])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and message in err


def _many_addresses(block: int):
    """A nameserver answering every A question with 32 loopback addresses of its own."""
    def handle(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.rdtype == 1:
            response.answer.append(dns.rrset.from_text_list(
                question.name, 60, "IN", "A", [f"127.{block}.{i // 8}.{i % 8 + 1}" for i in range(32)]))
        return response
    return handle


def test_worst_case_report_travels_well_under_the_command_invoke_cap(tmp_path, monkeypatch, capsys):
    """Three targets whose names each resolve to 32 different addresses per nameserver, three
    nameservers (96 addresses a target), nothing listening anywhere, plus the service
    address: every TCP probe fails. The compact report must stay far under 512 kB."""
    port = closed_port()
    sa = _sa_dir(tmp_path, None)
    _pod_env(monkeypatch, sa, "127.0.0.1", closed_port())
    with Nameserver(_many_addresses(11)) as a, Nameserver(_many_addresses(12)) as b, \
            Nameserver(_many_addresses(13)) as c:
        (tmp_path / "resolv.conf").write_text("".join(f"nameserver {n.spec}\n" for n in (a, b, c)))
        (tmp_path / "hosts").write_text("")
        monkeypatch.setenv("KUBEREACH_RESOLV_CONF", str(tmp_path / "resolv.conf"))
        monkeypatch.setenv("KUBEREACH_HOSTS_FILE", str(tmp_path / "hosts"))
        servers = [f"{label}=https://{label}.kreach-5f3a.hcp.westeurope.azmk8s.io:{port}"
                   for label in ("private", "public", "extra")]
        argv = ["in-cluster", *(x for s in servers for x in ("--server", s)), "--timeout", "2"]
        compact_code = cli.main([*argv, "--format", "json"])
        compact_out, _ = capsys.readouterr()
        full_code = cli.main([*argv, "--format", "json", "--full"])
        full_out, _ = capsys.readouterr()
    reports = [json.loads(line) for line in compact_out.splitlines()]
    assert compact_code == full_code == 1
    assert [r["verdict"] for r in reports] == ["unreachable"] * 4
    for r in reports[:3]:
        tcp = [p for p in r["probes"] if p["probe"] == "tcp"]
        assert len(tcp) == 96 and all(p["status"] == "failed" for p in tcp)
    size = len(compact_out.encode())
    print(f"worst case: compact {size} bytes, full {len(full_out.encode())} bytes, 4 reports, "
          f"{sum(len(r['probes']) for r in reports)} probes")
    # Room to spare: a quarter of the cap, so az's own framing and a log prefix still fit.
    assert size < COMMAND_INVOKE_CAP // 4
    assert size < len(full_out.encode())
