import re
import xml.etree.ElementTree as ElementTree

from handshake_viz.analysis import analyze
from handshake_viz.diagram import timeline
from handshake_viz.dot import quote, to_dot
from handshake_viz.render import render

from segments import Script, handshake

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


def test_png_carries_the_requested_resolution():
    png = render(to_dot(odd_diagram(), dpi=150), "png")
    assert png.startswith(b"\x89PNG")
    width = int.from_bytes(png[16:20], "big")
    assert width > 2000  # about 1300 points at 150 dpi


def test_pdf_is_a_real_pdf():
    pdf = render(to_dot(odd_diagram()), "pdf")
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]
