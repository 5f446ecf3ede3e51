"""Planted secrets never reach stdout or stderr, in any format, even when a probe crashes."""

import base64

import pytest
import yaml

from agent import cli
from tests.support.servers import closed_port

TOKEN = "planted-bearer-token-7f3a9c"
CLIENT_KEY = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----planted-key-material").decode()
PROXY_PW = "planted-proxy-pw-31415"
ENV_PW = "planted-env-proxy-pw-2718"
EXEC_SECRET = "planted-exec-secret-1618"
SECRETS = (TOKEN, CLIENT_KEY, PROXY_PW, ENV_PW, EXEC_SECRET)


def kubeconfig(tmp_path, user, proxy=True):
    cluster = {"server": f"https://127.0.0.1:{closed_port()}", "insecure-skip-tls-verify": True}
    if proxy:
        cluster["proxy-url"] = f"http://alice:{PROXY_PW}@127.0.0.1:{closed_port()}"
    doc = {"current-context": "c", "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "u", "user": user}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    p = tmp_path / "kc"
    p.write_text(yaml.safe_dump(doc))
    return p


USERS = [
    {"token": TOKEN, "client-key-data": CLIENT_KEY},
    {"exec": {"command": "kubelogin", "apiVersion": "client.authentication.k8s.io/v1beta1",
              "args": ["get-token", f"--client-secret={EXEC_SECRET}"]}},
]


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("proxy", [True, False])
def test_no_secret_in_any_format(tmp_path, capsys, monkeypatch, fmt, user, proxy):
    monkeypatch.setenv("HTTPS_PROXY", f"http://bob:{ENV_PW}@127.0.0.1:{closed_port()}")
    code = cli.main(["diagnose", "--kubeconfig", str(kubeconfig(tmp_path, user, proxy)), "--format", fmt,
                     "--timeout", "1", "--verbose"])
    out, err = capsys.readouterr()
    assert code == 1
    # The proxy URL is shown without its password. (The environment's proxy is never used
    # for a loopback server, so only the kubeconfig's shows.)
    assert ("REDACTED" in out) is proxy
    for secret in SECRETS:
        assert secret not in out and secret not in err


def test_no_secret_when_a_probe_crashes(tmp_path, capsys, monkeypatch):
    import probes.tcp

    def boom(*a, **k):
        raise RuntimeError(f"exploded while holding {TOKEN}")
    monkeypatch.setattr(probes.tcp, "probe", boom)
    code = cli.main(["diagnose", "--kubeconfig", str(kubeconfig(tmp_path, USERS[0], proxy=False)),
                     "--format", "json", "--verbose"])
    out, err = capsys.readouterr()
    assert code == 1
    assert '"internal"' in out  # the crash is recorded as an ERROR probe
    assert "check.incomplete" in out
    assert TOKEN not in out and TOKEN not in err
