"""`kubereach remote`: the Job manifest against the Kubernetes OpenAPI schema (batch/v1 Job,
shipped offline by kubernetes-validate), its limits against the command-invoke pod's, and
the az line's quoting (shlex round trip)."""

from __future__ import annotations

import base64
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from agent import cli, remote
from agent.lab import pki

FIXTURES = Path(__file__).parent / "fixtures"
AKS_PRIVATE = FIXTURES / "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2021-10-01_azcli-recording.json"
AKS_PUBLIC = FIXTURES / "azure_aks_managedcluster_public_get_2024-09-01_spec-example.json"
EKS = FIXTURES / "aws_eks_describe-cluster_public-and-private_restricted-cidr_awscli.json"
# The command-invoke pod's own budget: the Job must fit inside it.
INVOKE_REQUESTS = {"cpu": 0.2, "memory": 500 * 2**20}
INVOKE_LIMITS = {"cpu": 0.5, "memory": 2**30}


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def _generate(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["remote", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("cluster", [AKS_PRIVATE, AKS_PUBLIC, EKS], ids=["aks-private", "aks-public", "eks"])
def test_manifest_is_a_valid_batch_v1_job(tmp_path, capsys, cluster):
    code, out, err = _generate(capsys, "--cluster", str(cluster), "--job-name", "kubereach-t1")
    assert code == 0
    # The default image is a placeholder: said once, on stderr, with how to make a real one.
    assert err.count("\n") == 1 and "is a placeholder" in err and "--image" in err
    doc = yaml.safe_load(out)
    # strict: an unknown field anywhere (a typo in a key) fails, as kubectl --validate=strict.
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    spec = doc["spec"]
    assert spec["activeDeadlineSeconds"] == 120 and spec["ttlSecondsAfterFinished"] > 0
    assert spec["backoffLimit"] == 0
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    for kind, budget in (("requests", INVOKE_REQUESTS), ("limits", INVOKE_LIMITS)):
        for resource, most in budget.items():
            assert _quantity(container["resources"][kind][resource]) <= most
    assert container["image"] == remote.DEFAULT_IMAGE
    args = container["args"]
    assert args[0] == "in-cluster" and "--exit-zero" in args
    assert len(out.encode()) < 8 * 1024  # it travels base64-encoded inside the ARM request


def test_private_aks_job_diagnoses_both_fqdns_and_the_az_line_round_trips(capsys):
    code, out, _ = _generate(capsys, "--cluster", str(AKS_PRIVATE), "--job-name", "kubereach-t1")
    assert code == 0
    doc = yaml.safe_load(out)
    args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
    servers = [args[i + 1] for i, a in enumerate(args) if a == "--server"]
    assert [s.split("=", 1)[0] for s in servers] == ["private", "public"]
    assert ".privatelink.westus2.azmk8s.io" in servers[0] and ".hcp.westus2.azmk8s.io" in servers[1]
    comment = [line[2:] for line in out.splitlines() if line.startswith("# az ")]
    assert len(comment) == 1
    argv = shlex.split(comment[0])
    assert argv[:4] == ["az", "aks", "command", "invoke"]
    assert argv[argv.index("--resource-group") + 1] == "clitest000001"
    assert argv[argv.index("--name") + 1] == "cliakstest000001"
    assert argv[argv.index("--file") + 1] == remote.MANIFEST_NAME
    script = shlex.split(argv[argv.index("--command") + 1])
    assert script[:4] == ["kubectl", "apply", "-f", remote.MANIFEST_NAME]
    for verb in ("logs", "delete", "describe"):
        assert verb in script


def test_az_argv_survives_quoting_of_awkward_names():
    payload = remote.Payload((("public", "https://a.hcp.westeurope.azmk8s.io:443"),),
                             resource_group="rg.prod_(west)-1", cluster_name="aks-prod", subscription="s-1")
    script = remote.kubectl_script(name="kubereach-x", namespace="default",
                                   manifest_file="kubereach job's.yaml", wait_s=150)
    argv = remote.invoke_argv(payload, script=script, manifest_file="kubereach job's.yaml")
    assert argv is not None
    assert shlex.split(shlex.join(argv)) == argv
    inner = shlex.split(script)
    assert inner[:4] == ["kubectl", "apply", "-f", "kubereach job's.yaml"]


def test_context_adds_the_kubeconfig_ca_and_manifest_file(tmp_path, capsys):
    ca = pki.make_ca("ca")
    kc = tmp_path / "config"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "aks",
        "clusters": [{"name": "aks", "cluster": {
            "server": "https://kpub-dns-8e21b0d7.hcp.westeurope.azmk8s.io:443",
            "certificate-authority-data": base64.b64encode(ca.cert_pem).decode()}}],
        "users": [{"name": "u", "user": {"token": "s3cret-token-value"}}],
        "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "u"}}]}))
    target = tmp_path / "out" / "job.yaml"
    target.parent.mkdir()
    code, out, err = _generate(capsys, "--kubeconfig", str(kc), "--context", "aks", "--manifest", str(target),
                               "--resource-group", "rg1", "--cluster-name", "aks1", "--job-name", "kubereach-t2")
    assert code == 0 and "wrote" in err
    argv = shlex.split(out.strip())
    assert argv[argv.index("--file") + 1] == "job.yaml"
    doc = yaml.safe_load(target.read_text())
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
    assert base64.b64decode(args[args.index("--ca-data") + 1]) == ca.cert_pem
    assert "s3cret-token-value" not in target.read_text() + out + err


@pytest.mark.parametrize("args, message", [
    ([], "give --cluster"),
    (["--cluster", "/nonexistent/aks.json"], "/nonexistent/aks.json"),
    (["--cluster", str(AKS_PRIVATE), "--job-name", "Bad Name"], "--job-name"),
    (["--cluster", str(AKS_PRIVATE), "--namespace", "a/b"], "--namespace"),
    (["--cluster", str(AKS_PRIVATE), "--image", "a b"], "--image"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = _generate(capsys, *args)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err


_FAKE_KUBECTL = """#!/bin/bash
# A stand-in for kubectl in the command-invoke pod: the Job's story is told by env vars.
echo "$*" >> "$CALLS"
case "$*" in
  "get job"*) echo -n "$JOB_STATE";;
  "get pod"*) echo -n "$POD_WAITING";;
  "describe pod"*) echo "Events: Failed to pull image \"$IMAGE\": not found";;
  "logs"*) echo -n "$LOGS";;
esac
"""


@pytest.mark.parametrize(("job_state", "pod_waiting", "described"), [
    ("Complete", "", False),
    ("Failed", "", True),
    ("", "ErrImagePull", True),
], ids=["complete", "failed", "image-pull-error"])
def test_the_script_stops_waiting_when_the_job_cannot_finish(tmp_path, job_state, pod_waiting, described):
    # kubectl wait on 'complete' alone sat out its whole timeout for a failed Job or a pod
    # whose image cannot be pulled; the script must stop at once and show why.
    import subprocess
    import time

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").write_text(_FAKE_KUBECTL)
    (bindir / "kubectl").chmod(0o755)
    script = remote.kubectl_script(name="kubereach-x", namespace="default", manifest_file="job.yaml", wait_s=150)
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(tmp_path / "calls"),
                               "JOB_STATE": job_state, "POD_WAITING": pod_waiting, "IMAGE": "reg/kubereach:x",
                               "LOGS": '{"schema_version": 1}'})
    took = time.monotonic() - started
    calls = (tmp_path / "calls").read_text().splitlines()
    assert took < 10, (took, calls)
    assert proc.stdout == '{"schema_version": 1}'
    assert calls[0] == "apply -f job.yaml" and calls[-1].startswith("delete -f job.yaml")
    assert any(c.startswith("describe pod -n default -l job-name=kubereach-x") for c in calls) is described
    assert ("Failed to pull image" in proc.stderr) is described


def test_an_image_of_the_users_own_draws_no_note(capsys):
    code, out, err = _generate(capsys, "--cluster", str(AKS_PRIVATE), "--image", "myacr.azurecr.io/kubereach:1")
    assert (code, err) == (0, "")
    assert "image: myacr.azurecr.io/kubereach:1" in out
