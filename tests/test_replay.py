"""The replay command: one conversation by its index, reassembled fragments, the index of many."""

import json

from conftest import replay


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
    assert len(rows) == 20   # 19 TCP and UDP conversations, and a router's IGMP queries to 224.0.0.1
    assert any("| igmp | 235.247.89.226 | 224.0.0.1 | 3 |" in row for row in rows)
    for row in rows:
        link = row.split("](")[1].split(")")[0]
        assert (tmp_path / link).exists()
    overview = (tmp_path / f"{path.stem}-overview.svg").read_text()
    assert "172.16.11.12" in overview and "#3 UDP :53" in overview
