"""Live discovery against a MockTransport that serves the real example payloads. No request
leaves the process; the token must never show up in anything we print or raise."""

from __future__ import annotations

import httpx
import pytest

from agent.cloud import load_cloud_context
from agent.cloud.arm import Arm, ArmError, discover
from agent.cloud.imds import AccessToken, ImdsError, parse_instance, read_instance, read_token
from agent.errors import InventoryError

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.SECRET-TOKEN-DO-NOT-PRINT"
IMDS = "http://imds.test"
ARM = "https://arm.test"
SUB = "00000000-0000-0000-0000-000000000000"
CLUSTER = "azure_aks_managedcluster_private_system-dns_public-fqdn-enabled_2021-10-01_azcli-recording.json"
ZONE = "7c8e06f7-212d-4c41-900e-161264b39920.privatelink.westus2.azmk8s.io"


def test_parse_full_instance(fixture_json):
    i = parse_instance(fixture_json("azure_imds_instance_full_linux_docs.json"))
    assert i.name == "examplevmname" and i.resource_group == "macikgo-test-may-23"
    assert i.private_ips == ("10.144.133.132",) and i.public_ips == ()  # "" is no address
    assert i.subnets == ("10.144.133.128/26",)


def test_parse_network_subdocument_skips_placeholder(fixture_json):
    i = parse_instance(fixture_json("azure_imds_instance-network_public-ip-placeholder_docs.json"))
    assert i.private_ips == ("10.1.0.4",) and i.public_ips == ()  # "X.X.X.X" is not an IP
    assert i.subnets == ("10.1.0.0/24",)


def test_parse_compute_only(fixture_json):
    i = parse_instance(fixture_json("azure_imds_instance_compute-only_2021-11-15_spec-example.json"))
    assert i.subscription == "8d10da13-8125-4ba9-a717-bf7490507b3d" and i.private_ips == ()


class FakeCloud:
    """One routing handler for IMDS and ARM, recording every request."""

    def __init__(self, fixture_json, *, token_status: int = 200, public_ip: str = "") -> None:
        self.load = fixture_json
        self.requests: list[httpx.Request] = []
        self.token_status = token_status
        self.public_ip = public_ip
        self.vnets: list[dict] = []
        self.links: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = request.url
        if url.host == "imds.test":
            return self.imds(request)
        if url.host != "arm.test":
            return httpx.Response(599, text="left the sandbox")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken"}})
        path = url.path.lower()
        if path.endswith("/managedclusters"):
            return httpx.Response(200, json={"value": [self.load(CLUSTER)]})
        if path.endswith("/virtualnetworks"):
            return httpx.Response(200, json={"value": self.vnets})
        if path.endswith("/privatednszones"):
            zone = self.load("azure_private-dns-zone_get_2024-06-01_spec-example.json")
            zone["name"] = ZONE
            zone["id"] = zone["id"].replace("privatezone1.com", ZONE)
            other = self.load("azure_private-dns-zone_get_2024-06-01_spec-example.json")
            return httpx.Response(200, json={"value": [zone, other]})
        if path.endswith("/virtualnetworklinks"):
            page = self.load(
                "azure_private-dns-vnet-link_list_completed-and-inprogress_2024-06-01_spec-example.json")
            if "$skipToken" in str(url):
                page.pop("nextLink")
                page["value"] = self.links
            return httpx.Response(200, json=page)
        if path.endswith("/a"):
            return httpx.Response(403, json={"error": {"code": "AuthorizationFailed"}})
        return httpx.Response(404, json={"error": {"code": "ResourceNotFound"}})

    def imds(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Metadata") != "true":
            return httpx.Response(400, json={"error": "Bad request. Required metadata header not specified"})
        version = request.url.params.get("api-version")
        if request.url.path == "/metadata/instance":
            if version != "2024-07-17":
                return httpx.Response(400, json=self.load("azure_imds_error_missing-api-version_docs.json")
                                      | {"newest-versions": ["2024-07-17"]})
            doc = self.load("azure_imds_instance_full_linux_docs.json")
            doc["compute"]["subscriptionId"] = SUB
            doc["network"]["interface"][0]["ipv4"]["ipAddress"][0]["publicIpAddress"] = self.public_ip
            return httpx.Response(200, json=doc)
        if request.url.path == "/metadata/identity/oauth2/token":
            assert request.url.params["resource"] == "https://management.azure.com/"
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={
                    "error": "invalid_request", "error_description": "Identity not found"})
            return httpx.Response(200, json={"access_token": TOKEN, "expires_on": "1700000000",
                                             "token_type": "Bearer"})
        return httpx.Response(404)


def client_for(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), trust_env=False)


def test_imds_needs_metadata_header_and_retries_the_newest_version(fixture_json):
    cloud = FakeCloud(fixture_json)
    instance = read_instance(client_for(cloud), IMDS)
    assert instance.private_ips == ("10.144.133.132",)
    first, second = cloud.requests
    assert first.url.params["api-version"] == "2021-02-01"  # ours, refused by this IMDS
    assert second.url.params["api-version"] == "2024-07-17"  # the one it said it knows
    assert all(r.headers["Metadata"] == "true" for r in cloud.requests)


def test_imds_timeout_is_a_clean_error():
    def slow(request):
        raise httpx.ConnectTimeout("timed out", request=request)

    with pytest.raises(ImdsError, match=r"did not answer within 0.5 s"):
        read_instance(client_for(slow), IMDS, 0.5)


def test_token_is_never_in_repr_or_errors(fixture_json):
    token = read_token(client_for(FakeCloud(fixture_json)), IMDS)
    assert token.value == TOKEN
    assert TOKEN not in repr(token) and TOKEN not in str(token) and TOKEN not in f"{token!r}"
    with pytest.raises(ImdsError, match=r"HTTP 400, invalid_request") as err:
        read_token(client_for(FakeCloud(fixture_json, token_status=400)), IMDS)
    assert "Identity" not in str(err.value)


def test_arm_list_follows_next_link_only_on_its_own_origin(fixture_json):
    cloud = FakeCloud(fixture_json)
    cloud.links = [fixture_json("azure_private-dns-vnet-link_get_completed_2024-06-01_spec-example.json")]
    arm = Arm(client_for(cloud), AccessToken(TOKEN), ARM, 2.0)
    items = arm.list("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/"
                     "privateDnsZones/z/virtualNetworkLinks", "2024-06-01")
    assert len(items) == 3
    # The fixture's nextLink names management.azure.com: it was re-based onto arm.test.
    assert {r.url.host for r in cloud.requests} == {"arm.test"}
    assert "$skipToken=skipToken" in str(cloud.requests[-1].url)


def test_arm_error_names_status_and_code_but_not_the_token(fixture_json):
    arm = Arm(client_for(FakeCloud(fixture_json)), AccessToken(TOKEN), ARM, 2.0)
    with pytest.raises(ArmError) as err:
        arm.get("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/privateDnsZones/z/A",
                "2024-06-01")
    assert str(err.value).endswith("HTTP 403 AuthorizationFailed") and TOKEN not in str(err.value)


def test_discover_finds_the_cluster_by_host_and_reads_only_its_zone(fixture_json):
    cloud = FakeCloud(fixture_json)
    cloud.vnets = [fixture_json("azure_vnet_get_gatewaysubnet_empty-dnsservers_2021-03-01_azcli-recording.json")]
    arm = Arm(client_for(cloud), AccessToken(TOKEN), ARM, 2.0)
    host = f"cliakstest-clitestarhqathbb-8ecadf-40536b9a.{ZONE}"
    found = discover(arm, subscription=SUB, api_host=host)
    assert found.cluster["name"] == "cliakstest000001"
    sources = [s for s, _ in found.documents]
    assert sources[:3] == ["ARM managedCluster", "ARM virtualNetworks", "ARM privateDnsZones"]
    assert f"ARM virtualNetworkLinks of {ZONE}" in sources
    # the unrelated zone privatezone1.com was not read further
    assert not any("privatezone1.com/" in str(r.url) for r in cloud.requests)
    assert found.notes == (f"ARM GET /subscriptions/subscriptionId/resourceGroups/resourceGroup1/"
                           f"providers/Microsoft.Network/privateDnsZones/{ZONE}/A: "
                           f"HTTP 403 AuthorizationFailed",)


def test_load_cloud_context_discovers_azure_end_to_end(fixture_json):
    cloud = FakeCloud(fixture_json, public_ip="20.30.40.50")
    cloud.vnets = [fixture_json("azure_vnet_get_no-peerings_2024-07-01_spec-example.json")]
    host = f"cliakstest-clitestarhqathbb-8ecadf-40536b9a.{ZONE}"
    ctx = load_cloud_context(discover="azure", env={}, api_host=host, timeout_s=2.0,
                             transport=httpx.MockTransport(cloud), imds_url=IMDS, arm_url=ARM)
    assert ctx.cluster is not None and ctx.cluster.name == "cliakstest000001"
    assert ctx.instance.private_ips == ("10.144.133.132",)
    assert [v.name for v in ctx.inventory.vnets] == ["test-vnet"]
    assert ctx.inventory.knows_zone(ZONE)
    assert ctx.egress.address == "20.30.40.50" and ctx.egress.source.startswith("IMDS")
    assert any("AuthorizationFailed" in n for n in ctx.notes)
    assert TOKEN not in repr(ctx)


def test_imds_and_arm_urls_come_from_the_environment(fixture_json):
    cloud = FakeCloud(fixture_json)
    ctx = load_cloud_context(discover="auto", env={"KUBEREACH_IMDS_URL": IMDS,
                                                   "KUBEREACH_ARM_URL": ARM},
                             api_host="nothing.example", transport=httpx.MockTransport(cloud))
    assert ctx.instance is not None
    assert {r.url.host for r in cloud.requests} == {"imds.test", "arm.test"}


def test_auto_discovery_off_azure_is_silent_and_explicit_is_an_error():
    def nobody(request):
        raise httpx.ConnectError("connection refused", request=request)

    ctx = load_cloud_context(discover="auto", env={}, transport=httpx.MockTransport(nobody),
                             imds_url=IMDS)
    assert ctx.instance is None and ctx.notes == () and ctx.empty
    with pytest.raises(InventoryError, match=r"--discover azure: IMDS at http://imds.test"):
        load_cloud_context(discover="azure", env={}, transport=httpx.MockTransport(nobody),
                           imds_url=IMDS)


def test_no_managed_identity_becomes_a_note(fixture_json):
    cloud = FakeCloud(fixture_json, token_status=400)
    ctx = load_cloud_context(discover="azure", env={}, transport=httpx.MockTransport(cloud),
                             imds_url=IMDS, arm_url=ARM)
    assert ctx.instance is not None and ctx.inventory.empty
    assert ctx.notes == ("IMDS gave no managed-identity token (HTTP 400, invalid_request): "
                         "VNets, peerings and DNS zones were not read",)
    assert not any(r.url.host == "arm.test" for r in cloud.requests)


def test_defaults_and_the_auto_probe_timeout_bound(fixture_json):
    from agent.cloud.arm import ARM_URL
    from agent.cloud.context import AZURE_DNS_IP
    from agent.cloud.imds import IMDS_URL, PROBE_TIMEOUT_S

    assert (IMDS_URL, ARM_URL, AZURE_DNS_IP) == (
        "http://169.254.169.254", "https://management.azure.com", "168.63.129.16")
    cloud = FakeCloud(fixture_json, token_status=400)
    load_cloud_context(discover="auto", env={}, timeout_s=30, imds_url=IMDS, arm_url=ARM,
                       transport=httpx.MockTransport(cloud))
    first = cloud.requests[0]
    assert first.url.path == "/metadata/instance"
    assert PROBE_TIMEOUT_S <= 0.5
    assert set(first.extensions["timeout"].values()) == {PROBE_TIMEOUT_S}
    assert all(max(r.extensions["timeout"].values()) <= 30 for r in cloud.requests)
