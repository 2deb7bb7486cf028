"""DOT text for a `Diagram`, with every position computed here.

A ladder's geometry is known before layout, so each node is pinned (`pos="x,y!"`) and graphviz
only draws it (`neato -n2`): fast on long ladders and the same every time. Knows nothing of TCP.
"""

import unicodedata

from handshake_viz.views.escape import dot as quote
from handshake_viz.views.timeline import ArrowKind, Diagram, Mark, MarkKind, Row

# Sized for a notes column: about 905 points wide, which a PNG at 90 dpi shows about 1,130 pixels wide
# with 10-point text 12.5 pixels high. Text wraps to its column instead of running over.
FONT = "DejaVu Sans"
FONT_SIZE = 10
CHAR_WIDTH = 6.2            # points an ordinary character takes at FONT_SIZE (see text_width)
LINE = 13.0                 # points per text line
SLANT = 12.0                # how far an arrow drops across the gap between lanes
ROW_GAP = 10.0
STAMP_WIDTH = 76.0
STAMP_X = 10.0 + STAMP_WIDTH / 2
CALL_WIDTH, STATE_WIDTH = 124.0, 76.0
LANE_GAP = 270.0
BRACKET_WIDTH = 84.0
FOLD_WIDTH = LANE_GAP + 2 * (STATE_WIDTH + CALL_WIDTH)   # a folded run has no marks: it may use their columns
MARGIN = 10.0
HEADER_HEIGHT = 36.0
TAIL = 46.0                 # room below the last row for what continues (TIME_WAIT)
DROPPED_REACH = 0.8         # how far across the gap a dropped packet's arrow gets

ARROW_STYLES = {
    ArrowKind.CONTROL: 'color="black", penwidth=1.6',
    ArrowKind.DATA: 'color="#1f5fbf", penwidth=1.3',
    ArrowKind.ACK: 'color="#707070", penwidth=1.0',
    ArrowKind.RESET: 'color="#c0262d", penwidth=1.6',
}
MARK_COLORS = {MarkKind.STATE: "#5b2c83", MarkKind.STATE_DIFFERS: "#c0262d", MarkKind.CALL: "#1c7c3c",
               MarkKind.CALL_ERROR: "#c0262d", MarkKind.SAMPLE: "#0b6e79"}
_STATES = (MarkKind.STATE, MarkKind.STATE_DIFFERS)


def _lines(lines, justify: str = "\\n") -> str:
    return "".join(quote(line) + justify for line in lines)


def wrap(lines, width: float, size: float = FONT_SIZE) -> list[str]:
    """lines broken at spaces to fit width points of text of this size (a long word stays whole);
    a Hangul or other wide character counts as WIDE ordinary ones."""
    room = width / (CHAR_WIDTH * size / FONT_SIZE)
    wrapped = []
    for line in lines:
        current = None
        for word in line.split(" "):   # runs of spaces are kept: labels align numbers with them
            if current is None:
                current = word
            elif text_width(current + " " + word) > room and current.strip():
                wrapped.append(current)
                current = "  " + word
            else:
                current += " " + word
        wrapped.append(current or "")
    return wrapped


# Widths in ordinary characters of CHAR_WIDTH, from DejaVu Sans's advances at 10 points (a digit
# 6.4, a capital up to 7.5, a space or comma 3.2): enough to wrap "PSH, ACK   seq 101:201 (100)  ack 1
# win 65536" as a whole line, never so little that a line runs over.
WIDE = 1.7                   # a Hangul or other wide character: about a full em
NARROW, NARROW_CHARACTERS = 0.55, frozenset(" ,.:;'()[]|!-ilI")


def text_width(text: str) -> float:
    """How wide text is, in ordinary characters of CHAR_WIDTH."""
    return sum(NARROW if c in NARROW_CHARACTERS else WIDE if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def _label(row: Row) -> list[str]:
    return wrap(row.arrow.label, LANE_GAP - 16) if row.arrow else []


def _mark_lines(mark: Mark) -> list[str]:
    return wrap(mark.text.split("\n"), STATE_WIDTH if mark.kind in _STATES else CALL_WIDTH)


def _legend(diagram: Diagram, width: float) -> list[str]:
    return wrap(diagram.legend, width - 2 * MARGIN, FONT_SIZE - 1)


def _title(diagram: Diagram, width: float) -> list[str]:
    return wrap(diagram.title.split("\n"), width - 2 * MARGIN, FONT_SIZE + 3)


class _Geometry:
    def __init__(self, diagram: Diagram):
        self.left_x = STAMP_WIDTH + CALL_WIDTH + STATE_WIDTH + 3 * MARGIN + 6
        self.right_x = self.left_x + LANE_GAP
        self.width = self.right_x + STATE_WIDTH + CALL_WIDTH + BRACKET_WIDTH + 3 * MARGIN
        self.lane_x = {diagram.lanes[0].key: self.left_x, diagram.lanes[1].key: self.right_x}
        title_lines = len(_title(diagram, self.width))
        self.top = MARGIN + title_lines * LINE * 1.4 + HEADER_HEIGHT + 8
        self.row_top = []
        self.row_height = []
        y = self.top
        for row in diagram.rows:
            height = _row_height(row)
            self.row_top.append(y)
            self.row_height.append(height)
            y += height
        self.rows_bottom = y
        self.legend_top = y + TAIL + 10
        self.height = self.legend_top + len(_legend(diagram, self.width)) * LINE + 2 * MARGIN

    def arrow_y(self, index: int, row: Row) -> float:
        """Where a row's arrow leaves its source lane (it reaches the target SLANT lower)."""
        return self.row_top[index] + len(_label(row)) * LINE + 6

    def mark_y(self, index: int, row: Row) -> float:
        if row.arrow:
            return self.arrow_y(index, row) + SLANT / 2
        return self.row_top[index] + self.row_height[index] / 2

    def pos(self, x: float, y: float) -> str:
        """Pinned position; DOT's y grows upwards, ours downwards."""
        return f'pos="{x:.1f},{self.height - y:.1f}!"'


def _row_height(row: Row) -> float:
    arrow_part = len(_label(row)) * LINE + SLANT + 12 if row.arrow else 0
    mark_lines = max((len(_mark_lines(m)) for m in row.marks), default=0)
    fold_lines = len(wrap([row.fold], FOLD_WIDTH)) if row.fold else 0
    return max(arrow_part, max(mark_lines, fold_lines) * LINE + ROW_GAP, LINE + ROW_GAP)


def to_dot(diagram: Diagram, dpi: int | None = None) -> str:
    g = _Geometry(diagram)
    out = [
        "digraph timeline {",
        '  graph [splines=line, outputorder=edgesfirst, bgcolor="white", pad=0.2'
        + (f", dpi={dpi}" if dpi else "") + "];",
        f'  node [shape=plaintext, fontname="{FONT}", fontsize={FONT_SIZE}, margin=0, width=0, height=0];',
        f'  edge [fontname="{FONT}", fontsize={FONT_SIZE}, arrowsize=0.7];',
    ]
    counter = iter(range(1_000_000_000))

    def node(attrs: str) -> str:
        name = f"n{next(counter)}"
        out.append(f"  {name} [{attrs}];")
        return name

    def point(x: float, y: float) -> str:
        return node(f'shape=point, width=0.01, height=0.01, style=invis, {g.pos(x, y)}')

    def text(x: float, y: float, lines, width: float, justify: str = "\\n", color="black", extra="") -> str:
        height = max(len(lines), 1) * LINE
        return node(f'label="{_lines(lines, justify)}", fontcolor="{color}", fixedsize=true, '
                    f'width={width / 72:.3f}, height={height / 72:.3f}, {g.pos(x, y)}{extra}')

    def line(a: str, b: str, attrs: str) -> None:
        out.append(f"  {a} -> {b} [{attrs}];")

    title_lines = _title(diagram, g.width)
    text(g.width / 2, MARGIN + len(title_lines) * LINE * 0.7, title_lines, g.width - 2 * MARGIN,
         extra=f', fontsize={FONT_SIZE + 3}')
    header_y = g.top - HEADER_HEIGHT / 2 - 4
    for lane in diagram.lanes:
        x = g.lane_x[lane.key]
        node(f'shape=box, style="rounded,filled", fillcolor="#eef2f8", margin="0.08,0.04", '
             f'label="{_lines([lane.title, lane.subtitle])}", {g.pos(x, header_y)}')
        line(point(x, header_y + HEADER_HEIGHT / 2), point(x, g.rows_bottom + TAIL),
             'dir=none, color="#444444", penwidth=1.2')

    for span in diagram.spans:
        x = g.lane_x[span.lane]
        start = g.mark_y(span.first_row, diagram.rows[span.first_row])
        line(point(x, start), point(x, g.rows_bottom + TAIL),
             'dir=none, color="#f0a030", penwidth=7')
        # Set on the outer side, aligned toward the bar, so a long line never runs over it.
        outward = -1 if x == g.left_x else 1
        width = STATE_WIDTH + CALL_WIDTH
        text(x + outward * (width / 2 + MARGIN), g.rows_bottom + TAIL / 2, wrap(span.label.split("\n"), width), width,
             "\\r" if outward < 0 else "\\l", color="#a05a00")

    for index, row in enumerate(diagram.rows):
        if row.stamp:
            text(STAMP_X, g.mark_y(index, row), [row.stamp], STAMP_WIDTH, "\\r", "#555555",
                 extra=f", fontsize={FONT_SIZE - 1}")
        if row.arrow:
            arrow = row.arrow
            x1, x2 = g.lane_x[arrow.source], g.lane_x[arrow.target]
            y1 = g.arrow_y(index, row)
            # It leaves from its row, or from the earlier row where it was sent (crossing segments).
            y0 = y1 if arrow.sent_row is None else g.mark_y(arrow.sent_row, diagram.rows[arrow.sent_row])
            if arrow.dropped:   # it stops short of the receiver, in a cross
                x3, y3 = x1 + (x2 - x1) * DROPPED_REACH, y0 + (y1 + SLANT - y0) * DROPPED_REACH
                line(point(x1, y0), point(x3, y3), ARROW_STYLES[arrow.kind] + ", dir=none")
                text(x3, y3, ["✕"], 12, color="#c0262d", extra=f", fontsize={FONT_SIZE + 4}")
            else:
                line(point(x1, y0), point(x2, y1 + SLANT), ARROW_STYLES[arrow.kind])
            label = _label(row)
            text((x1 + x2) / 2, g.row_top[index] + len(label) * LINE / 2 + 2, label, LANE_GAP - 16)
        for mark in row.marks:
            _mark(g, index, row, mark, text)
        if row.fold:
            text((g.left_x + g.right_x) / 2, g.mark_y(index, row), wrap([row.fold], FOLD_WIDTH),
                 FOLD_WIDTH,
                 color="#555555", extra=', fontname="DejaVu Sans Oblique"')

    for bracket in diagram.brackets:
        x = g.width - BRACKET_WIDTH - MARGIN
        top = g.row_top[bracket.first_row] + 2
        bottom = g.row_top[bracket.last_row] + g.row_height[bracket.last_row] - 2
        a, b = point(x, top), point(x, bottom)
        line(a, b, 'dir=none, color="#888888"')
        line(a, point(x - 8, top), 'dir=none, color="#888888"')
        line(b, point(x - 8, bottom), 'dir=none, color="#888888"')
        label = wrap([bracket.label], BRACKET_WIDTH - 16, FONT_SIZE + 1)
        text(x + 8 + (BRACKET_WIDTH - 16) / 2, (top + bottom) / 2, label,
             BRACKET_WIDTH - 16, "\\l", "#333333", extra=f", fontsize={FONT_SIZE + 1}")

    legend = _legend(diagram, g.width)
    text(g.width / 2, g.legend_top + len(legend) * LINE / 2, legend,
         g.width - 2 * MARGIN, "\\l", "#333333", extra=f", fontsize={FONT_SIZE - 1}")
    out.append("}")
    return "\n".join(out) + "\n"


def _mark(g: _Geometry, index: int, row: Row, mark, text) -> None:
    x = g.lane_x[mark.lane]
    outward = -1 if x == g.left_x else 1
    justify = "\\r" if outward < 0 else "\\l"
    y = g.mark_y(index, row)
    lines = _mark_lines(mark)
    if mark.kind in _STATES:
        width = STATE_WIDTH
        center = x + outward * (width / 2 + 6)
        text(center, y, lines, width, justify, MARK_COLORS[mark.kind], extra=', fontsize=9')
    else:
        width = CALL_WIDTH
        center = x + outward * (STATE_WIDTH + 6 + width / 2 + MARGIN)
        text(center, y, lines, width, justify, MARK_COLORS[mark.kind])
