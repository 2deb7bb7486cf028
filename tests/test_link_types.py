"""Every link type replay reads yields every TCP and UDP packet tshark sees; one it cannot read
is reported, not guessed."""


import json

import pytest
from conftest import replay
from tshark_oracle import tshark_rows

from handshake_viz.wire.dissect import FrameDecoder
from handshake_viz.wire.pcapfile import CaptureReader, RawFrame, write_pcap

LINK_TYPES = [
    ("http_wireshark_sample.pcap", {1}, "Ethernet"),
    ("http_vlan_qinqinq.pcap", {1}, "Ethernet with three stacked 802.1Q tags"),
    ("tcp_refused_then_reuse_vlan.pcap", {1}, "Ethernet with one VLAN tag"),
    ("pppoe_dns_icmp_port_unreach.pcap", {1}, "PPPoE over Ethernet"),
    ("redis_sll_loopback.pcap", {113}, "Linux cooked (SLL)"),
    ("http_sll2_handshake.pcap", {276}, "Linux cooked v2 (SLL2)"),
    ("redis_keepalive_midstream_null.pcap", {0}, "BSD loopback, IPv4"),
    ("redis_null_loopback_ipv6.pcap", {0}, "BSD loopback, IPv6 (macOS AF_INET6 = 30)"),
    ("tcp_sack_keepalive_rawip.pcap", {101}, "raw IP"),
    ("pcapng_many_interfaces.pcapng", {0, 1, 101}, "pcapng with Ethernet, NULL and raw interfaces"),
]


@pytest.mark.parametrize("name, linktypes, what", LINK_TYPES)
def test_each_link_type_yields_every_tcp_and_udp_packet_tshark_sees(shared_pcaps, name, linktypes, what):
    path = shared_pcaps / "public" / name
    decoder, records, seen = FrameDecoder(), {}, set()
    for frame in CaptureReader(path):
        seen.add(frame.linktype)
        record = decoder.decode(frame.frame, frame.time, frame.data, frame.linktype, frame.wire_len)
        if record is not None:
            records[frame.frame] = record
    assert seen <= linktypes and seen
    rows = tshark_rows(shared_pcaps / "oracle" / f"{name}.tsv")
    assert set(records) == {int(row["frame.number"]) for row in rows}
    first = rows[0]
    source = first["ip.src"] or first["ipv6.src"]
    assert (records[int(first["frame.number"])].src, records[int(first["frame.number"])].sport) == (
        source, int(first["tcp.srcport"] or first["udp.srcport"]))


def test_raw_ipv4_link_type_228_reads_like_raw_ip(tmp_path):
    from scapy.layers.inet import IP, TCP
    frame = bytes(IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1234, dport=80, flags="S"))
    [raw] = CaptureReader(pcap_with(tmp_path, 228, [frame]))
    record = FrameDecoder().decode(raw.frame, raw.time, raw.data, raw.linktype, raw.wire_len)
    assert (record.src, record.dport, record.flags) == ("192.0.2.1", 80, 0x02)


def pcap_with(tmp_path, linktype, frames):
    path = tmp_path / f"linktype{linktype}.pcap"
    with path.open("wb") as f:
        write_pcap(f, [RawFrame(i + 1, 1.0 + i, linktype, data, len(data)) for i, data in enumerate(frames)], linktype)
    return path


def test_an_unsupported_link_type_is_reported_and_skipped_not_guessed(tmp_path):
    path = pcap_with(tmp_path, 147, [b"\x45" + b"\x00" * 59])
    result = replay(path, "--out", tmp_path, "--format", "json")
    assert result.returncode == 0
    assert "1 frames of unsupported link type 147" in result.stderr
    assert json.loads((tmp_path / f"{path.stem}.json").read_text())["conversations"] == []

