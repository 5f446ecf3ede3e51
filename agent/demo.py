"""``kubereach demo``: build the lab, break it a few ways, show kubereach next to kubectl.

For a fresh machine with no cluster: needs Linux, root, iproute2, iptables, dnsmasq,
unbound, tinyproxy and a kubectl. Everything it builds lives in network namespaces and is
torn down on the way out, also on Ctrl-C, SIGTERM or SIGHUP.

Exit status: 0 when kubereach's verdict agreed with kubectl in every scenario, 1 when it
did not in at least one, 2 when the lab cannot be built here.
"""

from __future__ import annotations

import shutil
import signal
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

from agent.lab.runner import find_kubectl
from agent.redact import scrub

DEMO_SCENARIOS = (
    "healthy-inside",
    "peer-unlinked",
    "custom-dns",
    "public-fqdn-private-ip",
    "tls-inspection",
    "stale-ca",
    "proxy-auth",
    "exec-plugin-missing",
    "not-kubernetes",
    "authorized-ranges-exclude",
)
KUBECTL_TIMEOUT_S = 5.0
_WIDTH = 78


def _default_kubectl() -> str | None:
    return find_kubectl() or shutil.which("kubectl")


@contextmanager
def _signals_end_the_run() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit so ``finally`` blocks tear the lab down."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _wrap(text: str, indent: int) -> str:
    pad = " " * indent
    return textwrap.fill(" ".join(text.split()), _WIDTH, initial_indent=pad,
                         subsequent_indent=pad + "  ")


def run_demo(*, out: TextIO, timeout_s: float = 3.0, kubectl: str | None = None) -> int:
    """``kubectl=None`` finds one; where none is installed the diagnoses are shown alone."""
    from agent.lab.preflight import lab_unavailable

    reason = lab_unavailable()
    if reason:
        out.write(f"kubereach demo: cannot build the lab: {reason}\n")
        return 2
    from agent.lab import Lab, LabError
    from agent.lab.runner import diagnose_missing

    missing = diagnose_missing()
    if missing:
        out.write(f"kubereach demo: {missing}\n")
        return 2

    with _signals_end_the_run():
        lab = Lab()
        try:
            start = time.monotonic()
            out.write("Building the lab: network namespaces, a router, dnsmasq and unbound "
                      "resolvers,\nAPI server stand-ins, a TLS-inspecting firewall and a "
                      "proxy ...\n")
            out.flush()
            lab.up()
            out.write(f"Lab {lab.prefix} up in {time.monotonic() - start:.1f} s.\n\n")
            kubectl = kubectl or _default_kubectl()
            if kubectl is None:
                out.write("kubectl is not installed here: showing kubereach's diagnoses alone.\n\n")
            agreed = _run_all(lab, out, timeout_s=timeout_s, kubectl=kubectl)
        except LabError as exc:
            out.write(f"kubereach demo: the lab failed: {exc}\n")
            return 2
        finally:
            lab.down()
            out.write("Lab torn down.\n")
    return 0 if agreed else 1


def _run_all(lab: Any, out: TextIO, *, timeout_s: float, kubectl: str | None) -> bool:
    from agent.lab.runner import run_diagnose, run_kubectl
    from agent.lab.scenarios import by_name, prepared

    total = len(DEMO_SCENARIOS)
    agree = named = 0
    for i, name in enumerate(DEMO_SCENARIOS, 1):
        scenario = by_name(name)
        out.write(f"[{i}/{total}] {scenario.title}\n")
        out.write(_wrap(f"built: {scenario.cause}", 6) + "\n")
        out.flush()
        with prepared(lab, scenario) as prep:
            k = run_kubectl(lab, prep, kubectl=kubectl, timeout_s=KUBECTL_TIMEOUT_S) if kubectl else None
            d = run_diagnose(lab, prep, timeout_s=timeout_s)
        secrets = prep.secrets
        if k is not None:
            k_state = "succeeded" if k.ok else "FAILED"
            out.write(_wrap(f"kubectl    {k_state} in {k.duration_s:.1f} s: "
                            f"{scrub(k.summary, secrets)[:160]}", 6) + "\n")
        if d.report is None:
            out.write(_wrap(f"kubereach  no report (exit {d.returncode}): "
                            f"{scrub(d.stderr.strip(), secrets)[-200:]}", 6) + "\n\n")
            continue
        # Without kubectl, the scenario's own expectation stands in for it.
        kubectl_ok = k.ok if k is not None else scenario.expect.kubectl_ok
        same = (d.verdict == "reachable") == kubectl_ok
        agree += same
        expected = scenario.expect.blockers
        if expected <= d.codes("blocker") and (kubectl_ok or expected):
            named += 1
        if k is None:
            note = "as the lab built it" if same else "NOT what the lab built"
        else:
            note = "agrees with kubectl" if same else "DISAGREES with kubectl"
        out.write(_wrap(f"kubereach  {d.verdict} in {d.duration_s:.1f} s, {note}", 6) + "\n")
        for f in d.report.get("findings", []):
            if f.get("severity") == "info" and f.get("code") != "proxy.in_path":
                continue
            line = f"{f.get('severity')} {f.get('code')}: {f.get('title')}"
            out.write(_wrap(scrub(line, secrets), 8) + "\n")
            if f.get("severity") == "blocker" and f.get("fix"):
                out.write(_wrap("fix: " + scrub(str(f["fix"]), secrets), 10) + "\n")
        out.write("\n")
        out.flush()
    judge = "agreed with kubectl" if kubectl else "matched what the lab built"
    out.write(f"{total} scenarios: kubereach's verdict {judge} in {agree}, "
              f"and named the cause the lab built in {named}.\n")
    return agree == total
