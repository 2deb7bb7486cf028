"""Running a scenario under live capture: ready before the first call, stopped after the last packet.

Before anything starts, what a dead run of ours left behind (killed by SIGKILL, so it could not
clean up) is removed: our namespaces and tracing instances carry the pid of the run that made
them, and only those whose process is gone are touched, so runs side by side never meet.
"""

import errno
import os
import pwd
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from handshake_viz.core.analysis import Analyzer, Conversation, UdpConversation
from handshake_viz.errors import CaptureError, Interrupted, PortBusyError, ScenarioError, UsageError
from handshake_viz.kernel import causality
from handshake_viz.kernel.record import KernelRecord
from handshake_viz.kernel.ties import differences, socket_calls, unix_exchanges
from handshake_viz.live import netns, tracing
from handshake_viz.live.capture import LOOPBACK, Link, LiveCapture
from handshake_viz.live.interruption import held
from handshake_viz.live.queues import QueueSampler
from handshake_viz.live.tracing import KernelTrace
from handshake_viz.output.files import invoking_user
from handshake_viz.scenarios import LINK, LINK_BROADCAST, LINK_HOSTS, LINK_SETUP, Scenario, Session, Traffic
from handshake_viz.wire.pcapfile import RawFrame
from handshake_viz.wire.records import PacketRecord, SocketCall, endpoint_text

END_TIMEOUT = 5.0    # after the program ended, how long its last packets may take to be seen


@dataclass
class PartialCapture:
    """What an interrupted run had captured, for the caller to keep."""

    name: str
    frames: list[RawFrame]
    linktype: int


@dataclass
class ScenarioRun:
    scenario: Scenario
    frames: list[RawFrame]
    linktype: int
    records: list[PacketRecord]
    calls: tuple[SocketCall, ...]
    conversations: list[Conversation | UdpConversation]
    kernel: KernelRecord = field(default_factory=KernelRecord)
    problems: list[str] = field(default_factory=list)   # what the wire did not show as promised, what came out of order
    meant: tuple[SocketCall, ...] = ()   # the calls the program recorded making; `calls` are the kernel's, when traced


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def pending_traffic(traffic: Traffic):
    """A function of the records captured so far: what of traffic has not been seen to end."""
    analyzer = Analyzer()
    analyzed = 0

    def pending(records: list[PacketRecord]) -> list[str]:
        nonlocal analyzed
        for record in records[analyzed:]:
            analyzer.receive(record)
        analyzed = len(records)
        return traffic.pending(analyzer.conversations)

    return pending, analyzer


def leftovers(pid: int | None = None) -> list[str]:
    """Namespaces and tracing instances of our runs: of the run with this pid, or (with no pid)
    of runs whose process is gone: a run killed outright could not remove them."""
    return [name for owner in (netns, tracing) for name in owner.ours() if _belongs(name, pid)]


def sweep_leftovers() -> None:
    """Remove what dead runs of ours left; never what a live run is using."""
    if os.geteuid() != 0:
        return
    for owner in (netns, tracing):
        for name in owner.ours():
            if _belongs(name, None):
                owner.remove(name)


def _belongs(name: str, pid: int | None) -> bool:
    """Whether name (handshake-viz-PID-N, or handshake_viz_PID_N for a uprobe) is of the run pid,
    or with no pid, of a dead run."""
    match = re.fullmatch(r"handshake[-_]viz[-_](\d+)[-_]\d+", name)
    if match is None:
        return False
    run = int(match[1])
    return run == pid if pid is not None else not os.path.exists(f"/proc/{run}")


def run_scenario(scenario: Scenario, host: str = "127.0.0.1", port: int | None = None) -> ScenarioRun:
    """Run scenario's program under capture (in its own namespace if it needs one) and check it:
    its promises about the wire, and the order of its calls, packets and kernel states."""
    sweep_leftovers()
    family = "ipv6" if ":" in host else "ipv4"
    if family == "ipv6" and scenario.ipv4_only:
        raise UsageError(f"scenario {scenario.name} has no IPv6 form: {scenario.ipv4_only}")
    if scenario.setup is not None:
        # Any port is free in a fresh namespace; one free on the machine is also no other run's.
        port = scenario.port or port or free_port(host)
        with netns.namespace((LINK_SETUP if scenario.on_link else ()) + scenario.setup(port)):
            return _run(scenario, LINK_HOSTS[family] if scenario.on_link else host, port)
    if port is not None:
        require_free(host, port)
    return _run(scenario, host, scenario.port or port or free_port(host))


def require_free(host: str, port: int) -> None:
    """The port asked for (--port) has no TCP or UDP socket bound on it: a scenario listens there,
    or sends to it expecting nobody (refused, udp-unreachable). Checked before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the scenarios' servers do
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                protocol = "TCP" if kind == socket.SOCK_STREAM else "UDP"
                raise PortBusyError(f"port {endpoint_text(host, port)} ({protocol}) is in use by another program: "
                                    "pick a free one with --port, or leave --port out to get one")


def _run(scenario: Scenario, host: str, port: int) -> ScenarioRun:
    session = Session(host, port)
    pending, analyzer = pending_traffic(scenario.traffic)
    sampler = QueueSampler(port) if scenario.sampled else nullcontext()
    link = Link(LINK, outgoing=True, marker_from=LINK_HOSTS["ipv4"], marker_to=LINK_BROADCAST) if scenario.on_link else LOOPBACK
    with (KernelTrace(port) as trace, LiveCapture([port], link, scenario.capture_also) as capture,
          _kept(capture, scenario.name), sampler):
        trace.follow()   # this thread, and so the program's threads, started below
        start = time.time()
        try:
            # In a thread of its own, as its sides are: its sockets block, as a C program's do, and
            # a call that never returns ends the run instead of hanging it.
            session.run_sides(lambda: scenario.program(session))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusyError(f"port {endpoint_text(host, port)} is in use by another program: "
                                    "pick a free one with --port, or leave --port out to get one")
            raise ScenarioError(f"scenario {scenario.name}: {error}") from error
        end = time.time()
        if not capture.wait_for(lambda records: not pending(records), END_TIMEOUT):
            raise CaptureError(f"scenario {scenario.name}: the capture never saw the end of its traffic within "
                               f"{END_TIMEOUT:g} s (saw {'; '.join(pending(capture.records))}); run it again")
        kernel = trace.read({os.getpid()}, (start, end))  # right after the teardown: the TIME_WAIT entries are fresh
        if scenario.sampled:
            kernel.samples = sampler.stop()
    meant = session.resolved_calls()
    traced = socket_calls(kernel, analyzer.conversations)
    unix = tuple(call for exchange in unix_exchanges(kernel) for call in exchange.calls)   # drawn apart: no packets
    run = ScenarioRun(scenario, capture.frames, capture.linktype, capture.records, traced if kernel.calls else meant,
                      analyzer.conversations, kernel, meant=meant)
    run.problems = (scenario.check(run) + out_of_order(run.calls, run.conversations, kernel) + lost_events(kernel)
                    + ([f"the kernel's record differs: {d}" for d in differences(meant, traced + unix)]
                       if kernel.calls else []))
    return run


def out_of_order(calls, conversations, kernel: KernelRecord) -> list[str]:
    """The causality checker's findings, worded as problems of the run."""
    return [f"out of order: {problem}" for problem in causality.check(calls, conversations, kernel)]


@contextmanager
def _kept(capture: LiveCapture, name: str):
    """An interruption carries what was captured so far, for the caller to keep."""
    try:
        yield
    except Interrupted as stop:
        stop.partial = PartialCapture(name, capture.frames, capture.linktype)
        raise


SETTLE_SECONDS = 2.0   # after a watched program ends, how long its connections get to finish closing


@dataclass
class Watch:
    frames: list[RawFrame]
    linktype: int
    kernel: KernelRecord
    how_it_ended: str
    problems: list[str]   # packets and kernel states out of order


def watch(port: int, command: list[str], seconds: float | None, on_ready: Callable[[], None],
          name: str = "watch", calls: bool = True, call_buffer_kb: int = tracing.CALL_BUFFER_KB) -> Watch:
    """Capture loopback traffic to and from port while command runs, for seconds, or until
    Ctrl-C (which ends the capture cleanly and keeps what was captured), with the socket calls of
    command's process tree (unless not calls). on_ready is called once the capture is up, before
    command starts. The capture ends once every packet sent until then has been read and every
    connection seen has ended (or after SETTLE_SECONDS)."""
    sweep_leftovers()
    pending, analyzer = pending_traffic(Traffic(connections=0))
    roots: set[int] = set()
    with KernelTrace(port, calls, call_buffer_kb) as trace, LiveCapture([port]) as capture, _kept(capture, name):
        on_ready()
        how = _watch_until_done(command, seconds, trace, roots)
        capture.flush()
        # Let connections the program left closing finish, without waiting for open ones forever.
        capture.wait_for(lambda records: not pending(records), SETTLE_SECONDS)
        kernel = trace.read(roots)  # right after the teardown: the TIME_WAIT entries are fresh
    pending(capture.records)  # the analysis has every record
    calls = socket_calls(kernel, analyzer.conversations)
    return Watch(capture.frames, capture.linktype, kernel, how,
                 out_of_order(calls, analyzer.conversations, kernel) + lost_events(kernel))


def lost_events(kernel: KernelRecord) -> list[str]:
    """A trace that lost events is incomplete: said, never drawn as if nothing happened there."""
    return [f"the kernel's trace buffer lost {count} events of {what}: the diagrams miss {which}; run it again "
            "on a quieter machine" for count, what, which in ((kernel.calls_lost, "the socket calls", "calls"),
                                                               (kernel.lost, "its states", "states"))
            if count]


def _as_invoking_user() -> dict:
    """Popen arguments that run a watched program as the user who ran sudo: only the capture needs root."""
    user = invoking_user()
    if user is None:
        return {}
    uid, gid = user
    try:
        account = pwd.getpwuid(uid)
    except KeyError:  # a uid with no account: run with just its ids
        return {"user": uid, "group": gid, "extra_groups": []}
    env = dict(os.environ, HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    return {"user": uid, "group": gid, "extra_groups": os.getgrouplist(account.pw_name, gid), "env": env}


def _watch_until_done(command: list[str], seconds: float | None, trace: KernelTrace, roots: set[int]) -> str:
    """Run command (its calls traced: this thread is followed, so the child it forks is too) until
    it ends, or seconds pass; roots gets its pid."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    program = None
    try:
        if command:
            try:
                with held():   # the child exists before Popen returns: a signal waits until we know it
                    trace.follow()
                    program = subprocess.Popen(command, **_as_invoking_user())
                    roots.add(program.pid)
            except OSError as error:
                raise UsageError(f"cannot run {command[0]}: {error.strerror}")
            try:
                code = program.wait(timeout=None if deadline is None else max(deadline - time.monotonic(), 0))
                return f"{command[0]} exited with status {code}"
            except subprocess.TimeoutExpired:
                program.send_signal(signal.SIGTERM)
                program.wait()
                return f"stopped {command[0]} after {seconds:g} s"
        while seconds is None:  # neither a program nor a limit: until Ctrl-C
            time.sleep(3600)
        time.sleep(seconds)
        return f"captured for {seconds:g} s"
    except KeyboardInterrupt as stop:
        if program is not None and program.poll() is None:
            program.send_signal(signal.SIGINT)
            try:
                program.wait(timeout=2)
            except subprocess.TimeoutExpired:
                program.kill()
                program.wait()
        if isinstance(stop, Interrupted) and stop.signal_name != "SIGINT":
            raise  # SIGTERM or SIGHUP: stop here, keeping the capture; Ctrl-C is how a watch ends
        return "stopped by Ctrl-C"
