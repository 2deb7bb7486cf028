"""The header view: every field of a real packet, its value and its bytes in network order."""

from conftest import REPO

from handshake_viz.cli import main
from handshake_viz.views.header import headers
from handshake_viz.wire.pcapfile import CaptureReader

ECHO = REPO / "captures" / "examples" / "echo.pcap"


def frame(number):
    return next(f for f in CaptureReader(ECHO) if f.frame == number)


def test_fields_fill_whole_32_bit_words_and_show_big_endian_bytes():
    layers = headers(frame(4).data, frame(4).linktype)
    assert [layer.name for layer in layers] == ["IPv4 header", "TCP header"]
    for layer in layers:
        assert sum(field.bits for field in layer.fields) % 32 == 0
    fields = {f.name: f for layer in layers for f in layer.fields}
    port = int(fields["Source Port"].value)
    assert fields["Source Port"].raw == port.to_bytes(2, "big")
    assert fields["Source Address"].value == "127.0.0.1" and fields["Source Address"].raw == bytes([127, 0, 0, 1])
    assert fields["PSH"].value == "1 (1)" and fields["SYN"].value == "0 (0)"
    assert fields["Protocol"].value == "6 (TCP)"


def test_the_command_draws_one_frame(tmp_path):
    assert main(["header", str(ECHO), "--frame", "1", "--out", str(tmp_path), "--format", "dot,svg"]) == 0
    dot = (tmp_path / "echo-frame1.dot").read_text()
    assert "Sequence Number" in dot and "SYN" in dot and 'COLSPAN="32"' in dot
    assert (tmp_path / "echo-frame1.svg").read_bytes().startswith(b"<?xml")
    assert main(["header", str(ECHO), "--frame", "99", "--out", str(tmp_path)]) == 2


