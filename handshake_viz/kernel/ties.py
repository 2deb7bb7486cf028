"""Which conversation, and which side of it, each traced call was made on. Pure.

A socket is tied by what the kernel said of it and by the packets:
- a TCP socket whose ports its socket events gave is the conversation with those ports (the
  one nearest in time, when a port pair came back); a listener (remote port 0) serves every
  conversation to its port;
- a connecting socket they did not name is the conversation whose first SYN left during its
  connect(); an accepted one takes the next conversation its listener's queue holds (the accept
  queue is first in, first out), in the order their handshakes ended;
- a UDP socket is tied call by call: a send to the datagram of that many bytes that left during
  it, a receive to the oldest datagram not yet read that reached its port before it returned
  (cut to the buffer, when it was larger).
A call on a socket tied to nothing (another port's, a Unix socket's) is on no conversation.
"""

import bisect
import dataclasses
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import NamedTuple

from handshake_viz.core.attribution import same_end
from handshake_viz.kernel.calls import HELD, TracedCall, TracedSocket
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.wire.records import ACK, CLIENT, RST, SERVER, SYN, SocketCall, endpoint_text

RESOLUTION = 1e-6   # the capture keeps microseconds


class Place(NamedTuple):
    """Where a socket's calls are drawn."""

    side: str
    conversation: object | None   # the one it was on; None for a listener or a server's UDP socket
    local: str | None = None      # such a socket's own end: it serves every conversation to its port


_SENDS = ("sendto", "sendmsg", "sendmmsg", "write", "writev")
_RECEIVES = ("recvfrom", "recvmsg", "recvmmsg", "read", "readv")


def socket_calls(record: KernelRecord | None, conversations: list) -> tuple[SocketCall, ...]:
    """The traced calls made on the sockets of conversations, as the diagrams draw them."""
    if record is None or not record.calls:
        return ()
    by_socket: dict[int, list[TracedCall]] = defaultdict(list)
    for call in record.calls:
        if call.socket is not None:
            by_socket[call.socket].append(call)
    places = _tcp_places(record.sockets, by_socket, [c for c in conversations if c.protocol == "tcp"])
    udp = _Datagrams([c for c in conversations if c.protocol == "udp"])
    tied = []
    for sock in record.sockets:
        calls, who = by_socket.get(sock.number, []), len(sock.pids) > 1
        if sock.kind == "udp":
            tied += _udp_calls(sock, calls, udp, who)
        elif sock.kind == "tcp":
            place = places.get(sock.number) or _unplaced(sock, calls)
            tied += [_as_socket_call(call, place, sock, "tcp", who) for call in calls] if place else []
    return tuple(sorted(tied, key=lambda call: call.start))


def _unplaced(sock: TracedSocket, calls: list[TracedCall]) -> Place | None:
    """A TCP socket never connected nor listening (only bound, or a bind that failed) is on no
    connection, which a run of one conversation draws; one with a peer was another connection's."""
    if sock.remote_port is not None:
        return None
    return Place(CLIENT if any(c.name == "connect" for c in calls) else SERVER, None)


def _as_socket_call(call: TracedCall, place: Place, sock: TracedSocket, protocol: str, who: bool,
                    datagram=None) -> SocketCall:
    """The call as drawn: its fd, its registers in words, and what the trace has not (the address
    a bind, connect, accept or datagram call had in memory) from its socket's ends."""
    conversation, result = place.conversation, call.result
    address = None
    if call.name == "bind":
        address = None if call.args else _own_end(place, sock)   # what it was given, when the uprobe read it
    elif call.name == "connect":
        peer = conversation and (conversation.server_text if place.side == CLIENT else conversation.client_text)
        address = peer or (f"port {sock.remote_port}" if sock.remote_port else None)
    elif call.name in ("accept", "accept4") and conversation is not None and call.error is None:
        result = f"{result} ({conversation.client_text})"
    elif datagram is not None:
        record = datagram.record
        if call.name in _SENDS:
            address = f"to {endpoint_text(record.dst, record.dport)}"
        elif record.payload_len > call.bytes:   # cut to the buffer: recvmsg says so in msg_flags, the others do not
            cut = "MSG_TRUNC" if call.name == "recvmsg" else "cut"
            result = f"{result}, {cut} ({endpoint_text(record.src, record.sport)}, a {record.payload_len}-byte datagram)"
        else:
            result = f"{result} ({endpoint_text(record.src, record.sport)})"
    return _drawn(call, place.side, who, protocol, conversation, place.local, address, result)


def _drawn(call: TracedCall, side: str, who: bool, protocol: str, conversation=None, local: str | None = None,
           address: str | None = None, result: str | None = None) -> SocketCall:
    """A traced call as the diagrams draw it: its fd first, like the C call's first argument."""
    args = ", ".join(part for part in (f"fd {call.fd}" if call.fd is not None else "", address, call.args) if part)
    return SocketCall(side, call.name, args, call.start, call.end, result or call.result, call.error,
                      conversation.client_text if conversation else None, protocol, local, pid=call.pid, tid=call.tid,
                      fd=call.fd, who=f"pid {call.pid}" if who else None,
                      conversation=conversation.index if conversation else None)


def _own_end(place: Place, sock: TracedSocket) -> str | None:
    if place.conversation is not None:
        return place.conversation.client_text if place.side == CLIENT else place.conversation.server_text
    if sock.local_address is not None and sock.local_port:
        return endpoint_text(sock.local_address, sock.local_port)
    return f"port {sock.local_port}" if sock.local_port else None


def _wildcard(sock: TracedSocket, port: int) -> str:
    return endpoint_text("::" if sock.family == "AF_INET6" else "0.0.0.0", port)


def _tcp_places(sockets: list[TracedSocket], by_socket: dict, tcp: list) -> dict[int, Place]:
    places: dict[int, Place] = {}
    by_ports: dict[tuple[int, int], list] = {}   # (client port, server port) -> its conversations, over time
    for conversation in tcp:
        by_ports.setdefault((conversation.client[1], conversation.server[1]), []).append(conversation)
    for sock in sockets:
        if sock.kind != "tcp":
            continue
        calls = by_socket.get(sock.number, [])
        if sock.remote_port == 0 and sock.local_port:
            own = endpoint_text(sock.local_address, sock.local_port) if sock.local_address else None
            places[sock.number] = Place(SERVER, None, own or _wildcard(sock, sock.local_port))
            continue
        found = _by_ports(sock, by_ports, calls) or _by_connect(sock, tcp, calls)
        if found is not None:
            places[sock.number] = found
    _accepted(sockets, by_socket, tcp, places)
    return places


def _by_ports(sock: TracedSocket, by_ports: dict, calls: list[TracedCall]):
    if not sock.local_port or not sock.remote_port:
        return None
    # An accepted socket is a server's; one that connected, a client's, unless both sides connected
    # (a simultaneous open: the server is the side whose SYN came second).
    connected = any(c.name == "connect" for c in calls)
    candidates = [(CLIENT, c) for c in by_ports.get((sock.local_port, sock.remote_port), []) if sock.listener is None]
    candidates += [(SERVER, c) for c in by_ports.get((sock.remote_port, sock.local_port), [])
                   if not connected or _server_connected(c)]
    if not candidates:
        return None
    first = calls[0].start if calls else 0.0
    side, conversation = min(candidates, key=lambda pair: abs(pair[1].segments[0].record.time - first))
    return Place(side, conversation)


def _server_connected(conversation) -> bool:
    return any(s.sender == SERVER and s.record.flags & (SYN | ACK) == SYN for s in conversation.segments)


def _by_connect(sock: TracedSocket, tcp: list, calls: list[TracedCall]):
    """The conversation whose first SYN left while this socket's connect() ran."""
    for call in calls:
        if call.name != "connect":
            continue
        for conversation in tcp:
            syn = conversation.segments[0].record
            if (syn.flags & (SYN | ACK) == SYN and call.start - RESOLUTION <= syn.time <= call.end + RESOLUTION
                    and sock.remote_port in (None, conversation.server[1])):
                return Place(CLIENT, conversation)
    return None


def _accepted(sockets: list[TracedSocket], by_socket: dict, tcp: list, places: dict) -> None:
    """Accepted sockets the ports did not tie: each takes, in the order accept() returned them,
    the next conversation of its listener's port whose handshake ended before that accept returned."""
    claimed = {id(places[s.number].conversation) for s in sockets if s.number in places}
    queues: dict[int, list] = defaultdict(list)
    for sock in sockets:
        if sock.listener is not None and sock.number not in places and by_socket.get(sock.number):
            queues[sock.listener].append(sock)
    for listener, accepted in queues.items():
        port = sockets[listener].local_port
        waiting = sorted((c for c in tcp if c.server[1] == port and id(c) not in claimed),
                         key=_handshake_end)
        for sock in sorted(accepted, key=lambda s: by_socket[s.number][0].end):
            returned = by_socket[sock.number][0].end
            ready = [c for c in waiting if _handshake_end(c) <= returned + RESOLUTION]
            if ready:
                waiting.remove(ready[0])
                places[sock.number] = Place(SERVER, ready[0])


def _handshake_end(conversation) -> float:
    """When the client's ACK that ends the handshake was seen (else the last packet's time)."""
    acks = [s.record.time for s in conversation.segments
            if s.sender == CLIENT and s.record.flags & (SYN | ACK | RST) == ACK]
    return acks[0] if acks else conversation.segments[-1].record.time


def _udp_calls(sock: TracedSocket, calls: list[TracedCall], datagrams: "_Datagrams", who: bool) -> list[SocketCall]:
    """Each send or receive tied to its datagram; the socket's other calls to its one exchange,
    or, when it talked with several clients (a server) or with none (a bound socket that got
    nothing), to its own port."""
    taken: set[int] = set()
    read_from: dict = {}   # port -> where its oldest datagram not yet read may be, in its list
    tied: dict[int, tuple[Place, object]] = {}
    local_port = sock.local_port   # what its bind() was given, when the uprobe read it
    for number, call in enumerate(calls):
        match = datagrams.moved_by(call, taken, local_port, read_from)
        if match is not None:
            conversation, datagram = match
            taken.add(datagram.record.frame)
            side = datagram.sender if call.name in _SENDS else (SERVER if datagram.sender == CLIENT else CLIENT)
            local_port = local_port or (datagram.record.sport if call.name in _SENDS else datagram.record.dport)
            tied[number] = (Place(side, conversation), datagram)
    exchanges = {place.conversation.index: place for place, _ in tied.values()}
    sock = dataclasses.replace(sock, local_port=local_port)   # what its datagrams said of it
    if len(exchanges) == 1:
        place = next(iter(exchanges.values()))
    else:
        own = endpoint_text(sock.local_address, local_port) if sock.local_address else _wildcard(sock, local_port)
        place = Place(SERVER, None, own) if exchanges or local_port else None
    if place is None:
        return []
    result = []
    for number, call in enumerate(calls):
        own, datagram = tied.get(number, (place, None))
        result.append(_as_socket_call(call, own, sock, "udp", who, datagram))
    return result


class _Datagrams:
    """The capture's datagrams in time order, by the port each left from and the port it reached,
    made once: a busy program makes as many calls as datagrams."""

    def __init__(self, udp: list):
        self.every = sorted(((d.record.time, c, d) for c in udp for d in c.datagrams if not d.record.icmp),
                            key=lambda item: item[0])
        self.times = [item[0] for item in self.every]
        self.sent: dict[int, list] = defaultdict(list)
        self.reached: dict[int, list] = defaultdict(list)
        for item in self.every:
            self.sent[item[2].record.sport].append(item)
            self.reached[item[2].record.dport].append(item)
        self.sent_times = {port: [item[0] for item in items] for port, items in self.sent.items()}

    def moved_by(self, call: TracedCall, taken: set[int], local_port: int | None, read_from: dict):
        """(conversation, datagram) a send or receive moved: a send's left while it ran, with its
        bytes; a receive's is the oldest one not yet read that had reached the socket's port (a
        socket's queue is first in, first out), cut if it was larger than the buffer. A socket's
        first, its port unknown, takes only one of its very size."""
        if call.error is not None or call.bytes is None:
            return None
        if call.name in _SENDS:
            items, times = ((self.sent[local_port], self.sent_times.get(local_port, [])) if local_port is not None
                            else (self.every, self.times))
            window = items[bisect.bisect_left(times, call.start - RESOLUTION):bisect.bisect_right(times, call.end + RESOLUTION)]
            found = next((i for i in window if i[2].record.frame not in taken and i[2].record.payload_len == call.bytes), None)
        elif call.name in _RECEIVES:
            found = self._read(call, taken, local_port, read_from)
        else:
            return None
        return found[1:] if found else None

    def _read(self, call: TracedCall, taken: set[int], local_port: int | None, read_from: dict):
        items = self.reached[local_port] if local_port is not None else self.every
        first = read_from.get(local_port, 0)
        while first < len(items) and items[first][2].record.frame in taken:   # read already: never again
            first += 1
        read_from[local_port] = first
        for item in itertools.islice(items, first, None):
            if item[2].record.frame in taken:
                continue
            if item[0] > call.end + RESOLUTION:
                return None
            size = item[2].record.payload_len
            if size == call.bytes or (local_port is not None and size > call.bytes):
                return item
        return None


@dataclass(frozen=True)
class UnixExchange:
    """Two Unix-domain sockets that talked. Nothing goes on a wire: only their calls are known."""

    index: int
    kind: str                       # "unix-stream", "unix-dgram": its calls' protocol
    ends: dict                      # side -> "pid 4312, fd 3"
    calls: tuple[SocketCall, ...]


def unix_exchanges(record: KernelRecord | None) -> list[UnixExchange]:
    """The pairs of Unix-domain sockets in the record, with their calls. A connecting socket pairs
    with the socket its listener's accept() returned, in order (the queue is first in, first
    out); other sockets (datagrams, a socketpair) pair with the socket that read what they wrote:
    the first read of as many bytes after each write."""
    if record is None:
        return []
    unix = {s.number: s for s in record.sockets if s.family == "AF_UNIX"}
    calls = [c for c in record.calls if c.socket in unix]
    pairs = _accepted_pairs(calls, unix)
    moved = _pairs_by_bytes([c for c in calls if not any(c.socket in pair for pair in pairs)])
    pairs += [pair for pair in dict.fromkeys(moved.values()) if pair not in pairs]
    made = [c for c in record.calls if c.name == "socketpair" and c.error is None]
    return [_exchange(index, pair, unix, calls, moved, made) for index, pair in enumerate(pairs)]


def _exchange(index: int, pair: tuple[int, int], unix: dict, calls: list[TracedCall], moved: dict,
              made: list[TracedCall]) -> UnixExchange:
    """The calls of the pair's two sockets (and of the listener the server's came from), a call
    that moved bytes only on the pair it moved them in; and the socketpair() that made two
    sockets no socket() made, by a process that holds one, before either was used."""
    client, server = pair
    listener = unix[server].listener
    own = {client: CLIENT, server: SERVER} | ({listener: SERVER} if listener is not None else {})
    chosen = [c for c in calls if c.socket in own and moved.get(id(c), pair) == pair]
    drawn = [_drawn(c, own[c.socket], len(unix[c.socket].pids) > 1, unix[client].kind) for c in chosen]
    if not any(c.name in ("socket", "accept", "accept4") for c in chosen) and chosen:
        pids = set(unix[client].pids) | set(unix[server].pids)
        maker = [c for c in made if c.pid in pids and c.end <= chosen[0].start]
        drawn = [_drawn(c, CLIENT, len(pids) > 1, unix[client].kind) for c in maker[-1:]] + drawn
    return UnixExchange(index, unix[client].kind, {CLIENT: _end(calls, client), SERVER: _end(calls, server)},
                        tuple(drawn))


def _accepted_pairs(calls: list[TracedCall], unix: dict) -> list[tuple[int, int]]:
    connected = [c.socket for c in sorted(calls, key=lambda c: c.end)
                 if c.name == "connect" and c.error is None and unix[c.socket].kind != "unix-dgram"]
    accepted = [c.socket for c in sorted(calls, key=lambda c: c.end) if c.name in ("accept", "accept4") and c.error is None]
    return list(zip(connected, accepted))


def _pairs_by_bytes(calls: list[TracedCall]) -> dict:
    """(writer, reader) for each send, keyed by the id of both calls; the writer of a pair's first
    send is its client. Each send, in the order they began, takes the first read of as many bytes
    on another socket not over before it began; reads are queued by size and by when they ended,
    and one over before a send began can be no later send's either (a busy pair makes millions)."""
    waiting: dict[int, deque] = defaultdict(deque)   # bytes -> reads not taken, by when they ended
    for read in sorted(_moving(calls, _RECEIVES), key=lambda c: c.end):
        waiting[read.bytes].append(read)
    matched: dict = {}
    first: dict[frozenset, tuple[int, int]] = {}
    for send in sorted(_moving(calls, _SENDS), key=lambda c: c.start):
        reads = waiting[send.bytes]
        while reads and reads[0].end < send.start:
            reads.popleft()
        reader = next((r for r in reads if r.socket != send.socket), None)
        if reader is not None:
            reads.remove(reader)
            pair = first.setdefault(frozenset((send.socket, reader.socket)), (send.socket, reader.socket))
            matched[id(send)] = matched[id(reader)] = pair
    return matched


def _moving(calls: list[TracedCall], names: tuple[str, ...]) -> list[TracedCall]:
    """The calls of those names that moved bytes."""
    return [c for c in calls if c.name in names and c.error is None and c.bytes]


def _end(calls: list[TracedCall], number: int) -> str:
    """A socket's lane: the process and fd that made it (or first used it)."""
    call = next(c for c in calls if c.socket == number)
    fd = int(call.result) if call.name in ("socket", "accept", "accept4") else call.fd
    return f"pid {call.pid}, fd {fd}"



# What Python's socket methods are to the kernel: glibc's send and recv are sendto and recvfrom.
SYSCALL_NAMES = {"send": ("sendto",), "recv": ("recvfrom",), "accept": ("accept4", "accept"), "poll": ("poll", "ppoll")}
CLOCK_SLACK = 1e-5   # both clocks are the wall clock: what is left is float rounding


def differences(meant: tuple[SocketCall, ...], traced: tuple[SocketCall, ...]) -> list[str]:
    """Where what a program recorded doing and the kernel's record of it disagree: a call with no
    system call inside it (same thread and fd, by name), a different outcome, side or connection,
    or a system call on its sockets that it never made (a timeout's hidden poll, say). A fork or
    an exit is no call of the program's: the kernel draws it on every socket the process held."""
    found, used = [], set()
    for call in meant:
        what = f"the {call.side}'s {call.name}({call.args}) = {call.outcome}"
        match = next((i for i, t in enumerate(traced) if i not in used and _inside(t, call)), None)
        if match is None:
            names = "/".join(SYSCALL_NAMES.get(call.name, (call.name,)))
            found.append(f"{what} has no {names} system call in the kernel's record")
            continue
        used.add(match)
        kernel = traced[match]
        if not _agree(kernel, call):
            found.append(f"{what} is, to the kernel, the {kernel.side}'s {kernel.name}({kernel.args}) = {kernel.outcome}"
                         f" on {kernel.endpoint or kernel.local or 'no connection'}")
    found += [f"the kernel saw the {t.side}'s {t.name}({t.args}) = {t.outcome}, which the program did not record making"
              for i, t in enumerate(traced) if i not in used and t.name not in HELD]
    return found


def _inside(traced: SocketCall, call: SocketCall) -> bool:
    """Whether traced is the system call behind call: its thread, its fd (where both know it), its
    name, and made while call ran."""
    return (traced.tid == call.tid and traced.name in SYSCALL_NAMES.get(call.name, (call.name,))
            and (call.fd is None or traced.fd is None or traced.fd == call.fd)
            and call.start - CLOCK_SLACK <= traced.start and traced.end <= call.end + CLOCK_SLACK)


def _agree(traced: SocketCall, call: SocketCall) -> bool:
    """The same outcome and side, and the same connection where both name one (a listener's call
    may be drawn on the connection it served)."""
    same_place = traced.endpoint is None or call.endpoint is None or same_end(call.endpoint, traced.endpoint)
    return (traced.error, traced.side) == (call.error, call.side) and same_place
