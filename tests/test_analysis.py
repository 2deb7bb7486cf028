from segments import Script, echo, handshake

from handshake_viz.core.analysis import (
    Analyzer,
    ConnectionRefused,
    DataAcknowledged,
    FinSent,
    HandshakeCompleted,
    StateChanged,
    analyze,
)
from handshake_viz.core.tcp_states import TcpState as S
from handshake_viz.wire.records import TcpOptions


def states(conversation, side):
    return [change.state for change in conversation.states[side]]


def test_fin_from_client_first_puts_client_in_time_wait():
    [conv] = analyze(echo(client_closes_first=True).records)
    assert states(conv, "client") == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT]
    assert states(conv, "server") == [S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert conv.time_wait == ("client",)
    assert conv.active_closer == "client"
    assert (conv.handshake, conv.teardown, conv.closed) == ("complete", "fin", True)


def test_fin_from_server_first_puts_server_in_time_wait():
    [conv] = analyze(echo(client_closes_first=False).records)
    assert states(conv, "server") == [S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT]
    assert states(conv, "client") == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert conv.time_wait == ("server",)
    assert conv.active_closer == "server"


def test_state_changes_happen_at_the_segment_that_causes_them():
    [conv] = analyze(echo().records)
    client = [(c.frame, c.state) for c in conv.states["client"]]
    assert client == [(None, S.CLOSED), (1, S.SYN_SENT), (2, S.ESTABLISHED), (8, S.FIN_WAIT_1),
                      (9, S.FIN_WAIT_2), (10, S.TIME_WAIT)]
    # The server's SYN_RECEIVED is dated at the SYN it received, though only its SYN+ACK proves it.
    assert [(c.frame, c.state) for c in conv.states["server"]][:2] == [(None, S.LISTEN), (1, S.SYN_RECEIVED)]


def test_three_segment_teardown_passes_fin_wait_2_on_the_piggybacked_fin():
    s = Script()
    handshake(s, 100, 900)
    s.client("FA", 101, 901)
    s.server("FA", 901, 102)          # ACK of the client's FIN and the server's FIN together
    s.client("A", 102, 902)
    [conv] = analyze(s.records)
    assert [(c.frame, c.state) for c in conv.states["client"]][-3:] == [
        (4, S.FIN_WAIT_1), (5, S.FIN_WAIT_2), (5, S.TIME_WAIT)]
    assert states(conv, "server")[-2:] == [S.LAST_ACK, S.CLOSED]


def test_relative_numbers_and_ack_pairing_survive_the_32_bit_wrap():
    c_isn, s_isn = 2**32 - 3, 2**32 - 1
    s = Script()
    handshake(s, c_isn, s_isn)
    s.client("PA", c_isn + 1, s_isn + 1, length=5)    # bytes 2**32-2 .. 2**32+2: crosses zero
    s.server("A", s_isn + 1, c_isn + 6)
    [conv] = analyze(s.records)
    data, ack = conv.segments[3], conv.segments[4]
    assert data.record.seq == 2**32 - 2 and ack.record.ack == 3
    assert (data.rel_seq, ack.rel_ack) == (1, 6)
    assert conv.segments[1].rel_ack == 1 and conv.segments[2].rel_ack == 1  # server ISN 2**32-1 + 1 == 0
    assert data.acked_by == ack.record.frame and ack.covers == (data.record.frame,)


def test_each_data_segment_is_paired_with_the_ack_that_covers_it():
    analyzer = Analyzer()
    events = [e for r in echo().records for e in analyzer.receive(r)]
    acked = [(e.side, e.data_frame, e.ack_frame) for e in events if isinstance(e, DataAcknowledged)]
    assert acked == [("client", 4, 5), ("server", 6, 7)]
    conv = analyzer.conversations[0]
    for segment in conv.segments:
        if segment.record.payload_len:
            ack = conv.segments[segment.acked_by - 1]
            assert ack.rel_ack == segment.rel_seq + segment.record.payload_len


def test_a_cumulative_ack_covers_every_segment_before_it():
    s = Script()
    handshake(s, 0, 0)
    s.client("PA", 1, 1, length=10)
    s.client("PA", 11, 1, length=10)
    s.server("A", 1, 21)
    [conv] = analyze(s.records)
    assert conv.segments[5].covers == (4, 5)


def test_handshake_events_come_in_order():
    analyzer = Analyzer()
    events = [e for r in echo().records[:3] for e in analyzer.receive(r)]
    assert HandshakeCompleted(0, 3) in events
    assert events.index(StateChanged(0, "client", 1, S.SYN_SENT)) < events.index(HandshakeCompleted(0, 3))


def test_fins_are_reported_by_side():
    analyzer = Analyzer()
    events = [e for r in echo(client_closes_first=False).records for e in analyzer.receive(r)]
    assert [e for e in events if isinstance(e, FinSent)] == [FinSent(0, "server", 8), FinSent(0, "client", 10)]


def test_syn_answered_by_rst_is_a_refused_connection():
    s = Script()
    s.client("S", 500)
    s.server("RA", 0, 501)
    analyzer = Analyzer()
    events = [e for r in s.records for e in analyzer.receive(r)]
    [conv] = analyzer.conversations
    assert ConnectionRefused(0, 2) in events
    assert conv.handshake == "refused" and conv.teardown == "rst" and conv.closed
    assert states(conv, "client") == [S.CLOSED, S.SYN_SENT, S.CLOSED]
    assert states(conv, "server") == [S.CLOSED]


def test_fins_that_cross_make_a_simultaneous_close():
    s = Script()
    handshake(s, 10, 20)
    s.client("FA", 11, 21)
    s.server("FA", 21, 11)            # sent before the client's FIN arrived: acks only up to 11
    s.client("A", 12, 22)
    s.server("A", 22, 12)
    [conv] = analyze(s.records)
    assert conv.active_closer == "both"
    for side in ("client", "server"):
        assert states(conv, side)[-3:] == [S.FIN_WAIT_1, S.CLOSING, S.TIME_WAIT]
    assert conv.time_wait == ("client", "server")


def test_syns_that_cross_make_a_simultaneous_open():
    s = Script()
    s.client("S", 10)
    s.server("S", 20)                 # its own SYN, not a SYN+ACK: it was connecting too
    s.server("SA", 20, 11)            # each answers the other's SYN, repeating its own
    s.client("SA", 10, 21)
    s.client("FA", 11, 21)
    s.server("FA", 21, 12)
    s.client("A", 12, 22)
    [conv] = analyze(s.records)
    assert conv.handshake == "complete"
    for side in ("client", "server"):
        assert states(conv, side)[:4] == [S.CLOSED, S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED]
    # The server's SYN_RECEIVED is drawn at its own SYN: the client's arrived after it left.
    assert [c.frame for c in conv.states["server"]][1:3] == [2, 2]


def test_a_server_that_answers_with_its_own_syn_after_a_reset_is_no_simultaneous_open():
    s = Script()
    s.client("S", 10)
    s.server("RA", 0, 11)
    s.server("S", 20)                 # a new connection the other way, as tshark reads it too
    conversations = analyze(s.records)
    assert len(conversations) == 2
    assert all(S.SYN_RECEIVED not in states(c, side) for c in conversations for side in ("client", "server"))


def test_a_capture_that_starts_mid_stream_counts_from_one_like_tshark():
    s = Script()
    s.client("PA", 7000, 9000, length=28)
    s.server("A", 9000, 7028)
    [conv] = analyze(s.records)
    assert [(g.rel_seq, g.rel_ack) for g in conv.segments] == [(1, 1), (1, 29)]
    assert conv.handshake == "not_captured"
    assert states(conv, "client") == [S.ESTABLISHED] == states(conv, "server")


def test_a_new_syn_on_a_closed_four_tuple_starts_a_new_conversation():
    records = echo().records
    s = Script()
    s.time = records[-1].time
    handshake(s, 77, 88)
    renumbered = [r._replace(frame=10 + r.frame) for r in s.records]
    conversations = analyze(records + renumbered)
    assert len(conversations) == 2
    assert conversations[1].segments[0].record.frame == 11 and conversations[1].handshake == "complete"


def test_a_retransmitted_syn_stays_in_its_conversation():
    s = Script()
    s.client("S", 500)
    s.client("S", 500)
    s.server("SA", 900, 501)
    s.client("A", 501, 901)
    [conv] = analyze(s.records)
    assert conv.handshake == "complete"
    assert states(conv, "client") == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED]


def test_windows_are_scaled_only_after_both_sides_offered_a_scale():
    s = Script()
    handshake(s, 0, 0, scale=7)
    [conv] = analyze(s.records)
    assert [g.window for g in conv.segments] == [1000, 1000, 1000 << 7]


def test_phases_are_handshake_data_teardown():
    [conv] = analyze(echo().records)
    assert conv.phases() == [("handshake", 0, 2), ("data", 3, 6), ("teardown", 7, 10)]


def test_syn_options_are_kept_on_the_segment():
    s = Script()
    s.client("S", 1, options=TcpOptions(mss=65495, window_scale=7, sack_permitted=True))
    [conv] = analyze(s.records)
    assert conv.segments[0].record.options.mss == 65495
    assert conv.handshake == "incomplete" and states(conv, "server") == []


def test_sack_blocks_are_numbered_like_the_ack_they_go_with():
    from segments import Script, handshake

    from handshake_viz.wire.records import TcpOptions
    s = Script()
    handshake(s, 1000, 5000)
    s.client("PA", 1001, 5001, length=100)
    s.client("PA", 1201, 5001, length=100)      # the segment for 101-201 was lost
    s.server("A", 5001, 1101, options=TcpOptions(sack_blocks=((1201, 1301),)))
    [conversation] = analyze(s.records)
    dup = conversation.segments[-1]
    assert (dup.rel_ack, dup.sack) == (101, ((201, 301),))
    from handshake_viz.views.timeline import timeline
    assert any("ack 101" in line and "SACK 201-301" in line for row in timeline(conversation).rows
               if row.arrow for line in row.arrow.label)


def test_an_ack_of_data_never_seen_does_not_make_the_next_resend_a_fast_retransmission():
    """tshark 4.0.17 (packet-tcp.c, "ACKED LOST PACKET"): when the ACK passes the highest sequence
    to be acknowledged and that is below the next one, it moves up; only otherwise does the
    duplicate-ACK counter become -1 (which, unsigned, counts as many). Inverted, the resend below
    was marked a fast retransmission."""
    from segments import Script, handshake
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.client("PA", 121, 501, length=10)      # bytes 11-20 were never captured
    s.server("PA", 501, 131, length=10)      # acknowledges data the capture never saw
    s.server("PA", 501, 131, length=10)      # the same bytes again, 1 ms later
    [conversation] = analyze(s.records)
    assert "fast_retransmission" not in conversation.segments[-1].analysis
    assert conversation.segments[-1].analysis & {"retransmission", "out_of_order", "spurious_retransmission"}


def test_a_segment_stamped_before_the_one_it_repeats_is_a_retransmission_not_out_of_order():
    """tshark's time differences are unsigned: an earlier stamp is as good as far too late."""
    from segments import Script, handshake
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.client("PA", 111, 501, length=10)
    earlier = s.client("PA", 101, 501, length=10)
    s.records[-1] = earlier._replace(time=earlier.time - 0.5)   # the clock ran backwards
    [conversation] = analyze(s.records)
    assert conversation.segments[-1].analysis == {"retransmission"}


def test_a_resend_of_old_data_after_the_peers_fin_is_not_a_half_close():
    from segments import Script, handshake
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("FA", 501, 101)                  # the server closes before the client's data arrived
    s.client("PA", 101, 502, length=10)       # the same bytes again: not new data
    [resent] = analyze(s.records)
    assert not resent.half_close
    s.client("PA", 111, 502, length=10)       # new bytes after the peer's FIN: a half-close
    [half] = analyze(s.records)
    assert half.half_close


def test_a_connect_retried_with_the_same_isn_after_a_reset_is_one_conversation_as_tshark_reads_it():
    """A Windows-style retry: SYN, RST, the same SYN again. tshark 4.0.17 keeps one stream and
    marks the repeat a retransmission; a new ISN on the 4-tuple is a new connection."""
    from segments import Script
    s = Script(step=0.5)
    s.client("S", 1000)
    s.server("RA", 0, 1001)
    s.client("S", 1000)                       # the same ISN: the same connection attempt, again
    s.server("RA", 0, 1001)
    conversations = analyze(s.records)
    assert len(conversations) == 1
    assert "retransmission" in conversations[0].segments[2].analysis
    s.client("S", 7000)                       # a new ISN: a new connection
    assert len(analyze(s.records)) == 2


def test_a_syn_ack_with_a_new_isn_numbers_that_side_from_it_as_tshark_does():
    from segments import Script
    s = Script()
    s.client("S", 1000)
    s.server("SA", 5000, 1001)
    s.server("SA", 9000, 1001)                # answered again, with another ISN
    s.client("A", 1001, 9001)                 # the client takes the second one
    s.server("PA", 9001, 1001, length=10)
    [conversation] = analyze(s.records)
    assert [(seg.rel_seq, seg.rel_ack) for seg in conversation.segments] == [
        (0, None), (0, 1), (0, 1), (1, 1), (1, 1)]
    assert conversation.handshake == "complete"


def test_a_udp_flow_quiet_for_minutes_is_one_conversation_whether_streamed_or_kept():
    """tshark keeps one UDP stream per 4-tuple however long it is quiet; so do both analyses."""
    from handshake_viz.core.analysis import Analyzer, ConversationEnded
    from handshake_viz.wire.records import PacketRecord
    records = [PacketRecord(n, 1000.0 + 200 * n, "10.0.0.1", "10.0.0.2", 5353, 53, "udp", payload_len=30)
               for n in range(1, 5)]      # a query every 200 s
    assert len(analyze(records)) == 1
    streaming = Analyzer(keep=False)
    ended = [e for r in records for e in streaming.receive(r) if isinstance(e, ConversationEnded)]
    ended += [e for e in streaming.finish() if isinstance(e, ConversationEnded)]
    assert len(ended) == 1 and ended[0].result.packet_count == 4


def test_a_syn_with_another_sequence_number_starts_a_new_conversation_even_malformed_and_mid_stream():
    """tshark 4.0.17 decides a new stream before it checks the header, against the base the side
    already has (one below its first segment when its SYN was not captured); a malformed packet
    sets no base, so the next good segment starts the new stream's numbering."""
    from segments import Script
    s = Script()
    s.client("A", 5001, 9001)                               # mid-stream: the client's base is 5000
    s.server("A", 9001, 5001)
    bogus = s.client("S", 7777)
    s.records[-1] = bogus._replace(malformed="TCP header length 8 (at least 20, at most the segment's 20)")
    s.client("FA", 8001, 9001)
    first, second = analyze(s.records)
    assert second.malformed and [seg.rel_seq for seg in second.segments] == [1]
    assert [seg.record.frame for seg in first.segments] == [1, 2]
