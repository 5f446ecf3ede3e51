"""The hosts file, read the way Go's resolver reads it (kubectl resolves with Go).

Measures: which addresses /etc/hosts gives for a name, in file order. Needs: nothing.

Go's rules (src/net/hosts.go, go1.27.3), which differ from glibc's in places:
- everything after a ``#`` is a comment, wherever it stands on the line;
- the first field must be an IP literal as ``netip.ParseAddr`` takes it (IPv6 zones such as
  ``fe80::1%lo0`` are kept; ``123.123.123`` or a bad IP drops the line); the address is
  stored in canonical form (``fe80:0:…:1`` becomes ``fe80::1``);
- names are keyed in ASCII lower case, and a name containing a dot gets a trailing dot, on
  both sides of the lookup: ``odin`` and ``ODIN`` find the same entry, but ``odin.`` (a
  dotless name written rooted) does not find ``odin``;
- an address listed twice for a name is returned twice, in file order.
"""

from __future__ import annotations

import ipaddress

# /etc/hosts and resolv.conf are a few kB; a path pointed at /dev/zero is not.
MAX_FILE_CHARS = 4 * 1024 * 1024


def _lower_ascii(text: str) -> str:
    # Go lowers ASCII letters only; str.lower() would also fold non-ASCII ones.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def abs_domain_name(name: str) -> str:
    """Go's absDomainName: a name with a dot gets a trailing one; dotless names stay."""
    if "." in name and not name.endswith("."):
        return name + "."
    return name


def _literal_ip(text: str) -> str | None:
    """The address in Go's canonical form, zone kept, or None when it is not an IP literal."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(ip)


def parse_hosts(text: str) -> dict[str, list[str]]:
    """Key (see :func:`key`) -> addresses, in the order the file lists them."""
    table: dict[str, list[str]] = {}
    for line in text.split("\n"):
        line = line.split("#", 1)[0]
        fields = line.replace("\r", " ").replace("\t", " ").split(" ")
        fields = [f for f in fields if f]
        if len(fields) < 2:
            continue
        address = _literal_ip(fields[0])
        if address is None:
            continue
        for name in fields[1:]:
            table.setdefault(key(name), []).append(address)
    return table


def key(name: str) -> str:
    """How Go keys a name in its hosts table and looks it up."""
    return abs_domain_name(_lower_ascii(name))


def lookup(path: str, name: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(MAX_FILE_CHARS)
    except OSError:
        return []
    return parse_hosts(text).get(key(name), [])
