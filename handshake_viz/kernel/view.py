"""The kernel's record set beside what the packets imply, for one conversation. Pure.

TIME_WAIT is never a traced state: the closing socket goes FIN_WAIT2 -> CLOSE while a separate
mini-socket holds TIME_WAIT, so a CLOSE with a TIME_WAIT entry for its 4-tuple is read as TIME_WAIT.
"""

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from handshake_viz.core.analysis import CLIENT, SERVER, Conversation, other
from handshake_viz.core.tcp_states import TcpState
from handshake_viz.kernel.record import EventIndex, EventKind, KernelEvent, KernelRecord, TimeWaitEntry
from handshake_viz.wire.records import ACK, FIN, RST, SYN, Side, endpoint_text

OPENING_WINDOW = 0.005  # a connecting socket's SYN_SENT, traced before it has a port, precedes its SYN by µs
PLACE_WINDOW = 0.005    # a state the kernel entered this close to its packet is drawn at that packet
CAPTURE_RESOLUTION = 1e-6  # the capture's: pcap keeps microseconds

# Kernel state changes that a packet causes: (old, new) -> which packet, and whether the change
# comes after it (it was received) or before it (it is what this side sends next).
CAUSES = {
    ("SYN_SENT", "ESTABLISHED"): ("peer_syn_ack", "after"),
    ("SYN_RECEIVED", "ESTABLISHED"): ("peer_handshake_ack", "after"),
    ("SYN_SENT", "SYN_RECEIVED"): ("peer_syn", "after"),        # a simultaneous open
    # Linux makes (and traces) the connection's own socket only at the handshake's last ACK: its
    # SYN_RECEIVED is drawn at the SYN it answered, the latest before it.
    ("LISTEN", "SYN_RECEIVED"): ("peer_syn", "after"),
    ("ESTABLISHED", "CLOSE_WAIT"): ("peer_fin", "after"),
    ("FIN_WAIT_1", "CLOSING"): ("peer_fin", "after"),
    ("FIN_WAIT_1", "FIN_WAIT_2"): ("ack_of_own_fin", "after"),
    # The socket leaves for a mini-socket that holds TIME_WAIT at the peer's FIN, or, once
    # close() has orphaned it, already at the ACK of its own FIN (tcp_time_wait(sk, TCP_FIN_WAIT2)).
    ("FIN_WAIT_2", "CLOSED"): ("ack_of_own_fin", "after"),
    ("CLOSING", "CLOSED"): ("ack_of_own_fin", "after"),
    ("LAST_ACK", "CLOSED"): ("ack_of_own_fin", "after"),
    ("CLOSED", "SYN_SENT"): ("own_syn", "before"),
    ("ESTABLISHED", "FIN_WAIT_1"): ("own_fin", "before"),
    ("CLOSE_WAIT", "LAST_ACK"): ("own_fin", "before"),
}


class KernelState(NamedTuple):
    """A state as the kernel's record places it."""

    state: str
    frame: int | None     # the packet that caused it, or that it sent; None: drawn at its time
    time: float | None    # when the kernel entered it; None for where a side's record starts


@dataclass
class KernelView:
    """The kernel's record for one conversation, aligned with the inferred states."""

    states: dict[str, list[KernelState]]              # side -> its states in order, each placed
    differences: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # side -> (kernel's, inferred) where they differ
    time_wait_left: dict[str, float]                   # side -> seconds left when read
    reset_reasons: dict[int, str]                      # frame of a RST -> the kernel's reason ("NO_SOCKET")
    dropped: dict[int, str]                            # frame the kernel dropped -> its reason (see JUDGED_BY_THE_SOCKET)
    moved: list[tuple[str, KernelState, int]]          # (side, kernel state, frame the packets imply)
    lost: int = 0                                      # events the kernel's buffer could not keep, in the whole run
    retransmitted: frozenset = frozenset()             # frames the kernel traced as its own retransmissions
    samples: dict = field(default_factory=dict)        # side -> its socket's QueueSamples in time order
    probes: dict = field(default_factory=dict)         # side -> its socket's tcp_probe Probes in time order

    @property
    def agrees(self) -> bool:
        """The same states in the same order, each entered where the packets imply."""
        return not self.differences and not self.moved


def align(conversation: Conversation, record: KernelRecord) -> KernelView | None:
    """The kernel's account of conversation, or None when there is no kernel record."""
    if record is None or record.unavailable is not None:
        return None
    ends = {CLIENT: conversation.client_text, SERVER: conversation.server_text}
    states, differences, left, moved = {}, {}, {}, []
    for side in (CLIENT, SERVER):
        own, peer = ends[side], ends[other(side)]
        entry = record.index.time_wait.get((own, peer))
        sequence = _sequence(_traced_changes(conversation, record, side, own, peer), entry)
        if entry:
            left[side] = entry.seconds_left
        states[side] = _placed(side, sequence, conversation)
        inferred, traced = tuple(c.state.value for c in conversation.states[side]), tuple(s for _, s in sequence)
        if _differ(inferred, traced):
            differences[side] = (traced, inferred)
        else:
            moved += [(side, kernel, inferred.frame) for kernel, inferred
                      in zip(reversed(states[side]), reversed(conversation.states[side]))
                      if kernel.time is not None and kernel.frame != inferred.frame]
    return KernelView(states, differences, left, _reset_reasons(conversation, record, ends),
                      dropped_frames(conversation, record), moved, record.lost,
                      _retransmitted(conversation, record, ends), _samples(conversation, record, ends),
                      _probes(conversation, record, ends))


def _retransmitted(conversation: Conversation, record: KernelRecord, ends: dict) -> frozenset:
    """The copies the kernel traced itself sending again: for each tcp_retransmit_skb event, its
    side's copy nearest to it in time, within PLACE_WINDOW. The tracepoint fires once the copy is
    on its way; the capture's stamp of it is the skb's own, taken just before (a resend on ACKs)
    or just after (a resend by the timer)."""
    frames = set()
    for side in (CLIENT, SERVER):
        copies = [s for s in conversation.segments if s.sender == side and s.resent_from is not None]
        for event in socket_events(conversation, record, ends[side], ends[other(side)]):
            if event.kind != EventKind.RETRANSMIT:
                continue
            near = min((s for s in copies if s.record.frame not in frames),
                       key=lambda s: abs(s.record.time - event.time), default=None)
            if near is not None and abs(near.record.time - event.time) <= PLACE_WINDOW:
                frames.add(near.record.frame)
    return frozenset(frames)


def _probes(conversation: Conversation, record: KernelRecord, ends: dict) -> dict:
    """Each side's congestion control while the conversation's packets came: a 4-tuple may come
    back in one run, so the probes are those within its first and last packet."""
    if not conversation.segments:
        return {}
    first, last = conversation.segments[0].record.time - PLACE_WINDOW, conversation.segments[-1].record.time + PLACE_WINDOW
    return {side: [p for p in record.probes if (p.src, p.dst) == (ends[side], ends[other(side)]) and first <= p.time <= last]
            for side in (CLIENT, SERVER)}


def _samples(conversation: Conversation, record: KernelRecord, ends: dict) -> dict:
    """Each side's sampled queues and timers, from its socket's first sample to just after the last packet."""
    last = conversation.segments[-1].record.time + PLACE_WINDOW if conversation.segments else math.inf
    return {side: [q for q in record.samples if (q.src, q.dst) == (ends[side], ends[other(side)]) and q.time <= last]
            for side in (CLIENT, SERVER)}


def _traced_changes(conversation: Conversation, record: KernelRecord, side: Side, own: str,
                    peer: str) -> list[KernelEvent]:
    """The state changes the kernel traced for side's socket of this connection, with, before
    them, the client's SYN_SENT (entered before its socket had a port) or the server's listener."""
    index = record.index
    first = _opening(conversation, index, peer) if side == CLIENT else _listener(conversation, index, own)
    return first + [e for e in socket_events(conversation, record, own, peer) if e.kind == EventKind.STATE]


def _born(event: KernelEvent) -> bool:
    """A change that begins a socket's life under its ends: made, a listener's child, or a
    connection established (a connecting socket's earlier changes had no port yet)."""
    return event.old in (TcpState.CLOSED, TcpState.LISTEN) or (
        event.old in (TcpState.SYN_SENT, TcpState.SYN_RECEIVED) and event.new == TcpState.ESTABLISHED)


def socket_events(conversation: Conversation, record: KernelRecord, own: str, peer: str) -> list[KernelEvent]:
    """The kernel's events of the socket own -> peer in this conversation. Its ends may come back
    in one run (Linux gives a loopback connection the ports of one in TIME_WAIT at once), so only
    those from its first packet (and the opening that led to it: a bound socket's SYN_SENT, while
    its SYN waited in a queue) until a socket with the same ends is born after its last."""
    every = record.index.between(own, peer)
    if not conversation.segments:
        return every
    first, last = conversation.segments[0].record.time, conversation.segments[-1].record.time
    start = len(every) - len(record.index.between(own, peer, first - OPENING_WINDOW, math.inf))
    while start > 0 and _leads_to(every[start - 1], every[start:]):
        start -= 1
    events = every[start:]
    reborn = next((i for i, e in enumerate(events) if e.time > last + CAPTURE_RESOLUTION
                   and e.kind == EventKind.STATE and _born(e)), len(events))
    return events[:reborn]


def _leads_to(event: KernelEvent, later: list[KernelEvent]) -> bool:
    """Whether event is of the same life as the state changes after it: another kind of event
    (an attempt to resend a SYN still queued), or a change the next one starts from that did not
    end a life (a previous connection's CLOSED)."""
    if event.kind != EventKind.STATE:
        return True
    following = next((e for e in later if e.kind == EventKind.STATE), None)
    return event.new != TcpState.CLOSED and following is not None and following.old == event.new


def _opening(conversation: Conversation, index: EventIndex, peer: str) -> list[KernelEvent]:
    """connect()'s SYN_SENT, traced on a socket with no port yet, just before the first SYN."""
    first_syn = next((s.record.time for s in conversation.segments if s.sender == CLIENT and s.record.flags & SYN), None)
    if first_syn is None:
        return []
    portless = [e for e in index.between(endpoint_text(conversation.client[0], 0), peer, first_syn - OPENING_WINDOW,
                                         first_syn)
                if e.kind == EventKind.STATE and e.new == TcpState.SYN_SENT]
    return [e for e in portless if 0 <= first_syn - e.time < OPENING_WINDOW][-1:]


def _listener(conversation: Conversation, index: EventIndex, own: str) -> list[KernelEvent]:
    """The listener that took the connection: the last to listen on its port before it began."""
    start = conversation.segments[0].record.time if conversation.segments else 0
    return [e for e in index.listening.get(own.rsplit(":", 1)[1], []) if e.time <= start][-1:]


def _reset_reasons(conversation: Conversation, record: KernelRecord, ends: dict) -> dict[int, str]:
    """The frame of each RST the kernel says it sent on this connection, with its reason."""
    resets = {}
    both_ways = (socket_events(conversation, record, ends[CLIENT], ends[SERVER])
                 + socket_events(conversation, record, ends[SERVER], ends[CLIENT]))
    for event in sorted(both_ways, key=lambda e: e.time):
        if event.kind == EventKind.SEND_RESET:
            sender = CLIENT if event.src == ends[CLIENT] else SERVER
            frame = _nearest_reset(conversation, event.time, sender)
            if frame is not None:
                resets[frame] = event.reason or "NOT_SPECIFIED"
    return resets


DROP_WINDOW = 0.002   # a drop comes right after its packet passed the capture: the same softirq pass
# Reasons the receiving connection's own TCP gives after judging a segment (it reached the
# socket, which often answered it with an ACK, then let it go): a keep-alive probe one byte back
# is freed as TCP_OLD_SEQUENCE once its ACK is sent. Every other reason means the socket never got it.
JUDGED_BY_THE_SOCKET = frozenset({
    "TCP_OLD_SEQUENCE", "TCP_OLD_DATA", "TCP_OFO_DROP", "TCP_OFOMERGE", "TCP_OLD_ACK", "TCP_TOO_OLD_ACK",
    "TCP_INVALID_SEQUENCE", "TCP_INVALID_END_SEQUENCE", "TCP_INVALID_ACK_SEQUENCE", "TCP_ACK_UNSENT_DATA",
    "TCP_OVERWINDOW", "TCP_ZEROWINDOW", "TCP_RFC7323_PAWS", "TCP_RFC7323_PAWS_ACK", "TCP_RFC7323_TW_PAWS",
    "TCP_RFC7323_TSECR", "TCP_FLAGS", "TCP_RESET", "TCP_INVALID_SYN",
    "TCP_ABORT_ON_DATA"})   # an orphaned socket takes the ACK, then aborts on the data (sigpipe)


def dropped_frames(conversation: Conversation, record: KernelRecord) -> dict[int, str]:
    """The packets the kernel dropped, with its reason: each traced drop belongs to the packet
    captured last before it (within DROP_WINDOW), unless another protocol's function dropped it;
    and when the run counted listen overflows, a client SYN repeated before any answer was
    dropped by a full accept queue."""
    dropped, nearest = {}, {}
    for event in record.index.of(EventKind.DROP):
        # A drop in a UDP or ICMP function is not a TCP segment's (a datagram dropped at that moment).
        if not any(other in (event.where or "") for other in ("udp", "icmp")):
            frame = _dropped_packet(conversation.segments, record, event)
            # Drops carry no ports: another run's may fall in the window too. The packet's own comes
            # in the same softirq pass, microseconds after it; keep the nearest.
            if frame is not None and event.time < nearest.get(frame, math.inf):
                dropped[frame], nearest[frame] = event.reason, event.time
    if record.listen_overflows:
        for syn in _repeated_syns(conversation.segments):
            dropped.setdefault(syn.record.frame, "TCP_LISTEN_OVERFLOW")
    return dropped


def _dropped_packet(segments: list, record: KernelRecord, drop: KernelEvent) -> int | None:
    before = [s for s in segments if 0 <= drop.time - s.record.time <= DROP_WINDOW]
    if len(before) > 1 and before[-1].record.flags & RST and any(
            before[-2].record.time <= e.time <= drop.time for e in record.index.of(EventKind.SEND_RESET)):
        before.pop()   # the RST the kernel sent in answer, before it freed the packet it answers
    return before[-1].record.frame if before else None


def _repeated_syns(segments: list) -> list:
    """The client's SYNs sent again before any answer."""
    def client_syn(segment) -> bool:
        return segment.sender == CLIENT and segment.record.flags & (SYN | ACK) == SYN
    return [syn for syn, following in zip(segments, segments[1:]) if client_syn(syn) and client_syn(following)]


def _sequence(changes: list[KernelEvent], time_wait: TimeWaitEntry | None) -> list[tuple[float | None, str]]:
    """(time, state) as the kernel saw them: a listener's LISTEN, then each change of the
    connection's own socket, starting from the state it was in."""
    sequence: list[tuple[float | None, str]] = []
    for event in changes:
        if event.old == event.new:  # traced, yet no change (shutdown(SHUT_WR), then close())
            continue
        if event.new == "LISTEN":
            sequence.append((event.time, "LISTEN"))
            continue
        if not sequence or sequence[-1][1] != event.old:
            sequence.append((event.time, event.old))
        sequence.append((event.time, event.new))
    if time_wait and sequence and sequence[-1][1] == "CLOSED":
        sequence[-1] = (sequence[-1][0], "TIME_WAIT")
    return sequence


def _placed(side: str, sequence: list[tuple[float | None, str]], conversation: Conversation) -> list[KernelState]:
    """Each state where the kernel entered it: at the packet that caused it (or that it sent), when
    the kernel's time puts it there; else at its own time. The first is where the record starts."""
    placed = [KernelState(sequence[0][1], None, None)] if sequence else []
    for (_, old), (time, new) in zip(sequence, sequence[1:]):
        if new == "TIME_WAIT":   # from the TIME_WAIT table, which has no time: see _time_wait_frame
            placed.append(KernelState(new, _time_wait_frame(conversation, side, old, time), None))
        else:
            placed.append(KernelState(new, _packet_at(conversation, side, old, new, time), time))
    return placed


def _time_wait_frame(conversation: Conversation, side: str, old: str, closed: float) -> int | None:
    """Where a socket's TIME_WAIT began: where the kernel gave up the socket (traced CLOSE), or, if
    the peer's FIN came later (a socket close() orphaned in FIN_WAIT_2), at that FIN."""
    frames = [cause_packet(conversation, side, "peer_fin", None), _packet_at(conversation, side, old, "CLOSED", closed)]
    return max((f for f in frames if f is not None), default=None)


def _packet_at(conversation: Conversation, side: Side, old: TcpState, new: TcpState, time: float) -> int | None:
    """The packet where the kernel's change belongs: the one it received last before the change
    (the kernel changes state as it processes a packet), the one it sends right after (FIN_WAIT_1
    before its FIN), or a reset either way; None when no packet is within PLACE_WINDOW of it."""
    if (old, new) == (TcpState.LISTEN, TcpState.SYN_RECEIVED):
        return cause_packet(conversation, side, "peer_syn", time)
    kind, direction = CAUSES.get((old, new), (None, None))
    if direction == "before":
        return _near(conversation, cause_packet(conversation, side, kind, None, after=time), time, after=False)
    if kind is None and new == TcpState.CLOSED:   # a reset: the peer's that arrived, or our own that leaves
        return (_near(conversation, cause_packet(conversation, side, "peer_rst", time), time, after=True)
                or _near(conversation, cause_packet(conversation, side, "own_rst", None, after=time), time, after=False))
    if kind is None:
        return None
    received = [s.record.frame for s in conversation.segments
                if s.sender == other(side) and s.record.time <= time + CAPTURE_RESOLUTION]
    return _near(conversation, received[-1] if received else None, time, after=True)


def _near(conversation: Conversation, frame: int | None, time: float, after: bool) -> int | None:
    """frame, if the kernel's change at time came within PLACE_WINDOW after it (or before it)."""
    if frame is None:
        return None
    sent = next(s.record.time for s in conversation.segments if s.record.frame == frame)
    gap = (time - sent) if after else (sent - time)
    return frame if -CAPTURE_RESOLUTION <= gap <= PLACE_WINDOW else None


# The packets that cause kernel state changes: whose (the side's own, or its peer's) and which.
_CAUSES_TESTS = {
    "peer_syn": ("peer", lambda flags: flags & (SYN | ACK) == SYN),
    "peer_syn_ack": ("peer", lambda flags: flags & (SYN | ACK) == SYN | ACK),
    # The peer's first ACK: the handshake's last, or in a simultaneous open the peer's SYN+ACK.
    "peer_handshake_ack": ("peer", lambda flags: flags & (ACK | RST) == ACK),
    "peer_fin": ("peer", lambda flags: flags & FIN),
    "peer_rst": ("peer", lambda flags: flags & RST),
    "own_syn": ("own", lambda flags: flags & SYN),
    "own_fin": ("own", lambda flags: flags & FIN),
    "own_rst": ("own", lambda flags: flags & RST),
}


def cause_packet(conversation: Conversation, side: Side, kind: str, before: float | None,
                 after: float | None = None) -> int | None:
    """The frame of the packet of kind for side: the latest one at or before `before`, or (with
    `after`) the first of side's own at or after it, or (with neither) the first."""
    found = _packets_of_kind(conversation, side, kind)
    if before is not None:
        found = [s for s in found if s.record.time <= before + CAPTURE_RESOLUTION][-1:]
    elif after is not None and kind.startswith("own"):
        found = [s for s in found if s.record.time >= after - CAPTURE_RESOLUTION][:1]
    return found[0].record.frame if found else None


def _packets_of_kind(conversation: Conversation, side: Side, kind: str) -> list:
    if kind == "ack_of_own_fin":
        fin = cause_packet(conversation, side, "own_fin", None)
        return [s for s in conversation.segments if s.sender == other(side) and fin in s.covers] if fin else []
    whose, test = _CAUSES_TESTS[kind]
    sender = side if whose == "own" else other(side)
    return [s for s in conversation.segments if s.sender == sender and test(s.record.flags)]


def _differ(inferred: tuple[str, ...], kernel: tuple[str, ...]) -> bool:
    if not kernel:
        # No socket of this side ever existed (a refused connection): nothing to disagree with.
        return inferred not in ((), ("CLOSED",))
    return kernel not in (inferred, inferred[1:])  # the kernel may start after the state before the capture


def _nearest_reset(conversation: Conversation, time: float | None, sender: str) -> int | None:
    """The frame of sender's RST closest in time to the kernel's record of sending one."""
    candidates = [s for s in conversation.segments if s.sender == sender and s.record.flags & RST]
    if time is None or not candidates:
        return None
    return min(candidates, key=lambda s: abs(s.record.time - time)).record.frame
