"""What the HTML explorer shows, as plain data: the index of a capture's conversations, each
conversation's ladder (the same `Diagram` every other format draws, folds and all), every packet's
details and header fields, and the time-sequence graph's points. Pure: the page's script only
lays this out; it analyses nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from handshake_viz.core.analysis import CLIENT, DATA, SERVER, Conversation, Segment, UdpConversation, other
from handshake_viz.core.marks import KEEP_ALIVE, RETRANSMISSION, ZERO_WINDOW_PROBE, AnalysisMark
from handshake_viz.kernel.ties import UnixExchange
from handshake_viz.kernel.view import KernelView
from handshake_viz.views.header import Header, headers
from handshake_viz.views.overview import summary_row
from handshake_viz.views.timeline import ArrowKind, Diagram, Row, sent_again
from handshake_viz.views.words import Words
from handshake_viz.wire.dissect import tcp_options
from handshake_viz.wire.records import (
    DATAGRAMS,
    PORTLESS,
    SYN,
    PacketRecord,
    TcpOptions,
    endpoint_text,
    flag_names,
    preview_text,
)

RESENT = frozenset({RETRANSMISSION, AnalysisMark.FAST_RETRANSMISSION, AnalysisMark.SPURIOUS_RETRANSMISSION})
SHOWN_EMPTY = frozenset({ZERO_WINDOW_PROBE, KEEP_ALIVE})


@dataclass(frozen=True)
class Explored:
    """One conversation as the page shows it: its analysis, its drawn ladder, the kernel's account."""

    conversation: Conversation | UdpConversation | UnixExchange
    diagram: Diagram
    kernel: KernelView | None = None


class Layouts:
    """Header field layouts (each layer's names and widths), each kept once: a capture's packets
    share a few, and each packet then carries only its values."""

    def __init__(self):
        self.known: dict[tuple, int] = {}

    def number(self, layout: tuple) -> int:
        return self.known.setdefault(layout, len(self.known))

    def data(self) -> list:
        return [[[name, [list(field) for field in fields]] for name, fields in layout] for layout in self.known]


def page(title: str, explored: list[Explored], frames: dict[int, tuple[bytes, int]], lang: str) -> dict:
    """The page's data. frames: frame number -> (its bytes, its link type), for the header view;
    a frame missing from it has no header view."""
    say, layouts = Words(lang), Layouts()
    return {
        "lang": lang, "title": title, "words": say.page_words(),
        "index": [_index_row(e) for e in explored],
        "conversations": [_conversation(e, frames, layouts, say) for e in explored],
        "layouts": layouts.data(),
    }


def _index_row(explored: Explored) -> dict:
    conversation = explored.conversation
    if isinstance(conversation, UnixExchange):   # no packets: only the two sockets' calls
        calls = conversation.calls
        return {"index": f"unix {conversation.index}", "protocol": conversation.kind, "client": conversation.ends[CLIENT],
                "server": conversation.ends[SERVER], "packets": 0, "bytes": 0, "opened": "-", "closed": "-", "marks": 0,
                "duration": max(c.end for c in calls) - min(c.start for c in calls)}
    number, protocol, client, server, packets, opened, closed = summary_row(conversation)
    records = _records(conversation)
    marked = sum(1 for s in getattr(conversation, "segments", ()) if s.analysis)
    times = [r.time for r in records]
    return {"index": int(number), "protocol": protocol, "client": client, "server": server, "packets": int(packets),
            "bytes": sum(r.payload_len for r in records), "opened": str(opened), "closed": str(closed), "marks": marked,
            "duration": max(times, default=0.0) - min(times, default=0.0)}


def _records(conversation) -> list[PacketRecord]:
    if conversation.protocol in DATAGRAMS:
        return [d.record for d in conversation.datagrams]
    return [s.record for s in conversation.segments]


def _conversation(explored: Explored, frames: dict, layouts: Layouts, say: Words) -> dict:
    conversation, diagram = explored.conversation, explored.diagram
    unix = isinstance(conversation, UnixExchange)
    data_phase = _data_phase(conversation)
    return {
        "protocol": conversation.kind if unix else conversation.protocol, "title": diagram.title,
        "lanes": [{"key": lane.key, "title": lane.title, "subtitle": lane.subtitle} for lane in diagram.lanes],
        "legend": list(diagram.legend),
        "rows": [_row(row, data_phase) for row in diagram.rows],
        "brackets": [[b.label, b.first_row, b.last_row] for b in diagram.brackets],
        "spans": [[s.lane, s.first_row, s.label] for s in diagram.spans],
        "packets": {} if unix else _packets(conversation, diagram.start, frames, layouts, say),
        "graph": _graph(conversation, explored.kernel, diagram.start) if isinstance(conversation, Conversation) else None,
    }


def _packets(conversation, start: float, frames: dict, layouts: Layouts, say: Words) -> dict[str, dict]:
    """Each packet's details by its frame number."""
    if conversation.protocol in DATAGRAMS:
        packets = [_details(d.record, d.sender, start, _layers(d.record, frames), layouts) for d in conversation.datagrams]
    else:
        packets = [_segment_details(s, start, frames, layouts, say) for s in conversation.segments]
        packets += [_details(r, other(conversation.side_of(r)), start, _layers(r, frames), layouts)
                    for r in conversation.icmp_errors]
    packets += [_details(r, conversation.side_of(r), start, _layers(r, frames), layouts) for r in conversation.malformed]
    return {str(p["frame"]): p for p in packets}


def _data_phase(conversation) -> frozenset[int]:
    """The frames of the data phase: an ACK among them is one the "bare ACKs" toggle hides."""
    return frozenset(s.record.frame for s in conversation.segments if s.phase == DATA) \
        if isinstance(conversation, Conversation) else frozenset()


def _row(row: Row, data_phase: frozenset[int]) -> dict:
    data: dict = {"t": row.time, "f": row.frame, "m": [[m.lane, m.text, m.kind.value] for m in row.marks]}
    if row.arrow is not None:
        a = row.arrow
        data["a"] = {"from": a.source, "to": a.target, "label": list(a.label), "absolute": list(a.absolute),
                     "kind": a.kind.value, "dropped": a.dropped, "sent": a.sent_row}
        data["bare"] = a.kind == ArrowKind.ACK and row.frame in data_phase
    if row.fold is not None:
        data["fold"] = row.fold
        data["folded"] = [_row(r, data_phase) for r in row.folded]
        data["frames"] = [r.frame for r in row.folded]
    return data


def _details(record: PacketRecord, sender: str, start: float, layers: list[Header], layouts: Layouts) -> dict:
    """What every packet shows: where it is, who sent it, its payload and its header fields."""
    kept = len(record.payload)
    ends = ((record.src, record.dst) if record.protocol in PORTLESS
            else (endpoint_text(record.src, record.sport), endpoint_text(record.dst, record.dport)))
    data = {"frame": record.frame, "at": _utc(record.time),
            "since": record.time - start, "sender": sender, "protocol": record.protocol, "src": ends[0], "dst": ends[1],
            "length": record.payload_len,
            "payload": {"hex": record.payload.hex(), "text": preview_text(record.payload, kept, kept), "kept": kept}}
    for name in ("icmp", "reporter", "tunnel", "malformed"):
        if getattr(record, name):
            data[name] = getattr(record, name)
    if layers:   # [layout number, [each field's value and its bytes in hex]], as the `header` command draws them
        layout = tuple((layer.name, tuple((f.name, f.bits) for f in layer.fields)) for layer in layers)
        data["header"] = [layouts.number(layout), [[f.value, f.raw.hex() if f.raw is not None else None]
                                                   for layer in layers for f in layer.fields]]
    return data


def _utc(time: float) -> str:
    """The capture's time of a packet as a UTC date, to the microsecond; a time no calendar date can
    hold (a corrupt or crafted capture's) as the seconds it says."""
    try:
        return datetime.fromtimestamp(time, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    except (ValueError, OverflowError, OSError):
        return f"{time:.6f} s since 1970"


def _layers(record: PacketRecord, frames: dict) -> list[Header]:
    return headers(*frames[record.frame]) if record.frame in frames else []


def _segment_details(segment: Segment, start: float, frames: dict, layouts: Layouts, say: Words) -> dict:
    record = segment.record
    layers = _layers(record, frames)
    data = _details(record, segment.sender, start, layers, layouts)
    data |= {
        "flags": list(flag_names(record.flags)), "phase": segment.phase.value,
        "seq": [record.seq, segment.rel_seq],
        "ack": [record.ack, segment.rel_ack] if segment.rel_ack is not None else None,
        # the window as sent, and as the analysis scaled it (a SYN's is never scaled)
        "window": [record.window, segment.window],
        "marks": [[mark, say.mark(mark)] for mark in sorted(segment.analysis)],
        "said": ([sent_again(segment, say)] if segment.resent_from is not None else [])
        + ([say("acked_by", frame=segment.acked_by)] if segment.acked_by is not None else []),
    }
    options = record.options or _options(layers)
    if options is not None:
        sack = [[left, right, rel_left, rel_right]
                for (left, right), (rel_left, rel_right) in zip(options.sack_blocks, segment.sack)]
        data["options"] = {"mss": options.mss, "wscale": options.window_scale, "sack_permitted": options.sack_permitted,
                           "timestamps": list(options.timestamps) if options.timestamps else None, "sack": sack}
    return data


def _options(layers: list[Header]) -> TcpOptions | None:
    """The options in a TCP header's field of that name, which the decoding read only where the
    analysis needed them."""
    raw = [f.raw for layer in layers if layer.name == "TCP header" for f in layer.fields if f.name == "Options"]
    return tcp_options(raw[0]) if raw and raw[0] else None


def _graph(conversation: Conversation, kernel: KernelView | None, start: float) -> dict:
    """The time-sequence graph of each direction (tcptrace's): its segments as bars from their
    first to their last relative sequence number (a SYN or a FIN counts one), and the peer's ACKs,
    windows and SACK blocks in the same numbers; with the kernel's record, the sender's congestion
    window, slow-start threshold and smoothed RTT as tcp_probe saw them."""
    directions = {}
    for side, peer in ((CLIENT, SERVER), (SERVER, CLIENT)):
        # a bare ACK uses no sequence numbers; Linux's zero-window probe and keep-alive use none either
        # (one below what was acknowledged, empty) but are drawn, as marks where their bytes would be
        sent = [s for s in conversation.segments if s.sender == side and (s.seq_space or s.analysis & SHOWN_EMPTY)]
        answers = [s for s in conversation.segments if s.sender == peer and s.rel_ack is not None]
        directions[side] = {
            "segments": [[s.record.time - start, s.rel_seq, s.rel_seq + s.seq_space, s.record.frame, _bar(s)]
                         for s in sent],
            "acks": [[s.record.time - start, s.rel_ack, s.window, s.record.frame] for s in answers],
            "sacks": [[s.record.time - start, left, right, s.record.frame] for s in answers for left, right in s.sack],
            "probes": [[p.time - start, p.cwnd, p.ssthresh, p.srtt * 1000]
                       for p in (kernel.probes.get(side, []) if kernel else [])],
            "traced": kernel is not None,   # no probes with a kernel record: the side received nothing while ESTABLISHED
        }
    return directions


def _bar(segment: Segment) -> str:
    """How a segment's bar is drawn: a copy sent again, a zero-window probe, a SYN or FIN, or data."""
    if segment.resent_from is not None or segment.analysis & RESENT:
        return "resent"
    if ZERO_WINDOW_PROBE in segment.analysis:
        return "probe"
    if segment.record.flags & SYN or segment.seq_space > segment.record.payload_len:
        return "control"
    return "data"
