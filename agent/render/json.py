"""The report for a pipeline: the documented JSON schema, nothing else on stdout."""

from __future__ import annotations

import json

from agent.report import Report


def render(report: Report, colour: bool = False, *, width: int = 80) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str) + "\n"
