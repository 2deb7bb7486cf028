import io
import struct

import pytest

from handshake_viz.errors import CaptureFileError
from handshake_viz.wire.pcapfile import CaptureReader, RawFrame, write_pcap


def write(tmp_path, frames, name="c.pcap", linktype=1):
    """frames: (time, data) pairs, or (time, data, wire_len)."""
    buffer = io.BytesIO()
    write_pcap(buffer, [RawFrame(i, f[0], linktype, f[1], f[2] if len(f) > 2 else len(f[1]))
                        for i, f in enumerate(frames, 1)], linktype)
    path = tmp_path / name
    path.write_bytes(buffer.getvalue())
    return path


def test_written_pcap_reads_back_frame_for_frame(tmp_path):
    frames = [(1795216013.660392, b"\x01" * 60), (1795216013.660401, b"\x02" * 74)]
    read = list(CaptureReader(write(tmp_path, frames)))
    assert [(f.frame, f.linktype, f.data) for f in read] == [(1, 1, b"\x01" * 60), (2, 1, b"\x02" * 74)]
    assert [round(f.time, 6) for f in read] == [1795216013.660392, 1795216013.660401]


def test_each_frame_is_written_with_its_length_on_the_wire_and_a_262144_byte_snap_length(tmp_path):
    path = write(tmp_path, [(1.0, b"\x01" * 60, 65549)])
    assert struct.unpack_from("<I", path.read_bytes(), 16)[0] == 262144
    [frame] = CaptureReader(path)
    assert (len(frame.data), frame.wire_len) == (60, 65549)


def test_a_file_cut_in_the_middle_of_a_packet_keeps_the_packets_before_it(tmp_path):
    path = write(tmp_path, [(1.0, b"a" * 50), (2.0, b"b" * 50)])
    path.write_bytes(path.read_bytes()[:-10])
    reader = CaptureReader(path)
    assert [f.frame for f in reader] == [1]
    assert "cut short in the middle of packet 2" in reader.warnings[0]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"hello, this is text", "not a pcap or pcapng file"),
    (struct.pack("<IHH", 0xA1B2C3D4, 2, 4) + b"\x00" * 5, "header is cut short"),
])
def test_files_that_are_not_captures_are_named_with_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureFileError, match=message) as error:
        list(CaptureReader(path))
    assert str(path) in str(error.value)


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(CaptureFileError, match="no such file"):
        list(CaptureReader(tmp_path / "absent.pcap"))
