"""The layout is the architecture: each folder a layer of the pipeline, kept true by reading every
module's imports. A module imports only from its own layer and the layers before it (and the
shared `errors`); the pure layers do no I/O."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "handshake_viz"
LAYERS = ("wire", "core", "kernel", "scenarios", "views", "render", "output", "live")   # in pipeline order
PURE_LAYERS = ("wire", "core", "kernel", "scenarios", "views", "render")
# The modules of the pure layers that do I/O, and why they may.
DOES_IO = {
    "wire.pcapfile": "reads the capture file it is given",
    "render.graphviz": "the one place that runs graphviz",
    "render.html": "reads its own script and styles (importlib.resources), shipped beside it, once when imported",
    "scenarios": "the scenarios' programs: they talk on sockets",
    "scenarios.lifecycle": "the scenarios' programs: they talk on sockets",
    "scenarios.dataflow": "the scenarios' programs: they talk on sockets",
    "scenarios.datagrams": "the scenarios' programs: they talk on sockets",
    "scenarios.buffering": "the scenarios' programs: they talk on sockets",
    "scenarios.local": "the scenarios' programs: they talk on sockets, named in a directory of their own",
    "scenarios.groups": "the scenarios' programs: they talk on sockets",
}
IO_MODULES = {"scapy", "subprocess", "threading", "graphviz", "os", "pathlib", "time", "tempfile", "socket",
              "select", "mmap", "ctypes", "signal", "io", "shutil", "importlib"}
# These use socket only for its constants and inet_ntop/inet_pton, pure conversions.
PURE_CONVERSIONS = {"wire.dissect", "wire.dns", "wire.groups", "kernel.sockdiag"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__main__.py" and module_name(p)}


def imports(module: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | ({f"{node.module}.{a.name}" for a in node.names}
                                      if node.module.startswith("handshake_viz") else set())
    return names


def ours(module: str) -> set[str]:
    """The package's modules this one imports, as 'layer.module'."""
    prefix = "handshake_viz."
    return {name[len(prefix):] for name in imports(module) if name.startswith(prefix)} & set(MODULES)


def layer(module: str) -> int:
    first = module.split(".")[0]
    return LAYERS.index(first) if first in LAYERS else len(LAYERS)   # the command's own modules come last


def test_every_module_is_in_a_layer_or_is_the_commands_own():
    top = sorted(m for m in MODULES if layer(m) == len(LAYERS))
    assert top == ["cli", "errors", "launch", "notebook", "replay"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_layer_and_the_ones_before(module):
    later = sorted(m for m in ours(module) if m != "errors" and layer(m) > layer(module))
    assert not later, f"{module} (layer {layer(module)}) imports {later}"


PURE = sorted(m for m in MODULES if m.split(".")[0] in PURE_LAYERS and m not in DOES_IO)


def test_the_pure_modules_are_all_the_layers_modules_but_the_listed():
    assert len(PURE) >= 25 and set(DOES_IO) <= set(MODULES)


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_does_no_io(module):
    found = {name.split(".")[0] for name in imports(module)} & IO_MODULES
    if module in PURE_CONVERSIONS:
        found -= {"socket"}
    assert not found, f"{module} imports {found}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_capture_touches_scapy_and_only_the_graphviz_runner_runs_graphviz(module):
    used = {name.split(".")[0] for name in imports(module)}
    assert ("scapy" in used) == (module == "live.capture")
    assert ("graphviz" in used) == (module == "render.graphviz")


def test_the_dot_builder_knows_nothing_of_tcp_and_the_timeline_nothing_of_graphviz():
    assert not {m for m in ours("render.dot") if m.startswith(("core", "wire"))}
    assert not {m for m in ours("views.timeline") if m.startswith("render")}


def test_the_checker_catches_a_module_that_imports_a_later_layer(tmp_path, monkeypatch):
    """A wire module that imported the views would be caught."""
    planted = tmp_path / "planted.py"
    planted.write_text("from handshake_viz.views.timeline import timeline\n")
    monkeypatch.setitem(MODULES, "wire.planted", planted)
    assert ours("wire.planted") == {"views.timeline"} and layer("views.timeline") > layer("wire.planted")
    with pytest.raises(AssertionError):
        test_a_module_imports_only_from_its_layer_and_the_ones_before("wire.planted")


COMMAND = ("cli", "launch")   # the command: its options and output, and its entry, which catches signals first


@pytest.mark.parametrize("module", [m for m in sorted(MODULES) if m not in COMMAND])
def test_only_the_cli_prints_or_exits(module):
    source = MODULES[module].read_text()
    calls = {node.func.id for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not {"print", "exit"} & calls
    assert "sys.exit" not in source
