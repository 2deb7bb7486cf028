"""From analysed conversations (or a chart) to files: the one route every command takes.

`publish(request, subject)` plans every file first (refusing, before any work, to replace one
without --force), then writes the capture's JSON, each drawing in each format of the table in
`formats`, and the index of a capture of several conversations. `timelines` is the one rule by
which a conversation gets its socket calls and the kernel's record; the notebook uses it too.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path

from handshake_viz.core.analysis import Conversation, UdpConversation
from handshake_viz.core.attribution import calls_by_conversation
from handshake_viz.errors import CaptureFileError
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.kernel.ties import UnixExchange, socket_calls, unix_exchanges
from handshake_viz.kernel.view import align
from handshake_viz.output.files import Outputs
from handshake_viz.output.formats import FORMATS, Drawing, whole
from handshake_viz.output.json_export import JsonExport
from handshake_viz.render.html import to_html
from handshake_viz.render.overview import overview_dot
from handshake_viz.views import overview
from handshake_viz.views.explorer import Explored, page
from handshake_viz.views.report import report, unix_report
from handshake_viz.views.timeline import Window, timeline, unix_timeline
from handshake_viz.wire.pcapfile import CaptureReader
from handshake_viz.wire.records import SocketCall


@dataclass(frozen=True)
class Request:
    """What the user asked for: where, in which formats, how drawn."""

    out_dir: Path
    formats: tuple[str, ...]
    outputs: Outputs
    window: Window = Window()
    lang: str = "en"
    scale: float = 1.0


@dataclass
class Subject:
    """What to publish: a capture's conversations (with what a run knows besides the packets),
    or one picture that has no timeline (the state chart, a packet's header)."""

    stem: str
    conversations: list = field(default_factory=list)
    calls: tuple[SocketCall, ...] | None = None   # a run's; None: the kernel record's, if it traced any
    kernel: KernelRecord | None = None
    title: str | None = None
    source: str = ""                      # the capture the JSON names
    frames: dict | None = None            # frame -> (bytes, link type), when already read: else read from source
    picture: Drawing | None = None

    unix: list[UnixExchange] = field(default_factory=list)   # the kernel record's Unix-domain exchanges

    def __post_init__(self):
        if self.calls is None and self.kernel is not None and self.kernel.calls:
            self.calls = socket_calls(self.kernel, self.conversations)
        if self.kernel is not None and not self.unix:
            self.unix = unix_exchanges(self.kernel)

    def unix_stem(self, exchange: UnixExchange) -> str:
        return self.stem if not self.conversations and len(self.unix) == 1 else f"{self.stem}-unix{exchange.index}"


def stem_of(stem: str, conversation: Conversation | UdpConversation, count: int) -> str:
    return stem if count == 1 else f"{stem}-conv{conversation.index}"


def timelines(subject: Subject, window: Window = Window(), lang: str = "en", explored: bool = False) -> list[Drawing]:
    """Each conversation's timeline, with the socket calls made on it (see attribution) and, for
    TCP, the kernel's record set beside its packets (explored: with what the explorer page needs)."""
    drawings = []
    conversations = subject.conversations
    drawn = calls_by_conversation(subject.calls or (), conversations)
    for conversation in conversations:
        own = drawn[conversation.index]
        account = align(conversation, subject.kernel) if conversation.protocol == "tcp" else None
        diagram = timeline(conversation, own, subject.title, account, window, lang,
                           subject.kernel.calls_lost if subject.kernel else 0, explored)
        title = diagram.title.replace("\n", " ")
        drawings.append(Drawing(stem_of(subject.stem, conversation, len(conversations)), diagram,
                                report=lambda picture, c=conversation, t=title, own=own:
                                report(c, picture, t, own, lang), source=conversation, kernel=account))
    lost = subject.kernel.calls_lost if subject.kernel else 0
    for exchange in subject.unix:
        alone = not conversations and len(subject.unix) == 1   # a scenario's run of one exchange: its title
        diagram = unix_timeline(exchange, subject.title if alone else None, lang, lost)
        drawings.append(Drawing(subject.unix_stem(exchange), diagram,
                                report=lambda picture, e=exchange, t=diagram.title: unix_report(e, picture, t, lang),
                                source=exchange))
    return drawings


def planned(request: Request, subject: Subject) -> list[Path]:
    """The files publish will write (a PNG cut in pages aside): refused before any work."""
    stems = [subject.picture.stem] if subject.picture else [
        stem_of(subject.stem, c, len(subject.conversations)) for c in subject.conversations] + [
        subject.unix_stem(e) for e in subject.unix]
    paths = [request.out_dir / FORMATS[fmt].file_name(stem) for fmt in request.formats
             for stem in (stems if FORMATS[fmt].write else [subject.stem])]
    if _indexed(request, subject):
        paths += [request.out_dir / f"{subject.stem}-overview.{fmt}" for fmt in _overview_formats(request)]
        paths.append(request.out_dir / f"{subject.stem}-index.md")
    return paths


def publish(request: Request, subject: Subject) -> list[Path]:
    request.outputs.refuse_existing(planned(request, subject))
    json_file = [_json(request, subject)] if "json" in request.formats else []   # written first: kept if a drawing fails
    drawings = ([subject.picture] if subject.picture else
                timelines(subject, request.window, request.lang, "html" in request.formats) if whole(request.formats)
                else [])
    written = [request.outputs.write_bytes(request.out_dir / name, data)
               for drawing in drawings for fmt in request.formats if FORMATS[fmt].write
               for name, data in FORMATS[fmt].write(drawing, request.scale, request.formats)]
    if _indexed(request, subject):
        written += _index(request, subject)
    if "html" in request.formats:
        written.append(_explorer(request, subject, drawings))
    return written + json_file   # listed as before: the drawings, then the JSON


def _indexed(request: Request, subject: Subject) -> bool:
    """A capture of several conversations, drawn, gets an index page and an overview picture."""
    return subject.picture is None and len(subject.conversations) > 1 and any(
        FORMATS[fmt].write for fmt in request.formats)


def _overview_formats(request: Request) -> list[str]:
    return [f for f in request.formats if f in ("svg", "png")] or ["svg"]


def _index(request: Request, subject: Subject) -> list[Path]:
    """For a capture of several conversations: the overview picture and the linked index."""
    conversations, stem = subject.conversations, subject.stem
    rows = sorted((overview.summary_row(c) for c in conversations), key=lambda row: int(row[0]))
    text = overview_dot(overview.talk_graph(conversations),
                        f"{Path(subject.source).name}: who talked to whom ({len(conversations)} conversations)")
    pictures = _overview_formats(request)
    drawing = Drawing(f"{stem}-overview", picture=text)
    written = [request.outputs.write_bytes(request.out_dir / name, data)
               for fmt in pictures for name, data in FORMATS[fmt].write(drawing, request.scale, request.formats)]
    picture = "svg" if "svg" in request.formats else pictures[0]
    links = {c.index: f"{stem_of(stem, c, len(conversations))}.{picture}" for c in conversations}
    index = overview.index_markdown(f"Conversations in {Path(subject.source).name}", rows, links,
                                    f"{stem}-overview.{pictures[0]}")
    written.append(request.outputs.write_bytes(request.out_dir / f"{stem}-index.md", index.encode("utf-8")))
    return written


def _explorer(request: Request, subject: Subject, drawings: list[Drawing]) -> Path:
    """The HTML explorer of every timeline, with each packet's header read again from the capture."""
    explored = [Explored(d.source, d.diagram, d.kernel) for d in drawings]
    title = subject.title or (f"{Path(subject.source).name}: {len(explored)} conversations" if len(explored) > 1
                              else drawings[0].diagram.title if drawings else Path(subject.source).name)
    wanted = {frame for e in explored for frame in _frame_numbers(e.diagram)}
    frames = _frames(Path(subject.source), wanted) if subject.frames is None else subject.frames
    text = to_html(page(title, explored, frames, request.lang))
    return request.outputs.write_bytes(request.out_dir / FORMATS["html"].file_name(subject.stem), text.encode("utf-8"))


def _frame_numbers(diagram) -> list[int]:
    """The frames a diagram draws, folded ones too."""
    return [row.frame for drawn in diagram.rows for row in (drawn, *drawn.folded) if row.frame is not None]


def _frames(capture: Path, wanted: set[int]) -> dict[int, tuple[bytes, int]]:
    """The bytes of the frames wanted, for their header view; none when the capture cannot be read
    again (the page then says so where the header would be)."""
    found = {}
    try:
        for frame in CaptureReader(capture):
            if frame.frame in wanted:
                found[frame.frame] = (frame.data, frame.linktype)
    except (CaptureFileError, OSError):
        return found
    return found


def _json(request: Request, subject: Subject) -> Path:
    """The capture's JSON from its finished conversations, through the same export a replay streams."""
    path = request.out_dir / FORMATS["json"].file_name(subject.stem)
    with request.outputs.replacing(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8")
        export = JsonExport(text, subject.source, subject.kernel)
        for conversation in subject.conversations:
            export.write_finished(conversation)
        export.close(subject.calls, subject.conversations, subject.unix)
        text.detach()
    return path
