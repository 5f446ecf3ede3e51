"""The report as CI log commands: GitHub Actions workflow commands and Azure Pipelines
logging commands, one annotation per finding, then the text report folded into a group.

Chosen with ``--format github`` or ``--format azure-devops``, never switched on by
``GITHUB_ACTIONS=true`` or ``TF_BUILD``: a step that asks for ``--format json`` on a runner
must still get JSON alone on stdout.
"""

from __future__ import annotations

from agent.render import text
from agent.report import Report
from agent.rules.model import Finding, Severity


def _gh_data(value: str) -> str:
    # The escapes GitHub's runner decodes in a command's message.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


def _message(f: Finding) -> str:
    where = f" on {f.subject}" if f.subject else ""
    return f"{f.detail}{where}\nFix: {f.fix}"


_GH_LEVEL = {Severity.BLOCKER: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def render_github(report: Report, colour: bool = False, *, width: int = text.WIDTH) -> str:
    out = []
    for f in report.findings:
        title = _gh_prop(f"kubereach {f.code}: {f.title}")
        out.append(f"::{_GH_LEVEL[f.severity]} title={title}::{_gh_data(_message(f))}")
    server = report.target["server"]
    if report.exit_code:
        out.append(f"::error title=kubereach::{_gh_data(f'kubectl cannot reach {server}')}")
    out.append("::group::kubereach report")
    out.append(text.render(report, False, width=width).rstrip("\n"))
    out.append("::endgroup::")
    return "\n".join(out) + "\n"


def _vso_data(value: str) -> str:
    # The escapes Azure Pipelines' agent decodes in a logging command's message.
    return value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def _vso_prop(value: str) -> str:
    return _vso_data(value).replace(";", "%3B").replace("]", "%5D")


def render_azure(report: Report, colour: bool = False, *, width: int = text.WIDTH) -> str:
    out = []
    # logissue knows only errors and warnings; notes stay in the text report below.
    for f in report.findings:
        if f.severity is Severity.INFO:
            continue
        kind = "error" if f.severity is Severity.BLOCKER else "warning"
        out.append(f"##vso[task.logissue type={kind};code={_vso_prop(f.code)}]"
                   f"{_vso_data(f'{f.title}: {_message(f)}')}")
    out.append("##[group]kubereach report")
    out.append(text.render(report, False, width=width).rstrip("\n"))
    out.append("##[endgroup]")
    if report.exit_code:
        server = report.target["server"]
        out.append(f"##vso[task.logissue type=error;code=kubereach]{_vso_data(f'kubectl cannot reach {server}')}")
        out.append("##vso[task.complete result=Failed;]kubectl cannot reach the API server")
    elif report.by_severity(Severity.WARNING):
        out.append("##vso[task.complete result=SucceededWithIssues;]kubereach found warnings")
    return "\n".join(out) + "\n"
