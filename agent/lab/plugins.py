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

_KUBELOGIN = """#!{python}
import sys, time
sys.stderr.write("To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                 "and enter the code H4XJ2PLQ7 to authenticate.\\n")
sys.stderr.flush()
time.sleep({wait})
sys.stderr.write("Error: failed to get token: DeviceCodeCredential: context deadline exceeded\\n")
sys.exit(1)
"""


def write_lab_plugins(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kubelogin"
    path.write_text(_KUBELOGIN.format(python=sys.executable, wait=DEVICE_CODE_WAIT_S))
    path.chmod(0o755)
    return path
