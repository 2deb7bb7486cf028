from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from handshake_viz.dissect import LINKTYPE_ETHERNET, LINKTYPE_RAW, FrameDecoder
from handshake_viz.records import preview_text
from handshake_viz.records import ACK, PSH, SYN

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
