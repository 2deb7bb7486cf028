"""The timeline (ladder) model of a conversation: lanes, rows, marks, brackets and spans.

Pure and free of graphviz: `timeline()` turns an analysed conversation and the socket calls of
the program that made it into rows in the order things happened; `dot` draws them.
"""

import bisect
import dataclasses
import ipaddress
import itertools
from dataclasses import dataclass
from enum import StrEnum

from handshake_viz.core.analysis import CLIENT, DATA, SERVER, Closer, Conversation, Datagram, Segment, UdpConversation, other
from handshake_viz.core.marks import ANOMALIES, KEEP_ALIVE, ZERO_WINDOW_PROBE
from handshake_viz.core.tcp_states import TIME_WAIT_SECONDS
from handshake_viz.kernel.calls import HELD
from handshake_viz.kernel.view import JUDGED_BY_THE_SOCKET, KernelView
from handshake_viz.views.words import Words
from handshake_viz.wire import dns, groups
from handshake_viz.wire.records import (
    ACK,
    DATAGRAMS,
    FIN,
    PORTLESS,
    READS,
    SYN,
    PacketRecord,
    Side,
    SocketCall,
    TcpOptions,
    endpoint_text,
    flag_names,
)

# Calls that wait for the peer; others (send, close, shutdown) emit their packets during the
# call and return at once, so they are drawn once, where they were made.
WAITING_CALLS = frozenset({"connect", "accept", "accept4", "recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv",
                           "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"})
# A blocking send waits for room in its send buffer, which only the peer's ACKs make.
SENDING_CALLS = frozenset({"send", "sendto", "sendmsg", "sendmmsg", "write", "writev"})


class ArrowKind(StrEnum):
    CONTROL = "control"   # SYN, FIN
    DATA = "data"
    ACK = "ack"
    RESET = "reset"       # a RST, or an ICMP error


class MarkKind(StrEnum):
    STATE = "state"
    STATE_DIFFERS = "state-differs"   # the kernel's record and the packets disagree
    CALL = "call"
    CALL_ERROR = "call-error"
    SAMPLE = "sample"                 # the kernel's account of a socket's queues and timer (sock_diag)


@dataclass(frozen=True, slots=True)
class Lane:
    key: str
    title: str
    subtitle: str


@dataclass(frozen=True, slots=True)
class Arrow:
    source: str                # lane key
    target: str
    label: tuple[str, ...]     # lines
    kind: ArrowKind
    dropped: bool = False      # it never reached the target's socket: drawn ending in a cross
    sent_row: int | None = None  # the row where it left its source, when that is earlier than its own
    absolute: tuple[str, ...] = ()   # the label with the sequence numbers as on the wire (an explored segment's)


@dataclass(frozen=True, slots=True)
class Mark:
    lane: str
    text: str
    kind: MarkKind


@dataclass(frozen=True, slots=True)
class Row:
    time: float | None         # seconds since the drawing's start; None for the states before anything
    frame: int | None = None   # its packet's (a fold's: its first packet's)
    arrow: Arrow | None = None
    marks: tuple[Mark, ...] = ()
    fold: str | None = None    # a run of ordinary packets drawn as one line of text
    folded: tuple["Row", ...] = ()   # a fold's packets, each on its row, as drawn in full (an explored timeline's)

    @property
    def stamp(self) -> str:
        """The frame number and the time, shown in the margin."""
        return "" if self.time is None else _stamp(self.time, 0.0, self.frame)


@dataclass(frozen=True, slots=True)
class Window:
    """Which packets to draw: at most max_arrows (ordinary data folded), or frames/seconds in full."""

    max_arrows: int = 60
    frames: tuple[int, int] | None = None      # first and last frame number
    seconds: tuple[float, float] | None = None  # from and to, in seconds since the first packet

    @property
    def in_full(self) -> bool:
        return self.frames is not None or self.seconds is not None


@dataclass(frozen=True, slots=True)
class Bracket:
    label: str
    first_row: int
    last_row: int


@dataclass(frozen=True, slots=True)
class Span:
    """A stretch of one lane from a row to the end of the drawing (and beyond it)."""

    lane: str
    first_row: int
    label: str


@dataclass(frozen=True, slots=True)
class Diagram:
    title: str
    lanes: tuple[Lane, Lane]
    rows: tuple[Row, ...]
    brackets: tuple[Bracket, ...]
    spans: tuple[Span, ...]
    legend: tuple[str, ...]
    start: float = 0.0         # when its first row happened (seconds since the epoch): the rows' times count from it


def timeline(conversation: Conversation | UdpConversation, calls: tuple[SocketCall, ...] = (),
             title: str | None = None, kernel: KernelView | None = None, window: Window = Window(),
             lang: str = "en", calls_lost: int = 0, explored: bool = False) -> Diagram:
    """calls_lost: events of the kernel's call trace that its buffer could not keep. explored: with
    what only the explorer shows (each fold's packets drawn in full, each segment's numbers as on
    the wire): a drawing of 100,000 packets took 1.3 s more with them."""
    say = Words(lang)
    calls = _once(calls)
    packets = _packets(conversation)
    t0 = min([r.time for r, _ in packets] + [c.start for c in calls], default=0.0)
    times = [(r.time, getattr(seen, "sender", None)) for r, seen in packets]   # (when, who sent it)
    packets = _windowed(packets, window)
    rows, packet_rows, state_rows = _rows(conversation, packets, calls, times, t0, kernel, window, say, explored)
    sampled = kernel is not None and any(kernel.samples.values())
    if sampled:
        rows = _with_samples(rows, packet_rows, conversation, kernel.samples, say)
    crossing = _crossing(conversation, kernel, state_rows, packet_rows) if conversation.protocol == "tcp" else {}
    rows = _crossed(rows, packet_rows, crossing)
    lanes = _lanes(conversation, say)
    full = [f"{lane.title} = {text}" for lane, text in zip(lanes, (conversation.client_text, conversation.server_text))
            if lane.subtitle != text]
    default_title = f"{conversation.protocol.upper()} {conversation.client_text} → {conversation.server_text}"
    title = title or default_title   # one line: the drawing breaks it to fit
    addresses = (say("addresses", addresses=", ".join(full)),) if full else ()
    if conversation.protocol in DATAGRAMS:
        return Diagram(title, lanes, tuple(rows), (), (), addresses + _tunnel(packets, say)
                       + _udp_legend(conversation, say) + _calls_legend(calls, calls_lost, say), t0)
    legend = (_legend(conversation, kernel, say, t0) + _calls_legend(calls, calls_lost, say)
              + ((say("legend.samples"),) if sampled else ())
              + tuple(say(f"legend.crossing.{kind}") for kind in sorted({kind for _, kind in crossing.values()})))
    return Diagram(title, lanes, tuple(rows), _brackets(conversation, packet_rows, say),
                   _spans(conversation, packet_rows, kernel, say), addresses + _tunnel(packets, say) + legend, t0)


def _once(calls: tuple[SocketCall, ...]) -> tuple[SocketCall, ...]:
    """The calls, with a fork or an exit drawn once: the kernel's record has it on each socket
    the process held, and a connection's diagram shows its listener's calls too."""
    seen, kept = set(), []
    for call in calls:
        key = (call.name, call.pid, call.start, call.result) if call.name in HELD else None
        if key is None or key not in seen:
            kept.append(call)
            seen.add(key)
    return tuple(kept)


def _lanes(conversation, say: Words) -> tuple[Lane, Lane]:
    """Each side's lane, under its end: a membership message goes from its sender (no port) to a
    group's address (the routers' for a report, all hosts' for a query)."""
    if conversation.protocol in PORTLESS:
        return (Lane(CLIENT, say("side.sender"), conversation.client[0]), Lane(SERVER, say("side.group"), conversation.server[0]))
    return (Lane(CLIENT, say("side.client"), short_endpoint(*conversation.client)),
            Lane(SERVER, say("side.server"), short_endpoint(*conversation.server)))


def _crossed(rows: list[Row], packet_rows: dict, crossing: dict) -> list[Row]:
    """Each crossing segment drawn from the row where its side's kernel sent it."""
    for frame, (sent, _) in crossing.items():
        row = rows[packet_rows[frame]]
        rows[packet_rows[frame]] = dataclasses.replace(row, arrow=dataclasses.replace(row.arrow, sent_row=sent))
    return rows


def unix_timeline(exchange, title: str | None = None, lang: str = "en", calls_lost: int = 0) -> Diagram:
    """A Unix-domain exchange: the two sockets' calls, and no packets (there are none)."""
    say = Words(lang)
    calls = exchange.calls
    t0 = min(c.start for c in calls)
    # With no packets, what a waiting call waited for is the other side's calls: drawn again where it returned.
    times = [(c.start, None) for c in calls]
    rows, last_row = [], {}   # the call's row, or the row where it returned
    for _, (call, returning, number) in _in_time_order([], calls, times):
        last_row[number] = len(rows)
        rows.append(_call_row(call, returning, times, t0, say))
    for send, read, label in _unix_moves(calls, exchange.kind, say):   # what the kernel copied, drawn as an arrow
        row = rows[last_row[read]]
        arrow = Arrow(calls[send].side, calls[read].side, label, ArrowKind.DATA, sent_row=last_row[send])
        rows[last_row[read]] = dataclasses.replace(row, arrow=arrow)
    lanes = (Lane(CLIENT, say("side.client"), exchange.ends[CLIENT]), Lane(SERVER, say("side.server"), exchange.ends[SERVER]))
    title = title or f"{exchange.kind} (AF_UNIX): {exchange.ends[CLIENT]} → {exchange.ends[SERVER]}"
    return Diagram(title, lanes, tuple(rows), (), (), (say("legend.unix"),) + _calls_legend(exchange.calls, calls_lost, say),
                   t0)


def _unix_moves(calls: tuple[SocketCall, ...], kind: str, say: Words) -> list[tuple[int, int, tuple[str, ...]]]:
    """(send, read, label) by their positions in calls: each read, with the send its first byte
    came from. A stream is one run of bytes each way (a read takes any number of sends' bytes);
    datagrams queue whole, first in, first out, and a read takes one (cut to its buffer)."""
    moves = []
    for side in (CLIENT, SERVER):
        sends = [(i, _moved(c)) for i, c in enumerate(calls) if c.side == side and c.name in SENDING_CALLS and _moved(c)]
        reads = sorted(((i, _moved(c)) for i, c in enumerate(calls)
                        if c.side != side and c.name in READS and _moved(c)), key=lambda pair: calls[pair[0]].end)
        moves += (_datagrams_read if kind == "unix-dgram" else _stream_read)(sends, reads, say)
    return moves


def _datagrams_read(sends: list, reads: list, say: Words) -> list:
    return [(send, read, (say("unix.datagram", size=sent) if got == sent else say("unix.cut", size=sent, read=got),))
            for (send, sent), (read, got) in zip(sends, reads)]


def _stream_read(sends: list, reads: list, say: Words) -> list:
    ends, offset, moves = list(itertools.accumulate(size for _, size in sends)), 0, []
    for read, got in reads:
        first, last = bisect.bisect_right(ends, offset), bisect.bisect_left(ends, offset + got)
        if first < len(sends):
            count = min(last, len(sends) - 1) - first + 1
            words = say("unix.bytes.joined" if count > 1 else "unix.bytes", size=got, sends=count)
            moves.append((sends[first][0], read, tuple(words.split("\n"))))
        offset += got
    return moves


def _moved(call: SocketCall) -> int:
    """How many bytes a send or read moved (0 for a failure or an end of stream)."""
    number = call.result.split(" ")[0].rstrip(",")
    return int(number) if not call.error and number.isdigit() else 0


def _packets(conversation) -> list[tuple]:
    """(record, what the analysis made of it) for every packet, in capture order."""
    if conversation.protocol in DATAGRAMS:
        pairs = [(d.record, d) for d in conversation.datagrams]
    else:
        pairs = [(s.record, s) for s in conversation.segments] + [(r, r) for r in conversation.icmp_errors]
    others = [(r, r) for r in conversation.malformed]
    if not others and (conversation.protocol in DATAGRAMS or not conversation.icmp_errors):
        return pairs   # already in capture order
    return sorted(pairs + others, key=lambda pair: pair[0].frame)


def _rows(conversation, packets: list, calls: tuple[SocketCall, ...], times: list[tuple], t0: float,
          kernel: KernelView | None, window: Window, say: Words, explored: bool) -> tuple[list[Row], dict, dict]:
    """The rows in time order; where each packet's row is (a folded packet: its fold's); and
    where each state drawn at its own time, or beside a call, is."""
    rows: list[Row] = []
    packet_rows: dict[int, int] = {}   # frame -> row
    call_rows: dict[int, int] = {}     # call (its position in calls) -> the row where it was made
    at_calls, on_own_rows = _timed_states(kernel, calls, say)
    state_rows: dict[tuple[str, str], int] = {}   # (side, state) -> its row
    items = _in_time_order(_folded(conversation, packets, window), calls, times, on_own_rows)
    for kind, item in _with_initial(items, at_calls, begun=conversation.protocol != "tcp" or window.in_full):
        if kind == "initial":
            initial = _state_marks(conversation, None, kernel, say)
            rows += [Row(None, marks=initial)] if initial else []
        elif kind == "packet":
            packet_rows[item[0].frame] = len(rows)
            rows.append(_packet_row(conversation, item[1], t0, kernel, say, explored))
        elif kind == "fold":
            packet_rows.update((record.frame, len(rows)) for record, _ in item)
            folded = [_packet_row(conversation, packet, t0, kernel, say, explored) for _, packet in item] if explored else []
            rows.append(_fold_row(item, t0, say, folded))
        elif kind == "state":
            time, state, mark = item
            state_rows[(mark.lane, state)] = len(rows)
            rows.append(Row(time - t0, marks=(mark,)))
        else:
            call, returning, number = item
            if not returning:
                call_rows[number] = len(rows)
            rows.append(_call_row(call, returning, times, t0, say))
    for number, placed in at_calls.items():   # a state a call put the socket in, beside that call
        row = rows[call_rows[number]]
        rows[call_rows[number]] = dataclasses.replace(row, marks=row.marks + tuple(mark for _, mark in placed))
        state_rows.update({(mark.lane, state): call_rows[number] for state, mark in placed})
    return rows, packet_rows, state_rows


SAMPLE_LAG = 0.005   # a sample this soon after a packet shows what that packet did


def _with_samples(rows: list[Row], packet_rows: dict, conversation: Conversation, samples: dict,
                  say: Words) -> list[Row]:
    """What changed in each side's sampled socket (its buffer sizes, its queues, its retransmission
    timer), drawn at the packet that changed it (see _sample_rows)."""
    at = _sample_rows(rows, packet_rows, conversation, samples)
    rows, shown = list(rows), {CLIENT: (), SERVER: ()}
    for index in sorted({row for _, row in at}):
        marks = []
        for side in (CLIENT, SERVER):
            if (side, index) in at:
                parts = _sample_parts(at[(side, index)], say)
                new = [part for part, before in itertools.zip_longest(parts, shown[side]) if part and part != before]
                shown[side] = parts
                marks += [Mark(side, "\n".join(new), MarkKind.SAMPLE)] if new else []
        row = rows[index]
        rows[index] = dataclasses.replace(row, marks=row.marks + tuple(marks))
    return rows


def _sample_rows(rows: list[Row], packet_rows: dict, conversation: Conversation, samples: dict) -> dict:
    """(side, row) -> the latest sample drawn there: at the last packet before the sample, when the
    sample came within SAMPLE_LAG of it, else at the next one."""
    drawn = [(s.record.time, packet_rows[s.record.frame]) for s in conversation.segments
             if s.record.frame in packet_rows and rows[packet_rows[s.record.frame]].fold is None]
    times = [time for time, _ in drawn]
    at: dict[tuple[str, int], object] = {}
    for side in (CLIENT, SERVER):
        for sample in samples.get(side, []):
            before = bisect.bisect_right(times, sample.time) - 1
            place = before if before >= 0 and sample.time - times[before] <= SAMPLE_LAG else before + 1
            if place < len(drawn):
                at[(side, drawn[place][1])] = sample
    return at


def _sample_parts(sample, say: Words) -> tuple[str, str, str]:
    buffers = say("sample.buffers", receive=sample.receive_buffer, send=sample.send_buffer)
    queues = say("sample.queues", receive=sample.receive_queue, send=sample.send_queue)
    timer = say("sample.rto", rto=sample.rto * 1000, backoff=sample.backoff) if sample.rto else ""
    return buffers, queues, timer


def _with_initial(items, at_calls: dict, begun: bool):
    """items, with ("initial", None) before the first that changes a state (a packet, a state on a
    row of its own, a call a state is drawn beside): where the states before it are drawn."""
    for kind, item in items:
        if not begun and (kind in ("packet", "state") or (kind == "call" and not item[1] and item[2] in at_calls)):
            begun = True
            yield "initial", None
        yield kind, item


def _brackets(conversation: Conversation, packet_rows: dict, say: Words) -> tuple[Bracket, ...]:
    """Each phase drawn whole, from the highest row of its packets to the lowest: rows are in time
    order, and a capture whose clock ran backwards puts a phase's first packet below its last."""
    frames = [s.record.frame for s in conversation.segments]
    brackets = []
    for phase, first, last in conversation.phases():
        if frames[first] in packet_rows and frames[last] in packet_rows:
            rows = [packet_rows[f] for f in frames[first:last + 1] if f in packet_rows]
            brackets.append(Bracket(say(f"phase.{phase}"), min(rows), max(rows)))
    return tuple(brackets)


def _spans(conversation: Conversation, packet_rows: dict, kernel: KernelView | None, say: Words) -> tuple[Span, ...]:
    """TIME_WAIT, from the row where each side entered it."""
    return tuple(Span(side, packet_rows[conversation.time_wait_frame(side)], _time_wait_label(side, kernel, say))
                 for side in conversation.time_wait if conversation.time_wait_frame(side) in packet_rows)


SHORT_ADDRESS = 20  # characters: longer IPv6 addresses are shortened on the lifelines
SAID_TUNNELS = 4    # tunnels named in a legend; the JSON has them all


def short_endpoint(address: str, port: int) -> str:
    """An IPv6 address short enough for a lifeline: [2a00:5e80:…:db22]:37034."""
    if ":" not in address or len(address) <= SHORT_ADDRESS:
        return endpoint_text(address, port)
    groups = address.split(":")
    return f"[{groups[0]}:{groups[1]}:…:{groups[-1]}]:{port}"


def _tunnel(packets: list, say: Words) -> tuple[str, ...]:
    """The tunnels the conversation came in, each said once (their outer headers are not drawn):
    two for a tunnel whose way back has its own outer addresses or identifier."""
    tunnels = list(dict.fromkeys(record.tunnel for record, _ in packets if record.tunnel))   # first seen first
    if not tunnels:
        return ()
    said = " · ".join(tunnels[:SAID_TUNNELS])
    if len(tunnels) > SAID_TUNNELS:
        said += " · " + say("legend.tunnels_more", count=len(tunnels) - SAID_TUNNELS)
    return (say("legend.tunnel" if len(tunnels) == 1 else "legend.tunnels", tunnel=said),)


def _time_wait_label(side: str, kernel: KernelView | None, say: Words) -> str:
    if kernel and side in kernel.time_wait_left:
        return say("time_wait.kernel", left=kernel.time_wait_left[side], msl=TIME_WAIT_SECONDS)
    return say("time_wait.inferred", msl=TIME_WAIT_SECONDS)


def _windowed(packets: list, window: Window) -> list:
    if window.frames is not None:
        first, last = window.frames
        return [(r, p) for r, p in packets if first <= r.frame <= last]
    if window.seconds is not None and packets:
        start = packets[0][0].time
        low, high = window.seconds
        return [(r, p) for r, p in packets if low <= r.time - start <= high]
    return packets


def _ordinary(conversation, packet) -> bool:
    """A packet that may be folded: plain data or ACK in the data phase, nothing unusual, no
    state change. Handshake, teardown, resets, ICMP errors and every anomaly stay explicit."""
    if isinstance(packet, PacketRecord) or (isinstance(packet, Datagram) and packet.record.icmp):
        return False
    if isinstance(packet, Datagram):
        return True
    frame = packet.record.frame
    return (packet.phase == DATA and not packet.analysis & ANOMALIES and packet.resent_from is None
            and not any(c.frame == frame for changes in conversation.states.values() for c in changes))


def _folded(conversation, packets: list, window: Window) -> list:
    """The packets to draw, with runs of ordinary ones beyond the budget folded into lists."""
    if window.in_full or len(packets) <= window.max_arrows:
        return packets
    ordinary = [_ordinary(conversation, packet) for _, packet in packets]
    budget = max(window.max_arrows - ordinary.count(False), 0)
    head, tail = budget - budget // 2, budget // 2   # show how the data starts and how it ends
    ordinary_seen, ordinary_total, items, run = 0, ordinary.count(True), [], []
    for pair, plain in zip(packets, ordinary):
        if plain:
            ordinary_seen += 1
            if head < ordinary_seen <= ordinary_total - tail:
                run.append(pair)
                continue
        if run:
            items.append(run)
            run = []
        items.append(pair)
    if run:
        items.append(run)
    return items


def _fold_row(run: list, t0: float, say: Words, folded: list[Row]) -> Row:
    records = [record for record, _ in run]
    count = len(records)
    data = sum(r.payload_len for r in records)
    span = records[-1].time - records[0].time
    text = say("fold", count=count, first=records[0].frame, last=records[-1].frame, size=_size(data),
               duration=_duration(span))
    return Row(records[0].time - t0, records[0].frame, fold=text, folded=tuple(folded))


def _size(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _in_time_order(items: list, calls: tuple[SocketCall, ...], times: list[tuple], states: list = ()):
    """Packets (and folded runs), call marks and kernel states drawn at their own time, merged by
    time; a call that waited while packets (any of times) passed appears twice, where it was
    called and where it returned."""
    entries = [((item[0] if isinstance(item, list) else item)[0].time, 1, i,
                "fold" if isinstance(item, list) else "packet", item) for i, item in enumerate(items)]
    entries += [(state[0], 1, i, "state", state) for i, state in enumerate(states)]
    for i, call in enumerate(calls):
        entries.append((call.start, 0, i, "call", (call, False, i)))
        if _blocked(call, times):
            entries.append((call.end, 2, i, "call", (call, True, i)))
    entries.sort(key=lambda entry: entry[:3])
    return [(kind, item) for *_, kind, item in entries]


SEND_WAIT = 0.001   # a send that ran this long while the peer's packets came waited for room


def _blocked(call: SocketCall, times: list[tuple[float, str | None]]) -> bool:
    """Whether call waited while packets passed. A blocking send waits for room in its buffer,
    which the peer's ACKs make; on loopback the peer's ACK often comes inside a send that never
    waited (the kernel delivers and answers within the call, in microseconds), so a send counts
    as waiting only when it also ran over SEND_WAIT."""
    during = [(t, sender) for t, sender in times if call.start < t < call.end]
    if call.name in SENDING_CALLS:
        return call.end - call.start > SEND_WAIT and any(sender not in (None, call.side) for _, sender in during)
    return call.name in WAITING_CALLS and bool(during)


def _stamp(time: float, t0: float, frame: int | None = None) -> str:
    """The time since the start, to the microsecond the capture keeps, past a second too."""
    delta = time - t0
    when = f"{delta * 1000:.3f} ms" if delta < 1 else f"{delta:.6f} s"
    return f"#{frame}  {when}" if frame is not None else when


def _crossing(conversation: Conversation, kernel: KernelView | None, state_rows: dict,
              packet_rows: dict) -> dict[int, tuple[int, str]]:
    """SYNs or FINs that crossed (each sent before the other arrived: a simultaneous open, a
    simultaneous close): frame -> (the row where its side's kernel sent it, its SYN_SENT or
    FIN_WAIT_1, when that row is earlier; "syns" or "fins"). Only the kernel's record knows when
    such a segment left; the capture sees it arrive."""
    if kernel is None:
        return {}
    syns = [s for s in conversation.segments if s.record.flags & (SYN | ACK) == SYN]
    crossed = []
    if {s.sender for s in syns} == {CLIENT, SERVER}:
        crossed += [(syn, "SYN_SENT", "syns") for syn in syns[:2]]
    if conversation.active_closer == Closer.BOTH:
        crossed += [(fin, "FIN_WAIT_1", "fins") for fin in [s for s in conversation.segments if s.record.flags & FIN][:2]]
    crossing = {}
    for segment, state, kind in crossed:
        sent = state_rows.get((segment.sender, state))
        if sent is not None and segment.record.frame in packet_rows and sent < packet_rows[segment.record.frame]:
            crossing[segment.record.frame] = (sent, kind)
    return crossing


def _timed_states(kernel: KernelView | None, calls: tuple[SocketCall, ...], say: Words):
    """The kernel's states that no packet caused or carried, placed by their time: beside the call
    of that side running then (close -> FIN_WAIT_1, listen -> LISTEN), else on a row of their own.
    ({call position: [(state, mark)]}, [(time, state, mark)])."""
    at_calls: dict[int, list[tuple[str, Mark]]] = {}
    own_rows = []
    for side, states in (kernel.states.items() if kernel else ()):
        kind = MarkKind.STATE_DIFFERS if side in kernel.differences else MarkKind.STATE
        for state in states:
            if state.frame is not None or state.time is None:
                continue
            mark = Mark(side, say("kernel.only", said=state.state) if kind == MarkKind.STATE_DIFFERS else state.state, kind)
            number = next((i for i, c in enumerate(calls) if c.side == side and c.start <= state.time <= c.end), None)
            if number is None:
                own_rows.append((state.time, state.state, mark))
            else:
                at_calls.setdefault(number, []).append((state.state, mark))
    return at_calls, own_rows


def _state_marks(conversation: Conversation, frame: int | None, kernel: KernelView | None,
                 say: Words) -> tuple[Mark, ...]:
    """Each side's state changes at frame (None: before the first packet). With a kernel record,
    the kernel's states are shown where the kernel entered them; where its sequence differs from
    what the packets imply, that is marked."""
    marks = []
    for side in (CLIENT, SERVER):
        inferred = [c.state.value for c in conversation.states[side] if c.frame == frame]
        traced = kernel.states[side] if kernel and kernel.states[side] else None
        if traced is None:
            said = inferred
        else:
            said = [k.state for k in traced if k.frame == frame and (frame is not None or k.time is None)]
            if side in kernel.differences and said != inferred:
                marks.append(_difference(side, said, inferred, say))
                continue
        if said:   # the same states (the kernel's drawn where it entered each), or the packets' alone
            marks.append(Mark(side, " → ".join(said), MarkKind.STATE))
    return tuple(marks)


def _difference(side: Side, said: list[str], inferred: list[str], say: Words) -> Mark:
    """Where the kernel's sequence of states differs from the packets': what it said, or did not."""
    if not inferred:
        text = say("kernel.only", said=" → ".join(said))
    elif not said:
        text = say("kernel.missing", inferred=" → ".join(inferred))
    else:
        text = say("kernel.differs", said=" → ".join(said), inferred=" → ".join(inferred))
    return Mark(side, text, MarkKind.STATE_DIFFERS)


def _packet_row(conversation, packet, t0: float, kernel: KernelView | None, say: Words, explored: bool) -> Row:
    if isinstance(packet, PacketRecord) and packet.malformed:
        sender = conversation.side_of(packet)
        label = (", ".join(flag_names(packet.flags)) or "(no flags)", say("malformed", what=packet.malformed))
        return Row(packet.time - t0, packet.frame, Arrow(sender, other(sender), label, ArrowKind.RESET))
    if isinstance(packet, PacketRecord):
        return _icmp_row(conversation, packet, t0)
    if isinstance(packet, Datagram):
        return _icmp_row(conversation, packet.record, t0) if packet.record.icmp else _datagram_row(packet, t0)
    return _segment_row(conversation, packet, t0, kernel, say, explored)


DNS_PORT = 53


def _payload_lines(record: PacketRecord) -> list[str]:
    """The payload as quoted text, or decoded when it is DNS (port 53; over TCP after the
    two-byte length prefix)."""
    if not record.payload_len:
        return []
    if DNS_PORT in (record.sport, record.dport):
        if record.protocol == "udp":
            said = dns.describe(record.payload)
            if said:
                return [f"DNS {said}"]
        elif len(record.payload) > 2:
            said = dns.describe(record.payload[2:])
            if said:
                prefix = int.from_bytes(record.payload[:2], "big")
                return [f"length prefix {prefix}, then DNS {said}"]
    return [f'"{record.preview}"']


def _datagram_row(datagram: Datagram, t0: float) -> Row:
    record = datagram.record
    said = groups.describe(record.protocol, record.payload) if record.protocol != "udp" else None
    label = ([said or f"{record.protocol.upper()}   len {record.payload_len}"] if record.protocol != "udp"
             else [f"UDP   len {record.payload_len}"] + _payload_lines(record))
    arrow = Arrow(datagram.sender, other(datagram.sender), tuple(label), ArrowKind.DATA)
    return Row(record.time - t0, record.frame, arrow)


def _icmp_row(conversation, record: PacketRecord, t0: float) -> Row:
    """An ICMP error answers the side that sent the quoted packet; drawn from the other lane."""
    about = conversation.side_of(record)
    label = (f"ICMP {record.icmp.replace('_', ' ')}",
             f"from {record.reporter}, about {record.protocol.upper()} to {endpoint_text(record.dst, record.dport)}")
    return Row(record.time - t0, record.frame, Arrow(other(about), about, label, ArrowKind.RESET))


def _segment_row(conversation: Conversation, segment: Segment, t0: float, kernel: KernelView | None,
                 say: Words, explored: bool) -> Row:
    record = segment.record
    flags = flag_names(record.flags)
    kind = (ArrowKind.RESET if "RST" in flags else ArrowKind.CONTROL if {"SYN", "FIN"} & set(flags)
            else ArrowKind.DATA if record.payload_len else ArrowKind.ACK)
    target = SERVER if segment.sender == CLIENT else CLIENT
    dropped = kernel.dropped if kernel else {}
    lost = record.frame in dropped and dropped[record.frame] not in JUDGED_BY_THE_SOCKET
    said = _kernel_words(record, kernel, lost, say) if kernel else ()
    absolute = _segment_label(conversation, segment, say, dropped, absolute=True) + said if explored else ()
    arrow = Arrow(segment.sender, target, _segment_label(conversation, segment, say, dropped) + said, kind, lost,
                  absolute=absolute)
    return Row(record.time - t0, record.frame, arrow, _state_marks(conversation, record.frame, kernel, say))


def _kernel_words(record: PacketRecord, kernel: KernelView, lost: bool, say: Words) -> tuple[str, ...]:
    """What the kernel said of this packet: the reason for its RST, that it was its own
    retransmission, why the receiver dropped or discarded it."""
    words = ()
    if record.frame in kernel.reset_reasons:
        words += (say("kernel.reset", reason=say.reset_reason(kernel.reset_reasons[record.frame])),)
    if record.frame in kernel.retransmitted:
        words += (say("kernel.retransmitted"),)
    reason = kernel.dropped.get(record.frame)
    if reason == "TCP_OLD_DATA" and record.flags & SYN:
        words += (say("kernel.syn_again"),)   # not needless: its ACK still counts (a simultaneous open)
    elif reason is not None:
        words += (say("kernel.dropped" if lost else "kernel.discarded", reason=say.drop_reason(reason)),)
    return words


def _segment_label(conversation: Conversation, segment: Segment, say: Words, dropped: dict,
                   absolute: bool = False) -> tuple[str, ...]:
    """Its lines, with sequence numbers relative to each side's ISN, or (absolute) as on the wire."""
    record = segment.record
    first = ", ".join(flag_names(record.flags)) or "(no flags)"
    lines = [f"{first}   {_numbers(segment, absolute)}"]
    if record.flags & SYN:
        lines.append(f"ISN {record.seq}" + (f"  {_options_text(record.options)}" if record.options else ""))
    lines += _payload_lines(record)
    if segment.resent_from is not None:
        lines.append(sent_again(segment, say))
    if segment.analysis:
        lines.append("[" + ", ".join(sorted(mark.replace("_", " ") for mark in segment.analysis)) + "]")
    explained = _ack_explanation(conversation, segment, say, dropped, absolute)
    if explained:
        lines.append(explained)
    return tuple(lines)


def sent_again(segment: Segment, say: Words) -> str:
    """What a copy repeats: the bytes (or a SYN's sequence number) of an earlier frame."""
    return say("sent_again.syn" if segment.record.flags & SYN else "sent_again", frame=segment.resent_from)


def _numbers(segment: Segment, absolute: bool) -> str:
    """seq, ack, SACK blocks and window: "seq 1:6 (5)  ack 1  win 65536"."""
    record = segment.record
    seq, ack = segment.rel_seq, segment.rel_ack
    if absolute:
        seq, ack = record.seq, record.ack if ack is not None else None
    numbers = f"seq {seq}"
    if record.payload_len:
        numbers = f"seq {seq}:{(seq + record.payload_len) % 2 ** 32} ({record.payload_len})"
    if ack is not None:
        numbers += f"  ack {ack}"
    sack = record.options.sack_blocks if absolute and record.options else segment.sack
    if sack:   # what the receiver holds beyond the ACK: why a sender resends after one duplicate ACK
        numbers += "  SACK " + ", ".join(f"{left}-{right}" for left, right in sack)
    return numbers + f"  win {segment.window}"


def _options_text(options: TcpOptions) -> str:
    """<mss 1460, sackOK, TS, wscale 7>; a no-break space keeps each option whole when a label wraps."""
    parts = []
    if options.mss is not None:
        parts.append(f"mss\u00a0{options.mss}")
    if options.sack_permitted:
        parts.append("sackOK")
    if options.timestamps is not None:
        parts.append("TS")
    if options.window_scale is not None:
        parts.append(f"wscale\u00a0{options.window_scale}")
    return "<" + ", ".join(parts) + ">"


def _ack_explanation(conversation: Conversation, segment: Segment, say: Words, dropped: dict, absolute: bool) -> str:
    """Why this ACK number: the SEQ + length of what it acknowledges (RFC 9293's SEG.SEQ+SEG.LEN).
    A segment that was dropped is never credited: its bytes arrived in another copy."""
    segments = conversation.segments   # in frame order: each frame found by bisection, not by a scan per ACK
    found = [segments[bisect.bisect_left(segments, frame, key=lambda s: s.record.frame)] for frame in segment.covers]
    covered = [s for s in found if s.record.frame not in dropped]
    if not covered:
        return ""
    last = covered[-1]
    what = ("SYN" if last.record.flags & SYN and not last.record.payload_len
            else "FIN" if not last.record.payload_len else "data")
    frames = (", ".join(f"#{s.record.frame}" for s in covered) if len(covered) <= 2
              else f"#{covered[0].record.frame}-#{covered[-1].record.frame}")
    ack, seq = (segment.record.ack, last.record.seq) if absolute else (segment.rel_ack, last.rel_seq)
    return say("ack.explained", ack=ack, seq=seq, space=last.seq_space,
               what=say(f"what.{what}"), frames=frames)


def _call_row(call: SocketCall, returning: bool, times: list[tuple], t0: float, say: Words) -> Row:
    kind = MarkKind.CALL_ERROR if call.error else MarkKind.CALL
    if returning:
        return Row(call.end - t0, marks=(Mark(call.side, say("call.returns", name=call.name, outcome=say.outcome(call)),
                                                     kind),))
    text = (f"{call.who}: " if call.who else "") + f"{call.name}({call.args})"
    if _blocked(call, times):
        return Row(call.start - t0, marks=(Mark(call.side, f"{text} …", MarkKind.CALL),))
    outcome = say.outcome(call)   # a process's exit returns nothing: its sockets just close
    return Row(call.start - t0, marks=(Mark(call.side, f"{text} = {outcome}" if outcome else text, kind),))


def _states_legend(kernel: KernelView | None, say: Words, t0: float) -> str:
    if kernel is None:
        return say("legend.states.inferred")
    if kernel.moved and not kernel.differences:
        moved = [say("kernel.moved", side=say(f"side.{side}"), state=state.state, when=_stamp(state.time, t0),
                     frame=frame) for side, state, frame in kernel.moved]
        return say("legend.states.moved", moved="; ".join(moved))
    if kernel.agrees:
        return say("legend.states.kernel")
    differences = [say("kernel.went", side=say(f"side.{side}"), kernel=" -> ".join(traced), inferred=" -> ".join(inferred))
                   if traced else say("kernel.no_socket", side=say(f"side.{side}"))
                   for side, (traced, inferred) in kernel.differences.items()]
    return say("legend.states.differ", differences="; ".join(differences))


def _calls_legend(calls: tuple[SocketCall, ...], lost: int, say: Words) -> tuple[str, ...]:
    """What the green rows are: the calls a scenario recorded, or the system calls the kernel traced."""
    lines = ((say("legend.calls.traced" if any(c.pid is not None for c in calls) else "legend.calls"),) if calls else ())
    return lines + ((say("legend.calls.lost", count=lost),) if lost else ())


def _udp_legend(conversation: UdpConversation, say: Words) -> tuple[str, ...]:
    first = say("legend.membership") if conversation.protocol in PORTLESS else say("legend.udp")
    lines = [first, say("legend.rows")] + _loopback_legend(conversation, say)
    if any(d.record.icmp for d in conversation.datagrams):
        lines.append(say("legend.icmp"))
    return tuple(lines)


def _loopback_legend(conversation, say: Words) -> list[str]:
    ends = (conversation.client[0], conversation.server[0])
    return [say("legend.loopback")] if all(ipaddress.ip_address(a).is_loopback for a in ends) else []


def _legend(conversation: Conversation, kernel: KernelView | None, say: Words,
            t0: float) -> tuple[str, ...]:
    isns = [f"{side} {isn}" for side, isn in conversation.isns().items()]
    lines = [
        say("legend.seq", isns=say("legend.isns", isns=", ".join(isns)) if isns else ""),
        say("legend.numbers"),
        say("legend.rows"),
        *_loopback_legend(conversation, say),
        say("legend.colours", states=_states_legend(kernel, say, t0)),
    ] + ([say("legend.states.lost", count=kernel.lost)] if kernel and kernel.lost else [])
    if any(s.analysis or s.resent_from is not None for s in conversation.segments):
        lines.append(say("legend.marks"))
    if conversation.time_wait:
        found = kernel is not None and any(side in kernel.time_wait_left for side in conversation.time_wait)
        lines.append(say("legend.time_wait", msl=TIME_WAIT_SECONDS,
                         how=say("legend.time_wait.kernel" if found else "legend.time_wait.inferred")))
    if any({KEEP_ALIVE, ZERO_WINDOW_PROBE} <= s.analysis for s in conversation.segments):
        lines.append(say("legend.zero_window_probe"))
    return tuple(lines)


PAGE_ROWS = 80  # rows on one PNG page: cairo shrinks taller bitmaps until they are unreadable


def pages(diagram: Diagram, rows_per_page: int = PAGE_ROWS) -> list[Diagram]:
    """The diagram cut into pages of rows_per_page rows, brackets and spans clipped to each."""
    count = max(1, -(-len(diagram.rows) // rows_per_page))
    if count == 1:
        return [diagram]
    cut = []
    for number in range(count):
        first, last = number * rows_per_page, min((number + 1) * rows_per_page, len(diagram.rows)) - 1
        brackets = tuple(Bracket(b.label, max(b.first_row, first) - first, min(b.last_row, last) - first)
                         for b in diagram.brackets if b.first_row <= last and b.last_row >= first)
        spans = tuple(Span(s.lane, max(s.first_row, first) - first, s.label)
                      for s in diagram.spans if s.first_row <= last)
        cut.append(Diagram(f"{diagram.title} (page {number + 1} of {count})", diagram.lanes,
                           diagram.rows[first:last + 1], brackets, spans, diagram.legend, diagram.start))
    return cut
