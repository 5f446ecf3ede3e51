"""The real raw-socket exchange with more than 1024 descriptors open, as in a busy process
run as root: select() refuses descriptors >= 1024 ("filedescriptor out of range")."""

from __future__ import annotations

import contextlib
import os
import resource
import socket

import pytest

from probes.packet_io import Probe, new_seq, raw_exchange, reserved_port
from probes.privilege import check_raw_socket_access

pytestmark = pytest.mark.privileged

FDS = 1100


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FDS + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, FDS + 1024), hard))
    fds: list[int] = []
    try:
        while len(fds) < FDS:
            fds.extend(os.pipe())
        yield fds
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_exchange_works_with_descriptors_above_1024(many_fds):
    access = check_raw_socket_access()
    if not access.allowed:
        if os.environ.get("KUBEREACH_LAB_REQUIRED") == "1":
            pytest.fail(f"KUBEREACH_LAB_REQUIRED=1 but no raw sockets: {access.reason}")
        pytest.skip(f"no raw sockets: {access.reason}")
    assert max(many_fds) >= 1024
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        sport = stack.enter_context(reserved_port())
        probe = Probe("127.0.0.1", server.getsockname()[1], sport, new_seq())
        replies = raw_exchange([probe], 2.0)
    assert replies[probe.seq].kind == "synack"
