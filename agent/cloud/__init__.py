"""The cloud's description of the cluster and its network, for the rules in
``agent/rules/cloud.py``.

Public API: :func:`load_cloud_context` (the only part that reads files or the network) and
the :class:`CloudContext` it returns, which the caller puts in
``Observations.cloud``.

    cluster.py    az aks show / ARM managedCluster / aws eks describe-cluster -> ClusterFacts
    inventory.py  ARM and CLI resources -> Inventory (VNets, peerings, zones, links, ...);
                  its model, document kinds, Azure and AWS parsers in inventory_*.py
    fields.py     reading cloud JSON: spelling-tolerant, strict about types
    topology.py   which VNet an address is in; the peering path between two VNets
    imds.py       Azure Instance Metadata Service: this VM, a managed-identity token
    arm.py        ARM REST reads of the cluster and its network
    egress.py     the public IP this client leaves from
    context.py    CloudContext and load_cloud_context
"""

from agent.cloud.context import AZURE_DNS_IP, CloudContext, load_cloud_context

__all__ = ["AZURE_DNS_IP", "CloudContext", "load_cloud_context"]
