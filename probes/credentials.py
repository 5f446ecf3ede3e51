"""Are kubectl's credentials accepted? Only with ``--check-auth``: runs the exec plugin
exactly as kubectl does, then presents what it (or the kubeconfig) gives in one request.

    auth.exec    the plugin: command, args, env merged over this process's env,
                 KUBERNETES_EXEC_INFO (spec.interactive; spec.cluster when
                 provideClusterInfo), stdin only when interactive, bounded by --timeout
                 (the process group is killed then). Failure kinds: auth.exec_failed,
                 auth.interactive_required.
    auth.review  POST /apis/authentication.k8s.io/v1/selfsubjectreviews with the credential
                 (GET /version when the server has no such API: 404), sent only over TLS
                 that verified against the kubeconfig's CA. Failure kinds:
                 auth.unauthorized, auth.forbidden, auth.error.

The credential lives in a :class:`Credential`, which prints as REDACTED and never enters
a ProbeResult: facts hold only what it is (a token or a certificate), when it expires,
and what the API server said about it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from probes.base import Failure, ProbeContext, ProbeResult, Status
from probes.http import BodyTooLarge, cap_body, tunnel_transport

REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
_REVIEW_BODY = json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode()
MAX_OUTPUT_BYTES = 256 * 1024  # an ExecCredential is a few kB; a plugin may print much more
_STDERR_SHOWN = 600
_MAX_BODY = 64 * 1024  # a SelfSubjectReview, a Status or a version document is under 2 kB


class Credential:
    """What kubectl would present: a bearer token or a client certificate and key.
    Deliberately not a dataclass: its repr, str and comparisons reveal nothing."""

    __slots__ = ("cert_pem", "expires", "key_pem", "source", "token")

    def __init__(self, *, token: str | None = None, cert_pem: bytes | None = None,
                 key_pem: bytes | None = None, expires: str | None = None, source: str = "") -> None:
        self.token = token
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.expires = expires
        self.source = source  # "exec", "token", "token-file", "client-certificate"

    @property
    def kind(self) -> str:
        return "token" if self.token else "client-certificate"

    def secrets(self) -> list[str]:
        """Every form in which the credential could turn up in text."""
        out: list[str] = []
        if self.token:
            out.append(self.token)
        if self.key_pem:
            text = self.key_pem.decode("utf-8", "replace").strip()
            out += [text, *(ln for ln in text.splitlines() if "-----" not in ln)]
            out.append(base64.b64encode(self.key_pem).decode())
        return out

    def __repr__(self) -> str:
        return f"Credential({self.kind}, REDACTED)"

    __str__ = __repr__


@dataclass(frozen=True)
class ExecSpec:
    """The exec stanza with its env values: handed to the plugin, never to a report."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    api_version: str = "client.authentication.k8s.io/v1beta1"
    interactive_mode: str | None = None
    provide_cluster_info: bool = False


@dataclass(frozen=True)
class UserSecrets:
    """What the kubeconfig's user entry authenticates with; read only under --check-auth."""

    token: str | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    exec: ExecSpec | None = None
    source: str = ""

    def static_credential(self) -> Credential | None:
        if self.token:
            return Credential(token=self.token, source=self.source)
        if self.cert_pem and self.key_pem:
            return Credential(cert_pem=self.cert_pem, key_pem=self.key_pem, source=self.source)
        return None


@dataclass(frozen=True)
class ClusterInfo:
    """spec.cluster of KUBERNETES_EXEC_INFO, when provideClusterInfo is set."""

    server: str
    ca_pem: bytes | None = None
    tls_server_name: str | None = None
    insecure_skip_tls_verify: bool = False
    proxy_url: str | None = None


# --- the plugin run ---------------------------------------------------------------------

def stdin_is_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def interactive(mode: str | None, stdin_tty: bool) -> tuple[bool, str | None]:
    """-> (interactive, error): client-go's rule. Never: not interactive; IfAvailable (and
    unset, for v1beta1): when stdin is a terminal; Always: stdin must be a terminal."""
    if mode == "Never":
        return False, None
    if mode == "Always" and not stdin_tty:
        return False, "exec plugin cannot support interactive mode: standard input is not a terminal"
    return stdin_tty, None


def exec_info(spec: ExecSpec, is_interactive: bool, cluster: ClusterInfo | None) -> str:
    doc: dict[str, Any] = {"kind": "ExecCredential", "apiVersion": spec.api_version,
                           "spec": {"interactive": is_interactive}}
    if spec.provide_cluster_info and cluster is not None:
        c: dict[str, Any] = {"server": cluster.server}
        if cluster.tls_server_name:
            c["tls-server-name"] = cluster.tls_server_name
        if cluster.insecure_skip_tls_verify:
            c["insecure-skip-tls-verify"] = True
        if cluster.ca_pem:
            c["certificate-authority-data"] = base64.b64encode(cluster.ca_pem).decode()
        if cluster.proxy_url:
            c["proxy-url"] = cluster.proxy_url
        c["config"] = None  # the exec extension's config; kubectl sends null without one
        doc["spec"]["cluster"] = c
    return json.dumps(doc)


# Prompts that mean the plugin waits for a person: a device code to enter in a browser
# (kubelogin devicecode, az login), a browser it tries to open, a question on stdin.
_WAITS_FOR_PERSON = re.compile(
    r"(To sign in, use a web browser|enter the code|devicelogin|device code|"
    r"open(ing)? (the|a) (default )?browser|Enter (a |your )?(password|passcode|MFA)|"
    r"aws sso login|Attempting to automatically open the SSO authorization page)", re.I)

# The plugin's own error, mapped to the cause a person can act on: (pattern, family, cause).
KNOWN_ERRORS: tuple[tuple[str, str, str], ...] = (
    (r"AADSTS700016", "entra",
     "the application (client) ID is not registered in this tenant: check --client-id/AZURE_CLIENT_ID "
     "and --tenant-id"),
    (r"AADSTS7000215", "entra",
     "the client secret is wrong: use the secret's value, not its ID, or create a new secret"),
    (r"AADSTS7000222", "entra", "the client secret has expired: create a new one for the service principal"),
    (r"AADSTS50173|AADSTS700082|AADSTS50078|AADSTS70043", "entra",
     "the cached Entra ID login has expired or was revoked: sign in again (`az login`, or "
     "`kubelogin remove-cache-dir` then retry)"),
    (r"AADSTS50076|AADSTS50079", "entra",
     "the tenant requires multi-factor authentication, which a non-interactive login cannot do: use "
     "a service principal, managed identity or workload identity"),
    (r"AADSTS53003", "entra", "a Conditional Access policy blocks this sign-in from here"),
    (r"AADSTS90002", "entra", "the tenant ID does not exist: check --tenant-id"),
    (r"AADSTS70021|AADSTS700211|AADSTS700213", "entra",
     "no federated identity credential matches this workload's token (issuer or subject): fix the "
     "app registration's federated credential"),
    (r"AADSTS700024", "entra", "the federated token has expired: the token file is stale"),
    (r"Please run 'az login'|az login.*to setup account|AzureCLICredential", "entra",
     "the Azure CLI is not signed in for this user: run `az login` (kubelogin -l azurecli uses its login)"),
    (r"The SSO session associated with this profile has expired", "aws",
     "the AWS SSO session has expired: run `aws sso login --profile {profile}`"),
    (r"ExpiredToken|security token included in the request is expired", "aws",
     "the AWS session credentials have expired: refresh them (re-run the assume-role or the pipeline's "
     "credential step)"),
    (r"Unable to locate credentials", "aws",
     "the AWS CLI finds no credentials: set AWS_PROFILE to a configured profile, or provide "
     "credentials to this process"),
    (r"The config profile \(([^)]*)\) could not be found|could not find profile", "aws",
     "AWS_PROFILE names a profile that ~/.aws/config does not define"),
    (r"InvalidClientTokenId|SignatureDoesNotMatch", "aws",
     "the AWS access key is invalid or its secret is wrong"),
)


def classify_error(text: str) -> tuple[str | None, str | None]:
    """-> (family, cause) for a plugin's stderr, or (None, None)."""
    for pattern, family, cause in KNOWN_ERRORS:
        if re.search(pattern, text):
            return family, cause
    return None, None


_TOKENISH = re.compile(r"(eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*|k8s-aws-v1\.[A-Za-z0-9_-]+)")


def scrub_output(text: str, secrets: Iterable[str]) -> str:
    """The plugin's own words, with every known secret and anything shaped like a JWT or
    an EKS token replaced: a plugin may echo what it was given or what it got."""
    # probes/ stays below agent/: the three lines of agent.redact.scrub are repeated here.
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    return _TOKENISH.sub("REDACTED", text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# Plugins run in their own session (a device-code login must not get the terminal's
# Ctrl-C first), so nothing ends them with kubereach: an interrupt stops them here.
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


def stop_running_plugins() -> None:
    """Kill every plugin still running (kubereach is being interrupted)."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        _kill_group(proc)


def _reader(stream: Any, sink: bytearray, echo: Callable[[str], None] | None) -> threading.Thread:
    def run() -> None:
        for line in iter(stream.readline, b""):
            if len(sink) < MAX_OUTPUT_BYTES:
                sink.extend(line[: MAX_OUTPUT_BYTES - len(sink)])
            if echo is not None:
                echo(line.decode("utf-8", "replace").rstrip("\n"))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def run_exec(ctx: ProbeContext, spec: ExecSpec, *, cluster: ClusterInfo | None, stdin_tty: bool,
             in_ci: bool, secrets: Iterable[str] = (),
             echo: Callable[[str], None] | None = None) -> tuple[ProbeResult, Credential | None]:
    """Run the plugin once. ``echo`` receives its stderr lines (scrubbed) when it runs
    interactively, as kubectl shows them; otherwise stderr is only kept for the report."""
    name = spec.command.rsplit("/", 1)[-1]
    started = time.monotonic()
    # A CI job's stdin is no terminal; some runners still hand one over (docker -t).
    tty = stdin_tty and not in_ci
    is_interactive, refused = interactive(spec.interactive_mode, tty)
    facts: dict[str, Any] = {"command": spec.command, "interactive": is_interactive,
                             "interactive_mode": spec.interactive_mode, "stdin_terminal": tty}
    if refused:
        return ProbeResult("auth.exec", name, Status.FAILED, 0.0, facts=facts,
                           failure=Failure("auth.interactive_required", refused)), None
    env = {**ctx.env, **dict(spec.env),
           "KUBERNETES_EXEC_INFO": exec_info(spec, is_interactive, cluster)}
    known = [*secrets, *(v for _, v in spec.env)]
    budget = max(0.05, ctx.deadline.cap(ctx.timeout_s) - 0.2)  # leave time to report
    try:
        proc = subprocess.Popen([spec.command, *spec.args], env=env,
                                stdin=None if is_interactive else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as exc:
        return ProbeResult("auth.exec", name, Status.FAILED, time.monotonic() - started, facts=facts,
                           failure=Failure("auth.exec_failed",
                                           f"{name} could not be started: {exc.strerror or type(exc).__name__}")), None
    with _running_lock:
        _running.add(proc)
    out, err = bytearray(), bytearray()
    shown = (lambda line: echo(scrub_output(line, known))) if (echo and is_interactive) else None
    readers = [_reader(proc.stdout, out, None), _reader(proc.stderr, err, shown)]
    timed_out = False
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        proc.wait()
    finally:
        with _running_lock:
            _running.discard(proc)
    for t in readers:
        t.join(1.0)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    elapsed = time.monotonic() - started
    stderr_text = err.decode("utf-8", "replace")
    credential = None if timed_out or proc.returncode != 0 else _parse(bytes(out), spec.api_version)
    if isinstance(credential, Credential):
        known += credential.secrets()
    shown_err = scrub_output(stderr_text, known).strip()
    facts.update({"exit_code": None if timed_out else proc.returncode,
                  "stderr": shown_err[-_STDERR_SHOWN:] if shown_err else ""})
    family, cause = classify_error(stderr_text)
    if family:
        facts.update({"error_family": family, "cause": cause})
    if timed_out:
        waits = bool(_WAITS_FOR_PERSON.search(stderr_text))
        kind = "auth.interactive_required" if waits else "auth.exec_failed"
        detail = (f"{name} was still running after {budget:.1f} s and was stopped"
                  + ("; it is waiting for someone to sign in" if waits else ""))
        return ProbeResult("auth.exec", name, Status.FAILED, elapsed, facts=facts,
                           failure=Failure(kind, detail)), None
    if proc.returncode != 0:
        waits = bool(_WAITS_FOR_PERSON.search(stderr_text)) and not family
        kind = "auth.interactive_required" if waits and not is_interactive else "auth.exec_failed"
        return ProbeResult("auth.exec", name, Status.FAILED, elapsed, facts=facts, failure=Failure(
            kind, f"executable {name} failed with exit code {proc.returncode}")), None
    if isinstance(credential, str):
        return ProbeResult("auth.exec", name, Status.FAILED, elapsed, facts=facts,
                           failure=Failure("auth.exec_failed", f"{name} exited 0 but {credential}")), None
    assert credential is not None
    facts.update({"credential": credential.kind, "expires": credential.expires})
    return ProbeResult("auth.exec", name, Status.OK, elapsed, facts=facts), credential


def _parse(stdout: bytes, api_version: str) -> Credential | str:
    """The ExecCredential on stdout, or why it is not one (kubectl's checks)."""
    try:
        doc = json.loads(stdout.decode("utf-8", "replace"))
    except ValueError:
        return "its output is not an ExecCredential (not JSON)"
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        return "its output is not an ExecCredential"
    if doc.get("apiVersion") != api_version:
        return (f"it answered with apiVersion {str(doc.get('apiVersion'))[:60]!r}, "
                f"while the kubeconfig asks for {api_version!r}")
    status = doc.get("status")
    if not isinstance(status, dict):
        return "its ExecCredential has no status"
    expires = status.get("expirationTimestamp")
    expires = expires if isinstance(expires, str) else None
    token = status.get("token")
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if isinstance(token, str) and token:
        return Credential(token=token, expires=expires, source="exec")
    if isinstance(cert, str) and isinstance(key, str) and cert and key:
        return Credential(cert_pem=cert.encode(), key_pem=key.encode(), expires=expires, source="exec")
    return "its ExecCredential holds neither a token nor a client certificate and key"


# --- the authenticated request ------------------------------------------------------------

@contextlib.contextmanager
def _key_files(credential: Credential):
    """The certificate and key as file paths for ssl, kept in memory (memfd) where the
    kernel allows: the key is never written to a disk."""
    fds: list[int] = []
    try:
        paths = []
        for data in (credential.cert_pem or b"", credential.key_pem or b""):
            fd = os.memfd_create("kubereach-cred", 0)
            fds.append(fd)
            os.write(fd, data)
            paths.append(f"/proc/self/fd/{fd}")
        yield paths[0], paths[1]
    finally:
        for fd in fds:
            os.close(fd)


def _status_message(body: bytes) -> tuple[str | None, str | None]:
    try:
        doc = json.loads(body[:65536].decode("utf-8", "replace"))
    except ValueError:
        return None, None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return (str(doc.get("message"))[:200] if doc.get("message") else None,
                str(doc.get("reason"))[:60] if doc.get("reason") else None)
    return None, None


def review(ctx: ProbeContext, subject: str, credential: Credential, *, url_host: str, port: int,
           host_header: str, sni: str, ca_pem: bytes | None, secrets: Iterable[str] = (),
           proxy: str | None = None, tunnel: Callable[[], socket.socket] | None = None) -> ProbeResult:
    """One SelfSubjectReview with the credential; GET /version with it on 404 (before
    Kubernetes 1.28) or 403 (no RBAC for the review), to tell 'authenticated' apart.

    The request takes kubectl's way: ``url_host`` dialled directly, or through the HTTP
    proxy ``proxy`` (a URL, CONNECT to ``url_host``), or over ``tunnel()`` (a SOCKS5 tunnel
    already opened by name)."""
    import ssl

    import httpx

    started = time.monotonic()
    budget = ctx.deadline.cap(ctx.timeout_s)
    known = [*secrets, *credential.secrets()]
    verify = ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace")) if ca_pem \
        else ssl.create_default_context()
    headers = {"Host": host_header, "Accept": "application/json", "Accept-Encoding": "identity",
               "User-Agent": "kubereach (credential check)"}
    if credential.token:
        headers["Authorization"] = f"Bearer {credential.token}"
    netloc = f"[{url_host}]" if ":" in url_host else url_host
    base = f"https://{netloc}:{port}"
    facts: dict[str, Any] = {"credential": credential.kind, "source": credential.source,
                             "expires": credential.expires}
    ext = {"sni_hostname": sni}
    try:
        with contextlib.ExitStack() as stack:
            if credential.cert_pem and credential.key_pem:
                cert_path, key_path = stack.enter_context(_key_files(credential))
                verify.load_cert_chain(cert_path, key_path)
            # The transport is built after the client certificate is loaded into ``verify``.
            transport = tunnel_transport(verify, tunnel) if tunnel is not None else None
            client = stack.enter_context(httpx.Client(verify=verify, trust_env=False, proxy=proxy,
                                                      transport=transport, follow_redirects=False,
                                                      timeout=budget,
                                                      event_hooks={"response": [cap_body(_MAX_BODY)]}))
            r = client.post(base + REVIEW_PATH, content=_REVIEW_BODY,
                            headers={**headers, "Content-Type": "application/json"}, extensions=ext)
            facts["review_status"] = r.status_code
            body = r.content[:65536]
            if r.status_code in (200, 201):
                return _accepted(subject, started, facts, body)
            fallback = None
            if r.status_code in (403, 404):
                left = max(0.05, budget - (time.monotonic() - started))
                fallback = client.get(base + "/version", headers=headers, extensions=ext, timeout=left)
                facts["version_status"] = fallback.status_code
    except (httpx.HTTPError, ssl.SSLError, OSError, ValueError, BodyTooLarge) as exc:
        detail = scrub_output(str(exc) or type(exc).__name__, known)[:200]
        return ProbeResult("auth.review", subject, Status.FAILED, time.monotonic() - started, facts=facts,
                           failure=Failure("auth.error", f"the authenticated request failed: {detail}"))
    elapsed = time.monotonic() - started
    final = fallback if fallback is not None and fallback.status_code != 404 else r
    message, reason = _status_message(final.content)
    if message:
        facts["message"] = scrub_output(message, known)
    if reason:
        facts["reason"] = reason
    if fallback is not None and fallback.status_code == 200:
        facts["accepted_by"] = "GET /version"
        if r.status_code == 403:
            msg, _ = _status_message(body)
            facts["review_message"] = scrub_output(msg, known) if msg else None
        return ProbeResult("auth.review", subject, Status.OK, elapsed, facts=facts)
    if final.status_code == 401:
        return ProbeResult("auth.review", subject, Status.FAILED, elapsed, facts=facts, failure=Failure(
            "auth.unauthorized", f"the API server answered 401 {reason or 'Unauthorized'}"))
    if final.status_code == 403:
        return ProbeResult("auth.review", subject, Status.FAILED, elapsed, facts=facts, failure=Failure(
            "auth.forbidden", f"the API server answered 403 {reason or 'Forbidden'}"
            + (f": {facts['message']}" if message else "")))
    return ProbeResult("auth.review", subject, Status.FAILED, elapsed, facts=facts, failure=Failure(
        "auth.error", f"the API server answered HTTP {final.status_code} to the authenticated request"))


def _accepted(subject: str, started: float, facts: dict[str, Any], body: bytes) -> ProbeResult:
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
        info = doc.get("status", {}).get("userInfo", {}) if isinstance(doc, dict) else {}
    except (ValueError, AttributeError):
        info = {}
    groups = info.get("groups") if isinstance(info, dict) else None
    user = info.get("username") if isinstance(info, dict) else None
    facts.update({"accepted_by": "SelfSubjectReview",
                  "user": str(user)[:200] if user else None,
                  "groups": len(groups) if isinstance(groups, list) else 0})
    return ProbeResult("auth.review", subject, Status.OK, time.monotonic() - started, facts=facts)


def not_run(subject: str, reason: str, facts: Mapping[str, Any] | None = None) -> ProbeResult:
    return ProbeResult("auth.review", subject, Status.SKIPPED, 0.0, facts=dict(facts or {}), reason=reason)
