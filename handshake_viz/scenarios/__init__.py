"""Scenarios: small named programs that drive real sockets and record each call.

A scenario's program gets a `Session`: where to listen, and helpers that make each socket call
and record it (its time, result or errno, the thread and fd, and the connection it was on): what
the scenario meant to do, which the runner checks against the kernel's record of the system
calls it made, which is what is drawn. Sockets block, as in a C program: a Python socket with a
timeout is non-blocking underneath (connect() = -1 EINPROGRESS, poll, getsockopt(SO_ERROR)).
A scenario declares what it needs (a private namespace set up with `tc`/`nft`, a fixed port,
UDP datagrams to wait for) and what must be seen on the wire (`check`); it never captures or
draws: the runner does.
"""

import dataclasses
import errno
import os
import pickle
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from handshake_viz.errors import ScenarioError
from handshake_viz.wire.records import CLIENT, FIN, PORTLESS, SERVER, Side, SocketCall, endpoint_text

SOCKET_TIMEOUT = 5.0


@dataclass
class Session:
    host: str
    port: int
    calls: list[tuple[SocketCall, object, str | None]] = field(default_factory=list)  # (call, socket, peer)
    listening: threading.Event = field(default_factory=threading.Event)
    aborted: bool = False
    _endpoints: dict[int, str] = field(default_factory=dict)   # socket -> client end of its connection
    _bound: dict[int, str] = field(default_factory=dict)       # socket -> the address it was bound to
    _keep: list = field(default_factory=list)   # sockets stay alive so their ids stay unique
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def server_address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def server_text(self) -> str:
        return endpoint_text(self.host, self.port)

    def call(self, side: Side, name: str, args: str, function: Callable, *arguments, sock=None, peer=None):
        """Make one socket call and record it; an OSError is recorded, then raised. sock is the
        socket it was made on (by default the socket it returned: socket(), accept()); peer, for a
        UDP server's sendto/recvfrom, the client it talked to (recvfrom's is in its result)."""
        fd, tid = sock.fileno() if sock is not None else None, threading.get_native_id()
        start = time.time()
        try:
            result = function(*arguments)
        except OSError as error:
            code = errno.errorcode.get(error.errno, "ETIMEDOUT" if isinstance(error, TimeoutError) else "error")
            self._record(SocketCall(side, name, args, start, time.time(), "-1", code, tid=tid, fd=fd), sock, peer)
            raise
        returned = result[0] if isinstance(result, tuple) and result else result
        if sock is None and isinstance(returned, socket.socket):
            sock = returned
        if peer is None and name == "recvfrom" and side == SERVER and isinstance(result[1], tuple):
            peer = endpoint_text(*result[1][:2])   # the UDP client this datagram came from
        self._record(SocketCall(side, name, args, start, time.time(), _result_text(name, result), tid=tid, fd=fd),
                     sock, peer)
        return result

    def _record(self, call: SocketCall, sock, peer: str | None) -> None:
        with self._lock:
            self.calls.append((call, sock, peer))
            if sock is not None:
                self._keep.append(sock)

    def learn_endpoint(self, sock: socket.socket, client_end: tuple) -> None:
        """From now on, calls on sock belong to the connection whose client end is client_end."""
        self._endpoints[id(sock)] = endpoint_text(*client_end[:2])

    def resolved_calls(self) -> tuple[SocketCall, ...]:
        """The calls in time order, each tied to its socket's connection, or to its socket's own
        end (a listener, a bound UDP socket)."""
        return tuple(sorted(self._resolved(self.calls), key=lambda call: call.start))

    def _resolved(self, entries: list) -> list[SocketCall]:
        resolved = []
        for call, sock, peer in entries:
            if sock is None:
                resolved.append(call)
                continue
            endpoint = peer or self._endpoints.get(id(sock))
            resolved.append(dataclasses.replace(
                call, endpoint=endpoint, protocol=_protocol(sock), local=None if endpoint else self._bound.get(id(sock))))
        return resolved

    def in_process(self, work: Callable[[], None], once_listening: bool = False) -> Callable[[], None]:
        """fork(): work runs in a child process (this thread alone, with copies of the descriptors
        this process holds), which then exits; with once_listening, it starts once the server
        listens. Returns the parent's wait for it, which takes back the calls the child made."""
        reader, writer = os.pipe()
        go_reader, go_writer = os.pipe() if once_listening else (None, None)
        with self._lock:   # no other thread holds it at the fork, so the child can record
            start = len(self.calls)
            pid = os.fork()
        if pid == 0:
            self._child(work, start, writer, go_reader)
        os.close(writer)
        if once_listening:
            os.close(go_reader)
            threading.Thread(target=lambda: self.listening.wait(SOCKET_TIMEOUT * 3) and os.write(go_writer, b"."),
                             daemon=True).start()

        def wait() -> None:
            with os.fdopen(reader, "rb") as pipe:
                calls = pickle.load(pipe)
            _, status = os.waitpid(pid, 0)
            if once_listening:
                os.close(go_writer)
            with self._lock:
                self.calls.extend((call, None, None) for call in calls)
            expect(os.waitstatus_to_exitcode(status) == 0, "the child process failed")
        return wait

    def _child(self, work: Callable[[], None], start: int, writer: int, go: int | None) -> None:
        code = 0
        try:
            if go is not None:
                if not os.read(go, 1):
                    raise ScenarioError("the server never started listening")
                self.listening.set()
            work()
        except BaseException:   # the parent says that it failed, from its exit status
            code = 1
        finally:
            with os.fdopen(writer, "wb") as pipe:
                pickle.dump(self._resolved(self.calls[start:]), pipe)
            os._exit(code)

    def bind(self, side: Side, sock: socket.socket, address: tuple, fails: type[OSError] | None = None) -> None:
        """bind(), remembered as the socket's own end, also when it is expected to fail."""
        self._bound[id(sock)] = endpoint_text(*address[:2])
        if fails is not None:
            self.fails(fails, side, "bind", endpoint_text(*address[:2]), sock.bind, address, sock=sock)
        else:
            self.call(side, "bind", endpoint_text(*address[:2]), sock.bind, address, sock=sock)

    # TCP
    def new_socket(self, side: Side, kind: int = socket.SOCK_STREAM) -> socket.socket:
        name = "SOCK_STREAM" if kind == socket.SOCK_STREAM else "SOCK_DGRAM"
        return self.call(side, "socket", name, socket.socket, self.family, kind)

    def setsockopt(self, side: Side, sock, level: int, option: int, value, text: str) -> None:
        self.call(side, "setsockopt", text, sock.setsockopt, level, option, value, sock=sock)

    def listen(self, backlog: int = 5, before_listen: Callable[[socket.socket], None] | None = None,
               reuse: bool = True) -> socket.socket:
        """The server's socket, SO_REUSEADDR set as real servers do, bound and listening."""
        server = self.new_socket(SERVER)
        if reuse:
            self.setsockopt(SERVER, server, socket.SOL_SOCKET, socket.SO_REUSEADDR, 1, "SO_REUSEADDR, 1")
        if before_listen:
            before_listen(server)
        self.bind(SERVER, server, self.server_address)
        self.call(SERVER, "listen", str(backlog), server.listen, backlog, sock=server)
        self.listening.set()
        return server

    def accept(self, listener: socket.socket) -> socket.socket:
        """accept() is drawn on the connection it returned."""
        conn, peer = self.call(SERVER, "accept", "", listener.accept)
        self.learn_endpoint(conn, peer)
        return conn

    def connect(self, side: Side = CLIENT, before_connect: Callable[[socket.socket], None] | None = None,
                address: tuple | None = None) -> socket.socket:
        if not self.listening.wait(SOCKET_TIMEOUT) or self.aborted:
            raise ScenarioError("the server never started listening")
        sock = self.new_socket(side)
        if before_connect:
            before_connect(sock)
        address = address or self.server_address
        try:
            self.call(side, "connect", endpoint_text(*address), sock.connect, address, sock=sock)
        finally:
            try:
                self.learn_endpoint(sock, sock.getsockname())
            except OSError:
                pass
        return sock

    def send(self, side: Side, sock: socket.socket, data: bytes) -> int:
        return self.call(side, "send", f"{len(data)} bytes", sock.send, data, sock=sock)

    def recv(self, side: Side, sock: socket.socket, size: int = 1024) -> bytes:
        return self.call(side, "recv", str(size), sock.recv, size, sock=sock)

    def recv_until_closed(self, side: Side, sock: socket.socket) -> None:
        expect(self.recv(side, sock) == b"", f"the {side} expected end of stream, got data")

    def close_after_client(self, conn: socket.socket, listener: socket.socket) -> None:
        """The server's usual ending: read until the client closes, then close both sockets."""
        self.recv_until_closed(SERVER, conn)
        self.close(SERVER, conn)
        self.close(SERVER, listener)

    def nodelay(self, side: Side):
        """A before_connect that turns Nagle off (TCP_NODELAY), recorded."""
        return lambda sock: self.setsockopt(side, sock, socket.IPPROTO_TCP, socket.TCP_NODELAY, 1, "TCP_NODELAY, 1")

    def fails(self, error: type[OSError], side: Side, name: str, args: str, function: Callable, *arguments, sock=None):
        """A call the scenario expects to fail with error (recorded like any other call)."""
        try:
            self.call(side, name, args, function, *arguments, sock=sock)
        except error:
            return
        raise ScenarioError(f"the {side}'s {name} succeeded, but should have failed with {error.__name__}")

    def shutdown(self, side: Side, sock: socket.socket, how: int = socket.SHUT_WR) -> None:
        name = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}[how]
        self.call(side, "shutdown", name, sock.shutdown, how, sock=sock)

    def close(self, side: Side, sock: socket.socket) -> None:
        self.call(side, "close", f"fd {sock.fileno()}", sock.close, sock=sock)

    # UDP
    def sendto(self, side: Side, sock: socket.socket, data: bytes, address: tuple) -> int:
        """A client's sendto ties its socket to the exchange; a server's is about the client it answers."""
        to = endpoint_text(*address[:2])
        sent = self.call(side, "sendto", f"{len(data)} bytes, {to}", sock.sendto, data, address, sock=sock,
                         peer=to if side == SERVER else None)
        if id(sock) not in self._endpoints and side == CLIENT:
            self.learn_endpoint(sock, sock.getsockname())
        return sent

    def recvfrom(self, side: Side, sock: socket.socket, size: int = 1024) -> tuple[bytes, tuple]:
        return self.call(side, "recvfrom", str(size), sock.recvfrom, size, sock=sock)

    def run_sides(self, *programs: Callable[[], None]) -> None:
        """Run the programs (server first, then clients) at once, each in its own thread."""
        errors: list[BaseException] = []

        def guarded(program):
            try:
                program()
            except BaseException as error:  # re-raised in the caller's thread below
                errors.append(error)
                self.aborted = True
                self.listening.set()  # a client still waiting to connect gives up

        threads = [threading.Thread(target=guarded, args=(p,), daemon=True) for p in programs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SOCKET_TIMEOUT * 3)
        if errors:
            raise errors[0]
        if any(thread.is_alive() for thread in threads):
            raise ScenarioError("the scenario's sockets did not finish in time")


def _protocol(sock: socket.socket) -> str:
    stream = sock.type == socket.SOCK_STREAM
    if sock.family == socket.AF_UNIX:
        return "unix-stream" if stream else "unix-dgram"
    return "tcp" if stream else "udp"


def _address_text(address) -> str:
    """An address a call returned: (host, port, ...) on the network, a name (or none) for AF_UNIX."""
    return endpoint_text(*address[:2]) if isinstance(address, tuple) else address or "unnamed"


def _result_text(name: str, result) -> str:
    if isinstance(result, socket.socket):
        return f"fd {result.fileno()}"
    if isinstance(result, tuple) and result and isinstance(result[0], socket.socket):
        return f"fd {result[0].fileno()} ({_address_text(result[1])})"
    if isinstance(result, tuple) and result and isinstance(result[0], bytes):  # recvfrom
        return f"{len(result[0])} ({_address_text(result[1])})"
    if isinstance(result, bytes):
        return f"{len(result)}"
    if result is None:
        return "0"
    return str(result)


def expect(condition: bool, what: str) -> None:
    """Inside a program: the program itself did not get what the scenario relies on."""
    if not condition:
        raise ScenarioError(what)


@dataclass(frozen=True)
class Traffic:
    """What a scenario puts on the wire; its capture ends once all of it has been seen to end."""

    connections: int = 1     # TCP connections, each seen to its last ACK or RST
    datagrams: int = 0       # UDP datagrams
    icmp_errors: int = 0     # ICMP errors about them
    resent: int = 0          # TCP segments sent again (after the connection seemed to end), each answered
    reports: int = 0         # a host's group membership messages (IGMP, MLD)

    def pending(self, conversations: list) -> list[str]:
        """What has not been seen yet, in words; empty once everything has ended."""
        tcp = [c for c in conversations if c.protocol == "tcp"]
        closed = sum(c.closed for c in tcp)
        resent = sum(_answered_copies(c) for c in tcp)
        reports = sum(len(c.datagrams) for c in conversations if c.protocol in PORTLESS)
        udp = [d.record for c in conversations if c.protocol == "udp" for d in c.datagrams]
        sent = sum(not r.icmp for r in udp)
        errors = sum(bool(r.icmp) for r in udp) + sum(len(c.icmp_errors) for c in tcp)
        counts = ((closed, max(self.connections, len(tcp)), "TCP connections ended"),
                  (resent, self.resent, "segments sent again and answered"),
                  (reports, self.reports, "group membership reports"), (sent, self.datagrams, "UDP datagrams"),
                  (errors, self.icmp_errors, "ICMP errors"))
        return [f"{seen} of {wanted} {what}" for seen, wanted, what in counts if seen < wanted]


def _answered_copies(conversation) -> int:
    """How many of conversation's data or FIN segments repeat an earlier one of their side and
    were followed by a segment from the other side."""
    seen, copies, answered = set(), [], 0
    for segment in conversation.segments:
        record = segment.record
        if record.payload_len or record.flags & FIN:
            key = (segment.sender, segment.rel_seq, record.payload_len, record.flags & FIN)
            if key in seen:
                copies.append(segment.sender)
            seen.add(key)
        elif copies and segment.sender != copies[-1]:
            answered = len(copies)
    return answered


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str                     # one line: what the program does, and how it is arranged
    program: Callable[[Session], None]
    check: Callable[["object"], list[str]]  # what must be on the wire: the problems found
    default: bool = False            # part of `make handshake`
    setup: Callable[[int], tuple[tuple[str, ...], ...]] | None = None  # namespace commands, given the port
    port: int | None = None          # a fixed server port (inside its namespace)
    traffic: Traffic = Traffic()     # what it puts on the wire: the capture ends when all of it has
    sampled: bool = False            # its sockets' queues and timers asked of the kernel as it runs
    on_link: bool = False            # talks on a link of its namespace (LINK), not on loopback
    capture_also: str = ""           # what else its capture keeps (a filter expression): its group's reports
    ipv4_only: str | None = None     # why it has no IPv6 form


SCENARIOS: dict[str, Scenario] = {}


# A link for the scenarios that broadcast or multicast, which loopback cannot carry (Linux sends
# no IPv6 multicast on lo: it makes no neighbour entry there): a veth pair in the run's namespace,
# whose other end has no address and no IPv6, so what leaves on it goes nowhere else. Addresses
# from the documentation ranges (RFC 5737, RFC 3849), never routed anywhere.
LINK, LINK_PEER = "hv0", "hv1"
LINK_HOSTS = {"ipv4": "192.0.2.1", "ipv6": "2001:db8::1"}
LINK_BROADCAST = "192.0.2.255"
LINK_SETUP = (
    ("ip", "link", "add", LINK, "type", "veth", "peer", "name", LINK_PEER),
    ("sysctl", "-q", "-w", f"net.ipv6.conf.{LINK_PEER}.disable_ipv6=1"),
    ("sysctl", "-q", "-w", f"net.ipv6.conf.{LINK}.accept_dad=0"),   # its addresses usable at once
    ("ip", "addr", "add", f"{LINK_HOSTS['ipv4']}/24", "dev", LINK),
    ("ip", "-6", "addr", "add", f"{LINK_HOSTS['ipv6']}/64", "dev", LINK, "nodad"),
    ("ip", "link", "set", LINK_PEER, "up"),
    ("ip", "link", "set", LINK, "up"),
)


def nft_rules(hook: str, *rules: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Namespace commands: the run's nftables table, a chain on hook ("input", "output"), and
    each rule (nft words) in it."""
    return (("nft", "add", "table", "inet", "handshake_viz"),
            ("nft", "add", "chain", "inet", "handshake_viz", hook, f"{{ type filter hook {hook} priority 0 ; }}"),
            *(("nft", "add", "rule", "inet", "handshake_viz", hook, *rule) for rule in rules))


def drops(port: int, match: tuple[str, ...], numbers: str) -> tuple[tuple[str, ...], ...]:
    """Namespace commands: of the packets arriving for port that match (nft words, such as
    `tcp flags & psh == psh`), drop those whose number, counted from 0 by the rule itself, is in
    numbers ("1", "0-1"): the same packets every run, whatever the timing."""
    return nft_rules("input", ("tcp", "dport", str(port), *match, "numgen", "inc", "mod", "1000000000", numbers, "drop"))


def sysctl(setting: str) -> tuple[str, ...]:
    """A namespace command that sets one of its own TCP settings (net.ipv4.tcp_* hold for IPv6 too)."""
    return ("sysctl", "-q", "-w", setting)


def scenario(name: str, summary: str, check: Callable, **options):
    def register(program: Callable[[Session], None]):
        SCENARIOS[name] = Scenario(name, summary, program, check, **options)
        return program
    return register


# The catalogue, in the order `list` shows it.
from handshake_viz.scenarios import lifecycle, dataflow, datagrams, recovery, buffering, local, groups  # noqa: E402,F401,I001 (this order)
