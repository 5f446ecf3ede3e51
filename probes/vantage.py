"""Where this diagnosis runs: host, addresses, container or pod, CI runner.

The answer depends on the vantage point: a GitHub-hosted runner has no path to a private
endpoint at all, a pod in ``aks-command`` (az aks command invoke) is inside the cluster's
network. Needs: nothing. Facts: hostname, source_ips, container, pod, namespace, ci.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

from probes.base import ProbeContext, ProbeResult, Status
from probes.ci import detect_ci

_SIOCGIFADDR = 0x8915
_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


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
        "ci": runner.as_facts() if (runner := detect_ci(env)) is not None else None,
    }
    return ProbeResult("vantage", str(facts["hostname"]), Status.OK, 0.0, facts=facts)
