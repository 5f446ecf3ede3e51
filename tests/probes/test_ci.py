"""The one CI-runner detector, and the vantage probe that reports it."""

from __future__ import annotations

import pytest

from agent.deadline import Deadline
from probes import vantage
from probes.base import ProbeContext
from probes.ci import CiRunner, detect_ci

SELF_HOSTED_AZURE = {"TF_BUILD": "True", "AGENT_ISSELFHOSTED": "1", "AGENT_NAME": "Azure Pipelines 3"}


@pytest.mark.parametrize(("env", "expected"), [
    ({"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "github-hosted"}, ("github-actions", True)),
    ({"GITHUB_ACTIONS": "true", "RUNNER_ENVIRONMENT": "self-hosted"}, ("github-actions", False)),
    ({"GITHUB_ACTIONS": "true"}, ("github-actions", None)),
    ({"TF_BUILD": "True", "AGENT_ISSELFHOSTED": "0"}, ("azure-pipelines", True)),
    ({"TF_BUILD": "True", "AGENT_ISSELFHOSTED": "1"}, ("azure-pipelines", False)),
    # A self-hosted agent may carry a hosted-looking name: the flag wins over the name.
    (SELF_HOSTED_AZURE, ("azure-pipelines", False)),
    ({"TF_BUILD": "True", "AGENT_ISSELFHOSTED": "0", "AGENT_NAME": "build-vm-01"}, ("azure-pipelines", True)),
    # Old agents without the flag: told by the name hosted agents carry.
    ({"TF_BUILD": "True", "AGENT_NAME": "Azure Pipelines 3"}, ("azure-pipelines", True)),
    ({"TF_BUILD": "True", "AGENT_NAME": "Hosted Agent"}, ("azure-pipelines", True)),
    ({"TF_BUILD": "True", "AGENT_NAME": "build-vm-01"}, ("azure-pipelines", False)),
    ({"GITLAB_CI": "true"}, ("gitlab-ci", None)),
    ({"JENKINS_URL": "https://jenkins.corp/"}, ("jenkins", False)),
    ({"CI": "true"}, ("unknown-ci", None)),
    ({"CI": "1"}, ("unknown-ci", None)),
    ({}, None),
])
def test_detect_ci(env, expected):
    found = detect_ci(env)
    assert (found and (found.name, found.hosted)) == expected


def _facts(env: dict[str, str]) -> dict:
    return vantage.probe(ProbeContext(deadline=Deadline(1), timeout_s=1, env=env)).facts


def test_vantage_reports_a_self_hosted_azure_agent_named_like_a_hosted_one():
    assert _facts(SELF_HOSTED_AZURE)["ci"] == {"name": "azure-pipelines", "hosted": False}
    hosted = {**SELF_HOSTED_AZURE, "AGENT_ISSELFHOSTED": "0"}
    assert _facts(hosted)["ci"] == {"name": "azure-pipelines", "hosted": True}


def test_vantage_facts_are_the_detectors_answer():
    assert _facts({})["ci"] is None
    env = {"GITHUB_ACTIONS": "true"}
    assert _facts(env)["ci"] == CiRunner("github-actions", None).as_facts() == detect_ci(env).as_facts()
