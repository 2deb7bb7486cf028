"""The HTML explorer in a real browser: Debian's chromium, headless, driven by Playwright. Every
test fails on any console error, uncaught exception or request the page makes."""

import re
import shutil
from pathlib import Path

import pytest
from conftest import require_command
from test_escape import _crafted_capture
from test_explorer import page_data

from handshake_viz.output.files import Outputs
from handshake_viz.output.publish import Request, Subject, publish
from handshake_viz.replay import read_conversations
from handshake_viz.views.words import PAGE_WORDS


@pytest.fixture(scope="session")
def browser():
    require_command("chromium", "chromium", "browser the explorer is tested in")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser):
    """open_page(html, fragment) -> the page, watched: whatever it logs as an error, throws, or
    asks of the network fails the test."""
    pages, problems = [], []

    def opened(html: Path, fragment: str = ""):
        page = _watched(browser, html, problems)
        page.goto(html.as_uri() + fragment)
        page.wait_for_selector("#title:not(:empty)")
        pages.append(page)
        return page

    yield opened
    for page in pages:
        page.close()
    assert problems == []


def _watched(browser, html: Path, problems: list):
    """A new page whose console errors and warnings, uncaught exceptions, dialogs and requests for
    anything but html itself go to problems."""
    page = browser.new_page(viewport={"width": 1800, "height": 1000})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if r.url.split("#")[0] != html.as_uri() else None)
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return page


@pytest.mark.parametrize("policy", [True, False])
def test_the_watch_on_every_page_catches_what_a_page_asks_for(browser, tmp_path, policy):
    """A page that fetches a file beside it: the explorer's policy refuses (a console error), and
    without it the request itself is caught."""
    from handshake_viz.render.html import POLICY
    html = tmp_path / "asks.html"
    meta = f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">' if policy else ""
    html.write_text(f"<!DOCTYPE html>{meta}<script>fetch('beside.json').catch(() => {{}})</script>")
    (tmp_path / "beside.json").write_text("{}")
    problems = []
    page = _watched(browser, html, problems)
    page.goto(html.as_uri())
    for _ in range(100):   # the browser reports it a moment later: up to 5 s
        if problems:
            break
        page.wait_for_timeout(50)
    page.close()
    assert any(("console error" if policy else "request: file://") in p for p in problems), problems


def _written(tmp_path: Path, name: str, conversations: list, source: Path, lang: str = "en", **run) -> Path:
    publish(Request(tmp_path, ("html",), Outputs(), lang=lang), Subject(name, conversations, source=str(source), **run))
    return tmp_path / f"{name}.html"


@pytest.fixture(scope="module")
def run_page(runs, tmp_path_factory):
    """run_page(scenario, lang): the page of a scenario's run, written once for this module's tests."""
    from handshake_viz.wire.pcapfile import write_pcap
    folder, done = tmp_path_factory.mktemp("runs"), {}

    def page_of(name: str, lang: str = "en") -> Path:
        if (name, lang) not in done:
            run, capture = runs[name], folder / f"{name}.pcap"
            with capture.open("wb") as f:
                write_pcap(f, run.frames, run.linktype)
            done[name, lang] = _written(folder / lang, name, run.conversations, capture, lang, calls=run.calls,
                                        kernel=run.kernel)
        return done[name, lang]
    return page_of


@pytest.fixture(scope="module")
def capture_page(shared_pcaps, tmp_path_factory):
    """capture_page(file name): the page of a shared capture, written once for this module's tests."""
    folder, done = tmp_path_factory.mktemp("captures"), {}

    def page_of(name: str) -> Path:
        if name not in done:
            capture = shared_pcaps / "public" / name
            done[name] = _written(folder, capture.stem, read_conversations(capture), capture)
        return done[name]
    return page_of


def _scrolled_to(page, selector: str):
    """Scroll the ladder down until what selector names is rendered: rows appear as they come into view."""
    for _ in range(200):
        if page.locator(selector).count():
            return page.locator(selector).first
        # the scroll's own event comes a frame later: sent now, the rows it brings are drawn before the next look
        page.eval_on_selector("#ladder", "box => { box.scrollTop += box.clientHeight; box.dispatchEvent(new Event('scroll')); }")
    raise AssertionError(f"{selector} never came into view")


def _selected(page) -> str:
    return page.eval_on_selector(".row.selected", "row => row.dataset.frame || ''")


def test_hovering_an_arrow_shows_its_packet_and_clicking_it_opens_its_header(run_page, open_page):
    html = run_page("echo")
    page = open_page(html)
    data = page_data(html)["conversations"][0]
    frame = next(row["f"] for row in data["rows"] if row.get("a") and row["a"]["kind"] == "data")
    packet = data["packets"][str(frame)]
    page.hover(f".label[data-frame='{frame}']")
    tip = page.inner_text("#tooltip")
    assert f"#{frame}" in tip and f"{packet['seq'][1]} (relative) · {packet['seq'][0]} (absolute)" in tip
    assert f"ACK: {packet['ack'][1]} (relative) · {packet['ack'][0]} (absolute)" in tip
    assert "hello" in tip and "68 65 6c 6c 6f" in tip and "65536 (not scaled)" not in tip   # scaled by 2^7 or more
    page.click(f".label[data-frame='{frame}']")
    assert _selected(page) == str(frame) and page.evaluate("location.hash") == f"#c0-f{frame}"
    header = page.inner_text("table.header")
    assert "Sequence Number" in header and str(packet["seq"][0]) in header
    assert " ".join(re.findall("..", f"{packet['seq'][0]:08x}")) in header   # its bytes, most significant first
    assert "Window" in header and "PSH" in header
    assert "hello" in page.inner_text(".payload-text")


def test_each_toggle_changes_what_the_ladder_shows(run_page, open_page):
    html = run_page("echo")
    page = open_page(html)
    data = page_data(html)["conversations"][0]
    syn = data["packets"]["1"] if "1" in data["packets"] else next(iter(data["packets"].values()))
    count = lambda selector: page.locator(selector).count()   # noqa: E731
    assert count(".mark.call") > 0 and count(".mark.state") > 0 and count(".label.ack") > 0
    page.click("[data-numbers=absolute]")
    assert f"seq {syn['seq'][0]}" in page.inner_text("#rows")
    page.click("[data-numbers=relative]")
    assert f"seq {syn['seq'][0]}" not in page.inner_text("#rows")
    bare = [f for f, p in data["packets"].items() if p["phase"] == "data" and p["flags"] == ["ACK"] and not p["length"]]
    page.uncheck("#show-acks")
    assert bare and all(count(f".row[data-frame='{f}'] .label") == 0 for f in bare)
    assert count(".label.ack") > 0   # the handshake's and teardown's ACKs stay: they change states
    page.check("#show-acks")
    page.uncheck("#show-calls")
    assert count(".mark.call") == 0 and count(".mark.state") > 0
    page.uncheck("#show-states")
    assert count(".mark.state") == 0 and count(".label") == len(data["packets"])


def test_real_time_compresses_and_labels_the_idle_gaps(run_page, open_page):
    page = open_page(run_page("rto"))
    assert page.locator(".gap").count() == 0
    rows_apart = _top(page, 5) - _top(page, 4)
    page.click("[data-time=time]")
    gaps = page.locator(".gap").all_inner_texts()
    # the two timer waits of the run: about 200 ms, then about 400 ms
    waits = sorted(float(re.search(r"([\d.]+) ms", text)[1]) for text in gaps if "ms" in text)
    assert any(180 < w < 260 for w in waits) and any(380 < w < 520 for w in waits), gaps
    assert _top(page, 5) - _top(page, 4) > rows_apart   # the wait is drawn as a labelled gap, not one row


def _top(page, frame: int) -> float:
    """Where a packet's row is on the ladder, once a link to it has brought it into view."""
    page.evaluate(f"location.hash = '#c0-f{frame}'")
    return page.wait_for_selector(f".row.selected[data-frame='{frame}']").evaluate("r => parseFloat(r.style.top)")


def test_a_fold_expands_in_place_and_a_long_conversation_stays_light(capture_page, open_page):
    html = capture_page("http_ipv6_long_1000_requests.pcap")
    page = open_page(html)
    _scrolled_to(page, ".fold button").click()
    frames = page.eval_on_selector_all(".row[data-frame]", "rows => rows.map(r => +r.dataset.frame)")
    assert len(frames) < 250   # rows render as they scroll into view, not all 4,102
    page.eval_on_selector("#ladder", "box => { box.scrollTop = box.scrollHeight; box.dispatchEvent(new Event('scroll')); }")
    last = page.eval_on_selector_all(".row[data-frame]", "rows => Math.max(...rows.map(r => +r.dataset.frame))")
    assert last == 4102 and page.locator(".row").count() < 250
    assert page.eval_on_selector("#ladder", "box => box.scrollHeight") > 4000 * 40
    # its graph: too many points to be elements until zoomed in, a click finds the nearest all the same
    assert page.locator("#tsg .point").count() == 0 and page.locator("#tsg path").count() >= 3
    box = page.locator("#tsg").bounding_box()
    for _ in range(8):
        page.mouse.move(box["x"] + 280, box["y"] + 150)
        page.mouse.wheel(0, -300)
    page.wait_for_function("() => document.querySelectorAll('#tsg .point').length > 0")
    assert page.locator("#tsg .point").count() <= 3000


def test_the_keyboard_steps_through_the_rows_and_the_fragment_follows(run_page, open_page):
    page = open_page(run_page("echo"))
    page.click(".label[data-frame='1']")
    page.keyboard.press("j")
    after = page.evaluate("location.hash")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("k")
    assert page.evaluate("location.hash") == after
    page.keyboard.press("k")
    assert page.evaluate("location.hash") == "#c0-f1"


def test_a_fragment_opens_at_its_packet_inside_a_fold(capture_page, open_page):
    html = capture_page("http_ipv6_long_1000_requests.pcap")
    page = open_page(html, "#c0-f3000")
    assert _selected(page) == "3000" and "#3000" in page.inner_text("#details h2")
    box = page.eval_on_selector(".row.selected", "r => r.getBoundingClientRect().top")
    assert 0 < box < 1000   # in view


def test_a_point_of_the_time_sequence_graph_selects_its_row_and_the_reverse(capture_page, open_page):
    html = capture_page("ssh_retrans_dupack.pcap")
    page = open_page(html, "#c0")
    # the point that stands furthest from any other: a click there means it alone
    frame, x, y = page.evaluate("""() => {
        const tops = [...document.querySelectorAll('#tsg .point')].map(p => {
            const b = p.getBoundingClientRect(); return [p, b.x + b.width / 2, b.y + 1]; });
        const apart = ([p, x, y]) => Math.min(...tops.filter(t => t[0] !== p).map(([, u, v]) => Math.hypot(x - u, y - v)));
        const best = tops.sort((a, b) => apart(b) - apart(a))[0];
        return [best[0].dataset.frame, best[1], best[2]]; }""")
    page.mouse.click(x, y)
    assert _selected(page) == frame and page.evaluate("location.hash") == f"#c0-f{frame}"
    assert page.get_attribute("#tsg-selected", "data-frame") == frame
    other = page.eval_on_selector_all(".row[data-frame] .label", "labels => labels.map(l => l.dataset.frame)")[2]
    page.click(f".label[data-frame='{other}']")
    assert page.get_attribute("#tsg-selected", "data-frame") == other


def test_the_graph_zooms_and_pans(capture_page, open_page):
    page = open_page(capture_page("http_206_zero_window_ooo_sack.pcap"), "#c0")
    ticks = "() => [...document.querySelectorAll('#tsg .axis text')].map(x => x.textContent).join(' ')"
    before = page.evaluate(ticks)
    box = page.locator("#tsg").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 150)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"was => ({ticks})() !== was", arg=before)   # zoomed in: other ticks
    zoomed = page.evaluate(ticks)
    page.mouse.move(box["x"] + 300, box["y"] + 150)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 150, steps=5)
    page.mouse.up()
    page.wait_for_function(f"was => ({ticks})() !== was", arg=zoomed)   # panned: other ticks again
    page.dblclick("#tsg")
    page.wait_for_function(f"was => ({ticks})() === was", arg=before)   # and back to the whole
    assert page.inner_text("#probes") == PAGE_WORDS["graph.no_kernel"][0]   # a stored capture has no kernel record


def test_the_graph_marks_zero_window_probes_and_the_window_closing(run_page, open_page):
    html = run_page("zero-window")
    graph = page_data(html)["conversations"][0]["graph"]["client"]
    probes = {str(s[3]) for s in graph["segments"] if s[4] == "probe"}
    closed = [a for a in graph["acks"] if a[2] == 0]
    assert probes and closed   # the scenario's promise, as the page's data holds it
    page = open_page(html, "#c0")
    page.click("[data-direction=client]")
    drawn = set(page.eval_on_selector_all("#tsg g.point.probe", "points => points.map(p => p.dataset.frame)"))
    assert drawn == probes


def test_the_kernels_congestion_control_is_drawn_on_the_graphs_time_axis(run_page, open_page):
    page = open_page(run_page("rto"), "#c0")
    assert page.locator("#tsg-probes path").count() >= 2   # the congestion window and the smoothed RTT
    assert "tcp:tcp_probe" in page.inner_text("#probes")
    # a run's client that received nothing while ESTABLISHED (its SYN+ACK came in SYN_SENT, the
    # FIN after its close) has no probes, and the page says why, not that there is no record
    page = open_page(run_page("handshake"), "#c0")
    page.click("[data-direction=client]")
    assert page.inner_text("#probes") == PAGE_WORDS["graph.no_probes"][0]


def test_the_index_sorts_and_opens_each_conversation(capture_page, open_page):
    html = capture_page("smb_many_concurrent_flows.pcap")
    page = open_page(html)
    count = len(page_data(html)["index"])
    assert page.locator("#index tbody tr").count() == count > 2
    page.click("th[data-column=packets]")
    page.click("th[data-column=packets]")
    packets = [int(t.replace(",", "")) for t in page.locator("#index tbody tr td:nth-child(5)").all_inner_texts()]
    assert packets == sorted(packets, reverse=True)
    page.locator("#index tbody tr").nth(1).click()
    page.wait_for_selector("#explore", state="visible")   # the link's hashchange comes as a task of its own
    assert re.fullmatch(r"#c\d+", page.evaluate("location.hash"))
    page.click("#to-index")
    page.wait_for_selector("#index", state="visible")


def test_the_korean_page_speaks_korean(run_page, open_page):
    page = open_page(run_page("echo", "ko"))
    assert page.evaluate("document.documentElement.lang") == "ko"
    text = page.inner_text("#controls")
    assert PAGE_WORDS["relative"][1] in text and PAGE_WORDS["states"][1] in text
    assert "클라이언트" in page.inner_text("#lanes")


def test_text_from_the_wire_shows_as_written_and_does_nothing(tmp_path, open_page):
    capture = tmp_path / "crafted.pcap"
    _crafted_capture(capture)
    html = _written(tmp_path, "crafted", read_conversations(capture), capture)
    page = open_page(html, "#index")
    shown = ""
    for number, conversation in enumerate(page_data(html)["conversations"]):
        page.evaluate(f"location.hash = '#c{number}'")
        page.wait_for_function("title => document.getElementById('title').textContent === title", arg=conversation["title"])
        for label in page.locator(".label").all():
            label.hover()
            shown += page.inner_text("#tooltip")
        shown += page.inner_text("#rows")
    assert "<script>alert(1)</script>" in shown and "%%{init:" in shown
    assert page.locator("#rows script, #rows img, #tooltip *").count() == 0
