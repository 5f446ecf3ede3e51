"""Thin wrappers over ip(8) and setns(2): the only place the lab runs system commands.

Every call is bounded by a timeout, and every failure raises :class:`LabError` carrying the
command and its stderr, so a broken lab says what broke instead of hanging.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

_CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"
NETNS_ETC_DIR = "/etc/netns"


class LabError(RuntimeError):
    """The lab could not be built or driven; the message names the command that failed."""


def sh(
    argv: Sequence[str],
    *,
    timeout_s: float = 10.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            input=input_text,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout_s:g}s") from exc
    except OSError as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def exec_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside ``ns`` with its /etc/netns/<ns> files mounted."""
    return ["ip", "netns", "exec", ns, *argv]


def add(ns: str) -> None:
    sh(["ip", "netns", "add", ns])


def delete(ns: str) -> None:
    sh(["ip", "netns", "delete", ns], check=False)


def exists(ns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_RUN_DIR, ns))


def pids(ns: str) -> list[int]:
    if not exists(ns):
        return []
    out = sh(["ip", "netns", "pids", ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def listed(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_RUN_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def call_in(ns: str, fn: Callable[[], T], *, timeout_s: float = 10.0) -> T:
    """Run ``fn`` in a fresh thread that has joined network namespace ``ns``.

    setns(CLONE_NEWNET) moves only the calling thread, so the test process keeps its own
    namespace; sockets ``fn`` opens stay in ``ns``. Files (/etc/resolv.conf, /proc/net)
    are the caller's view: use this for direct socket work (a DNS query to a given
    server, a TLS handshake to an address), and :func:`exec_argv` for anything that
    reads the namespace's configuration.
    """
    box: dict[str, object] = {}

    def body() -> None:
        try:
            fd = os.open(os.path.join(NETNS_RUN_DIR, ns), os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise LabError(f"call in {ns} did not finish within {timeout_s:g}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
