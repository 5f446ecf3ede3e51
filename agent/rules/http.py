"""Whether what answers over TLS is a Kubernetes API server."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence, on_path
from agent.rules.model import Hit, Severity, rule


@rule("http.not_kubernetes", Severity.BLOCKER, "Something other than the Kubernetes API answers",
      "The address answers HTTPS but not as a Kubernetes API server (no Status or version document): check "
      "the server URL and port in the kubeconfig, DNS records that point at another service, and proxies or "
      "firewalls that serve block pages.")
def not_kubernetes(obs: Observations) -> Iterator[Hit]:
    for r in on_path(obs, "http"):
        if r.kind != "http.not_kubernetes":
            continue
        paths = r.facts.get("paths", {})
        seen = "; ".join(
            f"{p}: HTTP {v['status']} {v['content_type'] or 'no content type'}"
            + (f" titled '{v['title']}'" if v.get("title") else "")
            + (f" from server '{v['server']}'" if v.get("server") else "")
            for p, v in paths.items())
        yield Hit(r.subject, f"{seen}. A Kubernetes API server answers anonymous requests with a Status "
                  "document (401/403) or its version.", (evidence(r),))


@rule("http.no_response", Severity.BLOCKER, "The API server does not answer HTTP requests",
      "TLS works but requests get no response: check for a proxy or load balancer that holds requests, "
      "and the API server's health (`az aks show` provisioning and power state).")
def no_response(obs: Observations) -> Iterator[Hit]:
    for r in on_path(obs, "http"):
        if r.kind in ("http.timeout", "http.error"):
            yield Hit(r.subject, f"{r.failure.detail}.", (evidence(r),))


RULES = (not_kubernetes, no_response)
