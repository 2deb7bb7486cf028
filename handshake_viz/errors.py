"""The expected errors: one tree, one root. The CLI turns each into one line and an exit code."""


class HandshakeVizError(Exception):
    """Root of every error a user can cause or fix; its message is the one line shown."""

    exit_code = 1


class UsageError(HandshakeVizError):
    exit_code = 2


class PrivilegeError(HandshakeVizError):
    """Capturing live traffic needs root or CAP_NET_RAW."""

    exit_code = 3


class PortBusyError(HandshakeVizError):
    exit_code = 4


class CaptureError(HandshakeVizError):
    """The live capture could not start, or never saw the end of the exchange."""

    exit_code = 5


class CaptureFileError(HandshakeVizError):
    """A stored capture is missing, corrupt, truncated or of an unsupported kind."""

    exit_code = 6


class RenderError(HandshakeVizError):
    """graphviz is missing or failed."""

    exit_code = 7


class OutputExistsError(HandshakeVizError):
    exit_code = 8


class OutputError(HandshakeVizError):
    """A result (or a temporary file) could not be written: no space, a read-only disk, no permission."""

    exit_code = 10


class ScenarioError(HandshakeVizError):
    """A scenario's program did not behave as the scenario expects."""

    exit_code = 9


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP: the run stops, cleans up and keeps what it captured.

    A KeyboardInterrupt, so that only code meant to see an interruption catches it; the exit code
    is the shell's 128 + the signal's number. `partial` is set by whoever holds a capture."""

    def __init__(self, signal_name: str, number: int):
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.exit_code = 128 + number
        self.partial = None   # a PartialCapture, when the interruption came during a capture
