"""Can the lab run here? One answer, shared by the tests, the demo and the benchmark."""

from __future__ import annotations

import os
import shutil
import sys

TOOLS = ("ip", "iptables", "dnsmasq", "unbound", "tinyproxy", "microsocks", "danted", "socat")
DEBIAN_PACKAGES = "iproute2 iptables dnsmasq-base unbound tinyproxy microsocks dante-server socat"


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None or any(
        os.access(f"{d}/{tool}", os.X_OK) for d in ("/usr/sbin", "/sbin", "/usr/bin"))


def lab_unavailable() -> str | None:
    """Why the lab cannot be built on this machine, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the lab needs root (it creates network namespaces and iptables rules in them)"
    missing = [t for t in TOOLS if not _have(t)]
    if missing:
        return f"the lab needs {', '.join(missing)} (Debian packages: {DEBIAN_PACKAGES})"
    return None
