"""The trace of a program's system calls read back into calls on sockets (kernel/calls.py), line by
line as a tracing instance in `fields` mode writes them: the cases a live run rarely meets on
cue (a race on an fd number, a freed socket's address reused, exec, a thread that is not a fork)."""

from handshake_viz.kernel.calls import parse_lines, resolve

PID = 100


def line(time: float, event: str, tid: int = PID, tgid: int | None = None, softirq: bool = False, **fields) -> str:
    """One line as the kernel writes it: "comm-TID (TGID) [CPU] FLAGS TIME: EVENT: name=0x.. (..)"."""
    values = " ".join(f"{name}=0x{value & (2 ** 64 - 1):x} ({value})" for name, value in fields.items())
    return (f"         prog-{tid}   ({tgid or tid:>7}) [001] {'..s2.' if softirq else '.....'} "
            f"{1000 + time:.6f}: {event}: {values}")


def call(time: float, name: str, ret: int, tid: int = PID, tgid: int | None = None, **fields) -> list[str]:
    return [line(time, f"sys_enter_{name}", tid, tgid, **fields), line(time + 0.0001, f"sys_exit_{name}", tid, tgid, ret=ret)]


def socket(time: float, fd: int, tid: int = PID, tgid: int | None = None, cloexec: bool = False) -> list[str]:
    return call(time, "socket", fd, tid, tgid, family=2, type=1 | (0o2000000 if cloexec else 0), protocol=0)


def traced(*parts, roots=(PID,)):
    return resolve(parse_lines("\n".join(text for part in parts for text in part), 0.0), set(roots))


def names(trace) -> list[tuple]:
    return [(c.name, c.fd, c.result, c.socket) for c in trace.calls]


def test_a_dup_is_the_same_socket_and_outlives_the_close_of_the_original():
    trace = traced(socket(0.0, 3), call(0.1, "dup2", 5, oldfd=3, newfd=5), call(0.2, "close", 0, fd=3),
                      call(0.3, "shutdown", 0, fd=5, how=1), call(0.4, "close", 0, fd=5))
    assert names(trace) == [("socket", None, "3", 0), ("dup2", 3, "5", 0), ("close", 3, "0", 0),
                            ("shutdown", 5, "0", 0), ("close", 5, "0", 0)]
    assert trace.calls[3].args == "SHUT_WR"


def test_a_close_means_the_socket_its_fd_meant_when_it_began_though_another_thread_reuses_the_number():
    """Seen in the backlog scenario: one thread's close(9) frees the number, another thread's accept
    returns 9 for a new connection, and only then does the close return."""
    worker = PID + 1
    lines = (socket(0.0, 8) + socket(0.1, 9, worker, PID) + call(0.2, "listen", 0, fd=8, backlog=1)
             + [line(0.3, "sys_enter_close", worker, PID, fd=9), line(0.31, "sys_enter_accept4", PID, fd=8, flags=0),
                line(0.32, "sys_exit_accept4", PID, ret=9), line(0.33, "sys_exit_close", worker, PID, ret=0)]
             + call(0.4, "recvfrom", 5, fd=9, size=1024, flags=0))
    trace = traced(lines)
    close = next(c for c in trace.calls if c.name == "close")
    accepted = next(c for c in trace.calls if c.name == "accept4")
    assert (close.socket, accepted.socket) == (1, 2)
    assert next(c for c in trace.calls if c.name == "recvfrom").socket == 2


def test_exec_closes_the_close_on_exec_sockets_and_a_read_on_their_number_is_not_a_socket_call():
    trace = traced(socket(0.0, 3, cloexec=True), socket(0.1, 4),
                      [line(0.2, "sched_process_exec", pid=PID, old_pid=PID)],
                      call(0.3, "read", 10, fd=3, count=100), call(0.4, "read", 10, fd=4, count=100))
    assert [(c.name, c.fd) for c in trace.calls if c.name == "read"] == [("read", 4)]


def test_a_fork_is_drawn_on_each_socket_the_parent_holds_and_a_thread_is_not_a_fork():
    child, thread = 200, 101
    trace = traced(socket(0.0, 3), [line(0.1, "sched_process_fork", parent_pid=PID, child_pid=thread)],
                      call(0.2, "shutdown", 0, thread, PID, fd=3, how=2),
                      [line(0.3, "sched_process_fork", parent_pid=PID, child_pid=child)],
                      call(0.4, "close", 0, child, child, fd=3), call(0.5, "close", 0, fd=3))
    assert [(c.name, c.pid, c.result) for c in trace.calls] == [
        ("socket", PID, "3"), ("shutdown", PID, "0"), ("fork", PID, str(child)), ("close", child, "0"),
        ("close", PID, "0")]
    assert trace.sockets[0].pids == (PID, child)


def test_only_the_followed_processes_and_their_children_are_read():
    trace = traced(socket(0.0, 3, tid=999), socket(0.1, 3))
    assert [c.pid for c in trace.calls] == [PID]


def test_a_freed_sockets_address_reused_by_another_socket_does_not_rename_the_first():
    sk = 0xFFFF888100000000
    state = dict(skaddr=sk, family=2, protocol=6, saddr=0x100007F, daddr=0x100007F)
    trace = traced(
        socket(0.0, 3), [line(0.1, "sys_enter_connect", fd=3)],
        [line(0.11, "inet_sock_set_state", oldstate=7, newstate=2, sport=0, dport=80, **state)],
        [line(0.12, "inet_sock_set_state", softirq=True, oldstate=2, newstate=1, sport=40000, dport=80, **state)],
        [line(0.13, "sys_exit_connect", ret=0)], call(0.2, "close", 0, fd=3),
        # The kernel frees it, and gives its address to the next socket, connected elsewhere.
        socket(0.3, 3), [line(0.4, "sys_enter_connect", fd=3)],
        [line(0.41, "inet_sock_set_state", oldstate=7, newstate=2, sport=0, dport=443, **state)],
        [line(0.42, "inet_sock_set_state", softirq=True, oldstate=2, newstate=1, sport=40001, dport=443, **state)],
        [line(0.43, "sys_exit_connect", ret=0)])
    ends = [(s.local_port, s.remote_port, s.local_address) for s in trace.sockets]
    assert ends == [(40000, 80, "127.0.0.1"), (40001, 443, "127.0.0.1")]


def test_a_state_change_in_an_interrupt_during_a_call_is_not_that_calls_socket():
    """On loopback the peer's socket changes state inside the sender's call, as a softirq."""
    mine, peers = 0xFFFF888100000100, 0xFFFF888100000200
    state = dict(family=2, protocol=6, saddr=0x100007F, daddr=0x100007F)
    trace = traced(
        socket(0.0, 3), [line(0.1, "sys_enter_close", fd=3)],
        [line(0.11, "inet_sock_set_state", skaddr=mine, oldstate=1, newstate=4, sport=40000, dport=80, **state)],
        [line(0.12, "inet_sock_set_state", softirq=True, skaddr=peers, oldstate=1, newstate=8, sport=80, dport=40000,
              **state)],
        [line(0.13, "sys_exit_close", ret=0)])
    assert (trace.sockets[0].local_port, trace.sockets[0].remote_port) == (40000, 80)


def test_a_poll_is_drawn_on_the_socket_its_thread_uses_next_and_only_socket_reads_count():
    trace = traced(socket(0.0, 3), call(0.1, "poll", 1, ufds=0x7FFF0000, nfds=1, timeout_msecs=5000),
                      [line(0.2, "sys_enter_recvfrom", fd=3, size=1024, flags=0),
                       line(0.21, "sock_recv_length", sk=0xFFFF1, family=2, protocol=6, ret=12, flags=0),
                       line(0.22, "sys_exit_recvfrom", ret=12)],
                      call(0.3, "read", 100, fd=7, count=4096))
    poll, read = trace.calls[1:]
    assert (poll.name, poll.args, poll.socket) == ("poll", "1 fd, 5000 ms", 0)
    assert (read.name, read.bytes, read.args) == ("recvfrom", 12, "1024 bytes")


def test_a_socket_the_trace_did_not_see_made_is_known_by_its_socket_events():
    trace = traced([line(0.1, "sys_enter_write", fd=5, count=3),
                       line(0.11, "sock_send_length", sk=0xFFFF2, family=1, protocol=0, ret=3, flags=0),
                       line(0.12, "sys_exit_write", ret=3)])
    assert [(c.name, c.fd, c.bytes) for c in trace.calls] == [("write", 5, 3)]
    assert (trace.sockets[0].family, trace.sockets[0].kind) == ("AF_UNIX", "unix")

