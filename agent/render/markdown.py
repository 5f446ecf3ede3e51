"""The report for a pipeline step summary (GitHub $GITHUB_STEP_SUMMARY, Azure Pipelines)."""

from __future__ import annotations

from agent.report import Report
from agent.rules.model import Severity

_ICON = {"ok": "ok", "failed": "**failed**", "error": "error", "not-reached": "not reached"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report, colour: bool = False, *, width: int = 80) -> str:
    t = report.target
    can = "can" if report.verdict == "reachable" else "**cannot**"
    out = [f"## kubereach: kubectl {can} reach `{t['server']}`", ""]
    if t.get("context"):
        out += [f"Context `{t['context']}`, verdict **{report.verdict}**.", ""]
    out += ["| step | result | subject | detail |", "|---|---|---|---|"]
    for s in report.path:
        out.append(f"| {s.name} | {_ICON.get(s.status, s.status)} | {_cell(s.subject)} | {_cell(s.detail)} |")
    for severity, heading in ((Severity.BLOCKER, "Blockers"), (Severity.WARNING, "Warnings"),
                              (Severity.INFO, "Notes")):
        found = report.by_severity(severity)
        if not found:
            continue
        out += ["", f"### {heading}", ""]
        for f in found:
            out += [f"- **`{f.code}`** {f.title} ({_cell(f.subject)})", f"  - {_cell(f.detail)}",
                    f"  - Fix: {_cell(f.fix)}"]
    out += ["", f"_{report.timings['total_s']:.2f} s, timeout {report.timings['timeout_s']:g} s per probe._"]
    return "\n".join(out) + "\n"
