"""Kubeconfig files as ``az aks get-credentials`` writes them, in the variants the
scenarios need: the right CA or a stale one, a bearer token or a kubelogin exec plugin."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass(frozen=True)
class KubeconfigSpec:
    """What a scenario's kubeconfig holds; the lab fills in CA bytes and secrets."""

    host: str  # the server's host name
    port: int = 443
    ca: str = "cluster"  # "cluster" | "stale" | "none" (system roots)
    insecure: bool = False
    # "token" | "exec" | "token-expired" | "client-cert-foreign" | "exec-devicecode"
    auth: str = "token"
    exec_env: Mapping[str, str] = field(default_factory=dict)  # planted in the exec stanza
    proxy_url: str | None = None  # the cluster's proxy-url (socks5://... for a bastion)
    # A local tunnel's kubeconfig: server https://127.0.0.1:PORT with tls-server-name = host.
    tunnel_port: int | None = None

    @property
    def server(self) -> str:
        if self.tunnel_port is not None:
            return f"https://127.0.0.1:{self.tunnel_port}"
        return f"https://{self.host}:{self.port}"


def render(
    spec: KubeconfigSpec,
    *,
    name: str,
    ca_pem: bytes | None,
    token: str,
    expired_token: str = "",
    client: object = None,  # a pki.KeyPair: the client certificate of "client-cert-foreign"
    plugin_dir: Path | None = None,
) -> str:
    cluster: dict[str, object] = {"server": spec.server}
    if spec.tunnel_port is not None:
        cluster["tls-server-name"] = spec.host
    if spec.proxy_url:
        cluster["proxy-url"] = spec.proxy_url
    if spec.insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, object]
    if spec.auth == "exec":
        # What `kubelogin convert-kubeconfig -l spn` leaves behind; the env carries a
        # client secret, which must never surface in a report.
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "kubelogin",
                "args": [
                    "get-token", "--login", "spn", "--server-id",
                    "6dae42f8-4368-4678-94ff-3960e28e3630",
                    "--environment", "AzurePublicCloud",
                    "--tenant-id", "72f988bf-86f1-41af-91ab-2d7cd011db47",
                ],
                "env": [{"name": k, "value": v} for k, v in spec.exec_env.items()],
                "installHint": "kubelogin is not installed: see https://aka.ms/aks/kubelogin",
                "provideClusterInfo": False,
                "interactiveMode": "IfAvailable",
            }
        }
    elif spec.auth == "token-expired":
        user = {"token": expired_token}
    elif spec.auth == "client-cert-foreign":
        user = {"client-certificate-data": base64.b64encode(client.cert_pem).decode(),  # type: ignore[attr-defined]
                "client-key-data": base64.b64encode(client.key_pem).decode()}  # type: ignore[attr-defined]
    elif spec.auth == "exec-devicecode":
        # What `kubelogin convert-kubeconfig` (devicecode, its default) leaves behind.
        user = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": str((plugin_dir or Path(".")) / "kubelogin"),
                "args": ["get-token", "--login", "devicecode", "--server-id",
                         "6dae42f8-4368-4678-94ff-3960e28e3630", "--environment", "AzurePublicCloud",
                         "--tenant-id", "72f988bf-86f1-41af-91ab-2d7cd011db47"],
                "env": None,
                "provideClusterInfo": False,
                "interactiveMode": "IfAvailable",
            }
        }
    else:
        user = {"token": token}
    user_name = f"clusterUser_kreach-rg_{name}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user_name}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
