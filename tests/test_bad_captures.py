"""Captures that are malformed or cut short: one clear line, and what can be read is kept."""

import json

import pytest
from conftest import replay

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
    result = replay(path, "--out", tmp_path / "out")
    assert result.returncode == 6
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"handshake-viz: {path}: ") and BAD_FILES[name] in line and "(at byte " in line
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_a_file_cut_short_mid_packet_keeps_what_came_before_with_a_warning(shared_pcaps, tmp_path):
    path = shared_pcaps / "public" / "bad_pcap_cut_short_dns.pcap"
    result = replay(path, "--out", tmp_path, "--format", "json")
    assert result.returncode == 0
    assert "cut short in the middle of packet 2 (at byte 240)" in result.stderr
    [conv] = json.loads((tmp_path / f"{path.stem}.json").read_text())["conversations"]
    assert [p["frame"] for p in conv["packets"]] == [1]
