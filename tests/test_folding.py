"""Long captures stay readable: ordinary data folds, what matters stays explicit."""

from segments import Script, handshake

from handshake_viz.core.analysis import analyze
from handshake_viz.render.dot import to_dot
from handshake_viz.replay import read_conversations
from handshake_viz.views.timeline import Window, timeline


def conversation_of(path):
    [conversation] = [c for c in read_conversations(path) if c.protocol == "tcp"]
    return conversation


def drawn_frames(diagram):
    return {int(row.stamp.split()[0][1:]) for row in diagram.rows if row.arrow}


def test_a_long_public_capture_keeps_handshake_teardown_and_anomalies_under_the_limit(shared_pcaps):
    conversation = conversation_of(shared_pcaps / "public" / "http_ipv6_long_1000_requests.pcap")
    assert len(conversation.segments) == 4102
    diagram = timeline(conversation)
    arrows = drawn_frames(diagram)
    assert len(arrows) <= 60
    must = {s.record.frame for s in conversation.segments if s.phase != "data" or s.analysis}
    assert must <= arrows
    [fold] = [row.fold for row in diagram.rows if row.fold]
    assert fold.startswith("… 4,042 ordinary packets folded") and "kB of data" in fold
    assert [b.label for b in diagram.brackets] == ["3-way handshake", "data transfer", "teardown"]


def test_a_window_of_frames_is_drawn_in_full(shared_pcaps):
    conversation = conversation_of(shared_pcaps / "public" / "http_ipv6_long_1000_requests.pcap")
    diagram = timeline(conversation, window=Window(frames=(1000, 1200)))
    assert drawn_frames(diagram) == set(range(1000, 1201))
    assert not [row for row in diagram.rows if row.fold]


def test_a_window_of_time_is_drawn_in_full():
    s = Script(step=0.1)
    handshake(s, 0, 0)
    for n in range(20):
        s.client("PA", 1 + 10 * n, 1, length=10)
    [conversation] = analyze(s.records)
    diagram = timeline(conversation, window=Window(max_arrows=10, seconds=(0.35, 0.75)))
    assert drawn_frames(diagram) == {5, 6, 7, 8}


def test_short_flows_are_never_folded():
    s = Script()
    handshake(s, 0, 0)
    for n in range(40):
        s.client("PA", 1 + 10 * n, 1, length=10)
    [conversation] = analyze(s.records)
    assert not [row for row in timeline(conversation).rows if row.fold]
    folded = timeline(conversation, window=Window(max_arrows=12))
    assert len(drawn_frames(folded)) == 12
    [fold] = [row.fold for row in folded.rows if row.fold]
    assert "31 ordinary packets folded" in fold and fold in to_dot(folded)


def test_a_long_window_is_cut_into_pages_with_clipped_brackets(shared_pcaps):
    from handshake_viz.views.timeline import PAGE_ROWS, pages
    conversation = conversation_of(shared_pcaps / "public" / "http_ipv6_long_1000_requests.pcap")
    diagram = timeline(conversation, window=Window(frames=(1, 300)))
    cut = pages(diagram)
    assert len(cut) == -(-len(diagram.rows) // PAGE_ROWS) > 1
    assert sum(len(page.rows) for page in cut) == len(diagram.rows)
    assert cut[0].title.endswith(f"(page 1 of {len(cut)})")
    for page in cut:
        assert all(0 <= b.first_row <= b.last_row < len(page.rows) for b in page.brackets)


def test_a_png_page_keeps_its_height_at_any_scale(shared_pcaps):
    """At --scale 2 a page has half the rows, so no bitmap grows taller than a default page's
    (cairo takes longer per pixel on taller ones)."""
    from handshake_viz.output.formats import FORMATS, Drawing
    conversation = conversation_of(shared_pcaps / "public" / "http_ipv6_long_1000_requests.pcap")
    drawing = Drawing("long", timeline(conversation, window=Window(frames=(1, 200))))
    default, double = ([(int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
                        for _, png in FORMATS["png"].write(drawing, scale, {"png"})] for scale in (1, 2))
    assert len(double) > len(default) > 1
    assert {width for width, _ in double} == {2 * width for width, _ in default}
    assert max(height for _, height in double) <= 1.1 * max(height for _, height in default)
