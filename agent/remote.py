"""``kubereach remote``: the Job that runs ``kubereach in-cluster`` on a node, and the one
``az aks command invoke`` line that starts it and brings its report back.

``az aks command invoke`` goes through ARM, so it works when the API server is unreachable
from here. It starts a pod (image ``mcr.microsoft.com/aks/command/runtime``: kubectl, helm,
jq, bash; python3 is not documented there) in namespace ``aks-command``, with requests of
200m CPU / 500 Mi and limits of 500m / 1 Gi, and cuts the command's output at 512 kB.
Attached files travel base64-encoded inside the ARM request: the manifest stays a few
kilobytes. Its kubectl starts our Job, waits, prints the Job's log, and deletes it.

Everything here is pure (facts in, text out) except :func:`read_sources`.
"""

from __future__ import annotations

import base64
import re
import secrets
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent.errors import UsageError

DEFAULT_IMAGE = "ghcr.io/kubereach/kubereach:latest"  # a placeholder: see README
DEFAULT_NAMESPACE = "default"
MANIFEST_NAME = "kubereach-job.yaml"
SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# Within the command-invoke pod's own budget (requests 200m / 500Mi, limits 500m / 1Gi), so
# a cluster that can schedule that pod can schedule this one beside it.
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
             "limits": {"cpu": "500m", "memory": "512Mi"}}
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?")


@dataclass(frozen=True)
class Payload:
    """What the Job diagnoses: labelled servers and, when known, the CA (public data)."""

    servers: tuple[tuple[str, str], ...]  # (label, https URL)
    ca_pem: bytes | None = None
    provider: str | None = None  # "aks" | "eks" | None (from a kubeconfig only)
    resource_group: str | None = None
    cluster_name: str | None = None
    subscription: str | None = None
    notes: tuple[str, ...] = field(default=())


def _url(host: str) -> str:
    return f"https://{host}:443"


def payload_from(cluster: Any = None, *, eks_ca: str | None = None, kube_server: str | None = None,
                 kube_ca: bytes | None = None) -> Payload:
    """Combine an ``az aks show``/``aws eks describe-cluster`` (as ClusterFacts) and a
    kubeconfig context's server and CA; the cluster file names the FQDNs, the kubeconfig
    adds its CA and its server when that is yet another name."""
    servers: list[tuple[str, str]] = []
    ca = kube_ca
    provider = rg = name = sub = None
    if cluster is not None:
        provider, rg, name, sub = cluster.provider, cluster.resource_group, cluster.name, cluster.subscription
        if cluster.private_fqdn:
            servers.append(("private", _url(cluster.private_fqdn)))
        if cluster.fqdn:
            servers.append(("public", _url(cluster.fqdn)))
        if cluster.endpoint:
            servers.append(("endpoint", _url(cluster.endpoint)))
        if ca is None and eks_ca:
            try:
                ca = base64.b64decode(eks_ca, validate=True)
            except ValueError:
                ca = None
    if kube_server:
        from urllib.parse import urlsplit

        host = (urlsplit(kube_server).hostname or "").lower()
        if host and not any(host == (urlsplit(u).hostname or "") for _, u in servers):
            servers.append(("kubeconfig", kube_server))
    if not servers:
        raise UsageError("the cluster description names no API server FQDN")
    if ca is not None and b"-----BEGIN CERTIFICATE-----" not in ca:
        ca = None
    return Payload(tuple(servers), ca, provider, rg, name, sub)


def in_cluster_args(payload: Payload, *, timeout_s: float) -> list[str]:
    args = ["in-cluster"]
    for label, url in payload.servers:
        args += ["--server", f"{label}={url}"]
    if payload.ca_pem is not None:
        args += ["--ca-data", base64.b64encode(payload.ca_pem).decode()]
    # json here is the compact one-line form: the log comes back through a 512 kB window.
    # --exit-zero: an unreachable verdict is a result, not a failed Job to wait out.
    args += ["--timeout", f"{timeout_s:g}", "--format", "json", "--exit-zero"]
    return args


def job_name(name: str | None) -> str:
    if name is None:
        return f"kubereach-{secrets.token_hex(3)}"
    if not _NAME.fullmatch(name):
        raise UsageError(f"--job-name {name!r}: want lowercase letters, digits and '-', at most 52")
    return name


def job_manifest(payload: Payload, *, name: str, namespace: str = DEFAULT_NAMESPACE,
                 image: str = DEFAULT_IMAGE, timeout_s: float = 5.0,
                 active_deadline_s: int = 120, ttl_s: int = 300) -> dict[str, Any]:
    """A batch/v1 Job: one pod, never retried, ended by activeDeadlineSeconds, removed
    ttlSecondsAfterFinished after it ends. It gets no service-account token: the CA and
    namespace are projected where a token mount would put them."""
    if not _NAME.fullmatch(namespace):
        raise UsageError(f"--namespace {namespace!r} is not a namespace name")
    if not image or any(c.isspace() for c in image):
        raise UsageError("--image must be an image reference without spaces")
    labels = {"app.kubernetes.io/name": "kubereach", "app.kubernetes.io/component": "in-cluster-probe"}

    def field_env(var: str, path: str) -> dict[str, Any]:
        return {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_s,
            "ttlSecondsAfterFinished": ttl_s,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "kubereach",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": in_cluster_args(payload, timeout_s=timeout_s),
                        "env": [field_env("NODE_NAME", "spec.nodeName"),
                                field_env("POD_NAME", "metadata.name"),
                                field_env("POD_NAMESPACE", "metadata.namespace"),
                                field_env("POD_IP", "status.podIP")],
                        "resources": RESOURCES,
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "cluster-ca", "mountPath": SA_PATH, "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [
                        {"name": "cluster-ca", "projected": {"sources": [
                            {"configMap": {"name": "kube-root-ca.crt",
                                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                                "fieldPath": "metadata.namespace"}}]}},
                        ]}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases for repeated values (the labels): plainer to read and edit."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def manifest_yaml(manifest: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    lines = "".join(f"# {h}\n" for h in header)
    return lines + yaml.dump(dict(manifest), Dumper=_PlainDumper, sort_keys=False, width=1000)


def kubectl_script(*, name: str, namespace: str, manifest_file: str, wait_s: int) -> str:
    """Start, wait, print the log, delete: one shell line for the command-invoke pod (or any
    shell with kubectl). The wait ends as soon as the Job completes or fails, or its pod
    cannot start (an image pull error, a bad image name): ``kubectl wait`` on one condition
    would sit out the whole timeout for those. Unless the Job completed, its pod is
    described, so a pull error is seen rather than guessed; the log is printed either way."""
    q = shlex.quote
    ns, job = f"-n {q(namespace)}", q(name)
    pods = f"{ns} -l job-name={job}"
    state = f"kubectl get job {ns} {job} -o jsonpath='{{.status.conditions[?(@.status==\"True\")].type}}'"
    waiting = (f"kubectl get pod {pods} -o jsonpath='{{.items[*].status.containerStatuses[*].state.waiting.reason}}'")
    return (f"kubectl apply -f {q(manifest_file)} >&2 && {{ "
            f"i=0; s=; while [ $i -lt {int(wait_s)} ]; do "
            f"s=$({state} 2>/dev/null); "
            f"case \"$s\" in *Complete*|*Failed*) break;; esac; "
            f"w=$({waiting} 2>/dev/null); "
            f"case \"$w\" in *ErrImagePull*|*ImagePullBackOff*|*InvalidImageName*|*CreateContainerConfigError*) break;; esac; "
            f"sleep 2; i=$((i+2)); done; "
            f"case \"$s\" in *Complete*) ;; *) echo \"kubereach: the Job did not complete ($s $w)\" >&2; "
            f"kubectl describe pod {pods} >&2;; esac; "
            f"kubectl logs {ns} job/{job}; }}; "
            f"kubectl delete -f {q(manifest_file)} --ignore-not-found --wait=false >&2")


def invoke_argv(payload: Payload, *, script: str, manifest_file: str,
                resource_group: str | None = None, cluster_name: str | None = None,
                subscription: str | None = None) -> list[str] | None:
    """``az aks command invoke`` argv, or None when the resource group or name is unknown."""
    rg = resource_group or payload.resource_group
    name = cluster_name or payload.cluster_name
    if not rg or not name:
        return None
    argv = ["az", "aks", "command", "invoke", "--resource-group", rg, "--name", name]
    sub = subscription or payload.subscription
    if sub:
        argv += ["--subscription", sub]
    # The file is attached by its name; in the pod it sits in the working folder.
    return [*argv, "--file", manifest_file, "--command", script]


def read_sources(*, cluster_path: str | None, kubeconfig: str | None, context: str | None,
                 env: Mapping[str, str]) -> Payload:
    """Read ``--cluster`` and/or a kubeconfig context into a Payload (exit 2 on bad input)."""
    if cluster_path is None and context is None and kubeconfig is None:
        raise UsageError("give --cluster (az aks show / aws eks describe-cluster JSON) or --context")
    cluster = eks_ca = None
    if cluster_path is not None:
        from agent import inputs
        from agent.cloud.context import read_cluster
        from agent.errors import InventoryError

        path = inputs.user_path(cluster_path, "--cluster", UsageError)
        cluster = read_cluster(path)
        if cluster.provider == "eks":
            doc = inputs.load_json(inputs.read_text(path, "--cluster", InventoryError, encoding="utf-8-sig"),
                                   f"--cluster {inputs.shown(path)}", InventoryError)
            body = doc.get("cluster", doc) if isinstance(doc, dict) else {}
            ca_obj = body.get("certificateAuthority") if isinstance(body, dict) else None
            data = ca_obj.get("data") if isinstance(ca_obj, dict) else None
            eks_ca = data if isinstance(data, str) else None
    kube_server = kube_ca = None
    if context is not None or kubeconfig is not None:
        from agent.kubeconfig import load

        loaded = load(kubeconfig=kubeconfig, context=context, server=None, env=env)
        kube_server, kube_ca = loaded.target.server, loaded.target.ca_pem
    return payload_from(cluster, eks_ca=eks_ca, kube_server=kube_server, kube_ca=kube_ca)
