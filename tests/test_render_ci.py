"""The CI formats (junit, github, azure-devops), the text report's width and colour, and
``--output FORMAT=FILE``: renderers on reports built from hand-made observations, the CLI
for real against loopback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from agent.cli import FORMATS, wants_colour
from agent.judge import judge
from agent.render import RENDERERS, text
from agent.report import build_report
from probes.base import Failure, ProbeResult, Status
from tests.agent import builders as b
from tests.support.servers import REPO, closed_port

XSD = Path(__file__).parent / "fixtures" / "junit" / "junit-10.xsd"
LONG_HOST = "aks-" + "a" * 90 + ".privatelink.westeurope.azmk8s.io"


def report(*results: ProbeResult, **kw):
    o = b.obs(*results, **kw)
    return build_report(o, judge(o), elapsed_s=0.42, timeout_s=5.0, deadline_s=5.1)


HEALTHY = (b.dns(addrs=["10.1.0.4"]), *b.working("10.1.0.4"))
NXDOMAIN = (b.dns(kind="dns.nxdomain"),
            b.dns("dns.resolver", "linked=10.1.0.53", addrs=["10.1.0.4"], server="10.1.0.53"),
            *b.working("10.1.0.4", kubectl_path=False))
REFUSED = (b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4", kind="tcp.refused"))
UNFINISHED = (b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"), b.step("tls", "10.1.0.4", issuer="CN=ca"),
              ProbeResult("http", "10.1.0.4:443", Status.ERROR, 5.0, facts={"kubectl_path": True},
                          failure=Failure("unfinished", "still running at the deadline")),
              ProbeResult("packet.syn", "10.1.0.4:443", Status.SKIPPED, 0.0, reason="no raw sockets"))
CASES = {"healthy": HEALTHY, "nxdomain": NXDOMAIN, "refused": REFUSED, "unfinished": UNFINISHED}


def test_formats_are_the_renderers() -> None:
    assert tuple(RENDERERS) == FORMATS


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


@pytest.mark.parametrize("case", CASES)
def test_junit_is_valid_against_the_schema(schema, case) -> None:
    doc = RENDERERS["junit"](report(*CASES[case]))
    schema.validate(doc)  # raises on any violation
    root = ET.fromstring(doc)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases)


def _cases(doc: str) -> dict[str, str]:
    """testcase name -> its outcome tag (or 'passed')."""
    out = {}
    for c in ET.fromstring(doc).iter("testcase"):
        tags = [t.tag for t in c if t.tag in ("failure", "error", "skipped")]
        out[c.get("name")] = tags[0] if tags else "passed"
    return out


def test_junit_walks_the_path_and_lists_findings() -> None:
    r = report(*NXDOMAIN)
    got = _cases(RENDERERS["junit"](r))
    path = {name.split()[0]: outcome for name, outcome in got.items() if not name.startswith(("dns.", "tcp."))}
    assert [s.name for s in r.path][:3] == ["kubeconfig", "auth", "dns"]
    assert path["kubeconfig"] == "passed" and path["auth"] == "passed"
    assert path["dns"] == "failure"
    assert path["tcp"] == "skipped"  # never reached once the name does not resolve
    assert got["dns.nxdomain: " + next(f.title for f in r.findings if f.code == "dns.nxdomain")] == "failure"
    split = next(f for f in r.findings if f.code == "dns.split_horizon")
    assert got[f"dns.split_horizon: {split.title}"] == ("skipped" if split.severity.value == "warning" else "passed")


def test_junit_reports_an_unfinished_step_as_error_and_unrun_probes_as_skipped() -> None:
    doc = RENDERERS["junit"](report(*UNFINISHED))
    got = _cases(doc)
    assert got["http 10.1.0.4:443"] == "error"
    assert got["packet.syn 10.1.0.4:443"] == "skipped"
    assert ET.fromstring(doc).get("errors") == "1"


def test_junit_survives_control_characters_from_a_server(schema) -> None:
    bad = (b.dns(addrs=["10.1.0.4"]), b.step("tcp", "10.1.0.4"),
           ProbeResult("tls", "10.1.0.4:443", Status.FAILED, 0.1, facts={"kubectl_path": True, "address": "10.1.0.4"},
                       failure=Failure("tls.handshake", "alert \x1b[31m\x00 from server")))
    doc = RENDERERS["junit"](report(*bad))
    schema.validate(doc)
    assert "\x00" not in doc and "\x1b" not in doc


def test_github_annotations_one_per_finding_then_the_text_in_a_group() -> None:
    r = report(*NXDOMAIN)
    lines = RENDERERS["github"](r).splitlines()
    commands = [ln for ln in lines if ln.startswith("::") and not ln.startswith(("::group", "::endgroup"))]
    levels = {"blocker": "error", "warning": "warning", "info": "notice"}
    for f in r.findings:
        match = [c for c in commands if c.startswith(f"::{levels[f.severity.value]} title=kubereach {f.code}%3A")]
        assert len(match) == 1, f.code
        assert "\n" not in match[0]
    assert commands[-1].startswith("::error title=kubereach::kubectl cannot reach")
    start, end = lines.index("::group::kubereach report"), lines.index("::endgroup::")
    assert lines[start + 1].startswith("kubectl CANNOT reach")
    assert end == len(lines) - 1


def test_github_escapes_newlines_percent_and_property_separators() -> None:
    from agent.render.cilog import _gh_data, _gh_prop
    assert _gh_data("50%\nnext\r") == "50%25%0Anext%0D"
    assert _gh_prop("a: b, c") == "a%3A b%2C c"


def test_healthy_github_output_has_no_error_command() -> None:
    out = RENDERERS["github"](report(*HEALTHY))
    assert "::error" not in out and "::warning" not in out
    assert "kubectl CAN reach" in out


def test_azure_devops_logs_issues_and_fails_the_task() -> None:
    r = report(*REFUSED)
    lines = RENDERERS["azure-devops"](r).splitlines()
    issues = [ln for ln in lines if ln.startswith("##vso[task.logissue")]
    assert any(ln.startswith("##vso[task.logissue type=error;code=net.refused]") for ln in issues)
    assert lines[-1].startswith("##vso[task.complete result=Failed;]")
    assert "##[group]kubereach report" in lines and "##[endgroup]" in lines
    healthy = RENDERERS["azure-devops"](report(*HEALTHY))
    assert "task.complete" not in healthy and "logissue" not in healthy


def test_azure_devops_escapes() -> None:
    from agent.render.cilog import _vso_data, _vso_prop
    assert _vso_data("100%\nx") == "100%AZP25%0Ax"
    assert _vso_prop("a;b]c") == "a%3Bb%5Dc"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("width", [80, 100, 200])
def test_text_report_fits_the_width_even_with_a_long_host(case, width) -> None:
    r = report(*CASES[case], host=LONG_HOST, server=f"https://{LONG_HOST}:443")
    out = text.render(r, False, width=width)
    limit = text.fit_width(width)
    assert limit == min(width, text.MAX_WIDTH)
    assert max(len(line) for line in out.splitlines()) <= limit
    assert LONG_HOST[:60] in out.replace("\n", "")


def test_colour_only_on_a_terminal_unless_forced() -> None:
    assert wants_colour({}, True) is True
    assert wants_colour({}, False) is False  # a CI log
    assert wants_colour({"FORCE_COLOR": "1"}, False) is True
    assert wants_colour({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True) is False
    assert wants_colour({"FORCE_COLOR": ""}, False) is False


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
            "KUBEREACH_DMI_DIR": "/nonexistent", "HOME": "/nonexistent",
            # Made-up names must not reach the machine's resolver.
            "KUBEREACH_RESOLV_CONF": str(REPO / "tests" / "support" / "resolv.loopback.conf")}
    return subprocess.run([sys.executable, "-m", "agent", "diagnose", "--timeout", "1", *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd, env={**base, **(env or {})})


def test_one_invocation_prints_text_and_writes_json_and_junit(tmp_path, schema) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    proc = _cli("--server", server, "--output", f"json={tmp_path / 'r.json'}",
                "--output", f"junit={tmp_path / 'r.xml'}", env={"FORCE_COLOR": "1"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("\x1b[")  # FORCE_COLOR colours a log that is no terminal
    assert "kubectl CANNOT reach" in proc.stdout and "net.refused" in proc.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["verdict"] == "unreachable"
    assert [f["code"] for f in doc["findings"] if f["severity"] == "blocker"] == ["net.refused"]
    schema.validate((tmp_path / "r.xml").read_text())
    assert "\x1b" not in (tmp_path / "r.xml").read_text()


def test_plain_output_file_keeps_its_meaning_next_to_pairs(tmp_path) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    proc = _cli("--server", server, "--format", "markdown", "--output", str(tmp_path / "r.md"),
                "--output", f"json={tmp_path / 'r.json'}")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert (tmp_path / "r.md").read_text().startswith("## kubereach: kubectl **cannot** reach")
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "unreachable"


def test_a_file_name_with_an_equals_sign_still_works(tmp_path) -> None:
    proc = _cli("--server", f"https://127.0.0.1:{closed_port()}", "--format", "json",
                "--output", "./a=b.json", cwd=tmp_path, env={"PYTHONPATH": str(REPO)})
    assert proc.returncode == 1, proc.stderr
    assert json.loads((tmp_path / "a=b.json").read_text())["verdict"] == "unreachable"


@pytest.mark.parametrize("args, message", [
    (["--output", "jsno=x.json"], "'jsno' is not a format"),
    (["--output", "json="], "the file after '=' is empty"),
    (["--output", "a.txt", "--output", "b.txt"], "may be given once"),
    (["--output", "json=x", "--output", "junit=x"], "the same file is named twice"),
    (["--output", "json=/nonexistent/dir/x.json"], "cannot write --output /nonexistent/dir/x.json"),
])
def test_bad_output_values_are_one_line_and_exit_2(args, message) -> None:
    proc = _cli("--server", f"https://127.0.0.1:{closed_port()}", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("kubereach: error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_text_width_follows_columns_off_a_terminal() -> None:
    long_server = f"https://{LONG_HOST}:{closed_port()}"
    narrow = _cli("--server", long_server, "--resolver", "127.0.0.1:9", env={"COLUMNS": "40"})
    wide = _cli("--server", long_server, "--resolver", "127.0.0.1:9", env={"COLUMNS": "110"})
    assert narrow.returncode == wide.returncode == 1, narrow.stderr + wide.stderr
    assert max(map(len, narrow.stdout.splitlines())) <= 80  # 80 is the floor
    assert 80 < max(map(len, wide.stdout.splitlines())) <= 110
    assert re.search(r"Verdict: unreachable", wide.stdout)
