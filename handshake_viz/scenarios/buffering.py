"""How data passes through the kernel: non-blocking calls and readiness, segmentation at the MSS,
and the socket buffers, as set and as the kernel sizes and fills them."""

import fcntl
import os
import select
import socket
import threading
import time

from handshake_viz.scenarios import SOCKET_TIMEOUT, Session, expect, scenario
from handshake_viz.scenarios.checks import calls_named, need, outcome, single_connection
from handshake_viz.wire.records import CLIENT, SERVER, SYN

GREETING = b"hello"
CHUNK = 64 * 1024
SMALL_BUFFER = 4096
READER_DELAY = 0.05


def _waited(events: int):
    """poll() for events on one socket, as a C program would; its result says which came."""
    def wait(sock: socket.socket) -> str:
        poller = select.poll()
        poller.register(sock, events)
        ready = poller.poll(SOCKET_TIMEOUT * 1000)
        expect(bool(ready), "poll timed out")
        return " | ".join(name for name, bit in (("POLLIN", select.POLLIN), ("POLLOUT", select.POLLOUT),
                                                 ("POLLERR", select.POLLERR)) if ready[0][1] & bit)
    return wait


def _epoll_in(epoll: select.epoll) -> str:
    ready = epoll.poll(SOCKET_TIMEOUT)
    expect(bool(ready), "epoll_wait timed out")
    return f"{len(ready)} (EPOLLIN)"


def _nonblocking_check(run, conversation):
    problems = outcome(run, "connect", CLIENT, "-1 EINPROGRESS") + outcome(run, "poll", CLIENT, "POLLOUT")
    problems += outcome(run, "getsockopt", CLIENT, "0") + outcome(run, "recv", CLIENT, "-1 EAGAIN")
    segments = conversation.segments
    greeting = next((s for s in segments if s.sender == SERVER and s.record.payload_len), None)
    early = next(iter(calls_named(run, "recv", CLIENT)), None)
    need(problems, greeting is not None and early is not None and early.end < greeting.record.time,
         "the client's first recv did not return before any data arrived")
    ready = next(iter(calls_named(run, "epoll_wait", CLIENT)), None)
    need(problems, ready is not None and greeting is not None and ready.end >= greeting.record.time,
         "epoll_wait did not return after the server's data arrived")
    sends = [c.outcome for c in calls_named(run, "send", CLIENT)]
    need(problems, len(sends) >= 2 and sends[-1] == "-1 EAGAIN" and all(not o.startswith("-1") for o in sends[:-1])
         and int(sends[-2]) < CHUNK,
         f"the client's sends gave {sends}: expected counts, the last one short, then -1 EAGAIN")
    need(problems, any(c.outcome == "POLLOUT" for c in calls_named(run, "poll", CLIENT)[1:]),
         "no poll said the socket was writable again after EAGAIN")
    return problems


@scenario("nonblocking", "the client makes its socket non-blocking (O_NONBLOCK): connect returns EINPROGRESS, "
                         "poll says writable when the handshake is done, SO_ERROR is 0; recv returns EAGAIN "
                         "before any data, epoll_wait wakes when the server's data arrives; then 64 KB sends "
                         "into a slow reader: a short count, then EAGAIN, then poll until there is room",
          single_connection(_nonblocking_check))
def _nonblocking(session: Session) -> None:
    greet, drain = threading.Event(), threading.Event()
    sent: list[int] = []

    def server():
        def small(sock):
            session.setsockopt(SERVER, sock, socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER,
                               f"SO_RCVBUF, {SMALL_BUFFER}")
        listener = session.listen(before_listen=small)
        conn = session.accept(listener)
        expect(greet.wait(SOCKET_TIMEOUT), "the client never asked for the greeting")
        session.send(SERVER, conn, GREETING)
        expect(drain.wait(SOCKET_TIMEOUT), "the client never filled its buffer")
        time.sleep(READER_DELAY)   # the client is in poll() by now, usually: it is drawn waiting for room
        received = 0
        while received < sent[0]:
            received += len(session.recv(SERVER, conn, CHUNK))
        session.close_after_client(conn, listener)

    def client():
        expect(session.listening.wait(SOCKET_TIMEOUT), "the server never started listening")
        sock = session.new_socket(CLIENT)
        session.call(CLIENT, "fcntl", "F_SETFL, O_RDWR | O_NONBLOCK", fcntl.fcntl, sock, fcntl.F_SETFL,
                     os.O_RDWR | os.O_NONBLOCK, sock=sock)
        session.setsockopt(CLIENT, sock, socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER, f"SO_SNDBUF, {SMALL_BUFFER}")
        try:
            session.call(CLIENT, "connect", session.server_text, sock.connect, session.server_address, sock=sock)
        except BlockingIOError:
            pass
        finally:
            session.learn_endpoint(sock, sock.getsockname())
        session.call(CLIENT, "poll", "POLLOUT", _waited(select.POLLOUT), sock, sock=sock)
        error = session.call(CLIENT, "getsockopt", "SOL_SOCKET, SO_ERROR", sock.getsockopt, socket.SOL_SOCKET,
                             socket.SO_ERROR, sock=sock)
        expect(error == 0, f"the connection failed: SO_ERROR {error}")
        session.fails(BlockingIOError, CLIENT, "recv", "1024", sock.recv, 1024, sock=sock)
        with select.epoll() as epoll:
            session.call(CLIENT, "epoll_ctl", "EPOLL_CTL_ADD, EPOLLIN", epoll.register, sock, select.EPOLLIN, sock=sock)
            greet.set()
            session.call(CLIENT, "epoll_wait", "1 event", _epoll_in, epoll, sock=sock)
            expect(session.recv(CLIENT, sock) == GREETING, "the greeting did not come whole")
        total = 0
        try:
            while True:   # as C programs do: send until the kernel takes no more
                total += session.send(CLIENT, sock, b"n" * CHUNK)
        except BlockingIOError:
            sent.append(total)
        drain.set()
        session.call(CLIENT, "poll", "POLLOUT", _waited(select.POLLOUT), sock, sock=sock)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


MTU = 1500
BULK = 10_000


def _mss_check(run, conversation):
    problems: list[str] = []
    mss = MTU - (40 if conversation.client[0].count(":") < 2 else 60)   # IP and TCP headers, no options
    offered = [s.record.options.mss for s in conversation.segments if s.record.flags & SYN and s.record.options]
    need(problems, offered == [mss, mss], f"the SYNs offered MSS {offered}, expected {mss} from each side")
    data = [s.record.payload_len for s in conversation.segments if s.sender == CLIENT and s.record.payload_len]
    need(problems, sum(data) == BULK, f"{sum(data)} bytes crossed, expected {BULK}")
    # Each segment carries at most the MSS less the 12 bytes of the timestamp option.
    need(problems, len(data) > 1 and max(data) <= mss - 12 and data.count(max(data)) >= len(data) - 1,
         f"the {BULK}-byte send left as segments of {data}, not MSS-sized ones")
    return problems + outcome(run, "send", CLIENT, str(BULK))


@scenario("mss", f"in a private namespace whose lo has an MTU of {MTU} (as Ethernet) and no segmentation "
                 f"offload, the client sends {BULK:,} bytes in one send(): both SYNs offer MSS {MTU - 40} "
                 f"(MTU less 40 bytes of IPv4 and TCP headers; {MTU - 60} over IPv6), and the bytes leave as "
                 "segments of that size less the timestamp option",
          single_connection(_mss_check),
          setup=lambda port: (("ip", "link", "set", "lo", "mtu", str(MTU), "gso_max_size", str(MTU)),))
def _mss(session: Session) -> None:
    def server():
        listener = session.listen()
        conn = session.accept(listener)
        received = 0
        while received < BULK:
            received += len(session.recv(SERVER, conn, BULK))
        session.close_after_client(conn, listener)

    def client():
        sock = session.connect()
        session.send(CLIENT, sock, b"m" * BULK)
        session.close(CLIENT, sock)

    session.run_sides(server, client)


BUFFER = 16384
BULK_SEND = 128 * 1024
READ_SIZE, READ_EVERY = 8192, 0.02


def _buffers_check(run, conversation):
    problems: list[str] = []
    for side, option in ((SERVER, "SO_RCVBUF"), (CLIENT, "SO_SNDBUF")):
        read_back = [c.result for c in calls_named(run, "getsockopt", side) if option in c.args]
        need(problems, read_back == [str(2 * BUFFER)],
             f"the {side} set {option} to {BUFFER} and read back {read_back}, not the doubled {2 * BUFFER}")
    # The highest byte sent, not a sum: a copy may repeat part of a segment (a TLP, from another seq).
    data = max((s.rel_seq + s.record.payload_len for s in conversation.segments
                if s.sender == CLIENT and s.record.payload_len), default=1) - 1
    need(problems, data == BULK_SEND, f"{data} bytes crossed, expected {BULK_SEND}")
    from handshake_viz.kernel.view import align
    account = align(conversation, run.kernel)
    if account is None:
        return problems
    client, server = account.samples.get(CLIENT, []), account.samples.get(SERVER, [])
    need(problems, bool(client) and bool(server), "the sockets were never sampled")
    need(problems, all(q.receive_buffer == 2 * BUFFER for q in server),
         f"the kernel sized the server's receive buffer {sorted({q.receive_buffer for q in server})}, not {2 * BUFFER}")
    need(problems, all(q.send_buffer == 2 * BUFFER for q in client),
         f"the kernel sized the client's send buffer {sorted({q.send_buffer for q in client})}, not {2 * BUFFER}")
    need(problems, any(q.receive_queue >= READ_SIZE for q in server),
         "the server's receive queue never held a read's worth while it read slowly")
    need(problems, any(q.send_queue >= READ_SIZE for q in client),
         "the client's send queue never filled while the server read slowly")
    return problems


@scenario("buffers", f"the server sets SO_RCVBUF and the client SO_SNDBUF to {BUFFER:,} and read them back "
                     f"(Linux doubles them: {2 * BUFFER:,}); the client sends {BULK_SEND // 1024} KB while the server "
                     f"reads {READ_SIZE // 1024} KB every {READ_EVERY * 1000:.0f} ms: each side's queues, as the "
                     "kernel reports them, fill and drain",
          single_connection(_buffers_check), sampled=True)
def _buffers(session: Session) -> None:
    def sized(side, option, name):
        def size(sock):
            session.setsockopt(side, sock, socket.SOL_SOCKET, option, BUFFER, f"{name}, {BUFFER}")
            session.call(side, "getsockopt", f"SOL_SOCKET, {name}", sock.getsockopt, socket.SOL_SOCKET, option,
                         sock=sock)
        return size

    def server():
        listener = session.listen(before_listen=sized(SERVER, socket.SO_RCVBUF, "SO_RCVBUF"))
        conn = session.accept(listener)
        received = 0
        while received < BULK_SEND:
            time.sleep(READ_EVERY)   # a slow reader
            received += len(session.recv(SERVER, conn, READ_SIZE))
        session.close_after_client(conn, listener)

    def client():
        sock = session.connect(before_connect=sized(CLIENT, socket.SO_SNDBUF, "SO_SNDBUF"))
        data, sent = b"b" * BULK_SEND, 0
        while sent < BULK_SEND:   # send() takes what fits in the send buffer: loop, as C programs do
            sent += session.send(CLIENT, sock, data[sent:])
        session.close(CLIENT, sock)

    session.run_sides(server, client)
