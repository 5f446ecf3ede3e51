"""Real cloud payloads from tests/fixtures (see its SOURCES.md for where each came from)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    """Load a fixture by file name (a fresh copy each call, safe to modify)."""

    def load(name: str) -> Any:
        return copy.deepcopy(json.loads((FIXTURES / name).read_text()))

    return load


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
