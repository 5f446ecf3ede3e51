"""Is this a CI runner, and one the CI vendor hosts? Told by the variables each vendor sets.

A vendor-hosted runner sits on the vendor's network: it has no path to a private endpoint,
and its egress IP changes from run to run, so authorized ranges cannot pin it down. This is
the one detector: the vantage probe reports it and the cloud context carries it, so the
rules see the same answer whichever they read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Microsoft-hosted agents are named like this; a self-hosted agent may be too (any name
# is allowed), so the name is only read when Agent.IsSelfHosted is absent (old agents).
_HOSTED_AGENT_NAMES = ("Azure Pipelines", "Hosted Agent", "Hosted ")


@dataclass(frozen=True)
class CiRunner:
    name: str  # "github-actions" | "azure-pipelines" | "gitlab-ci" | "jenkins" | "unknown-ci"
    hosted: bool | None  # None: the environment does not say

    def as_facts(self) -> dict[str, str | bool | None]:
        return {"name": self.name, "hosted": self.hosted}


def detect_ci(env: Mapping[str, str]) -> CiRunner | None:
    if env.get("GITHUB_ACTIONS") == "true":
        # RUNNER_ENVIRONMENT is "github-hosted" or "self-hosted" (runners since 2023).
        kind = env.get("RUNNER_ENVIRONMENT")
        return CiRunner("github-actions", None if kind is None else kind == "github-hosted")
    if env.get("TF_BUILD", "").lower() == "true":
        # Agent.IsSelfHosted is "1" on self-hosted agents, "0" on Microsoft-hosted ones,
        # and says so whatever the agent is called.
        flag = env.get("AGENT_ISSELFHOSTED")
        if flag in ("0", "1"):
            return CiRunner("azure-pipelines", flag == "0")
        return CiRunner("azure-pipelines",
                        env.get("AGENT_NAME", "").startswith(_HOSTED_AGENT_NAMES))
    if env.get("GITLAB_CI") == "true":
        return CiRunner("gitlab-ci", None)
    if env.get("JENKINS_URL"):
        return CiRunner("jenkins", False)  # no vendor hosts Jenkins agents
    if env.get("CI") in ("true", "1"):
        return CiRunner("unknown-ci", None)
    return None
