"""The JSON report made small enough to travel back through ``az aks command invoke``,
whose output is cut at 512 kB, and to be read by ``kubereach compare``.

Same schema as ``--format json`` (schema_version, tool, every top-level key), one line, with
``"compact": true`` and less in each probe: what compare and a person need to tell two
vantage points apart (DNS answers, TCP outcome and source address, TLS issuer, HTTP status)
stays; timings per phase, per-attempt evidence, certificate chains and SANs go. Every
free-text field is cut at a bound, so the size is bounded by the number of probes, which
DNS bounds in turn (at most 32 addresses an answer).
"""

from __future__ import annotations

import json
from typing import Any

from agent.report import Report

TEXT_LIMIT = 240  # characters kept of any detail, reason or fix
LIST_LIMIT = 32  # items kept of any list of facts, as DNS keeps at most 32 addresses
SAME_CODE_LIMIT = 4  # findings kept of one code (one per address could be a hundred)

# The facts kept, per probe (a prefix ending in "." matches every probe under it).
KEEP: dict[str, tuple[str, ...]] = {
    "vantage": ("hostname", "source_ips", "container", "pod", "namespace", "aks_command_invoke",
                "ci", "pod_name", "node_name", "pod_ip", "kubernetes_service", "service_account_ca"),
    "auth": ("method", "command", "found"),
    "dns.": ("source", "addresses", "addresses_truncated", "cname_chain", "nameserver", "rcode",
             "label", "server"),
    "route": ("interface", "prefix", "gateway", "shadowed"),
    # The address and port are in the subject already.
    "tcp": ("source_ip", "kubectl_path", "via"),
    "tls": ("subject", "issuer", "issuer_cn", "verified", "name_matches", "expired",
            "self_signed", "signed_by_kubeconfig_ca", "kubectl_path", "via", "version"),
    "http": ("kubernetes", "via", "kubectl_path"),
    "proxy.connect": ("proxy", "status", "via"),
    "egress": ("address", "via_proxy"),
    "cloud.": ("mode", "subscription", "subscriptions", "documents"),
    "packet.": ("verdict", "answer", "hops", "mtu"),
}


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 1] + "…"
    if isinstance(value, list):
        return [_cut(v) for v in value[:LIST_LIMIT]]
    if isinstance(value, dict):
        return {str(k)[:64]: _cut(v) for k, v in list(value.items())[:LIST_LIMIT]}
    return value


def _kept(probe: str) -> tuple[str, ...]:
    for key, names in KEEP.items():
        if probe == key or (key.endswith(".") and probe.startswith(key)):
            return names
    return ()


def compact_probe(p: dict[str, Any]) -> dict[str, Any]:
    facts = p.get("facts") or {}
    out = {k: facts[k] for k in _kept(p.get("probe", "")) if k in facts}
    if p.get("probe") == "dns.system" or str(p.get("probe", "")).startswith("dns."):
        # An address's class (private, public...) is derived again by whoever reads it.
        out["addresses"] = [a.get("address") if isinstance(a, dict) else a
                            for a in out.get("addresses", [])]
    if p.get("probe") == "http":
        # The status and first words of each path's answer: enough to tell a block page.
        out["paths"] = {path: {"status": v.get("status"), "body": v.get("body")}
                        for path, v in (facts.get("paths") or {}).items() if isinstance(v, dict)}
    if out.get("via") == "direct":
        del out["via"]
    full = {
        "probe": p.get("probe"),
        "subject": p.get("subject"),
        "status": p.get("status"),
        "duration_s": p.get("duration_s"),
        "failure": p.get("failure"),
        "reason": p.get("reason"),
        "facts": out,
        "attempts": len(p.get("attempts") or []),
    }
    # Absent means null, empty or zero: a hundred failed probes say it a hundred times.
    return _cut({k: v for k, v in full.items() if v not in (None, {}, [], 0) or k == "status"})


def _uninteresting(p: dict[str, Any]) -> bool:
    """A route that is plain (found, not shadowed) says nothing the TCP outcome does not."""
    facts = p.get("facts") or {}
    return p.get("probe") == "route" and p.get("status") == "ok" and not facts.get("shadowed")


def compact_dict(report: dict[str, Any]) -> dict[str, Any]:
    """A report dict (``Report.as_dict()``) made compact; pure, the input is not changed."""
    out = dict(report)
    out["compact"] = True
    out["target"] = _cut({k: v for k, v in (report.get("target") or {}).items() if k != "kubeconfig"})
    out["vantage"] = _cut(report.get("vantage") or {})
    out["path"] = _cut(report.get("path") or [])
    findings, omitted_findings = [], {}
    for f in report.get("findings") or []:
        code = str(f.get("code"))
        if sum(1 for g in findings if g["code"] == code) >= SAME_CODE_LIMIT:
            omitted_findings[code] = omitted_findings.get(code, 0) + 1
            continue
        findings.append(_cut({k: f.get(k) for k in ("code", "severity", "title", "subject", "detail", "fix")}))
    out["findings"] = findings
    probes = [p for p in report.get("probes") or [] if isinstance(p, dict)]
    out["probes"] = [compact_probe(p) for p in probes if not _uninteresting(p)]
    out["omitted"] = {"findings": omitted_findings,
                      "probes": {"route": sum(1 for p in probes if _uninteresting(p))}}
    out["proxy"] = _cut(report.get("proxy") or {})
    out["kubeconfig_problems"] = _cut(list(report.get("kubeconfig_problems") or []))
    return out


def dumps(report: dict[str, Any]) -> str:
    """One line, no spaces: one report per line, so several travel in one log."""
    return json.dumps(compact_dict(report), separators=(",", ":"), default=str, ensure_ascii=True)


def render(report: Report, colour: bool = False, *, width: int = 80) -> str:
    return dumps(report.as_dict()) + "\n"
