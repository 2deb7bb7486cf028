"""The state chart view: drawn from the analyzer's own table, with each side's path highlighted."""

import re

from conftest import REPO
from segments import echo

from handshake_viz.cli import main
from handshake_viz.core.analysis import analyze
from handshake_viz.core.tcp_states import TRANSITIONS, TcpState
from handshake_viz.render.graphviz import render
from handshake_viz.render.state_chart import RESETS, SIDE_COLOURS, chart_dot, paths_of


def edges(dot: str) -> list[tuple[str, str, str, str]]:
    return re.findall(r'"(\w+)" -> "(\w+)" \[label="([^"]+)"([^\]]*)\]', dot)


def test_every_state_and_every_non_reset_transition_of_the_table_is_drawn():
    dot = chart_dot()
    assert all(f'"{state.value}"' in dot for state in TcpState)
    drawn = {(a, b, label) for a, b, label, _ in edges(dot)}
    expected = {(a.value, b.value, t.value) for (a, t), b in TRANSITIONS.items() if t not in RESETS}
    assert drawn == expected


def test_each_sides_path_is_highlighted_in_its_colour():
    [conversation] = analyze(echo(client_closes_first=True).records)
    dot = chart_dot(paths_of(conversation))
    coloured = {(a, b, label): style for a, b, label, style in edges(dot) if "penwidth" in style}
    assert ("FIN_WAIT_2", "TIME_WAIT", "receive FIN") in coloured
    assert SIDE_COLOURS["client"] in coloured[("FIN_WAIT_2", "TIME_WAIT", "receive FIN")]
    assert SIDE_COLOURS["server"] in coloured[("LAST_ACK", "CLOSED", "receive ACK of FIN")]
    assert len(coloured) == 10  # 5 steps each side
    assert render(dot, "svg", pinned=False).startswith(b"<?xml")


def test_the_states_command_highlights_a_capture(tmp_path, capsys):
    assert main(["states", str(REPO / "captures/examples/echo.pcap"), "--out", str(tmp_path), "--format", "dot"]) == 0
    assert "penwidth" in (tmp_path / "states-echo.dot").read_text()
    assert main(["states", "--out", str(tmp_path), "--format", "svg"]) == 0
    assert (tmp_path / "states.svg").exists()
