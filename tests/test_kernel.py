"""Kernel truth: the states the kernel runs, beside those the packets imply."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, require
from segments import Script, echo

from handshake_viz.core.analysis import analyze
from handshake_viz.kernel import view as kernel_view
from handshake_viz.kernel.record import KernelEvent, KernelRecord, Probe, TimeWaitEntry, parse_tcp_table, parse_trace
from handshake_viz.kernel.view import align
from handshake_viz.live import tracing
from handshake_viz.scenarios import SCENARIOS
from handshake_viz.views.timeline import timeline

TRACE = """\
# tracer: nop
          python-1 [001] ..... 100.000100: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=80 dport=0 saddr=10.0.0.2 daddr=0.0.0.0 saddrv6=::ffff:10.0.0.2 daddrv6=:: oldstate=TCP_CLOSE newstate=TCP_LISTEN
          python-1 [001] ..... 100.000900: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.2:80 dest=10.0.0.1:40000 state=TCP_CLOSE reason=NO_SOCKET
          python-2 [000] ..... 100.001000: tcp_receive_reset: family=AF_INET6 sport=40000 dport=80 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 sock_cookie=1
"""


def test_trace_lines_become_events_on_the_capture_clock():
    events, _ = parse_trace(TRACE, offset=1000.0)
    assert events[0] == KernelEvent(1100.0001, "state", "10.0.0.2:80", "0.0.0.0:0", "CLOSED", "LISTEN")
    assert (events[1].kind, events[1].src, events[1].reason) == ("send_reset", "10.0.0.2:80", "NO_SOCKET")
    assert (events[2].kind, events[2].src, events[2].dst) == ("receive_reset", "[::1]:40000", "[::1]:80")


def test_a_tcp_probe_line_becomes_the_senders_congestion_control():
    line = ("          python-1 [000] ..s1. 100.000200: tcp_probe: family=AF_INET6 src=[::1]:40000 dest=[::1]:80 mark=0x0 "
            "data_len=0 snd_nxt=0x5f5e1100 snd_una=0x5f5e10fb snd_cwnd=1 ssthresh=7 snd_wnd=65536 srtt=152 rcv_wnd=65483 "
            "sock_cookie=2003 skbaddr=0000000085f3c3c6 skaddr=0000000048e8d5a1\n")
    infinite = line.replace("ssthresh=7", "ssthresh=2147483647")
    [(_, [probe]), (_, [unset])] = parse_trace(line, 1000.0), parse_trace(infinite, 1000.0)
    assert probe == Probe(1100.0002, "[::1]:40000", "[::1]:80", 1, 7, 0.000152, 65536, 0x5F5E10FB, 0x5F5E1100)
    assert unset.ssthresh is None   # the kernel's "no threshold yet"
    assert KernelRecord.from_json(KernelRecord(probes=[probe]).to_json()).probes == [probe]


def test_the_time_wait_table_gives_each_entry_and_its_timer():
    table = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: 0100007F:9C40 0100007F:0050 06 00000000:00000000 03:000016F5 00000000     0        0 0\n"
             "   1: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n")
    assert parse_tcp_table(table) == [TimeWaitEntry("127.0.0.1:40000", "127.0.0.1:80", 58.77)]


def kernel_for_echo(conversation, client_last="CLOSED", time_wait=True):
    """What the kernel would trace for the hand-built echo: times just after each cause."""
    t = {s.record.frame: s.record.time for s in conversation.segments}
    c, s = "10.0.0.1:40000", "10.0.0.2:80"
    events = [
        KernelEvent(t[1] - 0.0005, "state", "10.0.0.2:80", "0.0.0.0:0", "CLOSED", "LISTEN"),
        KernelEvent(t[1] - 0.00001, "state", "10.0.0.1:0", s, "CLOSED", "SYN_SENT"),
        KernelEvent(t[2] + 0.00001, "state", c, s, "SYN_SENT", "ESTABLISHED"),
        KernelEvent(t[3] + 0.00001, "state", s, c, "LISTEN", "SYN_RECEIVED"),
        KernelEvent(t[3] + 0.00002, "state", s, c, "SYN_RECEIVED", "ESTABLISHED"),
        KernelEvent(t[8] - 0.00001, "state", c, s, "ESTABLISHED", "FIN_WAIT_1"),
        KernelEvent(t[8] + 0.00001, "state", s, c, "ESTABLISHED", "CLOSE_WAIT"),
        KernelEvent(t[9] + 0.00001, "state", c, s, "FIN_WAIT_1", "FIN_WAIT_2"),
        KernelEvent(t[10] - 0.00001, "state", s, c, "CLOSE_WAIT", "LAST_ACK"),
        KernelEvent(t[10] + 0.00001, "state", c, s, "FIN_WAIT_2", client_last),
        KernelEvent(t[11] + 0.00001, "state", s, c, "LAST_ACK", "CLOSED"),
    ]
    return KernelRecord(events, [TimeWaitEntry(c, s, 59.5)] if time_wait else [])


def test_the_kernels_close_with_a_time_wait_entry_agrees_with_the_inferred_time_wait():
    [conversation] = analyze(echo().records)
    account = align(conversation, kernel_for_echo(conversation))
    assert account.agrees
    assert [k.state for k in account.states["client"]] == [
        "CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"]
    assert account.states["client"][-1].frame == conversation.time_wait_frame("client")
    assert account.time_wait_left == {"client": 59.5}
    diagram = timeline(conversation, kernel=account)
    assert "seen by the kernel" in diagram.spans[0].label and "60 s left" in diagram.spans[0].label
    assert not [m for row in diagram.rows for m in row.marks if m.kind == "state-differs"]


def test_a_traced_change_to_the_same_state_is_not_a_disagreement():
    """shutdown(SHUT_WR) then close() makes the kernel trace FIN_WAIT_1 -> FIN_WAIT_1."""
    [conversation] = analyze(echo().records)
    record = kernel_for_echo(conversation)
    fin_wait = next(e for e in record.events if e.new == "FIN_WAIT_1")
    record.events.insert(record.events.index(fin_wait) + 1,
                         KernelEvent(fin_wait.time + 1e-6, "state", fin_wait.src, fin_wait.dst, "FIN_WAIT_1", "FIN_WAIT_1"))
    account = align(conversation, record)
    assert account.agrees, account.differences
    assert [k.state for k in account.states["client"]].count("FIN_WAIT_1") == 1


def test_a_disagreement_is_marked_on_the_lifeline_and_in_the_legend():
    [conversation] = analyze(echo().records)
    account = align(conversation, kernel_for_echo(conversation, time_wait=False))
    assert not account.agrees
    runs, inferred = account.differences["client"]
    assert runs[-1] == "CLOSED" and inferred[-1] == "TIME_WAIT" and "server" not in account.differences
    diagram = timeline(conversation, kernel=account)
    differing = [m.text for row in diagram.rows for m in row.marks if m.kind == "state-differs"]
    assert differing == ["kernel: CLOSED\n(packets imply TIME_WAIT)"]
    assert any("differ" in line and "the kernel's client went" in line and "the packets imply" in line
               for line in diagram.legend)
    korean = timeline(conversation, kernel=account, lang="ko")
    assert any("커널의 클라이언트: CLOSED -> SYN_SENT" in line for line in korean.legend)
    assert "inferred" in diagram.spans[0].label


def test_without_a_kernel_record_states_are_inferred_everywhere():
    [conversation] = analyze(echo().records)
    assert align(conversation, KernelRecord(unavailable="no tracefs")) is None
    assert any("inferred from the packets" in line for line in timeline(conversation).legend)


def test_tracing_says_why_it_is_unavailable_without_root(monkeypatch):
    monkeypatch.setattr(tracing.os, "geteuid", lambda: 1000)
    with tracing.KernelTrace(8080) as trace:
        pass
    assert trace.record.unavailable == "tracing the kernel needs root"


@pytest.mark.parametrize("setup, why", [
    ("no mount", "tracefs is not mounted and could not be: No such file or directory"),
    ("read-only", "cannot set up a tracing instance"),
])
def test_tracing_that_cannot_be_set_up_is_a_note_not_a_failure(monkeypatch, tmp_path, setup, why):
    """A tracefs that is not mounted and no `mount` to mount it, or one where no instance can be
    made: the run goes on from packets alone and says why."""
    if setup == "read-only":
        require(os.geteuid() == 0, "mounting a small tmpfs needs root")
    monkeypatch.setattr(tracing.os, "geteuid", lambda: 0)   # os's own: from here on everything sees root
    fake = tmp_path / "tracing"
    if setup == "no mount":
        monkeypatch.setenv("PATH", str(tmp_path))   # no `mount` on it
    else:   # events as this kernel has them, and an instances folder on a read-only disk
        fake.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(fake)], check=True)
        for event in tracing.EVENTS:
            (fake / "events" / event).mkdir(parents=True)
        (fake / "instances").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(fake)], check=True)
    monkeypatch.setattr(tracing, "TRACEFS", fake)
    try:
        with tracing.KernelTrace(8080) as trace:
            pass
    finally:
        if setup == "read-only":
            subprocess.run(["umount", str(fake)], check=True)
    assert trace.record.unavailable.startswith(why), trace.record.unavailable


def kernel_sequence(run, side):
    [conversation] = run.conversations
    account = align(conversation, run.kernel)
    return [k.state for k in account.states[side]], account


@pytest.mark.parametrize("name, closer", [("echo", "client"), ("server-close", "server")])
def test_the_active_closer_goes_fin_wait_1_fin_wait_2_closed_and_sits_in_the_time_wait_table(runs, name, closer):
    run = runs[name]
    [conversation] = run.conversations
    ends = {"client": conversation.client_text, "server": conversation.server_text}
    peer = "server" if closer == "client" else "client"
    traced_states = [e.new for e in run.kernel.events
                     if e.kind == "state" and e.src == ends[closer] and e.dst == ends[peer]]
    assert traced_states[-3:] == ["FIN_WAIT_1", "FIN_WAIT_2", "CLOSED"]
    [entry] = [t for t in run.kernel.time_wait if t.local == ends[closer]]
    assert entry.remote == ends[peer] and 55 <= entry.seconds_left <= 60
    sequence, account = kernel_sequence(run, closer)
    assert sequence[-1] == "TIME_WAIT" and account.agrees
    assert not [t for t in run.kernel.time_wait if t.local == ends[peer]]


def test_a_refused_connect_goes_syn_sent_then_closed_with_the_reset_received(runs):
    run = runs["refused"]
    sequence, account = kernel_sequence(run, "client")
    assert sequence == ["CLOSED", "SYN_SENT", "CLOSED"] and account.agrees
    assert [e.kind for e in run.kernel.events if "reset" in e.kind] == ["send_reset", "receive_reset"]
    assert list(account.reset_reasons.values()) == ["NO_SOCKET"]
    [conversation] = run.conversations
    for lang, words in (("en", "kernel's reason: no socket on this port"), ("ko", "이 포트에 소켓이 없음")):
        labels = [line for row in timeline(conversation, kernel=account, lang=lang).rows if row.arrow
                  for line in row.arrow.label]
        assert any(words in line for line in labels), labels


def test_the_tracing_instance_is_gone_after_a_run(runs):
    from handshake_viz.live.runner import leftovers
    assert leftovers(os.getpid()) == []


@pytest.mark.live
def test_the_tracing_instance_is_gone_after_a_run_that_fails_halfway(monkeypatch):
    from handshake_viz.live.runner import run_scenario
    original = SCENARIOS["echo"]

    def interrupted(session):
        session.listen()
        raise KeyboardInterrupt

    monkeypatch.setitem(SCENARIOS, "echo", original.__class__(**{**vars(original), "program": interrupted}))
    with pytest.raises(KeyboardInterrupt):
        run_scenario(SCENARIOS["echo"])
    from handshake_viz.live.runner import leftovers
    assert leftovers(os.getpid()) == []


@pytest.mark.live
def test_replay_shows_the_kernels_record_kept_beside_the_capture(tmp_path):
    captures, out = tmp_path / "c", tmp_path / "o"
    from handshake_viz.cli import main
    assert main(["run", "echo", "--out", str(out), "--captures", str(captures), "--format", "dot"]) == 0
    result = subprocess.run([sys.executable, "-m", "handshake_viz", "replay", str(captures / "echo.pcap"),
                             "--out", str(tmp_path / "r"), "--format", "json,dot"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    [conversation] = json.loads((tmp_path / "r" / "echo.json").read_text())["conversations"]
    assert conversation["kernel_agrees"] is True
    assert {entry["source"] for side in conversation["states"].values() for entry in side} == {"kernel"}
    assert "seen by the kernel" in (tmp_path / "r" / "echo.dot").read_text()


def drop(time, reason, where="tcp_v4_rcv"):
    return KernelEvent(time, "drop", "", "", reason=reason, where=where)


def test_a_drop_belongs_to_the_packet_before_it_not_to_another_protocols_nor_to_the_reset_that_answers_it():
    s = Script()
    syn = s.client("S", 100)
    reset = s.server("RA", 0, 101)
    [conversation] = analyze(s.records)
    record = KernelRecord([KernelEvent(reset.time - 1e-6, "send_reset", "10.0.0.2:80", "10.0.0.1:40000", reason="NO_SOCKET"),
                           drop(reset.time + 1e-6, "NO_SOCKET")])
    assert kernel_view.dropped_frames(conversation, record) == {syn.frame: "NO_SOCKET"}
    datagram = KernelRecord([drop(syn.time + 1e-6, "NO_SOCKET", where="__udp4_lib_rcv")])
    assert kernel_view.dropped_frames(conversation, datagram) == {}
    late = KernelRecord([drop(syn.time + 0.01, "NETFILTER_DROP", where="nft_do_chain")])
    assert kernel_view.dropped_frames(conversation, late) == {}   # 10 ms after: not this packet's
    # Another run's drop in the window too (drops carry no ports): the packet's own came first,
    # in the same softirq pass (a soak beside other runs once took the later one).
    both = KernelRecord([drop(syn.time + 5e-6, "NETFILTER_DROP", where="nft_do_chain"),
                         drop(syn.time + 0.0008, "TCP_OLD_DATA", where="tcp_validate_incoming")])
    assert kernel_view.dropped_frames(conversation, both) == {syn.frame: "NETFILTER_DROP"}


def test_each_sides_probes_carry_its_own_sequence_numbers(runs):
    """tcp_probe fires as a segment reaches a socket, before it is processed: the socket's oldest
    unacknowledged byte is then its ISN + 1 or an ACK number its peer sent (raw, as captured)."""
    run = runs["echo"]
    [conversation] = run.conversations
    account = align(conversation, run.kernel)
    for side, peer in (("client", "server"), ("server", "client")):
        isn = conversation.isns()[side]
        acked = {(isn + 1) % 2 ** 32} | {s.record.ack for s in conversation.segments if s.sender == peer}
        probes = account.probes[side]
        assert probes and all(p.snd_una in acked and p.cwnd >= 1 and p.srtt > 0 for p in probes), probes


def test_after_its_retransmission_timeout_the_sender_has_a_window_of_one_segment(runs):
    """RFC 5681 3.1: after an RTO, cwnd is the loss window, one segment, whatever the congestion
    control (tcp_enter_loss sets it); the kernel says so when the first ACK after it arrives."""
    run = runs["rto"]
    [conversation] = run.conversations
    account = align(conversation, run.kernel)
    resent = [s.record.time for s in conversation.segments if s.resent_from is not None]
    after = [p for p in account.probes["client"] if p.time > resent[-1]]
    assert after and after[0].cwnd == 1
