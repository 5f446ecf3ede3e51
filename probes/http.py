"""Is it a Kubernetes API server that answers? Anonymous GET /version and /readyz.

AKS answers 401 with a Kubernetes ``Status`` body on every anonymous path; EKS answers 200
on health endpoints and (from 1.32) 401 on /version. A Status body, a version document or
a plain ``ok`` from /readyz proves the API server was reached; an HTML block page or some
other JSON does not. Credentials are never sent. Needs: TLS that verified, or
insecure-skip-tls-verify. Failure kinds: http.not_kubernetes, http.timeout, http.error.
Facts: per path the status, content type, server header and what the body looked like.
"""

from __future__ import annotations

import json
import re
import time

from probes.base import Failure, ProbeContext, ProbeResult, Status

PATHS = ("/version", "/readyz")


def classify_body(path: str, status: int, content_type: str, body: bytes) -> str:
    """'kubernetes-status', 'kubernetes-version', 'kubernetes-health', 'html', 'json', 'other'."""
    text = body[:4096].decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            if doc.get("kind") == "Status" and doc.get("apiVersion") == "v1":
                return "kubernetes-status"
            if path == "/version" and "gitVersion" in doc:
                return "kubernetes-version"
            return "json"
    if path == "/readyz" and status == 200 and text.strip() == "ok":
        return "kubernetes-health"
    if "html" in content_type or "<html" in text[:512].lower():
        return "html"
    return "other"


def _title(body: bytes) -> str | None:
    match = re.search(rb"<title>(.{0,120}?)</title>", body[:8192], re.I | re.S)
    return match.group(1).decode("utf-8", "replace").strip() if match else None


def probe(ctx: ProbeContext, subject: str, *, url_host: str, port: int, host_header: str,
          sni: str, verify: object, proxy: str | None = None, via: str = "direct") -> ProbeResult:
    """``url_host`` is the address dialled (an IP, or the name when a proxy resolves it);
    ``verify`` an ``ssl.SSLContext`` or False for insecure-skip-tls-verify."""
    import httpx  # imported here so `kubereach --help` stays fast

    started = time.monotonic()
    budget = ctx.deadline.cap(ctx.timeout_s)
    netloc = f"[{url_host}]" if ":" in url_host else url_host
    paths: dict[str, dict] = {}
    failure: Failure | None = None
    # trust_env=False: the proxy decision is kubectl's (probes/proxy.py), not httpx's.
    with httpx.Client(verify=verify, trust_env=False, proxy=proxy, timeout=httpx.Timeout(budget),
                      follow_redirects=False) as client:
        for path in PATHS:
            try:
                response = client.get(f"https://{netloc}:{port}{path}",
                                      headers={"Host": host_header, "Accept": "application/json"},
                                      extensions={"sni_hostname": sni})
            except httpx.TimeoutException:
                failure = Failure("http.timeout", f"GET {path}: no response before the timeout")
                break
            except httpx.HTTPError as exc:
                failure = Failure("http.error", f"GET {path}: {type(exc).__name__}")
                break
            body = response.content[:8192]
            ctype = response.headers.get("content-type", "")
            paths[path] = {"status": response.status_code, "content_type": ctype,
                           "server": response.headers.get("server"),
                           "body": classify_body(path, response.status_code, ctype, body),
                           "title": _title(body)}
    kube = [p for p, v in paths.items() if v["body"].startswith("kubernetes")]
    facts = {"paths": paths, "kubernetes": bool(kube), "via": via}
    elapsed = time.monotonic() - started
    if kube:
        return ProbeResult("http", subject, Status.OK, elapsed, facts=facts)
    if failure is None:
        seen = ", ".join(f"{p} -> {v['status']} {v['body']}" for p, v in paths.items())
        failure = Failure("http.not_kubernetes", f"no Kubernetes API answer ({seen})")
    return ProbeResult("http", subject, Status.FAILED, elapsed, facts=facts, failure=failure)
