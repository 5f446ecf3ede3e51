"""The report for a person: the chain with a mark per step, blockers with fixes first."""

from __future__ import annotations

import textwrap

from agent.report import Report
from agent.rules.model import Severity

WIDTH = 80  # the narrowest terminal this stays readable in, and the width of files and CI logs
MAX_WIDTH = 120  # prose wider than this is harder to read, however wide the terminal
_MARKS = {"ok": "ok", "failed": "FAIL", "error": "ERR", "not-reached": "--"}
_COLOURS = {"ok": "32", "failed": "31", "error": "33", "not-reached": "90"}


def fit_width(columns: int) -> int:
    """The report's width on a terminal of ``columns``: at least 80, at most 120."""
    return max(WIDTH, min(columns, MAX_WIDTH))


def _wrapper(width: int):
    # Host names break only where one is longer than a whole line; hyphens stay whole, so a
    # name that fits can still be copied in one piece.
    def wrap(text: str, indent: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent,
                             break_long_words=True, break_on_hyphens=False) or [indent]
    return wrap


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour else text


def _pod_place(v: dict) -> str:
    parts = [f"{label} {v[key]}" for key, label in (("pod_name", "pod"), ("namespace", "namespace"),
                                                   ("node_name", "node")) if v.get(key)]
    return f" ({', '.join(parts)})" if parts else ""


def render(report: Report, colour: bool = False, *, width: int = WIDTH) -> str:
    _wrap = _wrapper(fit_width(width))
    t = report.target
    out: list[str] = []
    can = "CAN" if report.verdict == "reachable" else "CANNOT"
    head = f"kubectl {can} reach {t['server']}"
    if t.get("context"):
        head += f" (context {t['context']})"
    out += [_paint(line, "1;32" if report.verdict == "reachable" else "1;31", colour) for line in _wrap(head, "")]
    v = report.vantage
    where = f"from {v.get('hostname', '?')}"
    if v.get("source_ips"):
        where += f" ({', '.join(v['source_ips'][:3])})"
    ci = v.get("ci")
    if ci:
        where += f", CI {ci['name']}" + (" hosted runner" if ci.get("hosted") else "")
    if v.get("aks_command_invoke"):
        where += ", inside the cluster (az aks command invoke)"
    elif v.get("pod"):
        where += ", in a Kubernetes pod" + _pod_place(v)
    elif v.get("container"):
        where += ", in a container"
    out += _wrap(where, "")
    out.append("")
    out.append("Path kubectl takes")
    for step in report.path:
        mark = _MARKS.get(step.status, step.status)
        cell = _paint(f"[{mark:^4}]", _COLOURS.get(step.status, "0"), colour)
        # The host is in the headline already; addresses and proxies are worth repeating.
        subject = "" if step.subject in (t["host"], step.detail) else step.subject
        detail = step.detail if step.status != "not-reached" and step.detail != subject else ""
        text = f"{step.name:<10} " + (f"{subject} - {detail}" if subject and detail else subject or detail)
        lines = _wrap(text, " " * 9)
        out.append(f"  {cell} {lines[0].strip()}")
        out += lines[1:]
    for severity, heading in ((Severity.BLOCKER, "Blockers"), (Severity.WARNING, "Warnings"),
                              (Severity.INFO, "Notes")):
        found = report.by_severity(severity)
        if not found:
            continue
        out += ["", heading]
        for i, f in enumerate(found, 1):
            out += _wrap(f"{i}. [{f.code}] {f.title}", "  ")
            if f.subject and f.subject != t["host"]:
                out += _wrap(f"on {f.subject}", "     ")
            out += _wrap(f.detail, "     ")
            out += _wrap(f"Fix: {f.fix}", "     ")
    skipped = report.not_checked()
    if skipped:
        out += ["", "Not checked"]
        for p in skipped:
            out += _wrap(f"{p.probe} {p.subject}: {p.reason or p.status.value}", "  ")
    tm = report.timings
    out += ["", f"Verdict: {report.verdict} (exit {report.exit_code}) in {tm['total_s']:.2f} s, "
                f"timeout {tm['timeout_s']:g} s per probe"]
    return "\n".join(out) + "\n"
