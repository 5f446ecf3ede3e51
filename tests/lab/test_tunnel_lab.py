"""The large-hello scenario tells the two hello sizes apart: from the same client, over the
same path, a default Python ClientHello (517 bytes) completes and kubectl's size does not."""

from __future__ import annotations

from agent.lab import Lab
from agent.lab.scenarios import by_name, prepared
from tests.support.handshake import handshake


def test_only_a_hello_of_kubectls_size_is_lost(lab: Lab) -> None:
    with prepared(lab, by_name("large-hello-mtu")):
        small = lab.call_in("in", lambda: handshake(kubectl_sized=False))
        large = lab.call_in("in", lambda: handshake(kubectl_sized=True))
    assert (small, large) == ("TLSv1.3", "stalled")
