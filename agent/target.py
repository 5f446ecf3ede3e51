"""What kubectl would connect to: the server, how it verifies it, and how it authenticates."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent import redact


@dataclass(frozen=True)
class Auth:
    method: str  # "token" | "token-file" | "client-certificate" | "exec" | "auth-provider" | "basic" | "none"
    exec_command: str | None = None
    exec_api_version: str | None = None
    provider: str | None = None
    # The exec stanza as kubectl runs it. Arguments are kept (the rules read --login,
    # --server-id, --cluster-name, --region; a secret passed as an argument is in the
    # run's secrets and scrubbed from every output); of the env only the NAMES are kept,
    # and of the few values a trap needs, what they decide (exec_settings).
    exec_args: tuple[str, ...] = ()
    exec_env_names: tuple[str, ...] = ()
    exec_interactive_mode: str | None = None  # "Never" | "IfAvailable" | "Always" | None
    exec_provide_cluster_info: bool = False
    # Non-secret settings the exec env gives the plugin, each validated to a name-like value
    # (a login mode, an AWS profile name, a region): see kubeconfig.EXEC_SETTING_NAMES.
    exec_settings: tuple[tuple[str, str], ...] = ()
    # A bearer token, key or env value is never kept here: the credential check
    # (--check-auth) gets them separately (kubeconfig.Loaded.credentials), and nothing in
    # a report can leak what was never stored.


@dataclass(frozen=True)
class Target:
    server: str  # the URL as given, userinfo removed
    host: str
    port: int
    scheme: str = "https"
    ca_pem: bytes | None = None
    ca_source: str = "system"  # "certificate-authority-data" | "certificate-authority: PATH" | "system"
    tls_server_name: str | None = None
    insecure_skip_tls_verify: bool = False
    proxy_url: str | None = None  # the kubeconfig's proxy-url; may hold a password: see redact_url
    auth: Auth = field(default_factory=lambda: Auth("none"))
    context: str | None = None
    cluster: str | None = None
    kubeconfig: tuple[str, ...] = ()

    @property
    def sni(self) -> str:
        """The name TLS sends and verifies. Go drops one trailing dot of a rooted name
        (crypto/tls hostnameInSNI); OpenSSL would refuse the certificate for it."""
        name = self.tls_server_name or self.host
        return name[:-1] if name.endswith(".") and not name.endswith("..") else name

    def public_view(self) -> dict[str, object]:
        """The target as reports show it: no CA bytes, no secrets."""
        return {
            "server": self.server,
            "host": self.host,
            "port": self.port,
            "context": self.context,
            "cluster": self.cluster,
            "kubeconfig": list(self.kubeconfig),
            "ca_source": self.ca_source,
            "tls_server_name": self.tls_server_name,
            "insecure_skip_tls_verify": self.insecure_skip_tls_verify,
            "proxy_url": redact_url(self.proxy_url) if self.proxy_url else None,
            "auth": {
                "method": self.auth.method,
                "exec_command": self.auth.exec_command,
                "provider": self.auth.provider,
            },
        }


def redact_url(url: str) -> str:
    """Drop the password (and any userinfo) from a URL, keeping the rest readable. Works on
    the raw text, so a password with an unescaped '/' or '#' is caught too."""
    return redact.raw_url(url)
