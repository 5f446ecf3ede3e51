"""The cloud options on the command line: read, validated, and turned into findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import cli
from tests.support.servers import closed_port

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RANGES = FIXTURES / "azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cluster_ranges_and_egress_become_findings(capsys):
    code, out, err = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}",
                         "--format", "json", "--cluster", str(RANGES),
                         "--authorized-range", "10.0.0.90/29", "--egress-ip", "203.0.113.7")
    assert code == 1 and err == ""
    found = {f["code"]: f for f in json.loads(out)["findings"]}
    acl = found["acl.source_ip_not_authorized"]
    assert acl["fix"].endswith("az aks update -g clitest000001 -n cliakstest000002 "
                               "--api-server-authorized-ip-ranges 1.2.3.4/32,203.0.113.7/32")
    assert found["acl.range_not_aligned"]["subject"] == "10.0.0.90/29"


def test_without_cloud_options_no_cloud_context_is_loaded(capsys, monkeypatch):
    import agent.cloud

    def boom(**_):
        raise AssertionError("no cloud option was given")

    monkeypatch.setattr(agent.cloud, "load_cloud_context", boom)
    code, out, _ = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}",
                       "--format", "json")
    assert code == 1
    assert not [f for f in json.loads(out)["findings"] if f["code"].startswith(("acl.", "cloud."))]


@pytest.mark.parametrize("extra, message", [
    (["--inventory", "/nonexistent/inventory"], "no such file or folder"),
    (["--authorized-range", "10.0.0.0/40"], "is not a CIDR range"),
    (["--egress-ip", "nope"], "is not an IP address"),
    (["--discover", "gcp"], "--discover must be one of"),
])
def test_bad_cloud_input_is_one_line_and_exit_2(capsys, extra, message):
    code, out, err = run(capsys, "diagnose", "--server", "https://127.0.0.1:1", *extra)
    assert code == 2 and out == ""
    assert err.startswith("kubereach: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_inventory_file_is_exit_2(capsys, tmp_path):
    (tmp_path / "vnets.json").write_text('{"value": [')
    code, _, err = run(capsys, "diagnose", "--server", "https://127.0.0.1:1",
                       "--inventory", str(tmp_path))
    assert code == 2 and "vnets.json: not JSON" in err
