"""The TCP state machine of RFC 9293 (figure 5, plus resets) as one table.

Rules:
- `TRANSITIONS[(state, trigger)]` is the state an endpoint moves to; a pair missing from the
  table means the trigger changes nothing in that state (a retransmitted FIN, a stray ACK).
- Triggers are what an endpoint did or received; they are not events and never share a name
  with a state.
- The view is one connection's: a listener that accepts stays LISTEN in the kernel, but the
  connection it spawned goes LISTEN -> SYN_RECEIVED -> ESTABLISHED, as textbooks draw it. A
  reset connection is CLOSED whatever side opened it.
- WARNING: three things change states outside this table.
  1. `analysis._TcpStep._initial_states` sets the state each side was in before the capture
     shows it act, with no trigger and no event: CLOSED before its SYN, LISTEN before it answers
     a SYN, ESTABLISHED when the capture starts mid-connection (or on a refused SYN's peer, CLOSED).
  2. Crossing FINs withdraw a CLOSE_WAIT inferred too early (`StateWithdrawn`): the FIN it was
     inferred from had not arrived when the peer sent its own.
  3. The kernel's record (`kernel.view`) is read, not derived, so it may hold states the table
     never produces for that side; where it differs, the diagram says so.
- TIME_WAIT ends after 2 x MSL in RFC 9293 (4 minutes: its MSL is 2 minutes); Linux holds it a
  fixed 60 s (TCP_TIMEWAIT_LEN).
"""

from enum import StrEnum

TIME_WAIT_SECONDS = 60


class TcpState(StrEnum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"


class Trigger(StrEnum):
    PASSIVE_OPEN = "listen"
    ACTIVE_OPEN = "connect: send SYN"
    APP_CLOSE = "close before connecting"
    RECEIVE_SYN = "receive SYN"
    RECEIVE_SYN_ACK = "receive SYN+ACK"
    RECEIVE_ACK_OF_SYN = "receive ACK of SYN"
    SEND_FIN = "close: send FIN"
    RECEIVE_FIN = "receive FIN"
    RECEIVE_ACK_OF_FIN = "receive ACK of FIN"
    SEND_RST = "send RST"
    RECEIVE_RST = "receive RST"
    RECEIVE_RST_AFTER_PASSIVE_OPEN = "receive RST (opened by a listener)"
    RECEIVE_FIN_ACKING_OURS = "receive FIN that ACKs ours"
    TIMEOUT_2MSL = "2MSL timeout"


S, T = TcpState, Trigger

_SYNCHRONIZED_OR_OPENING = (S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1,
                            S.FIN_WAIT_2, S.CLOSE_WAIT, S.CLOSING, S.LAST_ACK)

TRANSITIONS: dict[tuple[TcpState, Trigger], TcpState] = {
    (S.CLOSED, T.PASSIVE_OPEN): S.LISTEN,
    (S.CLOSED, T.ACTIVE_OPEN): S.SYN_SENT,
    (S.LISTEN, T.RECEIVE_SYN): S.SYN_RECEIVED,
    (S.LISTEN, T.ACTIVE_OPEN): S.SYN_SENT,
    (S.LISTEN, T.APP_CLOSE): S.CLOSED,
    (S.SYN_SENT, T.RECEIVE_SYN): S.SYN_RECEIVED,       # simultaneous open
    (S.SYN_SENT, T.RECEIVE_SYN_ACK): S.ESTABLISHED,
    (S.SYN_SENT, T.APP_CLOSE): S.CLOSED,
    (S.SYN_RECEIVED, T.RECEIVE_ACK_OF_SYN): S.ESTABLISHED,
    (S.SYN_RECEIVED, T.RECEIVE_RST_AFTER_PASSIVE_OPEN): S.LISTEN,   # RFC 9293 3.10.7.4: back to listening
    (S.SYN_RECEIVED, T.SEND_FIN): S.FIN_WAIT_1,
    (S.ESTABLISHED, T.SEND_FIN): S.FIN_WAIT_1,
    (S.ESTABLISHED, T.RECEIVE_FIN): S.CLOSE_WAIT,
    (S.FIN_WAIT_1, T.RECEIVE_ACK_OF_FIN): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, T.RECEIVE_FIN): S.CLOSING,          # simultaneous close
    # RFC 9293 3.10.7.4: a FIN that also acknowledges ours. Linux takes the ACK, then the FIN
    # (its tracepoint shows FIN_WAIT_2 between), and so does the analysis; the chart shows both.
    (S.FIN_WAIT_1, T.RECEIVE_FIN_ACKING_OURS): S.TIME_WAIT,
    (S.FIN_WAIT_2, T.RECEIVE_FIN): S.TIME_WAIT,
    (S.CLOSING, T.RECEIVE_ACK_OF_FIN): S.TIME_WAIT,
    (S.CLOSE_WAIT, T.SEND_FIN): S.LAST_ACK,
    (S.LAST_ACK, T.RECEIVE_ACK_OF_FIN): S.CLOSED,
    (S.TIME_WAIT, T.TIMEOUT_2MSL): S.CLOSED,
    (S.TIME_WAIT, T.RECEIVE_RST): S.CLOSED,            # TIME_WAIT assassination (RFC 1337)
    **{(state, T.SEND_RST): S.CLOSED for state in _SYNCHRONIZED_OR_OPENING},
    **{(state, T.RECEIVE_RST): S.CLOSED for state in _SYNCHRONIZED_OR_OPENING},  # SYN_RECEIVED: an active open's
}


def next_state(state: TcpState, trigger: Trigger) -> TcpState | None:
    """The state after trigger, or None when the trigger does not change this state."""
    return TRANSITIONS.get((state, trigger))


def state_chart():
    """The state chart drawn from the table (a networkx MultiDiGraph): states as nodes, one edge
    per transition. networkx is imported here, where it is used: importing it cost every run 0.12 s."""
    import networkx as nx

    chart = nx.MultiDiGraph()
    chart.add_nodes_from(TcpState)
    for (source, trigger), target in TRANSITIONS.items():
        chart.add_edge(source, target, trigger=trigger)
    return chart
