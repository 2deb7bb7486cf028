"""tshark's reading of the shared captures, and the comparison of ours with it."""

import csv
from dataclasses import dataclass
from pathlib import Path

from handshake_viz.analysis import Analyzer
from handshake_viz.dissect import FrameDecoder
from handshake_viz.pcapfile import CaptureReader

MARK_COLUMNS = {
    "retransmission": "tcp.analysis.retransmission",
    "fast_retransmission": "tcp.analysis.fast_retransmission",
    "spurious_retransmission": "tcp.analysis.spurious_retransmission",
    "duplicate_ack": "tcp.analysis.duplicate_ack",
    "out_of_order": "tcp.analysis.out_of_order",
    "lost_segment": "tcp.analysis.lost_segment",
    "zero_window": "tcp.analysis.zero_window",
    "keep_alive": "tcp.analysis.keep_alive",
}
FIELDS = ("flags", "seq", "ack", "len", "window", *MARK_COLUMNS)
_FLAG_CHARS = "CEUAPRSF"  # the last 8 characters of tshark's tcp.flags.str


@dataclass(frozen=True)
class Difference:
    frame: int
    field: str
    ours: object
    tshark: object


def tshark_rows(tsv: Path) -> dict[int, dict]:
    """The TCP rows of an oracle file (ICMP errors quoting TCP excluded), by frame number."""
    with tsv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header = rows[0]
    tcp = {}
    for values in rows[1:]:
        row = dict(zip(header, values))
        if row["tcp.srcport"] and "icmp" not in row["frame.protocols"]:
            tcp[int(row["frame.number"])] = row
    return tcp


def _tshark_values(row: dict) -> dict:
    flag_text = row["tcp.flags.str"][-8:]
    flags = sum(1 << (7 - i) for i, char in enumerate(flag_text) if char == _FLAG_CHARS[i])
    values = {"flags": flags, "seq": int(row["tcp.seq"]), "len": int(row["tcp.len"]),
              "window": int(row["tcp.window_size"]),
              "ack": int(row["tcp.ack"]) if flags & 0x10 else None}
    values.update({mark: bool(row[column]) for mark, column in MARK_COLUMNS.items()})
    return values


def our_segments(pcap: Path) -> dict:
    analyzer, decoder = Analyzer(), FrameDecoder()
    for frame in CaptureReader(pcap):
        record = decoder.decode(frame.frame, frame.time, frame.data, frame.linktype, frame.wire_len)
        if record is not None:
            analyzer.receive(record)
    return {s.record.frame: s for c in analyzer.conversations if c.protocol == "tcp" for s in c.segments}


def _our_values(segment) -> dict:
    values = {"flags": segment.record.flags & 0xFF, "seq": segment.rel_seq, "ack": segment.rel_ack,
              "len": segment.record.payload_len, "window": segment.window}
    values.update({mark: mark in segment.analysis for mark in MARK_COLUMNS})
    return values


def compare(pcap: Path, tsv: Path) -> tuple[int, list[Difference]]:
    """(TCP packets compared, the differences) for one capture."""
    theirs = tshark_rows(tsv)
    ours = our_segments(pcap)
    differences = []
    for frame, row in theirs.items():
        expected = _tshark_values(row)
        if frame not in ours:
            differences.append(Difference(frame, "missing", None, "tcp"))
            continue
        got = _our_values(ours[frame])
        differences += [Difference(frame, name, got[name], expected[name])
                        for name in FIELDS if got[name] != expected[name]]
    return len(theirs), differences
