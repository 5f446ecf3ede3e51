"""A loopback nameserver whose behaviour is one function: answer, NXDOMAIN, SERVFAIL, drop."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import dns.message
import dns.rcode
import dns.rrset

Handler = Callable[[dns.message.Message], dns.message.Message | None]


def answer(table: dict[str, str]) -> Handler:
    """A records from ``table`` (name -> IP); NXDOMAIN for everything else."""
    def handle(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        if name in table:
            if question.rdtype == 1:
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", table[name]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    return handle


def rcode(code: int) -> Handler:
    def handle(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.set_rcode(code)
        return response
    return handle


def drop(query: dns.message.Message) -> None:
    return None


class Nameserver:
    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Nameserver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            self.queries.append(query.question[0].name.to_text())
            response = self.handle(query)
            if response is not None:
                self.sock.sendto(response.to_wire(), peer)
