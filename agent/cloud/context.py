"""Everything kubereach knows about the cloud around the cluster: the inputs the user gave
(:func:`read_inputs`, which reads files and validates options and opens no socket), and the
:class:`CloudContext` the rules read, put together by :func:`assemble` from those inputs and
what the discovery probes (``agent/cloud/discovery.py``) found under the run's deadline.

Addresses are configurable so tests and the lab never touch a real cloud: IMDS
(``imds_url`` or ``KUBEREACH_IMDS_URL``), ARM (``arm_url`` or ``KUBEREACH_ARM_URL``) and the
address of Azure DNS (``azure_dns_ip`` or ``KUBEREACH_AZURE_DNS_IP``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from netaddr import AddrFormatError, IPNetwork

from agent.cloud.arm import ARM_URL
from agent.cloud.cluster import AKS, ClusterFacts, NotAClusterError, parse_cluster
from agent.cloud.discovery import Found, schedule
from agent.cloud.egress import SOURCE_IMDS, SOURCE_OPTION, EgressIp, valid_ip
from agent.cloud.egress import url_problem as egress_url_problem
from agent.cloud.imds import IMDS_URL, Instance
from agent.cloud.inventory import Inventory, InventoryParseError, parse_inventory
from agent.errors import InventoryError, UsageError
from agent.target import redact_url
from probes.ci import CiRunner, detect_ci

AZURE_DNS_IP = "168.63.129.16"
DISCOVER_MODES = ("off", "auto", "azure")


@dataclass(frozen=True)
class CloudContext:
    """What rules read from ``Observations.cloud``."""

    cluster: ClusterFacts | None = None  # from --cluster, or discovered
    inventory: Inventory = field(default_factory=Inventory)
    user_ranges: tuple[str, ...] = ()  # --authorized-range, as typed
    egress: EgressIp | None = None
    instance: Instance | None = None  # this VM, when IMDS answered
    ci: CiRunner | None = None
    azure_dns_ip: str = AZURE_DNS_IP
    notes: tuple[str, ...] = ()  # what discovery could not do, one line each

    @property
    def empty(self) -> bool:
        return (self.cluster is None and self.inventory.empty and not self.user_ranges
                and self.egress is None and self.instance is None and not self.notes)

    @property
    def authorized_ranges(self) -> tuple[str, ...]:
        """AKS's configured ranges and those the user named, as written, without repeats."""
        own = self.cluster.authorized_ranges if self.cluster and self.cluster.provider == AKS else ()
        return tuple(dict.fromkeys((*own, *self.user_ranges)))

    def cluster_for(self, host: str) -> ClusterFacts | None:
        """The cluster description that applies to ``host``: --cluster (whatever its names,
        the user said it is this one), else an inventory cluster publishing that name."""
        if self.cluster is not None:
            return self.cluster
        return next((c for c in self.inventory.clusters if c.serves(host)), None)


@dataclass(frozen=True)
class CloudInputs:
    """The cloud options, validated, with their files read; nothing asked of the network."""

    discover: str = "off"
    cluster: ClusterFacts | None = None
    documents: tuple[tuple[str, Any], ...] = ()
    user_ranges: tuple[str, ...] = ()
    egress: EgressIp | None = None  # --egress-ip
    egress_ip_url: str | None = None
    imds_url: str = IMDS_URL
    arm_url: str = ARM_URL
    azure_dns_ip: str = AZURE_DNS_IP

    @property
    def wanted(self) -> bool:
        """Whether any cloud context was asked for (or is to be discovered)."""
        return bool(self.discover != "off" or self.cluster or self.documents or self.user_ranges
                    or self.egress or self.egress_ip_url)


def read_inputs(
    *,
    cluster_path: str | Path | None = None,
    inventory_paths: Iterable[str | Path] = (),
    authorized_ranges: Iterable[str] = (),
    egress_ip: str | None = None,
    egress_ip_url: str | None = None,
    discover: str = "off",
    env: Mapping[str, str] | None = None,
    imds_url: str | None = None,
    arm_url: str | None = None,
    azure_dns_ip: str | None = None,
) -> CloudInputs:
    """Validate the options and read the files. Bad input raises :class:`InventoryError`
    (files) or :class:`UsageError` (options), one line each."""
    env = os.environ if env is None else env
    if discover not in DISCOVER_MODES:
        raise UsageError(f"--discover must be one of {', '.join(DISCOVER_MODES)}, not {discover!r}")
    ranges = tuple(_valid_range(r) for r in authorized_ranges)
    dns_ip = azure_dns_ip or env.get("KUBEREACH_AZURE_DNS_IP") or AZURE_DNS_IP
    if valid_ip(dns_ip) is None:
        raise UsageError(f"Azure DNS address {dns_ip!r} is not an IP address")
    if egress_ip_url is not None and (problem := egress_url_problem(egress_ip_url)):
        raise UsageError(f"--egress-ip-url {redact_url(egress_ip_url)!r} {problem}")
    explicit_egress = None
    if egress_ip is not None:
        address = valid_ip(egress_ip)
        if address is None:
            raise UsageError(f"--egress-ip {egress_ip!r} is not an IP address")
        explicit_egress = EgressIp(address, SOURCE_OPTION)
    cluster = read_cluster(Path(cluster_path)) if cluster_path is not None else None
    documents = [doc for path in inventory_paths for doc in read_inventory_documents(Path(path))]
    # Parsed now so a malformed file is an input error before any probe runs.
    _parse(documents)
    return CloudInputs(
        discover=discover, cluster=cluster, documents=tuple(documents), user_ranges=ranges,
        egress=explicit_egress, egress_ip_url=egress_ip_url,
        imds_url=imds_url or env.get("KUBEREACH_IMDS_URL") or IMDS_URL,
        arm_url=arm_url or env.get("KUBEREACH_ARM_URL") or ARM_URL,
        azure_dns_ip=dns_ip,
    )


def _parse(documents: Iterable[tuple[str, Any]]) -> Inventory:
    documents = list(documents)
    try:
        inventory = parse_inventory(documents)
    except InventoryParseError as exc:
        raise InventoryError(str(exc)) from None
    except _SHAPE_ERRORS as exc:
        raise InventoryError(_shape_error(documents, exc)) from None
    if (wrong := _wrong_field(inventory)) is not None:
        raise InventoryError(f"--inventory: {wrong}")
    return inventory


def assemble(inputs: CloudInputs, found: Found, env: Mapping[str, str]) -> CloudContext:
    """The context rules read: the inputs, plus what discovery found. An explicit
    ``--discover azure`` that found no IMDS is an input error (not an Azure VM)."""
    if inputs.discover == "azure" and found.instance is None:
        why = found.imds_error or "IMDS did not answer before the deadline"
        raise InventoryError(f"--discover azure: {why} (is this an Azure VM?)")
    notes = list(found.notes)
    cluster = inputs.cluster
    if cluster is None and found.cluster_doc is not None:
        try:
            cluster = _parse_cluster_doc(found.cluster_doc, "the discovered cluster")
        except InventoryError as exc:
            notes.append(f"the discovered cluster was left out ({exc})")
    egress = inputs.egress or found.egress
    if egress is None and found.instance is not None and found.instance.public_ips:
        egress = EgressIp(found.instance.public_ips[0], SOURCE_IMDS)
    return CloudContext(
        cluster=cluster,
        inventory=_with_discovered(list(inputs.documents), list(found.documents), notes),
        user_ranges=inputs.user_ranges,
        egress=egress,
        instance=found.instance,
        ci=detect_ci(env),
        azure_dns_ip=inputs.azure_dns_ip,
        notes=tuple(notes),
    )


def _with_discovered(given: list[tuple[str, Any]], discovered: list[tuple[str, Any]],
                     notes: list[str]) -> Inventory:
    """The inventory of the user's files (already checked) and what discovery read. ARM
    may return a resource this reader cannot take: it is left out with a note, never the
    whole diagnosis (the user's own files stay strict: they are refused up front)."""
    try:
        return _parse([*given, *discovered])
    except InventoryError:
        pass
    kept = list(given)
    for doc in discovered:
        try:
            _parse([*kept, doc])
        except InventoryError as exc:
            notes.append(f"a discovered resource was left out ({exc})")
            continue
        kept.append(doc)
    return _parse(kept)


def load_cloud_context(*, env: Mapping[str, str] | None = None, timeout_s: float = 5.0,
                       api_host: str | None = None,
                       transport: httpx.BaseTransport | None = None,
                       egress_proxy: str | None = None, **options: Any) -> CloudContext:
    """Read the inputs and run the discovery probes on their own (no network diagnosis):
    the same steps the planner schedules, for callers that want only the cloud context.
    ``transport``: tests' injection seam."""
    from agent.deadline import Deadline
    from agent.runner import Runner
    from probes.base import ProbeContext

    env = os.environ if env is None else env
    inputs = read_inputs(env=env, **options)
    deadline = Deadline(timeout_s * 2)
    runner = Runner(deadline)
    found = Found()
    ctx = ProbeContext(deadline=deadline, timeout_s=timeout_s, env=dict(env))
    schedule(runner, ctx, inputs, found, order=(0,), api_host=api_host or "",
             egress_proxy=egress_proxy, transport=transport)
    runner.wait()
    return assemble(inputs, found, env)


def _valid_range(text: str) -> str:
    try:
        IPNetwork(text.strip())
    except (AddrFormatError, ValueError, TypeError):
        raise UsageError(f"--authorized-range {text!r} is not a CIDR range") from None
    return text.strip()


def _read_json(path: Path, what: str) -> Any:
    """Bounded like every input (agent/inputs.py): 16 MiB, 100 levels, no 4,300-digit numbers."""
    from agent import inputs

    where = f"{what} {inputs.shown(path)}"
    # utf-8-sig: the az CLI on Windows can write a byte-order mark.
    text = inputs.read_text(path, what, InventoryError, encoding="utf-8-sig")
    return inputs.load_json(text, where, InventoryError)


# The parsers trust a field's type once its resource is recognised (a list of aRecords,
# a string privateDNSZone); a file that breaks that comes out here as one line, naming
# the file and the kind of resource, instead of an internal error.
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError)
_KINDS = {"_add_vnet": "a virtual network", "_add_peering": "a VNet peering",
          "_add_zone": "a private DNS zone", "_add_link": "a private DNS zone link",
          "_add_a_records": "an A record set", "_add_nic": "a network interface",
          "_add_public_ip": "a public IP address", "_add_cluster": "a cluster",
          "parse_aks": "an AKS cluster", "parse_eks": "an EKS cluster"}


def _failing_kind(exc: BaseException) -> str:
    import traceback

    names = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
    return next((_KINDS[n] for n in reversed(names) if n in _KINDS), "a resource")


def _shape_error(documents: list[tuple[str, Any]], exc: BaseException) -> str:
    source = "--inventory"
    for where, doc in documents:  # only on failure: find the file, alone
        try:
            parse_inventory([(where, doc)])
        except _SHAPE_ERRORS:
            source = f"--inventory {where}"
            break
        except InventoryParseError:
            continue
    return (f"{source}: {_failing_kind(exc)} has a field of an unexpected type "
            f"(a list, map, string or number where another was expected; {type(exc).__name__})")


_SIMPLE_TYPES = {"str": str, "bool": bool, "int": int, "float": (int, float)}


def _wrong_field(obj: Any) -> str | None:
    """The first field of a parsed dataclass (recursively) whose value is not of its declared
    simple type, described in words; None when all fit. The parsers copy some values as
    they find them (a privateDNSZone of 5), which the rules would later trip over."""
    import dataclasses

    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kinds = [k.strip() for k in str(f.type).split("|")]
        if value is None:
            continue
        if dataclasses.is_dataclass(value):
            if (inner := _wrong_field(value)) is not None:
                return inner
            continue
        if isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item):
                    if (inner := _wrong_field(item)) is not None:
                        return inner
                elif "tuple[str, ...]" in kinds and not isinstance(item, str):
                    return f"{_label(obj)}: {f.name} holds {_words(item)}, not a string"
            continue
        simple = [k for k in kinds if k != "None"]
        if simple and all(k in _SIMPLE_TYPES for k in simple):
            wanted = tuple(t for k in simple for t in (_SIMPLE_TYPES[k] if isinstance(_SIMPLE_TYPES[k], tuple)
                                                       else (_SIMPLE_TYPES[k],)))
            if not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool)):
                want = " or ".join(_words(_SIMPLE_TYPES[k] if k != "float" else 0.0) for k in simple)
                return f"{_label(obj)}: {f.name} is {_words(value)}, not {want}"
    return None


def _words(value: Any) -> str:
    kind = value if isinstance(value, type) else type(value)
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a map"}.get(kind, f"a {kind.__name__}")


def _label(obj: Any) -> str:
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__} {name!r}" if isinstance(name, str) else type(obj).__name__


def _parse_cluster_doc(doc: Any, where: str) -> ClusterFacts:
    try:
        facts = parse_cluster(doc)
    except NotAClusterError as exc:
        raise InventoryError(f"{where}: {exc}") from None
    except _SHAPE_ERRORS as exc:
        raise InventoryError(f"{where}: {_failing_kind(exc)} has a field of an unexpected type "
                             f"({type(exc).__name__})") from None
    if (wrong := _wrong_field(facts)) is not None:
        raise InventoryError(f"{where}: {wrong}")
    return facts


def read_cluster(path: Path) -> ClusterFacts:
    return _parse_cluster_doc(_read_json(path, "--cluster"), f"--cluster {path}")


def read_inventory_documents(path: Path) -> list[tuple[str, Any]]:
    """A file, or every ``*.json`` under a folder in name order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            raise InventoryError(f"--inventory {path}: no .json files in this folder")
    elif path.exists():
        files = [path]
    else:
        raise InventoryError(f"--inventory {path}: no such file or folder")
    return [(str(f), _read_json(f, "--inventory")) for f in files]
