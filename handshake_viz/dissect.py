"""Link-layer frames to `PacketRecord`s with struct, reading only the headers that matter.

Pure: bytes in, a record (or None for anything that is not TCP or UDP) out. Checksums are not
checked: on loopback they are left to offload and never filled in.
"""

import socket
import struct

from handshake_viz.records import PacketRecord, TcpOptions

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback (NULL)", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_LINUX_SLL2: "Linux cooked (SLL2)",
    LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6",
}

_ETHERTYPE_IPV4, _ETHERTYPE_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_ETHERTYPE_PPPOE_SESSION = 0x8864
_PPP_IPV4, _PPP_IPV6 = 0x0021, 0x0057
_AF_INET6_VALUES = (10, 24, 28, 30)   # Linux, NetBSD/OpenBSD, FreeBSD, macOS
_IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
_IPV6_FRAGMENT = 44
_PREVIEW_BYTES = 24


def supported_linktype(linktype: int) -> bool:
    return linktype in LINKTYPE_NAMES


def dissect(frame: int, time: float, data: bytes, linktype: int) -> PacketRecord | None:
    """The record for one captured frame, or None when it carries no TCP or UDP header."""
    try:
        located = _network_layer(data, linktype)
        if located is None:
            return None
        offset, version = located
        return _ip(frame, time, data, offset, version)
    except (struct.error, IndexError, ValueError):
        return None  # a frame cut short before the transport header: nothing to show


def _network_layer(data: bytes, linktype: int) -> tuple[int, int] | None:
    """Offset of the IP header and its version, or None for a non-IP frame."""
    if linktype == LINKTYPE_ETHERNET:
        return _after_ethertype(data, 12)
    if linktype == LINKTYPE_LINUX_SLL:
        return _after_ethertype(data, 14)
    if linktype == LINKTYPE_LINUX_SLL2:
        return _after_ethertype(data, 0, header_len=20)
    if linktype == LINKTYPE_NULL:
        family = struct.unpack_from("<I", data, 0)[0]
        if family > 0xFFFF:  # written by a big-endian host
            family = struct.unpack_from(">I", data, 0)[0]
        if family == socket.AF_INET:
            return 4, 4
        return (4, 6) if family in _AF_INET6_VALUES else None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return 0, data[0] >> 4
    return None


def _after_ethertype(data: bytes, type_offset: int, header_len: int | None = None):
    ethertype = struct.unpack_from(">H", data, type_offset)[0]
    offset = header_len if header_len is not None else type_offset + 2
    while ethertype in _VLAN_TAGS:
        ethertype = struct.unpack_from(">H", data, offset + 2)[0]
        offset += 4
    if ethertype == _ETHERTYPE_PPPOE_SESSION:
        ppp_protocol = struct.unpack_from(">H", data, offset + 6)[0]
        offset += 8
        ethertype = {_PPP_IPV4: _ETHERTYPE_IPV4, _PPP_IPV6: _ETHERTYPE_IPV6}.get(ppp_protocol)
    if ethertype == _ETHERTYPE_IPV4:
        return offset, 4
    if ethertype == _ETHERTYPE_IPV6:
        return offset, 6
    return None


def _ip(frame: int, time: float, data: bytes, offset: int, version: int) -> PacketRecord | None:
    if version == 4:
        ihl = (data[offset] & 0x0F) * 4
        total_len, fragment, protocol = struct.unpack_from(">H2xH1xB", data, offset + 2)
        if fragment & 0x1FFF:  # a later fragment has no transport header
            return None
        src = socket.inet_ntop(socket.AF_INET, data[offset + 12:offset + 16])
        dst = socket.inet_ntop(socket.AF_INET, data[offset + 16:offset + 20])
        transport = offset + ihl
        transport_len = total_len - ihl
    elif version == 6:
        payload_len, protocol = struct.unpack_from(">HB", data, offset + 4)
        src = socket.inet_ntop(socket.AF_INET6, data[offset + 8:offset + 24])
        dst = socket.inet_ntop(socket.AF_INET6, data[offset + 24:offset + 40])
        transport = offset + 40
        transport_len = payload_len
        while protocol in _IPV6_EXTENSION_HEADERS or protocol == _IPV6_FRAGMENT:
            next_header = data[transport]
            if protocol == _IPV6_FRAGMENT:
                if struct.unpack_from(">H", data, transport + 2)[0] & 0xFFF8:
                    return None
                ext_len = 8
            else:
                ext_len = (data[transport + 1] + 1) * 8
            protocol = next_header
            transport += ext_len
            transport_len -= ext_len
    else:
        return None
    if protocol == 6:
        return _tcp(frame, time, data, transport, transport_len, src, dst)
    if protocol == 17:
        return _udp(frame, time, data, transport, transport_len, src, dst)
    return None


def _tcp(frame, time, data, offset, segment_len, src, dst) -> PacketRecord:
    sport, dport, seq, ack, offset_byte, flags, window = struct.unpack_from(">HHIIBBH", data, offset)
    header_len = (offset_byte >> 4) * 4
    options = _tcp_options(data[offset + 20:offset + header_len]) if header_len > 20 else None
    payload_start = offset + header_len
    payload_len = max(segment_len - header_len, 0)
    return PacketRecord(frame, time, src, dst, sport, dport, "tcp", flags, seq, ack, window,
                        options, payload_len, preview(data[payload_start:payload_start + min(payload_len, _PREVIEW_BYTES)], payload_len))


def _udp(frame, time, data, offset, datagram_len, src, dst) -> PacketRecord:
    sport, dport, udp_len = struct.unpack_from(">HHH", data, offset)
    payload_len = max((udp_len or datagram_len) - 8, 0)
    payload = data[offset + 8:offset + 8 + min(payload_len, _PREVIEW_BYTES)]
    return PacketRecord(frame, time, src, dst, sport, dport, "udp",
                        payload_len=payload_len, preview=preview(payload, payload_len))


def _tcp_options(raw: bytes) -> TcpOptions:
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


def preview(payload: bytes, payload_len: int) -> str:
    """Printable text with everything else escaped, so no payload byte can break a label."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else _ESCAPES.get(b, f"\\x{b:02x}")
                   for b in payload)
    return text + ("…" if payload_len > len(payload) else "")


_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x5C: "\\\\"}
