"""Pure parts of the proxy rules: the domain entry suggested for NO_PROXY, and NO_PROXY as
read from the environment with any userinfo cut off."""

from __future__ import annotations

import pytest

from agent.observations import no_proxy_from
from agent.rules.proxy import _cidr_entries, _domain_entry


@pytest.mark.parametrize(("host", "entry"), [
    ("kreach-dns-5f3a.4b7d2e10-9a8c.privatelink.westeurope.azmk8s.io", ".privatelink.westeurope.azmk8s.io"),
    ("aks-prod-dns-1a2b.hcp.eastus.azmk8s.io", ".hcp.eastus.azmk8s.io"),
    ("ABCDEF0123.gr7.us-west-2.eks.amazonaws.com", ".eks.amazonaws.com"),
    ("api.example.com", None),
])
def test_domain_entry_for_managed_api_names(host, entry):
    assert _domain_entry(host) == entry


def test_cidr_entries_are_ip_and_cidr_entries_only():
    got = [e for e, _ in _cidr_entries("localhost, 10.1.0.0/16,.corp,10.2.0.4,10.3.0.0/16:443,*")]
    assert got == ["10.1.0.0/16", "10.2.0.4", "10.3.0.0/16:443"]


def test_no_proxy_upper_case_first_and_userinfo_removed():
    assert no_proxy_from({"no_proxy": "a", "NO_PROXY": "b"}) == ("NO_PROXY", "b")
    assert no_proxy_from({"no_proxy": "user:pw@10.0.0.0/8,.corp"}) == ("no_proxy", "10.0.0.0/8,.corp")
    assert no_proxy_from({}) is None
