"""Which NSG rule decides a flow: Azure's evaluation, as far as an inventory can tell it.

Azure evaluates a network security group's rules of one direction in priority order (the
lowest number first) and the first rule whose protocol, source, destination and port all
match decides, Allow or Deny; the default rules (65000 and up) end every list with a deny.
Pure: opens nothing.

Some matches cannot be told from the inventory: application security groups (their members
are NICs the inventory may not hold) and service tags other than the four below. Such a rule
is *undecided*; the decision that follows it is then only as good as the guess that the
undecided rules did not match, and :class:`Decision` says so.

Service tags, as the Azure virtual network service tags documentation defines them:
``VirtualNetwork`` is the VNet's address space plus connected address spaces (peered VNets,
networks behind its gateway); ``AzureLoadBalancer`` is the platform's health probe source
168.63.129.16; ``Internet`` is the address space outside the virtual network reachable
publicly; ``*`` is any address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.cloud.inventory import Nsg, SecurityRule
from probes.base import address_class, in_ranges, ip_network

AZURE_PLATFORM_IP = "168.63.129.16"  # the AzureLoadBalancer tag's address (health probes)


@dataclass(frozen=True)
class Flow:
    source: str  # an address, or a service tag standing for the sender (AzureLoadBalancer)
    destination: str
    port: int
    protocol: str = "Tcp"
    direction: str = "Inbound"

    def describe(self) -> str:
        return f"{self.protocol.upper()} {self.source} -> {self.destination}:{self.port}"


@dataclass(frozen=True)
class Decision:
    rule: SecurityRule | None  # the first rule that matches; None: the NSG listed none
    undecided: tuple[SecurityRule, ...] = ()  # earlier rules whose match could not be told

    @property
    def allowed(self) -> bool | None:
        return None if self.rule is None else self.rule.allows

    @property
    def certain(self) -> bool:
        return self.rule is not None and not self.undecided


def _address_match(entry: str, address: str, virtual_network: tuple[str, ...]) -> bool | None:
    if entry == "*":
        return True
    if ip_network(entry) is not None:
        return in_ranges(address, (entry,)) if ip_network(address) is not None else False
    tag = entry.lower()
    if address.lower() == tag:
        return True  # the flow's sender is itself named by a tag (AzureLoadBalancer)
    if ip_network(address) is None:
        return False  # a tag-named sender matches only its own tag and *
    if tag == "azureloadbalancer":
        return address == AZURE_PLATFORM_IP
    inside = in_ranges(address, virtual_network)
    if tag == "virtualnetwork":
        # Networks behind a gateway are in the tag too, and the inventory may not show them.
        return True if inside else (False if address_class(address) == "public" else None)
    if tag == "internet":
        return False if inside else (True if address_class(address) == "public" else None)
    return None  # another service tag: its address list is not in the inventory


def _any(entries: Iterable[str], address: str, virtual_network: tuple[str, ...]) -> bool | None:
    found: bool | None = False
    for entry in entries:
        m = _address_match(entry, address, virtual_network)
        if m:
            return True
        if m is None:
            found = None
    return found


def port_matches(ports: Iterable[str], port: int) -> bool:
    for p in ports:
        if p == "*":
            return True
        low, _, high = p.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


def matches(rule: SecurityRule, flow: Flow, virtual_network: tuple[str, ...]) -> bool | None:
    """True, False, or None when the inventory cannot tell."""
    if rule.direction.lower() != flow.direction.lower():
        return False
    if rule.protocol != "*" and rule.protocol.lower() != flow.protocol.lower():
        return False
    if not port_matches(rule.ports, flow.port):
        return False
    results = []
    for entries, asgs, address in ((rule.sources, rule.source_asgs, flow.source),
                                    (rule.destinations, rule.destination_asgs, flow.destination)):
        m = _any(entries, address, virtual_network)
        if not m and asgs:
            m = None
        results.append(m)
    if False in results:
        return False
    return None if None in results else True


def decide(nsg: Nsg, flow: Flow, virtual_network: Iterable[str] = ()) -> Decision:
    """The rule that decides ``flow`` at ``nsg``. ``virtual_network``: the prefixes the
    ``VirtualNetwork`` tag stands for at this NSG."""
    space = tuple(virtual_network)
    undecided: list[SecurityRule] = []
    ordered = sorted((r for r in nsg.rules if r.direction.lower() == flow.direction.lower()),
                     key=lambda r: r.priority)
    for rule in ordered:
        m = matches(rule, flow, space)
        if m:
            return Decision(rule, tuple(undecided))
        if m is None:
            undecided.append(rule)
    return Decision(None, tuple(undecided))
