"""Secrets known to this run, and a last scrub of every byte we print.

Reports are built from facts that hold no secrets by construction; this is the second
line of defence, for a value that turns up where nobody expected it (an error message
quoting a URL, a server echoing a header).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

_USER_SECRET_KEYS = ("token", "password", "client-key-data", "client-key")
_PROVIDER_SECRET_KEYS = ("access-token", "refresh-token", "client-secret", "id-token", "apiserver-id")


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """-> (everything up to the authority, userinfo, the rest), from the raw text.

    Taken up to the LAST '@', not by a URL parser: in ``http://u:Pass/word@proxy`` or
    ``http://u:Pa#ss@proxy`` the unescaped '/' or '#' ends the authority early for a
    parser, which would then see no userinfo at all and print the password as a path or
    fragment. Over-redacting a path that holds an '@' is the cheaper mistake."""
    scheme_end = url.find("://")
    start = scheme_end + 3 if scheme_end >= 0 else 0
    at = url.rfind("@")
    if at < start:
        return None
    return url[:start], url[start:at], url[at + 1:]


def raw_url(url: str) -> str:
    """``url`` as typed, its userinfo replaced: ``user:REDACTED@`` or ``REDACTED@``.
    Works on text no parser accepts (a bad port, an unclosed '['), for error messages."""
    split = _userinfo(url)
    if split is None:
        return url
    head, userinfo, rest = split
    name, colon, _ = userinfo.partition(":")
    if colon and name and not any(c in name for c in "/?#[]"):
        return f"{head}{name}:REDACTED@{rest}"
    return f"{head}REDACTED@{rest}"


def url_password(url: str | None) -> list[str]:
    """The password of a URL, as a parser reads it and as typed, escaped and unescaped."""
    if not url:
        return []
    found: list[str] = []
    split = _userinfo(url)
    if split is not None and ":" in split[1]:
        raw = split[1].split(":", 1)[1]
        found += [raw, unquote(raw)]
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        password = parts.password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    return list(dict.fromkeys(found))


def from_user(user: Mapping[str, Any]) -> list[str]:
    found = [str(user[k]) for k in _USER_SECRET_KEYS if user.get(k)]
    provider = user.get("auth-provider")
    if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
        found += [str(v) for k, v in provider["config"].items() if k in _PROVIDER_SECRET_KEYS and v]
    ex = user.get("exec")
    if isinstance(ex, dict):
        for item in ex.get("env") or []:
            if isinstance(item, dict) and item.get("value"):
                found.append(str(item["value"]))
        # Arguments like --client-secret=... or a token after a flag.
        args = [str(a) for a in ex.get("args") or []]
        for i, arg in enumerate(args):
            # Only a flag's name is looked at: lowering whole values cost seconds for a
            # kubeconfig of aliased 60 kB args.
            low = arg[:128].split("=", 1)[0].lower()
            if any(w in low for w in ("secret", "token", "password")):
                if "=" in arg:
                    found.append(arg.split("=", 1)[1])
                elif i + 1 < len(args):
                    found.append(args[i + 1])
    return found


def from_env(env: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        found += url_password(env.get(name))
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    return text
