"""A Markdown report of a conversation: its diagram, each phase explained with the capture's own
numbers, the packets as a table, and the socket calls. Pure."""

from handshake_viz.analysis import CLIENT, SERVER
from handshake_viz.records import ACK, FIN, RST, flag_names
from handshake_viz.tcp_states import TIME_WAIT_SECONDS


def report(conversation, picture: str, title: str, calls=()) -> str:
    lines = [f"# {title}", "", f"![timeline]({picture})", ""]
    if conversation.protocol == "udp":
        lines += ["## What happened", "", _udp_story(conversation), ""]
    else:
        lines += ["## What happened", ""]
        for heading, text in _tcp_story(conversation):
            lines += [f"**{heading}.** {text}", ""]
    lines += ["## Packets", "", *_packet_table(conversation), ""]
    if calls:
        lines += ["## Socket calls", "", "| time (ms) | side | call | result |", "|---|---|---|---|"]
        start = min(c.start for c in calls)
        lines += [f"| {1000 * (c.start - start):.3f} | {c.side} | `{c.name}({c.args})` | {c.outcome} |" for c in calls]
        lines.append("")
    return "\n".join(lines)


def _tcp_story(conversation) -> list[tuple[str, str]]:
    segments = conversation.segments
    story = []
    handshake = [s for s in segments if s.phase == "handshake"]
    if conversation.handshake == "refused":
        syn = handshake[0] if handshake else segments[0]
        story.append(("Connection refused", (
            f"The client's SYN (frame {syn.record.frame}) was answered by RST+ACK: nothing listened on port "
            f"{conversation.server[1]}, so the kernel refused the connection and connect() failed with ECONNREFUSED.")))
        return story
    if len(handshake) >= 3 and conversation.handshake == "complete":
        syn, syn_ack, ack = handshake[0], handshake[1], handshake[-1]
        story.append(("3-way handshake", (
            f"The client opens with a SYN carrying its initial sequence number {syn.record.seq} (shown as 0). "
            f"The server answers SYN+ACK with its own ISN {syn_ack.record.seq} and ACK {syn_ack.rel_ack} = "
            f"{syn.rel_seq} + 1: the SYN counts as one byte. The client's ACK {ack.rel_ack} (frame {ack.record.frame}) "
            f"completes the handshake, and both sides are ESTABLISHED.")))
    data = [s for s in segments if s.record.payload_len]
    if data:
        sent = {side: sum(s.record.payload_len for s in data if s.sender == side and s.resent_from is None)
                for side in (CLIENT, SERVER)}
        first = data[0]
        acked = next((s for s in segments if s.record.frame == first.acked_by), None)
        text = (f"The client sends {sent[CLIENT]} bytes and the server {sent[SERVER]} bytes in {len(data)} segments. "
                f"The first, frame {first.record.frame}, carries {first.record.payload_len} bytes numbered "
                f"{first.rel_seq} to {first.rel_seq + first.record.payload_len - 1}")
        if acked is not None:
            text += (f"; the {acked.sender} acknowledges them in frame {acked.record.frame} with ACK {acked.rel_ack} = "
                     f"SEQ {first.rel_seq} + {first.record.payload_len}, the next byte it expects.")
        else:
            text += "."
        resent = [s for s in segments if s.resent_from is not None]
        if resent:
            text += (f" {len(resent)} segment(s) were sent again (frame {resent[0].record.frame} repeats the bytes of "
                     f"frame {resent[0].resent_from}).")
        story.append(("Data transfer", text))
    story.append(("Teardown", _teardown_story(conversation)))
    return story


def _teardown_story(conversation) -> str:
    segments = conversation.segments
    if conversation.reset_by:
        reset = next(s for s in segments if s.record.flags & RST)
        return (f"The {conversation.reset_by} ends the connection with a RST (frame {reset.record.frame}) instead of "
                f"a FIN: no goodbye, no TIME_WAIT, and the peer's next call fails.")
    fins = [s for s in segments if s.record.flags & FIN]
    if not fins:
        return "The capture ends before either side closes."
    first = fins[0]
    text = (f"The {first.sender} closes first: its FIN (frame {first.record.frame}, SEQ {first.rel_seq})")
    ack = next((s for s in segments if s.record.frame == first.acked_by), None)
    if ack is not None:
        text += f" is acknowledged with ACK {ack.rel_ack} = {first.rel_seq} + 1, since a FIN also counts as one byte"
    text += "."
    if conversation.active_closer == "both":
        text += " The other FIN left before this one arrived: a simultaneous close, both sides pass through CLOSING."
    elif len(fins) > 1:
        second = fins[1]
        together = bool(second.record.flags & ACK and second.covers)
        text += (f" The {second.sender} then sends its own FIN (frame {second.record.frame})"
                 + (", on the same segment as its ACK: a three-segment close." if together and ack is second else "."))
    if conversation.time_wait:
        holders = " and ".join(conversation.time_wait)
        text += (f" The {holders}, having closed first, waits in TIME_WAIT for 2MSL ({TIME_WAIT_SECONDS} s on Linux), "
                 "which is never seen on the wire.")
    return text


def _udp_story(conversation) -> str:
    datagrams = conversation.datagrams
    errors = [d for d in datagrams if d.record.icmp]
    plain = [d for d in datagrams if not d.record.icmp]
    text = (f"{len(plain)} datagram(s), {', '.join(str(d.record.payload_len) for d in plain)} bytes: no handshake, "
            "no acknowledgement, no teardown. Each datagram is delivered whole or not at all, and keeps its boundaries.")
    if errors:
        error = errors[0].record
        text += (f" Frame {error.frame} is an ICMP {error.icmp.replace('_', ' ')} from {error.reporter}: the datagram "
                 f"reached a host where nothing listens on port {error.dport}.")
    return text


def _packet_table(conversation) -> list[str]:
    if conversation.protocol == "udp":
        rows = ["| frame | time (ms) | from | len | note |", "|---|---|---|---|---|"]
        start = conversation.datagrams[0].record.time if conversation.datagrams else 0
        for d in conversation.datagrams:
            r = d.record
            rows.append(f"| {r.frame} | {1000 * (r.time - start):.3f} | {d.sender} | {r.payload_len} | "
                        f"{('ICMP ' + r.icmp.replace('_', ' ')) if r.icmp else ''} |")
        return rows
    rows = ["| frame | time (ms) | from | flags | seq (raw) | ack (raw) | len | window | marks |",
            "|---|---|---|---|---|---|---|---|---|"]
    start = conversation.segments[0].record.time if conversation.segments else 0
    for s in conversation.segments:
        r = s.record
        ack = f"{s.rel_ack} ({r.ack})" if s.rel_ack is not None else ""
        rows.append(f"| {r.frame} | {1000 * (r.time - start):.3f} | {s.sender} | {', '.join(flag_names(r.flags))} | "
                    f"{s.rel_seq} ({r.seq}) | {ack} | {r.payload_len} | {s.window} | "
                    f"{', '.join(sorted(m.replace('_', ' ') for m in s.analysis))} |")
    return rows


