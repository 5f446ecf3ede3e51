"""TLS as kubectl checks it: the kubeconfig's CA, the name, the validity period, and
whether somebody else's certificate is in the way."""

from __future__ import annotations

from collections.abc import Iterator

from agent.observations import Observations
from agent.rules.common import evidence, on_path
from agent.rules.model import Hit, Severity, rule
from probes.base import ProbeResult

# Issuer names of products that re-sign TLS traffic; matched case-insensitively.
INSPECTION_VENDORS = ("zscaler", "netskope", "palo alto", "fortinet", "fortigate", "blue coat", "bluecoat",
                      "symantec web", "forcepoint", "sophos", "checkpoint", "check point", "cisco umbrella",
                      "mcafee web", "skyhigh", "inspection", "interception", "ssl decrypt", "proxy")


def vendor_issuer(facts: dict) -> bool:
    issuer = str(facts.get("issuer") or "").lower()
    return any(v in issuer for v in INSPECTION_VENDORS)


def intercepted(facts: dict) -> bool:
    """Of a certificate the kubeconfig's CA refused: did a middlebox re-sign it, rather than
    the cluster's CA change? An issuer name unlike the kubeconfig CA's proves neither (a
    kubeconfig from another cluster has another CA name too), so it takes stronger evidence.
    A chain this machine's trust store accepts is a middlebox's on its own: a cluster's CA is
    not there, and middleboxes often copy the real certificate's names, in-cluster ones
    included. A vendor-like issuer name counts only with the SANs agreeing: an API server's
    certificate carries the in-cluster names (kubernetes, kubernetes.default.svc...)."""
    if facts.get("verifies_with_system_trust"):
        return True
    return vendor_issuer(facts) and not facts.get("sans_have_in_cluster_names")


def _interception_evidence(facts: dict) -> str:
    if facts.get("verifies_with_system_trust"):
        return "this machine's trust store accepts its chain, and a cluster's own CA is not in that store"
    return ("its issuer is named like a TLS-inspection product, and it carries none of the "
            "in-cluster names (kubernetes, kubernetes.default.svc...) an API server's certificate has")


def _cert_line(facts: dict) -> str:
    return (f"the server presented '{facts.get('subject')}' issued by '{facts.get('issuer')}', valid until "
            f"{facts.get('not_after')}, for {', '.join(facts.get('sans') or []) or 'no names'}")


def _tls_failures(obs: Observations, kinds: tuple[str, ...]) -> Iterator[ProbeResult]:
    return (r for r in on_path(obs, "tls") if r.kind in kinds)


@rule("tls.handshake_failed", Severity.BLOCKER, "The TLS handshake does not complete",
      "TCP connects but TLS does not: look for a firewall or proxy that inspects SNI and resets, a non-TLS "
      "service on the port, or (when the handshake stalls) an MTU black hole on a VPN/ExpressRoute path.")
def handshake_failed(obs: Observations) -> Iterator[Hit]:
    for r in _tls_failures(obs, ("tls.handshake_failed", "tls.timeout")):
        yield Hit(r.subject, f"{r.failure.detail}; kubectl fails with a TLS handshake error or timeout.",
                  (evidence(r),))


@rule("tls.intercepted", Severity.BLOCKER, "A TLS-inspecting middlebox answers instead of the API server",
      "Exempt {host} (and *.azmk8s.io / *.eks.amazonaws.com) from TLS inspection on the proxy or firewall; "
      "kubectl only trusts the cluster CA in the kubeconfig and must see the API server's own certificate.")
def tls_intercepted(obs: Observations) -> Iterator[Hit]:
    for r in _tls_failures(obs, ("tls.ca_mismatch",)):
        if intercepted(dict(r.facts)):
            yield Hit(r.subject,
                      f"{_cert_line(r.facts)}. The issuer is not the cluster CA in the kubeconfig "
                      f"({', '.join(r.facts.get('kubeconfig_ca_subjects') or ['none'])}), and "
                      f"{_interception_evidence(r.facts)}: something on the path re-signs TLS.",
                      (evidence(r, f"issuer {r.facts.get('issuer')}"),), fix_args={"host": obs.target.host})


@rule("tls.ca_mismatch", Severity.BLOCKER, "The server's certificate is not signed by the kubeconfig's CA",
      "Refresh the kubeconfig (`az aks get-credentials --overwrite-existing`, `aws eks update-kubeconfig`): "
      "the cluster CA was rotated or the kubeconfig belongs to another cluster.")
def ca_mismatch(obs: Observations) -> Iterator[Hit]:
    for r in _tls_failures(obs, ("tls.ca_mismatch",)):
        if intercepted(dict(r.facts)):
            continue
        same_name = r.facts.get("issuer_is_a_kubeconfig_ca_name")
        why = (" The issuer has the same name as the kubeconfig's CA but a different key: the CA was "
               "rotated, or the cluster was recreated." if same_name else "")
        if r.facts.get("sans_have_in_cluster_names"):
            why += (" It carries the in-cluster names (kubernetes.default.svc...) an API server's own "
                    "certificate has.")
        yield Hit(r.subject, f"{_cert_line(r.facts)}, and it does not verify against "
                  f"{obs.target.ca_source}: {r.failure.detail}.{why}", (evidence(r),))


@rule("tls.name_mismatch", Severity.BLOCKER, "The certificate is not for the name kubectl checks",
      "Use the server name the certificate covers, or set `tls-server-name` in the kubeconfig's cluster entry "
      "to one of: {sans}.")
def name_mismatch(obs: Observations) -> Iterator[Hit]:
    for r in _tls_failures(obs, ("tls.name_mismatch",)):
        sans = ", ".join(r.facts.get("sans") or []) or "(none)"
        yield Hit(r.subject, f"kubectl checks the name {r.facts.get('sni')}, but {_cert_line(r.facts)}.",
                  (evidence(r),), fix_args={"sans": sans})


@rule("tls.expired", Severity.BLOCKER, "The server's certificate has expired or is not yet valid",
      "Rotate the cluster certificates (`az aks rotate-certs`) or correct this machine's clock if it is wrong.")
def expired(obs: Observations) -> Iterator[Hit]:
    for r in _tls_failures(obs, ("tls.expired",)):
        yield Hit(r.subject, f"{_cert_line(r.facts)}: {r.failure.detail}.", (evidence(r),))


@rule("tls.verification_disabled", Severity.WARNING, "kubectl does not verify the server's certificate",
      "Remove insecure-skip-tls-verify and put the cluster CA in certificate-authority-data: anyone on the "
      "path can impersonate the API server and read the credentials.")
def verification_disabled(obs: Observations) -> Iterator[Hit]:
    if obs.target.insecure_skip_tls_verify:
        yield Hit(obs.target.cluster or obs.target.server,
                  "The kubeconfig sets insecure-skip-tls-verify: true, so kubectl accepts any certificate.")


RULES = (handshake_failed, tls_intercepted, ca_mismatch, name_mismatch, expired, verification_disabled)
