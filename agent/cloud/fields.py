"""Reading cloud JSON that differs only in spelling: ARM vs az CLI, old vs new API versions.

ARM says ``privateFQDN`` and ``authorizedIPRanges``, the az CLI says ``privateFqdn`` and
``authorizedIpRanges``; ARM nests under ``properties``, the az CLI flattens it; resource ids
say ``resourceGroups`` or ``resourcegroups`` depending on who wrote them. Everything here
compares case-insensitively so the parsers can name a field once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def pick(doc: Mapping[str, Any] | None, *names: str, default: Any = None) -> Any:
    """The first of ``names`` present in ``doc``, compared case-insensitively; a JSON
    ``null`` counts as absent (the az CLI prints unset keys as null)."""
    if not isinstance(doc, Mapping):
        return default
    lowered = {k.lower(): v for k, v in doc.items() if isinstance(k, str)}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return default


def props(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's properties: ARM nests them, the az CLI flattens them to the top."""
    inner = pick(resource, "properties")
    return inner if isinstance(inner, Mapping) else resource


def flag(value: Any) -> bool | None:
    """A boolean that may arrive as JSON true/false or as "true"/"false" (IMDS, EKS
    update params)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


class FieldError(ValueError):
    """A field is missing or of the wrong JSON type. The message names the field and the type
    it had, never the value: a caller adds which document it was."""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def text(doc: Mapping[str, Any] | None, *names: str, required: bool = False) -> str | None:
    """A string field (an absent or null one is None, or an error when ``required``)."""
    value = pick(doc, *names)
    if value is None:
        if required:
            raise FieldError(f"{names[0]} is missing")
        return None
    if not isinstance(value, str):
        raise FieldError(f"{names[0]} is {_json_type(value)}, not a string")
    return value


def obj(doc: Mapping[str, Any] | None, *names: str) -> Mapping[str, Any]:
    """An object field; an absent one reads as empty."""
    value = pick(doc, *names, default={})
    if not isinstance(value, Mapping):
        raise FieldError(f"{names[0]} is {_json_type(value)}, not an object")
    return value


def objects(doc: Mapping[str, Any] | None, *names: str) -> list[Mapping[str, Any]]:
    """A list of objects; an absent one reads as empty."""
    value = pick(doc, *names, default=[])
    if not isinstance(value, list):
        raise FieldError(f"{names[0]} is {_json_type(value)}, not a list")
    for item in value:
        if not isinstance(item, Mapping):
            raise FieldError(f"{names[0]} holds {_json_type(item)}, not an object")
    return value


def string_list(doc: Mapping[str, Any] | None, *names: str) -> tuple[str, ...]:
    """A list of strings, empty ones dropped; an absent one reads as empty."""
    value = pick(doc, *names, default=[])
    if not isinstance(value, list):
        raise FieldError(f"{names[0]} is {_json_type(value)}, not a list")
    for item in value:
        if not isinstance(item, str):
            raise FieldError(f"{names[0]} holds {_json_type(item)}, not a string")
    return tuple(v for v in value if v)


def boolean(doc: Mapping[str, Any] | None, *names: str) -> bool | None:
    """A :func:`flag` field; None when absent."""
    value = pick(doc, *names)
    if value is None:
        return None
    found = flag(value)
    if found is None:
        raise FieldError(f"{names[0]} is {_json_type(value)}, not true or false")
    return found


def norm_id(resource_id: str) -> str:
    """The form two ARM ids are compared in: ARM ids are case-insensitive."""
    return resource_id.strip().rstrip("/").lower()


@dataclass(frozen=True)
class ResourceId:
    """An ARM id taken apart: ``/subscriptions/S/resourceGroups/G/providers/NS/t1/n1/t2/n2``."""

    raw: str
    subscription: str | None
    resource_group: str | None
    namespace: str | None
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def name(self) -> str | None:
        return self.names[-1] if self.names else None

    @property
    def type(self) -> str | None:
        """``Microsoft.Network/virtualNetworks/virtualNetworkPeerings`` style, as written."""
        if not self.namespace or not self.types:
            return None
        return "/".join((self.namespace, *self.types))

    def ancestor(self, depth: int) -> str:
        """The id of the resource ``depth`` levels up (1 = the parent)."""
        parts = self.raw.rstrip("/").split("/")
        return "/".join(parts[: len(parts) - 2 * depth])

    def name_at(self, index: int) -> str | None:
        return self.names[index] if -len(self.names) <= index < len(self.names) else None


def parse_id(raw: str) -> ResourceId:
    parts = [p for p in raw.strip().split("/") if p]
    subscription = resource_group = namespace = None
    types: list[str] = []
    names: list[str] = []
    i = 0
    while i < len(parts):
        key = parts[i].lower()
        if key == "subscriptions" and i + 1 < len(parts):
            subscription = parts[i + 1]
            i += 2
        elif key == "resourcegroups" and i + 1 < len(parts):
            resource_group = parts[i + 1]
            i += 2
        elif key == "providers" and i + 1 < len(parts):
            namespace = parts[i + 1]
            rest = parts[i + 2 :]
            types = rest[0::2]
            names = rest[1::2]
            break
        else:
            i += 1
    return ResourceId(raw, subscription, resource_group, namespace, tuple(types), tuple(names))


def resource_type(resource: Mapping[str, Any]) -> str:
    """The lower-cased ARM type, from ``type`` or else from the id (spec examples of
    peerings carry no ``type``)."""
    declared = pick(resource, "type")
    if isinstance(declared, str) and "/" in declared:
        return declared.lower()
    rid = pick(resource, "id")
    if isinstance(rid, str):
        parsed = parse_id(rid)
        if parsed.type:
            return parsed.type.lower()
    return ""
