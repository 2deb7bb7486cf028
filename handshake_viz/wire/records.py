"""The typed records everything downstream works from.

`PacketRecord` is what was on the wire, the same whether it came from a live capture or a stored
file; `SocketCall` is what a program asked of the kernel. Neither knows about scapy.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Side(StrEnum):
    """The two ends of a conversation: the client sent the first SYN (or spoke first)."""

    CLIENT = "client"
    SERVER = "server"


CLIENT, SERVER = Side.CLIENT, Side.SERVER


def other(side: Side) -> Side:
    return SERVER if side == CLIENT else CLIENT


FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
_FLAG_NAMES = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"),
               (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"))


def flag_names(flags: int) -> tuple[str, ...]:
    """TCP flags in the order people say them: SYN, ACK rather than bit order."""
    return tuple(name for bit, name in _FLAG_NAMES if flags & bit)


class TcpOptions(NamedTuple):
    mss: int | None = None
    window_scale: int | None = None
    sack_permitted: bool = False
    timestamps: tuple[int, int] | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()


_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x5C: "\\\\"}


PREVIEW_BYTES = 24


def preview_text(payload: bytes, payload_len: int, count: int = PREVIEW_BYTES) -> str:
    """The first count bytes as printable text with everything else escaped, so no payload byte
    can break a label."""
    shown = payload[:count]
    text = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else _ESCAPES.get(b, f"\\x{b:02x}")
                   for b in shown)
    return text + ("…" if payload_len > len(shown) else "")


class PacketRecord(NamedTuple):
    """What one packet carried. A tuple because a replay makes millions of them."""

    frame: int                 # 1-based position in the capture, counting every packet
    time: float                # seconds since the epoch, from the capture
    src: str                   # IP address as text
    dst: str
    sport: int
    dport: int
    protocol: str              # "tcp", "udp", or a host's group membership message: "igmp", "mld"
    flags: int = 0             # TCP flag bits
    seq: int = 0               # raw 32-bit values as on the wire
    ack: int = 0
    window: int = 0            # raw 16-bit window field, before scaling
    options: TcpOptions | None = None  # read on SYNs and on segments that may carry SACK blocks
    payload_len: int = 0       # from the IP header, so right even for snaplen-cut packets
    payload: bytes = b""       # the first bytes of it, as captured
    icmp: str | None = None    # an ICMP error about this 4-tuple: "port_unreachable", ...
    reporter: str | None = None  # who sent that ICMP error
    tunnel: str | None = None    # the tunnel it came in, outermost first ("VXLAN 10.1.0.1 → 10.1.0.2, VNI 42")
    malformed: str | None = None  # what is wrong with its TCP or UDP header; such a packet is not analysed

    @property
    def preview(self) -> str:
        return preview_text(self.payload, self.payload_len)


DATAGRAMS = ("udp", "igmp", "mld")   # conversations of datagrams, each on its own: no connection
PORTLESS = ("igmp", "mld")           # a host's group membership messages: addresses, no ports


def endpoint_text(address: str, port: int) -> str:
    """127.0.0.1:8080, or [::1]:8080 for IPv6."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass(frozen=True, slots=True)
class SocketCall:
    """One socket call a scenario made: when it was called, when it returned, and with what."""

    side: Side
    name: str                  # "connect", "recv", ...
    args: str                  # what it was asked, as short text
    start: float               # wall-clock seconds, same clock as capture timestamps
    end: float
    result: str                # "0", "5", "fd 4", ...
    error: str | None = None   # errno name when it failed ("ECONNREFUSED")
    endpoint: str | None = None  # the client end of the connection (or UDP exchange) it was on
    protocol: str | None = None  # "tcp", "udp", "unix-stream"...: its socket's kind; None for a call on no socket
    local: str | None = None     # its socket's own end when on no connection: a listener's, a UDP server's
    pid: int | None = None       # the kernel's record of it: the process and thread that made it, on which fd
    tid: int | None = None
    fd: int | None = None
    who: str | None = None       # "pid 4312" when several processes hold its socket
    conversation: int | None = None  # the kernel's record knows which one: a 4-tuple may come back in one run

    @property
    def outcome(self) -> str:
        return f"-1 {self.error}" if self.error else self.result

    @property
    def end_of_stream(self) -> bool:
        """A read on a stream returned 0: the peer closed (on TCP, its FIN arrived) and every byte before was read."""
        return self.name in READS and self.protocol in STREAMS and self.result == "0" and not self.error


READS = ("recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv")
STREAMS = ("tcp", "unix-stream")
