from segments import Script, echo, handshake

from handshake_viz.core.analysis import analyze
from handshake_viz.views.timeline import timeline
from handshake_viz.wire.records import SocketCall

T = 1000.0  # the script's packets are at T + 0.001 * frame


def call(side, name, start, end, args="", result="0"):
    return SocketCall(side, name, args, T + start, T + end, result, protocol="tcp")


def echo_timeline(calls=()):
    [conv] = analyze(echo().records)
    return timeline(conv, tuple(calls))


def row_index(diagram, text):
    return next(i for i, row in enumerate(diagram.rows)
                if any(text in mark.text for mark in row.marks)
                or (row.arrow and any(text in line for line in row.arrow.label)))


def arrow_row(diagram, frame):
    return next(i for i, row in enumerate(diagram.rows) if row.stamp.startswith(f"#{frame} "))


def test_socket_calls_sit_where_they_happened_between_the_packets():
    diagram = echo_timeline([
        call("server", "accept", 0.0001, 0.0032, result="fd 5"),
        call("client", "connect", 0.0005, 0.0035, "10.0.0.2:80"),
        call("server", "recv", 0.0075, 0.0081, "1024", "0"),
    ])
    assert row_index(diagram, "connect(10.0.0.2:80) …") < arrow_row(diagram, 1)
    assert arrow_row(diagram, 3) < row_index(diagram, "accept returns fd 5")
    assert arrow_row(diagram, 3) < row_index(diagram, "connect returns 0") < arrow_row(diagram, 4)
    assert arrow_row(diagram, 8) < row_index(diagram, "recv returns 0 (end of stream)") < arrow_row(diagram, 9)
    connect_row = diagram.rows[row_index(diagram, "connect(")]
    assert connect_row.marks[0].lane == "client"


def test_a_call_that_does_not_wait_is_drawn_once_with_its_result():
    diagram = echo_timeline([call("client", "send", 0.0035, 0.0041, "5 bytes", "5")])
    texts = [m.text for row in diagram.rows for m in row.marks if m.kind == "call"]
    assert texts == ["send(5 bytes) = 5"]


def test_a_send_that_waited_for_room_while_the_peers_packets_came_is_drawn_twice():
    waited = echo_timeline([call("client", "send", 0.0035, 0.0052, "5 bytes", "5")])   # the server's ACK #5 in it
    assert row_index(waited, "send(5 bytes) …") < arrow_row(waited, 5) < row_index(waited, "send returns 5")
    own_only = echo_timeline([call("client", "send", 0.0035, 0.0049, "5 bytes", "5")])   # only its own segment #4
    assert [m.text for row in own_only.rows for m in row.marks if m.kind == "call"] == ["send(5 bytes) = 5"]


def test_what_the_kernel_copied_between_unix_sockets_is_an_arrow_from_the_send_its_first_byte_came_from():
    from handshake_viz.kernel.ties import UnixExchange
    from handshake_viz.views.timeline import unix_timeline

    def unix(kind, side, name, start, end, result):
        return SocketCall(side, name, "", T + start, T + end, result, protocol=kind)

    stream = UnixExchange(0, "unix-stream", {"client": "pid 1, fd 4", "server": "pid 1, fd 5"}, tuple(
        [unix("unix-stream", "client", "sendto", 0.001 * i, 0.001 * i + 0.0001, size)
         for i, size in ((1, "4"), (2, "4"), (3, "5"))]
        + [unix("unix-stream", "server", "recvfrom", 0.0005, 0.0045, "13")]))
    diagram = unix_timeline(stream)
    [moved] = [row for row in diagram.rows if row.arrow]
    assert moved.arrow.label == ("13 bytes copied by the kernel, from 3 sends:", "a stream keeps no boundaries")
    assert (moved.arrow.source, moved.arrow.target) == ("client", "server")
    assert diagram.rows[moved.arrow.sent_row].marks[0].text.startswith("sendto(") and moved.arrow.sent_row == 1
    datagrams = UnixExchange(0, "unix-dgram", {"client": "pid 1, fd 4", "server": "pid 1, fd 5"}, (
        unix("unix-dgram", "client", "sendto", 0.001, 0.0011, "3"),
        unix("unix-dgram", "client", "sendto", 0.002, 0.0021, "20"),
        unix("unix-dgram", "server", "recvfrom", 0.003, 0.0031, "3"),
        unix("unix-dgram", "server", "recvmsg", 0.004, 0.0041, "8")))
    labels = [row.arrow.label for row in unix_timeline(datagrams).rows if row.arrow]
    assert labels == [("a 3-byte datagram, copied whole",), ("a 20-byte datagram; 8 bytes read, the rest discarded",)]


def test_each_segment_is_one_arrow_in_capture_order_with_relative_numbers():
    diagram = echo_timeline()
    arrows = [row.arrow for row in diagram.rows if row.arrow]
    assert len(arrows) == 11
    assert arrows[0].label[0] == "SYN   seq 0  win 1000"
    assert arrows[3].label[0] == "PSH, ACK   seq 1:6 (5)  ack 1  win 1000"
    assert [a.source for a in arrows[:3]] == ["client", "server", "client"]
    assert arrows[4].label[-1] == "ack 6 = 1 + 5: acknowledges data #4"


def test_states_are_written_on_the_lane_that_changed():
    diagram = echo_timeline()
    syn_row = diagram.rows[arrow_row(diagram, 1)]
    assert {(m.lane, m.text) for m in syn_row.marks} == {("client", "SYN_SENT"), ("server", "SYN_RECEIVED")}
    first = diagram.rows[0]
    assert {(m.lane, m.text) for m in first.marks} == {("client", "CLOSED"), ("server", "LISTEN")}


def test_phases_are_bracketed_and_time_wait_spans_the_active_closer():
    diagram = echo_timeline()
    assert [b.label for b in diagram.brackets] == ["3-way handshake", "data transfer", "teardown"]
    [span] = diagram.spans
    assert span.lane == "client" and span.first_row == arrow_row(diagram, 10)
    assert "60 s" in span.label and "inferred" in span.label
    assert any("TIME_WAIT is never on the wire" in line for line in diagram.legend)


def test_long_ipv6_addresses_are_short_on_lifelines_and_whole_in_the_legend():
    from segments import Script, handshake
    s = Script(client=("2a00:5e80:101:212d:504:7b1:2572:db22", 37034), server=("::1", 80))
    handshake(s, 0, 0)
    [conversation] = analyze(s.records)
    diagram = timeline(conversation)
    assert [lane.subtitle for lane in diagram.lanes] == ["[2a00:5e80:…:db22]:37034", "[::1]:80"]
    assert diagram.legend[0] == "Addresses in full: client = [2a00:5e80:101:212d:504:7b1:2572:db22]:37034."


def test_a_refused_connection_is_one_phase_named_for_what_happened():
    s = Script()
    s.client("S", 100)
    s.server("RA", 0, 101)
    [conversation] = analyze(s.records)
    assert conversation.phases() == [("refused", 0, 1)]
    assert [b.label for b in timeline(conversation).brackets] == ["connection refused"]
    assert [b.label for b in timeline(conversation, lang="ko").brackets] == ["연결 거부"]


def test_a_connection_kept_only_by_keep_alive_probes_is_idle_not_data_transfer():
    s = Script(step=1.0)
    handshake(s, 100, 500)
    s.client("A", 100, 501)          # a probe: one below the next byte, no data
    s.server("A", 501, 101)
    s.client("FA", 101, 501)
    s.server("FA", 501, 102)
    s.client("A", 102, 502)
    [conversation] = analyze(s.records)
    assert "keep_alive" in conversation.segments[3].analysis
    assert [b.label for b in timeline(conversation).brackets] == ["3-way handshake", "idle, keep-alive probes", "teardown"]


def test_the_legend_says_where_a_mark_is_ours_and_not_tsharks():
    s = Script()
    handshake(s, 100, 500)
    s.client("PA", 101, 501, length=10)
    s.server("A", 501, 111, window=0)         # the receiver's window is full
    s.client("A", 110, 501)                   # Linux's probe: empty, one byte back
    s.server("A", 501, 111, window=0)
    [conversation] = analyze(s.records)
    assert {"keep_alive", "zero_window_probe"} <= conversation.segments[5].analysis
    assert any("ours, not tshark's" in line for line in timeline(conversation).legend)
    assert not any("ours, not tshark's" in line for line in timeline(analyze(echo().records)[0]).legend)


def test_udp_datagrams_and_the_icmp_error_they_draw_are_rows_of_their_own():
    """A DNS query, its answer, and a second query to a port nobody listens on, answered by ICMP."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    from handshake_viz.wire.records import PacketRecord
    query = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="example.com")))
    answer = bytes(DNS(id=7, qr=1, qd=DNSQR(qname="example.com"), an=DNSRR(rrname="example.com", rdata="192.0.2.9")))
    records = [
        PacketRecord(1, T + 0.001, "10.0.0.1", "10.0.0.2", 40000, 53, "udp", payload_len=len(query), payload=query),
        PacketRecord(2, T + 0.002, "10.0.0.2", "10.0.0.1", 53, 40000, "udp", payload_len=len(answer), payload=answer),
        PacketRecord(3, T + 0.003, "10.0.0.1", "10.0.0.2", 40000, 53, "udp", payload_len=2, payload=b"hi"),
        PacketRecord(4, T + 0.004, "10.0.0.1", "10.0.0.2", 40000, 53, "udp", icmp="port_unreachable",
                     reporter="10.0.0.2"),
    ]
    [conversation] = analyze(records)
    diagram = timeline(conversation)
    arrows = [row.arrow for row in diagram.rows if row.arrow]
    assert [(a.source, a.target, a.kind) for a in arrows] == [
        ("client", "server", "data"), ("server", "client", "data"), ("client", "server", "data"),
        ("server", "client", "reset")]
    assert arrows[0].label[0] == f"UDP   len {len(query)}" and arrows[0].label[1].startswith("DNS ")
    assert "example.com" in arrows[0].label[1] and "192.0.2.9" in arrows[1].label[1]
    assert arrows[2].label == ("UDP   len 2", '"hi"')
    assert arrows[3].label == ("ICMP port unreachable", "from 10.0.0.2, about UDP to 10.0.0.2:53")
    assert [row.stamp.split()[0] for row in diagram.rows if row.arrow] == ["#1", "#2", "#3", "#4"]
    assert any(line.startswith("Red: an ICMP error about a datagram") for line in diagram.legend)
    assert any(line.startswith("UDP: each arrow is one datagram") for line in diagram.legend)


def test_an_icmp_error_about_a_syn_is_a_red_row_in_the_tcp_conversation():
    from handshake_viz.wire.records import PacketRecord
    s = Script()
    s.client("S", 100)
    error = PacketRecord(2, s.time + 0.001, "10.0.0.1", "10.0.0.2", 40000, 80, "tcp", icmp="host_unreachable",
                         reporter="192.0.2.254")
    [conversation] = analyze(s.records + [error])
    arrows = [row.arrow for row in timeline(conversation).rows if row.arrow]
    assert [(a.source, a.target, a.kind) for a in arrows] == [("client", "server", "control"),
                                                              ("server", "client", "reset")]
    assert arrows[1].label == ("ICMP host unreachable", "from 192.0.2.254, about TCP to 10.0.0.2:80")
