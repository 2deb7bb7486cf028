"""From analysed conversations to diagram files: the timeline of each, in each format asked."""

from pathlib import Path

from handshake_viz import header_view, kernel_states, overview
from handshake_viz.analysis import Conversation, UdpConversation
from handshake_viz.attribution import calls_of
from handshake_viz.diagram import Window, pages, timeline
from handshake_viz.dot import to_dot
from handshake_viz.errors import UsageError
from handshake_viz.kernel_states import KernelRecord
from handshake_viz.mermaid import to_markdown
from handshake_viz.outputs import Outputs
from handshake_viz.records import SocketCall
from handshake_viz.render import FORMATS, render
from handshake_viz.report import report
from handshake_viz.state_chart import chart_dot, paths_of

DEFAULT_FORMATS = ("svg", "png")
PNG_DPI = 90   # a notes column's width (about 1,130 pixels); --scale 2 for high-density screens


ALL_FORMATS = FORMATS + ("dot", "mermaid", "md", "json")
PICTURE_FORMATS = FORMATS + ("dot",)   # what a picture with no timeline (the state chart, a header) comes in
_SUFFIX = {"mermaid": "mermaid.md"}


def parse_range(text: str | None, kind=int, what: str = "--frames") -> tuple | None:
    """'100-250' as (100, 250)."""
    if text is None:
        return None
    first, sep, last = text.partition("-")
    try:
        low, high = kind(first), kind(last)
    except ValueError:
        low = high = None
    if not sep or low is None or high < low:
        raise UsageError(f"{what} takes a range like 100-250, not {text!r}")
    return low, high


def parse_window(max_arrows: int, frames: str | None, seconds: str | None) -> Window:
    if max_arrows < 10:
        raise UsageError("--max-arrows must be at least 10")
    return Window(max_arrows, parse_range(frames), parse_range(seconds, float, "--time"))


def parse_formats(text: str, allowed: tuple[str, ...] = ALL_FORMATS) -> tuple[str, ...]:
    formats = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unfit = [f for f in formats if f not in allowed]
    unknown = [f for f in unfit if f not in ALL_FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown format {', '.join(unknown) or '(none)'}: choose from {', '.join(allowed)}")
    if unfit:
        raise UsageError(f"format {', '.join(unfit)} does not apply here: choose from {', '.join(allowed)}")
    return formats


def file_name(stem: str, fmt: str) -> str:
    """echo.svg; echo.mermaid.md for Mermaid, whose text Markdown viewers draw."""
    return f"{stem}.{_SUFFIX.get(fmt, fmt)}"


def diagram_stem(stem: str, conversation: Conversation | UdpConversation, count: int) -> str:
    return stem if count == 1 else f"{stem}-conv{conversation.index}"


def planned_paths(stem: str, conversations: list[Conversation], out_dir: Path, formats) -> list[Path]:
    return [out_dir / file_name(diagram_stem(stem, c, len(conversations)), fmt)
            for c in conversations for fmt in formats]


def draw(conversations: list[Conversation], stem: str, out_dir: Path, formats, outputs: Outputs,
         calls: tuple[SocketCall, ...] = (), title: str | None = None, kernel: KernelRecord | None = None,
         window: Window = Window(), lang: str = "en", scale: float = 1.0) -> list[Path]:
    """Write each conversation's timeline, with the socket calls made on it (see attribution)."""
    if "md" in formats and not {"svg", "png"} & set(formats):
        formats = (*formats, "svg")  # the report embeds the diagram
    written = []
    for conversation in conversations:
        own = calls_of(conversation, calls, conversations)
        account = kernel_states.view(conversation, kernel) if conversation.protocol == "tcp" else None
        diagram = timeline(conversation, own, title, account, window, lang)
        name = diagram_stem(stem, conversation, len(conversations))
        for fmt in formats:
            if fmt == "md":
                picture = f"{name}.{'svg' if 'svg' in formats else 'png'}"
                data = report(conversation, picture, diagram.title.replace("\n", " "), own, lang).encode("utf-8")
            elif fmt == "mermaid":
                data = to_markdown(diagram).encode("utf-8")
            elif fmt == "png" and len(pages(diagram)) > 1:
                for number, page in enumerate(pages(diagram), 1):
                    written.append(outputs.write_bytes(out_dir / f"{name}-p{number}.png",
                                                       render(to_dot(page, dpi=PNG_DPI * scale), "png")))
                continue
            else:
                dot_text = to_dot(diagram, dpi=PNG_DPI * scale if fmt == "png" else None)
                data = dot_text.encode("utf-8") if fmt == "dot" else render(dot_text, fmt)
            written.append(outputs.write_bytes(out_dir / file_name(name, fmt), data))
    return written


def draw_states(conversation, name: str, out_dir: Path, formats, outputs: Outputs) -> list[Path]:
    """The state chart, with conversation's paths highlighted when there is one."""
    if conversation is None:
        text = chart_dot()
    else:
        text = chart_dot(paths_of(conversation),
                         f"The path each side took: {conversation.client_text} → {conversation.server_text}")
    return _write_laid_out(text, name, out_dir, formats, outputs)


def _write_laid_out(text: str, name: str, out_dir: Path, formats, outputs: Outputs) -> list[Path]:
    """DOT that graphviz lays out itself (not pinned), in each format."""
    return [outputs.write_bytes(out_dir / f"{name}.{fmt}",
                                text.encode("utf-8") if fmt == "dot" else render(text, fmt, pinned=False))
            for fmt in formats]


def draw_header(frame, name: str, out_dir: Path, formats, outputs: Outputs, title: str) -> list[Path]:
    """One packet's headers, 32 bits wide."""
    layers = header_view.headers(frame.data, frame.linktype)
    if not layers:
        raise UsageError(f"{title} carries no IP header this tool can read")
    text = header_view.to_dot(layers, title + " (bytes in network order, most significant first)")
    return _write_laid_out(text, name, out_dir, formats, outputs)


def draw_index(conversations, capture: Path, out_dir: Path, formats, outputs: Outputs) -> list[Path]:
    """For a capture of several conversations: the overview picture and the linked index."""
    rows = sorted((overview.summary_row(c) for c in conversations), key=lambda row: int(row[0]))
    graph = overview.talk_graph(conversations)
    text = overview.overview_dot(graph, f"{capture.name}: who talked to whom ({len(conversations)} conversations)")
    pictures = [f for f in formats if f in ("svg", "png")] or ["svg"]
    written = _write_laid_out(text, f"{capture.stem}-overview", out_dir, pictures, outputs)
    picture = "svg" if "svg" in formats else pictures[0]
    links = {c.index: f"{diagram_stem(capture.stem, c, len(conversations))}.{picture}" for c in conversations}
    index = overview.index_markdown(f"Conversations in {capture.name}", rows, links,
                                    f"{capture.stem}-overview.{pictures[0]}")
    written.append(outputs.write_bytes(out_dir / f"{capture.stem}-index.md", index.encode("utf-8")))
    return written
