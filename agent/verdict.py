"""Walks the path kubectl would take and says whether it gets through.

``reachable`` only when every step works: the kubeconfig is usable, the auth method can
run, the name resolves (or the proxy tunnels), the first address that accepts TCP is the
one kubectl keeps, and on it TLS verifies against kubectl's CA and a Kubernetes API
server answers. A step that could not be checked never counts as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.observations import Observations
from probes.base import ProbeResult, Status, endpoint

# Step names along kubectl's path, and a step's status: closed sets, as JSON shows them.
KUBECONFIG, AUTH, DNS, PROXY, TCP, TLS, HTTP = "kubeconfig", "auth", "dns", "proxy", "tcp", "tls", "http"
NETWORK_STEPS = (DNS, PROXY, TCP, TLS, HTTP)
OK, FAILED, ERROR, NOT_REACHED = "ok", "failed", "error", "not-reached"


@dataclass(frozen=True)
class Step:
    name: str  # one of the step names above
    status: str  # OK, FAILED, ERROR or NOT_REACHED
    subject: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"step": self.name, "status": self.status, "subject": self.subject, "detail": self.detail}


def _step(name: str, result: ProbeResult | None, subject: str = "") -> Step:
    if result is None:
        return Step(name, NOT_REACHED, subject, "not reached")
    if result.status is Status.OK:
        return Step(name, OK, result.subject, _ok_detail(name, result))
    status = FAILED if result.status is Status.FAILED else ERROR
    detail = result.failure.detail if result.failure else (result.reason or "")
    return Step(name, status, result.subject, detail)


def _ok_detail(name: str, result: ProbeResult) -> str:
    f = result.facts
    if name == DNS:
        addrs = ", ".join(a["address"] for a in f.get("addresses", []))
        return f"{addrs} (from {f.get('source')})"
    if name == TCP:
        return f"connected in {result.duration_s * 1000:.0f} ms from {f.get('source_ip')}"
    if name == TLS:
        if f.get("insecure_skip_tls_verify"):
            return f"handshake done, certificate NOT verified (insecure-skip-tls-verify); issuer {f.get('issuer')}"
        hello = f.get("client_hello_bytes")
        sized = f" (a {hello}-byte ClientHello, kubectl's size)" if isinstance(hello, int) and hello else ""
        return f"verified{sized}; issuer {f.get('issuer')}"
    if name == HTTP:
        paths = f.get("paths", {})
        plain = " over plain HTTP (no TLS)" if f.get("scheme") == "http" else ""
        return ", ".join(f"{p} {v['status']}" for p, v in paths.items()) + f" from a Kubernetes API server{plain}"
    if name == PROXY:
        return f"tunnel opened through {result.subject}"
    if name == AUTH:
        return f"{f.get('method')}" + (f" via {f.get('exec_command')}" if f.get("exec_command") else "")
    return "ok"


def _kubeconfig_step(obs: Observations) -> Step:
    subject = obs.target.context or obs.target.server
    if obs.kubeconfig_problems:
        return Step(KUBECONFIG, FAILED, subject, "; ".join(obs.kubeconfig_problems))
    return Step(KUBECONFIG, OK, subject, f"CA from {obs.target.ca_source}")


def _auth_step(obs: Observations, auth: ProbeResult) -> Step:
    """The auth method can run; with --check-auth, also the plugin ran and the API server
    accepted what kubectl would present. Without it, the step says it was not checked."""
    step = _step(AUTH, auth)
    if step.status != OK:
        return step
    if not obs.credentials_checked:
        if auth.facts.get("method") == "none":
            return step
        return Step(AUTH, OK, step.subject, f"{step.detail}; credentials not checked (--check-auth)")
    ran = obs.one("auth.exec")
    if ran is not None and not ran.ok:
        return _step(AUTH, ran)
    review = obs.one("auth.review")
    if review is None:
        return Step(AUTH, NOT_REACHED, step.subject, "credential not presented: the path failed before it")
    if review.status is Status.SKIPPED:
        return Step(AUTH, ERROR, review.subject, f"credentials not checked: {review.reason}")
    if not review.ok:
        return _step(AUTH, review)
    f = review.facts
    who = (f"accepted as {f['user']} ({f.get('groups', 0)} groups)" if f.get("user")
           else f"accepted ({f.get('accepted_by')} with it: 200)")
    return Step(AUTH, OK, review.subject, f"{f.get('credential')} from {f.get('source')} {who}")


def walk(obs: Observations) -> tuple[str, list[Step]]:
    """The verdict and kubectl's path, one step per stage, in kubectl's order."""
    steps: list[Step] = [_kubeconfig_step(obs)]
    plain = obs.target.scheme == "http"  # kubectl talks HTTP without TLS: there is no TLS step
    auth = obs.one("auth")
    if auth is not None:
        steps.append(_auth_step(obs, auth))
    if obs.proxy_used():
        connect = obs.one("proxy.connect")
        if connect is not None or not plain:  # plain HTTP through an HTTP proxy has no tunnel
            steps.append(_step(PROXY, connect))
        tls = next((r for r in obs.all("tls") if r.facts.get("via") == "proxy"), None)
        http = next((r for r in obs.all("http") if r.facts.get("via") == "proxy"), None)
        steps += [_step(HTTP, http)] if plain else [_step(TLS, tls), _step(HTTP, http)]
    else:
        system = obs.one("dns.system")
        steps.append(_step(DNS, system, obs.target.host))
        tcp_results = [obs.one("tcp", endpoint(a, obs.target.port)) for a in obs.kubectl_addresses()]
        # The address kubectl ends up on, after Go's serial dial (agent/dial.py).
        connected = obs.dial.connected
        chosen = obs.one("tcp", endpoint(connected, obs.target.port)) if connected else None
        if chosen is None:
            first = next((r for r in tcp_results if r is not None), None)
            steps.append(_step(TCP, first) if first else Step(TCP, NOT_REACHED, "", "not reached"))
            steps += _unreached(plain)
        elif obs.too_slow():
            waited = ", ".join(f"{leg.address} ({leg.cost_s:g} s)" for leg in obs.dial.waits_on)
            steps.append(Step(TCP, FAILED, chosen.subject,
                              f"kubectl needs {obs.connect_s():.1f} s to connect (waiting on {waited or 'resolution'}), "
                              f"more than its --request-timeout of {obs.request_timeout_s:g} s"))
            steps += _unreached(plain)
        else:
            steps.append(_step(TCP, chosen))
            if not plain:
                steps.append(_step(TLS, obs.one("tls", chosen.subject), chosen.subject))
            steps.append(_step(HTTP, obs.one("http", chosen.subject), chosen.subject))
    verdict = "reachable" if all(s.status == OK for s in steps) else "unreachable"
    return verdict, _mark_unreached(steps)


def _unreached(plain: bool) -> list[Step]:
    return [Step(name, NOT_REACHED, "", "not reached") for name in ((HTTP,) if plain else (TLS, HTTP))]


def _mark_unreached(steps: list[Step]) -> list[Step]:
    """After the first broken network step, later ones are 'not-reached' whatever was
    probed. A kubeconfig or auth failure does not hide the network: both are shown."""
    network = NETWORK_STEPS
    out, broken = [], False
    for s in steps:
        if broken and s.name in network:
            s = Step(s.name, NOT_REACHED, s.subject, "not reached")
        out.append(s)
        broken = broken or (s.name in network and s.status != OK)
    return out
