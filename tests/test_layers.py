"""The layering of the guide, kept true by reading each module's imports."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "handshake_viz"
PURE = {"records", "seqnum", "tcp_states", "analysis", "diagram", "dot", "dissect"}
IO_MODULES = {"scapy", "subprocess", "threading", "graphviz", "os", "pathlib", "time", "tempfile", "socket"}


def imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] if not name.startswith("handshake_viz") else name for name in names}


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))


@pytest.mark.parametrize("module", sorted(PURE))
def test_the_pure_core_does_no_io(module):
    found = top_level(imports(module)) & IO_MODULES
    if module == "dissect":
        found -= {"socket"}  # only for inet_ntop, a pure conversion
    assert not found, f"{module} imports {found}"


@pytest.mark.parametrize("module", MODULES)
def test_only_capture_touches_scapy_and_only_render_runs_graphviz(module):
    used = top_level(imports(module))
    assert ("scapy" in used) == (module == "capture")
    assert ("graphviz" in used) == (module == "render")


def test_the_dot_builder_knows_nothing_of_tcp():
    assert not {"handshake_viz.analysis", "handshake_viz.tcp_states", "handshake_viz.records",
                "handshake_viz.seqnum"} & imports("dot")


def test_the_diagram_model_knows_nothing_of_graphviz():
    assert not {"handshake_viz.dot", "handshake_viz.render"} & imports("diagram")


COMMAND = ("cli", "launch")   # the command: its options and output, and its entry, which catches signals first


@pytest.mark.parametrize("module", [m for m in MODULES if m not in COMMAND])
def test_only_the_cli_prints_or_exits(module):
    source = (PACKAGE / f"{module}.py").read_text()
    calls = {node.func.id for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not {"print", "exit"} & calls
    assert "sys.exit" not in source
