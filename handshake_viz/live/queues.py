"""The kernel's own account of each socket's queues, buffers and retransmission timer, sampled
while a scenario runs. No tracepoint carries a socket's queue lengths or its RTO, so they are
asked for over NETLINK_SOCK_DIAG (as `ss -tmi` does), every SAMPLE_SECONDS, by a thread in the
run's network namespace, and kept only when they change.
"""

import os
import socket
import threading
import time

from handshake_viz.errors import CaptureError
from handshake_viz.kernel.record import QueueSample
from handshake_viz.kernel.sockdiag import NETLINK_SOCK_DIAG, dump_ended, parse_dump, request

SAMPLE_SECONDS = 0.001
SAMPLER_NICE = -5     # the sampling thread's priority (0 is everyone's; the capture's reader has -10)


class QueueSampler:
    """Samples every TCP socket with port at one end, in the namespace of the thread that starts
    it, until stopped; keeps a sample only when something in it changed."""

    def __init__(self, port: int):
        self.port = port
        self.samples: list[QueueSample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def __enter__(self) -> "QueueSampler":
        self._thread = threading.Thread(target=self._run, daemon=True)   # started here: in this namespace
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> list[QueueSample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise CaptureError(f"cannot ask the kernel for its sockets' queues (sock_diag): {self._error}")
        return self.samples

    def _run(self) -> None:
        try:   # ahead of the busy programs beside it, as the capture's reader is: a missed change is lost
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SAMPLER_NICE)
        except PermissionError:
            pass
        try:
            self._sample()
        except OSError as error:   # said by stop(), in the run's own thread
            self._error = error

    def _sample(self) -> None:
        last: dict[tuple[str, str], tuple] = {}
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as diag:
            asks = [request(socket.AF_INET), request(socket.AF_INET6)]
            while not self._stop.is_set():
                for ask in asks:
                    diag.send(ask)
                    for sample in parse_dump(_reply(diag), time.time(), self.port):
                        key, values = (sample.src, sample.dst), sample.values
                        if last.get(key) != values:
                            last[key] = values
                            self.samples.append(sample)
                self._stop.wait(SAMPLE_SECONDS)


def _reply(diag: socket.socket) -> bytes:
    """Every part of one dump, up to its last message."""
    parts = [diag.recv(65536)]
    while not dump_ended(parts[-1]):
        parts.append(diag.recv(65536))
    return b"".join(parts)
