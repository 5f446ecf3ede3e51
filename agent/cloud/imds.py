"""The Azure Instance Metadata Service: who this VM is, its addresses, and a managed-identity
token for ARM.

IMDS answers only with the header ``Metadata: true`` and an ``api-version``; an unsupported
version gets HTTP 400 with ``newest-versions``, which we retry once with the first listed.
Requests never go through a proxy (``trust_env=False``): IMDS is link-local. The token is
held in :class:`AccessToken`, whose repr hides it, and no message here ever quotes a token
response body.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.cloud.fields import pick
from probes.base import is_ip_address
from probes.http import BodyTooLarge

IMDS_URL = "http://169.254.169.254"
INSTANCE_API_VERSION = "2021-02-01"
TOKEN_API_VERSION = "2018-02-01"
ARM_RESOURCE = "https://management.azure.com/"
PROBE_TIMEOUT_S = 0.5  # how long "is this an Azure VM?" may cost when nobody asked


class ImdsError(Exception):
    """IMDS did not answer usefully. The message is one line and holds no secret."""


@dataclass(frozen=True)
class Instance:
    """This VM as IMDS describes it."""

    name: str | None = None
    resource_id: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    location: str | None = None
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()  # instance-level public IPs; egress may differ (NAT)
    subnets: tuple[str, ...] = ()  # "10.1.0.0/24"


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_on: str | None = None

    def __repr__(self) -> str:
        return "AccessToken(<redacted>)"

    __str__ = __repr__


def parse_instance(doc: Mapping[str, Any]) -> Instance:
    """``/metadata/instance`` (or its ``/network`` sub-document) -> :class:`Instance`.
    All IMDS values are strings; ``publicIpAddress`` may be "" or a docs placeholder."""
    compute = pick(doc, "compute", default={})
    network = pick(doc, "network") or (doc if "interface" in doc else {})
    private, public, subnets = [], [], []
    for interface in pick(network, "interface", default=[]) or []:
        ipv4 = pick(interface, "ipv4", default={})
        for entry in pick(ipv4, "ipAddress", default=[]) or []:
            if is_ip_address(pick(entry, "privateIpAddress")):
                private.append(entry["privateIpAddress"])
            if is_ip_address(pick(entry, "publicIpAddress")):
                public.append(entry["publicIpAddress"])
        for subnet in pick(ipv4, "subnet", default=[]) or []:
            address, prefix = pick(subnet, "address"), pick(subnet, "prefix")
            if is_ip_address(address) and str(prefix).isdigit():
                subnets.append(f"{address}/{prefix}")
    return Instance(
        name=pick(compute, "name"),
        resource_id=pick(compute, "resourceId"),
        subscription=pick(compute, "subscriptionId"),
        resource_group=pick(compute, "resourceGroupName"),
        location=pick(compute, "location"),
        private_ips=tuple(private),
        public_ips=tuple(public),
        subnets=tuple(subnets),
    )


def _get(
    client: httpx.Client, base_url: str, path: str, params: dict[str, str], api_version: str,
    timeout_s: float,
) -> httpx.Response:
    url = base_url.rstrip("/") + path
    try:
        response = client.get(url, params={**params, "api-version": api_version},
                              headers={"Metadata": "true"}, timeout=timeout_s)
        if response.status_code == 400:
            newest = _newest_versions(response)
            if newest and newest[0] != api_version:
                response = client.get(url, params={**params, "api-version": newest[0]},
                                      headers={"Metadata": "true"}, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ImdsError(f"IMDS at {base_url} did not answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise ImdsError(f"IMDS at {base_url}: {type(exc).__name__}") from None
    except BodyTooLarge as exc:
        raise ImdsError(f"IMDS at {base_url}: {exc}") from None
    return response


def _newest_versions(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    versions = pick(body, "newest-versions", default=[])
    return [v for v in versions if isinstance(v, str)] if isinstance(versions, list) else []


def read_instance(client: httpx.Client, base_url: str = IMDS_URL,
                  timeout_s: float = PROBE_TIMEOUT_S) -> Instance:
    response = _get(client, base_url, "/metadata/instance", {}, INSTANCE_API_VERSION, timeout_s)
    if response.status_code != 200:
        raise ImdsError(f"IMDS /metadata/instance answered HTTP {response.status_code}")
    try:
        doc = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ImdsError("IMDS /metadata/instance did not answer JSON") from None
    if not isinstance(doc, Mapping):
        raise ImdsError("IMDS /metadata/instance did not answer a JSON object")
    return parse_instance(doc)


def read_token(client: httpx.Client, base_url: str = IMDS_URL, resource: str = ARM_RESOURCE,
               timeout_s: float = 5.0) -> AccessToken:
    """A managed-identity token for ``resource``. Errors never quote the response body,
    which on success is the token itself."""
    response = _get(client, base_url, "/metadata/identity/oauth2/token", {"resource": resource},
                    TOKEN_API_VERSION, timeout_s)
    if response.status_code != 200:
        code = ""
        with contextlib.suppress(json.JSONDecodeError, UnicodeDecodeError):
            code = str(pick(response.json(), "error", default=""))[:60]
        # "identity not found" is the usual 400: the VM has no managed identity.
        raise ImdsError(
            f"IMDS gave no managed-identity token (HTTP {response.status_code}"
            + (f", {code}" if code.replace("_", "").isalnum() else "") + ")"
        )
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ImdsError("IMDS token answer was not JSON") from None
    value = pick(body, "access_token")
    if not isinstance(value, str) or not value:
        raise ImdsError("IMDS token answer held no access_token")
    expires = pick(body, "expires_on")
    return AccessToken(value, str(expires) if expires is not None else None)
