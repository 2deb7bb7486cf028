"""A Markdown report of a conversation: its diagram, each phase explained with the capture's own
numbers, the packets as a table, and the socket calls. Pure."""

from handshake_viz.core.analysis import CLIENT, SERVER, Closer, Handshake, Phase
from handshake_viz.core.tcp_states import TIME_WAIT_SECONDS
from handshake_viz.views.escape import markdown, markdown_code, markdown_link
from handshake_viz.views.words import Words
from handshake_viz.wire.records import ACK, DATAGRAMS, FIN, RST, flag_names


def report(conversation, picture: str, title: str, calls=(), lang: str = "en") -> str:
    say = Words(lang)
    lines = [f"# {markdown(title)}", "", f"![timeline]({markdown_link(picture)})", "", f"## {say('report.happened')}", ""]
    if conversation.protocol in DATAGRAMS:
        lines += [_udp_story(conversation, say), ""]
    else:
        for heading, text in _tcp_story(conversation, say):
            lines += [f"**{heading}.** {text}", ""]
    lines += [f"## {say('report.packets')}", "", *_packet_table(conversation, say), ""]
    return "\n".join(lines + _calls_table(calls, say))


def unix_report(exchange, picture: str, title: str, lang: str = "en") -> str:
    """A Unix-domain exchange: why there are no packets, and its calls."""
    say = Words(lang)
    lines = [f"# {markdown(title)}", "", f"![timeline]({markdown_link(picture)})", "", f"## {say('report.happened')}", "",
             say("legend.unix"), ""]
    return "\n".join(lines + _calls_table(exchange.calls, say))


def _calls_table(calls, say: Words) -> list[str]:
    if not calls:
        return []
    traced = any(c.pid is not None for c in calls)   # the kernel's record: which process made each
    lines = [f"## {say('report.calls')}", "", say("report.calls.header.traced" if traced else "report.calls.header"),
             "|---|---|---|---|" + ("---|" if traced else "")]
    start = min(c.start for c in calls)
    lines += [f"| {1000 * (c.start - start):.3f} | {say('side.' + c.side)} | " + (f"{_process(c)} | " if traced else "")
              + f"{markdown_code(f'{c.name}({c.args})')} | {markdown(say.outcome(c))} |" for c in calls]
    return lines + [""]


def _process(call) -> str:
    return f"{call.pid}" + (f" (thread {call.tid})" if call.tid not in (None, call.pid) else "")


def _tcp_story(conversation, say: Words) -> list[tuple[str, str]]:
    segments = conversation.segments
    handshake = [s for s in segments if s.phase == Phase.HANDSHAKE]
    if conversation.handshake == Handshake.REFUSED:
        syn = handshake[0] if handshake else segments[0]
        return [(say("report.refused.title"), say("report.refused", frame=syn.record.frame, port=conversation.server[1]))]
    story = []
    if len(handshake) >= 3 and conversation.handshake == Handshake.COMPLETE:
        syn, syn_ack, ack = handshake[0], handshake[1], handshake[-1]
        story.append((say("phase.handshake"), say(
            "report.handshake", isn=syn.record.seq, server_isn=syn_ack.record.seq, ack=syn_ack.rel_ack,
            seq=syn.rel_seq, final=ack.rel_ack, frame=ack.record.frame)))
    if any(s.record.payload_len for s in segments):
        story.append((say("phase.data"), _data_story(segments, say)))
    story.append((say("phase.teardown"), _teardown_story(conversation, say)))
    return story


def _data_story(segments: list, say: Words) -> str:
    """How many bytes each side sent, how the first segment was acknowledged, what was sent again."""
    data = [s for s in segments if s.record.payload_len]
    sent = {side: sum(s.record.payload_len for s in data if s.sender == side and s.resent_from is None)
            for side in (CLIENT, SERVER)}
    first = data[0]
    length = first.record.payload_len
    text = say("report.data", client=sent[CLIENT], server=sent[SERVER], segments=len(data),
               frame=first.record.frame, length=length, first=first.rel_seq, last=first.rel_seq + length - 1)
    acked = next((s for s in segments if s.record.frame == first.acked_by), None)
    if acked is not None:
        text += say("report.data.acked", side=say(f"side.{acked.sender}"), ack_frame=acked.record.frame,
                    ack=acked.rel_ack, seq=first.rel_seq, length=length)
    else:
        text += "."
    resent = [s for s in segments if s.resent_from is not None]
    if resent:
        text += say("report.data.resent", count=len(resent), frame=resent[0].record.frame,
                    original=resent[0].resent_from)
    return text


def _teardown_story(conversation, say: Words) -> str:
    segments = conversation.segments
    if conversation.reset_by:
        reset = next(s for s in segments if s.record.flags & RST)
        return say("report.reset", side=say(f"side.{conversation.reset_by}"), frame=reset.record.frame)
    fins = [s for s in segments if s.record.flags & FIN]
    if not fins:
        return say("report.no_fin")
    first = fins[0]
    text = say("report.fin", side=say(f"side.{first.sender}"), frame=first.record.frame, seq=first.rel_seq)
    ack = next((s for s in segments if s.record.frame == first.acked_by), None)
    if ack is not None:  # the ACK counts the FIN's data too, then one for the FIN
        length = first.record.payload_len
        text += say("report.fin.acked.data" if length else "report.fin.acked", ack=ack.rel_ack, seq=first.rel_seq,
                    length=length)
    text += "." + _second_fin(conversation, fins, ack, say)
    if conversation.time_wait:
        holders = Closer.BOTH if len(conversation.time_wait) == 2 else conversation.time_wait[0]
        text += say("report.time_wait", sides=say(f"side.{holders}"), msl=TIME_WAIT_SECONDS)
    return text


def _second_fin(conversation, fins: list, ack, say: Words) -> str:
    """Both FINs at once, or the second FIN (and whether it also acknowledged the first)."""
    if conversation.active_closer == Closer.BOTH:
        return say("report.simultaneous")
    if len(fins) < 2:
        return ""
    second = fins[1]
    together = bool(second.record.flags & ACK and second.covers) and ack is second
    return say("report.second_fin", side=say(f"side.{second.sender}"), frame=second.record.frame,
               together=say("report.second_fin.together") if together else ".")


def _udp_story(conversation, say: Words) -> str:
    datagrams = conversation.datagrams
    plain = [d for d in datagrams if not d.record.icmp]
    text = say("report.udp", count=len(plain), lengths=", ".join(str(d.record.payload_len) for d in plain))
    errors = [d.record for d in datagrams if d.record.icmp]
    if errors:
        text += say("report.icmp", frame=errors[0].frame, kind=errors[0].icmp.replace("_", " "),
                    reporter=errors[0].reporter, port=errors[0].dport)
    return text


def _packet_table(conversation, say: Words) -> list[str]:
    if conversation.protocol in DATAGRAMS:
        rows = [say("report.udp.header"), "|---|---|---|---|---|"]
        start = conversation.datagrams[0].record.time if conversation.datagrams else 0
        for d in conversation.datagrams:
            r = d.record
            rows.append(f"| {r.frame} | {1000 * (r.time - start):.3f} | {say('side.' + d.sender)} | {r.payload_len} | "
                        f"{('ICMP ' + r.icmp.replace('_', ' ')) if r.icmp else ''} |")
        return rows
    rows = [say("report.tcp.header"), "|---|---|---|---|---|---|---|---|---|"]
    start = conversation.segments[0].record.time if conversation.segments else 0
    for s in conversation.segments:
        r = s.record
        ack = f"{s.rel_ack} ({r.ack})" if s.rel_ack is not None else ""
        rows.append(f"| {r.frame} | {1000 * (r.time - start):.3f} | {say('side.' + s.sender)} | "
                    f"{', '.join(flag_names(r.flags))} | {s.rel_seq} ({r.seq}) | {ack} | {r.payload_len} | {s.window} | "
                    f"{', '.join(sorted(m.replace('_', ' ') for m in s.analysis))} |")
    return rows
