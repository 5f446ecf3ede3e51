"""The public address this client's traffic leaves from, which authorized ranges are matched
against.

Three sources, in the order we trust them: ``--egress-ip`` (the user knows), a "what is my
IP" service the user named with ``--egress-ip-url`` (nothing is called by default), and the
instance-level public IP that IMDS reports (not the egress when the subnet leaves through a
NAT gateway, a firewall or a load balancer, so the finding says where the address came from).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from agent.target import redact_url
from probes.base import valid_ip
from probes.http import BodyTooLarge

SOURCE_OPTION = "--egress-ip"
SOURCE_URL = "--egress-ip-url"
SOURCE_IMDS = "IMDS (the VM's public IP)"


class EgressError(Exception):
    """The egress IP could not be learned. One line, safe to print."""


@dataclass(frozen=True)
class EgressIp:
    address: str
    source: str  # one of the SOURCE_* labels


def parse_ip_answer(body: str) -> str | None:
    """A what-is-my-IP answer: a bare address (ifconfig.me style) or JSON ``{"ip": ...}``
    (ipify style)."""
    text = body.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return None
        value = doc.get("ip") if isinstance(doc, dict) else None
        return valid_ip(value) if isinstance(value, str) else None
    first = text.splitlines()[0] if text else ""
    return valid_ip(first)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be asked (one phrase), or None when it is a usable http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # a port out of range or not a number raises here
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    try:
        httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        return "is not a valid URL"
    return None


def fetch_egress_ip(client: httpx.Client, url: str, timeout_s: float) -> str:
    shown = redact_url(url)
    try:
        response = client.get(url, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        raise EgressError(f"{shown} did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise EgressError(f"{shown}: {type(exc).__name__}") from None
    except BodyTooLarge as exc:
        raise EgressError(f"{shown}: {exc}") from None
    if response.status_code != 200:
        raise EgressError(f"{shown} answered HTTP {response.status_code}")
    address = parse_ip_answer(response.text[:200])
    if address is None:
        raise EgressError(f"{shown} did not answer an IP address")
    return address
