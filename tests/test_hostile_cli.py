"""Hostile values through the whole command line: host names that look like format
templates, malformed --egress-ip-url, and Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import cli
from tests.support.nameserver import Nameserver, answer
from tests.support.servers import closed_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("label", ["{}", "{x!z}", "{0}", "{{", "}", "{a.b}"])
@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_host_names_with_braces_render(tmp_path, capsys, monkeypatch, label, fmt):
    host = f"aks-{label}.{label}.privatelink.eastus.azmk8s.io"
    with Nameserver(answer({})) as ns:  # NXDOMAIN: the finding names the host
        (tmp_path / "resolv.conf").write_text(f"nameserver {ns.spec}\n")
        (tmp_path / "hosts").write_text("")
        monkeypatch.setenv("KUBEREACH_RESOLV_CONF", str(tmp_path / "resolv.conf"))
        monkeypatch.setenv("KUBEREACH_HOSTS_FILE", str(tmp_path / "hosts"))
        code = cli.main(["diagnose", "--server", f"https://{host}:443", "--discover", "off",
                         "--timeout", "0.5", "--format", fmt])
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    # Go's resolver refuses such a name without a query (isDomainName), so no NXDOMAIN:
    # the finding says so and names the host, braces and all.
    assert "dns.invalid_name" in out
    if fmt == "json":
        found = [f for f in json.loads(out)["findings"] if f["code"] == "dns.invalid_name"]
        assert len(found) == 1 and found[0]["subject"] == host
        assert repr(host) in found[0]["detail"]


def test_fix_text_substitutes_values_without_parsing_them():
    from agent.rules.engine import _fix_text
    from agent.rules.model import Hit

    class R:
        fix = "Add {add} to {where}; keep {unknown}, {add!r} and {where:>9}."
    hit = Hit("s", "d", (), fix_args={"add": "{x!z}", "where": "{0:{1}}"})
    assert _fix_text(R(), hit) == "Add {x!z} to {0:{1}}; keep {unknown}, {add!r} and {where:>9}."


@pytest.mark.parametrize("url", ["ht!tp://", "http://[::1", "ftp://127.0.0.1/ip", "http://", "127.0.0.1",
                                 "http://127.0.0.1:99999/", "http://u:pw@[::1"])
def test_malformed_egress_ip_url_is_exit_2(capsys, url):
    code = cli.main(["diagnose", "--server", f"https://127.0.0.1:{closed_port()}", "--discover", "off",
                     "--timeout", "0.5", "--egress-ip-url", url])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("kubereach: error: --egress-ip-url") and len(err.strip().splitlines()) == 1
    assert ":pw@" not in err


def test_sigint_prints_the_interrupted_line_and_exits_130(tmp_path):
    # A loopback port that accepts into a full backlog and never answers TLS: the run waits.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "KUBEREACH_DMI_DIR": str(tmp_path),
           "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "agent", "diagnose", "--server", f"https://127.0.0.1:{port}",
                             "--discover", "off", "--timeout", "20"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
        silent.close()
    assert proc.returncode == 130
    assert err == "kubereach: interrupted\n"
    assert out == ""
