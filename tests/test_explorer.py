"""The explorer page's data, checked against tshark and the kernel; its text kept data. The page in a
real browser is tests/test_browser.py."""

import base64
import gzip
import json
import re
from pathlib import Path

from conftest import replay
from scapy.layers.inet import TCP
from test_escape import CRAFTED, _crafted_capture
from tshark_oracle import MARK_COLUMNS, readable_captures, tshark_rows

import handshake_viz.render
from handshake_viz.core.marks import AnalysisMark
from handshake_viz.replay import read_conversations
from handshake_viz.views.explorer import Explored, page
from handshake_viz.views.header import headers
from handshake_viz.views.timeline import Window, timeline
from handshake_viz.views.words import MARK_MEANINGS, PAGE_WORDS
from handshake_viz.wire.pcapfile import CaptureReader

DATA = re.compile(r'<script type="application/gzip" id="data">(.*?)</script>', re.S)


def page_data(html: Path) -> dict:
    """The page's data, with each packet's details and each fold's rows (JSON text of their own) read."""
    data = json.loads(gzip.decompress(base64.b64decode(DATA.search(html.read_text(encoding="utf-8"))[1])))
    for conversation in data["conversations"]:
        conversation["packets"] = {frame: json.loads(text) for frame, text in conversation["packets"].items()}
        for row in conversation["rows"]:
            if "folded" in row:
                row["folded"] = json.loads(row["folded"])
    return data


def test_the_page_shows_every_number_as_tshark_reads_it(shared_pcaps):
    """Every TCP segment's details on the page: SEQ and ACK (raw and relative), length, window
    (as sent and scaled), and analysis marks, against tshark's reading of the corpus."""
    compared, differences = 0, []
    for capture in readable_captures(shared_pcaps):   # the page's data as views.explorer makes it (the page
        conversations = read_conversations(capture)   # itself, packed, is read back in the other tests)
        explored = [Explored(c, timeline(c)) for c in conversations]
        packets = {int(frame): packet for conversation in page(capture.name, explored, {}, "en")["conversations"]
                   for frame, packet in conversation["packets"].items() if "seq" in packet}
        for row in tshark_rows(shared_pcaps / "oracle" / f"{capture.name}.tsv"):
            packet = packets.get(int(row["frame.number"]))
            if packet is not None and row["tcp.srcport"]:
                compared += 1
                if _shown(packet, row) != _read(row):
                    differences.append((capture.name, row["frame.number"], _shown(packet, row), _read(row)))
    assert compared > 8000 and differences == []


def _read(row: dict) -> tuple:
    """tshark's reading of a segment, as the page shows its numbers."""
    acked = "A" in row["tcp.flags.str"][-8:]
    return ([int(row["tcp.seq_raw"]), int(row["tcp.seq"])],
            [int(row["tcp.ack_raw"]), int(row["tcp.ack"])] if acked else None, int(row["tcp.len"]),
            [int(row["tcp.window_size_value"]), int(row["tcp.window_size"])],
            sorted(mark for mark, column in MARK_COLUMNS.items() if row.get(column)))


def _shown(packet: dict, row: dict) -> tuple:
    return (packet["seq"], packet["ack"], packet["length"], packet["window"],
            sorted(mark for mark, _ in packet["marks"] if mark in MARK_COLUMNS and MARK_COLUMNS[mark] in row))


def test_each_packet_has_the_header_fields_the_header_command_draws(tmp_path):
    capture = Path(__file__).parent.parent / "captures" / "examples" / "echo.pcap"
    assert replay(capture, "--out", tmp_path, "--format", "html").returncode == 0
    data = page_data(tmp_path / "echo.html")
    frames = {f.frame: f for f in CaptureReader(capture)}
    for frame, packet in data["conversations"][0]["packets"].items():
        number, values = packet["header"]
        drawn = headers(frames[int(frame)].data, frames[int(frame)].linktype)
        assert data["layouts"][number] == [[h.name, [[f.name, f.bits] for f in h.fields]] for h in drawn]
        assert values == [[f.value, f.raw.hex() if f.raw is not None else None] for h in drawn for f in h.fields]
    assert len(data["layouts"]) == 2   # the SYNs' header (with options) and the others' share theirs
    for frame, packet in data["conversations"][0]["packets"].items():   # every segment's options, as scapy reads them
        stamps = dict(TCP(frames[int(frame)].data[14 + 20:]).options).get("Timestamp")
        assert (packet.get("options") or {}).get("timestamps") == (list(stamps) if stamps else None)


def test_a_fold_holds_its_packets_as_they_are_drawn_in_full(shared_pcaps):
    """Expanding a fold shows what the same model draws with the whole conversation in full."""
    [conversation] = read_conversations(shared_pcaps / "public" / "http_ipv6_long_1000_requests.pcap")
    whole = Window(frames=(1, 10 ** 9))
    folded, full = timeline(conversation, explored=True), timeline(conversation, window=whole, explored=True)
    assert not any(row.folded for row in timeline(conversation).rows)   # a drawing for a picture builds none
    drawn = {row.frame: row for row in full.rows if row.arrow}
    inside = [row for row in folded.rows if row.fold for row in row.folded]
    assert len(inside) > 3900 and all(row == drawn[row.frame] for row in inside)
    shown = {row.frame for row in folded.rows if row.arrow} | {row.frame for row in inside}
    assert shown == set(drawn) and len(shown) == 4102


def test_the_absolute_label_carries_the_numbers_on_the_wire(shared_pcaps):
    [conversation, *_] = read_conversations(shared_pcaps / "public" / "http_206_zero_window_ooo_sack.pcap")
    rows = {row.frame: row for row in timeline(conversation, window=Window(frames=(1, 10 ** 9)), explored=True).rows
            if row.arrow}
    for segment in conversation.segments:
        relative, absolute = rows[segment.record.frame].arrow.label[0], rows[segment.record.frame].arrow.absolute[0]
        assert f"seq {segment.rel_seq}" in relative and f"seq {segment.record.seq}" in absolute
        if segment.rel_ack is not None:
            assert f"ack {segment.rel_ack}" in relative and f"ack {segment.record.ack}" in absolute
        for (left, right), (raw_left, raw_right) in zip(segment.sack, segment.record.options.sack_blocks
                                                        if segment.record.options else ()):
            assert f"{left}-{right}" in relative and f"{raw_left}-{raw_right}" in absolute


def test_text_from_the_wire_cannot_end_the_script_or_become_markup(tmp_path):
    capture = tmp_path / "crafted.pcap"
    _crafted_capture(capture)
    assert replay(capture, "--out", tmp_path / "out", "--format", "html").returncode == 0
    html = (tmp_path / "out" / "crafted.html").read_text(encoding="utf-8")
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", DATA.search(html)[1])   # base64: nothing in it can close the script
    assert html.count("<script") == 2 and html.count("</script>") == 2   # the page's own two
    payloads = [bytes.fromhex(p["payload"]["hex"]) for c in page_data(tmp_path / "out" / "crafted.html")["conversations"]
                for p in c["packets"].values()]
    assert all(text.encode() in payloads for text in CRAFTED if text.isascii())


def test_the_page_makes_no_request_of_its_own(tmp_path):
    """Its policy forbids every fetch, and it names nothing outside itself."""
    capture = Path(__file__).parent.parent / "captures" / "examples" / "echo.pcap"
    assert replay(capture, "--out", tmp_path, "--format", "html").returncode == 0
    html = (tmp_path / "echo.html").read_text(encoding="utf-8")
    assert "default-src 'none'" in html
    assert not re.search(r"(src|href)=\"(?!#)", html) and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_every_mark_has_its_meaning_and_every_word_the_script_says_is_in_both_languages():
    assert set(MARK_MEANINGS) == set(AnalysisMark)
    script = (Path(handshake_viz.render.__file__).parent / "explorer.js").read_text()
    said = set(re.findall(r'\bW\["([\w.]+)"\]', script) + re.findall(r"\bW\.(\w+)", script)
               + re.findall(r'\bsay\("([\w.]+)"', script))
    assert said and said <= set(PAGE_WORDS), said - set(PAGE_WORDS)
    assert all(len(phrases) == 2 and all(phrases) for phrases in PAGE_WORDS.values())
