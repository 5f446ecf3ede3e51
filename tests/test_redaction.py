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


# Every field that can hold a secret, escaped and unescaped, in every output.

SERVER_PW = "planted-server-pw-4142"
TOKEN_FILE = "planted-token-file-1732"
ENV_VALUE = "planted-exec-env-value-2236"
RAW_PROXY_PASSWORDS = ("Pass/word-planted-1", "Pa#ss-planted-2", "Pa%2Fss-planted-3")


def everything_kubeconfig(tmp_path, proxy_password):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN_FILE + "\n")
    cluster = {"server": f"https://admin:{SERVER_PW}@127.0.0.1:{closed_port()}", "insecure-skip-tls-verify": True,
               "proxy-url": f"http://alice:{proxy_password}@127.0.0.1:{closed_port()}"}
    user = {"token": TOKEN, "tokenFile": str(token_file), "client-key-data": CLIENT_KEY,
            "client-certificate-data": base64.b64encode(b"cert").decode(),
            "exec": {"command": "kubelogin", "apiVersion": "client.authentication.k8s.io/v1beta1",
                     "args": ["get-token", f"--client-secret={EXEC_SECRET}"],
                     "env": [{"name": "AZURE_CLIENT_SECRET", "value": ENV_VALUE}]}}
    doc = {"current-context": "c", "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    p = tmp_path / "kc"
    p.write_text(yaml.safe_dump(doc))
    return p


def assert_clean(*texts, extra=()):
    from urllib.parse import unquote
    for secret in (*SECRETS, SERVER_PW, TOKEN_FILE, ENV_VALUE, *extra, *(unquote(s) for s in extra)):
        for text in texts:
            assert secret not in text


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
@pytest.mark.parametrize("password", RAW_PROXY_PASSWORDS)
@pytest.mark.parametrize("to_file", [False, True])
def test_every_planted_secret_stays_out(tmp_path, capsys, fmt, password, to_file):
    out_file = tmp_path / "report.out"
    argv = ["diagnose", "--kubeconfig", str(everything_kubeconfig(tmp_path, password)), "--format", fmt,
            "--timeout", "0.5", "--verbose", "--discover", "off"]
    code = cli.main(argv + (["--output", str(out_file)] if to_file else []))
    out, err = capsys.readouterr()
    assert code == 1, err
    written = out_file.read_text() if to_file else ""
    assert (written if to_file else out)  # the report went where it was asked to
    assert_clean(out, err, written, extra=(password,))


@pytest.mark.parametrize("password", RAW_PROXY_PASSWORDS)
def test_no_secret_in_a_verbose_traceback(tmp_path, capsys, monkeypatch, password):
    import probes.tcp

    proxy = f"http://alice:{password}@127.0.0.1:1"

    def boom(*a, **k):
        raise RuntimeError(f"exploded with {proxy} and {SERVER_PW}")
    monkeypatch.setattr(probes.tcp, "probe", boom)
    monkeypatch.setenv("NO_PROXY", "*")  # the kubeconfig's proxy-url still wins, like kubectl
    code = cli.main(["diagnose", "--kubeconfig", str(everything_kubeconfig(tmp_path, password)),
                     "--format", "json", "--verbose", "--timeout", "0.5", "--discover", "off"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "exploded with" in err  # the traceback was printed, scrubbed
    assert_clean(out, err, extra=(password,))


@pytest.mark.parametrize("server", [
    f"https://u:{SERVER_PW}@127.0.0.1:99999",
    f"https://u:{SERVER_PW}@[127.0.0.1",
    f"https://u:{SERVER_PW}@ftp:x:1",
    f"ftp://u:{SERVER_PW}@127.0.0.1",
    f"https://u:{SERVER_PW}/x@127.0.0.1:99999",
])
@pytest.mark.parametrize("where", ["option", "kubeconfig"])
def test_malformed_server_url_error_hides_the_password(tmp_path, capsys, server, where):
    if where == "option":
        argv = ["diagnose", "--server", server]
    else:
        doc = {"current-context": "c", "clusters": [{"name": "c", "cluster": {"server": server}}],
               "contexts": [{"name": "c", "context": {"cluster": "c"}}]}
        (tmp_path / "kc").write_text(yaml.safe_dump(doc))
        argv = ["diagnose", "--kubeconfig", str(tmp_path / "kc")]
    code = cli.main([*argv, "--discover", "off", "--timeout", "0.5"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("kubereach: error: server URL") and "REDACTED" in err
    assert SERVER_PW not in err


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:Pass/word@proxy:3128", "http://user:REDACTED@proxy:3128"),
    ("http://user:Pa#ss@proxy:3128", "http://user:REDACTED@proxy:3128"),
    ("http://user:p%40ss@proxy:3128", "http://user:REDACTED@proxy:3128"),
    ("http://token@proxy:3128", "http://REDACTED@proxy:3128"),
    ("http://proxy:3128", "http://proxy:3128"),
    ("https://u:pw@[::1", "https://u:REDACTED@[::1"),
])
def test_redact_url_on_raw_text(url, shown):
    from agent.target import redact_url
    assert redact_url(url) == shown


def test_url_password_finds_the_raw_password():
    from agent import redact
    assert "Pass/word" in redact.url_password("http://user:Pass/word@proxy:3128")
    assert "Pa#ss" in redact.url_password("http://user:Pa#ss@proxy:3128")
    assert set(redact.url_password("http://user:p%40ss@proxy:3128")) == {"p%40ss", "p@ss"}


def test_exec_args_are_scanned_by_flag_name_only():
    # A value is never lowered whole (a kubeconfig of 100k aliased 60 kB args took 10 s to
    # scan): only the flag's name, before any '=', within its first 128 characters.
    from agent import redact

    args = ["--client-secret=s3cr3t-1", "--token", "t0k3n-2", "x" * 200 + "secret", "--PASSWORD=pw-3"]
    assert redact.from_user({"exec": {"args": args}}) == ["s3cr3t-1", "t0k3n-2", "pw-3"]
