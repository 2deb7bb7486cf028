"""Jupyter: a conversation or a scenario's run displays as its timeline.

`%load_ext handshake_viz.notebook` (or importing this module inside a running notebook)
registers SVG display formatters, so the analysis itself stays free of drawing code.
"""

from handshake_viz import kernel_states
from handshake_viz.analysis import Conversation, UdpConversation
from handshake_viz.attribution import calls_of
from handshake_viz.diagram import timeline
from handshake_viz.dot import to_dot
from handshake_viz.language import Words
from handshake_viz.render import render


def conversation_svg(conversation) -> str:
    return render(to_dot(timeline(conversation)), "svg").decode("utf-8")


def run_svg(run) -> str:
    """A scenario's run: its first conversation, with the socket calls and the kernel's record."""
    conversation = run.conversations[0]
    account = kernel_states.view(conversation, run.kernel) if conversation.protocol == "tcp" else None
    title = Words().scenario_title(run.scenario.name, run.scenario.summary)
    calls = calls_of(conversation, run.calls, run.conversations)
    return render(to_dot(timeline(conversation, calls, title, account)), "svg").decode("utf-8")


def register(formatters) -> None:
    """Register with an IPython display-formatter table (`ipython.display_formatter.formatters`)."""
    from handshake_viz.runner import ScenarioRun
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
