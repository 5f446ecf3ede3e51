"""Exec-plugin stand-ins that behave like kubelogin and `aws eks get-token`: small Python
scripts written by a test, run by kubectl and by kubereach alike.

Each records the KUBERNETES_EXEC_INFO it was given (and whether its stdin was a terminal)
in ``<script>.seen.json``, so a test can check that kubereach runs it as kubectl does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agent.lab.plugins import device_code_body

_HEAD = """#!{python}
import json, os, sys, time
with open(__file__ + ".seen.json", "w") as fh:
    json.dump({{"info": json.loads(os.environ.get("KUBERNETES_EXEC_INFO", "null")),
               "stdin_tty": os.isatty(0), "argv": sys.argv[1:],
               "env_names": sorted(os.environ)}}, fh)
"""

AADSTS7000215 = (
    "Error: failed to get token: ClientSecretCredential authentication failed\n"
    "POST https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token\n"
    "--------------------------------------------------------------------------------\n"
    "RESPONSE 401 Unauthorized\n"
    "--------------------------------------------------------------------------------\n"
    '{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. '
    "Ensure the secret being sent in the request is the client secret value, not the client secret ID, "
    'for a secret added to app \'00000000-aaaa-bbbb-cccc-000000000000\'."}\n'
)
DEVICE_CODE_VALUE = "F7K2QX9LM"
SSO_EXPIRED = ("\nThe SSO session associated with this profile has expired or is otherwise invalid. To refresh "
               "this SSO session run aws sso login with the corresponding profile.\n")


def _write(path: Path, body: str) -> Path:
    path.write_text(_HEAD.format(python=sys.executable) + body)
    path.chmod(0o755)
    return path


def token_plugin(folder: Path, token: str, *, name: str = "kubelogin",
                 api_version: str = "client.authentication.k8s.io/v1beta1", echo_secret_env: str | None = None) -> Path:
    """Prints an ExecCredential with ``token``, like kubelogin get-token or aws eks get-token.
    ``echo_secret_env``: also prints that variable's value on stderr, as a careless plugin's
    debug line would."""
    doc = {"kind": "ExecCredential", "apiVersion": api_version,
           "spec": {"interactive": False},
           "status": {"expirationTimestamp": "2031-01-01T00:00:00Z", "token": token}}
    echo = (f"sys.stderr.write('debug: secret=' + os.environ.get({echo_secret_env!r}, '') + "
            "' token=' + " + repr(token) + " + '\\n')\n") if echo_secret_env else ""
    return _write(folder / name, echo + f"print(json.dumps({doc!r}))\n")


def cert_plugin(folder: Path, cert_pem: bytes, key_pem: bytes, *, name: str = "kubelogin") -> Path:
    doc = {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
           "status": {"clientCertificateData": cert_pem.decode(), "clientKeyData": key_pem.decode()}}
    return _write(folder / name, f"print(json.dumps({doc!r}))\n")


def failing_plugin(folder: Path, stderr: str, *, code: int = 1, name: str = "kubelogin") -> Path:
    return _write(folder / name, f"sys.stderr.write({stderr!r})\nsys.exit({code})\n")


def device_code_plugin(folder: Path, *, wait_s: float, name: str = "kubelogin") -> Path:
    """kubelogin --login devicecode: prints the code and polls until someone signs in; the
    code 'expires' after ``wait_s`` (15 minutes in real life), then it fails."""
    return _write(folder / name, device_code_body(wait_s, DEVICE_CODE_VALUE))


def seen(plugin: Path) -> dict:
    return json.loads(Path(str(plugin) + ".seen.json").read_text())
