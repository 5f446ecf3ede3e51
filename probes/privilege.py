"""Can this process send and receive raw IP packets (root or CAP_NET_RAW)?

The packet probes (``packet.syn``, ``packet.trace``, ``packet.pmtu``) need raw sockets. The
test that decides is opening one, because that is exactly what the probes will do: a
capability bit can be present while a seccomp profile or user namespace still refuses the
socket, and the reverse (root without CAP_NET_RAW in a container) is common. ``CapEff`` from
``/proc/self/status`` only sharpens the explanation.

Needs nothing and sends nothing; costs one ``socket()`` call, so skipping is never slow.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

CAP_NET_RAW = 13

HOW_TO_ENABLE = (
    "run kubereach with sudo; or give the interpreter the capability: "
    "sudo setcap cap_net_raw+ep $(readlink -f $(which python3)); "
    "in a container: docker run --cap-add NET_RAW; "
    'in Kubernetes: securityContext.capabilities.add: ["NET_RAW"]'
)


@dataclass(frozen=True)
class RawSocketAccess:
    allowed: bool
    reason: str  # why not, in one phrase; "" when allowed
    how_to_enable: str = ""


def _open_raw_socket() -> None:
    # IPPROTO_RAW is the socket the probes send through (IP_HDRINCL is implied).
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW):
        pass


def effective_capabilities(status_path: str = "/proc/self/status") -> int | None:
    try:
        with open(status_path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return int(line.split(":", 1)[1].strip(), 16)
    except (OSError, ValueError):
        return None
    return None


def check_raw_socket_access(
    open_socket: Callable[[], None] = _open_raw_socket,
    status_path: str = "/proc/self/status",
    euid: int | None = None,
) -> RawSocketAccess:
    try:
        open_socket()
    except PermissionError:
        pass
    except OSError as exc:  # e.g. EAFNOSUPPORT in an odd sandbox: still "cannot"
        return RawSocketAccess(
            False, f"raw sockets unavailable: {exc.strerror or exc}", HOW_TO_ENABLE
        )
    else:
        return RawSocketAccess(True, "")
    uid = os.geteuid() if euid is None else euid
    caps = effective_capabilities(status_path)
    if uid == 0 and caps is not None and not caps & (1 << CAP_NET_RAW):
        why = "running as root but without CAP_NET_RAW (the container or service dropped it)"
    elif uid == 0:
        why = "running as root but the system refused a raw socket (seccomp or a user namespace?)"
    else:
        why = "not running as root and CAP_NET_RAW is not granted"
    return RawSocketAccess(False, why, HOW_TO_ENABLE)


@lru_cache(maxsize=1)
def raw_socket_access() -> RawSocketAccess:
    """The process-wide answer; privileges do not change during a run."""
    return check_raw_socket_access()
