"""The output formats, one row each: its name, its file suffix, what it can hold, and its writer.

Argument checks (`parse_formats`), the files a command plans to write and the writing itself all
read this table, so a new format is one row and one writer. A drawing is either a conversation's
timeline (positions pinned by the DOT builder) or a picture graphviz lays out itself (the state
chart, a packet's header, the overview); the JSON and the HTML explorer hold a whole capture.
"""

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from handshake_viz.errors import UsageError
from handshake_viz.render import graphviz
from handshake_viz.render.dot import to_dot
from handshake_viz.render.graphviz import render
from handshake_viz.render.mermaid import to_markdown
from handshake_viz.views.timeline import PAGE_ROWS, Diagram, pages

PNG_DPI = 90   # a notes column's width (about 1,130 pixels); --scale 2 for high-density screens
TIMELINE, PICTURE, CAPTURE = "timeline", "picture", "capture"   # what a format can hold


@dataclass(frozen=True)
class Drawing:
    """One picture to write: a conversation's timeline (diagram), or DOT graphviz lays out (picture)."""

    stem: str
    diagram: Diagram | None = None
    picture: str | None = None
    report: Callable[[str], str] | None = None   # the timeline's Markdown report, given its picture's file name
    source: object = None    # what the timeline was drawn from (a conversation, a Unix exchange), for the explorer
    kernel: object = None    # and the kernel's account of it (a KernelView), if any

    def dot(self, dpi: float | None = None) -> str:
        return to_dot(self.diagram, dpi=dpi) if self.diagram is not None else self.picture

    def render(self, fmt: str, dpi: float | None = None) -> bytes:
        return render(self.dot(dpi), fmt, pinned=self.diagram is not None)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    holds: frozenset[str]
    # (drawing, scale, the formats asked) -> [(file name, bytes)]; None for the capture's JSON,
    # which holds no drawing: the JSON export writes it (publish, or replay as it streams)
    write: Callable[[Drawing, float, tuple[str, ...]], list[tuple[str, bytes]]] | None
    needs: Callable[[], None] = lambda: None   # fails, before anything is written, without what it needs
    streams: bool = False   # written from the analysis as it goes, needing no conversation kept whole

    def file_name(self, stem: str) -> str:
        return f"{stem}.{self.suffix}"


def _graphviz(fmt: str):
    return lambda drawing, scale, asked: [(f"{drawing.stem}.{fmt}", drawing.render(fmt))]


def _png(drawing: Drawing, scale: float, asked) -> list[tuple[str, bytes]]:
    """A timeline too tall for one bitmap comes in pages: cairo shrinks taller ones unreadably, and
    takes longer per pixel on taller ones. A page keeps its height at any --scale (fewer rows
    when larger: a 200-row window at --scale 2 took 1.11 s a page in pages of 80 rows, 0.53 s in
    pages of 40). The pages are drawn side by side, one graphviz each."""
    dpi = PNG_DPI * scale
    cut = pages(drawing.diagram, max(1, round(PAGE_ROWS / scale))) if drawing.diagram is not None else []
    if len(cut) > 1:
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            drawn = list(pool.map(lambda page: render(to_dot(page, dpi=dpi), "png"), cut))
        return [(f"{drawing.stem}-p{number}.png", png) for number, png in enumerate(drawn, 1)]
    return [(f"{drawing.stem}.png", drawing.render("png", dpi))]


def _report(drawing: Drawing, scale: float, asked) -> list[tuple[str, bytes]]:
    picture = f"{drawing.stem}.{'svg' if 'svg' in asked else 'png'}"
    return [(f"{drawing.stem}.md", drawing.report(picture).encode("utf-8"))]


_DRAWINGS = frozenset({TIMELINE, PICTURE})
FORMATS = {f.name: f for f in (
    Format("svg", "svg", _DRAWINGS, _graphviz("svg"), graphviz.require),
    Format("png", "png", _DRAWINGS, _png, graphviz.require),
    Format("pdf", "pdf", _DRAWINGS, _graphviz("pdf"), graphviz.require),
    Format("dot", "dot", _DRAWINGS, lambda d, scale, asked: [(f"{d.stem}.dot", d.dot().encode("utf-8"))]),
    Format("mermaid", "mermaid.md", frozenset({TIMELINE}),   # Markdown viewers draw its text
           lambda d, scale, asked: [(f"{d.stem}.mermaid.md", to_markdown(d.diagram).encode("utf-8"))]),
    Format("md", "md", frozenset({TIMELINE}), _report),   # a report that embeds the timeline's picture
    Format("json", "json", frozenset({CAPTURE}), None, streams=True),
    Format("html", "html", frozenset({CAPTURE}), None),   # the explorer: publish writes it from every timeline
)}
DEFAULT = ("svg", "png")
REPLAY_DEFAULT = (*DEFAULT, "html")   # a stored capture is explored more than it is pasted


def whole(formats: tuple[str, ...]) -> bool:
    """Whether formats need every conversation analysed whole (any but the streaming JSON)."""
    return not all(FORMATS[fmt].streams for fmt in formats)


def names(holding: str) -> tuple[str, ...]:
    return tuple(name for name, f in FORMATS.items() if holding in f.holds)


def parse_formats(text: str, holding: tuple[str, ...]) -> tuple[str, ...]:
    """The formats asked for ("svg,png"), each fit to hold one of `holding`; else a usage error."""
    allowed = tuple(name for name, f in FORMATS.items() if f.holds & set(holding))
    formats = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unfit = [f for f in formats if f not in allowed]
    unknown = [f for f in unfit if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown format {', '.join(unknown) or '(none)'}: choose from {', '.join(allowed)}")
    if unfit:
        raise UsageError(f"format {', '.join(unfit)} does not apply here: choose from {', '.join(allowed)}")
    if "md" in formats and not {"svg", "png"} & set(formats):
        formats = (*formats, "svg")  # the report embeds the diagram
    return formats
