"""Link-layer frames to `PacketRecord`s with struct, reading only the headers that matter.

Pure: bytes in, records out. `FrameDecoder` keeps the little state decoding needs (IP fragments
waiting for the rest of their datagram) and counts what it did not show: what it cannot read
(`counts`, which a replay says in notes) and what is not TCP or UDP (`held`, which a replay
says when a file has no conversation). Checksums are not checked: on loopback they are left to
offload and never filled in.
"""

import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from handshake_viz.wire.groups import MLD_TYPES
from handshake_viz.wire.records import PacketRecord, TcpOptions

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_PPP = 9
LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_C_HDLC = 104
LINKTYPE_NFLOG = 239
LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback (NULL)", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_LINUX_SLL2: "Linux cooked (SLL2)",
    LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6", LINKTYPE_C_HDLC: "Cisco HDLC",
    LINKTYPE_NFLOG: "Linux netfilter log (NFLOG)", LINKTYPE_PPP: "PPP",
    LINKTYPE_IEEE802_11: "802.11", LINKTYPE_IEEE802_11_RADIOTAP: "802.11 with radiotap",
}

_ETHERTYPE_IPV4, _ETHERTYPE_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_ETHERTYPE_PPPOE_SESSION = 0x8864
_ETHERTYPE_MPLS = (0x8847, 0x8848)
_ETHERTYPE_FABRICPATH = 0x8903   # Cisco FabricPath
_ETHERTYPE_BRIDGED, _ETHERTYPE_PPP, _ERSPAN_II, _ERSPAN_III = 0x6558, 0x880B, 0x88BE, 0x22EB
_IP_IN_IP = {4: 4, 41: 6}       # IP protocol -> the inner IP version
_GRE, _ESP = 47, 50
_VXLAN_PORT, _VXLAN_GPE_PORT, _GENEVE_PORT, _GTP_U_PORT, _CAPWAP_DATA_PORT = 4789, 4790, 6081, 2152, 5247
_GPE_NEXT = {1: _ETHERTYPE_IPV4, 2: _ETHERTYPE_IPV6, 3: _ETHERTYPE_BRIDGED}   # VXLAN-GPE's next protocol
# The UDP tunnels read by their port, in the order tried: (port, name, does its header say it is one).
_UDP_TUNNELS = (
    (_VXLAN_PORT, "VXLAN", lambda body: body[0] & 0x08),
    (_VXLAN_GPE_PORT, "VXLAN-GPE", lambda body: body[0] & 0x08),
    (_GENEVE_PORT, "Geneve", lambda body: body[0] >> 6 == 0),
    (_CAPWAP_DATA_PORT, "CAPWAP", lambda body: body[0] == 0),
    (_GTP_U_PORT, "GTP-U", lambda body: body[0] >> 5 == 1 and body[1] == 0xFF),
)
_NFULA_PAYLOAD = 9
_PPP_TO_ETHERTYPE = {0x0021: _ETHERTYPE_IPV4, 0x0057: _ETHERTYPE_IPV6}
_AF_INET6_VALUES = (10, 24, 28, 30)   # Linux, NetBSD/OpenBSD, FreeBSD, macOS
_IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_TCP, _UDP, _ICMP, _ICMPV6, _IGMP = 6, 17, 1, 58, 2
_L2TP_PORT = 1701
# Non-IP frames by what they are, so a file without a conversation can say what it held.
_ETHERTYPE_NAMES = {
    0x0806: "ARP", 0x8035: "RARP", 0x88CC: "LLDP", 0x888E: "802.1X (EAPOL)", 0x8809: "LACP",
    0x9000: "Ethernet loopback", 0x88F7: "PTP", 0x8863: "PPPoE discovery", 0x8137: "IPX",
    0x809B: "AppleTalk", 0x8906: "FCoE", 0x22F0: "AVTP", 0x88E1: "HomePlug",
}
_ETHERTYPE_ENCRYPTED = {0x88E5: "MACsec"}
_PPP_CONTROL_NAMES = {0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IPV6CP", 0xC023: "PAP", 0xC223: "CHAP", 0x80FD: "CCP"}
_IP_PROTOCOL_NAMES = {
    _ICMP: "ICMP", 2: "IGMP", _ICMPV6: "ICMPv6", 4: "IP-in-IP", 41: "IPv6-in-IP", _GRE: "GRE",
    51: "IPsec AH", 88: "EIGRP", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP",
}
_LISTED_ETHERTYPES = 5
_KEPT_PAYLOAD = 512   # enough for a DNS message in a label; previews show the first 24 bytes
# Every error message that quotes the packet it is about (RFC 792, 1812; RFC 4443).
_ICMP_ERRORS = {
    (3, 0): "net_unreachable", (3, 1): "host_unreachable", (3, 2): "protocol_unreachable",
    (3, 3): "port_unreachable", (3, 4): "fragmentation_needed", (3, 5): "source_route_failed",
    (3, 6): "net_unknown", (3, 7): "host_unknown", (3, 8): "source_host_isolated",
    (3, 9): "net_administratively_prohibited", (3, 10): "host_administratively_prohibited",
    (3, 11): "net_unreachable_for_tos", (3, 12): "host_unreachable_for_tos",
    (3, 13): "administratively_prohibited", (3, 14): "host_precedence_violation",
    (3, 15): "precedence_cutoff", (4, 0): "source_quench", (5, 0): "redirect_for_net",
    (5, 1): "redirect_for_host", (5, 2): "redirect_for_tos_and_net", (5, 3): "redirect_for_tos_and_host",
    (11, 0): "ttl_exceeded", (11, 1): "reassembly_time_exceeded", (12, 0): "parameter_problem",
    (12, 1): "missing_required_option", (12, 2): "bad_length",
}
_ICMPV6_ERRORS = {
    (1, 0): "no_route", (1, 1): "administratively_prohibited", (1, 2): "beyond_scope_of_source",
    (1, 3): "address_unreachable", (1, 4): "port_unreachable", (1, 5): "source_address_failed_policy",
    (1, 6): "reject_route", (2, 0): "packet_too_big", (3, 0): "hop_limit_exceeded",
    (3, 1): "reassembly_time_exceeded", (4, 0): "erroneous_header_field", (4, 1): "unrecognized_next_header",
    (4, 2): "unrecognized_ipv6_option",
}


class _Packet(NamedTuple):
    """An IP packet's addresses, transport protocol and transport bytes."""

    src: str
    dst: str
    protocol: int
    transport: bytes     # as far as captured
    transport_len: int   # as the IP header says (capped by the frame's length on the wire)


class _NotIp(Exception):
    """A frame that carries no IP packet: what it carries by name ("ARP"), or when handshake-viz
    cannot read it (unknown or encrypted) the note a replay gives."""

    def __init__(self, kind: str, unreadable: bool = False) -> None:
        super().__init__(kind)
        self.kind, self.unreadable = kind, unreadable


class _UnreadEthertype(_NotIp):
    def __init__(self, ethertype: int) -> None:
        super().__init__(f"ethertype 0x{ethertype:04x}", unreadable=True)
        self.ethertype = ethertype


@dataclass
class _Datagram:
    """Fragments of one IP datagram, gathered until they cover it whole."""

    pieces: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    first: _Packet | None = None


class FrameDecoder:
    """Decode frames in capture order; `counts` says what could not be read or was reassembled,
    `held` what else the frames carried, by name ("ARP", "ICMP")."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.held: Counter = Counter()
        self.unread_ethertypes: Counter = Counter()
        self._datagrams: dict[tuple, _Datagram] = {}

    def decode(self, frame: int, time: float, data: bytes, linktype: int,
               wire_len: int | None = None) -> PacketRecord | None:
        """The record for one captured frame, or None when it carries no TCP or UDP header."""
        if linktype not in LINKTYPE_NAMES:
            self.counts[f"frames of unsupported link type {linktype}"] += 1
            return None
        try:
            offset, version = _network_layer(data, linktype)
            length_limit = (wire_len if wire_len is not None else len(data)) - offset - _trailer(data, linktype)
            packet = self._ip(data, offset, version, length_limit)
            if packet is None:   # a fragment, or a malformed header (counted)
                return None
            record = self._transport(frame, time, packet)
            if record is None and packet.protocol != _ESP:   # ESP has its note
                self.held[_IP_PROTOCOL_NAMES.get(packet.protocol, f"IP protocol {packet.protocol}")] += 1
            return record
        except _UnreadEthertype as unread:
            self.unread_ethertypes[unread.ethertype] += 1
            return None
        except _NotIp as other:
            (self.counts if other.unreadable else self.held)[other.kind] += 1
            return None
        except (struct.error, IndexError, ValueError):
            self.counts["frames cut short before their TCP/UDP header"] += 1
            return None

    def notes(self) -> list[str]:
        """One line per kind of frame not shown or put together, once every frame is decoded."""
        notes = [f"{count} {what}" for what, count in sorted(self.counts.items())]
        if self.unread_ethertypes:   # one note, however many values a damaged capture holds
            values = sorted(self.unread_ethertypes)
            listed = ", ".join(f"0x{value:04x}" for value in values[:_LISTED_ETHERTYPES])
            more = f" and {len(values) - _LISTED_ETHERTYPES} more" if len(values) > _LISTED_ETHERTYPES else ""
            notes.append(f"{self.unread_ethertypes.total()} frames of an ethertype handshake-viz cannot read "
                         f"({listed}{more}): not shown")
        if self._datagrams:
            notes.append(f"{len(self._datagrams)} fragmented IP datagrams never completed (not shown)")
        return notes

    def held_text(self) -> list[str]:
        """What else the frames carried, most first: "40 frames of ARP"."""
        return [f"{count} frame{'s' if count != 1 else ''} of {what}" for what, count in self.held.most_common()]

    def _ip(self, data: bytes, offset: int, version: int, length_limit: int) -> _Packet | None:
        if version == 4:
            ihl = (data[offset] & 0x0F) * 4
            if data[offset] >> 4 != 4 or ihl < 20:   # tshark: "Bogus IP version/header length", and stops
                self.counts["frames with a malformed IPv4 header (not shown)"] += 1
                return None
            total_len, ident, fragment, protocol = struct.unpack_from(">HHHxB", data, offset + 2)
            if total_len == 0:   # segmentation offload (TSO): the frame's length is the packet's, as tshark takes it
                total_len = length_limit
            src = socket.inet_ntop(socket.AF_INET, data[offset + 12:offset + 16])
            dst = socket.inet_ntop(socket.AF_INET, data[offset + 16:offset + 20])
            transport_len = min(total_len, length_limit) - ihl
            start = offset + ihl
            packet = _Packet(src, dst, protocol, data[start:start + transport_len], transport_len)
            if fragment & 0x3FFF:  # more fragments, or an offset
                return self._fragment((4, src, dst, ident, protocol), packet,
                                      (fragment & 0x1FFF) * 8, bool(fragment & 0x2000))
            return packet
        if version == 6:
            payload_len, protocol = struct.unpack_from(">HB", data, offset + 4)
            src = socket.inet_ntop(socket.AF_INET6, data[offset + 8:offset + 24])
            dst = socket.inet_ntop(socket.AF_INET6, data[offset + 24:offset + 40])
            start = offset + 40
            remaining = min(payload_len, length_limit - 40)
            fragment = None
            while protocol in _IPV6_EXTENSION_HEADERS or protocol == _IPV6_FRAGMENT:
                next_header = data[start]
                if protocol == _IPV6_FRAGMENT:
                    offset_field, ident = struct.unpack_from(">HI", data, start + 2)
                    fragment = (ident, offset_field & 0xFFF8, bool(offset_field & 1))
                    ext_len = 8
                else:
                    ext_len = (data[start + 1] + 1) * 8
                protocol = next_header
                start += ext_len
                remaining -= ext_len
            packet = _Packet(src, dst, protocol, data[start:start + remaining], remaining)
            if fragment:
                ident, frag_offset, more = fragment
                return self._fragment((6, src, dst, ident), packet, frag_offset, more)
            return packet
        return None

    def _transport(self, frame: int, time: float, packet: _Packet) -> PacketRecord | None:
        if packet.protocol == _TCP:
            return _tcp(frame, time, packet)
        if packet.protocol == _UDP:
            inner = self._udp_tunnel(packet)
            tunnelled = self._inside(frame, time, packet, inner) if inner is not None else None
            if tunnelled is not None:  # else the tunnel itself is the conversation
                return tunnelled
            return _udp(frame, time, packet)
        if packet.protocol == _IGMP or (packet.protocol == _ICMPV6 and packet.transport[:1] and
                                        packet.transport[0] in MLD_TYPES):
            return _membership(frame, time, packet)
        if packet.protocol in (_ICMP, _ICMPV6):
            return _icmp_error(frame, time, packet)
        if packet.protocol in _IP_IN_IP:
            inner = self._ip(packet.transport, 0, _IP_IN_IP[packet.protocol], packet.transport_len)
            return self._inside(frame, time, packet, (inner, "IP in IP", "")) if inner else None
        if packet.protocol == _GRE:
            inner = self._gre(packet.transport)
            return self._inside(frame, time, packet, inner) if inner else None
        if packet.protocol == _ESP:
            self.counts["frames inside IPsec ESP are encrypted: not shown"] += 1
        return None

    def _inside(self, frame: int, time: float, outer: _Packet, inner: tuple) -> PacketRecord | None:
        """The record of the packet a tunnel carried, which keeps the tunnel in words:
        "VXLAN 10.1.0.1 → 10.1.0.2, VNI 42", outermost first when tunnels nest."""
        packet, name, detail = inner
        record = self._transport(frame, time, packet) if packet is not None else None
        if record is None or record.protocol not in ("tcp", "udp"):   # a tunnelled host's own group messages: the tunnel
            return None
        said = f"{name} {outer.src} → {outer.dst}" + (f", {detail}" if detail else "")
        return record._replace(tunnel=said + (f"; {record.tunnel}" if record.tunnel else ""))

    def _udp_tunnel(self, packet: _Packet) -> tuple | None:
        """(inner packet, tunnel name, detail) for L2TP, VXLAN, Geneve and GTP-U, by their ports."""
        ports = struct.unpack_from(">HH", packet.transport, 0)
        body = packet.transport[8:]
        if _L2TP_PORT in ports:
            return self._l2tp_payload(body), "L2TP", ""
        name = next((name for port, name, says_so in _UDP_TUNNELS
                     if port in ports and len(body) >= 8 and says_so(body)), None)
        return None if name is None else self._tunnelled(name, body)

    def _tunnelled(self, name: str, body: bytes) -> tuple:
        if name == "VXLAN":
            return self._ethernet(body[8:]), name, f"VNI {int.from_bytes(body[4:7], 'big')}"
        if name == "VXLAN-GPE":
            # tshark reads the next protocol even when the P flag does not say it is there.
            inner = self._by_ethertype(_GPE_NEXT.get(body[3]), body[8:])
            return inner, name, f"VNI {int.from_bytes(body[4:7], 'big')}"
        if name == "Geneve":
            start = 8 + (body[0] & 0x3F) * 4
            return self._by_ethertype(struct.unpack_from(">H", body, 2)[0], body[start:]), name, ""
        if name == "CAPWAP":
            return self._capwap_payload(body), name, ""
        return self._gtp_payload(body), name, f"TEID {int.from_bytes(body[4:8], 'big')}"

    def _gre(self, data: bytes) -> tuple | None:
        """(inner packet, "GRE", detail) for GRE carrying IP, PPP (enhanced GRE, as PPTP), Ethernet or ERSPAN."""
        flags, protocol = struct.unpack_from(">HH", data, 0)
        if flags & 0x0007 == 1:   # version 1, enhanced GRE: a key always, an acknowledgement maybe
            offset = 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        else:
            offset = 4 + (4 if flags & 0xC000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
        body = data[offset:]
        if protocol == _ETHERTYPE_PPP:
            return self._ppp(body), "GRE", "PPP"
        if protocol == _ERSPAN_II:
            return self._ethernet(body[8:]), "GRE", "ERSPAN"
        if protocol == _ERSPAN_III:
            return self._ethernet(body[12 + (8 if body[11] & 1 else 0):]), "GRE", "ERSPAN"
        return self._by_ethertype(protocol, body), "GRE", ""

    def _capwap_payload(self, data: bytes) -> _Packet | None:
        """The frame a CAPWAP data message carries (RFC 5415): 802.11 when its T bit is set and
        its wireless binding is IEEE 802.11, else Ethernet."""
        word = int.from_bytes(data[:4], "big")
        frame = data[((word >> 19) & 0x1F) * 4:]
        if (word >> 8) & 1 and (word >> 9) & 0x1F == 1:
            # Cisco's access points send the two frame-control bytes swapped, and Wireshark swaps
            # them back by default (capwap.swap_frame_control); the captures agree.
            frame = frame[1:2] + frame[:1] + frame[2:]
            try:
                offset, version = _ieee80211(frame, 0)
            except _NotIp:
                return None
            return self._ip(frame, offset, version, len(frame) - offset)
        return self._ethernet(frame)

    def _gtp_payload(self, data: bytes) -> _Packet | None:
        offset = 8
        if data[0] & 0x07:   # a sequence number, an N-PDU number or extension headers follow
            next_type = data[11]
            offset = 12
            while next_type:
                length = data[offset] * 4
                if not length:   # an extension header of no length: nothing after it can be found
                    return None
                next_type = data[offset + length - 1]
                offset += length
        inner = data[offset:]
        return self._ip(inner, 0, inner[0] >> 4, len(inner)) if inner and inner[0] >> 4 in (4, 6) else None

    def _ppp(self, data: bytes) -> _Packet | None:
        try:
            offset, version = _after_ppp(data, 0)
        except _NotIp:   # PPP's own control protocols, inside a tunnel
            return None
        return self._ip(data, offset, version, len(data) - offset)

    def _ethernet(self, data: bytes) -> _Packet | None:
        try:
            offset, version = _after_ethertype(data, 12, 14)
        except _NotIp:   # a tunnel carrying something else: the tunnel itself is what is shown
            return None
        return self._ip(data, offset, version, len(data) - offset)

    def _by_ethertype(self, ethertype: int | None, data: bytes) -> _Packet | None:
        if ethertype == _ETHERTYPE_BRIDGED:
            return self._ethernet(data)
        version = {_ETHERTYPE_IPV4: 4, _ETHERTYPE_IPV6: 6}.get(ethertype)
        return self._ip(data, 0, version, len(data)) if version else None

    def _l2tp_payload(self, data: bytes) -> _Packet | None:
        """The IP packet in an L2TPv2 data message (RFC 2661) carrying PPP, if that is what it is."""
        flags = struct.unpack_from(">H", data, 0)[0]
        if flags & 0x8000 or flags & 0x000F != 2:  # a control message, or not version 2
            return None
        offset = 2 + (2 if flags & 0x4000 else 0) + 4 + (4 if flags & 0x0800 else 0)
        if flags & 0x0200:
            offset += 2 + struct.unpack_from(">H", data, offset)[0]
        return self._ppp(data[offset:])

    def _fragment(self, key: tuple, packet: _Packet, offset: int, more: bool) -> _Packet | None:
        """The whole datagram once its last missing piece arrives, else None."""
        self.counts["IP fragments"] += 1
        datagram = self._datagrams.setdefault(key, _Datagram())
        datagram.pieces.setdefault(offset, packet.transport[:packet.transport_len])
        if offset == 0:
            datagram.first = packet
        if not more:
            datagram.total = offset + packet.transport_len
        if datagram.total is None or datagram.first is None:
            return None
        whole = bytearray(datagram.total)
        covered = [False] * datagram.total
        for piece_offset in sorted(datagram.pieces):  # later offsets overwrite earlier overlaps
            piece = datagram.pieces[piece_offset][:max(datagram.total - piece_offset, 0)]
            whole[piece_offset:piece_offset + len(piece)] = piece
            covered[piece_offset:piece_offset + len(piece)] = [True] * len(piece)
        if not all(covered):
            return None
        del self._datagrams[key]
        self.counts["IP datagrams reassembled"] += 1
        first = datagram.first
        return _Packet(first.src, first.dst, first.protocol, bytes(whole), datagram.total)


def locate_ip(data: bytes, linktype: int) -> tuple[int, int] | None:
    """Where the IP header starts in a frame, and its version; None for a non-IP frame."""
    try:
        return _network_layer(data, linktype) if linktype in LINKTYPE_NAMES else None
    except (struct.error, IndexError, _NotIp):
        return None


def _loopback_family(data: bytes) -> int:
    """The IP version of a BSD loopback frame, from its address family (in the writer's byte order)."""
    family = struct.unpack_from("<I", data, 0)[0]
    if family > 0xFFFF:  # written by a big-endian host
        family = struct.unpack_from(">I", data, 0)[0]
    if family == socket.AF_INET:
        return 4
    if family in _AF_INET6_VALUES:
        return 6
    raise _NotIp(f"loopback address family {family}")


def _network_layer(data: bytes, linktype: int) -> tuple[int, int]:
    """Offset of the IP header and its version; `_NotIp` for a frame that carries no IP packet."""
    if linktype == LINKTYPE_ETHERNET:
        return _after_ethertype(data, 12, 14)
    if linktype == LINKTYPE_LINUX_SLL:
        return _after_ethertype(data, 14, 16)
    if linktype == LINKTYPE_LINUX_SLL2:
        return _after_ethertype(data, 0, 20)
    if linktype == LINKTYPE_NULL:
        return 4, _loopback_family(data)
    if linktype == LINKTYPE_C_HDLC or (linktype == LINKTYPE_PPP and data[0] in (0x0F, 0x8F)):
        return _after_ethertype(data, 2, 4)   # Cisco HDLC, also framed in PPP's link type
    if linktype == LINKTYPE_PPP:
        return _after_ppp(data, 0)
    if linktype == LINKTYPE_NFLOG:
        return _nflog_payload(data)
    if linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        return _ieee80211(data, struct.unpack_from("<H", data, 2)[0])
    if linktype == LINKTYPE_IEEE802_11:
        return _ieee80211(data, 0)
    version = data[0] >> 4   # raw IP
    if version not in (4, 6):
        raise _NotIp(f"frames of IP version {version}, neither 4 nor 6: not shown", unreadable=True)
    return 0, version


_LLC_SNAP = b"\xaa\xaa\x03\x00\x00\x00"


def _trailer(data: bytes, linktype: int) -> int:
    """Bytes at a frame's end that are not its IP packet's: the FCS a Cisco FabricPath frame's inner
    frame keeps, as tshark reads it (so a packet that runs into it is cut short there)."""
    fabricpath = linktype == LINKTYPE_ETHERNET and struct.unpack_from(">H", data, 12)[0] == _ETHERTYPE_FABRICPATH
    return 4 if fabricpath else 0


def _after_ppp(data: bytes, start: int) -> tuple[int, int]:
    """Where IP starts after the PPP header at start (its address and control bytes ff 03 when
    there, a one-byte protocol field when compressed), and its version; `_NotIp` for PPP's own
    protocols (LCP, IPCP, ...)."""
    if data[start:start + 2] == b"\xff\x03":
        start += 2
    if data[start] & 1:   # compressed: the protocol's high byte, 0, left out
        protocol, start = data[start], start + 1
    else:
        protocol, start = struct.unpack_from(">H", data, start)[0], start + 2
    if protocol not in _PPP_TO_ETHERTYPE:
        name = _PPP_CONTROL_NAMES.get(protocol)
        raise _NotIp(f"PPP {name}" if name else f"PPP protocol 0x{protocol:04x}")
    return start, 4 if _PPP_TO_ETHERTYPE[protocol] == _ETHERTYPE_IPV4 else 6


def _ieee80211(data: bytes, offset: int) -> tuple[int, int]:
    """Where IP starts in an 802.11 data frame: after its header (24 bytes, the fourth address
    when it goes between two access points, QoS and HT control when present) and LLC/SNAP.
    A protected frame is encrypted: there is nothing to read."""
    control, flags = data[offset], data[offset + 1]
    if (control >> 2) & 3 != 2:
        raise _NotIp("802.11 management and control")
    if flags & 0x40:
        raise _NotIp("802.11 frames are encrypted (protected): not shown", unreadable=True)
    header = 24 + (6 if flags & 3 == 3 else 0)
    if control & 0x80:   # QoS data
        header += 2 + (4 if flags & 0x80 else 0)
    start = offset + header
    if data[start:start + 6] != _LLC_SNAP:
        raise _NotIp("802.11 data with no LLC/SNAP header (null data)")
    return _after_ethertype(data, start + 6, start + 8)


def _nflog_payload(data: bytes) -> tuple[int, int]:
    """Where the packet is in an NFLOG frame: its payload TLV (lengths in the capturing host's
    byte order, little-endian on the machines that make these)."""
    offset = 4
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("<HH", data, offset)
        if length < 4:
            break
        if kind == _NFULA_PAYLOAD:
            return offset + 4, data[offset + 4] >> 4
        offset += (length + 3) & ~3
    raise _NotIp("NFLOG without a packet")


def _after_ethertype(data: bytes, type_offset: int, header_len: int):
    ethertype = struct.unpack_from(">H", data, type_offset)[0]
    offset = header_len
    if ethertype == _ETHERTYPE_FABRICPATH:   # two bytes of FTag and TTL, then the frame it carries
        return _after_ethertype(data, offset + 2 + 12, offset + 2 + 14)
    while ethertype in _VLAN_TAGS:
        ethertype = struct.unpack_from(">H", data, offset + 2)[0]
        offset += 4
    if ethertype == _ETHERTYPE_PPPOE_SESSION:   # a 6-byte PPPoE header, then PPP
        return _after_ppp(data, offset + 6)
    if ethertype in _ETHERTYPE_MPLS:   # labels until the bottom of the stack, then IP by its version
        while not data[offset + 2] & 1:
            offset += 4
        offset += 4
        version = data[offset] >> 4
        if version not in (4, 6):
            raise _NotIp("MPLS frames carrying something other than IP (such as a pseudowire): not shown",
                         unreadable=True)
        return offset, version
    if ethertype == _ETHERTYPE_IPV4:
        return offset, 4
    if ethertype == _ETHERTYPE_IPV6:
        return offset, 6
    raise _ethertype_other(ethertype)


def _ethertype_other(ethertype: int) -> _NotIp:
    if ethertype <= 1500:   # a length: an 802.3 frame with an LLC header
        return _NotIp("802.3 LLC (spanning tree, CDP and the like)")
    if ethertype in _ETHERTYPE_NAMES:
        return _NotIp(_ETHERTYPE_NAMES[ethertype])
    if ethertype in _ETHERTYPE_ENCRYPTED:
        return _NotIp(f"frames inside {_ETHERTYPE_ENCRYPTED[ethertype]} are encrypted: not shown", unreadable=True)
    return _UnreadEthertype(ethertype)


_TCP_HEADER = struct.Struct(">HHIIBBH")


def _tcp(frame: int, time: float, packet: _Packet) -> PacketRecord:
    data = packet.transport
    sport, dport, seq, ack, offset_byte, flags, window = _TCP_HEADER.unpack_from(data, 0)
    header_len = (offset_byte >> 4) * 4
    if not 20 <= header_len <= packet.transport_len:   # tshark: "Bogus TCP header length", and stops
        return PacketRecord(frame, time, packet.src, packet.dst, sport, dport, "tcp", flags, seq, ack, window,
                            malformed=f"TCP header length {header_len} (at least 20, at most the segment's "
                                      f"{packet.transport_len})")
    raw_options = data[20:header_len]
    # Options matter on SYNs and where SACK blocks may be (kind 5); reading every segment's
    # timestamps would cost replay time for nothing drawn.
    options = tcp_options(raw_options) if raw_options and (flags & 0x02 or 5 in raw_options) else None
    payload_len = packet.transport_len - header_len
    if payload_len < 0:
        payload_len = 0
    return PacketRecord(frame, time, packet.src, packet.dst, sport, dport, "tcp", flags, seq, ack,
                        window, options, payload_len, data[header_len:header_len + _KEPT_PAYLOAD])


def _udp(frame: int, time: float, packet: _Packet) -> PacketRecord:
    sport, dport, udp_len = struct.unpack_from(">HHH", packet.transport, 0)
    if udp_len < 8:   # tshark: "Bad length value", malformed
        return PacketRecord(frame, time, packet.src, packet.dst, sport, dport, "udp",
                            malformed=f"UDP length {udp_len} (at least 8)")
    payload_len = udp_len - 8
    return PacketRecord(frame, time, packet.src, packet.dst, sport, dport, "udp",
                        payload_len=payload_len, payload=packet.transport[8:8 + min(payload_len, _KEPT_PAYLOAD)])


def _membership(frame: int, time: float, packet: _Packet) -> PacketRecord | None:
    """A host's IGMP or MLD message about its multicast groups: a datagram of its own kind."""
    if not packet.transport:
        return None
    protocol = "igmp" if packet.protocol == _IGMP else "mld"
    return PacketRecord(frame, time, packet.src, packet.dst, 0, 0, protocol, payload_len=packet.transport_len,
                        payload=packet.transport[:_KEPT_PAYLOAD])


def _icmp_error(frame: int, time: float, packet: _Packet) -> PacketRecord | None:
    """An ICMP error quoting a UDP or TCP header, as a record of the 4-tuple it is about."""
    kind, code = packet.transport[0], packet.transport[1]
    names = _ICMP_ERRORS if packet.protocol == _ICMP else _ICMPV6_ERRORS
    name = names.get((kind, code))
    if name is None:
        return None
    quoted = packet.transport[8:]
    version = quoted[0] >> 4
    if version == 4:
        ihl = (quoted[0] & 0x0F) * 4
        protocol = quoted[9]
        src = socket.inet_ntop(socket.AF_INET, quoted[12:16])
        dst = socket.inet_ntop(socket.AF_INET, quoted[16:20])
        ports = quoted[ihl:ihl + 4]
    elif version == 6:
        protocol = quoted[6]
        src = socket.inet_ntop(socket.AF_INET6, quoted[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, quoted[24:40])
        ports = quoted[40:44]
    else:
        return None
    if protocol not in (_TCP, _UDP):
        return None
    sport, dport = struct.unpack(">HH", ports)
    return PacketRecord(frame, time, src, dst, sport, dport, "tcp" if protocol == _TCP else "udp",
                        icmp=name, reporter=packet.src)


def tcp_options(raw: bytes) -> TcpOptions:
    """The options of a TCP header (its bytes after the fixed 20). Decoding reads them only where
    the analysis needs them (SYNs, SACK); a view that shows every segment's reads them here."""
    mss = window_scale = timestamps = None
    sack_permitted = False
    sack_blocks = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2:
            break  # a malformed length: stop rather than guess
        length = raw[i + 1]
        body = raw[i + 2:i + length]
        if kind == 2 and len(body) == 2:
            mss = struct.unpack(">H", body)[0]
        elif kind == 3 and len(body) == 1:
            window_scale = body[0]
        elif kind == 4:
            sack_permitted = True
        elif kind == 5:
            sack_blocks = [struct.unpack_from(">II", body, j) for j in range(0, len(body) - 7, 8)]
        elif kind == 8 and len(body) == 8:
            timestamps = struct.unpack(">II", body)
        i += length
    return TcpOptions(mss, window_scale, sack_permitted, timestamps, tuple(sack_blocks))
