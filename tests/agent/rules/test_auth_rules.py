"""The static credential traps: the exec stanza and the environment read as kubelogin and
the AWS CLI read them (no plugin run), one test per branch, exact codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.kubeconfig import load
from agent.observations import Observations
from agent.rules.auth import RULES
from agent.rules.engine import evaluate
from probes import auth
from probes.base import ProbeContext, ProbeResult, Status

EKS_HOST = "0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com"
ARN = "arn:aws:eks:eu-west-1:111122223333:cluster/prod"


class _Deadline:
    def cap(self, s: float) -> float:
        return s


def _codes(tmp_path: Path, user: dict, env: dict | None = None, *, tty: bool = False,
           host: str = "aks-1.hcp.eastus.azmk8s.io", cluster: str = "c") -> list[str]:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
           "clusters": [{"name": cluster, "cluster": {"server": f"https://{host}"}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "x", "context": {"cluster": cluster, "user": "u"}}]}
    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump(doc))
    full_env = {"HOME": str(tmp_path), "PATH": "/nonexistent", **(env or {})}
    t = load(kubeconfig=str(kc), context=None, server=None, env=full_env).target
    a = t.auth
    ctx = ProbeContext(deadline=_Deadline(), timeout_s=1, env=full_env)
    r = auth.probe(ctx, a.method, a.exec_command, a.provider, exec_args=a.exec_args,
                   exec_env_names=a.exec_env_names, exec_settings=dict(a.exec_settings), stdin_tty=tty)
    obs = Observations(target=t, results=(r, ProbeResult("vantage", "h", Status.OK, 0.0)))
    return sorted(f.code for f in evaluate(RULES, obs))


def kubelogin(*args: str, env: dict | None = None) -> dict:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
                     "args": list(args), "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}}


def aws(*args: str, env: dict | None = None) -> dict:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": list(args), "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}}


SID = ("--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630")


@pytest.mark.parametrize(("user", "env", "tty", "want"), [
    (kubelogin("get-token", "--login", "devicecode", *SID), {}, False, ["auth.interactive_login"]),
    (kubelogin("get-token", "--login", "devicecode", *SID), {}, True, []),
    (kubelogin("get-token", "--login", "devicecode", *SID), {"CI": "true"}, True, ["auth.interactive_login"]),
    (kubelogin("get-token", *SID), {}, False, ["auth.interactive_login"]),  # devicecode is the default
    (kubelogin("get-token", "-l", "interactive", *SID), {"TF_BUILD": "True"}, False, ["auth.interactive_login"]),
    # AAD_LOGIN_METHOD overrides --login, from the exec env or the process env.
    (kubelogin("get-token", "--login", "devicecode", *SID, env={"AAD_LOGIN_METHOD": "azurecli"}), {}, False, []),
    (kubelogin("get-token", "--login=spn", *SID), {"AAD_LOGIN_METHOD": "devicecode"}, False,
     ["auth.interactive_login"]),
    (kubelogin("get-token", "--login", "azurecli"), {}, False, ["auth.server_id_missing"]),
    (kubelogin("get-token", "--login", "spn", *SID), {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/t"}, False,
     ["auth.workload_identity_ignored"]),
    (kubelogin("get-token", "--login", "spn", *SID, env={"AZURE_CLIENT_ID": "x"}), {}, False,
     ["auth.workload_identity_ignored"]),
    (kubelogin("get-token", "--login", "workloadidentity", *SID), {"AZURE_FEDERATED_TOKEN_FILE": "/t"}, False, []),
])
def test_kubelogin_traps(tmp_path, user, env, tty, want):
    assert _codes(tmp_path, user, env, tty=tty) == want


def test_aws_profile_defined_or_not(tmp_path):
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion=eu-west-1\n[profile dev]\nregion=eu-west-1\n")
    (tmp_path / ".aws" / "credentials").write_text("[ci]\naws_access_key_id=AKIAEXAMPLE\n")
    args = ("eks", "get-token", "--cluster-name", "prod", "--region", "eu-west-1")
    kw = {"host": EKS_HOST, "cluster": ARN}
    assert _codes(tmp_path, aws(*args, env={"AWS_PROFILE": "dev"}), **kw) == []
    assert _codes(tmp_path, aws(*args), {"AWS_PROFILE": "ci"}, **kw) == []  # credentials file only
    assert _codes(tmp_path, aws(*args, env={"AWS_PROFILE": "prod-admin"}), **kw) == ["auth.aws_profile_undefined"]
    assert _codes(tmp_path, aws(*args, "--profile", "nope"), **kw) == ["auth.aws_profile_undefined"]
    # $AWS_CONFIG_FILE replaces ~/.aws/config.
    other = tmp_path / "other-config"
    other.write_text("[profile prod-admin]\n")
    assert _codes(tmp_path, aws(*args, env={"AWS_PROFILE": "prod-admin"}), {"AWS_CONFIG_FILE": str(other)},
                  **kw) == []


def test_eks_region_and_name_must_match_the_server(tmp_path):
    kw = {"host": EKS_HOST, "cluster": ARN}
    assert _codes(tmp_path, aws("eks", "get-token", "--cluster-name", "prod", "--region", "us-east-1"),
                  **kw) == ["auth.eks_cluster_mismatch"]
    assert _codes(tmp_path, aws("eks", "get-token", "--cluster-name", "staging", "--region", "eu-west-1"),
                  **kw) == ["auth.eks_cluster_mismatch"]
    assert _codes(tmp_path, aws("eks", "get-token", "--cluster-name", "prod"), {"AWS_REGION": "us-west-2"},
                  **kw) == ["auth.eks_cluster_mismatch"]
    assert _codes(tmp_path, aws("eks", "get-token", "--cluster-name", "prod"), {"AWS_REGION": "eu-west-1"},
                  **kw) == []


def test_exec_env_values_are_not_kept_in_the_target(tmp_path):
    secret = "s3cr3t-client-Value-0042"
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
           "clusters": [{"name": "c", "cluster": {"server": "https://h.example"}}],
           "users": [{"name": "u", "user": kubelogin("get-token", env={
               "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET": secret, "AAD_LOGIN_METHOD": "spn",
               "AWS_PROFILE": "bad\nvalue"})}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}
    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump(doc))
    loaded = load(kubeconfig=str(kc), context=None, server=None, env={"HOME": str(tmp_path)})
    assert secret not in repr(loaded.target)
    assert loaded.credentials is None  # only under --check-auth
    assert dict(loaded.target.auth.exec_settings) == {"AAD_LOGIN_METHOD": "spn"}  # not a name-like value: dropped
    assert "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET" in loaded.target.auth.exec_env_names
    with_creds = load(kubeconfig=str(kc), context=None, server=None, env={"HOME": str(tmp_path)},
                      with_credentials=True)
    assert with_creds.credentials is not None and secret not in repr(with_creds.credentials)
    assert secret not in repr(with_creds)
