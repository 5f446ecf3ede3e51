"""load_cloud_context: files and folders, option validation, egress IP."""

from __future__ import annotations

import json

import httpx
import pytest

from agent.cloud import load_cloud_context
from agent.cloud.egress import SOURCE_OPTION, SOURCE_URL, parse_ip_answer
from agent.errors import InventoryError, UsageError

RANGES = "azure_aks_managedcluster_public_authorized-ip-ranges_creating_azcli-recording.json"


def write(path, doc) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_cluster_and_inventory_folder(tmp_path, fixture_json):
    cluster = write(tmp_path / "cluster.json", fixture_json(RANGES))
    folder = tmp_path / "inv"
    (folder / "dns").mkdir(parents=True)
    write(folder / "vnet.json", fixture_json("azure_vnet_get_no-peerings_2024-07-01_spec-example.json"))
    write(folder / "dns" / "links.json", fixture_json(
        "azure_private-dns-vnet-link_list_completed-and-inprogress_2024-06-01_spec-example.json"))
    (folder / "notes.txt").write_text("not json, not read")
    ctx = load_cloud_context(cluster_path=cluster, inventory_paths=[folder], env={},
                             authorized_ranges=["10.0.0.90/29"], egress_ip="203.0.113.7")
    assert ctx.cluster.name == "cliakstest000002"
    assert ctx.authorized_ranges == ("1.2.3.4/32", "10.0.0.90/29")
    assert len(ctx.inventory.vnets) == 1 and len(ctx.inventory.links) == 2
    assert ctx.egress.address == "203.0.113.7" and ctx.egress.source == SOURCE_OPTION
    assert ctx.azure_dns_ip == "168.63.129.16" and not ctx.empty


def test_utf8_bom_from_az_on_windows_is_fine(tmp_path, fixture_json):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(fixture_json(RANGES)).encode())
    assert load_cloud_context(cluster_path=path, env={}).cluster is not None


@pytest.mark.parametrize("content, message", [
    ("{not json", r"--inventory .*bad.json: not JSON \(line 1, column 2"),
])
def test_malformed_inventory_file_is_one_line_error(tmp_path, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(InventoryError, match=message) as err:
        load_cloud_context(inventory_paths=[tmp_path], env={})
    assert "\n" not in str(err.value)


def test_known_resource_missing_fields_is_an_inventory_error(tmp_path, fixture_json):
    doc = fixture_json("azure_vnet_get_no-peerings_2024-07-01_spec-example.json")
    doc["properties"]["addressSpace"]["addressPrefixes"] = ["nonsense"]
    path = write(tmp_path / "vnet.json", doc)
    with pytest.raises(InventoryError, match=r"vnet.json: virtual network test-vnet: 'nonsense'"):
        load_cloud_context(inventory_paths=[path], env={})


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(InventoryError, match="no such file or folder"):
        load_cloud_context(inventory_paths=[tmp_path / "absent"], env={})
    with pytest.raises(InventoryError, match=r"no \.json files"):
        load_cloud_context(inventory_paths=[tmp_path], env={})
    with pytest.raises(InventoryError, match="cannot read"):
        load_cloud_context(cluster_path=tmp_path / "absent.json", env={})


def test_cluster_file_of_another_kind(tmp_path, fixture_json):
    path = write(tmp_path / "vnet.json",
                 fixture_json("azure_vnet_get_no-peerings_2024-07-01_spec-example.json"))
    with pytest.raises(InventoryError, match=r"--cluster .*vnet.json: neither `az aks show"):
        load_cloud_context(cluster_path=path, env={})


@pytest.mark.parametrize("kwargs, message", [
    ({"authorized_ranges": ["10.0.0.0/33"]}, "--authorized-range '10.0.0.0/33' is not a CIDR"),
    ({"egress_ip": "my-laptop"}, "--egress-ip 'my-laptop' is not an IP address"),
    ({"discover": "gcp"}, "--discover must be one of off, auto, azure"),
    ({"azure_dns_ip": "dns"}, "Azure DNS address 'dns'"),
])
def test_bad_options_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        load_cloud_context(env={}, **kwargs)


def test_azure_dns_address_is_configurable():
    assert load_cloud_context(env={"KUBEREACH_AZURE_DNS_IP": "10.99.0.53"}).azure_dns_ip == "10.99.0.53"
    assert load_cloud_context(env={}, azure_dns_ip="10.98.0.53").azure_dns_ip == "10.98.0.53"


@pytest.mark.parametrize("body, address", [
    ("198.51.100.7\n", "198.51.100.7"),
    ('{"ip":"198.51.100.8"}', "198.51.100.8"),
    ("2001:db8::1", "2001:db8::1"),
    ("<html>blocked</html>", None),
    ('{"ip": "X.X.X.X"}', None),
    ("", None),
])
def test_ip_answers(body, address):
    assert parse_ip_answer(body) == address


def test_egress_ip_url_is_asked_only_when_given():
    asked = []

    def handler(request):
        asked.append(str(request.url))
        return httpx.Response(200, text="198.51.100.9\n")

    transport = httpx.MockTransport(handler)
    assert load_cloud_context(env={}, transport=transport).egress is None and asked == []
    ctx = load_cloud_context(env={}, transport=transport,
                             egress_ip_url="https://user:pw@ip.test/")
    assert ctx.egress.address == "198.51.100.9" and ctx.egress.source == SOURCE_URL
    assert asked == ["https://user:pw@ip.test/"]


def test_egress_ip_url_failure_is_a_note_without_the_password():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    ctx = load_cloud_context(env={}, transport=httpx.MockTransport(handler), timeout_s=1,
                             egress_ip_url="https://user:hunter2@ip.test/")
    assert ctx.egress is None
    assert ctx.notes == ("egress IP not learned: https://user:REDACTED@ip.test/ did not answer "
                         "within 1 s",)


def test_explicit_egress_ip_wins_over_the_url():
    def handler(request):
        raise AssertionError("the URL must not be called")

    ctx = load_cloud_context(env={}, transport=httpx.MockTransport(handler),
                             egress_ip="198.51.100.1", egress_ip_url="https://ip.test/")
    assert ctx.egress.address == "198.51.100.1"


def test_cluster_file_with_a_wrong_field_type_is_exit_2_in_one_line(tmp_path, capsys):
    from agent import cli

    doc = {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/"
                 "managedClusters/aks1", "name": "aks1",
           "properties": {"apiServerAccessProfile": {"enablePrivateCluster": True,
                                                     "privateDNSZone": 5}}}
    cluster = write(tmp_path / "aks.json", doc)
    with pytest.raises(InventoryError, match="AKS cluster aks1: privateDNSZone is a number"):
        load_cloud_context(cluster_path=cluster, env={})
    code = cli.main(["diagnose", "--server", "https://127.0.0.1:1", "--cluster", cluster,
                     "--discover", "off"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"--cluster {cluster}: AKS cluster aks1: privateDNSZone is a number, not a string" in err


def test_a_discovered_resource_the_reader_cannot_take_is_left_out_with_a_note(fixture_json):
    # ARM discovery runs under --discover auto on any Azure VM: one odd resource there must
    # cost that resource, not the whole diagnosis (an --inventory file stays strict, above).
    from agent.cloud.context import assemble, read_inputs
    from agent.cloud.discovery import Found

    good = fixture_json("azure_vnet_get_no-peerings_2024-07-01_spec-example.json")
    odd = json.loads(json.dumps(good))
    odd["name"] = "odd-vnet"
    odd["id"] = odd["id"].replace("test-vnet", "odd-vnet")
    del odd["properties"]["addressSpace"]
    found = Found(documents=[("ARM virtualNetworks", good), ("ARM virtualNetworks", odd)],
                  cluster_doc={"kind": "not a cluster"})
    ctx = assemble(read_inputs(discover="off", env={}), found, env={})
    assert [v.name for v in ctx.inventory.vnets] == ["test-vnet"]
    assert any("odd-vnet" in n and "left out" in n for n in ctx.notes), ctx.notes
    assert any("the discovered cluster was left out" in n for n in ctx.notes), ctx.notes
