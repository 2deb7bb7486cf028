"""Replaying a stored capture: read, decode, analyse and export in one streaming pass, then draw."""

import io
import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from handshake_viz import drawings
from handshake_viz.analysis import Analyzer, ConversationEnded, analyze
from handshake_viz.diagram import Window
from handshake_viz.dissect import FrameDecoder
from handshake_viz.errors import UsageError
from handshake_viz.export import JsonExport
from handshake_viz.kernel_states import KernelRecord
from handshake_viz.outputs import Outputs
from handshake_viz.overview import summary_row
from handshake_viz.pcapfile import CaptureReader

TABLE_ROWS = 50  # conversations listed in the summary; the JSON has them all


@dataclass
class ReplayResult:
    rows: list[tuple[str, ...]] = field(default_factory=list)   # the first TABLE_ROWS conversations
    conversations: int = 0
    notes: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)   # what else the frames carried: "40 frames of ARP"
    files: list[Path] = field(default_factory=list)


def kernel_record_path(capture: Path) -> Path:
    """Where a run keeps the kernel's record beside its capture: captures/NAME.events.json."""
    return capture.with_suffix(".events.json")


def load_kernel_record(capture: Path) -> KernelRecord | None:
    path = kernel_record_path(capture)
    if not path.exists():
        return None
    try:
        return KernelRecord.from_json(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError):
        return None  # not ours, or damaged: the packets alone still tell the story


def read_conversations(capture: Path) -> list:
    """Every conversation of a (small) capture, with all its packets."""
    decoder = FrameDecoder()
    records = (decoder.decode(f.frame, f.time, f.data, f.linktype, f.wire_len) for f in CaptureReader(capture))
    return analyze(record for record in records if record is not None)


def replay(capture: Path, out_dir: Path, formats: tuple[str, ...], outputs: Outputs,
           only: int | None = None, window: Window = Window(), lang: str = "en", scale: float = 1.0) -> ReplayResult:
    """Analyse capture; write its JSON (streamed) and the diagrams of its conversations."""
    drawn = tuple(f for f in formats if f != "json")
    json_path = out_dir / f"{capture.stem}.json" if "json" in formats else None
    if json_path:
        outputs.refuse_existing([json_path])
    reader, decoder = CaptureReader(capture), FrameDecoder()
    kernel = load_kernel_record(capture)
    # Drawing, and setting the kernel's record beside the packets, need every packet; JSON alone streams.
    analyzer = Analyzer(keep=bool(drawn) or kernel is not None)
    result = ReplayResult()
    seen: set[int] = set()

    def take(events) -> list:
        chosen = events if only is None else [e for e in events if _conversation_of(e) == only]
        for event in chosen:
            if type(event) is ConversationEnded:
                result.conversations += 1
                seen.add(event.conversation.index)
                if len(result.rows) < TABLE_ROWS:
                    result.rows.append(summary_row(event.conversation))
        return chosen

    with outputs.replacing(json_path) if json_path else nullcontext() as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8") if binary else None
        export = JsonExport(text, str(capture), kernel) if text else None
        for frame in reader:
            record = decoder.decode(frame.frame, frame.time, frame.data, frame.linktype, frame.wire_len)
            if record is not None:
                events = take(analyzer.receive(record))
                if export and events:
                    export.write(events)
        events = take(analyzer.finish())
        if only is not None and only not in seen:
            raise UsageError(f"{capture} has no conversation {only}: leave out --conversation to see them all")
        if export:
            export.write(events)
            export.close()
            text.detach()
    if json_path:
        result.files.append(json_path)
    result.rows.sort(key=lambda row: int(row[0]))
    result.notes = reader.warnings + decoder.notes()
    result.held = decoder.held_text()
    if drawn:
        conversations = [c for c in analyzer.conversations if only is None or c.index == only]
        outputs.refuse_existing(drawings.planned_paths(capture.stem, conversations, out_dir, drawn))
        result.files += drawings.draw(conversations, capture.stem, out_dir, drawn, outputs, kernel=kernel,
                                      window=window, lang=lang, scale=scale)
        if len(conversations) > 1:
            result.files += drawings.draw_index(conversations, capture, out_dir, drawn, outputs)
    return result


def _conversation_of(event) -> int:
    conversation = event.conversation
    return conversation if isinstance(conversation, int) else conversation.index
