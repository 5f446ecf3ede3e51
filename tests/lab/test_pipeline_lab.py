"""The single-file pex in the lab: run isolated from a scenario's client namespace, with the
client's environment (its proxy settings included), it must tell the same cause as the
source tree does, and write its other reports in the same invocation."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET

from agent.lab import Lab
from agent.lab.runner import DiagnoseOutcome, disagreements, run_kubectl
from agent.lab.scenarios import by_name, prepared
from tests.support import artifacts


def test_pex_in_the_proxy_auth_scenario(lab: Lab, kubectl: str, tmp_path) -> None:
    pex = artifacts.pex_file()
    scenario = by_name("proxy-auth")
    with prepared(lab, scenario) as prep:
        outcome = run_kubectl(lab, prep, kubectl=kubectl)
        env = {**prep.env, **artifacts.isolated_env(tmp_path / "home"), "PATH": prep.env.get("PATH", "/usr/bin:/bin")}
        argv = ["/usr/bin/python3", "-I", "-S", str(pex), "diagnose", "--kubeconfig", str(prep.kubeconfig),
                "--timeout", "3", "--format", "json", *scenario.diagnose_args,
                "--output", f"text={tmp_path / 'report.txt'}", "--output", f"junit={tmp_path / 'report.xml'}"]
        start = time.monotonic()
        proc = lab.run_in(prep.client, argv, env=env, timeout_s=60, cwd=tmp_path)
        diag = DiagnoseOutcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start,
                               json.loads(proc.stdout))
        problems = disagreements(prep, outcome, diag)
        files = (tmp_path / "report.txt").read_text() + (tmp_path / "report.xml").read_text()
        leaked = [s for s in prep.secrets if s in files]
    assert not problems, problems
    assert not leaked
    assert "kubectl CANNOT reach" in (tmp_path / "report.txt").read_text()
    failures = [c.get("name") for c in ET.parse(tmp_path / "report.xml").iter("testcase")
                if c.find("failure") is not None]
    assert any(name.startswith(tuple(scenario.expect.blockers)) for name in failures), failures
