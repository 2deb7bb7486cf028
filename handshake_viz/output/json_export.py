"""The analysis as one JSON document (the format is described in the README).

Fed with the analyzer's events, so it streams: each packet is turned into JSON text as it comes
and spooled to a temporary file in chunks. With the kernel's record of a run (small by nature), a
TCP conversation's packets are written when it ends instead, with what the kernel said of each. A
conversation that has ended is written out once every conversation begun before it has ended too,
so the document lists them in index order.
Memory holds the open conversations' latest chunk and a few numbers per waiting one.
"""

import json
import tempfile
from pathlib import Path

from handshake_viz.core.analysis import (
    Closer,
    ConversationEnded,
    DatagramSeen,
    IcmpErrorReceived,
    MalformedSeen,
    SegmentAnalyzed,
    other,
)
from handshake_viz.core.attribution import finder
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.kernel.view import align
from handshake_viz.output.files import cannot_write
from handshake_viz.wire.records import CLIENT, DATAGRAMS, SERVER, SocketCall, flag_names

CHUNK = 64 * 1024
_FLAGS: dict[int, str] = {}
_MARKS: dict[frozenset, str] = {}


def _flags_json(flags: int) -> str:
    text = _FLAGS.get(flags)
    if text is None:
        text = _FLAGS[flags] = ", ".join(f'"{name}"' for name in flag_names(flags))
    return text


def _marks_json(marks: frozenset) -> str:
    text = _MARKS.get(marks)
    if text is None:
        text = _MARKS[marks] = ", ".join(f'"{name}"' for name in sorted(marks))
    return text


class JsonExport:
    """`write(events)` as they come, then `close()`; the document goes to text file `out`."""

    def __init__(self, out, capture: str, kernel: KernelRecord | None = None, chunk: int = CHUNK):
        self.out = out
        self.chunk = chunk   # bytes of a conversation's packets held before they go to the spool
        self.kernel = kernel
        self.deferred = kernel is not None and kernel.unavailable is None   # TCP packets wait for the kernel's view
        self.tunnels: dict[int, dict[str, None]] = {}   # conversation -> the tunnels its packets came in, in order
        try:
            self.spool = tempfile.TemporaryFile()
        except OSError as error:
            raise cannot_write(Path(tempfile.gettempdir()), error, "set TMPDIR to a folder with room")
        self.pending: dict[int, list[str]] = {}
        self.pending_size: dict[int, int] = {}
        self.chunks: dict[int, list[tuple[int, int]]] = {}  # conversation -> (offset, length) on the spool
        self.ended: dict[int, list[tuple[int, int]]] = {}    # the same, for a whole conversation waiting its turn
        self.next_index = 0
        self.written = 0
        out.write('{"capture": %s, "conversations": [' % json.dumps(capture))

    def write(self, events) -> None:
        for event in events:
            kind = type(event)
            if kind is SegmentAnalyzed or kind is DatagramSeen:
                record = event.segment.record if kind is SegmentAnalyzed else event.datagram.record
                if record.tunnel:
                    self.tunnels.setdefault(event.conversation, {})[record.tunnel] = None
            if kind is SegmentAnalyzed and not self.deferred:
                self._packet(event.conversation, _segment(event.segment))
            elif kind is DatagramSeen:
                self._packet(event.conversation, _datagram(event.datagram))
            elif kind is IcmpErrorReceived and not self.deferred:
                self._packet(event.conversation, _icmp(event.record, event.sender))
            elif kind is MalformedSeen and not self.deferred:
                self._packet(event.conversation, _malformed(event.record, event.sender))
            elif kind is ConversationEnded:
                self._conversation(event.result)

    def write_finished(self, conversation) -> None:
        """A conversation analysed with every packet kept, as the events that made it."""
        index, side_of = conversation.index, conversation.side_of
        if conversation.protocol in DATAGRAMS:
            packets = [(d.record.frame, DatagramSeen(index, d)) for d in conversation.datagrams]
        else:
            packets = [(s.record.frame, SegmentAnalyzed(index, s)) for s in conversation.segments]
            packets += [(r.frame, IcmpErrorReceived(index, r, other(side_of(r)))) for r in conversation.icmp_errors]
        packets += [(r.frame, MalformedSeen(index, r, side_of(r))) for r in conversation.malformed]
        self.write([event for _, event in sorted(packets, key=lambda p: p[0])])
        self.write([ConversationEnded(index, conversation)])

    def close(self, calls: tuple[SocketCall, ...] | None = None, conversations: list = (), unix: list = ()) -> None:
        """End the document; a run adds the socket calls its program made, each with the index of
        the conversation it was made on (among conversations), and its Unix-domain exchanges."""
        # Indexes chosen out (replay --conversation) never end: whatever still waits goes now, in order.
        for index in sorted(self.ended):
            self._emit(index)
        self.out.write("\n]")
        if calls is not None:
            on = finder(conversations)
            self.out.write(', "calls": [' + ", ".join(json.dumps(_call(c, on(c))) for c in calls) + "]")
        if unix:
            self.out.write(', "unix": ' + json.dumps([{"index": e.index, "kind": e.kind, "client": e.ends[CLIENT],
                                                       "server": e.ends[SERVER],
                                                       "calls": [_call(c, None) for c in e.calls]} for e in unix]))
        self.out.write("}\n")
        self.spool.close()

    def _packet(self, conversation: int, text: str) -> None:
        pending = self.pending.setdefault(conversation, [])
        pending.append(text)
        size = self.pending_size.get(conversation, 0) + len(text)
        self.pending_size[conversation] = size
        if size > self.chunk:
            self._spill(conversation)

    def _spill(self, conversation: int) -> None:
        data = ",\n    ".join(self.pending.pop(conversation, []))
        self.pending_size.pop(conversation, None)
        if data:
            chunks = self.chunks.setdefault(conversation, [])
            chunks.append(self._spool((",\n    " if chunks else "") + data))

    def _spool(self, text: str) -> tuple[int, int]:
        data = text.encode()
        offset = self.spool.seek(0, 2)
        self.spool.write(data)
        return offset, len(data)

    def _conversation(self, conversation) -> None:
        account = align(conversation, self.kernel) if conversation.protocol == "tcp" else None
        if self.deferred and conversation.protocol == "tcp":
            dropped = account.dropped if account else {}
            packets = [(s.record.frame, _segment(s, dropped.get(s.record.frame))) for s in conversation.segments]
            packets += [(r.frame, _icmp(r, other(conversation.side_of(r)))) for r in conversation.icmp_errors]
            packets += [(r.frame, _malformed(r, conversation.side_of(r))) for r in conversation.malformed]
            for _, text in sorted(packets):
                self._packet(conversation.index, text)
        self._spill(conversation.index)
        summary = {"index": conversation.index, "protocol": conversation.protocol,
                   "client": conversation.client_text, "server": conversation.server_text,
                   "packet_count": conversation.packet_count,
                   "tunnels": list(self.tunnels.pop(conversation.index, {}))}
        tail = "\n  ]"
        if conversation.protocol == "tcp":
            summary.update(_tcp_summary(conversation))
            summary["kernel_agrees"] = account.agrees if account else None
            tail += ', "states": ' + json.dumps(_states(conversation, account))
        head = self._spool(json.dumps(summary)[:-1] + ', "packets": [\n    ')
        self.ended[conversation.index] = [head, *self.chunks.pop(conversation.index, []), self._spool(tail + "}")]
        while self.next_index in self.ended:
            self._emit(self.next_index)
            self.next_index += 1

    def _emit(self, index: int) -> None:
        self.out.write(",\n  " if self.written else "\n  ")
        for offset, length in self.ended.pop(index):  # a piece at a time: a long conversation stays on disk
            self.spool.seek(offset)
            self.out.write(self.spool.read(length).decode())
        self.written += 1


def _tcp_summary(conversation) -> dict:
    time_wait = conversation.time_wait
    return {
        "handshake": conversation.handshake,
        "teardown": conversation.teardown,
        "half_close": conversation.half_close,
        "active_closer": conversation.active_closer,
        "time_wait": Closer.BOTH if len(time_wait) == 2 else (time_wait[0] if time_wait else None),
    }


def _states(conversation, account) -> dict:
    """Each side's states: the kernel's where it has a record of that side (with when the kernel
    entered each), else inferred (at the time of the packet that implies it)."""
    states = {}
    for side, changes in conversation.states.items():
        if account and account.states[side]:
            implied = {c.frame: c.time for c in changes}   # TIME_WAIT: the table has no time, its FIN has
            states[side] = [{"frame": k.frame, "state": k.state, "source": "kernel",
                             "time": k.time if k.time is not None else implied.get(k.frame)}
                            for k in account.states[side]]
        else:
            states[side] = [{"frame": c.frame, "state": c.state.value, "source": "inferred", "time": c.time}
                            for c in changes]
    return states


def _segment(segment, dropped: str | None = None) -> str:
    r = segment.record
    ack = segment.rel_ack if segment.rel_ack is not None else "null"
    return (f'{{"frame": {r.frame}, "time": {r.time!r}, "from": "{segment.sender}", '
            f'"flags": [{_flags_json(r.flags)}], "seq": {segment.rel_seq}, "ack": {ack}, '
            f'"seq_raw": {r.seq}, "ack_raw": {r.ack}, "len": {r.payload_len}, '
            f'"window": {segment.window}, "analysis": [{_marks_json(segment.analysis)}]'
            + (f', "sack": {json.dumps([list(block) for block in segment.sack])}' if segment.sack else "")
            + (f', "dropped": {json.dumps(dropped)}' if dropped else "") + "}")


def _datagram(datagram) -> str:
    r = datagram.record
    if r.icmp:
        return _icmp(r, datagram.sender)
    return f'{{"frame": {r.frame}, "time": {r.time!r}, "from": "{datagram.sender}", "len": {r.payload_len}}}'


def _malformed(record, sender: str) -> str:
    return (f'{{"frame": {record.frame}, "time": {record.time!r}, "from": "{sender}", '
            f'"malformed": {json.dumps(record.malformed)}}}')


def _icmp(record, sender: str) -> str:
    return (f'{{"frame": {record.frame}, "time": {record.time!r}, "from": "{sender}", '
            f'"icmp": "{record.icmp}", "reporter": {json.dumps(record.reporter)}}}')


def _call(call: SocketCall, on) -> dict:
    """A call, with the index of the conversation it was on."""
    return {"side": call.side, "call": call.name, "args": call.args, "start": call.start,
            "end": call.end, "result": call.result, "error": call.error, "pid": call.pid, "tid": call.tid,
            "fd": call.fd, "conversation": on.index if on is not None else None}

