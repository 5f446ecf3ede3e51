"""Hostile files and paths: size, devices, FIFOs, NUL bytes, ~user, alias bombs, deep
nesting, huge numbers. Each must end quickly in one clear error, never a traceback."""

from __future__ import annotations

import os
import threading
import time

import pytest
import yaml

from agent.errors import InventoryError, KubeconfigError
from agent.kubeconfig import load

OK_CLUSTER = "server: https://127.0.0.1:1"


def load_path(path) -> object:
    return load(kubeconfig=str(path), context=None, server=None, env={})


def kubeconfig_text(cluster: str = OK_CLUSTER, user: str = "token: t0k3n-value") -> str:
    indent = lambda block: "\n".join("      " + line for line in block.splitlines())  # noqa: E731
    return ("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters:\n  - name: c\n    cluster:\n{indent(cluster)}\n"
            f"users:\n  - name: u\n    user:\n{indent(user)}\n"
            "contexts:\n  - name: c\n    context: {cluster: c, user: u}\n")


def test_dev_zero_is_refused_by_size():
    started = time.monotonic()
    with pytest.raises(KubeconfigError, match=r"^kubeconfig /dev/zero is larger than 16 MiB$"):
        load_path("/dev/zero")
    assert time.monotonic() - started < 10


def test_a_sparse_file_over_the_cap_is_refused(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        fh.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(KubeconfigError, match="larger than 16 MiB"):
        load_path(big)


def test_exactly_the_cap_is_read(tmp_path):
    from agent import inputs
    p = tmp_path / "cap"
    p.write_bytes(b"#" * inputs.MAX_BYTES)
    assert len(inputs.read_bytes(p, "kubeconfig", KubeconfigError)) == inputs.MAX_BYTES


def test_a_fifo_with_a_writer_is_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    text = kubeconfig_text()

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write(text)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    loaded = load_path(fifo)
    writer.join(5)
    assert loaded.target.port == 1


def test_a_fifo_whose_writer_comes_late_is_read(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        time.sleep(0.3)
        with open(fifo, "w") as fh:
            fh.write(kubeconfig_text())
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert load_path(fifo).target.port == 1
    writer.join(5)


def test_a_fifo_without_a_writer_does_not_hang(tmp_path, monkeypatch):
    from agent import inputs
    monkeypatch.setattr(inputs, "FIFO_WAIT_S", 0.3)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(KubeconfigError, match=r"is a named pipe nothing wrote to within 0\.3 s"):
        load_path(fifo)
    assert time.monotonic() - started < 3


def test_a_directory_is_a_clear_error(tmp_path):
    with pytest.raises(KubeconfigError, match="is a directory"):
        load_path(tmp_path)


def test_nul_byte_in_the_path():
    with pytest.raises(KubeconfigError, match="contains a NUL byte"):
        load(kubeconfig="/tmp/a\0b", context=None, server=None, env={})


def test_nul_byte_in_a_kubeconfig_list_entry():
    with pytest.raises(KubeconfigError, match="contains a NUL byte"):
        load(kubeconfig=None, context=None, server=None, env={"KUBECONFIG": "/tmp/a\0b"})


def test_unknown_tilde_user():
    with pytest.raises(KubeconfigError, match=r"no home directory for user 'nosuchuser-kr'"):
        load(kubeconfig="~nosuchuser-kr/x", context=None, server=None, env={})


def test_tilde_root_expands(tmp_path):
    with pytest.raises(KubeconfigError, match=r"cannot read kubeconfig /root/"):
        load(kubeconfig="~root/kubereach-no-such-file", context=None, server=None, env={})


def bomb(levels: int = 30) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, levels)]
    return "\n".join(lines)


@pytest.mark.parametrize("field", [
    ("cluster", "server: *a29"),
    ("cluster", "certificate-authority-data: *a29"),
    ("user", "token: *a29"),
    ("user", "exec: {command: kubelogin, apiVersion: v1, args: *a29}"),
    ("user", "exec: {command: kubelogin, apiVersion: v1, env: [{name: X, value: *a29}]}"),
])
def test_alias_bomb_is_refused_quickly(tmp_path, field):
    where, line = field
    text = "bombs:\n" + "\n".join("  " + b for b in bomb().splitlines()) + "\n"
    text += kubeconfig_text(**{where: line}) if where == "cluster" else kubeconfig_text(user=line)
    p = tmp_path / "kc"
    p.write_text(text)
    started = time.monotonic()
    with pytest.raises(KubeconfigError, match="aliases expand it beyond"):
        load_path(p)
    assert time.monotonic() - started < 2


def test_a_self_referencing_alias_is_refused(tmp_path):
    p = tmp_path / "kc"
    p.write_text("a: &a [*a]\n" + kubeconfig_text())
    with pytest.raises(KubeconfigError, match="refers to a node that contains it"):
        load_path(p)


def test_a_few_aliases_are_fine(tmp_path):
    p = tmp_path / "kc"
    p.write_text("x: &srv https://127.0.0.1:7\n" + kubeconfig_text(cluster="server: *srv"))
    assert load_path(p).target.port == 7


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_clear_error(tmp_path, style):
    p = tmp_path / "kc"
    if style == "flow":
        p.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    else:
        p.write_text("".join(" " * i + "- \n" for i in range(5000)))
    with pytest.raises(KubeconfigError, match="nested more than 100 levels deep"):
        load_path(p)


def test_a_huge_integer_is_a_clear_error(tmp_path):
    p = tmp_path / "kc"
    p.write_text(kubeconfig_text(cluster="server: " + "9" * 5000))
    with pytest.raises(KubeconfigError, match="number too large"):
        load_path(p)


def test_ca_file_over_the_cap_is_a_problem_not_a_hang(tmp_path):
    p = tmp_path / "kc"
    p.write_text(kubeconfig_text(cluster=f"{OK_CLUSTER}\ncertificate-authority: /dev/zero"))
    loaded = load_path(p)
    assert any("larger than 16 MiB" in problem for problem in loaded.problems)


def test_token_file_that_is_a_device_is_bounded(tmp_path):
    p = tmp_path / "kc"
    p.write_text(kubeconfig_text(user="tokenFile: /dev/zero"))
    loaded = load_path(p)
    assert any("tokenFile /dev/zero is larger than 16 MiB" in problem for problem in loaded.problems)


# --cluster / --inventory JSON

def read_json(tmp_path, text: str):
    from agent.cloud.context import _read_json
    p = tmp_path / "doc.json"
    p.write_text(text)
    return _read_json(p, "--inventory")


def test_json_integer_over_4300_digits(tmp_path):
    with pytest.raises(InventoryError, match="number too large"):
        read_json(tmp_path, '{"a": ' + "1" * 5000 + "}")


def test_json_deep_nesting(tmp_path):
    with pytest.raises(InventoryError, match="nested more than 100 levels deep"):
        read_json(tmp_path, "[" * 5000 + "]" * 5000)


def test_json_moderate_nesting_is_an_error_too(tmp_path):
    with pytest.raises(InventoryError, match="nested more than 100 levels deep"):
        read_json(tmp_path, "[" * 200 + "]" * 200)


def test_json_dev_zero(tmp_path):
    from agent.cloud.context import _read_json
    with pytest.raises(InventoryError, match="larger than 16 MiB"):
        _read_json(__import__("pathlib").Path("/dev/zero"), "--cluster")


def test_json_with_a_bom_still_reads(tmp_path):
    assert read_json(tmp_path, "\ufeff{\"a\": 1}") == {"a": 1}


def test_yaml_dump_round_trip_still_loads(tmp_path):
    doc = yaml.safe_load(kubeconfig_text())
    p = tmp_path / "kc"
    p.write_text(yaml.safe_dump(doc))
    assert load_path(p).target.host == "127.0.0.1"
