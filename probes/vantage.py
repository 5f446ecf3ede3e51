"""Where this diagnosis runs: host, addresses, container or pod, CI runner.

The answer depends on the vantage point: a GitHub-hosted runner has no path to a private
endpoint at all, a pod in ``aks-command`` (az aks command invoke) is inside the cluster's
network. Needs: nothing. Facts: hostname, source_ips, container, pod, namespace, ci, and
inside a pod: pod_name, node_name, pod_ip, kubernetes_service, service_account_ca.

In a pod, Kubernetes sets ``KUBERNETES_SERVICE_HOST``/``_PORT``, mounts the service account
at :data:`SA_DIR` (``KUBEREACH_SA_DIR`` moves it, for tests) and names the pod in HOSTNAME;
the node is known only when the manifest passes it down (``NODE_NAME`` from
``spec.nodeName``, as ``kubereach remote`` writes it). The token is never read.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

from probes.base import ProbeContext, ProbeResult, Status
from probes.ci import detect_ci

_SIOCGIFADDR = 0x8915
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def sa_dir(env: dict[str, str] | None) -> Path:
    return Path((env or {}).get("KUBEREACH_SA_DIR") or SA_DIR)


def kubernetes_service(env: dict[str, str] | None) -> str | None:
    """``https://HOST:PORT`` of the in-cluster service address, when this runs in a pod."""
    env = env or {}
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    if not host:
        return None
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip() or "443"
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}:{port}"


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


def _read(path: Path, limit: int = 256) -> str | None:
    try:
        with path.open("rb") as fh:
            text = fh.read(limit).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text if text and text.isprintable() else None


def probe(ctx: ProbeContext) -> ProbeResult:
    env = ctx.env
    in_pod = bool(env.get("KUBERNETES_SERVICE_HOST"))
    namespace = None
    sa = sa_dir(env)
    if in_pod:
        namespace = _read(sa / "namespace") or env.get("POD_NAMESPACE") or None
    facts = {
        "hostname": socket.gethostname(),
        "source_ips": ipv4_addresses(),
        "container": _in_container(),
        "pod": bool(env.get("KUBERNETES_SERVICE_HOST")),
        "namespace": namespace,
        "aks_command_invoke": namespace == "aks-command",
        "ci": runner.as_facts() if (runner := detect_ci(env)) is not None else None,
    }
    if in_pod:
        facts.update({
            # A pod's hostname is its name unless the spec sets another: POD_NAME wins.
            "pod_name": env.get("POD_NAME") or env.get("HOSTNAME") or facts["hostname"],
            "node_name": env.get("NODE_NAME") or None,
            "pod_ip": env.get("POD_IP") or None,
            "kubernetes_service": kubernetes_service(env),
            "service_account_ca": (sa / "ca.crt").is_file(),
        })
    return ProbeResult("vantage", str(facts["hostname"]), Status.OK, 0.0, facts=facts)
