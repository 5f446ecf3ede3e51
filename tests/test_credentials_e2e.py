"""--check-auth end to end on loopback: the real command, exec-plugin stand-ins, and an API
server stand-in that validates bearer tokens and client certificates, each case next to the
real kubectl with the same kubeconfig and environment (the verdict must be kubectl's)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from agent.lab import pki
from tests.support import plugins
from tests.support.servers import REPO, apiserver

HOST = "aks-auth-dns-7c1e2f3a.hcp.westeurope.azmk8s.io"
TOKEN = "kr-auth-good-token-5e1b7c0d9a8f"
EXPIRED = "kr-auth-expired-token-3f9e0a1b2c4d"
SPN_SECRET = "spn-Secret~Value.9f8e7d6c5b4a"
BASE_ENV = {"PATH": "/usr/bin:/bin", "KUBEREACH_DMI_DIR": "/nonexistent"}


@pytest.fixture(scope="module")
def ca():
    return pki.make_ca("ca")


@pytest.fixture(scope="module")
def leaf(ca):
    return pki.make_server_cert(ca, "apiserver", [HOST], [])




def kubeconfig(path: Path, port: int, ca_pem: bytes, user: dict, **cluster) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "auth",
           "clusters": [{"name": "auth", "cluster": {
               "server": f"https://127.0.0.1:{port}", "tls-server-name": HOST,
               "certificate-authority-data": base64.b64encode(ca_pem).decode(), **cluster}}],
           "users": [{"name": "auth", "user": user}],
           "contexts": [{"name": "auth", "context": {"cluster": "auth", "user": "auth"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def exec_user(command: Path, args: list[str], *, env: dict | None = None, mode: str = "IfAvailable",
              cluster_info: bool = False) -> dict:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(command),
                     "args": args, "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                     "interactiveMode": mode, "provideClusterInfo": cluster_info}}


def kubereach(kc: Path, *extra: str, env: dict | None = None, check: bool = True) -> tuple[dict, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kc),
                           "--format", "json", "--timeout", "2", *(["--check-auth"] if check else []), *extra],
                          capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
                          env={**BASE_ENV, "HOME": str(kc.parent), **(env or {})})
    elapsed = time.monotonic() - started
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert (proc.returncode == 0) == (doc["verdict"] == "reachable")
    return doc, proc.stdout + proc.stderr, elapsed


def run_kubectl(binary: str, kc: Path, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "--kubeconfig", str(kc), "get", "--raw", "/version", "--request-timeout=5s"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**BASE_ENV, "HOME": str(kc.parent), **(env or {})})


def codes(doc: dict, severity: str) -> list[str]:
    return sorted(f["code"] for f in doc["findings"] if f["severity"] == severity)


def finding(doc: dict, code: str) -> dict:
    return next(f for f in doc["findings"] if f["code"] == code)


def auth_step(doc: dict) -> dict:
    return next(s for s in doc["path"] if s["step"] == "auth")


def test_exec_token_accepted_as_kubectl_runs_the_plugin(tmp_path, ca, leaf, kubectl):
    plugin = plugins.token_plugin(tmp_path, TOKEN)
    kc = kubeconfig(tmp_path / "kc", 0, ca.cert_pem, {})
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["get-token", "--login", "spn", "--server-id", "x"],
                                  env={"AAD_SERVICE_PRINCIPAL_CLIENT_SECRET": SPN_SECRET}, cluster_info=True))
        k = run_kubectl(kubectl, kc)
        by_kubectl = plugins.seen(plugin)
        doc, out, _ = kubereach(kc)
        by_kubereach = plugins.seen(plugin)
    assert k.returncode == 0, k.stderr
    assert doc["verdict"] == "reachable", doc["findings"]
    assert codes(doc, "blocker") == []
    # Run as kubectl runs it: same args, same KUBERNETES_EXEC_INFO (cluster info included),
    # not interactive (no terminal), the exec env merged over the process env.
    assert by_kubereach["info"] == by_kubectl["info"]
    assert by_kubereach["info"]["spec"]["interactive"] is False
    assert by_kubereach["info"]["spec"]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    assert by_kubereach["argv"] == by_kubectl["argv"]
    assert by_kubereach["stdin_tty"] is False
    assert "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET" in by_kubereach["env_names"]
    assert set(by_kubectl["env_names"]) - {"KUBERNETES_EXEC_INFO"} <= set(by_kubereach["env_names"])
    assert "kreach-admin" in finding(doc, "auth.accepted")["detail"]
    assert "2 groups" in auth_step(doc)["detail"]
    assert TOKEN not in out and SPN_SECRET not in out


def test_expired_static_token_is_401_like_kubectl(tmp_path, ca, leaf, kubectl):
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem, {"token": EXPIRED})
        k = run_kubectl(kubectl, kc)
        doc, out, _ = kubereach(kc)
        unchecked, _, _ = kubereach(kc, check=False)
    assert k.returncode == 1 and "Unauthorized" in k.stderr
    assert doc["verdict"] == "unreachable"
    assert codes(doc, "blocker") == ["auth.unauthorized"]
    assert auth_step(doc)["status"] == "failed"
    # The network path itself is fine, and is shown so.
    assert all(s["status"] == "ok" for s in doc["path"] if s["step"] in ("tcp", "tls", "http"))
    # Without --check-auth kubereach says it did not look, rather than pretending.
    assert unchecked["verdict"] == "reachable"
    assert "credentials not checked" in auth_step(unchecked)["detail"]
    assert EXPIRED not in out


def test_client_certificate_from_another_ca_is_401_like_kubectl(tmp_path, ca, leaf, kubectl):
    # Another subject: the stand-in's handshake must tell the two CAs apart (see its docstring).
    client_ca, other_ca = pki.make_ca("client-ca"), pki.make_ca("client-ca-of-another-cluster")
    good = pki.make_client_cert(client_ca, "alice", ["devs"])
    foreign = pki.make_client_cert(other_ca, "alice", ["devs"])

    def user(pair):
        return {"client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                "client-key-data": base64.b64encode(pair.key_pem).decode()}

    with apiserver(tmp_path, leaf, token=TOKEN, client_ca=client_ca, known_client_cas=(other_ca,)) as port:
        kc_good = kubeconfig(tmp_path / "good", port, ca.cert_pem, user(good))
        kc_bad = kubeconfig(tmp_path / "bad", port, ca.cert_pem, user(foreign))
        k_good, k_bad = run_kubectl(kubectl, kc_good), run_kubectl(kubectl, kc_bad)
        ok, out_ok, _ = kubereach(kc_good)
        bad, out_bad, _ = kubereach(kc_bad)
    assert k_good.returncode == 0 and k_bad.returncode == 1, (k_good.stderr, k_bad.stderr)
    assert "Unauthorized" in k_bad.stderr
    assert ok["verdict"] == "reachable" and "alice" in finding(ok, "auth.accepted")["detail"]
    assert bad["verdict"] == "unreachable"
    assert codes(bad, "blocker") == ["auth.unauthorized"]
    assert "client certificate is not signed" in finding(bad, "auth.unauthorized")["fix"]
    key_line = next(ln for ln in foreign.key_pem.decode().splitlines() if "---" not in ln)
    assert key_line not in out_bad and key_line not in out_ok


def test_plugin_error_is_reported_with_its_cause(tmp_path, ca, leaf, kubectl):
    plugin = plugins.failing_plugin(tmp_path, plugins.AADSTS7000215 + f"secret was {SPN_SECRET}\n")
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["get-token", "--login", "spn", "--server-id", "x"],
                                  env={"AAD_SERVICE_PRINCIPAL_CLIENT_SECRET": SPN_SECRET}))
        k = run_kubectl(kubectl, kc)
        doc, out, _ = kubereach(kc)
    assert k.returncode == 1 and "failed with exit code 1" in k.stderr
    assert codes(doc, "blocker") == ["auth.exec_failed"]
    f = finding(doc, "auth.exec_failed")
    assert "exit code 1" in f["detail"] and "AADSTS7000215" in f["detail"]
    assert "client secret is wrong" in f["fix"]
    assert SPN_SECRET not in out  # the plugin echoed it; kubereach did not pass it on


def test_aws_sso_session_expired(tmp_path, ca, leaf, kubectl):
    plugin = plugins.failing_plugin(tmp_path, plugins.SSO_EXPIRED, code=255, name="aws")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[profile dev]\nsso_session = corp\nregion = eu-west-1\n")
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "prod"],
                                  env={"AWS_PROFILE": "dev"}))
        k = run_kubectl(kubectl, kc)
        doc, _, _ = kubereach(kc)
    assert k.returncode == 1
    assert codes(doc, "blocker") == ["auth.exec_failed"]
    f = finding(doc, "auth.exec_failed")
    assert "exit code 255" in f["detail"]
    assert "aws sso login --profile dev" in f["fix"]
    assert "auth.aws_profile_undefined" not in codes(doc, "warning")  # dev is defined


def test_device_code_in_ci_is_stopped_at_the_timeout(tmp_path, ca, leaf, kubectl):
    plugin = plugins.device_code_plugin(tmp_path, wait_s=6)
    ci = {"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted"}
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["get-token", "--login", "devicecode", "--server-id", "x"]))
        k = run_kubectl(kubectl, kc, env=ci)
        doc, _, elapsed = kubereach(kc, env=ci)
    assert k.returncode == 1, k.stderr
    assert codes(doc, "blocker") == ["auth.interactive_required"]
    assert "auth.interactive_login" in codes(doc, "warning")
    assert "F7K2QX9LM" in finding(doc, "auth.interactive_required")["detail"]  # the prompt, quoted
    # Bounded by --timeout (2 s; the check's deadline is twice that), not by the plugin's 6 s.
    assert elapsed < 5.5, elapsed


def test_interactive_mode_always_without_terminal(tmp_path, ca, leaf, kubectl):
    plugin = plugins.token_plugin(tmp_path, TOKEN)
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem, exec_user(plugin, ["get-token"], mode="Always"))
        k = run_kubectl(kubectl, kc)
        doc, _, _ = kubereach(kc)
    assert k.returncode == 1 and "standard input is not a terminal" in k.stderr
    assert codes(doc, "blocker") == ["auth.interactive_required"]
    assert not Path(str(plugin) + ".seen.json").exists()  # neither ran it


def test_old_cluster_without_selfsubjectreview_falls_back_to_version(tmp_path, ca, leaf, kubectl):
    with apiserver(tmp_path, leaf, token=TOKEN, selfsubjectreview=False) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem, {"token": TOKEN})
        k = run_kubectl(kubectl, kc)
        doc, _, _ = kubereach(kc)
    assert k.returncode == 0
    assert doc["verdict"] == "reachable"
    assert "GET /version" in finding(doc, "auth.accepted")["detail"]


def test_forbidden_identity(tmp_path, ca, leaf, kubectl):
    nobody = "kr-auth-nobody-token-77aa66bb"
    with apiserver(tmp_path, leaf, token=TOKEN, forbidden_token=nobody) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem, {"token": nobody})
        k = run_kubectl(kubectl, kc)
        doc, out, _ = kubereach(kc)
    assert k.returncode == 1 and "Forbidden" in k.stderr
    assert codes(doc, "blocker") == ["auth.forbidden"]
    assert nobody not in out


def test_credential_is_not_sent_without_verified_tls(tmp_path, ca, leaf):
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        doc_path = kubeconfig(tmp_path / "kc", port, ca.cert_pem, {"token": TOKEN})
        raw = yaml.safe_load(doc_path.read_text())
        cluster = raw["clusters"][0]["cluster"]
        del cluster["certificate-authority-data"]
        cluster["insecure-skip-tls-verify"] = True
        doc_path.write_text(yaml.safe_dump(raw))
        doc, _, _ = kubereach(doc_path)
    assert all(p["probe"] != "auth.review" or p["status"] == "skipped" for p in doc["probes"])
    assert "auth.not_checked" in codes(doc, "info")
    assert auth_step(doc)["status"] == "error"
    assert doc["verdict"] == "unreachable"  # not checked never counts as a pass


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "junit", "github", "azure-devops"])
def test_planted_credentials_appear_in_no_output(tmp_path, ca, leaf, fmt):
    """Token from the plugin (which also echoes it and the secret on stderr), the exec env's
    secret: in no format, no --output file, no -v line."""
    plugin = plugins.token_plugin(tmp_path, TOKEN, echo_secret_env="AAD_SERVICE_PRINCIPAL_CLIENT_SECRET")
    with apiserver(tmp_path, leaf, token="other-token-so-it-is-401") as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["get-token", "--login", "spn", "--server-id", "x",
                                           "--client-secret", SPN_SECRET],
                                  env={"AAD_SERVICE_PRINCIPAL_CLIENT_SECRET": SPN_SECRET}))
        files = {f: tmp_path / f"out.{f}" for f in ("json", "junit", "markdown")}
        proc = subprocess.run([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kc), "--check-auth",
                               "--timeout", "2", "--format", fmt, "-v",
                               *(a for f, p in files.items() for a in ("--output", f"{f}={p}"))],
                              capture_output=True, text=True, timeout=60, cwd=REPO, stdin=subprocess.DEVNULL,
                              env={**BASE_ENV, "HOME": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr
    texts = [proc.stdout, proc.stderr, *(p.read_text() for p in files.values())]
    assert "auth.unauthorized" in texts[0] + texts[1]
    for text in texts:
        assert TOKEN not in text
        assert SPN_SECRET not in text


def test_ctrl_c_stops_a_plugin_that_is_still_waiting(tmp_path, ca, leaf):
    # The plugin runs in a session of its own (the terminal's Ctrl-C must not reach it
    # first); kubereach's interrupt must end it, not leave it polling for a sign-in.
    import os
    import signal

    plugin = plugins.device_code_plugin(tmp_path, wait_s=30.5)
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["get-token", "--login", "devicecode", "--server-id", "x"]))
        proc = subprocess.Popen([sys.executable, "-m", "agent", "diagnose", "--kubeconfig", str(kc),
                                 "--timeout", "20", "--check-auth"], cwd=REPO, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**BASE_ENV, "HOME": str(tmp_path)})

        def plugin_pids() -> list[int]:
            found = subprocess.run(["pgrep", "-f", str(plugin)], capture_output=True, text=True).stdout
            return [int(p) for p in found.split()]

        ends = time.monotonic() + 10
        while not plugin_pids() and time.monotonic() < ends:
            time.sleep(0.05)
        started = plugin_pids()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        time.sleep(0.2)
        left = plugin_pids()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert started, "the plugin never started"
    assert (proc.returncode, err.strip()) == (130, "kubereach: interrupted")
    assert left == []


def test_aws_eks_get_token_credential_accepted_and_its_token_shape_never_shown(tmp_path, ca, leaf, kubectl):
    # `aws eks get-token` prints a presigned STS URL as a bearer token, 'k8s-aws-v1.' + base64.
    # The stand-in also prints an older token on stderr, as a debug line would: kubereach
    # was never told that one, so only its shape can keep it out of the report.
    eks_token = "k8s-aws-v1.aHR0cHM6Ly9zdHMuZXUtd2VzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eQ"
    stale = "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_U3RhbGVUb2tlbg"
    plugin = plugins.token_plugin(tmp_path, eks_token, name="aws",
                                  api_version="client.authentication.k8s.io/v1beta1")
    plugin.write_text(plugin.read_text().replace(
        "print(json.dumps(", f"sys.stderr.write('debug: cached token {stale}\\n')\nprint(json.dumps(", 1))
    with apiserver(tmp_path, leaf, token=eks_token) as port:
        kc = kubeconfig(tmp_path / "kc", port, ca.cert_pem,
                        exec_user(plugin, ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "kreach"]))
        k = run_kubectl(kubectl, kc)
        doc, out, _ = kubereach(kc)
    assert k.returncode == 0, k.stderr
    assert doc["verdict"] == "reachable", doc["findings"]
    assert codes(doc, "blocker") == []
    assert auth_step(doc)["status"] == "ok"
    exec_probe = next(p for p in doc["probes"] if p["probe"] == "auth.exec")
    assert "debug: cached token REDACTED" in exec_probe["facts"]["stderr"]
    assert eks_token not in out and stale not in out and "aHR0cHM6Ly9zdHMu" not in out
