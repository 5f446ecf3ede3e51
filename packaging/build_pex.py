"""Builds dist/kubereach.pex: one file that runs kubereach with the machine's own Python.

    python3 packaging/build_pex.py [--out dist/kubereach.pex] [--python-version 3.12 ...]

Why pex (not zipapp or shiv): kubereach needs compiled wheels (cryptography; PyYAML's
extension is per Python version), and a pex carries several wheels of the same package side
by side and picks, at start, the one that fits the running interpreter and machine. One file
thus serves CPython 3.10 to 3.13 on linux x86-64 and aarch64 (glibc 2.17 or newer). A
zipapp has no way to choose between wheels; shiv installs one resolve into one
site-packages, so it would need one file per platform and Python version.

Foreign platforms are described in full (their environment markers and wheel tags, made
here with ``packaging``), since pex cannot evaluate every dependency's markers from an
abbreviated platform name. Needs ``pex`` (the test extra has it) and a package index.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packaging import tags

REPO = Path(__file__).resolve().parents[1]
PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))
ARCHES = ("x86_64", "aarch64")
GLIBC_FLOOR = 17  # manylinux2014: RHEL/CentOS 7 and every newer distribution
GLIBC_CEILING = 40


def _linux_platforms(arch: str) -> list[str]:
    out = []
    for minor in range(GLIBC_CEILING, 4, -1):
        if minor > GLIBC_FLOOR:
            continue
        out.append(f"manylinux_2_{minor}_{arch}")
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}.get(minor)
        if legacy and (minor == 17 or arch == "x86_64"):
            out.append(f"{legacy}_{arch}")
    return [*out, f"linux_{arch}"]


def complete_platform(version: tuple[int, int], arch: str) -> dict:
    """What pex needs to resolve for CPython ``version`` on linux ``arch``."""
    dotted = f"{version[0]}.{version[1]}"
    abi = f"cp{version[0]}{version[1]}"
    platforms = _linux_platforms(arch)
    compatible = [*tags.cpython_tags(version, [abi], platforms),
                  *tags.compatible_tags(version, abi, platforms)]
    return {
        "marker_environment": {
            "implementation_name": "cpython", "implementation_version": f"{dotted}.0",
            "os_name": "posix", "platform_machine": arch, "platform_python_implementation": "CPython",
            "platform_release": "", "platform_system": "Linux", "platform_version": "",
            "python_full_version": f"{dotted}.0", "python_version": dotted, "sys_platform": "linux",
        },
        "compatible_tags": [str(t) for t in compatible],
    }


def build(out: Path, *, pythons: tuple[tuple[int, int], ...] = PYTHONS) -> float:
    """Writes the pex for ``pythons`` on both architectures to ``out``; returns the seconds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "pex", str(REPO), "--console-script", "kubereach",
                "--output-file", str(out), "--python-shebang", "/usr/bin/env python3",
                # Same bytes from the same inputs: the artifact can be checked against a build.
                "--no-compile", "--no-use-system-time"]
        for version in pythons:
            for arch in ARCHES:
                path = Path(tmp) / f"cp{version[0]}{version[1]}-{arch}.json"
                path.write_text(json.dumps(complete_platform(version, arch)))
                argv += ["--complete-platform", str(path)]
        subprocess.run(argv, check=True, cwd=REPO)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "dist" / "kubereach.pex")
    ap.add_argument("--python-version", action="append", metavar="3.X",
                    help="only these CPython versions (repeatable; quicker, for tests); default 3.10 to 3.13")
    args = ap.parse_args(argv)
    try:
        pythons = tuple(tuple(int(n) for n in v.split(".", 1)) for v in args.python_version or ())
    except ValueError:
        ap.error("--python-version: want 3.X")
    took = build(args.out, pythons=pythons or PYTHONS)  # type: ignore[arg-type]
    size = args.out.stat().st_size
    print(f"{args.out} ({size / 1e6:.1f} MB) in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
