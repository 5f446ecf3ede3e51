"""Runs kubectl and ``kubereach diagnose`` for a prepared scenario, from the client's
namespace with the client's environment, and compares what they said."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.lab.scenarios import Prepared
from agent.lab.topology import SOURCE_ROOT, Lab

# Plain upstream kubectl: the `kubectl` on PATH here may be gcloud's dispatcher, which makes
# its own extra /version request and would double every timing.
KUBECTL_CANDIDATES = (
    "/usr/bin/kubectl.1.32",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    "/usr/local/bin/kubectl.1.32",
)


def find_kubectl() -> str | None:
    override = os.environ.get("KUBEREACH_LAB_KUBECTL")
    if override:
        return override if os.access(override, os.X_OK) else None
    for path in KUBECTL_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("kubectl.1.32")


def diagnose_missing() -> str | None:
    """Why ``python3 -m agent diagnose`` cannot run from this checkout, or None."""
    for rel in ("agent/__main__.py", "agent/cli.py", "agent/planner.py"):
        if not (SOURCE_ROOT / rel).is_file():
            return f"kubereach diagnose is not built yet ({rel} missing)"
    return None


@dataclass(frozen=True)
class KubectlOutcome:
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def summary(self) -> str:
        if self.ok:
            try:
                return f"ok, server {json.loads(self.stdout).get('gitVersion', '?')}"
            except ValueError:
                return "ok (body is not JSON)"
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit {self.returncode}"


@dataclass(frozen=True)
class DiagnoseOutcome:
    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    report: dict[str, Any] | None = field(default=None)

    @property
    def verdict(self) -> str | None:
        return self.report.get("verdict") if self.report else None

    def codes(self, severity: str | None = None) -> set[str]:
        findings = (self.report or {}).get("findings", [])
        return {f["code"] for f in findings if severity is None or f.get("severity") == severity}


def run_kubectl(lab: Lab, prep: Prepared, *, kubectl: str, timeout_s: float = 5.0
                ) -> KubectlOutcome:
    argv = [kubectl, "--kubeconfig", str(prep.kubeconfig), "get", "--raw", "/version",
            f"--request-timeout={timeout_s:g}s"]
    start = time.monotonic()
    # exec plugins and DNS retries can outlast --request-timeout; bound the run regardless.
    proc = lab.run_in(prep.client, argv, env=prep.env, timeout_s=timeout_s * 3 + 10)
    return KubectlOutcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def diagnose_argv(prep: Prepared, *, timeout_s: float, fmt: str = "json",
                  extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(prep.kubeconfig),
            "--timeout", f"{timeout_s:g}", "--format", fmt,
            *prep.scenario.diagnose_args, *extra]


def run_diagnose(lab: Lab, prep: Prepared, *, timeout_s: float = 3.0, fmt: str = "json",
                 extra: Sequence[str] = ()) -> DiagnoseOutcome:
    argv = diagnose_argv(prep, timeout_s=timeout_s, fmt=fmt, extra=extra)
    start = time.monotonic()
    # cwd is the checkout so `-m agent` imports this source tree even when not installed.
    proc = lab.run_in(prep.client, argv, env=prep.env, timeout_s=timeout_s * 4 + 15,
                      cwd=SOURCE_ROOT)
    elapsed = time.monotonic() - start
    report = None
    if fmt == "json":
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            report = None
    return DiagnoseOutcome(proc.returncode, proc.stdout, proc.stderr, elapsed, report)


def disagreements(prep: Prepared, kubectl: KubectlOutcome | None,
                  diag: DiagnoseOutcome) -> list[str]:
    """Every way the run departs from the scenario's expectation; empty when all agree."""
    exp = prep.scenario.expect
    out: list[str] = []
    if diag.report is None:
        out.append(f"diagnose printed no JSON report (exit {diag.returncode}): "
                   f"{diag.stderr.strip()[-300:]}")
        return out
    if kubectl is not None and kubectl.ok != exp.kubectl_ok:
        out.append(f"lab: kubectl {'succeeded' if kubectl.ok else 'failed'}, expected "
                   f"{'success' if exp.kubectl_ok else 'failure'}: {kubectl.summary}")
    truth = kubectl.ok if kubectl is not None else exp.kubectl_ok
    want = "reachable" if truth else "unreachable"
    if diag.verdict != want:
        out.append(f"verdict {diag.verdict!r} but kubectl {'succeeded' if truth else 'failed'}")
    want_rc = 0 if truth else 1
    if diag.returncode != want_rc:
        out.append(f"exit code {diag.returncode}, expected {want_rc}")
    blockers = diag.codes("blocker")
    if truth and blockers:
        out.append(f"blockers on a reachable path: {sorted(blockers)}")
    # Exact, not a subset: an extra blocker is a wrong cause told to the user, as bad as
    # a missing one.
    missing, extra = exp.blockers - blockers, blockers - exp.blockers
    if missing:
        out.append(f"missing blocker(s) {sorted(missing)}; blockers were {sorted(blockers)}")
    if extra and not truth:  # on a reachable path the line above already names them all
        out.append(f"unexpected blocker(s) {sorted(extra)}; expected exactly "
                   f"{sorted(exp.blockers)}")
    warnings = diag.codes("warning")
    if exp.warnings - warnings:
        out.append(f"missing warning(s) {sorted(exp.warnings - warnings)}; "
                   f"warnings were {sorted(warnings)}")
    allcodes = diag.codes()
    if exp.present - allcodes:
        out.append(f"missing finding(s) {sorted(exp.present - allcodes)}; "
                   f"findings were {sorted(allcodes)}")
    out += leaked(prep, diag.stdout + diag.stderr)
    return out


def leaked(prep: Prepared, text: str) -> list[str]:
    return [f"secret #{i} appears in the output" for i, s in enumerate(prep.secrets) if s in text]


def run_subprocess_timed(argv: Sequence[str], timeout_s: float, *, cwd: Path | None = None
                         ) -> tuple[int, float]:
    """Run ``argv``, return (exit code, wall seconds); -1 when it outlived ``timeout_s``."""
    start = time.monotonic()
    try:
        rc = subprocess.run(list(argv), capture_output=True, timeout=timeout_s,
                            check=False, cwd=cwd).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    return rc, time.monotonic() - start


# The pod the node vantage plays: the environment Kubernetes and `kubereach remote`'s Job
# give it. 10.0.0.1 is AKS's default kubernetes service address; the lab's router DNATs it
# to the API server as kube-proxy would (see :func:`node_service_rule`).
NODE_SERVICE_HOST = "10.0.0.1"
NODE_POD = {"HOSTNAME": "kubereach-5c1e-x7k2p", "POD_NAME": "kubereach-5c1e-x7k2p",
            "NODE_NAME": "aks-nodepool1-31415926-vmss000000", "POD_NAMESPACE": "default"}


def node_service_rule(api_ip: str, port: int = 443) -> tuple[tuple[str, ...], str]:
    """(iptables spec, table): the service address reaches the API server, as kube-proxy."""
    return (("-d", NODE_SERVICE_HOST, "-p", "tcp", "--dport", str(port), "-j", "DNAT",
             "--to-destination", f"{api_ip}:{port}"), "nat")


def run_in_cluster(lab: Lab, key: str, servers: Sequence[str], *, timeout_s: float = 3.0,
                   extra: Sequence[str] = ()) -> DiagnoseOutcome:
    """``kubereach in-cluster`` from host ``key`` dressed as a pod: a service-account folder
    holding the cluster CA (and a token nothing may read), and the pod's variables.
    The outcome's ``report`` is None; ``reports`` come from :func:`in_cluster_reports`."""
    sa = lab.path("serviceaccount")
    sa.mkdir(exist_ok=True)
    ca = lab.ca_pem("cluster")
    if ca is None:
        raise RuntimeError("the lab is not up: no cluster CA yet")
    (sa / "ca.crt").write_bytes(ca)
    (sa / "namespace").write_text(NODE_POD["POD_NAMESPACE"])
    (sa / "token").write_text(lab.secrets.token)
    env = lab.client_env(key, {**NODE_POD, "KUBEREACH_SA_DIR": str(sa),
                               "KUBERNETES_SERVICE_HOST": NODE_SERVICE_HOST,
                               "KUBERNETES_SERVICE_PORT": "443"})
    argv = [sys.executable, "-m", "agent", "in-cluster",
            *(x for s in servers for x in ("--server", s)),
            "--timeout", f"{timeout_s:g}", "--format", "json", *extra]
    start = time.monotonic()
    proc = lab.run_in(key, argv, env=env, timeout_s=timeout_s * 4 + 15, cwd=SOURCE_ROOT)
    return DiagnoseOutcome(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def in_cluster_reports(outcome: DiagnoseOutcome) -> dict[str, dict[str, Any]]:
    """The reports of one in-cluster run, by target label (its kubeconfig context)."""
    out = {}
    for line in outcome.stdout.splitlines():
        doc = json.loads(line)
        out[doc["target"]["context"]] = doc
    return out
