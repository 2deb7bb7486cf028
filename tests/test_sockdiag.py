"""The kernel's account of a socket's queues and timer (NETLINK_SOCK_DIAG), asked of real sockets."""

import socket
import time

from handshake_viz.kernel.sockdiag import parse_dump
from handshake_viz.live.queues import QueueSampler


def test_the_kernel_reports_bytes_unread_and_bytes_unacknowledged_and_the_sampler_keeps_each_change():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with QueueSampler(port) as sampler:
            client = socket.create_connection(("127.0.0.1", port))
            server, _ = listener.accept()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
            client.sendall(b"q" * 1000)
            deadline = time.monotonic() + 5
            while not any(s.receive_queue == 1000 for s in sampler.samples) and time.monotonic() < deadline:
                time.sleep(0.005)
            server.recv(400)
            while not any(s.receive_queue == 600 for s in sampler.samples) and time.monotonic() < deadline:
                time.sleep(0.005)
            ends = {"client": client.getsockname(), "server": server.getsockname()}
            client.close()
            server.close()
        samples = sampler.stop()
    own = [s for s in samples if s.src == f"127.0.0.1:{ends['server'][1]}" and s.dst.endswith(f":{ends['client'][1]}")]
    assert [s.receive_queue for s in own if s.receive_queue] [:2] == [1000, 600]   # unread, then after a read of 400
    assert all(s.receive_buffer == 16384 for s in own if s.receive_queue)   # 8,192 set: Linux doubles it
    assert all(a.values != b.values for a, b in zip(own, own[1:]))          # a change each, never a repeat
    assert all(s.rto and 0.2 <= s.rto < 1 for s in own)                     # Linux's minimum RTO, 200 ms


def test_a_reply_that_is_not_a_socket_or_cut_short_gives_no_sample():
    assert parse_dump(b"", 1.0, 80) == []
    assert parse_dump(b"\x10\x00\x00\x00\x03\x00" + bytes(10), 1.0, 80) == []   # NLMSG_DONE alone
    assert parse_dump(b"\x40\x00\x00\x00\x14\x00" + bytes(10) + bytes(8), 1.0, 80) == []   # a message cut short
