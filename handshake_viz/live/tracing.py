"""The kernel's own record of a run, read from tracefs in a private tracing instance.

Nothing global is changed: the instance (tracefs `instances/handshake-viz-PID-N`) has its own
buffer, clock and event switches, and is removed afterwards, also on an error, Ctrl-C, SIGTERM
or SIGHUP; one left by a run killed outright is removed by the next run, once its pid is gone.
tracefs is mounted when it is missing and then left mounted: another run, ours or anyone's, may
be using it, and no run can know that it is the last. Events are filtered in the kernel to the
run's ports (the machine has other traffic).

The instance's clock is TAI, which differs from the wall clock the packets carry by a whole
number of seconds (0 or the leap seconds), so the kernel's events and the packets share one
clock exactly; a kernel without the TAI trace clock gets the monotonic clock and a measured offset.
"""

import itertools
import os
import re
import subprocess
import time
from pathlib import Path

from handshake_viz.kernel.record import EventKind, KernelRecord, parse_tcp_table, parse_trace

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sock/inet_sock_set_state", "tcp/tcp_send_reset", "tcp/tcp_receive_reset", "tcp/tcp_retransmit_skb",
          "skb/kfree_skb")
# Frees that are not a packet lost on its way: a closing socket's unread queue, the unnamed rest.
# kfree_skb has no ports: what is left is matched to the run's packets by time when read.
ORDINARY_FREES = ("NOT_SPECIFIED", "QUEUE_PURGE", "SOCKET_CLOSE")
IP_PROTOCOLS = (0x0800, 0x86DD)
_names = itertools.count()


class Unavailable(Exception):
    """Why there is no kernel record; runs go on from packets alone."""


class KernelTrace:
    """`with KernelTrace(port) as trace:` around a run; then `trace.record` (a KernelRecord)."""

    def __init__(self, port: int):
        self.port = port
        self.instance: Path | None = None
        self.offset = 0.0
        self.overflows = 0
        self.record = KernelRecord()

    def __enter__(self) -> "KernelTrace":
        try:
            self._start()
        except Unavailable as why:
            self._stop()
            self.record = KernelRecord(unavailable=str(why))
        except BaseException:  # Ctrl-C while setting up: __exit__ will not run, so clean up here
            self._stop()
            raise
        return self

    def _start(self) -> None:
        if os.geteuid() != 0:
            raise Unavailable("tracing the kernel needs root")
        if not (TRACEFS / "instances").is_dir():
            try:
                result = subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACEFS)], capture_output=True, text=True)
            except OSError as error:   # no `mount` on PATH
                raise Unavailable(f"tracefs is not mounted and could not be: {error.strerror}")
            if result.returncode != 0:
                raise Unavailable(f"tracefs is not mounted and could not be: {result.stderr.strip()}")
        missing = [e for e in EVENTS if not (TRACEFS / "events" / e).is_dir()]
        if missing:
            raise Unavailable(f"this kernel has no tracepoint {missing[0].replace('/', ':')}")
        self.instance = TRACEFS / "instances" / f"handshake-viz-{os.getpid()}-{next(_names)}"
        try:
            self.instance.mkdir()
            self.offset = _use_clock(self.instance)
            _write(self.instance / "buffer_size_kb", "4096")
            port_filter = f"sport == {self.port} || dport == {self.port}"
            for event in EVENTS:
                folder = self.instance / "events" / event
                if event == "skb/kfree_skb":
                    _write(folder / "filter", _drop_filter(folder / "format"))
                elif event != "tcp/tcp_send_reset":  # it has no port fields: filtered when read
                    _write(folder / "filter", port_filter)
                _write(folder / "enable", "1")
        except OSError as error:
            raise Unavailable(f"cannot set up a tracing instance: {error.strerror}")
        self.overflows = _listen_overflows()

    def read(self) -> KernelRecord:
        """What the kernel traced so far, and its TIME_WAIT table: call right after the teardown."""
        if self.instance is None:
            return self.record
        text = (self.instance / "trace").read_text()
        ports = (f":{self.port}",)
        events = [e for e in parse_trace(text, self.offset)   # drops carry no ports: kept, matched later
                  if e.kind == EventKind.DROP or e.src.endswith(ports) or e.dst.endswith(ports)]
        table = []
        for name in ("tcp", "tcp6"):
            path = Path(f"/proc/thread-self/net/{name}")
            if path.exists():
                table += [t for t in parse_tcp_table(path.read_text())
                          if t.local.endswith(ports) or t.remote.endswith(ports)]
        self.record = KernelRecord(events, table, listen_overflows=_listen_overflows() - self.overflows)
        return self.record

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.instance is not None:
            _remove(self.instance)
            self.instance = None


def _drop_filter(format_file: Path) -> str:
    """IP packets only, without the ordinary frees (named by number: this kernel's numbering)."""
    numbers = dict((name, number) for number, name in re.findall(r'\{ (\d+), "(\w+)" \}', format_file.read_text()))
    protocols = " || ".join(f"protocol == {p}" for p in IP_PROTOCOLS)
    return f"({protocols})" + "".join(f" && reason != {numbers[name]}" for name in ORDINARY_FREES if name in numbers)


def _listen_overflows() -> int:
    """SYNs dropped because an accept queue was full, in this network namespace so far (a SYN so
    dropped is freed as consumed, so kfree_skb never sees it; the kernel counts it instead)."""
    lines = [line.split() for line in Path("/proc/thread-self/net/netstat").read_text().splitlines()
             if line.startswith("TcpExt:")]
    names, values = lines[0], lines[1]
    return int(values[names.index("ListenOverflows")])


def _use_clock(instance: Path) -> float:
    """Set the instance's clock; what to add to its times to get wall-clock seconds."""
    try:
        _write(instance / "trace_clock", "tai")
        return round(time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_TAI))
    except OSError:
        _write(instance / "trace_clock", "mono")
        return time.time() - time.monotonic()


def _remove(instance: Path) -> None:
    if not instance.exists():
        return
    for event in EVENTS:
        try:
            _write(instance / "events" / event / "enable", "0")
        except OSError:
            pass
    instance.rmdir()


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n")


def ours() -> list[str]:
    """The names of every run's tracing instances present now (ours are named handshake-viz-PID-N)."""
    folder = TRACEFS / "instances"
    return sorted(p.name for p in folder.glob("handshake-viz-*")) if folder.is_dir() else []


def remove(name: str) -> None:
    """Remove a tracing instance a dead run left."""
    try:
        _remove(TRACEFS / "instances" / name)
    except OSError:
        pass  # another run is removing it at the same moment
