"""Exec-plugin stand-ins for the lab, written into its folder at start.

``kubelogin`` behaves like ``kubelogin get-token --login devicecode``: it prints the device
code prompt and polls for someone to sign in; here nobody ever does, and the code
"expires" after DEVICE_CODE_WAIT_S (15 minutes in real life, short here so that kubectl's
run in the lab ends), then it fails as kubelogin does.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEVICE_CODE_WAIT_S = 8.0

def device_code_body(wait_s: float, code: str = "H4XJ2PLQ7") -> str:
    """The Python body of a device-code kubelogin: the prompt, the wait, kubelogin's error.
    Shared with the loopback tests' stand-ins (tests/support/plugins.py)."""
    prompt = (f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
              f"and enter the code {code} to authenticate.\n")
    return (f"import sys, time\nsys.stderr.write({prompt!r})\nsys.stderr.flush()\n"
            f"time.sleep({wait_s!r})\n"
            "sys.stderr.write('Error: failed to get token: DeviceCodeCredential: context deadline "
            "exceeded\\n')\nsys.exit(1)\n")


def write_lab_plugins(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kubelogin"
    path.write_text(f"#!{sys.executable}\n" + device_code_body(DEVICE_CODE_WAIT_S))
    path.chmod(0o755)
    return path
