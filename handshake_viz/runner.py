"""Running a scenario under live capture: ready before the first call, stopped after the last packet."""

import errno
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from handshake_viz import netns
from handshake_viz.analysis import Analyzer, Conversation, UdpConversation
from handshake_viz.capture import LiveCapture
from handshake_viz.errors import PortBusyError, ScenarioError, UsageError
from handshake_viz.kernel_states import KernelRecord
from handshake_viz.outputs import invoking_user
from handshake_viz.tracing import KernelTrace
from handshake_viz.records import PacketRecord, SocketCall, endpoint_text
from handshake_viz.scenarios import Scenario, Session

END_TIMEOUT = 5.0
PRIVATE_PORT = 8080   # the server's port inside a scenario's own namespace


@dataclass
class ScenarioRun:
    scenario: Scenario
    frames: list[tuple[float, bytes]]
    linktype: int
    records: list[PacketRecord]
    calls: tuple[SocketCall, ...]
    conversations: list[Conversation | UdpConversation]
    kernel: KernelRecord = field(default_factory=KernelRecord)
    problems: list[str] = field(default_factory=list)   # what the wire did not show as promised


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def everything_ended(datagrams: int):
    """The capture may stop once every TCP connection is closed and the scenario's datagrams
    (and ICMP errors) have all been seen: then the last packet is in."""
    analyzer = Analyzer()
    analyzed = 0

    def ended(records: list[PacketRecord]) -> bool:
        nonlocal analyzed
        for record in records[analyzed:]:
            analyzer.receive(record)
        analyzed = len(records)
        conversations = analyzer.conversations
        tcp_closed = all(c.closed for c in conversations if c.protocol == "tcp")
        seen = sum(len(c.datagrams) for c in conversations if c.protocol == "udp")
        return bool(conversations) and tcp_closed and seen >= datagrams

    return ended, analyzer


def run_scenario(scenario: Scenario, host: str = "127.0.0.1", port: int | None = None) -> ScenarioRun:
    """Run scenario's program under capture (in its own namespace if it needs one) and check it."""
    if scenario.setup is not None:
        port = scenario.port or port or PRIVATE_PORT  # a fresh namespace: every port is free
        with netns.namespace(scenario.setup(port)):
            return _run(scenario, host, port)
    return _run(scenario, host, scenario.port or port or free_port(host))


def _run(scenario: Scenario, host: str, port: int) -> ScenarioRun:
    session = Session(host, port)
    ended, analyzer = everything_ended(scenario.datagrams)
    with KernelTrace(port) as trace, LiveCapture([port]) as capture:
        try:
            scenario.program(session)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusyError(f"port {endpoint_text(host, port)} is in use by another program: "
                                    "pick a free one with --port, or leave --port out to get one")
            raise ScenarioError(f"scenario {scenario.name}: {error}") from error
        capture.wait_for(ended, END_TIMEOUT, "the end of every exchange (the last ACK, RST or datagram)")
        kernel = trace.read()  # right after the teardown: the TIME_WAIT entries are fresh
    run = ScenarioRun(scenario, capture.frames, capture.linktype, capture.records,
                      session.resolved_calls(), analyzer.conversations, kernel)
    run.problems = scenario.check(run)
    return run


SETTLE_SECONDS = 2.0   # after a watched program ends, how long its connections get to finish closing


@dataclass
class Watch:
    frames: list[tuple[float, bytes]]
    linktype: int
    kernel: KernelRecord
    how_it_ended: str


def watch(port: int, command: list[str], seconds: float | None, on_ready: Callable[[], None]) -> Watch:
    """Capture loopback traffic to and from port while command runs, for seconds, or until
    Ctrl-C (which ends the capture cleanly and keeps what was captured). on_ready is called once
    the capture is up, before command starts."""
    ended, _ = everything_ended(0)
    with KernelTrace(port) as trace, LiveCapture([port]) as capture:
        on_ready()
        how = _watch_until_done(command, seconds)
        # Let connections the program left closing finish, without waiting for open ones forever.
        capture.wait_for(ended, SETTLE_SECONDS)
        kernel = trace.read()  # right after the teardown: the TIME_WAIT entries are fresh
    return Watch(capture.frames, capture.linktype, kernel, how)


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


def _watch_until_done(command: list[str], seconds: float | None) -> str:
    deadline = time.monotonic() + seconds if seconds is not None else None
    program = None
    try:
        if command:
            try:
                program = subprocess.Popen(command, **_as_invoking_user())
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
    except KeyboardInterrupt:
        if program is not None and program.poll() is None:
            program.send_signal(signal.SIGINT)
            try:
                program.wait(timeout=2)
            except subprocess.TimeoutExpired:
                program.kill()
        return "stopped by Ctrl-C"
