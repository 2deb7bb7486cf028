"""No function of the package, its tests or its checks is over a cyclomatic complexity of 15 (as
radon counts it: every branch, loop, boolean operator and comprehension condition), except the
port of tshark's rules, kept in tshark's own order so that it can be read beside packet-tcp.c."""

from pathlib import Path

from radon.complexity import cc_visit

REPO = Path(__file__).resolve().parent.parent
LIMIT = 15
TSHARK_PORT = {("handshake_viz/core/marks.py", name) for name in ("mark", "_window_and_ack_marks", "_retransmission_kind")}


def blocks(code: str):
    """Every function, method and closure, with its complexity."""
    pending = list(cc_visit(code))
    while pending:
        block = pending.pop()
        pending += getattr(block, "methods", []) + getattr(block, "closures", [])
        if not hasattr(block, "methods"):   # a class's own figure is the sum of its methods
            yield block


def over_the_limit(path: Path, code: str) -> list[str]:
    name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
    found = {(b.lineno, b.name, b.complexity) for b in blocks(code)   # radon lists a method twice
             if b.complexity > LIMIT and (name, b.name) not in TSHARK_PORT}
    return [f"{name}:{line} {function} ({complexity})" for line, function, complexity in sorted(found)]


def sources() -> list[Path]:
    return sorted(p for folder in ("handshake_viz", "tests", "checks", "bench") for p in (REPO / folder).rglob("*.py"))


def test_no_function_is_over_the_limit_but_the_port_of_tsharks_rules():
    found = [line for path in sources() for line in over_the_limit(path, path.read_text())]
    assert not found, found


def test_the_port_of_tsharks_rules_says_why_it_may_be_over_the_limit():
    code = (REPO / "handshake_viz/core/marks.py").read_text()
    ported = {b.name: b for b in blocks(code) if ("handshake_viz/core/marks.py", b.name) in TSHARK_PORT}
    assert set(ported) == {name for _, name in TSHARK_PORT}
    assert "tshark" in code.split('"""')[1] and "same order" in code.split('"""')[1]


def test_the_check_catches_a_function_of_sixteen_branches():
    planted = "def planted(x):\n" + "".join(f"    if x == {n}:\n        return {n}\n" for n in range(15)) + "    return -1\n"
    assert over_the_limit(REPO / "planted.py", planted) == ["planted.py:1 planted (16)"]
