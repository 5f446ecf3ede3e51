"""A kube-apiserver stand-in and a block-page web server, run inside a lab namespace.

``python3 -m agent.lab.apiserver --listen 10.1.0.4:443 --cert C --key K --token-file T``

``kube`` mode answers like AKS: every anonymous request, /version and /readyz included,
gets 401 with a Kubernetes Status body; with the right bearer token /version returns a
kube-apiserver version document and /readyz, /livez, /healthz return ``ok``. ``blockpage``
mode is a web server that is not Kubernetes: 403 and an HTML page for every path.

Prints ``ready`` on stdout once it listens, so the lab can wait for it without polling.
Never logs headers: the Authorization header is a secret.
"""

from __future__ import annotations

import argparse
import hmac
import json
import socket
import ssl
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.6",
    "gitCommit": "00f20d443ba0cd1e6a1e6a7b1c2f4a1b3f4e5d6c",
    "gitTreeState": "clean",
    "buildDate": "2024-10-22T20:25:39Z",
    "goVersion": "go1.22.7",
    "compiler": "gc",
    "platform": "linux/amd64",
}
BLOCK_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Access Denied</title></head>\n"
    "<body><h1>Access Denied</h1>\n"
    "<p>The requested site is blocked by Contoso web policy (category: Uncategorized).</p>\n"
    "</body></html>\n"
)
_HEALTH = ("/readyz", "/livez", "/healthz")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def send_response(self, code: int, message: str | None = None) -> None:
        # Go's net/http sends no Server header; BaseHTTPRequestHandler's would give the
        # stand-in away as Python.
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.server.mode == "kube":
            self.send_header("Audit-Id", str(uuid.uuid4()))
            self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.server.token.encode()
        )

    def do_GET(self) -> None:
        if self.server.mode == "blockpage":
            self._reply(403, BLOCK_PAGE.encode(), "text/html; charset=utf-8")
            return
        if not self._authorized():
            self._reply(401, json.dumps(UNAUTHORIZED).encode(), "application/json")
            return
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._reply(200, json.dumps(VERSION, indent=2).encode(), "application/json")
        elif path in _HEALTH:
            self._reply(200, b"ok", "text/plain; charset=utf-8")
        else:
            status = dict(UNAUTHORIZED, message="the server could not find the requested resource",
                          reason="NotFound", code=404, details={})
            self._reply(404, json.dumps(status).encode(), "application/json")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.client_address[0]} {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext, mode: str, token: str):
        self.ctx = ctx
        self.mode = mode
        self.token = token
        super().__init__(address, _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        # The handshake happens here, in the connection's own thread, so one stalled
        # client cannot hold up the accept loop.
        request.settimeout(10.0)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            tls.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token-file", default=None)
    parser.add_argument("--mode", choices=("kube", "blockpage"), default="kube")
    args = parser.parse_args(argv)

    host, _, port = args.listen.rpartition(":")
    token = ""
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as fh:
            token = fh.read().strip()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])
    server = _Server((host, int(port)), ctx, args.mode, token)
    print("ready", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
