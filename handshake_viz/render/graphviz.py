"""The one place that runs graphviz."""

import shutil

import graphviz

from handshake_viz.errors import RenderError

_MISSING = ("graphviz is not installed (no `neato`/`dot` on PATH): "
            "run `sudo apt-get install graphviz`, or `sudo make handshake`, which installs it")


def require() -> None:
    """Fail before anything is written when graphviz's programs are not there to draw."""
    if not (shutil.which("dot") and shutil.which("neato")):
        raise RenderError(_MISSING)


def render(dot_text: str, fmt: str, pinned: bool = True) -> bytes:
    """The drawing of DOT text in fmt: pinned positions drawn as they are (`neato -n2`), or laid
    out by `dot`."""
    try:
        if pinned:
            return graphviz.pipe("neato", fmt, dot_text.encode("utf-8"), neato_no_op=2, quiet=True)
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise RenderError(_MISSING)
    except graphviz.CalledProcessError as error:
        detail = (error.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"graphviz failed to draw {fmt}: {detail[0] if detail else error}")
