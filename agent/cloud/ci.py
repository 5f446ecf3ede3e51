"""Is this a CI runner, and one the CI vendor hosts? Told by the variables each vendor sets.

A vendor-hosted runner sits on the vendor's network: it has no path to a private endpoint,
and its egress IP changes from run to run, so authorized ranges cannot pin it down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CiRunner:
    name: str  # "github-actions" | "azure-pipelines"
    hosted: bool | None  # None: the environment does not say


def detect_ci(env: Mapping[str, str]) -> CiRunner | None:
    if env.get("GITHUB_ACTIONS") == "true":
        # RUNNER_ENVIRONMENT is "github-hosted" or "self-hosted" (runners since 2023).
        kind = env.get("RUNNER_ENVIRONMENT")
        return CiRunner("github-actions", None if kind is None else kind == "github-hosted")
    if env.get("TF_BUILD", "").lower() == "true":
        # Agent.IsSelfHosted is "1" on self-hosted agents, "0" on Microsoft-hosted ones.
        flag = env.get("AGENT_ISSELFHOSTED")
        if flag in ("0", "1"):
            return CiRunner("azure-pipelines", flag == "0")
        name = env.get("AGENT_NAME", "")
        hosted = name.startswith(("Azure Pipelines", "Hosted Agent")) or None
        return CiRunner("azure-pipelines", hosted)
    return None
