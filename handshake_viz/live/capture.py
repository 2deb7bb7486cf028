"""Live capture on loopback (or on a link a scenario's namespace makes: see Link): a packet socket
with a TPACKET_V3 ring, the only module that reads live frames.

Why not scapy's sniffer: it reads at most 65,535 bytes of a frame and compiles its filter with a
65,535-byte snap length, so 64 KB loopback segments (65,549-byte frames) were cut short; and it
takes a packet's time when Python reads it unless the kernel happens to be stamping packets
already (0.3-0.9 ms late under load, enough to draw `recv() = 0` above its FIN). Here the kernel
writes each frame into a shared ring (TPACKET_V3, as libpcap does) with its real length and its
time; scapy's libpcap bindings still compile the filter.

What is proven instead of hoped for:
- *Every packet carries the kernel's time.* The kernel stamps each frame as it writes it into the
  ring: with the time taken when the packet entered loopback's queue where it has one, else
  when it reached the capture (TCP's segments, which carry a delivery time of their own). Both
  come before the receiving socket sees the packet, and both are what tcpdump records, since
  libpcap reads the same kind of ring. Python's reading time is never used.
- *Each packet appears once*, as tcpdump shows it: the outgoing copy of every loopback packet is
  not delivered (PACKET_IGNORE_OUTGOING), as libpcap drops it (scapy issue #1702).
- *The capture is running, and nothing before a point is still in flight*: `flush()` sends a
  marker (a datagram the capture sends itself, on 127.0.0.1, never kept) from every CPU and
  waits until all are read back. Each CPU's loopback queue is first in, first out, so then every
  packet sent before them has been captured. The capture is ready only after its first flush.
"""

import ctypes
import mmap
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from handshake_viz.errors import CaptureError, PrivilegeError
from handshake_viz.wire.dissect import LINKTYPE_ETHERNET, FrameDecoder
from handshake_viz.wire.pcapfile import SNAPLEN, RawFrame, as_written
from handshake_viz.wire.records import PacketRecord


@dataclass(frozen=True)
class Link:
    """The interface a capture listens on. On loopback each packet passes twice, and the incoming
    copy is the one kept; on a link to another host (a veth a scenario's namespace makes) a packet
    this host sends is seen only going out. Markers go where they cross the interface."""

    name: str = "lo"
    outgoing: bool = False                  # keep the packets going out (a real link), not coming in
    marker_from: str = "127.0.0.1"
    marker_to: str = "127.0.0.1"            # on a link: its IPv4 broadcast address


LOOPBACK = Link()
BLOCK_SIZE = 1 << 19        # a block must hold the largest frame (SNAPLEN plus headers)
BLOCKS = 128                # 64 MB: loopback bursts outrun Python; a full ring is counted as drops
FRAME_SIZE = 2048           # only checked by the kernel for V3, whose frames are variable
RETIRE_MS = 2               # the kernel hands over a partly filled block after this long
READY_TIMEOUT = 5.0
CAPTURE_NICE = -10          # the reader thread's priority (0 is everyone's; lower comes first)
MARKER = b"handshake-viz marker "

ETH_P_ALL, SOL_PACKET, SO_ATTACH_FILTER = 3, 263, 26
PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION, PACKET_IGNORE_OUTGOING = 5, 6, 10, 23
TPACKET_V3, TP_STATUS_USER = 2, 1
_BLOCK_STATUS, _BLOCK_PACKETS = 8, 12          # offsets in struct tpacket_block_desc
_HEADER = struct.Struct("IIIIIIH")              # struct tpacket3_hdr up to tp_mac


def require_capture_privileges() -> None:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        raise PrivilegeError(
            "capturing live traffic needs root or CAP_NET_RAW: run `sudo make handshake` or "
            "`sudo .venv/bin/handshake-viz run ...`; `handshake-viz replay CAPTURE` works without privileges")


def compile_filter(expression: str) -> bytes:
    """BPF instructions for expression on Ethernet frames, accepting SNAPLEN bytes of a match."""
    try:
        from scapy.libs.winpcapy import bpf_program, pcap_close, pcap_compile, pcap_geterr, pcap_open_dead
    except OSError:
        raise CaptureError("cannot compile the capture filter: libpcap is missing; "
                           "run `sudo apt-get install libpcap0.8` (or `sudo make handshake`)")
    handle = pcap_open_dead(LINKTYPE_ETHERNET, SNAPLEN)
    program = bpf_program()
    try:
        if pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, -1) != 0:
            raise CaptureError(f"cannot compile the capture filter: {pcap_geterr(handle).decode()}")
        return ctypes.string_at(program.bf_insns, program.bf_len * 8)
    finally:
        pcap_close(handle)


class LiveCapture:
    """Use as a context manager around the traffic to capture; read `records` and `frames`."""

    linktype = LINKTYPE_ETHERNET  # Linux loopback frames carry a zeroed Ethernet header

    def __init__(self, ports: list[int], link: Link = LOOPBACK, also: str = ""):
        # The scenario's own ports, and ICMP errors quoting a UDP/TCP header with one of them
        # (the quoted header's ports sit 28/30 bytes into ICMP, 48/50 into ICMPv6 after its IPv6);
        # also: what else it needs seen (a filter expression: its group's membership reports).
        self.bpf = " or ".join(
            f"port {port} or (icmp and (icmp[28:2] = {port} or icmp[30:2] = {port}))"
            f" or (icmp6 and (ip6[88:2] = {port} or ip6[90:2] = {port}))" for port in ports) + (
            f" or {also}" if also else "")
        self.link = link
        self.frames: list[RawFrame] = []
        self.records: list[PacketRecord] = []
        self._decoder = FrameDecoder()
        self._seen = threading.Condition()
        self._socket: socket.socket | None = None
        self._marker: socket.socket | None = None
        self._ring: mmap.mmap | None = None
        self._reader: threading.Thread | None = None
        self._stop_after: float | None = None
        self._markers_sent = 0
        self._markers_seen: set[int] = set()
        self._failure: BaseException | None = None

    def __enter__(self) -> "LiveCapture":
        require_capture_privileges()
        try:
            self._open()
            self.flush()
        except BaseException:  # Ctrl-C or a failure while starting: __exit__ will not run
            self.__exit__()
            raise
        return self

    def _open(self) -> None:
        self._marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._marker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self._marker.bind((self.link.marker_from, 0))
        marker_port = self._marker.getsockname()[1]
        instructions = compile_filter(f"(udp and src port {marker_port} and dst port {marker_port}) or {self.bpf}")
        self._marker_port = marker_port
        try:
            # Protocol 0: nothing arrives until bind(), when the filter and the ring are in place.
            self._socket = sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            if not self.link.outgoing:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            keep = ctypes.create_string_buffer(instructions)
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                            struct.pack("HL", len(instructions) // 8, ctypes.addressof(keep)))
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack(
                "7I", BLOCK_SIZE, BLOCKS, FRAME_SIZE, BLOCK_SIZE // FRAME_SIZE * BLOCKS, RETIRE_MS, 0, 0))
            self._ring = mmap.mmap(sock.fileno(), BLOCK_SIZE * BLOCKS)
            sock.bind((self.link.name, ETH_P_ALL))
        except OSError as error:
            raise CaptureError(f"the capture on {self.link.name} did not start: {error.strerror or error}")
        self._statistics()  # reading the counters resets them: count from here
        self._reader = threading.Thread(target=self._read, name="capture", daemon=True)
        self._reader.start()

    def flush(self, timeout: float = READY_TIMEOUT) -> None:
        """Send a marker from every CPU this process may use and wait until all are read: then
        every packet sent on the link before this call has been captured."""
        numbers = []
        for cpu in sorted(os.sched_getaffinity(0)):
            self._markers_sent += 1
            numbers.append(self._markers_sent)
            _send_from(cpu, self._marker, MARKER + str(self._markers_sent).encode(),
                       (self.link.marker_to, self._marker_port))
        self.wait_for(lambda _: self._markers_seen.issuperset(numbers), timeout, "its own marker packets")

    def _statistics(self) -> tuple[int, int]:
        """(packets, drops) since the last call, from the kernel (struct tpacket_stats_v3)."""
        raw = self._socket.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
        return struct.unpack("III", raw)[:2]

    def _read(self) -> None:
        """The reader thread: take each block the kernel hands over, in ring order. It runs ahead of
        the programs it watches where it may (root may raise a thread's priority): on a busy
        machine a ring that fills is packets lost."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CAPTURE_NICE)
        except PermissionError:
            pass
        poller = select.poll()
        poller.register(self._socket, select.POLLIN | select.POLLERR)
        block = 0
        try:
            while True:
                offset = block * BLOCK_SIZE
                if struct.unpack_from("I", self._ring, offset + _BLOCK_STATUS)[0] & TP_STATUS_USER:
                    self._take(offset)
                    struct.pack_into("I", self._ring, offset + _BLOCK_STATUS, 0)  # back to the kernel
                    block = (block + 1) % BLOCKS
                elif self._stop_after is not None and time.monotonic() > self._stop_after:
                    return
                else:
                    poller.poll(RETIRE_MS * 5)
        except BaseException as error:  # told to the waiting thread, never lost in this one
            with self._seen:
                self._failure = error
                self._seen.notify_all()

    def _take(self, offset: int) -> None:
        ring = self._ring
        count, first = struct.unpack_from("II", ring, offset + _BLOCK_PACKETS)
        position = offset + first
        with self._seen:
            for _ in range(count):
                next_offset, seconds, nanoseconds, snaplen, wire_len, _, mac = _HEADER.unpack_from(ring, position)
                data = ring[position + mac:position + mac + snaplen]
                position += next_offset
                marker = self._marker_number(data)
                if marker is not None:
                    self._markers_seen.add(marker)
                else:
                    self._keep(as_written(seconds + nanoseconds / 1e9), data, wire_len)
            self._seen.notify_all()

    def _marker_number(self, data: bytes) -> int | None:
        """A marker is IPv4 UDP from the marker's port to itself (a 20-byte IP header: we sent it)."""
        if (len(data) > 42 and data[12:14] == b"\x08\x00" and data[23] == 17 and data[42:42 + len(MARKER)] == MARKER
                and struct.unpack_from(">HH", data, 34) == (self._marker_port, self._marker_port)):
            return int(data[42 + len(MARKER):])
        return None

    def _keep(self, when: float, data: bytes, wire_len: int) -> None:
        frame = len(self.frames) + 1
        self.frames.append(RawFrame(frame, when, self.linktype, data, wire_len))
        record = self._decoder.decode(frame, when, data, self.linktype, wire_len)
        if record is not None:
            self.records.append(record)

    def wait_for(self, done: Callable[[list[PacketRecord]], bool], timeout: float, what: str | None = None) -> bool:
        """Block until done(records) holds: proof that the last packet has been captured. After
        timeout, raise naming `what`, or (with no `what`) just say it did not happen."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while not (ended := done(self.records)) and self._failure is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if what is None:
                        break
                    raise CaptureError(
                        f"the capture never saw {what} within {timeout:g} s "
                        f"({len(self.records)} packets seen); run it again, "
                        "and if it keeps happening, check that nothing else is filtering loopback")
                self._seen.wait(remaining)
            self._check()
        return ended

    def _check(self) -> None:
        """Called with the lock held: a capture that cannot be trusted is an error, not a diagram."""
        if self._failure is not None:
            raise CaptureError(f"the capture's reader failed: {self._failure!r}")
        _, dropped = self._statistics()
        if dropped:
            raise CaptureError(f"the capture lost {dropped} packets (the kernel's capture ring overflowed): "
                               "the diagram would be wrong, so nothing was written; run it again")

    def __exit__(self, *exc_info) -> None:
        if self._reader is not None:
            # The kernel hands over the last, partly filled block within RETIRE_MS: take it too.
            self._stop_after = time.monotonic() + RETIRE_MS * 10 / 1000
            self._reader.join()
        for closing in (self._ring, self._socket, self._marker):
            if closing is not None:
                closing.close()


def _send_from(cpu: int, sock: socket.socket, data: bytes, address: tuple) -> None:
    """Send data from a thread pinned to cpu, so it joins the end of that CPU's loopback queue."""
    def send():
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass  # a CPU we may not use: the marker still goes, from wherever we run
        sock.sendto(data, address)

    sender = threading.Thread(target=send, name=f"marker-cpu{cpu}")
    sender.start()
    sender.join()
