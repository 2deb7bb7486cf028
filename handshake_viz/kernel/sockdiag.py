"""NETLINK_SOCK_DIAG, what `ss -tmi` asks the kernel: the request for every TCP socket with its
memory and tcp_info, and its reply read as QueueSamples. Pure."""

import socket
import struct

from handshake_viz.kernel.record import QueueSample
from handshake_viz.wire.records import endpoint_text

NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE, NLMSG_ERROR = 0x1, 0x300, 3, 2
INET_DIAG_INFO, INET_DIAG_SKMEMINFO = 2, 7
ALL_STATES = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")                      # struct nlmsghdr
# struct inet_diag_req_v2: family, protocol, extensions, pad, states, socket id
_REQUEST = struct.Struct("=BBBBIHH16s16sIII")
_MESSAGE = struct.Struct("=BBBB2s2s16s16sIIIIIIII")    # struct inet_diag_msg
_ATTRIBUTE = struct.Struct("=HH")                      # struct rtattr
_TCP_INFO_BACKOFF, _TCP_INFO_RTO = 4, 8                # offsets in struct tcp_info: u8 backoff, u32 rto (µs)


def request(family: int) -> bytes:
    extensions = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1))
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, extensions, 0, ALL_STATES, 0, 0, b"", b"", 0, 0, 0)
    return _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 0, 0) + body


def parse_dump(data: bytes, now: float, port: int) -> list[QueueSample]:
    """The samples of sockets with port at either end in one netlink reply (several messages)."""
    samples, offset = [], 0
    while offset + _HEADER.size <= len(data):
        length, kind = _HEADER.unpack_from(data, offset)[:2]
        if length < _HEADER.size or kind in (NLMSG_DONE, NLMSG_ERROR):
            break
        sample = _sample(data[offset + _HEADER.size:offset + length], now, port)
        if sample is not None:
            samples.append(sample)
        offset += (length + 3) & ~3
    return samples


def _sample(message: bytes, now: float, port: int) -> QueueSample | None:
    if len(message) < _MESSAGE.size:
        return None
    family, _, _, _, sport, dport, src, dst, _, _, _, _, rqueue, wqueue, _, _ = _MESSAGE.unpack_from(message)
    sport, dport = struct.unpack(">H", sport)[0], struct.unpack(">H", dport)[0]
    if port not in (sport, dport) or dport == 0:
        return None
    size = 4 if family == socket.AF_INET else 16
    local = endpoint_text(socket.inet_ntop(family, src[:size]), sport)
    remote = endpoint_text(socket.inet_ntop(family, dst[:size]), dport)
    memory, rto, backoff = (), None, None
    offset = _MESSAGE.size
    while offset + _ATTRIBUTE.size <= len(message):
        length, kind = _ATTRIBUTE.unpack_from(message, offset)
        if length < _ATTRIBUTE.size:
            break
        value = message[offset + _ATTRIBUTE.size:offset + length]
        if kind == INET_DIAG_SKMEMINFO and len(value) >= 16:
            memory = struct.unpack_from("=4I", value)
        elif kind == INET_DIAG_INFO and len(value) >= _TCP_INFO_RTO + 4:
            backoff = value[_TCP_INFO_BACKOFF]
            rto = struct.unpack_from("=I", value, _TCP_INFO_RTO)[0] / 1e6
        offset += (length + 3) & ~3
    if not memory:   # a TIME_WAIT or request mini-socket: no buffers, no queues of its own
        return None
    return QueueSample(now, local, remote, rqueue, wqueue, memory[1], memory[3], rto, backoff)


def dump_ended(data: bytes) -> bool:
    """Whether this part of a reply holds its last message (NLMSG_DONE, or an error)."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind = _HEADER.unpack_from(data, offset)[:2]
        if kind in (NLMSG_DONE, NLMSG_ERROR) or length < _HEADER.size:
            return True
        offset += (length + 3) & ~3
    return False

