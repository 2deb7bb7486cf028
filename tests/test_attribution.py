"""Which conversation a socket call was made on, and which calls a conversation's diagram shows."""

from segments import Script, handshake

from handshake_viz.core.analysis import analyze
from handshake_viz.core.attribution import calls_by_conversation, finder, same_end
from handshake_viz.wire.records import PacketRecord, SocketCall

SERVER_END = "10.0.0.2:80"


def call(name, side="server", endpoint=None, local=None, protocol="tcp"):
    return SocketCall(side, name, "", 1.0, 1.0, "0", None, endpoint, protocol, local)


def two_connections_and_a_datagram():
    """Two TCP clients of one listener, and a UDP exchange on the same server port."""
    first, second = Script(client=("10.0.0.1", 40000)), Script(client=("10.0.0.1", 40001))
    handshake(first, 100, 500)
    handshake(second, 900, 700)
    datagram = PacketRecord(99, 2000.0, "10.0.0.1", "10.0.0.2", 40002, 80, "udp", payload_len=4, payload=b"ping")
    return analyze(first.records + second.records + [datagram])


def test_a_call_belongs_to_the_connection_it_was_made_on_and_a_listeners_to_none():
    conversations = two_connections_and_a_datagram()
    first, second, udp = conversations
    conversation_of = finder(conversations)
    assert conversation_of(call("accept", endpoint="10.0.0.1:40001")) is second
    assert conversation_of(call("recvfrom", endpoint="10.0.0.1:40002", protocol="udp")) is udp
    assert conversation_of(call("recvfrom", endpoint="10.0.0.1:40002", protocol="tcp")) is None
    assert conversation_of(call("listen", local=SERVER_END)) is None
    # A socket never bound reads back the wildcard address: it is the conversation with its port.
    assert conversation_of(call("sendto", "client", endpoint="0.0.0.0:40002", protocol="udp")) is udp


def test_each_diagram_shows_its_own_calls_and_its_servers_but_not_the_other_connections():
    conversations = two_connections_and_a_datagram()
    first, second, udp = conversations
    calls = (call("listen", local=SERVER_END), call("bind", local=SERVER_END, protocol="udp"),
             call("accept", endpoint="10.0.0.1:40000"), call("accept", endpoint="10.0.0.1:40001"),
             call("connect", "client", endpoint="10.0.0.1:40000"), call("recvfrom", endpoint="10.0.0.1:40002", protocol="udp"))
    drawn = calls_by_conversation(calls, conversations)
    assert [c.name for c in drawn[first.index]] == ["listen", "accept", "connect"]
    assert [c.endpoint for c in drawn[second.index] if c.name == "accept"] == ["10.0.0.1:40001"]
    assert [c.name for c in drawn[udp.index]] == ["bind", "recvfrom"]


def test_a_run_of_one_conversation_also_shows_the_calls_made_on_no_conversation():
    """reuseaddr: binds on sockets that never connect are still the story of its one connection."""
    [only] = conversations = two_connections_and_a_datagram()[:1]
    rebind = call("bind", local="10.0.0.9:80")
    assert calls_by_conversation((rebind,), conversations) == {only.index: (rebind,)}
    first, second = two_connections_and_a_datagram()[:2]
    assert calls_by_conversation((rebind,), [first, second]) == {first.index: (), second.index: ()}


def test_a_socket_never_bound_matches_by_its_port():
    assert same_end("0.0.0.0:40000", "10.0.0.1:40000") and same_end("[::]:40000", "[::1]:40000")
    assert not same_end("0.0.0.0:40001", "10.0.0.1:40000") and not same_end("10.0.0.3:40000", "10.0.0.1:40000")
    assert not same_end(None, "10.0.0.1:40000")
