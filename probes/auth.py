"""Can kubectl's authentication run here? An exec plugin (kubelogin, aws) must be on PATH,
and the removed in-tree azure/gcp auth providers no longer work at all. For kubelogin and
`aws eks get-token`, also what the plugin will make of its arguments and environment
(:func:`plugin_facts`): the login mode and whether it needs a person, --server-id, the
variables a CI runner sets for workload identity, the AWS profile and region.

Needs: nothing; sends no packet and runs no plugin. Failure kinds: auth.exec_missing,
auth.provider_removed.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probes.base import Failure, ProbeContext, ProbeResult, Status
from probes.ci import detect_ci

REMOVED_PROVIDERS = {"azure": "kubelogin convert-kubeconfig -l azurecli",
                     "gcp": "install gke-gcloud-auth-plugin and re-run gcloud container clusters get-credentials"}
# kubelogin's login modes that need a person at a browser or terminal.
INTERACTIVE_LOGINS = ("devicecode", "interactive")
_MAX_AWS_CONFIG_BYTES = 1024 * 1024


def probe(ctx: ProbeContext, method: str, exec_command: str | None, provider: str | None, *,
          exec_args: Sequence[str] = (), exec_env_names: Sequence[str] = (),
          exec_settings: Mapping[str, str] | None = None, stdin_tty: bool = False) -> ProbeResult:
    facts: dict[str, Any] = {"method": method, "exec_command": exec_command, "provider": provider}
    if method == "exec" and exec_command:
        found = (exec_command if os.access(exec_command, os.X_OK) else None) if "/" in exec_command \
            else shutil.which(exec_command, path=ctx.env.get("PATH", os.defpath))
        facts["found"] = found
        plugin = plugin_facts(exec_command, exec_args, exec_env_names, exec_settings or {}, ctx.env,
                              stdin_tty=stdin_tty)
        if plugin:
            facts["plugin"] = plugin
        if not found:
            return ProbeResult("auth", method, Status.FAILED, 0.0, facts=facts, failure=Failure(
                "auth.exec_missing", f"the exec plugin {exec_command!r} is not on PATH"))
    if method == "auth-provider" and provider in REMOVED_PROVIDERS:
        facts["migrate"] = REMOVED_PROVIDERS[provider]
        return ProbeResult("auth", method, Status.FAILED, 0.0, facts=facts, failure=Failure(
            "auth.provider_removed", f"the {provider} auth provider was removed from kubectl 1.26"))
    return ProbeResult("auth", method, Status.OK, 0.0, facts=facts)


def flag(args: Sequence[str], *names: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` (the last one given, as cobra and
    argparse take it); None when absent."""
    value = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def plugin_facts(command: str, args: Sequence[str], env_names: Sequence[str],
                 settings: Mapping[str, str], env: Mapping[str, str], *, stdin_tty: bool) -> dict[str, Any]:
    """What kubelogin or the AWS CLI will do with this stanza, as facts (no values of the
    environment beyond the names and settings they are about)."""
    name = command.rsplit("/", 1)[-1]
    ci = detect_ci(env)
    base = {"tool": name, "stdin_terminal": stdin_tty, "ci": ci.name if ci else None}
    if name == "kubelogin" and "get-token" in args:
        mode_env = settings.get("AAD_LOGIN_METHOD") or env.get("AAD_LOGIN_METHOD")
        login = flag(args, "--login", "-l")
        # kubelogin takes AAD_LOGIN_METHOD over --login; devicecode is its default.
        mode = (mode_env or login or "devicecode").lower()
        set_names = sorted({n for n in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID")
                            if n in env_names or env.get(n)})
        return {**base, "login": mode, "login_from": "AAD_LOGIN_METHOD" if mode_env else
                ("--login" if login else "default"),
                "interactive_login": mode in INTERACTIVE_LOGINS,
                "server_id": flag(args, "--server-id") is not None,
                "workload_identity_vars": set_names}
    if name == "aws" and "eks" in args and "get-token" in args:
        return {**base, **_aws(args, settings, env), "cluster_name": flag(args, "--cluster-name"),
                "cluster_id": flag(args, "--cluster-id")}
    if name == "aws-iam-authenticator":
        return {**base, **_aws(args, settings, env), "cluster_name": flag(args, "-i", "--cluster-id")}
    return {}


def _aws(args: Sequence[str], settings: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    """The profile and region the AWS CLI will use, and whether its files define that profile."""
    def setting(*names: str) -> str | None:
        for n in names:
            if settings.get(n):
                return settings[n]
        for n in names:
            if env.get(n):
                return env[n]
        return None

    profile = flag(args, "--profile")
    profile_from = "--profile"
    if profile is None:
        profile = setting("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
        profile_from = "AWS_PROFILE"
    region = flag(args, "--region") or setting("AWS_REGION", "AWS_DEFAULT_REGION")
    home = env.get("HOME") or str(Path.home())
    config = setting("AWS_CONFIG_FILE") or str(Path(home) / ".aws" / "config")
    credentials = env.get("AWS_SHARED_CREDENTIALS_FILE") or str(Path(home) / ".aws" / "credentials")
    out: dict[str, Any] = {"region": region, "profile": profile, "profile_from": profile_from if profile else None,
                           "aws_config": config}
    if profile:
        defined = _profiles(config, prefixed=True) | _profiles(credentials, prefixed=False)
        # Static keys in the environment make a missing profile irrelevant only when no
        # profile is named; a named profile must exist (the CLI stops with "could not be found").
        out["profile_defined"] = profile in defined
    return out


def _profiles(path: str, *, prefixed: bool) -> set[str]:
    """Profile names in an AWS config ([profile NAME], [default]) or credentials ([NAME]) file."""
    try:
        p = Path(path).expanduser()
        if p.stat().st_size > _MAX_AWS_CONFIG_BYTES:
            return set()
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        # A broken file still names its sections; read them line by line.
        sections = re.findall(r"^\s*\[([^\]]+)\]", text, re.M)
    else:
        sections = parser.sections()
    out = set()
    for s in sections:
        s = s.strip()
        if prefixed and s.startswith("profile "):
            out.add(s[len("profile "):].strip())
        elif s == "default" or not prefixed:
            out.add(s)
    return out
