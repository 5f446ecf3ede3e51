"""The one set of IP helpers in probes/base: addresses, prefixes, range membership."""

import pytest

from probes.base import in_ranges, ip_network, is_ip_address, merged_ranges, overlap, valid_ip


@pytest.mark.parametrize(("value", "ip", "canonical"), [
    ("10.0.0.4", True, "10.0.0.4"),
    (" 203.0.113.9\n", False, "203.0.113.9"),  # what-is-my-IP answers end in a newline
    ("2001:db8::0001", True, "2001:db8::1"),
    ("fe80::1%eth0", True, None),  # a scope id: an address to probes, not a cloud egress IP
    ("10.0.0.300", False, None),
    ("10", False, None),
    (None, False, None),
    (167772161, False, None),
])
def test_address_checks(value, ip, canonical):
    assert (is_ip_address(value), valid_ip(value)) == (ip, canonical)


def test_prefixes_keep_host_bits_and_reject_the_rest():
    assert str(ip_network("10.0.0.90/29")) == "10.0.0.90/29"
    assert str(ip_network("10.0.0.90/29").cidr) == "10.0.0.88/29"
    assert [ip_network(x) for x in ("10.0.0.0/33", "garbage", None, 5)] == [None] * 4


@pytest.mark.parametrize(("address", "ranges", "inside"), [
    ("198.51.100.7", ["198.51.100.0/24"], True),
    ("198.51.100.7", ["203.0.113.0/24", "198.51.100.7"], True),  # a bare address is a /32
    ("198.51.100.7", ["203.0.113.0/24"], False),
    ("198.51.100.7", ["not a range", "198.51.100.0/24"], True),  # what is no prefix matches nothing
    ("198.51.100.7", ["::/0"], False),
    ("2001:db8::1", ["0.0.0.0/0"], False),
    ("not an address", ["0.0.0.0/0"], False),
    ("198.51.100.7", [], False),
])
def test_in_ranges(address, ranges, inside):
    assert in_ranges(address, ranges) is inside


def test_merge_and_overlap():
    assert merged_ranges(["10.0.0.0/25", "10.0.0.128/25", "bad", "10.1.0.0/16"]) == [
        "10.0.0.0/24", "10.1.0.0/16"]
    assert overlap(["10.0.0.0/16"], ["10.0.5.0/24", "192.168.0.0/16"]) == ["10.0.5.0/24"]
    assert overlap(["10.0.0.0/16"], ["10.1.0.0/16"]) == []
