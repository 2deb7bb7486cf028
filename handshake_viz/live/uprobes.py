"""The values a program gives setsockopt and bind, read from its memory as it calls the C library.

The syscall tracepoints carry registers, and setsockopt's value and bind's address are behind
pointers: which SO_LINGER a program set ({1, 0}: close sends a RST), or that it bound 0.0.0.0
and not the address its datagrams came to, is nowhere in them. A uprobe on each of the C
library's functions reads them, as the call begins, in the program's own memory. Only programs
that call that C library through it are seen (a static binary, or one with its own syscalls, is
not): their calls are drawn without values.

A uprobe is defined for the whole machine (`uprobe_events`) under a name of this run
(`handshake_viz_PID_N`), enabled only in the run's own tracing instance, and removed with it; one
a run killed outright left is removed by the next run, once its pid is gone.
"""

import itertools
import os
import re
import struct
from pathlib import Path

_names = itertools.count()
# x86-64: the arguments in rdi, rsi, rdx, rcx, r8. setsockopt: the value's first two ints (SO_LINGER's
# l_onoff, l_linger). bind: the sockaddr's family and port (network order), and its IPv4 address or
# the four words of its IPv6 one.
FETCHES = {
    "setsockopt": "fd=%di:s32 level=%si:s32 optname=%dx:s32 value=+0(%cx):s32 second=+4(%cx):s32 optlen=%r8:s32",
    "bind": "fd=%di:s32 family=+0(%si):u16 port=+2(%si):u16 address=+4(%si):u32 word0=+8(%si):u32"
            " word1=+12(%si):u32 word2=+16(%si):u32 word3=+20(%si):u32",
}


class Probe:
    """Uprobes on setsockopt and bind in the C library this process uses, or why there are none."""

    def __init__(self, tracefs: Path):
        self.definitions = tracefs / "uprobe_events"
        self.group: str | None = None
        self.why_not: str | None = None
        library = _c_library()
        offsets = {name: _symbol_offset(library, name) if library else None for name in FETCHES}
        if os.uname().machine != "x86_64" or None in offsets.values() or not self.definitions.exists():
            self.why_not = "no uprobe on the C library's setsockopt and bind here: their values are not shown"
            return
        group = f"handshake_viz_{os.getpid()}_{next(_names)}"
        self.group = group   # from the first definition on, so that a failure removes what was made
        try:
            for name, fetch in FETCHES.items():
                _append(self.definitions, f"p:{group}/{name} {library}:{offsets[name]:#x} {fetch}")
        except OSError as error:
            self.remove()
            self.why_not = f"cannot define a uprobe ({error.strerror}): setsockopt's and bind's values are not shown"

    @property
    def events(self) -> tuple[str, ...]:
        """Its tracing events, as "group/name"."""
        return tuple(f"{self.group}/{name}" for name in FETCHES) if self.group else ()

    def remove(self) -> None:
        if self.group is not None:
            remove(self.definitions, self.group)
            self.group = None


def ours(tracefs: Path) -> list[str]:
    """The uprobe groups of every run present now."""
    definitions = tracefs / "uprobe_events"
    text = definitions.read_text() if definitions.exists() else ""
    return sorted(set(re.findall(r"^p:(handshake_viz_\d+_\d+)/", text, re.MULTILINE)))


def remove(definitions: Path, group: str) -> None:
    for name in FETCHES:
        try:
            _append(definitions, f"-:{group}/{name}")
        except OSError:
            pass   # never made, gone already, or another run is removing it at the same moment


def _append(definitions: Path, line: str) -> None:
    """One definition added or removed: appended, as a write that truncates clears every one (and
    in one write of its own: Python's append mode seeks to the end, which tracefs refuses)."""
    fd = os.open(definitions, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _c_library() -> str | None:
    """The C library this process runs on: the one the programs it starts use too."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1]
        if re.search(r"/libc\.so\.6$", path):
            return os.path.realpath(path)
    return None


def _symbol_offset(library: str, name: str) -> int | None:
    """Where a function of a 64-bit little-endian ELF shared library starts in its file: its
    dynamic symbol's address, through the loaded segment that holds it."""
    try:
        data = Path(library).read_bytes()
    except OSError:
        return None
    if data[:6] != b"\x7fELF\x02\x01":
        return None
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind != 11:   # SHT_DYNSYM
            continue
        strings = sections[link][4]
        for position in range(offset, offset + size, entsize):
            name_at, _, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, position)
            end = data.index(b"\0", strings + name_at)
            if value and data[strings + name_at:end] == name.encode():
                return _file_offset(data, phoff, phentsize, phnum, value)
    return None


def _file_offset(data: bytes, phoff: int, phentsize: int, phnum: int, address: int) -> int | None:
    for i in range(phnum):
        kind, _, offset, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if kind == 1 and vaddr <= address < vaddr + filesz:   # PT_LOAD
            return address - vaddr + offset
    return None
