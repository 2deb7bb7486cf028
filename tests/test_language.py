"""Labels and reports in Korean as well as English (--lang ko)."""

import re
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import require
from segments import echo

from handshake_viz.core.analysis import analyze
from handshake_viz.live.tracing import TRACEFS
from handshake_viz.render.dot import to_dot
from handshake_viz.render.graphviz import render
from handshake_viz.scenarios import SCENARIOS
from handshake_viz.views.report import report
from handshake_viz.views.timeline import timeline
from handshake_viz.views.words import DROP_REASONS, RESET_REASONS, SCENARIO_SUMMARIES, TEXTS, Words
from handshake_viz.wire.records import SocketCall


def test_every_phrase_exists_in_every_language():
    keys = [set(texts) for texts in TEXTS.values()]
    assert all(k == keys[0] for k in keys)


def test_every_scenario_has_a_korean_title():
    assert set(SCENARIO_SUMMARIES["ko"]) == set(SCENARIOS)
    echo = SCENARIOS["echo"]
    assert Words("en").scenario_title("echo", echo.summary) == f"echo: {echo.summary}"
    assert Words("ko").scenario_title("echo", echo.summary).startswith("echo: 클라이언트가 5바이트를 보내고")


def test_a_recv_of_zero_says_end_of_stream_in_each_language():
    eof = SocketCall("server", "recv", "1024", 0.0, 0.1, "0", protocol="tcp")
    assert [Words(lang).outcome(eof) for lang in ("en", "ko")] == ["0 (end of stream)", "0 (스트림 끝)"]
    assert Words("en").outcome(SocketCall("client", "send", "5 bytes", 0.0, 0.1, "0")) == "0"


def test_the_kernels_reset_reasons_are_said_in_each_language():
    assert Words("en").reset_reason("NO_SOCKET") == "no socket on this port"
    assert Words("ko").reset_reason("NO_SOCKET") == "이 포트에 소켓이 없음"
    assert Words("ko").reset_reason("TCP_SOMETHING_NEW") == "tcp something new"  # a newer kernel's reason
    assert Words("en").reset_reason("TCP_STATE") == "aborted while open (close with SO_LINGER 0, or a disconnect)"
    assert Words("en").drop_reason("TCP_LISTEN_OVERFLOW") == "the accept queue is full"


def symbols(event: str, field: str) -> set[str]:
    """The names a tracepoint's format gives a field's values (its __print_symbolic list)."""
    format_file = TRACEFS / "events" / event / "format"
    require(format_file.exists(), f"{format_file} is missing: no tracefs, or this kernel has no {event} tracepoint")
    text = format_file.read_text()
    listed = text[text.index(f"__print_symbolic(REC->{field}") + 1:].split("__print_symbolic")[0]
    names = re.findall(r'\{ -?\d+, "(\w+)" \}', listed)
    return set(names) - {"MAX"}


@pytest.mark.live   # tracefs is readable by root
@pytest.mark.parametrize("event, field, table", [("tcp/tcp_send_reset", "reason", RESET_REASONS),
                                                 ("skb/kfree_skb", "reason", DROP_REASONS)])
def test_every_reason_this_kernel_can_give_has_words_in_each_language(event, field, table):
    missing = symbols(event, field) - set(table)
    assert not missing, f"no phrase for {sorted(missing)}"
    assert all(len(phrases) == 2 and all(phrases) for phrases in table.values())


def test_the_korean_diagram_names_phases_lanes_and_time_wait_in_korean():
    [conversation] = analyze(echo().records)
    diagram = timeline(conversation, lang="ko")
    assert [b.label for b in diagram.brackets] == ["3-way 핸드셰이크", "데이터 전송", "연결 종료"]
    assert [lane.title for lane in diagram.lanes] == ["클라이언트", "서버"]
    assert "추정" in diagram.spans[0].label and any("TIME_WAIT는 패킷으로 보이지 않습니다" in line for line in diagram.legend)
    assert any("SYN_SENT" == m.text for row in diagram.rows for m in row.marks)  # RFC names stay as they are
    svg = render(to_dot(diagram), "svg")
    texts = {"".join(t.itertext()) for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert "데이터 전송" in texts


def test_the_korean_report_explains_with_the_same_numbers():
    [conversation] = analyze(echo().records)
    english, korean = report(conversation, "e.svg", "echo"), report(conversation, "e.svg", "echo", lang="ko")
    assert "ACK 6 = SEQ 1 + 5" in english and "ACK 6 = SEQ 1 + 5" in korean
    assert "## 무슨 일이 있었나" in korean and "먼저 닫은 클라이언트는 TIME_WAIT" in korean


@pytest.mark.parametrize("value, chosen", [(4, "4와"), (6, "6과"), (10, "10과"), (3554524900, "3554524900과"),
                                           (12, "12와"), (1000, "1000과")])
def test_a_korean_particle_after_a_number_follows_how_the_number_is_read(value, chosen):
    assert Words("ko")("sent_again", frame=value) == f"재전송: #{chosen} 같은 바이트"


def test_the_korean_report_has_every_particle_chosen():
    [conversation] = analyze(echo().records)
    korean = report(conversation, "e.svg", "echo", lang="ko")
    assert not re.search(r"\((는|가|를|와|로)\)", korean)
    assert "프레임 4는" in korean and "SEQ 1 + 5로" in korean and "ISN 5000과" in korean
