"""Wrong types in a kubeconfig: kubectl refuses to load the file ("json: cannot unmarshal
... into Go struct field ..."), so kubereach says which field of which entry, exit 2."""

from __future__ import annotations

import pytest
import yaml

from agent.errors import KubeconfigError
from agent.kubeconfig import load


def write(tmp_path, *, top=None, cluster=None, context=None, user=None):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", **(cluster or {})}}],
           "users": [{"name": "u", "user": user or {}}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", **(context or {})}}],
           **(top or {})}
    p = tmp_path / "kc"
    p.write_text(yaml.safe_dump(doc))
    return p


def load_file(p):
    return load(kubeconfig=str(p), context=None, server=None, env={})


@pytest.mark.parametrize(("kw", "message"), [
    ({"top": {"current-context": ["c"]}}, r"'current-context' must be a string, not a list"),
    ({"top": {"current-context": 5}}, r"'current-context' must be a string, not a number"),
    ({"context": {"cluster": ["c"]}}, r"context 'c': 'cluster' must be a string, not a list"),
    ({"context": {"user": {"name": "u"}}}, r"context 'c': 'user' must be a string, not a map"),
    ({"cluster": {"proxy-url": 5}}, r"cluster 'c': 'proxy-url' must be a string, not a number"),
    ({"cluster": {"server": 443}}, r"cluster 'c': 'server' must be a string, not a number"),
    ({"cluster": {"server": ["https://x"]}}, r"cluster 'c': 'server' must be a string, not a list"),
    ({"cluster": {"insecure-skip-tls-verify": "false"}},
     r"cluster 'c': 'insecure-skip-tls-verify' must be true or false, not a string"),
    ({"cluster": {"tls-server-name": 5}}, r"'tls-server-name' must be a string"),
    ({"cluster": {"certificate-authority-data": 5}}, r"'certificate-authority-data' must be a string"),
    ({"user": {"exec": {"command": "kubelogin", "args": "get-token"}}},
     r"user 'u': exec 'args' must be a list of strings, not a string"),
    ({"user": {"exec": {"command": "kubelogin", "args": [["x"]]}}},
     r"user 'u': exec 'args' must be a list of strings, not a list holding something else"),
    ({"user": {"exec": {"command": "kubelogin", "env": "A=b"}}},
     r"user 'u': exec 'env' must be a list of \{name, value\}, not a string"),
    ({"user": {"exec": {"command": "kubelogin", "env": ["A=b"]}}},
     r"user 'u': exec 'env' must be a list of \{name, value\}"),
    ({"user": {"exec": {"command": ["kubelogin"]}}}, r"user 'u': exec 'command' must be a string"),
    ({"user": {"token": 12345}}, r"user 'u': 'token' must be a string, not a number"),
    ({"user": {"auth-provider": {"name": "azure", "config": {"x": [1]}}}},
     r"user 'u': auth-provider 'config' must be a map of strings"),
])
def test_wrong_type_names_the_field_and_entry(tmp_path, kw, message):
    with pytest.raises(KubeconfigError, match=message) as info:
        load_file(write(tmp_path, **kw))
    assert "kubectl refuses to load this file" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_wrong_type_in_an_unused_entry_is_refused_like_kubectl(tmp_path):
    p = write(tmp_path)
    doc = yaml.safe_load(p.read_text())
    doc["clusters"].append({"name": "other", "cluster": {"server": 1}})
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match="cluster 'other': 'server' must be a string"):
        load_file(p)


def test_null_fields_are_fine(tmp_path):
    t = load_file(write(tmp_path, cluster={"proxy-url": None, "insecure-skip-tls-verify": None},
                        user={"exec": {"command": "kubelogin", "args": None, "env": None}})).target
    assert (t.proxy_url, t.insecure_skip_tls_verify, t.auth.method) == (None, False, "exec")


def test_a_non_string_entry_name(tmp_path):
    p = write(tmp_path)
    doc = yaml.safe_load(p.read_text())
    doc["users"][0]["name"] = 7
    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match=r"an entry of 'users' has no name \('name' is a number\)"):
        load_file(p)


# What kubectl 1.32 does, checked against it: port 0 is dialled as port 0 ("dial tcp
# 127.0.0.1:0: connect: connection refused"); http:// is spoken as plain HTTP.

def test_port_zero_stays_zero(tmp_path):
    t = load_file(write(tmp_path, cluster={"server": "https://127.0.0.1:0"})).target
    assert (t.port, t.server) == (0, "https://127.0.0.1:0")


def test_port_zero_through_the_cli_is_refused_not_port_443(capsys):
    import json

    from agent import cli
    code = cli.main(["diagnose", "--server", "https://127.0.0.1:0", "--discover", "off", "--timeout", "1",
                     "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["target"]["port"] == 0
    assert [f["subject"] for f in doc["findings"] if f["code"] == "net.refused"] == ["127.0.0.1:0"]


def test_http_server_is_read_as_plain_http_on_port_80(tmp_path):
    # Not a kubeconfig problem: kubectl talks plain HTTP to it (a `kubectl proxy` serves
    # that); the http rules judge what answers (tests/test_e2e_plain_http.py).
    loaded = load_file(write(tmp_path, cluster={"server": "http://127.0.0.1"}))
    assert (loaded.target.scheme, loaded.target.port, loaded.problems) == ("http", 80, ())


def test_http_server_from_the_command_line_too():
    loaded = load(kubeconfig=None, context=None, server="http://127.0.0.1:8080", env={"HOME": "/nonexistent"})
    assert (loaded.target.scheme, loaded.target.port, loaded.problems) == ("http", 8080, ())


@pytest.mark.parametrize(("server", "host"), [
    ("https://LOCALHOST:8443", "LOCALHOST"),  # case kept: Go proxies anything but exactly 'localhost'
    ("https://[::1%25lo]:1", "::1%lo"),  # the zone unescaped, as url.Hostname() gives it
    ("https://u:p@Api.Example.com.:443/x", "Api.Example.com."),
    ("https://[fe80::1]", "fe80::1"),
])
def test_server_host_is_read_as_go_reads_it(server, host):
    from agent.kubeconfig import normalise_server

    assert normalise_server(server)[1] == host


@pytest.mark.parametrize(("host", "tls_server_name", "sni"), [
    ("api.example.com.", None, "api.example.com"),
    ("127.0.0.1", "aks-1.hcp.eastus.azmk8s.io.", "aks-1.hcp.eastus.azmk8s.io"),
    ("api.example.com", None, "api.example.com"),
])
def test_sni_drops_one_trailing_dot_as_go_does(host, tls_server_name, sni):
    from agent.target import Target

    assert Target("https://x", host, 443, tls_server_name=tls_server_name).sni == sni


def test_no_kubeconfig_in_a_pod_points_at_in_cluster(tmp_path):
    from agent.errors import KubereachError

    env = {"HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(KubereachError, match=r"no kubeconfig found .*`kubereach in-cluster`"):
        load(kubeconfig=None, context=None, server=None, env=env)
    with pytest.raises(KubereachError, match=r"give --kubeconfig or --server$"):
        load(kubeconfig=None, context=None, server=None, env={"HOME": str(tmp_path)})
