"""Replay: stored captures read as tshark reads them, exported as JSON, bad input refused cleanly."""

import io
import json
import subprocess
import sys

import pytest
from conftest import REPO
from segments import echo
from tshark_oracle import tshark_rows

import handshake_viz.core.analysis as analysis
from handshake_viz.core.analysis import Analyzer
from handshake_viz.output.json_export import CHUNK, JsonExport
from handshake_viz.wire.dissect import FrameDecoder
from handshake_viz.wire.pcapfile import CaptureReader, RawFrame, write_pcap

EXAMPLES = REPO / "captures" / "examples"


def replay(*args):
    return subprocess.run([sys.executable, "-m", "handshake_viz", "replay", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def test_json_describes_each_conversation_packet_and_state(tmp_path):
    result = replay(EXAMPLES / "echo.pcap", "--out", tmp_path, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "echo.json").read_text())
    [conv] = document["conversations"]
    assert document["capture"].endswith("echo.pcap")
    assert conv["client"].startswith("127.0.0.1:") and conv["server"].startswith("127.0.0.1:")
    assert (conv["protocol"], conv["handshake"], conv["teardown"], conv["half_close"]) == ("tcp", "complete", "fin", False)
    assert (conv["active_closer"], conv["time_wait"]) == ("client", "client")
    packets = conv["packets"]
    assert [p["frame"] for p in packets] == list(range(1, 11))
    syn, syn_ack, ack = packets[:3]
    assert syn["flags"] == ["SYN"] and syn["seq"] == 0 and syn["ack"] is None and syn["from"] == "client"
    assert syn_ack["flags"] == ["SYN", "ACK"] and syn_ack["ack"] == 1 and syn_ack["seq_raw"] != 0
    assert ack["ack_raw"] == (syn_ack["seq_raw"] + 1) % 2**32
    data = packets[3]
    assert (data["len"], data["seq"], data["analysis"]) == (5, 1, [])
    # The example keeps the kernel's record of its run beside it (echo.events.json): replay shows it again.
    assert conv["kernel_agrees"] is True
    assert conv["states"]["client"][0] == {"frame": None, "state": "CLOSED", "source": "kernel", "time": None}
    assert conv["states"]["client"][-1]["state"] == "TIME_WAIT"


def test_an_icmp_error_joins_the_udp_conversation_it_quotes(shared_pcaps, tmp_path):
    capture = shared_pcaps / "public" / "pppoe_dns_icmp_port_unreach.pcap"
    assert replay(capture, "--out", tmp_path, "--format", "json").returncode == 0
    conversations = json.loads((tmp_path / f"{capture.stem}.json").read_text())["conversations"]
    [(conv, error)] = [(c, p) for c in conversations for p in c["packets"] if "icmp" in p]
    assert (error["frame"], error["icmp"], error["reporter"]) == (34, "port_unreachable", "95.136.242.99")
    assert conv["protocol"] == "udp" and conv["client"] == "95.136.242.99:32623"
    assert [p["frame"] for p in conv["packets"]] == [27, 33, 34]
    udp = [p for p in conv["packets"] if "icmp" not in p]
    assert all("flags" not in p and "seq" not in p for p in udp) and udp[0]["len"] == 36


def many_connections(count: int) -> list:
    records = []
    for n in range(count):
        script = echo(c_isn=1000 * n, s_isn=7)
        for record in script.records:
            from_client = record.sport == 40000
            records.append(record._replace(frame=len(records) + 1,
                                           sport=30000 + n if from_client else 80,
                                           dport=80 if from_client else 30000 + n))
    return records


def export(records, keep: bool, closed_kept: int, chunk: int = CHUNK) -> tuple[dict, int]:
    analyzer, out, most_held = Analyzer(keep=keep, closed_kept=closed_kept), io.StringIO(), 0
    exporter = JsonExport(out, "synthetic", chunk=chunk)
    for record in records:
        exporter.write(analyzer.receive(record))
        most_held = max(most_held, len(analyzer._by_tuple))
    exporter.write(analyzer.finish())
    exporter.close()
    return json.loads(out.getvalue()), most_held


def test_streaming_holds_only_open_conversations_and_writes_the_same_json():
    records = many_connections(60)
    streamed, held = export(records, keep=False, closed_kept=5)
    kept, _ = export(records, keep=True, closed_kept=5)
    assert held <= 6
    assert streamed == kept
    assert [c["index"] for c in kept["conversations"]] == list(range(60))


def test_conversations_are_listed_in_index_order_even_when_the_first_ends_last():
    records = many_connections(20)
    first_close = records[7:11]  # connection 0's four-segment close, moved to the end of the capture
    moved = records[:7] + records[11:] + first_close
    records = [record._replace(frame=number) for number, record in enumerate(moved, 1)]
    # each conversation spooled in several chunks of 500 bytes
    streamed, held = export(records, keep=False, closed_kept=2, chunk=500)
    assert held < 20  # the others ended while connection 0 was still open
    assert [c["index"] for c in streamed["conversations"]] == list(range(20))
    assert streamed["conversations"][0]["teardown"] == "fin"
    assert all(len(c["packets"]) == c["packet_count"] == 11 for c in streamed["conversations"])
    assert streamed == export(records, keep=True, closed_kept=2, chunk=500)[0]


def test_a_late_packet_of_a_closed_conversation_stays_in_it():
    s = echo()
    s.client("A", 1011, 5011)  # a duplicate of the last ACK, after the close
    [conversation] = analysis.analyze(s.records)
    assert conversation.segments[-1].record.frame == 12


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


LINK_TYPES = [
    ("http_wireshark_sample.pcap", {1}, "Ethernet"),
    ("http_vlan_qinqinq.pcap", {1}, "Ethernet with three stacked 802.1Q tags"),
    ("tcp_refused_then_reuse_vlan.pcap", {1}, "Ethernet with one VLAN tag"),
    ("pppoe_dns_icmp_port_unreach.pcap", {1}, "PPPoE over Ethernet"),
    ("redis_sll_loopback.pcap", {113}, "Linux cooked (SLL)"),
    ("http_sll2_handshake.pcap", {276}, "Linux cooked v2 (SLL2)"),
    ("redis_keepalive_midstream_null.pcap", {0}, "BSD loopback, IPv4"),
    ("redis_null_loopback_ipv6.pcap", {0}, "BSD loopback, IPv6 (macOS AF_INET6 = 30)"),
    ("tcp_sack_keepalive_rawip.pcap", {101}, "raw IP"),
    ("pcapng_many_interfaces.pcapng", {0, 1, 101}, "pcapng with Ethernet, NULL and raw interfaces"),
]


@pytest.mark.parametrize("name, linktypes, what", LINK_TYPES)
def test_each_link_type_yields_every_tcp_and_udp_packet_tshark_sees(shared_pcaps, name, linktypes, what):
    path = shared_pcaps / "public" / name
    decoder, records, seen = FrameDecoder(), {}, set()
    for frame in CaptureReader(path):
        seen.add(frame.linktype)
        record = decoder.decode(frame.frame, frame.time, frame.data, frame.linktype, frame.wire_len)
        if record is not None:
            records[frame.frame] = record
    assert seen <= linktypes and seen
    rows = tshark_rows(shared_pcaps / "oracle" / f"{name}.tsv")
    assert set(records) == {int(row["frame.number"]) for row in rows}
    first = rows[0]
    source = first["ip.src"] or first["ipv6.src"]
    assert (records[int(first["frame.number"])].src, records[int(first["frame.number"])].sport) == (
        source, int(first["tcp.srcport"] or first["udp.srcport"]))


def pcap_with(tmp_path, linktype, frames):
    path = tmp_path / f"linktype{linktype}.pcap"
    with path.open("wb") as f:
        write_pcap(f, [RawFrame(i + 1, 1.0 + i, linktype, data, len(data)) for i, data in enumerate(frames)], linktype)
    return path


def test_an_unsupported_link_type_is_reported_and_skipped_not_guessed(tmp_path):
    path = pcap_with(tmp_path, 147, [b"\x45" + b"\x00" * 59])
    result = replay(path, "--out", tmp_path, "--format", "json")
    assert result.returncode == 0
    assert "1 frames of unsupported link type 147" in result.stderr
    assert json.loads((tmp_path / f"{path.stem}.json").read_text())["conversations"] == []


def test_raw_ipv4_link_type_228_reads_like_raw_ip(tmp_path):
    from scapy.layers.inet import IP, TCP
    frame = bytes(IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1234, dport=80, flags="S"))
    [raw] = CaptureReader(pcap_with(tmp_path, 228, [frame]))
    record = FrameDecoder().decode(raw.frame, raw.time, raw.data, raw.linktype, raw.wire_len)
    assert (record.src, record.dport, record.flags) == ("192.0.2.1", 80, 0x02)


def test_replay_of_one_conversation_by_its_index(shared_pcaps, tmp_path):
    path = shared_pcaps / "public" / "tcp_refused_then_reuse_vlan.pcap"
    result = replay(path, "--out", tmp_path, "--conversation", "1", "--format", "json,dot")
    assert result.returncode == 0, result.stderr
    [conv] = json.loads((tmp_path / f"{path.stem}.json").read_text())["conversations"]
    assert conv["index"] == 1 and (tmp_path / f"{path.stem}.dot").exists()
    missing = replay(path, "--out", tmp_path / "x", "--conversation", "9")
    assert missing.returncode == 2 and "no conversation 9" in missing.stderr


def test_fragmented_ip_datagrams_are_reassembled_and_reported(shared_pcaps, tmp_path):
    result = replay(shared_pcaps / "public" / "tcp_in_ipv4_fragments.pcap", "--out", tmp_path, "--format", "json")
    assert result.returncode == 0
    assert "4 IP fragments" in result.stderr and "1 IP datagrams reassembled" in result.stderr


def test_a_capture_of_many_conversations_gets_an_index_and_an_overview(shared_pcaps, tmp_path):
    path = shared_pcaps / "public" / "mixed_tcpreplay_test.pcap"
    assert replay(path, "--out", tmp_path, "--format", "svg").returncode == 0
    index = (tmp_path / f"{path.stem}-index.md").read_text()
    rows = [line for line in index.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 19
    for row in rows:
        link = row.split("](")[1].split(")")[0]
        assert (tmp_path / link).exists()
    overview = (tmp_path / f"{path.stem}-overview.svg").read_text()
    assert "172.16.11.12" in overview and "#2 UDP :53" in overview
