"""The analyzer's contract, read as a script: each packet given in, beside the events it must
cause, in their order. Every TCP segment also causes a SegmentAnalyzed (left out below), and
every conversation ends with one ConversationEnded, given by `finish()`.

"at #N" names a state's frame where it is not the packet's own: a state the packets prove only
later is dated at the packet that caused it."""

import pytest
from segments import CLIENT, SERVER

from handshake_viz.core.analysis import Analyzer, ConversationEnded, Event, SegmentAnalyzed
from handshake_viz.wire.records import PacketRecord

_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}


def said(event: Event, frame: int) -> str:
    """An event in a few words."""
    kind = type(event).__name__
    at = f" at #{event.frame}" if getattr(event, "frame", frame) != frame else ""
    words = {
        "ConversationStarted": lambda e: "started",
        "StateChanged": lambda e: f"{e.side} {e.state}{at}",
        "StateWithdrawn": lambda e: f"{e.side} withdraws {e.state}{at}",
        "HandshakeCompleted": lambda e: "handshake complete",
        "ConnectionRefused": lambda e: "refused",
        "DataAcknowledged": lambda e: f"acks the {e.side}'s #{e.data_frame}",
        "FinSent": lambda e: f"{e.side} FIN",
        "ConnectionReset": lambda e: f"{e.side} RST",
        "ConversationClosed": lambda e: "closed",
        "DatagramSeen": lambda e: f"datagram from the {e.datagram.sender}",
        "IcmpErrorReceived": lambda e: f"ICMP {e.record.icmp} from the {e.sender}'s side",
        "MalformedSeen": lambda e: f"malformed, from the {e.sender}",
    }
    return words[kind](event)


def packet(frame: int, who: str, what: str, seq: int = 0, ack: int = 0, length: int = 0) -> PacketRecord:
    """A TCP segment ("SA": SYN+ACK); "udp" a datagram; "bad udp" a UDP header whose length is
    bogus; "icmp" and "udp icmp" a port unreachable sent by `who`, quoting what the other side sent."""
    src, dst = (CLIENT, SERVER) if who == "client" else (SERVER, CLIENT)
    time = 1000.0 + frame / 1000
    if what in ("icmp", "udp icmp"):   # it quotes the other side's packet: its addresses are that packet's
        return PacketRecord(frame, time, dst[0], src[0], dst[1], src[1], "udp" if what == "udp icmp" else "tcp",
                            icmp="port_unreachable", reporter=src[0])
    if what in ("udp", "bad udp"):
        return PacketRecord(frame, time, src[0], dst[0], src[1], dst[1], "udp", payload_len=length,
                            malformed="bad length 3" if what == "bad udp" else None)
    flags = sum(_FLAG_BITS[f] for f in what)
    return PacketRecord(frame, time, src[0], dst[0], src[1], dst[1], "tcp", flags, seq, ack, 1000,
                        payload_len=length, payload=b"x" * min(length, 24))


SCRIPTS = {
    "an echo, the client closing first": (
        # who      flags   seq    ack  len    the events it causes
        ("client", "S",    100,     0,  0,   ["started", "client SYN_SENT"]),
        ("server", "SA",   900,   101,  0,   ["server SYN_RECEIVED at #1", "client ESTABLISHED"]),
        ("client", "A",    101,   901,  0,   ["server ESTABLISHED", "handshake complete"]),
        ("client", "PA",   101,   901,  5,   []),
        ("server", "A",    901,   106,  0,   ["acks the client's #4"]),
        ("server", "PA",   901,   106,  5,   []),
        ("client", "A",    106,   906,  0,   ["acks the server's #6"]),
        ("client", "FA",   106,   906,  0,   ["client FIN", "client FIN_WAIT_1", "server CLOSE_WAIT"]),
        ("server", "A",    906,   107,  0,   ["client FIN_WAIT_2"]),
        ("server", "FA",   906,   107,  0,   ["server FIN", "server LAST_ACK", "client TIME_WAIT"]),
        ("client", "A",    107,   907,  0,   ["server CLOSED", "closed"]),
    ),
    "FINs that cross: the CLOSE_WAIT inferred too early is withdrawn": (
        ("client", "S",    100,     0,  0,   ["started", "client SYN_SENT"]),
        ("server", "SA",   900,   101,  0,   ["server SYN_RECEIVED at #1", "client ESTABLISHED"]),
        ("client", "A",    101,   901,  0,   ["server ESTABLISHED", "handshake complete"]),
        ("client", "FA",   101,   901,  0,   ["client FIN", "client FIN_WAIT_1", "server CLOSE_WAIT"]),
        ("server", "FA",   901,   101,  0,   ["server FIN", "server withdraws CLOSE_WAIT at #4", "server FIN_WAIT_1",
                                             "server CLOSING", "client CLOSING"]),
        ("client", "A",    102,   902,  0,   ["server TIME_WAIT"]),
        ("server", "A",    902,   102,  0,   ["client TIME_WAIT", "closed"]),
    ),
    "a connect refused": (
        ("client", "S",    100,     0,  0,   ["started", "client SYN_SENT"]),
        ("server", "RA",     0,   101,  0,   ["refused", "server RST", "client CLOSED", "closed"]),
    ),
    "an abort (close with SO_LINGER 0)": (
        ("client", "S",    100,     0,  0,   ["started", "client SYN_SENT"]),
        ("server", "SA",   900,   101,  0,   ["server SYN_RECEIVED at #1", "client ESTABLISHED"]),
        ("client", "A",    101,   901,  0,   ["server ESTABLISHED", "handshake complete"]),
        ("client", "RA",   101,   901,  0,   ["client CLOSED", "client RST", "server CLOSED", "closed"]),
    ),
    "a SYN answered by a port unreachable": (
        ("client", "S",    100,     0,  0,   ["started", "client SYN_SENT"]),
        ("server", "icmp",   0,     0,  0,   ["ICMP port_unreachable from the server's side"]),
    ),
    # An ICMP error about a datagram is one of its conversation's datagrams, the answer to what it quotes.
    "datagrams, a bogus one, and a port unreachable": (
        ("client", "udp",     0,    0,  4,   ["started", "datagram from the client"]),
        ("server", "udp",     0,    0,  9,   ["datagram from the server"]),
        ("client", "bad udp", 0,    0,  0,   ["malformed, from the client"]),
        ("server", "udp icmp", 0,   0,  0,   ["datagram from the server"]),
    ),
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_packet_causes_the_events_beside_it(name):
    analyzer = Analyzer()
    for frame, (who, what, seq, ack, length, expected) in enumerate(SCRIPTS[name], 1):
        events = analyzer.receive(packet(frame, who, what, seq, ack, length))
        assert all(e.conversation == 0 for e in events)
        assert [said(e, frame) for e in events if type(e) is not SegmentAnalyzed] == expected, f"#{frame}"
    [ended] = analyzer.finish()
    assert type(ended) is ConversationEnded and ended.conversation == 0 and ended.result.index == 0


def test_every_event_kind_is_in_a_script():
    kinds = {cls.__name__ for cls in Event.__subclasses__()} - {"SegmentAnalyzed", "ConversationEnded"}
    covered = set()
    for name in SCRIPTS:
        analyzer = Analyzer()
        for frame, (who, what, seq, ack, length, _) in enumerate(SCRIPTS[name], 1):
            covered |= {type(e).__name__ for e in analyzer.receive(packet(frame, who, what, seq, ack, length))}
    assert covered - {"SegmentAnalyzed"} == kinds
