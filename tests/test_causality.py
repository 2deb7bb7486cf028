"""The causality checker: each rule passes a causal run and catches the same run with one packet
stamped too late (the fault the checker exists for: a packet timed when Python read it)."""

import dataclasses

import pytest
from segments import CLIENT, SERVER, Script, echo, handshake

from handshake_viz.core.analysis import analyze
from handshake_viz.kernel import causality
from handshake_viz.kernel.record import KernelEvent, KernelRecord
from handshake_viz.wire.records import PacketRecord, SocketCall

CLIENT_END, SERVER_END = "10.0.0.1:40000", "10.0.0.2:80"


def call(side, name, result, end, error=None, args="", endpoint=CLIENT_END, protocol="tcp"):
    return SocketCall(side, name, args, end - 0.0001, end, result, error, endpoint, protocol)


def late(records, frame, seconds=0.01):
    """The same packets, with one stamped `seconds` later than it really came."""
    return [r._replace(time=r.time + seconds) if r.frame == frame else r for r in records]


def problems(records, calls, kernel=None):
    return causality.check(calls, analyze(records), kernel)


def test_the_echo_with_every_call_after_its_cause_passes():
    records = echo().records   # 1 SYN, 2 SYN+ACK, 3 ACK, 4 data, 5 ACK, 6 data, 7 ACK, 8 FIN, 9 ACK, 10 FIN, 11 ACK
    t = {r.frame: r.time for r in records}
    calls = [call("client", "connect", "0", t[2] + 1e-5), call("server", "accept", "fd 5 (10.0.0.1:40000)", t[3] + 1e-5),
             call("server", "recv", "5", t[4] + 1e-5), call("client", "recv", "5", t[6] + 1e-5),
             call("server", "recv", "0", t[8] + 1e-5)]
    assert problems(records, calls) == []


@pytest.mark.parametrize("made_call, cause, words", [
    (lambda t: call("client", "connect", "0", t[2] + 1e-5), 2, "the server's SYN+ACK"),
    (lambda t: call("server", "accept", "fd 5 (10.0.0.1:40000)", t[3] + 1e-5), 3,
     "the handshake's last ACK"),
    (lambda t: call("server", "recv", "5", t[4] + 1e-5), 4, "byte 5 from the client arrived"),
    (lambda t: call("server", "recv", "0", t[8] + 1e-5), 8, "the client's FIN"),
], ids=["connect-after-syn-ack", "accept-after-last-ack", "recv-n-after-n-bytes", "recv-0-after-fin"])
def test_a_call_drawn_before_the_packet_that_caused_it_is_caught(made_call, cause, words):
    records = echo().records
    made = made_call({r.frame: r.time for r in records})
    assert problems(records, [made]) == []
    [problem] = problems(late(records, cause), [made])
    assert words in problem and f"#{cause}" in problem and made.name in problem


def test_econnreset_and_epipe_come_after_the_peers_reset():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=5)
    reset = s.server("R", 501)
    calls = [call("client", "recv", "-1", reset.time + 1e-5, error="ECONNRESET"),
             call("client", "send", "-1", reset.time + 2e-5, error="EPIPE")]
    assert problems(s.records, calls) == []
    found = problems(late(s.records, reset.frame), calls)
    assert len(found) == 2 and all(f"#{reset.frame}" in p for p in found)


def test_epipe_after_this_sides_own_fin_needs_no_reset():
    s = Script()
    handshake(s, 100, 500)
    fin = s.client("FA", 101, 501)
    assert problems(s.records, [call("client", "send", "-1", fin.time + 1e-5, error="EPIPE")]) == []
    assert problems(late(s.records, fin.frame), [call("client", "send", "-1", fin.time + 1e-5, error="EPIPE")])


def test_a_refused_connect_comes_after_the_reset():
    s = Script()
    s.client("S", 100)
    reset = s.server("RA", 0, 101)
    refused = call("client", "connect", "-1", reset.time + 1e-5, error="ECONNREFUSED")
    assert problems(s.records, [refused]) == []
    assert "the server's RST" in problems(late(s.records, reset.frame), [refused])[0]


def udp(time, src, dst, length=4, icmp=None, reporter=None, frame=1):
    return PacketRecord(frame, time, src[0], dst[0], src[1], dst[1], "udp", payload_len=length, payload=b"x" * length,
                        icmp=icmp, reporter=reporter)


def test_a_udp_read_comes_after_its_datagram_and_econnrefused_after_the_icmp_error():
    ping = udp(1.0, CLIENT, SERVER, frame=1)
    error = udp(1.001, CLIENT, SERVER, icmp="port_unreachable", reporter=SERVER[0], frame=2)
    read = call("server", "recvfrom", "4 (10.0.0.1:40000)", 1.0005, protocol="udp")
    refused = call("client", "recv", "-1", 1.0015, error="ECONNREFUSED", protocol="udp")
    assert problems([ping, error], [read, refused]) == []
    assert "datagram 1 to the server" in problems(late([ping, error], 1), [read])[0]
    assert "the ICMP error" in problems(late([ping, error], 2), [refused])[0]


def kernel_event(time, src, dst, old, new):
    return KernelEvent(time, "state", src, dst, old, new)


def test_kernel_states_come_after_the_packet_that_causes_them_and_before_the_one_they_send():
    records = echo().records
    t = {r.frame: r.time for r in records}
    events = [kernel_event(t[2] + 1e-5, CLIENT_END, SERVER_END, "SYN_SENT", "ESTABLISHED"),
              kernel_event(t[3] + 1e-5, SERVER_END, CLIENT_END, "SYN_RECEIVED", "ESTABLISHED"),
              kernel_event(t[8] - 1e-5, CLIENT_END, SERVER_END, "ESTABLISHED", "FIN_WAIT_1"),
              kernel_event(t[8] + 1e-5, SERVER_END, CLIENT_END, "ESTABLISHED", "CLOSE_WAIT"),
              kernel_event(t[9] + 1e-5, CLIENT_END, SERVER_END, "FIN_WAIT_1", "FIN_WAIT_2"),
              kernel_event(t[10] - 1e-5, SERVER_END, CLIENT_END, "CLOSE_WAIT", "LAST_ACK"),
              kernel_event(t[10] + 1e-5, CLIENT_END, SERVER_END, "FIN_WAIT_2", "CLOSED"),
              kernel_event(t[11] + 1e-5, SERVER_END, CLIENT_END, "LAST_ACK", "CLOSED")]
    kernel = KernelRecord(events)
    assert problems(records, [], kernel) == []
    # The client's FIN (frame 8) stamped late: CLOSE_WAIT now precedes its cause. Stamped early
    # instead, FIN_WAIT_1 (entered by close(), which then sends the FIN) would follow it.
    [received] = problems(late(records, 8), [], kernel)
    assert "server in CLOSE_WAIT" in received and "#8" in received
    [sent] = [p for p in problems(late(records, 8, -2e-5), [], kernel) if "FIN_WAIT_1" in p]
    assert "client in FIN_WAIT_1" in sent and "after #8" in sent


def test_without_a_kernel_record_only_the_calls_are_checked():
    records = echo().records
    unavailable = KernelRecord([kernel_event(0.0, CLIENT_END, SERVER_END, "SYN_SENT", "ESTABLISHED")],
                               unavailable="no root")
    assert problems(records, [], unavailable) == []


def test_a_call_from_a_socket_never_bound_is_matched_by_its_port():
    """A refused connect, or an unbound UDP client, reads back 0.0.0.0:PORT."""
    s = Script()
    s.client("S", 100)
    reset = s.server("RA", 0, 101)
    early = call("client", "connect", "-1", reset.time - 1e-3, error="ECONNREFUSED", endpoint="0.0.0.0:40000")
    assert "the server's RST" in problems(s.records, [early])[0]


def test_calls_on_no_known_connection_are_not_judged():
    records = echo().records
    stray = dataclasses.replace(call("server", "recv", "5", 0.0), endpoint="10.9.9.9:1")
    assert problems(records, [stray]) == []
