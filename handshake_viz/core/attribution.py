"""Which conversation each socket call was made on. Pure.

A call on a connected socket (or a UDP client's, or a UDP server's sendto/recvfrom with one
client) carries that exchange's client end; a call on a listener or a bound UDP server socket
carries the socket's own end. A socket that was never bound reads back the wildcard address
(0.0.0.0:P, [::]:P): it matches any address with its port.

A conversation's diagram shows the calls made on it, plus those on the listener or server socket
that served it (socket, bind, listen, close); a run of one conversation also shows the calls made
on no conversation at all, which are still part of its story (the binds that fail and succeed
after a close in TIME_WAIT).
"""

from collections.abc import Callable

from handshake_viz.wire.records import SocketCall

WILDCARDS = ("0.0.0.0", "::")


def same_end(recorded: str | None, seen: str) -> bool:
    """Whether an end a program recorded is the end seen on the wire."""
    if recorded is None:
        return False
    if recorded == seen:
        return True
    address, _, port = recorded.rpartition(":")
    return address.strip("[]") in WILDCARDS and seen.rpartition(":")[2] == port


def finder(conversations: list) -> Callable[[SocketCall], object | None]:
    """A function of a call: the conversation it was made on, or None (a listener's call, a call
    on no socket). The conversations are indexed once, by their client ends: a run may hold tens
    of thousands of them, and as many calls."""
    exact = {(c.protocol, c.client_text): c for c in conversations}
    numbered = {c.index: c for c in conversations}

    def conversation_of(call: SocketCall):
        if call.conversation is not None:
            return numbered.get(call.conversation)
        if call.endpoint is None:
            return None
        found = exact.get((call.protocol, call.endpoint))
        if found is None and call.endpoint.rpartition(":")[0].strip("[]") in WILDCARDS:   # an unbound end
            found = next((c for c in conversations if c.protocol == call.protocol
                          and same_end(call.endpoint, c.client_text)), None)
        return found
    return conversation_of


def calls_by_conversation(calls: tuple[SocketCall, ...], conversations: list) -> dict[int, tuple[SocketCall, ...]]:
    """The calls drawn on each conversation's diagram, by its index."""
    conversation_of, alone = finder(conversations), len(conversations) == 1
    served: dict[tuple, list] = {}   # (protocol, server port) -> the conversations a listener there served
    for conversation in conversations:
        served.setdefault((conversation.protocol, conversation.server[1]), []).append(conversation)
    drawn: dict[int, list[SocketCall]] = {c.index: [] for c in conversations}
    for call in calls:
        on = conversation_of(call)
        if on is not None:
            drawn[on.index].append(call)
        elif call.endpoint is None and alone:
            drawn[conversations[0].index].append(call)
        elif call.endpoint is None and call.local is not None:
            port = int(call.local.rpartition(":")[2])
            for conversation in served.get((call.protocol, port), []):
                if same_end(call.local, conversation.server_text):
                    drawn[conversation.index].append(call)
    return {index: tuple(own) for index, own in drawn.items()}
