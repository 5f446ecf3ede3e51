"""probes/packet_io.py: packets built and replies matched with scapy, without a network."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from probes.packet_io import SYN_BYTES, Probe, build, load_scapy, parse_reply

SRC, DST = "10.9.0.10", "10.1.0.4"
PROBE = Probe(DST, 443, 40001, 123456, ttl=3)
BIG = Probe(DST, 443, 40002, 777777, size=1400)
SENT = {PROBE.seq: 10.0, BIG.seq: 10.0}


@pytest.fixture(scope="module")
def inet():
    return load_scapy()


def _tcp(inet, flags: str, ack: int, sport: int = 443, dport: int = 40001, src: str = DST) -> bytes:
    return bytes(inet.IP(src=src, dst=SRC, ttl=62) / inet.TCP(sport=sport, dport=dport, flags=flags,
                                                              seq=999, ack=ack))


def _icmp(inet, icmp_type: int, code: int, quoted: bytes, src: str = "10.9.0.1", **kw) -> bytes:
    return bytes(inet.IP(src=src, dst=SRC, ttl=63) / inet.ICMP(type=icmp_type, code=code, **kw) / quoted)


def test_build_is_a_df_syn_of_the_asked_size(inet):
    pkt = inet.IP(build(BIG, SRC))
    assert len(build(BIG, SRC)) == 1400 and len(build(PROBE, SRC)) == SYN_BYTES
    assert (pkt.src, pkt.dst, pkt[inet.TCP].flags, pkt.flags) == (SRC, DST, "S", "DF")
    assert inet.IP(build(PROBE, SRC)).ttl == 3


@pytest.mark.parametrize(("flags", "kind"), [("SA", "synack"), ("R", "rst"), ("RA", "rst")])
def test_tcp_answers_match_by_tuple_and_ack(inet, flags, kind):
    seq, reply = parse_reply(_tcp(inet, flags, PROBE.seq + 1), [PROBE, BIG], SENT, 10.25)
    assert seq == PROBE.seq
    assert (reply.kind, reply.src, reply.ttl, reply.rtt_s) == (kind, DST, 62, 0.25)


def test_a_reset_acking_the_padding_still_matches(inet):
    hit = parse_reply(_tcp(inet, "RA", BIG.seq + 1 + 1400 - SYN_BYTES, dport=40002), [BIG], SENT, 10.0)
    assert hit is not None and hit[1].kind == "rst"


@pytest.mark.parametrize("packet", [
    dict(ack=PROBE.seq + 2),  # someone else's sequence
    dict(ack=PROBE.seq + 1, sport=444),
    dict(ack=PROBE.seq + 1, dport=40009),
    dict(ack=PROBE.seq + 1, src="10.1.0.5"),
])
def test_other_traffic_is_ignored(inet, packet):
    assert parse_reply(_tcp(inet, "SA", **packet), [PROBE], SENT, 10.0) is None


def test_plain_ack_is_not_an_answer(inet):
    assert parse_reply(_tcp(inet, "A", PROBE.seq + 1), [PROBE], SENT, 10.0) is None


@pytest.mark.parametrize("quote_len", [28, None])  # RFC 792's 8 bytes of TCP, or Linux's whole packet
def test_icmp_errors_match_by_the_quoted_header(inet, quote_len):
    quoted = build(PROBE, SRC)[:quote_len]
    seq, reply = parse_reply(_icmp(inet, 3, 13, quoted), [PROBE, BIG], SENT, 10.0)
    assert seq == PROBE.seq
    assert (reply.kind, reply.src, reply.icmp_type, reply.icmp_code) == ("icmp", "10.9.0.1", 3, 13)


def test_time_exceeded_and_frag_needed(inet):
    _, te = parse_reply(_icmp(inet, 11, 0, build(PROBE, SRC)), [PROBE], SENT, 10.0)
    assert (te.icmp_type, te.next_hop_mtu) == (11, None)
    _, fn = parse_reply(_icmp(inet, 3, 4, build(BIG, SRC), nexthopmtu=1280), [BIG], SENT, 10.0)
    assert fn.next_hop_mtu == 1280


def test_icmp_about_other_packets_is_ignored(inet):
    other = Probe(DST, 443, 40001, 5)  # same flow, different sequence number
    assert parse_reply(_icmp(inet, 3, 13, build(other, SRC)), [PROBE], SENT, 10.0) is None
    assert parse_reply(_icmp(inet, 0, 0, b""), [PROBE], SENT, 10.0) is None  # an echo reply
    assert parse_reply(b"\x60" + bytes(39), [PROBE], SENT, 10.0) is None  # IPv6
    assert parse_reply(b"", [PROBE], SENT, 10.0) is None


def test_importing_the_probes_does_not_import_scapy():
    code = ("import sys, probes.packet, probes.traceroute, probes.pmtu, agent.packet_plan, "
            "agent.rules.packet; print(any(m.startswith('scapy') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_loading_scapy_is_silent():
    code = "from probes.packet_io import load_scapy; load_scapy()"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")


def test_kernel_route_to_loopback():
    from probes.packet_io import kernel_route

    route = kernel_route("127.0.0.1")
    assert route.source_ip == "127.0.0.1" and route.mtu >= 1280 and route.interface == "lo"
    assert socket.inet_aton(route.source_ip)
