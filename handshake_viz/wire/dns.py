"""DNS messages (RFC 1035), as far as the diagrams and the `dns` scenario need: build a query
and an A-record answer, and say in a few words what a message asks or answers. Pure."""

import socket
import struct

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 255: "ANY"}
_TYPE_CODES = {name: code for code, name in TYPES.items()}


def query(ident: int, name: str, kind: str = "A") -> bytes:
    header = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # recursion desired
    return header + _name(name) + struct.pack(">HH", _TYPE_CODES[kind], 1)


def answer(request: bytes, address: str, ttl: int = 60) -> bytes:
    """The reply to an A query: the question echoed, one A record pointing at address."""
    ident = struct.unpack(">H", request[:2])[0]
    question_end = _skip_name(request, 12) + 4
    header = struct.pack(">HHHHHH", ident, 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(address)
    return header + request[12:question_end] + record


def describe(message: bytes) -> str | None:
    """'query A example.test' or 'answer example.test A 192.0.2.10'; None if it is not DNS."""
    try:
        _ident, flags, questions, answers, _, _ = struct.unpack(">HHHHHH", message[:12])
        if questions != 1:
            return None
        name, offset = _read_name(message, 12)
        kind = TYPES.get(struct.unpack(">H", message[offset:offset + 2])[0], "?")
        if not flags & 0x8000:
            return f"query {kind} {name}"
        offset += 4
        found = []
        for _ in range(answers):
            _, offset = _read_name(message, offset)
            rtype, _, _, length = struct.unpack(">HHIH", message[offset:offset + 10])
            data = message[offset + 10:offset + 10 + length]
            if rtype == 1 and length == 4:
                found.append(f"A {socket.inet_ntoa(data)}")
            elif rtype == 28 and length == 16:
                found.append(f"AAAA {socket.inet_ntop(socket.AF_INET6, data)}")
            else:
                found.append(TYPES.get(rtype, str(rtype)))
            offset += 10 + length
        rcode = flags & 0x000F
        return f"answer {name} " + (", ".join(found) if found else ("NXDOMAIN" if rcode == 3 else "no records"))
    except (struct.error, IndexError, UnicodeDecodeError, OSError, ValueError):
        return None


def _name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.strip(".").split(".")) + b"\0"


def _skip_name(message: bytes, offset: int) -> int:
    while message[offset]:
        if message[offset] & 0xC0 == 0xC0:
            return offset + 2
        offset += message[offset] + 1
    return offset + 1


def _read_name(message: bytes, offset: int, depth: int = 0) -> tuple[str, int]:
    labels = []
    while True:
        length = message[offset]
        if length == 0:
            return ".".join(labels) or ".", offset + 1
        if length & 0xC0 == 0xC0:
            if depth > 10:
                raise ValueError("a compression loop")
            pointer = struct.unpack(">H", message[offset:offset + 2])[0] & 0x3FFF
            rest, _ = _read_name(message, pointer, depth + 1)
            return ".".join(labels + [rest]), offset + 2
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii"))
        offset += length + 1
