import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from handshake_viz.wire.dissect import LINKTYPE_ETHERNET, LINKTYPE_RAW, FrameDecoder
from handshake_viz.wire.records import ACK, PSH, SYN, preview_text

SYN_OPTIONS = [("MSS", 65495), ("SAckOK", b""), ("Timestamp", (123, 0)), ("NOP", None), ("WScale", 7)]


def test_a_syn_on_loopback_gives_every_header_field_and_option():
    frame = bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1") /
                  TCP(sport=43296, dport=8080, flags="S", seq=799739728, window=65495, options=SYN_OPTIONS))
    record = dissect(1, 5.5, frame, LINKTYPE_ETHERNET)
    assert (record.src, record.sport, record.dst, record.dport) == ("127.0.0.1", 43296, "127.0.0.1", 8080)
    assert (record.flags, record.seq, record.window, record.payload_len) == (SYN, 799739728, 65495, 0)
    options = record.options
    assert (options.mss, options.window_scale, options.sack_permitted, options.timestamps) == (65495, 7, True, (123, 0))


def test_ipv6_data_segment_behind_vlan_tags():
    frame = bytes(Ether() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IPv6(src="::1", dst="::1") /
                  TCP(sport=1, dport=2, flags="PA", seq=10, ack=20) / Raw(b"hello"))
    record = dissect(3, 0.0, frame, LINKTYPE_ETHERNET)
    assert (record.src, record.flags, record.payload_len, record.preview) == ("::1", PSH | ACK, 5, "hello")


def dissect(frame, time, data, linktype, wire_len=None):
    return FrameDecoder().decode(frame, time, data, linktype, wire_len)


def test_payload_length_comes_from_the_ip_header_when_the_capture_cut_the_payload():
    whole = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(flags="A") / Raw(b"a" * 1000))
    record = dissect(1, 0.0, whole[:60], LINKTYPE_RAW, wire_len=len(whole))
    assert record.payload_len == 1000
    assert record.preview.endswith("…")


def test_an_ip_length_beyond_the_frame_on_the_wire_is_capped_like_tshark_does():
    whole = bytes(IP(src="10.0.0.1", dst="10.0.0.2", len=1500) / TCP(flags="A") / Raw(b"a" * 100))
    assert dissect(1, 0.0, whole, LINKTYPE_RAW, wire_len=len(whole)).payload_len == 100


def test_udp_datagram_length_is_its_payload():
    frame = bytes(Ether() / IP() / UDP(sport=5353, dport=53) / Raw(b"\x00\x01abc"))
    record = dissect(1, 0.0, frame, LINKTYPE_ETHERNET)
    assert (record.protocol, record.payload_len, record.preview) == ("udp", 5, "\\x00\\x01abc")


def test_frames_without_tcp_or_udp_give_nothing():
    assert dissect(1, 0.0, bytes(Ether() / ARP()), LINKTYPE_ETHERNET) is None
    assert dissect(1, 0.0, bytes(Ether() / IP() / TCP())[:30], LINKTYPE_ETHERNET) is None
    assert dissect(1, 0.0, b"\x00" * 40, 9999) is None


def test_preview_escapes_everything_that_could_break_a_label():
    assert preview_text(b'a"b\\c\n\r\t\x00\xff<{|}>', 13) == 'a"b\\\\c\\n\\r\\t\\x00\\xff<{|}>'
    assert preview_text(b"abc", 10) == "abc…"


def ETHER(**fields):
    """An Ethernet header with its addresses given: scapy would otherwise ask ARP for them, on a
    real network, for the documentation addresses these frames use."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **fields)


INNER = IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=40000, dport=80, flags="S", seq=100)


def inner_is_drawn(frame, tunnel_words, linktype=LINKTYPE_ETHERNET):
    record = dissect(1, 0.0, bytes(frame), linktype)
    assert record is not None and (record.src, record.sport, record.dst, record.dport, record.flags) == (
        "10.9.0.1", 40000, "10.9.0.2", 80, SYN)
    assert record.tunnel == tunnel_words
    return record


def test_packets_in_tunnels_are_the_packets_they_carry_with_the_tunnel_in_words():
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.gtp import GTP_U_Header
    from scapy.contrib.mpls import MPLS
    from scapy.layers.l2 import GRE
    from scapy.layers.vxlan import VXLAN
    outer = ETHER() / IP(src="192.0.2.1", dst="192.0.2.2")
    inner_is_drawn(outer / INNER, "IP in IP 192.0.2.1 → 192.0.2.2")
    inner_is_drawn(ETHER() / IPv6(src="2001:db8::1", dst="2001:db8::2") / INNER, "IP in IP 2001:db8::1 → 2001:db8::2")
    inner_is_drawn(outer / GRE(key_present=1, key=7) / INNER, "GRE 192.0.2.1 → 192.0.2.2")
    inner_is_drawn(outer / UDP(sport=5000, dport=4789) / VXLAN(vni=42) / ETHER() / INNER,
                   "VXLAN 192.0.2.1 → 192.0.2.2, VNI 42")
    inner_is_drawn(outer / UDP(sport=5000, dport=6081) / GENEVE(proto=0x0800) / INNER, "Geneve 192.0.2.1 → 192.0.2.2")
    inner_is_drawn(outer / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=99) / INNER,
                   "GTP-U 192.0.2.1 → 192.0.2.2, TEID 99")
    inner_is_drawn(ETHER(type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / INNER, None)
    nested = outer / GRE(proto=0x6558) / ETHER() / IP(src="198.51.100.1", dst="198.51.100.2") / \
        UDP(sport=1, dport=4789) / VXLAN(vni=5) / ETHER() / INNER
    inner_is_drawn(nested, "GRE 192.0.2.1 → 192.0.2.2; VXLAN 198.51.100.1 → 198.51.100.2, VNI 5")


def test_a_tso_frame_whose_ip_length_is_zero_is_as_long_as_the_frame():
    """Captured before segmentation offload, IPv4's total length is 0: tshark takes the frame's."""
    packet = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="PA", seq=1) / Raw(b"x" * 4000)
    raw = bytearray(bytes(ETHER() / packet))
    raw[16:18] = b"\x00\x00"
    record = dissect(1, 0.0, bytes(raw), LINKTYPE_ETHERNET)
    assert record.payload_len == 4000


def test_an_icmp_error_of_any_code_that_quotes_a_packet_joins_its_conversation():
    from scapy.layers.inet import ICMP
    quoted = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=3478)
    frame = ETHER() / IP(src="10.0.0.254", dst="10.0.0.1") / ICMP(type=3, code=10) / bytes(quoted)
    record = dissect(1, 0.0, bytes(frame), LINKTYPE_ETHERNET)
    assert (record.icmp, record.sport, record.dport) == ("host_administratively_prohibited", 5000, 3478)


def test_cisco_hdlc_framing_in_the_ppp_link_type_and_on_its_own():
    body = b"\x0f\x00\x08\x00" + bytes(INNER)
    inner_is_drawn(body, None, 9)
    inner_is_drawn(body, None, 104)
    inner_is_drawn(b"\xff\x03\x00\x21" + bytes(INNER), None, 9)


def _tunnelled(records):
    """(legend, JSON summary) of the one conversation these records make."""
    import io
    import json

    from handshake_viz.core.analysis import Analyzer, analyze
    from handshake_viz.output.json_export import JsonExport
    from handshake_viz.views.timeline import timeline
    [conversation] = analyze(records)
    out = io.StringIO()
    export, analyzer = JsonExport(out, "t.pcap"), Analyzer()
    for record in records:
        export.write(analyzer.receive(record))
    export.write(analyzer.finish())
    export.close()
    [summary] = json.loads(out.getvalue())["conversations"]
    return timeline(conversation).legend, summary


def test_a_tunnelled_conversation_says_its_tunnel_once_in_the_legend_and_the_json():
    from scapy.layers.vxlan import VXLAN
    frame = bytes(ETHER() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5000, dport=4789) / VXLAN(vni=42)
                  / ETHER() / INNER)
    legend, summary = _tunnelled([dissect(1, 0.0, frame, LINKTYPE_ETHERNET)] * 2)
    assert legend.count("Inside a tunnel: VXLAN 192.0.2.1 → 192.0.2.2, VNI 42; the outer headers are not drawn.") == 1
    assert summary["tunnels"] == ["VXLAN 192.0.2.1 → 192.0.2.2, VNI 42"]


def test_a_tunnel_whose_way_back_has_other_outer_headers_is_said_both_ways():
    """As GTP-U carries a call: each way its own outer addresses and TEID (ark_gtp-iphone.pcap)."""
    from scapy.contrib.gtp import GTP_U_Header
    def way(src, dst, teid, inner):
        frame = ETHER() / IP(src=src, dst=dst) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=teid) / inner
        return dissect(1, 0.0, bytes(frame), LINKTYPE_ETHERNET)
    back = IP(src="10.9.0.2", dst="10.9.0.1") / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)
    legend, summary = _tunnelled([way("192.0.2.1", "192.0.2.2", 7, INNER), way("192.0.2.2", "192.0.2.1", 9, back)])
    both = ["GTP-U 192.0.2.1 → 192.0.2.2, TEID 7", "GTP-U 192.0.2.2 → 192.0.2.1, TEID 9"]
    assert f"Inside tunnels: {both[0]} · {both[1]}; the outer headers are not drawn." in legend
    assert summary["tunnels"] == both


def test_a_bogus_tcp_header_length_is_marked_malformed_and_kept_out_of_the_analysis():
    import io
    import json

    from handshake_viz.core.analysis import Analyzer, analyze
    from handshake_viz.output.json_export import JsonExport
    from handshake_viz.views.timeline import timeline
    good = dissect(1, 0.0, bytes(ETHER() / INNER), LINKTYPE_ETHERNET)
    raw = bytearray(bytes(ETHER() / IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=40000, dport=80, flags="A")))
    raw[14 + 20 + 12] = 0x20                      # data offset 2: an 8-byte TCP header
    bogus = dissect(2, 0.1, bytes(raw), LINKTYPE_ETHERNET)
    assert bogus.malformed == "TCP header length 8 (at least 20, at most the segment's 20)"
    [conversation] = analyze([good, bogus])
    assert [s.record.frame for s in conversation.segments] == [1] and conversation.malformed == [bogus]
    [row] = [r for r in timeline(conversation).rows if r.arrow and r.arrow.kind == "reset"]
    assert "malformed: TCP header length 8" in row.arrow.label[1]
    out, analyzer = io.StringIO(), Analyzer()
    export = JsonExport(out, "m.pcap")
    for record in (good, bogus):
        export.write(analyzer.receive(record))
    export.write(analyzer.finish())
    export.close()
    [summary] = json.loads(out.getvalue())["conversations"]
    assert summary["packets"][1]["malformed"].startswith("TCP header length 8")


def test_an_ipv4_header_with_a_wrong_version_or_length_is_counted_not_shown():
    from handshake_viz.wire.dissect import FrameDecoder
    raw = bytearray(bytes(ETHER() / INNER))
    raw[14] = 0x43                                # IHL 3: 12 bytes, below IPv4's 20
    decoder = FrameDecoder()
    assert decoder.decode(1, 0.0, bytes(raw), LINKTYPE_ETHERNET) is None
    assert decoder.counts["frames with a malformed IPv4 header (not shown)"] == 1


def test_802_11_data_frames_with_radiotap_and_inside_capwap_carry_their_ip():
    from scapy.layers.dot11 import Dot11, Dot11QoS, RadioTap
    from scapy.layers.l2 import LLC, SNAP
    wifi = Dot11(type=2, subtype=8, FCfield="to_DS", addr1="02:00:00:00:00:01", addr2="02:00:00:00:00:02",
                 addr3="02:00:00:00:00:03") / Dot11QoS() / LLC() / SNAP(code=0x0800) / INNER
    inner_is_drawn(bytes(RadioTap() / wifi), None, 127)
    inner_is_drawn(bytes(wifi), None, 105)
    frame = bytes(wifi)
    swapped = frame[1:2] + frame[:1] + frame[2:]      # as Cisco's access points send it
    capwap = bytes.fromhex("00200320" "00000000" "04bf2300" "00000000") + swapped
    inner_is_drawn(ETHER() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=41264, dport=5247) / Raw(capwap),
                   "CAPWAP 192.0.2.1 → 192.0.2.2")
    protected = Dot11(type=2, FCfield="protected") / Raw(b"\x00" * 40)
    assert dissect(1, 0.0, bytes(RadioTap() / protected), 127) is None


def test_a_fabricpath_frame_keeps_its_inner_fcs_so_a_packet_running_into_it_is_cut_short():
    """tshark reads the last 4 bytes of a Cisco FabricPath frame as its inner frame's FCS."""
    inner = bytes(ETHER() / IP(src="10.9.0.1", dst="10.9.0.2") /
                  TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460), ("NOP", None), ("NOP", None),
                                                                 ("SAckOK", b""), ("Timestamp", (1, 0))]))
    fabricpath = bytes(ETHER(type=0x8903)) + b"\x00\x3f" + inner
    record = dissect(1, 0.0, fabricpath, LINKTYPE_ETHERNET)
    assert record.malformed == "TCP header length 40 (at least 20, at most the segment's 36)"
    assert dissect(1, 0.0, fabricpath + b"FCS!", LINKTYPE_ETHERNET).malformed is None


def test_vxlan_gpe_carries_ip_by_its_next_protocol_and_a_udp_length_below_8_is_malformed():
    gpe = bytes.fromhex("08000001" "00d43100")   # I flag, next protocol 1 (IPv4), VNI 54321
    inner_is_drawn(ETHER() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=40000, dport=4790) / Raw(gpe)
                   / INNER, "VXLAN-GPE 192.0.2.1 → 192.0.2.2, VNI 54321")
    raw = bytearray(bytes(ETHER() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=9999) / Raw(b"x" * 8)))
    raw[14 + 20 + 4:14 + 20 + 6] = b"\x00\x00"     # UDP length 0
    assert dissect(1, 0.0, bytes(raw), LINKTYPE_ETHERNET).malformed == "UDP length 0 (at least 8)"


def test_what_cannot_be_read_is_noted_once_per_kind_and_what_else_frames_held_is_counted_by_name():
    from scapy.layers.dot11 import Dot11, RadioTap
    from scapy.layers.ipsec import ESP
    from scapy.layers.l2 import LLC, STP, Dot3
    outer = ETHER() / IP(src="192.0.2.1", dst="192.0.2.2")
    unreadable = [
        (bytes(outer / ESP(spi=7, seq=1, data=b"\x00" * 32)), LINKTYPE_ETHERNET),
        (bytes(ETHER(type=0x88E5) / Raw(b"\x00" * 40)), LINKTYPE_ETHERNET),      # MACsec
        (bytes(ETHER(type=0x88B5) / Raw(b"\x00" * 40)), LINKTYPE_ETHERNET),      # local experimental
        (bytes(ETHER(type=0x88B5) / Raw(b"\x01" * 40)), LINKTYPE_ETHERNET),
        (bytes(RadioTap() / Dot11(type=2, FCfield="protected") / Raw(b"\x00" * 40)), 127),
    ]
    held = [
        (bytes(ETHER() / ARP(hwsrc="02:00:00:00:00:01", psrc="192.0.2.1", pdst="192.0.2.2")), LINKTYPE_ETHERNET),
        (bytes(outer / ICMP()), LINKTYPE_ETHERNET),                               # an echo request
        (bytes(outer / ICMP()), LINKTYPE_ETHERNET),
        (bytes(IP(src="192.0.2.1", dst="192.0.2.2", proto=89) / Raw(b"\x00" * 24)), LINKTYPE_RAW),
        (bytes(Dot3(src="02:00:00:00:00:01", dst="01:80:c2:00:00:00") / LLC() / STP()), LINKTYPE_ETHERNET),
    ]
    decoder = FrameDecoder()
    for number, (data, linktype) in enumerate(unreadable + held, 1):
        assert decoder.decode(number, 0.0, data, linktype) is None
    assert decoder.notes() == [
        "1 802.11 frames are encrypted (protected): not shown",
        "1 frames inside IPsec ESP are encrypted: not shown",
        "1 frames inside MACsec are encrypted: not shown",
        "2 frames of an ethertype handshake-viz cannot read (0x88b5): not shown"]
    assert decoder.held_text() == ["2 frames of ICMP", "1 frame of ARP", "1 frame of OSPF",
                                   "1 frame of 802.3 LLC (spanning tree, CDP and the like)"]


def test_unknown_ethertypes_however_many_make_one_note():
    decoder = FrameDecoder()
    for ethertype in range(0x0900, 0x0908):
        decoder.decode(1, 0.0, bytes(ETHER(type=ethertype) / Raw(b"\x00" * 40)), LINKTYPE_ETHERNET)
    assert decoder.notes() == ["8 frames of an ethertype handshake-viz cannot read "
                               "(0x0900, 0x0901, 0x0902, 0x0903, 0x0904 and 3 more): not shown"]


def test_an_nflog_frame_carries_its_packet_in_the_payload_attribute():
    """Link type 239 as tshark reads it: a 4-byte header, then attributes whose lengths and types
    are little-endian; the payload one (9) is the IP packet. This frame's bytes, written to a
    pcap, read in tshark 4.0.17 as nflog:ip:tcp from 10.9.0.1 port 40000, a SYN."""
    def attribute(kind, value):
        length = 4 + len(value)
        return struct.pack("<HH", length, kind) + value + b"\x00" * (-length % 4)
    frame = (bytes([2, 0, 0, 0]) + attribute(1, struct.pack(">HBB", 0x0800, 3, 0)) + attribute(10, b"log\x00")
             + attribute(9, bytes(INNER)))
    inner_is_drawn(frame, None, 239)
    decoder = FrameDecoder()
    assert decoder.decode(1, 0.0, bytes([2, 0, 0, 0]) + attribute(10, b"log\x00"), 239) is None
    assert decoder.held_text() == ["1 frame of NFLOG without a packet"]


def test_a_legend_names_four_tunnels_and_counts_the_rest_which_the_json_lists():
    from scapy.contrib.gtp import GTP_U_Header
    records = [dissect(1, 0.0, bytes(ETHER() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=2152, dport=2152)
                                     / GTP_U_Header(teid=teid) / INNER), LINKTYPE_ETHERNET) for teid in range(6)]
    legend, summary = _tunnelled(records)
    [line] = [line for line in legend if line.startswith("Inside tunnels:")]
    assert line.count("GTP-U") == 4 and "TEID 3 · 2 more (all in the JSON);" in line
    assert len(summary["tunnels"]) == 6


def test_a_gtp_extension_header_of_no_length_leaves_the_tunnel_unread_instead_of_looping():
    """Its length counts in 4-byte words: 0 would never move on to the next header (this hung)."""
    gtp = bytes([0x34, 0xFF, 0, 40, 0, 0, 0, 99, 0, 0, 0, 0x85]) + bytes([0, 0, 0, 0x85]) + bytes(INNER)
    frame = ETHER() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=2152, dport=2152) / gtp
    record = dissect(1, 0.0, bytes(frame), LINKTYPE_ETHERNET)
    assert (record.protocol, record.sport, record.dport, record.tunnel) == ("udp", 2152, 2152, None)
