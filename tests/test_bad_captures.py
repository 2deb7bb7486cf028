"""Captures that are malformed or cut short: one clear line, and what can be read is kept."""

import json
import struct

import pytest
from conftest import one_line_error, replay, run_command
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from handshake_viz.wire.pcapfile import RawFrame, write_pcap

BAD_FILES = {
    "bad_pcap_truncated_header_23.pcap": "header is cut short (23 of 24 bytes)",
    "bad_pcap_invalid_version.pcap": "pcap version 1.4 is not supported",
    "bad_pcapng_shb_option_too_long.pcapng": "option of length 12336 runs past its block",
    "bad_pcapng_invalid_version.pcapng": "pcapng version 0.1 is not supported",
    "bad_pcapng_packet_before_idb.pcapng": "packet 1 names interface 0, but only 0 interface(s)",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_malformed_shared_file_gets_one_clear_line(shared_pcaps, tmp_path, name):
    path = shared_pcaps / "public" / name
    line = one_line_error(replay(path, "--out", tmp_path / "out"), 6, BAD_FILES[name], "(at byte ")
    assert line.startswith(f"handshake-viz: {path}: ") and not (tmp_path / "out").exists()


def test_a_file_cut_short_mid_packet_keeps_what_came_before_with_a_warning(shared_pcaps, tmp_path):
    path = shared_pcaps / "public" / "bad_pcap_cut_short_dns.pcap"
    result = replay(path, "--out", tmp_path, "--format", "json")
    assert result.returncode == 0
    assert "cut short in the middle of packet 2 (at byte 240)" in result.stderr
    [conv] = json.loads((tmp_path / f"{path.stem}.json").read_text())["conversations"]
    assert [p["frame"] for p in conv["packets"]] == [1]


def _block(kind: int, body: bytes, length: int | None = None) -> bytes:
    """A little-endian pcapng block; `length` overrides the true one in both length fields."""
    size = length if length is not None else 12 + len(body)
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
IDB = _block(1, struct.pack("<HHI", 1, 0, 65535))
SYN = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.2")
            / TCP(sport=40000, dport=80, flags="S"))


def _epb(frame: bytes) -> bytes:
    padded = frame + b"\0" * (-len(frame) % 4)
    return _block(6, struct.pack("<IIIII", 0, 0, 1, len(frame), len(frame)) + padded)


CORRUPT_FIRST = {   # before any packet: nothing to show
    "an SHB of length 16": (_block(0x0A0D0D0A, struct.pack("<I", 0x1A2B3C4D)), "has an invalid length 16"),
    "an IDB of length 12": (SHB + _block(1, b""), "pcapng block of type 0x1 has an invalid length 12"),
    "an if_tsoffset of 4 bytes": (SHB + _block(1, struct.pack("<HHIHHI", 1, 0, 65535, 14, 4, 7) + b"\0" * 4)
                                  + _epb(SYN), "if_tsoffset option is 4 bytes, not 8"),
}
CORRUPT_AFTER = {   # after a packet: it is kept, as for a file cut short
    "an EPB of length 12": (SHB + IDB + _epb(SYN) + _block(6, b""), "pcapng block of type 0x6 has an invalid length 12"),
    "a block that claims 4 GiB": (SHB + IDB + _epb(SYN) + struct.pack("<II", 1, 0xFFFFFFFC) + b"\0" * 64,
                                  "pcapng block of type 0x1 is cut short"),
}


@pytest.mark.parametrize("name", CORRUPT_FIRST)
def test_a_corrupt_pcapng_block_is_one_line_naming_it_and_its_offset(tmp_path, name):
    data, words = CORRUPT_FIRST[name]
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(data)
    one_line_error(replay(path, "--out", tmp_path / "out", "--format", "json"), 6, words, "(at byte ")


@pytest.mark.parametrize("name", CORRUPT_AFTER)
def test_a_corrupt_block_after_packets_keeps_them_with_one_line_naming_it(tmp_path, name):
    data, words = CORRUPT_AFTER[name]
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(data)
    result = replay(path, "--out", tmp_path, "--format", "json")
    [line] = result.stderr.strip().splitlines()
    assert result.returncode == 0 and words in line and "(at byte 136)" in line and "showing the 1 packets before it" in line
    [conversation] = json.loads((tmp_path / "corrupt.json").read_text())["conversations"]
    assert [p["frame"] for p in conversation["packets"]] == [1]


def test_a_packet_block_that_claims_more_than_the_file_holds_keeps_the_packets_before_it(tmp_path):
    path = tmp_path / "cut.pcapng"
    path.write_bytes(SHB + IDB + _epb(SYN) + struct.pack("<II", 6, 0xFFFFFFFC) + b"\0" * 64)
    result = replay(path, "--out", tmp_path, "--format", "json")
    assert result.returncode == 0 and "cut short in the middle of packet 2" in result.stderr, result.stderr
    [conversation] = json.loads((tmp_path / "cut.json").read_text())["conversations"]
    assert [p["frame"] for p in conversation["packets"]] == [1]


@pytest.mark.parametrize("name, frame", [
    ("IPv4 with IHL 0", bytes(IP(src="192.0.2.1", dst="192.0.2.2", ihl=0) / TCP())),
    ("IPv4 with IHL 1", bytes(IP(src="192.0.2.1", dst="192.0.2.2", ihl=1) / TCP())),
    ("IPv4 cut at 12 bytes", bytes(IP(src="192.0.2.1", dst="192.0.2.2") / TCP())[:12]),
    ("IPv6 cut at 30 bytes", bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP())[:30]),
])
def test_header_of_a_broken_ip_header_is_one_line(tmp_path, name, frame):
    path = tmp_path / "broken.pcap"
    with path.open("wb") as f:
        write_pcap(f, [RawFrame(1, 1.0, 101, frame, len(frame))], 101)   # raw IP
    one_line_error(run_command("header", path, "--frame", "1", "--out", tmp_path / "out"), 2,
                   "carries no IPv4 or IPv6 header this tool can read whole")
