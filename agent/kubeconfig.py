"""Kubeconfig text -> Target, with kubectl's file-list and merge semantics.

``$KUBECONFIG`` is a list of files; files that do not exist are skipped; for every named
cluster, user and context, and for ``current-context``, the first file that sets it wins.
An explicit ``--kubeconfig`` file must exist. Problems that stop this run (no file, bad
YAML, unknown context) raise :class:`KubeconfigError`; problems that only stop kubectl
from connecting (an unreadable CA file, bad CA data) are returned as ``problems`` so the
report can explain them next to the network evidence.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from agent import redact
from agent.errors import KubeconfigError, UsageError
from agent.target import Auth, Target


@dataclass(frozen=True)
class Loaded:
    target: Target
    problems: tuple[str, ...]  # one sentence each, safe to print
    secrets: tuple[str, ...] = ()  # values to scrub from every output


def kubeconfig_paths(explicit: str | None, env: Mapping[str, str]) -> tuple[list[Path], bool]:
    """The files to read and whether they were named explicitly (then they must exist)."""
    if explicit:
        return [Path(explicit).expanduser()], True
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p], False
    home = env.get("HOME") or str(Path.home())
    return [Path(home) / ".kube" / "config"], False


def _read_one(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise KubeconfigError(f"kubeconfig {path} is not UTF-8 text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        # The YAML error text can quote file content, which may be a secret: not shown.
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML{where}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig (top level is not a map)")
    return doc


def _named(doc: Mapping[str, Any], key: str, item: str, path: Path) -> dict[str, dict]:
    entries = doc.get(key) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"kubeconfig {path}: '{key}' is not a list")
    out: dict[str, dict] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise KubeconfigError(f"kubeconfig {path}: an entry of '{key}' has no name")
        body = entry.get(item) or {}
        if not isinstance(body, dict):
            raise KubeconfigError(f"kubeconfig {path}: {key[:-1]} '{entry['name']}' is not a map")
        out.setdefault(entry["name"], {**body, "__dir__": str(path.parent)})
    return out


def normalise_server(server: str) -> tuple[str, str, int, str]:
    """-> (url without userinfo, host, port, scheme). Like client-go, a bare host means https."""
    raw = server.strip()
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UsageError(f"server URL {server!r} is malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"server URL {server!r} is malformed: want https://HOST[:PORT]")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), host, port, parts.scheme


def _auth(user: Mapping[str, Any], env: Mapping[str, str]) -> Auth:
    if isinstance(user.get("exec"), dict):
        ex = user["exec"]
        command = str(ex.get("command") or "") or None
        if command and "/" in command and not Path(command).is_absolute():
            # client-go runs a relative command path from the kubeconfig's folder.
            command = str(Path(user["__dir__"]) / command)
        return Auth("exec", exec_command=command, exec_api_version=ex.get("apiVersion"))
    if isinstance(user.get("auth-provider"), dict):
        return Auth("auth-provider", provider=str(user["auth-provider"].get("name")))
    if user.get("token"):
        return Auth("token")
    if user.get("tokenFile"):
        return Auth("token-file")
    if user.get("client-certificate-data") or user.get("client-certificate"):
        return Auth("client-certificate")
    if user.get("username") or user.get("password"):
        return Auth("basic")
    return Auth("none")


def _ca(cluster: Mapping[str, Any], problems: list[str]) -> tuple[bytes | None, str]:
    data = cluster.get("certificate-authority-data")
    if data:
        try:
            pem = base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            problems.append("certificate-authority-data is not valid base64")
            return None, "certificate-authority-data"
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            problems.append("certificate-authority-data does not hold a PEM certificate")
            return None, "certificate-authority-data"
        return pem, "certificate-authority-data"
    ca_file = cluster.get("certificate-authority")
    if ca_file:
        path = Path(str(ca_file)).expanduser()
        if not path.is_absolute():
            path = Path(cluster["__dir__"]) / path
        try:
            pem = path.read_bytes()
        except OSError as exc:
            problems.append(f"certificate-authority file {path} cannot be read: {exc.strerror}")
            return None, f"certificate-authority: {path}"
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            problems.append(f"certificate-authority file {path} holds no PEM certificate")
            return None, f"certificate-authority: {path}"
        return pem, f"certificate-authority: {path}"
    return None, "system"


def _unreadable_user_files(user: Mapping[str, Any]) -> list[str]:
    """kubectl reads these before dialling and stops when one is missing."""
    out = []
    for key in ("tokenFile", "client-certificate", "client-key"):
        if not user.get(key):
            continue
        path = Path(str(user[key])).expanduser()
        if not path.is_absolute():
            path = Path(user["__dir__"]) / path
        if not os.access(path, os.R_OK):
            out.append(f"the user's {key} {path} cannot be read")
    if bool(user.get("client-certificate-data") or user.get("client-certificate")) != bool(
            user.get("client-key-data") or user.get("client-key")):
        out.append("the user has a client certificate without its key, or a key without its certificate")
    return out


def load(
    *,
    kubeconfig: str | None,
    context: str | None,
    server: str | None,
    env: Mapping[str, str],
) -> Loaded:
    paths, explicit = kubeconfig_paths(kubeconfig, env)
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in paths:
        if not explicit and not path.exists():
            continue
        docs.append((path, _read_one(path)))

    if not docs:
        if server:
            url, host, port, scheme = normalise_server(server)
            return Loaded(Target(url, host, port, scheme), ())
        where = ", ".join(str(p) for p in paths)
        raise KubeconfigError(
            f"no kubeconfig found (looked for {where}); give --kubeconfig or --server"
        )

    clusters: dict[str, dict] = {}
    users: dict[str, dict] = {}
    contexts: dict[str, dict] = {}
    current = None
    for path, doc in docs:
        for name, body in _named(doc, "clusters", "cluster", path).items():
            clusters.setdefault(name, body)
        for name, body in _named(doc, "users", "user", path).items():
            users.setdefault(name, body)
        for name, body in _named(doc, "contexts", "context", path).items():
            contexts.setdefault(name, body)
        current = current or doc.get("current-context") or None

    chosen = context or current
    file_list = tuple(str(p) for p, _ in docs)
    if not chosen:
        if server:
            url, host, port, scheme = normalise_server(server)
            return Loaded(Target(url, host, port, scheme, kubeconfig=file_list), ())
        raise KubeconfigError("kubeconfig has no current-context; give --context NAME")
    if chosen not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeconfigError(f"context {chosen!r} not found in kubeconfig (known: {known})")
    ctx = contexts[chosen]
    cluster_name = ctx.get("cluster")
    cluster = clusters.get(cluster_name) if cluster_name else None
    if cluster is None and not server:
        raise KubeconfigError(
            f"context {chosen!r} names cluster {cluster_name!r}, which is not defined"
        )
    cluster = cluster or {"__dir__": "."}
    user = users.get(ctx.get("user") or "", {})

    raw_server = server or cluster.get("server")
    if not raw_server:
        raise KubeconfigError(f"cluster {cluster_name!r} has no server")
    url, host, port, scheme = normalise_server(str(raw_server))

    problems: list[str] = []
    secrets = [*redact.from_user(user), *redact.url_password(cluster.get("proxy-url"))]
    ca_pem, ca_source = _ca(cluster, problems)
    problems += _unreadable_user_files(user)
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if insecure and (cluster.get("certificate-authority-data") or cluster.get("certificate-authority")):
        # client-go refuses this pair before dialling: "specifying a root certificates file
        # with the insecure flag is not allowed".
        problems.append("insecure-skip-tls-verify is set together with a CA, which kubectl refuses; "
                        "remove one of them")
    proxy = cluster.get("proxy-url")
    if proxy:
        try:
            proxy_parts = urlsplit(str(proxy))
            _ = proxy_parts.port
        except ValueError:
            proxy_parts = None
        if (
            proxy_parts is None
            or proxy_parts.scheme not in ("http", "https", "socks5")
            or not proxy_parts.hostname
        ):
            problems.append("proxy-url is not a valid http, https or socks5 URL")
    return Loaded(
        Target(
            server=url,
            host=host,
            port=port,
            scheme=scheme,
            ca_pem=ca_pem,
            ca_source=ca_source,
            tls_server_name=cluster.get("tls-server-name") or None,
            insecure_skip_tls_verify=insecure,
            proxy_url=str(proxy) if proxy else None,
            auth=_auth(user, env),
            context=chosen,
            cluster=cluster_name,
            kubeconfig=file_list,
        ),
        tuple(problems),
        tuple(secrets),
    )
