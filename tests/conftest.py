import pytest

_CLEARED = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
            "ALL_PROXY", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "KUBECONFIG",
            "KUBEREACH_HOSTS_FILE", "KUBEREACH_RESOLV_CONF")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    """No test sees the developer's proxies, CA overrides or kubeconfig."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    # Even on an Azure VM, no test may reach the real IMDS: automatic discovery looks here.
    monkeypatch.setenv("KUBEREACH_DMI_DIR", "/nonexistent/kubereach-tests")
