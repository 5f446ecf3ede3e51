"""The TLS handshake kubectl would make, and why its certificate check passes or fails.

Measures: handshake outcome with SNI = tls-server-name or the host; the server's leaf
certificate (subject, issuer, SANs, validity) even when it does not verify; whether it
verifies against the kubeconfig's CA; and, separately, whether it was signed by that CA,
matches the name, and is in date, so CA, name and expiry failures are told apart. Needs:
TCP to the address (or a tunnel from the proxy probe). Failure kinds:
tls.handshake_failed, tls.timeout, tls.ca_mismatch, tls.name_mismatch, tls.expired.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from probes.base import Failure, ProbeContext, ProbeResult, Status

SocketFactory = Callable[[], socket.socket]


def verifying_context(ca_pem: bytes | None) -> ssl.SSLContext:
    """Go's crypto/tls rules, as near as OpenSSL allows: the given CA alone (else the
    system's), the name checked against SANs only, never the subject CN."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
    else:
        ctx.load_default_certs()
    ctx.hostname_checks_common_name = False
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


# kubectl 1.32's ClientHello (Go 1.23's crypto/tls with its post-quantum X25519Kyber768 key
# share): 1480 bytes plus the server name, measured from kubectl.1.32 and 1.33 on a raw
# loopback listener (1484 bytes for a 4-byte name, 1569 for an 89-byte one). A default
# Python/OpenSSL 3.0 hello is 517 bytes. Where a path drops large packets and its ICMP
# "fragmentation needed" is filtered, kubectl's hello is lost while a small one passes, so
# the probe sends one of kubectl's size: its ALPN list carries padding protocol names after
# the real ones (h2, http/1.1), which servers pass over (RFC 7301: they pick from their own).
KUBECTL_HELLO_BASE_BYTES = 1480
_REAL_ALPN = ["h2", "http/1.1"]


def kubectl_hello_bytes(sni: str) -> int:
    """The size of kubectl's ClientHello TLS record for this server name (Go, like
    OpenSSL, sends no server_name extension, 9 bytes plus the name, for an IP)."""
    try:
        ipaddress.ip_address(sni)
        return KUBECTL_HELLO_BASE_BYTES - 9
    except ValueError:
        return KUBECTL_HELLO_BASE_BYTES + len(sni.encode("utf-8"))


def hello_bytes(tls_ctx: ssl.SSLContext, server_hostname: str) -> int:
    """The size of the first TLS record this context sends (made in memory, nothing sent)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        tls = tls_ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
    except (ValueError, ssl.SSLError):  # a name OpenSSL refuses: the real handshake says so
        return 0
    return len(outgoing.read())


def pad_to_kubectl(tls_ctx: ssl.SSLContext, server_hostname: str) -> int:
    """Make ``tls_ctx``'s ClientHello at least as large as kubectl's for this name; returns
    the size it now has. Measures, pads, and measures again, since OpenSSL's own padding
    extension (to 512 bytes) drops out once the hello grows past it."""
    target = kubectl_hello_bytes(server_hostname)
    padding = 0
    for _ in range(3):
        names = list(_REAL_ALPN)
        left = padding
        while left > 0:  # one ALPN entry costs its length + 1; names are at most 255 bytes
            n = min(255, max(1, left - 1))
            names.append(f"kubereach-pad-{len(names)}-".ljust(n, "x")[:n])
            left -= n + 1
        tls_ctx.set_alpn_protocols(names)
        size = hello_bytes(tls_ctx, server_hostname)
        if size >= target or size == 0:
            return size
        padding += target - size
    return size


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def load_ca_certs(ca_pem: bytes | None) -> list[x509.Certificate]:
    if not ca_pem:
        return []
    try:
        return x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return []


def name_matches(cert: x509.Certificate, name: str) -> bool:
    """RFC 6125 matching on SANs, as Go does (one left-most wildcard label)."""
    dns_names, ips = _sans(cert)
    try:
        ip = ipaddress.ip_address(name)
        return any(ipaddress.ip_address(i) == ip for i in ips)
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    for pattern in dns_names:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(i) for i in ext.get_values_for_type(x509.IPAddress)]


def _cn(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def signed_by(cert: x509.Certificate, cas: list[x509.Certificate]) -> bool:
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except Exception:  # InvalidSignature, or a key type that cannot sign
            continue
    return False


def certificate_facts(der: bytes, sni: str, cas: list[x509.Certificate]) -> dict:
    cert = x509.load_der_x509_certificate(der)
    dns_names, ips = _sans(cert)
    now = dt.datetime.now(dt.timezone.utc)
    not_after = cert.not_valid_after_utc
    not_before = cert.not_valid_before_utc
    ca_subjects = [ca.subject.rfc4514_string() for ca in cas]
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_cn": _cn(cert.issuer),
        "sans": dns_names + ips,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "expired": not_after < now,
        "not_yet_valid": not_before > now,
        "name_matches": name_matches(cert, sni),
        "signed_by_kubeconfig_ca": signed_by(cert, cas) if cas else None,
        "issuer_is_a_kubeconfig_ca_name": cert.issuer.rfc4514_string() in ca_subjects if cas else None,
        "kubeconfig_ca_subjects": ca_subjects,
        "self_signed": cert.issuer == cert.subject,
    }


def _kind_for_verify_error(facts: dict, verify_code: int) -> str:
    if facts.get("expired") or facts.get("not_yet_valid") or verify_code in (9, 10):
        return "tls.expired"
    if facts.get("signed_by_kubeconfig_ca") is False or verify_code in (2, 18, 19, 20, 21):
        return "tls.ca_mismatch"
    if not facts.get("name_matches") or verify_code == 62:
        return "tls.name_mismatch"
    return "tls.ca_mismatch"


class HandshakeStalled(TimeoutError):
    """The handshake did not finish in time; ``received`` counts the server's bytes."""

    def __init__(self, received: int) -> None:
        super().__init__(f"TLS handshake stalled after {received} bytes")
        self.received = received


def _handshake_within(sock: socket.socket, tls_ctx: ssl.SSLContext, server_hostname: str,
                      ends: float) -> ssl.SSLObject:
    """The handshake over memory buffers, reading the socket ourselves against one
    deadline: the count of bytes received tells a silent server from one that stalled
    part-way (a path that drops large packets sends the first records, then nothing)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    received = 0
    while True:
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        except ssl.SSLError:
            with contextlib.suppress(OSError):  # our alert, best effort: the error is what counts
                sock.send(outgoing.read())
            raise
        pending = outgoing.read()
        if pending:
            sock.settimeout(max(0.05, ends - time.monotonic()))
            sock.sendall(pending)
        if done:
            return tls
        left = ends - time.monotonic()
        if left <= 0:
            raise HandshakeStalled(received)
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise HandshakeStalled(received) from None
        if data:
            received += len(data)
            incoming.write(data)
        else:
            incoming.write_eof()


# OpenSSL's client refuses a certificate message over 100 kB (SSL_MAX_CERT_LIST_DEFAULT)
# and Python cannot raise that limit; Go's crypto/tls takes up to 256 kB.
_OPENSSL_CERT_LIMIT = (
    "the server's certificate chain is larger than the 100 kB OpenSSL accepts (thousands of "
    "SANs do this); kubectl (Go's crypto/tls takes up to 256 kB) would accept it, but kubereach "
    "cannot verify it here"
)


def handshake(ctx: ProbeContext, subject: str, connect: SocketFactory, *, sni: str,
              ca_pem: bytes | None, insecure: bool, via: str = "direct") -> ProbeResult:
    """``connect`` returns a fresh connected socket; it may be called twice (the second
    time only to read the certificate of a server that failed verification). Both
    handshakes share one budget."""
    started = time.monotonic()
    budget = ctx.deadline.cap(ctx.timeout_s)
    ends = started + budget
    cas = load_ca_certs(ca_pem)
    facts: dict = {"sni": sni, "via": via, "insecure_skip_tls_verify": insecure,
                   "ca_given": bool(ca_pem)}

    def failed(kind: str, detail: str) -> ProbeResult:
        return ProbeResult("tls", subject, Status.FAILED, time.monotonic() - started, facts=facts,
                           phases={"handshake": None}, failure=Failure(kind, detail))

    server_hostname = sni
    tls_ctx = _insecure_context() if insecure else verifying_context(ca_pem)
    facts["kubectl_client_hello_bytes"] = kubectl_hello_bytes(server_hostname)
    facts["client_hello_bytes"] = pad_to_kubectl(tls_ctx, server_hostname)
    try:
        sock = connect()
    except OSError as exc:
        return failed("tls.handshake_failed", f"could not connect for TLS: {exc.strerror or exc}")
    try:
        tls = _handshake_within(sock, tls_ctx, server_hostname, ends)
        der = tls.getpeercert(binary_form=True)
        facts.update({"version": tls.version(), "alpn": tls.selected_alpn_protocol()})
        elapsed = time.monotonic() - started
        if der:
            facts.update(certificate_facts(der, sni, cas))
        facts["verified"] = not insecure
        return ProbeResult("tls", subject, Status.OK, elapsed, facts=facts,
                           phases={"handshake": elapsed})
    except ssl.SSLCertVerificationError as exc:
        facts.update({"verified": False, "verify_code": exc.verify_code,
                      "verify_message": exc.verify_message})
        der = _fetch_leaf(connect, server_hostname, ends)
        if der:
            facts.update(certificate_facts(der, sni, cas))
        kind = _kind_for_verify_error(facts, exc.verify_code)
        if kind == "tls.ca_mismatch" and der:
            facts.update(interception_facts(connect, der, server_hostname, ctx))
        return failed(kind, f"certificate rejected: {exc.verify_message}")
    except HandshakeStalled as exc:
        facts["handshake_bytes_received"] = exc.received
        if not exc.received:
            return failed("tls.timeout", f"the TLS handshake stalled: no ServerHello within {budget:g} s")
        return failed("tls.timeout", f"the TLS handshake stalled: {exc.received} bytes from the server, "
                                     f"then the handshake was still incomplete after {budget:g} s")
    except TimeoutError:
        return failed("tls.timeout", f"the TLS handshake stalled: the ClientHello could not be sent "
                                     f"within {budget:g} s")
    except ssl.SSLError as exc:
        if exc.reason == "EXCESSIVE_MESSAGE_SIZE":
            facts["certificate_too_large_for_openssl"] = True
            return ProbeResult("tls", subject, Status.SKIPPED, time.monotonic() - started,
                               facts=facts, phases={"handshake": None}, reason=_OPENSSL_CERT_LIMIT)
        return failed("tls.handshake_failed", f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return failed("tls.handshake_failed", f"the connection broke during the TLS handshake: {reason}")
    finally:
        sock.close()


def _fetch_leaf(connect: SocketFactory, server_hostname: str, ends: float) -> bytes | None:
    if ends - time.monotonic() <= 0.05:
        return None
    try:
        sock = connect()
    except OSError:
        return None
    try:
        return _handshake_within(sock, _insecure_context(), server_hostname, ends).getpeercert(
            binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    finally:
        sock.close()


_IN_CLUSTER_NAMES = frozenset({"kubernetes", "kubernetes.default", "kubernetes.default.svc"})


def interception_facts(connect: SocketFactory, der: bytes, server_hostname: str,
                       ctx: ProbeContext) -> dict:
    """Evidence for "a middlebox re-signed this" against "the cluster CA changed", stronger
    than the issuer's name. An API server's certificate carries the in-cluster names
    (kubernetes, kubernetes.default.svc...); an inspecting middlebox's usually only the
    name asked for. A cluster CA is made by the cluster, so it is not in this machine's
    trust store, while a middlebox's CA is put there (or in SSL_CERT_FILE) so that
    browsers accept its certificates. Costs one more handshake, made only once the
    kubeconfig's CA has refused the server."""
    dns_names, ips = _sans(x509.load_der_x509_certificate(der))
    in_cluster = [n for n in dns_names if n.lower().rstrip(".") in _IN_CLUSTER_NAMES
                  or n.lower().startswith("kubernetes.default.svc.")]
    system = ssl.create_default_context()  # the system store, or SSL_CERT_FILE/SSL_CERT_DIR
    system.check_hostname = False  # who signed it is the question; the name is judged apart
    trusted: bool | None = None  # None: this second handshake could not tell
    try:
        sock = connect()
        sock.settimeout(ctx.deadline.cap(ctx.timeout_s))
        with system.wrap_socket(sock, server_hostname=server_hostname):
            trusted = True
    except ssl.SSLCertVerificationError:
        trusted = False
    except (OSError, ssl.SSLError):
        pass
    return {"san_count": len(dns_names) + len(ips), "sans_have_in_cluster_names": bool(in_cluster),
            "verifies_with_system_trust": trusted}

