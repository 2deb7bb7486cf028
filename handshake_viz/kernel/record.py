"""What the kernel said during a run: its record, and the parsers of the text it says it in. Pure.

The kernel's record is the `sock:inet_sock_set_state` tracepoint (every state change of every
socket, with its 4-tuple), the resets it sent or received with their reasons, its
retransmissions, its drops with their reasons, its congestion control as `tcp:tcp_probe` saw it
at each segment a socket received, and the TIME_WAIT table read right after the teardown.
States are parsed to the analyzer's own `TcpState`, so the two compare as equals.
"""

import bisect
import ipaddress
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

from handshake_viz.core.tcp_states import TcpState
from handshake_viz.kernel.calls import TracedCall, TracedSocket
from handshake_viz.wire.records import endpoint_text

S = TcpState
_KERNEL_NAMES = {
    "TCP_ESTABLISHED": S.ESTABLISHED, "TCP_SYN_SENT": S.SYN_SENT, "TCP_SYN_RECV": S.SYN_RECEIVED,
    "TCP_NEW_SYN_RECV": S.SYN_RECEIVED, "TCP_FIN_WAIT1": S.FIN_WAIT_1, "TCP_FIN_WAIT2": S.FIN_WAIT_2,
    "TCP_TIME_WAIT": S.TIME_WAIT, "TCP_CLOSE": S.CLOSED, "TCP_CLOSE_WAIT": S.CLOSE_WAIT,
    "TCP_LAST_ACK": S.LAST_ACK, "TCP_LISTEN": S.LISTEN, "TCP_CLOSING": S.CLOSING,
}


class EventKind(StrEnum):
    STATE = "state"
    SEND_RESET = "send_reset"
    RECEIVE_RESET = "receive_reset"
    RETRANSMIT = "retransmit"
    DROP = "drop"


@dataclass(frozen=True)
class KernelEvent:
    time: float                 # wall-clock seconds, the capture's clock
    kind: EventKind
    src: str                    # the socket's own end: "127.0.0.1:43296"
    dst: str                    # the peer's end (":0" on a listener)
    old: TcpState | None = None
    new: TcpState | None = None
    reason: str | None = None   # a reset's or a drop's reason, as the kernel names it
    where: str | None = None    # a drop's: the kernel function that dropped it ("tcp_v4_rcv")


@dataclass(frozen=True)
class TimeWaitEntry:
    local: str
    remote: str
    seconds_left: float
    read_at: float = 0.0   # when the table was read (wall clock): the entry ends seconds_left after it


@dataclass(frozen=True)
class QueueSample:
    """One socket's queues and buffers, and its retransmission timer, as the kernel reported them
    (sock_diag) at time."""

    time: float
    src: str                  # the socket's own end
    dst: str
    receive_queue: int        # bytes received and not yet read
    send_queue: int           # bytes written and not yet acknowledged
    receive_buffer: int          # what the kernel made of SO_RCVBUF (Linux doubles the value set)
    send_buffer: int
    rto: float | None = None     # the retransmission timeout, seconds
    backoff: int | None = None   # how many times it doubled since the last ACK

    @property
    def values(self) -> tuple:
        return (self.receive_queue, self.send_queue, self.receive_buffer, self.send_buffer, self.rto, self.backoff)


INFINITE_SSTHRESH = 0x7FFFFFFF   # the kernel's "no slow-start threshold yet" (TCP_INFINITE_SSTHRESH)


@dataclass(frozen=True)
class Probe:
    """A socket's congestion control as `tcp:tcp_probe` reported it when a segment arrived for it."""

    time: float
    src: str                  # the socket's own end
    dst: str
    cwnd: int                 # congestion window, in segments
    ssthresh: int | None      # slow-start threshold, in segments; None before the first loss
    srtt: float               # smoothed round-trip time, seconds
    snd_wnd: int              # the peer's window as this socket last heard it, bytes
    snd_una: int              # raw sequence numbers: the oldest unacknowledged byte, the next to send
    snd_nxt: int


@dataclass
class KernelRecord:
    """Everything the kernel said during one run (or why it could not say anything)."""

    events: list[KernelEvent] = field(default_factory=list)
    time_wait: list[TimeWaitEntry] = field(default_factory=list)
    unavailable: str | None = None
    listen_overflows: int = 0     # SYNs dropped for a full accept queue during the run (a counter)
    lost: int = 0                 # events the kernel's buffer could not keep
    calls: list[TracedCall] = field(default_factory=list)       # the program's socket calls, as traced
    sockets: list[TracedSocket] = field(default_factory=list)   # the sockets they were made on
    calls_lost: int = 0           # call events the kernel could not keep: the calls are incomplete
    calls_unavailable: str | None = None   # why the calls were not traced
    samples: list[QueueSample] = field(default_factory=list)   # queues and timers, where sampled
    probes: list[Probe] = field(default_factory=list)          # congestion control, at each segment received
    _index: "EventIndex | None" = field(default=None, init=False, repr=False, compare=False)

    @property
    def index(self) -> "EventIndex":
        """The events by socket, by listening port and by kind, made once: a run of ten thousand
        connections has hundreds of thousands of events, and each connection asks for its own."""
        if self._index is None:
            self._index = EventIndex(self.events, self.time_wait)
        return self._index

    def to_json(self) -> dict:
        return {"unavailable": self.unavailable,
                "events": [vars(e) for e in self.events],
                "time_wait": [vars(t) for t in self.time_wait],
                "listen_overflows": self.listen_overflows, "lost": self.lost,
                "calls": [c.to_json() for c in self.calls], "sockets": [s.to_json() for s in self.sockets],
                "calls_lost": self.calls_lost, "calls_unavailable": self.calls_unavailable,
                "samples": [vars(s) for s in self.samples], "probes": [vars(p) for p in self.probes]}

    @classmethod
    def from_json(cls, data) -> "KernelRecord":
        """The record `to_json` wrote; ValueError for anything else (a file beside a capture is
        read as data, and a crafted one must not reach the drawing as anything but text)."""
        record = _fields(data, {"unavailable": _text, "events": list, "time_wait": list, "listen_overflows": int,
                                "lost": int, "calls": list, "sockets": list, "calls_lost": int,
                                "calls_unavailable": _text, "samples": list, "probes": list})
        sockets = [_socket(s, number, len(record.get("sockets", []))) for number, s in enumerate(record.get("sockets", []))]
        calls = [_call(c, len(sockets)) for c in record.get("calls", [])]
        return cls([_event(e) for e in record.get("events", [])], [_time_wait(t) for t in record.get("time_wait", [])],
                   record.get("unavailable"), record.get("listen_overflows", 0), record.get("lost", 0), calls, sockets,
                   record.get("calls_lost", 0), record.get("calls_unavailable"),
                   [_sample(s) for s in record.get("samples", [])], [_probe(p) for p in record.get("probes", [])])


class EventIndex:
    def __init__(self, events: list[KernelEvent], time_wait: list[TimeWaitEntry]):
        self.time_wait: dict[tuple[str, str], TimeWaitEntry] = {}
        for entry in time_wait:
            self.time_wait.setdefault((entry.local, entry.remote), entry)
        self.by_socket: dict[tuple[str, str], list[KernelEvent]] = {}
        self.listening: dict[str, list[KernelEvent]] = {}   # port -> the sockets that began listening there
        self.by_kind: dict[EventKind, list[KernelEvent]] = {}
        self._times: dict[tuple[str, str], list[float]] = {}
        for event in sorted(events, key=lambda e: e.time):
            self.by_socket.setdefault((event.src, event.dst), []).append(event)
            self.by_kind.setdefault(event.kind, []).append(event)
            if event.kind == EventKind.STATE and event.new == TcpState.LISTEN:
                self.listening.setdefault(event.src.rsplit(":", 1)[1], []).append(event)

    def between(self, src: str, dst: str, since: float | None = None, until: float | None = None) -> list[KernelEvent]:
        """The events of the socket src -> dst (within [since, until]: many connecting sockets
        share one portless end, and each connection wants those of its own moment)."""
        events = self.by_socket.get((src, dst), [])
        if since is None:
            return events
        times = self._times.get((src, dst))
        if times is None:
            times = self._times[(src, dst)] = [e.time for e in events]
        return events[bisect.bisect_left(times, since):bisect.bisect_right(times, until)]

    def of(self, kind: EventKind) -> list[KernelEvent]:
        return self.by_kind.get(kind, [])


def _text(value) -> bool:
    return value is None or isinstance(value, str)


def _time(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fields(data, kinds: dict, required: tuple[str, ...] = ()) -> dict:
    """data, if it is an object whose fields are among kinds, with those required, and each of its
    kind (a type, or a test)."""
    if not isinstance(data, dict) or not set(data) <= set(kinds) or not set(required) <= set(data):
        raise ValueError("not a kernel record written by handshake-viz")
    for name, value in data.items():
        kind = kinds[name]
        if not (isinstance(value, kind) and not isinstance(value, bool) if isinstance(kind, type) else kind(value)):
            raise ValueError(f"its {name!r} is not what handshake-viz writes")
    return data


def _event(data) -> KernelEvent:
    event = _fields(data, {"time": _time, "kind": str, "src": str, "dst": str, "old": _text, "new": _text,
                           "reason": _text, "where": _text})
    return KernelEvent(event["time"], EventKind(event["kind"]), event["src"], event["dst"], _state(event.get("old")),
                       _state(event.get("new")), event.get("reason"), event.get("where"))


def _time_wait(data) -> TimeWaitEntry:
    entry = _fields(data, {"local": str, "remote": str, "seconds_left": _time, "read_at": _time})
    return TimeWaitEntry(entry["local"], entry["remote"], entry["seconds_left"], entry.get("read_at", 0.0))


def _sample(data) -> QueueSample:
    sample = _fields(data, {"time": _time, "src": str, "dst": str, "receive_queue": int, "send_queue": int,
                            "receive_buffer": int, "send_buffer": int, "rto": _seconds, "backoff": _number},
                     ("time", "src", "dst", "receive_queue", "send_queue", "receive_buffer", "send_buffer"))
    return QueueSample(sample["time"], sample["src"], sample["dst"], sample["receive_queue"], sample["send_queue"],
                       sample["receive_buffer"], sample["send_buffer"], sample.get("rto"), sample.get("backoff"))


def _probe(data) -> Probe:
    probe = _fields(data, {"time": _time, "src": str, "dst": str, "cwnd": int, "ssthresh": _number, "srtt": _time,
                           "snd_wnd": int, "snd_una": int, "snd_nxt": int}, tuple(Probe.__dataclass_fields__))
    return Probe(**probe)


def _seconds(value) -> bool:
    return value is None or _time(value)


def _number(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _call(data, sockets: int) -> TracedCall:
    call = _fields(data, {"pid": int, "tid": int, "name": str, "fd": _number, "args": str, "start": _time,
                          "end": _time, "result": str, "error": _text, "socket": _number, "bytes": _number},
                   ("pid", "tid", "name", "args", "start", "end", "result"))
    if call.get("socket") is not None and not 0 <= call["socket"] < sockets:
        raise ValueError("a call names a socket the record does not have")
    return TracedCall(call["pid"], call["tid"], call["name"], call.get("fd"), call["args"], call["start"], call["end"],
                      call["result"], call.get("error"), call.get("socket"), call.get("bytes"))


def _socket(data, number: int, count: int) -> TracedSocket:
    """A socket of the record: numbered by its place, its listener one of the record's."""
    sock = _fields(data, {"number": int, "family": str, "kind": str, "local_port": _number, "remote_port": _number,
                          "local_address": _text, "remote_address": _text, "listener": _number, "pids": list},
                   ("number", "family", "kind", "pids"))
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in sock["pids"]):
        raise ValueError("its 'pids' is not what handshake-viz writes")
    if sock["number"] != number or (sock.get("listener") is not None and not 0 <= sock["listener"] < count):
        raise ValueError("a socket's number or listener is not one of the record's")
    return TracedSocket(sock["number"], sock["family"], sock["kind"], sock.get("local_port"), sock.get("remote_port"),
                        sock.get("local_address"), sock.get("remote_address"), sock.get("listener"), tuple(sock["pids"]))


def _state(name: str | None) -> TcpState | None:
    return None if name is None else TcpState(name)


_LINE = re.compile(r"^\s*.+?\s+\[\d+\]\s+\S+\s+(?P<time>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")


def parse_trace(text: str, offset: float) -> tuple[list[KernelEvent], list[Probe]]:
    """Events and probes from a tracing instance's `trace` file; offset turns its clock into wall time."""
    events, probes = [], []
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        fields = dict(_FIELD.findall(match["fields"]))
        time = float(match["time"]) + offset
        name = match["event"]
        if name in ("inet_sock_set_state", "tcp_receive_reset", "tcp_retransmit_skb"):
            if fields.get("protocol", "IPPROTO_TCP") != "IPPROTO_TCP":
                continue
            v6 = fields.get("family") == "AF_INET6"
            src = endpoint_text(fields["saddrv6" if v6 else "saddr"], int(fields["sport"]))
            dst = endpoint_text(fields["daddrv6" if v6 else "daddr"], int(fields["dport"]))
            if name == "inet_sock_set_state":
                events.append(KernelEvent(time, EventKind.STATE, src, dst, _KERNEL_NAMES.get(fields["oldstate"]),
                                          _KERNEL_NAMES.get(fields["newstate"])))
            else:
                events.append(KernelEvent(time, EventKind.RECEIVE_RESET if name == "tcp_receive_reset" else EventKind.RETRANSMIT,
                                          src, dst))
        elif name == "tcp_send_reset":  # its %pISpc addresses read like ours: 127.0.0.1:80, [::1]:80
            events.append(KernelEvent(time, EventKind.SEND_RESET, fields["src"], fields["dest"], reason=fields.get("reason")))
        elif name == "kfree_skb":  # no addresses: matched to a packet by time ("reason: NETFILTER_DROP")
            reason = re.search(r"reason: (\w+)", match["fields"])
            events.append(KernelEvent(time, EventKind.DROP, "", "", reason=reason[1] if reason else "NOT_SPECIFIED",
                                      where=fields.get("location", "").split("+")[0]))
        elif name == "tcp_probe":   # %pISpc addresses, as tcp_send_reset's
            ssthresh = int(fields["ssthresh"])
            probes.append(Probe(time, fields["src"], fields["dest"], int(fields["snd_cwnd"]),
                                None if ssthresh >= INFINITE_SSTHRESH else ssthresh, int(fields["srtt"]) / 1e6,
                                int(fields["snd_wnd"]), int(fields["snd_una"], 16), int(fields["snd_nxt"], 16)))
    return events, probes


def parse_tcp_table(text: str, read_at: float = 0.0) -> list[TimeWaitEntry]:
    """TIME_WAIT entries of /proc/net/tcp or tcp6 read at read_at, with their timers (in USER_HZ ticks)."""
    entries = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6 or parts[3] != "06":
            continue
        timer = parts[5].split(":")
        entries.append(TimeWaitEntry(_proc_address(parts[1]), _proc_address(parts[2]), int(timer[1], 16) / 100, read_at))
    return entries


def _proc_address(text: str) -> str:
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    if len(raw) == 4:
        return endpoint_text(".".join(str(b) for b in raw[::-1]), int(port, 16))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return endpoint_text(str(ipaddress.IPv6Address(words)), int(port, 16))
