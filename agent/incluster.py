"""``kubereach in-cluster``: the cluster's own API server addresses, diagnosed from a pod.

A pod (the Job ``kubereach remote`` writes, run through ``az aks command invoke``) sits on a
node: in the cluster's VNet, behind its DNS settings and egress. From there this diagnoses
each ``--server`` (the cluster's public and private FQDNs) and, for contrast, the in-cluster
service address ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`` that every pod
uses, all at once under one deadline, with no kubeconfig. Each target is verified with the
CA given (``--ca-data``) or else the service account's ``ca.crt``, which on AKS is the
cluster CA that also signs the FQDN endpoints. The service-account token is never read:
the verdict is about the network, and an unauthenticated ``/version`` answers that.

Each target becomes one context of a kubeconfig written to a private temporary folder, so
the diagnosis is exactly ``kubereach diagnose --context LABEL`` of that file, and its
report names the target by its label (public, private, service).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.errors import UsageError
from probes.vantage import kubernetes_service, sa_dir

MAX_SERVERS = 8
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?")


@dataclass(frozen=True)
class InClusterTarget:
    label: str
    server: str
    ca_pem: bytes | None = None  # None: ca_file, else the system trust store
    ca_file: str | None = None


def parse_server(spec: str, index: int) -> tuple[str, str]:
    """``[LABEL=]URL`` -> (label, url). A bare URL is labelled server-N."""
    label, sep, url = spec.partition("=")
    if not sep or "://" in label:
        return f"server-{index + 1}", spec
    if not _LABEL.fullmatch(label):
        raise UsageError(f"--server {spec!r}: the label must be lowercase letters, digits and '-'")
    return label, url


def decode_ca(data: str) -> bytes:
    """``--ca-data``: base64 of PEM, as in a kubeconfig's certificate-authority-data."""
    try:
        pem = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("--ca-data is not base64 (give a kubeconfig's certificate-authority-data)") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise UsageError("--ca-data does not hold a PEM certificate")
    return pem


def plan_targets(servers: Sequence[str], *, ca_data: str | None, env: Mapping[str, str],
                 service: bool | None = None) -> list[InClusterTarget]:
    """The targets of one run: each --server, then the service address when in a pod."""
    if len(servers) > MAX_SERVERS:
        raise UsageError(f"--server may be given at most {MAX_SERVERS} times")
    sa_ca = sa_dir(dict(env)) / "ca.crt"
    sa_ca_file = str(sa_ca) if sa_ca.is_file() else None
    ca_pem = decode_ca(ca_data) if ca_data else None
    targets = []
    for i, spec in enumerate(servers):
        label, url = parse_server(spec, i)
        targets.append(InClusterTarget(label, url, ca_pem, None if ca_pem else sa_ca_file))
    service_url = kubernetes_service(dict(env))
    if service is None:
        service = service_url is not None
    if service:
        if service_url is None:
            raise UsageError("--service: KUBERNETES_SERVICE_HOST is not set (this is not a pod)")
        targets.append(InClusterTarget("service", service_url, None, sa_ca_file))
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise UsageError(f"two targets share a label: {', '.join(labels)}")
    if not targets:
        raise UsageError("nothing to diagnose: give --server (and run in a pod for the service address)")
    return targets


def kubeconfig_text(targets: Sequence[InClusterTarget]) -> str:
    """One context per target and a user with no credentials: probes never authenticate."""
    clusters = []
    for t in targets:
        cluster: dict[str, object] = {"server": t.server}
        if t.ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(t.ca_pem).decode()
        elif t.ca_file:
            cluster["certificate-authority"] = t.ca_file
        clusters.append({"name": t.label, "cluster": cluster})
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": clusters,
        "users": [{"name": "kubereach", "user": {}}],
        "contexts": [{"name": t.label, "context": {"cluster": t.label, "user": "kubereach"}}
                     for t in targets],
        "current-context": targets[0].label,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def run(targets: Sequence[InClusterTarget], *, timeout_s: float, deadline_s: float | None,
        env: Mapping[str, str], log: Callable[[str], None] | None = None) -> list:
    """Diagnose every target at once; returns one ``planner.Diagnosis`` per target, in order."""
    from agent.planner import Request, diagnose

    with tempfile.TemporaryDirectory(prefix="kubereach-") as folder:
        path = Path(folder) / "kubeconfig"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(kubeconfig_text(targets))
        requests = [Request(kubeconfig=str(path), context=t.label, timeout_s=timeout_s,
                            deadline_s=deadline_s,
                            hosts_path=env.get("KUBEREACH_HOSTS_FILE", "/etc/hosts"),
                            resolv_conf_path=env.get("KUBEREACH_RESOLV_CONF", "/etc/resolv.conf"),
                            cloud={"discover": "off"})
                    for t in targets]
        # Concurrently: every target waits the same one deadline, not one after another.
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            futures = [pool.submit(diagnose, r, env=env, log=log) for r in requests]
            return [f.result() for f in futures]
