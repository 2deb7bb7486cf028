import re
import xml.etree.ElementTree as ElementTree

from segments import Script, echo, handshake

from handshake_viz.core.analysis import analyze
from handshake_viz.render.dot import quote, to_dot
from handshake_viz.render.graphviz import render
from handshake_viz.views.timeline import timeline

ODD_BYTES = b'say "hi" \n {x|y} <b> & \x00'
ODD_PAYLOAD = 'say "hi" \\n {x|y} <b> & \\x00'  # as the label shows it


def odd_diagram():
    s = Script()
    handshake(s, 0, 0)
    s.client("PA", 1, 1, length=len(ODD_BYTES), payload=ODD_BYTES)
    [conv] = analyze(s.records)
    return timeline(conv)


def test_quote_escapes_quotes_and_backslashes():
    assert quote('a"b\\c') == 'a\\"b\\\\c'


def test_every_node_is_pinned_so_graphviz_only_draws():
    text = to_dot(odd_diagram())
    nodes = re.findall(r"^  n\d+ \[.*\];$", text, re.M)
    assert nodes and all(re.search(r'pos="[\d.]+,[\d.]+!"', node) for node in nodes)


def test_odd_payload_characters_reach_the_svg_unchanged():
    svg = render(to_dot(odd_diagram()), "svg")
    texts = ["".join(t.itertext()).replace("\xa0", " ")  # graphviz keeps runs of spaces as nbsp
             for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert f'"{ODD_PAYLOAD}"' in texts
    assert f"PSH, ACK   seq 1:{1 + len(ODD_BYTES)} ({len(ODD_BYTES)})  ack 1  win 1000" in texts


def test_a_png_is_about_a_notes_column_wide_and_scale_2_doubles_it():
    from handshake_viz.output.formats import PNG_DPI

    def width(dpi):
        png = render(to_dot(odd_diagram(), dpi=dpi), "png")
        assert png.startswith(b"\x89PNG")
        return int.from_bytes(png[16:20], "big")

    column = width(PNG_DPI)
    assert 1000 <= column <= 1150
    assert abs(width(PNG_DPI * 2) - 2 * column) <= 4


def test_pdf_is_a_real_pdf():
    pdf = render(to_dot(odd_diagram()), "pdf")
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]


def test_every_text_line_fits_its_column_and_the_legend_stays_on_the_canvas():
    from handshake_viz.render import dot
    [conversation] = analyze(echo().records)
    diagram = timeline(conversation)
    geometry = dot._Geometry(diagram)
    legend = dot._legend(diagram, geometry.width)
    assert len(legend) > len(diagram.legend)   # long lines were broken, not cut at the edges
    size = (dot.FONT_SIZE - 1) / dot.FONT_SIZE
    assert all(dot.text_width(line) * dot.CHAR_WIDTH * size <= geometry.width - 2 * dot.MARGIN for line in legend)
    for row in diagram.rows:
        assert all(dot.text_width(line) * dot.CHAR_WIDTH <= dot.LANE_GAP - 16 or " " not in line.strip()
                   for line in dot._label(row))
    korean = timeline(conversation, lang="ko")
    for line in dot._legend(korean, dot._Geometry(korean).width):
        assert dot.text_width(line) * dot.CHAR_WIDTH * size <= geometry.width - 2 * dot.MARGIN, line
        assert dot.text_width(line) > len(line)   # Hangul counts wide


def test_the_margin_keeps_microseconds_past_one_second_and_an_ack_names_at_most_a_range():
    from handshake_viz.views.timeline import _stamp
    assert _stamp(1001.001234, 1000.0, 7) == "#7  1.001234 s"
    s = Script()
    handshake(s, 100, 500)
    for n in range(4):
        s.client("PA", 101 + 10 * n, 501, length=10)
    s.server("A", 501, 141)
    [conversation] = analyze(s.records)
    notes = [line for row in timeline(conversation).rows if row.arrow for line in row.arrow.label if "acknowledges" in line]
    assert notes[-1] == "ack 41 = 31 + 10: acknowledges data #4-#7"


def test_the_legend_holds_only_lines_that_apply():
    [plain] = analyze(echo().records)   # 10.0.0.x, no marks
    legend = " ".join(timeline(plain).legend)
    assert "On loopback" not in legend and "[marks]" not in legend
    s = Script(client=("127.0.0.1", 40000), server=("127.0.0.1", 80))
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.client("PA", 101, 501, length=10)   # the same bytes again: marked
    [looped] = analyze(s.records)
    legend = " ".join(timeline(looped).legend)
    assert "On loopback" in legend and "[marks]" in legend
