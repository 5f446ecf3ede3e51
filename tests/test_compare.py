"""`kubereach compare` over real reports made on loopback: one from a resolver that knows
the name, one from a resolver that says NXDOMAIN; input handling and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent import cli, compare
from agent.lab import pki
from agent.render import compact
from tests.support.nameserver import Nameserver, answer
from tests.support.servers import apiserver

HOST = "kreach-dns-5f3a9c1e.4b7d2e10.privatelink.westeurope.azmk8s.io"


def _diagnose(tmp_path, monkeypatch, capsys, ns: Nameserver, kubeconfig, name: str) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "resolv.conf").write_text(f"nameserver {ns.spec}\n")
    (folder / "hosts").write_text("")
    monkeypatch.setenv("KUBEREACH_RESOLV_CONF", str(folder / "resolv.conf"))
    monkeypatch.setenv("KUBEREACH_HOSTS_FILE", str(folder / "hosts"))
    cli.main(["diagnose", "--kubeconfig", str(kubeconfig), "--discover", "off", "--timeout", "2",
              "--format", "json"])
    out, _ = capsys.readouterr()
    path = folder / "report.json"
    path.write_text(out)
    return str(path)


@pytest.fixture()
def two_reports(tmp_path, monkeypatch, capsys):
    """(works.json, fails.json): the same kubeconfig, a resolver with the private zone
    and one without it."""
    import base64

    import yaml

    ca = pki.make_ca("ca")
    leaf = pki.make_server_cert(ca, "apiserver", [HOST], ["127.0.0.1"])
    with apiserver(tmp_path, leaf) as port:
        kc = tmp_path / "kubeconfig"
        kc.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "aks",
            "clusters": [{"name": "aks", "cluster": {"server": f"https://{HOST}:{port}",
                                                     "certificate-authority-data": base64.b64encode(ca.cert_pem).decode()}}],
            "users": [{"name": "u", "user": {}}],
            "contexts": [{"name": "aks", "context": {"cluster": "aks", "user": "u"}}]}))
        with Nameserver(answer({HOST: "127.0.0.1"})) as linked, Nameserver(answer({})) as public:
            works = _diagnose(tmp_path, monkeypatch, capsys, linked, kc, "works")
            fails = _diagnose(tmp_path, monkeypatch, capsys, public, kc, "fails")
    return works, fails


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dns_difference_explains_the_verdicts(two_reports, capsys):
    works, fails = two_reports
    code, out, err = _compare(capsys, fails, works)
    assert (code, err) == (1, "")
    out = " ".join(out.split())  # the explanation is wrapped at 80 columns
    assert "A cannot connect and B can" in out
    assert "The difference that explains it is the DNS answer" in out
    assert "NXDOMAIN" in out and "127.0.0.1" in out
    code, out, _ = _compare(capsys, fails, works, "--format", "json")
    doc = json.loads(out)
    explaining = [d for d in doc["differences"] if d["explains"]]
    assert [d["aspect"] for d in explaining] == ["dns"]
    assert "dns.nxdomain" in doc["a"]["only_findings"]


def test_identical_reports_say_no_difference(two_reports, capsys):
    works, _ = two_reports
    code, out, _ = _compare(capsys, works, works)
    assert code == 0
    assert "No difference" in out


def test_a_compact_report_inside_command_invoke_output_compares_with_a_full_one(two_reports, tmp_path, capsys):
    works, fails = two_reports
    line = compact.dumps(json.loads(Path(works).read_text()))
    log = tmp_path / "invoke.txt"
    log.write_text("command started at 2025-01-01 10:00:00+00:00, finished at 2025-01-01 10:00:20+00:00 "
                   f"with exitcode=0\njob.batch/kubereach-1 created\n{line}\n")
    code, out, _ = _compare(capsys, fails, str(log))
    assert code == 1 and "the DNS answer" in " ".join(out.split())
    wrapped = tmp_path / "invoke.json"
    wrapped.write_text(json.dumps({"exitCode": 0, "logs": line + "\n"}))
    code, out, _ = _compare(capsys, str(wrapped), works)
    assert (code, "No difference" in out) == (0, True)


def test_bad_input_exits_2_with_one_line(two_reports, tmp_path, capsys):
    works, _ = two_reports
    other = json.loads(Path(works).read_text())
    other["target"]["host"] = "another-cluster.hcp.westeurope.azmk8s.io"
    (tmp_path / "other.json").write_text(json.dumps(other))
    (tmp_path / "not.json").write_text(json.dumps({"verdict": "reachable"}))
    (tmp_path / "text.txt").write_text("kubectl CAN reach ...\n")
    for args, message in (([works, str(tmp_path / "missing.json")], "missing.json"),
                          ([works, str(tmp_path / "not.json")], "not a kubereach report"),
                          ([works, str(tmp_path / "text.txt")], "not a kubereach report"),
                          ([works, str(tmp_path / "other.json")], "different API servers"),
                          ([works, works, "--format", "yaml"], "--format"),
                          ([works, works, "--host", "nope"], "--host nope")):
        code, out, err = _compare(capsys, *args)
        assert (code, out) == (2, ""), args
        assert err.count("\n") == 1 and message in err, (args, err)


def test_compare_is_total_over_odd_but_valid_reports(two_reports):
    works, _ = two_reports
    doc = json.loads(Path(works).read_text())
    bare = {"schema_version": 1, "tool": {"name": "kubereach"}, "verdict": "unreachable",
            "target": {"host": doc["target"]["host"]}}
    for a, b in ((doc, bare), (bare, doc), (bare, bare)):
        result = compare.compare(a, b)
        assert compare.render_text(result)
        assert json.loads(compare.render_json(result))["host"] == HOST


_ODD = ("text", 7, 2.5, True, None, [], ["x", 3], {}, {"k": [1]})


def _odd_variants(doc):
    """The report with one field at a time (top level, and one level into each object and
    into each list's first object) replaced by a value of the wrong type."""
    for key, value in doc.items():
        if key in ("schema_version", "tool", "target", "verdict"):
            continue  # what makes it a report: without them it is refused, tested above
        for odd in _ODD:
            yield {**doc, key: odd}
        inner = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
        if isinstance(inner, dict):
            for sub in inner:
                for odd in _ODD:
                    changed = {**inner, sub: odd}
                    yield {**doc, key: [changed, *value[1:]] if isinstance(value, list) else changed}


def test_hand_edited_reports_never_crash_compare(two_reports):
    # Reports travel through CI logs and chat: a field of the wrong type is a diagnosis of
    # what is there, never "internal error".
    works, fails = (json.loads(Path(p).read_text()) for p in two_reports)
    count = 0
    for odd in _odd_variants(works):
        for a, b in ((odd, fails), (fails, odd)):
            result = compare.compare(a, b)
            assert compare.render_text(result) and json.loads(compare.render_json(result))
            count += 1
    assert count > 500


def test_reports_of_two_clusters_sharing_the_service_address_are_refused(two_reports, tmp_path, capsys):
    # Every AKS cluster's pods see the API server as 10.0.0.1: `in-cluster` output from two
    # clusters shares that, and only that.
    works, _ = two_reports
    doc = json.loads(Path(works).read_text())

    def side(name: str, fqdn: str) -> str:
        named = {**doc, "target": {**doc["target"], "host": fqdn, "context": "private"}}
        service = {**doc, "target": {**doc["target"], "host": "10.0.0.1", "context": "service"}}
        path = tmp_path / name
        path.write_text(json.dumps(named) + "\n" + json.dumps(service) + "\n")
        return str(path)

    a = side("a.txt", "aks-a-5f3a9c1e.privatelink.westeurope.azmk8s.io")
    b = side("b.txt", "aks-b-7d2e10aa.privatelink.westeurope.azmk8s.io")
    code, out, err = _compare(capsys, a, b)
    assert (code, out) == (2, "")
    assert "different API servers" in err
    same = side("c.txt", "aks-a-5f3a9c1e.privatelink.westeurope.azmk8s.io")
    code, out, _ = _compare(capsys, a, same)
    assert code == 0 and "aks-a-5f3a9c1e" in out
    # Asked for by name, the service reports still compare.
    code, out, _ = _compare(capsys, a, b, "--host", "10.0.0.1")
    assert code == 0 and "10.0.0.1" in out
