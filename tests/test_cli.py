"""The command line: exit codes, stdout carrying only the report, one-line errors."""

import json

import pytest
import yaml

from agent import cli
from tests.support.servers import closed_port


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["diagnose", "--bogus"],
    ["diagnose", "--timeout", "abc"],
    ["diagnose", "--timeout", "0", "--server", "https://127.0.0.1:1"],
    ["diagnose", "--server", "https://[::1"],
    ["diagnose", "--server", "ftp://x"],
    ["diagnose", "--server", "https://127.0.0.1:1", "--format", "yaml"],
    ["diagnose", "--server", "https://127.0.0.1:1", "--resolver", "linked=dns.example"],
    ["diagnose", "--server", "https://127.0.0.1:1", "--resolver", "=10.0.0.1"],
    ["diagnose", "--kubeconfig", "/nonexistent/kubeconfig"],
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("kubereach: error: ")
    assert "Traceback" not in err


def test_unknown_context_is_exit_2(capsys, tmp_path):
    p = tmp_path / "config"
    p.write_text(yaml.safe_dump({"clusters": [], "contexts": [], "users": [], "current-context": "x"}))
    code, _, err = run(capsys, "diagnose", "--kubeconfig", str(p))
    assert code == 2
    assert "context 'x' not found" in err


def test_refused_endpoint_is_exit_1_with_json_on_stdout_only(capsys):
    code, out, err = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}", "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["verdict"] == "unreachable"
    assert [f["code"] for f in doc["findings"] if f["severity"] == "blocker"] == ["net.refused"]
    assert set(doc) >= {"verdict", "target", "findings", "probes", "timings", "schema_version"}
    assert err == ""


def test_output_file_gets_the_report(capsys, tmp_path):
    out_file = tmp_path / "report.md"
    code, out, _ = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}", "--format", "markdown",
                       "--output", str(out_file))
    assert code == 1
    assert out == ""
    assert out_file.read_text().startswith("## kubereach: kubectl **cannot** reach")


def test_python_dash_m_agent_works():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0
    for option in ("--kubeconfig", "--context", "--server", "--resolver", "--timeout", "--format", "--output",
                   "--verbose"):
        assert option in proc.stdout


def test_help_does_not_import_heavy_modules():
    import subprocess
    import sys
    code = ("import sys; from agent import cli; cli.main(['--help']);"
            "print(sorted(m for m in ('httpx', 'scapy', 'rich', 'dns.resolver', 'cryptography') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_auto_discovery_never_asks_imds_off_azure(capsys, monkeypatch, tmp_path):
    import agent.cloud.context

    def refuse(**kw):
        raise AssertionError("IMDS must not be asked off Azure")
    monkeypatch.setattr(agent.cloud.context, "read_inputs", refuse)
    monkeypatch.setenv("KUBEREACH_DMI_DIR", str(tmp_path))
    code, _, err = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}")
    assert code == 1, err


def test_auto_discovery_on_an_azure_vm(capsys, monkeypatch, tmp_path):
    import agent.cloud.context
    from agent.cloud.dmi import AZURE_ASSET_TAG

    seen = []

    def record(**kw):
        seen.append(kw["discover"])
        return agent.cloud.context.CloudInputs()  # discovery off: nothing is asked
    monkeypatch.setattr(agent.cloud.context, "read_inputs", record)
    (tmp_path / "chassis_asset_tag").write_text(AZURE_ASSET_TAG)
    monkeypatch.setenv("KUBEREACH_DMI_DIR", str(tmp_path))
    code, _, _ = run(capsys, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}")
    assert (code, seen) == (1, ["auto"])
