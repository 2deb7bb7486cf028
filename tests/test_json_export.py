"""The JSON document: what it says of each conversation, and the streaming export that writes it
with bounded memory, in index order."""

import io
import json

from conftest import REPO, replay
from segments import echo

import handshake_viz.core.analysis as analysis
from handshake_viz.core.analysis import Analyzer
from handshake_viz.output.json_export import CHUNK, JsonExport

EXAMPLES = REPO / "captures" / "examples"



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
