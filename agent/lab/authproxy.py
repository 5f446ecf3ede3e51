"""A forward proxy that wants BasicAuth and says so the standard way: 407 with
Proxy-Authenticate, as Squid, Zscaler or Blue Coat do.

``python3 -m agent.lab.authproxy --listen 10.0.0.8:3128 --credentials-file F``

The lab needs this besides tinyproxy because Debian's tinyproxy 1.11.1 answers a CONNECT
with wrong credentials with 401 and WWW-Authenticate (tinyproxy issue #532, fixed after
1.11.1); both behaviours exist in the field, so the lab has both. With the right
credentials a CONNECT is tunnelled to the target, resolved in this namespace.
Prints ``ready`` once it listens; never logs the Proxy-Authorization header.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import select
import socket
import sys
import threading
from socketserver import BaseRequestHandler, ThreadingTCPServer

_407 = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="Contoso Proxy"\r\n'
    b"Content-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)
_400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_502 = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Handler(BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10.0)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = sock.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.split(" ", 1)[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        sys.stderr.write(f"{self.client_address[0]} {method} {target}\n")
        if method != "CONNECT":
            sock.sendall(_400)
            return
        if not hmac.compare_digest(headers.get("proxy-authorization", "").encode(),
                                   self.server.expected.encode()):
            sock.sendall(_407)
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=5.0)
        except (OSError, ValueError):
            sock.sendall(_502)
            return
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _pipe(sock, upstream)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    a.settimeout(None)
    b.settimeout(None)
    with b:
        peers = {a: b, b: a}
        while True:
            readable, _, _ = select.select(list(peers), [], [], 30.0)
            if not readable:
                return
            for s in readable:
                data = s.recv(65536)
                if not data:
                    return
                peers[s].sendall(data)


class _Server(ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], expected: str) -> None:
        self.expected = expected
        super().__init__(address, _Handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--credentials-file", required=True, help="one line: user:password")
    args = parser.parse_args(argv)
    with open(args.credentials_file, encoding="utf-8") as fh:
        userpass = fh.read().strip()
    expected = "Basic " + base64.b64encode(userpass.encode()).decode()
    host, _, port = args.listen.rpartition(":")
    server = _Server((host, int(port)), expected)
    print("ready", flush=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.daemon = True
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
