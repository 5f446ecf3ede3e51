"""A TLS handshake from inside a lab namespace, Python's own size or kubectl's."""

from __future__ import annotations

import socket
import ssl

from agent.lab import addresses as A
from probes import tls


def handshake(kubectl_sized: bool = False, timeout_s: float = 2.0) -> str:
    """The TLS version agreed with the lab's API server, or "stalled"."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if kubectl_sized:
        tls.pad_to_kubectl(ctx, A.PRIVATE_FQDN)
    try:
        with socket.create_connection((A.API_IP, A.API_PORT), timeout_s) as sock, \
                ctx.wrap_socket(sock, server_hostname=A.PRIVATE_FQDN) as conn:
            return str(conn.version())
    except (TimeoutError, OSError):
        return "stalled"
