"""A `Diagram` as a Mermaid sequenceDiagram in Markdown, which GitHub and Obsidian render as is.

The same arrows and labels, states and socket calls as notes, phases as boxes, folded runs as
notes across both lanes, as far as Mermaid allows (it has no slanted arrows or margins: the
frame number and time lead each message). Knows nothing of TCP.
"""

from handshake_viz.views.escape import mermaid as text
from handshake_viz.views.timeline import ArrowKind, Diagram

_ARROWS = {ArrowKind.CONTROL: "->>", ArrowKind.DATA: "->>", ArrowKind.ACK: "-->>", ArrowKind.RESET: "->>"}
_DROPPED = {ArrowKind.ACK: "--x"}   # a cross means one thing in every format: it never reached the socket
_PHASE_COLOURS = ("rgb(235, 242, 252)", "rgb(238, 248, 238)", "rgb(252, 240, 235)")


def to_mermaid(diagram: Diagram) -> str:
    ids = {lane.key: f"L{i}" for i, lane in enumerate(diagram.lanes)}
    lines = ["sequenceDiagram"]
    lines += [f"    participant {ids[lane.key]} as {text(lane.title + ' ' + lane.subtitle)}" for lane in diagram.lanes]
    spans = {s.first_row: s for s in diagram.spans}
    for index, row in enumerate(diagram.rows):
        # Every rect opened is closed: brackets that start (or end) on the same row each get theirs.
        for number, bracket in enumerate(diagram.brackets):
            if bracket.first_row == index:
                lines += _phase_start(number, bracket, ids)
        lines += _row(row, ids)
        if index in spans:
            lines.append(f"    Note over {ids[spans[index].lane]}: {text(spans[index].label)}")
        lines += ["    end"] * sum(b.last_row == index for b in diagram.brackets)
    return "\n".join(lines) + "\n"


def _phase_start(number: int, bracket, ids: dict) -> list[str]:
    left, right = ids.values()
    return [f"    rect {_PHASE_COLOURS[number % len(_PHASE_COLOURS)]}", f"    Note over {left},{right}: {text(bracket.label)}"]


def _row(row, ids: dict) -> list[str]:
    """A row's arrow, its fold's note and its marks, in that order."""
    left, right = ids.values()
    lines = []
    if row.arrow:
        arrow = row.arrow
        label = "<br/>".join(text(line) for line in (row.stamp, *arrow.label) if line)
        shape = _DROPPED.get(arrow.kind, "-x") if arrow.dropped else _ARROWS[arrow.kind]
        lines.append(f"    {ids[arrow.source]}{shape}{ids[arrow.target]}: {label}")
    if row.fold:
        lines.append(f"    Note over {left},{right}: {text(row.fold)}")
    for mark in row.marks:
        side = "left of" if ids[mark.lane] == left else "right of"
        lines.append(f"    Note {side} {ids[mark.lane]}: {text(mark.text)}")
    return lines


def to_markdown(diagram: Diagram) -> str:
    """A Markdown file holding the diagram's title, the Mermaid block and its legend."""
    legend = "\n".join(f"- {line}" for line in diagram.legend)
    return f"### {diagram.title.replace(chr(10), ' ')}\n\n```mermaid\n{to_mermaid(diagram)}```\n\n{legend}\n"
