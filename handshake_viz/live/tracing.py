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

A second instance traces a program's socket calls: the syscall tracepoints of one thread and of
every task it forks from then on (`set_event_pid` with `event-fork`, filtered in the kernel), with
the processes' forks, execs and exits and the kernel's socket events. Calls are many, so that
instance is read as it fills (`trace_pipe`, by a thread) and never overwrites: whatever the
kernel could not keep is counted, from its `[LOST n EVENTS]` lines and each CPU's statistics.
"""

import itertools
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from handshake_viz.kernel.calls import KERNEL_FILTERS, PROCESS_EVENTS, SOCKET_EVENTS, TRACED, parse_lines, resolve
from handshake_viz.kernel.record import EventKind, KernelRecord, parse_tcp_table, parse_trace
from handshake_viz.live import uprobes

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sock/inet_sock_set_state", "tcp/tcp_send_reset", "tcp/tcp_receive_reset", "tcp/tcp_retransmit_skb",
          "tcp/tcp_probe", "skb/kfree_skb")
# Frees that are not a packet lost on its way: a closing socket's unread queue, the unnamed rest.
# kfree_skb has no ports: what is left is matched to the run's packets by time when read.
ORDINARY_FREES = ("NOT_SPECIFIED", "QUEUE_PURGE", "SOCKET_CLOSE")
IP_PROTOCOLS = (0x0800, 0x86DD)
CALL_EVENTS = tuple(f"syscalls/sys_{way}_{call}" for call in TRACED for way in ("enter", "exit")) + PROCESS_EVENTS + SOCKET_EVENTS
CALL_BUFFER_KB = 65536   # per CPU: what the kernel holds while the reader, last in line for the CPU, is behind
STATE_BUFFER_KB = 16384  # per CPU: the states, resets and drops of the watched port
READER_NICE = 19         # the trace readers' priority while the program runs: last
_names = itertools.count()


class Unavailable(Exception):
    """Why there is no kernel record; runs go on from packets alone."""


class KernelTrace:
    """`with KernelTrace(port) as trace:` around a run; then `trace.record` (a KernelRecord)."""

    def __init__(self, port: int, calls: bool = True, call_buffer_kb: int = CALL_BUFFER_KB):
        self.port = port
        self.instance: Path | None = None
        self.pipe: _Pipe | None = None
        self.offset = 0.0
        self.overflows = 0
        self.record = KernelRecord()
        self.calls = CallTracing(call_buffer_kb) if calls else None

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
        if why := _lacking(EVENTS):
            raise Unavailable(why)
        try:
            self.instance, self.offset = _instance(STATE_BUFFER_KB)
            port_filter = f"sport == {self.port} || dport == {self.port}"
            for event in EVENTS:
                folder = self.instance / "events" / event
                if event == "skb/kfree_skb":
                    _write(folder / "filter", _drop_filter(folder / "format"))
                elif event != "tcp/tcp_send_reset":  # it has no port fields: filtered when read
                    _write(folder / "filter", port_filter)
                _write(folder / "enable", "1")
            self.pipe = _Pipe(self.instance)
        except OSError as error:
            raise Unavailable(f"cannot set up a tracing instance: {error.strerror}")
        self.overflows = _listen_overflows()
        if self.calls is not None:
            self.calls.start(self.offset)

    def follow(self) -> None:
        """Trace the calls of this thread, and of every task it starts from now on."""
        if self.calls is not None:
            self.calls.follow(threading.get_native_id())

    def read(self, roots: set[int] = frozenset(), window: tuple[float, float] | None = None) -> KernelRecord:
        """What the kernel traced so far, and its TIME_WAIT table: call right after the teardown.
        The calls are those of the processes roots and their descendants (within window)."""
        if self.instance is None:
            return self.record
        text, lost = self.pipe.drain()
        ports = (f":{self.port}",)
        events, probes = parse_trace(text, self.offset)
        events = [e for e in events   # drops carry no ports: kept, matched later
                  if e.kind == EventKind.DROP or e.src.endswith(ports) or e.dst.endswith(ports)]
        table = []
        for name in ("tcp", "tcp6"):
            path = Path(f"/proc/thread-self/net/{name}")
            if path.exists():
                table += [t for t in parse_tcp_table(path.read_text(), time.time())
                          if t.local.endswith(ports) or t.remote.endswith(ports)]
        self.record = KernelRecord(events, table, listen_overflows=_listen_overflows() - self.overflows, lost=lost,
                                   probes=probes)
        if self.calls is not None:
            self.calls.read_into(self.record, roots, window)
        return self.record

    def __exit__(self, *exc_info) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.calls is not None:
            self.calls.stop()
        _close(self.pipe, self.instance)
        self.pipe = self.instance = None


class CallTracing:
    """The instance that traces a program's socket calls."""

    def __init__(self, buffer_kb: int):
        self.buffer_kb = buffer_kb
        self.instance: Path | None = None
        self.pipe: _Pipe | None = None
        self.probe: uprobes.Probe | None = None
        self.unavailable: str | None = None
        self.offset = 0.0

    def start(self, offset: float) -> None:
        self.offset = offset
        self.unavailable = _lacking(CALL_EVENTS)
        if self.unavailable:
            return
        try:
            self.instance, _ = _instance(self.buffer_kb, ("fields", "record-tgid", "event-fork"))
            for name, text in KERNEL_FILTERS.items():
                _write(self.instance / "events" / "syscalls" / f"sys_enter_{name}" / "filter", text)
            self.probe = uprobes.Probe(TRACEFS)
            # Started before anyone is followed: a thread started later by a followed one is followed too.
            self.pipe = _Pipe(self.instance)
        except OSError as error:
            self.unavailable = f"cannot set up a tracing instance for the calls: {error.strerror}"
            self.stop()

    def follow(self, tid: int) -> None:
        """Enabled only now, with a thread to follow: an empty set_event_pid would trace everyone."""
        if self.instance is not None:
            _write(self.instance / "set_event_pid", str(tid))
            for event in self._events():
                _write(self.instance / "events" / event / "enable", "1")

    def _events(self) -> tuple[str, ...]:
        return CALL_EVENTS + (self.probe.events if self.probe else ())

    def read_into(self, record: KernelRecord, roots: set[int], window: tuple[float, float] | None) -> None:
        if self.instance is None:
            record.calls_unavailable = self.unavailable
            return
        text, record.calls_lost = self.pipe.drain()
        lines = parse_lines(text, self.offset)
        if window is not None:
            lines = [line for line in lines if window[0] <= line.time <= window[1]]
        traced = resolve(lines, set(roots))
        record.calls, record.sockets = traced.calls, traced.sockets

    def stop(self) -> None:
        _close(self.pipe, self.instance)
        self.pipe = self.instance = None
        if self.probe is not None:   # once no instance has it enabled
            self.probe.remove()
            self.probe = None


class _Pipe:
    """An instance's trace_pipe, read by a thread as it fills: a burst of events outgrows any
    buffer read once at the end. The kernel formats the text as it is read, so while the program
    runs the thread is last in line for the CPU (nice 19): the packet capture, whose ring must not
    overflow, and the watched program come first, and the instance's buffer holds the events
    meanwhile. Once the program is done, what is left is read at the ordinary priority."""

    def __init__(self, instance: Path):
        self.instance = instance
        self.chunks: list[bytes] = []
        self.done = threading.Event()       # read what is left, then stop
        self.abandoned = threading.Event()  # stop now: the run is being torn down
        self.tid: int | None = None
        self.fd = os.open(instance / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        self.reader = threading.Thread(target=self._read, name=f"trace {instance.name}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        self.tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, self.tid, READER_NICE)
        while not self.abandoned.is_set():
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                if self.done.is_set():
                    return
                time.sleep(0.02)
                continue
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data)

    def drain(self) -> tuple[str, int]:
        """Everything traced until now, and how many events the kernel could not keep."""
        self._stop_tracing()
        if self.tid is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, self.tid, 0)
            except OSError:   # lowering a nice value takes CAP_SYS_NICE
                pass
        self.done.set()
        self.reader.join()
        text = b"".join(self.chunks).decode(errors="replace")
        self.chunks = []
        said = sum(int(count) for count in re.findall(r"\[LOST (\d+) EVENTS\]", text))   # where the gaps are
        return text, max(said, _lost(self.instance))

    def close(self) -> None:
        self._stop_tracing()
        self.abandoned.set()
        self.reader.join()
        os.close(self.fd)

    def _stop_tracing(self) -> None:
        """No more events: a program still running (a server a stopped watch left behind) would
        otherwise keep the reader reading for ever."""
        try:
            _write(self.instance / "tracing_on", "0")
        except OSError:
            pass   # the instance is going anyway


def _lost(instance: Path) -> int:
    """Events the kernel could not keep in the instance's buffer, over every CPU."""
    lost = 0
    for stats in (instance / "per_cpu").glob("cpu*/stats"):
        for line in stats.read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("overrun", "dropped events"):
                lost += int(value)
    return lost


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


def _lacking(events: tuple[str, ...]) -> str | None:
    """Why this kernel cannot trace events, if it cannot."""
    missing = [e for e in events if not (TRACEFS / "events" / e).is_dir()]
    return f"this kernel has no tracepoint {missing[0].replace('/', ':')}" if missing else None


def _instance(buffer_kb: int, options: tuple[str, ...] = ()) -> tuple[Path, float]:
    """A new tracing instance of this run (handshake-viz-PID-N), with these options on, a buffer of
    buffer_kb per CPU that never overwrites (what it cannot hold is counted), and the clock set;
    with what to add to its times to get wall-clock seconds. Removed again if it cannot be set up."""
    instance = TRACEFS / "instances" / f"handshake-viz-{os.getpid()}-{next(_names)}"
    instance.mkdir()
    try:
        offset = _use_clock(instance)
        for option in options:
            _write(instance / "options" / option, "1")
        _write(instance / "options" / "overwrite", "0")
        _write(instance / "buffer_size_kb", str(buffer_kb))
    except OSError:
        _remove(instance)
        raise
    return instance, offset


def _close(pipe: "_Pipe | None", instance: Path | None) -> None:
    """A run's instance done with: its reader stopped, then the instance removed."""
    if pipe is not None:
        pipe.close()
    if instance is not None:
        _remove(instance)


def _remove(instance: Path) -> None:
    """Every event of the instance off (one write: a uprobe enabled in it could not be removed),
    then the instance."""
    if not instance.exists():
        return
    try:
        _write(instance / "events" / "enable", "0")
    except OSError:
        pass
    instance.rmdir()


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n")


def ours() -> list[str]:
    """The names of every run's tracing instances (handshake-viz-PID-N) and uprobes
    (handshake_viz_PID_N) present now."""
    folder = TRACEFS / "instances"
    instances = sorted(p.name for p in folder.glob("handshake-viz-*")) if folder.is_dir() else []
    return instances + uprobes.ours(TRACEFS)


def remove(name: str) -> None:
    """Remove a tracing instance, or a uprobe, a dead run left (its instance first: an enabled
    uprobe cannot be removed)."""
    if name.startswith("handshake_viz_"):
        uprobes.remove(TRACEFS / "uprobe_events", name)
        return
    try:
        _remove(TRACEFS / "instances" / name)
    except OSError:
        pass  # another run is removing it at the same moment
