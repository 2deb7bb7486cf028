"""A connection's life: opening, closing in each order, half-closing, refusing, aborting."""

import select
import socket
import struct
import threading
import time
from pathlib import Path

from handshake_viz.core.analysis import Closer, Handshake
from handshake_viz.core.attribution import finder
from handshake_viz.core.tcp_states import TcpState
from handshake_viz.errors import ScenarioError
from handshake_viz.scenarios import SOCKET_TIMEOUT, Session, Traffic, expect, nft_rules, scenario
from handshake_viz.scenarios.checks import (
    calls_named,
    data_acked_at_seq_plus_len,
    handshake_once,
    need,
    one_connection,
    orderly_close,
    outcome,
    states,
)
from handshake_viz.wire.records import ACK, CLIENT, FIN, RST, SERVER, SYN, endpoint_text

MESSAGE = b"hello"
# Simultaneous close: both FINs wait in a slow queue on the namespace's lo (an htb class at
# 16 kbit/s lets one 66-byte segment out about every 33 ms, well inside the 200 ms minimum
# retransmission timeout), so each side has sent its FIN before the other's arrives. Sockets
# join that class through SO_PRIORITY = 1:20.
HOLD_CLASS = 0x10020
_HOLD_SETUP = (
    ("tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"),
    ("tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"),
    ("tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", "16kbit",
     "burst", "1", "cburst", "1"),
)


def _checked(*checks):
    def check(run):
        problems, conversation = one_connection(run)
        if conversation is None:
            return problems
        for one in checks:
            problems += one(run, conversation)
        return problems
    return check


def _opens(run, conversation):
    return handshake_once(conversation)


def _client_closes(run, conversation):
    return orderly_close(conversation, CLIENT)


def _server_closes(run, conversation):
    return orderly_close(conversation, SERVER)


def _data(run, conversation):
    return data_acked_at_seq_plus_len(conversation)


@scenario("handshake", "a server listens, a client connects, then both close (the client first)",
          _checked(_opens, _client_closes), default=True)
def open_then_close(session: Session) -> None:
    """The client connects and closes at once; the server accepts, reads to the end, closes."""
    def server():
        listener = session.listen()
        session.close_after_client(session.accept(listener), listener)

    def client():
        session.close(CLIENT, session.connect())

    session.run_sides(server, client)


def _echo(session: Session, server_closes_first: bool) -> None:
    def server():
        listener = session.listen()
        conn = session.accept(listener)
        session.send(SERVER, conn, session.recv(SERVER, conn))
        if not server_closes_first:
            session.recv_until_closed(SERVER, conn)
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        session.send(CLIENT, sock, MESSAGE)
        expect(session.recv(CLIENT, sock) == MESSAGE, "the echo did not come back whole")
        if server_closes_first:
            session.recv_until_closed(CLIENT, sock)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


@scenario("echo", "the client sends 5 bytes, the server echoes them; the client closes first "
                  "(active close: the client ends in TIME_WAIT)",
          _checked(_opens, _data, _client_closes), default=True)
def _echo_client_closes(session: Session) -> None:
    _echo(session, server_closes_first=False)


@scenario("server-close", "the same echo, but the server closes first, so the server ends in TIME_WAIT",
          _checked(_opens, _data, _server_closes), default=True)
def _echo_server_closes(session: Session) -> None:
    _echo(session, server_closes_first=True)


def _crossing_fins(run, conversation):
    problems: list[str] = []
    fins = [s for s in conversation.segments if s.record.flags & FIN]
    need(problems, len({s.sender for s in fins}) == 2, "each side should send a FIN")
    if len(fins) >= 2:
        first, second = fins[0], fins[1]
        need(problems, second.sender != first.sender, "the first two FINs came from one side")
        need(problems, second.rel_ack is None or second.rel_ack <= first.rel_seq,
             "the second FIN acknowledges the first: it was sent after the first arrived")
        between = conversation.segments[conversation.segments.index(first) + 1:conversation.segments.index(second)]
        need(problems, not between, "packets passed between the two FINs")
    for side in (CLIENT, SERVER):
        need(problems, states(conversation, side)[-3:] == ["FIN_WAIT_1", "CLOSING", "TIME_WAIT"],
             f"the {side} went {states(conversation, side)}, not FIN_WAIT_1 -> CLOSING -> TIME_WAIT")
    need(problems, conversation.active_closer == Closer.BOTH, f"active closer {conversation.active_closer}")
    return problems


@scenario("simultaneous-close",
          "both sides close at the same moment; in a private namespace a slow queue on lo holds "
          "each segment ~33 ms, so both FINs leave before either arrives: FIN_WAIT_1 -> CLOSING -> TIME_WAIT on both",
          _checked(_opens, _crossing_fins), setup=lambda port: _HOLD_SETUP)
def _simultaneous_close(session: Session) -> None:
    both_ready = threading.Barrier(2, timeout=SOCKET_TIMEOUT)
    connected = threading.Event()
    accepted: list[socket.socket] = []

    def hold(side, sock):   # the slow queue's class: a call of the program, drawn like any other
        session.setsockopt(side, sock, socket.SOL_SOCKET, socket.SO_PRIORITY, HOLD_CLASS, f"SO_PRIORITY, {HOLD_CLASS}")

    def server():
        listener = session.listen()
        conn = session.accept(listener)
        accepted.append(conn)
        connected.set()
        hold(SERVER, conn)
        both_ready.wait()
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        expect(connected.wait(SOCKET_TIMEOUT), "the server never accepted")
        hold(CLIENT, sock)
        _spend_burst(session)
        both_ready.wait()
        session.close(CLIENT, sock)

    session.run_sides(server, client)


def _spend_burst(session: Session, hold_class: int = HOLD_CLASS, size: int = 1) -> None:
    """A hold class starts with one segment's worth of tokens: spend it on a datagram to the
    discard port (not captured) so that no held segment slips through at once; a datagram of
    size bytes leaves in debt, and holds the next segment for as long as the class takes to send
    size bytes."""
    with socket.socket(session.family, socket.SOCK_DGRAM) as primer:
        primer.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, hold_class)
        primer.sendto(b"x" * size, (session.host, 9))


def _half_closed(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    client_fin = next((s for s in segments if s.record.flags & FIN and s.sender == CLIENT), None)
    need(problems, client_fin is not None and conversation.active_closer == CLIENT, "the client's FIN came first")
    if client_fin is None:
        return problems
    after = segments[segments.index(client_fin) + 1:]
    server_data = [s for s in after if s.sender == SERVER and s.record.payload_len]
    need(problems, bool(server_data), "the server sent no data after the client's FIN")
    senders = {s.record.frame: s.sender for s in segments}
    for segment in server_data:
        need(problems, senders.get(segment.acked_by) == CLIENT,
             f"data #{segment.record.frame} after the FIN was not acknowledged by the client")
    need(problems, _in_fin_wait_2(conversation.states[CLIENT], server_data),
         "the client was not in FIN_WAIT_2 while it received the server's data")
    need(problems, conversation.half_close, "the analysis did not see a half-close")
    return problems + outcome(run, "shutdown", CLIENT, "0") + orderly_close(conversation, CLIENT)


def _in_fin_wait_2(client_states: list, received: list) -> bool:
    """Every segment received between the client's FIN_WAIT_2 and its TIME_WAIT."""
    fin_wait_2 = next((c.frame for c in client_states if c.state == TcpState.FIN_WAIT_2), None)
    leaves = next((c.frame for c in client_states if c.state == TcpState.TIME_WAIT), None) or 1 << 60
    return fin_wait_2 is not None and all(fin_wait_2 <= s.record.frame < leaves for s in received)


@scenario("half-close", "the client sends a request, then shutdown(SHUT_WR); the server reads to end of "
                        "stream (recv returns 0), then replies and closes",
          _checked(_opens, _half_closed))
def _half_close(session: Session) -> None:
    def server():
        listener = session.listen()
        conn = session.accept(listener)
        request = b""
        while chunk := session.recv(SERVER, conn):
            request += chunk
        session.send(SERVER, conn, b"reply to " + request)
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        session.send(CLIENT, sock, b"GET /")
        session.shutdown(CLIENT, sock, socket.SHUT_WR)
        expect(session.recv(CLIENT, sock).startswith(b"reply"), "no reply after the half-close")
        session.recv_until_closed(CLIENT, sock)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


def _refused_check(run):
    problems, conversation = one_connection(run)
    if conversation is None:
        return problems
    flags = [s.record.flags for s in conversation.segments]
    need(problems, flags == [SYN, RST | ACK], f"expected SYN then RST+ACK, saw {len(flags)} segments")
    need(problems, conversation.handshake == Handshake.REFUSED, f"handshake {conversation.handshake}")
    return problems + outcome(run, "connect", CLIENT, "-1 ECONNREFUSED")


@scenario("refused", "connect to a port where nothing listens: the SYN is answered by RST+ACK and "
                     "connect fails with ECONNREFUSED", _refused_check)
def _refused(session: Session) -> None:
    sock = session.new_socket(CLIENT)
    session.fails(ConnectionRefusedError, CLIENT, "connect", session.server_text, sock.connect,
                  session.server_address, sock=sock)
    session.learn_endpoint(sock, sock.getsockname())   # the port it tried from
    session.close(CLIENT, sock)


def _aborted(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    need(problems, not any(s.record.flags & FIN for s in segments), "a FIN was sent: close was not an abort")
    resets = [s for s in segments if s.record.flags & RST]
    need(problems, len(resets) == 1 and resets[0].sender == CLIENT, "expected one RST, from the client")
    need(problems, not conversation.time_wait, f"TIME_WAIT on {conversation.time_wait}")
    return problems + outcome(run, "recv", SERVER, "-1 ECONNRESET", index=1)


@scenario("abort", "the client sets SO_LINGER {on, 0} and closes: a RST instead of a FIN, no TIME_WAIT, "
                   "and the server's next recv fails with ECONNRESET", _checked(_opens, _aborted))
def _abort(session: Session) -> None:
    sent = threading.Event()

    def server():
        listener = session.listen()
        conn = session.accept(listener)
        session.recv(SERVER, conn)
        sent.set()
        session.fails(ConnectionResetError, SERVER, "recv", "1024", conn.recv, 1024, sock=conn)
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        session.send(CLIENT, sock, MESSAGE)
        expect(sent.wait(SOCKET_TIMEOUT), "the server never read the message")
        session.setsockopt(CLIENT, sock, socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0), "SO_LINGER, {on, 0}")
        session.close(CLIENT, sock)

    session.run_sides(server, client)


def _rebinds(run, conversation):
    binds = [c for c in run.meant if c.name == "bind"]
    problems = orderly_close(conversation, SERVER)
    need(problems, [c.outcome for c in binds[1:]] == ["-1 EADDRINUSE", "0"],
         f"the rebinds gave {[c.outcome for c in binds[1:]]}, expected EADDRINUSE then 0")
    return problems


@scenario("reuseaddr", "the server closes first (so its side is in TIME_WAIT), then binds its port again at "
                       "once: without SO_REUSEADDR bind fails with EADDRINUSE, with it bind succeeds",
          _checked(_opens, _rebinds))
def _reuseaddr(session: Session) -> None:
    _echo(session, server_closes_first=True)
    plain = session.new_socket(SERVER)
    session.bind(SERVER, plain, session.server_address, fails=OSError)
    session.close(SERVER, plain)
    reusing = session.new_socket(SERVER)
    session.setsockopt(SERVER, reusing, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1, "SO_REUSEADDR, 1")
    session.bind(SERVER, reusing, session.server_address)
    session.close(SERVER, reusing)


def _reset_not_fin(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    need(problems, not any(s.record.flags & FIN for s in segments if s.sender == SERVER),
         "the server sent a FIN: its close should have been an abort")
    resets = [s for s in segments if s.record.flags & RST]
    need(problems, len(resets) == 1 and resets[0].sender == SERVER, "expected one RST, from the server")
    unread = [s for s in segments if s.sender == CLIENT and s.record.payload_len]
    need(problems, bool(unread) and bool(resets) and unread[-1].record.frame < resets[0].record.frame,
         "the client's bytes did not arrive before the RST")
    need(problems, not conversation.time_wait, f"TIME_WAIT on {conversation.time_wait}")
    need(problems, not calls_named(run, "recv", SERVER), "the server read: its bytes were not left unread")
    return problems + outcome(run, "recv", CLIENT, "-1 ECONNRESET")


@scenario("unread-close", "the client sends 5 bytes; the server never reads them and closes: with unread bytes "
                          "in its receive buffer the kernel sends a RST instead of a FIN, no side is left in "
                          "TIME_WAIT, and the client's recv fails with ECONNRESET",
          _checked(_opens, _reset_not_fin))
def _unread_close(session: Session) -> None:
    def server():
        listener = session.listen()
        conn = session.accept(listener)
        session.call(SERVER, "poll", "POLLIN", _wait_readable, conn, sock=conn)   # the bytes are waiting
        session.close(SERVER, conn)
        session.close(SERVER, listener)

    def client():
        sock = session.connect()
        session.send(CLIENT, sock, MESSAGE)
        session.fails(ConnectionResetError, CLIENT, "recv", "1024", sock.recv, 1024, sock=sock)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


def _wait_readable(sock: socket.socket) -> str:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    expect(bool(poller.poll(SOCKET_TIMEOUT * 1000)), "nothing to read arrived")
    return "POLLIN"


def _both_opened(run, conversation):
    problems: list[str] = []
    syns = [s for s in conversation.segments if s.record.flags & (SYN | ACK) == SYN]
    need(problems, sorted(s.sender for s in syns) == [CLIENT, SERVER],
         f"SYNs from {[s.sender for s in syns]}, expected one from each side")
    if len(syns) == 2:
        between = conversation.segments[conversation.segments.index(syns[0]) + 1:conversation.segments.index(syns[1])]
        need(problems, not between, "packets passed between the two SYNs: they did not cross")
    need(problems, sum(s.record.flags & (SYN | ACK) == SYN | ACK for s in conversation.segments) == 2,
         "expected a SYN+ACK from each side")
    for side in (CLIENT, SERVER):
        need(problems, states(conversation, side)[1:4] == ["SYN_SENT", "SYN_RECEIVED", "ESTABLISHED"],
             f"the {side} went {states(conversation, side)}, not SYN_SENT -> SYN_RECEIVED -> ESTABLISHED")
    need(problems, conversation.handshake == Handshake.COMPLETE, f"handshake {conversation.handshake}")
    return problems + outcome(run, "connect", CLIENT, "0") + outcome(run, "connect", SERVER, "0")


# Simultaneous open: every segment of the connection waits in the slow class of
# simultaneous-close (16 kbit/s: a SYN about every 37 ms), put there by nftables rules on the
# namespace's output hook, so each side's SYN, and then its SYN+ACK, is sent before the other
# side's arrives, every run; one queue keeps them in order. The first SYN waits longer, behind a
# primer datagram of OPEN_HOLD bytes (half a second), for the other side's connect() on a loaded
# machine; the whole handshake must end within the 1 s after which the kernel resends a SYN or a
# SYN+ACK still unanswered.
OPEN_HOLD = 1000


def _slow_connection(port: int) -> tuple[tuple[str, ...], ...]:
    return (*_HOLD_SETUP, *nft_rules("output", *(("tcp", end, str(port), "meta", "priority", "set", "1:20")
                                                 for end in ("dport", "sport"))))


@scenario("simultaneous-open",
          "two sockets, each bound to its own port, connect to each other at once, with no listen() and no "
          "accept(); in a private namespace a slow queue holds each segment ~40 ms (the first ~500 ms), so "
          "both SYNs leave before either arrives: each side goes SYN_SENT -> SYN_RECEIVED -> ESTABLISHED",
          _checked(_both_opened), setup=_slow_connection)
def _simultaneous_open(session: Session) -> None:
    client_end: list[tuple] = []
    bound = threading.Event()

    def client():   # its SYN is queued first, so it is the side that sent the first SYN
        sock = session.new_socket(CLIENT)
        own_port = session.port + 1 if session.port < 65535 else session.port - 1   # free: the namespace is new
        session.bind(CLIENT, sock, (session.host, own_port))
        client_end.append(sock.getsockname())
        session.learn_endpoint(sock, client_end[0])
        _spend_burst(session, HOLD_CLASS, OPEN_HOLD)
        bound.set()
        session.call(CLIENT, "connect", session.server_text, sock.connect, session.server_address, sock=sock)
        session.recv_until_closed(CLIENT, sock)
        session.close(CLIENT, sock)

    def server():
        sock = session.new_socket(SERVER)
        session.bind(SERVER, sock, session.server_address)
        expect(bound.wait(SOCKET_TIMEOUT), "the other side never bound its port")
        _await_syn_sent(client_end[0][1])
        session.learn_endpoint(sock, client_end[0])
        session.call(SERVER, "connect", endpoint_text(*client_end[0][:2]), sock.connect, client_end[0], sock=sock)
        session.close(SERVER, sock)

    session.run_sides(client, server)


def _await_syn_sent(port: int) -> None:
    """Until the socket on port is in SYN_SENT (its SYN queued), read from the namespace's own
    socket tables, which are no socket call of the program."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    while time.monotonic() < deadline:
        for name in ("tcp", "tcp6"):
            for line in Path(f"/proc/thread-self/net/{name}").read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if int(local.rsplit(":", 1)[1], 16) == port and state == "02":   # TCP_SYN_SENT
                    return
        time.sleep(0.001)
    raise ScenarioError("the first side's SYN was never sent")


def _shared_close_check(run):
    conversations = [c for c in run.conversations if c.protocol == "tcp"]
    if len(conversations) != 2:
        return [f"expected two connections (close in the child, then shutdown in the child), saw {len(conversations)}"]
    closing, shutting = conversations
    problems = _close_kept_open(run, closing) + _shutdown_ended_it(run, shutting)
    for conversation in conversations:
        problems += handshake_once(conversation) + orderly_close(conversation, SERVER)
    return problems


def _on(run, conversation, name: str) -> list:
    """The server's calls named name on conversation, as the program recorded them."""
    find = finder(run.conversations)
    return [c for c in run.meant if c.side == SERVER and c.name == name and find(c) is conversation]


def _close_kept_open(run, conversation) -> list[str]:
    """The child's close sent nothing; the parent wrote afterwards; the parent's close sent the FIN."""
    problems: list[str] = []
    closes = _on(run, conversation, "close")
    fin = next((s for s in conversation.segments if s.sender == SERVER and s.record.flags & FIN), None)
    need(problems, len(closes) == 2 and closes[0].tid != closes[1].tid,
         f"expected a close in the child and one in the parent, saw {len(closes)}")
    need(problems, fin is not None, "the server sent no FIN")
    if len(closes) != 2 or fin is None:
        return problems
    child, parent = closes
    need(problems, parent.start <= fin.record.time, "the FIN left before the parent's close: the child's close sent it")
    need(problems, any(s.sender == SERVER and s.record.payload_len and child.end < s.record.time < fin.record.time
                       for s in conversation.segments),
         "no data from the parent after the child's close: the connection did not live on")
    return problems


def _shutdown_ended_it(run, conversation) -> list[str]:
    """The child's shutdown(SHUT_WR) sent the FIN at once; the parent's send then failed with EPIPE."""
    problems: list[str] = []
    shutdowns = _on(run, conversation, "shutdown")
    fin = next((s for s in conversation.segments if s.sender == SERVER and s.record.flags & FIN), None)
    need(problems, len(shutdowns) == 1 and fin is not None and shutdowns[0].start <= fin.record.time <= shutdowns[0].end + 0.5,
         "the child's shutdown(SHUT_WR) did not send the FIN")
    sends = [c.outcome for c in _on(run, conversation, "send")]
    need(problems, sends == ["-1 EPIPE"], f"the parent's send after the child's shutdown gave {sends}, expected -1 EPIPE")
    return problems


GREETING, STILL_HERE = b"hello", b"still here"


@scenario("shared-close", "a server forks after accept, so parent and child share the connection: the child's "
                          "close() only drops its reference and no FIN leaves until the parent closes too; on a "
                          "second connection the child's shutdown(SHUT_WR) sends the FIN at once, and the "
                          "parent's send then fails with EPIPE",
          _shared_close_check, traffic=Traffic(connections=2))
def _shared_close(session: Session) -> None:
    def client():   # a process of its own, as a real client is: it holds no copy of the server's sockets
        sock = session.connect()
        expect(session.recv(CLIENT, sock) == STILL_HERE, "the parent's data did not arrive")
        session.recv_until_closed(CLIENT, sock)
        session.close(CLIENT, sock)
        sock = session.connect()
        session.recv_until_closed(CLIENT, sock)
        session.close(CLIENT, sock)

    def child(listener, conn, work):   # the textbook child first closes its copy of the listener
        return lambda: (session.close(SERVER, listener), work(conn))

    client_ends = session.in_process(client, once_listening=True)
    listener = session.listen()
    conn = session.accept(listener)
    session.in_process(child(listener, conn, lambda c: session.close(SERVER, c)))()
    session.send(SERVER, conn, STILL_HERE)   # the connection lived on in the parent
    session.close(SERVER, conn)
    conn = session.accept(listener)
    session.in_process(child(listener, conn, lambda c: (session.shutdown(SERVER, c, socket.SHUT_WR),
                                                        session.close(SERVER, c))))()
    session.fails(BrokenPipeError, SERVER, "send", f"{len(STILL_HERE)} bytes", conn.send, STILL_HERE, sock=conn)
    session.recv_until_closed(SERVER, conn)
    session.close(SERVER, conn)
    session.close(SERVER, listener)
    client_ends()
