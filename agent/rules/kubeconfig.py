"""Problems kubectl hits before it sends a packet: the kubeconfig and the auth method."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence
from agent.rules.model import Evidence, Hit, Severity, rule

INSTALL_HINTS = {
    "kubelogin": "install kubelogin (`az aks install-cli`, or the Azure/kubelogin release for this OS) "
    "and make sure it is on the PATH of the process that runs kubectl",
    "aws": "install the AWS CLI v2 and make sure `aws` is on kubectl's PATH",
    "aws-iam-authenticator": "install aws-iam-authenticator, or switch to `aws eks update-kubeconfig`",
    "gke-gcloud-auth-plugin": "`gcloud components install gke-gcloud-auth-plugin`",
}


@rule("kubeconfig.invalid", Severity.BLOCKER, "The kubeconfig cannot be used as it is",
      "Fix the kubeconfig entry, or fetch a fresh one (`az aks get-credentials`, `aws eks update-kubeconfig`). "
      "An entry on a removed auth provider must move to an exec plugin: `kubelogin convert-kubeconfig -l "
      "azurecli` (azure), or install gke-gcloud-auth-plugin and re-run `gcloud container clusters "
      "get-credentials` (gcp).")
def kubeconfig_invalid(obs: Observations) -> Iterator[Hit]:
    if obs.kubeconfig_problems:
        subject = obs.target.context or obs.target.server
        yield Hit(subject, f"kubectl rejects the kubeconfig: {'; '.join(obs.kubeconfig_problems)}.",
                  tuple(Evidence("kubeconfig", subject, p) for p in obs.kubeconfig_problems))
    for r in obs.failed("auth"):
        if r.kind == "auth.provider_removed":
            yield Hit(r.subject, f"{r.failure.detail}; kubectl fails before connecting.", (evidence(r),))


@rule("kubeconfig.exec_plugin_missing", Severity.BLOCKER, "The authentication plugin is not installed",
      "Install the authentication plugin the user entry runs, where kubectl can find it: {install}.")
def exec_plugin_missing(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth"):
        if r.kind != "auth.exec_missing":
            continue
        command = str(r.facts.get("exec_command"))
        name = command.rsplit("/", 1)[-1]
        yield Hit(command,
                  f"The user entry runs `{command}` to get a token, and it is not on PATH: kubectl "
                  "stops with 'executable not found' before any network traffic. The network "
                  "checks below ran anyway.",
                  (evidence(r),),
                  fix_args={"install": INSTALL_HINTS.get(name, f"install `{name}` and put it on kubectl's PATH")})


RULES = (kubeconfig_invalid, exec_plugin_missing)
