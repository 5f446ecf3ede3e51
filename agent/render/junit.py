"""The report as JUnit XML, the test-report format GitLab, Azure DevOps and Jenkins show.

One suite walks kubectl's path (kubeconfig, auth, DNS, proxy, TCP, TLS, HTTP): a step that
works passes, a failed step is a ``failure``, a step that could not be checked an
``error``, a step never reached ``skipped``. One suite holds the findings: a blocker is a
``failure``; a warning is ``skipped`` with its text, so it shows without turning a run red
that kubectl gets through; a note passes with its text in ``system-out``. A third suite
lists the probes that were not run. Valid against the Jenkins xunit plugin's junit-10.xsd.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from agent.report import Report
from agent.rules.model import Finding, Severity
from agent.verdict import ERROR, FAILED, NOT_REACHED

# XML 1.0 cannot carry most control characters, even escaped; a server's error text may.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("?", str(text))


def _case(suite: ET.Element, classname: str, name: str, time_s: float | None = None) -> ET.Element:
    attrs = {"classname": classname, "name": _clean(name)}
    if time_s is not None:
        attrs["time"] = f"{time_s:.3f}"
    return ET.SubElement(suite, "testcase", attrs)


def _child(case: ET.Element, tag: str, message: str, kind: str, body: str = "") -> None:
    el = ET.SubElement(case, tag, {"type": kind, "message": _clean(message)})
    if body:
        el.text = _clean(body)


def _finding_body(f: Finding) -> str:
    lines = [f"{f.code} ({f.severity.value}) on {f.subject}", f.detail, f"Fix: {f.fix}"]
    lines += [f"evidence: {e.probe} {e.subject}: {e.fact}" for e in f.evidence]
    return "\n".join(lines)


def _close(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attr, str(sum(1 for c in cases if c.find(tag) is not None)))


def render(report: Report, colour: bool = False, *, width: int = 80) -> str:
    t = report.target
    host = report.vantage.get("hostname")
    total = float(report.timings.get("total_s") or 0.0)
    root = ET.Element("testsuites", {"name": f"kubereach {t['server']}", "time": f"{total:.3f}"})

    def suite(name: str, time_s: float | None = None) -> ET.Element:
        attrs = {"name": name, "tests": "0", "failures": "0", "errors": "0", "skipped": "0"}
        if time_s is not None:
            attrs["time"] = f"{time_s:.3f}"
        if host:
            attrs["hostname"] = _clean(host)
        return ET.SubElement(root, "testsuite", attrs)

    path = suite("kubectl's path", total)
    for step in report.path:
        case = _case(path, "kubereach.path", f"{step.name} {step.subject}".strip(),
                     report.timings.get(f"{step.name}_s"))
        if step.status == FAILED:
            _child(case, "failure", step.detail, "failed", step.detail)
        elif step.status == ERROR:
            _child(case, "error", step.detail or "could not be checked", "error", step.detail)
        elif step.status == NOT_REACHED:
            _child(case, "skipped", "not reached: kubectl stops at an earlier step", "not-reached")
        elif step.detail:
            ET.SubElement(case, "system-out").text = _clean(step.detail)

    found = suite("findings")
    for f in report.findings:
        case = _case(found, f"kubereach.findings.{f.severity.value}", f"{f.code}: {f.title}")
        if f.severity is Severity.BLOCKER:
            _child(case, "failure", f.title, "blocker", _finding_body(f))
        elif f.severity is Severity.WARNING:
            _child(case, "skipped", f"warning: {f.title}", "warning", _finding_body(f))
        else:
            ET.SubElement(case, "system-out").text = _clean(_finding_body(f))

    # A step of the path that could not be checked is an error above already.
    on_path = {(s.name, s.subject) for s in report.path}
    skipped = [p for p in report.not_checked() if (p.probe, p.subject) not in on_path]
    if skipped:
        missing = suite("not checked")
        for p in skipped:
            case = _case(missing, "kubereach.probes", f"{p.probe} {p.subject}".strip(), p.duration_s)
            _child(case, "skipped", p.reason or p.status.value, p.status.value)

    for s in root.findall("testsuite"):
        _close(s)
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in root.findall("testsuite"))))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
