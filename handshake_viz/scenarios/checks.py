"""What scenarios declare must be on the wire, as small checks that return the problems found.

Each check reads a run (its records, analysed conversations and recorded calls) and returns a
list of sentences, empty when the wire and the calls show what the scenario promises.
"""

from handshake_viz.core.analysis import Handshake, Phase
from handshake_viz.kernel.view import align
from handshake_viz.wire.records import ACK, CLIENT, FIN, RST, SERVER, SYN, Side


def tcp_conversations(run) -> list:
    return [c for c in run.conversations if c.protocol == "tcp"]


def udp_conversations(run) -> list:
    return [c for c in run.conversations if c.protocol == "udp"]


def states(conversation, side: Side) -> list[str]:
    return [change.state.value for change in conversation.states[side]]


def calls_named(run, name: str, side: Side | None = None) -> list:
    return [c for c in run.meant if c.name == name and (side is None or c.side == side)]


def need(problems: list[str], condition: bool, sentence: str) -> None:
    if not condition:
        problems.append(sentence)


def one_connection(run) -> tuple[list[str], object]:
    conversations = tcp_conversations(run)
    if len(conversations) != 1:
        return [f"expected one TCP connection, saw {len(conversations)}"], None
    return [], conversations[0]


def single_connection(*checks):
    """A scenario's check: one TCP connection, opened by one handshake, and each of checks (a
    function of the run and that connection) finding nothing wrong."""
    def check(run):
        problems, conversation = one_connection(run)
        if conversation is None:
            return problems
        problems += handshake_once(conversation)
        for one in checks:
            problems += one(run, conversation)
        return problems
    return check


def handshake_once(conversation) -> list[str]:
    """Exactly one SYN, one SYN+ACK and one ACK completing the handshake."""
    segments = conversation.segments
    syns = [s for s in segments if s.record.flags & (SYN | ACK) == SYN]
    syn_acks = [s for s in segments if s.record.flags & (SYN | ACK) == SYN | ACK]
    completing = [s for s in segments if s.phase == Phase.HANDSHAKE and s.record.flags == ACK]
    problems: list[str] = []
    need(problems, len(syns) == 1, f"{len(syns)} SYNs instead of one")
    need(problems, len(syn_acks) == 1, f"{len(syn_acks)} SYN+ACKs instead of one")
    need(problems, len(completing) == 1, f"{len(completing)} handshake ACKs instead of one")
    need(problems, conversation.handshake == Handshake.COMPLETE, f"handshake {conversation.handshake}")
    return problems


def data_acked_at_seq_plus_len(conversation) -> list[str]:
    problems: list[str] = []
    frames = {s.record.frame: s for s in conversation.segments}
    for segment in conversation.segments:
        if not segment.record.payload_len:
            continue
        ack = frames.get(segment.acked_by)
        need(problems, ack is not None, f"data #{segment.record.frame} was never acknowledged")
        if ack is not None:
            end = segment.rel_seq + segment.record.payload_len
            need(problems, ack.rel_ack >= end, f"ACK #{ack.record.frame} ({ack.rel_ack}) is below SEQ + len ({end})")
    return problems


def orderly_close(conversation, closer: str) -> list[str]:
    """closer sends the first FIN and alone ends in TIME_WAIT; the peer goes through LAST_ACK."""
    peer = SERVER if closer == CLIENT else CLIENT
    fins = [s.sender for s in conversation.segments if s.record.flags & FIN]
    problems: list[str] = []
    need(problems, fins == [closer, peer], f"FINs sent by {fins}, expected {closer} then {peer}")
    need(problems, conversation.time_wait == (closer,), f"TIME_WAIT on {conversation.time_wait}, expected {closer}")
    need(problems, states(conversation, closer)[-3:] == ["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"],
         f"{closer} went {states(conversation, closer)}")
    need(problems, states(conversation, peer)[-3:] == ["CLOSE_WAIT", "LAST_ACK", "CLOSED"],
         f"{peer} went {states(conversation, peer)}")
    need(problems, not any(s.record.flags & RST for s in conversation.segments), "a RST was sent")
    return problems


def kernel_dropped(run, conversation, frame: int, reason: str) -> list[str]:
    """The kernel's record says the socket never got frame, for reason (when there is a record)."""
    account = align(conversation, run.kernel)
    if account is None:
        return []
    got = account.dropped.get(frame)
    return [] if got == reason else [f"the kernel's record has frame {frame} dropped for {got}, not {reason}"]


def outcome(run, name: str, side: Side, expected: str, index: int = 0) -> list[str]:
    calls = calls_named(run, name, side)
    if len(calls) <= index:
        return [f"the {side} made no {name} call number {index + 1}"]
    got = calls[index].outcome
    return [] if got.startswith(expected) else [f"{side}'s {name} gave {got}, expected {expected}"]

