"""UDP: datagrams with no connection, their boundaries, an ICMP error, and DNS over UDP and TCP."""

import socket
import struct
import threading

from handshake_viz.scenarios import SOCKET_TIMEOUT, Session, Traffic, expect, scenario
from handshake_viz.scenarios.checks import calls_named, need, outcome, tcp_conversations, udp_conversations
from handshake_viz.wire import dns
from handshake_viz.wire.records import CLIENT, SERVER, Side


def _bind_udp(session: Session) -> socket.socket:
    sock = session.new_socket(SERVER, socket.SOCK_DGRAM)
    session.bind(SERVER, sock, session.server_address)
    session.listening.set()
    return sock


def _client_udp(session: Session) -> socket.socket:
    expect(session.listening.wait(SOCKET_TIMEOUT) and not session.aborted, "the server never bound its port")
    return session.new_socket(CLIENT, socket.SOCK_DGRAM)


def _datagram_lengths(run) -> list[tuple[str, int]]:
    conversations = udp_conversations(run)
    return [(d.sender, d.record.payload_len) for c in conversations for d in c.datagrams if not d.record.icmp]


def _udp_check(run):
    problems: list[str] = []
    need(problems, not tcp_conversations(run), "TCP packets appeared")
    need(problems, _datagram_lengths(run) == [(CLIENT, 4), (SERVER, 9)],
         f"datagrams {_datagram_lengths(run)}, expected the 4-byte ping and the 9-byte reply")
    return problems + outcome(run, "recvfrom", SERVER, "4") + outcome(run, "recvfrom", CLIENT, "9")


@scenario("udp", "unconnected UDP: the client sendto()s 4 bytes, the server recvfrom()s them and sendto()s "
                 "a 9-byte reply: two datagrams, no handshake, no ACK, no teardown", _udp_check,
          traffic=Traffic(connections=0, datagrams=2))
def _udp(session: Session) -> None:
    def server():
        sock = _bind_udp(session)
        data, peer = session.recvfrom(SERVER, sock)
        session.sendto(SERVER, sock, b"pong " + data, peer)
        session.close(SERVER, sock)

    def client():
        sock = _client_udp(session)
        session.sendto(CLIENT, sock, b"ping", session.server_address)
        session.recvfrom(CLIENT, sock)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


PIECES = (b"one", b"two", b"three")
BIG = b"0123456789abcdefghij"
SMALL_BUFFER = 8


def _udp_boundaries_check(run):
    problems: list[str] = []
    lengths = [length for sender, length in _datagram_lengths(run)]
    need(problems, lengths == [len(p) for p in PIECES] + [len(BIG)], f"datagrams of {lengths} bytes")
    return problems + whole_reads_then_cut(run)


def whole_reads_then_cut(run) -> list[str]:
    """The server's reads each returned one whole datagram, then the small read was cut (MSG_TRUNC)."""
    problems: list[str] = []
    reads = [c.result for c in calls_named(run, "recvfrom", SERVER)]
    need(problems, [r.split()[0] for r in reads] == [str(len(p)) for p in PIECES],
         f"the three reads returned {reads}: each should return one whole datagram")
    truncated = calls_named(run, "recvmsg", SERVER)
    need(problems, bool(truncated) and truncated[0].result == f"{SMALL_BUFFER}, MSG_TRUNC",
         f"the small read gave {[c.result for c in truncated]}, expected {SMALL_BUFFER} bytes and MSG_TRUNC")
    return problems


@scenario("udp-boundaries", "three sendto() calls, three recvfrom() calls: each read returns one whole "
                            f"datagram; then a {len(BIG)}-byte datagram read with an {SMALL_BUFFER}-byte buffer "
                            "is cut, and recvmsg reports MSG_TRUNC", _udp_boundaries_check,
          traffic=Traffic(connections=0, datagrams=4))
def _udp_boundaries(session: Session) -> None:
    sent = threading.Event()

    def server():
        sock = _bind_udp(session)
        expect(sent.wait(SOCKET_TIMEOUT), "the client never sent")
        for _ in PIECES:
            session.recvfrom(SERVER, sock)
        session.call(SERVER, "recvmsg", str(SMALL_BUFFER), read_truncated, sock, sock=sock)
        session.close(SERVER, sock)

    def client():
        sock = _client_udp(session)
        for piece in PIECES + (BIG,):
            session.sendto(CLIENT, sock, piece, session.server_address)
        sent.set()
        session.close(CLIENT, sock)

    session.run_sides(server, client)


def read_truncated(sock: socket.socket) -> str:
    data, _, flags, _ = sock.recvmsg(SMALL_BUFFER)
    return f"{len(data)}" + (", MSG_TRUNC" if flags & socket.MSG_TRUNC else "")


def _unreachable_check(run):
    problems: list[str] = []
    conversations = udp_conversations(run)
    need(problems, len(conversations) == 1, f"{len(conversations)} UDP conversations, expected one")
    if conversations:
        kinds = [(d.sender, d.record.icmp) for d in conversations[0].datagrams]
        need(problems, kinds == [(CLIENT, None), (SERVER, "port_unreachable")],
             f"saw {kinds}: expected the datagram, then ICMP port unreachable about it")
    return problems + outcome(run, "send", CLIENT, "4") + outcome(run, "recv", CLIENT, "-1 ECONNREFUSED")


@scenario("udp-unreachable", "a connected UDP socket sends to a port where nothing listens: ICMP port "
                             "unreachable comes back, and the next recv() fails with ECONNREFUSED",
          _unreachable_check, traffic=Traffic(connections=0, datagrams=1, icmp_errors=1))
def _udp_unreachable(session: Session) -> None:
    sock = session.new_socket(CLIENT, socket.SOCK_DGRAM)
    session.call(CLIENT, "connect", session.server_text, sock.connect, session.server_address, sock=sock)
    session.learn_endpoint(sock, sock.getsockname())
    session.send(CLIENT, sock, b"ping")
    session.fails(ConnectionRefusedError, CLIENT, "recv", "1024", sock.recv, 1024, sock=sock)
    session.close(CLIENT, sock)


NAME, ADDRESS = "example.test", "192.0.2.10"   # a reserved name and a documentation address


def _dns_check(run):
    problems: list[str] = []
    udp, tcp = udp_conversations(run), tcp_conversations(run)
    need(problems, len(udp) == 1 and len(tcp) == 1, "expected one UDP and one TCP exchange")
    if len(udp) == 1:
        said = [dns.describe(d.record.payload) for d in udp[0].datagrams]
        need(problems, said == [f"query A {NAME}", f"answer {NAME} A {ADDRESS}"], f"over UDP: {said}")
    if len(tcp) == 1:
        data = [s.record for s in tcp[0].segments if s.record.payload_len]
        need(problems, len(data) == 2, f"{len(data)} TCP data segments, expected the query and the answer")
        for record in data:
            prefix = struct.unpack(">H", record.payload[:2])[0] if len(record.payload) >= 2 else -1
            need(problems, prefix == record.payload_len - 2,
                 f"the length prefix says {prefix}, the message is {record.payload_len - 2} bytes")
        said = [dns.describe(r.payload[2:]) for r in data]
        need(problems, said == [f"query A {NAME}", f"answer {NAME} A {ADDRESS}"], f"over TCP: {said}")
    return problems


@scenario("dns", f"a query for {NAME} (A) to a small DNS responder on port 53 of a private namespace's "
                 "loopback, over UDP, then the same over TCP, where each message has a two-byte length prefix",
          _dns_check, port=53, setup=lambda port: (), traffic=Traffic(connections=1, datagrams=2))
def _dns(session: Session) -> None:
    def udp_server():
        sock = _bind_udp(session)
        request, peer = session.recvfrom(SERVER, sock)
        session.sendto(SERVER, sock, dns.answer(request, ADDRESS), peer)
        session.close(SERVER, sock)

    def tcp_server(listener):
        conn = session.accept(listener)
        length = struct.unpack(">H", _read_exactly(session, conn, 2))[0]
        reply = dns.answer(_read_exactly(session, conn, length), ADDRESS)
        session.send(SERVER, conn, struct.pack(">H", len(reply)) + reply)
        session.recv_until_closed(SERVER, conn)
        session.close(SERVER, conn)

    tcp_ready = threading.Event()

    def server():
        udp_server()
        listener = session.listen()
        tcp_ready.set()
        tcp_server(listener)
        session.close(SERVER, listener)

    def client():
        sock = _client_udp(session)
        session.sendto(CLIENT, sock, dns.query(0x1234, NAME), session.server_address)
        session.recvfrom(CLIENT, sock)
        session.close(CLIENT, sock)
        expect(tcp_ready.wait(SOCKET_TIMEOUT), "the TCP responder never started")
        stream = session.connect()
        message = dns.query(0x1235, NAME)
        session.send(CLIENT, stream, struct.pack(">H", len(message)) + message)
        length = struct.unpack(">H", _read_exactly(session, stream, 2, CLIENT))[0]
        _read_exactly(session, stream, length, CLIENT)
        session.close(CLIENT, stream)

    session.run_sides(server, client)


def _read_exactly(session: Session, sock: socket.socket, count: int, side: Side = SERVER) -> bytes:
    data = b""
    while len(data) < count:
        chunk = session.recv(side, sock, count - len(data))
        expect(bool(chunk), f"the stream ended after {len(data)} of {count} bytes")
        data += chunk
    return data


