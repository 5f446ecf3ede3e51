"""Whether what answers over TLS (or plain HTTP, for an http:// server URL) is a Kubernetes
API server."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence, on_path
from agent.rules.model import Hit, Severity, rule
from probes.base import is_loopback_host


def _not_plain_http_to_tls(obs: Observations) -> list:
    """The HTTP results on kubectl's path, less those sent as plain HTTP to a port that
    speaks TLS: kubeconfig.plain_http says all there is to say about those."""
    tls_ports = {r.subject for r in on_path(obs, "tls.spoken") if r.ok}
    return [r for r in on_path(obs, "http") if r.subject not in tls_ports]


@rule("http.not_kubernetes", Severity.BLOCKER, "Something other than the Kubernetes API answers",
      "The address answers HTTPS but not as a Kubernetes API server (no Status or version document): check "
      "the server URL and port in the kubeconfig, DNS records that point at another service, and proxies or "
      "firewalls that serve block pages.")
def not_kubernetes(obs: Observations) -> Iterator[Hit]:
    for r in _not_plain_http_to_tls(obs):
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
    for r in _not_plain_http_to_tls(obs):
        if r.kind in ("http.timeout", "http.error"):
            yield Hit(r.subject, f"{r.failure.detail}.", (evidence(r),))


@rule("kubeconfig.plain_http", Severity.WARNING, "The server URL is http://: kubectl talks without TLS",
      "Write the server as https://{host}:{port} with the cluster's CA; keep http:// only for a local "
      "`kubectl proxy`.")
def plain_http(obs: Observations) -> Iterator[Hit]:
    """kubectl sends an http:// server its requests, credentials included, without TLS. Where
    the port speaks TLS (every managed API server) the request is refused: a blocker. Where a
    plain-HTTP Kubernetes API answers, it works; on loopback (a `kubectl proxy`) that is fine."""
    target = obs.target
    if target.scheme != "http":
        return
    fix = {"host": f"[{target.host}]" if ":" in target.host else target.host, "port": target.port}
    spoken = [r for r in on_path(obs, "tls.spoken") if r.ok]
    if spoken:
        r = spoken[0]
        yield Hit(r.subject, f"{r.subject} speaks TLS ({r.facts.get('version')}), but the server URL is "
                  "http://: kubectl sends plain HTTP there and the API server refuses it (Go's servers "
                  "answer 400 'Client sent an HTTP request to an HTTPS server').",
                  (evidence(r),), fix_args=fix, severity=Severity.BLOCKER)
        return
    answered = [r for r in on_path(obs, "http") if r.ok]
    if not answered:
        return
    r = answered[0]
    local = is_loopback_host(target.host)
    yield Hit(r.subject, "A Kubernetes API answers over plain HTTP"
              + (" on loopback, as `kubectl proxy` serves it: fine on this machine."
                 if local else ": kubectl works, but every request and the credential it carries cross "
                               "the network unencrypted."),
              (evidence(r),), fix_args=fix, severity=Severity.INFO if local else None)


RULES = (not_kubernetes, no_response, plain_http)
