"""Property: whatever the input, kubereach ends with exit 0, 1 or 2 and one clean line,
never "internal error" or a traceback. Bounded (about 100-200 examples a test, no
deadline) so the file runs in well under 20 s; network I/O only to a closed loopback port."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import cli
from agent.errors import KubereachError
from agent.kubeconfig import load
from tests.support.servers import closed_port

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
CLI = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                    st.text(max_size=30))
junk = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                    max_leaves=8)


def field(good: st.SearchStrategy) -> st.SearchStrategy:
    """A plausible value most of the time, anything at all otherwise."""
    return st.one_of(good, scalars, junk)


def maybe(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=keys)


servers = st.one_of(st.just("https://127.0.0.1:1"), st.builds(lambda p: f"https://127.0.0.1:{p}", st.integers(0, 70000)),
                    st.sampled_from(["http://127.0.0.1:1", "https://u:pw@127.0.0.1:1", "https://[::1", "ftp://x",
                                     "https://{x!z}:1", "127.0.0.1:1", "https://", ""]))
names = st.sampled_from(["c", "u", "other"])
cluster = maybe({"server": field(servers), "insecure-skip-tls-verify": field(st.booleans()),
                 "certificate-authority-data": field(st.sampled_from(["eA==", "!!", ""])),
                 "certificate-authority": field(st.sampled_from(["/nonexistent/ca", "ca.pem", "~nosuchuser-kr/ca"])),
                 "tls-server-name": field(st.text(max_size=10)),
                 "proxy-url": field(st.sampled_from(["http://u:p/w@127.0.0.1:1", "socks5://127.0.0.1:1", "::",
                                                     "http://[::1", "http://127.0.0.1:99999"]))})
exec_ = maybe({"command": field(st.sampled_from(["kubelogin", "./bin/x", "/nonexistent/plugin"])),
               "apiVersion": field(st.just("client.authentication.k8s.io/v1beta1")),
               "args": field(st.lists(st.text(max_size=10), max_size=3)),
               "env": field(st.lists(maybe({"name": field(st.text(max_size=5)),
                                           "value": field(st.text(max_size=5))}), max_size=2))})
user = maybe({"token": field(st.text(max_size=10)), "tokenFile": field(st.sampled_from(["/nonexistent/t", "t\0x"])),
              "client-key-data": field(st.just("eA==")), "client-certificate": field(st.just("/nonexistent/c")),
              "username": field(st.text(max_size=5)), "password": field(st.text(max_size=5)),
              "exec": field(exec_), "auth-provider": field(maybe({"name": field(st.sampled_from(["azure", "gcp"])),
                                                                  "config": field(st.dictionaries(
                                                                      st.text(max_size=5), st.text(max_size=5),
                                                                      max_size=2))}))})
context = maybe({"cluster": field(names), "user": field(names), "namespace": field(st.text(max_size=5))})


def named(key: str, body: st.SearchStrategy) -> st.SearchStrategy:
    return field(st.lists(field(maybe({"name": field(names), key: field(body)})), max_size=3))


kubeconfigs = field(maybe({"current-context": field(names), "clusters": named("cluster", cluster),
                           "users": named("user", user), "contexts": named("context", context),
                           "apiVersion": field(st.just("v1")), "kind": field(st.just("Config"))}))


def assert_clean_load(path: Path, **kw) -> None:
    try:
        loaded = load(kubeconfig=str(path), context=kw.get("context"), server=kw.get("server"), env={})
    except KubereachError as exc:
        assert "\n" not in str(exc)
        return
    json.dumps(loaded.target.public_view())  # what every report shows must be plain data


@FAST
@given(doc=kubeconfigs, server=st.one_of(st.none(), servers))
def test_kubeconfig_of_any_shape(doc, server):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kc"
        path.write_text(yaml.safe_dump(doc))
        assert_clean_load(path, server=server or None)


@FAST
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n \t,?@%\\0123.~")), max_size=80))
def test_kubeconfig_of_any_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kc"
        path.write_text(text)
        assert_clean_load(path)


json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=12)
NET = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network"
KINDS = [  # (id, type) pairs that classify as each kind the inventory reads
    (f"{NET}/virtualNetworks/v", "Microsoft.Network/virtualNetworks"),
    (f"{NET}/privateDnsZones/z.io", "Microsoft.Network/privateDnsZones"),
    (f"{NET}/privateDnsZones/z.io/A/api", "Microsoft.Network/privateDnsZones/A"),
    (f"{NET}/privateDnsZones/z.io/virtualNetworkLinks/l", "Microsoft.Network/privateDnsZones/virtualNetworkLinks"),
    (f"{NET}/virtualNetworks/v/virtualNetworkPeerings/p", "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"),
    (f"{NET}/networkInterfaces/n", "Microsoft.Network/networkInterfaces"),
    (f"{NET}/publicIPAddresses/ip", "Microsoft.Network/publicIPAddresses"),
    ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/k",
     "Microsoft.ContainerService/managedClusters"),
]
ids = st.sampled_from([i for i, _ in KINDS])
properties = maybe({k: field(v) for k, v in {
    "addressSpace": maybe({"addressPrefixes": field(st.lists(st.sampled_from(["10.0.0.0/16", "x"]), max_size=2))}),
    "subnets": st.lists(maybe({"name": field(st.text(max_size=4)), "id": field(ids),
                               "properties": field(maybe({"addressPrefix": field(st.just("10.0.1.0/24"))}))}),
                        max_size=2),
    "aRecords": st.lists(maybe({"ipv4Address": field(st.sampled_from(["10.0.0.4", "x"]))}), max_size=2),
    "remoteVirtualNetwork": maybe({"id": field(ids)}), "peeringState": st.sampled_from(["Connected", "Initiated"]),
    "virtualNetwork": maybe({"id": field(ids)}), "virtualNetworkLinkState": st.just("Completed"),
    "ipConfigurations": st.lists(maybe({"properties": field(maybe({"privateIPAddress": field(st.just("10.0.0.5")),
                                                                   "subnet": field(maybe({"id": field(ids)}))}))}),
                                 max_size=2),
    "macAddress": st.just("00-0D-3A"), "ipAddress": st.just("20.0.0.1"),
    "fqdn": st.just("k.hcp.io"), "privateFQDN": st.just("k.privatelink.io"),
    "apiServerAccessProfile": maybe({"enablePrivateCluster": field(st.booleans()),
                                     "authorizedIpRanges": field(st.lists(st.just("1.2.3.4/32"), max_size=2)),
                                     "privateDNSZone": field(st.sampled_from(["system", "none"]))}),
    "networkProfile": field(json_values), "dhcpOptions": maybe({"dnsServers": field(st.lists(st.just("10.0.0.4")))}),
}.items()})
resources = st.one_of(
    maybe({"id": field(ids), "type": field(st.sampled_from([t for _, t in KINDS])), "name": field(st.text(max_size=6)),
           "properties": field(properties)}),
    st.builds(lambda kind, p, extra: {"id": kind[0], "type": kind[1], **extra, "properties": p},
              st.sampled_from(KINDS), properties, maybe({"name": field(st.text(max_size=6)),
                                                         "location": field(st.just("eastus"))})))
documents = st.one_of(json_values, resources, st.lists(resources, max_size=3),
                      st.fixed_dictionaries({"value": st.lists(resources, max_size=3)}))


def assert_clean_cloud(tmp: Path, doc, option: str) -> None:
    from agent.cloud import load_cloud_context
    path = tmp / "doc.json"
    path.write_text(json.dumps(doc))
    kw = {"cluster_path": path} if option == "--cluster" else {"inventory_paths": [path]}
    try:
        load_cloud_context(discover="off", env={}, **kw)
    except KubereachError as exc:
        assert "\n" not in str(exc)


@FAST
@given(doc=documents, option=st.sampled_from(["--cluster", "--inventory"]))
def test_cloud_files_of_any_shape(doc, option):
    with tempfile.TemporaryDirectory() as tmp:
        assert_clean_cloud(Path(tmp), doc, option)


PORT = closed_port()
option_values = st.one_of(st.text(max_size=20), st.sampled_from(["", "-", "--", "0", "-1", "nan", "inf", "1e999",
                                                                  "10.0.0.0/33", "::1", "127.0.0.1:99999",
                                                                  "a=b=c", "http://[::1", "ht!tp://", "\0"]))
OPTIONS = ["--context", "--resolver", "--timeout", "--format", "--authorized-range", "--egress-ip",
           "--egress-ip-url", "--discover", "--kubeconfig", "--cluster", "--inventory", "--output", "--server"]


@CLI
@given(picked=st.lists(st.tuples(st.sampled_from(OPTIONS), option_values), max_size=4))
def test_cli_options_of_any_value(capsys, picked):
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["diagnose"]
        for option, value in picked:
            if option in ("--kubeconfig", "--cluster", "--inventory", "--output"):
                value = str(Path(tmp) / value.replace("/", "_").replace("\0", "")) if value else value
            elif option == "--egress-ip-url" and "://" in value and "[" not in value:
                # A parseable URL could name a real host: only ever loopback, and closed.
                value = f"http://127.0.0.1:{PORT}/"
            elif option == "--server":
                value = value if not value or "://" not in value else f"https://127.0.0.1:{PORT}"
            argv += [option, value]
        # Last wins for single options: the run never leaves loopback, never waits long.
        argv += ["--server", f"https://127.0.0.1:{PORT}", "--discover", "off", "--timeout", "0.5"]
        code = cli.main(argv)
    _, err = capsys.readouterr()
    assert code in (0, 1, 2), (argv, err)
    assert "internal error" not in err and "Traceback" not in err, (argv, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)


# What the fuzzer found first, kept as plain regression tests.

def _resource(kind: int, properties: dict) -> dict:
    rid, rtype = KINDS[kind]
    return {"id": rid, "type": rtype, "name": rid.rsplit("/", 1)[1], "properties": properties}


@pytest.mark.parametrize(("doc", "kind"), [
    (_resource(2, {"aRecords": True}), "A record set api: aRecords is a boolean, not a list"),
    (_resource(2, {"aRecords": 5}), "A record set api: aRecords is a number, not a list"),
    (_resource(0, {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": 7}),
     "virtual network v: subnets is a number, not a list"),
    (_resource(7, {"fqdn": "k.hcp.io", "apiServerAccessProfile": {"enablePrivateCluster": True,
                                                                   "privateDNSZone": 5}}),
     "AKS cluster k: privateDNSZone is a number, not a string"),
    (_resource(5, {"ipConfigurations": 3, "macAddress": "00"}), "ipConfigurations is a number, not a list"),
])
def test_inventory_fields_of_the_wrong_type(tmp_path, capsys, doc, kind):
    path = tmp_path / "inv.json"
    path.write_text(json.dumps([doc]))
    code = cli.main(["diagnose", "--server", f"https://127.0.0.1:{PORT}", "--discover", "off", "--timeout", "0.5",
                     "--inventory", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    # The strict parsers name the document, the resource and the field.
    assert err.startswith(f"kubereach: error: {path}: ") and kind in err
    assert len(err.strip().splitlines()) == 1


def test_cluster_field_of_the_wrong_type(tmp_path, capsys):
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(_resource(7, {"fqdn": "k.hcp.io", "apiServerAccessProfile": {
        "enablePrivateCluster": True, "privateDNSZone": 5}})))
    code = cli.main(["diagnose", "--server", f"https://127.0.0.1:{PORT}", "--discover", "off", "--timeout", "0.5",
                     "--cluster", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err == f"kubereach: error: --cluster {path}: AKS cluster k: privateDNSZone is a number, not a string\n"
