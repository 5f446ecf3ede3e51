"""The CI recipes under examples/: each parses, passes its CI system's schema (the copies
check-jsonschema vendors, used offline), and its kubereach step, run as that system would
run it, fails on an unreachable server with the output that system shows."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema
import yaml

from agent.lab import pki
from tests.support.servers import REPO, closed_port
from tests.test_e2e_loopback import write_kubeconfig

EXAMPLES = REPO / "examples"
XSD = REPO / "tests" / "fixtures" / "junit" / "junit-10.xsd"
RECIPES = {"github-actions.yml": "vendor.github-workflows", "azure-pipelines.yml": "vendor.azure-pipelines",
           "gitlab-ci.yml": "vendor.gitlab-ci"}


def test_every_recipe_is_listed_here_and_in_the_readme() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yml")) == sorted(RECIPES)
    readme = (REPO / "README.md").read_text()
    for name in RECIPES:
        assert f"examples/{name}" in readme


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_is_valid_against_its_ci_schema_offline(name) -> None:
    if shutil.which("check-jsonschema") is None:
        pytest.fail("check-jsonschema is not installed (pip install -e '.[test]')")
    yaml.safe_load((EXAMPLES / name).read_text())
    dead = f"http://127.0.0.1:{closed_port()}"  # any attempt to fetch a schema would fail
    # GitLab's schema has patterns the default (ECMA) regex engine rejects.
    proc = subprocess.run(["check-jsonschema", "--regex-variant", "python", "--builtin-schema", RECIPES[name],
                           str(EXAMPLES / name)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "https_proxy": dead,
                               "http_proxy": dead})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("jobs:\n  x:\n    runs-on: [self-hosted]\n    stepz: []\n")
    proc = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "'on' is a required property" in proc.stdout


@pytest.fixture
def runner(tmp_path):
    """A runner's shell: `kubereach` on PATH (this checkout), a kubeconfig whose server is a
    closed loopback port, a fresh working folder."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "kubereach"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m agent "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    kc = write_kubeconfig(tmp_path / "kubeconfig", closed_port(), pki.make_ca("ca").cert_pem)
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(kc),
           "KUBEREACH_DMI_DIR": "/nonexistent"}

    def run(script: str, **extra: str) -> subprocess.CompletedProcess:
        # Both systems run a step's script with bash, stopping at the first failing command.
        return subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120,
                              cwd=work, env={**env, **extra})
    run.work = work  # type: ignore[attr-defined]
    return run


def _kubereach_steps(scripts: list[str]) -> list[str]:
    found = [s for s in scripts if "kubereach diagnose" in s]
    assert found, "the recipe runs kubereach"
    return found


def test_github_actions_recipe_annotates_summarises_and_fails(runner, tmp_path) -> None:
    doc = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = next(iter(doc["jobs"].values()))["steps"]
    names = [s.get("name") or s.get("uses") for s in steps]
    (script,) = _kubereach_steps([s.get("run", "") for s in steps])
    assert names.index("Can kubectl reach the cluster?") < names.index("Deploy")
    summary = tmp_path / "summary.md"
    proc = runner(script, GITHUB_STEP_SUMMARY=str(summary), GITHUB_ACTIONS="true")
    assert proc.returncode == 1, proc.stderr  # fails the job: the deploy step never runs
    assert re.search(r"^::error title=kubereach net\.refused%3A .+::", proc.stdout, re.M), proc.stdout
    assert "::group::kubereach report" in proc.stdout
    assert summary.read_text().startswith("## kubereach: kubectl **cannot** reach")
    assert json.loads((runner.work / "kubereach.json").read_text())["verdict"] == "unreachable"


def _azure_expand(script: str, macros: dict[str, Path]) -> str:
    # The agent replaces $(Name) macros before the shell sees the script.
    return re.sub(r"\$\(([A-Za-z.]+)\)", lambda m: str(macros[m.group(1)]), script)


def test_azure_devops_recipe_logs_issues_and_fails_the_task(runner, tmp_path) -> None:
    doc = yaml.safe_load((EXAMPLES / "azure-pipelines.yml").read_text())
    jobs = {j["job"]: j for j in doc["jobs"]}
    assert jobs["preflight_in_container"]["container"]["image"].startswith("kubereach")
    macros = {"Common.TestResultsDirectory": tmp_path / "results",
              "Build.ArtifactStagingDirectory": tmp_path / "staging"}
    for d in macros.values():
        d.mkdir()
    for job in jobs.values():
        steps = job["steps"]
        (script,) = _kubereach_steps([s.get("script", "") for s in steps])
        proc = runner(_azure_expand(script, macros), TF_BUILD="True")
        assert proc.returncode == 1, proc.stderr
        lines = proc.stdout.splitlines()
        assert "##vso[task.logissue type=error;code=net.refused]" in proc.stdout
        assert lines[-1].startswith("##vso[task.complete result=Failed;]")
        published = next(s for s in steps if s.get("task") == "PublishTestResults@2")
        assert published["condition"] == "always()"
        report = Path(_azure_expand(published["inputs"]["testResultsFiles"], macros))
        xmlschema.XMLSchema(str(XSD)).validate(str(report))
        report.unlink()


def test_gitlab_recipe_writes_a_valid_junit_report_and_fails(runner) -> None:
    doc = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    job = doc["kubereach"]
    assert job["image"]["entrypoint"] == [""]
    assert job["artifacts"]["when"] == "always"
    proc = runner("\n".join(_kubereach_steps(job["script"])))
    assert proc.returncode == 1, proc.stderr
    assert "kubectl CANNOT reach" in proc.stdout
    report = runner.work / job["artifacts"]["reports"]["junit"]
    xmlschema.XMLSchema(str(XSD)).validate(str(report))
    assert 'type="blocker"' in report.read_text()


def test_each_recipe_gives_kubereach_the_deploys_kubeconfig() -> None:
    # A recipe that copy-pastes into a pipeline must say where the kubeconfig comes from,
    # before kubereach runs, and never from the checked-out workspace.
    gh = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = next(iter(gh["jobs"].values()))["steps"]
    runs = [s.get("run", "") for s in steps]
    fetch = next(i for i, r in enumerate(runs) if "az aks get-credentials" in r)
    assert 'KUBECONFIG=$RUNNER_TEMP/kubeconfig" >> "$GITHUB_ENV"' in runs[fetch]
    assert fetch < next(i for i, r in enumerate(runs) if "kubereach diagnose" in r)
    assert "workspace" not in json.dumps(gh.get("env", {})) + json.dumps(next(iter(gh["jobs"].values())).get("env", {}))

    az = yaml.safe_load((EXAMPLES / "azure-pipelines.yml").read_text())
    assert az["variables"]["KUBECONFIG"] == "$(Agent.TempDirectory)/kubeconfig"
    jobs = {j["job"]: j["steps"] for j in az["jobs"]}
    agent = jobs["preflight_on_agent"]
    assert "az aks get-credentials" in agent[0]["inputs"]["inlineScript"] and '--file "$KUBECONFIG"' in agent[0]["inputs"]["inlineScript"]
    container = jobs["preflight_in_container"]
    assert container[0]["task"] == "DownloadSecureFile@1"
    assert '"$KUBECONFIG"' in container[1]["script"]
    assert "kubereach diagnose" in container[2]["script"]

    gitlab = (EXAMPLES / "gitlab-ci.yml").read_text()
    assert "variable of type File named KUBECONFIG" in gitlab
