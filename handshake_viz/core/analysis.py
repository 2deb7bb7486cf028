"""The sans-IO TCP analysis: packet records in, events out.

No sockets, files, threads or clocks: time is the packets' own. The `Analyzer` owns roles (the
client sent the first SYN), relative numbering, each endpoint's state, phases and the pairing of
each data segment with the ACK that covers it. Every state change goes through
`tcp_states.TRANSITIONS`.

The contract: `Analyzer.receive(record)` and `Analyzer.finish()` return events, each an `Event`
naming its conversation by index, in the order they happened; the last event of every
conversation is `ConversationEnded`, whose `result` is the finished `Conversation` (or
`UdpConversation`), the documented result that views read. Nothing else is handed out.
"""

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import StrEnum

from handshake_viz.core.marks import KEEP_ALIVE, FlowMarks, HandshakeTiming, mark
from handshake_viz.core.tcp_states import TcpState, Trigger, next_state
from handshake_viz.wire.records import (
    ACK,
    CLIENT,
    DATAGRAMS,
    FIN,
    PORTLESS,
    RST,
    SERVER,
    SYN,
    PacketRecord,
    Side,
    endpoint_text,
    other,
)
from handshake_viz.wire.seqnum import relative, seq_add, seq_ge, seq_gt


class Phase(StrEnum):
    HANDSHAKE = "handshake"
    DATA = "data"
    TEARDOWN = "teardown"
    # what Conversation.phases() says instead of a run's phase
    REFUSED = "refused"
    IDLE = "idle"
    IDLE_KEEPALIVE = "idle_keepalive"


HANDSHAKE, DATA, TEARDOWN = Phase.HANDSHAKE, Phase.DATA, Phase.TEARDOWN
REFUSED, IDLE, IDLE_KEEPALIVE = Phase.REFUSED, Phase.IDLE, Phase.IDLE_KEEPALIVE


class Handshake(StrEnum):
    """How a TCP conversation opened, as far as the capture shows."""

    COMPLETE = "complete"
    REFUSED = "refused"
    INCOMPLETE = "incomplete"
    NOT_CAPTURED = "not_captured"


class Teardown(StrEnum):
    FIN = "fin"
    RST = "rst"
    OPEN = "open"


class Closer(StrEnum):
    """Who closed first: one side, or both at once (a simultaneous close)."""

    CLIENT = "client"
    SERVER = "server"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class StateChange:
    frame: int | None          # None: the state before the capture shows anything of this side
    state: TcpState
    trigger: Trigger | None = None
    time: float | None = None  # the time of the packet at frame


@dataclass(slots=True)
class Segment:
    """One TCP segment as the analysis sees it."""

    record: PacketRecord
    sender: Side
    rel_seq: int
    rel_ack: int | None        # None when the ACK flag is not set
    window: int                # after scaling, when the handshake announced a scale
    phase: Phase
    analysis: frozenset = frozenset()                # marks from `anomalies`, as tshark's
    acked_by: int | None = None      # frame of the first ACK covering it
    covers: tuple[int, ...] = ()     # frames this ACK was first to cover
    resent_from: int | None = None   # frame of the unacknowledged segment whose bytes this repeats
    sack: tuple[tuple[int, int], ...] = ()   # SACK blocks, relative to the peer's sequence numbers

    @property
    def seq_space(self) -> int:
        """Sequence numbers the segment uses: its payload, plus one each for SYN and FIN."""
        flags = self.record.flags
        return self.record.payload_len + bool(flags & SYN) + bool(flags & FIN)


# Events: what the analysis found, in past tense. Not frozen: a replay makes one or more per
# packet, and frozen dataclasses are several times slower to build.
@dataclass(slots=True)
class Event:
    conversation: int          # its index: the order in which conversations were first seen


@dataclass(slots=True)
class ConversationStarted(Event):
    frame: int
    client: str
    server: str


@dataclass(slots=True)
class StateChanged(Event):
    side: Side
    frame: int | None
    state: TcpState


@dataclass(slots=True)
class StateWithdrawn(Event):
    """A state inferred too early: crossing FINs show that a FIN counted as received (CLOSE_WAIT)
    had not yet arrived when the peer sent its own FIN."""

    side: Side
    frame: int | None
    state: TcpState


@dataclass(slots=True)
class HandshakeCompleted(Event):
    frame: int


@dataclass(slots=True)
class ConnectionRefused(Event):
    frame: int


@dataclass(slots=True)
class DataAcknowledged(Event):
    side: Side                  # who sent the data
    data_frame: int
    ack_frame: int


@dataclass(slots=True)
class FinSent(Event):
    side: Side
    frame: int


@dataclass(slots=True)
class ConnectionReset(Event):
    side: Side                  # who sent the RST
    frame: int


@dataclass(slots=True)
class ConversationClosed(Event):
    frame: int


@dataclass(slots=True)
class IcmpErrorReceived(Event):
    record: PacketRecord       # record.icmp names the error: "port_unreachable", ...
    sender: Side                # it answers what the other side sent


@dataclass(slots=True)
class MalformedSeen(Event):
    record: PacketRecord
    sender: Side


@dataclass(slots=True)
class SegmentAnalyzed(Event):
    segment: "Segment"


@dataclass(slots=True)
class DatagramSeen(Event):
    datagram: "Datagram"


@dataclass(slots=True)
class ConversationEnded(Event):
    """No more packets will be given to this conversation: it is complete and handed over."""

    result: "Conversation | UdpConversation"


@dataclass(slots=True)
class _Direction:
    """What one side has sent so far, in its own sequence space."""

    base: int | None = None            # relative numbers count from here (tshark's base_seq)
    syn_frame: int | None = None
    syn_time: float | None = None
    syn_end: int | None = None         # the ACK that acknowledges the SYN
    syn_acked: bool = False
    window_scale: int = -1             # tshark's convention: -1 no SYN seen, -2 SYN without scaling
    fin_frame: int | None = None
    fin_end: int | None = None
    fin_acked: bool = False
    highest_end: int | None = None     # end of the highest sequence number sent
    unacked: deque = field(default_factory=deque)  # (end, segment) waiting for an ACK
    marks: FlowMarks = field(default_factory=FlowMarks)


@dataclass
class Conversation:
    index: int
    protocol: str
    client: tuple[str, int]
    server: tuple[str, int]
    segments: list[Segment] = field(default_factory=list)
    states: dict[str, list[StateChange]] = field(default_factory=lambda: {CLIENT: [], SERVER: []})
    handshake: Handshake = Handshake.NOT_CAPTURED
    reset_by: Side | None = None
    active_closer: Closer | None = None
    half_close: bool = False
    closed_frame: int | None = None
    icmp_errors: list[PacketRecord] = field(default_factory=list)
    malformed: list[PacketRecord] = field(default_factory=list)   # packets whose TCP header is bogus
    packet_count: int = 0
    timing: HandshakeTiming = field(default_factory=HandshakeTiming, repr=False)
    _directions: dict[str, _Direction] = field(
        default_factory=lambda: {CLIENT: _Direction(), SERVER: _Direction()}, repr=False)

    @property
    def client_text(self) -> str:
        return endpoint_text(*self.client) if self.protocol not in PORTLESS else self.client[0]

    @property
    def server_text(self) -> str:
        return endpoint_text(*self.server) if self.protocol not in PORTLESS else self.server[0]

    @property
    def teardown(self) -> Teardown:
        if self.reset_by:
            return Teardown.RST
        both_fins = all(d.fin_frame is not None for d in self._directions.values())
        return Teardown.FIN if both_fins else Teardown.OPEN

    @property
    def closed(self) -> bool:
        return self.closed_frame is not None

    @property
    def time_wait(self) -> tuple[Side, ...]:
        """The sides that entered TIME_WAIT."""
        return tuple(side for side in (CLIENT, SERVER)
                     if any(c.state is TcpState.TIME_WAIT for c in self.states[side]))

    def time_wait_frame(self, side: Side) -> int | None:
        return next((c.frame for c in self.states[side] if c.state is TcpState.TIME_WAIT), None)

    def phases(self) -> list[tuple[Phase, int, int]]:
        """(phase, first segment index, last segment index) for each run of one phase, named for
        what happened: a refused connection is one run, "refused"; a data run that carried no data
        is "idle", or "idle_keepalive" when keep-alive probes (whose byte, if any, is not data) kept it."""
        if self.handshake == Handshake.REFUSED:
            return [(REFUSED, 0, len(self.segments) - 1)]
        runs: list[tuple[Phase, int, int]] = []
        for i, segment in enumerate(self.segments):
            if runs and runs[-1][0] == segment.phase:
                runs[-1] = (segment.phase, runs[-1][1], i)
            else:
                runs.append((segment.phase, i, i))
        return [(self._idle_or(phase, first, last), first, last) for phase, first, last in runs]

    def _idle_or(self, phase: Phase, first: int, last: int) -> Phase:
        if phase != DATA:
            return phase
        run = self.segments[first:last + 1]
        probed = any(KEEP_ALIVE in s.analysis for s in run)
        if any(s.record.payload_len and KEEP_ALIVE not in s.analysis for s in run):
            return DATA
        return IDLE_KEEPALIVE if probed else IDLE

    def isns(self) -> dict[Side, int]:
        """Each side's initial sequence number, for the sides whose SYN the capture holds."""
        return {side: d.base for side, d in self._directions.items() if d.syn_frame is not None}

    def side_of(self, record: PacketRecord) -> Side:
        return CLIENT if (record.src, record.sport) == self.client else SERVER


@dataclass(slots=True)
class Datagram:
    record: PacketRecord
    sender: Side


@dataclass
class UdpConversation:
    """The datagrams exchanged by one pair of UDP endpoints; the client spoke first."""

    index: int
    protocol: str
    client: tuple[str, int]
    server: tuple[str, int]
    datagrams: list[Datagram] = field(default_factory=list)
    packet_count: int = 0
    malformed: list[PacketRecord] = field(default_factory=list)   # datagrams whose UDP header is bogus

    client_text = Conversation.client_text
    server_text = Conversation.server_text
    side_of = Conversation.side_of


def _key(record: PacketRecord) -> tuple:
    """The same key for both directions of a conversation."""
    src, sport, dst, dport = record.src, record.sport, record.dst, record.dport
    if (src, sport) <= (dst, dport):
        return record.protocol, src, sport, dst, dport
    return record.protocol, dst, dport, src, sport


CLOSED_KEPT = 1000      # closed TCP conversations kept for late packets, when not keeping all


class Analyzer:
    """Feed records in capture order with `receive`, then call `finish`.

    With keep=True (the default) every conversation stays in `conversations` with all its
    packets. With keep=False packets are only given out as events and each conversation is
    handed over by a `ConversationEnded` event and dropped once it can get no more packets
    (replaced on its 4-tuple, or long closed), so memory is bounded by the number of open
    conversations, not by the capture's size. A UDP conversation never closes: like tshark's one
    stream per 4-tuple, however long it stays quiet, it is handed over at the end.
    """

    def __init__(self, keep: bool = True, closed_kept: int = CLOSED_KEPT) -> None:
        self.keep = keep
        self.closed_kept = closed_kept
        self.conversations: list[Conversation | UdpConversation] = []
        self._count = 0
        self._by_tuple: dict[tuple, Conversation | UdpConversation] = {}
        self._closed: OrderedDict = OrderedDict()      # key -> closed TCP conversation

    def receive(self, record: PacketRecord) -> list:
        events: list = []
        conversation = self._conversation_for(record, events)
        conversation.packet_count += 1
        if record.malformed:   # as tshark: in its conversation, outside the analysis
            if self.keep:
                conversation.malformed.append(record)
            events.append(MalformedSeen(conversation.index, record, conversation.side_of(record)))
        elif record.icmp:
            sender = other(conversation.side_of(record))  # it answers what that side sent
            if record.protocol == "udp":
                self._datagram(conversation, Datagram(record, sender), events)
            else:
                if self.keep:
                    conversation.icmp_errors.append(record)
                events.append(IcmpErrorReceived(conversation.index, record, sender))
        elif record.protocol in DATAGRAMS:
            self._datagram(conversation, Datagram(record, conversation.side_of(record)), events)
        else:
            step = _TcpStep(conversation, record, events)
            step.run()
            if self.keep:
                conversation.segments.append(step.segment)
            events.append(SegmentAnalyzed(conversation.index, step.segment))
            if conversation.closed and not self.keep:
                key = _key(record)
                self._closed[key] = conversation
                self._closed.move_to_end(key)
        if not self.keep:
            self._end_finished(events)
        return events

    def finish(self) -> list:
        """The end of the capture: every conversation still held is handed over."""
        held = self.conversations if self.keep else sorted(self._by_tuple.values(), key=lambda c: c.index)
        events = [ConversationEnded(c.index, c) for c in held]
        self._by_tuple.clear()
        self._closed.clear()
        return events

    def _datagram(self, conversation: "UdpConversation", datagram: "Datagram", events: list) -> None:
        if self.keep:
            conversation.datagrams.append(datagram)
        events.append(DatagramSeen(conversation.index, datagram))

    def _end_finished(self, events: list) -> None:
        while len(self._closed) > self.closed_kept:
            self._end(self._closed.popitem(last=False)[0], events)

    def _end(self, key: tuple, events: list) -> None:
        conversation = self._by_tuple.pop(key, None)
        if conversation is not None:
            events.append(ConversationEnded(conversation.index, conversation))

    def _conversation_for(self, record: PacketRecord, events: list):
        key = _key(record)
        known = self._by_tuple.get(key)
        if known is not None and not (record.protocol == "tcp" and not record.icmp
                                      and self._starts_new(known, record)):
            return known
        if known is not None and not self.keep:
            self._closed.pop(key, None)
            self._end(key, events)
        flags = record.flags
        src, dst = (record.src, record.sport), (record.dst, record.dport)
        if record.protocol in DATAGRAMS or record.icmp or flags & (SYN | ACK) == SYN:
            client, server = src, dst
        elif flags & SYN:
            client, server = dst, src
        else:  # no handshake seen: the lower port is the better guess for the server
            client, server = (dst, src) if record.sport < record.dport else (src, dst)
        kind = UdpConversation if record.protocol in DATAGRAMS else Conversation
        conversation = kind(self._count, record.protocol, client, server)
        self._count += 1
        if self.keep:
            self.conversations.append(conversation)
        self._by_tuple[key] = conversation
        events.append(ConversationStarted(conversation.index, record.frame,
                                          conversation.client_text, conversation.server_text))
        return conversation

    @staticmethod
    def _starts_new(conversation: Conversation, record: PacketRecord) -> bool:
        """A SYN on a known 4-tuple starts a new connection when its sequence number differs from
        the base that side already has (its ISN, or one below its first segment), as tshark 4.0.17
        decides (packet-tcp.c), before it even checks the header (a malformed SYN counts too): the
        same ISN again, even after a RST or FIN, is that SYN retransmitted (a connect() retried).
        A SYN from a side that sent nothing yet is a simultaneous open, unless the connection closed."""
        if record.flags & (SYN | ACK) != SYN:
            return False
        base = conversation._directions[conversation.side_of(record)].base
        return record.seq != base if base is not None else conversation.closed


def analyze(records) -> list["Conversation | UdpConversation"]:
    analyzer = Analyzer()
    for record in records:
        analyzer.receive(record)
    return analyzer.conversations


class _TcpStep:
    """The work one segment does to its conversation."""

    def __init__(self, conversation: Conversation, record: PacketRecord, events: list):
        self.conv = conversation
        self.record = record
        self.events = events
        self.sender = conversation.side_of(record)
        self.receiver = other(self.sender)
        self.out = conversation._directions[self.sender]
        self.back = conversation._directions[self.receiver]
        # A FIN that does not acknowledge the peer's FIN was sent before that FIN arrived.
        self.fin_crosses_peer_fin = bool(
            record.flags & FIN and self.back.fin_end is not None
            and not (record.flags & ACK and seq_ge(record.ack, self.back.fin_end)))

    def run(self) -> None:
        record, out, back = self.record, self.out, self.back
        flags = record.flags
        self._set_bases()
        segment = Segment(
            record, self.sender,
            rel_seq=relative(record.seq, out.base),
            rel_ack=relative(record.ack, back.base) if flags & ACK else None,
            window=self._scaled_window(),
            phase=self._phase())
        if record.options is not None and record.options.sack_blocks and back.base is not None:
            segment.sack = tuple((relative(left, back.base), relative(right, back.base))
                                 for left, right in record.options.sack_blocks)
        segment.analysis = mark(out.marks, back.marks, self.conv.timing, record, segment.window)
        self.segment = segment
        self._track_sent(segment)
        states = self.conv.states
        if not states[self.sender] or not states[self.receiver]:
            self._initial_states()
        if flags & (SYN | FIN | RST):
            self._sender_triggers()
        if flags & RST:
            self._trigger(self.receiver, self._reset_trigger())
        else:
            self._receiver_acks(segment)
            if flags & SYN and not flags & ACK:
                self._trigger(self.receiver, Trigger.RECEIVE_SYN)
            if flags & FIN:
                self._trigger(self.receiver, Trigger.RECEIVE_FIN)
        if self.conv.closed_frame is None:
            self._check_closed()

    def _set_bases(self) -> None:
        """Where relative numbers count from: the ISN, or one below the first number seen."""
        record, out, back = self.record, self.out, self.back
        if out.base is None:
            out.base = record.seq if record.flags & SYN else seq_add(record.seq, -1)
        elif record.flags & (SYN | ACK) == SYN | ACK and record.seq != out.base:
            # A SYN+ACK with a new ISN: tshark 4.0.17 counts this side from it from now on.
            out.base = record.seq
            if out.syn_frame is not None:
                out.syn_end = seq_add(record.seq, 1)
        if record.flags & ACK and back.base is None:
            back.base = seq_add(record.ack, -1)

    def _reset_trigger(self) -> Trigger:
        """A RST that reaches a connection opened by a listener (still in SYN_RECEIVED) sends it back
        to LISTEN (RFC 9293 3.10.7.4); any other goes to CLOSED."""
        history = self.conv.states[self.receiver]
        passive = history and history[0].state is TcpState.LISTEN
        if passive and history[-1].state is TcpState.SYN_RECEIVED:
            return Trigger.RECEIVE_RST_AFTER_PASSIVE_OPEN
        return Trigger.RECEIVE_RST

    def _scaled_window(self) -> int:
        """The window in bytes: shifted by the scale this side's SYN offered, unless the peer's
        SYN showed it does not scale (RFC 7323; tshark scales when the peer's SYN is unseen)."""
        record, out, back = self.record, self.out, self.back
        if record.flags & SYN:
            offered = record.options.window_scale if record.options else None
            out.window_scale = min(offered, 14) if offered is not None else -2
            if record.flags & ACK and offered is None:
                back.window_scale = -2  # a SYN+ACK without the option turns scaling off both ways
            return record.window
        if out.window_scale >= 0 and back.window_scale != -2:
            return record.window << out.window_scale
        return record.window

    def _phase(self) -> Phase:
        conv, flags = self.conv, self.record.flags
        if flags & (FIN | RST) or conv.active_closer or conv.reset_by:  # a FIN or RST was seen
            return TEARDOWN
        if flags & SYN:
            return HANDSHAKE
        if conv.handshake == Handshake.COMPLETE:
            return DATA
        server_syn = conv._directions[SERVER]
        completes_handshake = (self.sender == CLIENT and conv.handshake != Handshake.COMPLETE
                               and server_syn.syn_end is not None and not server_syn.syn_acked
                               and flags & ACK and seq_ge(self.record.ack, server_syn.syn_end))
        return HANDSHAKE if completes_handshake else DATA

    def _track_sent(self, segment: Segment) -> None:
        record, out = self.record, self.out
        seq_space = segment.seq_space
        end = seq_add(record.seq, seq_space)
        if record.flags & SYN and out.syn_frame is None:
            out.syn_frame, out.syn_time, out.syn_end = record.frame, record.time, seq_add(record.seq, 1)
        if record.flags & FIN and out.fin_frame is None:
            out.fin_frame, out.fin_end = record.frame, end
            self._note_fin()
        new = out.highest_end is None or seq_gt(end, out.highest_end)
        if record.payload_len and new and self.back.fin_frame is not None:
            self.conv.half_close = True   # new data after the peer's FIN; a resend of old bytes is not
        if seq_space and new:
            out.highest_end = end
            out.unacked.append((end, segment))
        elif seq_space:
            segment.resent_from = next((earlier.record.frame for _, earlier in out.unacked
                                        if earlier.record.seq == record.seq), None)

    def _note_fin(self) -> None:
        conv = self.conv
        self.events.append(FinSent(conv.index, self.sender, self.record.frame))
        if conv.active_closer is None:
            conv.active_closer = Closer(self.sender)
        elif self.fin_crosses_peer_fin:
            conv.active_closer = Closer.BOTH

    def _initial_states(self) -> None:
        """The state each side was in before the capture shows it act."""
        conv, flags, frame = self.conv, self.record.flags, self.record.frame
        states = conv.states
        if not states[self.sender]:
            if flags & SYN and not flags & ACK:
                states[self.sender].append(StateChange(None, TcpState.CLOSED))
            elif flags & SYN:
                # Answering a SYN with SYN+ACK means it was listening when the SYN came.
                states[self.sender].append(StateChange(None, TcpState.LISTEN))
                if self.back.syn_frame is not None:
                    self._trigger(self.sender, Trigger.RECEIVE_SYN, self.back.syn_frame, self.back.syn_time)
                else:
                    self._trigger(self.sender, Trigger.RECEIVE_SYN)
            elif flags & RST and states[self.receiver] and \
                    states[self.receiver][-1].state is TcpState.SYN_SENT:
                states[self.sender].append(StateChange(None, TcpState.CLOSED))
                conv.handshake = Handshake.REFUSED
                self.events.append(ConnectionRefused(conv.index, frame))
            else:
                states[self.sender].append(StateChange(None, TcpState.ESTABLISHED))
        if not states[self.receiver] and not flags & SYN:
            states[self.receiver].append(StateChange(None, TcpState.ESTABLISHED))
        if flags & SYN and conv.handshake == Handshake.NOT_CAPTURED:
            conv.handshake = Handshake.INCOMPLETE

    def _sender_triggers(self) -> None:
        flags = self.record.flags
        if flags & SYN and not flags & ACK:
            self._trigger(self.sender, Trigger.ACTIVE_OPEN)
            if self._syn_crosses_peer_syn():   # the peer's SYN arrives after this one left
                self._trigger(self.sender, Trigger.RECEIVE_SYN)
        if flags & FIN:
            history = self.conv.states[self.sender]
            crossed = self.fin_crosses_peer_fin and history and history[-1].state is TcpState.CLOSE_WAIT
            if crossed:
                withdrawn = history.pop()
                self.events.append(StateWithdrawn(self.conv.index, self.sender, withdrawn.frame, withdrawn.state))
            self._trigger(self.sender, Trigger.SEND_FIN)
            if crossed:  # the peer's FIN arrives after this one left
                self._trigger(self.sender, Trigger.RECEIVE_FIN)
        if flags & RST:
            self._trigger(self.sender, Trigger.SEND_RST)
            if self.conv.reset_by is None:
                self.conv.reset_by = self.sender
                self.events.append(ConnectionReset(self.conv.index, self.sender, self.record.frame))

    def _syn_crosses_peer_syn(self) -> bool:
        """A simultaneous open: the side that did not send the first SYN sends a SYN of its own, not
        a SYN+ACK, so it was connecting too, and its SYN left before the client's arrived (a
        listening socket would have answered with SYN+ACK; a closed one with RST)."""
        return (self.sender == SERVER and self.out.syn_frame == self.record.frame
                and self.back.syn_frame is not None and self.conv.reset_by is None)

    def _receiver_acks(self, segment: Segment) -> None:
        """What this segment's ACK tells the receiver: SYN, data or FIN acknowledged."""
        record, back = self.record, self.back
        if not record.flags & ACK:
            return
        while back.unacked and seq_ge(record.ack, back.unacked[0][0]):
            _, acked = back.unacked.popleft()
            acked.acked_by = record.frame
            segment.covers += (acked.record.frame,)
            if acked.record.payload_len:
                self.events.append(DataAcknowledged(self.conv.index, self.receiver,
                                                    acked.record.frame, record.frame))
        if back.syn_end is not None and not back.syn_acked and seq_ge(record.ack, back.syn_end):
            back.syn_acked = True
            receiver_state = self.conv.states[self.receiver][-1].state
            trigger = (Trigger.RECEIVE_SYN_ACK if record.flags & SYN and
                       receiver_state is TcpState.SYN_SENT else Trigger.RECEIVE_ACK_OF_SYN)
            self._trigger(self.receiver, trigger)
            if all(d.syn_acked for d in self.conv._directions.values()):
                self.conv.handshake = Handshake.COMPLETE
                self.events.append(HandshakeCompleted(self.conv.index, record.frame))
        if back.fin_end is not None and not back.fin_acked and seq_ge(record.ack, back.fin_end):
            back.fin_acked = True
            self._trigger(self.receiver, Trigger.RECEIVE_ACK_OF_FIN)

    def _trigger(self, side: Side, trigger: Trigger, frame: int | None = None, time: float | None = None) -> None:
        """trigger for side, at frame (default: this segment's) and its time."""
        history = self.conv.states[side]
        if not history:
            return  # nothing is known of this side yet
        new = next_state(history[-1].state, trigger)
        if new is None:
            return
        if frame is None:
            frame, time = self.record.frame, self.record.time
        history.append(StateChange(frame, new, trigger, time))
        self.events.append(StateChanged(self.conv.index, side, frame, new))

    def _check_closed(self) -> None:
        conv = self.conv
        fins_acked = self.out.fin_acked and self.back.fin_acked
        if conv.reset_by or conv.handshake is Handshake.REFUSED or fins_acked:
            conv.closed_frame = self.record.frame
            self.events.append(ConversationClosed(conv.index, self.record.frame))
