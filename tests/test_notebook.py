"""In Jupyter, conversations and scenario runs display as their diagrams."""

from segments import echo

from handshake_viz.core.analysis import analyze
from handshake_viz.notebook import register


class Formatter:
    def __init__(self):
        self.functions = {}

    def for_type(self, kind, function):
        self.functions[kind] = function


def test_a_conversation_displays_as_its_timeline_svg():
    formatters = {"image/svg+xml": Formatter()}
    register(formatters)
    [conversation] = analyze(echo().records)
    show = formatters["image/svg+xml"].functions[type(conversation)]
    svg = show(conversation)
    assert svg.startswith("<?xml") and "TIME_WAIT" in svg and "<svg" in svg
    assert {kind.__name__ for kind in formatters["image/svg+xml"].functions} == {
        "Conversation", "UdpConversation", "ScenarioRun"}
