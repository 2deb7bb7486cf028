"""Data on a connection: writes after the peer left, Nagle, stream boundaries, flow control,
loss, keep-alive, and a full accept queue."""

import select
import socket
import threading
import time

from handshake_viz.core.analysis import Handshake, Phase
from handshake_viz.core.marks import KEEP_ALIVE, WINDOW_UPDATE, ZERO_WINDOW, ZERO_WINDOW_PROBE
from handshake_viz.scenarios import SOCKET_TIMEOUT, Session, Traffic, drops, expect, scenario
from handshake_viz.scenarios.checks import (
    calls_named,
    kernel_dropped,
    need,
    outcome,
    single_connection,
    tcp_conversations,
)
from handshake_viz.wire.records import CLIENT, FIN, RST, SERVER, SYN


def _wait_for_error(sock: socket.socket) -> str:
    """One poll() for POLLERR, as a C program would: it returns once the RST has arrived."""
    poller = select.poll()
    poller.register(sock, select.POLLERR)
    events = poller.poll(SOCKET_TIMEOUT * 1000)
    if not events:
        raise TimeoutError("no error reported")
    return " | ".join(name for name, bit in (("POLLERR", select.POLLERR), ("POLLHUP", select.POLLHUP))
                      if events[0][1] & bit)


def _sigpipe_check(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    server_fin = next((s for s in segments if s.record.flags & FIN and s.sender == SERVER), None)
    need(problems, server_fin is not None, "the server sent no FIN")
    if server_fin is None:
        return problems
    after = segments[segments.index(server_fin):]
    data = next((s for s in after if s.sender == CLIENT and s.record.payload_len), None)
    reset = next((s for s in after if s.sender == SERVER and s.record.flags & RST), None)
    need(problems, data is not None and reset is not None and reset.record.frame > data.record.frame,
         "the client's write after the server closed was not answered by a RST")
    return problems + outcome(run, "send", CLIENT, "5") + outcome(run, "send", CLIENT, "-1 EPIPE", index=1)


@scenario("sigpipe", "the server closes; the client, after reading end of stream, writes twice: the first "
                     "write is answered by RST, the second fails with EPIPE (SIGPIPE ignored, as servers do)",
          single_connection(_sigpipe_check))
def _sigpipe(session: Session) -> None:
    done = threading.Event()

    def server():
        listener = session.listen()
        session.close(SERVER, session.accept(listener))
        expect(done.wait(SOCKET_TIMEOUT), "the client never finished")
        session.close(SERVER, listener)

    def client():
        try:
            sock = session.connect()
            session.recv_until_closed(CLIENT, sock)
            session.send(CLIENT, sock, b"hello")
            session.call(CLIENT, "poll", "POLLERR", _wait_for_error, sock, sock=sock)
            session.fails(BrokenPipeError, CLIENT, "send", "5 bytes", sock.send, b"again", sock=sock)
            session.close(CLIENT, sock)
        finally:
            done.set()

    session.run_sides(server, client)


ROUNDS = 3


def _nagle_check(run):
    conversations = tcp_conversations(run)
    if len(conversations) != 2:
        return [f"expected two connections (Nagle on, then TCP_NODELAY), saw {len(conversations)}"]
    problems: list[str] = []
    stalls = [_stalls(c) for c in conversations]
    need(problems, any(gap >= 0.02 for gap in stalls[0]),
         f"with Nagle on, no second write waited for a delayed ACK (waits: {stalls[0]})")
    need(problems, not stalls[1], f"with TCP_NODELAY a write still waited for an ACK ({stalls[1]})")
    return problems


def _stalls(conversation) -> list[float]:
    """For each round, how long the second small write waited for the server's ACK of the first:
    with Nagle on, a small segment is held while earlier data is unacknowledged."""
    segments = [s for s in conversation.segments if s.phase == Phase.DATA]
    waits = []
    for i, segment in enumerate(segments[:-1]):
        following = segments[i + 1]
        if (segment.sender == CLIENT and segment.record.payload_len and following.sender == SERVER
                and not following.record.payload_len and following.covers):
            after = next((s for s in segments[i + 2:] if s.sender == CLIENT and s.record.payload_len), None)
            if after is not None:
                waits.append(round(following.record.time - segment.record.time, 4))
    return [w for w in waits if w > 0.005]


@scenario("nagle", "write-write-read of 10-byte messages, 3 rounds, first with Nagle on, then on a second "
                   "connection with TCP_NODELAY: with Nagle the second write waits for the server's delayed ACK",
          _nagle_check, traffic=Traffic(connections=2))
def _nagle(session: Session) -> None:
    def server():
        listener = session.listen()
        for _ in range(2):
            conn = session.accept(listener)
            for _ in range(ROUNDS):
                request = b""
                while len(request) < 20:
                    request += session.recv(SERVER, conn)
                session.send(SERVER, conn, b"R" * 10)
            session.recv_until_closed(SERVER, conn)
            session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        for nodelay in (False, True):
            sock = session.connect(before_connect=session.nodelay(CLIENT) if nodelay else None)
            for _ in range(ROUNDS):
                session.send(CLIENT, sock, b"a" * 10)
                session.send(CLIENT, sock, b"b" * 10)
                session.recv(CLIENT, sock)
            session.close(CLIENT, sock)

    session.run_sides(server, client)


MESSAGES = (b"one,", b"two,", b"three")


def _boundaries_check(run, conversation):
    problems: list[str] = []
    client_data = [s for s in conversation.segments if s.sender == CLIENT and s.record.payload_len]
    need(problems, [s.record.payload_len for s in client_data] == [len(m) for m in MESSAGES],
         f"the three sends were not three segments: {[s.record.payload_len for s in client_data]}")
    reads = [c for c in calls_named(run, "recv", SERVER) if not c.end_of_stream]
    need(problems, [c.result for c in reads] == [str(sum(map(len, MESSAGES)))],
         f"the server's reads returned {[c.result for c in reads]}, expected one read of all the bytes")
    return problems


@scenario("stream-boundaries", "three send() calls on TCP (TCP_NODELAY, so three segments); the receiver asks "
                               "to wake for no fewer than all 13 bytes (SO_RCVLOWAT), and one recv returns them all: "
                               "the boundaries are lost",
          single_connection(_boundaries_check))
def _stream_boundaries(session: Session) -> None:
    total = sum(map(len, MESSAGES))

    def server():
        listener = session.listen()
        conn = session.accept(listener)
        session.setsockopt(SERVER, conn, socket.SOL_SOCKET, socket.SO_RCVLOWAT, total, f"SO_RCVLOWAT, {total}")
        expect(len(session.recv(SERVER, conn)) == total, "one read did not return everything")
        session.close_after_client(conn, listener)

    def client():
        sock = session.connect(before_connect=session.nodelay(CLIENT))
        for message in MESSAGES:
            session.send(CLIENT, sock, message)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


FLOOD = 64 * 1024
READER_PAUSE = 1.0


def _zero_window_check(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    zero = next((s for s in segments if ZERO_WINDOW in s.analysis and s.sender == SERVER), None)
    need(problems, zero is not None, "the server never advertised a zero window")
    if zero is None:
        return problems
    _probed_then_opened(problems, segments, zero)
    total = sum(s.record.payload_len for s in segments if s.sender == CLIENT and not s.analysis & {"retransmission"})
    need(problems, total >= FLOOD, f"only {total} of {FLOOD} bytes crossed")
    return problems


def _probed_then_opened(problems: list[str], segments: list, zero) -> None:
    """After the zero window: the client probes, the window opens again, data flows again."""
    later = segments[segments.index(zero):]
    probes = [s for s in later if s.sender == CLIENT and s.analysis & {ZERO_WINDOW_PROBE, KEEP_ALIVE}]
    need(problems, bool(probes), "the client sent no zero-window probe")
    opened = [s for s in later if s.sender == SERVER and s.window > 0]
    update = next((s for s in opened if WINDOW_UPDATE in s.analysis or s.record.frame > zero.record.frame), None)
    need(problems, update is not None, "the window never opened again")
    if update is not None:
        need(problems, any(s.sender == CLIENT and s.record.payload_len for s in segments[segments.index(update):]),
             "no data flowed after the window opened")


@scenario("zero-window", f"the server sets a small SO_RCVBUF and stops reading for {READER_PAUSE:g} s while "
                         f"the client writes {FLOOD // 1024} KB: the window shrinks to zero, the client probes, "
                         "the window opens when the server reads, and data flows again",
          single_connection(_zero_window_check))
def _zero_window(session: Session) -> None:
    def small_buffer(sock):
        session.setsockopt(SERVER, sock, socket.SOL_SOCKET, socket.SO_RCVBUF, 4096, "SO_RCVBUF, 4096")

    def server():
        listener = session.listen(before_listen=small_buffer)
        conn = session.accept(listener)
        time.sleep(READER_PAUSE)  # not reading: the receive buffer fills up
        received = 0
        while chunk := session.recv(SERVER, conn, 65536):
            received += len(chunk)
        expect(received == FLOOD, f"the server read {received} of {FLOOD} bytes")
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        data, sent = b"z" * FLOOD, 0
        while sent < FLOOD:   # send() takes what fits in the send buffer: loop, as C programs do
            sent += session.send(CLIENT, sock, data[sent:])
        session.close(CLIENT, sock)

    session.run_sides(server, client)


SEGMENT = 100


def _retransmission_check(run, conversation):
    problems: list[str] = []
    copies = [s for s in conversation.segments if s.resent_from is not None]
    need(problems, len(copies) == 1 and copies[0].sender == CLIENT,
         f"expected one client segment sent again, saw {[s.record.frame for s in copies]}")
    if len(copies) != 1:
        return problems
    again = copies[0]
    # tshark's name for it depends on timing: out-of-order when the copy comes within one
    # round trip of the highest segment (as on loopback), a retransmission otherwise.
    need(problems, bool(again.analysis & {"retransmission", "out_of_order"}),
         f"the copy #{again.record.frame} carries no retransmission mark")
    original = next(s for s in conversation.segments if s.record.frame == again.resent_from)
    return problems + _hole(run, conversation, original, again) + data_delivered(run)


def _hole(run, conversation, original, again) -> list[str]:
    """While the dropped segment was missing, the server's ACKs stop at the hole and SACK what lies beyond."""
    problems: list[str] = []
    meanwhile = [s for s in conversation.segments
                 if original.record.frame < s.record.frame < again.record.frame and s.sender == SERVER]
    need(problems, bool(meanwhile) and all(s.rel_ack <= original.rel_seq for s in meanwhile),
         "the server's ACKs while the segment was missing should stop at the hole")
    problems += kernel_dropped(run, conversation, original.record.frame, "NETFILTER_DROP")
    hole_end = original.rel_seq + original.record.payload_len
    need(problems, any(s.sack and s.sack[0][0] == hole_end for s in meanwhile),
         "no ACK during the hole carried a SACK block for the bytes beyond it")
    return problems


def data_delivered(run) -> list[str]:
    reads = [c for c in calls_named(run, "recv", SERVER)]
    total = sum(int(c.result.split()[0]) for c in reads if c.error is None)
    return [] if total == 3 * SEGMENT else [f"the server read {total} bytes, expected {3 * SEGMENT}"]


PUSHED = ("tcp", "flags", "&", "psh", "==", "psh")   # a segment that carries data (PSH set on each send)


@scenario("retransmission", "the client sends three 100-byte segments; in a private namespace an nftables "
                            "rule drops the second once on its way in: the receiver acknowledges only up to the "
                            "hole, the client sends the segment again, then everything is acknowledged",
          single_connection(_retransmission_check), setup=lambda port: drops(port, PUSHED, "1"))
def _retransmission(session: Session) -> None:
    segments_then_reply(session, b"abc")


def segments_then_reply(session: Session, letters: bytes) -> None:
    """The client sends a SEGMENT-byte segment of each letter (TCP_NODELAY: each send leaves as
    its own) and waits for the server's "ok"; the server reads them all, replies, and closes after
    the client."""
    total = len(letters) * SEGMENT

    def server():
        listener = session.listen()
        conn = session.accept(listener)
        received = 0
        while received < total:
            received += len(session.recv(SERVER, conn, 4096))
        session.send(SERVER, conn, b"ok")
        session.close_after_client(conn, listener)

    def client():
        sock = session.connect(before_connect=session.nodelay(CLIENT))
        for letter in letters:
            session.send(CLIENT, sock, bytes([letter]) * SEGMENT)
        expect(session.recv(CLIENT, sock) == b"ok", "no reply")
        session.close(CLIENT, sock)

    session.run_sides(server, client)


IDLE = 2.5


def _keepalive_check(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    probes = [s for s in segments if KEEP_ALIVE in s.analysis and s.sender == CLIENT]
    need(problems, len(probes) >= 2, f"{len(probes)} keep-alive probes, expected at least 2 in {IDLE} s")
    for probe in probes:
        need(problems, probe.record.payload_len == 0, "a probe carried data")
        answer = next((s for s in segments[segments.index(probe) + 1:] if s.sender == SERVER), None)
        # The answer re-acknowledges the next byte; tshark calls it a keep-alive ACK, or a window
        # update when it is the first segment to carry the scaled window.
        need(problems, answer is not None and answer.rel_ack == probe.rel_seq + 1 and not answer.record.payload_len,
             f"probe #{probe.record.frame} was not answered by an ACK of the next byte")
    if len(probes) >= 2:
        gap = probes[1].record.time - probes[0].record.time
        need(problems, 0.8 <= gap <= 1.5, f"probes {gap:.2f} s apart, expected about 1 s (TCP_KEEPINTVL)")
    return problems


@scenario("keepalive", f"the client turns on SO_KEEPALIVE with TCP_KEEPIDLE and TCP_KEEPINTVL of 1 s and stays "
                       f"idle for {IDLE:g} s: keep-alive probes (seq one below the next byte) and their ACKs",
          single_connection(_keepalive_check))
def _keepalive(session: Session) -> None:
    def server():
        listener = session.listen()
        session.close_after_client(session.accept(listener), listener)

    def client():
        def keepalive(sock):
            session.setsockopt(CLIENT, sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, "SO_KEEPALIVE, 1")
            session.setsockopt(CLIENT, sock, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1, "TCP_KEEPIDLE, 1")
            session.setsockopt(CLIENT, sock, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1, "TCP_KEEPINTVL, 1")
        sock = session.connect(before_connect=keepalive)
        time.sleep(IDLE)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


CLIENTS = 3
ACCEPT_DELAY = 0.3


def _backlog_check(run):
    conversations = tcp_conversations(run)
    problems: list[str] = []
    need(problems, len(conversations) == CLIENTS, f"{len(conversations)} connections, expected {CLIENTS}")
    retried = []
    for conversation in conversations:
        syns = [s for s in conversation.segments if s.record.flags & SYN and s.sender == CLIENT]
        need(problems, conversation.handshake == Handshake.COMPLETE, f"{conversation.client_text} never connected")
        need(problems, any(s.record.payload_len for s in conversation.segments if s.sender == SERVER),
             f"{conversation.client_text} was never served")
        if len(syns) > 1:
            retried.append(syns[1].record.time - syns[0].record.time)
            problems += kernel_dropped(run, conversation, syns[0].record.frame, "TCP_LISTEN_OVERFLOW")
    need(problems, len(retried) == 1, f"{len(retried)} clients retried their SYN, expected exactly one")
    need(problems, all(0.8 <= gap <= 1.5 for gap in retried), f"SYN retried after {retried} s, expected about 1 s")
    return problems


@scenario("backlog", f"listen(backlog=1) and no accept for {ACCEPT_DELAY:g} s while {CLIENTS} clients connect: the "
                     "accept queue holds two, the third SYN is dropped and retried by the client about 1 s later, "
                     "then all three are served", _backlog_check,
          traffic=Traffic(connections=CLIENTS), setup=lambda port: ())   # its own namespace: its listen-overflow count
def _backlog(session: Session) -> None:
    def server():
        listener = session.listen(backlog=1)
        time.sleep(ACCEPT_DELAY)
        for _ in range(CLIENTS):
            conn = session.accept(listener)
            session.send(SERVER, conn, session.recv(SERVER, conn))
            session.recv_until_closed(SERVER, conn)
            session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client(number: int):
        def program():
            time.sleep(0.02 * number)  # in order, while the server is not accepting
            sock = session.connect()
            session.send(CLIENT, sock, f"client {number}".encode())
            session.recv(CLIENT, sock)
            session.close(CLIENT, sock)
        return program

    session.run_sides(server, *(client(n) for n in range(1, CLIENTS + 1)))
