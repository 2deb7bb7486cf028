"""One packet's IP and TCP/UDP headers as the classic 32-bit-wide field layout (RFC 791, 8200,
9293, 768): each field with its value and its bytes in network (big-endian) order, so byte
order can be seen on a real packet. Pure; `render.header` draws it."""

import ipaddress
from dataclasses import dataclass

from handshake_viz.wire.dissect import locate_ip


@dataclass(frozen=True)
class Field:
    name: str
    bits: int
    value: str
    raw: bytes | None = None   # the field's own bytes when it is whole bytes


@dataclass(frozen=True)
class Header:
    name: str
    fields: tuple[Field, ...]  # in wire order; their bits add up to whole 32-bit words


def _bits(data: bytes, start: int, count: int) -> int:
    value = int.from_bytes(data, "big")
    return (value >> (len(data) * 8 - start - count)) & ((1 << count) - 1)


def _field(name: str, data: bytes, start: int, count: int, meaning: str = "") -> Field:
    value = _bits(data, start, count)
    raw = data[start // 8:(start + count) // 8] if start % 8 == 0 and count % 8 == 0 else None
    shown = f"{value}" if count >= 8 else f"{value} ({value:0{count}b})"
    return Field(name, count, shown + (f" {meaning}" if meaning else ""), raw)


def headers(data: bytes, linktype: int) -> list[Header]:
    """The IP header and the TCP or UDP header of one frame, as far as it was captured."""
    located = locate_ip(data, linktype)
    if located is None:
        return []
    offset, version = located
    if version == 4:
        ihl = (data[offset] & 0x0F) * 4
        if ihl < 20 or len(data) - offset < ihl:   # a header length below its fixed fields, or cut short
            return []
        ip = data[offset:offset + ihl]
        protocol = ip[9]
        fragment_flags = {0b010: "(DF)", 0b001: "(MF)", 0b011: "(DF, MF)"}.get(_bits(ip, 48, 3), "")
        fields = [
            _field("Version", ip, 0, 4), _field("IHL", ip, 4, 4, f"= {ihl} bytes"),
            _field("DSCP", ip, 8, 6), _field("ECN", ip, 14, 2), _field("Total Length", ip, 16, 16),
            _field("Identification", ip, 32, 16), _field("Flags", ip, 48, 3, fragment_flags),
            _field("Fragment Offset", ip, 51, 13), _field("TTL", ip, 64, 8),
            _field("Protocol", ip, 72, 8, {6: "(TCP)", 17: "(UDP)", 1: "(ICMP)"}.get(protocol, "")),
            _field("Header Checksum", ip, 80, 16, f"= 0x{_bits(ip, 80, 16):04x}"),
            Field("Source Address", 32, str(ipaddress.IPv4Address(ip[12:16])), ip[12:16]),
            Field("Destination Address", 32, str(ipaddress.IPv4Address(ip[16:20])), ip[16:20]),
        ]
        if ihl > 20:
            fields.append(Field("Options", (ihl - 20) * 8, f"{ihl - 20} bytes", ip[20:ihl]))
        layers, transport = [Header("IPv4 header", tuple(fields))], data[offset + ihl:]
    elif version == 6:
        if len(data) - offset < 40:
            return []
        ip = data[offset:offset + 40]
        protocol = ip[6]
        fields = [
            _field("Version", ip, 0, 4), _field("Traffic Class", ip, 4, 8), _field("Flow Label", ip, 12, 20),
            _field("Payload Length", ip, 32, 16),
            _field("Next Header", ip, 48, 8, {6: "(TCP)", 17: "(UDP)", 58: "(ICMPv6)"}.get(protocol, "")),
            _field("Hop Limit", ip, 56, 8),
            Field("Source Address", 128, str(ipaddress.IPv6Address(ip[8:24])), ip[8:24]),
            Field("Destination Address", 128, str(ipaddress.IPv6Address(ip[24:40])), ip[24:40]),
        ]
        layers, transport = [Header("IPv6 header", tuple(fields))], data[offset + 40:]
    else:
        return []
    if protocol == 6 and len(transport) >= 20:
        layers.append(_tcp(transport))
    elif protocol == 17 and len(transport) >= 8:
        u = transport[:8]
        layers.append(Header("UDP header", (_field("Source Port", u, 0, 16), _field("Destination Port", u, 16, 16),
                                             _field("Length", u, 32, 16), _field("Checksum", u, 48, 16))))
    return layers


def _tcp(t: bytes) -> Header:
    offset = (t[12] >> 4) * 4
    flag_names = ("CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN")
    fields = [
        _field("Source Port", t, 0, 16), _field("Destination Port", t, 16, 16),
        _field("Sequence Number", t, 32, 32), _field("Acknowledgment Number", t, 64, 32),
        _field("Data Offset", t, 96, 4, f"= {offset} bytes"), _field("Reserved", t, 100, 4),
        *[_field(name, t, 104 + i, 1) for i, name in enumerate(flag_names)],
        _field("Window", t, 112, 16), _field("Checksum", t, 128, 16, f"= 0x{_bits(t[:20], 128, 16):04x}"),
        _field("Urgent Pointer", t, 144, 16),
    ]
    if offset > 20:
        fields.append(Field("Options", (offset - 20) * 8, f"{offset - 20} bytes", t[20:offset]))
    return Header("TCP header", tuple(fields))
