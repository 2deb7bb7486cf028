"""Replaying a stored capture: the file read and decoded into records, analysed, and published.

Drawings and the explorer need every packet, and so does setting the kernel's record beside them:
the capture is analysed whole and handed to `publish`. JSON alone streams instead, in one pass with
bounded memory.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from handshake_viz.core.analysis import Analyzer, ConversationEnded, analyze
from handshake_viz.errors import UsageError
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.output.formats import FORMATS, whole
from handshake_viz.output.json_export import JsonExport
from handshake_viz.output.publish import Request, Subject, publish
from handshake_viz.views.overview import summary_row
from handshake_viz.wire.dissect import FrameDecoder
from handshake_viz.wire.pcapfile import CaptureReader

TABLE_ROWS = 50  # conversations listed in the summary; the JSON has them all


@dataclass
class ReplayResult:
    rows: list[tuple[str, ...]] = field(default_factory=list)   # the first TABLE_ROWS conversations
    conversations: int = 0
    unix: int = 0          # Unix-domain exchanges in the kernel's record beside the capture
    notes: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)   # what else the frames carried: "40 frames of ARP"
    files: list[Path] = field(default_factory=list)


class CaptureRecords:
    """The packet records of a capture file, in order; then what the reading and decoding noticed."""

    def __init__(self, capture: Path):
        self.reader, self.decoder = CaptureReader(capture), FrameDecoder()

    def __iter__(self):
        decode = self.decoder.decode
        for frame in self.reader:
            record = decode(frame.frame, frame.time, frame.data, frame.linktype, frame.wire_len)
            if record is not None:
                yield record

    def notes(self) -> list[str]:
        return self.reader.warnings + self.decoder.notes()

    def held(self) -> list[str]:
        """What else the frames carried: "40 frames of ARP"."""
        return self.decoder.held_text()


def kernel_record_path(capture: Path) -> Path:
    """Where a run keeps the kernel's record beside its capture: captures/NAME.events.json."""
    return capture.with_suffix(".events.json")


def load_kernel_record(capture: Path) -> tuple[KernelRecord | None, str | None]:
    """The kernel's record a run kept beside capture, if there is one; else why it was not used
    (the packets alone still tell the story)."""
    path = kernel_record_path(capture)
    if not path.exists():
        return None, None
    try:
        return KernelRecord.from_json(json.loads(path.read_text(encoding="utf-8"))), None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        return None, f"{path} is not a kernel record this tool can use ({error}): states are inferred from the packets"


def read_conversations(capture: Path) -> list:
    """Every conversation of a (small) capture, with all its packets."""
    return analyze(CaptureRecords(capture))


def replay(capture: Path, request: Request, only: int | None = None) -> ReplayResult:
    """Analyse capture; write its JSON and the diagrams of its conversations (or only conversation `only`)."""
    records, (kernel, unused) = CaptureRecords(capture), load_kernel_record(capture)
    result = ReplayResult()
    if whole(request.formats) or kernel is not None:
        conversations = [c for c in analyze(records) if only is None or c.index == only]
        _check(capture, only, len(conversations))
        subject = Subject(capture.stem, conversations, kernel=kernel, source=str(capture))
        result.files = publish(request, subject)
        result.conversations, result.unix = len(conversations), len(subject.unix)
        result.rows = [summary_row(c) for c in conversations[:TABLE_ROWS]]
    else:
        result.files = [_stream_json(capture, records, request, only, result)]
    result.rows.sort(key=lambda row: int(row[0]))
    result.notes, result.held = records.notes() + ([unused] if unused else []), records.held()
    return result


def _check(capture: Path, only: int | None, found: int) -> None:
    if only is not None and not found:
        raise UsageError(f"{capture} has no conversation {only}: leave out --conversation to see them all")


def _stream_json(capture: Path, records: CaptureRecords, request: Request, only: int | None,
                 result: ReplayResult) -> Path:
    """The JSON alone, in one pass: each conversation is dropped once it can get no more packets,
    and only the table's first rows are kept of it."""
    path = request.out_dir / FORMATS["json"].file_name(capture.stem)
    request.outputs.refuse_existing([path])
    analyzer = Analyzer(keep=False)
    with request.outputs.replacing(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8")
        export = JsonExport(text, str(capture))

        def take(events) -> None:
            chosen = events if only is None else [e for e in events if e.conversation == only]
            for event in chosen:
                if type(event) is ConversationEnded:
                    result.conversations += 1
                    if len(result.rows) < TABLE_ROWS:
                        result.rows.append(summary_row(event.result))
            export.write(chosen)

        for record in records:
            take(analyzer.receive(record))
        take(analyzer.finish())
        _check(capture, only, result.conversations)
        export.close()
        text.detach()
    return path
