"""The Markdown report explains each phase with the capture's own numbers."""

from segments import Script, echo

from handshake_viz.core.analysis import analyze
from handshake_viz.views.report import report
from handshake_viz.wire.records import SocketCall


def test_each_phase_is_explained_with_the_captures_numbers():
    [conversation] = analyze(echo().records)
    calls = (SocketCall("client", "connect", "10.0.0.2:80", 1000.0, 1000.003, "0"),)
    text = report(conversation, "echo.svg", "echo", calls)
    assert "![timeline](echo.svg)" in text
    assert "initial sequence number 1000 (shown as 0)" in text and "ISN 5000 and ACK 1 = 0 + 1" in text
    assert "carries 5 bytes numbered 1 to 5" in text and "ACK 6 = SEQ 1 + 5" in text
    assert "The client closes first" in text and "ACK 7 = 6 + 1" in text
    assert "TIME_WAIT for 60 s (Linux's fixed time; RFC 9293" in text
    assert "| 4 |" in text and "| `connect(10.0.0.2:80)` | 0 |" in text


def test_a_refused_connection_is_explained_as_such():
    s = Script()
    s.client("S", 500)
    s.server("RA", 0, 501)
    [conversation] = analyze(s.records)
    assert "nothing listened on port 80" in report(conversation, "x.svg", "refused")


def test_a_fin_that_carries_data_is_acknowledged_for_its_data_and_itself():
    from segments import Script, handshake
    s = Script()
    handshake(s, 100, 500)
    s.client("FPA", 101, 501, length=4096)
    s.server("A", 501, 101 + 4096 + 1)
    s.server("FA", 501, 101 + 4096 + 1)
    s.client("A", 101 + 4096 + 1, 502)
    [conversation] = analyze(s.records)
    for lang, words in (("en", "ACK 4098 = 1 + 4096 + 1"), ("ko", "ACK 4098 = 1 + 4096 + 1로")):
        assert words in report(conversation, "c.svg", "c", lang=lang)
