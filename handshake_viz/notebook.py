"""Jupyter: a conversation or a scenario's run displays as its timeline.

`%load_ext handshake_viz.notebook` (or importing this module inside a running notebook)
registers SVG display formatters, so the analysis itself stays free of drawing code.
"""

from handshake_viz.core.analysis import Conversation, UdpConversation
from handshake_viz.output.formats import FORMATS
from handshake_viz.output.publish import Subject, timelines
from handshake_viz.views.words import Words


def _svg(subject: Subject) -> str:
    """The first conversation's timeline, drawn by the same rule and writer as the SVG files."""
    [(_, data)] = FORMATS["svg"].write(timelines(subject)[0], 1.0, ("svg",))
    return data.decode("utf-8")


def conversation_svg(conversation) -> str:
    return _svg(Subject("notebook", [conversation]))


def run_svg(run) -> str:
    """A scenario's run: its first conversation, with the socket calls and the kernel's record."""
    title = Words().scenario_title(run.scenario.name, run.scenario.summary)
    return _svg(Subject(run.scenario.name, run.conversations, run.calls, run.kernel, title))


def register(formatters) -> None:
    """Register with an IPython display-formatter table (`ipython.display_formatter.formatters`)."""
    from handshake_viz.live.runner import ScenarioRun
    svg = formatters["image/svg+xml"]
    svg.for_type(Conversation, conversation_svg)
    svg.for_type(UdpConversation, conversation_svg)
    svg.for_type(ScenarioRun, run_svg)


def load_ipython_extension(ipython) -> None:
    register(ipython.display_formatter.formatters)


try:  # imported inside a running notebook: register at once
    from IPython import get_ipython
except ImportError:
    get_ipython = None
if get_ipython is not None and get_ipython() is not None:
    load_ipython_extension(get_ipython())
