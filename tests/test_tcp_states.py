import networkx as nx

from handshake_viz.core.tcp_states import TRANSITIONS, TcpState, Trigger, next_state, state_chart


def test_every_state_is_reachable_from_closed():
    chart = state_chart()
    reachable = nx.descendants(chart, TcpState.CLOSED) | {TcpState.CLOSED}
    assert reachable == set(TcpState)


def test_every_state_after_syn_sent_can_reach_closed():
    chart = state_chart()
    after_syn_sent = nx.descendants(chart, TcpState.SYN_SENT)
    for state in after_syn_sent:
        assert nx.has_path(chart, state, TcpState.CLOSED), state


def test_the_chart_has_one_edge_per_table_entry():
    assert state_chart().number_of_edges() == len(TRANSITIONS)


def test_active_close_path_ends_in_time_wait():
    state = TcpState.ESTABLISHED
    for trigger in (Trigger.SEND_FIN, Trigger.RECEIVE_ACK_OF_FIN, Trigger.RECEIVE_FIN):
        state = next_state(state, trigger)
    assert state is TcpState.TIME_WAIT


def test_a_retransmitted_fin_changes_nothing():
    assert next_state(TcpState.FIN_WAIT_1, Trigger.SEND_FIN) is None


def test_no_trigger_shares_a_name_with_a_state():
    assert not {t.name for t in Trigger} & {s.name for s in TcpState}


def test_rfc_9293s_edges_a_reset_after_a_passive_open_and_a_fin_that_acks_ours():
    assert next_state(TcpState.SYN_RECEIVED, Trigger.RECEIVE_RST_AFTER_PASSIVE_OPEN) is TcpState.LISTEN
    assert next_state(TcpState.SYN_RECEIVED, Trigger.RECEIVE_RST) is TcpState.CLOSED   # a simultaneous open's
    assert next_state(TcpState.FIN_WAIT_1, Trigger.RECEIVE_FIN_ACKING_OURS) is TcpState.TIME_WAIT


def test_a_reset_answering_a_listeners_syn_ack_sends_the_server_back_to_listen():
    from segments import Script

    from handshake_viz.core.analysis import analyze
    s = Script()
    s.client("S", 100)
    s.server("SA", 500, 101)
    s.client("R", 101)
    [conversation] = analyze(s.records)
    assert [c.state for c in conversation.states["server"]][-2:] == [TcpState.SYN_RECEIVED, TcpState.LISTEN]
