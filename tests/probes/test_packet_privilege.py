"""probes/privilege.py: can this process open raw sockets, and if not, why and how to fix."""

from __future__ import annotations

import pytest

from probes.privilege import HOW_TO_ENABLE, check_raw_socket_access, effective_capabilities


def _status(tmp_path, cap_eff: str) -> str:
    p = tmp_path / "status"
    p.write_text(f"Name:\tpython3\nCapInh:\t0000000000000000\nCapEff:\t{cap_eff}\n")
    return str(p)


def _refuse() -> None:
    raise PermissionError(1, "Operation not permitted")


def test_allowed_when_the_socket_opens(tmp_path):
    access = check_raw_socket_access(open_socket=lambda: None, status_path=_status(tmp_path, "0"))
    assert access.allowed and access.reason == ""


def test_root_without_cap_net_raw_says_the_capability_was_dropped(tmp_path):
    # A container's default root: every capability but NET_RAW (bit 13).
    caps = f"{0x1FFFFFFFFFF & ~(1 << 13):016x}"
    access = check_raw_socket_access(_refuse, _status(tmp_path, caps), euid=0)
    assert not access.allowed
    assert "root but without CAP_NET_RAW" in access.reason
    assert access.how_to_enable == HOW_TO_ENABLE


def test_unprivileged_user(tmp_path):
    access = check_raw_socket_access(_refuse, _status(tmp_path, "0000000000000000"), euid=1000)
    assert access.reason == "not running as root and CAP_NET_RAW is not granted"


def test_root_with_the_bit_but_refused_points_at_seccomp(tmp_path):
    access = check_raw_socket_access(_refuse, _status(tmp_path, "000001ffffffffff"), euid=0)
    assert "seccomp" in access.reason


def test_other_socket_errors_are_a_clean_no():
    def unsupported() -> None:
        raise OSError(97, "Address family not supported by protocol")

    access = check_raw_socket_access(unsupported)
    assert not access.allowed and "not supported" in access.reason


@pytest.mark.parametrize("how", ["sudo", "setcap cap_net_raw+ep $(readlink -f $(which python3))",
                                 "docker run --cap-add NET_RAW",
                                 'securityContext.capabilities.add: ["NET_RAW"]'])
def test_how_to_enable_covers_every_setting(how):
    assert how in HOW_TO_ENABLE


def test_effective_capabilities(tmp_path):
    assert effective_capabilities(_status(tmp_path, "0000000000002000")) == 1 << 13
    assert effective_capabilities(str(tmp_path / "missing")) is None
