"""The lab's fixed address plan and names.

Only RFC 1918 space stands for private networks and only the documentation ranges
198.51.100.0/24 and 203.0.113.0/24 stand for the internet, so a mistake can never send a
packet to somebody's real host. Names follow AKS's real shapes so name-based rules see
what they would see in the field.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "westeurope"
PRIVATE_ZONE = f"privatelink.{REGION}.azmk8s.io"
PUBLIC_ZONE = f"hcp.{REGION}.azmk8s.io"

# A private cluster: the private FQDN lives in the private DNS zone linked to the cluster
# VNet; its public FQDN (enablePrivateClusterPublicFQDN) resolves publicly to the same
# private IP, which is useless from anywhere not routed to the VNet.
PRIVATE_FQDN = f"kreach-dns-5f3a9c1e.4b7d2e10-9a8c-4f21-b3d6-7e5c1a0f9d42.{PRIVATE_ZONE}"
PRIVATE_PUBLIC_FQDN = f"kreach-dns-5f3a9c1e.{PUBLIC_ZONE}"
# A public cluster, reached through its public endpoint.
PUBLIC_FQDN = f"kpub-dns-8e21b0d7.{PUBLIC_ZONE}"

# Networks: the cluster VNet, a peered VNet, a hub with shared appliances, the internet.
CLUSTER_NET = "10.1.0.0/16"
PEER_NET = "10.2.0.0/16"
HUB_NET = "10.0.0.0/16"
INTERNET_NETS = ("198.51.100.0/24", "203.0.113.0/24")

API_IP = "10.1.0.4"  # the private endpoint of the private cluster
STALE_API_IP = "10.1.0.5"  # where the private endpoint used to be; nothing answers there
LINKED_DNS_IP = "10.1.0.53"  # stand-in for Azure DNS as seen from a VNet linked to the zone
CUSTOM_DNS_IP = "10.1.0.54"  # a customer DNS server forwarding to the internet, not to Azure
INSIDE_IP = "10.1.1.10"  # a jump box inside the cluster VNet
PEER_IP = "10.2.1.10"  # a VM in a peered VNet that is not linked to the private zone
MIDDLEBOX_IP = "10.0.0.4"  # a firewall doing TLS inspection
WEB_IP = "10.0.0.7"  # a web server that is not Kubernetes (serves a block page)
PROXY_IP = "10.0.0.8"  # the corporate proxies' host
PROXY_PORT = 3128  # a Squid-like proxy wanting BasicAuth: 407 + Proxy-Authenticate
TINYPROXY_PORT = 8888  # tinyproxy 1.11.1 wanting BasicAuth: 401 + WWW-Authenticate (its bug)
DEAD_PROXY_IP = "10.0.0.9"  # a proxy address nothing answers on
SOCKS_PORT = 1080  # microsocks on the proxies' host: a bastion that resolves the private zone
DANTE_PORT = 1081  # dante on the same host, whose rules block the private zone
TUNNEL_PORT = 8443  # a client's local tunnel end (socat standing in for az aks bastion / ssh -L)
PUBLIC_DNS_IP = "198.51.100.53"  # an internet resolver knowing only public zones (unbound)
INTERNET_IP = "198.51.100.10"  # a laptop on the internet
PUBLIC_API_IP = "203.0.113.10"  # the public endpoint of the public cluster

# API Server VNet Integration: the same API server stand-in, described as the kube-apiserver
# load balancer in a /28 delegated subnet; the jump box's subnet is the one an NSG can name.
APISERVER_SUBNET = "10.1.0.0/28"
JUMP_SUBNET = "10.1.1.0/24"

API_PORT = 443
CLOSED_PORT = 6443  # open on no host: the kernel answers with a reset


@dataclass(frozen=True)
class HostSpec:
    key: str  # short name, also the namespace suffix and the router-side link name
    address: str
    gateway: str  # the router's address on this host's link
    role: str


_GW_CLUSTER = "10.1.0.1"
_GW_PEER = "10.2.0.1"
_GW_HUB = "10.0.0.1"
_GW_CLIENTS = "198.51.100.1"
_GW_SERVERS = "203.0.113.1"

HOSTS: tuple[HostSpec, ...] = (
    HostSpec("api", API_IP, _GW_CLUSTER, "private API server (kube-apiserver stand-in)"),
    HostSpec("dnsl", LINKED_DNS_IP, _GW_CLUSTER, "resolver with the private zone linked (dnsmasq)"),
    HostSpec("dnsc", CUSTOM_DNS_IP, _GW_CLUSTER, "custom DNS not forwarding the zone (dnsmasq)"),
    HostSpec("in", INSIDE_IP, _GW_CLUSTER, "client inside the cluster VNet"),
    HostSpec("peer", PEER_IP, _GW_PEER, "client in a peered VNet"),
    HostSpec("mbx", MIDDLEBOX_IP, _GW_HUB, "TLS-inspecting middlebox"),
    HostSpec("web", WEB_IP, _GW_HUB, "non-Kubernetes web server"),
    HostSpec("prx", PROXY_IP, _GW_HUB, "HTTPS proxies requiring BasicAuth"),
    HostSpec("dnsp", PUBLIC_DNS_IP, _GW_CLIENTS, "public resolver (unbound)"),
    HostSpec("inet", INTERNET_IP, _GW_CLIENTS, "client on the internet"),
    HostSpec("pub", PUBLIC_API_IP, _GW_SERVERS, "public API server endpoint"),
)

CLIENTS = ("in", "peer", "inet")


def host(key: str) -> HostSpec:
    for spec in HOSTS:
        if spec.key == key:
            return spec
    raise KeyError(f"no lab host {key!r}; known: {', '.join(h.key for h in HOSTS)}")
