"""Reading the cluster and its network from the ARM REST API with a managed identity.

Only GETs. The bearer token is sent to the configured ARM base URL and nowhere else: a
``nextLink`` pointing at another origin is re-based onto ours rather than followed, so a
test's loopback server (or a hostile page) never receives it. Pages are bounded; a failed
listing becomes a note, because a partial inventory still explains more than none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from agent.cloud.cluster import NotAClusterError, parse_cluster
from agent.cloud.fields import parse_id, pick
from agent.cloud.imds import AccessToken
from probes.http import BodyTooLarge

ARM_URL = "https://management.azure.com"
AKS_API = "2024-09-01"
NETWORK_API = "2024-05-01"
PRIVATE_DNS_API = "2024-06-01"
MAX_PAGES = 20
MAX_ZONES = 20


class ArmError(Exception):
    """An ARM call failed. One line, no token, no response body beyond the error code."""


@dataclass(frozen=True)
class Discovered:
    cluster: Mapping[str, Any] | None  # the managedCluster document, as ARM returned it
    documents: tuple[tuple[str, Any], ...]  # (source, document) for parse_inventory
    notes: tuple[str, ...]


class Arm:
    def __init__(self, client: httpx.Client, token: AccessToken, base_url: str = ARM_URL,
                 timeout_s: float = 10.0, deadline: Any = None) -> None:
        self._client = client
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        # The run's deadline (agent.deadline.Deadline): paging stops when it runs out.
        self._deadline = deadline

    def _request(self, path_and_query: str, params: dict[str, str] | None = None) -> Any:
        url = self.base_url + path_and_query
        timeout_s = self.timeout_s
        if self._deadline is not None:
            if self._deadline.expired():
                raise ArmError(f"ARM GET {_path(path_and_query)}: not asked, the deadline ran out")
            timeout_s = self._deadline.cap(timeout_s)
        try:
            response = self._client.get(
                url, params=params,
                headers={"Authorization": f"Bearer {self._token.value}"},
                timeout=timeout_s,
            )
        except httpx.TimeoutException:
            raise ArmError(f"ARM GET {_path(path_and_query)}: no answer within "
                           f"{timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise ArmError(f"ARM GET {_path(path_and_query)}: {type(exc).__name__}") from None
        except BodyTooLarge as exc:
            raise ArmError(f"ARM GET {_path(path_and_query)}: {exc}") from None
        if response.status_code != 200:
            raise ArmError(f"ARM GET {_path(path_and_query)}: HTTP {response.status_code}"
                           f"{_error_code(response)}")
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ArmError(f"ARM GET {_path(path_and_query)}: not JSON") from None

    def get(self, resource_path: str, api_version: str) -> Any:
        return self._request(resource_path, {"api-version": api_version})

    def list(self, collection_path: str, api_version: str) -> list[Any]:
        items: list[Any] = []
        page = self._request(collection_path, {"api-version": api_version})
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if isinstance(page, Mapping) and isinstance(page.get("value"), list):
                items.extend(page["value"])
            link = page.get("nextLink") if isinstance(page, Mapping) else None
            if not isinstance(link, str) or link in seen:
                break
            seen.add(link)
            page = self._request(self._rebase(link))
        return items

    def _rebase(self, link: str) -> str:
        # Keep only path and query: the token goes to our base URL, whatever the link says.
        parts = urlsplit(link)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def _path(path_and_query: str) -> str:
    return path_and_query.split("?", 1)[0]


def _error_code(response: httpx.Response) -> str:
    try:
        code = pick(pick(response.json(), "error"), "code")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    return f" {code}" if isinstance(code, str) and code.isalnum() else ""


def discover(arm: Arm, *, subscription: str, api_host: str | None = None,
             want_cluster: bool = True) -> Discovered:
    """The cluster serving ``api_host`` (when ``want_cluster``), the subscription's VNets
    (with their peerings), and the private DNS zones that could hold ``api_host`` with their
    links and A records."""
    notes: list[str] = []
    documents: list[tuple[str, Any]] = []
    cluster = None
    if want_cluster and api_host:
        try:
            found = arm.list(f"/subscriptions/{subscription}/providers/"
                             "Microsoft.ContainerService/managedClusters", AKS_API)
            cluster = _serving(found, api_host)
            if cluster is None:
                notes.append(f"no AKS cluster in subscription {subscription} serves {api_host}")
        except ArmError as exc:
            notes.append(str(exc))
    if cluster is not None:
        documents.append(("ARM managedCluster", cluster))

    try:
        vnets = arm.list(f"/subscriptions/{subscription}/providers/"
                         "Microsoft.Network/virtualNetworks", NETWORK_API)
        documents.append(("ARM virtualNetworks", {"value": vnets}))
    except ArmError as exc:
        notes.append(str(exc))

    try:
        zones = arm.list(f"/subscriptions/{subscription}/providers/"
                         "Microsoft.Network/privateDnsZones", PRIVATE_DNS_API)
    except ArmError as exc:
        notes.append(str(exc))
        zones = []
    wanted = [z for z in zones if _holds(z, api_host)] if api_host else zones
    documents.append(("ARM privateDnsZones", {"value": wanted}))
    for zone in wanted[:MAX_ZONES]:
        zone_id = pick(zone, "id")
        if not isinstance(zone_id, str):
            continue
        for kind in ("virtualNetworkLinks", "A"):
            try:
                documents.append((f"ARM {kind} of {parse_id(zone_id).name}",
                                  {"value": arm.list(f"{zone_id}/{kind}", PRIVATE_DNS_API)}))
            except ArmError as exc:
                notes.append(str(exc))
    return Discovered(cluster, tuple(documents), tuple(notes))


def _serving(clusters: list[Any], api_host: str | None) -> Mapping[str, Any] | None:
    for doc in clusters:
        try:
            facts = parse_cluster(doc)
        except NotAClusterError:
            continue
        if api_host and facts.serves(api_host):
            return doc
    return None


def _holds(zone: Any, host: str | None) -> bool:
    name = str(pick(zone, "name") or "").lower().rstrip(".")
    host = (host or "").lower().rstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))
