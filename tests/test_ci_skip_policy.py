"""tests/conftest.py's CI policy: with KUBEREACH_CI=1 a skip fails the run unless its reason
is allow-listed. Each case runs a real pytest session on a small test file, with the
policy loaded as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import REPO

SKIPS = '''
import pytest

def test_runs():
    assert True

def test_skips():
    pytest.skip("the frobnicator is not installed")

@pytest.mark.xfail(reason="known bug", strict=True)
def test_xfails():
    assert False
'''


def session(tmp_path: Path, body: str, *, ci: bool, conftest: str = "") -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(body)
    if conftest:
        (tmp_path / "conftest.py").write_text(conftest)
    env = {k: v for k, v in os.environ.items() if k != "KUBEREACH_CI"}
    env["PYTHONPATH"] = str(REPO)
    if ci:
        env["KUBEREACH_CI"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "tests.conftest", "-c", os.devnull, "--rootdir", str(tmp_path),
                           str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env=env)


def test_a_skip_fails_the_run_in_ci(tmp_path):
    proc = session(tmp_path, SKIPS, ci=True)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout
    assert "1 passed, 1 skipped, 1 xfailed" in proc.stdout
    assert "KUBEREACH_CI=1: skips are failures" in proc.stdout
    assert "test_sample.py::test_skips: the frobnicator is not installed" in proc.stdout
    assert "test_xfails" not in proc.stdout.split("skips are failures")[1]  # xfail is no skip


def test_outside_ci_a_skip_is_only_a_skip(tmp_path):
    proc = session(tmp_path, SKIPS, ci=False)
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout
    assert "skips are failures" not in proc.stdout


def test_a_module_level_skip_fails_the_run_in_ci(tmp_path):
    proc = session(tmp_path, 'import pytest\npytest.skip("no frobnicator", allow_module_level=True)\n',
                   ci=True)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout
    assert "test_sample.py: no frobnicator" in proc.stdout


def test_an_allow_listed_reason_passes_in_ci(tmp_path):
    allow = ('import tests.conftest\n'
             'tests.conftest.CI_ALLOWED_SKIPS["the frobnicator"] = "no CI machine has one"\n')
    proc = session(tmp_path, SKIPS, ci=True, conftest=allow)
    assert proc.returncode == pytest.ExitCode.OK, proc.stdout
    assert "skips are failures" not in proc.stdout


def test_the_allow_list_is_short_and_says_why():
    from tests.conftest import CI_ALLOWED_SKIPS

    assert len(CI_ALLOWED_SKIPS) <= 3
    assert all(reason and why for reason, why in CI_ALLOWED_SKIPS.items())
