"""A kube-apiserver stand-in and a block-page web server, run inside a lab namespace.

``python3 -m agent.lab.apiserver --listen 10.1.0.4:443 --cert C --key K --token-file T
[--client-ca CA] [--known-client-ca CA ...] [--forbidden-token-file F] [--no-selfsubjectreview]``

``kube`` mode answers like AKS: every anonymous request, /version and /readyz included,
gets 401 with a Kubernetes Status body; with the right bearer token /version returns a
kube-apiserver version document and /readyz, /livez, /healthz return ``ok``, and
``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` says who the caller is (201;
404 with ``--no-selfsubjectreview``, as before Kubernetes 1.28). A client certificate
authenticates too when ``--client-ca`` signed it (user = CN, groups = O); like
kube-apiserver (Go's RequestClientCert) a certificate from another CA does not break the
handshake but gets 401. Python's ssl verifies what it asks for, so the handshake accepts
certificates from ``--known-client-ca`` CAs as well, and the request judges the issuer.
The ``--forbidden-token-file`` token authenticates and is then refused everything (403).
``blockpage``
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

    def _user(self) -> tuple[str, list[str]] | None:
        """Who the request authenticates as: (name, groups), "forbidden", or None."""
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            given = token.strip().encode()
            if self.server.token and hmac.compare_digest(given, self.server.token.encode()):
                return "kreach-admin", ["system:masters", "system:authenticated"]
            if self.server.forbidden_token and hmac.compare_digest(given, self.server.forbidden_token.encode()):
                return "kreach-nobody", ["system:authenticated"]
            return None
        return self._cert_user()

    def _cert_user(self) -> tuple[str, list[str]] | None:
        der = self.connection.getpeercert(binary_form=True) if hasattr(self.connection, "getpeercert") else None
        if not der or self.server.client_ca is None:
            return None
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        cert = x509.load_der_x509_certificate(der)
        ca = self.server.client_ca
        if cert.issuer != ca.subject:
            return None
        try:  # the lab's CAs are EC keys
            ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,  # type: ignore[call-arg]
                                   ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
        except Exception:
            return None
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return (str(cn[0].value) if cn else "unknown", [str(o.value) for o in orgs] + ["system:authenticated"])

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= 65536:
            self.rfile.read(length)
        if self.server.mode == "blockpage":
            self._reply(403, BLOCK_PAGE.encode(), "text/html; charset=utf-8")
            return
        path = self.path.split("?", 1)[0]
        user = self._user()
        if user is None:
            self._reply(401, json.dumps(UNAUTHORIZED).encode(), "application/json")
            return
        if path != "/apis/authentication.k8s.io/v1/selfsubjectreviews" or not self.server.ssr:
            self._not_found()
            return
        if user[0] == "kreach-nobody":
            self._forbidden("create", "selfsubjectreviews", user[0])
            return
        review = {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                  "metadata": {"creationTimestamp": None},
                  "status": {"userInfo": {"username": user[0], "groups": user[1]}}}
        self._reply(201, json.dumps(review).encode(), "application/json")

    def _not_found(self) -> None:
        status = dict(UNAUTHORIZED, message="the server could not find the requested resource",
                      reason="NotFound", code=404, details={})
        self._reply(404, json.dumps(status).encode(), "application/json")

    def _forbidden(self, verb: str, what: str, user: str) -> None:
        status = dict(UNAUTHORIZED, reason="Forbidden", code=403,
                      message=f'{what} is forbidden: User "{user}" cannot {verb} resource "{what}"')
        self._reply(403, json.dumps(status).encode(), "application/json")

    def do_GET(self) -> None:
        if self.server.mode == "blockpage":
            self._reply(403, BLOCK_PAGE.encode(), "text/html; charset=utf-8")
            return
        user = self._user()
        if user is None:
            self._reply(401, json.dumps(UNAUTHORIZED).encode(), "application/json")
            return
        path = self.path.split("?", 1)[0]
        if user[0] == "kreach-nobody":
            self._forbidden("get", "path " + path, user[0])
            return
        if path == "/version":
            self._reply(200, json.dumps(VERSION, indent=2).encode(), "application/json")
        elif path in _HEALTH:
            self._reply(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._not_found()

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.client_address[0]} {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext, mode: str, token: str, *,
                 client_ca: object = None, forbidden_token: str = "", ssr: bool = True):
        self.ctx = ctx
        self.mode = mode
        self.token = token
        self.client_ca = client_ca  # a cryptography Certificate, or None
        self.forbidden_token = forbidden_token
        self.ssr = ssr
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
    parser.add_argument("--client-ca", default=None, help="CA whose client certificates authenticate")
    parser.add_argument("--known-client-ca", action="append", default=[],
                        help="another CA whose certificates the handshake accepts (then 401)")
    parser.add_argument("--forbidden-token-file", default=None)
    parser.add_argument("--no-selfsubjectreview", action="store_true")
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
    client_ca = None
    if args.client_ca:
        from cryptography import x509

        with open(args.client_ca, "rb") as fh:
            client_ca = x509.load_pem_x509_certificate(fh.read())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        for path in [args.client_ca, *args.known_client_ca]:
            ctx.load_verify_locations(path)
    forbidden = ""
    if args.forbidden_token_file:
        with open(args.forbidden_token_file, encoding="utf-8") as fh:
            forbidden = fh.read().strip()
    server = _Server((host, int(port)), ctx, args.mode, token, client_ca=client_ca,
                     forbidden_token=forbidden, ssr=not args.no_selfsubjectreview)
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
