"""Is every call and kernel state after the packet that caused it? A pure check of one run.

A diagram that puts `recv() = 0` above the FIN it reports teaches the wrong thing, and clocks
can lie (a packet stamped when Python read it, not when the kernel handled it). So each run is
checked against the rules a socket obeys:

- a read that returns N bytes ends after N bytes (or, for UDP, a datagram) reached that side;
- `recv() = 0` ends after the peer's FIN;
- ECONNREFUSED comes after the RST or the ICMP error, ECONNRESET after the peer's RST, EPIPE
  after the peer's RST or after this side's own FIN;
- `connect() = 0` ends after the SYN+ACK; `accept()` returns after the handshake's last ACK;
- a state the kernel entered because of a packet comes after it (CLOSE_WAIT after the peer's
  FIN), a state that sends one comes before it (FIN_WAIT_1 before our FIN).

Times are compared at the capture's resolution: pcap stores microseconds.
"""

import re
from collections.abc import Iterable

from handshake_viz.core.analysis import CLIENT, SERVER, Conversation, UdpConversation, other
from handshake_viz.core.attribution import finder
from handshake_viz.kernel.record import EventKind, KernelRecord
from handshake_viz.kernel.view import CAPTURE_RESOLUTION as RESOLUTION
from handshake_viz.kernel.view import CAUSES, cause_packet, socket_events
from handshake_viz.wire.records import ACK, FIN, READS, RST, SYN, SocketCall


def check(calls: Iterable[SocketCall], conversations: list, kernel: KernelRecord | None = None) -> list[str]:
    """Every violation, as a sentence naming the call or state and the packet; empty when causal."""
    start = min((_packets(c)[0].record.time for c in conversations if _packets(c)), default=0.0)
    problems: list[str] = []
    read_so_far: dict[tuple, int] = {}
    conversation_of = finder(conversations)
    for call in sorted(calls, key=lambda c: c.end):
        conversation = conversation_of(call)
        if conversation is None:
            continue
        problem = (_tcp_call(call, conversation, read_so_far) if conversation.protocol == "tcp"
                   else _udp_call(call, conversation, read_so_far))
        if problem:
            cause_name, cause = problem
            problems.append(f"the {call.side}'s {call.name}({call.args}) = {call.outcome} ended at "
                            f"{call.end - start:.6f} s, before {cause_name} (#{cause.frame} at "
                            f"{cause.time - start:.6f} s)")
    if kernel is not None and kernel.unavailable is None:
        for conversation in conversations:
            if conversation.protocol == "tcp":
                problems += _kernel_states(conversation, kernel, start)
    return problems


def _packets(conversation) -> list:
    return conversation.segments if conversation.protocol == "tcp" else conversation.datagrams


def _count(call: SocketCall) -> int:
    """The bytes a successful read returned: "5", "4 (127.0.0.1:5353)", "8, MSG_TRUNC"."""
    return int(re.match(r"\d+", call.result)[0])


def _first(segments, sender: str, test) -> object:
    return next((s.record for s in segments if s.sender == sender and test(s)), None)


# What a TCP call's return waits for from the peer: its name, and the test of the packet.
_AWAITED = {
    "end_of_stream": ("FIN", lambda flags: flags & FIN),
    "ECONNREFUSED": ("RST", lambda flags: flags & RST),
    "ECONNRESET": ("RST", lambda flags: flags & RST),
    "connected": ("SYN+ACK", lambda flags: flags & (SYN | ACK) == SYN | ACK),
    "accepted": ("handshake's last ACK", lambda flags: flags & (SYN | ACK | RST) == ACK),
}


def _tcp_call(call: SocketCall, conversation: Conversation, read_so_far: dict):
    if call.name in READS and call.error is None and not call.end_of_stream:
        return _tcp_read(call, conversation, read_so_far)
    if call.error == "EPIPE":
        return _broken_pipe(call, conversation.segments)
    kind = _awaited_kind(call)
    if kind is None:
        return None
    peer = other(call.side)
    what, test = _AWAITED[kind]
    cause = _first(conversation.segments, peer, lambda s: test(s.record.flags))
    if cause is None or cause.time > call.end + RESOLUTION:
        name = "the handshake's last ACK" if kind == "accepted" else f"the {peer}'s {what}"
        return name, cause or conversation.segments[-1].record
    return None


def _awaited_kind(call: SocketCall) -> str | None:
    if call.end_of_stream:
        return "end_of_stream"
    if call.error in ("ECONNREFUSED", "ECONNRESET"):
        return call.error
    if call.error is None and call.name in ("connect", "accept", "accept4"):
        return "connected" if call.name == "connect" else "accepted"
    return None


def _tcp_read(call: SocketCall, conversation: Conversation, read_so_far: dict):
    """A read cannot return bytes before they arrived."""
    segments, peer = conversation.segments, other(call.side)
    key = (conversation.index, call.side)
    read_so_far[key] = read_so_far.get(key, 0) + _count(call)
    arrived = max((s.rel_seq + s.record.payload_len - 1 for s in segments if s.sender == peer
                   and s.record.payload_len and s.record.time <= call.end + RESOLUTION), default=0)
    if read_so_far[key] > arrived:
        last = _first(reversed(segments), peer, lambda s: s.record.payload_len) or segments[-1].record
        return f"byte {read_so_far[key]} from the {peer} arrived", last
    return None


def _broken_pipe(call: SocketCall, segments: list):
    """EPIPE comes after the peer's RST, or after this side's own FIN (a send after shutdown)."""
    peer = other(call.side)
    causes = [r for r in (_first(segments, peer, lambda s: s.record.flags & RST),
                          _first(segments, call.side, lambda s: s.record.flags & FIN)) if r is not None]
    if not causes or min(r.time for r in causes) > call.end + RESOLUTION:
        return f"the {peer}'s RST or the {call.side}'s own FIN", causes[0] if causes else segments[-1].record
    return None


def _udp_call(call: SocketCall, conversation: UdpConversation, read_so_far: dict):
    datagrams = conversation.datagrams
    if call.name in READS and call.error is None:
        return _udp_read(call, conversation, read_so_far)
    if call.error == "ECONNREFUSED":
        error = next((d.record for d in datagrams if d.record.icmp), None)
        if error is None or error.time > call.end + RESOLUTION:
            return "the ICMP error", error or datagrams[-1].record
    return None


def _udp_read(call: SocketCall, conversation: UdpConversation, read_so_far: dict):
    """A read cannot return a datagram before it arrived. Each socket gets its own copy (a
    broadcast or a group's datagram reaches every socket bound to its port), so reads count per socket."""
    key = (conversation.index, call.side, call.pid, call.fd)
    read_so_far[key] = read_so_far.get(key, 0) + 1
    arrived = [d.record for d in conversation.datagrams if d.sender != call.side and not d.record.icmp]
    if sum(1 for r in arrived if r.time <= call.end + RESOLUTION) < read_so_far[key]:
        return f"datagram {read_so_far[key]} to the {call.side} arrived", (arrived or [conversation.datagrams[-1].record])[-1]
    return None


def _kernel_states(conversation: Conversation, kernel: KernelRecord, start: float) -> list[str]:
    ends = {CLIENT: conversation.client_text, SERVER: conversation.server_text}
    frames = {s.record.frame: s.record for s in conversation.segments}
    problems = []
    for side in (CLIENT, SERVER):
        for event in socket_events(conversation, kernel, ends[side], ends[other(side)]):
            if event.kind != EventKind.STATE:
                continue
            cause = CAUSES.get((event.old, event.new))
            frame = cause and cause_packet(conversation, side, cause[0], None)   # the first of its kind
            if not frame:
                continue
            packet, after = frames[frame], cause[1] == "after"
            if (event.time + RESOLUTION < packet.time) if after else (event.time > packet.time + RESOLUTION):
                problems.append(
                    f"the kernel put the {side} in {event.new} at {event.time - start:.6f} s, "
                    f"{'before' if after else 'after'} #{packet.frame} ({packet.time - start:.6f} s), "
                    f"which {'causes' if after else 'it sends in'} it")
    return problems
