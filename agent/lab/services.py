"""Configuration for the lab's real servers: dnsmasq, unbound and tinyproxy.

Each function returns the text of one configuration file; the topology writes it into the
lab's work directory and starts the daemon in its own namespace. No daemon reads the
machine's own configuration (``no-resolv``, ``no-hosts``, ``-c`` with our file only), and
none ever recurses to the real root servers: every zone it may be asked about is local.
"""

from __future__ import annotations

from agent.lab import addresses as A


def linked_resolver_conf() -> str:
    """Azure DNS as a VNet linked to the private zone sees it: the private zone answers
    locally, everything else goes to the internet's resolver."""
    return "\n".join(
        [
            "no-resolv",
            "no-hosts",
            "no-poll",
            "bind-interfaces",
            f"listen-address={A.LINKED_DNS_IP}",
            "port=53",
            f"server={A.PUBLIC_DNS_IP}",
            # Authoritative for the zone: names not recorded here are NXDOMAIN, not forwarded.
            f"local=/{A.PRIVATE_ZONE}/",
            f"host-record={A.PRIVATE_FQDN},{A.API_IP}",
            "log-queries",
            "log-facility=-",
            "",
        ]
    )


def custom_resolver_conf() -> str:
    """A customer's own DNS server (think Windows DNS on a domain controller) that hosts the
    corporate zone and forwards everything else to the internet instead of to Azure DNS,
    so the private zone is out of its sight."""
    return "\n".join(
        [
            "no-resolv",
            "no-hosts",
            "no-poll",
            "bind-interfaces",
            f"listen-address={A.CUSTOM_DNS_IP}",
            "port=53",
            f"server={A.PUBLIC_DNS_IP}",
            "local=/corp.contoso.internal/",
            f"host-record=dc01.corp.contoso.internal,{A.CUSTOM_DNS_IP}",
            "log-queries",
            "log-facility=-",
            "",
        ]
    )


def public_resolver_conf(workdir: str) -> str:
    """The internet's view: public AKS names resolve (the private cluster's public FQDN to
    its private IP, as AKS publishes it), the private zone does not exist, and nothing
    else does either, so unbound never tries to reach a real root server."""
    local_data = [
        f'    local-data: "{A.PRIVATE_PUBLIC_FQDN}. 300 IN A {A.API_IP}"',
        f'    local-data: "{A.PUBLIC_FQDN}. 300 IN A {A.PUBLIC_API_IP}"',
    ]
    return "\n".join(
        [
            "server:",
            f"    interface: {A.PUBLIC_DNS_IP}",
            "    port: 53",
            "    do-ip6: no",
            "    access-control: 0.0.0.0/0 allow",
            '    chroot: ""',
            '    username: ""',
            f'    directory: "{workdir}"',
            '    pidfile: ""',
            "    use-syslog: no",
            '    logfile: ""',
            "    log-queries: yes",
            "    verbosity: 1",
            "    do-daemonize: no",
            '    module-config: "iterator"',
            '    local-zone: "." static',
            '    local-zone: "azmk8s.io." static',
            *local_data,
            "remote-control:",
            "    control-enable: no",
            "",
        ]
    )


def proxy_conf(workdir: str, user: str, password: str) -> str:
    """tinyproxy wanting BasicAuth. Debian's 1.11.1 answers a CONNECT without credentials
    with 407 but one with wrong credentials with 401 + WWW-Authenticate (tinyproxy issue
    #532): a quirk clients meet in the field."""
    return "\n".join(
        [
            f"Port {A.TINYPROXY_PORT}",
            f"Listen {A.PROXY_IP}",
            "Timeout 30",
            "LogLevel Info",
            f'PidFile "{workdir}/tinyproxy.pid"',
            "MaxClients 50",
            f"BasicAuth {user} {password}",
            "ConnectPort 443",
            "ConnectPort 6443",
            "",
        ]
    )
