"""The hosts file, read the way Go's resolver reads it (kubectl resolves with Go).

Measures: which addresses /etc/hosts gives for a name, in file order. Needs: nothing.
"""

from __future__ import annotations

import ipaddress


def parse_hosts(text: str) -> dict[str, list[str]]:
    """name (lower-case, no trailing dot) -> addresses, in the order the file lists them."""
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        address = fields[0].split("%", 1)[0]  # drop an IPv6 zone
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        for name in fields[1:]:
            key = name.lower().rstrip(".")
            if address not in table.setdefault(key, []):
                table[key].append(address)
    return table


def lookup(path: str, name: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return []
    return parse_hosts(text).get(name.lower().rstrip("."), [])
