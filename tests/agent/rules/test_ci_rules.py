"""cloud.hosted_ci_runner over what the real vantage probe and load_cloud_context report."""

from __future__ import annotations

import json

import pytest

from agent.cloud.context import load_cloud_context
from agent.deadline import Deadline
from agent.observations import Observations
from agent.rules.cloud import hosted_ci_runner
from agent.rules.engine import evaluate
from agent.target import Target
from probes import vantage
from probes.base import ProbeContext

HOST = "aks-1-dns-1a2b.hcp.eastus.azmk8s.io"
# `az aks show -o json`, trimmed to what the rule reads: a public cluster with authorized ranges.
AKS_SHOW = {
    "id": "/subscriptions/sub1/resourcegroups/rg1/providers/Microsoft.ContainerService/managedClusters/aks-1",
    "name": "aks-1", "resourceGroup": "rg1", "location": "eastus", "fqdn": HOST,
    "provisioningState": "Succeeded", "powerState": {"code": "Running"},
    "apiServerAccessProfile": {"authorizedIpRanges": ["198.51.100.0/24"], "enablePrivateCluster": False},
}


def _run(env: dict[str, str], tmp_path) -> list[str]:
    cluster = tmp_path / "aks.json"
    cluster.write_text(json.dumps(AKS_SHOW))
    ctx = load_cloud_context(cluster_path=cluster, env=env)
    seen = vantage.probe(ProbeContext(deadline=Deadline(1), timeout_s=1, env=env))
    obs = Observations(Target(server=f"https://{HOST}:443", host=HOST, port=443), (seen,), cloud=ctx)
    return [f.subject for f in evaluate([hosted_ci_runner], obs)]


@pytest.mark.parametrize(("is_self_hosted", "flagged"), [("1", []), ("0", ["azure-pipelines"])])
def test_azure_agent_named_like_a_hosted_one_is_told_by_agent_isselfhosted(tmp_path, is_self_hosted, flagged):
    env = {"TF_BUILD": "True", "AGENT_ISSELFHOSTED": is_self_hosted, "AGENT_NAME": "Azure Pipelines 3"}
    assert _run(env, tmp_path) == flagged
