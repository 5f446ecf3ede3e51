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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from agent import inputs, redact
from agent.errors import KubeconfigError, UsageError
from agent.target import Auth, Target
from probes.credentials import ExecSpec, UserSecrets


@dataclass(frozen=True)
class Loaded:
    target: Target
    problems: tuple[str, ...]  # one sentence each, safe to print
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values to scrub from every output
    # What the user entry authenticates with (token, key, exec env values): read only when
    # asked (--check-auth), never part of a Target or a report.
    credentials: UserSecrets | None = field(default=None, repr=False)


# Exec env variables whose VALUE a trap needs, each a name rather than a secret (a login
# mode, a profile, a region, a config path) and kept only when it looks like one. Every
# other value is dropped: only its name is kept.
EXEC_SETTING_NAMES = ("AAD_LOGIN_METHOD", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
                      "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE")
_SETTING_VALUE = re.compile(r"[A-Za-z0-9_.@+:/ -]{1,256}")


def kubeconfig_paths(explicit: str | None, env: Mapping[str, str]) -> tuple[list[Path], bool]:
    """The files to read and whether they were named explicitly (then they must exist)."""
    if explicit:
        return [inputs.user_path(explicit, "kubeconfig", KubeconfigError)], True
    if env.get("KUBECONFIG"):
        return [inputs.user_path(p, "$KUBECONFIG entry", KubeconfigError)
                for p in env["KUBECONFIG"].split(os.pathsep) if p], False
    home = env.get("HOME") or str(Path.home())
    return [Path(home) / ".kube" / "config"], False


def _read_one(path: Path) -> dict[str, Any]:
    text = inputs.read_text(path, "kubeconfig", KubeconfigError)
    doc = inputs.load_yaml(text, f"kubeconfig {inputs.shown(path)}", KubeconfigError)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {inputs.shown(path)} is not a kubeconfig (top level is not a map)")
    _check_types(doc, path)
    return doc


# kubectl decodes the kubeconfig into typed Go structs and refuses the whole file when a
# known field has the wrong type ("json: cannot unmarshal number into Go struct field
# Cluster.clusters.cluster.server of type string"), used entry or not; null is allowed.
# Unknown fields are ignored, as kubectl ignores them.
_STR, _BOOL, _LIST, _MAP, _STRLIST, _STRMAP, _ENV = (
    "a string", "true or false", "a list", "a map", "a list of strings", "a map of strings",
    "a list of {name, value}")
_TOP = {"apiVersion": _STR, "kind": _STR, "current-context": _STR, "clusters": _LIST,
        "users": _LIST, "contexts": _LIST, "preferences": _MAP, "extensions": _LIST}
_CLUSTER = {"server": _STR, "tls-server-name": _STR, "insecure-skip-tls-verify": _BOOL,
            "certificate-authority": _STR, "certificate-authority-data": _STR,
            "proxy-url": _STR, "disable-compression": _BOOL, "extensions": _LIST}
_CONTEXT = {"cluster": _STR, "user": _STR, "namespace": _STR, "extensions": _LIST}
_USER = {"client-certificate": _STR, "client-certificate-data": _STR, "client-key": _STR,
         "client-key-data": _STR, "token": _STR, "tokenFile": _STR, "as": _STR, "as-uid": _STR,
         "as-groups": _STRLIST, "username": _STR, "password": _STR, "auth-provider": _MAP,
         "exec": _MAP, "extensions": _LIST}
_EXEC = {"command": _STR, "apiVersion": _STR, "args": _STRLIST, "env": _ENV, "installHint": _STR,
         "provideClusterInfo": _BOOL, "interactiveMode": _STR}
_PROVIDER = {"name": _STR, "config": _STRMAP}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    for cls, name in ((str, "a string"), (dict, "a map"), (list, "a list"), (bytes, "binary data")):
        if isinstance(value, cls):
            return name
    return f"a YAML {type(value).__name__}"


def _fits(value: Any, want: str) -> bool:
    if value is None:
        return True
    if want == _STR:
        return isinstance(value, str)
    if want == _BOOL:
        return isinstance(value, bool)
    if want == _LIST:
        return isinstance(value, list)
    if want == _MAP:
        return isinstance(value, dict)
    if want == _STRLIST:
        return isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)
    if want == _STRMAP:
        return isinstance(value, dict) and all(v is None or isinstance(v, str) for v in value.values())
    if want == _ENV:
        return isinstance(value, list) and all(
            v is None or (isinstance(v, dict) and all(_fits(v.get(k), _STR) for k in ("name", "value")))
            for v in value)
    raise AssertionError(want)


def _check_fields(body: Mapping[str, Any], schema: Mapping[str, str], where: str) -> None:
    for key, want in schema.items():
        value = body.get(key)
        if not _fits(value, want):
            got = _kind(value)
            if want in (_STRLIST, _STRMAP, _ENV) and isinstance(value, (list, dict)):
                got = f"{got} holding something else"
            raise KubeconfigError(f"{where}'{key}' must be {want}, not {got} "
                                  "(kubectl refuses to load this file)")


def _check_types(doc: Mapping[str, Any], path: Path) -> None:
    prefix = f"kubeconfig {inputs.shown(path)}: "
    _check_fields(doc, _TOP, prefix)
    for key, item, schema in (("clusters", "cluster", _CLUSTER), ("contexts", "context", _CONTEXT),
                              ("users", "user", _USER)):
        for entry in doc.get(key) or []:
            if not isinstance(entry, dict):
                raise KubeconfigError(f"{prefix}an entry of '{key}' is {_kind(entry)}, not a map")
            name = entry.get("name")
            if not isinstance(name, str):
                raise KubeconfigError(f"{prefix}an entry of '{key}' has no name"
                                      + ("" if name is None else f" ('name' is {_kind(name)})"))
            body = entry.get(item)
            if body is None:
                continue
            if not isinstance(body, dict):
                raise KubeconfigError(f"{prefix}{item} {name!r} is {_kind(body)}, not a map")
            _check_fields(body, schema, f"{prefix}{item} {name!r}: ")
            if item == "user":
                for sub, sub_schema in (("exec", _EXEC), ("auth-provider", _PROVIDER)):
                    if isinstance(body.get(sub), dict):
                        _check_fields(body[sub], sub_schema, f"{prefix}user {name!r}: {sub} ")


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


def _go_hostname(netloc: str) -> str:
    """The host as Go's url.Hostname() gives it: case kept (Go never proxies exactly
    'localhost', so 'LOCALHOST' goes through HTTPS_PROXY) and an IPv6 zone unescaped
    ('[fe80::1%25eth0]' -> 'fe80::1%eth0'). urlsplit's ``hostname`` lower-cases."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("[") and "]" in hostport:
        return unquote(hostport[1:hostport.index("]")])
    return hostport.rpartition(":")[0] if ":" in hostport else hostport


def normalise_server(server: str) -> tuple[str, str, int, str]:
    """-> (url without userinfo, host, port, scheme). Like client-go, a bare host means https."""
    raw = server.strip()
    if "://" not in raw:
        raw = "https://" + raw
    shown = redact.raw_url(server)  # the URL may hold a password: never quote it
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UsageError(f"server URL {shown!r} is malformed") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"server URL {shown!r} is malformed: want https://HOST[:PORT]")
    host = _go_hostname(parts.netloc)
    # An explicit port 0 stays 0: kubectl dials it (and gets "connection refused").
    port = port if port is not None else (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), host, port, parts.scheme


def _auth(user: Mapping[str, Any], env: Mapping[str, str]) -> Auth:
    if isinstance(user.get("exec"), dict):
        ex = user["exec"]
        command = str(ex.get("command") or "") or None
        if command and "/" in command and not Path(command).is_absolute():
            # client-go runs a relative command path from the kubeconfig's folder.
            command = str(Path(user["__dir__"]) / command)
        names, settings = [], []
        for item in ex.get("env") or []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                names.append(item["name"])
                value = item.get("value")
                if (item["name"] in EXEC_SETTING_NAMES and isinstance(value, str)
                        and _SETTING_VALUE.fullmatch(value)):
                    settings.append((item["name"], value))
        return Auth("exec", exec_command=command, exec_api_version=ex.get("apiVersion"),
                    exec_args=tuple(str(a) for a in ex.get("args") or [] if a is not None),
                    exec_env_names=tuple(names),
                    exec_interactive_mode=ex.get("interactiveMode") or None,
                    exec_provide_cluster_info=ex.get("provideClusterInfo") is True,
                    exec_settings=tuple(settings))
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
        try:
            path = _file_in(ca_file, cluster["__dir__"], "certificate-authority file")
            pem = inputs.read_bytes(path, "certificate-authority file", KubeconfigError)
        except KubeconfigError as exc:
            problems.append(str(exc))
            return None, f"certificate-authority: {inputs.shown(str(ca_file))}"
        if b"-----BEGIN CERTIFICATE-----" not in pem:
            problems.append(f"certificate-authority file {inputs.shown(path)} holds no PEM certificate")
            return None, f"certificate-authority: {inputs.shown(path)}"
        return pem, f"certificate-authority: {inputs.shown(path)}"
    return None, "system"


def _file_in(value: str, folder: str, what: str) -> Path:
    """A file named in the kubeconfig; client-go reads a relative path from the file's folder."""
    path = inputs.user_path(value, what, KubeconfigError)
    return path if path.is_absolute() else Path(folder) / path


def _user_files(user: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """-> (problems, secrets). kubectl reads these before dialling and stops when one is
    missing; the token file and key are read (bounded) so their content can be scrubbed."""
    problems: list[str] = []
    secrets: list[str] = []
    for key in ("tokenFile", "client-certificate", "client-key"):
        if not user.get(key):
            continue
        what = f"the user's {key}"
        try:
            path = _file_in(user[key], user["__dir__"], what)
        except KubeconfigError as exc:
            problems.append(str(exc))
            continue
        try:
            data = inputs.read_bytes(path, what, KubeconfigError)
        except KubeconfigError as exc:
            too_big = "larger than" in str(exc)
            problems.append(str(exc) if too_big else f"{what} {inputs.shown(path)} cannot be read")
            continue
        if key != "client-certificate":
            text = data.decode("utf-8", "replace").strip()
            secrets += [text, *(line for line in text.splitlines() if "-----" not in line)]
    if bool(user.get("client-certificate-data") or user.get("client-certificate")) != bool(
            user.get("client-key-data") or user.get("client-key")):
        problems.append("the user has a client certificate without its key, or a key without its certificate")
    return problems, secrets


def _user_secrets(user: Mapping[str, Any], auth: Auth) -> UserSecrets | None:
    """The user's credential material, for the credential check only. Unreadable files
    are already kubeconfig problems; here they just mean nothing to present."""
    def data(key: str, file_key: str) -> bytes | None:
        if user.get(key):
            try:
                return base64.b64decode(str(user[key]), validate=True)
            except (binascii.Error, ValueError):
                return None
        if user.get(file_key):
            try:
                return inputs.read_bytes(_file_in(user[file_key], user["__dir__"], file_key),
                                         file_key, KubeconfigError)
            except KubeconfigError:
                return None
        return None

    if auth.method == "exec" and auth.exec_command:
        env = tuple((str(i["name"]), str(i.get("value") or "")) for i in user["exec"].get("env") or []
                    if isinstance(i, dict) and isinstance(i.get("name"), str))
        return UserSecrets(exec=ExecSpec(
            command=auth.exec_command, args=auth.exec_args, env=env,
            api_version=auth.exec_api_version or "client.authentication.k8s.io/v1beta1",
            interactive_mode=auth.exec_interactive_mode,
            provide_cluster_info=auth.exec_provide_cluster_info), source="exec")
    if auth.method == "token":
        return UserSecrets(token=str(user["token"]), source="token")
    if auth.method == "token-file":
        try:
            raw = inputs.read_text(_file_in(user["tokenFile"], user["__dir__"], "tokenFile"),
                                   "tokenFile", KubeconfigError)
        except KubeconfigError:
            return None
        return UserSecrets(token=raw.strip() or None, source="token-file")
    if auth.method == "client-certificate":
        return UserSecrets(cert_pem=data("client-certificate-data", "client-certificate"),
                           key_pem=data("client-key-data", "client-key"), source="client-certificate")
    return None


def load(
    *,
    kubeconfig: str | None,
    context: str | None,
    server: str | None,
    env: Mapping[str, str],
    with_credentials: bool = False,
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
            return Loaded(Target(url, host, port, scheme), (),
                          tuple(redact.url_password(server)))
        where = ", ".join(str(p) for p in paths)
        # kubectl in a pod without one falls back to the service account and the service
        # address: kubereach's way to look from there is its own command.
        in_pod = env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT")
        hint = ("; in a pod, `kubereach in-cluster` diagnoses the API server as the pod sees it"
                if in_pod else "")
        raise KubeconfigError(
            f"no kubeconfig found (looked for {where}); give --kubeconfig or --server{hint}"
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
            return Loaded(Target(url, host, port, scheme, kubeconfig=file_list),
                          (), tuple(redact.url_password(server)))
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
    secrets = [*redact.from_user(user), *redact.url_password(cluster.get("proxy-url")),
               *redact.url_password(str(raw_server))]
    ca_pem, ca_source = _ca(cluster, problems)
    file_problems, file_secrets = _user_files(user)
    problems += file_problems
    secrets += file_secrets
    insecure = cluster.get("insecure-skip-tls-verify") is True
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
    auth = _auth(user, env)
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
            auth=auth,
            context=chosen,
            cluster=cluster_name,
            kubeconfig=file_list,
        ),
        tuple(problems),
        tuple(secrets),
        _user_secrets(user, auth) if with_credentials else None,
    )
