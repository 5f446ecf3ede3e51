"""Renderers: pure functions from a Report to text, picked by --format."""

from __future__ import annotations

from typing import Protocol

from agent.render import cilog, junit, markdown, text
from agent.render import json as json_render
from agent.report import Report


class Renderer(Protocol):
    # width matters to the text report (and the formats that fold it in); others ignore it.
    def __call__(self, report: Report, colour: bool = False, *, width: int = 80) -> str: ...


RENDERERS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_render.render,
    "markdown": markdown.render,
    "junit": junit.render,
    "github": cilog.render_github,
    "azure-devops": cilog.render_azure,
}
