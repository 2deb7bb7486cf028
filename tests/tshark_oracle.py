"""tshark's reading of the shared captures (../shared/pcaps/oracle), and ours beside it."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from handshake_viz.replay import read_conversations

MARK_COLUMNS = {
    "retransmission": "tcp.analysis.retransmission",
    "fast_retransmission": "tcp.analysis.fast_retransmission",
    "spurious_retransmission": "tcp.analysis.spurious_retransmission",
    "duplicate_ack": "tcp.analysis.duplicate_ack",
    "out_of_order": "tcp.analysis.out_of_order",
    "lost_segment": "tcp.analysis.lost_segment",
    "zero_window": "tcp.analysis.zero_window",
    "keep_alive": "tcp.analysis.keep_alive",
    "keep_alive_ack": "tcp.analysis.keep_alive_ack",
    "window_update": "tcp.analysis.window_update",
    "zero_window_probe": "tcp.analysis.zero_window_probe",
    "zero_window_probe_ack": "tcp.analysis.zero_window_probe_ack",
}
TCP_FIELDS = ("flags", "seq", "ack", "seq_raw", "ack_raw", "len", "window", *MARK_COLUMNS)
_FLAG_CHARS = "CEUAPRSF"  # the last 8 characters of tshark's tcp.flags.str


@dataclass(frozen=True)
class Difference:
    frame: int
    field: str
    ours: object
    tshark: object


def readable_captures(pcaps: Path) -> list[Path]:
    return sorted(pcaps / "public" / tsv.name[:-4] for tsv in (pcaps / "oracle").glob("*.tsv"))


def innermost(value: str) -> int:
    """tshark prints every occurrence of a field ("56,20" for UDP in a UDP tunnel): the last is
    the innermost, the packet handshake-viz draws."""
    return int(value.split(",")[-1])


def tshark_rows(tsv: Path) -> list[dict]:
    with tsv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [dict(zip(rows[0], values)) for values in rows[1:]]


def _tcp_values(row: dict) -> dict:
    flag_text = row["tcp.flags.str"][-8:]
    flags = sum(1 << (7 - i) for i, char in enumerate(flag_text) if char == _FLAG_CHARS[i])
    values = {"flags": flags, "seq": int(row["tcp.seq"]), "len": int(row["tcp.len"]),
              "window": int(row["tcp.window_size"]),
              "ack": int(row["tcp.ack"]) if flags & 0x10 else None, "seq_raw": int(row["tcp.seq_raw"]),
              "ack_raw": int(row["tcp.ack_raw"]) if flags & 0x10 else None}
    values.update({mark: bool(row[column]) for mark, column in MARK_COLUMNS.items() if column in row})
    return values


def _segment_values(segment) -> dict:
    record = segment.record
    values = {"flags": record.flags & 0xFF, "seq": segment.rel_seq, "ack": segment.rel_ack, "seq_raw": record.seq,
              "ack_raw": record.ack if record.flags & 0x10 else None, "len": record.payload_len,
              "window": segment.window}
    values.update({mark: mark in segment.analysis for mark in MARK_COLUMNS})
    return values


def compare(pcap: Path, tsv: Path) -> tuple[int, list[Difference]]:
    """(packets compared, differences): every TCP segment field by field, every UDP datagram's
    length, every ICMP error's conversation, and the grouping of TCP and UDP frames into conversations."""
    comparison = _Comparison(read_conversations(pcap))
    compared = 0
    for row in tshark_rows(tsv):
        compared += 1
        comparison.row(int(row["frame.number"]), row)
    return compared, comparison.differences + _grouping(comparison.streams, comparison.ours_by_stream)


def _tcp_by_frame(conversations: list) -> tuple[dict, dict]:
    tcp = [c for c in conversations if c.protocol == "tcp"]
    return ({s.record.frame: (c.index, s) for c in tcp for s in c.segments},
            {r.frame: (c, r) for c in tcp for r in c.icmp_errors})


def _udp_by_frame(conversations: list) -> tuple[dict, dict]:
    udp = [c for c in conversations if c.protocol == "udp"]
    return ({d.record.frame: (c, d) for c in udp for d in c.datagrams},
            {d.record.frame: (c, d.record) for c in udp for d in c.datagrams if d.record.icmp})


class _Comparison:
    """Our reading of one capture, compared with tshark's a row at a time."""

    def __init__(self, conversations: list):
        self.segments, tcp_icmp = _tcp_by_frame(conversations)
        self.datagrams, udp_icmp = _udp_by_frame(conversations)
        self.icmp = {**tcp_icmp, **udp_icmp}
        self.malformed = {r.frame: c.index for c in conversations for r in c.malformed}
        self.times = {r.frame: r.time for r in ([s.record for _, s in self.segments.values()] +
                                                [d.record for _, d in self.datagrams.values()])}
        self.differences: list[Difference] = []
        self.streams: dict[tuple, set] = defaultdict(set)          # tshark's stream -> its frames
        self.ours_by_stream: dict[tuple, set] = defaultdict(set)   # tshark's stream -> our conversations

    def row(self, frame: int, row: dict) -> None:
        if frame in self.times and abs(self.times[frame] - float(row["frame.time_epoch"])) > 1e-6:
            self.differences.append(Difference(frame, "time", self.times[frame], row["frame.time_epoch"]))
        protocols = row["frame.protocols"]
        if ":icmp:ip:" in protocols or ":icmpv6:ipv6:" in protocols:  # an error quoting a header
            self._icmp(frame, row)
        elif not (row["tcp.srcport"] or row["udp.srcport"]):
            return   # ICMP that quotes no TCP or UDP header (an echo, neighbour discovery): not drawn
        elif row["tcp.srcport"] and not (row["tcp.len"] and row["tcp.window_size"]):   # tshark stopped on the header
            self._malformed_tcp(frame, row)
        elif row["tcp.srcport"]:
            self._tcp(frame, row)
        else:
            self._udp(frame, row)

    def _in_stream(self, protocol: str, stream: str, frame: int, index: int) -> None:
        self.streams[protocol, stream].add(frame)
        self.ours_by_stream[protocol, stream].add(index)

    def _icmp(self, frame: int, row: dict) -> None:
        ports = {innermost(row[c]) for c in ("tcp.srcport", "udp.srcport", "tcp.dstport", "udp.dstport") if row[c]}
        if frame not in self.icmp:
            self.differences.append(Difference(frame, "missing", None, "icmp error"))
        elif {self.icmp[frame][1].sport, self.icmp[frame][1].dport} != ports:
            self.differences.append(Difference(frame, "icmp ports", self.icmp[frame][1], ports))

    def _malformed_tcp(self, frame: int, row: dict) -> None:
        if row["tcp.stream"] and frame not in self.malformed:
            self.differences.append(Difference(frame, "malformed", None, "tshark stopped on its TCP header"))
        elif row["tcp.stream"]:
            self._in_stream("tcp", row["tcp.stream"], frame, self.malformed[frame])

    def _tcp(self, frame: int, row: dict) -> None:
        if frame not in self.segments:
            self.differences.append(Difference(frame, "missing", None, "tcp"))
            return
        index, segment = self.segments[frame]
        self._in_stream("tcp", row["tcp.stream"], frame, index)
        got, expected = _segment_values(segment), _tcp_values(row)
        self.differences += [Difference(frame, name, got[name], expected[name])   # the marks this oracle has
                             for name in TCP_FIELDS if name in expected and got[name] != expected[name]]

    def _udp(self, frame: int, row: dict) -> None:
        length = innermost(row["udp.length"])
        if length < 8:   # tshark: "Bad length value", malformed
            if frame not in self.malformed:
                self.differences.append(Difference(frame, "malformed", None, "tshark found its UDP length bogus"))
        elif frame not in self.datagrams:
            self.differences.append(Difference(frame, "missing", None, "udp"))
        else:
            conversation, datagram = self.datagrams[frame]
            self._in_stream("udp", innermost(row["udp.stream"]), frame, conversation.index)
            if datagram.record.payload_len != length - 8:
                self.differences.append(Difference(frame, "udp len", datagram.record.payload_len, length - 8))


def _grouping(streams: dict, ours_by_stream: dict) -> list[Difference]:
    """Where a tshark stream is not one of our conversations, or one of ours is two of tshark's
    (at the first frame of the later stream)."""
    differences, first_stream = [], {}
    for key in sorted(ours_by_stream, key=lambda key: min(streams[key])):
        protocol, stream = key
        indexes, frame = ours_by_stream[key], min(streams[key])
        if len(indexes) != 1:
            differences.append(Difference(frame, f"{protocol}.stream", sorted(indexes), stream))
        for index in indexes:
            earlier = first_stream.setdefault((protocol, index), stream)
            if earlier != stream:
                differences.append(Difference(frame, f"{protocol}.stream", f"conversation {index}",
                                              f"stream {stream}, not {earlier}"))
    return differences
