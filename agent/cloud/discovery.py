"""Cloud discovery as probes: ``cloud.imds`` (this VM), ``cloud.arm`` (the cluster and its
network, read with IMDS's managed-identity token) and ``egress`` (a what-is-my-IP service
the user named). Each returns a :class:`ProbeResult` under the run's deadline, so it shows
in the report's ``probes`` and ``timings`` like any other step, and keeps what it learned
in a :class:`Found` for :func:`agent.cloud.context.assemble`.

Needs: HTTP to IMDS, ARM and the egress URL (all configurable; tests use stand-ins).
Failure kinds: cloud.unavailable (IMDS did not answer), cloud.error (no token, an ARM
read failed), egress.error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent.cloud import arm as arm_api
from agent.cloud.arm import Arm
from agent.cloud.cluster import AKS, ClusterFacts
from agent.cloud.egress import SOURCE_URL, EgressError, EgressIp, fetch_egress_ip
from agent.cloud.imds import PROBE_TIMEOUT_S, ImdsError, Instance, read_instance, read_token
from probes.base import Failure, ProbeContext, ProbeResult, Status
from probes.http import cap_body

IMDS, ARM, EGRESS = "cloud.imds", "cloud.arm", "egress"


@dataclass
class Found:
    """What the discovery probes brought back; filled from their threads."""

    instance: Instance | None = None
    imds_error: str | None = None
    cluster_doc: Any = None
    documents: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    egress: EgressIp | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


# IMDS and the egress service answer a few hundred bytes; an ARM list page of a big
# subscription can reach megabytes. Past these a server is broken or hostile.
MAX_BODY_BYTES = 8 * 1024 * 1024


def _client(transport: httpx.BaseTransport | None, proxy: str | None = None) -> httpx.Client:
    # trust_env=False: the proxy kubereach decided is passed explicitly, never read again.
    return httpx.Client(transport=transport, trust_env=False, proxy=proxy,
                        event_hooks={"response": [cap_body(MAX_BODY_BYTES)]})


def imds_probe(ctx: ProbeContext, found: Found, *, url: str, mode: str,
               transport: httpx.BaseTransport | None = None) -> ProbeResult:
    """Is this an Azure VM, and which? ``auto`` asks briefly; ``azure`` waits longer."""
    started = time.monotonic()
    wait_s = PROBE_TIMEOUT_S if mode == "auto" else min(max(PROBE_TIMEOUT_S, ctx.timeout_s), 2.0)
    try:
        with _client(transport) as client:
            instance = read_instance(client, url, ctx.deadline.cap(wait_s))
    except ImdsError as exc:
        found.imds_error = str(exc)
        return ProbeResult(IMDS, url, Status.FAILED, time.monotonic() - started,
                           facts={"mode": mode},
                           failure=Failure("cloud.unavailable", str(exc)))
    found.instance = instance
    return ProbeResult(IMDS, url, Status.OK, time.monotonic() - started,
                       facts={"mode": mode, "subscription": instance.subscription,
                              "location": instance.location})


def arm_probe(ctx: ProbeContext, found: Found, *, imds_url: str, arm_url: str,
              api_host: str, cluster: ClusterFacts | None,
              transport: httpx.BaseTransport | None = None) -> ProbeResult:
    """The cluster serving ``api_host`` (unless --cluster gave it) and its network, read
    from ARM with the VM's managed identity, page by page under the run's deadline."""
    started = time.monotonic()
    instance = found.instance
    assert instance is not None
    subscriptions = [s for s in (instance.subscription,
                                 cluster.subscription if cluster and cluster.provider == AKS
                                 else None) if s]
    with _client(transport) as client:
        try:
            token = read_token(client, imds_url, timeout_s=ctx.deadline.cap(ctx.timeout_s))
        except ImdsError as exc:
            note = f"{exc}: VNets, peerings and DNS zones were not read"
            with found.lock:
                found.notes.append(note)
            return ProbeResult(ARM, arm_url, Status.FAILED, time.monotonic() - started,
                               failure=Failure("cloud.error", note))
        arm = Arm(client, token, arm_url, ctx.timeout_s, deadline=ctx.deadline)
        want_cluster = cluster is None  # with --cluster given, only its network is read
        notes: list[str] = []
        documents: list[tuple[str, Any]] = []
        cluster_doc = None
        for subscription in dict.fromkeys(subscriptions):
            got = arm_api.discover(arm, subscription=subscription, api_host=api_host,
                                   want_cluster=want_cluster)
            notes += got.notes
            documents += got.documents
            if got.cluster is not None:
                cluster_doc, want_cluster = got.cluster, False
    with found.lock:
        found.notes += notes
        found.documents += documents
        found.cluster_doc = cluster_doc
    facts = {"subscriptions": list(dict.fromkeys(subscriptions)), "documents": len(documents),
             "cluster_found": cluster_doc is not None, "notes": notes}
    status, failure = Status.OK, None
    errors = [n for n in notes if n.startswith("ARM ")]  # reads that failed, not "no cluster"
    if errors:
        status, failure = Status.FAILED, Failure("cloud.error", errors[0])
    return ProbeResult(ARM, arm_url, status, time.monotonic() - started, facts=facts,
                       failure=failure)


def egress_probe(ctx: ProbeContext, found: Found, *, url: str, proxy: str | None,
                 transport: httpx.BaseTransport | None = None) -> ProbeResult:
    """Ask the user's what-is-my-IP service, through the proxy kubectl would use, so it
    sees the address the API server would see."""
    from agent.target import redact_url

    started = time.monotonic()
    shown = redact_url(url)
    try:
        with _client(transport, proxy) as client:
            address = fetch_egress_ip(client, url, ctx.deadline.cap(ctx.timeout_s))
    except EgressError as exc:
        with found.lock:
            found.notes.append(f"egress IP not learned: {exc}")
        return ProbeResult(EGRESS, shown, Status.FAILED, time.monotonic() - started,
                           failure=Failure("egress.error", str(exc)))
    found.egress = EgressIp(address, SOURCE_URL)
    return ProbeResult(EGRESS, shown, Status.OK, time.monotonic() - started,
                       facts={"address": address, "via_proxy": proxy is not None})


def schedule(runner: Any, ctx: ProbeContext, inputs: Any, found: Found, *, order: tuple,
             api_host: str, egress_proxy: str | None,
             transport: httpx.BaseTransport | None = None) -> None:
    """Submit the discovery probes ``inputs`` (a ``CloudInputs``) asks for to ``runner``:
    IMDS, then ARM once IMDS answered; the egress URL at the same time."""
    if inputs.discover != "off":
        def after_imds(result: ProbeResult) -> None:
            if result.ok:
                runner.submit((*order, 1), ARM, inputs.arm_url,
                              lambda: arm_probe(ctx, found, imds_url=inputs.imds_url,
                                                arm_url=inputs.arm_url, api_host=api_host,
                                                cluster=inputs.cluster, transport=transport))

        runner.submit((*order, 0), IMDS, inputs.imds_url,
                      lambda: imds_probe(ctx, found, url=inputs.imds_url, mode=inputs.discover,
                                         transport=transport),
                      then=after_imds)
    if inputs.egress is None and inputs.egress_ip_url:
        from agent.target import redact_url

        runner.submit((*order, 2), EGRESS, redact_url(inputs.egress_ip_url),
                      lambda: egress_probe(ctx, found, url=inputs.egress_ip_url,
                                           proxy=egress_proxy, transport=transport))
