"""A loopback nameserver whose behaviour is one function: answer, NXDOMAIN, SERVFAIL, drop.

It also listens on TCP at the same port. Like a real server, an answer bigger than
``udp_limit`` bytes goes over UDP cut down to its header and question with the TC bit set,
so the client has to ask again over TCP; ``queries`` records "name/udp" or "name/tcp".
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable

import dns.flags
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
    def __init__(self, handle: Handler, *, udp_limit: int = 65535, udp: bool = True) -> None:
        self.handle = handle
        self.udp = udp  # False: UDP queries are recorded and dropped, as by a filter
        self.udp_limit = udp_limit
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.queries: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._tcp_thread = threading.Thread(target=self._serve_tcp, daemon=True)

    @property
    def spec(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Nameserver:
        self._thread.start()
        self._tcp_thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self._tcp_thread.join(2)
        self.sock.close()
        self.tcp.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            self.queries.append(query.question[0].name.to_text() + "/udp")
            if not self.udp:
                continue
            response = self.handle(query)
            if response is None:
                continue
            wire = response.to_wire()
            if len(wire) > self.udp_limit:
                response.answer, response.authority, response.additional = [], [], []
                response.flags |= dns.flags.TC
                wire = response.to_wire()
            self.sock.sendto(wire, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    size = struct.unpack("!H", _recv_exactly(conn, 2))[0]
                    query = dns.message.from_wire(_recv_exactly(conn, size))
                except (OSError, ValueError, struct.error):
                    continue
                self.queries.append(query.question[0].name.to_text() + "/tcp")
                response = self.handle(query)
                if response is not None:
                    wire = response.to_wire(max_size=65535)
                    conn.sendall(struct.pack("!H", len(wire)) + wire)


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("short read")
        data += chunk
    return data
