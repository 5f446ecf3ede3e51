"""Can kubectl's authentication run here? An exec plugin (kubelogin, aws) must be on PATH,
and the removed in-tree azure/gcp auth providers no longer work at all.

Needs: nothing; sends no packet and runs no plugin. Failure kinds: auth.exec_missing,
auth.provider_removed.
"""

from __future__ import annotations

import os
import shutil

from probes.base import Failure, ProbeContext, ProbeResult, Status

REMOVED_PROVIDERS = {"azure": "kubelogin convert-kubeconfig -l azurecli",
                     "gcp": "install gke-gcloud-auth-plugin and re-run gcloud container clusters get-credentials"}


def probe(ctx: ProbeContext, method: str, exec_command: str | None, provider: str | None) -> ProbeResult:
    facts = {"method": method, "exec_command": exec_command, "provider": provider}
    if method == "exec" and exec_command:
        found = (exec_command if os.access(exec_command, os.X_OK) else None) if "/" in exec_command \
            else shutil.which(exec_command, path=ctx.env.get("PATH", os.defpath))
        facts["found"] = found
        if not found:
            return ProbeResult("auth", method, Status.FAILED, 0.0, facts=facts, failure=Failure(
                "auth.exec_missing", f"the exec plugin {exec_command!r} is not on PATH"))
    if method == "auth-provider" and provider in REMOVED_PROVIDERS:
        facts["migrate"] = REMOVED_PROVIDERS[provider]
        return ProbeResult("auth", method, Status.FAILED, 0.0, facts=facts, failure=Failure(
            "auth.provider_removed", f"the {provider} auth provider was removed from kubectl 1.26"))
    return ProbeResult("auth", method, Status.OK, 0.0, facts=facts)
