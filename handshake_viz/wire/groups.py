"""Multicast group membership messages, IGMP (RFC 3376, IPv4) and MLD (RFC 3810, IPv6), as far
as the diagrams need: which group a host joins or leaves. Pure."""

import socket
import struct

IGMP_TYPES = {0x11: "query", 0x12: "v1 report", 0x16: "v2 report", 0x17: "v2 leave", 0x22: "v3 report"}
MLD_TYPES = {130: "query", 131: "v1 report", 132: "v1 done", 143: "v2 report"}
# A group record's type (RFC 3376 4.2.12, RFC 3810 5.2.12), and what it means with no sources:
# EXCLUDE {} is "everything": the host joins; INCLUDE {} is "nothing": it leaves.
_RECORDS = {1: ("IS_IN", "leave"), 2: ("IS_EX", "join"), 3: ("TO_IN", "leave"), 4: ("TO_EX", "join"),
            5: ("ALLOW", "allow"), 6: ("BLOCK", "block")}


def describe(protocol: str, message: bytes) -> str | None:
    """'IGMPv3 report: join 239.1.2.3 (TO_EX {})', 'MLDv1 done: leave ff12::1234'; None when it is
    not a membership message this reads."""
    try:
        if protocol == "igmp":
            return _igmp(message)
        if protocol == "mld":
            return _mld(message)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _igmp(message: bytes) -> str | None:
    kind = message[0]
    if kind == 0x22:
        return "IGMPv3 report: " + _records(message[8:], struct.unpack(">H", message[6:8])[0], socket.AF_INET)
    if kind not in IGMP_TYPES:
        return None
    group = socket.inet_ntop(socket.AF_INET, message[4:8])
    if kind == 0x11:   # a query's version is in its length (RFC 3376 7.1)
        return f"IGMPv{3 if len(message) >= 12 else 2} query: " + ("general" if group == "0.0.0.0" else f"group {group}")
    version, name = IGMP_TYPES[kind].split()
    return f"IGMP{version} {name}: {'leave' if name == 'leave' else 'join'} {group}"


def _mld(message: bytes) -> str | None:
    kind = message[0]
    if kind == 143:
        return "MLDv2 report: " + _records(message[8:], struct.unpack(">H", message[6:8])[0], socket.AF_INET6)
    if kind not in MLD_TYPES:
        return None
    group = socket.inet_ntop(socket.AF_INET6, message[8:24])
    if kind == 130:
        return f"MLDv{2 if len(message) >= 28 else 1} query: " + ("general" if group == "::" else f"group {group}")
    version, name = MLD_TYPES[kind].split()
    return f"MLD{version} {name}: {'leave' if name == 'done' else 'join'} {group}"


def _records(body: bytes, count: int, family: int) -> str:
    """Each group record in words: 'join 239.1.2.3 (TO_EX {})'."""
    size = 4 if family == socket.AF_INET else 16
    said, offset = [], 0
    for _ in range(count):
        kind, aux, sources = struct.unpack(">BBH", body[offset:offset + 4])
        group = socket.inet_ntop(family, body[offset + 4:offset + 4 + size])
        offset += 4 + size + sources * size + aux * 4
        name, meaning = _RECORDS.get(kind, (str(kind), "change"))
        listed = f"{sources} source(s)" if sources else ""
        said.append(f"{meaning if not sources else 'change'} {group} ({name} {{{listed}}})")
    return "; ".join(said) or "no records"
