"""Reading and writing capture files: classic pcap (micro/nanosecond, either byte order) and
pcapng (several sections, interfaces and link types).

Read with struct rather than scapy's readers, which accept corrupt files silently and drop
packets without counting them (frame numbers must match tshark's). Streaming: one frame at a
time, whatever the file's size.
"""

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from handshake_viz.errors import CaptureFileError

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000), b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000), b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_IDB, _OBSOLETE_PB, _SPB, _EPB = 1, 2, 3, 6
_PACKET_BLOCKS = (_EPB, _SPB, _OBSOLETE_PB)
# The smallest length of each block its fixed fields fit in (head, fields, trailer).
_SMALLEST = {_PCAPNG_SHB: 28, _IDB: 20, _EPB: 32, _OBSOLETE_PB: 32, _SPB: 16}
_MAX_RECORD = 256 * 1024 * 1024   # a caplen beyond this is corruption, not a packet
_READ_SIZE = 1 << 20
SNAPLEN = 262144   # what tcpdump writes and captures: loopback frames reach 65,549 bytes


class RawFrame(NamedTuple):
    frame: int            # 1-based, counting every packet in the file
    time: float
    linktype: int
    data: bytes
    wire_len: int


def open_capture(path: Path):
    """The capture file, opened to read; a one-line error when it cannot be."""
    if not path.exists():
        raise CaptureFileError(f"{path}: no such file")
    if path.is_dir():
        raise CaptureFileError(f"{path}: is a folder, not a capture file")
    try:
        return path.open("rb")
    except OSError as error:
        raise CaptureFileError(f"{path}: cannot read it: {error.strerror}")


@dataclass
class CaptureReader:
    """Iterate to get `RawFrame`s; `warnings` holds what was wrong but not fatal."""

    path: Path
    warnings: list[str] = field(default_factory=list)

    def __iter__(self):
        path = Path(self.path)
        with open_capture(path) as f:
            self._size = os.fstat(f.fileno()).st_size   # once: lengths read from the file are checked against it
            magic = f.read(4)
            if not magic:
                raise CaptureFileError(f"{path}: the file is empty, not a capture")
            if magic in _PCAP_MAGICS or (len(magic) == 4 and struct.unpack("<I", magic)[0] == _PCAPNG_SHB):
                yield from self._kept_before_corruption(self._pcap(f, magic) if magic in _PCAP_MAGICS else self._pcapng(f))
            else:
                raise CaptureFileError(
                    f"{path}: not a pcap or pcapng file (starts with bytes {magic.hex()}); "
                    "save the capture as pcap or pcapng (tcpdump -w, or Wireshark's File > Save As)")

    def _kept_before_corruption(self, frames):
        """The frames; where a corrupt part follows some, those are kept with a warning, as for a
        file cut short (a file corrupt before its first packet is an error)."""
        count = 0
        try:
            for frame in frames:
                count += 1
                yield frame
        except CaptureFileError as error:
            if not count:
                raise
            self.warnings.append(f"{error}; showing the {count} packets before it")

    def _left(self, f) -> int:
        """Bytes left in the file after the position f has reached."""
        return self._size - f.tell()

    def _fail(self, offset: int, what: str) -> CaptureFileError:
        return CaptureFileError(f"{self.path}: {what} (at byte {offset})")

    def _cut_short(self, offset: int, frame: int) -> None:
        self.warnings.append(f"{self.path}: the file is cut short in the middle of packet {frame} "
                             f"(at byte {offset}); showing the {frame - 1} packets before it")

    def _pcap(self, f, magic: bytes):
        endian, ticks = _PCAP_MAGICS[magic]
        header = f.read(20)
        if len(header) < 20:
            raise self._fail(4 + len(header), f"the pcap file header is cut short ({4 + len(header)} of 24 bytes)")
        major, minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack(endian + "HHiIII", header)
        if major != 2:
            raise self._fail(4, f"pcap version {major}.{minor} is not supported (only 2.x exists)")
        linktype &= 0xFFFF
        record = struct.Struct(endian + "IIII")
        offset, frame = 24, 0
        buffer, start = b"", 0   # records are parsed from large reads, not one read each
        while True:
            if len(buffer) - start < 16:
                buffer, start = buffer[start:] + f.read(_READ_SIZE), 0
                if not buffer:
                    return
            frame += 1
            if len(buffer) - start < 16:
                self._cut_short(offset, frame)
                return
            sec, frac, caplen, wire_len = record.unpack_from(buffer, start)
            if caplen > _MAX_RECORD:
                raise self._fail(offset, f"packet {frame} claims {caplen} bytes: the file is corrupt")
            end = start + 16 + caplen
            if end > len(buffer):
                if 16 + caplen > len(buffer) - start + self._left(f):   # never read (or allocate) past the file's end
                    self._cut_short(offset, frame)
                    return
                buffer, start = buffer[start:] + f.read(max(_READ_SIZE, caplen + 16)), 0
                end = 16 + caplen
                if end > len(buffer):
                    self._cut_short(offset, frame)
                    return
            yield RawFrame(frame, _seconds(sec, frac, ticks), linktype, buffer[start + 16:end], wire_len)
            start = end
            offset += 16 + caplen

    def _pcapng(self, f):
        offset, frame = 0, 0
        endian = "<"
        interfaces: list[tuple[int, float, float]] = []  # (linktype, seconds per tick, offset s)
        head = b"\x0a\x0d\x0d\x0a" + f.read(4)   # the magic number was read to recognise the file
        while (block := self._block(f, head, endian, offset, frame)) is not None:
            block_type, block_len, body, endian = block
            trailer, body = body[-4:], body[:-4]
            packet = None
            if block_type == _PCAPNG_SHB:
                self._section(body, endian, offset)
                interfaces = []
            elif block_type == _IDB:
                interfaces.append(self._interface(body, endian, offset))
            elif block_type in _PACKET_BLOCKS:
                frame += 1
                packet = self._packet(block_type, body, endian, interfaces, offset, frame)
            # Checked after the contents, as tshark does, so a bad option is named as such.
            if struct.unpack(endian + "I", trailer)[0] != block_len:
                raise self._fail(offset, f"pcapng block of type {block_type:#x} has mismatched lengths")
            if packet is not None:
                yield packet
            offset += block_len
            head = f.read(8)

    def _block(self, f, head: bytes, endian: str, offset: int, frame: int) -> tuple | None:
        """(type, length, body with its trailer, byte order) of the block that head begins; None at
        the end of the file, or where a packet block is cut short."""
        if len(head) == 0:
            return None
        if len(head) < 8:
            self._cut_short(offset, frame + 1)
            return None
        block_type = struct.unpack(endian + "I", head[:4])[0]
        if block_type == _PCAPNG_SHB:
            order = f.read(4)
            if len(order) < 4:
                raise self._fail(offset, "the pcapng section header is cut short")
            endian = "<" if struct.unpack("<I", order)[0] == _PCAPNG_BYTE_ORDER else ">"
            if struct.unpack(endian + "I", order)[0] != _PCAPNG_BYTE_ORDER:
                raise self._fail(offset + 8, "the pcapng section header has no valid byte-order mark")
            block_len = struct.unpack(endian + "I", head[4:8])[0]
            body = order + (f.read(max(block_len - 12, 0)) if block_len - 12 <= self._left(f) else b"")
        else:
            block_len = struct.unpack(endian + "I", head[4:8])[0]
            body = f.read(max(block_len - 8, 0)) if block_len - 8 <= self._left(f) else b""   # never past the end
        if block_len < _SMALLEST.get(block_type, 12) or block_len % 4:
            raise self._fail(offset, f"pcapng block of type {block_type:#x} has an invalid length {block_len}")
        if len(body) < block_len - 8:
            if block_type in _PACKET_BLOCKS:
                self._cut_short(offset, frame + 1)
                return None
            raise self._fail(offset, f"pcapng block of type {block_type:#x} is cut short")
        return block_type, block_len, body, endian

    def _section(self, body: bytes, endian: str, offset: int) -> None:
        major, minor = struct.unpack(endian + "HH", body[4:8])
        if major != 1:
            raise self._fail(offset, f"pcapng version {major}.{minor} is not supported (only 1.x exists)")
        self._options(body, 16, endian, offset, "section header")

    def _interface(self, body: bytes, endian: str, offset: int) -> tuple[int, float, float]:
        linktype, _reserved, _snaplen = struct.unpack(endian + "HHI", body[:8])
        options = self._options(body, 8, endian, offset, "interface description")
        if len(options.get(14, b"\0" * 8)) != 8:
            raise self._fail(offset, f"pcapng interface description's if_tsoffset option is {len(options[14])} bytes, not 8")
        return (linktype, _resolution(options.get(9)),
                struct.unpack(endian + "q", options[14])[0] if 14 in options else 0)

    def _packet(self, block_type, body, endian, interfaces, offset, frame) -> RawFrame:
        if block_type == _SPB:
            interface, (wire_len,) = 0, struct.unpack(endian + "I", body[:4])
            ticks, data = 0, body[4:4 + wire_len]
        else:
            if block_type == _EPB:
                interface, high, low, caplen, wire_len = struct.unpack(endian + "5I", body[:20])
            else:
                interface, _drops, high, low, caplen, wire_len = struct.unpack(endian + "HH4I", body[:20])
            if caplen > len(body) - 20:
                raise self._fail(offset, f"packet {frame} claims {caplen} bytes, more than its block holds")
            ticks, data = (high << 32) | low, body[20:20 + caplen]
        if interface >= len(interfaces):
            raise self._fail(offset, f"packet {frame} names interface {interface}, "
                                     f"but only {len(interfaces)} interface(s) were described before it")
        linktype, tick, time_offset = interfaces[interface]
        return RawFrame(frame, ticks * tick + time_offset, linktype, data, wire_len)

    def _options(self, body: bytes, start: int, endian: str, offset: int, block: str) -> dict[int, bytes]:
        options: dict[int, bytes] = {}
        i = start
        while i + 4 <= len(body):
            code, length = struct.unpack(endian + "HH", body[i:i + 4])
            if code == 0:
                break
            if i + 4 + length > len(body):
                raise self._fail(offset, f"pcapng {block} option of length {length} runs past its block")
            options[code] = body[i + 4:i + 4 + length]
            i += 4 + length + (-length % 4)
        return options


def _resolution(raw: bytes | None) -> float:
    """Seconds per timestamp tick from pcapng's if_tsresol (default: microseconds)."""
    if not raw:
        return 1e-6
    value = raw[0]
    return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -value


def _seconds(sec: int, frac: int, ticks: int) -> float:
    return sec + frac / ticks


def as_written(time: float) -> float:
    """A time exactly as `write_pcap` stores it and the reader gives it back, so that a live
    run and the replay of its capture see the same numbers."""
    micros = round(time * 1_000_000)
    return _seconds(micros // 1_000_000, micros % 1_000_000, 1_000_000)


def write_pcap(f, frames, linktype: int) -> None:
    """A classic microsecond pcap, the kind every tool opens, to binary file f.
    frames: RawFrames of linktype, each written with its length on the wire."""
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype))
    for frame in frames:
        micros = round(frame.time * 1_000_000)
        f.write(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame.data), frame.wire_len))
        f.write(frame.data)
