"""Where this diagnosis runs: host, addresses, container or pod, CI runner.

The answer depends on the vantage point: a GitHub-hosted runner has no path to a private
endpoint at all, a pod in ``aks-command`` (az aks command invoke) is inside the cluster's
network. Needs: nothing. Facts: hostname, source_ips, container, pod, namespace, ci.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from collections.abc import Mapping
from pathlib import Path

from probes.base import ProbeContext, ProbeResult, Status

_SIOCGIFADDR = 0x8915
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def ci_runner(env: Mapping[str, str]) -> dict | None:
    """Which CI system, and whether its runner is hosted by the vendor (an egress IP that
    changes and no path into a private network)."""
    if env.get("GITHUB_ACTIONS") == "true":
        return {"name": "github-actions", "hosted": env.get("RUNNER_ENVIRONMENT") == "github-hosted"}
    if env.get("TF_BUILD", "").lower() == "true":
        agent = env.get("AGENT_NAME", "")
        hosted = agent.startswith(("Azure Pipelines", "Hosted Agent", "Hosted "))
        return {"name": "azure-pipelines", "hosted": hosted}
    if env.get("GITLAB_CI") == "true":
        return {"name": "gitlab-ci", "hosted": None}
    if env.get("JENKINS_URL"):
        return {"name": "jenkins", "hosted": False}
    if env.get("CI") == "true" or env.get("CI") == "1":
        return {"name": "unknown-ci", "hosted": None}
    return None


def ipv4_addresses() -> list[str]:
    out: list[str] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return out
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            try:
                packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            address = socket.inet_ntoa(packed[20:24])
            if not address.startswith("127."):
                out.append(address)
    return out


def _in_container() -> bool:
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in cgroup for word in ("docker", "kubepods", "containerd", "libpod"))


def probe(ctx: ProbeContext) -> ProbeResult:
    env = ctx.env
    namespace = None
    if env.get("KUBERNETES_SERVICE_HOST"):
        try:
            namespace = _SA_NAMESPACE.read_text().strip() or None
        except OSError:
            namespace = None
    facts = {
        "hostname": socket.gethostname(),
        "source_ips": ipv4_addresses(),
        "container": _in_container(),
        "pod": bool(env.get("KUBERNETES_SERVICE_HOST")),
        "namespace": namespace,
        "aks_command_invoke": namespace == "aks-command",
        "ci": ci_runner(env),
    }
    return ProbeResult("vantage", str(facts["hostname"]), Status.OK, 0.0, facts=facts)
