"""Is this an Azure VM? Asked of the firmware tables, which costs no network traffic.

Every Azure VM carries the same chassis asset tag; automatic discovery asks IMDS only
where it is set, so runs elsewhere (laptops, CI, tests) never send a packet to
169.254.169.254.
"""

from __future__ import annotations

from pathlib import Path

AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"


def on_azure_vm(dmi_dir: str = "/sys/class/dmi/id") -> bool:
    try:
        tag = (Path(dmi_dir) / "chassis_asset_tag").read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return False
    return tag == AZURE_ASSET_TAG
