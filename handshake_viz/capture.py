"""Live capture on loopback with scapy: the only module that touches scapy packets.

Each packet is kept exactly once, as tcpdump shows it: scapy's default listener on `lo` also
returns the outgoing copy of every packet (scapy issue #1702), so we listen with `L2Socket`,
which drops PACKET_OUTGOING as libpcap does. The capture is ready before the caller runs
anything, and stops only when the caller has seen the packet it was waiting for.
"""

import socket
import struct
import threading
import time
from collections.abc import Callable

from handshake_viz.dissect import LINKTYPE_ETHERNET, FrameDecoder
from handshake_viz.errors import CaptureError, PrivilegeError
from handshake_viz.pcapfile import as_written
from handshake_viz.records import PacketRecord

LOOPBACK = "lo"
READY_TIMEOUT = 5.0
# Loopback segments reach 64 KB and come in bursts faster than Python reads them: without a big
# buffer the kernel drops packets from the capture (seen here with a 64 KB transfer).
CAPTURE_BUFFER = 64 * 1024 * 1024
SOL_PACKET, PACKET_STATISTICS, SO_RCVBUFFORCE = 263, 6, 33


def require_capture_privileges() -> None:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except PermissionError:
        raise PrivilegeError(
            "capturing live traffic needs root or CAP_NET_RAW: run `sudo make handshake` or "
            "`sudo .venv/bin/handshake-viz run ...`; `handshake-viz replay CAPTURE` works without privileges")


class LiveCapture:
    """Use as a context manager around the traffic to capture; read `records` and `frames`."""

    linktype = LINKTYPE_ETHERNET  # Linux loopback frames carry a zeroed Ethernet header

    def __init__(self, ports: list[int], iface: str = LOOPBACK):
        self._socket = None
        # The scenario's own ports, and ICMP errors quoting a UDP/TCP header with one of them
        # (the quoted header's ports sit 28/30 bytes into ICMP, 48/50 into ICMPv6 after its IPv6).
        self.bpf = " or ".join(
            f"port {port} or (icmp and (icmp[28:2] = {port} or icmp[30:2] = {port}))"
            f" or (icmp6 and (ip6[88:2] = {port} or ip6[90:2] = {port}))" for port in ports)
        self.iface = iface
        self.frames: list[tuple[float, bytes]] = []
        self.records: list[PacketRecord] = []
        self._decoder = FrameDecoder()
        self._seen = threading.Condition()
        self._sniffer = None

    def __enter__(self) -> "LiveCapture":
        require_capture_privileges()
        try:
            self._start()
        except BaseException:  # Ctrl-C or a failure while starting: __exit__ will not run
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from scapy.arch.linux import L2Socket  # scapy is slow to import: only when capturing
        from scapy.layers import l2  # noqa: F401  (maps the loopback device type to Ether)
        from scapy.sendrecv import AsyncSniffer

        try:
            self._socket = L2Socket(iface=self.iface, filter=self.bpf)
        except Exception as error:  # scapy raises its own exception types
            raise CaptureError(self._start_failure(error))
        self._socket.ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_BUFFER)
        self._statistics()  # reading the counters resets them: count from here
        ready = threading.Event()
        self._sniffer = AsyncSniffer(opened_socket=self._socket, store=False, prn=self._keep,
                                     started_callback=ready.set)
        self._sniffer.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.05):
            if not self._sniffer.thread.is_alive() or time.monotonic() > deadline:
                raise CaptureError(self._start_failure(getattr(self._sniffer, "exception", None)))

    def _start_failure(self, error) -> str:
        if error is not None and "libpcap" in str(error):
            return ("cannot compile the capture filter: libpcap is missing; "
                    "run `sudo apt-get install libpcap0.8` (or `sudo make handshake`)")
        return f"the capture on {self.iface} did not start: {error or 'timed out'}"

    def _statistics(self) -> tuple[int, int]:
        """(packets, drops) since the last call, from the kernel (struct tpacket_stats)."""
        raw = self._socket.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        return struct.unpack("II", raw)

    def _keep(self, packet) -> None:
        data, when = bytes(packet.original), as_written(float(packet.time))
        with self._seen:
            frame = len(self.frames) + 1
            self.frames.append((when, data))
            record = self._decoder.decode(frame, when, data, self.linktype)
            if record is not None:
                self.records.append(record)
            self._seen.notify_all()

    def wait_for(self, done: Callable[[list[PacketRecord]], bool], timeout: float, what: str | None = None) -> bool:
        """Block until done(records) holds: proof that the last packet has been captured. After
        timeout, raise naming `what`, or (with no `what`) just say it did not happen."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while not done(self.records):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if what is None:
                        break
                    raise CaptureError(
                        f"the capture never saw {what} within {timeout:g} s "
                        f"({len(self.records)} packets seen); run it again, "
                        "and if it keeps happening, check that nothing else is filtering loopback")
                self._seen.wait(remaining)
            ended = done(self.records)
        _, dropped = self._statistics()
        if dropped:
            raise CaptureError(f"the capture lost {dropped} packets (the kernel's capture buffer overflowed): "
                               "the diagram would be wrong, so nothing was written; run it again")
        return ended

    def __exit__(self, *exc_info) -> None:
        if self._sniffer is not None and self._sniffer.running:
            self._sniffer.stop(join=True)
        if self._socket is not None:
            self._socket.close()
