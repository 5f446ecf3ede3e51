"""``kubereach compare A B``: two reports of one cluster from two places, explained.

Typical pair: the CI runner's report (cannot connect) and the in-cluster pod's (can). What
differs, aspect by aspect (the DNS answer, the proxy decision, the source address, the TCP
outcome per address, the TLS issuer, the HTTP answer, the findings only one side has), and
which one explains the verdicts: the aspect of the first step along kubectl's path where
the failing side fails.

Pure over two report dicts (full ``--format json`` or the compact lines of
``kubereach in-cluster``); :func:`load_reports` reads a file's text, including the whole
output of ``az aks command invoke`` with the report lines inside it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.errors import UsageError

ASPECTS = ("verdict", "dns", "proxy", "source", "tcp", "tls", "http", "findings")
# The step where a side fails -> the aspect that can explain it.
_STEP_ASPECT = {"kubeconfig": "findings", "auth": "findings", "dns": "dns", "proxy": "proxy",
                "tcp": "tcp", "tls": "tls", "http": "http"}
_MAX_ADDRESSES_SHOWN = 4


class CompareInputError(UsageError):
    pass


@dataclass(frozen=True)
class Difference:
    aspect: str
    a: str
    b: str
    explains: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "a": self.a, "b": self.b, "explains": self.explains}


@dataclass(frozen=True)
class Comparison:
    host: str
    names: tuple[str, str]
    verdicts: tuple[str, str]
    differences: tuple[Difference, ...]
    explanation: str
    vantages: tuple[str, str] = ("", "")
    only: tuple[tuple[str, ...], tuple[str, ...]] = field(default=((), ()))  # finding codes

    @property
    def same_verdict(self) -> bool:
        return self.verdicts[0] == self.verdicts[1]

    @property
    def exit_code(self) -> int:
        return 0 if self.same_verdict else 1

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "a": {"name": self.names[0], "verdict": self.verdicts[0],
                                         "vantage": self.vantages[0], "only_findings": list(self.only[0])},
                "b": {"name": self.names[1], "verdict": self.verdicts[1],
                      "vantage": self.vantages[1], "only_findings": list(self.only[1])},
                "same_verdict": self.same_verdict,
                "differences": [d.as_dict() for d in self.differences],
                "explanation": self.explanation}


# ---- reading ---------------------------------------------------------------------------

def is_report(doc: Any) -> bool:
    tool = doc.get("tool") if isinstance(doc, Mapping) else None
    return (isinstance(doc, Mapping) and isinstance(doc.get("schema_version"), int)
            and isinstance(tool, Mapping) and tool.get("name") == "kubereach"
            and isinstance(doc.get("target"), Mapping) and isinstance(doc.get("verdict"), str))


def load_reports(text: str, where: str) -> list[dict[str, Any]]:
    """Every kubereach report in ``text``: one JSON report, a JSON list of them, ``az aks
    command invoke -o json`` (the log in ``logs``), or any text with report lines in it
    (the default output of command invoke, a pod log)."""
    stripped = text.strip()
    found: list[Any] = []
    if stripped.startswith(("{", "[")):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, Mapping) and isinstance(doc.get("logs"), str):
            return load_reports(doc["logs"], where)
        found = doc if isinstance(doc, list) else [doc] if doc is not None else []
    if not found:
        for line in stripped.splitlines():
            line = line.strip()
            if line.startswith("{") and '"schema_version"' in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
    reports = [d for d in found if is_report(d)]
    if not reports:
        raise CompareInputError(f"{where}: not a kubereach report (no JSON with schema_version "
                                "and tool kubereach; write one with --format json)")
    return reports


def _section(report: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A top-level object of the report, or {} when a hand-edited report has something else."""
    value = report.get(key)
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def host_of(report: Mapping[str, Any]) -> str:
    return str((report.get("target") or {}).get("host") or "").lower().rstrip(".")


def _service(report: Mapping[str, Any]) -> bool:
    """A report of the in-cluster service address, as `kubereach in-cluster` labels it."""
    return (report.get("target") or {}).get("context") == "service"


def choose(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]],
           host: str | None = None) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The pair of reports about one API server name: ``host`` if given, else the first of
    A's that B also has. Different names only: not the same cluster endpoint."""
    hosts_b = {host_of(r) for r in b}
    if host is not None:
        want = host.lower().rstrip(".")
        pick_a = [r for r in a if host_of(r) == want]
        pick_b = [r for r in b if host_of(r) == want]
        if not pick_a or not pick_b:
            raise CompareInputError(f"--host {host}: not in both files")
        return pick_a[0], pick_b[0]
    # The in-cluster service address (10.0.0.1 on every AKS cluster) names no cluster: pair
    # on it only when neither side has a cluster name to go by.
    named_a, named_b = [r for r in a if not _service(r)], [r for r in b if not _service(r)]
    for side_a, side_b in ((named_a, named_b),) if named_a and named_b else ((a, b),):
        names_b = {host_of(r) for r in side_b}
        for r in side_a:
            if host_of(r) in names_b:
                return r, next(x for x in side_b if host_of(x) == host_of(r))
    names_a = ", ".join(sorted({host_of(r) for r in a}))
    raise CompareInputError(f"the reports are about different API servers ({names_a} vs "
                            f"{', '.join(sorted(hosts_b))}): not one cluster endpoint")


# ---- what each side saw ----------------------------------------------------------------

def _probes(report: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [p for p in _list(report.get("probes")) if isinstance(p, Mapping) and p.get("probe") == name]


def _facts(p: Mapping[str, Any] | None) -> Mapping[str, Any]:
    facts = p.get("facts") if p else None
    return facts if isinstance(facts, Mapping) else {}


def _addresses(p: Mapping[str, Any] | None) -> list[str]:
    out = []
    for a in _list(_facts(p).get("addresses")):
        value = a.get("address") if isinstance(a, Mapping) else a
        if isinstance(value, str):
            out.append(value)
    return out


def _failure(p: Mapping[str, Any] | None) -> str:
    f = p.get("failure") if p else None
    if isinstance(f, Mapping):
        return str(f.get("kind") or "failed")
    return str((p or {}).get("status") or "not run")


def _short(addresses: Sequence[str]) -> str:
    shown = ", ".join(addresses[:_MAX_ADDRESSES_SHOWN])
    more = len(addresses) - _MAX_ADDRESSES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def dns_view(report: Mapping[str, Any]) -> str:
    system = next(iter(_probes(report, "dns.system")), None)
    if system is None:
        proxy = _section(report, "proxy")
        return "not resolved here (the proxy resolves)" if proxy.get("used") else "not looked up"
    facts = _facts(system)
    where = facts.get("nameserver")
    source = facts.get("source")
    origin = (f" from {where}" if where else
              " from the hosts file" if source == "hosts" else " (an IP literal)" if source == "literal" else "")
    addresses = _addresses(system)
    if addresses and system.get("status") == "ok":
        return f"{_short(addresses)}{origin}"
    rcode = facts.get("rcode")
    return f"{rcode if isinstance(rcode, str) and rcode != 'NOERROR' else _failure(system)}{origin}"


def proxy_view(report: Mapping[str, Any]) -> str:
    proxy = _section(report, "proxy")
    if not proxy.get("used"):
        return "direct (no proxy)"
    return f"via proxy {proxy.get('proxy_url') or '?'} ({proxy.get('source') or 'set'})"


def source_view(report: Mapping[str, Any]) -> str:
    """The host's own addresses (what a firewall or NSG between here and the endpoint sees
    on a private path) and, when known, the public egress IP (what authorized ranges see)."""
    vantage = _section(report, "vantage")
    sources = [str(s) for s in _list(vantage.get("source_ips"))]
    text = f"source {_short(sources)}" if sources else "source unknown"
    egress = next((p for p in _probes(report, "egress") if p.get("status") == "ok"), None)
    if egress and _facts(egress).get("address"):
        text += f", egress IP {_facts(egress)['address']}"
    return text


def _by_address(report: Mapping[str, Any], probe: str) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for p in _probes(report, probe):
        facts = _facts(p)
        if facts.get("via", "direct") != "direct":
            continue
        address = facts.get("address") or str(p.get("subject") or "").rsplit(":", 1)[0].strip("[]")
        out.setdefault(str(address), p)
    return out


def tcp_view(report: Mapping[str, Any]) -> dict[str, str]:
    return {a: ("connected" if p.get("status") == "ok" else _failure(p))
            for a, p in _by_address(report, "tcp").items()}


def tls_view(report: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for a, p in _by_address(report, "tls").items():
        issuer = _facts(p).get("issuer_cn") or _facts(p).get("issuer")
        state = "verified" if p.get("status") == "ok" else _failure(p)
        out[a] = f"issuer {issuer}, {state}" if issuer else state
    return out


def http_view(report: Mapping[str, Any]) -> dict[str, str]:
    return {a: ("Kubernetes answers" if p.get("status") == "ok" else _failure(p))
            for a, p in _by_address(report, "http").items()}


def _first_failed(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for step in _list(report.get("path")):
        if isinstance(step, Mapping) and step.get("status") in ("failed", "error"):
            return step
    return None


def _codes(report: Mapping[str, Any]) -> dict[str, str]:
    return {str(f.get("code")): str(f.get("severity")) for f in _list(report.get("findings"))
            if isinstance(f, Mapping) and f.get("code")}


def vantage_line(report: Mapping[str, Any]) -> str:
    v = _section(report, "vantage")
    where = str(v.get("hostname") or "?")
    if v.get("pod"):
        bits = [f"pod {v['pod_name']}" if v.get("pod_name") else "a pod",
                *([f"node {v['node_name']}"] if v.get("node_name") else [])]
        where += f" ({', '.join(bits)})"
    ci = v.get("ci")
    if isinstance(ci, Mapping) and ci.get("name"):
        where += f" (CI {ci['name']})"
    return where


# ---- comparing -------------------------------------------------------------------------

def _per_address(aspect: str, a: dict[str, str], b: dict[str, str]) -> Difference | None:
    if a == b:
        return None

    def show(view: dict[str, str], other: dict[str, str]) -> str:
        # Addresses both reached the same way say nothing: show the rest.
        items = [f"{addr} {state}" for addr, state in view.items() if other.get(addr) != state]
        more = len(items) - _MAX_ADDRESSES_SHOWN
        return ("; ".join(items[:_MAX_ADDRESSES_SHOWN]) + (f"; {more} more" if more > 0 else "")) or "not tried"

    return Difference(aspect, show(a, b), show(b, a))


def compare(a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, str] = ("A", "B")
            ) -> Comparison:
    """What differs between two reports of one API server name, and which difference
    explains the verdicts."""
    verdicts = (str(a.get("verdict")), str(b.get("verdict")))
    diffs: list[Difference] = []
    for aspect, view in (("dns", dns_view), ("proxy", proxy_view), ("source", source_view)):
        va, vb = view(a), view(b)
        if va != vb:
            diffs.append(Difference(aspect, va, vb))
    for aspect, view in (("tcp", tcp_view), ("tls", tls_view), ("http", http_view)):
        d = _per_address(aspect, view(a), view(b))
        if d is not None:
            diffs.append(d)
    codes_a, codes_b = _codes(a), _codes(b)
    only_a = tuple(sorted(set(codes_a) - set(codes_b)))
    only_b = tuple(sorted(set(codes_b) - set(codes_a)))
    if only_a or only_b:
        diffs.append(Difference("findings",
                                ", ".join(f"{c} ({codes_a[c]})" for c in only_a) or "none of its own",
                                ", ".join(f"{c} ({codes_b[c]})" for c in only_b) or "none of its own"))

    explanation, explaining = _explain(a, b, names, verdicts, diffs, codes_a, codes_b)
    diffs = [Difference(d.aspect, d.a, d.b, d.aspect == explaining) for d in diffs]
    return Comparison(host_of(a), names, verdicts, tuple(diffs), explanation,
                      (vantage_line(a), vantage_line(b)), (only_a, only_b))


def _blockers(codes: Mapping[str, str]) -> list[str]:
    return sorted(c for c, s in codes.items() if s == "blocker")


def _explain(a: Mapping[str, Any], b: Mapping[str, Any], names: tuple[str, str],
             verdicts: tuple[str, str], diffs: list[Difference], codes_a: Mapping[str, str],
             codes_b: Mapping[str, str]) -> tuple[str, str | None]:
    by_aspect = {d.aspect: d for d in diffs}
    if verdicts[0] == verdicts[1]:
        if not diffs:
            return "No difference: both places see the same path and get the same verdict.", None
        if verdicts[0] == "reachable":
            return (f"Both connect; they differ in {', '.join(by_aspect)}, which does not change "
                    "the verdict.", None)
        sa, sb = _first_failed(a), _first_failed(b)
        step_a, step_b = (sa or {}).get("step"), (sb or {}).get("step")
        if step_a == step_b and _blockers(codes_a) == _blockers(codes_b):
            return (f"Neither connects, for the same reason: both fail at {step_a} "
                    f"({', '.join(_blockers(codes_a)) or 'no blocker named'}).", None)
        return (f"Neither connects, for different reasons: {names[0]} fails at {step_a} "
                f"({', '.join(_blockers(codes_a)) or 'no blocker named'}), {names[1]} at {step_b} "
                f"({', '.join(_blockers(codes_b)) or 'no blocker named'}).", None)

    fails, works = (0, 1) if verdicts[0] != "reachable" else (1, 0)
    failing, failing_codes = (a, codes_a) if fails == 0 else (b, codes_b)
    step = _first_failed(failing)
    step_name = str(step.get("step")) if step else "?"
    aspect = _STEP_ASPECT.get(step_name, "findings")
    # A TCP failure from one place and not the other is often the source address or the
    # proxy, not the address: name what differs that comes first along the path.
    if aspect == "tcp" and "tcp" not in by_aspect:
        aspect = next((x for x in ("proxy", "source") if x in by_aspect), aspect)
    if aspect not in by_aspect:
        aspect = next((x for x in ("dns", "proxy", "source", "tcp", "tls", "http", "findings")
                       if x in by_aspect), aspect)
    d = by_aspect.get(aspect)
    sides = (d.a, d.b) if d else ("", "")
    blockers = ", ".join(_blockers(failing_codes)) or "none named"
    detail = str(step.get("detail") or "") if step else ""
    text = (f"{names[fails]} cannot connect and {names[works]} can. {names[fails]} fails at "
            f"{step_name}" + (f" ({detail})" if detail else "") + ". ")
    if d is not None:
        text += (f"The difference that explains it is {_ASPECT_WORDS.get(aspect, aspect)}: "
                 f"{names[fails]} {sides[fails]}; {names[works]} {sides[works]}. ")
    text += f"Blockers on {names[fails]}'s side: {blockers}."
    return text, aspect if d is not None else None


_ASPECT_WORDS = {"dns": "the DNS answer", "proxy": "the proxy decision", "source": "the source address",
                 "tcp": "the TCP outcome", "tls": "the TLS certificate", "http": "the HTTP answer",
                 "findings": "the findings"}


def render_text(c: Comparison) -> str:
    out = [f"Comparing two reports of {c.host}",
           f"  {c.names[0]}: {c.verdicts[0]}, from {c.vantages[0]}",
           f"  {c.names[1]}: {c.verdicts[1]}, from {c.vantages[1]}", ""]
    if not c.differences:
        out.append("No difference.")
    else:
        width = max(len(d.aspect) for d in c.differences)
        for d in c.differences:
            mark = "*" if d.explains else " "
            out.append(f"{mark} {d.aspect:<{width}}  {c.names[0]}: {d.a}")
            out.append(f"  {'':<{width}}  {c.names[1]}: {d.b}")
        out.append("")
        out += textwrap.wrap(c.explanation, 80, break_on_hyphens=False, break_long_words=False)
    return "\n".join(out) + "\n"


def render_json(c: Comparison) -> str:
    return json.dumps(c.as_dict(), indent=2) + "\n"
