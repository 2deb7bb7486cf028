"""Loss and recovery, each made by an nftables rule in a private namespace: the retransmission
timer and its backoff, fast retransmit on three duplicate ACKs, and the lost last ACK that
TIME_WAIT exists for."""

from handshake_viz.core.marks import DUPLICATE_ACK, FAST_RETRANSMISSION, RETRANSMISSION
from handshake_viz.core.tcp_states import TIME_WAIT_SECONDS
from handshake_viz.kernel.view import align
from handshake_viz.scenarios import Session, Traffic, drops, scenario, sysctl
from handshake_viz.scenarios.checks import (
    kernel_dropped,
    need,
    orderly_close,
    outcome,
    single_connection,
    states,
)
from handshake_viz.scenarios.dataflow import PUSHED, SEGMENT, segments_then_reply
from handshake_viz.scenarios.lifecycle import open_then_close
from handshake_viz.wire.records import ACK, CLIENT, FIN, SERVER, SYN


def _copies(conversation, sender: str) -> list:
    """The segments of sender that carry its first data bytes: the original and every copy."""
    data = [s for s in conversation.segments if s.sender == sender and s.record.payload_len]
    return [s for s in data if data and s.rel_seq == data[0].rel_seq]


def _kernel_resent(run, conversation, copies: list) -> list[str]:
    """The kernel traced each copy as its own retransmission (tcp_retransmit_skb), and no other."""
    account = align(conversation, run.kernel)
    if account is None:
        return []
    frames = {c.record.frame for c in copies}
    return [] if account.retransmitted == frames else [
        f"the kernel traced its retransmissions at frames {sorted(account.retransmitted)}, not {sorted(frames)}"]


def _timer_check(run, conversation):
    problems: list[str] = []
    copies = _copies(conversation, CLIENT)
    need(problems, len(copies) == 3, f"the segment left {len(copies)} times, expected 3 (dropped twice)")
    if len(copies) != 3:
        return problems
    need(problems, all(RETRANSMISSION in c.analysis for c in copies[1:]),
         f"the copies are marked {[sorted(c.analysis) for c in copies[1:]]}, not retransmissions")
    first, second = (b.record.time - a.record.time for a, b in zip(copies, copies[1:]))
    # Linux's minimum RTO is 200 ms (plus the smoothed RTT); each expiry doubles it.
    need(problems, 0.19 <= first <= 0.6, f"the first copy left {first * 1000:.0f} ms after the original, not ~200 ms")
    need(problems, 1.6 <= second / first <= 2.5,
         f"the second wait was {second * 1000:.0f} ms, not about twice the first ({first * 1000:.0f} ms)")
    for dropped in copies[:2]:
        problems += kernel_dropped(run, conversation, dropped.record.frame, "NETFILTER_DROP")
    return (problems + _kernel_resent(run, conversation, copies[1:]) + _timer_doubled(run, conversation, copies)
            + outcome(run, "recv", SERVER, str(SEGMENT)))


def _timer_doubled(run, conversation, copies: list) -> list[str]:
    """The kernel's RTO for the client's socket: about 200 ms before the first copy, doubled
    (backoff 1) between the first and the second (where its queues were sampled)."""
    account = align(conversation, run.kernel)
    samples = account.samples.get(CLIENT, []) if account else []
    if not samples:
        return [] if account is None else ["the client's socket was never sampled"]
    before = [q.rto for q in samples if q.time < copies[1].record.time and not q.backoff]
    between = [(q.rto, q.backoff) for q in samples if copies[1].record.time <= q.time < copies[2].record.time]
    problems: list[str] = []
    need(problems, bool(before) and 0.2 <= before[-1] <= 0.3, f"the client's RTO before the first copy was {before}")
    need(problems, bool(before) and (before[-1] * 2, 1) in between,
         f"the client's RTO and backoff after the first copy were {between}, not double {before[-1:]}")
    return problems


@scenario("rto", f"the client sends one {SEGMENT}-byte segment and nothing else; in a private namespace an "
                 "nftables rule drops it twice: the retransmission timer resends it after about 200 ms, then, "
                 "doubled, after about 400 ms (Linux's tail loss probe is off there, so the timer alone acts)",
          single_connection(_timer_check), sampled=True,
          setup=lambda port: (sysctl("net.ipv4.tcp_early_retrans=0"), *drops(port, PUSHED, "0-1")))
def _rto(session: Session) -> None:
    segments_then_reply(session, b"x")


SEGMENTS = 5


def _fast_check(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    need(problems, not any(s.sack for s in segments), "an ACK carried SACK blocks, but SACK is off")
    need(problems, not any("sack_permitted" in s.record.options for s in segments if s.record.flags & SYN),
         "a SYN offered SACK")
    copies = _copies_of_hole(conversation)
    need(problems, len(copies) == 2, f"the second segment left {len(copies)} times, expected twice")
    if len(copies) != 2:
        return problems
    original, again = copies
    between = segments[segments.index(original) + 1:segments.index(again)]
    duplicates = [s for s in between if s.sender == SERVER and DUPLICATE_ACK in s.analysis]
    need(problems, len(duplicates) == 3, f"{len(duplicates)} duplicate ACKs before the resend, expected 3")
    need(problems, all(s.rel_ack == original.rel_seq for s in duplicates),
         "the duplicate ACKs do not all ask for the missing segment")
    need(problems, FAST_RETRANSMISSION in again.analysis,
         f"the resend #{again.record.frame} is marked {sorted(again.analysis)}, not a fast retransmission")
    waited = again.record.time - original.record.time
    need(problems, waited < 0.1, f"the resend came {waited * 1000:.0f} ms after the original: the timer, not the ACKs")
    problems += kernel_dropped(run, conversation, original.record.frame, "NETFILTER_DROP")
    return problems + _kernel_resent(run, conversation, [again])


def _copies_of_hole(conversation) -> list:
    """The client's second data segment (the one dropped) and every copy of it."""
    data = [s for s in conversation.segments if s.sender == CLIENT and s.record.payload_len]
    starts = sorted({s.rel_seq for s in data})
    return [s for s in data if len(starts) > 1 and s.rel_seq == starts[1]]


@scenario("fast-retransmit", f"SACK off; the client sends {SEGMENTS} segments of {SEGMENT} bytes and an nftables "
                             "rule drops the second: each later segment brings a duplicate ACK, and the third "
                             "makes the client resend the hole at once, long before the timer",
          single_connection(_fast_check),
          setup=lambda port: (sysctl("net.ipv4.tcp_sack=0"), *drops(port, PUSHED, "1")))
def _fast_retransmit(session: Session) -> None:
    segments_then_reply(session, b"abcde")


def _last_ack_check(run, conversation):
    problems: list[str] = []
    segments = conversation.segments
    server_fins = [s for s in segments if s.sender == SERVER and s.record.flags & FIN]
    need(problems, len(server_fins) == 2, f"the server sent its FIN {len(server_fins)} times, expected twice")
    if len(server_fins) != 2:
        return problems
    first, again = server_fins
    need(problems, RETRANSMISSION in again.analysis, f"the second FIN is marked {sorted(again.analysis)}")
    answers = [next((s for s in segments[segments.index(fin) + 1:] if s.sender == CLIENT), None) for fin in server_fins]
    need(problems, all(a is not None and a.record.flags == ACK and a.rel_ack == first.rel_seq + 1 for a in answers),
         "each server FIN was not answered by the client's ACK of it")
    if answers[0] is not None:
        problems += kernel_dropped(run, conversation, answers[0].record.frame, "NETFILTER_DROP")
    need(problems, states(conversation, CLIENT)[-1:] == ["TIME_WAIT"], f"the client went {states(conversation, CLIENT)}")
    need(problems, states(conversation, SERVER)[-2:] == ["LAST_ACK", "CLOSED"], f"the server went {states(conversation, SERVER)}")
    problems += _time_wait_restarted(run, conversation, answers)
    return problems + [p for p in orderly_close(conversation, CLIENT) if "FINs sent" not in p]


def _time_wait_restarted(run, conversation, answers: list) -> list[str]:
    """The kernel's TIME_WAIT entry ends 60 s after the second ACK, not after the first."""
    account = align(conversation, run.kernel)
    if account is None or None in answers:
        return []
    entry = run.kernel.index.time_wait.get((conversation.client_text, conversation.server_text))
    if entry is None:
        return ["the kernel's TIME_WAIT table had no entry for the client"]
    ends = entry.read_at + entry.seconds_left
    started = ends - TIME_WAIT_SECONDS
    second = answers[1].record.time
    # The table's timer counts in hundredths of a second, rounded down.
    return [] if second - 0.05 <= started <= second + 0.05 else [
        f"the client's TIME_WAIT began {started - second:+.3f} s from its second ACK: it did not start over"]


@scenario("last-ack-lost", "the client closes first; an nftables rule drops its last ACK: the server, in "
                           "LAST_ACK, resends its FIN after its timer, and the client, still in TIME_WAIT, "
                           "answers it again and starts its TIME_WAIT over",
          single_connection(_last_ack_check),
          setup=lambda port: drops(port, ("tcp", "flags", "==", "ack"), "1"), traffic=Traffic(resent=1))
def _last_ack_lost(session: Session) -> None:
    open_then_close(session)
