"""Group membership messages (IGMP, MLD): read from frames, said in words, as tshark reads them."""

import socket
import struct
import subprocess

from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6MLDMultAddrRec, ICMPv6MLReport2, IPv6, IPv6ExtHdrHopByHop, RouterAlert
from scapy.layers.l2 import Ether

from handshake_viz.core.analysis import Analyzer
from handshake_viz.replay import read_conversations
from handshake_viz.wire import groups
from handshake_viz.wire.dissect import LINKTYPE_ETHERNET, FrameDecoder


def _record(frame: bytes):
    return FrameDecoder().decode(1, 1.0, frame, LINKTYPE_ETHERNET, len(frame))


def _igmpv3_report(record_type: int, group: str) -> bytes:
    """An IGMPv3 report of one group record with no sources (RFC 3376 4.2), in a frame."""
    message = struct.pack(">BBHHH", 0x22, 0, 0, 0, 1) + struct.pack(">BBH", record_type, 0, 0) + socket.inet_aton(group)
    return bytes(Ether() / IP(src="192.0.2.1", dst="224.0.0.22", ttl=1, proto=2) / message)


def test_an_igmpv3_join_and_leave_are_datagrams_of_their_own_and_said_in_words():
    records = [_record(_igmpv3_report(4, "239.1.2.3")), _record(_igmpv3_report(3, "239.1.2.3"))._replace(frame=2)]
    assert [(r.protocol, r.src, r.dst, r.sport, r.dport) for r in records] == [("igmp", "192.0.2.1", "224.0.0.22", 0, 0)] * 2
    assert [groups.describe(r.protocol, r.payload) for r in records] == [
        "IGMPv3 report: join 239.1.2.3 (TO_EX {})", "IGMPv3 report: leave 239.1.2.3 (TO_IN {})"]
    analyzer = Analyzer()
    for record in records:
        analyzer.receive(record)
    [conversation] = analyzer.conversations
    assert conversation.protocol == "igmp" and len(conversation.datagrams) == 2
    assert (conversation.client_text, conversation.server_text) == ("192.0.2.1", "224.0.0.22")


def test_an_mldv2_report_behind_its_hop_by_hop_header_is_read():
    frame = bytes(Ether() / IPv6(src="fe80::1", dst="ff02::16", hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert()]) /
                  ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(rtype=4, dst="ff12::1234")]))
    record = _record(frame)
    assert (record.protocol, record.src, record.dst) == ("mld", "fe80::1", "ff02::16")
    assert groups.describe("mld", record.payload) == "MLDv2 report: join ff12::1234 (TO_EX {})"


def test_a_message_cut_short_or_of_another_kind_is_not_said():
    assert groups.describe("igmp", b"\x22\x00") is None
    assert groups.describe("igmp", b"\x99" + bytes(7)) is None
    assert groups.describe("mld", bytes([143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0]) + b"\xff\x12") is None
    report = bytes([0x22, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 1]) + socket.inet_aton("239.1.2.3") + socket.inet_aton("192.0.2.9")
    assert groups.describe("igmp", report) == "IGMPv3 report: change 239.1.2.3 (IS_EX {1 source(s)})"


def test_igmp_queries_read_as_tshark_reads_them(shared_pcaps):
    """The router's queries of a shared capture: what tshark says of each, in our words."""
    capture = shared_pcaps / "public" / "mixed_tcpreplay_test.pcap"
    said = subprocess.run(["tshark", "-r", str(capture), "-Y", "igmp", "-T", "fields", "-e", "frame.number",
                           "-e", "igmp.version", "-e", "igmp.type", "-e", "igmp.maddr"],
                          capture_output=True, text=True, check=True).stdout.split("\n")
    theirs = [line.split("\t") for line in said if line]
    conversations = read_conversations(capture)
    ours = [d for c in conversations if c.protocol == "igmp" for d in c.datagrams]
    assert [d.record.frame for d in ours] == [int(frame) for frame, *_ in theirs]
    for datagram, (_, version, kind, group) in zip(ours, theirs):
        assert (version, kind, group) == ("2", "0x11", "0.0.0.0")   # a version 2 general query
        assert groups.describe("igmp", datagram.record.payload) == "IGMPv2 query: general"
