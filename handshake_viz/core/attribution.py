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


def conversation_of(call: SocketCall, conversations: list):
    """The conversation call was made on, or None (a listener's call, a call on no socket)."""
    return next((c for c in conversations if c.protocol == call.protocol and same_end(call.endpoint, c.client_text)),
                None)


def calls_of(conversation, calls: tuple[SocketCall, ...], conversations: list) -> tuple[SocketCall, ...]:
    """The calls drawn on conversation's diagram."""
    alone = len(conversations) == 1
    own = []
    for call in calls:
        on = conversation_of(call, conversations)
        if on is conversation or (on is None and call.endpoint is None and (
                alone or (call.protocol == conversation.protocol and same_end(call.local, conversation.server_text)))):
            own.append(call)
    return tuple(own)
