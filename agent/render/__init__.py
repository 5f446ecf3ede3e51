"""Renderers: pure functions from a Report to text, picked by --format."""

from __future__ import annotations

from collections.abc import Callable

from agent.render import json as json_render
from agent.render import markdown, text
from agent.report import Report

RENDERERS: dict[str, Callable[[Report, bool], str]] = {
    "text": text.render,
    "json": json_render.render,
    "markdown": markdown.render,
}
