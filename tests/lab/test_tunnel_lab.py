"""The large-hello scenario tells the two hello sizes apart: from the same client, over the
same path, a default Python ClientHello (517 bytes) completes and kubectl's size does not."""

from __future__ import annotations

import socket
import ssl

from agent.lab import Lab
from agent.lab import addresses as A
from agent.lab.scenarios import by_name, prepared
from probes import tls


def _handshake(padded: bool) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if padded:
        tls.pad_to_kubectl(ctx, A.PRIVATE_FQDN)
    try:
        with socket.create_connection((A.API_IP, A.API_PORT), 2) as s, \
                ctx.wrap_socket(s, server_hostname=A.PRIVATE_FQDN) as t:
            return str(t.version())
    except (TimeoutError, OSError):
        return "stalled"


def test_only_a_hello_of_kubectls_size_is_lost(lab: Lab) -> None:
    with prepared(lab, by_name("large-hello-mtu")):
        small = lab.call_in("in", lambda: _handshake(False))
        large = lab.call_in("in", lambda: _handshake(True))
    assert (small, large) == ("TLSv1.3", "stalled")
