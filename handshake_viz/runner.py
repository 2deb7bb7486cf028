"""Running a scenario under live capture: ready before the first call, stopped after the last packet."""

import errno
import socket
from dataclasses import dataclass

from handshake_viz.analysis import Analyzer, Conversation
from handshake_viz.capture import LiveCapture
from handshake_viz.errors import PortBusyError, ScenarioError
from handshake_viz.records import PacketRecord, SocketCall, endpoint_text
from handshake_viz.scenarios import Scenario, Session

TEARDOWN_TIMEOUT = 5.0


@dataclass
class ScenarioRun:
    scenario: Scenario
    frames: list[tuple[float, bytes]]
    linktype: int
    records: list[PacketRecord]
    calls: tuple[SocketCall, ...]
    conversations: list[Conversation]


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def run_scenario(scenario: Scenario, host: str = "127.0.0.1", port: int | None = None) -> ScenarioRun:
    session = Session(host, port or free_port(host))
    analyzer = Analyzer()
    analyzed = 0

    def teardown_seen(records: list[PacketRecord]) -> bool:
        nonlocal analyzed
        for record in records[analyzed:]:
            analyzer.receive(record)
        analyzed = len(records)
        conversations = analyzer.conversations
        return bool(conversations) and all(c.closed for c in conversations)

    with LiveCapture([session.port]) as capture:
        try:
            scenario.program(session)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortBusyError(f"port {endpoint_text(host, session.port)} is in use by another program: "
                                    "pick a free one with --port, or leave --port out to get one")
            raise ScenarioError(f"scenario {scenario.name}: {error}") from error
        capture.wait_for(teardown_seen, TEARDOWN_TIMEOUT, "the end of the teardown (the last ACK or RST)")
    calls = tuple(sorted(session.calls, key=lambda call: call.start))
    return ScenarioRun(scenario, capture.frames, capture.linktype, capture.records, calls,
                       analyzer.conversations)
