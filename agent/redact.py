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


def url_password(url: str | None) -> list[str]:
    if not url:
        return []
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
    except ValueError:
        return []
    found = []
    if parts.password:
        found += [parts.password, unquote(parts.password)]
    return found


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
            low = arg.lower()
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
