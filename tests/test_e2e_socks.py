"""SOCKS5 proxy-url and local tunnel kubeconfigs end to end on loopback, with a real SOCKS
server (microsocks) and the real kubectl as judge."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest
import yaml

from agent.lab import pki
from tests.support.servers import apiserver, closed_port, free_port
from tests.test_e2e_loopback import TOKEN, agree, blockers, kubereach, write_kubeconfig
from tests.test_e2e_loopback import ca as _ca_fixture

ca = _ca_fixture

# microsocks resolves the name kubectl sends: "localhost" here, the private name in the lab.
NAME = "localhost"


def _microsocks(*args: str):
    binary = shutil.which("microsocks")
    if binary is None:
        pytest.skip("microsocks is not installed (apt-get install microsocks)")
    port = free_port()
    proc = subprocess.Popen([binary, "-i", "127.0.0.1", "-p", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


def _with_server(kc, server: str):
    """The kubeconfig with its server URL replaced (tls-server-name kept)."""
    doc = yaml.safe_load(kc.read_text())
    doc["clusters"][0]["cluster"]["server"] = server
    kc.write_text(yaml.safe_dump(doc))
    return kc


def _socks_kubeconfig(tmp_path, api_port, ca_pem, proxy_url):
    kc = write_kubeconfig(tmp_path / "kc", api_port, ca_pem, **{"proxy-url": proxy_url})
    doc = yaml.safe_load(kc.read_text())
    cluster = doc["clusters"][0]["cluster"]
    cluster["server"] = f"https://{NAME}:{api_port}"
    del cluster["tls-server-name"]
    kc.write_text(yaml.safe_dump(doc))
    return kc


@pytest.mark.parametrize("auth", [False, True], ids=["no-auth", "user-password"])
def test_through_microsocks(tmp_path, ca, kubectl, auth):
    leaf = pki.make_server_cert(ca, "apiserver", [NAME], [])
    args = ("-u", "kreach", "-P", "socks-Pw-7") if auth else ()
    proc, socks_port = _microsocks(*args)
    try:
        with apiserver(tmp_path, leaf, token=TOKEN) as port:
            userinfo = "kreach:socks-Pw-7@" if auth else ""
            kc = _socks_kubeconfig(tmp_path, port, ca.cert_pem, f"socks5://{userinfo}127.0.0.1:{socks_port}")
            doc = kubereach(kc)
            agree(kubectl, doc, kc, tmp_path)
    finally:
        proc.kill()
        proc.wait(5)
    assert "socks-Pw-7" not in str(doc)
    assert doc["verdict"] == "reachable", doc["findings"]
    assert blockers(doc) == []
    connect = next(p for p in doc["probes"] if p["probe"] == "proxy.connect")
    assert connect["facts"]["address_type"] == "name"
    assert connect["facts"]["method"] == ("username/password" if auth else "none")
    assert [s["step"] for s in doc["path"] if s["status"] == "ok"][-3:] == ["proxy", "tls", "http"]


def test_socks_port_with_nothing_listening(tmp_path, ca, kubectl):
    kc = _socks_kubeconfig(tmp_path, 443, ca.cert_pem, f"socks5://127.0.0.1:{closed_port()}")
    doc = kubereach(kc)
    agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["proxy.tunnel_down"]
    finding = next(f for f in doc["findings"] if f["code"] == "proxy.tunnel_down")
    assert "ssh -D" in finding["fix"]


def test_socks_server_that_cannot_reach_the_destination(tmp_path, ca, kubectl):
    proc, socks_port = _microsocks()
    try:
        kc = _socks_kubeconfig(tmp_path, closed_port(), ca.cert_pem, f"socks5://127.0.0.1:{socks_port}")
        doc = kubereach(kc)
        agree(kubectl, doc, kc, tmp_path)
    finally:
        proc.kill()
        proc.wait(5)
    assert blockers(doc) == ["proxy.socks_refused"]
    connect = next(p for p in doc["probes"] if p["probe"] == "proxy.connect")
    assert connect["facts"]["reply"] == "connection refused"


def test_local_tunnel_down_names_the_tunnel(tmp_path, ca, kubectl):
    kc = write_kubeconfig(tmp_path / "kc", closed_port(), ca.cert_pem)
    doc = kubereach(kc)
    agree(kubectl, doc, kc, tmp_path)
    assert blockers(doc) == ["net.refused", "net.tunnel_down"]
    refused = next(f for f in doc["findings"] if f["code"] == "net.refused")
    assert "Cause: net.tunnel_down" in refused["detail"]


def test_https_proxy_is_ignored_for_a_loopback_server(tmp_path, ca, kubectl):
    leaf = pki.make_server_cert(ca, "apiserver", ["aks-e2e-dns-5f2c1a9b.hcp.westeurope.azmk8s.io"], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = write_kubeconfig(tmp_path / "kc", port, ca.cert_pem)
        dead_proxy = f"http://127.0.0.1:{closed_port()}"
        doc = kubereach(kc, env={"HTTPS_PROXY": dead_proxy})
        ok = subprocess.run([kubectl, "--kubeconfig", str(kc), "get", "--raw", "/version", "--request-timeout=5s"],
                            capture_output=True, timeout=30,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HTTPS_PROXY": dead_proxy})
    assert ok.returncode == 0
    assert doc["verdict"] == "reachable"
    codes = {f["code"]: f["severity"] for f in doc["findings"]}
    assert codes.get("proxy.ignored_for_loopback") == "info"
    assert codes.get("net.local_tunnel") == "info"



@pytest.mark.parametrize(("token", "verdict", "found", "status"), [
    (TOKEN, "reachable", [], "ok"),
    ("kr-e2e-wrong-token-9f8e7d6c5b4a", "unreachable", ["auth.unauthorized"], "failed"),
], ids=["accepted", "rejected"])
def test_check_auth_presents_the_token_through_the_tunnel(tmp_path, ca, kubectl, token, verdict, found, status):
    # A SOCKS tunnel is the only way in here as far as kubectl is concerned: the credential
    # check must take it too, and say what the API server made of the token.
    leaf = pki.make_server_cert(ca, "apiserver", [NAME], [])
    proc, socks_port = _microsocks()
    try:
        with apiserver(tmp_path, leaf, token=TOKEN) as port:
            kc = _socks_kubeconfig(tmp_path, port, ca.cert_pem, f"socks5://127.0.0.1:{socks_port}")
            doc = yaml.safe_load(kc.read_text())
            doc["users"][0]["user"]["token"] = token
            kc.write_text(yaml.safe_dump(doc))
            report = kubereach(kc, "--check-auth")
            agree(kubectl, report, kc, tmp_path)
    finally:
        proc.kill()
        proc.wait(5)
    assert token not in str(report)
    assert (report["verdict"], blockers(report)) == (verdict, found), report["findings"]
    review = next(p for p in report["probes"] if p["probe"] == "auth.review")
    auth = next(s for s in report["path"] if s["step"] == "auth")
    assert (review["subject"], review["status"], auth["status"]) == (f"{NAME}:{port} via proxy", status, status)


def test_tunnel_up_on_127_0_0_1_but_not_on_ipv6_loopback_is_reachable(tmp_path, ca):
    # Debian's hosts file gives localhost ::1 and 127.0.0.1; `ssh -L` and `az aks bastion`
    # often listen on 127.0.0.1 only. Go dials ::1, is refused, and goes on to 127.0.0.1:
    # kubectl works, so nothing may be reported as a blocker.
    from agent.planner import Request, diagnose

    (tmp_path / "hosts").write_text("::1 localhost ip6-localhost\n127.0.0.1 localhost\n")
    leaf = pki.make_server_cert(ca, "apiserver", ["aks-e2e-dns-5f2c1a9b.hcp.westeurope.azmk8s.io"], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = _with_server(write_kubeconfig(tmp_path / "kc", port, ca.cert_pem), f"https://localhost:{port}")
        report = diagnose(Request(kubeconfig=str(kc), timeout_s=2, hosts_path=str(tmp_path / "hosts"),
                                  cloud={"discover": "off"}), env={"PATH": "/usr/bin:/bin"}).report
    assert report.verdict == "reachable"
    assert [f.code for f in report.findings if f.severity.value == "blocker"] == []
    tcp = {p.subject: p.status.value for p in report.probes if p.probe == "tcp"}
    assert tcp == {f"[::1]:{port}": "failed", f"127.0.0.1:{port}": "ok"}


def test_https_proxy_is_used_for_localhost_in_capitals(tmp_path, ca, kubectl):
    # Go skips the proxy for exactly "localhost": "LOCALHOST" goes to HTTPS_PROXY, here a
    # dead one, and kubectl fails.
    leaf = pki.make_server_cert(ca, "apiserver", ["aks-e2e-dns-5f2c1a9b.hcp.westeurope.azmk8s.io"], [])
    with apiserver(tmp_path, leaf, token=TOKEN) as port:
        kc = _with_server(write_kubeconfig(tmp_path / "kc", port, ca.cert_pem), f"https://LOCALHOST:{port}")
        dead_proxy = f"http://127.0.0.1:{closed_port()}"
        report = kubereach(kc, env={"HTTPS_PROXY": dead_proxy})
        failed = subprocess.run([kubectl, "--kubeconfig", str(kc), "get", "--raw", "/version",
                                 "--request-timeout=5s"], capture_output=True, timeout=30,
                                env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HTTPS_PROXY": dead_proxy})
    assert failed.returncode != 0
    assert report["verdict"] == "unreachable"
    assert report["proxy"]["used"] is True
    assert "proxy.ignored_for_loopback" not in {f["code"] for f in report["findings"]}


def test_proxy_url_with_an_unescaped_slash_in_the_password_is_not_probed(tmp_path, ca, kubectl):
    # As people paste them: the '/' ends the authority, so the URL has no valid port.
    # kubectl refuses the kubeconfig; no tunnel is tried and no probe crashes.
    password = "Pa/ss-7f3e"
    kc = write_kubeconfig(tmp_path / "kc", closed_port(), ca.cert_pem,
                          **{"proxy-url": f"http://kreach:{password}@127.0.0.1:{closed_port()}"})
    doc = kubereach(kc)
    agree(kubectl, doc, kc, tmp_path)
    assert password not in json.dumps(doc) and "Pa" not in doc["target"]["proxy_url"]
    assert blockers(doc) == ["kubeconfig.invalid"]
    connect = next(p for p in doc["probes"] if p["probe"] == "proxy.connect")
    assert connect["status"] == "skipped" and "does not parse" in connect["reason"]
    assert "check.incomplete" not in {f["code"] for f in doc["findings"]}
