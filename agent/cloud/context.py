"""Everything kubereach knows about the cloud around the cluster, and the one function that
gathers it: :func:`load_cloud_context`. This is the only module here that reads files or
opens sockets; the parsers it calls are pure.

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

from agent.cloud import arm as arm_api
from agent.cloud.arm import ARM_URL, Arm
from agent.cloud.ci import CiRunner, detect_ci
from agent.cloud.cluster import AKS, ClusterFacts, NotAClusterError, parse_cluster
from agent.cloud.egress import (
    SOURCE_IMDS,
    SOURCE_OPTION,
    SOURCE_URL,
    EgressError,
    EgressIp,
    fetch_egress_ip,
    valid_ip,
)
from agent.cloud.egress import url_problem as egress_url_problem
from agent.cloud.imds import (
    IMDS_URL,
    PROBE_TIMEOUT_S,
    ImdsError,
    Instance,
    read_instance,
    read_token,
)
from agent.cloud.inventory import Inventory, InventoryParseError, parse_inventory
from agent.errors import InventoryError, UsageError
from agent.target import redact_url

AZURE_DNS_IP = "168.63.129.16"
DISCOVER_MODES = ("off", "auto", "azure")


@dataclass(frozen=True)
class CloudContext:
    """What rules read from ``Observations.context["cloud"]``."""

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


def load_cloud_context(
    *,
    cluster_path: str | Path | None = None,
    inventory_paths: Iterable[str | Path] = (),
    authorized_ranges: Iterable[str] = (),
    egress_ip: str | None = None,
    egress_ip_url: str | None = None,
    discover: str = "off",
    env: Mapping[str, str] | None = None,
    timeout_s: float = 5.0,
    api_host: str | None = None,
    transport: httpx.BaseTransport | None = None,
    egress_proxy: str | None = None,
    imds_url: str | None = None,
    arm_url: str | None = None,
    azure_dns_ip: str | None = None,
) -> CloudContext:
    """Read the files, validate the options, and (when asked) ask IMDS, ARM and the egress
    URL. Bad input raises :class:`InventoryError` (files) or :class:`UsageError` (options),
    one line each; a cloud that does not answer becomes a note, unless ``discover="azure"``
    was asked explicitly and IMDS is not there.

    ``egress_proxy``: the proxy kubectl would use for the API server, so the what-is-my-IP
    service sees the address the API server sees. ``transport``: tests' injection seam.
    """
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

    notes: list[str] = []
    instance = None
    if discover != "off":
        with httpx.Client(transport=transport, trust_env=False) as client:
            instance, cluster_doc, found, more = _discover_azure(
                client, discover=discover, api_host=api_host, cluster=cluster,
                imds_url=(imds_url or env.get("KUBEREACH_IMDS_URL") or IMDS_URL),
                arm_url=(arm_url or env.get("KUBEREACH_ARM_URL") or ARM_URL),
                timeout_s=timeout_s,
            )
        notes += more
        documents += found
        if cluster is None and cluster_doc is not None:
            cluster = _parse_cluster_doc(cluster_doc, "the discovered cluster")

    try:
        inventory = parse_inventory(documents)
    except InventoryParseError as exc:
        raise InventoryError(str(exc)) from None
    except _SHAPE_ERRORS as exc:
        raise InventoryError(_shape_error(documents, exc)) from None
    if (wrong := _wrong_field(inventory)) is not None:
        raise InventoryError(f"--inventory: {wrong}")

    egress = explicit_egress
    if egress is None and egress_ip_url:
        try:
            with httpx.Client(transport=transport, trust_env=False, proxy=egress_proxy) as client:
                egress = EgressIp(fetch_egress_ip(client, egress_ip_url, timeout_s), SOURCE_URL)
        except EgressError as exc:
            notes.append(f"egress IP not learned: {exc}")
    if egress is None and instance is not None and instance.public_ips:
        egress = EgressIp(instance.public_ips[0], SOURCE_IMDS)

    return CloudContext(
        cluster=cluster,
        inventory=inventory,
        user_ranges=ranges,
        egress=egress,
        instance=instance,
        ci=detect_ci(env),
        azure_dns_ip=dns_ip,
        notes=tuple(notes),
    )


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


def _discover_azure(
    client: httpx.Client, *, discover: str, api_host: str | None,
    cluster: ClusterFacts | None, imds_url: str, arm_url: str, timeout_s: float,
) -> tuple[Instance | None, Any, list[tuple[str, Any]], list[str]]:
    probe_s = PROBE_TIMEOUT_S if discover == "auto" else min(max(PROBE_TIMEOUT_S, timeout_s), 2.0)
    try:
        instance = read_instance(client, imds_url, probe_s)
    except ImdsError as exc:
        if discover == "azure":
            raise InventoryError(f"--discover azure: {exc} (is this an Azure VM?)") from None
        return None, None, [], []  # auto: not on Azure, which is fine
    notes: list[str] = []
    try:
        token = read_token(client, imds_url, timeout_s=timeout_s)
    except ImdsError as exc:
        return instance, None, [], [f"{exc}: VNets, peerings and DNS zones were not read"]
    arm = Arm(client, token, arm_url, timeout_s)
    subscriptions = [s for s in (instance.subscription,
                                 cluster.subscription if cluster and cluster.provider == AKS
                                 else None) if s]
    cluster_doc = None
    documents: list[tuple[str, Any]] = []
    # With --cluster given, the cluster is known: only its network is read.
    want_cluster = cluster is None
    for subscription in dict.fromkeys(subscriptions):
        found = arm_api.discover(arm, subscription=subscription, api_host=api_host,
                                 want_cluster=want_cluster)
        notes += found.notes
        documents += found.documents
        if found.cluster is not None:
            cluster_doc = found.cluster
            want_cluster = False
    return instance, cluster_doc, documents, notes
