"""Live: every scenario of the catalogue runs under capture and shows on the wire what it promises.

Each scenario's own check is the specification (see handshake_viz/scenarios); here every one runs
over IPv4 and IPv6, and the checks are shown to reject a wire that does not match.
"""

import json
import os
import pwd
import signal
import subprocess
import sys

import pytest
from conftest import REPO

from handshake_viz.cli import main
from handshake_viz.scenarios import SCENARIOS
from handshake_viz.wire.records import FIN, RST

CATALOGUE = sorted(SCENARIOS)


@pytest.mark.parametrize("name", CATALOGUE)
def test_each_scenario_shows_what_it_promises_over_ipv4(runs, name):
    assert runs[name].problems == []


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_call_and_kernel_state_comes_after_the_packet_that_caused_it(runs, name):
    from handshake_viz.kernel import causality
    from handshake_viz.kernel.ties import unix_exchanges
    run = runs[name]
    # AF_UNIX puts nothing on a wire: its calls are the kernel record's exchanges, with no packets to order.
    assert run.calls or [c for e in unix_exchanges(run.kernel) for c in e.calls]
    assert causality.check(run.calls, run.conversations, run.kernel) == []


@pytest.mark.parametrize("name", [name for name in CATALOGUE if not SCENARIOS[name].ipv4_only])
def test_each_scenario_shows_what_it_promises_over_ipv6(ipv6_runs, name):
    from handshake_viz.scenarios import LINK_HOSTS
    run = ipv6_runs[name]
    assert run.problems == []
    if SCENARIOS[name].on_link:   # to a link-scoped group, a host sends from its link-local address
        assert all(c.client[0] == LINK_HOSTS["ipv6"] or c.client[0].startswith("fe80::") for c in run.conversations)
    else:
        assert all(c.client[0] == "::1" for c in run.conversations)


@pytest.mark.parametrize("name", [name for name in CATALOGUE if SCENARIOS[name].ipv4_only])
def test_a_scenario_with_no_ipv6_form_says_so_and_exits_2(name, tmp_path):
    result = subprocess.run([sys.executable, "-m", "handshake_viz", "run", "--ipv6", name, "--out", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "no IPv6 form" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("check, other", [
    ("simultaneous-close", "echo"), ("half-close", "echo"), ("abort", "echo"), ("sigpipe", "echo"),
    ("reuseaddr", "echo"), ("retransmission", "echo"), ("zero-window", "echo"), ("keepalive", "echo"),
    ("nagle", "echo"), ("backlog", "echo"), ("stream-boundaries", "echo"), ("refused", "echo"),
    ("echo", "server-close"), ("server-close", "echo"), ("udp", "dns"), ("udp-boundaries", "udp"),
    ("udp-unreachable", "udp"), ("dns", "udp"), ("handshake", "refused"),
    ("rto", "retransmission"), ("fast-retransmit", "retransmission"), ("last-ack-lost", "echo"),
    ("unread-close", "abort"), ("simultaneous-open", "handshake"), ("shared-close", "nagle"),
    ("nonblocking", "echo"), ("mss", "stream-boundaries"), ("buffers", "zero-window"),
    ("unix-stream", "stream-boundaries"), ("unix-dgram", "udp-boundaries"), ("broadcast", "udp"),
    ("multicast", "broadcast"), ("rto", "fast-retransmit"), ("fast-retransmit", "rto"),
])
def test_a_scenario_check_rejects_another_scenarios_wire(runs, check, other):
    assert SCENARIOS[check].check(runs[other]), f"{check}'s check accepted the wire of {other}"


def _drawn_elsewhere(runs) -> dict:
    """(scenario, side, state) -> (the frame where the kernel entered it, the frame the packets
    imply), for every state the kernel entered elsewhere; none may differ in sequence."""
    from handshake_viz.kernel.view import align
    elsewhere = {}
    for name, run in runs.items():
        assert run.kernel.unavailable is None
        for conversation in (c for c in run.conversations if c.protocol == "tcp"):
            account = align(conversation, run.kernel)
            assert not account.differences, f"{name}: {account.differences}"
            elsewhere.update({(name, side, state.state): (state.frame, frame) for side, state, frame in account.moved})
    return elsewhere


def test_the_kernel_goes_through_the_inferred_states_and_where_it_enters_one_elsewhere_it_is_drawn_there(runs):
    """The kernel's sequence always matches the packets'; its times differ where a call, not a
    packet, moved the socket, or where the packets alone would guess wrong."""
    elsewhere = _drawn_elsewhere(runs)
    frame_of = {name: {s.record.frame: s for c in runs[name].conversations if c.protocol == "tcp" for s in c.segments}
                for name in ("simultaneous-close", "sigpipe", "backlog")}
    # Which FIN leaves the slow queue first varies; the side it reaches first enters CLOSING at it,
    # where the packets alone would put that side's CLOSING at its own FIN.
    first_fin = min((s for s in frame_of["simultaneous-close"].values() if s.record.flags & FIN),
                    key=lambda s: s.record.frame)
    reached = "server" if first_fin.sender == "client" else "client"
    assert set(elsewhere) == {
        ("simultaneous-close", "client", "FIN_WAIT_1"), ("simultaneous-close", "server", "FIN_WAIT_1"),
        ("simultaneous-close", reached, "CLOSING"), ("zero-window", "client", "FIN_WAIT_1"),
        ("sigpipe", "server", "CLOSED"), ("backlog", "server", "SYN_RECEIVED"),
        # connect() and close() put each side in SYN_SENT or LAST_ACK/FIN_WAIT_1 while its segment
        # waited in the slow queue; the client's SYN made the server SYN_RECEIVED before its own SYN left.
        ("simultaneous-open", "client", "SYN_SENT"), ("simultaneous-open", "server", "SYN_SENT"),
        ("simultaneous-open", "server", "SYN_RECEIVED"), ("simultaneous-open", "client", "LAST_ACK"),
        ("simultaneous-open", "server", "FIN_WAIT_1"),
        ("last-ack-lost", "server", "CLOSED"), ("buffers", "client", "FIN_WAIT_1")}
    # close() put each side in FIN_WAIT_1 (drawn at the call) before its held or queued FIN left.
    assert elsewhere[("zero-window", "client", "FIN_WAIT_1")][0] is None
    # The client's FIN made the server CLOSING, not the server's own FIN.
    closing, implied = elsewhere[("simultaneous-close", reached, "CLOSING")]
    assert closing == first_fin.record.frame and closing < implied
    # close() orphaned the server in FIN_WAIT_2: its socket went at the ACK of its FIN, before the RST.
    gone, reset = elsewhere[("sigpipe", "server", "CLOSED")]
    assert frame_of["sigpipe"][gone].covers and frame_of["sigpipe"][reset].record.flags & RST
    # The dropped SYN made no SYN_RECEIVED; the retried one did.
    retried, dropped = elsewhere[("backlog", "server", "SYN_RECEIVED")]
    assert frame_of["backlog"][retried].record.seq == frame_of["backlog"][dropped].record.seq and retried > dropped


def test_where_the_kernel_put_the_lessons_states_is_where_they_are_drawn(runs):
    elsewhere = _drawn_elsewhere({name: runs[name] for name in ("last-ack-lost", "simultaneous-open", "buffers")})
    # The server left LAST_ACK at the ACK it got, the second: the first was dropped on its way in.
    gone, implied = elsewhere[("last-ack-lost", "server", "CLOSED")]
    assert gone > implied
    frames = {s.record.frame: s for c in runs["simultaneous-open"].conversations for s in c.segments}
    received, own = elsewhere[("simultaneous-open", "server", "SYN_RECEIVED")]
    assert frames[received].sender == "client" and received < own
    # close() while bytes were still queued: FIN_WAIT_1 at the call, the FIN after the last byte.
    assert elsewhere[("buffers", "client", "FIN_WAIT_1")][0] is None


def test_the_socket_calls_tell_the_lesson(runs):
    """As the kernel saw them, each scenario's calls checked against what its program meant."""
    def outcomes(name, call):
        assert not [p for p in runs[name].problems if "kernel's record differs" in p]
        return [c.outcome for c in runs[name].calls if c.name == call]
    assert outcomes("refused", "connect") == ["-1 ECONNREFUSED"]
    assert outcomes("sigpipe", "sendto") == ["5", "-1 EPIPE"]
    assert "-1 ECONNRESET" in outcomes("abort", "recvfrom")
    assert outcomes("reuseaddr", "bind")[1:] == ["-1 EADDRINUSE", "0"]
    assert outcomes("udp-unreachable", "recvfrom") == ["-1 ECONNREFUSED"]
    [cut] = outcomes("udp-boundaries", "recvmsg")
    assert cut.startswith("8, MSG_TRUNC (") and cut.endswith(", a 20-byte datagram)")
    assert outcomes("stream-boundaries", "recvfrom")[0] == "13"
    # The values setsockopt was given, read from the program's memory as it called the C library.
    assert any(c.args.endswith("SOL_SOCKET, SO_LINGER, {l_onoff 1, l_linger 0}") for c in runs["abort"].calls)


@pytest.mark.parametrize("name", ["backlog", "nagle", "dns"])
def test_each_connection_shows_the_calls_made_on_it_and_its_listeners(runs, name):
    from handshake_viz.core.attribution import calls_by_conversation, finder
    run = runs[name]
    drawn, conversation_of = calls_by_conversation(run.calls, run.conversations), finder(run.conversations)
    for conversation in run.conversations:
        own = drawn[conversation.index]
        connected = [c for c in own if c.name in ("connect", "accept4")]
        assert len(connected) == (0 if conversation.protocol == "udp" else 2), (conversation.client_text, own)
        for call in own:
            on = conversation_of(call)
            assert on is conversation or (on is None and call.local == conversation.server_text), call
        if conversation.protocol == "udp":
            assert [c.name for c in own if c.side == "client"] == ["socket", "sendto", "recvfrom", "close"]
    on_none = [c for c in run.calls if conversation_of(c) is None]
    assert all(c.name in ("socket", "setsockopt", "bind", "listen", "close") and c.local for c in on_none), on_none


def test_no_namespace_is_left_behind(runs):
    from handshake_viz.live.runner import leftovers
    assert leftovers(os.getpid()) == []


def test_list_prints_the_whole_catalogue(capsys):
    assert main(["list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == list(SCENARIOS)
    assert len(names) == 32


def watch_command(tmp_path, port, *rest):
    return [sys.executable, "-m", "handshake_viz", "watch", "--port", str(port),
            "--out", str(tmp_path / "out"), "--captures", str(tmp_path / "captures"), "--format", "svg,json", *rest]


def _refused_then_echoed(conversations: list) -> dict:
    """Refused attempts, then one echo over a connection the kernel saw as the packets show it."""
    refused = [c for c in conversations if c["handshake"] == "refused"]
    [conversation] = [c for c in conversations if c["handshake"] != "refused"]
    assert refused and all(c["teardown"] == "rst" for c in refused)
    assert (conversation["handshake"], conversation["teardown"], conversation["time_wait"]) == ("complete", "fin", "client")
    assert [p["len"] for p in conversation["packets"] if p["len"]] == [14, 14]
    # The kernel's record is kept beside the pcap; the kernel saw what the packets show.
    assert all(c["kernel_agrees"] for c in conversations)
    client = conversation["states"]["client"]
    assert [s["state"] for s in client] == ["CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"]
    assert {s["source"] for s in client} == {"kernel"}
    return conversation


@pytest.mark.live
def test_watch_captures_a_students_own_server_and_client(tmp_path):
    from handshake_viz.live.runner import free_port
    port = free_port("127.0.0.1")
    programs = REPO / "tests" / "programs"
    # The client starts first, so its first attempts are refused, as when a student starts things in the wrong order.
    client, server = programs / "echo_client.py", programs / "echo_server.py"
    both = f"{sys.executable} {client} {port} & sleep 0.3; {sys.executable} {server} {port}; wait"
    result = subprocess.run(watch_command(tmp_path, port, "--", "sh", "-c", both), capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "hello, server" in result.stdout
    conversations = json.loads((tmp_path / "out" / f"watch-{port}.json").read_text())["conversations"]
    conversation = _refused_then_echoed(conversations)
    assert (tmp_path / "captures" / f"watch-{port}.events.json").exists()
    # Several conversations: each diagram is named by its index, and an index page links them.
    out = tmp_path / "out"
    assert {f"watch-{port}-conv{c['index']}.svg" for c in conversations} <= {p.name for p in out.iterdir()}
    assert f"watch-{port}-conv{conversation['index']}.svg" in (out / f"watch-{port}-index.md").read_text()
    assert (tmp_path / "captures" / f"watch-{port}.pcap").exists()


@pytest.mark.live
def test_under_sudo_watch_runs_the_program_as_the_invoking_user_not_root(tmp_path):
    from handshake_viz.live.runner import free_port
    port = free_port("127.0.0.1")
    nobody = pwd.getpwnam("nobody")
    env = dict(os.environ, SUDO_UID=str(nobody.pw_uid), SUDO_GID=str(nobody.pw_gid))
    result = subprocess.run(watch_command(tmp_path, port, "--", "sh", "-c", "id -u; id -g; echo $HOME"),
                            capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [str(nobody.pw_uid), str(nobody.pw_gid), nobody.pw_dir]
    assert (tmp_path / "captures" / f"watch-{port}.pcap").stat().st_uid == nobody.pw_uid


@pytest.mark.live
@pytest.mark.parametrize("limit", [["--seconds", "30"], []], ids=["with-seconds", "until-ctrl-c"])
def test_ctrl_c_ends_watch_cleanly_and_keeps_what_was_captured(tmp_path, limit):
    from handshake_viz.live.runner import free_port
    port = free_port("127.0.0.1")
    watcher = subprocess.Popen(watch_command(tmp_path, port, *limit), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert watcher.stderr.readline().startswith(f"capturing port {port} on loopback")  # said once it is up
    _echo_once(port)
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=15)
    assert watcher.returncode == 0, err
    assert "Traceback" not in err and "stopped by Ctrl-C" in out
    assert (tmp_path / "captures" / f"watch-{port}.pcap").stat().st_size > 24


def _echo_once(port: int) -> None:
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "programs" / "echo_server.py"), str(port)])
    subprocess.run([sys.executable, str(REPO / "tests" / "programs" / "echo_client.py"), str(port)],
                   capture_output=True, timeout=10, check=True)
    server.wait(timeout=10)


def test_the_duplicate_ack_says_with_sack_what_arrived_beyond_the_hole(runs, tmp_path):
    from handshake_viz.output.files import Outputs
    from handshake_viz.output.publish import Request, Subject, publish
    run = runs["retransmission"]
    [path] = publish(Request(tmp_path, ("json",), Outputs()),
                     Subject("r", run.conversations, run.calls, run.kernel, source="r.pcap"))
    [conversation] = json.loads(path.read_text())["conversations"]
    sacked = [p for p in conversation["packets"] if "sack" in p]
    assert sacked and sacked[0]["from"] == "server" and sacked[0]["ack"] == 101 and sacked[0]["sack"] == [[201, 301]]


@pytest.mark.parametrize("name, words", [("retransmission", "dropped: a firewall rule (netfilter)"),
                                         ("backlog", "dropped: the accept queue is full")])
def test_a_dropped_packet_ends_in_a_cross_with_the_kernels_reason_and_no_ack_credits_it(runs, name, words, tmp_path):
    from handshake_viz.kernel.view import align
    from handshake_viz.output.files import Outputs
    from handshake_viz.output.publish import Request, Subject, publish
    from handshake_viz.render.dot import to_dot
    from handshake_viz.views.timeline import timeline
    run = runs[name]
    [conversation] = [c for c in run.conversations if align(c, run.kernel).dropped]
    account = align(conversation, run.kernel)
    [frame] = account.dropped
    diagram = timeline(conversation, kernel=account)
    [row] = [r for r in diagram.rows if r.arrow and r.stamp.startswith(f"#{frame} ")]
    assert row.arrow.dropped and words in row.arrow.label
    assert "✕" in to_dot(diagram)
    assert not any(f"#{frame}" in line for r in diagram.rows if r.arrow for line in r.arrow.label
                   if line.startswith("ack ") and "acknowledges" in line)
    [path] = publish(Request(tmp_path, ("json",), Outputs()),
                     Subject("d", run.conversations, run.calls, run.kernel, source="d.pcap"))
    packets = [p for c in json.loads(path.read_text())["conversations"] for p in c["packets"]]
    assert [p["frame"] for p in packets if "dropped" in p] == [frame]


def test_crossing_fins_are_drawn_from_when_each_was_sent_to_when_it_arrived(runs):
    from handshake_viz.kernel.view import align
    from handshake_viz.views.timeline import timeline
    run = runs["simultaneous-close"]
    [conversation] = run.conversations
    diagram = timeline(conversation, run.calls, kernel=align(conversation, run.kernel))
    fins = [(i, row.arrow) for i, row in enumerate(diagram.rows) if row.arrow and "FIN" in row.arrow.label[0]]
    (first_row, first), (second_row, second) = fins
    # Each left (its side's FIN_WAIT_1, at close()) before the other arrived: the two arrows cross.
    assert max(first.sent_row, second.sent_row) < first_row < second_row and first.source != second.source
    assert any(m.text == "FIN_WAIT_1" and m.lane == first.source for m in diagram.rows[first.sent_row].marks)
    assert any(line.startswith("Crossing FINs") for line in diagram.legend)


def test_the_words_say_what_happened_on_real_runs(runs):
    from handshake_viz.kernel.view import align
    from handshake_viz.views.timeline import timeline

    def drawn(name):
        [conversation] = runs[name].conversations
        return timeline(conversation, kernel=align(conversation, runs[name].kernel))

    abort = [line for row in drawn("abort").rows if row.arrow and "RST" in row.arrow.label[0] for line in row.arrow.label]
    assert "kernel's reason: aborted while open (close with SO_LINGER 0, or a disconnect)" in abort
    assert [b.label for b in drawn("refused").brackets] == ["connection refused"]
    assert [b.label for b in drawn("keepalive").brackets] == ["3-way handshake", "idle, keep-alive probes", "teardown"]


def test_a_keep_alive_probe_reaches_its_socket_which_answers_it_then_lets_it_go(runs):
    from handshake_viz.kernel.view import align
    from handshake_viz.views.timeline import timeline
    [conversation] = runs["keepalive"].conversations
    diagram = timeline(conversation, kernel=align(conversation, runs["keepalive"].kernel))
    probes = [row.arrow for row in diagram.rows if row.arrow and "[keep alive]" in row.arrow.label]
    assert probes and not any(probe.dropped for probe in probes)
    assert all("discarded by the receiver: an old sequence number (a duplicate)" in p.label for p in probes)


def test_data_for_a_socket_already_closed_reaches_it_and_is_what_resets_the_connection(runs):
    """The kernel takes one of two paths, and the diagram says which: the orphaned socket takes
    the data and frees it (TCP_ABORT_ON_DATA), or it has already become a TIME_WAIT mini-socket,
    which answers with the RST (TCP_TIMEWAIT_SOCKET; 4 runs in 25 beside two busy loops)."""
    from handshake_viz.kernel.view import align
    from handshake_viz.views.timeline import timeline
    run = runs["sigpipe"]
    [conversation] = run.conversations
    diagram = timeline(conversation, kernel=align(conversation, run.kernel))
    [write] = [row.arrow for row in diagram.rows if row.arrow and row.arrow.kind == "data"]
    [reset] = [row.arrow for row in diagram.rows if row.arrow and row.arrow.kind == "reset"]
    assert not write.dropped
    if any(e.reason == "TCP_ABORT_ON_DATA" for e in run.kernel.events):
        assert "discarded by the receiver: data for a socket already closed" in write.label
    else:
        assert [e.reason for e in run.kernel.events if e.kind == "send_reset"] == ["TCP_TIMEWAIT_SOCKET"]
        assert any("a segment for a TIME_WAIT socket" in line for line in reset.label), reset.label


def test_a_replay_of_the_capture_beside_its_kernel_record_shows_the_same_drop(runs, tmp_path):
    from handshake_viz.output.files import Outputs
    from handshake_viz.output.publish import Request
    from handshake_viz.replay import kernel_record_path, replay
    from handshake_viz.wire.pcapfile import write_pcap
    run = runs["retransmission"]
    pcap = tmp_path / "retransmission.pcap"
    with pcap.open("wb") as f:
        write_pcap(f, run.frames, run.linktype)
    kernel_record_path(pcap).write_text(json.dumps(run.kernel.to_json()))
    replay(pcap, Request(tmp_path / "out", ("json", "dot"), Outputs()))
    [conversation] = json.loads((tmp_path / "out" / "retransmission.json").read_text())["conversations"]
    assert [p["dropped"] for p in conversation["packets"] if "dropped" in p] == ["NETFILTER_DROP"]
    assert "dropped: a firewall rule (netfilter)" in (tmp_path / "out" / "retransmission.dot").read_text()
