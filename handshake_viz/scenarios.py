"""Scenarios: small named programs that drive real sockets on loopback and record each call.

A scenario's program gets a `Session`: where to listen, and `call()` to make and record each
socket call (its time, result or errno). Scenarios never capture or draw; the runner does.
"""

import errno
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from handshake_viz.errors import ScenarioError
from handshake_viz.records import SocketCall, endpoint_text

SOCKET_TIMEOUT = 5.0
MESSAGE = b"hello"


@dataclass
class Session:
    host: str
    port: int
    calls: list[SocketCall] = field(default_factory=list)
    listening: threading.Event = field(default_factory=threading.Event)
    aborted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def server_address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def call(self, side: str, name: str, args: str, function: Callable, *arguments):
        """Make one socket call and record it; an OSError is recorded, then raised."""
        start = time.time()
        try:
            result = function(*arguments)
        except OSError as error:
            end = time.time()
            code = errno.errorcode.get(error.errno, "ETIMEDOUT" if isinstance(error, TimeoutError) else "error")
            self._record(SocketCall(side, name, args, start, end, "-1", code))
            raise
        self._record(SocketCall(side, name, args, start, time.time(), _result_text(result)))
        return result

    def _record(self, call: SocketCall) -> None:
        with self._lock:
            self.calls.append(call)

    def new_socket(self, side: str) -> socket.socket:
        sock = self.call(side, "socket", "SOCK_STREAM", socket.socket, self.family, socket.SOCK_STREAM)
        sock.settimeout(SOCKET_TIMEOUT)
        return sock

    def listen(self, backlog: int = 5) -> socket.socket:
        """The server's socket, SO_REUSEADDR set as real servers do, bound and listening."""
        server = self.new_socket("server")
        self.call("server", "setsockopt", "SO_REUSEADDR, 1", server.setsockopt,
                  socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.call("server", "bind", endpoint_text(*self.server_address), server.bind, self.server_address)
        self.call("server", "listen", str(backlog), server.listen, backlog)
        self.listening.set()
        return server

    def connect(self) -> socket.socket:
        if not self.listening.wait(SOCKET_TIMEOUT) or self.aborted:
            raise ScenarioError("the server never started listening")
        client = self.new_socket("client")
        self.call("client", "connect", endpoint_text(*self.server_address), client.connect, self.server_address)
        return client

    def recv(self, side: str, sock: socket.socket, size: int = 1024) -> bytes:
        return self.call(side, "recv", str(size), sock.recv, size)

    def send(self, side: str, sock: socket.socket, data: bytes) -> int:
        return self.call(side, "send", f"{len(data)} bytes", sock.send, data)

    def close(self, side: str, sock: socket.socket) -> None:
        self.call(side, "close", f"fd {sock.fileno()}", sock.close)

    def run_sides(self, server: Callable[[], None], client: Callable[[], None]) -> None:
        """Run the server and client programs at once, each in its own thread."""
        errors: list[BaseException] = []

        def guarded(program):
            try:
                program()
            except BaseException as error:  # re-raised in the caller's thread below
                errors.append(error)
                self.aborted = True
                self.listening.set()  # a client still waiting to connect gives up

        threads = [threading.Thread(target=guarded, args=(p,), daemon=True) for p in (server, client)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOCKET_TIMEOUT * 3)
        if errors:
            raise errors[0]
        if any(thread.is_alive() for thread in threads):
            raise ScenarioError("the scenario's sockets did not finish in time")


def _result_text(result) -> str:
    if isinstance(result, socket.socket):
        return f"fd {result.fileno()}"
    if isinstance(result, tuple) and result and isinstance(result[0], socket.socket):
        return f"fd {result[0].fileno()} ({endpoint_text(*result[1][:2])})"
    if isinstance(result, bytes):
        return f"{len(result)}" if result else "0 (end of stream)"
    if result is None:
        return "0"
    return str(result)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    program: Callable[[Session], None]
    default: bool = True


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, summary: str, default: bool = True):
    def register(program: Callable[[Session], None]):
        SCENARIOS[name] = Scenario(name, summary, program, default)
        return program
    return register


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise ScenarioError(what)


def _read_until_closed(session: Session, side: str, sock: socket.socket) -> None:
    _expect(session.recv(side, sock) == b"", f"the {side} expected end of stream, got data")


@scenario("handshake", "a server listens, a client connects, then both close (the client first)")
def _handshake(session: Session) -> None:
    def server():
        listener = session.listen()
        conn, _ = session.call("server", "accept", "", listener.accept)
        _read_until_closed(session, "server", conn)
        session.close("server", conn)
        session.close("server", listener)

    def client():
        sock = session.connect()
        session.close("client", sock)

    session.run_sides(server, client)


def _echo(session: Session, server_closes_first: bool) -> None:
    def server():
        listener = session.listen()
        conn, _ = session.call("server", "accept", "", listener.accept)
        data = session.recv("server", conn)
        session.send("server", conn, data)
        if not server_closes_first:
            _read_until_closed(session, "server", conn)
        session.close("server", conn)
        session.close("server", listener)

    def client():
        sock = session.connect()
        session.send("client", sock, MESSAGE)
        _expect(session.recv("client", sock) == MESSAGE, "the echo did not come back whole")
        if server_closes_first:
            _read_until_closed(session, "client", sock)
        session.close("client", sock)

    session.run_sides(server, client)


@scenario("echo", "the client sends 5 bytes, the server echoes them; the client closes first "
                  "(active close: the client ends in TIME_WAIT)")
def _echo_client_closes(session: Session) -> None:
    _echo(session, server_closes_first=False)


@scenario("server-close", "the same echo, but the server closes first, so the server ends in TIME_WAIT")
def _echo_server_closes(session: Session) -> None:
    _echo(session, server_closes_first=True)
