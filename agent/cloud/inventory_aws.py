"""AWS CLI answers (``aws ec2 describe-vpcs`` and friends) -> inventory resources. Pure.

Each parser takes one answer and yields (key, resource) pairs, the key being the AWS id. A
resource without its id, or a field of the wrong JSON type, raises
:class:`~agent.cloud.fields.FieldError`; the caller names the document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from agent.cloud.fields import FieldError, boolean, obj, objects, text
from agent.cloud.inventory_azure import Found, prefixes
from agent.cloud.inventory_kinds import K_DHCP_OPTIONS, K_VPC_ATTRIBUTE, K_VPC_PEERINGS, K_VPCS
from agent.cloud.inventory_model import DhcpOptions, Vpc, VpcAttribute, VpcPeering


def vpcs(r: Mapping[str, Any]) -> Iterator[Found]:
    for vpc in objects(r, "Vpcs"):
        vpc_id = _required(vpc, "VpcId", "a VPC")
        try:
            cidrs = [text(a, "CidrBlock") for a in objects(vpc, "CidrBlockAssociationSet")
                     if (text(obj(a, "CidrBlockState"), "State") or "associated") == "associated"]
            found = [c for c in cidrs if c] or [c for c in [text(vpc, "CidrBlock")] if c]
            name = next((text(t, "Value") for t in objects(vpc, "Tags")
                         if text(t, "Key") == "Name"), None)
            yield vpc_id, Vpc(vpc_id, prefixes(found, f"VPC {vpc_id}"),
                              text(vpc, "DhcpOptionsId"), name)
        except FieldError as exc:
            raise FieldError(f"VPC {vpc_id}: {exc}") from None


def vpc_attribute(r: Mapping[str, Any]) -> Iterator[Found]:
    vpc_id = _required(r, "VpcId", "a VPC attribute answer")
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        if attribute in r:
            try:
                value = boolean(obj(r, attribute), "Value")
            except FieldError as exc:
                raise FieldError(f"{attribute} of {vpc_id}: {exc}") from None
            if value is None:
                raise FieldError(f"{attribute} of {vpc_id} has no boolean Value")
            name = attribute[0].lower() + attribute[1:]
            yield f"{vpc_id}/{name}", VpcAttribute(vpc_id, name, value)


def dhcp_options(r: Mapping[str, Any]) -> Iterator[Found]:
    for options in objects(r, "DhcpOptions"):
        oid = _required(options, "DhcpOptionsId", "DHCP options")
        try:
            servers: list[str] = []
            for config in objects(options, "DhcpConfigurations"):
                if text(config, "Key") == "domain-name-servers":
                    servers += [text(v, "Value", required=True)
                                for v in objects(config, "Values")]
        except FieldError as exc:
            raise FieldError(f"DHCP options {oid}: {exc}") from None
        yield oid, DhcpOptions(oid, tuple(servers))


def vpc_peerings(r: Mapping[str, Any]) -> Iterator[Found]:
    for pcx in objects(r, "VpcPeeringConnections"):
        pid = _required(pcx, "VpcPeeringConnectionId", "a VPC peering connection")
        what = f"VPC peering {pid}"
        try:
            status = text(obj(pcx, "Status"), "Code") or "unknown"
            requester = obj(pcx, "RequesterVpcInfo")
            accepter = obj(pcx, "AccepterVpcInfo")
        except FieldError as exc:
            raise FieldError(f"{what}: {exc}") from None
        requester_id = _required(requester, "VpcId", f"{what} RequesterVpcInfo")
        accepter_id = _required(accepter, "VpcId", f"{what} AccepterVpcInfo")
        yield pid, VpcPeering(pid, status, requester_id, accepter_id)


def _required(doc: Mapping[str, Any], name: str, what: str) -> str:
    try:
        value = text(doc, name)
    except FieldError as exc:
        raise FieldError(f"{what}: {exc}") from None
    if not value:
        raise FieldError(f"{what} without {name}")
    return value


PARSERS: dict[str, Callable[[Mapping[str, Any]], Iterable[Found]]] = {
    K_VPCS: vpcs,
    K_VPC_ATTRIBUTE: vpc_attribute,
    K_DHCP_OPTIONS: dhcp_options,
    K_VPC_PEERINGS: vpc_peerings,
}
