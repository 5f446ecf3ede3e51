"""Real cloud payloads from ../shared/fixtures (see its SOURCES.md), beside the repository."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures"


@pytest.fixture
def fixture_json() -> Callable[[str], Any]:
    """Load a fixture by file name (a fresh copy each call, safe to modify)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real cloud fixtures not found at {FIXTURES} (shared/ beside the repo)")

    def load(name: str) -> Any:
        return copy.deepcopy(json.loads((FIXTURES / name).read_text()))

    return load


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"real cloud fixtures not found at {FIXTURES} (shared/ beside the repo)")
    return FIXTURES
