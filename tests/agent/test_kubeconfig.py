import base64

import pytest
import yaml

from agent.errors import KubeconfigError, UsageError
from agent.kubeconfig import load, normalise_server

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()


def kubeconfig(path, *, server="https://aks-1.hcp.eastus.azmk8s.io:443", cluster_extra=None, user=None,
               contexts=None, current="prod"):
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "aks-1", "cluster": {"server": server, "certificate-authority-data": CA,
                                                   **(cluster_extra or {})}}],
        "users": [{"name": "u", "user": user or {"token": "sekret-token-value"}}],
        "contexts": contexts or [{"name": "prod", "context": {"cluster": "aks-1", "user": "u"}}],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_loads_target_and_hides_token(tmp_path):
    loaded = load(kubeconfig=str(kubeconfig(tmp_path / "c")), context=None, server=None, env={})
    t = loaded.target
    assert (t.host, t.port, t.context, t.auth.method) == ("aks-1.hcp.eastus.azmk8s.io", 443, "prod", "token")
    assert t.ca_source == "certificate-authority-data"
    assert "sekret-token-value" in loaded.secrets
    assert "sekret-token-value" not in repr(t)


def test_kubeconfig_env_list_first_file_wins_and_missing_files_are_skipped(tmp_path):
    first = kubeconfig(tmp_path / "a", server="https://first.example:6443")
    second = kubeconfig(tmp_path / "b", server="https://second.example", current="other")
    env = {"KUBECONFIG": f"{tmp_path / 'missing'}:{first}:{second}"}
    t = load(kubeconfig=None, context=None, server=None, env=env).target
    assert (t.host, t.port, t.context) == ("first.example", 6443, "prod")


def test_server_override_and_bare_host_means_https(tmp_path):
    t = load(kubeconfig=str(kubeconfig(tmp_path / "c")), context=None, server="api.example:8443", env={}).target
    assert (t.scheme, t.host, t.port) == ("https", "api.example", 8443)


def test_server_without_kubeconfig(tmp_path):
    t = load(kubeconfig=None, context=None, server="https://10.1.0.4", env={"HOME": str(tmp_path)}).target
    assert (t.host, t.port, t.ca_source) == ("10.1.0.4", 443, "system")


@pytest.mark.parametrize("bad", ["ftp://x", "https://", "https://host:99999", "https://[::1"])
def test_malformed_server_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        normalise_server(bad)


def test_unknown_context_lists_the_known_ones(tmp_path):
    with pytest.raises(KubeconfigError, match=r"'nope' not found .*known: prod"):
        load(kubeconfig=str(kubeconfig(tmp_path / "c")), context="nope", server=None, env={})


def test_bad_yaml_does_not_quote_content(tmp_path):
    p = tmp_path / "c"
    p.write_text("users:\n  - name: u\n    user: {token: sekret-token-value\n")
    with pytest.raises(KubeconfigError) as info:
        load(kubeconfig=str(p), context=None, server=None, env={})
    assert "not valid YAML" in str(info.value)
    assert "sekret" not in str(info.value)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        load(kubeconfig=str(tmp_path / "none"), context=None, server=None, env={})


def test_no_kubeconfig_and_no_server(tmp_path):
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load(kubeconfig=None, context=None, server=None, env={"HOME": str(tmp_path)})


def test_ca_problems_are_reported_not_raised(tmp_path):
    p = kubeconfig(tmp_path / "c", cluster_extra={"certificate-authority-data": "%%%not-base64"})
    loaded = load(kubeconfig=str(p), context=None, server=None, env={})
    assert loaded.problems == ("certificate-authority-data is not valid base64",)


def test_relative_ca_file_is_read_from_the_kubeconfig_folder(tmp_path):
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(CA))
    p = kubeconfig(tmp_path / "c", cluster_extra={"certificate-authority-data": None, "certificate-authority": "ca.crt"})
    t = load(kubeconfig=str(p), context=None, server=None, env={}).target
    assert t.ca_source == f"certificate-authority: {tmp_path / 'ca.crt'}"
    assert t.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_exec_plugin_tls_server_name_proxy_and_secrets(tmp_path):
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
                     "args": ["get-token", "--client-secret", "cl1ent-s3cret"],
                     "env": [{"name": "AAD_SERVICE_PRINCIPAL_CLIENT_SECRET", "value": "env-s3cret"}]}}
    p = kubeconfig(tmp_path / "c", user=user, cluster_extra={
        "tls-server-name": "kubernetes", "proxy-url": "http://u:pr0xy-pw@proxy.corp:3128"})
    loaded = load(kubeconfig=str(p), context=None, server=None, env={})
    t = loaded.target
    assert (t.auth.method, t.auth.exec_command, t.sni) == ("exec", "kubelogin", "kubernetes")
    assert set(loaded.secrets) >= {"cl1ent-s3cret", "env-s3cret", "pr0xy-pw"}
    assert t.public_view()["proxy_url"] == "http://u:REDACTED@proxy.corp:3128"


def test_insecure_with_a_ca_is_refused_like_kubectl(tmp_path):
    p = kubeconfig(tmp_path / "c", cluster_extra={"insecure-skip-tls-verify": True})
    loaded = load(kubeconfig=str(p), context=None, server=None, env={})
    assert loaded.problems == ("insecure-skip-tls-verify is set together with a CA, which kubectl refuses; "
                               "remove one of them",)


def test_unreadable_token_file_and_lone_client_certificate(tmp_path):
    p = kubeconfig(tmp_path / "c", user={"tokenFile": "missing-token", "client-certificate-data": "eA=="})
    problems = load(kubeconfig=str(p), context=None, server=None, env={}).problems
    assert problems == (f"the user's tokenFile {tmp_path / 'missing-token'} cannot be read",
                        "the user has a client certificate without its key, or a key without its certificate")
