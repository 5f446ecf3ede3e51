"""Every file kubereach reads goes through here: bounded in size, nesting and expansion.

A kubeconfig or an inventory comes from wherever the user points (``/dev/zero``, a FIFO, a
file someone else wrote), so reading and parsing must end quickly with one clear line
whatever is there. Each function takes the error class of its caller, so the message is
the caller's own kind (:class:`~agent.errors.KubeconfigError`, ``InventoryError``...).
"""

from __future__ import annotations

import json
import os
import select
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 100  # a kubeconfig nests about 6 deep, an ARM document about 15
MAX_YAML_NODES = 1_000_000  # nodes after alias expansion; a big real kubeconfig has ~10,000
_CHUNK = 1024 * 1024
FIFO_WAIT_S = 10.0  # how long a named pipe may take to get a writer

ErrorClass = type[Exception]


def shown(path: str | os.PathLike[str]) -> str:
    """A path as one printable line: repr() when it holds a newline or other control."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)


def user_path(text: str, what: str, error: ErrorClass) -> Path:
    """A path the user typed: no NUL byte, ``~`` and ``~user`` expanded or refused."""
    if "\0" in text:
        raise error(f"{what} path {shown(text)} contains a NUL byte")
    if text.startswith("~"):
        expanded = os.path.expanduser(text)
        if expanded.startswith("~"):  # os.path leaves an unknown ~user as it was
            user = text[1:].split("/", 1)[0]
            who = f"user {user!r}" if user else "the current user (no HOME)"
            raise error(f"{what} {shown(text)}: cannot expand '~': no home directory for {who}")
        text = expanded
    return Path(text)


def read_bytes(path: Path, what: str, error: ErrorClass) -> bytes:
    """At most :data:`MAX_BYTES` of ``path``; a larger file (or an endless device) is an error.

    Opened non-blocking, so a FIFO does not hang open() while it has no writer; a FIFO then
    gets :data:`FIFO_WAIT_S` for one to write. Read blocking in chunks, never more than the
    cap plus one byte."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {shown(path)}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte that slipped past user_path
        raise error(f"{what} path {shown(path)} contains a NUL byte") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"cannot read {what} {shown(path)}: it is a directory")
        if stat.S_ISFIFO(mode):
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(FIFO_WAIT_S * 1000):
                raise error(f"{what} {shown(path)} is a named pipe nothing wrote to "
                            f"within {FIFO_WAIT_S:g} s")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while total <= MAX_BYTES:
            chunk = os.read(fd, min(_CHUNK, MAX_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read {what} {shown(path)}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > MAX_BYTES:
        raise error(f"{what} {shown(path)} is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    return b"".join(chunks)


def read_text(path: Path, what: str, error: ErrorClass, *, encoding: str = "utf-8") -> str:
    data = read_bytes(path, what, error)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise error(f"{what} {shown(path)} is not UTF-8 text") from None


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs and deep nesting while it composes.

    PyYAML shares the node an alias points to, so a "billion laughs" document is small
    in memory but explodes in whoever walks it (str(), json, our own checks). Each node's
    size after expansion is counted bottom-up as it is composed, so a bomb is refused
    after a few dozen nodes. The composer recurses once per level: capped well below
    Python's recursion limit."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            target = self.anchors.get(self.peek_event().anchor)
            if target is not None and id(target) not in self._sizes:
                # An alias inside the very node its anchor names, still being composed.
                raise _Refused("an alias refers to a node that contains it")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        size = 1 + sum(self._sizes[id(child)] for child in children)
        self._sizes[id(node)] = size
        if size > MAX_YAML_NODES:
            raise _Refused(f"aliases expand it beyond {MAX_YAML_NODES:,} nodes")
        return node


class _Refused(Exception):
    pass


def load_yaml(text: str, where: str, error: ErrorClass) -> Any:
    """One YAML document, safely, or ``error("<where> ...")``. The YAML error text can
    quote content, which may be a secret, so only the line number is kept."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise error(f"{where} is refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise error(f"{where} is not valid YAML{line}") from None
    except ValueError:
        # int() of a scalar with more than Python's 4,300 digits.
        raise error(f"{where} holds a number too large to read") from None
    except RecursionError:
        raise error(f"{where} is nested too deeply") from None
    finally:
        loader.dispose()


def load_json(text: str, where: str, error: ErrorClass) -> Any:
    """A JSON document, or ``error("<where> ...")``: nesting capped, huge integers refused."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except ValueError:
        # Python refuses to convert an integer of more than 4,300 digits.
        raise error(f"{where}: holds a number too large to read") from None
    except RecursionError:
        raise error(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    if _depth(doc) > MAX_DEPTH:
        raise error(f"{where}: nested more than {MAX_DEPTH} levels deep")
    return doc


def _depth(doc: Any) -> int:
    """Nesting depth, without recursion (the document may be deep)."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return deepest
