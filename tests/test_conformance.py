"""Our reading of real public captures against tshark's (../shared/pcaps; in CI, always)."""

from collections import defaultdict
from pathlib import Path

import pytest
from conftest import SHARED
from tshark_oracle import compare, readable_captures, tshark_rows

PCAPS = SHARED / "pcaps"
CAPTURES = [p.name for p in readable_captures(PCAPS)] if (PCAPS / "oracle").is_dir() else ["(absent)"]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_packet_agrees_with_tshark(shared_pcaps, name):
    compared, differences = compare(shared_pcaps / "public" / name, shared_pcaps / "oracle" / f"{name}.tsv")
    assert not differences, f"{len(differences)} differences in {compared} packets, first: {differences[:5]}"


def test_the_whole_corpus_is_compared(shared_pcaps):
    assert len(CAPTURES) == 35  # the 34 readable captures and the one cut short


# The second corpus (../shared/pcaps2: tunnels, odd link types, TSO, repeated SYNs, clocks that run
# backwards, new ISNs on SYN+ACKs, window-scale corners). Every capture is read as tshark 4.0.17
# reads it, but for the differences listed, with their reasons, in tshark_differences.tsv (and the
# captures whose application dissector misleads tshark, below, against its reading without it).
PCAPS2 = SHARED / "pcaps2"
ORACLE_2 = PCAPS2 / "oracle"
MISLED = sorted(p.name[:-len(".noproto.tsv")] for p in ORACLE_2.glob("*.noproto.tsv")) or ["(absent)"]
CAPTURES_2 = ([p.name for p in readable_captures(PCAPS2) if p.name not in MISLED and not p.name.endswith(".noproto")]
              if ORACLE_2.is_dir() else ["(absent)"])
KNOWN = defaultdict(set)   # capture -> {(field, frame)}
for row in tshark_rows(Path(__file__).parent / "tshark_differences.tsv"):
    KNOWN[row["capture"]].update((row["field"], int(frame)) for frame in row["frames"].split())


@pytest.mark.parametrize("name", CAPTURES_2)
def test_the_second_corpus_reads_as_tshark_does_but_for_the_listed_differences(shared_pcaps2, name):
    compared, differences = compare(shared_pcaps2 / "public" / name, shared_pcaps2 / "oracle" / f"{name}.tsv")
    found = {(d.field, d.frame) for d in differences}
    assert compared, "nothing compared"
    unlisted = [d for d in differences if (d.field, d.frame) not in KNOWN[name]]
    assert not unlisted, f"differences not listed: {unlisted[:5]}"
    assert not KNOWN[name] - found, f"listed differences that no longer occur: {sorted(KNOWN[name] - found)[:5]}"


def test_every_listed_difference_is_of_a_capture_compared_and_says_why(shared_pcaps2):
    assert set(KNOWN) <= set(CAPTURES_2)
    rows = tshark_rows(Path(__file__).parent / "tshark_differences.tsv")
    assert rows and all(row["why ours is right"] and "RFC" in row["why ours is right"] for row in rows)


def test_the_captures_an_application_dissector_misleads_are_the_three_expected(shared_pcaps2):
    assert MISLED == ["ark_SNMPv2c_get_requests.pcap", "ndpi_snmp.pcap", "ndpi_vnc.pcap"]


@pytest.mark.parametrize("name", MISLED)
def test_a_stream_an_application_dissector_splits_agrees_with_tshark_once_it_is_disabled(shared_pcaps2, name):
    """tshark's VNC dissector starts new TCP streams in the middle of a connection (its relative
    numbers restart) and its SNMP dissector puts a response in another UDP stream than its request;
    with `--disable-protocol vnc` or `snmp` tshark reads them as handshake-viz does."""
    capture = shared_pcaps2 / "public" / name
    _, misled = compare(capture, shared_pcaps2 / "oracle" / f"{name}.tsv")
    assert {"tcp.stream", "udp.stream"} & {d.field for d in misled}
    assert {d.field for d in misled} <= {"tcp.stream", "udp.stream", "seq", "ack", "window"}
    compared, differences = compare(capture, shared_pcaps2 / "oracle" / f"{name}.noproto.tsv")
    assert compared and not differences, differences[:5]


def test_the_comparison_catches_each_kind_of_difference_planted_in_tsharks_reading(shared_pcaps, tmp_path):
    """The checker itself: a copy of tshark's reading with one field, one mark, one raw number and
    one stream changed, and each change is reported at its frame, nothing else."""
    capture = shared_pcaps / "public" / "ssh_retrans_dupack.pcap"
    rows = tshark_rows(shared_pcaps / "oracle" / "ssh_retrans_dupack.pcap.tsv")
    tcp = [row for row in rows if row["tcp.stream"]]
    marked = next(row for row in tcp if row["tcp.analysis.retransmission"])
    plain = [row for row in tcp if not any(row[c] for c in ("tcp.analysis.retransmission", "tcp.analysis.duplicate_ack"))]
    marked["tcp.analysis.retransmission"] = ""
    plain[3]["tcp.seq"] = str(int(plain[3]["tcp.seq"]) + 1)
    plain[4]["tcp.ack_raw"] = str(int(plain[4]["tcp.ack_raw"]) ^ 1)
    plain[-1]["tcp.stream"] = "99"
    planted = tmp_path / "planted.tsv"
    planted.write_text("\n".join(["\t".join(rows[0]), *("\t".join(row.values()) for row in rows)]) + "\n")
    _, differences = compare(capture, planted)
    assert sorted((d.frame, d.field) for d in differences) == sorted([
        (int(marked["frame.number"]), "retransmission"), (int(plain[3]["frame.number"]), "seq"),
        (int(plain[4]["frame.number"]), "ack_raw"), (int(plain[-1]["frame.number"]), "tcp.stream")])
