"""Replaying a stored capture: the file read and decoded into records, analysed, and published.

Drawings and the explorer need every packet, and so does setting the kernel's record beside them:
the capture is analysed whole (or one conversation, alone) and handed to `publish`. JSON alone
streams instead, in one pass with bounded memory.

The compiled core (`replay-core/`, the `handshake-viz-core` program the install builds) does the
per-packet work when it is there: it writes the streamed JSON itself, and for drawings it reads
and decodes the capture and hands the records over (`CoreRecords`). Without it everything is done
here, in Python, which stays the reference: both ways give the same bytes.
"""

import io
import json
import os
import shutil
import struct
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from handshake_viz.core.analysis import Analyzer, ConversationEnded, analyze
from handshake_viz.errors import CaptureFileError, HandshakeVizError, OutputError, UsageError
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.output.formats import FORMATS, whole
from handshake_viz.output.json_export import JsonExport
from handshake_viz.output.publish import Request, Subject, publish
from handshake_viz.views.overview import summary_row
from handshake_viz.wire.dissect import FrameDecoder
from handshake_viz.wire.pcapfile import CaptureReader, RawFrame, open_capture
from handshake_viz.wire.records import PacketRecord, TcpOptions

TABLE_ROWS = 50  # conversations listed in the summary; the JSON has them all
CORE = "handshake-viz-core"
CORE_SETTING = "HANDSHAKE_VIZ_CORE"   # "python": the Python path; a path: that core program


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


class CoreRecords:
    """The packet records of a capture (or of its conversation `only`) as the core decoded them,
    and (with frames) the frames they came in, for the explorer's header views. A conversation's
    packets analysed alone are the conversation analysed among all (each conversation's analysis
    reads its own packets only): nothing else of the capture is read, decoded or kept in Python."""

    def __init__(self, core: str, capture: Path, only: int | None, frames: bool = False):
        chosen = "all" if only is None else str(only)
        arguments = ["--frames-of", chosen, str(capture), *(["--with-frames"] if frames else [])]
        with open_capture(capture) as source:
            data, summary = _run_core(core, capture, arguments, source, subprocess.PIPE)
        self.records, self.frames = _handed_over(data)
        self._notes, self._held = summary["notes"], summary["held"]

    def __iter__(self):
        return iter(self.records)

    def notes(self) -> list[str]:
        return self._notes

    def held(self) -> list[str]:
        return self._held


# What the core hands over, in columns (replay-core/src/handover.rs).
_HEAD = struct.Struct("<4sIIIIII")
_RECORD = struct.Struct("<QdHHBBIIHqIIIIi")
_FRAME = struct.Struct("<QdIIIQ")
_PROTOCOLS = ("tcp", "udp", "igmp", "mld")
_NO_EXTRAS = (None, None, None, None, None)


def _handed_over(data: bytes) -> tuple[list[PacketRecord], list[RawFrame]]:
    _, count, frame_count, texts_size, extras_size, payloads_size, _ = _HEAD.unpack_from(data)
    at = _HEAD.size
    fixed = data[at:at + count * _RECORD.size]
    at += len(fixed)
    texts = json.loads(data[at:at + texts_size])
    at += texts_size
    extras = [(TcpOptions(options[0], options[1], options[2], tuple(options[3]) if options[3] else None,
                          tuple(map(tuple, options[4]))) if options else None, *words)
              for options, *words in json.loads(data[at:at + extras_size])]
    at += extras_size
    payloads = data[at:at + payloads_size]
    at += payloads_size
    records = []
    for (frame, time, sport, dport, protocol, flags, seq, ack, window, payload_len, src, dst, start, kept,
         extra) in _RECORD.iter_unpack(fixed):
        options, icmp, reporter, tunnel, malformed = extras[extra] if extra >= 0 else _NO_EXTRAS
        records.append(PacketRecord(frame, time, texts[src], texts[dst], sport, dport, _PROTOCOLS[protocol], flags,
                                    seq, ack, window, options, payload_len, payloads[start:start + kept], icmp,
                                    reporter, tunnel, malformed))
    table = data[at:at + frame_count * _FRAME.size]
    at += len(table)
    frames = [RawFrame(frame, time, linktype, data[at + start:at + start + length], wire_len)
              for frame, time, linktype, wire_len, length, start in _FRAME.iter_unpack(table)]
    return records, frames


def replay(capture: Path, request: Request, only: int | None = None) -> ReplayResult:
    """Analyse capture; write its JSON and the diagrams of its conversations (or only conversation `only`)."""
    records, (kernel, unused) = CaptureRecords(capture), load_kernel_record(capture)
    result = ReplayResult()
    core = replay_core() if _core_can_name(capture) else None
    if whole(request.formats) or kernel is not None:
        frames = None
        if core:
            records = CoreRecords(core, capture, only, frames="html" in request.formats)
            frames = {f.frame: (f.data, f.linktype) for f in records.frames}
            conversations = analyze(records)
            for conversation in conversations if only is not None else ():   # the only one, numbered as among all
                conversation.index = only
        else:
            conversations = [c for c in analyze(records) if only is None or c.index == only]
        _check(capture, only, len(conversations))
        subject = Subject(capture.stem, conversations, kernel=kernel, source=str(capture), frames=frames)
        result.files = publish(request, subject)
        result.conversations, result.unix = len(conversations), len(subject.unix)
        result.rows = [summary_row(c) for c in conversations[:TABLE_ROWS]]
        result.notes, result.held = records.notes(), records.held()
    elif core:
        result.files = [_core_json(core, capture, request, only, result)]
    else:
        result.files = [_stream_json(capture, records, request, only, result)]
    result.rows.sort(key=lambda row: int(row[0]))
    result.notes += [unused] if unused else []
    return result


def replay_core() -> str | None:
    """The compiled core's program: the one HANDSHAKE_VIZ_CORE names, else the one installed
    beside this package's command; None for the Python path."""
    setting = os.environ.get(CORE_SETTING)
    if setting == "python":
        return None
    if setting:
        if not os.access(setting, os.X_OK):
            raise UsageError(f"{CORE_SETTING}={setting} is not a program: unset it, or set it to python")
        return setting
    return shutil.which(CORE, path=sysconfig.get_path("scripts"))


def _core_can_name(capture: Path) -> bool:
    """The core takes names as UTF-8; a name that is not (undecodable bytes) goes the Python way."""
    try:
        str(capture).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _core_json(core: str, capture: Path, request: Request, only: int | None, result: ReplayResult) -> Path:
    """The JSON alone, written by the compiled core."""
    path = request.out_dir / FORMATS["json"].file_name(capture.stem)
    request.outputs.refuse_existing([path])
    with open_capture(capture) as source, request.outputs.replacing(path) as binary:
        arguments = [str(capture), str(path), *([str(only)] if only is not None else [])]
        _, summary = _run_core(core, capture, arguments, source, binary)
        result.conversations = summary["conversations"]
        _check(capture, only, result.conversations)
    result.rows = [tuple(row) for row in summary["rows"]]
    result.notes, result.held = summary["notes"], summary["held"]
    return path


def _run_core(core: str, capture: Path, arguments: list[str], source, out) -> tuple[bytes | None, dict]:
    """What the core wrote to out (when a pipe), and the JSON line it ends with on its standard
    error (its table, notes and what else the frames held); its errors as ours."""
    done = subprocess.run([core, *arguments], stdin=source, stdout=out, stderr=subprocess.PIPE)
    said = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == CaptureFileError.exit_code:
        raise CaptureFileError(said)
    if done.returncode == OutputError.exit_code:
        raise OutputError(said)
    try:
        if done.returncode != 0:
            raise ValueError(said.splitlines()[-1] if said else f"exit status {done.returncode}")
        return done.stdout, json.loads(said)
    except ValueError as error:
        raise HandshakeVizError(f"{CORE} failed on {capture} ({error}): please report it; "
                                f"{CORE_SETTING}=python replays it without the core") from None


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
    result.notes, result.held = records.notes(), records.held()
    return path
