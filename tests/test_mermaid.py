"""The Mermaid block is a well-formed sequenceDiagram carrying the same arrows, notes and boxes."""

import re

from conftest import mermaid_parses
from segments import echo

from handshake_viz.core.analysis import analyze
from handshake_viz.render.mermaid import to_markdown, to_mermaid
from handshake_viz.views.timeline import Window, timeline
from handshake_viz.wire.records import SocketCall

STATEMENT = re.compile(
    r"^    (participant L\d as [^;#\n]+"
    r"|L\d(->>|-->>|-x)L\d: .+"
    r"|Note (left of|right of|over) L\d(,L\d)?: .+"
    r"|rect rgb\(\d+, \d+, \d+\)"
    r"|end)$")
ENTITY = re.compile(r"#(\d+|lt|gt);")


def check_structure(block: str) -> dict:
    """Each line one of the statements we write, nothing in any text that Mermaid would read as a
    statement's end, an entity, a directive or markup, every rect closed: the count of each kind."""
    lines = block.splitlines()
    assert lines[0] == "sequenceDiagram"
    depth, counts, declared = 0, {"message": 0, "note": 0, "rect": 0}, set()
    for line in lines[1:]:
        assert STATEMENT.match(line), f"not a sequenceDiagram statement: {line!r}"
        text = ENTITY.sub("", line).replace("<br/>", "")
        assert not re.search(r"[;#%<>]", text.split(":", 1)[-1] if ":" in text else text), line
        if line.startswith("    participant"):
            declared.add(line.split()[1])
        elif line.startswith("    rect"):
            depth += 1
            counts["rect"] += 1
        elif line == "    end":
            depth -= 1
            assert depth >= 0, "an end without a rect"
        elif line.startswith("    Note"):
            counts["note"] += 1
            assert set(re.findall(r"L\d", line.split(":")[0])) <= declared
        else:
            counts["message"] += 1
            assert set(re.findall(r"L\d", line.split(":")[0])) <= declared
    assert depth == 0, "a rect is never closed"
    return counts


def test_mermaid_has_every_arrow_state_and_phase_of_the_timeline():
    [conversation] = analyze(echo().records)
    calls = (SocketCall("client", "connect", "10.0.0.2:80; now", 1000.0005, 1000.0035, "0"),)
    diagram = timeline(conversation, calls)
    counts = check_structure(to_mermaid(diagram))
    assert counts["message"] == 11 and counts["rect"] == 3
    states = sum(len(row.marks) for row in diagram.rows)
    assert counts["note"] == states + len(diagram.brackets) + len(diagram.spans)


def test_folded_runs_become_one_note_and_the_block_stays_small():
    [conversation] = analyze(echo().records)
    counts = check_structure(to_mermaid(timeline(conversation, window=Window(max_arrows=10))))
    assert counts["message"] == 10


def test_the_markdown_file_wraps_the_block_for_github_and_obsidian(tmp_path):
    [conversation] = analyze(echo().records)
    markdown = to_markdown(timeline(conversation))
    assert markdown.startswith("### TCP 10.0.0.1:40000 → 10.0.0.2:80\n\n```mermaid\nsequenceDiagram\n")
    assert markdown.count("```") == 2 and "- seq and ack are relative" in markdown
    folded = to_markdown(timeline(conversation, window=Window(max_arrows=10)))
    pages = [tmp_path / "echo.mermaid.md", tmp_path / "folded.mermaid.md"]
    for page, text in zip(pages, (markdown, folded)):
        page.write_text(text)
    mermaid_parses(pages)


def _every_capture_is_sound_and_parses(folder, out) -> None:
    """The Mermaid of every capture of folder: structurally sound, and accepted by mermaid's parser."""
    import contextlib
    import io

    from handshake_viz.cli import main
    for capture in sorted(p for p in folder.iterdir() if p.suffix in (".pcap", ".pcapng")):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["replay", str(capture), "--format", "mermaid", "--out", str(out / capture.name)])
    pages = sorted(out.glob("*/*.mermaid.md"))
    assert len(pages) > 30
    for page in pages:
        check_structure(page.read_text().split("```mermaid\n", 1)[1].split("```", 1)[0])
    mermaid_parses(pages)


def test_the_mermaid_of_every_capture_of_the_first_corpus_is_sound_and_mermaid_parses_it(shared_pcaps, tmp_path):
    _every_capture_is_sound_and_parses(shared_pcaps / "public", tmp_path)


def test_the_mermaid_of_every_capture_of_the_second_corpus_is_sound_and_mermaid_parses_it(shared_pcaps2, tmp_path):
    """Three of them (cs_blaster, ndpi_ajp, ndpi_tls-appdata: clocks that run backwards) closed a
    phase's box before opening it; a payload in ndpi_gnutella holding three backticks ended the
    Markdown fence."""
    _every_capture_is_sound_and_parses(shared_pcaps2 / "public", tmp_path)
