"""The credential half of kubectl's request: traps in the exec stanza and its environment
(always, from the auth probe's facts), and what the credential check saw (--check-auth:
the plugin run, auth.exec, and the authenticated request, auth.review)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from agent.observations import Observations
from agent.rules.common import evidence
from agent.rules.model import Evidence, Hit, Severity, rule
from probes.base import ProbeResult

_EKS_HOST = re.compile(r"^[0-9a-f]{32}\.[a-z0-9]+\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.eks\.amazonaws\.com$", re.I)
_EKS_ARN = re.compile(r"^arn:aws[a-z-]*:eks:([a-z0-9-]+):\d{12}:cluster/(.+)$")


def _plugin(obs: Observations) -> tuple[ProbeResult | None, dict[str, Any]]:
    r = obs.one("auth")
    plugin = r.facts.get("plugin") if r is not None else None
    return r, (plugin if isinstance(plugin, dict) else {})


def _ev(r: ProbeResult, fact: str) -> tuple[Evidence, ...]:
    return (Evidence(r.probe, r.subject, fact),)


@rule("auth.interactive_login", Severity.WARNING, "kubelogin is set to a login that needs a person",
      "Use a non-interactive login where nobody is at the keyboard: `kubelogin convert-kubeconfig -l "
      "workloadidentity` (federated CI identity), `-l spn` (service principal), `-l msi` (managed identity) "
      "or `-l azurecli` after `az login` in an earlier step.")
def interactive_login(obs: Observations) -> Iterator[Hit]:
    r, p = _plugin(obs)
    if r is None or not p.get("interactive_login"):
        return
    if not p.get("ci") and p.get("stdin_terminal"):
        return
    where = f"a {p['ci']} job" if p.get("ci") else "a process whose standard input is not a terminal"
    yield Hit(str(p.get("tool")),
              f"kubelogin's login mode is {p['login']} (from {p.get('login_from')}), which waits for someone to "
              f"sign in with a browser or a device code; this runs in {where}, so kubectl will hang until "
              "the code expires and then fail with 'getting credentials: exec: executable kubelogin failed'.",
              _ev(r, f"login {p['login']} from {p.get('login_from')}; ci={p.get('ci')}; "
                     f"stdin terminal={p.get('stdin_terminal')}"))


@rule("auth.server_id_missing", Severity.WARNING, "kubelogin get-token has no --server-id",
      "Give kubelogin the AKS AAD server application ID: `--server-id 6dae42f8-4368-4678-94ff-3960e28e3630` "
      "(the same for every AKS-managed Entra ID cluster), or regenerate the entry with `az aks "
      "get-credentials` then `kubelogin convert-kubeconfig`.")
def server_id_missing(obs: Observations) -> Iterator[Hit]:
    r, p = _plugin(obs)
    if r is not None and p.get("tool") == "kubelogin" and p.get("server_id") is False:
        yield Hit("kubelogin", "The exec stanza runs `kubelogin get-token` without --server-id: kubelogin "
                  "cannot tell which audience to ask Entra ID for and stops with an error, so kubectl "
                  "gets no token.", _ev(r, "--server-id absent from the exec args"))


@rule("auth.workload_identity_ignored", Severity.WARNING,
      "Workload identity variables are set, but kubelogin is told to use a service principal secret",
      "Switch the kubeconfig to the federated login the runner is set up for: `kubelogin convert-kubeconfig "
      "-l workloadidentity` (it reads AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE), or "
      "unset those variables in this step if a service principal secret is really meant.")
def workload_identity_ignored(obs: Observations) -> Iterator[Hit]:
    r, p = _plugin(obs)
    names = p.get("workload_identity_vars") or []
    if r is None or p.get("tool") != "kubelogin" or p.get("login") != "spn":
        return
    if "AZURE_FEDERATED_TOKEN_FILE" not in names and "AZURE_CLIENT_ID" not in names:
        return
    yield Hit("kubelogin",
              f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'} set, as a workload identity "
              "(an AKS pod or a federated CI login) sets them, while kubelogin runs with --login spn: that "
              "mode never reads the federated token and wants a client secret or certificate, and "
              "AZURE_CLIENT_ID, when set, replaces the service principal's own client ID. The login then "
              "fails with AADSTS7000215/AADSTS700016 or asks for a secret that is not there.",
              _ev(r, f"login spn; set: {', '.join(names)}"))


@rule("auth.aws_profile_undefined", Severity.WARNING, "The AWS profile kubectl's plugin uses is not defined",
      "Define the profile (`aws configure --profile {profile}` or `aws configure sso`) in {config}, or point "
      "AWS_PROFILE (the kubeconfig's exec env, or this process's) at a profile that exists.")
def aws_profile_undefined(obs: Observations) -> Iterator[Hit]:
    r, p = _plugin(obs)
    if r is None or p.get("profile_defined") is not False:
        return
    profile = str(p.get("profile"))
    yield Hit(profile,
              f"The AWS CLI runs with profile '{profile}' (from {p.get('profile_from')}), which neither "
              f"{p.get('aws_config')} nor the credentials file defines: `aws eks get-token` stops with "
              f"'The config profile ({profile}) could not be found' and kubectl gets no token.",
              _ev(r, f"profile {profile} not in {p.get('aws_config')}"),
              fix_args={"profile": profile, "config": p.get("aws_config")})


@rule("auth.eks_cluster_mismatch", Severity.WARNING,
      "The get-token arguments name another EKS cluster or region than the server",
      "Regenerate the entry for this cluster: `aws eks update-kubeconfig --name {name} --region {region}`; "
      "a token is only valid for the cluster and region it was requested for.")
def eks_cluster_mismatch(obs: Observations) -> Iterator[Hit]:
    r, p = _plugin(obs)
    if r is None or p.get("tool") not in ("aws", "aws-iam-authenticator"):
        return
    server = _EKS_HOST.match(obs.target.host)
    arn = _EKS_ARN.match(obs.target.cluster or "")
    server_region = server.group(1) if server else (arn.group(1) if arn else None)
    arn_name = arn.group(2) if arn else None
    problems = []
    region = p.get("region")
    if server_region and region and region != server_region:
        problems.append(f"the token is requested in region {region}, the API server is in {server_region}")
    name = p.get("cluster_name")
    if arn_name and name and name != arn_name:
        problems.append(f"the token is requested for cluster '{name}', the kubeconfig entry is {obs.target.cluster}")
    if problems:
        yield Hit(obs.target.host,
                  f"{'; '.join(problems)}. An EKS token is signed for one cluster name in one region: the API "
                  "server answers 401 Unauthorized, or get-token fails to find the cluster.",
                  _ev(r, "; ".join(problems)),
                  fix_args={"name": arn_name or name or "CLUSTER", "region": server_region or region or "REGION"})


# --- what the credential check saw ---------------------------------------------------------

@rule("auth.exec_failed", Severity.BLOCKER, "The credential plugin fails",
      "Fix what the plugin reports: {cause} Running the exec command by hand, with the same environment, "
      "shows its whole error; kubectl shows it as 'getting credentials: exec: ...'.")
def exec_failed(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth.exec"):
        if r.kind != "auth.exec_failed":
            continue
        f = r.facts
        said = f" It said: {f['stderr']}" if f.get("stderr") else ""
        cause = f.get("cause")
        profile = _plugin(obs)[1].get("profile") or "PROFILE"
        fix = (str(cause).replace("{profile}", str(profile)) + "." if cause else
               "its login or configuration (see its message above).")
        yield Hit(r.subject,
                  f"kubectl runs the plugin before it sends its request, and {r.failure.detail}."
                  + (f" Cause: {cause.replace('{profile}', str(profile))}." if cause else "") + said,
                  (evidence(r),), fix_args={"cause": fix})


@rule("auth.interactive_required", Severity.BLOCKER, "The credential plugin waits for someone to sign in",
      "Use a login that needs nobody: `kubelogin convert-kubeconfig -l workloadidentity`, `-l spn`, `-l msi` "
      "or `-l azurecli` after `az login`; for AWS, credentials from the runner's role or `aws sso login` "
      "before the job. Set the exec stanza's interactiveMode to Never to make kubectl fail fast instead.")
def interactive_required(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth.exec"):
        if r.kind == "auth.interactive_required":
            said = f" It said: {r.facts['stderr']}" if r.facts.get("stderr") else ""
            yield Hit(r.subject, f"{r.failure.detail}; kubectl would wait the same way (with no terminal "
                      f"here, nobody can answer) and then fail.{said}", (evidence(r),))


def _who(r: ProbeResult) -> str:
    f = r.facts
    if f.get("user"):
        return f"the API server says you are {f['user']} ({f.get('groups', 0)} groups)"
    return "the API server accepts it (GET /version with it: 200)"


@rule("auth.unauthorized", Severity.BLOCKER, "The API server does not accept the credential (401)",
      "Present a credential this API server accepts: {cause} Fresh credentials come from `az aks "
      "get-credentials` or `aws eks update-kubeconfig`.")
def unauthorized(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth.review"):
        if r.kind != "auth.unauthorized":
            continue
        kind, source = r.facts.get("credential"), r.facts.get("source")
        expires = r.facts.get("expires")
        if kind == "client-certificate":
            fix = ("the client certificate is not signed by a CA the API server trusts for clients (a "
                   "certificate from another or a rotated cluster): fetch fresh credentials with `az aks "
                   "get-credentials` or issue a new certificate from this cluster's CA.")
            what = "the client certificate"
        elif source == "exec":
            fix = ("the plugin's token is for another cluster or expired: check the exec args (server ID, "
                   "cluster name, region) and the identity's access; clear the plugin's cache "
                   "(`kubelogin remove-cache-dir`) and retry.")
            what = "the token from the exec plugin" + (f" (expires {expires})" if expires else "")
        else:
            fix = ("the kubeconfig's static token is expired or revoked: fetch fresh credentials "
                   "(`az aks get-credentials`, `aws eks update-kubeconfig`) or a new service account token.")
            what = f"the kubeconfig's {source or 'token'}"
        yield Hit(r.subject, f"The API server answered 401 Unauthorized to {what}: kubectl fails with 'You "
                  "must be logged in to the server (Unauthorized)'.", (evidence(r),), fix_args={"cause": fix})


@rule("auth.forbidden", Severity.BLOCKER, "The API server knows the credential but forbids the request (403)",
      "Grant the identity a role on the cluster (AKS: an Azure RBAC role such as Azure Kubernetes Service RBAC "
      "Reader, or a Kubernetes RoleBinding; EKS: an access entry or aws-auth mapping).")
def forbidden(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth.review"):
        if r.kind == "auth.forbidden":
            yield Hit(r.subject, f"{r.failure.detail}; kubectl gets the same answer.", (evidence(r),))
    for r in obs.all("auth.review"):
        if r.ok and r.facts.get("review_status") == 403:
            yield Hit(r.subject, "The credential is accepted (GET /version with it: 200), but SelfSubjectReview "
                      "is forbidden: this identity has hardly any rights, and most kubectl commands will "
                      "answer 'Forbidden'.", (evidence(r, "SelfSubjectReview 403, /version 200"),),
                      severity=Severity.WARNING)


@rule("auth.request_failed", Severity.BLOCKER, "The request with the credential fails",
      "The anonymous request works but the same request with the credential does not: check that the client "
      "certificate and key belong together and that nothing between (a proxy, a load balancer) rejects it.")
def request_failed(obs: Observations) -> Iterator[Hit]:
    for r in obs.failed("auth.review"):
        if r.kind == "auth.error":
            yield Hit(r.subject, f"{r.failure.detail}; kubectl's request carries the same credential.",
                      (evidence(r),))


@rule("auth.accepted", Severity.INFO, "The API server accepts kubectl's credential",
      "Nothing to do: kubectl's credential works against this API server.")
def accepted(obs: Observations) -> Iterator[Hit]:
    for r in obs.all("auth.review"):
        if r.ok:
            yield Hit(r.subject, f"With the credential kubectl would send ({r.facts.get('credential')} from "
                      f"{r.facts.get('source')}), {_who(r)}.", (evidence(r, _who(r)),))


@rule("auth.not_checked", Severity.INFO, "The credential could not be presented",
      "Check the credential where TLS is verified and the path is direct, or by hand: `kubectl auth whoami`. "
      "Without --check-auth the path's auth step says so instead, and no finding is made.")
def not_checked(obs: Observations) -> Iterator[Hit]:
    review = obs.one("auth.review")
    if review is not None and review.status.value == "skipped":
        yield Hit(review.subject, f"--check-auth was asked for, but the credential was not presented: "
                  f"{review.reason}.", (Evidence(review.probe, review.subject, str(review.reason)),))


RULES = (interactive_login, server_id_missing, workload_identity_ignored, aws_profile_undefined,
         eks_cluster_mismatch, exec_failed, interactive_required, unauthorized, forbidden, request_failed, accepted,
         not_checked)
