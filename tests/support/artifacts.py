"""Builds the things pipelines install, once per test session: the single-file pex (for
this machine's Python on both architectures, so the multi-platform resolve is exercised
while the build stays around 20 s), and the image's install recipe replayed in a venv."""

from __future__ import annotations

import atexit
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.servers import REPO

DOCKERFILE = REPO / "Dockerfile"
_WORK = Path(tempfile.mkdtemp(prefix="kubereach-artifacts-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)  # the pex is 25 MB


def unavailable(reason: str) -> None:
    """Skip, or fail where CI must run everything."""
    import pytest

    if os.environ.get("KUBEREACH_CI") == "1":
        pytest.fail(f"KUBEREACH_CI=1 but {reason}")
    pytest.skip(reason)


@functools.cache
def pex_file() -> Path:
    out = _WORK / "kubereach.pex"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    subprocess.run([sys.executable, str(REPO / "packaging" / "build_pex.py"), "--out", str(out),
                    "--python-version", version], check=True, cwd=REPO, timeout=600,
                   stdout=subprocess.DEVNULL)
    return out


def isolated_env(home: Path) -> dict[str, str]:
    """Nothing of this checkout or this user: no PYTHONPATH, a new HOME, a plain PATH."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": "", "KUBEREACH_DMI_DIR": "/nonexistent"}


def base_python_version() -> str:
    m = re.search(r"^ARG PYTHON_VERSION=(\d+\.\d+)\s*$", DOCKERFILE.read_text(), re.M)
    assert m, "the Dockerfile names its Python as ARG PYTHON_VERSION=3.X"
    return m.group(1)


def find_python(version: str) -> str | None:
    """An interpreter of exactly ``version``: on PATH, or one pyenv keeps, or the system's."""
    candidates = [shutil.which(f"python{version}") or "",
                  *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))),
                  f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for c in candidates:
        if not c or not os.access(c, os.X_OK):
            continue
        proc = subprocess.run([c, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return c
    return None


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages
