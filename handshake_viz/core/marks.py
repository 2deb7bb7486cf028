"""Per-segment TCP analysis marks, computed the way tshark's TCP analysis computes them.

Pure. Each direction keeps what Wireshark's `tcp_analyze_seq_info` keeps (the next expected
sequence number, the last ACK and window, the duplicate-ACK count...), and `mark()` applies the
tests of `tcp_analyze_sequence_number` (packet-tcp.c) in the same order, with tshark's default
preferences (a fast retransmission takes precedence over out-of-order), so our marks can be
checked against tshark's reading of real captures. As there, a sequence number of 0 means "not
seen yet" and windows are after scaling.

`mark`, `_window_and_ack_marks` and `_retransmission_kind` are the only functions of the package
over a cyclomatic complexity of 15: they follow tshark's branches one for one, in the same order,
so that each can be read beside packet-tcp.c; cut into smaller functions, that order would be lost.
"""

from dataclasses import dataclass
from enum import StrEnum

from handshake_viz.wire.records import ACK, FIN, RST, SYN, PacketRecord
from handshake_viz.wire.seqnum import seq_add, seq_gt, seq_le, seq_lt


class AnalysisMark(StrEnum):
    """tshark's names, without their "tcp.analysis." prefix."""

    RETRANSMISSION = "retransmission"
    FAST_RETRANSMISSION = "fast_retransmission"
    SPURIOUS_RETRANSMISSION = "spurious_retransmission"
    OUT_OF_ORDER = "out_of_order"
    LOST_SEGMENT = "lost_segment"
    DUPLICATE_ACK = "duplicate_ack"
    ZERO_WINDOW = "zero_window"
    ZERO_WINDOW_PROBE = "zero_window_probe"
    ZERO_WINDOW_PROBE_ACK = "zero_window_probe_ack"
    WINDOW_UPDATE = "window_update"
    KEEP_ALIVE = "keep_alive"
    KEEP_ALIVE_ACK = "keep_alive_ack"


# The names the rules below (and the rest of the package) read, in the enum's order.
(RETRANSMISSION, FAST_RETRANSMISSION, SPURIOUS_RETRANSMISSION, OUT_OF_ORDER, LOST_SEGMENT, DUPLICATE_ACK,
 ZERO_WINDOW, ZERO_WINDOW_PROBE, ZERO_WINDOW_PROBE_ACK, WINDOW_UPDATE, KEEP_ALIVE, KEEP_ALIVE_ACK) = AnalysisMark
# Marks that are out of the ordinary: a diagram never folds a segment carrying one of these.
ANOMALIES = frozenset({RETRANSMISSION, FAST_RETRANSMISSION, SPURIOUS_RETRANSMISSION, OUT_OF_ORDER,
                       LOST_SEGMENT, DUPLICATE_ACK, ZERO_WINDOW, ZERO_WINDOW_PROBE,
                       ZERO_WINDOW_PROBE_ACK, KEEP_ALIVE, KEEP_ALIVE_ACK})

FAST_RETRANSMISSION_WINDOW = 0.020    # within 20 ms of the last duplicate ACK
DEFAULT_OUT_OF_ORDER_WINDOW = 0.003   # without a handshake RTT, 3 ms

_CONTROL = SYN | FIN | RST


@dataclass(slots=True)
class FlowMarks:
    """What one direction has shown so far, for the marks of its next segment."""

    nextseq: int = 0
    nextseq_time: float = 0.0
    max_seq_to_be_acked: int = 0
    lastack: int = 0
    lastack_time: float = 0.0
    window: int | None = None        # tshark starts with a value no window can have
    dupacks: int = 0                 # -1: an ACK of unseen data was just counted
    last_marks: frozenset = frozenset()


@dataclass(slots=True)
class HandshakeTiming:
    """tshark's RTT estimate: from the latest pure SYN to the first pure ACK after it."""

    last_syn_time: float | None = None
    first_rtt: float = 0.0

    def see(self, flags: int, time: float) -> None:
        if flags & (SYN | ACK) == SYN:
            self.last_syn_time = time
        elif flags & (SYN | ACK) == ACK and self.last_syn_time is not None and not self.first_rtt:
            self.first_rtt = time - self.last_syn_time


def mark(fwd: FlowMarks, rev: FlowMarks, timing: HandshakeTiming, record: PacketRecord, window: int) -> frozenset:
    """The marks of one segment (its window already scaled) sent in direction fwd; updates fwd and
    rev as tshark does."""
    seq, ack, seglen, flags, time = record.seq, record.ack, record.payload_len, record.flags, record.time
    found: set[str] = set()
    if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
        found.add(ZERO_WINDOW_PROBE)
    else:
        _window_and_ack_marks(fwd, rev, seq, ack, seglen, flags, window, found)
    if ack != fwd.lastack:
        fwd.dupacks = 0

    # tshark's "ACKed unseen segment" check. Its mark is not reported (tshark's oracle has no column
    # to check it against, and it disagreed on a real capture), but its effect on the duplicate-ACK
    # counter is kept: tshark's fast retransmissions depend on it.
    if flags & ACK and rev.max_seq_to_be_acked and seq_gt(ack, rev.max_seq_to_be_acked):
        # tshark 4.0.17's branch (LT_SEQ; later versions turned it around): measured against its
        # reading of ../shared/pcaps2, the other way gave 2 false fast retransmissions there.
        if seq_lt(rev.max_seq_to_be_acked, rev.nextseq):
            rev.max_seq_to_be_acked = rev.nextseq
        else:
            rev.dupacks = -1

    if (seglen > 0 or flags & (SYN | FIN)) and KEEP_ALIVE not in found:
        _retransmission_kind(fwd, rev, timing, seq, seglen, flags, time, found)

    nextseq = seq_add(seq, seglen + (1 if flags & (SYN | FIN) else 0))
    probe = ZERO_WINDOW_PROBE in found and KEEP_ALIVE not in found  # tshark's kind of probe
    if (seq_gt(nextseq, fwd.nextseq) or not fwd.nextseq) and not probe:
        fwd.nextseq, fwd.nextseq_time = nextseq, time
    if (seq == fwd.max_seq_to_be_acked or not fwd.max_seq_to_be_acked) and not probe:
        fwd.max_seq_to_be_acked = fwd.nextseq
    fwd.window = window
    fwd.lastack, fwd.lastack_time = ack, time
    fwd.last_marks = frozenset(found)
    timing.see(flags, time)
    return fwd.last_marks


def _window_and_ack_marks(fwd, rev, seq, ack, seglen, flags, window, found) -> None:
    control = flags & _CONTROL
    if window == 0 and not control:
        found.add(ZERO_WINDOW)
    if fwd.nextseq and seq_gt(seq, fwd.nextseq) and not flags & RST:
        found.add(LOST_SEGMENT)
    if seglen <= 1 and seq == seq_add(fwd.nextseq, -1) and not control:
        found.add(KEEP_ALIVE)
        if rev.window == 0:
            # Linux probes a zero window with this same empty segment one byte back; tshark
            # calls it a keep-alive only. (Our addition: tshark's probe carries one new byte.)
            found.add(ZERO_WINDOW_PROBE)
    repeats = seglen == 0 and seq == fwd.nextseq and ack == fwd.lastack and not control
    if not repeats:
        return
    if window and window != fwd.window:
        found.add(WINDOW_UPDATE)
    if window and window == fwd.window and KEEP_ALIVE in rev.last_marks:
        found.add(KEEP_ALIVE_ACK)
    elif window == 0 and window == fwd.window and ZERO_WINDOW_PROBE in rev.last_marks:
        found.add(ZERO_WINDOW_PROBE_ACK)
    elif window and window == fwd.window:
        fwd.dupacks = 1 if fwd.dupacks == -1 else fwd.dupacks + 1
        found.add(DUPLICATE_ACK)


def _retransmission_kind(fwd, rev, timing, seq, seglen, flags, time, found) -> None:
    not_advanced = bool(fwd.nextseq) and seq_lt(seq, fwd.nextseq)
    if seglen > 1 and seq_add(fwd.nextseq, -1) == seq:
        not_advanced = False  # new data right after a zero-window probe's byte
    if seglen > 0 and rev.lastack and seq_le(seq_add(seq, seglen), rev.lastack):
        found.update((SPURIOUS_RETRANSMISSION, RETRANSMISSION))
        return
    if not not_advanced:
        return
    # tshark's counter is unsigned, so its -1 (after an ACK of unseen data) counts as many.
    many_dupacks = rev.dupacks >= 2 or rev.dupacks == -1
    # tshark's time differences are unsigned (guint64): a segment stamped before the time it is
    # measured from (a clock that ran backwards) is far too late for either, so a retransmission.
    if many_dupacks and rev.lastack == seq and 0 <= time - rev.lastack_time < FAST_RETRANSMISSION_WINDOW:
        found.update((FAST_RETRANSMISSION, RETRANSMISSION))
        return
    threshold = timing.first_rtt or DEFAULT_OUT_OF_ORDER_WINDOW
    ends_at = seq_add(seq, seglen + (1 if flags & (SYN | FIN) else 0))
    if 0 <= time - fwd.nextseq_time < threshold and fwd.nextseq != ends_at:
        found.add(OUT_OF_ORDER)
        return
    found.add(RETRANSMISSION)
