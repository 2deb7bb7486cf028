"""Unix-domain sockets: the exchanges of stream-boundaries and udp-boundaries with no network at
all. The kernel copies from one socket to the other; nothing is on a wire, so only the calls
(from the kernel's record of them) are drawn."""

import os
import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager

from handshake_viz.kernel.ties import unix_exchanges
from handshake_viz.scenarios import SOCKET_TIMEOUT, Session, Traffic, expect, scenario
from handshake_viz.scenarios.checks import calls_named, need
from handshake_viz.scenarios.dataflow import MESSAGES
from handshake_viz.scenarios.datagrams import BIG, PIECES, SMALL_BUFFER, read_truncated, whole_reads_then_cut
from handshake_viz.wire.records import CLIENT, SERVER

NO_PACKETS = Traffic(connections=0)


@contextmanager
def _directory():
    """A directory of this run's own for the sockets' names in the file system, removed after."""
    folder = tempfile.mkdtemp(prefix="handshake-viz-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _unix_socket(session: Session, side: str, kind: int) -> socket.socket:
    name = "SOCK_STREAM" if kind == socket.SOCK_STREAM else "SOCK_DGRAM"
    return session.call(side, "socket", f"AF_UNIX, {name}", socket.socket, socket.AF_UNIX, kind)


def _no_wire(run, kind: str) -> list[str]:
    """Nothing on the wire, and (where calls were traced) the kernel's record of one exchange."""
    problems: list[str] = []
    need(problems, not run.records, f"{len(run.records)} packets were captured: AF_UNIX puts none on a wire")
    if run.kernel.calls:
        exchanges = unix_exchanges(run.kernel)
        need(problems, [e.kind for e in exchanges] == [kind],
             f"the kernel's record holds exchanges {[e.kind for e in exchanges]}, expected one {kind}")
    return problems


def _unix_stream_check(run):
    problems = _no_wire(run, "unix-stream")
    sends = [c.result for c in calls_named(run, "send", CLIENT)]
    need(problems, sends == [str(len(m)) for m in MESSAGES], f"the client's sends returned {sends}")
    reads = [c.result for c in calls_named(run, "recv", SERVER) if not c.end_of_stream]
    need(problems, reads == [str(sum(map(len, MESSAGES)))],
         f"the server's reads returned {reads}, expected one read of all the bytes: a stream keeps no boundaries")
    return problems


@scenario("unix-stream", "stream-boundaries over a Unix-domain stream socket (AF_UNIX, SOCK_STREAM, a name in "
                         "the file system): three send() calls, one recv() returns all 13 bytes, which the server "
                         "echoes; no packets, since the kernel copies the bytes from one socket to the other",
          _unix_stream_check, traffic=NO_PACKETS)
def _unix_stream(session: Session) -> None:
    total = sum(map(len, MESSAGES))
    with _directory() as folder:
        path = os.path.join(folder, "echo.sock")

        def server():
            listener = _unix_socket(session, SERVER, socket.SOCK_STREAM)
            session.call(SERVER, "bind", path, listener.bind, path, sock=listener)
            session.call(SERVER, "listen", "1", listener.listen, 1, sock=listener)
            session.listening.set()
            conn, _ = session.call(SERVER, "accept", "", listener.accept)
            session.setsockopt(SERVER, conn, socket.SOL_SOCKET, socket.SO_RCVLOWAT, total, f"SO_RCVLOWAT, {total}")
            request = session.recv(SERVER, conn)
            expect(len(request) == total, "one read did not return everything")
            session.send(SERVER, conn, request)
            session.recv_until_closed(SERVER, conn)
            session.close(SERVER, conn)
            session.close(SERVER, listener)

        def client():
            expect(session.listening.wait(SOCKET_TIMEOUT) and not session.aborted, "the server never listened")
            sock = _unix_socket(session, CLIENT, socket.SOCK_STREAM)
            session.call(CLIENT, "connect", path, sock.connect, path, sock=sock)
            for message in MESSAGES:
                session.send(CLIENT, sock, message)
            expect(session.recv(CLIENT, sock) == b"".join(MESSAGES), "the echo did not come back whole")
            session.close(CLIENT, sock)

        session.run_sides(server, client)


def _unix_dgram_check(run):
    return _no_wire(run, "unix-dgram") + whole_reads_then_cut(run)


@scenario("unix-dgram", "udp-boundaries over Unix-domain datagram sockets (AF_UNIX, SOCK_DGRAM, each bound to a "
                        "name): three sendto(), three recvfrom() each returning one whole datagram, then a "
                        f"{len(BIG)}-byte datagram read into {SMALL_BUFFER} bytes is cut (MSG_TRUNC), and a reply to the "
                        "client's own name; no packets",
          _unix_dgram_check, traffic=NO_PACKETS)
def _unix_dgram(session: Session) -> None:
    sent = threading.Event()
    with _directory() as folder:
        server_path, client_path = os.path.join(folder, "server.sock"), os.path.join(folder, "client.sock")

        def server():
            sock = _unix_socket(session, SERVER, socket.SOCK_DGRAM)
            session.call(SERVER, "bind", server_path, sock.bind, server_path, sock=sock)
            session.listening.set()
            expect(sent.wait(SOCKET_TIMEOUT), "the client never sent")
            for _ in PIECES:
                session.recvfrom(SERVER, sock)
            session.call(SERVER, "recvmsg", str(SMALL_BUFFER), read_truncated, sock, sock=sock)
            session.call(SERVER, "sendto", f"4 bytes, {client_path}", sock.sendto, b"done", client_path, sock=sock)
            session.close(SERVER, sock)

        def client():
            expect(session.listening.wait(SOCKET_TIMEOUT) and not session.aborted, "the server never bound its name")
            sock = _unix_socket(session, CLIENT, socket.SOCK_DGRAM)
            session.call(CLIENT, "bind", client_path, sock.bind, client_path, sock=sock)
            for piece in PIECES + (BIG,):
                session.call(CLIENT, "sendto", f"{len(piece)} bytes, {server_path}", sock.sendto, piece, server_path,
                             sock=sock)
            sent.set()
            session.recvfrom(CLIENT, sock)
            session.close(CLIENT, sock)

        session.run_sides(server, client)
