"""Fixtures for the end-to-end lab tests: one lab for the whole session, torn down in a
finaliser whatever happens.

Every test here needs root and network namespaces; without them each is skipped with the
reason. Set KUBEREACH_LAB_REQUIRED=1 (CI) to turn those skips into failures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.lab import Lab, cleanup_stale
from agent.lab.preflight import lab_unavailable
from agent.lab.runner import find_kubectl

_HERE = Path(__file__).parent


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("KUBEREACH_LAB_REQUIRED") == "1":
        pytest.fail(f"KUBEREACH_LAB_REQUIRED=1 but {reason}")
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_ready() -> None:
    reason = lab_unavailable()
    if reason:
        _skip_or_fail(reason)


@pytest.fixture(scope="session")
def lab(lab_ready: None) -> Iterator[Lab]:
    cleanup_stale()  # labs a killed earlier run left behind
    instance = Lab()
    try:
        instance.up()
        yield instance
    finally:
        instance.down()


@pytest.fixture(scope="session")
def kubectl(lab_ready: None) -> str:
    path = find_kubectl()
    if path is None:
        _skip_or_fail("no plain kubectl 1.32 found (set KUBEREACH_LAB_KUBECTL)")
    assert path is not None
    return path
