"""The TCP state chart as DOT, drawn from `tcp_states.TRANSITIONS` itself, with the path each side
of a conversation took highlighted. Pure."""

from handshake_viz.core.tcp_states import TcpState, Trigger, state_chart
from handshake_viz.views.escape import dot as quote
from handshake_viz.wire.records import CLIENT, SERVER

RESETS = (Trigger.SEND_RST, Trigger.RECEIVE_RST)

SIDE_COLOURS = {CLIENT: "#1f5fbf", SERVER: "#d46a00"}
DEFAULT_TITLE = "TCP states (RFC 9293), drawn from the analyzer's transition table"
# Rows of the classic figure: opening at the top, closing below, each close on its own side.
RANKS = (("CLOSED",), ("LISTEN", "SYN_SENT"), ("SYN_RECEIVED",), ("ESTABLISHED",),
         ("FIN_WAIT_1", "CLOSE_WAIT"), ("FIN_WAIT_2", "CLOSING", "LAST_ACK"), ("TIME_WAIT",))


def chart_dot(paths: dict[str, list[tuple[TcpState, TcpState, Trigger]]] | None = None, title: str = "") -> str:
    """paths: side -> the (from, to, trigger) steps it took, drawn in that side's colour. Resets
    (any state after SYN_SENT -> CLOSED) are one footnote unless a side took one."""
    paths = paths or {}
    heading = quote(title or DEFAULT_TITLE)
    out = ["digraph states {",
           '  graph [rankdir=TB, nodesep=0.5, ranksep=0.45, fontname="DejaVu Sans", fontsize=13, '
           f'labelloc=t, label="{heading}"];',
           '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", fontname="DejaVu Sans", fontsize=11];',
           '  edge [fontname="DejaVu Sans", fontsize=8, color="#999999", fontcolor="#666666"];']
    visited = {state for steps in paths.values() for step in steps for state in step[:2]}
    for rank in RANKS:
        out.append("  { rank=same; " + " ".join(f'"{name}";' for name in rank) + " }")
    for state in TcpState:
        fill = '#fff3c4' if state in visited else '#f4f4f4'
        out.append(f'  "{state.value}" [fillcolor="{fill}"];')
    out += _edges(paths)
    note = "Not drawn: from every state after SYN_SENT, send RST or receive RST leads to CLOSED."
    out.append(f'  resets [shape=plaintext, style="", fontsize=10, label="{quote(note)}"];')
    out.append('  { rank=same; "TIME_WAIT"; resets; }')
    if paths:
        legend = ", ".join(f"{side}: {colour}" for side, colour in ((CLIENT, "blue"), (SERVER, "orange")))
        said = quote(f"highlighted: the path each side took ({legend}; purple: both)")
        out.append(f'  legend [shape=plaintext, style="", label="{said}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _edges(paths: dict) -> list[str]:
    """The table's transitions, each in the colour of the side that took it; resets only if taken."""
    edges = []
    for source, target, data in state_chart().edges(data=True):
        takers = [side for side, steps in paths.items() if (source, target, data["trigger"]) in steps]
        if data["trigger"] in RESETS and not takers:
            continue
        style = ""
        if takers:
            colour = SIDE_COLOURS[takers[0]] if len(takers) == 1 else "#7a3fb0"
            style = f', color="{colour}", fontcolor="{colour}", penwidth=2.6'
        edges.append(f'  "{source.value}" -> "{target.value}" [label="{quote(data["trigger"].value)}"{style}];')
    return edges


def paths_of(conversation) -> dict[str, list[tuple[TcpState, TcpState, Trigger]]]:
    """The steps each side of an analysed TCP conversation took, in order, with their triggers."""
    return {side: [(before.state, after.state, after.trigger) for before, after in zip(changes, changes[1:])]
            for side, changes in conversation.states.items()}
