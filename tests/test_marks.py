"""Every tshark analysis mark, from a hand-made segment script: fast, no root, no ../shared.

Each script's expected marks are tshark 4.0.17's reading of the same segments written to a pcap;
the last test writes them and asks tshark again, so the expectations cannot drift from it."""

import subprocess

import pytest
from conftest import require_command
from scapy.layers.inet import IP, TCP
from scapy.utils import PcapWriter
from segments import Script, handshake

from handshake_viz.core import marks
from handshake_viz.core.analysis import analyze

MARKS = sorted(marks.AnalysisMark)


def test_each_marks_module_name_is_its_enum_member():
    assert all(getattr(marks, mark.name) is mark for mark in marks.AnalysisMark)


def _retransmission():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111)
    s.step = 0.2                               # far beyond the handshake's round trip
    s.client("PA", 111, 501, length=10)
    s.client("PA", 111, 501, length=10)        # the same bytes again, unacknowledged
    return s, {7: {"retransmission"}}


def _fast_retransmission():
    s = Script()
    handshake(s, 100, 500)
    for seq in (101, 111, 121):
        s.client("PA", seq, 501, length=10)
    for _ in range(4):
        s.server("A", 501, 111)                # bytes 111-120 missing: the same ACK, three times more
    s.client("PA", 111, 501, length=10)        # resent within 20 ms of the third duplicate
    return s, {8: {"duplicate_ack"}, 9: {"duplicate_ack"}, 10: {"duplicate_ack"},
               11: {"fast_retransmission", "retransmission"}}


def _spurious_retransmission():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111)
    s.client("PA", 101, 501, length=10)        # already acknowledged
    return s, {6: {"retransmission", "spurious_retransmission"}}


def _out_of_order():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 111, 501, length=10)        # bytes 101-110 not seen yet
    s.client("PA", 101, 501, length=10)        # ... and here they come, 1 ms later
    return s, {4: {"lost_segment"}, 5: {"out_of_order"}}


def _duplicate_ack():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111)
    s.server("A", 501, 111)
    return s, {6: {"duplicate_ack"}}


def _zero_window():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111, window=0)
    s.client("A", 111, 501, length=1)          # one byte into the closed window
    s.server("A", 501, 111, window=0)
    s.server("A", 501, 111, window=2000)       # the window opens again
    return s, {5: {"zero_window"}, 6: {"zero_window_probe"}, 7: {"zero_window", "zero_window_probe_ack"},
               8: {"window_update"}}


def _keep_alive():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111)
    s.client("A", 110, 501)                    # one byte back, empty: "are you there?"
    s.server("A", 501, 111)
    return s, {6: {"keep_alive"}, 7: {"keep_alive_ack"}}


SCRIPTS = {f.__name__[1:]: f for f in (_retransmission, _fast_retransmission, _spurious_retransmission,
                                       _out_of_order, _duplicate_ack, _zero_window, _keep_alive)}


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_mark_falls_on_the_segment_tshark_gives_it(name):
    script, expected = SCRIPTS[name]()
    [conversation] = analyze(script.records)
    assert {s.record.frame: set(s.analysis) for s in conversation.segments if s.analysis} == expected


def test_the_scripts_give_every_mark_there_is():
    given = set().union(*(marks for _, expected in (f() for f in SCRIPTS.values()) for marks in expected.values()))
    assert sorted(given) == MARKS and len(MARKS) == 12


def _tshark_marks(path) -> dict[int, set[str]]:
    fields = [f"tcp.analysis.{mark}" for mark in MARKS]
    result = subprocess.run(["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number",
                             *(arg for field in fields for arg in ("-e", field))],
                            capture_output=True, text=True, check=True)
    by_frame = {}
    for line in result.stdout.splitlines():
        frame, *values = line.split("\t")
        found = {field.removeprefix("tcp.analysis.") for field, value in zip(fields, values) if value}
        if found:
            by_frame[int(frame)] = found
    return by_frame


@pytest.mark.parametrize("name", SCRIPTS)
def test_tshark_reads_each_script_as_the_expectations_say(tmp_path, name):
    require_command("tshark", "tshark", "reference reader")
    script, expected = SCRIPTS[name]()
    path = tmp_path / f"{name}.pcap"
    writer = PcapWriter(str(path), linktype=101)   # raw IP
    for record in script.records:
        packet = IP(src=record.src, dst=record.dst) / TCP(sport=record.sport, dport=record.dport, flags=record.flags,
                                                         seq=record.seq, ack=record.ack, window=record.window)
        packet = packet / (b"x" * record.payload_len)
        packet.time = record.time
        writer.write(packet)
    writer.close()
    assert _tshark_marks(path) == expected
