"""A program's socket calls as the kernel saw them: the syscall tracepoints of its process tree,
read back into calls on sockets. Pure.

The trace (a tracing instance in `fields` mode, with each line's tgid) holds each call's
`sys_enter_*` and `sys_exit_*`, the processes' forks, execs and exits, and the kernel's socket
events (`sock_send_length`, `sock_recv_length`, `inet_sock_set_state`), which carry the socket's
own address in the kernel (`sk`). The syscall tracepoints carry registers, not the memory they
point to, so:

- which file descriptor is which socket follows each process's table: socket, accept and dup
  results, close and close_range, fork (a copy), exec (close-on-exec fds go);
- a socket's ports come from the kernel's socket events met during its calls (the `sk` of a
  send, a recv, a state change), and those events' ports;
- read and write count only on sockets: on a fd known as one, or one whose call met a socket event.
"""

import dataclasses
import errno
import ipaddress
import re
from dataclasses import dataclass, field

from handshake_viz.wire.records import endpoint_text

# Calls traced, by the syscall's name: what each is to the reader.
SOCKET_CALLS = ("socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown",
                "setsockopt", "getsockopt", "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg")
FD_CALLS = ("read", "readv", "write", "writev", "close", "close_range", "fcntl", "ioctl", "dup", "dup2", "dup3")
WAIT_CALLS = ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl")
TRACED = SOCKET_CALLS + FD_CALLS + WAIT_CALLS
PROCESS_EVENTS = ("sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit")
SOCKET_EVENTS = ("sock/sock_send_length", "sock/sock_recv_length", "sock/inet_sock_set_state")
# Filters in the kernel: only the fcntl and ioctl commands that matter to a socket's story.
F_DUPFD, F_SETFD, F_SETFL, F_DUPFD_CLOEXEC = 0, 2, 4, 1030
FIONBIO = 0x5421
KERNEL_FILTERS = {"fcntl": f"cmd == {F_DUPFD} || cmd == {F_SETFD} || cmd == {F_SETFL} || cmd == {F_DUPFD_CLOEXEC}",
                  "ioctl": f"cmd == {FIONBIO}"}

FAMILIES = {1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"}
TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"}
SOCK_NONBLOCK, SOCK_CLOEXEC, O_NONBLOCK, O_CLOEXEC, FD_CLOEXEC = 0o4000, 0o2000000, 0o4000, 0o2000000, 1
CLOSE_RANGE_CLOEXEC, EPOLL_CTL_DEL = 4, 2
EPOLL_OPERATIONS = {1: "EPOLL_CTL_ADD", EPOLL_CTL_DEL: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
LEVELS = {0: "IPPROTO_IP", 1: "SOL_SOCKET", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP", 41: "IPPROTO_IPV6"}
OPTIONS = {
    1: {1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE", 6: "SO_BROADCAST",
        7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE", 10: "SO_OOBINLINE", 12: "SO_PRIORITY", 13: "SO_LINGER",
        15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED", 18: "SO_RCVLOWAT", 19: "SO_SNDLOWAT",
        20: "SO_RCVTIMEO", 21: "SO_SNDTIMEO", 25: "SO_BINDTODEVICE", 29: "SO_TIMESTAMP", 30: "SO_ACCEPTCONN",
        32: "SO_SNDBUFFORCE", 33: "SO_RCVBUFFORCE", 38: "SO_PROTOCOL", 39: "SO_DOMAIN", 46: "SO_BUSY_POLL",
        57: "SO_COOKIE", 66: "SO_RCVTIMEO", 67: "SO_SNDTIMEO"},
    6: {1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL", 6: "TCP_KEEPCNT",
        7: "TCP_SYNCNT", 8: "TCP_LINGER2", 9: "TCP_DEFER_ACCEPT", 10: "TCP_WINDOW_CLAMP", 11: "TCP_INFO",
        12: "TCP_QUICKACK", 13: "TCP_CONGESTION", 18: "TCP_USER_TIMEOUT", 23: "TCP_FASTOPEN",
        25: "TCP_NOTSENT_LOWAT", 30: "TCP_FASTOPEN_CONNECT"},
    0: {1: "IP_TOS", 2: "IP_TTL", 10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 24: "IP_BIND_ADDRESS_NO_PORT",
        32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP", 35: "IP_ADD_MEMBERSHIP",
        36: "IP_DROP_MEMBERSHIP", 49: "IP_MULTICAST_ALL"},
    41: {17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS", 19: "IPV6_MULTICAST_LOOP", 20: "IPV6_JOIN_GROUP",
         21: "IPV6_LEAVE_GROUP", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY", 29: "IPV6_MULTICAST_ALL"},
}
SHUTDOWN_HOW = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
MSG_FLAGS = ((0x1, "MSG_OOB"), (0x2, "MSG_PEEK"), (0x20, "MSG_TRUNC"), (0x40, "MSG_DONTWAIT"), (0x100, "MSG_WAITALL"),
             (0x4000, "MSG_NOSIGNAL"), (0x8000, "MSG_MORE"))
STATE_NUMBERS = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECEIVED", 4: "FIN_WAIT_1", 5: "FIN_WAIT_2", 6: "TIME_WAIT",
                 7: "CLOSED", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "SYN_RECEIVED"}


@dataclass(frozen=True)
class TracedSocket:
    """One socket, however many fds and processes hold it."""

    number: int                       # its number in this record
    family: str                       # "AF_INET", "AF_INET6", "AF_UNIX"
    kind: str                         # "tcp", "udp", "unix-stream", "unix-dgram", or the type's name
    local_port: int | None = None     # as the kernel's socket events said (None: they never did)
    remote_port: int | None = None    # 0 on a listener
    local_address: str | None = None  # IPv4 only: the events' IPv6 addresses do not survive `fields` mode
    remote_address: str | None = None
    listener: int | None = None       # an accepted socket's: the socket it was accepted on
    pids: tuple[int, ...] = ()        # the processes that made calls on it

    def to_json(self) -> dict:
        return {**vars(self), "pids": list(self.pids)}


HELD = ("fork", "exit")   # not calls on a socket: a process gaining or dropping its copy of one


@dataclass(frozen=True)
class TracedCall:
    """One call as the kernel saw it."""

    pid: int
    tid: int
    name: str                  # the syscall's name: "sendto" (glibc's send), "accept4", "fork", "exit"
    fd: int | None
    args: str                  # what the registers say, decoded: "SOL_SOCKET, SO_REUSEADDR"
    start: float               # sys_enter, on the capture's clock
    end: float                 # sys_exit
    result: str                # "3", "12", "0"; a fork's: the child's pid
    error: str | None = None   # errno name
    socket: int | None = None  # which TracedSocket
    bytes: int | None = None   # what a send or recv moved (the sum over messages)

    def to_json(self) -> dict:
        return dict(vars(self))


@dataclass
class CallTrace:
    calls: list[TracedCall] = field(default_factory=list)
    sockets: list[TracedSocket] = field(default_factory=list)


_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<tid>\d+)\s+\(\s*(?P<tgid>[-\d]+)\)\s+\[\d+\]\s+(?P<flags>\S+)\s+(?P<time>\d+\.\d+): "
                   r"(?P<event>\w+): (?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(?:\S+ \((-?\d+)\)|\((-?\d+)\)|(\S+))")


@dataclass(frozen=True)
class TraceLine:
    time: float
    tid: int
    tgid: int
    event: str
    fields: dict      # name -> int (or text, for a string field)
    interrupt: bool = False   # run in an interrupt (a packet arriving: softirq), not by the task's own call


def parse_lines(text: str, offset: float) -> list[TraceLine]:
    """The events of a `fields`-mode trace, in time order (offset turns its clock into wall time)."""
    lines = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        fields = {}
        for name, decimal, bare, text_value in _FIELD.findall(match["fields"]):
            number = decimal or bare
            fields[name] = int(number) if number else text_value
        tgid = match["tgid"]
        lines.append(TraceLine(float(match["time"]) + offset, int(match["tid"]),
                               int(tgid) if tgid.lstrip("-").isdigit() else int(match["tid"]), match["event"], fields,
                               match["flags"][2:3] not in (".", "")))
    lines.sort(key=lambda line: line.time)
    return lines


@dataclass
class _Socket:
    number: int
    family: str
    kind: str
    listener: int | None = None
    ends: tuple | None = None    # (local port, remote port, local address, remote address) as its sk said
    pids: list[int] = field(default_factory=list)
    bound: tuple | None = None   # (address, port) its bind() was given, as the C library's uprobe read it


@dataclass
class _Pending:
    """A call under way: entered, not yet returned."""

    name: str
    fields: dict
    start: float
    pid: int
    number: int | None = None     # the socket its fd meant when it began
    sks: list[tuple[int, int]] = field(default_factory=list)   # (sk, bytes) of the socket events met
    fresh: set = field(default_factory=set)   # the sks whose state the call itself changed: of its socket, this life
    kind: tuple[str, int] | None = None   # (family, protocol) of the socket a send or recv met

    @property
    def fd(self) -> int | None:
        return self.fields.get("fd", self.fields.get("oldfd"))


class _Resolver:
    """Walks the trace in time order, keeping each process's fd table."""

    def __init__(self, roots: set[int]):
        self.tree = set(roots)           # the tgids followed
        self.tables: dict[int, dict[int, int]] = {}   # tgid -> fd -> socket number
        self.cloexec: dict[int, set[int]] = {}
        self.sockets: list[_Socket] = []
        self.pending: dict[int, _Pending] = {}        # tid -> the call it is in
        self.forks: dict[int, tuple[float, int, int]] = {}   # child -> (time, parent tgid, parent tid)
        # The kernel reuses a freed socket's address: what an sk says holds from its birth to the next.
        self.ends: dict[int, tuple] = {}   # sk -> (local port, remote port, local address, remote address), this life
        self.owner: dict[int, int] = {}    # sk -> the socket its calls met it in, this life
        self.calls: list[TracedCall] = []
        self.waits: dict[int, list[int]] = {}         # tid -> calls waiting for the socket it uses next
        self.epolls: dict[tuple[int, int], set[int]] = {}   # (tgid, epoll fd) -> sockets in it
        self.options: dict[int, dict] = {}   # tid -> the value its C library's setsockopt was just given

    def feed(self, line: TraceLine) -> None:
        if line.event == "sched_process_fork":
            if line.tgid in self.tree:
                self._fork(line)
            return
        if line.tgid not in self.tree:
            return
        if line.tid in self.forks:   # the child's first event: a process of its own, or a thread
            self._forked(line)
        handler = _EVENTS.get(line.event)
        if handler is not None:
            handler(self, line)
        elif line.event.startswith("sys_enter_"):
            self._enter(line)
        elif line.event.startswith("sys_exit_"):
            pending = self.pending.pop(line.tid, None)
            if pending is not None and pending.name == line.event[9:]:
                _EXITS.get(pending.name, _Resolver._on_socket)(self, pending, line)

    def _fork(self, line: TraceLine) -> None:
        child = line.fields["child_pid"]
        self.tree.add(child)
        self.tables.setdefault(child, dict(self.tables.get(line.tgid, {})))
        self.cloexec.setdefault(child, set(self.cloexec.get(line.tgid, set())))
        self.forks[child] = (line.time, line.tgid, line.tid)

    def _forked(self, line: TraceLine) -> None:
        time, parent, parent_tid = self.forks.pop(line.tid)
        if line.tgid == line.tid:     # a new process, with a copy of the parent's fds
            self._held(parent, parent_tid, time, "fork", str(line.tid))

    def _exec(self, line: TraceLine) -> None:
        table = self.tables.get(line.tgid, {})
        for fd in self.cloexec.pop(line.tgid, set()):
            table.pop(fd, None)

    def _exit(self, line: TraceLine) -> None:
        if line.fields.get("group_dead") == 1:   # its last thread: the process is gone, and its fds with it
            self._held(line.tgid, line.tid, line.time, "exit", "")
            self.tables.pop(line.tgid, None)

    def _held(self, pid: int, tid: int, time: float, name: str, result: str) -> None:
        """A fork or an exit (one of HELD), on each socket the process holds."""
        for number in sorted(set(self.tables.get(pid, {}).values())):
            self._add(TracedCall(pid, tid, name, None, "", time, time, result, socket=number))

    def _moved(self, line: TraceLine) -> None:
        pending = self.pending.get(line.tid)
        if pending is not None:
            pending.sks.append((line.fields["sk"], max(line.fields["ret"], 0)))
            pending.kind = (FAMILIES.get(line.fields["family"], ""), line.fields["protocol"])

    def _state(self, line: TraceLine) -> None:
        sk, fields = line.fields["skaddr"], line.fields
        if fields.get("protocol") != 6:
            return
        old, new = STATE_NUMBERS.get(fields["oldstate"]), STATE_NUMBERS.get(fields["newstate"])
        if old == "CLOSED" or (old == "LISTEN" and new == "SYN_RECEIVED"):   # born: made, or a listener's child
            self.ends.pop(sk, None)
            self.owner.pop(sk, None)
        if fields["sport"] or fields["dport"]:   # a connecting socket names its peer before it has a port
            self.ends[sk] = _ends(fields)
            owner = self.owner.get(sk)
            if owner is not None and _unfinished(self.sockets[owner].ends):
                self.sockets[owner].ends = self.ends[sk]
        pending = self.pending.get(line.tid)
        if pending is not None and not line.interrupt:   # made by the call itself: its own socket
            pending.sks.append((sk, 0))
            pending.fresh.add(sk)

    def _option(self, line: TraceLine) -> None:
        """The C library's setsockopt or bind, about to make the call: the value it was given."""
        self.options[line.tid] = {**line.fields, "function": line.event}

    def _enter(self, line: TraceLine) -> None:
        """A call begins: its fd means the socket it means now (another thread may close it and
        reuse the number before this call returns); close gives the number up at once."""
        pending = _Pending(line.event[10:], line.fields, line.time, line.tgid)
        given = self.options.pop(line.tid, None) if pending.name in ("setsockopt", "bind") else None
        if given and given["function"] == pending.name == "setsockopt" and all(
                given.get(name) == line.fields.get(name) for name in ("fd", "level", "optname")):
            pending.fields = {**line.fields, "value": given["value"], "second": given["second"]}
        elif given and given["function"] == pending.name == "bind" and given.get("fd") == line.fields.get("fd"):
            pending.fields = {**line.fields, "address": _sockaddr(given)}
        table = self.tables.setdefault(line.tgid, {})
        fd = pending.fd
        if fd is not None and pending.name not in ("socket", "socketpair"):
            pending.number = table.get(fd)
        if pending.name == "close":
            table.pop(fd, None)
            self.cloexec.get(line.tgid, set()).discard(fd)
        elif pending.name == "close_range":
            self._close_range(line.tgid, line.fields)
        self.pending[line.tid] = pending

    def _socket(self, pending: _Pending, exit_line: TraceLine) -> None:
        fields, ret = pending.fields, exit_line.fields["ret"]
        number = None
        if ret >= 0:
            family = FAMILIES.get(fields["family"], f"family {fields['family']}")
            number = self._new_socket(family, _kind(family, fields["type"] & 0xF), pending.pid, ret,
                                      fields["type"] & SOCK_CLOEXEC)
        self._add(self._traced(pending, exit_line, None, _socket_args(fields), number))

    def _socketpair(self, pending: _Pending, exit_line: TraceLine) -> None:
        """Its two fds are in memory the trace does not hold: its sockets are known by their
        events when used, and the pair it made is found by what they moved (see ties)."""
        self._add(self._traced(pending, exit_line, None, _socket_args(pending.fields), None))

    def _accept(self, pending: _Pending, exit_line: TraceLine) -> None:
        listener, ret = pending.number, exit_line.fields["ret"]
        if listener is None:
            return
        number = None
        if ret >= 0:
            parent = self.sockets[listener]
            number = self._new_socket(parent.family, parent.kind, pending.pid, ret,
                                      pending.fields.get("flags", 0) & SOCK_CLOEXEC, listener)
        self._learn(number, pending)
        self._add(self._traced(pending, exit_line, pending.fd, "", number))

    def _fcntl(self, pending: _Pending, exit_line: TraceLine) -> None:
        command = pending.fields["cmd"]
        if command in (F_DUPFD, F_DUPFD_CLOEXEC):
            self._dup(pending, exit_line)
        elif command == F_SETFD:
            if pending.number is not None:
                _mark(self.cloexec.setdefault(pending.pid, set()), pending.fd, pending.fields["arg"] & FD_CLOEXEC)
        else:
            self._on_socket(pending, exit_line)

    def _dup(self, pending: _Pending, exit_line: TraceLine) -> None:
        number, ret = pending.number, exit_line.fields["ret"]
        if number is None:
            return
        if ret >= 0:
            self.tables[pending.pid][ret] = number
            flags = pending.fields.get("flags", 0)
            closing = (pending.name == "dup3" and flags & O_CLOEXEC) or (
                pending.name == "fcntl" and pending.fields["cmd"] == F_DUPFD_CLOEXEC)
            _mark(self.cloexec.setdefault(pending.pid, set()), ret, closing)
        target = pending.fields.get("newfd")
        self._add(self._traced(pending, exit_line, pending.fd, "" if target is None else str(target), number))

    def _close_range(self, pid: int, fields: dict) -> None:
        table = self.tables.get(pid, {})
        for fd in [fd for fd in table if fields["fd"] <= fd <= fields["max_fd"]]:
            if fields["flags"] & CLOSE_RANGE_CLOEXEC:   # marked, not closed
                self.cloexec.setdefault(pid, set()).add(fd)
            else:
                table.pop(fd)

    def _on_socket(self, pending: _Pending, exit_line: TraceLine) -> None:
        """Any other call: drawn if its fd is a socket, or met a socket's event (one the trace did not see made)."""
        number, ret = pending.number, exit_line.fields["ret"]
        if number is None and pending.kind is not None and pending.fd is not None:
            family, protocol = pending.kind
            number = self._new_socket(family, _PROTOCOLS.get(protocol, "unix" if family == "AF_UNIX" else ""),
                                      pending.pid, pending.fd, 0)
        if number is None:
            return
        self._learn(number, pending)
        bound = pending.fields.get("address") if pending.name == "bind" and ret == 0 else None
        if bound is not None and bound[1]:   # its own end until its events say (a UDP socket's never do)
            self.sockets[number].bound = bound
        moved = None
        if pending.name in _MOVING:   # what the socket's events say moved (per message, for the mmsg calls)
            moved = sum(size for _, size in pending.sks) if pending.sks else max(ret, 0)
        self._add(self._traced(pending, exit_line, pending.fd, _args(pending.name, pending.fields), number, moved))
        for waiting in self.waits.pop(exit_line.tid, []):   # a poll before this call waited for this socket
            self.calls[waiting] = dataclasses.replace(self.calls[waiting], socket=number)

    def _wait(self, pending: _Pending, exit_line: TraceLine) -> None:
        """poll, select, epoll_wait: the fds they wait on are in memory the trace does not hold, so
        a wait is drawn on the socket its thread uses next (epoll_wait on its epoll's only socket)."""
        only = None
        if pending.name.startswith("epoll"):
            inside = self.epolls.get((pending.pid, pending.fields["epfd"]), set())
            if not inside:
                return
            only = next(iter(inside)) if len(inside) == 1 else None
        self._add(self._traced(pending, exit_line, None, _wait_args(pending.name, pending.fields), only))
        if only is None:
            self.waits.setdefault(exit_line.tid, []).append(len(self.calls) - 1)

    def _epoll_ctl(self, pending: _Pending, exit_line: TraceLine) -> None:
        """A socket put in (or taken out of) an epoll set: drawn on that socket (its events are in
        memory the trace does not hold)."""
        target = self.tables.get(pending.pid, {}).get(pending.fields["fd"])
        if target is None:
            return
        if exit_line.fields["ret"] == 0:
            _mark(self.epolls.setdefault((pending.pid, pending.fields["epfd"]), set()), target,
                  pending.fields["op"] != EPOLL_CTL_DEL)
        operation = EPOLL_OPERATIONS.get(pending.fields["op"], str(pending.fields["op"]))
        self._add(self._traced(pending, exit_line, pending.fields["fd"], f"epoll fd {pending.fields['epfd']}, {operation}",
                               target))

    def _new_socket(self, family: str, kind: str, pid: int, fd: int, cloexec: int, listener: int | None = None) -> int:
        number = len(self.sockets)
        self.sockets.append(_Socket(number, family, kind, listener))
        self.tables.setdefault(pid, {})[fd] = number
        _mark(self.cloexec.setdefault(pid, set()), fd, cloexec)
        return number

    def _learn(self, number: int | None, pending: _Pending) -> None:
        """The kernel's socket behind a call: the sk of the socket events met inside it. An sk
        another socket had, with no birth traced since (it happened in an interrupt on a task not
        followed), is in a new life: what it said of its ends was of the last one, unless the
        call itself just changed its state."""
        if number is None:
            return
        for sk, _ in pending.sks:
            if self.owner.get(sk, number) != number and sk not in pending.fresh:
                self.ends.pop(sk, None)
            self.owner[sk] = number
            ends = self.ends.get(sk)   # what its events said since, in this life
            if ends is not None and _unfinished(self.sockets[number].ends):
                self.sockets[number].ends = ends

    def _traced(self, pending: _Pending, exit_line: TraceLine, fd, args: str, number, moved=None) -> TracedCall:
        ret = exit_line.fields["ret"]
        error = errno.errorcode.get(-ret, f"errno {-ret}") if ret < 0 else None
        return TracedCall(pending.pid, exit_line.tid, pending.name, fd, args, pending.start, exit_line.time,
                          "-1" if error else str(ret), error, number, moved)

    def _add(self, call: TracedCall) -> None:
        if call.socket is not None and call.pid not in self.sockets[call.socket].pids:
            self.sockets[call.socket].pids.append(call.pid)
        self.calls.append(call)

    def result(self) -> CallTrace:
        sockets = []
        for s in self.sockets:
            local, remote, local_address, remote_address = s.ends or (
                (s.bound[1], None, s.bound[0], None) if s.bound else (None, None, None, None))
            sockets.append(TracedSocket(s.number, s.family, s.kind, local, remote, local_address, remote_address,
                                        s.listener, tuple(s.pids)))
        return CallTrace(sorted(self.calls, key=lambda c: c.start), sockets)


_EVENTS = {"sched_process_exec": _Resolver._exec, "sched_process_exit": _Resolver._exit, "setsockopt": _Resolver._option,
           "bind": _Resolver._option,
           "inet_sock_set_state": _Resolver._state, "sock_send_length": _Resolver._moved,
           "sock_recv_length": _Resolver._moved}
_EXITS = {"socket": _Resolver._socket, "socketpair": _Resolver._socketpair, "accept": _Resolver._accept,
          "accept4": _Resolver._accept, "dup": _Resolver._dup, "dup2": _Resolver._dup, "dup3": _Resolver._dup,
          "fcntl": _Resolver._fcntl, "close_range": lambda *_: None, "epoll_ctl": _Resolver._epoll_ctl,
          **{name: _Resolver._wait for name in WAIT_CALLS if name != "epoll_ctl"}}


def _unfinished(ends: tuple | None) -> bool:
    """Whether a socket's ends may still be learnt: a socket's ports never change in its life,
    but a connecting one gets its own only after it named its peer."""
    return ends is None or ends[0] is None


def _mark(members: set, item, present) -> None:
    (members.add if present else members.discard)(item)


def _ends(fields: dict) -> tuple:
    """(local port, remote port, local address, remote address) from a state change's raw fields."""
    v4 = fields.get("family") == 2
    return (fields["sport"] or None, fields["dport"], _ipv4(fields["saddr"]) if v4 and fields["sport"] else None,
            _ipv4(fields["daddr"]) if v4 and fields["dport"] else None)


_PROTOCOLS = {6: "tcp", 17: "udp"}
_MOVING = ("read", "readv", "write", "writev", "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg")


def _ipv4(value: int) -> str:
    """An address as the event's raw field holds it: the four bytes in memory order, read as a number."""
    return ".".join(str(value >> shift & 0xFF) for shift in (0, 8, 16, 24))


def _kind(family: str, kind: int) -> str:
    if family in ("AF_INET", "AF_INET6"):
        return {1: "tcp", 2: "udp"}.get(kind, TYPES.get(kind, ""))
    if family == "AF_UNIX":
        return {1: "unix-stream", 2: "unix-dgram", 5: "unix-seqpacket"}.get(kind, "unix")
    return TYPES.get(kind, "")


def _flags(value: int, names) -> str:
    return " | ".join(name for bit, name in names if value & bit)


def _socket_args(fields: dict) -> str:
    kind = fields["type"]
    extra = [name for bit, name in ((SOCK_NONBLOCK, "SOCK_NONBLOCK"), (SOCK_CLOEXEC, "SOCK_CLOEXEC")) if kind & bit]
    return ", ".join([FAMILIES.get(fields["family"], str(fields["family"])),
                      " | ".join([TYPES.get(kind & 0xF, str(kind & 0xF))] + extra)])


def _args(name: str, fields: dict) -> str:
    """The registers of a call on a socket, in words."""
    if name == "bind" and fields.get("address"):
        return endpoint_text(*fields["address"])
    if name == "listen":
        return str(fields["backlog"])
    if name == "shutdown":
        return SHUTDOWN_HOW.get(fields["how"], str(fields["how"]))
    if name in ("setsockopt", "getsockopt"):
        level, option = fields["level"], fields["optname"]
        named = f"{LEVELS.get(level, level)}, {OPTIONS.get(level, {}).get(option, option)}"
        return named + _value(fields)
    if name == "fcntl":   # the kernel's filter lets only F_SETFL through to here
        return "F_SETFL, " + ("O_NONBLOCK" if fields["arg"] & O_NONBLOCK else "blocking")
    if name == "ioctl":
        return "FIONBIO"
    size = fields.get("len", fields.get("size", fields.get("count", fields.get("vlen"))))
    flags = _flags(fields.get("flags", 0), MSG_FLAGS) if isinstance(fields.get("flags"), int) else ""
    if name in _MOVING and size is not None:
        unit = "messages" if name.endswith("mmsg") else ("iovecs" if name.endswith("v") else "bytes")
        return f"{size} {unit}" + (f", {flags}" if flags else "")
    return flags


def _sockaddr(given: dict) -> tuple[str, int] | None:
    """The address and port of the sockaddr bind() was given, read by the uprobe as words of its
    memory (little-endian here); None for a family without them (AF_UNIX's path)."""
    port = int.from_bytes(given["port"].to_bytes(2, "little"), "big")
    if given["family"] == 2:     # AF_INET
        return str(ipaddress.IPv4Address(given["address"].to_bytes(4, "little"))), port
    if given["family"] == 10:    # AF_INET6
        words = b"".join(given[f"word{i}"].to_bytes(4, "little") for i in range(4))
        return str(ipaddress.IPv6Address(words)), port
    return None


_ADDRESS_OPTIONS = {(0, 32)}             # IP_MULTICAST_IF: an in_addr
_MEMBERSHIP_OPTIONS = {(0, 35), (0, 36)}  # IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP: a group and an interface address


def _value(fields: dict) -> str:
    """A setsockopt value, as the C library's uprobe read it (its first two ints): an int, an
    IPv4 address, SO_LINGER's struct, or struct ip_mreq's group and interface."""
    if "value" not in fields:
        return ""
    option, length = (fields["level"], fields["optname"]), fields["optlen"]
    if option == (1, 13) and length == 8:   # SOL_SOCKET, SO_LINGER
        return f", {{l_onoff {fields['value']}, l_linger {fields['second']}}}"
    if option in _ADDRESS_OPTIONS and length == 4:
        return f", {_ipv4(fields['value'])}"
    if option in _MEMBERSHIP_OPTIONS and length in (8, 12):
        return f", {{group {_ipv4(fields['value'])}, interface {_ipv4(fields['second'])}}}"
    return f", {fields['value']}" if length == 4 else ""


def _ipv4(word: int) -> str:
    """An in_addr the uprobe read as a signed int of memory (little-endian here)."""
    return str(ipaddress.IPv4Address((word & 0xFFFFFFFF).to_bytes(4, "little")))


def _wait_args(name: str, fields: dict) -> str:
    if name in ("poll", "ppoll"):
        timeout = fields.get("timeout_msecs")
        return f"{fields['nfds']} fd" + ("s" if fields["nfds"] != 1 else "") + (
            f", {timeout} ms" if isinstance(timeout, int) and timeout < 2 ** 31 else "")
    if name in ("select", "pselect6"):
        return f"nfds {fields['n']}"
    return f"epoll fd {fields['epfd']}"


def resolve(lines: list[TraceLine], roots: set[int]) -> CallTrace:
    """The socket calls of the processes in roots and of every process they started."""
    resolver = _Resolver(roots)
    for line in lines:
        resolver.feed(line)
    return resolver.result()
