"""Text from outside is data in every output: every byte value, and the crafted cases the
hardening issue found, come out well-formed (SVG through an XML parser, Markdown through a
CommonMark parser, Mermaid through a structural check) and showing what they say."""

import json
import re
import struct
import unicodedata
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import mermaid_parses, replay
from markdown_it import MarkdownIt
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap
from test_mermaid import check_structure

from handshake_viz.views import escape
from handshake_viz.views.escape import visible
from handshake_viz.wire.pcapfile import CaptureReader

EVERY_CHARACTER = "".join(map(chr, range(0x100))) + "\u2028\u2029\u202e\u200b\ufeff한"
CRAFTED = ["x&#1;y", "```\n# heading", "%%{init: {'theme': 'dark'}}%%", "<script>alert(1)</script>", 'a"b\\c', "a|b\nc\rd\x00e",
           "#35;x;y", "]]>", "&amp;", "*not emphasis* _nor_ `code` [link](x) ~~gone~~ $x$"]
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")   # given: scapy would ask ARP


def test_visible_spells_out_every_character_that_does_not_show_and_keeps_the_rest():
    shown = visible(EVERY_CHARACTER)
    assert not [c for c in shown if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")]
    assert "\\x00" in shown and "\\x7f" in shown and "\\x9b" in shown and "\\u{202e}" in shown and "한" in shown
    assert visible("hello, 세계 ~!") == "hello, 세계 ~!"


@pytest.mark.parametrize("text", [EVERY_CHARACTER, *CRAFTED])
def test_each_format_keeps_its_own_syntax_out_of_the_text(text):
    assert '"' not in escape.dot(text).replace('\\"', "") and "&#" not in escape.dot(text)
    assert not re.search(r"[<>\"]", escape.html(text)) and "&#" not in escape.html(text)
    said = re.sub(r"#(\d+|lt|gt);", "", escape.mermaid(text).replace("<br/>", ""))   # its entities and line breaks
    assert not re.search(r"[;%<>`\n\r]", said)
    cell = escape.markdown(text)
    assert "\n" not in cell and not re.search(r"(?<!\\)[|<>`*_\[\]&~$]", cell)


def _svg_texts(path: Path) -> str:
    root = ElementTree.parse(path).getroot()   # raises on an ill-formed SVG
    return "\n".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


def _dns_query(name_labels: list[bytes]) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in name_labels) + b"\0"
    return struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)


def _crafted_capture(path: Path) -> None:
    """A DNS query whose name holds every ASCII byte, and TCP segments carrying the crafted texts."""
    ascii_bytes = bytes(range(1, 0x80))
    labels = [ascii_bytes[i:i + 60] for i in range(0, len(ascii_bytes), 60)] + [c.encode() for c in CRAFTED if c.isascii()]
    packets = [ETHER / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5353, dport=53) / Raw(_dns_query(labels))]
    packets += [ETHER / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=40000, dport=80, flags="PA", seq=1 + 30 * i,
                                                                   ack=1) / Raw(text.encode("utf-8"))
                for i, text in enumerate(CRAFTED)]
    wrpcap(str(path), packets)


def test_crafted_names_and_payloads_come_out_well_formed_in_every_format(tmp_path):
    capture = tmp_path / "crafted.pcap"
    _crafted_capture(capture)
    out = tmp_path / "out"
    result = replay(capture, "--out", out, "--format", "svg,dot,mermaid,md,json")
    assert result.returncode == 0, result.stderr
    texts = "\n".join(_svg_texts(p) for p in out.glob("*.svg"))
    assert "x&amp;#1;y" not in texts and any("x&#1;y" in line for line in texts.splitlines())
    assert "\\x00" in texts or "\\\\x00" in texts   # the NUL shown, not acted on
    for page in out.glob("*.mermaid.md"):
        _mermaid_is_sound(page.read_text())
    mermaid_parses(sorted(out.glob("*.mermaid.md")))
    for page in out.glob("*.md"):
        MarkdownIt("commonmark").enable("table").parse(page.read_text())   # parses; its tables are checked below
    json.loads((out / "crafted.json").read_text())


def _mermaid_is_sound(page: str) -> None:
    """One sequenceDiagram block whose every line passes the Mermaid tests' structural check."""
    check_structure(page.split("```mermaid\n", 1)[1].split("```", 1)[0])


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of each body row of the page's tables, as a CommonMark (GFM tables) parser reads them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    rows, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token)
        elif token.type == "tr_close":
            rows.append(row)
            row = None
    return rows


def test_a_file_name_with_a_pipe_and_a_newline_keeps_the_index_a_table_that_links_each_diagram(tmp_path):
    capture = tmp_path / "a|b\nc).pcap"
    wrpcap(str(capture), [ETHER / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=port, dport=80, flags="S")
                          for port in (40000, 40001)])
    out = tmp_path / "out"
    result = replay(capture, "--out", out, "--format", "svg")
    assert result.returncode == 0, result.stderr
    page = (out / "a|b\nc)-index.md").read_text()
    rows = _table_rows(page)[1:]   # the header row first
    assert len(rows) == 2 and all(len(cells) == 8 for cells in rows)
    links = [child.attrs["href"] for cells in rows for child in cells[-1].children if child.type == "link_open"]
    from urllib.parse import unquote
    assert [unquote(link) for link in links] == [f"a|b\nc)-conv{n}.svg" for n in (0, 1)]
    assert all((out / unquote(link)).exists() for link in links)


@pytest.mark.parametrize("content", ["[1, 2, 3]", "NaN", '{"events": [{"time": "soon"}]}', "{", '"just text"',
                                     '{"events": [], "time_wait": [{"local": 1}]}'])
def test_a_crafted_kernel_record_beside_a_capture_is_ignored_with_a_note(tmp_path, content):
    capture = tmp_path / "echo.pcap"
    capture.write_bytes((Path(__file__).parent.parent / "captures/examples/echo.pcap").read_bytes())
    (tmp_path / "echo.events.json").write_text(content)
    result = replay(capture, "--out", tmp_path / "out", "--format", "svg,json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    [note] = result.stderr.splitlines()
    assert "is not a kernel record this tool can use" in note and "inferred from the packets" in note
    [conversation] = json.loads((tmp_path / "out" / "echo.json").read_text())["conversations"]
    assert {s["source"] for side in conversation["states"].values() for s in side} == {"inferred"}


def _echo_with_record(tmp_path: Path, sockets: list, calls: list) -> Path:
    """The example echo capture beside its kernel record, with these sockets and calls added."""
    from handshake_viz.replay import read_conversations
    examples = Path(__file__).parent.parent / "captures/examples"
    capture = tmp_path / "echo.pcap"
    capture.write_bytes((examples / "echo.pcap").read_bytes())
    record = json.loads((examples / "echo.events.json").read_text())
    [conversation] = read_conversations(capture)
    start = conversation.segments[0].record.time
    record["sockets"] = [{"number": 0, "family": "AF_INET", "kind": "tcp", "local_port": conversation.client[1],
                          "remote_port": conversation.server[1], "pids": [4312]}] + sockets
    record["calls"] = [dict(call, start=start - 0.001, end=start - 0.0005) for call in calls]
    (tmp_path / "echo.events.json").write_text(json.dumps(record))
    return capture


def test_a_crafted_call_in_a_well_formed_kernel_record_is_shown_as_text(tmp_path):
    crafted = "<script>%%{init:{}}%%\x00&#1;`"
    capture = _echo_with_record(tmp_path, [], [{"pid": 4312, "tid": 4312, "name": crafted, "fd": 3, "args": crafted,
                                                "result": crafted, "socket": 0}])
    out = tmp_path / "out"
    assert replay(capture, "--out", out, "--format", "svg,mermaid,md").returncode == 0
    assert "<script>%%{init:{}}%%\\x00&#1;`" in _svg_texts(out / "echo.svg")   # shown, spelled out
    _mermaid_is_sound((out / "echo.mermaid.md").read_text())
    mermaid_parses([out / "echo.mermaid.md"])


def test_a_kernel_record_whose_socket_names_a_listener_it_has_not_is_refused_in_one_note(tmp_path):
    capture = _echo_with_record(tmp_path, [{"number": 1, "family": "AF_INET", "kind": "tcp", "listener": 7,
                                            "pids": [4312]}],
                                [{"pid": 4312, "tid": 4312, "name": "accept4", "fd": 3, "args": "", "result": "4",
                                  "socket": 1}])
    result = replay(capture, "--out", tmp_path / "out", "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "is not a kernel record this tool can use" in result.stderr + result.stdout


def test_a_crafted_reason_in_a_well_formed_kernel_record_is_shown_as_text(tmp_path):
    capture = tmp_path / "echo.pcap"
    examples = Path(__file__).parent.parent / "captures/examples"
    capture.write_bytes((examples / "echo.pcap").read_bytes())
    record = json.loads((examples / "echo.events.json").read_text())
    crafted = "<script>%%{init:{}}%%\x00&#1;"
    data = [f for f in CaptureReader(capture) if f.frame == 4][0]   # the client's "hello"
    record["events"].append({"time": data.time + 0.0005, "kind": "drop", "src": "", "dst": "", "reason": crafted,
                             "where": "tcp_v4_rcv"})
    (tmp_path / "echo.events.json").write_text(json.dumps(record))
    out = tmp_path / "out"
    assert replay(capture, "--out", out, "--format", "svg,mermaid").returncode == 0
    assert "<script>%%{init:{}}%%\\x00&#1;" in _svg_texts(out / "echo.svg")   # shown, spelled out
    _mermaid_is_sound((out / "echo.mermaid.md").read_text())
    mermaid_parses([out / "echo.mermaid.md"])
