"""The one place that runs graphviz."""

import graphviz

from handshake_viz.errors import RenderError

FORMATS = ("svg", "png", "pdf")


def render(dot_text: str, fmt: str, pinned: bool = True) -> bytes:
    """The drawing of DOT text in fmt: pinned positions drawn as they are (`neato -n2`), or laid
    out by `dot`."""
    try:
        if pinned:
            return graphviz.pipe("neato", fmt, dot_text.encode("utf-8"), neato_no_op=2, quiet=True)
        return graphviz.pipe("dot", fmt, dot_text.encode("utf-8"), quiet=True)
    except graphviz.ExecutableNotFound:
        raise RenderError("graphviz is not installed (no `neato`/`dot` on PATH): "
                          "run `sudo apt-get install graphviz`, or `sudo make handshake`, which installs it")
    except graphviz.CalledProcessError as error:
        detail = (error.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"graphviz failed to draw {fmt}: {detail[0] if detail else error}")
