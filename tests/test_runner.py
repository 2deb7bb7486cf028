"""Live: the default scenarios run under a real capture on loopback (root only; always in CI)."""

import os
import subprocess

import pytest
from conftest import require_command

from handshake_viz.core.analysis import analyze
from handshake_viz.core.tcp_states import TcpState
from handshake_viz.render.dot import to_dot
from handshake_viz.views.timeline import timeline
from handshake_viz.wire.dissect import FrameDecoder
from handshake_viz.wire.pcapfile import CaptureReader, write_pcap
from handshake_viz.wire.records import ACK, FIN, SYN

DEFAULT = ("handshake", "echo", "server-close")


def only_conversation(run):
    [conversation] = run.conversations
    return conversation


@pytest.mark.parametrize("name", DEFAULT)
def test_one_syn_one_syn_ack_and_one_handshake_ack_per_connection(runs, name):
    records = runs[name].records
    syns = [r for r in records if r.flags & (SYN | ACK) == SYN]
    syn_acks = [r for r in records if r.flags & (SYN | ACK) == SYN | ACK]
    assert len(syns) == 1 and len(syn_acks) == 1
    handshake_acks = [r for r in records if r.flags == ACK and r.ack == (syn_acks[0].seq + 1) % 2**32
                      and r.seq == (syns[0].seq + 1) % 2**32 and r.payload_len == 0
                      and r.sport == syns[0].sport and r.frame == 3]
    assert len(handshake_acks) == 1
    assert only_conversation(runs[name]).handshake == "complete"


@pytest.mark.parametrize("name", DEFAULT)
def test_every_packet_is_captured_exactly_once(runs, name):
    records = runs[name].records
    seen = [(r.src, r.sport, r.flags, r.seq, r.ack, r.payload_len) for r in records]
    assert len(seen) == len(set(seen)), "a packet was captured twice (the loopback duplicate trap)"
    assert len(runs[name].frames) == len(records)


@pytest.mark.parametrize("name", ("echo", "server-close"))
def test_each_data_segment_is_acknowledged_with_seq_plus_len(runs, name):
    conversation = only_conversation(runs[name])
    data = [s for s in conversation.segments if s.record.payload_len]
    assert [s.record.payload_len for s in data] == [5, 5]
    for segment in data:
        ack = next(s for s in conversation.segments if s.record.frame == segment.acked_by)
        assert ack.sender != segment.sender
        assert ack.rel_ack == segment.rel_seq + segment.record.payload_len
        assert ack.record.ack == (segment.record.seq + segment.record.payload_len) % 2**32


@pytest.mark.parametrize("name, closer, peer", [("echo", "client", "server"), ("server-close", "server", "client")])
def test_the_side_that_sends_the_first_fin_ends_in_time_wait(runs, name, closer, peer):
    conversation = only_conversation(runs[name])
    fins = [s for s in conversation.segments if s.record.flags & FIN]
    assert [s.sender for s in fins] == [closer, peer]
    last = conversation.segments[-1]
    assert last.sender == closer and last.record.flags == ACK and last.covers == (fins[1].record.frame,)
    assert conversation.active_closer == closer
    assert conversation.time_wait == (closer,)
    closer_states = [c.state for c in conversation.states[closer]]
    assert closer_states[-3:] == [TcpState.FIN_WAIT_1, TcpState.FIN_WAIT_2, TcpState.TIME_WAIT]
    assert [c.state for c in conversation.states[peer]][-3:] == [
        TcpState.CLOSE_WAIT, TcpState.LAST_ACK, TcpState.CLOSED]


@pytest.mark.parametrize("name", ("echo", "server-close"))
def test_each_side_records_its_socket_calls_with_results(runs, name):
    """What the program meant (Python's names), and what is drawn: the kernel's system calls."""
    for calls, (send, recv, accept) in ((runs[name].meant, ("send", "recv", "accept")),
                                        (runs[name].calls, ("sendto", "recvfrom", "accept4"))):
        client = [(c.name, c.result) for c in calls if c.side == "client"]
        server = [c.name for c in calls if c.side == "server"]
        assert [n for n, _ in client][:4] == ["socket", "connect", send, recv] and client[-1][0] == "close"
        assert (recv, "5") in client and (send, "5") in client
        assert server == ["socket", "setsockopt", "bind", "listen", accept, recv, send] + (
            [recv, "close", "close"] if name == "echo" else ["close", "close"])
        end_of_stream = [c for c in calls if c.name == recv and c.result == "0"]
        assert [c.side for c in end_of_stream] == ["server" if name == "echo" else "client"]
    assert all(c.pid == os.getpid() and c.tid and c.fd is not None for c in runs[name].calls if c.name != "socket")


def test_calls_and_packets_share_one_clock(runs):
    run = runs["echo"]
    syn = run.records[0]
    connect = next(c for c in run.calls if c.name == "connect")
    accept = next(c for c in run.calls if c.name == "accept4")
    assert connect.start < syn.time < connect.end
    assert accept.end > run.records[2].time  # accept returns after the handshake's last ACK
    first_fin = next(r for r in run.records if r.flags & FIN)
    eof = next(c for c in run.calls if c.end_of_stream)
    assert eof.end > first_fin.time


def tshark_fields(path):
    require_command("tshark", "tshark", "reference reader")
    result = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "tcp.relative_sequence_numbers:TRUE",
         "-T", "fields", "-E", "separator=,", "-e", "tcp.flags", "-e", "tcp.seq", "-e", "tcp.ack",
         "-e", "tcp.len", "-e", "tcp.window_size"], capture_output=True, text=True, check=True)
    return [tuple(int(v, 0) for v in line.split(",")) for line in result.stdout.splitlines()]


def written(run, folder):
    path = folder / f"{run.scenario.name}.pcap"
    with path.open("wb") as f:
        write_pcap(f, run.frames, run.linktype)
    return path


@pytest.mark.parametrize("name", DEFAULT)
def test_tshark_reads_the_written_pcap_with_our_relative_numbers(runs, name, tmp_path):
    run = runs[name]
    path = written(run, tmp_path)
    ours = [(s.record.flags, s.rel_seq, s.rel_ack if s.rel_ack is not None else 0, s.record.payload_len, s.window)
            for s in only_conversation(run).segments]
    assert tshark_fields(path) == ours


@pytest.mark.parametrize("name", DEFAULT)
def test_a_replayed_capture_draws_the_same_timeline_as_the_live_run(runs, name, tmp_path):
    run = runs[name]
    path = written(run, tmp_path)
    decoder = FrameDecoder()
    [replayed] = analyze(decoder.decode(f.frame, f.time, f.data, f.linktype, f.wire_len) for f in CaptureReader(path))
    assert to_dot(timeline(replayed)) == to_dot(timeline(only_conversation(run)))


def test_scenarios_run_over_ipv6_too(ipv6_runs):
    run = ipv6_runs["echo"]
    conversation = only_conversation(run)
    assert conversation.client_text.startswith("[::1]:") and conversation.time_wait == ("client",)
